"""``kill -9`` during evaluate_model: the run is recognisably unfinished, the panel
says so and offers a Re-run, and re-running or deleting it leaves no field behind.

A child process runs evaluate_model on the same database; ``ERROR_ATLAS_PAUSE_AT``
makes it wait at a named stage, where it is killed with SIGKILL."""

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.fodata import evaluate_model, label_values, random_dataset, snapshot as _snapshot
from tests.test_panel_callbacks import PanelClient, detection_run

PARAMS = dict(pred_field="predictions", gt_field="ground_truth", eval_key="ea", iou=0.6)
CHILD = """
import sys
import fiftyone as fo
import fiftyone.operators as foo
ds = fo.load_dataset(sys.argv[1])
foo.get_operator("@error-atlas/error-atlas/evaluate_model")(ds, **%r)
""" % PARAMS


def snapshot(dataset):
    """The dataset's schema, runs and samples, but when each sample was last written."""
    schema, evaluations, runs, samples = _snapshot(dataset)
    return schema, evaluations, runs, [{k: v for k, v in s.items() if k != "last_modified_at"}
                                       for s in samples]


@pytest.fixture(scope="module")
def dataset():
    """More than one write batch (2,000 samples), so a kill can land mid write-back."""
    ds = random_dataset(seed=61, num_samples=2300, name="kill-safety-%d" % os.getpid())
    ds.persistent = True
    yield ds
    ds.delete()


@pytest.fixture(scope="module")
def clean(dataset):
    """The dataset before any run, and the values of an uninterrupted run."""
    before = snapshot(dataset)
    evaluate_model(dataset, **PARAMS)
    values = [label_values(dataset, "%s.detections.ea%s" % (f, s))
              for f in ("predictions", "ground_truth") for s in ("", "_id", "_error")]
    dataset.delete_evaluation("ea")
    assert snapshot(dataset) == before
    return before, values


def kill_at(dataset, stage, tmp_path):
    marker = tmp_path / ("paused-" + stage)
    env = dict(os.environ, ERROR_ATLAS_PAUSE_AT="%s:%s" % (stage, marker))
    child = subprocess.Popen([sys.executable, "-c", CHILD, dataset.name], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while not marker.exists():
        assert child.poll() is None, child.stderr.read().decode()[-2000:]
        assert time.time() < deadline, "the child never reached stage %s" % stage
        time.sleep(0.2)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    dataset.reload()


def assert_unfinished_and_shown(dataset, stage):
    assert dataset.get_run_info("error_atlas_ea").config.status == "running"
    if stage == "writing":  # the write-back stopped after its first batch
        assert 0 < dataset.count("ea_tp") < len(dataset)
    with pytest.raises(Exception, match="did not finish.*Re-run evaluate_model"):
        detection_run().load_analysis(dataset, "ea")
    client = PanelClient(dataset, panel_id="kill-" + stage).call("on_load")
    assert client.state["eval_key"] == "ea"
    assert "has not finished" in client.state["unfinished"]
    client.call("on_rerun")
    (prompt,) = [r for r in client.requests if "prompt" in r["operator_uri"]]
    assert prompt["params"]["params"] == {k: v for k, v in dict(
        PARAMS, classes=None, use_masks=False, iscrowd="iscrowd", confidence=None).items()}


@pytest.mark.parametrize("stage", ["registered", "writing", "saving"])
def test_a_killed_run_is_unfinished_and_rerun_or_delete_cleans_it(dataset, clean, stage,
                                                                  tmp_path):
    before, values = clean
    kill_at(dataset, stage, tmp_path)
    assert_unfinished_and_shown(dataset, stage)
    dataset.delete_evaluation("ea")
    assert snapshot(dataset) == before

    kill_at(dataset, stage, tmp_path)
    summary = evaluate_model(dataset, **PARAMS)  # re-run with the same key
    assert dataset.get_run_info("error_atlas_ea").config.status == "completed"
    assert summary["num_images"] == len(dataset)
    assert [label_values(dataset, "%s.detections.ea%s" % (f, s))
            for f in ("predictions", "ground_truth") for s in ("", "_id", "_error")] == values
    client = PanelClient(dataset, panel_id="rerun-" + stage).call("on_load")
    assert not client.state.get("unfinished")
    dataset.delete_evaluation("ea")
    assert snapshot(dataset) == before


def test_a_run_killed_before_fiftyone_registered_it_is_listed_and_deleted(dataset, clean):
    before, _ = clean
    evaluate_model(dataset, **PARAMS)
    run = dataset.get_run_info("error_atlas_ea").config
    # what a kill between the two registrations leaves: the analysis run only
    dataset.delete_evaluation("ea")
    dataset.register_run("error_atlas_ea", dataset.init_run(
        eval_key="ea", kind="detection", version=1, source="evaluate_model", status="running",
        request=run.request, fields=run.fields, started_at=run.started_at))
    client = PanelClient(dataset, panel_id="orphan").call("on_load")
    assert client.state["eval_key"] == "ea" and "has not finished" in client.state["unfinished"]
    detection_run().delete_run(dataset, "ea")
    assert snapshot(dataset) == before
