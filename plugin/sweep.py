"""Precision, recall and F1 against the confidence threshold, exactly.

A prediction counts at threshold ``c`` when its confidence is ``>= c``. Because
greedy matching is prefix-consistent, the matches of the predictions above any
threshold are those of the full matching, so one class-wise matching gives
true/false positive flags and the whole curve is a cumulative sum over
predictions sorted by confidence, read at every distinct confidence.
"""

from dataclasses import dataclass

import numpy as np


@dataclass
class Sweep:
    """Operating points at every distinct confidence, highest first.

    Attributes:
        confidence, tp, fp, precision, recall, f1: (N,) arrays
        num_gt: ground-truth objects (crowds excluded)
    """

    confidence: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    num_gt: int

    @property
    def best(self):
        """Index of the maximum F1 (the highest confidence among ties), or None."""
        if self.f1.size == 0:
            return None
        return int(np.argmax(self.f1))

    def optimal(self):
        """The maximum-F1 operating point as a dict, or None without predictions."""
        i = self.best
        if i is None:
            return None
        return {
            "confidence": float(self.confidence[i]),
            "precision": float(self.precision[i]),
            "recall": float(self.recall[i]),
            "f1": float(self.f1[i]),
        }

    def at(self, confidence):
        """Operating point for threshold ``confidence`` (None = keep everything)."""
        if confidence is None:
            i = self.confidence.size - 1
        else:
            # confidences are descending: last index with confidence >= c
            i = int(np.searchsorted(-self.confidence, -confidence, side="right")) - 1
        if i < 0:
            return {"confidence": confidence, "tp": 0, "fp": 0, "precision": 0.0,
                    "recall": 0.0, "f1": 0.0}
        return {
            "confidence": confidence,
            "tp": int(self.tp[i]),
            "fp": int(self.fp[i]),
            "precision": float(self.precision[i]),
            "recall": float(self.recall[i]),
            "f1": float(self.f1[i]),
        }

    def downsample(self, max_points=200):
        """A plot-sized copy: evenly spaced points plus the first, last and optimal ones."""
        n = self.confidence.size
        if n <= max_points:
            return self
        keep = np.unique(np.r_[np.linspace(0, n - 1, max_points).round().astype(int), self.best])
        return Sweep(*(getattr(self, f)[keep] for f in
                       ("confidence", "tp", "fp", "precision", "recall", "f1")), self.num_gt)


def sweeps(score, label, tp, ignored, gt_label, num_classes, orders=None):
    """Overall and per-class sweeps.

    Args:
        score: (P,) confidences
        label: (P,) class indices
        tp: (P,) bool, matched class-wise
        ignored: (P,) bool, matched to a crowd region (neither TP nor FP)
        gt_label: (G,) class of every non-crowd ground-truth object
        num_classes: K
        orders: optional ``(by_score, by_class_then_score)`` orderings of all
            predictions (see :func:`sort_orders`); they do not depend on the
            IoU threshold, so callers sweeping several thresholds pass them once

    Returns:
        ``(overall, per_class)`` where ``per_class`` is a list of K sweeps
    """
    score = np.asarray(score, dtype=np.float64)
    label = np.asarray(label, dtype=np.int64)
    tp = np.asarray(tp, dtype=bool)
    keep = ~np.asarray(ignored, dtype=bool)
    by_score, by_class = orders if orders is not None else sort_orders(score, label)
    num_gt = np.bincount(np.asarray(gt_label, dtype=np.int64), minlength=num_classes)

    overall = _sweep(score, np.zeros_like(label), tp, by_score[keep[by_score]],
                     np.array([num_gt.sum()]))[0]
    per_class = _sweep(score, label, tp, by_class[keep[by_class]], num_gt)
    return overall, per_class


def sort_orders(score, label):
    """Predictions by descending confidence, overall and within each class (stable)."""
    score = np.asarray(score, dtype=np.float64)
    return np.argsort(-score, kind="stable"), np.lexsort((-score, label))


def _sweep(score, group, tp, order, num_gt):
    """One sweep per group, all groups in one vectorized pass; ``order`` sorts
    the kept predictions by (group, descending confidence)."""
    n_groups = num_gt.size
    score, group, tp = score[order], group[order], tp[order]
    counts = np.bincount(group, minlength=n_groups)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    cum_tp = np.cumsum(tp)
    cum_tp = cum_tp - np.r_[0, cum_tp][first]
    cum_n = np.arange(1, score.size + 1) - first

    # Distinct confidences: the last prediction of each (group, score) run.
    last = np.flatnonzero(np.r_[(group[1:] != group[:-1]) | (score[1:] != score[:-1]), True])
    last = last[last < score.size]
    g = group[last]
    conf, tp_l = score[last], cum_tp[last]
    fp_l = cum_n[last] - tp_l
    precision = tp_l / (tp_l + fp_l)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(num_gt[g] > 0, tp_l / num_gt[g], 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)

    # Each group's sweep is a view into these compact arrays (no copies).
    bounds = np.searchsorted(g, np.arange(n_groups + 1))
    return [Sweep(conf[a:b], tp_l[a:b], fp_l[a:b], precision[a:b], recall[a:b], f1[a:b],
                  int(num_gt[k])) for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))]
