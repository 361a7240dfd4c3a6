"""The evaluation explorer's Slices and Compare sections, through FiftyOne's operator
machinery (what the App calls): the rows equal compute_slices / compare_runs, a row
click shows exactly the slice, the flip buttons exactly the flips."""

import numpy as np
import pytest

import fiftyone as fo
import fiftyone.operators as foo
from fiftyone import ViewField as F

from tests.fodata import evaluate_model, random_dataset
from tests.taskdata import classification_dataset
from tests.test_panel_callbacks import PanelClient


@pytest.fixture(scope="module")
def two_runs():
    ds = random_dataset(seed=11, num_samples=90)
    rng = np.random.default_rng(4)
    ds.set_values("weather", rng.choice(["sun", "rain", "fog"], len(ds)).tolist())
    for s in ds.iter_samples(autosave=True):  # model B misses most objects in fog
        keep = 0.2 if s.weather == "fog" else 0.9
        dets = [d.copy() for d in s.predictions.detections if rng.random() < keep]
        s["predictions_b"] = fo.Detections(detections=dets)
    evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="a")
    evaluate_model(ds, pred_field="predictions_b", gt_field="ground_truth", eval_key="b")
    yield ds
    ds.delete()


def test_slice_table_rows_and_click(two_runs):
    ds = two_runs
    client = PanelClient(ds, panel_id="slices1")
    client.call("on_load")
    client.state["eval_key"] = "b"
    client.call("on_choose_run", value="b")
    client.call("on_slice_source", value="field:weather")
    rows = client.data["slice_table"]
    assert rows[0]["name"] == "All (whole run)" and rows[0]["size"] == len(ds)
    assert {r["name"] for r in rows[1:]} == {"sun", "rain", "fog"}
    conf = client.shown["choices"]["confidence"]
    direct = foo.get_operator("@error-atlas/error-atlas/compute_slices")(
        ds, eval_key="b", source="field:weather", confidence=conf)
    for row, want in zip(rows[1:], direct["rows"]):
        assert row["name"] == want["name"]
        assert row["mAP"].startswith("%.3f [" % want["values"]["mAP"])
        assert row["f1"].startswith("%.3f" % want["values"]["f1"])
    client.call("on_slice_row", row=1)
    view = client.view()
    name = rows[1]["name"]
    assert sorted(view.values("id")) == sorted(ds.match(F("weather") == name).values("id"))
    # another run: the same source is computed again with a button (the dropdown keeps it)
    client.state["eval_key"] = "a"
    client.call("on_choose_run", value="a")
    client.call("on_slices_recompute")
    assert client.data["slice_table"][0]["mAP"].startswith(
        "%.3f" % ds.load_evaluation_results("a").mAP())


def test_automatic_search_in_the_panel(two_runs):
    client = PanelClient(two_runs, panel_id="slices2")
    client.call("on_load")
    client.state["eval_key"] = "b"  # model B is the one that fails in fog
    client.call("on_choose_run", value="b")
    client.call("on_slice_source", value="search")
    rows = client.data["slice_table"]
    assert rows[0]["name"] == "All (whole run)"
    assert "weather = fog" in [r["name"] for r in rows[1:]]


def test_compare_section_and_flips(two_runs):
    ds = two_runs
    client = PanelClient(ds, panel_id="compare1")
    client.call("on_load")
    client.state["eval_key"] = "b"
    client.call("on_choose_run", value="b")
    client.call("on_compare_run", value="a")
    metrics = {r["metric"]: r for r in client.data["compare_metrics"]}
    assert set(metrics) == {"mAP", "AP50", "precision", "recall", "f1"}
    whole_a = ds.load_evaluation_results("a").mAP()
    whole_b = ds.load_evaluation_results("b").mAP()
    assert metrics["mAP"]["a"] == "%.3f" % whole_b and metrics["mAP"]["b"] == "%.3f" % whole_a
    assert len(client.data["compare_curves"]) == 6
    assert client.data["compare_matrix"][0]["type"] == "heatmap"
    client.call("on_flips_a")
    shown = client.view().values("ground_truth.detections.id", unwind=True)
    ids, in_b, in_a = ds.values(["ground_truth.detections.id", "ground_truth.detections.b",
                                 "ground_truth.detections.a"], unwind=True)
    # each run at its max-F1 threshold: the flips hold objects B (the panel's run) detects
    # and A misses there; every such object is a true positive of B's run at every confidence
    assert shown and set(shown) <= {i for i, x in zip(ids, in_b) if x == "tp"}


def test_compare_refuses_another_ground_truth():
    ds = classification_dataset(seed=1, n=60)
    try:
        ds.clone_sample_field("ground_truth", "gt2")
        classes = list(ds.default_classes)
        evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="c1",
                       classes=classes)
        evaluate_model(ds, pred_field="predictions", gt_field="gt2", eval_key="c2", classes=classes)
        client = PanelClient(ds, panel_id="compare2")
        client.call("on_load")
        client.call("on_compare_run", value="c1")
        notes = [r for r in client.requests if r["operator_uri"].endswith("notify")]
        assert notes and "different ground truth" in notes[0]["params"]["message"]
        assert "compare_metrics" not in client.data
        client.call("on_slice_source", value="field:tags")  # classification runs get Slices too
    finally:
        ds.delete()
