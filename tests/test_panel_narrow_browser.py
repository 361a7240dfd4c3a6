"""The evaluation explorer at a laptop's size: 1440x900, three columns (the grid,
the evaluation explorer, the vector explorer), in the real App and headless Chromium.

The panel gets ~410 px there; nothing in it may overflow horizontally (its
containers, tables and buttons all fit), Re-evaluate works after a click, and
its actions say what they did. Screenshots go to ``EA_SCREENSHOTS`` (default
/tmp/ea-narrow), to be looked at, never committed.
"""

import os
import re
import types
import uuid

import pytest

from tests import browser

_reason = browser.unavailable()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

from tests.fodata import evaluate_model, random_dataset  # noqa: E402
from tests.test_panel_browser import click_cell, informative_confidences, load_analysis  # noqa: E402

from tests.browser import PANEL_SEL  # noqa: E402

NUM_SAMPLES = 40
SHOTS = os.environ.get("EA_SCREENSHOTS", "/tmp/ea-narrow")

# Everything in the panel that reaches past its right edge, and every box whose
# content is wider than the box (scrollWidth > clientWidth) unless it scrolls
# vertically only. Plotly's SVG internals are checked through their <svg>.
_OVERFLOW = """(sel) => {
  const panel = document.querySelector(sel);
  const box = panel.getBoundingClientRect();
  const bad = [];
  const name = (e) => e.tagName + (e.className && typeof e.className === 'string' ?
      '.' + e.className.split(' ')[0] : '') + ' "' + (e.textContent || '').trim().slice(0, 30) + '"';
  for (const e of [panel, ...panel.querySelectorAll('*')]) {
    if (e.closest('svg') && e.tagName.toLowerCase() !== 'svg') continue;
    const r = e.getBoundingClientRect();
    if (!r.width || !r.height) continue;
    if (r.right > box.right + 1)
      bad.push(['outside', name(e), Math.round(r.left), Math.round(r.right)]);
    else if (e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0 &&
             getComputedStyle(e).overflowX !== 'visible')
      bad.push(['scrolls', name(e), e.scrollWidth, e.clientWidth]);
  }
  return {width: Math.round(box.width), bad: bad};
}"""


# Every word of the panel's table cells and paragraphs that spans two lines (broken
# in the middle), every cell whose style allows breaking inside words, and every
# cell whose content is wider than the cell.
_BROKEN = """(sel) => {
  const panel = document.querySelector(sel);
  const bad = [];
  for (const box of panel.querySelectorAll('td, th, p, li')) {
    const st = getComputedStyle(box);
    if (box.matches('td, th')) {
      if (st.wordBreak === 'break-all' || st.overflowWrap === 'anywhere')
        bad.push(['style', box.textContent.slice(0, 30), st.wordBreak, st.overflowWrap]);
      if (box.scrollWidth > box.clientWidth + 1)
        bad.push(['wider', box.textContent.slice(0, 30), box.scrollWidth, box.clientWidth]);
    }
    const walk = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      const re = /\\S+/g;
      let m;
      while ((m = re.exec(n.data))) {
        const r = document.createRange();
        r.setStart(n, m.index);
        r.setEnd(n, m.index + m[0].length);
        const tops = new Set([...r.getClientRects()].filter((q) => q.width > 0)
                                                     .map((q) => Math.round(q.top)));
        if (tops.size > 1) bad.push(['broken', m[0]]);
      }
    }
  }
  return bad;
}"""


@pytest.fixture(scope="module")
def narrow(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("narrow")
    name = "ea-narrow-" + uuid.uuid4().hex[:8]
    dataset = random_dataset(seed=43, num_samples=NUM_SAMPLES, name=name)
    dataset.persistent = True  # the App process must see it
    try:
        informative_confidences(dataset, seed=43)
        browser.write_images(dataset, tmp / "images")
        evaluate_model(dataset, pred_field="predictions", gt_field="ground_truth", eval_key="eval")
        with browser.App(name, tmp / "app.log", panel=[browser.PANEL, "vector_explorer"]) as app, \
                browser.Browser(1440, 900) as chromium:
            page = chromium.page
            page.goto(app.url)
            browser.poll(lambda: browser.plot_data(page, "confusion"), timeout=90,
                         message="the panel's confusion matrix")
            browser.poll(lambda: page.locator(browser.VECTOR_SEL).count() > 0, timeout=30,
                         message="the vector explorer's column")
            yield types.SimpleNamespace(dataset=dataset, page=page, app=app, chromium=chromium,
                                        ev=load_analysis(dataset, "eval"))
    finally:
        dataset.delete()


def shot(page, name):
    os.makedirs(SHOTS, exist_ok=True)
    path = os.path.join(SHOTS, name + ".png")
    page.screenshot(path=path)
    return path


def scroll_to(page, selector):
    page.locator(selector).first.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(300)


def overflow(page):
    return page.evaluate(_OVERFLOW, PANEL_SEL)


def test_nothing_in_the_panel_overflows_at_1440_with_three_columns(narrow):
    page = narrow.page
    browser.poll(lambda: browser.summary(page), message="the summary")
    browser.poll(lambda: page.locator(PANEL_SEL + " .ea-operating-point-details tbody tr").count() > 0,
                 message="the per-class table")
    out = overflow(page)
    assert 380 <= out["width"] <= 600, "three columns give the panel %d px" % out["width"]
    assert out["bad"] == [], "\n".join(map(str, out["bad"]))
    # the summary's numbers, the per-class table, the Not detected column and
    # every button are inside the panel, on screen when scrolled to
    panel = page.locator(PANEL_SEL).bounding_box()
    s = browser.summary(page)
    for key in ("mAP", "AP50", "AP75", "Precision", "Recall", "F1", "TP", "FP", "FN", "Images",
                "Objects"):
        assert re.match(r"^[\d.]+$", s[key] or ""), (key, s)
    buttons = page.locator(PANEL_SEL + " button:visible")
    assert buttons.count() >= 5
    for i in range(buttons.count()):
        b = buttons.nth(i).bounding_box()
        assert panel["x"] - 1 <= b["x"] and b["x"] + b["width"] <= panel["x"] + panel["width"] + 1, (
            buttons.nth(i).inner_text(), b, panel)
    labels = browser.plot_data(page, "confusion")[0]["x"]
    assert labels[-1] == "Not detected"
    x, _ = browser.plot_point(page, "confusion", len(labels) - 1, 0)
    assert panel["x"] < x < panel["x"] + panel["width"]
    for i, sel in enumerate(['[data-ea-section="summary"]', '[data-ea-section="threshold"]',
                             '[data-ea-section="confusion"]', '[data-ea-section="class_table"]',
                             '[data-ea-section="recommendations"]', '[data-ea-section="errors"]']):
        scroll_to(page, PANEL_SEL + " " + sel)
        shot(page, "narrow_%d" % i)


def test_sections_fold(narrow):
    page = narrow.page
    summary = page.locator(PANEL_SEL + ' [data-ea-section="class_table"] > summary')
    summary.scroll_into_view_if_needed()
    summary.click()
    browser.poll(lambda: page.locator(PANEL_SEL + " .ea-class-table").count() == 0,
                 message="the folded per-class table")
    summary.click()
    browser.poll(lambda: page.locator(PANEL_SEL + " .ea-class-table tbody tr").count() > 0,
                 message="the unfolded per-class table")


def test_save_thresholds_says_what_it_did(narrow):
    page = narrow.page
    button = page.locator(PANEL_SEL).get_by_role("button", name="Save per-class thresholds")
    button.scroll_into_view_if_needed()
    button.click()
    notice = page.locator(PANEL_SEL + ' [data-ea="notice"]')
    browser.poll(lambda: notice.count() and "Saved the optimal threshold" in notice.inner_text(),
                 message="the panel's notice")
    narrow.dataset.reload()  # the App process wrote the run
    saved = narrow.dataset.load_run_results("error_atlas_eval", cache=False).class_thresholds
    k = sum(v is not None for v in saved.values())
    assert "of %d classes with run 'eval'" % k in notice.inner_text()
    shot(page, "narrow_saved")
    assert overflow(page)["bad"] == []


def test_tag_says_what_it_did(narrow):
    page, ev = narrow.page, narrow.ev
    title = page.locator(PANEL_SEL).get_by_text("Error examples", exact=True)
    title.scroll_into_view_if_needed()
    browser.choose(page, "Class", ev.classes[0])
    page.locator(PANEL_SEL).get_by_role("button", name="Tag shown as needs_review").click()
    told = page.locator(PANEL_SEL).get_by_text(re.compile(r"^Tagged \d+ objects"))
    browser.poll(lambda: told.count() > 0, message="the Tag notice")
    n = int(re.match(r"Tagged (\d+)", told.first.inner_text()).group(1))
    assert n == narrow.dataset.count_label_tags().get("needs_review", 0) > 0
    shot(page, "narrow_tagged")
    assert overflow(page)["bad"] == []
    narrow.dataset.untag_labels("needs_review")


def test_reevaluate_after_a_cell_click_opens_a_working_form(narrow):
    page, ev = narrow.page, narrow.ev
    narrow.dataset.reload()
    saved = narrow.dataset.load_run_results("error_atlas_eval", cache=False).class_thresholds
    assert saved, "test_save_thresholds_says_what_it_did saved them"
    K = ev.num_classes
    a = ev.assess(0.5, ev.sweeps(0.5)[0].optimal()["confidence"])
    row = next(k for k in range(K) if a.confusion[k, k])
    click_cell(page, row, row)
    browser.poll(lambda: (browser.grid_count(page) or (0, ""))[1] == "patches",
                 message="the cell's patches in the grid")
    assert overflow(page)["bad"] == []  # the App's-view section too
    button = page.locator(PANEL_SEL).get_by_role("button", name="Re-evaluate (the App's view, if any)")
    button.scroll_into_view_if_needed()
    button.click()
    dialog = page.get_by_role("dialog")
    browser.poll(lambda: dialog.count() and "Evaluates the images of run 'eval' again" in
                 dialog.inner_text(), message="evaluate_model's form")
    text = dialog.inner_text()
    assert "Detections field(s)" not in text and "Two Detections fields are needed" not in text
    shot(page, "narrow_reevaluate_form")
    execute = dialog.get_by_role("button", name="Execute")
    # enabled once the App has resolved the form's inputs (slower on a loaded machine)
    browser.poll(lambda: execute.is_enabled(), timeout=30, message="an enabled Execute button")
    execute.click()
    done = page.get_by_text("Evaluation complete")
    browser.poll(lambda: done.count() > 0, timeout=60, message="the completion dialog")
    body = page.get_by_role("dialog").inner_text()
    shot(page, "narrow_completion")
    assert "Warnings" not in body
    raws = [x for x in re.findall(r"\d+\.\d+", body) if len(x.split(".")[1]) > 4]
    assert not raws, body
    assert re.search(r"Optimal threshold \(max F1\): 0\.\d+", body), body
    narrow.dataset.reload()  # the App process re-evaluated: the saved thresholds stay
    assert narrow.dataset.load_run_results("error_atlas_eval", cache=False).class_thresholds == saved
