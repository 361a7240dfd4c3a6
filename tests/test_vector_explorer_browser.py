"""The vector explorer in the real App, next to the evaluation explorer, in headless
Chromium, checked against the stored map and the engine.

One App (subprocess) and one browser for the module, both panels open; the
tests run in file order against the same page. Screenshots of every state go to
``artifacts/screenshots/test_vx_<name>.png``.
"""

import json
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
from fiftyone import ViewField as F  # noqa: E402

from tests.fodata import evaluate_model, random_dataset  # noqa: E402
from tests.test_error_map import compute_error_map  # noqa: E402
from tests.test_panel_browser import informative_confidences  # noqa: E402

VX = browser.VECTOR_SEL
EE = browser.PANEL_SEL  # the evaluation explorer
NUM_SAMPLES = 60
WEATHER = ("sunny", "rain", "fog", None)  # a sample field to colour by
ERROR_TYPES = ("correct", "classification", "localization", "both", "duplicate", "background",
               "missed")


def plugin_module(suffix):
    foo.get_operator("@error-atlas/error-atlas/vector_explorer")
    return next(m for n, m in sys.modules.items() if n.endswith(suffix))


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vx-browser")
    name = "ea-vx-browser-" + uuid.uuid4().hex[:8]
    dataset = random_dataset(seed=41, num_samples=NUM_SAMPLES, name=name)
    dataset.persistent = True  # the App process must see it
    try:
        informative_confidences(dataset, seed=41)
        dataset.set_values("weather", [WEATHER[i % len(WEATHER)] for i in range(NUM_SAMPLES)])
        browser.write_images(dataset, tmp / "images")
        evaluate_model(dataset, pred_field="predictions", gt_field="ground_truth", eval_key="eval")
        smap = compute_error_map(dataset, eval_key="eval", level="samples", map_key="smap",
                                 num_clusters=4)
        omap = compute_error_map(dataset, eval_key="eval", level="objects", map_key="omap",
                                 num_clusters=4)
        ev = plugin_module("operators.detection_run").load_analysis(dataset, "eval")
        with browser.App(name, tmp / "app.log", panel=["vector_explorer", "evaluation_explorer"]) \
                as app, browser.Browser(width=2400, height=1250) as chromium:
            page = chromium.page
            requests = []
            page.on("request", lambda r: requests.append(r.post_data)
                    if "operators/execute" in r.url and "vector_explorer" in (r.post_data or "")
                    else None)
            page.goto(app.url)
            browser.poll(lambda: browser.scatter_traces(page), timeout=60, message="the scatter")
            browser.poll(lambda: browser.plot_data(page, "confusion"), timeout=60,
                         message="the evaluation explorer's confusion matrix")
            yield types.SimpleNamespace(dataset=dataset, ev=ev, page=page, smap=smap, omap=omap,
                                        requests=requests)
    finally:
        dataset.delete()


def drawn(page):
    """(points in the colour groups as plotly drew them, the "in view" points the
    component marks over the plot: {"name", "n"}, or None before the map exists)."""
    traces = browser.scatter_traces(page) or []
    groups = [t for t in traces if not t["name"].startswith("in view")]
    assert len(groups) == len(traces), "the highlight is not plotly's"
    lit = page.evaluate("""(sel) => {
      const el = document.querySelector(sel + ' [data-ea-in-view]');
      return el ? Number(el.dataset.eaInView) : null;
    }""", VX)
    return sum(t["n"] for t in groups), (None if lit is None else
                                         {"name": "in view (%d)" % lit, "n": lit})


def clear_grid_view(page):
    page.locator('[data-cy="btn-clear-view-bar"]').click()
    browser.poll(lambda: browser.grid_count(page) == (NUM_SAMPLES, "samples"),
                 message="the unfiltered grid")


def scroll_to_text(page, text):
    page.locator(VX).get_by_text(text, exact=False).first.scroll_into_view_if_needed()


def region_event(requests):
    """The last region (box or lasso, in map coordinates) the scatter sent to ``on_region``."""
    for body in reversed(requests):
        params = json.loads(body)["params"]
        if params.get("__method__") == "on_region":
            return params
    return None


def region_points(ui, map_key, params):
    """Ids of the map's points inside a region the scatter sent, none hidden."""
    m = plugin_module("panels.map_data").load(ui.dataset, map_key)
    inside = plugin_module("panels.map_region").points_in(
        m.q, box=params.get("box"), lasso=params.get("lasso"))
    return set(m.arrays["ids"][inside])


def drawn_ids(page, ui, map_key, color_by, version=None):
    """{point id: (page x, page y)} of every drawn point of the colour groups."""
    md = plugin_module("panels.map_data")
    m = md.load(ui.dataset, map_key)
    _, order, offsets = m.colouring(color_by, ui.ev.classes, version)
    return {m.arrays["ids"][order[offsets[t] + i]]: (px, py)
            for t, i, px, py in scatter_positions(page)}


def split(points, polygon, margin=4):
    """(ids surely inside, ids surely outside) a page polygon; points on its edge may go
    either way."""
    sure_in, sure_out = set(), set()
    for i, (px, py) in points.items():
        hit, dist = inside(polygon, px, py)
        if dist > margin:
            (sure_in if hit else sure_out).add(i)
    return sure_in, sure_out


# -- tests -------------------------------------------------------------------------------

def test_map_opens_with_every_point_coloured_by_error_type(ui):
    page, ev = ui.page, ui.ev
    n = browser.poll(lambda: (lambda d: (d[0] == ui.omap["num_points"], d[0]))(drawn(page)),
                     message="every point of the objects map drawn")
    assert n == ui.omap["num_points"]
    # the map's points: every prediction and every object the detector did not find,
    # each with the error type the engine gives it at the run's operating point
    a = ev.assess(0.5, None)
    # (each error type's entry counts its errors, as the run does; the object behind a
    # classification / localization / both error has its own entry: issue 11 item 4)
    want = np.bincount(a.pred_error[a.pred_error >= 0], minlength=7)
    behind = np.bincount(a.gt_error[a.gt_error > 0], minlength=7)
    want[6] = behind[6]
    colors = plugin_module("panels.figures").COLORS
    traces = [t for t in browser.scatter_traces(page) if not t["name"].startswith("in view")]
    expected = {"%s (%d)" % (e, want[i]): (int(want[i]), colors[e])
                for i, e in enumerate(ERROR_TYPES) if want[i]}
    expected.update({"object of a %s error (%d)" % (e, behind[i]): (int(behind[i]), colors[e])
                     for i, e in enumerate(ERROR_TYPES) if behind[i] and 1 <= i <= 3})
    assert {t["name"]: (t["n"], t["color"]) for t in traces} == expected
    assert browser.grid_count(page) == (NUM_SAMPLES, "samples")
    # a legend entry hides its group, a second click shows it again
    entry = page.locator(VX + " .legend .traces").first
    entry.click()
    browser.poll(lambda: browser.scatter_traces(page)[0]["visible"] == "legendonly",
                 message="the first group hidden")
    browser.screenshot(page, "test_vx_map_opens_legend_toggled")
    entry.click()
    browser.poll(lambda: browser.scatter_traces(page)[0]["visible"] is True,
                 message="the first group shown again")
    browser.screenshot(page, "test_vx_map_opens")


def test_a_confusion_cell_in_the_evaluation_explorer_highlights_its_points(ui):
    page, ev = ui.page, ui.ev
    s = browser.poll(lambda: browser.summary(page), message="the explorer's summary")
    iou = float(re.search(r"IoU (\d\.\d\d)", s["sentence"]).group(1))
    a = ev.assess(iou, browser.slider_value(page))
    K = ev.num_classes
    k = int(np.argmax(np.diag(a.confusion)[:K]))  # a diagonal cell: predictions, all on the map
    n = int(a.confusion[k, k])
    x, y = browser.plot_point(page, "confusion", k, k)
    page.mouse.move(x, y)
    page.wait_for_timeout(150)
    page.mouse.click(x, y)
    browser.poll(lambda: browser.grid_count(page) == (n, "patches"),
                 message="%d patches for the cell" % n)
    lit = browser.poll(lambda: (lambda t: (t and t["n"] == n, t))(drawn(page)[1]),
                       message="the cell's %d points highlighted" % n)
    assert lit["name"] == "in view (%d)" % n
    page.locator(VX + " .js-plotly-plot").first.scroll_into_view_if_needed()
    browser.screenshot(page, "test_vx_cell_highlight")


def test_box_selection_shows_the_selected_points_in_the_grid(ui):
    page = ui.page
    clear_grid_view(page)
    browser.poll(lambda: drawn(page)[1] is not None and drawn(page)[1]["n"] == 0,
                 message="no highlight once the view is cleared")
    page.locator(VX).get_by_text("Colour by", exact=True).scroll_into_view_if_needed()
    browser.choose(page, "Map", "smap", sel=VX)
    browser.poll(lambda: drawn(page)[0] == NUM_SAMPLES, message="the samples map drawn")
    page.wait_for_timeout(500)
    ui.requests.clear()
    x, y, w, h = browser.scatter_area(page)
    points = drawn_ids(page, ui, "smap", "error")
    # the drag starts on a point (hovered): the mouse-up is not a click on it, which
    # would show that point alone
    fx, fy = min((((px - x) / w, (py - y) / h) for px, py in points.values()),
                 key=lambda f: abs(f[0] - 0.1) + abs(f[1] - 0.1))
    sure_in, sure_out = split(points, [
        (x + gx * w, y + gy * h) for gx, gy in ((fx, fy), (0.6, fy), (0.6, 0.95), (fx, 0.95))],
        margin=6)
    page.mouse.move(x + fx * w, y + fy * h)
    page.wait_for_timeout(300)  # plotly picks the hovered point on mousemove
    browser.box_select(page, fx, fy, 0.6, 0.95)
    # the region drawn (not plotly's selection) goes to the panel as a few numbers;
    # page.wait_for_timeout lets Playwright deliver the request events meanwhile
    region = browser.poll(lambda: page.wait_for_timeout(50) or region_event(ui.requests),
                          message="the region event")
    assert len(json.dumps(region)) < 2000 and region["hidden"] == []
    page.wait_for_timeout(300)
    assert not any('"on_point_click"' in body for body in ui.requests)
    got = region_points(ui, "smap", region)
    assert sure_in <= got and not (got & sure_out)
    n = len(got)
    assert 0 < n < NUM_SAMPLES, "the box holds some of the images"
    browser.poll(lambda: browser.grid_count(page) == (n, "samples"),
                 message="%d samples in the grid" % n)
    lit = browser.poll(lambda: (lambda t: (t and t["n"] == n, t))(drawn(page)[1]),
                       message="the selection highlighted")
    assert lit["name"] == "in view (%d)" % n
    page.wait_for_timeout(1500)  # the tiles
    browser.screenshot(page, "test_vx_box_selection")


def wait_until_quiet(page, quiet_ms=1000, sel=VX):
    """Waits until plotly has not redrawn the scatter (``plotly_react``) for ``quiet_ms``."""
    page.evaluate("""(sel) => {
      const panel = document.querySelector(sel);
      const gd = [...panel.querySelectorAll('.js-plotly-plot')].find(
          g => g._fullData && g._fullData.some(t => t.type === 'scattergl'));
      window.__vxLastReact = performance.now();
      if (gd.__vxHooked) return;
      gd.__vxHooked = true;
      gd.on('plotly_react', () => { window.__vxLastReact = performance.now(); });
    }""", sel)
    browser.poll(lambda: page.evaluate("performance.now() - window.__vxLastReact > %d" % quiet_ms),
                 timeout=30, message="no redraw of the scatter for %d ms" % quiet_ms)


def scatter_positions(page, sel=VX):
    """Page position of every drawn point of the colour groups: [(trace, index, x, y)]."""
    return page.evaluate("""(sel) => {
      const panel = document.querySelector(sel);
      const gd = [...panel.querySelectorAll('.js-plotly-plot')].find(
          g => g._fullData && g._fullData.some(t => t.type === 'scattergl'));
      gd.scrollIntoView({block: 'center'});
      const r = gd.getBoundingClientRect(), xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
      const out = [];
      gd._fullData.forEach((t, k) => {
        if (t.name.startsWith('in view') || t.visible !== true) return;
        for (let i = 0; i < t._length; i++)
          out.push([k, i, r.left + xa._offset + xa.d2p(t.x[i]), r.top + ya._offset + ya.d2p(t.y[i])]);
      });
      return out;
    }""", sel)


def inside(polygon, x, y):
    """Ray casting: is (x, y) inside the polygon, and its distance to the nearest edge."""
    n, hit, dist = len(polygon), False, np.inf
    for k in range(n):
        (x0, y0), (x1, y1) = polygon[k], polygon[(k + 1) % n]
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            hit = not hit
        d = np.array([x1 - x0, y1 - y0])
        t = np.clip(np.dot([x - x0, y - y0], d) / max(np.dot(d, d), 1e-9), 0, 1)
        dist = min(dist, np.hypot(x - x0 - t * d[0], y - y0 - t * d[1]))
    return hit, dist


def test_lasso_selection_coloured_by_a_sample_field_shows_the_points_in_the_grid(ui):
    """Colour by a sample field (legend toggles still work), choose the lasso above the
    map, draw a polygon with the mouse: exactly the points inside it are selected,
    and the grid shows their images."""
    page = ui.page
    clear_grid_view(page)
    page.locator(VX).get_by_text("Colour by", exact=True).scroll_into_view_if_needed()
    browser.choose(page, "Map", "smap", sel=VX)
    browser.poll(lambda: drawn(page)[0] == NUM_SAMPLES, message="the samples map drawn")
    browser.choose(page, "Colour by", "field: weather", sel=VX)
    counts = {(w or "missing"): sum(1 for i in range(NUM_SAMPLES)
                                    if WEATHER[i % len(WEATHER)] == w) for w in WEATHER}
    want = {"%s (%d)" % (w, n) for w, n in counts.items()}
    traces = browser.poll(
        lambda: (lambda t: (t and {x["name"] for x in t if not x["name"].startswith("in view")}
                            == want, t))(browser.scatter_traces(page)),
        message="the map coloured by weather")
    assert sum(t["n"] for t in traces if not t["name"].startswith("in view")) == NUM_SAMPLES
    # a legend click made while the App still re-renders the plot (~10 times a second
    # for a few seconds after a change) can be undone by plotly: wait for a quiet plot
    wait_until_quiet(page)
    entry = page.locator(VX + " .legend .traces").first
    entry.click()
    browser.poll(lambda: browser.scatter_traces(page)[0]["visible"] == "legendonly",
                 message="the first weather group hidden")
    page.wait_for_timeout(1000)  # WebGL draws after plotly's state changed
    browser.screenshot(page, "test_vx_field_colour_legend_toggled")
    assert browser.scatter_traces(page)[0]["visible"] == "legendonly", "stays hidden"
    entry.click()
    browser.poll(lambda: browser.scatter_traces(page)[0]["visible"] is True,
                 message="the first weather group shown again")
    page.wait_for_timeout(500)

    page.locator(VX + ' [data-ea-tool="lasso"]').click()
    browser.poll(lambda: page.locator(VX + ' [data-ea-map-tool="lasso"]').count() == 1,
                 message="the lasso chosen")
    x, y, w, h = browser.scatter_area(page)
    polygon = [(x + fx * w, y + fy * h) for fx, fy in
               ((0.15, 0.1), (0.75, 0.2), (0.9, 0.65), (0.45, 0.9), (0.1, 0.6))]
    md = plugin_module("panels.map_data")
    sure_in, sure_out = split(drawn_ids(page, ui, "smap", "field:weather",
                                        md.field_version(ui.dataset)), polygon)
    assert len(sure_in) >= 5 and len(sure_out) >= 5, "the lasso holds some of the images"
    ui.requests.clear()
    page.mouse.move(*polygon[0])
    page.mouse.down()
    for vertex in polygon[1:] + polygon[:1]:
        page.mouse.move(*vertex, steps=8)
    page.mouse.up()
    region = browser.poll(lambda: page.wait_for_timeout(50) or region_event(ui.requests),
                          message="the lasso's region event")
    assert "lasso" in region and len(region["lasso"][0]) >= 5
    got = region_points(ui, "smap", region)
    assert sure_in <= got and not (got & sure_out)
    n = len(got)
    browser.poll(lambda: browser.grid_count(page) == (n, "samples"),
                 message="%d samples in the grid" % n)
    lit = browser.poll(lambda: (lambda t: (t and t["n"] == n, t))(drawn(page)[1]),
                       message="the lasso's points highlighted")
    assert lit["name"] == "in view (%d)" % n
    # the points the panel maps them to: one image each, with its trace's weather
    # each drawn point is its image, in its image's weather group
    m = md.load(ui.dataset, "smap")
    _, order, offsets = m.colouring("field:weather", [], md.field_version(ui.dataset))
    weather = dict(zip(ui.dataset.values("id"), ui.dataset.values("weather")))
    names = [t["name"].rsplit(" (", 1)[0] for t in traces]
    group = {m.arrays["ids"][order[offsets[t] + i]]: names[t]
             for t, i, _, _ in scatter_positions(page)}
    assert set(group) == set(weather) and all((weather[i] or "missing") == g
                                              for i, g in group.items())
    page.wait_for_timeout(1500)  # the tiles
    browser.screenshot(page, "test_vx_lasso_selection")
    # back to box selection for what follows
    page.locator(VX + ' [data-ea-tool="box"]').click()
    # a group hidden in one colouring is not hidden in the next
    wait_until_quiet(page)
    entry.click()
    browser.poll(lambda: browser.scatter_traces(page)[0]["visible"] == "legendonly",
                 message="the first weather group hidden")
    browser.choose(page, "Colour by", "error", sel=VX)
    browser.poll(lambda: (lambda t: (t[0]["name"].split(" (")[0] in ERROR_TYPES and all(
        x["visible"] is True for x in t if not x["name"].startswith("in view")), t))(
            browser.scatter_traces(page)), message="every error type shown")


def test_choosing_a_failure_cluster_shows_its_members_metrics_and_confusion(ui):
    page, ev, ds = ui.page, ui.ev, ui.dataset
    top = ui.smap["clusters"][0]
    clear_grid_view(page)
    page.locator(VX + " tbody tr").first.click()
    browser.poll(lambda: browser.grid_count(page) == (top["size"], "samples"),
                 message="the %d images of the top cluster" % top["size"])
    heat = browser.poll(lambda: browser.panel_heatmap(page), message="the cluster's confusion")
    text = page.locator(VX).inner_text()
    assert "Cluster #1" in text  # its rank, the one number shown
    assert "Precision (all)" in text and "evaluation explorer's operating point" in text
    # the sub-matrix: the engine's confusion over the cluster's images, at the
    # explorer's operating point, non-zero rows and columns only
    s = browser.summary(page)
    iou = float(re.search(r"IoU (\d\.\d\d)", s["sentence"]).group(1))
    a = ev.assess(iou, browser.slider_value(page))
    members = ds.match(F("smap_cluster") == top["id"]).values("id")
    sub = a.restrict(*ev.members(members)).confusion
    rows, cols = np.flatnonzero(sub.sum(axis=1)), np.flatnonzero(sub.sum(axis=0))
    names = list(ev.classes)
    assert heat["y"] == [(names + ["Not an object"])[i] for i in rows]
    assert heat["x"] == [(names + ["Not detected"])[j] for j in cols]
    assert np.array_equal(np.array(heat["z"]), sub[np.ix_(rows, cols)])
    scroll_to_text(page, "Confusion within the cluster")
    browser.screenshot(page, "test_vx_cluster_report")

    # a cell of the sub-matrix: exactly its objects, as patches
    z = np.array(heat["z"])
    i, j = np.unravel_index(np.argmax(z), z.shape)
    browser.click_heatmap_cell(page, int(j), int(i))
    browser.poll(lambda: browser.grid_count(page) == (int(z[i, j]), "patches"),
                 message="%d patches for the cluster's cell" % z[i, j])
    page.wait_for_timeout(1500)  # the tiles
    browser.screenshot(page, "test_vx_cluster_cell")
