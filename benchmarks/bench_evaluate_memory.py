"""Peak memory of ``evaluate_model`` through FiftyOne, at 100k and 500k predictions.

Issue 11 recorded 639 MB at 100k predictions and 1.57 GB at 500k for the
operator run end to end (read labels, engine, write-back, runs saved); this
measures the same thing so every change can be checked against it.

The data set is the detection benchmark's synthetic set (640x480 images,
80 classes), built once per size with ``add_samples``. Each measurement runs
``evaluate_model`` in a fresh child process that attaches to the same private
database, so the peak (``VmHWM``) is the run's own: the child's RSS before
the call (Python, FiftyOne, the plugin) and its peak after are both printed.

Run from the repository root::

    .venv/bin/python benchmarks/bench_evaluate_memory.py [--sizes 20,100] [--images 5000]

``--sizes`` are predictions per image (20 -> ~100k, 100 -> ~500k at 5,000
images). FiftyOne uses a private temporary database, never the user's.
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_detection import (  # noqa: E402
    OPERATOR_URI, Table, build_dataset, generate, own_peak_mb, stop_private_database)

# issue 11's measurements: keep or improve
REFERENCE_MB = {100_000: 639.0, 500_000: 1570.0}


def child(name, eval_key):
    """Runs in the child process: evaluate the dataset, print the peak as JSON."""
    import fiftyone as fo
    import fiftyone.operators as foo

    fo.config.show_progress_bars = False
    op = foo.get_operator(OPERATOR_URI)
    dataset = fo.load_dataset(name)
    before = own_peak_mb()
    t0 = time.perf_counter()
    summary = op(dataset, pred_field="predictions", gt_field="ground_truth", eval_key=eval_key)
    seconds = time.perf_counter() - t0
    print(json.dumps(dict(before_mb=before, peak_mb=own_peak_mb(), seconds=seconds,
                          num_pred=summary["num_pred"], mAP=summary["mAP"])))


def measure(name, eval_key):
    out = subprocess.run([sys.executable, __file__, "--_child", name, "--_key", eval_key],
                         check=True, capture_output=True, text=True, env=os.environ.copy())
    return json.loads(out.stdout.strip().splitlines()[-1])


def reference_for(num_pred):
    """The issue's figure for the nearest of its two sizes."""
    size = min(REFERENCE_MB, key=lambda n: abs(n - num_pred))
    return size, REFERENCE_MB[size]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=5000)
    p.add_argument("--sizes", default="20,100", help="predictions per image, comma-separated")
    p.add_argument("--_child", dest="child")
    p.add_argument("--_key", dest="key")
    args = p.parse_args(argv)
    if args.child:
        return child(args.child, args.key)

    tmpdir = tempfile.mkdtemp(prefix="error-atlas-mem-")
    os.environ.setdefault("FIFTYONE_DATABASE_DIR", os.path.join(tmpdir, "db"))
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    os.environ.setdefault("FIFTYONE_SHOW_PROGRESS_BARS", "false")
    os.environ.setdefault("FIFTYONE_PLUGINS_DIR", str(ROOT / ".venv" / "fiftyone-plugins"))
    table = Table()
    try:
        for per_image in (int(s) for s in args.sizes.split(",")):
            data = generate(args.images, preds_per_image=per_image, seed=0)
            t0 = time.perf_counter()
            dataset = build_dataset(data, "error-atlas-mem-%d-%d" % (os.getpid(), per_image))
            del data
            print("built %d samples in %.0f s" % (len(dataset), time.perf_counter() - t0))
            try:
                r = measure(dataset.name, "mem")
            finally:
                dataset.delete()
            size, ref = reference_for(r["num_pred"])
            print("%d predictions: %.0f MB before the call, peak %.0f MB, %.1f s (mAP %.4f)"
                  % (r["num_pred"], r["before_mb"], r["peak_mb"], r["seconds"], r["mAP"]))
            table.add("evaluate_model peak RSS, %d preds (%.1f s; %.0f MB before the call)"
                      % (r["num_pred"], r["seconds"], r["before_mb"]),
                      "<= %.0f MB (issue 11, %dk)" % (ref, size // 1000), "%.0f MB" % r["peak_mb"],
                      r["peak_mb"] <= ref)
    finally:
        table.print()
        stop_private_database()
        shutil.rmtree(tmpdir, ignore_errors=True)
    return 1 if any(r[3] == "FAIL" for r in table.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
