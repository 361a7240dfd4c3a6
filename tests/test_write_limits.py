"""Writes within MongoDB's limits: the same inputs either succeed or change nothing."""

import numpy as np
import pytest

import fiftyone as fo

from operators import labels_io
from tests.fodata import evaluate_model, snapshot


def _crowded_image(num_preds, num_gt=60, seed=0):
    rng = np.random.default_rng(seed)
    boxes = np.c_[rng.uniform(0, 0.9, (num_preds, 2)), rng.uniform(0.01, 0.1, (num_preds, 2))]
    preds = [fo.Detection(label="car", bounding_box=b.tolist(), confidence=float(c))
             for b, c in zip(boxes, rng.random(num_preds))]
    gts = [fo.Detection(label="car", bounding_box=b.tolist()) for b in boxes[:num_gt]]
    return fo.Sample(filepath="/nonexistent/crowded.jpg",
                     metadata=fo.ImageMetadata(width=1000, height=1000),
                     predictions=fo.Detections(detections=preds),
                     ground_truth=fo.Detections(detections=gts))


def test_one_sample_set_is_split_below_the_update_limit():
    sets = {"predictions.detections.%d.ea_error" % i: "classification" for i in range(300_000)}
    parts = [part for part, _ in labels_io._pieces(sets)]
    assert len(parts) > 1 and sum(len(p) for p in parts) == len(sets)
    assert max(sum(labels_io._element_bytes(k, v) for k, v in p.items())
               for p in parts) <= labels_io.PIECE_BYTES


@pytest.mark.parametrize("num_preds", [78_000])
def test_an_image_with_tens_of_thousands_of_predictions_succeeds_or_changes_nothing(num_preds):
    ds = fo.Dataset()
    ds.add_samples([_crowded_image(num_preds), _crowded_image(20, num_gt=5, seed=1)], progress=False)
    try:
        before = snapshot(ds)
        try:
            summary = evaluate_model(ds, pred_field="predictions", gt_field="ground_truth",
                                     eval_key="ea")
        except Exception as e:
            assert "16 MB document limit" in str(e) and "exclude(" in str(e)
            assert snapshot(ds) == before
            assert num_preds == 78_000  # the smaller image must fit
            return
        assert ds.count("predictions.detections.ea") == num_preds + 20
        assert ds.count("predictions.detections.ea_error") == summary["tp"] + summary["fp"]
        assert sum(ds.values("ea_tp")) == summary["tp"]
    finally:
        ds.delete()
