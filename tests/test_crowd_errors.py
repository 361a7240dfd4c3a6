"""Crowd regions in error types: no error type, and never an error's target (as TIDE)."""

import numpy as np

from plugin import detection
from plugin.errors import BACKGROUND, ERROR_TYPES, LOCALIZATION, NOT_EVALUATED


def _evaluate(preds, gts):
    """preds: (image, class, score, box); gts: (image, class, box, crowd)."""
    return detection.evaluate(
        ["a", "b"], [p[0] for p in preds], [p[1] for p in preds], [p[2] for p in preds],
        [p[3] for p in preds], [g[0] for g in gts], [g[1] for g in gts], [g[2] for g in gts],
        gt_crowd=[g[3] for g in gts], iou=0.75)


CASES = _evaluate(
    preds=[
        (0, 1, 0.9, [10, 10, 5, 5]),      # other class, inside a crowd region (IoU 0.0025)
        (1, 0, 0.9, [0, 0, 100, 100]),    # matches a crowd region
        (1, 1, 0.8, [0, 0, 100, 90]),     # other class on that detected crowd region
        (2, 0, 0.9, [300, 300, 46, 40]),  # a real object at IoU 0.87 next to a crowd region
        (2, 0, 0.7, [305, 300, 40, 40]),  # same class, overlaps both
    ],
    gts=[
        (0, 0, [0, 0, 100, 100], True),
        (1, 0, [0, 0, 100, 100], True),
        (2, 0, [300, 300, 40, 40], False),
        (2, 0, [290, 290, 200, 200], True),
    ],
)


def test_crowd_regions_get_no_error_type_even_when_detected():
    for iou in (0.5, 0.75):
        a = CASES.assess(iou=iou)
        assert a.gt_error[0] == a.gt_error[1] == a.gt_error[3] == NOT_EVALUATED
        assert a.pred_error[1] == NOT_EVALUATED  # matched to a crowd region: ignored, as COCO


def test_crowd_regions_are_never_the_target_of_an_error():
    a = CASES.assess(iou=0.5)
    assert ERROR_TYPES[a.pred_error[0]] == "background"  # not `both` through crowd IoU
    assert ERROR_TYPES[a.pred_error[2]] == "background"  # not a duplicate of the crowd region
    targets = a.pred_target[a.pred_error > 0]
    assert not np.isin(targets, [0, 1, 3]).any()


def test_error_sweep_agrees_on_crowds():
    thresholds = np.array([0.0, 0.75, 0.85, 0.95])
    pred_error, gt_error = CASES.error_sweeps(0.5, thresholds)
    for j, c in enumerate(thresholds):
        a = CASES.assess(iou=0.5, confidence=c)
        np.testing.assert_array_equal(pred_error[j], a.pred_error)
        np.testing.assert_array_equal(gt_error[j], a.gt_error)
    assert (gt_error[:, [0, 1, 3]] == NOT_EVALUATED).all()
    assert BACKGROUND in pred_error[0] and LOCALIZATION not in pred_error[0, :2]
