"""``evaluate_model`` on real FiftyOne datasets, compared with FiftyOne's own evaluation."""

import numpy as np
import pytest

import fiftyone as fo
import fiftyone.operators as foo
import fiftyone.utils.eval.coco as foec
from fiftyone import ViewField as F

from tests.fodata import URI, evaluate_model, label_values, random_dataset, snapshot


def assert_same_as_fiftyone(collection, ours="ea", theirs="fo"):
    for field in ("predictions", "ground_truth"):
        for suffix in ("", "_id"):
            a = label_values(collection, "%s.detections.%s%s" % (field, ours, suffix))
            b = label_values(collection, "%s.detections.%s%s" % (field, theirs, suffix))
            assert a == b, (field, suffix)
        a = np.array(label_values(collection, "%s.detections.%s_iou" % (field, ours)), dtype=float)
        b = np.array(label_values(collection, "%s.detections.%s_iou" % (field, theirs)), dtype=float)
        np.testing.assert_allclose(a, b, rtol=1e-9, equal_nan=True)
    for count in ("tp", "fp", "fn"):
        assert collection.values("%s_%s" % (ours, count)) == collection.values("%s_%s" % (theirs, count))


@pytest.mark.parametrize("iou", [0.5, 0.75, 0.3])
def test_per_label_results_equal_fiftyone_evaluate_detections(iou):
    ds = random_dataset(seed=int(iou * 100), crowd=True)
    summary = evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="ea",
                             iou=iou)
    theirs = ds.evaluate_detections("predictions", gt_field="ground_truth", eval_key="fo",
                                    iou=iou, compute_mAP=True, progress=False)
    assert_same_as_fiftyone(ds)
    assert summary["mAP"] == pytest.approx(theirs.mAP(), abs=1e-9)


def test_results_are_a_standard_fiftyone_coco_run():
    ds = random_dataset(seed=1)
    summary = evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="ea")
    results = ds.load_evaluation_results("ea")
    assert isinstance(results, foec.COCODetectionResults)
    assert results.mAP() == pytest.approx(summary["mAP"], abs=1e-12)
    assert results.config.method == "coco" and results.config.iou == 0.5
    report = results.report()
    assert report["micro avg"]["precision"] == pytest.approx(summary["precision"])
    assert report["micro avg"]["recall"] == pytest.approx(summary["recall"])
    patches = ds.to_evaluation_patches("ea")
    counts = patches.count_values("type")
    assert counts.get("fp", 0) == summary["fp"] and counts.get("fn", 0) == summary["fn"]
    theirs = ds.evaluate_detections("predictions", gt_field="ground_truth", eval_key="fo",
                                    progress=False)
    np.testing.assert_array_equal(results.confusion_matrix(), theirs.confusion_matrix())
    assert results.plot_pr_curves() is not None


def test_execute_operator_with_a_view_context_returns_the_summary():
    ds = random_dataset(seed=2)
    view = ds.match(F("ground_truth.detections").length() > 0)
    result = foo.execute_operator(URI, ctx=dict(view=view, params=dict(
        pred_field="predictions", gt_field="ground_truth", eval_key="ea")))
    summary = result.result
    assert summary["num_images"] == len(view)
    assert set(summary["per_class_AP"]) == {"car", "cat", "dog"}
    assert 0 < summary["optimal_threshold"] <= 1
    assert sum(ds.values("ea_tp", missing_value=0)) == summary["tp"]
    assert ds.count("ea_tp") == len(view)  # samples outside the view are untouched


def test_filtered_labels_are_written_at_their_true_positions():
    ds = random_dataset(seed=3)
    view = ds.filter_labels("predictions", F("confidence") > 0.4, only_matches=False)
    evaluate_model(view, pred_field="predictions", gt_field="ground_truth", eval_key="ea")
    view.evaluate_detections("predictions", gt_field="ground_truth", eval_key="fo", progress=False)
    assert_same_as_fiftyone(view)
    hidden = ds.filter_labels("predictions", F("confidence") <= 0.4)
    assert set(label_values(hidden, "predictions.detections.ea")) <= {None}


def test_instance_masks_match_fiftyone_mask_evaluation():
    ds = random_dataset(seed=4, num_samples=15, masks=True)
    evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="ea",
                   use_masks=True)
    ds.evaluate_detections("predictions", gt_field="ground_truth", eval_key="fo", use_masks=True,
                           progress=False)
    assert_same_as_fiftyone(ds)


def test_confidence_threshold_sets_the_operating_point():
    ds = random_dataset(seed=5)
    summary = evaluate_model(ds, pred_field="predictions", gt_field="ground_truth",
                             eval_key="ea", confidence=0.5)
    low = ds.filter_labels("predictions", F("confidence") < 0.5)
    assert set(label_values(low, "predictions.detections.ea")) == {None}
    high = ds.filter_labels("predictions", F("confidence") >= 0.5)
    assert None not in label_values(high, "predictions.detections.ea")
    assert sum(ds.values("ea_tp")) == summary["tp"]
    assert sum(ds.values("ea_fp")) == summary["fp"]
    assert sum(ds.values("ea_fn")) == summary["fn"]
    errors = ds.count_values("predictions.detections.ea_error")
    assert errors.get("correct") == summary["tp"]
    assert sum(v for k, v in errors.items() if k) == summary["tp"] + summary["fp"]


def test_rerun_with_the_same_key_replaces_the_old_run():
    ds = random_dataset(seed=6)
    ds.clone_sample_field("predictions", "other_predictions")
    evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="ea", iou=0.5)
    evaluate_model(ds, pred_field="other_predictions", gt_field="ground_truth", eval_key="ea",
                   iou=0.75)
    assert ds.list_evaluations() == ["ea"]
    assert ds.list_runs() == ["error_atlas_ea"]
    assert ds.get_evaluation_info("ea").config.iou == 0.75
    schema = ds.get_field_schema(flat=True)
    assert not [f for f in schema if f.startswith("predictions.detections.ea")]
    assert "other_predictions.detections.ea_error" in schema


def test_delete_evaluation_removes_every_field_and_the_analysis():
    ds = random_dataset(seed=7)
    before = sorted(ds.get_field_schema(flat=True))
    evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="ea")
    assert "predictions.detections.ea_error" in ds.get_field_schema(flat=True)
    ds.delete_evaluation("ea")
    assert sorted(ds.get_field_schema(flat=True)) == before
    assert ds.list_runs() == []
    assert set(label_values(ds, "predictions.detections.ea_error")) <= {None}


def test_user_fields_are_never_overwritten():
    ds = random_dataset(seed=8)
    ds.add_sample_field("ea_tp", fo.IntField)
    before = snapshot(ds)
    with pytest.raises(Exception, match="ea_tp"):
        evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="ea")
    assert snapshot(ds) == before


def test_classes_restrict_the_evaluation():
    ds = random_dataset(seed=9)
    summary = evaluate_model(ds, pred_field="predictions", gt_field="ground_truth",
                             eval_key="ea", classes=["cat"])
    assert set(summary["per_class_AP"]) == {"cat"}
    dogs = ds.filter_labels("predictions", F("label") == "dog")
    assert set(label_values(dogs, "predictions.detections.ea")) == {None}


def test_prediction_only_classes_are_reported_not_fatal():
    ds = random_dataset(seed=10)
    sample = ds.first()
    sample.predictions.detections.append(
        fo.Detection(label="zebra", bounding_box=[0.1, 0.1, 0.2, 0.2], confidence=0.9))
    sample.save()
    summary = evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="ea")
    assert summary["per_class_AP"]["zebra"] is None
    assert any("zebra" in w for w in summary["warnings"])
