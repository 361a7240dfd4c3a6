"""Multi-label classification metrics: each sample holds any number of classes.

A (sample, class) prediction counts at threshold ``c`` when its confidence
is ``>= c``; it is a true positive when that class is in the sample's ground
truth. Metrics follow ``sklearn.metrics`` on indicator matrices with
``zero_division=0``. :class:`Evaluation` is the task's
:class:`~.evaluation.Evaluation`: the run ``evaluate_model`` stores for
``fo.Classifications`` fields.
"""

import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import sparse

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


ERROR_TYPES = ("correct", "missed", "spurious", "confused")
MISSED = "Missed"  # the class confusion's last column: a true class not predicted
CORRECT, LEFT_OUT, SPURIOUS, CONFUSED = range(len(ERROR_TYPES))


@dataclass
class Assessment:
    """Per-sample error types and per-class counts at one confidence threshold.

    Attributes:
        predicted: (N, K) bool, the classes counted at the threshold
        error: (N,) index into :data:`ERROR_TYPES`: ``correct`` (the exact set),
            ``missed`` (true classes left out, none extra), ``spurious``
            (extra classes, none left out), ``confused`` (both)
        tp, fp, fn: (N,) per-sample counts of (sample, class) pairs
        confusion: (K, 2, 2) per class ``[[tn, fp], [fn, tp]]``, as
            ``sklearn.metrics.multilabel_confusion_matrix``
    """

    predicted: np.ndarray
    error: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    confusion: np.ndarray

    def error_counts(self):
        counts = np.bincount(self.error, minlength=len(ERROR_TYPES))
        return {name: int(c) for name, c in zip(ERROR_TYPES, counts)}


class Evaluation:
    """A multi-label evaluation: (N, K) true classes and predicted confidences,
    queryable at any confidence threshold without the data set."""

    task = "multilabel"

    def __init__(self, classes, gt, scores, sample_ids=()):
        """``gt``: (N, K) bool; ``scores``: (N, K) confidences, NaN where the
        class is not predicted for the sample."""
        self.classes = list(classes)
        self.gt = np.asarray(gt, dtype=bool)
        self.scores = np.asarray(scores, dtype=np.float64)
        self.sample_ids = np.asarray(sample_ids, dtype=str)
        self._ranked = np.where(np.isfinite(self.scores), self.scores, -np.inf)  # below any grid
        self._true = np.nonzero(self.gt)
        self._assess = lru_cache(maxsize=8)(self._compute_assessment)
        self._sweeps = lru_cache(maxsize=1)(lambda: sweeps(self.gt, self.scores))

    @property
    def num_classes(self):
        return len(self.classes)

    @property
    def support(self):
        return self.gt.sum(axis=0)

    def set_ids(self, sample_ids):
        self.sample_ids = np.asarray(sample_ids, dtype=str)

    def assess(self, confidence=None, **point):
        """The :class:`Assessment` at the threshold (None: every prediction)."""
        return self._assess(None if confidence is None else float(confidence))

    def _compute_assessment(self, confidence):
        pred = predicted_at(self.scores, confidence)
        tp = np.count_nonzero(pred & self.gt, axis=1)
        fp = np.count_nonzero(pred & ~self.gt, axis=1)
        fn = np.count_nonzero(~pred & self.gt, axis=1)
        error = np.where(fp > 0, np.where(fn > 0, CONFUSED, SPURIOUS),
                         np.where(fn > 0, LEFT_OUT, CORRECT)).astype(np.int8)
        ctp = np.count_nonzero(pred & self.gt, axis=0)
        cfp = np.count_nonzero(pred & ~self.gt, axis=0)
        cfn = np.count_nonzero(~pred & self.gt, axis=0)
        ctn = self.gt.shape[0] - ctp - cfp - cfn
        confusion = np.stack([np.c_[ctn, cfp], np.c_[cfn, ctp]], axis=1)
        return Assessment(pred, error, tp, fp, fn, confusion)

    def passes(self, grid):
        """(N, K) how many thresholds of ``grid`` (ascending) each prediction reaches
        (0 where the class is not predicted)."""
        found = np.searchsorted(np.asarray(grid, np.float64), self._ranked.ravel(), side="right")
        return found.reshape(self.gt.shape)

    def class_confusions(self, grid):
        """(T, K, K + 1) class confusion at each threshold of ``grid`` (ascending):
        rows true classes; ``[t, t]`` the samples where ``t`` is found, ``[t, p]``
        those where ``p`` is predicted but not true alongside a true ``t``, and
        ``[t, K]`` (:data:`MISSED`) those where ``t`` is not predicted."""
        T, K = len(grid), self.num_classes
        passes = self.passes(grid)
        ts, tc = self._true
        tp = _passing(np.bincount(tc * (T + 1) + passes[ts, tc], minlength=K * (T + 1))
                      .reshape(K, T + 1))
        # (true class, wrong class, its passes) of every sample: one sparse product
        fs, fc = np.nonzero((passes > 0) & ~self.gt)
        n = self.gt.shape[0]
        wrong = sparse.csr_matrix((np.ones(fs.size, np.int64), (fs, fc * (T + 1) + passes[fs, fc])),
                                  shape=(n, K * (T + 1)))
        true = sparse.csr_matrix((np.ones(ts.size, np.int64), (ts, tc)), shape=(n, K))
        off = _passing((true.T @ wrong).toarray().reshape(K, K, T + 1))
        out = np.zeros((T, K, K + 1), np.int64)
        out[:, :, :K] = np.moveaxis(off, 2, 0)
        out[:, np.arange(K), np.arange(K)] = tp.T
        out[:, :, K] = self.support[None, :] - tp.T
        return out

    def class_confusion(self, confidence=None):
        """(K, K + 1) :meth:`class_confusions` at one threshold (None: every prediction)."""
        lowest = -np.finfo(np.float64).max  # every prediction, no missing one
        return self.class_confusions([lowest if confidence is None else float(confidence)])[0]

    def error_counts(self, grid):
        """(T, 4) samples of each :data:`ERROR_TYPES` at each threshold of ``grid``,
        from one 2-D histogram of (the highest pass of a sample's false
        predictions, the lowest pass of its true classes)."""
        T = len(grid)
        passes = self.passes(grid)
        a = np.where(self.gt, 0, passes).max(axis=1, initial=0)  # fp at step j iff a > j
        b = np.where(self.gt, passes, T + 1).min(axis=1, initial=T + 1)  # fn iff b <= j
        h = np.bincount(a * (T + 2) + b, minlength=(T + 2) ** 2).reshape(T + 2, T + 2)
        S = h.cumsum(axis=0).cumsum(axis=1)
        j = np.arange(T)
        both_le, a_le, b_le = S[j, j], S[j, -1], S[-1, j]
        n = self.gt.shape[0]
        return np.stack([a_le - both_le, both_le, n - a_le - (b_le - both_le), b_le - both_le],
                        axis=1)

    def members(self, true_class, predicted_class, confidence=None):
        """Indices of the samples in one cell of :meth:`class_confusion`."""
        pred = self.assess(confidence).predicted
        t, p = int(true_class), int(predicted_class)
        if p == t:
            mask = self.gt[:, t] & pred[:, t]
        elif p == self.num_classes:
            mask = self.gt[:, t] & ~pred[:, t]
        else:
            mask = self.gt[:, t] & pred[:, p] & ~self.gt[:, p]
        return np.flatnonzero(mask)

    def metrics(self, confidence=None):
        """:func:`metrics` at the threshold."""
        return metrics(self.gt, self.assess(confidence).predicted)

    def sweeps(self, **point):
        """``(overall, per_class)``: micro precision / recall / F1 of every
        (sample, class) prediction against the threshold, and per class."""
        return self._sweeps()

    def optimal_thresholds(self, **point):
        """Maximum micro-F1 confidence overall, maximum-F1 confidence per class."""
        overall, per_class = self.sweeps()
        best = overall.optimal()
        return {"overall": best["confidence"] if best else None,
                "per_class": {c: (s.optimal()["confidence"] if s.optimal() and s.num_gt else None)
                              for c, s in zip(self.classes, per_class)}}

    def per_class(self, confidence=None, **point):
        """One JSON-ready row per class at the threshold."""
        m, a = self.metrics(confidence), self.assess(confidence)
        best = self.optimal_thresholds()["per_class"]
        return [{"class": c, "precision": m["per_class_precision"][j],
                 "recall": m["per_class_recall"][j], "f1": m["per_class_f1"][j],
                 "support": m["per_class_support"][j], "tp": int(a.confusion[j, 1, 1]),
                 "fp": int(a.confusion[j, 0, 1]), "fn": int(a.confusion[j, 1, 0]),
                 "optimal_threshold": best[c]}
                for j, c in enumerate(self.classes)]

    def summary(self, confidence=None, **point):
        """Headline numbers at the threshold, JSON-ready."""
        m = self.metrics(confidence)
        overall, _ = self.sweeps()
        best = self.optimal_thresholds()
        return {
            "task": self.task, "confidence": confidence,
            **{k: v for k, v in m.items() if not k.startswith("per_class")},
            "optimal": overall.optimal(), "optimal_threshold": best["overall"],
            "per_class_optimal_threshold": best["per_class"],
            "error_counts": self.assess(confidence).error_counts(),
            "num_samples": int(self.gt.shape[0]), "num_gt": int(self.gt.sum()),
            "num_pred": int(np.isfinite(self.scores).sum()),
        }

    def to_bytes(self):
        """Compressed sparse form (numpy ``.npz``): the true and the predicted pairs."""
        gs, gc = np.nonzero(self.gt)
        ps, pc = np.nonzero(np.isfinite(self.scores))
        buf = io.BytesIO()
        np.savez_compressed(buf, classes=np.array(self.classes, dtype=str),
                            shape=np.array(self.gt.shape), gt=np.c_[gs, gc],
                            pred=np.c_[ps, pc], score=self.scores[ps, pc],
                            sample_ids=self.sample_ids.astype(bytes))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob):
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            n, k = z["shape"].tolist()
            gt = indicators(n, k, z["gt"][:, 0], z["gt"][:, 1])
            scores = np.full((n, k), np.nan)
            scores[z["pred"][:, 0], z["pred"][:, 1]] = z["score"]
            return cls(z["classes"].tolist(), gt, scores, z["sample_ids"].astype(str))


def _passing(h):
    """``h[..., s]`` counts items passing ``s`` thresholds: the counts passing
    threshold ``t`` (``s > t``) for t = 0..T-1."""
    return np.cumsum(h[..., ::-1], axis=-1)[..., ::-1][..., 1:]
