"""The scale-out path: a standalone mongod, delegated operations, real workers.

A ``mongod`` from the installed binary on a free port and a temporary dbpath;
every FiftyOne process here (the client, ``fiftyone delegated launch`` workers,
the ``fiftyone delegated`` commands) reaches it through ``FIFTYONE_DATABASE_URI``
and gets the plugin through conftest's ``FIFTYONE_PLUGINS_DIR``. The pytest
process itself only reads the delegated operations with pymongo.
"""

import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import psutil
import pymongo
import pytest
from bson import ObjectId

from fiftyone.core.service import DatabaseService

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIFTYONE = pathlib.Path(sys.executable).with_name("fiftyone")
MONITOR_INTERVAL = 1  # seconds: the smallest `fiftyone delegated launch` accepts
NUM_SAMPLES = 300


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server():
    """A standalone mongod, removed with its data at the end, and the env that reaches it."""
    dbpath = pathlib.Path(tempfile.mkdtemp(prefix="error-atlas-mongod-"))
    port = _free_port()
    mongod = subprocess.Popen(
        [DatabaseService.find_mongod(), "--dbpath", str(dbpath), "--port", str(port),
         "--bind_ip", "127.0.0.1", "--nounixsocket", "--logpath", str(dbpath / "mongod.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    uri = "mongodb://127.0.0.1:%d" % port
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=30000)
    try:
        client.admin.command("ping")
        env = dict(os.environ, FIFTYONE_DATABASE_URI=uri)
        env.pop("FIFTYONE_DATABASE_DIR", None)
        yield env, client.fiftyone.delegated_ops
    finally:
        client.close()
        mongod.terminate()
        try:
            mongod.wait(30)
        except subprocess.TimeoutExpired:
            mongod.kill()
            mongod.wait()
        shutil.rmtree(dbpath, ignore_errors=True)


@pytest.fixture
def workers(server):
    """Starts ``fiftyone delegated launch`` workers; every process they started is
    killed at the end, also those that outlive a killed worker."""
    env, _ = server
    started = []

    def launch():
        worker = subprocess.Popen(
            [str(FIFTYONE), "delegated", "launch", "-m", "--monitor-interval",
             str(MONITOR_INTERVAL)], env=env, cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(worker.pid)
        return worker

    yield launch
    for proc in _started_by(started, env["FIFTYONE_DATABASE_URI"]):
        _kill(proc)


def _started_by(pids, uri):
    """The given processes, their descendants, and orphans holding this test's URI."""
    procs = {}
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs.update({p.pid: p for p in [root, *root.children(recursive=True)]})
        except psutil.NoSuchProcess:
            pass
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("FIFTYONE_DATABASE_URI") == uri:
                procs[proc.pid] = proc
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    procs.pop(os.getpid(), None)
    return list(procs.values())


def _kill(proc):
    try:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    except psutil.NoSuchProcess:
        pass


def _client(env, *args):
    out = subprocess.run([sys.executable, "-m", "tests.scaleout_client", *args], env=env,
                         cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cli(env, *args):
    out = subprocess.run([str(FIFTYONE), "delegated", *args], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def _wait(ops, op_id, until, timeout=240):
    """Polls the operation until ``until(doc)``; returns it and every progress seen."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = ops.find_one({"_id": ObjectId(op_id)})
        status = doc.get("status") or {}
        if status.get("progress") is not None and status["progress"] not in seen:
            seen.append(status["progress"])
        if until(doc):
            return doc, seen
        assert doc["run_state"] != "failed", doc.get("result")
        time.sleep(0.02)
    raise AssertionError("operation %s still %s after %d s" % (op_id, doc["run_state"], timeout))


def _completed(doc):
    return doc["run_state"] == "completed"


def _assert_same_run(got, want):
    assert got["mAP"] == pytest.approx(want["mAP"], abs=1e-12)
    assert got["fields"] == want["fields"]
    assert got["map_fields"] == want["map_fields"]
    np.testing.assert_allclose(got["points"], want["points"], atol=1e-6)
    assert got["map"]["clusters"] == want["map"]["clusters"]
    assert got["map"]["arrays"].keys() == want["map"]["arrays"].keys()
    for name, values in want["map"]["arrays"].items():
        values, other = np.asarray(values), np.asarray(got["map"]["arrays"][name])
        if values.dtype.kind in "fc":
            np.testing.assert_allclose(other, values, atol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(other, values, err_msg=name)


@pytest.mark.skipif(not FIFTYONE.exists(), reason="the fiftyone command is not installed")
def test_workers_on_a_standalone_mongod(server, workers, tmp_path):
    env, ops = server
    name = "scaleout-%d" % os.getpid()

    # evaluate_model, then compute_error_map, queued and run by a worker
    eval_op = _client(env, "prepare", name, str(tmp_path), str(NUM_SAMPLES))["op"]
    worker = workers()
    done, _ = _wait(ops, eval_op, _completed)
    assert done["status"]["progress"] == 1.0 and done["status"]["label"] == "Done"
    assert done["monitored"] is True
    map_op = _client(env, "queue_map", name, "queued_map")["op"]
    done, seen = _wait(ops, map_op, _completed)
    assert done["status"] == {**done["status"], "progress": 1.0, "label": "Done"}
    assert any(0 < p < 1 for p in seen), seen  # progress reported while running
    runs = _client(env, "results", name, "now:now_map", "queued:queued_map")
    assert runs["now:now_map"]["fields"] and runs["now:now_map"]["map"]["arrays"]
    _assert_same_run(runs["queued:queued_map"], runs["now:now_map"])

    # a worker killed mid-run: the operation stays running and stops pinging
    kill_op = _client(env, "queue_map", name, "killed_map")["op"]
    # killed while embedding (progress below 0.5), well before the projection and the save:
    # a kill late in the run could land after the operation completed on a loaded machine
    _wait(ops, kill_op, lambda d: d["run_state"] == "running"
          and 0 < ((d.get("status") or {}).get("progress") or 0) < 0.5)
    for proc in _started_by([worker.pid], env["FIFTYONE_DATABASE_URI"]):
        _kill(proc)
    stale = ops.find_one({"_id": ObjectId(kill_op)})
    time.sleep(3 * MONITOR_INTERVAL + 1)
    after = ops.find_one({"_id": ObjectId(kill_op)})
    assert after["run_state"] == "running"  # FiftyOne itself never fails it
    assert after["updated_at"] == stale["updated_at"]  # no heartbeat: its worker is gone

    # marked failed by hand, re-run, and completed by another worker
    assert "as failed" in _cli(env, "fail", kill_op)
    assert ops.find_one({"_id": ObjectId(kill_op)})["run_state"] == "failed"
    rerun = _cli(env, "rerun", kill_op).strip().split("'")[-2]
    workers()
    done, _ = _wait(ops, rerun, _completed)
    assert done["status"]["progress"] == 1.0
    runs = _client(env, "results", name, "now:now_map", "queued:killed_map")
    _assert_same_run(runs["queued:killed_map"], runs["now:now_map"])
