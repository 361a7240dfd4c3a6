"""The monitored period's images on the vector explorer, in the real App (headless Chromium).

``run_demo --production`` places the last week's production images on the demo's
samples map; the vector explorer on the evaluated dataset draws them as their own
legend entry, as many as were placed, and a click on one says where they are.
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

VX = browser.VECTOR_SEL


def test_production_period_over_the_error_map(tmp_path):
    name = "ea-overlay-" + uuid.uuid4().hex[:6]
    run_demo.main(["--num-images", "120", "--no-app", "--name", name, "--production"])
    prod = fo.load_dataset(name + "-production")
    # the last drift's period (check_alerts placed earlier weeks too)
    placed = prod.info["error_atlas_monitor"]["last_drift"]["placement"]["n_period"]
    try:
        with browser.App(name, tmp_path / "app.log", panel="vector_explorer") as app, \
                browser.Browser(width=1440, height=900) as chromium:
            page = chromium.page
            page.goto(app.url)
            try:
                browser.poll(lambda: browser.scatter_traces(page), timeout=90,
                             message="the scatter")
                browser.choose(page, "Map", "samples_map", sel=VX)
                traces = browser.poll(lambda: [t for t in browser.scatter_traces(page) or []
                                               if str(t["name"]).startswith("production:")],
                                      timeout=60, message="the production trace")
            except AssertionError:
                browser.screenshot(page, "test_map_overlay_failed")
                print(app.log_tail(60), browser.scatter_traces(page))
                raise
            assert traces[0]["n"] == placed > 0
            all_traces = browser.scatter_traces(page)
            k = [t["name"] for t in all_traces].index(traces[0]["name"])
            browser.screenshot(page, "test_map_overlay")
            x, y = browser.scatter_point(page, k, 0)
            page.mouse.move(x, y)
            page.wait_for_timeout(300)
            page.mouse.click(x, y)
            browser.poll(lambda: prod.name in page.locator(VX).inner_text(), timeout=30,
                         message="the click's line naming the production dataset")
            browser.screenshot(page, "test_map_overlay_clicked")
    finally:
        prod.delete()
        fo.delete_dataset(name)
