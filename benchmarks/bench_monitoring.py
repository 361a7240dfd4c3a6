"""The monitor's numbers at scale: 1,000,000 production predictions over 90 days.

Builds a dataset of ``--requests`` prediction-only samples (default 1,000,000;
each with 0-4 detections, a timestamp over 90 days, an inference time and a
camera), inserted straight into its MongoDB collection in bulk (FiftyOne's
``add_samples`` would take many minutes; the documents are those it writes),
with an index on the timestamp. Then times :func:`operators.monitoring.period_stats`
(headline with the previous period, classes, time buckets: one pipeline over
the hourly roll-ups of :mod:`operators.monitor_rollup`) for the last day, week
and month and the whole range, cold (first call) and warm (median of
``--repeat``), and the same with a camera filter; the one-time roll-up build and
the week straight from the samples for comparison; the week's counts against
FiftyOne's ``count()`` and ``mean()``; and a new period after an hour of new
traffic is added (the roll-up's incremental refresh included).

    .venv/bin/python benchmarks/bench_monitoring.py [--requests N] [--repeat R]

FiftyOne uses a private temporary database, never the user's.
"""

import argparse
import atexit
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
CLASSES = ("circle", "square", "triangle", "star", "hexagon")
END = datetime(2026, 3, 2)
DAYS = 90
BATCH = 50_000


def _private_fiftyone():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-monitor-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    (tmp / "plugins").mkdir()
    (tmp / "plugins" / "error-atlas").symlink_to(ROOT)
    os.environ.update(FIFTYONE_DATABASE_DIR=str(tmp / "db"),
                      FIFTYONE_PLUGINS_DIR=str(tmp / "plugins"),
                      FIFTYONE_DO_NOT_TRACK="true", FIFTYONE_SHOW_PROGRESS_BARS="false",
                      FIFTYONE_DATABASE_VALIDATION="false")


def build(n, seed=0):
    """The dataset, its fields declared through FiftyOne, its documents inserted in bulk."""
    import fiftyone as fo
    from bson import ObjectId

    ds = fo.Dataset("bench-monitor")
    ds.add_sample(fo.Sample(filepath="/nonexistent/x.jpg", timestamp=END, inference_time=1.0,
                            camera="a", predictions=fo.Detections(detections=[fo.Detection(
                                label="circle", bounding_box=[0, 0, 1, 1], confidence=0.5)])))
    ds.clear()
    coll = ds._sample_collection
    rng = np.random.default_rng(seed)
    start = time.time()
    for s in range(0, n, BATCH):
        m = min(BATCH, n - s)
        age = rng.uniform(0, DAYS * 86400, m)
        k = rng.integers(0, 5, m)
        labels = rng.integers(0, len(CLASSES), k.sum())
        conf = rng.random(k.sum())
        inf = rng.gamma(4, 5, m)
        cams = rng.integers(0, 3, m)
        offsets = np.r_[0, np.cumsum(k)]
        now = datetime.utcnow()
        docs = []
        for i in range(m):
            dets = [{"_id": ObjectId(), "_cls": "Detection", "attributes": {}, "tags": [],
                     "label": CLASSES[labels[j]], "bounding_box": [0.1, 0.1, 0.2, 0.2],
                     "confidence": float(conf[j])} for j in range(offsets[i], offsets[i + 1])]
            docs.append({"_id": ObjectId(), "filepath": "/nonexistent/%08d.jpg" % (s + i),
                         "tags": [], "metadata": None, "_dataset_id": ds._doc.id,
                         "created_at": now, "last_modified_at": now,
                         "timestamp": END - timedelta(seconds=float(age[i])),
                         "inference_time": float(inf[i]), "camera": "cam%d" % cams[i],
                         "predictions": {"_id": ObjectId(), "_cls": "Detections",
                                         "detections": dets}})
        coll.insert_many(docs, ordered=False)
    print("inserted %d requests (%d detections) in %.0f s" % (
        n, coll.estimated_document_count() and ds.count("predictions.detections"),
        time.time() - start))
    ds.create_index("timestamp")
    return ds


def build_more(ds, n, seed=1):
    """``n`` requests in the hour after END, added through FiftyOne."""
    import fiftyone as fo

    rng = np.random.default_rng(seed)
    ds.add_samples([fo.Sample(
        filepath="/nonexistent/new%06d.jpg" % i, camera="cam%d" % (i % 3),
        timestamp=END + timedelta(seconds=float(rng.uniform(0, 3599))),
        inference_time=float(rng.gamma(4, 5)),
        predictions=fo.Detections(detections=[fo.Detection(
            label=CLASSES[i % 5], bounding_box=[0.1, 0.1, 0.2, 0.2],
            confidence=float(rng.random()))])) for i in range(n)], progress=False)
    return n


def timed(fn, repeat):
    t0 = time.perf_counter()
    fn()
    cold = time.perf_counter() - t0
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return cold, statistics.median(runs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    _private_fiftyone()
    sys.path.insert(0, str(ROOT))
    from tests.taskdata import plugin_module

    ds = build(args.requests)
    mon = plugin_module("operators.monitoring")
    mon.save_settings(ds, time_field="timestamp")
    settings = mon.load_settings(ds)
    print("load: %.2f on %d cores" % (os.getloadavg()[0], os.cpu_count()))
    start, end = mon.period(ds, settings, "week", end=END)
    t0 = time.perf_counter()
    mon.period_stats(ds, settings, start, end)
    print("first call: hourly roll-ups of every request built in %.1f s (once)"
          % (time.perf_counter() - t0))
    raw_cold, raw_warm = timed(lambda: mon.period_stats(ds, dict(settings, rollup=False), start,
                                                        end), 1)
    print("week from the samples themselves (no roll-up): cold %.2f s, warm %.2f s"
          % (raw_cold, raw_warm))
    print("%-8s %-8s %9s %9s %9s %9s" % ("period", "filter", "requests", "buckets", "cold s",
                                          "warm s"))
    results = {}
    for period in ("day", "week", "month", "all"):
        for filters in ({}, {"camera": "cam1"}):
            start, end = mon.period(ds, settings, period, end=END)
            out = {}

            def run():
                out["stats"] = mon.period_stats(ds, settings, start, end, filters=filters)

            cold, warm = timed(run, args.repeat)
            s = out["stats"]
            results[(period, bool(filters))] = (cold, warm, s)
            print("%-8s %-8s %9d %9d %9.3f %9.3f" % (
                period, "camera" if filters else "-", s["requests"], len(s["buckets"]), cold, warm))
    week = results[("week", False)][2]
    direct = ds.match({"timestamp": {"$gte": END - timedelta(days=7), "$lt": END}})
    assert week["requests"] == len(direct)
    assert week["labels"] == direct.count("predictions.detections")
    assert abs(week["mean_confidence"] - direct.mean("predictions.detections.confidence")) < 1e-9
    print("week checked against FiftyOne's count() and mean(): equal")
    # a new period: an hour of new traffic arrives, the next call rolls up only that
    more = build_more(ds, args.requests // (DAYS * 24))
    settings = mon.load_settings(ds)
    rollup = plugin_module("operators.monitor_rollup")
    t0 = time.perf_counter()
    rollup.refresh(ds, settings, "predictions", ["camera"], {
        "conf": mon._as_list("predictions.detections.confidence"),
        "labels": mon._as_list("predictions.detections.label"),
        "inf": "$inference_time"}, mon.now(), candidates=mon.metadata_fields(ds, settings))
    refreshed = time.perf_counter() - t0
    t0 = time.perf_counter()
    fresh = mon.period_stats(ds, settings, END - timedelta(days=7) + timedelta(hours=1),
                             END + timedelta(hours=1))
    print("new hour of %d requests: roll-up refresh %.3f s, then the week ending an hour later "
          "in %.3f s" % (more, refreshed, time.perf_counter() - t0))
    assert fresh["requests"] == len(ds.match({"timestamp": {
        "$gte": END - timedelta(days=7) + timedelta(hours=1), "$lt": END + timedelta(hours=1)}}))
    plugin_module("operators.monitor_rollup").drop(ds)
    ds.delete()


if __name__ == "__main__":
    main()
