"""Bad input gets a message naming the field and the fix, and changes nothing."""

import math

import pytest

import fiftyone as fo
from fiftyone import ViewField as F

from tests.fodata import evaluate_model, random_dataset, snapshot


@pytest.fixture
def ds():
    return random_dataset(seed=21, num_samples=12)


def assert_rejected(dataset, collection, pattern, **params):
    before = snapshot(dataset)
    kwargs = dict(pred_field="predictions", gt_field="ground_truth", eval_key="ea")
    kwargs.update(params)
    with pytest.raises(Exception, match=pattern):
        evaluate_model(collection, **kwargs)
    assert snapshot(dataset) == before


def first_label(dataset, field):
    sample = dataset.match(F(field + ".detections").length() > 0).first()
    return sample, sample[field].detections[0]


def test_missing_field_names_the_available_ones(ds):
    assert_rejected(ds, ds, r"'preds' does not exist.*Detections fields: ground_truth, predictions",
                    pred_field="preds")


def test_eval_key_too_long_is_refused_before_any_write(ds):
    assert_rejected(ds, ds, r"20000 characters long; use at most 64", eval_key="k" * 20000)


def test_undeclared_attribute_of_the_same_name_is_never_overwritten():
    ds = random_dataset(seed=22, num_samples=6)
    ds.clear_cache()
    coll = ds._dataset._sample_collection  # the user's own values, written without a schema change
    sample = ds.match(F("predictions.detections").length() > 0).first()
    coll.update_one({"_id": sample._id}, {"$set": {"predictions.detections.0.ea_iou": "mine"}})
    ds.reload()
    assert "predictions.detections.ea_iou" not in ds.get_field_schema(flat=True)
    assert_rejected(ds, ds, r"would overwrite existing values.*predictions.detections.ea_iou")
    ds.delete()


def test_wrong_label_type(ds):
    ds.set_values("weather", [fo.Classification(label="sunny")] * len(ds))
    assert_rejected(ds, ds, r"'weather' holds Classification.*fo.Detections", gt_field="weather")


def test_same_field_twice(ds):
    assert_rejected(ds, ds, "two different fields", gt_field="predictions")


def test_empty_view(ds):
    assert_rejected(ds, ds.limit(0), "view is empty")


@pytest.mark.parametrize("box", [[0.1, 0.1, 0.0, 0.2], [0.1, 0.1, -0.1, 0.2], [math.nan, 0.1, 0.2, 0.2]])
def test_degenerate_boxes(ds, box):
    sample, det = first_label(ds, "ground_truth")
    det.bounding_box = box
    sample.save()
    assert_rejected(ds, ds, r"ground truth boxes in 'ground_truth' are missing, NaN or have zero.*"
                    r"filter_labels", )


def test_prediction_without_confidence(ds):
    sample, det = first_label(ds, "predictions")
    det.confidence = None
    sample.save()
    assert_rejected(ds, ds, r"1 predictions in 'predictions' have no confidence.*use 1.0")


def test_masks_requested_but_absent(ds):
    assert_rejected(ds, ds, r"use_masks is on but .* have no instance mask", use_masks=True)


def test_key_of_another_kind_of_evaluation(ds):
    ds.set_values("cls_gt", [fo.Classification(label="a")] * len(ds))
    ds.set_values("cls_pred", [fo.Classification(label="a", confidence=0.5)] * len(ds))
    ds.evaluate_classifications("cls_pred", gt_field="cls_gt", eval_key="ea")
    assert_rejected(ds, ds, r"already used by a classification evaluation.*delete_evaluation\('ea'\)")


def test_key_of_fiftyone_detection_evaluation_is_not_replaced(ds):
    ds.evaluate_detections("predictions", gt_field="ground_truth", eval_key="ea", progress=False)
    assert_rejected(ds, ds, r"already used by a detection evaluation \(method 'coco'\)")


@pytest.mark.parametrize("key,pattern", [("", "eval_key"), ("my key", "not valid"),
                                         ("1st", "not valid")])
def test_invalid_eval_key(ds, key, pattern):
    assert_rejected(ds, ds, pattern, eval_key=key)


def test_iou_out_of_range(ds):
    assert_rejected(ds, ds, r"iou\b.*0.95", iou=1.5)


def test_no_objects_at_all():
    dataset = fo.Dataset()
    dataset.add_samples([fo.Sample(filepath="/x/%d.jpg" % i, ground_truth=fo.Detections(),
                                   predictions=fo.Detections()) for i in range(3)])
    assert_rejected(dataset, dataset, "Neither 'predictions' nor 'ground_truth' contains any object")


def test_label_without_class_name(ds):
    sample, det = first_label(ds, "predictions")
    det.label = None
    sample.save()
    assert_rejected(ds, ds, r"prediction labels in 'predictions' have no `label`")
