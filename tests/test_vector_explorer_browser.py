"""The vector explorer in the real App, next to the evaluation explorer, in headless
Chromium, checked against the stored map and the engine.

One App (subprocess) and one browser for the module, both panels open; the
tests run in file order against the same page. Screenshots of every state go to
``artifacts/screenshots/test_vx_<name>.png``.
"""

import json
import re
import sys
import types
import uuid

import numpy as np
import pytest

from tests import browser

_reason = browser.unavailable()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

import fiftyone.operators as foo  # noqa: E402
from fiftyone import ViewField as F  # noqa: E402

from tests.fodata import evaluate_model, random_dataset  # noqa: E402
from tests.test_error_map import compute_error_map  # noqa: E402
from tests.test_panel_browser import informative_confidences  # noqa: E402

VX = browser.VECTOR_SEL
EE = browser.PANEL_SEL  # the evaluation explorer
NUM_SAMPLES = 60
ERROR_TYPES = ("correct", "classification", "localization", "both", "duplicate", "background",
               "missed")


def plugin_module(suffix):
    foo.get_operator("@error-atlas/error-atlas/vector_explorer")
    return next(m for n, m in sys.modules.items() if n.endswith(suffix))


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vx-browser")
    name = "ea-vx-browser-" + uuid.uuid4().hex[:8]
    dataset = random_dataset(seed=41, num_samples=NUM_SAMPLES, name=name)
    dataset.persistent = True  # the App process must see it
    try:
        informative_confidences(dataset, seed=41)
        browser.write_images(dataset, tmp / "images")
        evaluate_model(dataset, pred_field="predictions", gt_field="ground_truth", eval_key="eval")
        smap = compute_error_map(dataset, eval_key="eval", level="samples", map_key="smap",
                                 num_clusters=4)
        omap = compute_error_map(dataset, eval_key="eval", level="objects", map_key="omap",
                                 num_clusters=4)
        ev = plugin_module("operators.detection_run").load_analysis(dataset, "eval")
        with browser.App(name, tmp / "app.log", panel=["vector_explorer", "evaluation_explorer"]) \
                as app, browser.Browser(width=2400, height=1250) as chromium:
            page = chromium.page
            requests = []
            page.on("request", lambda r: requests.append(r.post_data)
                    if "operators/execute" in r.url and "vector_explorer" in (r.post_data or "")
                    else None)
            page.goto(app.url)
            browser.poll(lambda: browser.scatter_traces(page), timeout=60, message="the scatter")
            browser.poll(lambda: browser.plot_data(page, "confusion"), timeout=60,
                         message="the evaluation explorer's confusion matrix")
            yield types.SimpleNamespace(dataset=dataset, ev=ev, page=page, smap=smap, omap=omap,
                                        requests=requests)
    finally:
        dataset.delete()


def drawn(page):
    """(points in the colour groups, the "in view" trace) as plotly drew them."""
    traces = browser.scatter_traces(page) or []
    groups = [t for t in traces if not t["name"].startswith("in view")]
    lit = next((t for t in traces if t["name"].startswith("in view")), None)
    return sum(t["n"] for t in groups), lit


def clear_grid_view(page):
    page.locator('[data-cy="btn-clear-view-bar"]').click()
    browser.poll(lambda: browser.grid_count(page) == (NUM_SAMPLES, "samples"),
                 message="the unfiltered grid")


def scroll_to_text(page, text):
    page.locator(VX).get_by_text(text, exact=False).first.scroll_into_view_if_needed()


def selection_event(requests):
    """The points of the last non-empty ``on_selected`` event the App sent."""
    for body in reversed(requests):
        params = json.loads(body)["params"]
        if params.get("__method__") == "on_selected" and params.get("data"):
            return params["data"]
    return None


# -- tests -------------------------------------------------------------------------------

def test_map_opens_with_every_point_coloured_by_error_type(ui):
    page, ev = ui.page, ui.ev
    n = browser.poll(lambda: (lambda d: (d[0] == ui.omap["num_points"], d[0]))(drawn(page)),
                     message="every point of the objects map drawn")
    assert n == ui.omap["num_points"]
    # the map's points: every prediction and every object the detector did not find,
    # each with the error type the engine gives it at the run's operating point
    a = ev.assess(0.5, None)
    want = np.bincount(a.pred_error[a.pred_error >= 0], minlength=7) + \
        np.bincount(a.gt_error[a.gt_error > 0], minlength=7)
    colors = plugin_module("panels.figures").COLORS
    traces = [t for t in browser.scatter_traces(page) if not t["name"].startswith("in view")]
    assert {t["name"]: (t["n"], t["color"]) for t in traces} == {
        "%s (%d)" % (e, want[i]): (int(want[i]), colors[e])
        for i, e in enumerate(ERROR_TYPES) if want[i]}
    assert browser.grid_count(page) == (NUM_SAMPLES, "samples")
    # a legend entry hides its group, a second click shows it again
    entry = page.locator(VX + " .legend .traces").first
    entry.click()
    browser.poll(lambda: browser.scatter_traces(page)[0]["visible"] == "legendonly",
                 message="the first group hidden")
    browser.screenshot(page, "test_vx_map_opens_legend_toggled")
    entry.click()
    browser.poll(lambda: browser.scatter_traces(page)[0]["visible"] is True,
                 message="the first group shown again")
    browser.screenshot(page, "test_vx_map_opens")


def test_a_confusion_cell_in_the_evaluation_explorer_highlights_its_points(ui):
    page, ev = ui.page, ui.ev
    s = browser.poll(lambda: browser.summary(page), message="the explorer's summary")
    iou = float(re.search(r"IoU (\d\.\d\d)", s["sentence"]).group(1))
    a = ev.assess(iou, browser.slider_value(page))
    K = ev.num_classes
    k = int(np.argmax(np.diag(a.confusion)[:K]))  # a diagonal cell: predictions, all on the map
    n = int(a.confusion[k, k])
    x, y = browser.plot_point(page, "confusion", k, k)
    page.mouse.move(x, y)
    page.wait_for_timeout(150)
    page.mouse.click(x, y)
    browser.poll(lambda: browser.grid_count(page) == (n, "patches"),
                 message="%d patches for the cell" % n)
    lit = browser.poll(lambda: (lambda t: (t and t["n"] == n, t))(drawn(page)[1]),
                       message="the cell's %d points highlighted" % n)
    assert lit["name"] == "in view (%d)" % n
    page.locator(VX + " .js-plotly-plot").first.scroll_into_view_if_needed()
    browser.screenshot(page, "test_vx_cell_highlight")


def test_box_selection_shows_the_selected_points_in_the_grid(ui):
    page = ui.page
    clear_grid_view(page)
    browser.poll(lambda: drawn(page)[1] is not None and drawn(page)[1]["n"] == 0,
                 message="no highlight once the view is cleared")
    page.locator(VX).get_by_text("Colour by", exact=True).scroll_into_view_if_needed()
    browser.choose(page, "Map", "smap", sel=VX)
    browser.poll(lambda: drawn(page)[0] == NUM_SAMPLES, message="the samples map drawn")
    page.wait_for_timeout(500)
    ui.requests.clear()
    browser.box_select(page, 0.05, 0.05, 0.6, 0.95)
    # page.wait_for_timeout lets Playwright deliver the request events meanwhile
    picked = browser.poll(lambda: page.wait_for_timeout(50) or selection_event(ui.requests),
                          message="the selection event")
    n = len({(p["trace_idx"], p["idx"]) for p in picked})
    assert 0 < n < NUM_SAMPLES, "the box holds some of the images"
    browser.poll(lambda: browser.grid_count(page) == (n, "samples"),
                 message="%d samples in the grid" % n)
    lit = browser.poll(lambda: (lambda t: (t and t["n"] == n, t))(drawn(page)[1]),
                       message="the selection highlighted")
    assert lit["name"] == "in view (%d)" % n
    page.wait_for_timeout(1500)  # the tiles
    browser.screenshot(page, "test_vx_box_selection")


def test_choosing_a_failure_cluster_shows_its_members_metrics_and_confusion(ui):
    page, ev, ds = ui.page, ui.ev, ui.dataset
    top = ui.smap["failure_clusters"][0]
    clear_grid_view(page)
    page.locator(VX + " tbody tr").first.click()
    browser.poll(lambda: browser.grid_count(page) == (top["size"], "samples"),
                 message="the %d images of the top cluster" % top["size"])
    heat = browser.poll(lambda: browser.panel_heatmap(page), message="the cluster's confusion")
    text = page.locator(VX).inner_text()
    assert "Cluster %d (failure cluster #1)" % top["id"] in text
    assert "Precision (all)" in text and "evaluation explorer's operating point" in text
    # the sub-matrix: the engine's confusion over the cluster's images, at the
    # explorer's operating point, non-zero rows and columns only
    s = browser.summary(page)
    iou = float(re.search(r"IoU (\d\.\d\d)", s["sentence"]).group(1))
    a = ev.assess(iou, browser.slider_value(page))
    members = ds.match(F("smap_cluster") == top["id"]).values("id")
    sub = a.restrict(*ev.members(members)).confusion
    rows, cols = np.flatnonzero(sub.sum(axis=1)), np.flatnonzero(sub.sum(axis=0))
    names = list(ev.classes)
    assert heat["y"] == [(names + ["Not an object"])[i] for i in rows]
    assert heat["x"] == [(names + ["Not detected"])[j] for j in cols]
    assert np.array_equal(np.array(heat["z"]), sub[np.ix_(rows, cols)])
    scroll_to_text(page, "Confusion within the cluster")
    browser.screenshot(page, "test_vx_cluster_report")

    # a cell of the sub-matrix: exactly its objects, as patches
    z = np.array(heat["z"])
    i, j = np.unravel_index(np.argmax(z), z.shape)
    browser.click_heatmap_cell(page, int(j), int(i))
    browser.poll(lambda: browser.grid_count(page) == (int(z[i, j]), "patches"),
                 message="%d patches for the cluster's cell" % z[i, j])
    page.wait_for_timeout(1500)  # the tiles
    browser.screenshot(page, "test_vx_cluster_cell")
