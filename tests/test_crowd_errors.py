"""Crowd regions in error types, as TIDE treats them: never typed, never a target."""

import numpy as np

from plugin import detection, errors


def names(codes):
    return [errors.ERROR_TYPES[c] if c >= 0 else None for c in codes]


def crowd_scene():
    """Class A=0, B=1. g0: a crowd of A (100x100); g1: a real A object next to it."""
    gt_box = [[0, 0, 100, 100], [120, 0, 20, 20]]
    pred_box = [[10, 10, 20, 20],    # A inside the crowd: matched to it, ignored (COCO)
                [50, 50, 6, 6],      # B inside the crowd: ordinary IoU 0.004, crowd IoU 1
                [104, 0, 20, 20],    # A: IoU 0.2 with g1, crowd IoU 0.8 with g0 (unmatched at 0.9)
                [300, 300, 5, 5]]    # background
    return detection.evaluate(["A", "B"], [0] * 4, [0, 1, 0, 0], [0.9, 0.8, 0.7, 0.6], pred_box,
                              [0, 0], [0, 0], gt_box, gt_crowd=[True, False], iou=0.9)


def test_a_crowd_region_matched_by_a_prediction_gets_no_error_type():
    a = crowd_scene().assess(iou=0.5)
    assert names(a.gt_error)[0] is None
    assert names(a.pred_error)[0] is None  # matched to the crowd: ignored
    sweep_pred, sweep_gt = crowd_scene().error_sweeps(0.5, [0.0, 0.85])
    assert names(sweep_gt[:, 0]) == [None, None]


def test_a_prediction_of_another_class_inside_a_crowd_is_background_not_both():
    a = crowd_scene().assess(iou=0.5)
    assert names(a.pred_error)[1] == "background"


def test_a_crowd_region_never_takes_an_error_from_a_real_object():
    # at IoU 0.9 prediction 2 is not matched to the crowd (crowd IoU 0.8); its only
    # real object is g1, so it is g1's localization error and g1 is not missed
    ev = crowd_scene()
    a = ev.assess(iou=0.9)
    assert names(a.pred_error)[2] == "localization" and a.pred_target[2] == 1
    assert names(a.gt_error) == [None, "localization"]
    sweep_pred, sweep_gt = ev.error_sweeps(0.9, [0.0, 0.65])
    np.testing.assert_array_equal(sweep_pred[0], a.pred_error)
    np.testing.assert_array_equal(sweep_gt[0], a.gt_error)
