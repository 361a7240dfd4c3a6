"""What the History and the exported report cost at realistic sizes.

On ``--images`` images (default 20,000: ~60,000 ground-truth objects and
~70,000 predictions with ``tests.fodata.random_dataset``'s mix), evaluated
``--runs`` times (default 5, each a different model: a share of predictions
dropped), this measures in one process:

- ``run_history.runs`` (every run's record, from the run documents) and the
  engine's ``history.table`` over them (every metric, the baseline, flags);
- ``export_report`` of the newest run against the oldest (``compare_key``),
  with 8 thumbnails per group (the images do not exist: the samples are read,
  no picture is decoded), and the HTML file's size;
- the report's PDF when Chromium is present (``--pdf``).

Run from the repository root::

    .venv/bin/python benchmarks/bench_report.py [--images N] [--runs R] [--pdf]

FiftyOne uses a private temporary database (``FIFTYONE_DATABASE_DIR``).
"""

import argparse
import atexit
import os
import pathlib
import shutil
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _private_fiftyone():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-report-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    (tmp / "plugins").mkdir()
    (tmp / "plugins" / "error-atlas").symlink_to(ROOT)
    os.environ.update(FIFTYONE_DATABASE_DIR=str(tmp / "db"),
                      FIFTYONE_PLUGINS_DIR=str(tmp / "plugins"),
                      FIFTYONE_DO_NOT_TRACK="true", FIFTYONE_SHOW_PROGRESS_BARS="false")
    return tmp


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pdf", action="store_true")
    args = parser.parse_args()
    tmp = _private_fiftyone()
    sys.path.insert(0, str(ROOT))
    import fiftyone as fo
    import fiftyone.operators as foo

    from tests.fodata import random_dataset
    from tests.taskdata import plugin_module

    evaluate = foo.get_operator("@error-atlas/error-atlas/evaluate_model")
    export = foo.get_operator("@error-atlas/error-atlas/export_report")
    run_history = plugin_module("operators.run_history")
    from plugin import history

    dataset = random_dataset(seed=0, num_samples=args.images)
    print("%d images, %d ground-truth objects, %d predictions" % (
        len(dataset), dataset.count("ground_truth.detections"),
        dataset.count("predictions.detections")))
    for r in range(args.runs):
        field = "model%d" % r
        dataset.clone_sample_field("predictions", field)
        # each model keeps fewer of the least confident predictions: recall falls
        dataset.filter_labels(field, fo.ViewField("confidence") >= 0.08 * r,
                              only_matches=False).save(field)
        start = time.perf_counter()
        evaluate(dataset, pred_field=field, eval_key="v%d" % r, model_name="detector",
                 model_version=str(r))
        print("evaluate_model run v%d: %.1f s" % (r, time.perf_counter() - start))
    start = time.perf_counter()
    runs = run_history.runs(dataset, task="detection")
    read = time.perf_counter() - start
    start = time.perf_counter()
    table = history.table(runs, baseline="v0")
    flags = int(table["regression"].sum())
    print("history: %d runs read in %.3f s; table of %d metrics in %.4f s (%d flags)" % (
        len(runs), read, len(table["metrics"]), time.perf_counter() - start, flags))
    start = time.perf_counter()
    out = export(dataset, eval_key="v%d" % (args.runs - 1), compare_key="v0",
                 path=str(tmp / "report.html"), pdf=args.pdf)
    print("export_report: %.1f s, HTML %.1f MB, sections %s" % (
        time.perf_counter() - start, out["size_bytes"] / 1e6, ", ".join(out["sections"])))
    if out.get("pdf_path"):
        print("PDF: %.1f MB" % (out["pdf_size_bytes"] / 1e6))
    dataset.delete()


if __name__ == "__main__":
    main()
