"""The evaluation explorer on a multi-label run in the real App, in headless
Chromium at 1440x900 with three columns: summary, micro P/R/F1 against
confidence, the class table and the class confusion, checked against the
engine; the slider moves the matrix; a cell opens exactly its images; nothing
overflows. Screenshots go to ``$TMPDIR/ea-multilabel-browser/``."""

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
from tests.taskdata import plugin_module  # noqa: E402
from tests.test_eval_explorer_tasks_browser import (click_cell, fits, heatmap,  # noqa: E402
                                                    point_text, write_images)
from tests.test_multilabel_model import multilabel_dataset  # noqa: E402

N = 60
SHOTS = os.path.join(tempfile.gettempdir(), "ea-multilabel-browser")


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("multilabel")
    name = "ea-ml-" + uuid.uuid4().hex[:8]
    paths = write_images(str(tmp / "images"), N)
    dataset = multilabel_dataset(seed=8, n=N, classes=["cat", "dog", "car", "tree", "sky"])
    try:
        dataset.set_values("filepath", paths)
        dataset.name = name
        dataset.persistent = True  # the App process must see it
        evaluate_model(dataset, pred_field="predictions", gt_field="ground_truth", eval_key="ml")
        with browser.App(name, tmp / "app.log", panel=[browser.PANEL, "vector_explorer"]) as app, \
                browser.Browser(1440, 900) as chromium:
            page = chromium.page
            page.goto(app.url)
            browser.poll(lambda: heatmap(page), timeout=90, message="the class confusion")
            yield types.SimpleNamespace(dataset=dataset, page=page,
                                        ev=plugin_module("panels.runs").load(dataset, "ml")[0])
    finally:
        dataset.delete()


def shot(page, name):
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=os.path.join(SHOTS, name + ".png"))


def test_multilabel_summary_slider_table_and_cell(ui):
    page, ev = ui.page, ui.ev
    m = browser.poll(lambda: heatmap(page), message="the class confusion")
    assert m["x"][-1] == "Missed"
    panel = page.locator(PANEL_SEL)
    assert panel.get_by_text("IoU threshold", exact=True).count() == 0
    start = browser.slider_value(page)
    best = ev.optimal_thresholds()["overall"]
    assert start == pytest.approx(best)
    summary = page.locator(PANEL_SEL + ' [data-ea-md="summary"]').inner_text()
    assert "Subset accuracy" in summary and "%.3f" % ev.metrics(best)["micro_f1"] in summary
    shot(page, "multilabel_summary")

    slider = page.locator(PANEL_SEL + " .MuiSlider-root input[type=range]").first
    slider.focus()
    for _ in range(6):
        page.keyboard.press("ArrowRight")
    conf = browser.poll(lambda: (lambda v: (v is not None and v > start + 0.03, v))(
        browser.slider_value(page)), message="the slider moved")
    rows = [ev.classes.index(c) for c in m["y"]]
    want = ev.class_confusion(conf)[np.ix_(rows, rows + [ev.num_classes])]
    browser.poll(lambda: (lambda h: (h is not None and np.array_equal(h["z"], want), h and h["z"]))(
        heatmap(page)), message="the matrix at confidence %.2f" % conf)
    at = ev.sweeps()[0].at(conf)
    browser.poll(lambda: (lambda t: (t is not None and "F1 %.3f" % at["f1"] in t, t))(
        point_text(page)), message="the micro numbers at confidence %.2f" % conf)
    page.locator(PANEL_SEL + ' [data-ea-section="class_table"]').scroll_into_view_if_needed()
    shot(page, "multilabel_table")
    fits(page)

    z = np.array(heatmap(page)["z"])
    off = z[:, :-1].copy()
    np.fill_diagonal(off, 0)
    i, j = np.unravel_index(np.argmax(off), off.shape)
    assert z[i, j] > 0
    page.wait_for_timeout(500)  # the slider's release reaches Python
    click_cell(page, int(j), int(i))
    browser.poll(lambda: browser.grid_count(page) == (int(z[i, j]), "samples"), timeout=20,
                 message="the grid at the cell's %d images" % z[i, j])
    shot(page, "multilabel_cell")
