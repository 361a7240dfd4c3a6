"""Re-evaluating from the evaluation explorer, and what its actions say they did
(issue 11 items 12 and 14): run through FiftyOne's operator machinery, as the App
calls it."""

import fiftyone.operators as foo
import pytest
from fiftyone.operators.executor import ExecutionContext

from tests.fodata import URI, evaluate_model, random_dataset
from tests.test_panel_callbacks import PanelClient, chosen, detection_run


def prompted(client, view):
    """The parameters Re-evaluate opens evaluate_model's form with, for the App's ``view``."""
    client.call("on_evaluate", view=view)
    (req,) = [r for r in client.requests if "prompt" in r["operator_uri"]]
    return req["params"]["params"]


def form(dataset, view, params):
    """evaluate_model's form (its JSON) as the App asks for it with ``view`` shown."""
    ctx = ExecutionContext(request_params={"dataset_name": dataset.name,
                                           "view": view._serialize(), "params": params})
    return foo.get_operator(URI).resolve_input(ctx).to_json()


def _names(form_json):
    return set(form_json["type"]["properties"])


@pytest.fixture
def evaluated():
    ds = random_dataset(seed=51, num_samples=30)
    evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="eval")
    yield ds
    ds.delete()


def test_reevaluate_after_a_click_evaluates_the_runs_images(evaluated):
    ds = evaluated
    client = PanelClient(ds).call("on_load")
    ev = detection_run().load_analysis(ds, "eval")
    K = ev.num_classes
    # a confusion cell: the App then shows an evaluation patches view
    client.call("on_cell_click", x=ev.classes[0], y=ev.classes[0])
    patches = client.view()
    assert patches._is_generated
    params = prompted(client, patches)
    assert params["run_view"] == "eval" and params["eval_key"] == "eval"
    assert "view_target" not in params
    # a class's errors as samples (only those labels visible): also a click's view
    client.call("on_mode", value="samples", path="mode")
    client.call("on_class_click", x=ev.classes[1])
    samples = client.view()
    assert not samples._is_generated
    assert prompted(client, samples)["run_view"] == "eval"
    # the form finds both Detections fields and offers Execute
    for view in (patches, samples):
        f = form(ds, view, params)
        assert {"pred_field", "gt_field", "eval_key"} <= _names(f), f
        assert "no_fields" not in _names(f)
        assert "view_target" not in _names(f)  # the run's own images, said in a notice
        notice = f["type"]["properties"]["run_view_notice"]["view"]["label"]
        assert "run 'eval'" in notice and "whole dataset (30 images)" in notice
    # executing it re-evaluates the run's images with the same numbers
    before = ev.summary(0.5)
    result = foo.execute_operator(URI, ctx=dict(view=patches, params=params))
    assert result.error is None, result.error
    after = detection_run().load_analysis(ds, "eval")
    assert len(after.image_ids) == 30 and after.summary(0.5)["mAP"] == before["mAP"]
    assert K == after.num_classes


def test_evaluate_model_opened_on_a_patches_view_finds_the_fields(evaluated):
    ds = evaluated
    patches = ds.to_patches("ground_truth")
    f = form(ds, patches, {})
    assert "no_fields" not in _names(f), f
    assert {"pred_field", "gt_field"} <= _names(f)
    choices = [c["value"] for c in f["type"]["properties"]["pred_field"]["view"]["choices"]]
    assert sorted(choices) == ["ground_truth", "predictions"]
    # run on it, it evaluates the images the patches come from, all their labels
    some = patches.limit(5)
    result = foo.execute_operator(URI, ctx=dict(view=some, params={
        "pred_field": "predictions", "gt_field": "ground_truth", "eval_key": "patchy",
        "view_target": "CURRENT_VIEW"}))
    assert result.error is None, result.error
    images = set(some.distinct("sample_id"))
    assert len(ds.load_evaluation_view("patchy")) == len(images)
    gt = sum(len(s.ground_truth.detections) for s in ds.select(list(images)))
    assert detection_run().load_analysis(ds, "patchy").gt_ids.size == gt


def test_a_user_view_is_still_offered_as_such(evaluated):
    ds = evaluated
    client = PanelClient(ds).call("on_load")
    params = prompted(client, ds.limit(10))
    assert params["view_target"] == "CURRENT_VIEW" and params["eval_key"] == "eval_view"
    assert "run_view" not in params


def test_reevaluating_keeps_the_saved_per_class_thresholds(evaluated):
    ds = evaluated
    client = PanelClient(ds).call("on_load").call("on_save_thresholds")
    saved = ds.load_run_results("error_atlas_eval", cache=False).class_thresholds
    assert saved and any(v is not None for v in saved.values())
    summary = evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="eval")
    assert ds.load_run_results("error_atlas_eval", cache=False).class_thresholds == saved
    assert summary["warnings"] == []
    # other fields: another model's thresholds are not kept, and the run says so
    ds.clone_sample_field("predictions", "predictions2")
    # the clone copied run 'eval''s values, which no run owns on the copy (never overwritten)
    ds.delete_sample_fields(["predictions2.detections.eval" + s for s in ("", "_id", "_iou", "_error")])
    summary = evaluate_model(ds, pred_field="predictions2", gt_field="ground_truth", eval_key="eval")
    assert ds.load_run_results("error_atlas_eval", cache=False).class_thresholds is None
    assert any("were not kept" in w and "'predictions2'" in w for w in summary["warnings"])


def test_tag_and_save_say_what_they_did(evaluated):
    ds = evaluated
    client = PanelClient(ds).call("on_load")
    ev = detection_run().load_analysis(ds, "eval")
    name = ev.classes[1]
    client.call("on_example_choice", value=name, path="example_class")
    client.call("on_tag_examples")
    n = ds.count_label_tags().get("needs_review", 0)
    assert n > 0
    told = [r["params"]["message"] for r in client.requests if r["operator_uri"].endswith("notify")]
    assert told and told[0].startswith("Tagged %d objects as needs_review" % n), told
    assert ("class '%s'" % name) in told[0]
    assert "Tagged **%d objects**" % n in _panel_md(client, "examples_notice")

    client.call("on_save_thresholds")
    saved = ds.load_run_results("error_atlas_eval", cache=False).class_thresholds
    told = [r["params"]["message"] for r in client.requests if r["operator_uri"].endswith("notify")]
    k = sum(v is not None for v in saved.values())
    assert told and "of %d classes with run 'eval'" % k in told[0], told
    shown = _op_view(client)["notice"]
    assert "Saved the optimal threshold (max F1, IoU %s)" % chosen(client, "iou") in shown
    # the notice goes with the next change
    client.call("on_sort", value="class")
    assert _op_view(client).get("notice") is None
    ds.untag_labels("needs_review")


def _rendered(client):
    (req,) = [r for r in client.requests if r["operator_uri"].endswith("show_panel_output")]
    return req["params"]["output"]["type"]["properties"]


def _panel_md(client, name):
    return _rendered(client)[name]["default"]


def _op_view(client):
    return _rendered(client)[client.shown["op_key"]]["view"]


def test_completion_dialog_formats_numbers_and_omits_empty_warnings(evaluated):
    ds = evaluated
    summary = evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="eval",
                             confidence=0.3)
    op = foo.get_operator(URI)

    def dialog(results):
        ctx = ExecutionContext(request_params={"dataset_name": ds.name, "results": results})
        return op.resolve_output(ctx).to_json()["type"]["properties"]

    props = dialog(summary)
    assert not any(k.startswith("warning") for k in props), props
    text = props["report"]["default"]
    assert "| %.3f | %.3f | %.3f |" % (summary["mAP"], summary["AP50"], summary["AP75"]) in text
    assert "precision %.3f, recall %.3f" % (summary["precision"], summary["recall"]) in text
    assert "confidence threshold 0.30" in text
    raw = repr(summary["mAP"])
    assert len(raw) > 6 and raw not in text, "no raw floats"
    props = dialog(dict(summary, warnings=["Image sizes are unknown"]))
    assert props["warning_0"]["view"]["label"] == "Image sizes are unknown"
