"""Multi-label classification metrics: each sample holds any number of classes.

A (sample, class) prediction counts at threshold ``c`` when its confidence
is ``>= c``; it is a true positive when that class is in the sample's ground
truth. Metrics follow ``sklearn.metrics`` on indicator matrices with
``zero_division=0``.
"""

import numpy as np

from . import sweep


def indicators(num_samples, num_classes, sample, label):
    """(N, K) bool matrix with True at each ``(sample[i], label[i])``."""
    out = np.zeros((num_samples, num_classes), bool)
    out[np.asarray(sample, np.int64), np.asarray(label, np.int64)] = True
    return out


def predicted_at(scores, confidence=None):
    """(N, K) bool: predictions counted at the threshold (NaN = not predicted)."""
    has = np.isfinite(scores)
    return has if confidence is None else has & (np.nan_to_num(scores, nan=-np.inf) >= confidence)


def metrics(gt, pred):
    """Per-class and averaged P/R/F1, subset accuracy and Hamming loss
    (``precision_recall_fscore_support``, ``accuracy_score``, ``hamming_loss``)."""
    tp = np.count_nonzero(gt & pred, axis=0).astype(np.float64)
    support = gt.sum(axis=0).astype(np.float64)
    predicted = pred.sum(axis=0).astype(np.float64)
    div = lambda a, b: np.divide(a, b, out=np.zeros_like(a), where=b > 0)  # noqa: E731
    f1 = div(2 * tp, predicted + support)
    micro = lambda a, b: float(div(np.array([a]), np.array([b]))[0])  # noqa: E731
    return {
        "subset_accuracy": float(np.mean(np.all(gt == pred, axis=1))) if gt.size else 0.0,
        "hamming_loss": float(np.mean(gt != pred)) if gt.size else 0.0,
        "micro_precision": micro(tp.sum(), predicted.sum()),
        "micro_recall": micro(tp.sum(), support.sum()),
        "micro_f1": micro(2 * tp.sum(), predicted.sum() + support.sum()),
        "macro_precision": float(div(tp, predicted).mean()),
        "macro_recall": float(div(tp, support).mean()),
        "macro_f1": float(f1.mean()),
        "per_class_precision": div(tp, predicted).tolist(),
        "per_class_recall": div(tp, support).tolist(),
        "per_class_f1": f1.tolist(),
        "per_class_support": support.astype(int).tolist(),
    }


def sweeps(gt, scores):
    """``(overall, per_class)`` :class:`~.sweep.Sweep` of every (sample, class)
    prediction against the confidence threshold."""
    s, c = np.nonzero(np.isfinite(scores))
    return sweep.sweeps(scores[s, c], c, gt[s, c], np.zeros(s.size, bool),
                        np.nonzero(gt)[1], gt.shape[1])
