"""The vector explorer's callbacks through FiftyOne's operator machinery, checked
against the stored map, the engine and FiftyOne's own per-label results."""

import json
import sys

import numpy as np
import pytest

import fiftyone.operators as foo
from fiftyone import ViewField as F

from tests import browser
from tests.fodata import evaluate_model, random_dataset
from tests.test_error_map import compute_error_map, error_map_module, planted_dataset
from tests.test_panel_callbacks import PanelClient

PANEL = "@error-atlas/error-atlas/vector_explorer"


def module(suffix):
    foo.get_operator(PANEL)
    return next(m for n, m in sys.modules.items() if n.endswith(suffix))


def _set_path(root, path, value):
    """``lodash.set`` as the App applies a patch key like ``scatter.3``."""
    *head, last = path.split(".")
    cur = root
    for part in head:
        cur = cur[int(part)] if isinstance(cur, list) else cur.setdefault(part, {})
    if isinstance(cur, list):
        cur[int(last)] = value
    else:
        cur[last] = value


class VectorClient(PanelClient):
    def __init__(self, dataset, panel_id="v1"):
        super().__init__(dataset, panel_id, panel=PANEL)

    def call(self, method, view=None, **params):
        super().call(method, view=view, **params)
        for store in (self.state, self.data):
            for key in [k for k in store if "." in k]:
                _set_path(store, key, store.pop(key))
        return self

    def patches(self, kind="patch_panel_data"):
        return [r["params"]["data" if kind.endswith("data") else "state"] for r in self.requests
                if r["operator_uri"].endswith(kind)]

    def groups(self):
        return [t for t in self.data["scatter"] if not t["name"].startswith("in view")]

    def points(self):
        return sum(len(decode(t["x"])) for t in self.groups())

    def highlight(self):
        return self.data["scatter"][-1]

    def select_groups(self, keep):
        """What a box around the whole map sends with every legend group but ``keep``
        (trace indices) hidden, the "in view" trace included."""
        n = len(self.groups())
        return self.call("on_region", box=[-1, 10000, -1, 10000],
                         hidden=[t for t in range(n + 1) if t not in keep])

    def scatter_view(self):
        """The scatter's view (its browser component's props) in the last render."""
        out = next(r["params"]["output"] for r in self.requests
                   if r["operator_uri"].endswith("show_panel_output"))
        return out["type"]["properties"]["scatter"]["view"]

    def layout(self):
        """The scatter's layout in the last render."""
        return self.scatter_view()["layout"]


def decode(values):
    return np.asarray(values)


def trace_count(trace):
    return int(trace["name"].rsplit("(", 1)[1].rstrip(")"))


def samples_with(view, ids):
    return set(view.select(list(ids)).values("id")) if ids else set()


@pytest.fixture(scope="module")
def mapped(tmp_path_factory):
    """Three classes, real images, an evaluation, a samples map and an objects map."""
    ds = random_dataset(seed=23, num_samples=60)
    browser.write_images(ds, tmp_path_factory.mktemp("vx") / "images")
    evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="eval")
    smap = compute_error_map(ds, eval_key="eval", level="samples", map_key="smap", num_clusters=4)
    omap = compute_error_map(ds, eval_key="eval", level="objects", map_key="omap", num_clusters=4)
    ev = module("operators.detection_run").load_analysis(ds, "eval")
    return ds, ev, smap, omap


def set_explorer_choices(ds, **choices):
    """What the evaluation explorer stores when the user picks an operating point."""
    from fiftyone.operators.store import ExecutionStore

    store = ExecutionStore.create("error_atlas_explorer", ds._doc.id)
    if choices:
        store.set(str(ds._doc.id), {"eval_key": "eval", **choices})
    else:
        store.delete(str(ds._doc.id))


def test_no_map_offers_to_compute_one(tmp_path):
    ds, _ = planted_dataset(tmp_path, n=6)
    client = VectorClient(ds).call("on_load")
    assert client.state["map_key"] is None


def test_every_point_is_drawn_once_as_rounded_coordinates_coloured_by_error_type(mapped):
    ds, ev, smap, omap = mapped
    arrays, _ = error_map_module().load_error_map(ds, "omap")
    client = VectorClient(ds).call("on_load")
    assert client.state["map_key"] == "omap" and client.points() == omap["num_points"]
    assert client.state["map_keys"] == ["smap", "omap"]
    # error types as the engine gives them at the map's operating point (every prediction)
    a = ev.assess(0.5, None)
    names = ("correct", "classification", "localization", "both", "duplicate", "background",
             "missed")
    # each error type's entry counts its errors, as the run does (issue 11 item 4: the
    # object behind a classification / localization / both error has its own entry)
    errors = np.bincount(a.pred_error[a.pred_error >= 0], minlength=7)
    behind = np.bincount(a.gt_error[a.gt_error > 0], minlength=7)
    errors[6] = behind[6]
    want = {n: int(errors[i]) for i, n in enumerate(names) if errors[i]}
    want.update({"object of a %s error" % n: int(behind[i]) for i, n in enumerate(names)
                 if behind[i] and 1 <= i <= 3})
    got = {t["name"].split(" (")[0]: trace_count(t) for t in client.groups()}
    assert got == want
    assert {n: got[n] for n in names if n in got} == {
        n: c for n, c in a.error_counts().items() if c}, "the legend counts the run's errors"
    colors = module("panels.figures").COLORS
    type_of = lambda name: name.split(" (")[0].replace("object of a ", "").replace(" error", "")
    assert all(t["marker"]["color"] == colors[type_of(t["name"])] for t in client.groups())
    # only rounded coordinates (integers 0..9999 on the map's extent): no ids, text or
    # custom data, and they are the map's
    xy = arrays["xy"].astype(np.float64)
    q = np.round((xy - xy.min(0)) / (xy.max(0) - xy.min(0)) * 9999)
    first = client.groups()[0]
    idx = np.flatnonzero(arrays["error"] == first["name"].split(" (")[0])
    np.testing.assert_array_equal(decode(first["x"]), q[idx, 0])
    np.testing.assert_array_equal(decode(first["y"]), q[idx, 1])
    keys = {"type", "mode", "name", "x", "y", "marker", "hoverinfo", "showlegend"}
    assert all(set(t) == keys for t in client.groups())
    assert set(client.highlight()) == keys | {"revision"}  # drawn by the browser component
    assert all(t["type"] == "scattergl" for t in client.data["scatter"])
    assert client.highlight()["name"] == "in view (0)"

    client.call("on_color", value="cluster", path="color_by")
    assert client.points() == omap["num_points"] and len(client.groups()) == 4
    client.call("on_color", value="class", path="color_by")
    assert {t["name"].split(" (")[0] for t in client.groups()} <= set(ev.classes)
    assert client.points() == omap["num_points"]


def test_view_changes_send_only_the_highlight_and_only_once(mapped):
    ds, _, _, _ = mapped
    client = VectorClient(ds).call("on_load")
    n = client.state["n_groups"]
    missed = ds.match(F("eval_fn") > 0)
    view = missed.select_fields("ground_truth").filter_labels("ground_truth", F("eval") == "fn")
    client.call("on_change_view", view=view)
    assert client.patches() == [{"scatter.%d" % n: client.highlight()}]
    fn_ids = view.values("ground_truth.detections.id", unwind=True)
    assert client.highlight()["name"] == "in view (%d)" % len(fn_ids) and len(fn_ids)
    # the new revision goes out with the render: no panel state change (the App would
    # save its spaces and reload its page query); the groups' revision stays, so
    # plotly does not redraw them (the browser draws the highlight over the plot)
    assert client.patches("patch_panel_state") == []
    revision, groups = client.highlight()["revision"], client.layout()["datarevision"]
    client.call("on_change_view", view=view)  # the App repeats each change: no update,
    assert client.requests == []                 # not even a render
    client.call("on_change_view", view=ds.view())
    assert client.highlight()["name"] == "in view (0)"
    assert client.highlight()["revision"] != revision
    assert client.layout()["datarevision"] == groups


def drawn(client):
    """Every drawn point's (x, y) and sample or label id, from the traces sent."""
    m = plugin_module("panels.map_data").load(client.dataset, client.state["map_key"])
    xy = np.concatenate([np.c_[decode(t["x"]), decode(t["y"])] for t in client.groups()])
    # the ids behind the drawing: each point of the map once, at its coordinates
    assert sorted(map(tuple, xy)) == sorted(map(tuple, m.q))
    return m.q, m.arrays["ids"]


def is_compact(view, limit=2000):
    """The view is a query of a few hundred bytes, not a list of ids."""
    return len(json.dumps(view._serialize(), default=str)) < limit


def test_box_selection_shows_exactly_the_points_in_the_box(mapped):
    ds, _, _, _ = mapped
    client = VectorClient(ds).call("on_load")
    client.call("on_map", value="smap", path="map_key")
    assert client.points() == len(ds)
    q, ids = drawn(client)
    # as the browser sends it: the box's corners in map coordinates, in drag order
    box = [7000.4, 2500.2, 1800.7, 8100.0]
    inside = (q[:, 0] >= 2500.2) & (q[:, 0] <= 7000.4) & (q[:, 1] >= 1800.7) & (q[:, 1] <= 8100)
    assert 0 < inside.sum() < len(ds)
    client.call("on_region", box=box, hidden=[])
    view = client.view()
    assert sorted(view.values("id")) == sorted(ids[inside])
    # the view only: no render (the App would re-render the panel) and no data patch
    # (the App would deep-copy every point): the browser marks the region's points
    assert [r["operator_uri"].split("/")[-1] for r in client.requests] == ["set_view"]
    assert is_compact(view)  # a range query on the stored grid coordinates
    # the view it set needs nothing more; the next highlight sent is a new revision
    revision = client.highlight()["revision"]
    client.call("on_change_view", view=view)
    assert client.requests == []
    client.call("on_load", view=view)  # the page reloaded: the selection's points marked
    assert client.highlight()["name"] == "in view (%d)" % inside.sum()
    assert client.highlight()["revision"] != revision
    # a click on a point selects that point; a click beyond the groups' traces, nothing
    client.call("on_point_click", trace_idx=1, idx=0, trace=client.groups()[1]["name"])
    assert client.view().count() == 1
    assert client.highlight()["name"] == "in view (1)"
    client.call("on_point_click", trace_idx=len(client.groups()), idx=0, trace="in view")
    assert client.view() is None
    # a region without points, or a malformed one, changes nothing
    client.call("on_region", box=[-50, -10, -50, -10], hidden=[])
    assert not any(r["operator_uri"].endswith("set_view") for r in client.requests)
    client.call("on_region", box=["a", None], hidden=[])
    assert not any(r["operator_uri"].endswith("set_view") for r in client.requests)


def test_lasso_and_hidden_groups_select_exactly_the_shown_points_inside(mapped):
    from matplotlib.path import Path

    ds, _, _, _ = mapped
    client = VectorClient(ds).call("on_load")
    client.call("on_map", value="smap", path="map_key")
    q, ids = drawn(client)
    xs, ys = [1000, 9000, 8000, 2000, 5000], [1000, 2000, 9000, 8500, 5000]
    inside = Path(np.c_[xs, ys]).contains_points(q)
    client.call("on_region", lasso=[xs, ys], hidden=[])
    view = client.view()
    assert 0 < inside.sum() < len(ds)
    assert sorted(view.values("id")) == sorted(ids[inside]) and is_compact(view, 20000)
    # with a legend group hidden, its points are not selected
    traces = client.groups()
    big = int(np.argmax([trace_count(t) for t in traces]))
    m = plugin_module("panels.map_data").load(ds, "smap")
    _, order, offsets = m.colouring("error", client.state["class_names"])
    hidden = order[offsets[big]:offsets[big + 1]]
    client.call("on_region", lasso=[xs, ys], hidden=[big])
    want = inside.copy()
    want[hidden] = False
    assert sorted(client.view().values("id")) == sorted(ids[want]) and want.sum() < inside.sum()


def test_a_cluster_shows_its_members_its_class_metrics_and_its_confusion(mapped):
    """At confidence 0 the cluster's numbers must equal FiftyOne's per-label
    results (tp / fp / fn written by evaluate_model) over the cluster's samples."""
    ds, ev, smap, _ = mapped
    set_explorer_choices(ds, iou="0.50", confidence=0.0)
    try:
        client = VectorClient(ds).call("on_load")
        client.call("on_map", value="smap", path="map_key")
        client.call("on_cluster_row", row=0)
    finally:
        set_explorer_choices(ds)
    top = smap["clusters"][0]
    assert client.view().count() == top["size"]
    assert client.state["cluster"] == top["id"]
    assert "Cluster #1" in client.state["cluster_md"]  # its rank, the one number shown
    assert "evaluation explorer's operating point" in client.state["cluster_report_md"]
    members = ds.match(F("smap_cluster") == top["id"])
    counts = {}
    for field in ("predictions", "ground_truth"):
        for label, result in zip(*members.values([field + ".detections.label",
                                                  field + ".detections.eval"], unwind=True)):
            counts.setdefault(label, {"tp": 0, "fp": 0, "fn": 0})
            if field == "predictions" or result == "fn":
                counts[label][result] += 1
    table = client.state["cluster_classes_md"].splitlines()[2:]
    got = {cells[0]: {"tp": int(cells[1]), "fp": int(cells[2]), "fn": int(cells[3])}
           for cells in ([c.strip() for c in line.strip("|").split("|")] for line in table)}
    assert got == {k: v for k, v in counts.items() if sum(v.values())}
    heatmap = client.data["cluster_plot"][0]
    z = np.array(heatmap["z"])
    assert (z.sum(axis=0) > 0).all() and (z.sum(axis=1) > 0).all(), "only non-zero rows / cols"
    # every object of the cluster in its class's row once, every prediction in its column once
    gt_labels = members.values("ground_truth.detections.label", unwind=True)
    pred_labels = members.values("predictions.detections.label", unwind=True)
    for i, y in enumerate(heatmap["y"]):
        if y != "Not an object":
            assert z[i].sum() == gt_labels.count(y), y
    for j, x in enumerate(heatmap["x"]):
        if x != "Not detected":
            assert z[:, j].sum() == pred_labels.count(x), x

    # a cell of the sub-matrix: exactly its objects, all in the cluster
    i, j = np.unravel_index(np.argmax(z), z.shape)
    client.call("on_cluster_cell", x=heatmap["x"][j], y=heatmap["y"][i])
    patches = client.view()
    assert patches.count() == z[i, j] and patches._is_patches
    assert set(patches.values("sample_id")) <= set(members.values("id"))

    client.call("on_tag_cluster")
    assert ds.count_sample_tags().get("smap_cluster_1") == top["size"]


def test_clusters_partition_the_whole_confusion_matrix(mapped):
    ds, ev, _, omap = mapped
    client = VectorClient(ds).call("on_load")  # objects map; nothing stored: optimum at 0.50
    best = ev.sweeps(0.5)[0].optimal()["confidence"]
    a = ev.assess(0.5, best)
    total = np.zeros_like(a.confusion)
    names = ev.classes
    index = lambda label, other: names.index(label) if label in names else len(names)
    for row in range(omap["num_clusters"]):
        client.call("on_cluster_row", row=row)
        assert client.state["cluster_op"] == {"iou": 0.5, "confidence": best}
        assert "optimal confidence at IoU 0.50" in client.state["cluster_report_md"]
        h = client.data["cluster_plot"][0]
        rows = [index(y, "Not an object") for y in h["y"]]
        cols = [index(x, "Not detected") for x in h["x"]]
        total[np.ix_(rows, cols)] += np.array(h["z"])
    np.testing.assert_array_equal(total, a.confusion)


def test_a_confusion_cell_set_elsewhere_highlights_its_points(mapped):
    """The evaluation explorer's cell click sets a patches view: its points light up."""
    ds, ev, _, _ = mapped
    selection = module("panels.selection")
    config = ds.get_evaluation_info("eval").config
    a = ev.assess(0.5, None)
    k = int(np.argmax(np.diag(a.confusion)[:-1]))
    preds, gts = selection.cell_ids(ev, a, k, k)
    view = selection.objects_view(ds, config, preds, gts, selection.OBJECTS, paired=True)
    client = VectorClient(ds).call("on_load")
    client.call("on_change_view", view=view)
    assert client.highlight()["name"] == "in view (%d)" % a.confusion[k, k]
    assert len(decode(client.highlight()["x"])) == a.confusion[k, k]


def test_object_selections_show_exactly_those_labels(mapped):
    """Objects of one field: one patch each; mixed: their samples with only them visible,
    exactly what FiftyOne's select_labels would show."""
    ds, _, _, omap = mapped
    arrays, _ = error_map_module().load_error_map(ds, "omap")
    client = VectorClient(ds).call("on_load")
    traces = client.groups()
    names = [t["name"].split(" (")[0] for t in traces]
    missed = names.index("missed")
    q, ids = drawn(client)
    left = q[:, 0] <= np.median(q[:, 0])
    client.call("on_region", box=[0, np.median(q[:, 0]), 0, 10000],
                hidden=[t for t in range(len(traces) + 1) if t != missed])
    patches = client.view()
    missed_ids = arrays["ids"][(arrays["error"] == "missed") & left]
    assert patches._is_patches and patches.count() == len(missed_ids) > 0
    assert sorted(patches.values("ground_truth.id")) == sorted(missed_ids)

    client.call("on_region", box=[0, np.median(q[:, 0]), 0, 10000],
                hidden=[t for t in range(len(traces) + 1) if t not in (0, missed)])
    view = client.view()
    pred_ids = arrays["ids"][(arrays["error"] == names[0]) & left]
    expected = ds.select_labels(ids=list(missed_ids) + list(pred_ids),
                                fields=["predictions", "ground_truth"])
    assert view.count() == expected.count() == len(set(expected.values("id")))
    for field in ("predictions", "ground_truth"):
        path = field + ".detections.id"
        assert sorted(view.values(path, unwind=True)) == sorted(expected.values(path, unwind=True))


# -- colour by a sample field --------------------------------------------------------------

def plugin_module(suffix):
    """The module as the App's plugin machinery loaded it (the panels' caches live there)."""
    foo.get_operator(PANEL)
    return next(m for n, m in sys.modules.items()
                if n.startswith("fiftyone.plugins.") and n.endswith(suffix))


def legend(client):
    """{legend name: number of points} of the colour groups."""
    return {t["name"].rsplit(" (", 1)[0]: trace_count(t) for t in client.groups()}


def test_field_groups_categories_numbers_lists_and_missing_values():
    md = module("panels.map_data")
    n_cat = md.MAX_CATEGORIES
    # strings: the most frequent first, beyond MAX_CATEGORIES the rest is "other", None "missing"
    values = ["a"] * 5 + ["b"] * 3 + [None] * 2 + ["c%02d" % i for i in range(n_cat + 2)]
    got = {name: idx.tolist() for name, _, idx in md.field_groups(values, "category")}
    assert got["a"] == list(range(5)) and got["b"] == [5, 6, 7] and got["missing"] == [8, 9]
    assert len(got) == n_cat + 2 and len(got["other"]) == n_cat + 2 - (n_cat - 2)
    assert sorted(i for idx in got.values() for i in idx) == list(range(len(values)))
    colours = [c for name, c, _ in md.field_groups(values, "category")]
    assert len(set(colours)) == len(colours), "every legend entry its own colour"
    # many numbers: five equal-count bins on a viridis scale; None and NaN are missing
    x = [float(i) for i in range(100)] + [None, float("nan")]
    bins = md.field_groups(x, "number")
    assert [len(idx) for _, _, idx in bins] == [20, 20, 20, 20, 20, 2]
    assert [name for name, _, _ in bins] == ["< 19.8", "19.8 to 39.6", "39.6 to 59.4",
                                             "59.4 to 79.2", ">= 79.2", "missing"]
    assert [c for _, c, _ in bins[:5]] == list(md.VIRIDIS)
    # few numbers are categories in their order; booleans False, True
    assert [(n, len(i)) for n, _, i in md.field_groups([3, 1, 1, None, 2.5], "number")
            if len(i)] == [("1", 2), ("2.5", 1), ("3", 1), ("missing", 1)]
    assert [(n, len(i)) for n, _, i in md.field_groups([True, False, True], "bool")
            if len(i)] == [("False", 1), ("True", 2)]
    # lists (tags): by their first element, "none" when empty, "missing" when absent
    assert {n: i.tolist() for n, _, i in md.field_groups([["x", "y"], [], ["y"], None, ["x"]],
                                                         "list") if len(i)} == {
        "x": [0, 4], "none": [1], "y": [2], "missing": [3]}


@pytest.fixture
def fields(mapped):
    """Sample fields of every kind on the mapped dataset (removed afterwards)."""
    ds = mapped[0]
    n = len(ds)
    weathers = ["sunny", "rain", "fog", None]
    values = {"weather": [weathers[i % 4] for i in range(n)],
              "exposure": [None if i % 7 == 0 else float(i) / 3 for i in range(n)],
              "rating": [i % 3 for i in range(n)],
              "night": [i % 5 == 0 for i in range(n)]}
    for name, v in values.items():
        ds.set_values(name, v)
    tags = [["outdoor", "blurry"] if i % 3 == 0 else [] for i in range(n)]
    ds.set_values("tags", tags)
    values["tags"] = tags
    try:
        yield values
    finally:
        for name in ("weather", "exposure", "rating", "night"):
            if ds.has_sample_field(name):
                ds.delete_sample_field(name)
        ds.set_values("tags", [[] for _ in range(n)])


def test_colour_by_a_sample_field_on_a_samples_map(mapped, fields):
    ds = mapped[0]
    client = VectorClient(ds).call("on_load")
    client.call("on_map", value="smap", path="map_key")
    offered = {v for v, _ in client.state["color_choices"]}
    assert {"error", "cluster", "class", "confidence"} <= offered
    assert {"field:" + f for f in ("weather", "exposure", "rating", "night", "tags")} <= offered
    # no ids, paths, dates, metadata, labels, vectors or this plugin's own fields
    for name in ("id", "filepath", "metadata", "created_at", "last_modified_at", "predictions",
                 "ground_truth", "eval_tp", "eval_fp", "eval_fn", "smap_cluster",
                 "omap_cluster", "smap_embedding", "omap_embedding", "smap_x", "smap_y"):
        assert "field:" + name not in offered, name
    assert ["field:weather", "field: weather"] in client.state["color_choices"]

    # strings: one group per value, None as "missing"; the data flow as for the built-ins
    client.call("on_color", value="field:weather", path="color_by")
    assert client.state["color_by"] == "field:weather"
    weather = dict(zip(ds.values("id"), ds.values("weather")))
    want = {}
    for w in weather.values():
        want[w or "missing"] = want.get(w or "missing", 0) + 1
    assert legend(client) == want and client.points() == len(ds)
    assert all(set(t) == {"type", "mode", "name", "x", "y", "marker", "hoverinfo", "showlegend"}
               and t["type"] == "scattergl" and all(isinstance(v, int) for v in t["x"])
               for t in client.groups())
    assert client.state["n_groups"] == len(client.groups())
    assert "field:weather" in client.layout()["datarevision"]

    # a legend group selected: exactly the images with that value
    traces = client.groups()
    rain = next(t for t, tr in enumerate(traces) if tr["name"].startswith("rain "))
    client.select_groups([rain])
    assert sorted(client.view().values("id")) == sorted(
        i for i, w in weather.items() if w == "rain")

    # many numbers: equal-count bins, None as "missing"
    client.call("on_color", value="field:exposure", path="color_by")
    got = legend(client)
    assert got.pop("missing") == sum(v is None for v in fields["exposure"])
    assert len(got) == 5 and sum(got.values()) == len(ds) - sum(
        v is None for v in fields["exposure"])
    # few integers and booleans: categories
    client.call("on_color", value="field:rating", path="color_by")
    assert legend(client) == {str(k): fields["rating"].count(k) for k in range(3)}
    client.call("on_color", value="field:night", path="color_by")
    assert legend(client) == {"True": sum(fields["night"]),
                              "False": len(ds) - sum(fields["night"])}
    # tags: by the first tag, "none" without tags
    client.call("on_color", value="field:tags", path="color_by")
    assert legend(client) == {"outdoor": sum(bool(t) for t in fields["tags"]),
                              "none": sum(not t for t in fields["tags"])}


def test_colour_by_a_sample_field_on_an_objects_map(mapped, fields):
    """Each object takes its image's value; the legend adds up to every point."""
    ds, ev, _, omap = mapped
    arrays, _ = error_map_module().load_error_map(ds, "omap")
    client = VectorClient(ds).call("on_load")
    assert client.state["map_key"] == "omap"
    client.call("on_color", value="field:weather", path="color_by")
    image_of = dict(zip(np.r_[ev.pred_ids, ev.gt_ids],
                        ev.image_ids[np.r_[ev.pred_image, ev.gt_image]]))
    weather = dict(zip(ds.values("id"), ds.values("weather")))
    per_point = [weather[image_of[i]] or "missing" for i in arrays["ids"]]
    assert legend(client) == {w: per_point.count(w) for w in set(per_point)}
    assert client.points() == omap["num_points"]
    assert "image's value of 'weather'" in client.state["caption"]
    # a selected group: exactly its objects (one patch each when all of one field)
    traces = client.groups()
    fog = next(t for t, tr in enumerate(traces) if tr["name"].startswith("fog "))
    client.select_groups([fog])
    view = client.view()
    fog_images = {i for i, w in weather.items() if w == "fog"}
    assert set(view.values("id")) <= fog_images
    shown = set(view.values("predictions.detections.id", unwind=True)) | set(
        view.values("ground_truth.detections.id", unwind=True))
    assert shown == {i for i, w in zip(arrays["ids"], per_point) if w == "fog"}


def test_field_colouring_follows_edits_and_deleted_fields(mapped, fields):
    ds = mapped[0]
    client = VectorClient(ds).call("on_load")
    client.call("on_map", value="smap", path="map_key")
    client.call("on_color", value="field:weather", path="color_by")
    revision = client.layout()["datarevision"]
    # values read once per (map, field) and edit: a selection reads nothing more
    m = plugin_module("panels.map_data").load(ds, "smap")
    reads = []
    original = m.field_groups
    m.field_groups = lambda name: reads.append(name) or original(name)
    try:
        client.call("on_region", box=[0, 5000, 0, 5000], hidden=[])
        client.call("on_color", value="field:weather", path="color_by")
        assert reads == []
        ds.set_values("weather", ["snow"] * len(ds))  # an edit: read again when drawn again
        client.call("on_color", value="field:weather", path="color_by")
        assert reads == ["weather"] and legend(client) == {"snow": len(ds)}
        assert client.layout()["datarevision"] != revision
    finally:
        del m.field_groups
    # a field deleted since it was chosen: back to error types
    ds.delete_sample_field("weather")
    client.call("on_load")
    assert client.state["color_by"] == "error"
    assert "field:weather" not in {v for v, _ in client.state["color_choices"]}


def test_deleting_the_evaluation_deletes_its_maps_and_the_panel_shows_no_traceback(tmp_path):
    """dataset.delete_evaluation leaves the maps behind: the panel deletes them (fields,
    run, brain runs) and offers to compute one, on load and on any later event."""
    ds = random_dataset(seed=29, num_samples=24)
    browser.write_images(ds, tmp_path / "images")
    evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="eval")
    compute_error_map(ds, eval_key="eval", level="samples", map_key="smap", num_clusters=3)
    compute_error_map(ds, eval_key="eval", level="objects", map_key="omap", num_clusters=3)
    client = VectorClient(ds).call("on_load")
    assert client.state["map_key"] == "omap"
    ds.delete_evaluation("eval")
    # an event of the open panel: no traceback, back to "no error map yet"
    client.call("on_cluster_row", row=0)
    assert client.state["map_key"] is None
    assert not [r for r in ds.list_runs() if r.startswith("error_map_")]
    assert not {"smap", "smap_gt", "omap", "omap_gt"} & set(ds.list_brain_runs())
    assert not ds.has_field("smap_cluster") and not ds.has_field("predictions.detections.omap_cluster")
    assert any("deleted" in r["params"].get("message", "") for r in client.requests
               if r["operator_uri"].endswith("notify"))
    client.call("on_load")
    assert client.state["map_key"] is None
    ds.delete()
