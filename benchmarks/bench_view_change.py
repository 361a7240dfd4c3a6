"""What the App itself costs to show a selection: a new view or an extended selection.

The vector explorer answers a box or lasso selection with a new view (``set_view``);
FiftyOne's own Embeddings panel uses the App's *extended selection* instead (an extra
``Select`` on the grid's query, no view change). This measures both in the real App
in headless Chromium, with no panel involved: the App's built-in operators are run
from the page (``__foo__.executeOperator``), and the time is taken from the call to
the grid's count showing the selection (``--select`` random samples of
``--samples``), alternating the two, each followed by a reset. Median of ``--runs``.

Run from the repository root::

    .venv/bin/python benchmarks/bench_view_change.py [--samples 2375] [--select 1000] [--runs 5]
"""

import argparse
import os
import pathlib
import shutil
import statistics
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_panel import print_table, stop_private_database  # noqa: E402
from benchmarks.bench_vector_explorer import private_environment  # noqa: E402

SELECT = "fiftyone.core.stages.Select"


def measure(page, ids, size, runs, seed):
    """Seconds from each operator call to the grid's count, per way of showing."""
    from tests import browser

    rng = np.random.default_rng(seed)
    shows = {
        "set_view": lambda sel: ("@voxel51/operators/set_view", {
            "view": [{"_cls": SELECT, "kwargs": [["sample_ids", sel], ["ordered", False]]}]}),
        "extended": lambda sel: ("@voxel51/operators/set_extended_selection", {"selection": sel}),
    }
    resets = {"set_view": ("@voxel51/operators/clear_view", {}),
              "extended": ("@voxel51/operators/set_extended_selection", {"reset": True})}
    out = {how: [] for how in shows}
    for _ in range(runs):
        for how, show in shows.items():
            sel = [ids[i] for i in sorted(rng.choice(len(ids), size=size, replace=False))]
            t0 = time.perf_counter()
            page.evaluate("([u, p]) => window.__foo__.executeOperator(u, p)", list(show(sel)))
            browser.poll(lambda: browser.grid_count(page) == (size, "samples"), timeout=60,
                         interval=0.02, message=how)
            out[how].append(time.perf_counter() - t0)
            page.evaluate("([u, p]) => window.__foo__.executeOperator(u, p)", list(resets[how]))
            browser.poll(lambda: browser.grid_count(page) == (len(ids), "samples"), timeout=60,
                         interval=0.05, message="reset after " + how)
            page.wait_for_timeout(1000)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=2375, help="the vector explorer benchmark's images")
    p.add_argument("--select", type=int, default=1000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    tmp = private_environment()
    import fiftyone as fo
    from tests import browser

    reason = browser.unavailable()
    if reason:
        print("skipping: " + reason)
        return
    dataset = fo.Dataset("error-atlas-bench-view-%d" % os.getpid())
    try:
        dataset.persistent = True  # the App process must see it
        dataset.add_samples([fo.Sample(filepath="x.jpg", ground_truth=fo.Detections())
                             for _ in range(args.samples)])
        browser.write_images(dataset, tmp / "images")
        ids = dataset.values("id")
        with browser.App(dataset.name, tmp / "app.log") as app, browser.Browser() as chromium:
            page = chromium.page
            page.goto(app.url)
            browser.poll(lambda: browser.grid_count(page) == (args.samples, "samples"),
                         timeout=120, message="the grid")
            page.wait_for_timeout(2000)
            out = measure(page, ids, args.select, args.runs, args.seed)
        view, ext = (statistics.median(out[k]) for k in ("set_view", "extended"))
        rows = [("measurement (%d of %d samples, median of %d)" % (args.select, args.samples,
                                                                    args.runs), "value"),
                ("set_view(Select) -> grid count (s)", "%.2f" % view),
                ("extended selection -> grid count (s)", "%.2f" % ext),
                ("ratio set_view / extended selection", "%.1fx" % (view / ext)),
                ("machine: CPUs, load average (1 min) at the end",
                 "%d, %.1f" % (os.cpu_count(), os.getloadavg()[0]))]
        print_table(rows)
        print("runs: " + "; ".join("%s %s" % (k, ", ".join("%.2f" % v for v in vs))
                                   for k, vs in out.items()))
    finally:
        dataset.delete()
        if stop_private_database():
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
