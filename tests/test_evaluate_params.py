"""evaluate_detections' parameters in evaluate_model, compared with FiftyOne's own run."""

import pytest

from tests.fodata import evaluate_model, random_dataset, snapshot
from operators.errors import EvaluationInputError


@pytest.mark.parametrize("params", [dict(iou_threshs=[0.5, 0.75]), dict(max_preds=2),
                                    dict(missing="background")])
def test_parameter_gives_fiftyones_map_and_counts(params):
    ds = random_dataset(seed=7, crowd=True)
    try:
        summary = evaluate_model(ds, pred_field="predictions", gt_field="ground_truth",
                                 eval_key="ea", **params)
        theirs = ds.evaluate_detections("predictions", gt_field="ground_truth", eval_key="fo",
                                        method="coco", compute_mAP=True, progress=False, **params)
        ours = ds.load_evaluation_results("ea")
        assert summary["mAP"] == pytest.approx(theirs.mAP(), abs=1e-4)
        assert ours.mAP() == pytest.approx(theirs.mAP(), abs=1e-4)
        for c in ("tp", "fp", "fn"):
            assert ds.values("ea_%s" % c) == ds.values("fo_%s" % c)
        assert ours.missing == theirs.missing
        assert list(ours.ytrue) == list(theirs.ytrue) or sorted(map(str, ours.ytrue)) == sorted(
            map(str, theirs.ytrue))
    finally:
        ds.delete()


def test_classwise_false_is_refused_and_changes_nothing():
    ds = random_dataset(seed=8)
    try:
        before = snapshot(ds)
        with pytest.raises(Exception, match="classwise=False"):
            evaluate_model(ds, pred_field="predictions", gt_field="ground_truth",
                           eval_key="ea", classwise=False)
        assert snapshot(ds) == before
    finally:
        ds.delete()
