"""Bad input of the classification, multi-label and segmentation tasks through
evaluate_model: a message naming the field and the fix, and nothing written
(the cases test_classification_model.py, test_multilabel_model.py and
test_segmentation_model.py do not cover)."""

import cv2
import numpy as np
import pytest

import fiftyone as fo

from tests.fodata import evaluate_model, snapshot
from tests.test_evaluate_tasks import mixed_dataset


@pytest.fixture
def ds():
    dataset = mixed_dataset(seed=11, n=12)
    yield dataset
    dataset.delete()


def rejected(dataset, pattern, **params):
    before = snapshot(dataset)
    with pytest.raises(Exception, match=pattern):
        evaluate_model(dataset, eval_key="ea", **params)
    assert snapshot(dataset) == before


@pytest.mark.parametrize("pred,gt,pattern", [
    ("seg_pred", "cls_gt", r"ground truth field 'cls_gt' holds Classification, not Segmentation"),
    ("cls_pred", "seg_gt", r"'seg_gt' holds Segmentation, but a classification evaluation "
                           r"compares fo.Classification.*Classification fields: cls_gt, cls_pred"),
    ("cls_pred", "ml_gt", r"'ml_gt' holds Classifications, but a classification evaluation"),
    ("ml_pred", "cls_gt", r"'cls_gt' holds Classification, but a multi-label evaluation compares "
                          r"fo.Classifications"),
    ("ml_pred", "ground_truth", r"'ground_truth' holds Detections, but a multi-label"),
    ("predictions", "seg_gt", r"'seg_gt' holds Segmentation, but evaluate_model needs "
                              r"fo.Detections"),
])
def test_mixed_label_types(ds, pred, gt, pattern):
    rejected(ds, pattern, pred_field=pred, gt_field=gt)


def test_a_confidence_that_is_not_a_heatmap(ds):
    rejected(ds, r"confidence field 'cls_pred' holds Classification, not Heatmap",
             pred_field="seg_pred", gt_field="seg_gt", confidence_field="cls_pred")


def test_a_heatmap_of_the_wrong_size(ds):
    s = ds.first()
    s["seg_conf"] = fo.Heatmap(map=np.ones((5, 7), np.float32), range=[0, 1])
    s.save()
    rejected(ds, r"heatmap of sample \w+ has shape \(5, 7\), its ground truth \(32, 48\)",
             pred_field="seg_pred", gt_field="seg_gt", confidence_field="seg_conf")


def test_an_unreadable_mask_path(ds, tmp_path):
    s = ds.first()
    s["seg_pred"] = fo.Segmentation(mask_path=str(tmp_path / "gone.png"))
    s.save()
    rejected(ds, r"Could not read the mask file '.*gone.png': check the path",
             pred_field="seg_pred", gt_field="seg_gt")


def test_rgb_masks_without_colour_targets(ds, tmp_path):
    s = ds.first()
    path = str(tmp_path / "rgb.png")
    cv2.imwrite(path, np.dstack([s.seg_pred.mask] * 3))
    s["seg_pred"] = fo.Segmentation(mask_path=path)
    s.save()
    rejected(ds, r"RGB images but the classes have no colour targets.*'#rrggbb'",
             pred_field="seg_pred", gt_field="seg_gt")


def test_malformed_mask_targets_from_the_form(ds):
    rejected(ds, r"mask_targets must map mask values to class names",
             pred_field="seg_pred", gt_field="seg_gt", mask_targets="0=background")


def test_a_segmentation_view_without_masks(ds):
    s = ds.first()
    s["seg_gt"] = None
    s.save()
    rejected(ds, r"have no ground truth mask.*view.exists\('seg_gt'\)",
             pred_field="seg_pred", gt_field="seg_gt")
