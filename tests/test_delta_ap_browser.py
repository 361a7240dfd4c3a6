"""The evaluation explorer draws the run's dAP chart in the real App (headless Chromium)."""

import uuid

import pytest

from tests import browser

_reason = browser.unavailable()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

from tests.browser import PANEL_SEL  # noqa: E402
from tests.fodata import evaluate_model, random_dataset  # noqa: E402


def dap_bars(page):
    """The drawn dAP trace (orientation, y labels, x values) or None."""
    return page.evaluate("""() => {
      const panel = document.querySelector('%s');
      if (!panel) return null;
      const gd = [...panel.querySelectorAll('.js-plotly-plot')].find(
        g => g.data && g.data.some(t => t.name === 'dAP'));
      if (!gd) return null;
      const t = gd.data.find(t => t.name === 'dAP');
      return {orientation: t.orientation, y: t.y, x: t.x,
              bars: gd.querySelectorAll('.barlayer .point').length};
    }""" % PANEL_SEL)


def test_the_panel_draws_the_runs_delta_ap_as_horizontal_bars(tmp_path):
    name = "ea-dap-" + uuid.uuid4().hex[:8]
    dataset = random_dataset(seed=7, num_samples=30, name=name)
    dataset.persistent = True  # the App process must see it
    try:
        browser.write_images(dataset, tmp_path / "images")
        summary = evaluate_model(dataset, pred_field="predictions", gt_field="ground_truth",
                                 eval_key="eval")
        d = summary["delta_ap"]
        expected = [round(100 * v, 2) for v in list(d["main"].values()) + list(d["special"].values())]
        with browser.App(name, tmp_path / "app.log") as app, browser.Browser() as chromium:
            page = chromium.page
            page.goto(app.url)
            shown = browser.poll(lambda: dap_bars(page), timeout=60, message="the dAP chart")
            assert shown["orientation"] == "h"
            assert shown["y"] == ["Cls", "Loc", "Both", "Dupe", "Bkg", "Miss", "FalsePos", "FalseNeg"]
            assert shown["x"] == expected and max(expected) > 0
            assert shown["bars"] == 8
    finally:
        dataset.delete()
