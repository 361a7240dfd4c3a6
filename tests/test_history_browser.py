"""The evaluation explorer's History section in the real App (headless Chromium,
1440x900, three columns): the plot holds the runs' numbers, the table flags the
regression, choosing a metric or a baseline redraws both, nothing overflows.
Screenshots go to ``EA_SCREENSHOTS`` (default /tmp/ea-history), to be looked at."""

import os
import re
import uuid

import pytest

import fiftyone as fo

from tests import browser

_reason = browser.unavailable()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

from tests.browser import PANEL_SEL  # noqa: E402
from tests.fodata import evaluate_model, random_dataset  # noqa: E402
from tests.test_panel_narrow_browser import overflow  # noqa: E402

SHOTS = os.environ.get("EA_SCREENSHOTS", "/tmp/ea-history")

_HISTORY_PLOT = """() => {
  const panel = document.querySelector('%s');
  if (!panel) return null;
  const gd = [...panel.querySelectorAll('.js-plotly-plot')].find(
      g => g.data && g.layout && g.layout.title && / per run, UTC/.test(g.layout.title.text || ''));
  return gd ? {title: gd.layout.title.text, traces: gd.data.map(t => ({name: t.name, y: t.y}))}
            : null;
}""" % PANEL_SEL


def history_plot(page):
    return page.evaluate(_HISTORY_PLOT)


def history_rows(page):
    """The History table's rows (cell texts), or []."""
    return page.evaluate("""(sel) => {
      const panel = document.querySelector(sel);
      if (!panel) return [];
      const table = [...panel.querySelectorAll('table')].find(
          t => /Regresses on/.test(t.textContent));
      return table ? [...table.querySelectorAll('tbody tr')].map(
          r => [...r.querySelectorAll('td')].map(c => c.textContent.trim())) : [];
    }""", PANEL_SEL)


def shot(page, name):
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=os.path.join(SHOTS, name + ".png"))


def test_history_in_the_app(tmp_path):
    name = "ea-history-" + uuid.uuid4().hex[:8]
    dataset = random_dataset(seed=3, num_samples=60, name=name)
    dataset.persistent = True  # the App process must see it
    try:
        browser.write_images(dataset, tmp_path / "images")
        first = evaluate_model(dataset, pred_field="predictions", eval_key="v1",
                               model_name="shapes", model_version="1.0")
        for s in dataset.iter_samples(autosave=True):
            s["worse"] = fo.Detections(detections=s.predictions.detections[::3])
        second = evaluate_model(dataset, pred_field="worse", eval_key="v2", confidence=0.3,
                                model_name="shapes", model_version="2.0")
        with browser.App(name, tmp_path / "app.log",
                         panel=[browser.PANEL, "vector_explorer"]) as app, \
                browser.Browser(1440, 900) as chromium:
            page = chromium.page
            page.goto(app.url)
            shown = browser.poll(lambda: history_plot(page), timeout=90, message="History plot")
            assert shown["traces"][0]["y"] == pytest.approx([first["mAP"], second["mAP"]])
            title = page.locator(PANEL_SEL).get_by_text("History", exact=True)
            title.scroll_into_view_if_needed()
            browser.choose(page, "Metric", "recall")
            shown = browser.poll(lambda: (history_plot(page) or {}).get("title", "").startswith(
                "recall") and history_plot(page), message="the recall plot")
            assert shown["traces"][0]["y"] == pytest.approx([first["recall"], second["recall"]])
            assert shown["traces"][1]["name"] == "regression"
            rows = browser.poll(lambda: len(history_rows(page)) == 2 and history_rows(page),
                                message="the History table")
            assert rows[0][0] == "v1" and rows[0][5] == "baseline"
            assert rows[1][0] == "v2" and rows[1][5] == "▼ regression"
            assert rows[1][3].startswith("%.3f" % second["recall"])
            assert "recall" in rows[1][6]
            page.locator(PANEL_SEL + " .js-plotly-plot").last.scroll_into_view_if_needed()
            shot(page, "history_recall")
            page.locator(PANEL_SEL + ' [data-ea-table="history_runs"]').scroll_into_view_if_needed()
            shot(page, "history_table")
            out = overflow(page)
            assert out["bad"] == [], "\n".join(map(str, out["bad"]))
            browser.choose(page, "Baseline run", "shapes 2.0 (v2)")
            rows = browser.poll(lambda: (history_rows(page) or [[""] * 7])[-1][5] == "baseline"
                                and history_rows(page), message="v2 as the baseline")
            assert rows[0][5] == "–" and re.match(r"^\+", rows[0][4])
            shot(page, "history_baseline_v2")
            # a click on a run's row: the explorer shows that run
            page.locator(PANEL_SEL + ' [data-ea-table="history_runs"] tbody tr').first.click()
            browser.poll(lambda: page.locator(PANEL_SEL + ' [role="combobox"]').first
                         .inner_text().replace("\u200b", "").strip() == "v1",
                         message="run v1 shown")
            browser.poll(lambda: browser.summary(page) and browser.summary(page).get("mAP")
                         == "%.3f" % first["mAP"], message="v1's summary")
            assert chromium.console_errors == []
    finally:
        dataset.delete()
