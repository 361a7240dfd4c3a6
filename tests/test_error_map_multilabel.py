"""compute_error_map and the vector explorer on a multi-label run (sample level).

Real data (:mod:`tests.multilabel_digits`): strips of scikit-learn's digit
scans, read by a real classifier, with hidden conditions in part of them. The
map's colours must be the run's own ``<key>_error`` field, each point's class
the one it gets most wrong, the planted conditions failure clusters, and a
cluster's numbers and cells those of its samples, recomputed here from the
labels themselves.
"""

import uuid

import numpy as np
import pytest

import fiftyone.operators as foo
from fiftyone import ViewField as F

from plugin import clustering

from tests import multilabel_digits
from tests.fodata import evaluate_model, snapshot
from tests.test_error_map_tasks import (best_precision, compute_error_map, legend,
                                        plugin_module, stored_errors, vector_client)
from tests.test_panel_callbacks import PanelClient

CONFIDENCE = 0.5
SEED = 51
N = 320


@pytest.fixture(scope="module")
def strips(tmp_path_factory):
    dataset = multilabel_digits.build(N, SEED, str(tmp_path_factory.mktemp("strips")))
    dataset.name = "map-multilabel-" + uuid.uuid4().hex[:8]
    evaluate_model(dataset, pred_field="predictions", gt_field="ground_truth", eval_key="ml",
                   confidence=CONFIDENCE)
    summary = compute_error_map(dataset, eval_key="ml", level="samples", map_key="mlmap")
    yield dataset, summary
    dataset.delete()


def labels_of(dataset):
    """Per sample (dataset order): its true classes, and its predictions as {class: confidence}."""
    truth = [set(t or ()) for t in dataset.values("ground_truth.classifications.label")]
    preds = [dict(zip(l or (), c or ())) for l, c in zip(
        dataset.values("predictions.classifications.label"),
        dataset.values("predictions.classifications.confidence"))]
    return truth, preds


def counted(pred, confidence):
    return {c for c, s in pred.items() if s >= confidence}


def test_colours_are_the_error_field_and_the_conditions_are_failure_clusters(strips):
    dataset, summary = strips
    outcomes = plugin_module("map_outcomes")
    assert summary["num_points"] == len(dataset)
    errors, arrays = stored_errors(dataset, "mlmap")
    ids, field = dataset.values(["id", "ml_error"])
    assert [errors[i] for i in ids] == field  # the colours are the run's own error types
    assert set(field) == set(outcomes.ERROR_TYPES["multilabel"])  # every type occurs
    # each point's class: its least confident missed class, else its most confident
    # spurious one, else its least confident true class
    truth, preds = labels_of(dataset)
    position = {i: n for n, i in enumerate(ids)}
    for i, label, score in zip(arrays["ids"], arrays["label"], arrays["score"]):
        t, p = truth[position[i]], preds[position[i]]
        shown = counted(p, CONFIDENCE)
        conf = lambda c: p.get(c, -1.0)  # noqa: E731
        if t - shown:
            want = min(sorted(t - shown), key=conf)
        elif shown - t:
            want = max(sorted(shown - t), key=conf)
        else:
            want = min(sorted(t), key=conf) if t else None
        assert (multilabel_digits.CLASSES[label] if label >= 0 else None) == want
        assert (np.isnan(score) if want not in p else score == pytest.approx(p[want]))
    # the hidden conditions the reader fails under are found as failure clusters
    hidden = multilabel_digits.conditions(len(dataset), SEED)
    found = {}
    for condition in ("low_contrast", "rotation"):
        planted = {i for i, c in zip(ids, hidden) if c == condition}
        found[condition] = best_precision(dataset, summary, "mlmap", planted)
    assert all(p >= 0.6 and r >= 0.6 for p, r in found.values()), found
    top = summary["failure_clusters"][0]
    assert set(top["error_counts"]) == set(outcomes.ERROR_TYPES["multilabel"])
    assert top["error_count"] == sum(v for k, v in top["error_counts"].items() if k != "correct")
    phrases = [p for c in summary["clusters"] for p in c["description"]]
    assert any(p.startswith("mostly missed and spurious classes") for p in phrases), phrases
    assert not any("detections" in p or "objects" in p for p in phrases)


def test_failure_is_measured_against_images_with_as_many_true_classes(strips):
    dataset, summary = strips
    ids, field, cluster = dataset.values(["id", "ml_error", "mlmap_cluster"])
    truth, _ = labels_of(dataset)
    failed = np.array([e != "correct" for e in field], dtype=np.float64)
    sizes = np.array([len(t) for t in truth])
    # the rate of each number of true classes, shrunk toward the overall rate by two points
    rate = {k: (failed[sizes == k].sum() + 2 * failed.mean()) / ((sizes == k).sum() + 2)
            for k in np.unique(sizes)}
    assert len(set(np.digitize(list(rate), clustering.CONTENT_BINS))) == len(rate)
    assert rate[3] > rate[1]  # more true classes, more to miss
    for c in summary["clusters"]:
        members = np.array(cluster) == c["id"]
        expected = sum(rate[k] for k in sizes[members])
        assert c["expected_errors"] == pytest.approx(expected, rel=1e-9)
        assert c["excess_errors"] == pytest.approx(failed[members].sum() - expected, rel=1e-9)


def test_the_form_offers_the_multilabel_run_at_sample_level_only(strips):
    from fiftyone.operators.executor import ExecutionContext

    dataset, _ = strips
    ctx = ExecutionContext(request_params={"dataset_name": dataset.name,
                                           "view": dataset.view()._serialize(),
                                           "params": {"eval_key": "ml"}})
    form = foo.get_operator("@error-atlas/error-atlas/compute_error_map").resolve_input(ctx)
    props = form.to_json()["type"]["properties"]
    assert [c["value"] for c in props["eval_key"]["view"]["choices"]] == ["ml"]
    assert [c["value"] for c in props["level"]["view"]["choices"]] == ["samples"]


def test_objects_level_is_refused_and_nothing_written(strips):
    dataset, _ = strips
    before = snapshot(dataset)
    with pytest.raises(Exception, match="multi-label evaluation.*level='samples'"):
        compute_error_map(dataset, eval_key="ml", level="objects", map_key="omap")
    assert snapshot(dataset) == before


def test_vector_explorer_cluster_numbers_cells_and_link_with_the_evaluation_explorer(strips):
    dataset, summary = strips
    client = vector_client(dataset).call("on_load")
    client.call("on_map", value="mlmap", path="map_key")
    # the legend: the run's error types, counted as its <key>_error field counts them
    counts = dataset.count_values("ml_error")
    assert legend(client) == {k: v for k, v in counts.items() if v}
    # a class confusion cell clicked in the evaluation explorer highlights its samples here
    explorer = PanelClient(dataset, "ml-map-explorer").call("on_load")
    explorer.call("on_cell_click", y="3", x="Missed")
    cell_view = explorer.view()
    assert len(cell_view)
    client.call("on_change_view", view=cell_view)
    assert client.highlight()["name"] == "in view (%d)" % len(cell_view)
    # a failure cluster: the App's view becomes its samples; its per-class TP / FP / FN
    # are its (sample, class) pairs at the operating point
    client.call("on_cluster_row", row=0)
    top = summary["clusters"][0]
    members = dataset.match(F("mlmap_cluster") == top["id"])
    assert sorted(client.view().values("id")) == sorted(members.values("id"))
    assert "Click a cell" in client.state["cluster_report_md"]
    assert "where their numbers of true classes predict" in client.state["cluster_md"]
    conf = client.state["cluster_op"]["confidence"]
    assert conf == pytest.approx(explorer.shown["choices"]["confidence"])
    truth, preds = labels_of(members)
    shown = [counted(p, conf) for p in preds]
    table = client.state["cluster_classes_md"].splitlines()[2:]
    got = {cells[0]: (int(cells[1]), int(cells[2]), int(cells[3]))
           for cells in ([c.strip() for c in line.strip("|").split("|")] for line in table)}
    assert got
    for name, (tp, fp, fn) in got.items():
        assert tp == sum(name in t and name in s for t, s in zip(truth, shown))
        assert fp == sum(name not in t and name in s for t, s in zip(truth, shown))
        assert fn == sum(name in t and name not in s for t, s in zip(truth, shown))
    n_correct = sum(t == s for t, s in zip(truth, shown))
    assert "%d correct" % n_correct in client.state["cluster_report_md"]
    # every cell of its class confusion: exactly those samples of the cluster
    heatmap = client.data["cluster_plot"][0]
    z = np.array(heatmap["z"])
    ids = members.values("id")
    assert "Missed" in heatmap["x"]
    for i, true_name in enumerate(heatmap["y"]):
        for j, pred_name in enumerate(heatmap["x"]):
            if pred_name == true_name:
                want = [k for k, (t, s) in enumerate(zip(truth, shown)) if true_name in s & t]
            elif pred_name == "Missed":
                want = [k for k, (t, s) in enumerate(zip(truth, shown)) if true_name in t - s]
            else:
                want = [k for k, (t, s) in enumerate(zip(truth, shown))
                        if true_name in t and pred_name in s - t]
            assert z[i, j] == len(want), (true_name, pred_name)
            if z[i, j] and (i + j) % 3 == 0:  # a third of the cells, through the App's calls
                client.call("on_cluster_cell", x=pred_name, y=true_name)
                assert sorted(client.view().values("id")) == sorted(ids[k] for k in want)
    # hovering a point: truth, the counted predictions, the error and its classes
    result = foo.execute_operator("@error-atlas/error-atlas/vector_explorer", ctx=dict(
        view=dataset.view(), params={"__method__": "on_point_hover", "panel_id": client.panel_id,
                                     "panel_state": client.state, "trace_idx": 0, "idx": 0})).result
    lines = result["lines"]
    assert lines[0].startswith("image strip_") and lines[1].startswith("truth ")
    assert lines[2] == "correct" or lines[2].startswith("error: ")
    assert result["thumbnail"].startswith("data:image/jpeg")


def test_the_report_describes_the_multilabel_map_s_clusters(strips, tmp_path):
    from tests.test_report import export, report_data

    dataset, _ = strips
    out = export(dataset, eval_key="ml", path=str(tmp_path / "ml.html"), thumbnails=2)
    assert "clusters" in out["sections"]
    text, data = report_data(out["path"])
    _, stored = plugin_module("error_map").load_error_map(dataset, "mlmap")
    sizes = sorted(c["size"] for c in data["clusters"])
    assert sizes == sorted(c["size"] for c in stored) and sum(sizes) == len(dataset)
    assert "mostly missed and spurious classes" in text


def test_find_slices_on_the_multilabel_map_says_they_are_not_available(strips):
    from tests.test_panel_tasks import notified

    dataset, _ = strips
    client = vector_client(dataset).call("on_load")
    client.call("on_map", value="mlmap", path="map_key")
    before = snapshot(dataset)
    client.call("on_find_slices")
    assert notified(client)[-1].startswith(
        "Run 'ml' is a multi-label evaluation: slices of multi-label runs are not available yet")
    assert snapshot(dataset) == before
