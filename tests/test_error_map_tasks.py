"""compute_error_map on classification and semantic segmentation runs (sample level).

Real data: the demo's digits (scikit-learn's scans, a real logistic regression,
hidden conditions applied to the pictures it reads) and a segmentation set
whose dark images the predictions miss. The map's colours must be the runs'
own per-sample error fields, and the planted failing group a failure cluster.
"""

import sys
import uuid

import cv2
import numpy as np
import pytest

import fiftyone as fo
import fiftyone.operators as foo

from tests.conftest import ROOT
from tests.fodata import evaluate_model, snapshot

sys.path.insert(0, str(ROOT / "demo"))
import digits  # noqa: E402

RUN = uuid.uuid4().hex[:8]  # this test run's dataset names: runs may share a database

URI = "@error-atlas/error-atlas/compute_error_map"


def plugin_module(name):
    foo.get_operator(URI)
    return next(m for n, m in sys.modules.items() if n.endswith("operators." + name))


def compute_error_map(collection, **params):
    return foo.get_operator(URI)(collection, **params)


def stored_errors(dataset, map_key):
    """``{sample id: error type}`` as the map stored its points."""
    arrays, _ = plugin_module("error_map").load_error_map(dataset, map_key)
    return dict(zip(arrays["ids"].tolist(), arrays["error"].tolist())), arrays


def best_precision(dataset, summary, map_key, planted):
    """Best precision of a top-3 failure cluster for the planted ids, and the recall of the
    listed failure clusters (the top 5) that hold them at precision >= 0.6 (the partition is
    chosen for purity, so a cause may come as two pure clusters, each ranked)."""
    ids, clusters = dataset.values(["id", map_key + "_cluster"])
    cluster_of = dict(zip(ids, clusters))
    best, found = 0.0, set()
    for rank, c in enumerate(summary["failure_clusters"]):
        members = {i for i, k in cluster_of.items() if k == c["id"]}
        hit = members & planted
        if rank < 3:
            best = max(best, len(hit) / len(members))
        if len(hit) >= 0.6 * len(members):
            found |= hit
    return best, len(found) / len(planted)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    dataset = digits.build_dataset(name="map-tasks-digits-" + RUN, num_images=320, seed=51,
                                   out_dir=str(tmp_path_factory.mktemp("digits")))
    evaluate_model(dataset, pred_field="predictions", gt_field="ground_truth", eval_key="eval")
    yield dataset
    dataset.delete()


def test_classification_map_colours_are_the_error_field_and_finds_a_condition(digits_run):
    dataset = digits_run
    summary = compute_error_map(dataset, eval_key="eval", level="samples", map_key="cmap")
    assert summary["num_points"] == len(dataset)
    errors, arrays = stored_errors(dataset, "cmap")
    ids, field = dataset.values(["id", "eval_error"])
    assert [errors[i] for i in ids] == field  # the colours are the run's own error types
    assert set(field) - {"correct"} and set(field) <= set(
        plugin_module("map_outcomes").ERROR_TYPES["classification"])
    truth = dict(zip(ids, dataset.values("ground_truth.label")))
    assert [digits.CLASSES[k] for k in arrays["label"]] == [truth[i] for i in arrays["ids"]]
    # a failure cluster per hidden condition the classifier fails under
    hidden = digits.conditions(len(dataset), 51)
    found = {}
    for condition in ("low_contrast", "rotation"):
        planted = {i for i, c in zip(ids, hidden) if c == condition}
        found[condition] = best_precision(dataset, summary, "cmap", planted)
    assert all(p >= 0.6 and r >= 0.6 for p, r in found.values()), found
    top = summary["failure_clusters"][0]
    assert set(top["error_counts"]) == set(
        plugin_module("map_outcomes").ERROR_TYPES["classification"])
    assert top["error_count"] == sum(v for k, v in top["error_counts"].items() if k != "correct")
    assert not any("detections" in p or "missed objects" in p
                   for c in summary["clusters"] for p in c["description"])


def test_classification_objects_level_is_refused_and_nothing_written(digits_run):
    dataset = digits_run
    before = snapshot(dataset)
    with pytest.raises(Exception, match="classification evaluation.*level='samples'"):
        compute_error_map(dataset, eval_key="eval", level="objects", map_key="omap")
    assert snapshot(dataset) == before
    assert "error_map_omap" not in dataset.list_runs()


def segmentation_dataset(tmp_path, n=64, seed=3):
    """Two shape classes on background; every fourth image is dark, and the
    predictions miss its shapes; the others slip by a pixel. Masks in the database."""
    rng = np.random.default_rng(seed)
    samples, dark = [], []
    for i in range(n):
        is_dark = i % 4 == 0
        img = np.clip(rng.normal(25 if is_dark else 190, 12, (96, 128, 3)), 0, 255).astype(np.uint8)
        path = str(tmp_path / ("seg%03d.png" % i))
        cv2.imwrite(path, img)
        gt = np.zeros((96, 128), np.uint8)
        x, y = rng.integers(4, 40, 2)
        gt[y:y + 40, x:x + 36] = 1
        gt[20:60, 80:120] = 2
        pred = gt.copy()
        if is_dark:  # the shapes missed, but for a sliver of one
            pred[:] = 0
            pred[20:26, 80:120] = 2
        else:
            pred = np.roll(pred, int(rng.integers(0, 3)), axis=1)  # a boundary slip
        samples.append(fo.Sample(filepath=path, metadata=fo.ImageMetadata(width=128, height=96),
                                 ground_truth=fo.Segmentation(mask=gt),
                                 predictions=fo.Segmentation(mask=pred)))
        dark.append(is_dark)
    dataset = fo.Dataset()
    dataset.add_samples(samples, progress=False)
    dataset.mask_targets = {"ground_truth": {0: "background", 1: "box", 2: "plate"}}
    plugin_module("segmentation_run").evaluate_segmentations(
        dataset, "predictions", "ground_truth", "seg", num_workers=1)
    return dataset, np.array(dark)


def test_segmentation_map_colours_dominant_errors_and_finds_the_dark_images(tmp_path):
    dataset, dark = segmentation_dataset(tmp_path)
    outcomes = plugin_module("map_outcomes")
    try:
        summary = compute_error_map(dataset, eval_key="seg", level="samples", map_key="smap")
        errors, arrays = stored_errors(dataset, "smap")
        ids, field, miou = dataset.values(["id", "seg_error", "seg_miou"])
        failing = np.array([m < outcomes.FAIL_BELOW_MIOU for m in miou])
        assert failing[dark].all() and failing.sum() < len(ids)
        assert [errors[i] for i in ids] == [e if f else "correct" for e, f in zip(field, failing)]
        assert {errors[i] for i, d in zip(ids, dark) if d} == {"missed_region"}
        planted = {i for i, d in zip(ids, dark) if d}
        precision, recall = best_precision(dataset, summary, "smap", planted)
        assert precision >= 0.6 and recall >= 0.6, (precision, recall, summary["clusters"])
        top = summary["failure_clusters"][0]
        assert set(top["error_counts"]) == set(outcomes.ERROR_TYPES["segmentation"])
        assert {c for c, _ in top["classes"]} <= {"box", "plate"}
        with pytest.raises(Exception, match="segmentation evaluation.*level='samples'"):
            compute_error_map(dataset, eval_key="seg", level="objects", map_key="smap2")
    finally:
        dataset.delete()


# -- the vector explorer on these maps (its callbacks, as the App calls them) ---------------

def vector_client(dataset):
    from tests.test_vector_explorer import VectorClient

    return VectorClient(dataset, panel_id="tasks-%s" % dataset.name)


def legend(client):
    return {t["name"].rsplit(" (", 1)[0]: int(t["name"].rsplit("(", 1)[1].rstrip(")"))
            for t in client.groups()}


def test_vector_explorer_on_a_classification_map(digits_run):
    from fiftyone import ViewField as F

    dataset = digits_run
    summary = compute_error_map(dataset, eval_key="eval", level="samples", map_key="vmap")
    client = vector_client(dataset).call("on_load")
    client.call("on_map", value="vmap", path="map_key")
    # the legend: the run's error types, counted as its <key>_error field counts them
    counts = dataset.count_values("eval_error")
    assert legend(client) == {k: v for k, v in counts.items() if v}
    # a view set elsewhere (the evaluation explorer's class "3" confused as anything)
    # highlights exactly its samples
    view = dataset.match((F("ground_truth.label") == "3") & (F("eval_error") != "correct"))
    client.call("on_change_view", view=view)
    assert client.highlight()["name"] == "in view (%d)" % len(view) and len(view)
    # a failure cluster: its per-class TP / FP / FN are its samples' (truth vs prediction)
    client.call("on_cluster_row", row=0)
    top = summary["clusters"][0]
    members = dataset.match(F("vmap_cluster") == top["id"])
    assert client.view().count() == top["size"] == len(members)
    assert "Click a cell" in client.state["cluster_report_md"]
    conf = client.state["cluster_op"]["confidence"]
    truth, pred, score = members.values(["ground_truth.label", "predictions.label",
                                         "predictions.confidence"])
    counted = [p if s >= conf else None for p, s in zip(pred, score)]
    table = client.state["cluster_classes_md"].splitlines()[2:]
    got = {cells[0]: (int(cells[1]), int(cells[2]), int(cells[3]))
           for cells in ([c.strip() for c in line.strip("|").split("|")] for line in table)}
    for name, (tp, fp, fn) in got.items():
        assert tp == sum(t == name and p == name for t, p in zip(truth, counted))
        assert fp == sum(t != name and p == name for t, p in zip(truth, counted))
        assert fn == sum(t == name and p != name for t, p in zip(truth, counted))
    # a cell of its confusion sub-matrix: exactly those samples of the cluster
    heatmap = client.data["cluster_plot"][0]
    z = np.array(heatmap["z"])
    off = [(i, j) for i in range(z.shape[0]) for j in range(z.shape[1])
           if heatmap["x"][j] != heatmap["y"][i] and z[i, j]]
    i, j = max(off, key=lambda c: z[c])
    client.call("on_cluster_cell", x=heatmap["x"][j], y=heatmap["y"][i])
    cell = client.view()
    assert len(cell) == z[i, j]
    assert set(cell.values("ground_truth.label")) == {heatmap["y"][i]}
    if heatmap["x"][j] == "Below threshold":  # abstentions: predictions under the threshold
        assert all(c < conf for c in cell.values("predictions.confidence"))
    else:
        assert set(cell.values("predictions.label")) == {heatmap["x"][j]}
        assert all(c >= conf for c in cell.values("predictions.confidence"))
    assert set(cell.values("id")) <= set(members.values("id"))
    # hovering a point: its truth, prediction and error type, and its picture
    result = foo.execute_operator("@error-atlas/error-atlas/vector_explorer", ctx=dict(
        view=dataset.view(), params={"__method__": "on_point_hover", "panel_id": client.panel_id,
                                     "panel_state": client.state, "trace_idx": 0, "idx": 0}))
    lines = result.result["lines"]
    assert lines[0].startswith("image digit_") and lines[1].startswith("truth ")
    assert result.result["thumbnail"].startswith("data:image/jpeg")


def test_vector_explorer_on_a_segmentation_map(tmp_path):
    from fiftyone import ViewField as F

    dataset, dark = segmentation_dataset(tmp_path, n=40)
    try:
        compute_error_map(dataset, eval_key="seg", level="samples", map_key="smap")
        errors, _ = stored_errors(dataset, "smap")
        client = vector_client(dataset).call("on_load")
        expected = {}
        for e in errors.values():
            expected[e] = expected.get(e, 0) + 1
        assert legend(client) == expected
        client.call("on_cluster_row", row=0)
        assert "mIoU" in client.state["cluster_report_md"]
        assert client.state["cluster_classes_md"].startswith("| Class | IoU")
        heatmap = client.data["cluster_plot"][0]
        assert "background" in heatmap["y"]
        z = np.array(heatmap["z"])
        off = [(i, j) for i in range(z.shape[0]) for j in range(z.shape[1])
               if heatmap["x"][j] != heatmap["y"][i] and z[i, j]]
        i, j = max(off, key=lambda c: z[c])
        client.call("on_cluster_cell", x=heatmap["x"][j], y=heatmap["y"][i])
        # the cluster's images holding that confusion, most such pixels first
        ev = plugin_module("segmentation_run").load_analysis(dataset, "seg")
        col = ev.classes.index(heatmap["x"][j]) if heatmap["x"][j] in ev.classes else len(ev.classes)
        images, pixels = ev.cell_images(ev.classes.index(heatmap["y"][i]), col)
        ids = np.array(dataset.values("id"))
        members = set(dataset.match(F("smap_cluster") == client.state["cluster"]).values("id"))
        expected = [i for i in ids[images].tolist() if i in members]
        shown = client.view()
        assert shown.values("id") == expected and expected
    finally:
        dataset.delete()
