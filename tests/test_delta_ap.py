"""TIDE's dAP in the engine, the summary and the stored analysis (no tidecv needed)."""

import numpy as np
import pytest

import fiftyone as fo

from plugin import coco, detection, errors, tide
from tests.cocodata import engine_evaluate, random_case
from tests.fodata import evaluate_model, random_dataset


def without(gt, dets, drop_pred=(), drop_gt=()):
    drop_pred, drop_gt = set(drop_pred), set(drop_gt)
    anns = [a for i, a in enumerate(gt["annotations"]) if i not in drop_gt]
    return {**gt, "annotations": anns}, [d for i, d in enumerate(dets) if i not in drop_pred]


@pytest.mark.parametrize("seed", range(6))
def test_removal_fixes_equal_a_fresh_evaluation_without_those_labels(seed, monkeypatch):
    """dAP of background, duplicate, both and missed: removing those predictions (objects)
    and evaluating again with COCO's own AP gives the same AP."""
    monkeypatch.setattr(tide, "RECALL_THRESHOLDS", coco.RECALL_THRESHOLDS)  # COCO's grid
    gt, dets = random_case(seed, max_images=30)
    # distinct confidences: after a fix TIDE orders equal confidences differently from COCO
    dets = [dict(d, score=d["score"] + 1e-9 * i) for i, d in enumerate(dets)]
    ev = engine_evaluate(gt, dets)
    a = ev.assess(0.5)
    d = ev.delta_ap(0.5)
    assert abs(d["AP"] - ev.coco.stats["AP50"]) < 1e-12
    checked = 0
    for name, code in (("background", errors.BACKGROUND), ("duplicate", errors.DUPLICATE),
                       ("both", errors.BOTH)):
        drop = np.flatnonzero(a.pred_error == code)
        if drop.size:
            fresh = engine_evaluate(*without(gt, dets, drop_pred=drop)).coco.stats["AP50"]
            assert abs(d["main"][name] - max(fresh - d["AP"], 0)) < 1e-12, name
            checked += 1
    missed = np.flatnonzero(a.gt_error == errors.MISSED)
    if missed.size:
        fresh = engine_evaluate(*without(gt, dets, drop_gt=missed)).coco.stats["AP50"]
        assert abs(d["main"]["missed"] - max(fresh - d["AP"], 0)) < 1e-12
        checked += 1
    assert checked


def test_perfect_predictions_gain_nothing_and_an_empty_model_everything_by_recall():
    boxes = [[0, 0, 10, 10], [20, 0, 10, 10]]
    ev = detection.evaluate(["A"], [0, 0], [0, 0], [0.9, 0.8], boxes, [0, 0], [0, 0], boxes)
    d = ev.delta_ap(0.5)
    assert d["AP"] == 1.0
    assert all(v == 0 for v in d["main"].values()) and all(v == 0 for v in d["special"].values())
    # one of two objects found, one background prediction above it
    ev = detection.evaluate(["A"], [0, 0], [0, 0], [0.9, 0.8], [[50, 50, 5, 5], boxes[0]],
                            [0, 0], [0, 0], boxes)
    d = ev.delta_ap(0.5)
    assert d["AP"] == pytest.approx(51 * 0.5 / 101)  # precision 0.5 up to recall 0.5
    assert d["main"]["background"] == pytest.approx(51 / 101 - d["AP"])
    assert d["special"]["false_positives"] == pytest.approx(51 / 101 - d["AP"])
    assert d["main"]["missed"] == pytest.approx(0.5 - d["AP"])  # recall 1 at precision 0.5
    assert d["special"]["false_negatives"] == pytest.approx(0.5 - d["AP"])
    assert d["main"]["classification"] == d["main"]["localization"] == 0


def test_classification_fix_moves_the_prediction_to_its_object_class():
    # a B object found only by an A prediction: fixing classification makes it B's TP
    box = [0, 0, 10, 10]
    ev = detection.evaluate(["A", "B"], [0, 0], [0, 0], [0.9, 0.8], [box, [40, 0, 10, 10]],
                            [0, 0], [1, 0], [box, [40, 0, 10, 10]])
    assert ev.assess(0.5).pred_error.tolist() == [errors.CLASSIFICATION, errors.CORRECT]
    d = ev.delta_ap(0.5)
    assert d["AP"] == pytest.approx(0.25)  # A: precision 0.5 at recall 1, B: 0
    assert d["main"]["classification"] == pytest.approx(0.75)  # A and B: 1


def test_summary_and_stored_analysis_carry_delta_ap():
    dataset = random_dataset(seed=3, num_samples=30)
    try:
        summary = evaluate_model(dataset, pred_field="predictions", gt_field="ground_truth",
                                 eval_key="dap")
        stored = dataset.load_run_results("error_atlas_dap", cache=False).delta_ap
        assert stored == summary["delta_ap"]
        assert set(stored["main"]) == set(tide.MAIN) and set(stored["special"]) == set(tide.SPECIAL)
        assert abs(stored["AP"] - summary["AP50"]) < 2e-3 and stored["main"]["classification"] > 0
    finally:
        dataset.delete()


def test_evaluation_explorer_sends_the_runs_delta_ap_as_horizontal_bars():
    from tests.test_panel_callbacks import PanelClient

    dataset = random_dataset(seed=5, num_samples=30)
    try:
        summary = evaluate_model(dataset, pred_field="predictions", gt_field="ground_truth",
                                 eval_key="dap")
        client = PanelClient(dataset).call("on_load")
        (trace,) = client.data["delta_ap"]
        assert trace["orientation"] == "h"
        assert trace["y"] == ["Cls", "Loc", "Both", "Dupe", "Bkg", "Miss", "FalsePos", "FalseNeg"]
        d = summary["delta_ap"]
        expected = [round(100 * v, 2) for v in list(d["main"].values()) + list(d["special"].values())]
        assert trace["x"] == expected and max(expected) > 0
        assert "IoU 0.50" in client.shown["delta_ap_layout"]["title"]["text"]
    finally:
        dataset.delete()
