"""The classification engine against scikit-learn, number for number."""

import numpy as np
import pytest
import sklearn.metrics as skm
from sklearn.calibration import calibration_curve

from plugin import classification, evaluation, multilabel, scores
from plugin import detection

TOL = 1e-12


def _case(n, k, seed, missing=0.0, ties=False, absent_pred=None, absent_gt=None):
    """Seeded predictions: logits that favour the true class, some rounded
    (ties), some samples without a prediction, optionally a class never
    predicted or never true."""
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, k, n)
    if absent_gt is not None:
        gt[gt == absent_gt] = (absent_gt + 1) % k
    logits = rng.normal(size=(n, k)) + 2.5 * np.eye(k)[gt] * rng.random((n, 1))
    if absent_pred is not None:
        logits[:, absent_pred] = -50
    if ties:
        logits = np.round(logits, 1)
    probs = scores.softmax(logits)
    pred = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    if ties:
        conf = np.round(conf, 2)
    pred = np.where(rng.random(n) < missing, -1, pred)
    return gt, pred, conf, probs


def _check_metrics(ev, gt, pred, confidence=None):
    labels = np.arange(ev.num_classes)
    y_pred = np.where(ev.kept(confidence), pred, -1)
    m = ev.metrics(confidence)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(gt, y_pred), abs=TOL)
    assert m["balanced_accuracy"] == pytest.approx(
        skm.balanced_accuracy_score(gt, y_pred), abs=TOL)
    assert m["kappa"] == pytest.approx(skm.cohen_kappa_score(gt, y_pred), abs=TOL)
    p, r, f, s = skm.precision_recall_fscore_support(gt, y_pred, labels=labels, zero_division=0)
    np.testing.assert_allclose(m["per_class_precision"], p, atol=TOL, rtol=0)
    np.testing.assert_allclose(m["per_class_recall"], r, atol=TOL, rtol=0)
    np.testing.assert_allclose(m["per_class_f1"], f, atol=TOL, rtol=0)
    np.testing.assert_array_equal(m["per_class_support"], s)
    for avg in ("micro", "macro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(
            gt, y_pred, labels=labels, average=avg, zero_division=0)
        assert (m[avg + "_precision"], m[avg + "_recall"], m[avg + "_f1"]) == pytest.approx(
            (p, r, f), abs=TOL), avg


def _check_probability_metrics(ev, gt, pred, probs, k=5):
    has = pred >= 0
    g, p = gt[has], probs[has]
    labels = np.arange(ev.num_classes)
    s = ev.summary()
    assert s["log_loss"] == pytest.approx(skm.log_loss(g, p, labels=labels), abs=TOL)
    assert s["brier"] == pytest.approx(skm.brier_score_loss(g, p, labels=labels), abs=TOL)
    for i in range(1, min(k, ev.num_classes - 1) + 1):
        ref = skm.top_k_accuracy_score(g, p, k=i, labels=labels)
        assert s["top_k"]["top_%d" % i] == pytest.approx(ref, abs=TOL), i
    for j in labels:
        y = g == j
        if y.any() and not y.all():
            assert ev.auc[j] == pytest.approx(skm.roc_auc_score(y, p[:, j]), abs=1e-12), j
            assert ev.ap[j] == pytest.approx(skm.average_precision_score(y, p[:, j]), abs=1e-12), j
        else:
            assert np.isnan(ev.auc[j])


def test_multiclass_at_scale_equals_sklearn():
    """100,000 samples over 20 classes, 3% without a prediction."""
    gt, pred, conf, probs = _case(100_000, 20, seed=0, missing=0.03)
    ev = classification.evaluate([str(i) for i in range(20)], gt, pred, conf, probs=probs, k=5)
    _check_metrics(ev, gt, pred)
    _check_metrics(ev, gt, pred, confidence=0.4)
    _check_probability_metrics(ev, gt, pred, probs)


def test_ties_absent_classes_and_missing_predictions():
    """Rounded scores (ties in every curve and in top-k), a class never
    predicted, a class never true, many samples without prediction."""
    gt, pred, conf, probs = _case(5000, 6, seed=1, missing=0.2, ties=True, absent_pred=4,
                                  absent_gt=2)
    ev = classification.evaluate(list("abcdef"), gt, pred, conf, probs=probs, k=5)
    for c in (None, 0.3, 0.5, 0.99):
        _check_metrics(ev, gt, pred, c)
    _check_probability_metrics(ev, gt, pred, probs)
    assert ev.per_class()[2]["support"] == 0 and ev.per_class()[2]["auc"] is None


def test_one_class():
    gt = np.zeros(50, int)
    pred = np.where(np.arange(50) % 5 == 0, -1, 0)
    ev = classification.evaluate(["only"], gt, pred, np.full(50, 0.9))
    _check_metrics(ev, gt, pred)
    assert ev.summary()["accuracy"] == 0.8


def test_binary_positive_class_scores_like_fiftyone():
    """Without logits, P(positive) is the confidence of a positive prediction
    and 1 - confidence of a negative one (FiftyOne's binary scores)."""
    rng = np.random.default_rng(2)
    gt = rng.integers(0, 2, 4000)
    pred = np.where(rng.random(4000) < 0.8, gt, 1 - gt)
    conf = np.round(rng.uniform(0.5, 1, 4000), 2)
    ev = classification.evaluate(["neg", "pos"], gt, pred, conf, positive=1)
    p_pos = np.where(pred == 1, conf, 1 - conf)
    assert ev.ap[1] == pytest.approx(skm.average_precision_score(gt, p_pos), abs=TOL)
    assert ev.auc[1] == pytest.approx(skm.roc_auc_score(gt, p_pos), abs=TOL)
    assert ev.summary()["brier"] == pytest.approx(skm.brier_score_loss(gt, p_pos), abs=TOL)
    assert ev.summary()["positive_class"] == "pos"
    _check_metrics(ev, gt, pred, 0.7)


def test_calibration_equals_calibration_curve():
    gt, pred, conf, probs = _case(20_000, 10, seed=3, missing=0.05)
    ev = classification.evaluate([str(i) for i in range(10)], gt, pred, conf, probs=probs)
    cal = ev.calibration()
    has = pred >= 0
    correct = pred[has] == gt[has]
    acc, mean_conf = calibration_curve(correct, conf[has], n_bins=15, strategy="uniform")
    full = [i for i, c in enumerate(cal["count"]) if c]
    np.testing.assert_allclose([cal["accuracy"][i] for i in full], acc, atol=TOL, rtol=0)
    np.testing.assert_allclose([cal["confidence"][i] for i in full], mean_conf, atol=TOL, rtol=0)
    counts = np.asarray(cal["count"])[full]
    gaps = np.abs(acc - mean_conf)
    assert cal["ece"] == pytest.approx(np.sum(gaps * counts) / has.sum(), abs=TOL)
    assert cal["mce"] == pytest.approx(gaps.max(), abs=TOL)


def test_sweep_and_confusion_at_every_threshold():
    """The vectorized sweep equals recomputing precision, recall and coverage
    at each threshold; confusion cells hold exactly their samples."""
    gt, pred, conf, probs = _case(3000, 5, seed=4, missing=0.1, ties=True)
    ev = classification.evaluate(list("abcde"), gt, pred, conf, probs=probs)
    overall, per_class = ev.sweeps()
    for c in (0.2, 0.35, 0.5, 0.8):
        kept = (pred >= 0) & (conf >= c)
        point = overall.at(c)
        tp = np.count_nonzero(kept & (pred == gt))
        assert point["tp"] == tp and point["fp"] == np.count_nonzero(kept) - tp
        assert point["recall"] == pytest.approx(tp / gt.size, abs=TOL)
        assert ev.coverage(c)[0] == pytest.approx(kept.mean(), abs=TOL)
        for j, s in enumerate(per_class):
            ref = skm.precision_score(gt, np.where(kept, pred, -1), labels=[j], average=None,
                                      zero_division=0)[0]
            assert s.at(c)["precision"] == pytest.approx(ref, abs=TOL)
        cm = ev.confusion(c)
        ref = skm.confusion_matrix(gt, np.where(kept, pred, 5), labels=range(6))[:5]
        np.testing.assert_array_equal(cm, ref)
        members = ev.members(1, 5, c)
        assert members.size == cm[1, 5]
        np.testing.assert_array_equal(members, np.flatnonzero((gt == 1) & ~kept))


def test_error_types():
    gt = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 0, 2, -1, 2, 1])
    conf = np.array([0.9, 0.5, 0.9, 0.0, 0.3, 0.9])
    probs = np.array([[0.9, 0.05, 0.05], [0.5, 0.45, 0.05], [0.05, 0.05, 0.9],
                      [0.3, 0.3, 0.4], [0.3, 0.4, 0.3], [0.05, 0.9, 0.05]])
    ev = classification.evaluate(list("abc"), gt, pred, conf, probs=probs,
                                 suspect=np.array([0, 0, 0, 0, 0, 1], bool))
    names = [classification.ERROR_TYPES[e] for e in ev.assess(0.4).error]
    assert names == ["correct", "low_margin", "confused", "abstained", "abstained",
                     "label_suspect"]


def test_label_issues_find_flipped_labels():
    """cleanlab flags most deliberately flipped labels among confident predictions."""
    pytest.importorskip("cleanlab")
    gt, pred, conf, probs = _case(4000, 4, seed=5)
    flipped = np.random.default_rng(5).random(4000) < 0.05
    noisy = np.where(flipped, (gt + 1) % 4, gt)
    strong = probs[np.arange(4000), gt] > 0.8
    issues = classification.label_issues(noisy, probs)
    assert issues[flipped & strong].mean() > 0.8
    assert issues[~flipped & (pred == gt)].mean() < 0.02  # agreeing labels are kept


def test_round_trip_and_protocol():
    gt, pred, conf, probs = _case(2000, 7, seed=6, missing=0.05)
    ev = classification.evaluate(list("abcdefg"), gt, pred, conf, probs=probs)
    ev.set_ids(["s%d" % i for i in range(2000)])
    back = evaluation.from_bytes("classification", ev.to_bytes())
    assert back.summary(0.3) == ev.summary(0.3)
    assert back.per_class(0.3) == ev.per_class(0.3)
    assert back.sample_ids[5] == "s5"
    assert isinstance(ev, evaluation.Evaluation)
    assert isinstance(_tiny_detection(), evaluation.Evaluation)
    assert evaluation.engine("detection") is detection.Evaluation


def _tiny_detection():
    return detection.evaluate(["a"], [0], [0], [0.9], [[0, 0, 10, 10]], [0], [0],
                              [[0, 0, 10, 10]])


def test_multilabel_equals_sklearn():
    rng = np.random.default_rng(7)
    gt = rng.random((20_000, 12)) < 0.2
    score = np.clip(gt * 0.5 + rng.random(gt.shape) * 0.6, 0, 1)
    score[rng.random(gt.shape) < 0.5] = np.nan  # only some classes are predicted
    score[:, 3] = np.nan  # a class never predicted
    for c in (None, 0.4, 0.7):
        pred = multilabel.predicted_at(score, c)
        m = multilabel.metrics(gt, pred)
        assert m["subset_accuracy"] == pytest.approx(skm.accuracy_score(gt, pred), abs=TOL)
        assert m["hamming_loss"] == pytest.approx(skm.hamming_loss(gt, pred), abs=TOL)
        for avg in ("micro", "macro"):
            assert m[avg + "_f1"] == pytest.approx(
                skm.f1_score(gt, pred, average=avg, zero_division=0), abs=TOL)
        p, r, f, s = skm.precision_recall_fscore_support(gt, pred, zero_division=0)
        np.testing.assert_allclose(m["per_class_f1"], f, atol=TOL, rtol=0)
        np.testing.assert_allclose(m["per_class_precision"], p, atol=TOL, rtol=0)
    overall, per_class = multilabel.sweeps(gt, score)
    pred = multilabel.predicted_at(score, 0.7)
    assert overall.at(0.7)["tp"] == np.count_nonzero(pred & gt)
    assert per_class[5].at(0.7)["recall"] == pytest.approx(
        skm.recall_score(gt[:, 5], pred[:, 5]), abs=TOL)
