"""A failed evaluate_model call changes nothing: undeclared label attributes,
overlong keys and writes beyond MongoDB's limits are refused before the first write."""

import numpy as np
import pytest
from bson import ObjectId

import fiftyone as fo

from tests.fodata import evaluate_model, label_values, random_dataset, snapshot

PARAMS = dict(pred_field="predictions", gt_field="ground_truth")


def set_attribute(dataset, field, name, value):
    """Gives every label of ``field`` an attribute the schema does not declare."""
    for sample in dataset.iter_samples(autosave=True):
        for det in sample[field].detections:
            det[name] = value
    assert field + ".detections." + name not in dataset.get_field_schema(flat=True)


@pytest.mark.parametrize("eval_key,field,name,value", [
    ("eval", "predictions", "eval_iou", 0.5),  # the user's own <key>_iou
    ("iscrowd", "ground_truth", "iscrowd", False),  # random_dataset gives every object one
    ("area", "ground_truth", "area", 123.0),
])
def test_undeclared_label_attributes_are_never_overwritten(eval_key, field, name, value):
    ds = random_dataset(seed=51, num_samples=10)
    if name != "iscrowd":
        set_attribute(ds, field, name, value)
    before = snapshot(ds)
    with pytest.raises(Exception, match=r"overwrite existing values.*%s\.detections\.%s" % (
            field, name)):
        evaluate_model(ds, eval_key=eval_key, **PARAMS)
    assert snapshot(ds) == before
    ds.delete()


def test_rerun_of_a_key_may_replace_its_own_values():
    ds = random_dataset(seed=52, num_samples=10)
    evaluate_model(ds, eval_key="ea", **PARAMS)
    first = label_values(ds, "predictions.detections.ea")
    evaluate_model(ds, eval_key="ea", **PARAMS)
    assert label_values(ds, "predictions.detections.ea") == first
    ds.delete()


@pytest.mark.parametrize("key,pattern", [("e" * 20000, "20000 characters long; use at most 64"),
                                         ("évaluation", "not valid"), ("_private", "not valid")])
def test_eval_key_length_and_characters_are_checked_first(key, pattern):
    ds = random_dataset(seed=53, num_samples=6)
    before = snapshot(ds)
    with pytest.raises(Exception, match=pattern):
        evaluate_model(ds, eval_key=key, **PARAMS)
    assert snapshot(ds) == before
    ds.delete()


def crowded_dataset(num_preds, num_gts=500, seed=0):
    """Two images, the first with ``num_preds`` predictions: stored directly as
    FiftyOne stores Detections (building 78,000 Detection objects takes a minute)."""
    rng = np.random.default_rng(seed)
    ds = fo.Dataset()
    ds.add_samples([fo.Sample(filepath="/x/%d.jpg" % i,
                              metadata=fo.ImageMetadata(width=640, height=480),
                              predictions=fo.Detections(), ground_truth=fo.Detections())
                    for i in range(2)], progress=False)
    xy = rng.uniform(0, 0.9, (num_preds, 2))
    boxes = np.column_stack([xy, np.full((num_preds, 2), 0.05)]).tolist()
    conf = rng.random(num_preds).tolist()
    preds = [{"_id": ObjectId(), "_cls": "Detection", "label": "cat", "bounding_box": b,
              "confidence": c, "tags": [], "attributes": {}} for b, c in zip(boxes, conf)]
    gts = [{"_id": ObjectId(), "_cls": "Detection", "label": "cat",
            "bounding_box": [b[0] + 0.002, b[1], 0.05, 0.05], "tags": [], "attributes": {}}
           for b in boxes[:num_gts]]
    first = ds.first()
    ds._sample_collection.update_one({"_id": first._id}, {"$set": {
        "predictions.detections": preds, "ground_truth.detections": gts}})
    ds.reload()
    return ds


def raw_state(ds):
    ds.reload()
    return (sorted(ds.get_field_schema(flat=True)), ds.list_evaluations(), ds.list_runs(),
            list(ds._sample_collection.find()))


def test_a_sample_that_would_outgrow_16_mb_is_refused_before_writing():
    ds = crowded_dataset(78000)
    before = raw_state(ds)
    with pytest.raises(Exception, match=r"over MongoDB's 16 MB document limit, so nothing was "
                                        r"written.*filter_labels"):
        evaluate_model(ds, eval_key="ea", **PARAMS)
    assert raw_state(ds) == before
    ds.delete()


def test_a_large_update_is_written_in_pieces_and_reaches_every_label():
    ds = crowded_dataset(30000)  # its $set (~6 MB) exceeds one 4 MB piece
    summary = evaluate_model(ds, eval_key="ea", **PARAMS)
    values = label_values(ds, "predictions.detections.ea")
    assert len(values) == 30000 and None not in values
    assert values.count("tp") == summary["tp"] == 500
    assert values.count("fp") == summary["fp"] == 29500
    assert sum(ds.values("ea_fn")) == summary["fn"] == 0
    errors = label_values(ds, "predictions.detections.ea_error")
    assert None not in errors and errors.count("correct") == 500
    ds.delete()
