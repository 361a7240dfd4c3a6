"""The vector explorer's callbacks through FiftyOne's operator machinery, checked
against the stored map, the engine and FiftyOne's own per-label results."""

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

    def layout(self):
        """The scatter's layout in the last render."""
        out = next(r["params"]["output"] for r in self.requests
                   if r["operator_uri"].endswith("show_panel_output"))
        return out["type"]["properties"]["scatter"]["view"]["layout"]


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
    want = np.bincount(a.pred_error[a.pred_error >= 0], minlength=7) + \
        np.bincount(a.gt_error[a.gt_error > 0], minlength=7)
    got = {t["name"].split(" (")[0]: trace_count(t) for t in client.groups()}
    assert got == {n: int(want[i]) for i, n in enumerate(names) if want[i]}
    colors = module("panels.figures").COLORS
    assert all(t["marker"]["color"] == colors[t["name"].split(" (")[0]] for t in client.groups())
    # only rounded coordinates (integers 0..9999 on the map's extent): no ids, text or
    # custom data, and they are the map's
    xy = arrays["xy"].astype(np.float64)
    q = np.round((xy - xy.min(0)) / (xy.max(0) - xy.min(0)) * 9999)
    first = client.groups()[0]
    idx = np.flatnonzero(arrays["error"] == first["name"].split(" (")[0])
    np.testing.assert_array_equal(decode(first["x"]), q[idx, 0])
    np.testing.assert_array_equal(decode(first["y"]), q[idx, 1])
    assert all(set(t) == {"type", "mode", "name", "x", "y", "marker", "hoverinfo", "showlegend"}
               for t in client.data["scatter"])
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
    # save its spaces and reload its page query)
    assert client.patches("patch_panel_state") == []
    revision = client.layout()["datarevision"]
    client.call("on_change_view", view=view)  # the App repeats each change
    assert client.patches() == [] and client.layout()["datarevision"] == revision
    client.call("on_change_view", view=ds.view())
    assert client.highlight()["name"] == "in view (0)"
    assert client.layout()["datarevision"] != revision


def test_box_selection_shows_exactly_the_selected_points(mapped):
    ds, _, _, _ = mapped
    client = VectorClient(ds).call("on_load")
    client.call("on_map", value="smap", path="map_key")
    assert client.points() == len(ds)
    traces = client.groups()
    # as the App sends them: trace name, trace index, point index
    picked = [{"trace": traces[t]["name"], "trace_idx": t, "idx": i, "x": None, "y": None}
              for t in range(len(traces)) for i in range(0, len(decode(traces[t]["x"])), 3)]
    selection = client.layout()["selectionrevision"]
    client.call("on_selected", data=picked)
    view = client.view()
    assert view.count() == len(picked)
    # the highlight at once, and plotly's selection box dropped (see the panel's docstring)
    assert client.highlight()["name"] == "in view (%d)" % len(picked)
    assert client.layout()["selectionrevision"] != selection
    # the highlight of the view it set comes from the selection itself
    client.call("on_change_view", view=view)
    assert client.highlight()["name"] == "in view (%d)" % len(picked)
    # a click on a highlighted point selects that point
    client.call("on_point_click", trace_idx=len(traces), idx=0, trace="in view")
    assert client.view().count() == 1
    client.call("on_selected", data=[])  # an empty selection (plain click) changes nothing
    assert not any(r["operator_uri"].endswith("set_view") for r in client.requests)


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
    top = smap["failure_clusters"][0]
    assert client.view().count() == top["size"]
    assert client.state["cluster"] == top["id"]
    assert "Cluster %d (failure cluster #1)" % top["id"] in client.state["cluster_md"]
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
    assert ds.count_sample_tags().get("smap_cluster_%d" % top["id"]) == top["size"]


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
    picked = [{"trace": traces[missed]["name"], "trace_idx": missed, "idx": i}
              for i in range(0, trace_count(traces[missed]), 2)]
    client.call("on_selected", data=picked)
    patches = client.view()
    missed_ids = arrays["ids"][arrays["error"] == "missed"][::2]
    assert patches._is_patches and patches.count() == len(picked)
    assert sorted(patches.values("ground_truth.id")) == sorted(missed_ids)

    picked += [{"trace": traces[0]["name"], "trace_idx": 0, "idx": i}
               for i in range(0, trace_count(traces[0]), 3)]
    client.call("on_selected", data=picked)
    view = client.view()
    pred_ids = arrays["ids"][arrays["error"] == names[0]][::3]
    expected = ds.select_labels(ids=list(missed_ids) + list(pred_ids),
                                fields=["predictions", "ground_truth"])
    assert view.count() == expected.count() == len(set(expected.values("id")))
    for field in ("predictions", "ground_truth"):
        path = field + ".detections.id"
        assert sorted(view.values(path, unwind=True)) == sorted(expected.values(path, unwind=True))
