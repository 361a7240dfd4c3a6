"""evaluate_model on Classification fields equals FiftyOne's evaluate_classifications
(fields, results, report) and scikit-learn (metrics); bad input changes nothing."""

import numpy as np
import pytest
import sklearn.metrics as skm

import fiftyone as fo
import fiftyone.utils.eval.classification as fouc

from tests.fodata import evaluate_model, snapshot

CLASSES = ["cat", "dog", "bird", "fish", "frog"]


def classification_dataset(seed=0, n=400, classes=CLASSES, logits=True, missing_pred=0.05,
                           missing_gt=0.0, ties=True):
    """Real Classification labels from seeded logits: confusions, some samples
    without a prediction, optionally without ground truth, rounded confidences."""
    rng = np.random.default_rng(seed)
    k = len(classes)
    gt = rng.integers(0, k, n)
    z = rng.normal(size=(n, k)) + 2.0 * np.eye(k)[gt] * rng.random((n, 1))
    if ties:
        z = np.round(z, 1)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    samples = []
    for i in range(n):
        s = fo.Sample(filepath="/nonexistent/c%05d.png" % i)
        if rng.random() >= missing_gt:
            s["ground_truth"] = fo.Classification(label=classes[gt[i]])
        if rng.random() >= missing_pred:
            j = int(np.argmax(p[i]))
            conf = round(float(p[i, j]), 2) if ties else float(p[i, j])
            s["predictions"] = fo.Classification(
                label=classes[j], confidence=conf, logits=z[i].tolist() if logits else None)
        samples.append(s)
    ds = fo.Dataset()
    ds.add_samples(samples, progress=False)
    return ds


@pytest.fixture
def datasets():
    made = []
    yield made
    for ds in made:
        ds.delete()


def _report_equal(ours, theirs):
    a, b = ours.report(), theirs.report()
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == pytest.approx(b[key], abs=1e-12), key


def test_simple_method_equals_fiftyone(datasets):
    ds = classification_dataset(seed=1, logits=False, missing_gt=0.05)
    datasets.append(ds)
    summary = evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="ea",
                             classes=CLASSES, confidence=0.5)
    ds.evaluate_classifications("predictions", gt_field="ground_truth", eval_key="fo",
                                classes=CLASSES)
    assert summary["method"] == "simple"
    assert ds.values("ea") == ds.values("fo")
    ours, theirs = ds.load_evaluation_results("ea"), ds.load_evaluation_results("fo")
    assert type(ours) is fouc.ClassificationResults
    _report_equal(ours, theirs)
    np.testing.assert_array_equal(ours.confusion_matrix(), theirs.confusion_matrix())
    theirs_metrics = theirs.metrics()
    assert {k: v for k, v in ours.metrics().items() if k in theirs_metrics} == pytest.approx(
        theirs_metrics, abs=1e-12)
    assert ours.metrics()["optimal_confidence"] == summary["optimal_threshold"]  # our metric
    ours.print_report()
    assert ds.get_evaluation_info("ea").config.method == "simple"

    # the summary is at the run's threshold: a prediction below 0.5 abstains
    gt, pred = ds.values("ground_truth.label"), ds.values("predictions.label")
    conf = ds.values("predictions.confidence")
    rows = [i for i, g in enumerate(gt) if g is not None]
    y_true = [CLASSES.index(gt[i]) for i in rows]
    y_pred = [CLASSES.index(pred[i]) if pred[i] and conf[i] >= 0.5 else -1 for i in rows]
    assert summary["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred), abs=1e-12)
    assert summary["macro_f1"] == pytest.approx(
        skm.f1_score(y_true, y_pred, labels=range(5), average="macro", zero_division=0), abs=1e-12)
    assert summary["kappa"] == pytest.approx(skm.cohen_kappa_score(y_true, y_pred), abs=1e-12)
    assert any("have no label in 'ground_truth'" in w for w in summary["warnings"])


def test_error_types_and_run_status(datasets):
    ds = classification_dataset(seed=2)
    datasets.append(ds)
    evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="ea",
                   classes=CLASSES, confidence=0.4)
    errors = ds.values("ea_error")
    conf, gt, pred = (ds.values(p) for p in ("predictions.confidence", "ground_truth.label",
                                             "predictions.label"))
    for e, c, g, p in zip(errors, conf, gt, pred):
        if p is None or c < 0.4:
            assert e == "abstained"
        elif p == g:
            assert e in ("correct", "low_margin")
        else:
            assert e in ("confused", "label_suspect")
    assert {"correct", "confused", "abstained"} <= set(errors)
    run = ds.get_run_info("error_atlas_ea").config
    assert run.status == "completed" and run.kind == "classification"
    assert ds.get_field("ea_error") is not None
    ds.delete_evaluation("ea")
    assert not ds.has_field("ea_error") and not ds.has_field("ea")
    assert "error_atlas_ea" not in ds.list_runs()


def test_top_k_method_equals_fiftyone(datasets):
    ds = classification_dataset(seed=3)
    datasets.append(ds)
    summary = evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="ea",
                             classes=CLASSES, k=2)
    ds.evaluate_classifications("predictions", gt_field="ground_truth", eval_key="fo",
                                classes=CLASSES, method="top-k", k=2)
    assert summary["method"] == "top-k"
    assert ds.values("ea") == ds.values("fo")
    ours, theirs = ds.load_evaluation_results("ea"), ds.load_evaluation_results("fo")
    assert list(ours.ypred) == list(theirs.ypred)
    np.testing.assert_array_equal(ours.confs, theirs.confs)
    _report_equal(ours, theirs)
    assert ds.get_evaluation_info("ea").config.k == 2

    gt, logits = ds.values("ground_truth.label"), ds.values("predictions.logits")
    rows = [i for i, z in enumerate(logits) if z is not None]
    z = np.asarray([logits[i] for i in rows])
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    y = [CLASSES.index(gt[i]) for i in rows]
    assert summary["top_k"]["top_2"] == pytest.approx(
        skm.top_k_accuracy_score(y, p, k=2, labels=range(5)), abs=1e-12)
    assert summary["log_loss"] == pytest.approx(skm.log_loss(y, p, labels=range(5)), abs=1e-12)


def test_binary_method_equals_fiftyone(datasets):
    ds = classification_dataset(seed=4, classes=["ok", "defect"], logits=False)
    datasets.append(ds)
    summary = evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="ea",
                             classes=["ok", "defect"])
    ds.evaluate_classifications("predictions", gt_field="ground_truth", eval_key="fo",
                                classes=["ok", "defect"], method="binary")
    assert summary["method"] == "binary" and summary["positive_class"] == "defect"
    assert ds.values("ea") == ds.values("fo")
    ours, theirs = ds.load_evaluation_results("ea"), ds.load_evaluation_results("fo")
    assert type(ours) is fouc.BinaryClassificationResults
    assert ours.average_precision() == theirs.average_precision()
    _report_equal(ours, theirs)


def test_positive_class_reverses_the_binary_pair(datasets):
    ds = classification_dataset(seed=5, classes=["ok", "defect"], logits=False)
    datasets.append(ds)
    evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="ea",
                   classes=["ok", "defect"], positive_class="ok")
    ds.evaluate_classifications("predictions", gt_field="ground_truth", eval_key="fo",
                                classes=["defect", "ok"], method="binary")
    assert ds.values("ea") == ds.values("fo")
    assert ds.load_evaluation_results("ea").average_precision() == \
        ds.load_evaluation_results("fo").average_precision()


def test_dataset_default_classes_give_logits_their_order(datasets):
    ds = classification_dataset(seed=6)
    datasets.append(ds)
    ds.default_classes = CLASSES
    summary = evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="ea")
    assert summary["method"] == "top-k" and len(summary["top_k"]) == 5


def _rejected(collection, pattern, **params):
    ds = collection._dataset
    before = snapshot(ds)
    kwargs = dict(pred_field="predictions", gt_field="ground_truth", eval_key="ea")
    kwargs.update(params)
    with pytest.raises(Exception, match=pattern):
        evaluate_model(collection, **kwargs)
    assert snapshot(ds) == before


def test_bad_input_changes_nothing(datasets):
    ds = classification_dataset(seed=7, n=60)
    datasets.append(ds)
    _rejected(ds, r"have logits, but no class list.*classes=\[\.\.\.\]")
    ds.set_values("boxes", [fo.Detections()] * len(ds))
    _rejected(ds, r"'boxes' holds Detections, but a classification evaluation compares "
              r"fo.Classification", gt_field="boxes", classes=CLASSES)
    _rejected(ds, r"positive_class is for binary problems", classes=CLASSES, positive_class="cat")
    _rejected(ds, r"not in the class list", classes=CLASSES[:3])
    _rejected(ds, r"k \(top-k accuracy\) must be a positive whole number", classes=CLASSES, k=0)

    sample = ds.exists("predictions").first()
    sample["predictions"].logits = [0.0, 1.0]
    sample.save()
    _rejected(ds, r"Logits in 'predictions' have \[2, 5\] values, but there are 5 classes",
              classes=CLASSES)
    sample["predictions"].logits = None
    sample.save()
    _rejected(ds, r"of \d+ predictions in 'predictions' have logits: give every prediction",
              classes=CLASSES)


@pytest.mark.parametrize("value", [float("nan"), -0.1, 1.5])
def test_bad_confidence(datasets, value):
    ds = classification_dataset(seed=8, n=30, logits=False)
    datasets.append(ds)
    sample = ds.exists("predictions").first()
    sample["predictions"].confidence = value
    sample.save()
    _rejected(ds, r"confidence that is NaN or outside \[0, 1\] \(e.g. label id \w+: %s\)" % value,
              classes=CLASSES)


def test_empty_labels_and_views_without_labels(datasets):
    ds = classification_dataset(seed=9, n=30, logits=False, missing_gt=0.3)
    datasets.append(ds)
    _rejected(ds.exists("ground_truth", False), r"No sample in this view has a ground-truth label")
    sample = ds.exists("ground_truth").first()
    sample["ground_truth"] = fo.Classification(label="")
    sample.save()
    _rejected(ds, r"labels in 'ground_truth' have no `label`")
