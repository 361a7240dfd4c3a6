"""The evaluation explorer's what-if section in the real App (headless Chromium,
1440x900, three columns: the grid, the explorer, the vector explorer).

Three images of a demo scene dataset are selected in the grid and scored with
the demo's detector; each is drawn (thumbnail, one legend entry per prediction,
boxes at or above their threshold solid, the others legend-only) with the
table below. Moving the slider to its ends changes which boxes are drawn;
hovering a box shows its label and confidence; a click on a legend-only entry
draws its box. Screenshots go to ``EA_SCREENSHOTS`` (default /tmp/ea-what-if),
to be looked at."""

import os
import sys
import uuid

import pytest

from tests import browser

_reason = browser.unavailable()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

from tests.browser import PANEL_SEL  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.fodata import evaluate_model  # noqa: E402
from tests.taskdata import plugin_module  # noqa: E402

sys.path.insert(0, str(ROOT / "demo"))
import scenes  # noqa: E402

SHOTS = os.environ.get("EA_SCREENSHOTS", "/tmp/ea-what-if")
ENTRY = str(ROOT / "demo" / "shape_detector.py") + ":detect"
SAVED = {"circle": 0.3}  # one class keeps the run's own threshold; the slider sets the others'

_FIGURES = """(sel) => {
  const panel = document.querySelector(sel);
  if (!panel) return [];
  return [...panel.querySelectorAll('.js-plotly-plot')].map((g, index) => [g, index]).filter(
      ([g]) => g.layout && g.layout.legend && g.layout.legend.title &&
           g.layout.legend.title.text === 'predictions').map(([g, index]) => ({
      title: g.layout.title.text, index: index, width: g.getBoundingClientRect().width, images: (g.layout.images || []).length,
      note: ((g.layout.annotations || [])[0] || {}).text || null,
      traces: (g.data || []).map(t => ({name: t.name, visible: t.visible}))}));
}"""


def figures(page):
    return page.evaluate(_FIGURES, PANEL_SEL)


def shot(page, name):
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=os.path.join(SHOTS, name + ".png"))


def slider(page):
    """The what-if section's slider (the last MUI slider in the panel)."""
    return page.locator(PANEL_SEL + " .MuiSlider-root").last


def drawn(figs):
    return [t["name"] for f in figs for t in f["traces"] if t["visible"] is True]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    ds = scenes.build_dataset(name="ea-whatif-ui-" + uuid.uuid4().hex[:6], num_images=30,
                              seed=5, out_dir=str(tmp_path_factory.mktemp("whatif-ui")))
    ds.persistent = True  # the App process must see it
    try:
        evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="eval")
        plugin_module("operators.run_store").save_class_thresholds(ds, "eval", SAVED)
        ds.info = dict(ds.info or {}, error_atlas_default_model=ENTRY)
        ds.save()
        yield ds
    finally:
        ds.delete()


def test_what_if_in_the_evaluation_explorer(demo, tmp_path):
    # three images with predictions of several classes, so the slider has something to move
    counts = [len(x.detections) for x in demo.values("predictions")]
    ids = [i for i, n in zip(demo.values("id"), counts) if n >= 3][:3]
    with browser.App(demo.name, tmp_path / "app.log",
                     panel=[browser.PANEL, "vector_explorer"]) as app, \
            browser.Browser(1440, 900) as chromium:
        page = chromium.page
        page.goto(app.url)
        try:
            browser.poll(lambda: browser.summary(page), timeout=90, message="the summary")
        except AssertionError:
            print(app.log_tail(60))
            raise
        page.evaluate("([u, p]) => window.__foo__.executeOperator(u, p)", [
            "@voxel51/operators/set_selected_samples",
            {"samples": [{"id": i, "type": "default"} for i in ids]}])
        page.wait_for_timeout(1500)
        button = page.locator(PANEL_SEL).get_by_role("button", name="Score the selected images")
        button.scroll_into_view_if_needed()
        button.click()
        figs = browser.poll(lambda: len(figures(page)) == 3 and all(
            f["traces"] for f in figures(page)) and figures(page), timeout=60,
            message="three what-if figures")
        demo.reload()
        scored = demo.select(ids, ordered=True).values("what_if")
        names = [f.rsplit("/", 1)[-1] for f in demo.select(ids, ordered=True).values("filepath")]
        assert [f["title"] for f in figs] == names and all(f["images"] == 1 for f in figs)
        for f, labels in zip(figs, scored):  # the legend is the list of predictions
            dets = sorted(labels.detections, key=lambda d: -d.confidence)
            assert [t["name"] for t in f["traces"]] == [
                "%s %.2f" % (d.label, d.confidence) for d in dets]
            assert f["note"] is None
        text = page.locator(PANEL_SEL).inner_text()
        assert "Confidence threshold" in text and "Prediction" in text
        # the figures and the table fit the column: nothing widens the panel's content
        panel = page.locator(PANEL_SEL).bounding_box()
        assert all(f["width"] <= panel["width"] for f in figs), (panel, figs)
        table = page.locator(PANEL_SEL + " table").last.bounding_box()
        assert table["x"] + table["width"] <= panel["x"] + panel["width"] + 1, (panel, table)
        page.locator(PANEL_SEL + " .js-plotly-plot").nth(
            figs[0]["index"]).scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        shot(page, "what_if_scored")

        def at(key):
            thumb = slider(page).locator("input[type=range]")
            thumb.focus()
            page.keyboard.press(key)
            before = drawn(figures(page))
            return browser.poll(lambda: drawn(figures(page)) != before and figures(page),
                                timeout=30, message="the figures after %s" % key)

        low = at("Home")  # 0: every box drawn
        every = [t["name"] for f in low for t in f["traces"]]
        assert drawn(low) == every
        shot(page, "what_if_threshold_0")
        high = at("End")  # 1: only circles at or above their own 0.3
        assert drawn(high) == [t for t in every if t.startswith("circle ")
                               and float(t.split()[1]) >= SAVED["circle"]]
        assert len(drawn(high)) < len(every)
        shot(page, "what_if_threshold_1")
        rows = page.locator(PANEL_SEL + " table").last.locator("tbody tr")
        assert rows.count() == sum(len(x.detections) for x in scored)

        # hovering a drawn box: plotly's label shows its class and confidence;
        # a click on a legend-only entry draws its box whatever the threshold
        k, f = next((k, f) for k, f in enumerate(high)
                    if any(t["visible"] == "legendonly" for t in f["traces"]))
        j = next(j for j, t in enumerate(f["traces"]) if t["visible"] == "legendonly")
        plot = page.locator(PANEL_SEL + " .js-plotly-plot").nth(f["index"])
        plot.scroll_into_view_if_needed()
        state = lambda: figures(page)[k]["traces"][j]["visible"]  # noqa: E731
        for attempt in range(2):  # a click during a re-render of the panel can be lost:
            plot.locator(".legend .traces").nth(j).click()  # click again only if still hidden
            try:
                browser.poll(lambda: state() is True, timeout=10,
                             message="the legend entry's box drawn")
                break
            except AssertionError:
                if attempt or state() != "legendonly":
                    raise
        center = page.evaluate("""([sel, k, j]) => {
          const gd = document.querySelector(sel).querySelectorAll('.js-plotly-plot')[k];
          const t = gd.data[j], xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
          const x = (Math.min(...t.x) + Math.max(...t.x)) / 2;
          const y = (Math.min(...t.y) + Math.max(...t.y)) / 2;
          const box = gd.getBoundingClientRect();
          return [box.left + xa._offset + xa.d2p(x), box.top + ya._offset + ya.d2p(y)];
        }""", [PANEL_SEL, f["index"], j])
        page.mouse.move(*center)
        name = f["traces"][j]["name"]
        browser.poll(lambda: name in (plot.locator(".hoverlayer").text_content() or ""), timeout=10,
                     message="the hover label %r" % name)
        shot(page, "what_if_hover")
        assert chromium.console_errors == []
