"""The model monitor in the real App, in headless Chromium, on the demo's production weeks.

``run_demo --production`` builds everything (evaluation, error map, 8 weeks of
production images, the demo's rules checked week by week, the last week's drift);
the panel opens on the last week: headline, time plots, the inference table, the
fired alerts and the period on the error map; a bar's click filters the grid to
its bucket's samples.
"""

import sys
import uuid

import pytest

from tests import browser

_reason = browser.unavailable()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

import fiftyone as fo  # noqa: E402

from tests.conftest import ROOT  # noqa: E402

sys.path.insert(0, str(ROOT / "demo"))
import run_demo  # noqa: E402

SEL = '[data-cy="panel-content-model_monitor"]'


SCROLL = """([sel, f]) => { let el = document.querySelector(sel);
    const all = [el, ...el.querySelectorAll('*')];
    let p = el.parentElement; while (p) { all.push(p); p = p.parentElement; }
    for (const e of all) if (e.scrollHeight > e.clientHeight + 50 &&
        getComputedStyle(e).overflowY !== 'visible') { e.scrollTop = f * e.scrollHeight; } }"""


def plots(page):
    return page.evaluate("""sel => Array.from(document.querySelectorAll(sel + ' .js-plotly-plot'))
        .map(gd => ({title: (gd.layout && gd.layout.title && gd.layout.title.text) || '',
                     traces: (gd.data || []).map(t => ({name: t.name, x: t.x, y: t.y}))}))""", SEL)


def test_model_monitor_in_the_app(tmp_path):
    name = "ea-monitor-" + uuid.uuid4().hex[:6]
    run_demo.main(["--num-images", "120", "--no-app", "--name", name, "--production"])
    prod = fo.load_dataset(name + "-production")
    try:
        with browser.App(prod.name, tmp_path / "app.log", panel="model_monitor") as app, \
                browser.Browser(width=1440, height=900) as chromium:
            page = chromium.page
            page.goto(app.url)
            try:
                got = browser.poll(lambda: [p for p in plots(page) if p["title"] == "Requests"
                                            and p["traces"] and p["traces"][0]["y"]],
                                   timeout=90, message="the requests plot")
            except AssertionError:
                browser.screenshot(page, "test_model_monitor_failed")
                print(app.log_tail(60), plots(page))
                raise
            text = page.locator(SEL).inner_text()
            assert "Requests" in text and "Mean confidence" in text and "Fired alerts" in text
            assert "Drift" in text and "Expected error rate" in text
            titles = [p["title"] for p in plots(page)]
            assert "This period's images on the error map" in titles
            browser.screenshot(page, "test_model_monitor")
            # the bars' total is the period's requests; a bar's click: its bucket in the grid
            requests = got[0]["traces"][0]
            assert browser.grid_count(page)[0] == len(prod)
            k = max(range(len(requests["y"])), key=lambda i: requests["y"][i])
            bar = page.locator(SEL + " .js-plotly-plot").first.locator("g.point path").nth(k)
            bar.click(force=True)
            browser.poll(lambda: browser.grid_count(page) == (requests["y"][k], "samples"),
                         timeout=30, message="the bucket's %d samples" % requests["y"][k])
            for part, fraction in (("middle", 0.35), ("alerts", 0.7), ("drift", 0.92)):
                page.evaluate(SCROLL, [SEL, fraction])
                page.wait_for_timeout(400)
                browser.screenshot(page, "test_model_monitor_" + part)
            # what if: three images selected in the grid, scored by the demo's detector
            ids = prod.limit(3).values("id")
            page.evaluate("([u, p]) => window.__foo__.executeOperator(u, p)", [
                "@voxel51/operators/set_selected_samples",
                {"samples": [{"id": i, "type": "default"} for i in ids]}])
            page.wait_for_timeout(1500)
            page.locator(SEL).get_by_role("button", name="Score the selected images").click()
            browser.poll(lambda: "Confidence threshold" in page.locator(SEL).inner_text(),
                         timeout=60, message="the what-if table")
            page.evaluate(SCROLL, [SEL, 1.0])
            page.wait_for_timeout(600)
            browser.screenshot(page, "test_model_monitor_what_if")
            prod.reload()
            scored = prod.select(ids, ordered=True).values("what_if")
            assert all(x is not None for x in scored)
            text = page.locator(SEL).inner_text()
            first = max(scored[0].detections, key=lambda d: d.confidence) if \
                scored[0].detections else None
            assert first is None or ("%.3f" % first.confidence) in text
    finally:
        prod.delete()
        fo.delete_dataset(name)
