"""The evaluation explorer in the real App, in headless Chromium, checked against the engine.

One App (subprocess) and one browser for the module; the tests run in file
order against the same page and each reads the panel's current operating point
(slider value, IoU) from the page before computing what it expects. Screenshots
of every state go to ``artifacts/screenshots/<test>.png``.
"""

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

from plugin import errors  # noqa: E402
from plugin.recommendations import recommend  # noqa: E402
from tests.fodata import URI, evaluate_model, random_dataset  # noqa: E402

from tests.browser import PANEL_SEL  # noqa: E402

NUM_SAMPLES = 60


def plugin_module(suffix):
    """A module of the plugin, as FiftyOne imported it (relative imports)."""
    foo.get_operator(URI)
    return next(m for n, m in sys.modules.items() if n.endswith(suffix))


def load_analysis(dataset, eval_key):
    return plugin_module("operators.detection_run").load_analysis(dataset, eval_key)


def informative_confidences(dataset, seed):
    """Confidence that means something (spurious boxes score lower), so the
    optimal threshold lies inside the slider rather than at its end."""
    rng = np.random.default_rng(seed)
    boxes = dataset.values("predictions.detections.bounding_box")
    confs = [[float(rng.beta(2, 5) if (b[2], b[3]) == (0.1, 0.12) else rng.beta(5, 2))
              for b in sample] for sample in boxes]
    dataset.set_values("predictions.detections.confidence", confs)


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    name = "ea-browser-" + uuid.uuid4().hex[:8]
    dataset = random_dataset(seed=41, num_samples=NUM_SAMPLES, name=name)
    dataset.persistent = True  # the App process must see it
    try:
        informative_confidences(dataset, seed=41)
        browser.write_images(dataset, tmp / "images")
        evaluate_model(dataset, pred_field="predictions", gt_field="ground_truth", eval_key="eval")
        ev = load_analysis(dataset, "eval")
        with browser.App(name, tmp / "app.log") as app, browser.Browser() as chromium:
            page = chromium.page
            page.goto(app.url)
            browser.poll(lambda: browser.plot_data(page, "confusion"), timeout=60,
                         message="the panel's confusion matrix")
            yield types.SimpleNamespace(dataset=dataset, ev=ev, page=page, app=app,
                                        chromium=chromium)
    finally:
        dataset.delete()


# -- reading the page ------------------------------------------------------------------

def operating_point(page):
    """(iou, confidence) the panel shows: the slider's value and the IoU in the summary."""
    s = browser.poll(lambda: browser.summary(page), message="the summary")
    iou = float(re.search(r"IoU (\d\.\d\d)", s["sentence"]).group(1))
    return iou, browser.slider_value(page)


def confusion(page):
    data = browser.plot_data(page, "confusion")
    return None if data is None else np.array(data[0]["z"])


def class_counts(page):
    """{class: {series: count}} from the stacked per-class bars."""
    out = {}
    for trace in browser.plot_data(page, "classes") or []:
        for name, y in zip(trace["x"], trace["y"]):
            out.setdefault(name, {})[trace["name"]] = y
    return out


def expected_class_counts(ev, a):
    c = a.class_counts()
    return {name: {"correct": int(c["tp"][k]), "misclassified": int(c["misclassified"][k]),
                   "missed": int(c["not_detected"][k]), "false positives": int(c["fp"][k])}
            for k, name in enumerate(ev.classes)}


def shows_operating_point(page, ev, iou, conf):
    """(ok, detail): summary, confusion matrix and class bars all at (iou, conf)."""
    s = browser.summary(page) or {}
    exp = ev.summary(iou, conf)
    a = ev.assess(iou, conf)
    got = {"sentence": s.get("sentence"), "Precision": s.get("Precision"),
           "Recall": s.get("Recall"), "F1": s.get("F1"), "TP": s.get("TP"), "FP": s.get("FP"),
           "FN": s.get("FN"), "confusion": confusion(page), "classes": class_counts(page),
           "live": page.evaluate("""() => { const e = document.querySelector(
               '%s [data-ea="operating-point-text"]'); return e ? e.textContent : null; }""" % PANEL_SEL)}
    want = {"sentence": "At confidence %.2f and IoU %.2f" % (conf, iou),
            "Precision": "%.3f" % exp["precision"], "Recall": "%.3f" % exp["recall"],
            "F1": "%.3f" % exp["f1"], "TP": str(exp["tp"]), "FP": str(exp["fp"]),
            "FN": str(exp["fn"]), "confusion": a.confusion,
            "classes": expected_class_counts(ev, a),
            # the counts the browser draws under the slider, from the steps sent once
            "live": [float("%.2f" % conf), exp["precision"], exp["recall"], exp["f1"], exp["tp"], exp["fp"], exp["fn"]]}
    bad = {}
    for key, w in want.items():
        g = got[key]
        if key == "sentence":
            same = bool(g) and g.startswith(w)
        elif key == "live":  # "At confidence 0.43: precision 0.651, recall ... (TP 1, FP 2, FN 3)"
            numbers = [float(x) for x in re.findall(r"(?<![\w.])\d+(?:\.\d+)?", g or "")]
            same = len(numbers) == 7 and np.allclose(numbers, w, atol=0.0015)
        elif key == "confusion":
            same = g is not None and g.shape == w.shape and (g == w).all()
        else:
            same = g == w
        if not same:
            bad[key] = (g.tolist() if isinstance(g, np.ndarray) else g,
                        w.tolist() if isinstance(w, np.ndarray) else w)
    return not bad, bad


def clear_grid_view(page):
    page.locator('[data-cy="btn-clear-view-bar"]').click()
    browser.poll(lambda: browser.grid_count(page) == (NUM_SAMPLES, "samples"),
                 message="the unfiltered grid")


def click_cell(page, col, row):
    x, y = browser.plot_point(page, "confusion", col, row)
    page.mouse.move(x, y)
    page.wait_for_timeout(150)  # plotly picks the hovered cell on mousemove
    page.mouse.click(x, y)


# -- tests -------------------------------------------------------------------------------

def test_panel_opens_with_the_engine_summary_at_the_optimal_threshold(ui):
    page, ev = ui.page, ui.ev
    best = ev.sweeps(0.5)[0].optimal()
    assert 0.05 < best["confidence"] < 0.95, "the fixture should give an inner optimum"
    assert browser.slider_value(page) == pytest.approx(best["confidence"])
    browser.poll(lambda: shows_operating_point(page, ev, 0.5, best["confidence"]),
                 message="the summary at the optimum")
    s = browser.summary(page)
    exp = ev.summary(0.5, best["confidence"])
    assert [s["mAP"], s["AP50"], s["AP75"]] == ["%.3f" % exp[k] for k in ("mAP", "AP50", "AP75")]
    assert s["Images"] == str(NUM_SAMPLES) and s["Objects"] == str(exp["num_gt"])
    assert "optimal: %.2f" % best["confidence"] in s["sentence"]
    for kind in ("threshold", "errors", "classes", "confusion", "pr"):
        assert browser.plot_data(page, kind), kind
    assert browser.grid_count(page) == (NUM_SAMPLES, "samples")
    page.locator(PANEL_SEL).get_by_text("Confidence", exact=False).first.scroll_into_view_if_needed()
    browser.screenshot(page, "test_panel_opens")


def test_confidence_slider_updates_confusion_matrix_and_class_counts(ui):
    page, ev = ui.page, ui.ev
    iou, start = operating_point(page)
    before = confusion(page)
    slider = page.locator(PANEL_SEL + " .MuiSlider-root").first
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    page.mouse.click(box["x"] + 0.8 * box["width"], box["y"] + box["height"] / 2)
    conf = browser.poll(lambda: (lambda v: (v is not None and abs(v - start) > 0.05, v))(
        browser.slider_value(page)), message="the slider moved by a click on its track")
    assert conf == pytest.approx(round(conf, 2)), "the slider snaps to its 0.01 steps"
    browser.poll(lambda: shows_operating_point(page, ev, iou, conf),
                 message="every section at confidence %.2f" % conf)
    assert not (confusion(page) == before).all(), "a large threshold move changes the matrix"

    # one keyboard step
    page.locator(PANEL_SEL + " .MuiSlider-root input[type=range]").first.focus()
    page.keyboard.press("ArrowLeft")
    lower = browser.poll(lambda: (lambda v: (v is not None and v < conf - 0.005, v))(
        browser.slider_value(page)), message="the slider moved by a key")
    assert lower == pytest.approx(conf - 0.01)
    browser.poll(lambda: shows_operating_point(page, ev, iou, lower),
                 message="every section at confidence %.2f" % lower)

    # the per-class table agrees with the bars
    table = page.evaluate("""() => {
      const t = [...document.querySelectorAll('%s table')].find(
          t => [...t.querySelectorAll('th')].some(th => th.textContent.trim() === 'Support'));
      const head = [...t.querySelectorAll('th')].map(th => th.textContent.trim());
      return [...t.querySelectorAll('tbody tr')].map(tr => {
        const cells = [...tr.querySelectorAll('td')].map(td => td.textContent.trim());
        return Object.fromEntries(head.map((h, i) => [h, cells[i]]));
      });
    }""" % PANEL_SEL)
    c = ev.assess(iou, lower).class_counts()
    assert {r["Class"]: int(r["Support"]) for r in table} == {
        name: int(c["tp"][k] + c["fn"][k]) for k, name in enumerate(ev.classes)}
    page.evaluate("() => document.querySelectorAll('%s .js-plotly-plot')[3]"
                  ".scrollIntoView({block: 'center'})" % PANEL_SEL)
    browser.screenshot(page, "test_confidence_slider")


def test_back_to_optimal_restores_the_optimum(ui):
    page, ev = ui.page, ui.ev
    iou, conf = operating_point(page)
    best = ev.sweeps(iou)[0].optimal()["confidence"]
    assert abs(conf - best) > 0.005, "the previous test moved the slider away"
    button = page.locator(PANEL_SEL).get_by_role("button", name="Back to optimal")
    button.scroll_into_view_if_needed()
    button.click()
    browser.poll(lambda: browser.slider_value(page) == pytest.approx(best),
                 message="the slider at the optimum")
    browser.poll(lambda: shows_operating_point(page, ev, iou, best),
                 message="every section at the optimum")
    browser.screenshot(page, "test_back_to_optimal")


def test_confusion_cell_click_shows_exactly_its_objects(ui):
    page, ev = ui.page, ui.ev
    iou, conf = operating_point(page)
    a = ev.assess(iou, conf)
    K = ev.num_classes
    z = confusion(page)
    assert (z == a.confusion).all()
    # a diagonal cell (predictions), a Not-detected cell (objects), a Not-an-object
    # cell (false detections); distinct counts so each update is visible
    picks, seen = [], set()
    for group in ([(k, k) for k in range(K)], [(k, K) for k in range(K)],
                  [(K, k) for k in range(K)]):
        cell = next(((r, c) for r, c in group if a.confusion[r, c] and a.confusion[r, c] not in seen),
                    None)
        if cell:
            picks.append(cell)
            seen.add(a.confusion[cell])
    assert len(picks) == 3, a.confusion
    for row, col in picks:
        clear_grid_view(page)
        click_cell(page, col, row)
        n = int(a.confusion[row, col])
        browser.poll(lambda: browser.grid_count(page) == (n, "patches"),
                     message="%d patches for cell (%d, %d)" % (n, row, col))
        # the panel follows the App's view: its objects, counted at this operating point
        want = "The grid shows %d predictions and %d ground-truth objects" % (
            (0, n) if col == K else (n, 0))
        browser.poll(lambda: want in page.inner_text(PANEL_SEL),
                     message="the view section for cell (%d, %d)" % (row, col))
    browser.screenshot(page, "test_confusion_cell_click")


def test_recommendation_show_button_shows_its_objects(ui):
    page, ev = ui.page, ui.ev
    iou, conf = operating_point(page)
    a = ev.assess(iou, conf)
    shown_max = plugin_module("panels.sections").MAX_RECOMMENDATIONS
    recs = [r.to_dict() for r in recommend(ev, iou, conf, NUM_SAMPLES)][:shown_max]
    shown = [r for r in recs if "error" in r["show"]]
    assert shown, "random data has plenty of errors: %s" % recs
    rec = next((r for r in shown if r["show"]["error"] == "missed"), shown[0])
    error = rec["show"]["error"]
    side = a.gt_error if error == "missed" else a.pred_error
    n = int(np.count_nonzero(side == errors.ERROR_TYPES.index(error)))
    clear_grid_view(page)
    row = page.locator(PANEL_SEL + " div").filter(has_text=rec["title"]).filter(
        has=page.get_by_role("button", name="Show", exact=True)).last
    row.scroll_into_view_if_needed()
    row.get_by_role("button", name="Show", exact=True).click()
    browser.poll(lambda: browser.grid_count(page) == (n, "patches"),
                 message="%d patches for recommendation %r" % (n, rec["title"]))
    browser.screenshot(page, "test_recommendation_show")


def test_iou_choice_updates_the_summary(ui):
    page, ev = ui.page, ui.ev
    _, conf = operating_point(page)
    before = browser.summary(page)
    combo = page.locator(PANEL_SEL + ' [role="combobox"]').first
    combo.scroll_into_view_if_needed()
    browser.choose(page, "IoU threshold", "0.75")
    browser.poll(lambda: shows_operating_point(page, ev, 0.75, conf),
                 message="every section at IoU 0.75")
    after = browser.summary(page)
    assert after["TP"] != before["TP"], "a stricter IoU loses matches on jittered boxes"
    assert browser.slider_value(page) == pytest.approx(conf), "the threshold is kept"
    browser.screenshot(page, "test_iou_choice")


def test_class_row_and_error_bar_show_their_objects(ui):
    """The per-class table and the error-type bars (drawn in the browser) lead to
    the objects they count: a row to its class's errors (their samples), a bar
    to the objects of that error type (patches)."""
    page, ev = ui.page, ui.ev
    iou, conf = operating_point(page)
    a = ev.assess(iou, conf)
    selection = plugin_module("panels.selection")
    name = ev.classes[1]
    preds, gts = selection.class_error_ids(ev, a, 1, "both")
    samples = set(selection.label_index(ev)(preds + gts).tolist())
    clear_grid_view(page)
    row = page.locator(PANEL_SEL + " .ea-operating-point-details tbody tr").filter(
        has=page.get_by_role("cell", name=name, exact=True))
    row.scroll_into_view_if_needed()
    row.click()
    browser.poll(lambda: browser.grid_count(page) == (len(samples), "samples"),
                 message="the %d samples of %r's errors" % (len(samples), name))
    error = max((e for e in errors.ERROR_TYPES[1:-1]), key=lambda e: np.count_nonzero(
        a.pred_error == errors.ERROR_TYPES.index(e)))
    n = int(np.count_nonzero(a.pred_error == errors.ERROR_TYPES.index(error)))
    clear_grid_view(page)
    page.evaluate("() => document.querySelector('%s [data-ea-plot=\"error_plot\"]')"
                  ".scrollIntoView({block: 'center'})" % PANEL_SEL)
    x, y = browser.plot_point(page, "errors", errors.ERROR_TYPES.index(error) - 1, n / 2)
    page.mouse.move(x, y)
    page.wait_for_timeout(150)
    page.mouse.click(x, y)
    browser.poll(lambda: browser.grid_count(page) == (n, "patches"),
                 message="%d patches of error type %s" % (n, error))
    browser.screenshot(page, "test_class_row_and_error_bar")
