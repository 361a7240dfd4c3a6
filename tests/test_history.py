"""History: each run's model and time, its metrics equal to the run's own results,
intervals equal to published references, regressions flagged exactly when the
difference interval lies below zero."""

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.metrics import accuracy_score

import fiftyone as fo

from plugin import history
from tests.fodata import evaluate_model, random_dataset, snapshot
from tests.taskdata import (classification_dataset, evaluate_segmentation, plugin_module,
                            segmentation_dataset)


def test_wilson_equals_scipy():
    rng = np.random.default_rng(0)
    n = rng.integers(1, 5000, 200)
    k = rng.integers(0, n + 1)
    low, high = history.wilson(k / n, n)
    ref = np.array([tuple(binomtest(int(a), int(b)).proportion_ci(method="wilson"))
                    for a, b in zip(k, n)])
    np.testing.assert_allclose(low, ref[:, 0], atol=1e-12)
    np.testing.assert_allclose(high, ref[:, 1], atol=1e-12)


@pytest.mark.parametrize("a, n, b, m, low, high", [
    (56, 70, 48, 80, 0.0524, 0.3339), (9, 10, 3, 10, 0.1705, 0.8090),
    (6, 7, 2, 7, 0.0582, 0.8062)])
def test_difference_interval_equals_newcombes_table(a, n, b, m, low, high):
    """Newcombe (Stat. Med. 1998), table II, method 10."""
    lo, hi = history.difference_interval(a / n, n, b / m, m)
    assert (round(float(lo), 4), round(float(hi), 4)) == (low, high)


def _run(key, recall_hits, n=400):
    return {"key": key, "metrics": {"recall": [recall_hits / n, n], "AP · car": [0.5, 50]}}


def test_regression_exactly_when_the_interval_is_below_zero():
    runs = [_run("base", 320)] + [_run("r%d" % k, k) for k in range(250, 341)]
    flags = history.regressions(runs, baseline="base")
    flagged = [k for k in range(250, 341) if "recall" in flags["r%d" % k]]
    # brute force: the Newcombe upper bound of each difference
    _, upper = history.difference_interval(np.arange(250, 341) / 400, 400, 0.8, 400)
    assert flagged == [k for k, u in zip(range(250, 341), upper) if u < 0]
    assert 0 < len(flagged) < 70 and flagged == list(range(250, flagged[-1] + 1))
    assert flags["base"] == [] and all("AP · car" not in f for f in flags.values())
    t = history.series(runs, "recall", baseline="r300")
    assert t["baseline"] == "r300" and t["regression"][0] is False and t["delta"][0] == pytest.approx(0.05)
    assert t["regression"][t["keys"].index("r250")] is True


def test_missing_metric_is_not_a_regression():
    runs = [_run("a", 300), {"key": "b", "metrics": {"recall": [0.1, 400]}}]
    s = history.series(runs, "AP · car", baseline="a")
    assert s["value"] == [0.5, None] and s["regression"] == [False, False]
    with pytest.raises(ValueError, match="no run records metric 'mAP'"):
        history.series(runs, "mAP")


def test_detection_runs_over_time_equal_their_results():
    ds = random_dataset(seed=3, num_samples=60)
    run_history = plugin_module("operators.run_history")
    try:
        first = evaluate_model(ds, pred_field="predictions", eval_key="v1",
                               model_name="shapes", model_version="1.0")
        # a worse model: drop a third of the predictions
        for s in ds.iter_samples(autosave=True):
            s["worse"] = fo.Detections(detections=s.predictions.detections[::3])
        second = evaluate_model(ds, pred_field="worse", eval_key="v2", confidence=0.3)
        runs = run_history.runs(ds)
        assert [r["key"] for r in runs] == ["v1", "v2"]
        assert runs[0]["time"] < runs[1]["time"]
        assert (runs[0]["model_name"], runs[0]["model_version"]) == ("shapes", "1.0")
        assert (runs[1]["model_name"], runs[1]["model_version"]) == ("worse", None)
        assert first["model_name"] == "shapes" and second["model_name"] == "worse"
        for run, summary in zip(runs, (first, second)):
            m = run["metrics"]
            results = ds.load_evaluation_results(run["key"])
            assert m["mAP"][0] == pytest.approx(results.mAP(), abs=1e-12)
            for k in ("mAP", "AP50", "AP75", "precision", "recall", "f1"):
                assert m[k][0] == summary[k]
            assert m["precision"][1] == summary["tp"] + summary["fp"]
            assert m["recall"][1] == summary["tp"] + summary["fn"] == summary["num_gt"]
            for c, ap in summary["per_class_AP"].items():
                assert m["AP" + history.SEP + c][0] == pytest.approx(ap, abs=1e-12)
        # recall at confidence 0.3 on a third of the predictions: a clear regression
        flags = history.regressions(runs, baseline="v1")
        assert "recall" in flags["v2"] and flags["v1"] == []
    finally:
        ds.delete()


def test_classification_and_segmentation_runs_are_recorded():
    cls = classification_dataset(seed=1, n=200)
    run_history = plugin_module("operators.run_history")
    try:
        summary = evaluate_model(cls, pred_field="predictions", eval_key="c1", model_version="7")
        runs = run_history.runs(cls)
        m = runs[0]["metrics"]
        assert runs[0]["task"] == "classification" and runs[0]["model_version"] == "7"
        truth, pred = cls.values("ground_truth.label"), cls.values("predictions.label")
        assert m["accuracy"][0] == pytest.approx(accuracy_score(truth, [p or "" for p in pred]),
                                                 abs=1e-12)
        assert m["accuracy"][1] == 200 and m["macro_f1"][0] == summary["macro_f1"]
        for c in ("cat", "dog"):  # a class's counts: its predictions and its support
            predicted, support = pred.count(c), truth.count(c)
            assert m["precision" + history.SEP + c][1] == predicted
            assert m["recall" + history.SEP + c][1] == support
            assert m["f1" + history.SEP + c][1] == (predicted + support) / 2
    finally:
        cls.delete()
    ds = segmentation_dataset(seed=2, n=12)
    try:
        summary = evaluate_segmentation(ds, eval_key="s1")
        run = run_history.runs(ds, task="segmentation")[0]
        assert run["metrics"]["mIoU"] == [summary["mIoU"], 12.0]
        assert run["model_name"] == "predictions"
        row = next(r for r in summary["per_class"] if r["name"] == "car")
        assert run["metrics"]["IoU · car"][0] == row["iou"]
    finally:
        ds.delete()


def test_runs_without_a_stored_record_get_it_from_their_analysis():
    ds = random_dataset(seed=4, num_samples=30)
    run_history = plugin_module("operators.run_history")
    try:
        evaluate_model(ds, pred_field="predictions", eval_key="old", confidence=0.2)
        stored = run_history.runs(ds)[0]["metrics"]
        key = "error_atlas_old"
        config = ds.get_run_info(key).config
        del config.history
        ds.update_run_config(key, config)
        assert getattr(ds.get_run_info(key).config, "history", None) is None
        assert run_history.runs(ds)[0]["metrics"] == stored
    finally:
        ds.delete()


def test_bad_model_name_is_refused_before_any_write():
    ds = random_dataset(seed=5, num_samples=10)
    try:
        before = snapshot(ds)
        with pytest.raises(Exception, match="model_name"):  # the form's validation
            evaluate_model(ds, pred_field="predictions", eval_key="bad", model_name=["a"])
        detection_run = plugin_module("operators.detection_run")
        with pytest.raises(Exception, match="model_version must be a string"):
            detection_run.evaluate_detections(ds, "predictions", "ground_truth", "bad",
                                              model_version={"v": 1})
        assert snapshot(ds) == before
    finally:
        ds.delete()


def test_multilabel_run_records_micro_metrics_on_its_pairs():
    from sklearn.metrics import f1_score, precision_score

    from tests.test_multilabel_model import indicators, multilabel_dataset

    ds = multilabel_dataset(seed=3, n=400)
    run_history = plugin_module("operators.run_history")
    try:
        summary = evaluate_model(ds, pred_field="predictions", eval_key="m1", model_name="tags")
        run = run_history.runs(ds)[0]
        gt, score = indicators(ds)
        pred = score >= 0
        m = run["metrics"]
        assert run["task"] == "multilabel" and run["model_name"] == "tags"
        assert m["micro_f1"][0] == pytest.approx(f1_score(gt, pred, average="micro"), abs=1e-12)
        assert m["micro_precision"][0] == pytest.approx(
            precision_score(gt, pred, average="micro"), abs=1e-12)
        assert m["micro_precision"][1] == pred.sum() and m["micro_recall"][1] == gt.sum()
        assert m["subset_accuracy"] == [summary["subset_accuracy"], 400.0]
    finally:
        ds.delete()
