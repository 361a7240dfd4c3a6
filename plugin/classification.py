"""Single-label classification evaluation (binary and multiclass): arrays in, everything out.

:func:`evaluate` takes one ground-truth class per sample, the predicted class
and its confidence, and optionally class probabilities (softmax of logits),
and returns an :class:`Evaluation` that answers every question at any
confidence threshold without the data set.

Semantics (the README's "Classification" section):
- a prediction counts at threshold ``c`` when its confidence is ``>= c``; one
  below it, or no prediction at all, is an *abstention*: a miss of the true
  class (its recall), never a false positive of another class;
- metrics follow ``sklearn.metrics`` with ``labels=range(K)`` and
  ``zero_division=0``; probability metrics (top-k, log loss, Brier, ROC, AP,
  calibration) are over the samples with a prediction.
"""

import io
import json
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from . import scores, sweep

ERROR_TYPES = ("correct", "confused", "abstained", "low_margin", "label_suspect")
CORRECT, CONFUSED, ABSTAINED, LOW_MARGIN, LABEL_SUSPECT = range(len(ERROR_TYPES))
BELOW = "Below threshold"  # the confusion matrix's last column
LOW_MARGIN_GAP = 0.1  # correct, but the runner-up's probability is within this
CALIBRATION_BINS = 15

ARRAY_FIELDS = ("gt_label", "pred_label", "pred_score", "true_rank", "margin", "suspect",
                "auc", "ap", "curve_points")
ID_FIELDS = ("sample_ids",)


def evaluate(classes, gt_label, pred_label, pred_score, probs=None, positive=None,
             k=5, suspect=None):
    """Evaluates single-label predictions.

    Args:
        classes: the K class names; labels index into it
        gt_label: (N,) true class of every sample (every sample has one)
        pred_label: (N,) predicted class, -1 for no prediction
        pred_score: (N,) confidence of the prediction (ignored where -1)
        probs: optional (N, K) class probabilities (rows of samples without a
            prediction are ignored), or only the rows of the samples with a
            prediction, in order (no copy is made of them); for two classes
            without them, the confidences give ``P(positive)`` as FiftyOne's
            binary method does
        positive: index of the positive class of a binary problem
        k: the largest top-k accuracy to report (where probabilities exist)
        suspect: optional (N,) bool, likely label errors (see :func:`label_issues`)

    Returns:
        an :class:`Evaluation`
    """
    gt_label = np.asarray(gt_label, dtype=np.int64)
    n, num = gt_label.size, len(classes)
    pred_label = np.asarray(pred_label, dtype=np.int64).reshape(n)
    pred_score = np.asarray(pred_score, dtype=np.float64).reshape(n)
    has = pred_label >= 0
    if probs is None and num == 2 and positive is not None:
        p_pos = np.where(pred_label == positive, pred_score, 1.0 - pred_score)
        probs = np.zeros((n, 2))
        probs[:, positive], probs[:, 1 - positive] = p_pos, 1.0 - p_pos
    true_rank = np.full(n, -1, dtype=np.int64)
    margin = np.full(n, np.nan)
    auc = ap = np.full(num, np.nan)
    curve_points = np.zeros((0, 4))
    prob_stats = {}
    if probs is not None and has.any():
        p, g = np.asarray(probs, dtype=np.float64), gt_label[has]
        if p.shape[0] != g.size:
            p = p[has]
        true_rank[has] = scores.true_rank(p, g)
        margin[has] = scores.margin(p)
        auc, ap, roc, pr = scores.one_vs_rest(p, g)
        curve_points = _pack_curves(roc, pr)
        prob_stats = {"log_loss": scores.log_loss(p, g), "brier": scores.brier(p, g)}
    return Evaluation(
        classes, gt_label=gt_label, pred_label=pred_label,
        pred_score=np.where(has, pred_score, np.nan), true_rank=true_rank, margin=margin,
        suspect=np.zeros(n, bool) if suspect is None else np.asarray(suspect, bool),
        auc=auc, ap=ap, curve_points=curve_points,
        meta=dict(prob_stats, k=int(k), positive=None if positive is None else int(positive)),
    )


def label_issues(gt_label, probs):
    """Likely label errors by cleanlab's ``find_label_issues`` (confident
    learning) on out-of-sample probabilities, or None when cleanlab is not
    installed or a class has fewer than two samples."""
    try:
        from cleanlab.filter import find_label_issues
    except ImportError:
        return None
    counts = np.bincount(gt_label, minlength=probs.shape[1])
    if probs.shape[1] < 2 or counts.min() < 2:
        return None
    return find_label_issues(labels=gt_label, pred_probs=probs, n_jobs=1)


@dataclass
class Assessment:
    """Error types and confusion at one confidence threshold.

    Attributes:
        error: (N,) index into :data:`ERROR_TYPES` per sample
        predicted: (N,) class counted at the threshold, K = below it (abstained)
        confusion: (K, K+1) counts, rows true classes, columns predicted
            classes plus :data:`BELOW`
    """

    error: np.ndarray
    predicted: np.ndarray
    confusion: np.ndarray

    def error_counts(self):
        counts = np.bincount(self.error, minlength=len(ERROR_TYPES))
        return {name: int(c) for name, c in zip(ERROR_TYPES, counts)}


class Evaluation:
    """Everything a classification evaluation learned, queryable at any threshold."""

    task = "classification"

    def __init__(self, classes, meta=None, **arrays):
        self.classes = list(classes)
        missing = set(ARRAY_FIELDS) - set(arrays)
        if missing:
            raise ValueError("missing arrays: %s" % sorted(missing))
        for name in ARRAY_FIELDS:
            setattr(self, name, np.asarray(arrays[name]))
        self.sample_ids = np.asarray(arrays.get("sample_ids", ()), dtype=str)
        self.meta = dict(meta or {})
        self.has_pred = self.pred_label >= 0
        self.correct = self.has_pred & (self.pred_label == self.gt_label)
        self.support = np.bincount(self.gt_label, minlength=self.num_classes)
        self._assess = lru_cache(maxsize=8)(self._compute_assessment)
        self._sweeps = lru_cache(maxsize=1)(self._compute_sweeps)
        self._optimal = lru_cache(maxsize=1)(self._compute_optimal)

    @property
    def num_classes(self):
        return len(self.classes)

    @property
    def has_probs(self):
        return bool(np.any(self.true_rank >= 0))

    def set_ids(self, sample_ids):
        """Attaches identifiers of the samples (e.g. FiftyOne ids)."""
        self.sample_ids = np.asarray(sample_ids, dtype=str)

    def kept(self, confidence=None):
        """(N,) bool: the samples whose prediction counts at the threshold."""
        if confidence is None:
            return self.has_pred.copy()
        return self.has_pred & (self.pred_score >= float(confidence))

    def confusion(self, confidence=None):
        """(K, K+1) confusion matrix: columns are predicted classes plus :data:`BELOW`."""
        return self.assess(confidence).confusion

    def assess(self, confidence=None, **point):
        """Error types and confusion matrix (:class:`Assessment`) at the threshold."""
        return self._assess(None if confidence is None else float(confidence))

    def _compute_assessment(self, confidence):
        num = self.num_classes
        kept = self.kept(confidence)
        predicted = np.where(kept, self.pred_label, num)
        confusion = np.bincount(self.gt_label * (num + 1) + predicted,
                                minlength=num * (num + 1)).reshape(num, num + 1)
        error = np.full(self.gt_label.size, ABSTAINED, dtype=np.int8)
        hit = kept & self.correct
        error[kept & ~self.correct] = CONFUSED
        error[kept & ~self.correct & self.suspect] = LABEL_SUSPECT
        error[hit] = CORRECT
        error[hit & (self.margin < LOW_MARGIN_GAP)] = LOW_MARGIN
        return Assessment(error, predicted, confusion)

    def members(self, true_class, predicted_class, confidence=None):
        """Indices of the samples in one confusion cell (``predicted_class`` K = below)."""
        a = self.assess(confidence)
        return np.flatnonzero((self.gt_label == true_class) & (a.predicted == predicted_class))

    def metrics(self, confidence=None):
        """The standard metrics at the threshold, from its confusion matrix
        (see :func:`metrics_from_confusion`)."""
        return metrics_from_confusion(self.confusion(confidence))

    def sweeps(self, **point):
        """``(overall, per_class)`` sweeps over the confidence threshold: per class
        by predicted class (precision) against the class's support (recall)."""
        return self._sweeps()

    def _compute_sweeps(self):
        has = self.has_pred
        return sweep.sweeps(self.pred_score[has], self.pred_label[has], self.correct[has],
                            np.zeros(int(has.sum()), bool), self.gt_label, self.num_classes)

    def coverage(self, confidence=None):
        """Fraction of samples with a counted prediction, overall and per true class."""
        kept = self.kept(confidence)
        per_class = np.bincount(self.gt_label[kept], minlength=self.num_classes)
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(self.support > 0, per_class / self.support, 0.0)
        return float(kept.mean()) if kept.size else 0.0, rate

    def optimal_thresholds(self, **point):
        """Maximum-F1 confidence overall and per class (None where undefined)."""
        best = self._optimal()
        return {"overall": best["overall"], "per_class": dict(best["per_class"])}

    def _compute_optimal(self):
        overall, per_class = self.sweeps()
        best = overall.optimal()
        return {
            "overall": best["confidence"] if best else None,
            "per_class": {c: (s.optimal()["confidence"] if s.optimal() and s.num_gt else None)
                          for c, s in zip(self.classes, per_class)},
        }

    def top_k(self):
        """Top-1..top-k accuracy (k capped at K) over samples with a prediction
        and probabilities, or {} without probabilities."""
        ranked = self.true_rank[self.true_rank >= 0]
        if not ranked.size:
            return {}
        k = min(self.meta.get("k", 5), self.num_classes)
        hits = np.cumsum(np.bincount(ranked, minlength=self.num_classes)[:k])
        return {"top_%d" % (i + 1): float(h / ranked.size) for i, h in enumerate(hits)}

    def calibration(self):
        """Reliability diagram of the confidence (15 equal-width bins), ECE and MCE."""
        has = self.has_pred
        return scores.calibration(self.pred_score[has], self.correct[has], CALIBRATION_BINS)

    def curves(self):
        """Per class ``{"roc": (fpr, tpr), "pr": (recall, precision)}``, plot-sized."""
        if not self.curve_points.size:
            return {}
        out = {}
        for j, c in enumerate(self.classes):
            rows = self.curve_points[self.curve_points[:, 0] == j]
            roc, pr = rows[rows[:, 1] == 0], rows[rows[:, 1] == 1]
            out[c] = {"roc": (roc[:, 2].tolist(), roc[:, 3].tolist()),
                      "pr": (pr[:, 2].tolist(), pr[:, 3].tolist())}
        return out

    def per_class(self, confidence=None, **point):
        """One JSON-ready row per class at the threshold."""
        m = self.metrics(confidence)
        a = self.assess(confidence)
        kinds = len(ERROR_TYPES)
        counts = np.bincount(self.gt_label * kinds + a.error, minlength=self.num_classes * kinds)
        counts = counts.reshape(self.num_classes, kinds)
        best = self.optimal_thresholds()["per_class"]
        _, coverage = self.coverage(confidence)
        return [
            {"class": c, "precision": m["per_class_precision"][j],
             "recall": m["per_class_recall"][j], "f1": m["per_class_f1"][j],
             "support": int(self.support[j]), "coverage": float(coverage[j]),
             **{t: int(counts[j, i]) for i, t in enumerate(ERROR_TYPES)},
             "auc": _clean(self.auc[j]), "ap": _clean(self.ap[j]),
             "optimal_threshold": best[c]}
            for j, c in enumerate(self.classes)
        ]

    def summary(self, confidence=None, **point):
        """Headline numbers at the threshold, JSON-ready."""
        m = self.metrics(confidence)
        overall, _ = self.sweeps()
        at = overall.at(confidence) if overall.confidence.size else {
            "tp": 0, "fp": 0, "precision": 0.0, "recall": 0.0, "f1": 0.0}
        cal = self.calibration()
        defined = lambda v: [float(x) for x in v if np.isfinite(x)]  # noqa: E731
        auc, ap = defined(self.auc), defined(self.ap)
        coverage, _ = self.coverage(confidence)
        return {
            "task": self.task,
            "confidence": confidence,
            **{k: v for k, v in m.items() if not k.startswith("per_class")},
            "precision": at["precision"], "recall": at["recall"], "f1": at["f1"],
            "tp": at["tp"], "fp": at["fp"], "coverage": coverage,
            "optimal": overall.optimal(),
            "optimal_threshold": (overall.optimal() or {}).get("confidence"),
            "per_class_optimal_threshold": self.optimal_thresholds()["per_class"],
            "top_k": self.top_k(),
            "log_loss": self.meta.get("log_loss"), "brier": self.meta.get("brier"),
            "macro_auc": float(np.mean(auc)) if auc else None,
            "macro_ap": float(np.mean(ap)) if ap else None,
            "ece": cal["ece"], "mce": cal["mce"],
            "error_counts": self.assess(confidence).error_counts(),
            "positive_class": (None if self.meta.get("positive") is None
                               else self.classes[self.meta["positive"]]),
            "num_samples": int(self.gt_label.size),
            "num_pred": int(self.has_pred.sum()),
        }

    def to_bytes(self):
        """Compressed binary form (numpy ``.npz``; metadata as JSON)."""
        buf = io.BytesIO()
        np.savez_compressed(
            buf, classes=np.array(self.classes, dtype=str), meta=np.array(json.dumps(self.meta)),
            sample_ids=self.sample_ids.astype(bytes),
            **{name: getattr(self, name) for name in ARRAY_FIELDS})
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob):
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            arrays = {name: data[name] for name in ARRAY_FIELDS + ID_FIELDS}
            classes, meta = data["classes"].tolist(), json.loads(str(data["meta"]))
        return cls(classes, meta=meta, **arrays)


def metrics_from_confusion(confusion):
    """accuracy, balanced accuracy, Cohen's kappa, micro / macro / weighted and
    per-class precision, recall and F1 from a (K, K+1) confusion matrix whose
    last column holds abstentions: ``sklearn.metrics`` with ``labels=range(K)``
    and ``zero_division=0`` (balanced accuracy over the classes with samples,
    kappa with abstention as one more label, as scikit-learn sees ``-1``)."""
    num = confusion.shape[0]
    tp = np.diag(confusion[:, :num]).astype(np.float64)
    support = confusion.sum(axis=1).astype(np.float64)
    predicted = confusion[:, :num].sum(axis=0).astype(np.float64)
    n = support.sum()
    div = lambda a, b: np.divide(a, b, out=np.zeros_like(a), where=b > 0)  # noqa: E731
    precision, recall, f1 = div(tp, predicted), div(tp, support), div(2 * tp, predicted + support)
    total = lambda v: float(v.sum())  # noqa: E731
    weighted = lambda v: float(np.average(v, weights=support)) if n else 0.0  # noqa: E731
    square = np.vstack([confusion, np.zeros((1, num + 1), confusion.dtype)]).astype(np.float64)
    expected = np.outer(square.sum(axis=0), square.sum(axis=1)) / max(n, 1)
    off = 1 - np.eye(num + 1)
    kappa_den = float(np.sum(off * expected))
    present = support > 0
    micro_p = float(div(np.array([total(tp)]), np.array([total(predicted)]))[0])
    micro_r = float(div(np.array([total(tp)]), np.array([n]))[0])
    return {
        "accuracy": total(tp) / n if n else 0.0,
        "balanced_accuracy": float(np.mean(tp[present] / support[present])) if present.any() else 0.0,
        "kappa": 1 - float(np.sum(off * square)) / kappa_den if kappa_den else None,
        "micro_precision": micro_p, "micro_recall": micro_r,
        "micro_f1": float(div(np.array([2 * total(tp)]), np.array([total(predicted) + n]))[0]),
        "macro_precision": float(precision.mean()), "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "weighted_precision": weighted(precision), "weighted_recall": weighted(recall),
        "weighted_f1": weighted(f1),
        "per_class_precision": precision.tolist(), "per_class_recall": recall.tolist(),
        "per_class_f1": f1.tolist(), "per_class_support": support.astype(int).tolist(),
    }


def _pack_curves(roc, pr):
    """Curves as one (M, 4) array of rows ``[class, kind (0 ROC, 1 PR), x, y]``."""
    rows = [np.column_stack([np.full(x.size, j), np.full(x.size, kind), x, y])
            for kind, curves in enumerate((roc, pr)) for j, (x, y) in enumerate(curves)]
    return np.vstack(rows) if rows else np.zeros((0, 4))


def _clean(value):
    value = float(value)
    return None if not np.isfinite(value) else value
