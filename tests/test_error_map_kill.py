"""``kill -9`` during compute_error_map, for real: its descriptor workers exit with it,
and what it leaves is never shown as a map (the vector explorer opens without it);
re-running the same ``map_key`` gives the map an uninterrupted run gives, and
deleting it leaves nothing behind.

A child process runs the typed ``compute_error_map`` call on the same database.
During the descriptor stage it is killed while its workers compute the second
batch of images (large images, so a batch takes seconds); at the write stages
``ERROR_ATLAS_PAUSE_AT`` makes it wait where it is killed."""

import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import psutil
import pytest

import fiftyone as fo

from tests.fodata import evaluate_model, random_dataset
from tests.test_error_map import compute_error_map, error_map_module
from tests.test_kill_safety import snapshot  # without last_modified_at
from tests.test_vector_explorer import VectorClient

URI = "@error-atlas/error-atlas/compute_error_map"
BATCH = 64  # images per descriptor batch in the child (256 in the operator)
NUM_SAMPLES = 3 * BATCH
W, H = 1600, 1200  # ~60 ms of descriptor per image: a batch keeps two workers busy for seconds
CHILD = """
import sys
import fiftyone as fo
import fiftyone.operators as foo
operator = foo.get_operator(%r)
module = next(m for n, m in sys.modules.items() if n.endswith("operators.error_map"))
module.BATCH = %d
operator(fo.load_dataset(sys.argv[1]), eval_key="eval", map_key="m", level=sys.argv[2])
""" % (URI, BATCH)


def evaluated_dataset(folder, name, width, height, num_samples):
    """Evaluated samples on six real images of ``width`` x ``height`` (samples share
    files: what costs is the size of an image, not the number of files)."""
    rng = np.random.default_rng(71)
    yy, xx = np.mgrid[0:height, 0:width]
    paths = []
    for i in range(6):
        img = np.stack([xx * 255 / width, yy * 255 / height, np.full((height, width), 40 * i)], -1)
        img = np.clip(img + rng.normal(0, 8 + 4 * i, img.shape), 0, 255).astype(np.uint8)
        paths.append(str(folder / ("img%d.jpg" % i)))
        cv2.imwrite(paths[-1], img)
    ds = random_dataset(seed=72, num_samples=num_samples, name="%s-%d" % (name, os.getpid()))
    ds.set_values("filepath", [paths[i % len(paths)] for i in range(num_samples)])
    ds.set_values("metadata", [fo.ImageMetadata(width=width, height=height)] * num_samples)
    ds.persistent = True
    evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="eval")
    return ds


def clean_maps(dataset, levels):
    """The dataset before any map, and each level's map from an uninterrupted run."""
    before = snapshot(dataset)
    values = {}
    for level in levels:
        compute_error_map(dataset, eval_key="eval", map_key="m", level=level)
        values[level] = map_values(dataset, level)
        error_map_module().delete_error_map(dataset, "m")
        assert snapshot(dataset) == before
    return before, values


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    """Large images, so that a descriptor batch keeps the workers busy for seconds."""
    ds = evaluated_dataset(tmp_path_factory.mktemp("large"), "kill-map-large", W, H, NUM_SAMPLES)
    yield ds, clean_maps(ds, ["samples"])
    ds.delete()


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Small images: the write stages do not need the workers busy."""
    ds = evaluated_dataset(tmp_path_factory.mktemp("small"), "kill-map-small", 64, 48,
                           NUM_SAMPLES)
    yield ds, clean_maps(ds, ["samples", "objects"])
    ds.delete()


def map_values(ds, level):
    """What a map wrote: its points and clusters as stored, and its fields."""
    arrays, clusters = error_map_module().load_error_map(ds, "m")
    paths = ["m_embedding"] + (["m_cluster", "m_x", "m_y"] if level == "samples" else [
        "%s.detections.m_%s" % (f, s) for f in ("predictions", "ground_truth")
        for s in ("cluster", "x", "y")])
    return ({k: v.tolist() for k, v in arrays.items()}, clusters,
            [ds.values(p, unwind="detections" in p) for p in paths], ds.list_brain_runs())


def start_child(dataset, level, env=None):
    return subprocess.Popen([sys.executable, "-c", CHILD, dataset.name, level],
                            env=dict(os.environ, **(env or {})), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def wait_for(child, condition, what, timeout=240):
    deadline = time.time() + timeout
    while not condition():
        assert child.poll() is None, child.stderr.read().decode()[-3000:]
        assert time.time() < deadline, "the child never reached " + what
        time.sleep(0.05)


def embedded(dataset):
    """How many samples have their descriptor stored."""
    dataset.reload()
    return dataset.count("m_embedding") if dataset.has_field("m_embedding") else 0


def kill(child):
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL


def workers_of(child):
    """The child's descriptor workers: its forked children (same command line)."""
    parent = psutil.Process(child.pid)
    return [p for p in parent.children(recursive=True) if p.cmdline() == parent.cmdline()]


def alive(process):
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def assert_unfinished_then_cleaned(dataset, clean, level, then="rerun"):
    """The unfinished map is not offered (and the panel opens); re-running gives the
    uninterrupted run's map, and deleting the re-run, or deleting the unfinished
    map (``then="delete"``), leaves the dataset as it was."""
    before, values = clean
    dataset.reload()
    config = dataset.get_run_info(error_map_module().map_run_key("m")).config
    assert config.complete is False
    client = VectorClient(dataset, panel_id="kill-%s-%d" % (level, time.time_ns())).call("on_load")
    assert client.state["map_key"] is None  # no map to show, and no traceback
    if then == "rerun":
        compute_error_map(dataset, eval_key="eval", map_key="m", level=level)
        np.testing.assert_equal(map_values(dataset, level), values[level])  # NaN equals NaN
        client = VectorClient(dataset, panel_id="rerun-%s-%d" % (level, time.time_ns()))
        assert client.call("on_load").state["map_key"] == "m"
    error_map_module().delete_error_map(dataset, "m")
    assert snapshot(dataset) == before


def test_killed_during_descriptors_its_workers_exit_and_a_rerun_cleans(large):
    dataset, clean = large
    child = start_child(dataset, "samples")
    try:
        # the first batch is stored: the workers now compute the second one
        wait_for(child, lambda: embedded(dataset) >= BATCH, "the second descriptor batch")
        workers = workers_of(child)
        assert len(workers) >= 2
        cpu = [sum(w.cpu_times()[:2]) for w in workers]
        time.sleep(0.3)
        assert all(sum(w.cpu_times()[:2]) > c for w, c in zip(workers, cpu)), \
            "the workers were not computing when the parent was killed"
        kill(child)
        deadline = time.time() + 5
        while time.time() < deadline and any(alive(w) for w in workers):
            time.sleep(0.1)
        assert not any(alive(w) for w in workers), "descriptor workers outlived their parent"
    finally:
        child.kill()
    dataset.reload()
    assert BATCH <= embedded(dataset) < NUM_SAMPLES  # stopped mid-way
    assert_unfinished_then_cleaned(dataset, clean, "samples")


@pytest.mark.parametrize("stage,level,then", [("map_writing", "objects", "delete"),
                                              ("map_saving", "objects", "rerun"),
                                              ("map_saving", "samples", "rerun")])
def test_killed_while_writing_the_map_is_unfinished_and_cleaned(small, stage, level, then,
                                                               tmp_path):
    dataset, clean = small
    marker = tmp_path / ("paused-" + stage)
    child = start_child(dataset, level, {"ERROR_ATLAS_PAUSE_AT": "%s:%s" % (stage, marker)})
    try:
        wait_for(child, marker.exists, "stage " + stage)
        kill(child)
    finally:
        child.kill()
    dataset.reload()
    assert embedded(dataset) == NUM_SAMPLES
    if level == "objects":  # the labels hold the map's partial fields
        assert dataset.count("predictions.detections.m_cluster") > 0
    assert_unfinished_then_cleaned(dataset, clean, level, then)
