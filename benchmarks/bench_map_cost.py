"""Cost of ``compute_error_map`` end to end, this checkout against another, side by side.

``bench_error_map.py`` times the engine's projection and clustering on synthetic
embeddings; this times the whole operator as a user calls it, descriptors (image files
read and described, objects' crops and rings) included, on the demo's scenes:

    compute_error_map(dataset, eval_key="eval", level="objects", map_key=...)

Both checkouts run on the same dataset and evaluation (one private database), each in a
fresh process per run (FiftyOne loads one plugin of a name per process), alternating, so
the machine's load falls on both alike; the median of ``--repeat`` runs each is compared.

    .venv/bin/python benchmarks/bench_map_cost.py --baseline-root /path/to/main
        [--images 8000] [--level objects] [--repeat 3]

8,000 demo images give ~50,000 points on an objects map. Target (issue 12): this
checkout within 1.5x of the baseline.
"""

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "demo", ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

ERROR_MAP = "@error-atlas/error-atlas/compute_error_map"
TARGET = 1.5


def child(args):
    """One timed compute_error_map of the plugin in FIFTYONE_PLUGINS_DIR; prints JSON."""
    import fiftyone as fo
    import fiftyone.operators as foo

    fo.config.show_progress_bars = False
    dataset = fo.load_dataset(args.dataset)
    op = foo.get_operator(ERROR_MAP)
    t0 = time.perf_counter()
    result = op(dataset, eval_key="eval", level=args.level, map_key=args.map_key)
    elapsed = time.perf_counter() - t0
    em = [m for k, m in sys.modules.items() if k.endswith("operators.error_map")][0]
    em.delete_error_map(dataset, args.map_key)
    print("COST " + json.dumps({"seconds": elapsed, "points": result["num_points"],
                                "clusters": result["num_clusters"],
                                "failure_clusters": len(result["failure_clusters"])}), flush=True)
    return 0


def run_side(root, args, tmpdir, map_key):
    plugins = pathlib.Path(tmpdir) / ("plugins-" + map_key)
    plugins.mkdir()
    (plugins / "error-atlas").symlink_to(pathlib.Path(root).resolve())
    env = dict(os.environ, FIFTYONE_PLUGINS_DIR=str(plugins))
    cmd = [sys.executable, __file__, "--_child", "--_dataset", args.dataset_name,
           "--level", args.level, "--_map-key", map_key]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("COST ")]
    if out.returncode or not line:
        raise RuntimeError("run of %s failed:\n%s" % (root, out.stderr[-3000:]))
    return json.loads(line[-1][5:])


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--baseline-root", required="--_child" not in (argv or sys.argv),
                   help="the other checkout (e.g. main's)")
    p.add_argument("--images", type=int, default=8000, help="demo scenes (8000)")
    p.add_argument("--level", default="objects", choices=("samples", "objects"))
    p.add_argument("--repeat", type=int, default=3, help="runs of each side (3; median)")
    p.add_argument("--_child", dest="child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--_dataset", dest="dataset", help=argparse.SUPPRESS)
    p.add_argument("--_map-key", dest="map_key", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        return child(args)
    tmpdir = tempfile.mkdtemp(prefix="error-atlas-bench-cost-")
    os.environ["FIFTYONE_DATABASE_DIR"] = os.path.join(tmpdir, "db")
    os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false")
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    plugins = pathlib.Path(tmpdir) / "plugins"
    plugins.mkdir()
    (plugins / "error-atlas").symlink_to(ROOT)
    os.environ["FIFTYONE_PLUGINS_DIR"] = str(plugins)
    import fiftyone as fo
    import fiftyone.operators as foo

    import scenes
    from bench_planted_failure import stop_private_database

    fo.config.show_progress_bars = False
    sides = {"this checkout": ROOT, "baseline": pathlib.Path(args.baseline_root)}
    times = {side: [] for side in sides}
    dataset = None
    try:
        t0 = time.perf_counter()
        dataset = scenes.build_dataset(name="error-atlas-bench-cost-%d" % os.getpid(),
                                       num_images=args.images, seed=51)
        foo.get_operator("@error-atlas/error-atlas/evaluate_model")(
            dataset, pred_field="predictions", gt_field="ground_truth", eval_key="eval")
        args.dataset_name = dataset.name
        print("%d demo scenes rendered, detected and evaluated in %.0f s (not timed)"
              % (len(dataset), time.perf_counter() - t0), flush=True)
        run_side(ROOT, args, tmpdir, "warmup")  # numba caches, page cache of the images
        for rep in range(args.repeat):
            for side, root in (sides.items() if rep % 2 == 0 else reversed(sides.items())):
                r = run_side(root, args, tmpdir, "cost_%d_%s" % (rep, side.split()[0]))
                times[side].append(r["seconds"])
                print("  %-14s %.1f s: %d points, %d clusters, %d failure clusters"
                      % (side, r["seconds"], r["points"], r["clusters"], r["failure_clusters"]),
                      flush=True)
    finally:
        load = " ".join("%.1f" % v for v in os.getloadavg())
        if all(times.values()):
            med = {side: statistics.median(t) for side, t in times.items()}
            ratio = med["this checkout"] / med["baseline"]
            print("\n== compute_error_map(level=%r), %d images, median of %d (load average %s) =="
                  % (args.level, args.images, args.repeat, load))
            for side, t in times.items():
                print("  %-14s %s s (median %.1f)" % (side, ", ".join("%.1f" % x for x in t),
                                                     med[side]))
            print("  ratio this / baseline: %.2fx (target <= %.1fx): %s"
                  % (ratio, TARGET, "PASS" if ratio <= TARGET else "FAIL"))
        if dataset is not None:
            dataset.delete()
        stop_private_database(tmpdir)
        shutil.rmtree(tmpdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
