"""What FiftyOne 1.22 does when a delegated operation's process dies, and the
README's recipe that fails such operations so that they can be re-run.

A real ``fiftyone delegated launch -m`` worker runs a queued evaluate_model; its
operation process (the child the worker's monitor spawned) is SIGKILLed while
``ERROR_ATLAS_PAUSE_AT`` holds it, as the kernel's OOM killer would kill it. The
worker survives, yet FiftyOne leaves the operation ``running`` and only its
heartbeat (``updated_at``) stops."""

import os
import pathlib
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta

import psutil
import pytest
from fiftyone.operators.delegated import DelegatedOperationService
from fiftyone.operators.executor import ExecutionRunState

from tests.fodata import evaluate_model, random_dataset

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIFTYONE = pathlib.Path(sys.executable).with_name("fiftyone")
INTERVAL = 1  # seconds between the monitor's heartbeats


def fail_silent_operations(service, silent_for):
    """The README's recipe: fail monitored running operations whose heartbeat stopped
    ``silent_for`` ago, and queue each again; returns {failed id: new id}."""
    silent_since = datetime.utcnow() - silent_for
    rerun = {}
    for op in service.list_operations(run_state=ExecutionRunState.RUNNING):
        if op.monitored and op.updated_at < silent_since:
            service.set_failed(op.id)
            rerun[op.id] = service.rerun_operation(op.id).id
    return rerun


def test_a_killed_operation_stays_running_until_failed_and_its_rerun_completes(tmp_path):
    ds = random_dataset(seed=81, num_samples=30, name="lost-worker-%d" % os.getpid())
    ds.persistent = True
    service = DelegatedOperationService()
    marker = tmp_path / "paused"
    worker = subprocess.Popen(
        [str(FIFTYONE), "delegated", "launch", "-m", "--monitor-interval", str(INTERVAL)],
        env=dict(os.environ, ERROR_ATLAS_PAUSE_AT="registered:%s" % marker), cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        queued = evaluate_model(ds, pred_field="predictions", gt_field="ground_truth",
                                eval_key="ea", delegate=True)
        deadline = time.time() + 240
        while not marker.exists():
            assert worker.poll() is None and time.time() < deadline
            time.sleep(0.2)
        (child,) = [p for p in psutil.Process(worker.pid).children(recursive=True)
                    if "spawn_main" in " ".join(p.cmdline())]
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        time.sleep(3 * INTERVAL + 1)  # the monitor has noticed: its check interval passed
        first = service.get(queued["id"])
        time.sleep(3 * INTERVAL)
        later = service.get(queued["id"])
        assert worker.poll() is None  # the worker itself lives on
        assert later.run_state == "running"  # FiftyOne does not fail the operation
        assert later.updated_at == first.updated_at  # but its heartbeat has stopped
        ds.reload()
        assert ds.get_run_info("error_atlas_ea").config.status == "running"

        rerun = fail_silent_operations(service, timedelta(seconds=2 * INTERVAL))
        assert list(rerun) == [queued["id"]]
        assert service.get(queued["id"]).run_state == "failed"
    finally:
        for p in [*psutil.Process(worker.pid).children(recursive=True), worker]:
            p.kill()
        worker.wait()
    service.execute_operation(service.get(rerun[queued["id"]]))  # another worker's turn
    done = service.get(rerun[queued["id"]])
    assert done.run_state == "completed", done.result
    ds.reload()
    assert ds.get_run_info("error_atlas_ea").config.status == "completed"
    mAP = ds.load_evaluation_results("ea").mAP()
    assert done.result.result["mAP"] == pytest.approx(mAP, abs=1e-12)
    ds.delete()
