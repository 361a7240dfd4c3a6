"""What live ``Sample`` objects cost an SDK call of ``evaluate_model``.

FiftyOne's executor loads the dataset with ``reload=True`` before an operator
runs, which re-reads every in-memory ``Sample`` of the dataset from the
database, one query each. A user who keeps the list passed to
``add_samples()`` pays that on every call. This measures, on the same data and
in one process, ``evaluate_model`` on ``--images`` images (default 300):

- through FiftyOne's executor (``fiftyone.operators.execute_operator``) and
  through the typed call (``get_operator(uri)(dataset, ...)``),
- with the samples kept alive, and after the user dropped them.

Run from the repository root::

    .venv/bin/python benchmarks/bench_sdk_live_samples.py [--images N] [--repeat R]

FiftyOne uses a private temporary database (``FIFTYONE_DATABASE_DIR``), never
the user's.
"""

import argparse
import atexit
import gc
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
URI = "@error-atlas/error-atlas/evaluate_model"
PARAMS = dict(pred_field="predictions", gt_field="ground_truth", eval_key="ea")


def _private_fiftyone():
    """A temporary database and a plugin dir holding this checkout."""
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-sdk-"))
    # registered before fiftyone starts its database, so removed after it stops
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    (tmp / "plugins").mkdir()
    (tmp / "plugins" / "error-atlas").symlink_to(ROOT)
    os.environ.update(FIFTYONE_DATABASE_DIR=str(tmp / "db"),
                      FIFTYONE_PLUGINS_DIR=str(tmp / "plugins"),
                      FIFTYONE_DO_NOT_TRACK="true", FIFTYONE_SHOW_PROGRESS_BARS="false")
    return tmp


def _samples(n):
    sys.path.insert(0, str(ROOT))
    from tests.fodata import random_dataset

    source = random_dataset(seed=0, num_samples=n)
    samples = [s.copy() for s in source]
    source.delete()
    return samples


def _timed(call, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    _private_fiftyone()
    import fiftyone as fo
    import fiftyone.operators as foo

    dataset = fo.Dataset()
    samples = _samples(args.images)
    dataset.add_samples(samples, progress=False)
    operator = foo.get_operator(URI)
    calls = {
        "FiftyOne executor (execute_operator)": lambda: foo.execute_operator(
            URI, dict(view=dataset.view(), params=PARAMS)),
        "typed call (get_operator(uri)(dataset, ...))": lambda: operator(dataset, **PARAMS),
    }
    rows = []
    for state in ("kept", "deleted"):
        if state == "deleted":
            del samples
            gc.collect()
        for name, call in calls.items():
            call()  # warm-up: plugin import, numba, first run of the key
            rows.append((name, state, _timed(call, args.repeat)))
    print("evaluate_model on %d images, median of %d runs" % (args.images, args.repeat))
    print("%-46s %-14s %8s" % ("path", "live samples", "seconds"))
    for name, state, seconds in rows:
        print("%-46s %-14s %8.2f" % (name, state, seconds))
    dataset.delete()


if __name__ == "__main__":
    main()
