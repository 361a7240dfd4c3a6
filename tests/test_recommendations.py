"""Each recommendation rule fires on the data it describes, and only there."""

import numpy as np

from plugin import detection
from plugin.recommendations import recommend

BOX = np.array([10.0, 10.0, 40.0, 40.0])


def scene(n=40, classes=("A", "B"), gt_label=None, pred_label=None, shift=0.0, extra=0,
          duplicates=0, keep=1.0):
    """n objects, one per image, detected with optional shift / class swaps / extras."""
    gt_label = np.zeros(n, int) if gt_label is None else np.asarray(gt_label)
    pred_label = gt_label.copy() if pred_label is None else np.asarray(pred_label)
    found = np.arange(n) < round(keep * n)
    p_img = list(np.flatnonzero(found))
    p_box = [BOX + [shift, 0, 0, 0]] * len(p_img)
    p_lab = list(pred_label[found])
    for i in range(duplicates):
        p_img.append(i)
        p_box.append(BOX + [2, 0, 0, 0])
        p_lab.append(gt_label[i])
    for i in range(extra):
        p_img.append(i % n)
        p_box.append(np.array([200.0, 200.0, 20.0, 20.0]))
        p_lab.append(0)
    score = np.linspace(0.9, 0.5, len(p_img))
    return detection.evaluate(list(classes), p_img, p_lab, score, p_box,
                              np.arange(n), gt_label, [BOX] * n)


def rules(ev, num_images=100, confidence=None):
    return {r.rule: r for r in recommend(ev, 0.5, confidence, num_images)}


def balanced_labels(n=40):
    return np.arange(n) % 2


def test_clean_model_gets_no_recommendation():
    assert rules(scene(gt_label=balanced_labels())) == {}


def test_small_evaluation_set():
    ev = scene(gt_label=balanced_labels())
    assert "small_evaluation_set" in rules(ev, num_images=12)
    assert "small_evaluation_set" not in rules(ev, num_images=30)


def test_many_missed_objects_points_to_missed():
    r = rules(scene(gt_label=balanced_labels(), keep=0.5))["many_missed"]
    assert r.show == {"error": "missed"} and "20 of 40" in r.evidence


def test_many_false_positives_points_to_background():
    r = rules(scene(gt_label=balanced_labels(), extra=30))["many_false_positives"]
    assert r.show == {"error": "background"}
    assert "many_missed" not in rules(scene(gt_label=balanced_labels(), extra=30))


def test_confused_pair_points_to_its_cell():
    gt = balanced_labels()
    pred = gt.copy()
    pred[:10:2] = 1  # five A objects detected as B
    found = rules(scene(gt_label=gt, pred_label=pred))
    r = found["confused_classes"]
    assert r.show == {"cell": [0, 1]} and "5 of 20 'A'" in r.evidence


def test_rare_confusions_are_not_reported():
    gt = balanced_labels()
    pred = gt.copy()
    pred[0] = 1
    assert "confused_classes" not in rules(scene(gt_label=gt, pred_label=pred))


def test_classes_with_few_objects():
    gt = np.r_[np.zeros(36, int), np.ones(4, int)]
    r = rules(scene(gt_label=gt))["few_objects"]
    assert r.show == {"class": "B"} and "Only 4" in r.evidence


def test_localization_errors_dominating():
    ev = scene(gt_label=balanced_labels(), shift=18.0)  # IoU 0.38: right class, poor box
    r = rules(ev)["localization"]
    assert r.show == {"error": "localization"}


def test_duplicates_point_to_nms():
    r = rules(scene(gt_label=balanced_labels(), duplicates=8))["duplicates"]
    assert r.show == {"error": "duplicate"} and "8 duplicate" in r.evidence


def test_rules_follow_the_operating_point():
    ev = scene(gt_label=balanced_labels(), extra=30)
    assert "many_false_positives" in rules(ev)
    # the extras have the lowest scores: a high threshold removes them
    assert "many_false_positives" not in rules(ev, confidence=0.6)


def test_recommendations_are_ordered_by_severity():
    ev = scene(gt_label=balanced_labels(), keep=0.3, extra=5)
    severities = [r.severity for r in recommend(ev, 0.5, None, 10)]
    assert severities == sorted(severities, reverse=True)
