"""The evaluation explorer on a classification and a segmentation run, in the real
App in headless Chromium at a laptop's 1440x900 with three columns (the grid, the
panel, the vector explorer), checked against the engines; nothing in the panel
overflows its ~410 px.

One App and one browser for the module, one dataset holding both runs (the
classification run shown first, the segmentation run chosen in the panel).
Screenshots go to ``$TMPDIR/ea-tasks-browser/``.
"""

import os
import tempfile
import types
import uuid

import numpy as np
import pytest

from tests import browser

_reason = browser.unavailable()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

from tests.browser import PANEL_SEL  # noqa: E402
from tests.fodata import evaluate_model  # noqa: E402
from tests.test_panel_narrow_browser import _OVERFLOW  # noqa: E402
from tests.taskdata import (TARGETS, classification_dataset, plugin_module,  # noqa: E402
                            segmentation_dataset)

N = 40
SHOTS = os.path.join(tempfile.gettempdir(), "ea-tasks-browser")


def write_images(directory, n):
    from PIL import Image

    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = os.path.join(directory, "img%03d.png" % i)
        Image.fromarray(rng.integers(40, 200, (48, 64, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tasks")
    name = "ea-tasks-" + uuid.uuid4().hex[:8]
    paths = write_images(str(tmp / "images"), N)
    dataset = classification_dataset(seed=11, n=N, name=name, filepaths=paths)
    scenes = segmentation_dataset(seed=12, n=N)
    try:
        dataset.persistent = True  # the App process must see it
        for field, src in (("seg_gt", "ground_truth"), ("seg_pred", "predictions"),
                           ("seg_conf", "confidence")):
            dataset.set_values(field, scenes.values(src))
        dataset.mask_targets = {"seg_gt": TARGETS, "seg_pred": TARGETS}
        plugin_module("operators.segmentation_run").evaluate_segmentations(
            dataset, "seg_pred", "seg_gt", "seg", confidence_field="seg_conf", num_workers=1)
        evaluate_model(dataset, pred_field="predictions", gt_field="ground_truth", eval_key="cls")
        runs = plugin_module("panels.runs")
        with browser.App(name, tmp / "app.log", panel=[browser.PANEL, "vector_explorer"]) as app, \
                browser.Browser(1440, 900) as chromium:
            page = chromium.page
            page.goto(app.url)
            browser.poll(lambda: heatmap(page), timeout=90, message="the confusion matrix")
            yield types.SimpleNamespace(dataset=dataset, page=page, chromium=chromium,
                                        cls=runs.load(dataset, "cls")[0],
                                        seg=runs.load(dataset, "seg")[0])
    finally:
        scenes.delete()
        dataset.delete()


def shot(page, name):
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=os.path.join(SHOTS, name + ".png"))


def heatmap(page):
    """The panel's confusion heatmap: ``{x, y, z, text}``, or None."""
    return page.evaluate("""(sel) => {
      const gd = document.querySelector(sel + ' [data-ea-plot="confusion_plot"] .js-plotly-plot');
      return gd && gd.data ? {x: gd.data[0].x, y: gd.data[0].y, z: gd.data[0].z,
                              text: gd.data[0].text || null} : null;
    }""", PANEL_SEL)


def point_text(page):
    return page.evaluate("""(sel) => { const e = document.querySelector(
        sel + ' [data-ea="operating-point-text"]'); return e ? e.textContent : null; }""", PANEL_SEL)


def fits(page):
    """Nothing in the panel reaches past its right edge (every section drawn)."""
    out = page.evaluate(_OVERFLOW, PANEL_SEL)
    assert 380 <= out["width"] <= 600, "three columns give the panel %d px" % out["width"]
    assert out["bad"] == [], "\n".join(map(str, out["bad"]))


def click_cell(page, col, row):
    browser.click_heatmap_cell(page, col, row, sel=PANEL_SEL)


def test_classification_slider_cells_and_reliability(ui):
    page, ev = ui.page, ui.cls
    m = browser.poll(lambda: heatmap(page), message="the classification matrix")
    assert m["x"][-1] == "Below threshold"
    panel = page.locator(PANEL_SEL)
    assert panel.get_by_text("IoU threshold", exact=True).count() == 0  # no IoU here
    start = browser.slider_value(page)
    shot(page, "classification_summary")
    browser.poll(lambda: page.locator(PANEL_SEL + ' [data-ea-plot="reliability_plot"]').count() > 0,
                 message="every section drawn")
    fits(page)
    best = ev.sweeps()[0].optimal()["confidence"]
    assert start == pytest.approx(best)

    # the slider moves in the browser: matrix and text at the new step are the engine's
    slider = page.locator(PANEL_SEL + " .MuiSlider-root input[type=range]").first
    slider.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    conf = browser.poll(lambda: (lambda v: (v is not None and v > start + 0.03, v))(
        browser.slider_value(page)), message="the slider moved")
    rows = [ev.classes.index(c) for c in m["y"]]
    want = ev.assess(conf).confusion[np.ix_(rows, rows + [ev.num_classes])]
    browser.poll(lambda: (lambda h: (h is not None and np.array_equal(h["z"], want), h and h["z"]))(
        heatmap(page)), message="the matrix at confidence %.2f" % conf)
    s = ev.summary(conf)
    browser.poll(lambda: (lambda t: (t is not None and "coverage %.3f" % s["coverage"] in t, t))(
        point_text(page)), message="the counts at confidence %.2f" % conf)

    # a cell to the grid: the grid counts exactly the cell's images
    z = np.array(heatmap(page)["z"])
    off = z[:, :-1].copy()
    np.fill_diagonal(off, 0)
    i, j = np.unravel_index(np.argmax(off), off.shape)
    assert z[i, j] > 0
    page.wait_for_timeout(500)  # the slider's release reaches Python
    click_cell(page, int(j), int(i))
    browser.poll(lambda: browser.grid_count(page) == (int(z[i, j]), "samples"), timeout=20,
                 message="the grid at the cell's %d images" % z[i, j])
    shot(page, "classification_cell")

    # the reliability diagram is drawn, with the engine's bins
    gd = page.locator(PANEL_SEL + ' [data-ea-plot="reliability_plot"] .js-plotly-plot')
    gd.scroll_into_view_if_needed()
    counts = gd.evaluate("g => g.data[0].customdata")
    assert counts == ev.calibration()["count"]
    assert gd.locator(".bars path").count() > 0  # plotly drew its bars
    shot(page, "classification_reliability")


def test_segmentation_cell_opens_its_images(ui):
    page, ev = ui.page, ui.seg
    browser.choose(page, "Evaluation", "seg")
    m = browser.poll(lambda: (lambda h: (h is not None and h["x"][-1] == "Unlabeled", h))(
        heatmap(page)), timeout=30, message="the pixel confusion matrix")
    i, j = m["y"].index("road"), m["x"].index("car")
    images = m["text"][i][j]
    best = ev.optimal_thresholds()["overall"]
    assert images == len(ev.cell_images(ev.classes.index("road"), ev.classes.index("car"),
                                        best)[0]) > 0
    page.locator(PANEL_SEL + ' [data-ea-md="summary"]').scroll_into_view_if_needed()
    shot(page, "segmentation_summary")
    summary = page.locator(PANEL_SEL + ' [data-ea-md="summary"]').inner_text()
    assert "mIoU" in summary and "%.3f" % ev.metrics(best)["miou"] in summary
    drawn = page.evaluate("""(sel) => [...document.querySelectorAll(
        sel + ' [data-ea-plot="confusion_plot"] text')].map(t => t.textContent)""", PANEL_SEL)
    # each cell prints its pixels and images (two lines: their texts joined here)
    assert any(t.endswith(" px%d img" % images) for t in drawn)
    assert not any("%{" in t for t in drawn)
    click_cell(page, j, i)
    browser.poll(lambda: browser.grid_count(page) == (images, "samples"), timeout=20,
                 message="the grid at the cell's %d images" % images)
    shot(page, "segmentation_cell")
    page.locator(PANEL_SEL + ' [data-ea-section="class_table"]').scroll_into_view_if_needed()
    shot(page, "segmentation_table")
    fits(page)
