""""Split cluster" and "Undo split" in the real App, in headless Chromium at a laptop's
1440x900 with three columns (the grid, the vector explorer, the evaluation explorer):
the clusters' table and the map redraw with the stored map's new clusters, nothing
overflows, and undo brings the table back.

Screenshots go to ``$TMPDIR/ea-split-browser/``.
"""

import os
import tempfile
import types

import pytest

from tests import browser

_reason = browser.unavailable()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

import fiftyone.operators as foo  # noqa: E402

from tests.test_error_map import compute_error_map, planted_dataset  # noqa: E402
from tests.test_map_slices_browser import table_rows  # noqa: E402
from tests.test_panel_narrow_browser import _OVERFLOW  # noqa: E402

VX = browser.VECTOR_SEL
TITLE = "Failure clusters (ranked by errors explained)"
SHOTS = os.path.join(tempfile.gettempdir(), "ea-split-browser")


def stored_sizes(ds):
    foo.get_operator("@error-atlas/error-atlas/vector_explorer")
    import sys

    em = next(m for n, m in sys.modules.items() if n.endswith("operators.error_map"))
    ds.reload()  # the App's process wrote the run
    return [s["size"] for s in em.load_error_map(ds, "smap")[1]]


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("split-browser")
    dataset, _ = planted_dataset(tmp, n=160, seed=13)
    try:
        dataset.persistent = True  # the App process must see it
        compute_error_map(dataset, eval_key="eval", level="samples", map_key="smap",
                          num_clusters=2)
        with browser.App(dataset.name, tmp / "app.log",
                         panel=["vector_explorer", browser.PANEL]) as app, \
                browser.Browser(1440, 900) as chromium:
            page = chromium.page
            page.goto(app.url)
            browser.poll(lambda: browser.scatter_traces(page), timeout=90, message="the scatter")
            yield types.SimpleNamespace(dataset=dataset, page=page)
    finally:
        dataset.delete()


def sizes_shown(page):
    rows = table_rows(page, TITLE)
    return None if rows is None else [int(r[1]) for r in rows]


def fits(page):
    out = page.evaluate(_OVERFLOW, VX)
    assert 380 <= out["width"] <= 600, "three columns give the panel %d px" % out["width"]
    assert out["bad"] == [], "\n".join(map(str, out["bad"]))


def click_button(page, label):
    button = page.locator(VX + " button").filter(has_text=label)
    button.scroll_into_view_if_needed()
    button.click()


def test_split_cluster_redraws_the_table_and_the_map_and_undo_restores_them(ui):
    page, ds = ui.page, ui.dataset
    before = stored_sizes(ds)
    assert browser.poll(lambda: sizes_shown(page) == before, timeout=30,
                        message="the clusters' table") and len(before) == 2
    os.makedirs(SHOTS, exist_ok=True)
    browser.choose(page, "Colour by", "cluster", sel=VX)
    browser.poll(lambda: [t["n"] for t in browser.scatter_traces(page)
                          if not t["name"].startswith("in view")] == before,
                 timeout=30, message="the map coloured by its two clusters")
    page.locator(VX + " tbody tr").first.click()  # the top cluster
    browser.poll(lambda: browser.grid_count(page) == (before[0], "samples"), timeout=30,
                 message="the top cluster's images in the grid")
    click_button(page, "Split cluster")
    after = browser.poll(lambda: (lambda s: (s is not None and len(s) > 2, s))(sizes_shown(page)),
                         timeout=60, message="the table of the split map")
    assert after == stored_sizes(ds) and sum(after) == len(ds)
    # the map redrawn with the new clusters: one legend entry per cluster, in rank order
    traces = browser.poll(lambda: (lambda t: (len(t) == len(after), t))(
        browser.scatter_traces(page)), timeout=30, message="the map's new clusters")
    groups = [t for t in traces if not t["name"].startswith("in view")]
    assert [t["n"] for t in groups] == after
    assert [t["name"].split(" (")[0] for t in groups] == [
        "cluster #%d" % r for r in range(1, len(after) + 1)]
    text = page.locator(VX).inner_text()
    assert "Split cluster #1 into #" in text and "Undo split" in text
    browser.poll(lambda: browser.grid_count(page) == (len(ds), "samples"), timeout=30,
                 message="the whole dataset in the grid (the old cluster's view is cleared)")
    page.locator(VX).get_by_text("Split cluster #1 into").first.scroll_into_view_if_needed()
    page.screenshot(path=os.path.join(SHOTS, "split.png"))
    fits(page)
    page.locator(VX + " tbody tr").last.scroll_into_view_if_needed()
    page.screenshot(path=os.path.join(SHOTS, "split_table.png"))

    click_button(page, "Undo split")
    browser.poll(lambda: sizes_shown(page) == before, timeout=60, message="the table undone")
    browser.poll(lambda: [t["n"] for t in browser.scatter_traces(page)
                          if not t["name"].startswith("in view")] == before,
                 timeout=30, message="the map's two clusters again")
    assert "Last split undone." in page.locator(VX).inner_text()
    assert page.locator(VX + " button").filter(has_text="Undo split").count() == 0
    page.screenshot(path=os.path.join(SHOTS, "undone.png"))
