"""Slices and comparison benchmark at 100k predictions (issue 15's targets).

Builds ``bench_detection``'s synthetic COCO-like set (default 5,000 images, 80
classes, ~100k predictions) as a FiftyOne dataset with a 20-valued sample
field ``group``, evaluates it twice with ``evaluate_model`` (run B: the same
boxes with other confidences), then times, side by side in one process:

1. a 20-slice table by ``group`` (``compute_slices``: reading the field, the
   metrics of every slice, 200 bootstrap replicates each): target < 2 s;
   and its engine part alone (``plugin.slices.slice_table``), without and
   with the bootstrap;
2. ``compare_runs`` of A and B (paired bootstrap, per-class deltas, curves,
   difference matrix, flips).

Run from the repository root::

    .venv/bin/python benchmarks/bench_slices.py [--images N] [--repeat R]

FiftyOne uses a private temporary database, never the user's.
"""

import argparse
import os
import pathlib
import shutil
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TABLE_TARGET_S = 2.0
SLICES_URI = "@error-atlas/error-atlas/compute_slices"
COMPARE_URI = "@error-atlas/error-atlas/compare_runs"
EVALUATE_URI = "@error-atlas/error-atlas/evaluate_model"


def timed(fn, repeat):
    """``(result, wall times, CPU times)``: CPU time (this process, every thread) is
    what the machine's other users do not inflate, wall time what a user waits."""
    times, cpu, out = [], [], None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return out, (times, cpu)


def fmt(both):
    times, cpu = both
    return "median %.3f s wall (min %.3f, max %.3f, n=%d), %.3f s CPU" % (
        float(np.median(times)), min(times), max(times), len(times), float(np.median(cpu)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    tmpdir = tempfile.mkdtemp(prefix="error-atlas-bench-slices-")
    (pathlib.Path(tmpdir) / "plugins").mkdir()
    (pathlib.Path(tmpdir) / "plugins" / "error-atlas").symlink_to(ROOT)
    os.environ.setdefault("FIFTYONE_DATABASE_DIR", os.path.join(tmpdir, "db"))
    os.environ["FIFTYONE_PLUGINS_DIR"] = os.path.join(tmpdir, "plugins")
    for k, v in (("FIFTYONE_DATABASE_VALIDATION", "false"), ("FIFTYONE_DO_NOT_TRACK", "true"),
                 ("FIFTYONE_SHOW_PROGRESS_BARS", "false")):
        os.environ.setdefault(k, v)
    from benchmarks.bench_detection import build_dataset, describe, generate, stop_private_database

    import fiftyone.operators as foo

    from plugin import slices as engine_slices

    print("Error Atlas slices benchmark (%d CPUs, load average %.2f %.2f %.2f)"
          % ((os.cpu_count(),) + os.getloadavg()))
    data = generate(args.images, seed=0)
    print("data:", describe(data))
    failed = False
    dataset = None
    try:
        t = time.perf_counter()
        dataset = build_dataset(data, "bench-slices-%d" % os.getpid())
        rng = np.random.default_rng(0)
        dataset.set_values("group", ["g%02d" % g for g in rng.integers(0, 20, len(dataset))])
        dataset.clone_sample_field("predictions", "predictions_b")
        conf = dataset.values("predictions_b.detections.confidence")
        dataset.set_values("predictions_b.detections.confidence", [
            np.clip(np.asarray(c) + rng.normal(0, 0.1, len(c)), 0.001, 1).tolist() for c in conf])
        evaluate = foo.get_operator(EVALUATE_URI)
        for key, field in (("a", "predictions"), ("b", "predictions_b")):
            evaluate(dataset, pred_field=field, gt_field="ground_truth", eval_key=key,
                     confidence=0.3)
        print("dataset and two evaluate_model runs: %.1f s" % (time.perf_counter() - t))

        compute_slices = foo.get_operator(SLICES_URI)
        compare_runs = foo.get_operator(COMPARE_URI)
        compute_slices(dataset, eval_key="a", source="field:group", num_boot=5)  # warm: numba, loads
        table, times = timed(lambda: compute_slices(dataset, eval_key="a", source="field:group"),
                             args.repeat)
        ok = np.median(times[0]) < TABLE_TARGET_S and len(table["rows"]) == 20
        failed |= not ok
        print("\n20-slice table (compute_slices, 200 replicates per slice): %s  [%s, target < %.1f s]"
              % (fmt(times), "PASS" if ok else "FAIL", TABLE_TARGET_S))

        mod = sys.modules[type(compute_slices).__module__.rsplit(".", 1)[0] + ".slices"]
        ts = mod.task_slices(dataset, "a")
        groups = mod.build(dataset, "a", ts, "field:group")
        _, tw = timed(lambda: engine_slices._row(ts, "all", np.arange(ts.num_units),
                                                 engine_slices.NUM_BOOT, 0, 30), args.repeat)
        engine_slices.slice_table(ts, groups[:1])  # the whole run's row, kept with the task
        _, t0 = timed(lambda: engine_slices.slice_table(ts, groups, num_boot=0), args.repeat)
        _, t1 = timed(lambda: engine_slices.slice_table(ts, groups), args.repeat)
        _, tb = timed(lambda: mod.build(dataset, "a", ts, "field:group"), args.repeat)
        print("  engine, 20 rows, metrics only: %s" % fmt(t0))
        print("  engine, 20 rows with bootstrap (the panel: whole run's row kept): %s" % fmt(t1))
        print("  engine, the whole run's row with bootstrap: %s" % fmt(tw))
        print("  reading the slices' field: %s" % fmt(tb))
        worst = table["rows"][0]
        print("  worst slice %s: %d images, mAP %.4f [%.4f, %.4f], gap %+.4f" % (
            worst["name"], worst["size"], worst["values"]["mAP"], *worst["ci"]["mAP"], worst["gap"]))

        result, times = timed(lambda: compare_runs(dataset, eval_key="a", compare_key="b"),
                              args.repeat)
        m = result["metrics"]["mAP"]
        print("\ncompare_runs at %d predictions (200 paired replicates): %s" % (
            data["pred_score"].size, fmt(times)))
        print("  mAP A %.4f, B %.4f, B - A %+.4f [%+.4f, %+.4f]; flips: %d A-only, %d B-only objects"
              % (m["a"], m["b"], m["diff"], *m["ci"], len(result["flips"]["a_only"]),
                 len(result["flips"]["b_only"])))
        print("\nload average at the end: %.2f %.2f %.2f" % os.getloadavg())
    finally:
        if dataset is not None:
            dataset.delete()
        stop_private_database()
        shutil.rmtree(tmpdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
