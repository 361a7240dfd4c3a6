"""Semantic segmentation: Error Atlas's evaluation against FiftyOne's
``evaluate_segmentations`` on the same masks, side by side in one run.

Generates ``--images`` scenes of ``--size`` x ``--size`` pixels with 20 classes
(blobby ground truth, predictions wrong at edges and in patches), writes both
masks to disk as 8-bit PNG (``mask_path``, as large data sets keep them), and
times, on one FiftyOne dataset:

- ``segmentation_run.evaluate_segmentations`` (decode in worker processes,
  every metric, per-image results, confusion, write-back, both runs stored);
- FiftyOne's ``dataset.evaluate_segmentations(mask_targets=...)``.

It checks that both pixel confusion matrices and the per-sample accuracy /
precision / recall agree, and prints the ratio (target: >= 10x), plus a new
confidence threshold's confusion and per-class IoU from the stored counts
(target < 50 ms). Run from the repository root::

    .venv/bin/python benchmarks/bench_segmentation.py [--images 1000] [--size 512]
    .venv/bin/python benchmarks/bench_segmentation.py --memory [--images 10000] [--size 1024]

``--memory`` measures the peak memory of ``evaluate_segmentations`` instead
(target: under 2 GB at 10,000 masks of 1024x1024): the run is made in a fresh
child process attached to the same database, which reports its own peak
(``VmHWM``) and its largest worker's (``ru_maxrss`` of its children, which
counts the pages a forked worker shares with its parent: an upper bound); the
total is the parent's peak plus both workers', an upper bound again.

FiftyOne uses a private temporary database, never the user's.
"""

import argparse
import importlib
import os
import pathlib
import shutil
import sys
import tempfile
import time

import cv2
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_detection import Table, stop_private_database  # noqa: E402

NUM_CLASSES = 20
TARGETS = {"speedup": 10.0, "query_ms": 50.0, "peak_mb": 2048.0}


def write_scenes(folder, n, size, seed=0, confidence=True):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        coarse = rng.integers(0, NUM_CLASSES, (size // 32, size // 32))
        gt = np.kron(coarse, np.ones((32, 32), np.uint8)).astype(np.uint8)
        pred = np.roll(gt, int(rng.integers(-3, 4)), axis=1)
        y, x = rng.integers(0, size - 64, 2)
        pred[y:y + 64, x:x + 64] = rng.integers(0, NUM_CLASSES)
        conf = np.clip(rng.normal(0.8, 0.15, gt.shape), 0, 1)
        conf[pred != gt] *= 0.6
        paths = [str(folder / ("%s%05d.png" % (k, i))) for k in ("gt", "pred", "conf")]
        cv2.imwrite(paths[0], gt)
        cv2.imwrite(paths[1], pred)
        if confidence:
            cv2.imwrite(paths[2], (conf * 255).astype(np.uint8))
        else:
            paths[2] = None
        rows.append(paths)
    return rows


def build(rows):
    import fiftyone as fo

    samples = [fo.Sample(filepath="/nonexistent/seg-bench/%05d.png" % i,
                         ground_truth=fo.Segmentation(mask_path=g),
                         predictions=fo.Segmentation(mask_path=p),
                         confidence=fo.Heatmap(map_path=c, range=[0, 255]) if c else None)
               for i, (g, p, c) in enumerate(rows)]
    ds = fo.Dataset("error-atlas-seg-bench-%d-%d" % (os.getpid(), len(rows)))
    ds.add_samples(samples, progress=False)
    del samples
    targets = {k: "class%02d" % k for k in range(NUM_CLASSES)}
    targets[0] = "background"
    ds.mask_targets = {"ground_truth": targets, "predictions": targets}
    return ds, targets


def run_module():
    import fiftyone.operators as foo

    foo.get_operator("@error-atlas/error-atlas/evaluate_model")
    package = next(n for n in sys.modules if n.startswith("fiftyone.plugins.")
                   and n.endswith(".operators.detection_run"))[:-len(".detection_run")]
    return importlib.import_module(package + ".segmentation_run")


def child(name, workers):
    """Runs in the child process: evaluate the dataset, print the peaks as JSON."""
    import json
    import resource

    import fiftyone as fo

    from benchmarks.bench_detection import own_peak_mb

    seg_run = run_module()
    dataset = fo.load_dataset(name)
    before = own_peak_mb()
    t0 = time.perf_counter()
    summary = seg_run.evaluate_segmentations(dataset, "predictions", "ground_truth", "mem",
                                             num_workers=workers)
    seconds = time.perf_counter() - t0
    worker_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    print(json.dumps(dict(before_mb=before, peak_mb=own_peak_mb(), worker_mb=worker_mb,
                          seconds=seconds, miou=summary["mIoU"])))


def measure_memory(table, ds, workers):
    import json
    import subprocess

    out = subprocess.run([sys.executable, __file__, "--_child", ds.name,
                          "--workers", str(workers)], check=True, capture_output=True,
                         text=True, env=os.environ.copy())
    r = json.loads(out.stdout.strip().splitlines()[-1])
    total = r["peak_mb"] + workers * r["worker_mb"]
    print("evaluate_segmentations in a child: %.0f MB before the call, peak %.0f MB, largest "
          "worker %.0f MB, %.1f s (mIoU %.4f)" % (r["before_mb"], r["peak_mb"], r["worker_mb"],
                                                   r["seconds"], r["miou"]))
    table.add("Peak memory, %d masks %s (%.0f s): parent %.0f MB + %d x worker %.0f MB"
              % (len(ds), "x".join(map(str, ds.first().ground_truth.get_mask().shape)),
                 r["seconds"], r["peak_mb"], workers, r["worker_mb"]),
              "< %.0f MB" % TARGETS["peak_mb"], "%.0f MB" % total, total < TARGETS["peak_mb"])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=None, help="default 1000, 10000 with --memory")
    p.add_argument("--size", type=int, default=None, help="default 512, 1024 with --memory")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--memory", action="store_true", help="measure the peak memory instead")
    p.add_argument("--_child", dest="child")
    args = p.parse_args(argv)
    if args.child:
        return child(args.child, args.workers)
    args.images = args.images or (10000 if args.memory else 1000)
    args.size = args.size or (1024 if args.memory else 512)

    tmpdir = pathlib.Path(tempfile.mkdtemp(prefix="error-atlas-seg-"))
    os.environ.setdefault("FIFTYONE_DATABASE_DIR", str(tmpdir / "db"))
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    os.environ.setdefault("FIFTYONE_SHOW_PROGRESS_BARS", "false")
    os.environ.setdefault("FIFTYONE_PLUGINS_DIR", str(ROOT / ".venv" / "fiftyone-plugins"))
    table = Table()
    try:
        t0 = time.perf_counter()
        rows = write_scenes(tmpdir, args.images, args.size, confidence=not args.memory)
        ds, targets = build(rows)
        print("%d scenes of %dx%d written and loaded in %.0f s" % (
            len(ds), args.size, args.size, time.perf_counter() - t0))
        if args.memory:
            measure_memory(table, ds, args.workers)
            ds.delete()
            return 1 if any(r[3] == "FAIL" for r in table.rows) else 0
        seg_run = run_module()

        # the same work as FiftyOne's (no confidence sweep), then with the sweep
        t0 = time.perf_counter()
        summary = seg_run.evaluate_segmentations(ds, "predictions", "ground_truth", "ea",
                                                 num_workers=args.workers)
        t_ea = time.perf_counter() - t0
        print("Error Atlas: %.1f s (mIoU %.4f)" % (t_ea, summary["mIoU"]))
        t0 = time.perf_counter()
        seg_run.evaluate_segmentations(ds, "predictions", "ground_truth", "ea_conf",
                                       confidence_field="confidence", num_workers=args.workers)
        t_conf = time.perf_counter() - t0
        print("Error Atlas with the confidence sweep (a third PNG per image): %.1f s" % t_conf)

        import warnings
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds.evaluate_segmentations("predictions", gt_field="ground_truth", eval_key="fo",
                                      mask_targets=targets)
        t_fo = time.perf_counter() - t0
        print("FiftyOne evaluate_segmentations: %.1f s" % t_fo)

        ours, theirs = ds.load_evaluation_results("ea"), ds.load_evaluation_results("fo")
        same_cm = np.array_equal(ours.pixel_confusion_matrix, theirs.pixel_confusion_matrix)
        diffs = [np.nanmax(np.abs(np.array(ds.values("ea_" + m), float)
                                  - np.array(ds.values("fo_" + m), float)))
                 for m in ("accuracy", "precision", "recall")]
        table.add("Pixel confusion matrix == FiftyOne's", "equal", "equal" if same_cm else "DIFFERS",
                  same_cm)
        table.add("Per-sample accuracy / precision / recall vs FiftyOne", "<= 1e-9",
                  "max abs diff %.1e" % max(diffs), max(diffs) <= 1e-9)
        ratio = t_fo / t_ea
        table.add("evaluate (%d img %dx%d, 20 classes, PNG): %.1f s vs FiftyOne %.1f s"
                  % (len(ds), args.size, args.size, t_ea, t_fo),
                  ">= %.0fx" % TARGETS["speedup"], "%.1fx" % ratio, ratio >= TARGETS["speedup"])

        table.info("With the per-pixel confidence sweep (heatmap PNG read too)", "%.1f s" % t_conf)
        ev = seg_run.load_analysis(ds, "ea_conf")
        times = []
        for c in np.linspace(0.05, 0.95, 15):
            t0 = time.perf_counter()
            ev.metrics(confidence=c)
            times.append(time.perf_counter() - t0)
        ms = 1000 * float(np.median(times))
        table.add("New confidence: confusion + per-class IoU (median of 15)",
                  "< %.0f ms" % TARGETS["query_ms"], "%.1f ms" % ms, ms < TARGETS["query_ms"])
        ds.delete()
    finally:
        table.print()
        stop_private_database()
        shutil.rmtree(tmpdir, ignore_errors=True)
    return 1 if any(r[3] == "FAIL" for r in table.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
