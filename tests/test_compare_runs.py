"""compare_runs: the two runs' numbers equal their own summaries, the paired interval is
seeded and holds the difference, flips and the difference matrix equal what the per-label
fields and each run's matrix say; runs that cannot be paired are refused."""

import numpy as np
import pytest

import fiftyone as fo
import fiftyone.operators as foo

from tests.fodata import evaluate_model, random_dataset
from tests.taskdata import classification_dataset

URI = "@error-atlas/error-atlas/compare_runs"


def compare_runs(collection, **params):
    return foo.get_operator(URI)(collection, **params)


@pytest.fixture(scope="module")
def two_runs():
    ds = random_dataset(seed=7, num_samples=120)
    rng = np.random.default_rng(2)
    for s in ds.iter_samples(autosave=True):  # model B: other confidences, some boxes dropped
        dets = [d.copy() for d in s.predictions.detections if rng.random() < 0.85]
        for d in dets:
            d.confidence = float(np.clip(d.confidence + rng.normal(0, 0.2), 0.01, 1))
        s["predictions_b"] = fo.Detections(detections=dets)
    a = evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="a",
                       confidence=0.3)
    b = evaluate_model(ds, pred_field="predictions_b", gt_field="ground_truth", eval_key="b",
                       confidence=0.3)
    yield ds, a, b
    ds.delete()


def test_side_by_side_equals_each_runs_summary(two_runs):
    ds, a, b = two_runs
    result = compare_runs(ds, eval_key="a", compare_key="b", num_boot=200, seed=1)
    assert result["num_units"] == len(ds)
    for k in ("mAP", "AP50", "precision", "recall", "f1"):
        m = result["metrics"][k]
        assert m["a"] == a[k] and m["b"] == b[k]
        assert m["diff"] == b[k] - a[k]
        lo, hi = m["ci"]
        assert lo <= hi
    again = compare_runs(ds, eval_key="a", compare_key="b", num_boot=200, seed=1)
    assert again["metrics"] == result["metrics"]
    per_class = {r["class"]: r for r in result["per_class"]}
    for c, ap in a["per_class_AP"].items():
        assert per_class[c]["a"] == pytest.approx(ap, abs=1e-12)
        assert per_class[c]["delta"] == pytest.approx(b["per_class_AP"][c] - ap, abs=1e-12)
    deltas = [abs(r["delta"]) for r in result["per_class"] if r["delta"] is not None]
    assert deltas == sorted(deltas, reverse=True)
    assert len(result["curves"]["a"]["f1"]) > 10 and len(result["curves"]["b"]["f1"]) > 10
    import sys
    md = sys.modules[foo.get_operator(URI).__module__].result_md(result)  # the App's dialog
    assert "| mAP | %.3f | %.3f | %+.3f |" % (a["mAP"], b["mAP"], b["mAP"] - a["mAP"]) in md


def test_flips_equal_the_per_label_fields(two_runs):
    ds, _, _ = two_runs
    result = compare_runs(ds, eval_key="a", compare_key="b", num_boot=0)
    ids, in_a, in_b = ds.values(["ground_truth.detections.id", "ground_truth.detections.a",
                                 "ground_truth.detections.b"], unwind=True)
    a_only = sorted(i for i, x, y in zip(ids, in_a, in_b) if x == "tp" and y == "fn")
    b_only = sorted(i for i, x, y in zip(ids, in_a, in_b) if x == "fn" and y == "tp")
    assert sorted(result["flips"]["a_only"]) == a_only and a_only
    assert sorted(result["flips"]["b_only"]) == b_only and b_only
    module = foo.get_operator(URI).__module__
    import sys
    view = sys.modules[module].flips_view(ds, result, "a_only")
    assert sorted(view.values("ground_truth.detections.id", unwind=True)) == a_only


def test_difference_matrix_is_b_minus_a(two_runs):
    ds, _, _ = two_runs
    result = compare_runs(ds, eval_key="a", compare_key="b", num_boot=0)
    conf_a = ds.load_evaluation_results("a")
    rows, cols = result["confusion"]["rows"], result["confusion"]["columns"]
    diff = np.array(result["confusion"]["difference"])
    assert rows[-1] == "Not an object" and cols[-1] == "Not detected"
    # the diagonal: class-wise true positives, as the per-label fields count them
    for k, c in enumerate(rows[:-1]):
        tp = lambda key, field: len(ds.filter_labels(field, (fo.ViewField(key) == "tp") & (  # noqa: E731
            fo.ViewField("label") == c), only_matches=False).values(field + ".detections.id", unwind=True))
        assert diff[k, cols.index(c)] == tp("b", "predictions_b") - tp("a", "predictions")
    assert conf_a is not None


def test_classification_flips_equal_the_correct_field():
    ds = classification_dataset(seed=3, n=200)
    try:
        rng = np.random.default_rng(0)
        classes = list(ds.default_classes)
        for s in ds.iter_samples(autosave=True):
            p = s.predictions
            if p is not None:
                label = p.label if rng.random() < 0.8 else str(rng.choice(classes))
                s["other"] = fo.Classification(label=label, confidence=p.confidence)
        evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="ca",
                       classes=classes)
        evaluate_model(ds.exists("other"), pred_field="other", gt_field="ground_truth",
                       eval_key="cb", classes=classes)
        result = compare_runs(ds, eval_key="ca", compare_key="cb", num_boot=100)
        assert result["num_units"] == len(ds.exists("other"))
        # run A has logits (FiftyOne's top-k method: its field says "in the top k"), so
        # A's right answers are read off the labels; run B's field is FiftyOne's simple one
        view = ds.exists("other")
        ids, gt, pa, cb = view.values(["id", "ground_truth.label", "predictions.label", "cb"])
        ca = [g == p for g, p in zip(gt, pa)]
        assert sorted(result["flips"]["a_only"]) == sorted(i for i, x, y in zip(ids, ca, cb) if x and not y)
        assert sorted(result["flips"]["b_only"]) == sorted(i for i, x, y in zip(ids, ca, cb) if y and not x)
        acc_a = np.mean(ca)
        assert result["metrics"]["accuracy"]["a"] == pytest.approx(acc_a, abs=1e-12)
    finally:
        ds.delete()


def test_runs_that_cannot_be_paired_are_refused(two_runs):
    ds, _, _ = two_runs
    with pytest.raises(Exception, match="two different runs"):
        compare_runs(ds, eval_key="a", compare_key="a")
    with pytest.raises(Exception, match="No Error Atlas run 'zzz'"):
        compare_runs(ds, eval_key="a", compare_key="zzz")


def test_segmentation_comparison_and_flips_equal_the_per_image_fields():
    from tests.taskdata import TARGETS, evaluate_segmentation, plugin_module, segmentation_dataset

    ds = segmentation_dataset(seed=6, n=30)
    try:
        rng = np.random.default_rng(1)
        masks = []
        for m in ds.values("ground_truth.mask"):  # model B: right, or wrong on 2/3 of the image
            p = m.copy()
            if rng.random() < 0.4:
                p[:, :44] = rng.integers(0, 4)
            masks.append(fo.Segmentation(mask=p))
        ds.set_values("pred2", masks)
        ds.mask_targets = dict(ds.mask_targets, pred2=TARGETS)
        a = evaluate_segmentation(ds, "sa")
        b = plugin_module("operators.segmentation_run").evaluate_segmentations(
            ds, "pred2", "ground_truth", "sb", num_workers=1)
        result = compare_runs(ds, eval_key="sa", compare_key="sb", num_boot=100)
        m = result["metrics"]["mIoU"]
        assert m["a"] == a["mIoU"] and m["b"] == b["mIoU"] and m["diff"] == b["mIoU"] - a["mIoU"]
        assert result["curves"]["a"] is not None and result["curves"]["b"] is None  # no confidence
        ids, ma, mb = ds.values(["id", "sa_miou", "sb_miou"])
        assert sorted(result["flips"]["a_only"]) == sorted(
            i for i, x, y in zip(ids, ma, mb) if x >= 0.5 > y)
        assert sorted(result["flips"]["b_only"]) == sorted(
            i for i, x, y in zip(ids, ma, mb) if y >= 0.5 > x)
        assert result["flips"]["a_only"]  # B is wrong on 2/3 of some images
        rows = result["confusion"]["rows"]
        assert result["confusion"]["columns"][-1] == "Unlabeled" and len(rows) == 4
    finally:
        ds.delete()
