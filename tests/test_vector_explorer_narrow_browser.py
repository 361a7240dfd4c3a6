"""The vector explorer at a laptop's size: 1440x900, three columns (the grid, the
evaluation explorer, the vector explorer), in the real App and headless Chromium.

The panel gets ~410 px there; nothing in it may overflow horizontally (its
containers, the clusters' table, the cluster report and every button fit), no
word is broken in the middle, its long sections fold, one cluster number is
shown everywhere, and hovering a point shows what it is (class, confidence,
error and IoU of an object, counts and file of an image) with a thumbnail. Screenshots go to ``EA_SCREENSHOTS``
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
from tests.test_panel_narrow_browser import _BROKEN, _OVERFLOW  # noqa: E402

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
        compute_error_map(dataset, eval_key="eval", level="samples", map_key="smap",
                          num_clusters=4)
        omap = compute_error_map(dataset, eval_key="eval", level="objects", map_key="omap",
                                 num_clusters=4)  # the newest: the panel opens it
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


def broken_words(page):
    return page.evaluate(_BROKEN, VX)


def hover(page, trace, index):
    """Rests the pointer on point ``index`` of scatter trace ``trace``; the card's
    ``(key, lines, thumbnail's longer side in px)`` once its text is in."""
    x, y = browser.scatter_point(page, trace, index)
    page.mouse.move(x - 40, y - 40)
    page.mouse.move(x, y, steps=4)
    card = page.locator(VX + " [data-ea-hover]")

    def ready():
        if not card.count():
            return False, None
        lines = card.locator("[data-ea-hover-line]").all_inner_texts()
        return len(lines) >= 3, lines
    lines = browser.poll(ready, message="the hovered point's card")
    img = card.locator("img[data-ea-hover-thumb]")
    browser.poll(lambda: img.count() and img.evaluate("i => i.complete && i.naturalWidth"),
                 message="the hovered point's thumbnail")
    return (card.get_attribute("data-ea-hover"), lines,
            img.evaluate("i => Math.max(i.naturalWidth, i.naturalHeight)"))


def hovered_point(ds, map_key, key):
    """The map's point a card key ``"trace|index"`` names (colouring by error type)."""
    from tests.test_vector_explorer import module

    arrays, summaries = module("operators.error_map").load_error_map(ds, map_key)
    groups = module("panels.map_data").groups(arrays, summaries, "error", ["shape"])
    kept = [g for g in groups if len(g[2])]
    t, i = map(int, key.split("|"))
    return arrays, kept[t][2][i]


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


def test_hovering_an_object_shows_its_class_confidence_error_and_a_crop(narrow):
    page, ds = narrow.page, narrow.dataset
    key, lines, side = hover(page, 0, 0)
    arrays, point = hovered_point(ds, "omap", key)
    label_id = arrays["ids"][point]
    found = {d.id: d for field in ("predictions", "ground_truth")
             for dets in ds.values(field + ".detections") for d in dets}[label_id]
    if arrays["kind"][point] == 0:
        assert lines[0] == "prediction · %s · confidence %.3f" % (found.label, found.confidence)
    else:
        assert lines[0] == "ground truth · %s" % found.label
    error = arrays["error"][point]
    assert lines[2].startswith("correct · IoU" if error == "correct" else "error: " + error)
    sample = ds.match_labels(ids=[label_id]).first()
    assert lines[1] == "image " + os.path.basename(sample.filepath)
    assert side == 128  # the object's crop, enlarged to the card's size
    shot(page, "vx_narrow_hover_object")
    page.mouse.move(5, 5)
    browser.poll(lambda: page.locator(VX + " [data-ea-hover]").count() == 0,
                 message="the card gone with the pointer")


def test_no_word_is_broken_and_the_sections_fold(narrow):
    page = narrow.page
    page.locator(VX + " tbody tr").first.scroll_into_view_if_needed()
    assert broken_words(page) == []
    cells = page.locator(VX + ' .ea-cluster-table td[data-key="description"]').all_inner_texts()
    assert any(" " in c for c in cells), cells  # phrases, wrapped at their spaces
    title = page.locator(VX + ' [data-ea-section="clusters"] > summary')
    title.click()
    browser.poll(lambda: page.locator(VX + " .ea-cluster-table").count() == 0,
                 message="the folded clusters' table")
    shot(page, "vx_narrow_folded")
    title.click()
    browser.poll(lambda: page.locator(VX + " .ea-cluster-table tbody tr").count() > 0,
                 message="the unfolded clusters' table")
    page.locator(VX + " tbody tr").first.click()
    report = page.locator(VX + ' [data-ea-section="cluster_classes"]')
    browser.poll(lambda: report.count() > 0, message="the cluster's report")
    assert broken_words(page) == []
    report.locator("> summary").click()
    browser.poll(lambda: report.locator("table").count() == 0,
                 message="the folded classes of the cluster")
    report.locator("> summary").click()


def test_hovering_an_image_shows_its_counts_file_and_thumbnail(narrow):
    page, ds = narrow.page, narrow.dataset
    browser.choose(page, "Map", "smap", sel=VX)
    def drawn():
        traces = browser.scatter_traces(page) or []
        return sum(t["n"] for t in traces) == len(ds), traces
    browser.poll(drawn, timeout=30, message="the samples map")
    key, lines, side = hover(page, 0, 0)
    arrays, point = hovered_point(ds, "smap", key)
    sample = ds[arrays["ids"][point]]
    assert lines[0] == "image " + os.path.basename(sample.filepath)
    assert lines[1] == "TP %d · FP %d · FN %d" % (sample["eval_tp"], sample["eval_fp"],
                                                  sample["eval_fn"])
    assert side == 128
    shot(page, "vx_narrow_hover_image")
    assert overflow(page)["bad"] == []
