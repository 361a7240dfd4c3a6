"""The evaluation explorer's Slices and Compare sections in the real App, in headless
Chromium at a laptop's 1440x900 with three columns (the grid, the panel, the vector
explorer): the table's rows are the engine's, a row click puts exactly the slice in the
grid, the comparison draws its tables and plots and a flips button puts exactly the
flips' samples in the grid; nothing overflows the panel.

Screenshots go to ``$TMPDIR/ea-slices-browser/``.
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

import fiftyone as fo  # noqa: E402
import fiftyone.operators as foo  # noqa: E402
from fiftyone import ViewField as F  # noqa: E402

from tests.browser import PANEL_SEL  # noqa: E402
from tests.fodata import evaluate_model, random_dataset  # noqa: E402
from tests.test_panel_narrow_browser import _OVERFLOW  # noqa: E402

SHOTS = os.path.join(tempfile.gettempdir(), "ea-slices-browser")


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("slices")
    name = "ea-slices-" + uuid.uuid4().hex[:8]
    dataset = random_dataset(seed=21, num_samples=60, name=name)
    try:
        dataset.persistent = True  # the App process must see it
        browser.write_images(dataset, tmp / "images")
        rng = np.random.default_rng(5)
        dataset.set_values("weather", rng.choice(["sun", "rain", "fog"], len(dataset)).tolist())
        for s in dataset.iter_samples(autosave=True):
            keep = 0.3 if s.weather == "fog" else 0.9
            s["predictions_b"] = fo.Detections(
                detections=[d.copy() for d in s.predictions.detections if rng.random() < keep])
        b = evaluate_model(dataset, pred_field="predictions_b", gt_field="ground_truth",
                           eval_key="b")
        a = evaluate_model(dataset, pred_field="predictions", gt_field="ground_truth", eval_key="a")
        with browser.App(name, tmp / "app.log", panel=[browser.PANEL, "vector_explorer"]) as app, \
                browser.Browser(1440, 900) as chromium:
            page = chromium.page
            page.goto(app.url)
            browser.poll(lambda: browser.plot_data(page, "confusion"), timeout=90,
                         message="the panel's confusion matrix")
            yield types.SimpleNamespace(dataset=dataset, page=page, chromium=chromium,
                                        optimal={"a": a["optimal_threshold"],
                                                 "b": b["optimal_threshold"]})
    finally:
        dataset.delete()


def shot(page, name):
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=os.path.join(SHOTS, name + ".png"))


def table_rows(page, title):
    """The cells' texts of the panel's ClusterTable section titled ``title``."""
    return page.evaluate("""([sel, title]) => {
      const s = [...document.querySelectorAll(sel + ' details')].find(
          d => d.querySelector('summary') && d.querySelector('summary').textContent === title);
      if (!s) return null;
      return [...s.querySelectorAll('tbody tr')].map(
          tr => [...tr.querySelectorAll('td')].map(td => td.textContent));
    }""", [PANEL_SEL, title])


def click_row(page, title, i):
    page.evaluate("""([sel, title, i]) => {
      const s = [...document.querySelectorAll(sel + ' details')].find(
          d => d.querySelector('summary').textContent === title);
      const tr = s.querySelectorAll('tbody tr')[i];
      tr.scrollIntoView({block: 'center'});
      tr.click();
    }""", [PANEL_SEL, title, i])


def plot_titled(page, text):
    return page.evaluate("""([sel, text]) => {
      const gd = [...document.querySelectorAll(sel + ' .js-plotly-plot')].find(
          g => g.layout && g.layout.title && g.layout.title.text === text);
      if (!gd) return null;
      gd.scrollIntoView({block: 'center'});
      return gd.data.map(t => ({type: t.type, name: t.name || null, z: t.z || null}));
    }""", [PANEL_SEL, text])


def fits(page):
    out = page.evaluate(_OVERFLOW, PANEL_SEL)
    assert 380 <= out["width"] <= 600, "three columns give the panel %d px" % out["width"]
    assert out["bad"] == [], "\n".join(map(str, out["bad"]))


def test_slices_table_and_a_slice_to_the_grid(ui):
    page, ds = ui.page, ui.dataset
    browser.choose(page, "Slice the run by", "Sample field: weather")
    rows = browser.poll(lambda: (lambda r: (r is not None and len(r) == 4, r))(
        table_rows(page, "Slices by weather")), timeout=30, message="the slices' table")
    assert rows[0][0] == "All (whole run)" and rows[0][1] == str(len(ds))
    names = [r[0] for r in rows[1:]]
    assert set(names) == {"sun", "rain", "fog"}
    fog = names.index("fog") + 1
    assert int(rows[fog][1]) == len(ds.match(F("weather") == "fog"))
    shot(page, "slices_table")
    click_row(page, "Slices by weather", fog)
    browser.poll(lambda: browser.grid_count(page) == (int(rows[fog][1]), "samples"), timeout=20,
                 message="the grid at the fog slice")
    shot(page, "slices_clicked")
    fits(page)


def test_compare_section_and_flips_to_the_grid(ui):
    page, ds = ui.page, ui.dataset
    browser.choose(page, "Run B (run A: the one above)", "b")
    metrics = browser.poll(lambda: (lambda r: (r is not None and len(r) == 5, r))(
        table_rows(page, "Side by side")), timeout=40, message="the side-by-side table")
    assert [r[0] for r in metrics] == ["mAP", "AP50", "precision", "recall", "f1"]
    assert metrics[0][1] == "%.3f" % ds.load_evaluation_results("a").mAP()
    assert metrics[0][2] == "%.3f" % ds.load_evaluation_results("b").mAP()
    curves = browser.poll(lambda: plot_titled(page, "P (blue), R (green), F1 (red): A solid, B dashed"),
                          message="the overlaid curves")
    assert len(curves) == 6
    shot(page, "compare_curves")
    matrix = browser.poll(lambda: plot_titled(page, "Confusion matrix, B - A"),
                          message="the difference matrix")
    assert matrix[0]["type"] == "heatmap"
    shot(page, "compare_matrix")
    button = page.locator(PANEL_SEL + " button").filter(has_text="A right, B wrong")
    button.scroll_into_view_if_needed()
    n_flips = int(button.inner_text().split("(")[1].split()[0])
    # the panel takes each run at its max-F1 threshold: the same call from Python
    result = foo.get_operator("@error-atlas/error-atlas/compare_runs")(
        ds, eval_key="a", compare_key="b", confidence=ui.optimal["a"],
        compare_confidence=ui.optimal["b"], num_boot=0)
    assert n_flips == len(result["flips"]["a_only"]) > 0
    samples = len(ds.select_labels(ids=result["flips"]["a_only"], fields="ground_truth"))
    assert samples != browser.grid_count(page)[0]  # the grid changes
    button.click()
    browser.poll(lambda: browser.grid_count(page) == (samples, "samples"), timeout=20,
                 message="the grid at the flips' %d samples" % samples)
    shot(page, "compare_flips")
    fits(page)
