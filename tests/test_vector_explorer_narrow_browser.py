"""The vector explorer at a laptop's size: 1440x900, three columns (the grid, the
evaluation explorer, the vector explorer), in the real App and headless Chromium.

The panel gets ~410 px there; nothing in it may overflow horizontally (its
containers, the clusters' table, the cluster report and every button fit), and
one cluster number is shown everywhere. Screenshots go to ``EA_SCREENSHOTS``
(default /tmp/ea-vx-narrow), to be looked at, never committed.
"""

import os
import re
import types

import pytest

from tests import browser

_reason = browser.unavailable()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

from tests.test_error_map import compute_error_map, planted_dataset  # noqa: E402
from tests.test_panel_narrow_browser import _OVERFLOW  # noqa: E402

VX = browser.VECTOR_SEL
NUM_SAMPLES = 60
SHOTS = os.environ.get("EA_SCREENSHOTS", "/tmp/ea-vx-narrow")


@pytest.fixture(scope="module")
def narrow(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vx-narrow")
    # a planted cause (dark scenes), so that the map has significant failure clusters
    dataset, _ = planted_dataset(tmp, n=NUM_SAMPLES)
    dataset.persistent = True  # the App process must see it
    name = dataset.name
    try:
        omap = compute_error_map(dataset, eval_key="eval", level="objects", map_key="omap",
                                 num_clusters=4)
        with browser.App(name, tmp / "app.log", panel=[browser.PANEL, "vector_explorer"]) as app, \
                browser.Browser(1440, 900) as chromium:
            page = chromium.page
            page.goto(app.url)
            browser.poll(lambda: browser.scatter_traces(page), timeout=90, message="the scatter")
            browser.poll(lambda: page.locator(VX + " tbody tr").count() > 0, timeout=30,
                         message="the clusters' table")
            yield types.SimpleNamespace(dataset=dataset, page=page, omap=omap)
    finally:
        dataset.delete()


def shot(page, name):
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=os.path.join(SHOTS, name + ".png"))


def overflow(page):
    return page.evaluate(_OVERFLOW, VX)


def buttons_inside(page):
    panel = page.locator(VX).bounding_box()
    buttons = page.locator(VX + " button:visible")
    assert buttons.count() >= 2
    for i in range(buttons.count()):
        b = buttons.nth(i).bounding_box()
        assert panel["x"] - 1 <= b["x"] and b["x"] + b["width"] <= panel["x"] + panel["width"] + 1, (
            buttons.nth(i).inner_text(), b, panel)


def test_nothing_in_the_vector_explorer_overflows_at_1440_with_three_columns(narrow):
    page = narrow.page
    out = overflow(page)
    assert 380 <= out["width"] <= 600, "three columns give the panel %d px" % out["width"]
    shot(page, "vx_narrow_map")
    page.locator(VX + " tbody tr").first.scroll_into_view_if_needed()
    shot(page, "vx_narrow_clusters")
    assert out["bad"] == [], "\n".join(map(str, out["bad"]))
    buttons_inside(page)


def test_a_chosen_cluster_fits_and_carries_one_number(narrow):
    page = narrow.page
    top = narrow.omap["failure_clusters"][0]
    page.locator(VX + " tbody tr").first.click()
    browser.poll(lambda: browser.panel_heatmap(page), message="the cluster's confusion")
    text = page.locator(VX).inner_text()
    assert "Cluster #1" in text and "failure cluster #" not in text
    assert "Cluster %d " % top["id"] not in text or top["id"] == 1
    page.locator(VX).get_by_text("Confusion within the cluster").scroll_into_view_if_needed()
    shot(page, "vx_narrow_cluster_report")
    out = overflow(page)
    assert out["bad"] == [], "\n".join(map(str, out["bad"]))
    buttons_inside(page)


def test_tag_cluster_says_what_it_tagged(narrow):
    page, ds = narrow.page, narrow.dataset
    top = narrow.omap["failure_clusters"][0]
    page.locator(VX).get_by_role("button", name="Tag selected cluster").click()
    told = page.locator(VX).get_by_text(re.compile(r"^Tagged \d+ objects"))
    browser.poll(lambda: told.count() > 0, message="the Tag cluster notice")
    line = told.first.inner_text()
    n = int(re.match(r"Tagged (\d+)", line).group(1))
    tag = "omap_cluster_1"
    assert "'%s'" % tag in line and "cluster #1" in line, line
    assert n == top["size"] > 0
    # the detected ground truth carries its detector's cluster, and its tag
    detected = re.search(r"and the (\d+) ground-truth objects they detected", line)
    assert ds.count_label_tags().get(tag, 0) == n + (int(detected.group(1)) if detected else 0)
    shot(page, "vx_narrow_tagged")
    assert overflow(page)["bad"] == []
    ds.untag_labels(tag)
