"""Metrics of a classifier's class probabilities, vectorized over samples and classes.

Each function equals its ``sklearn.metrics`` reference (named in its
docstring) to floating-point rounding, including its tie and edge-case rules,
but sorts each class once for every curve and metric instead of once per call.
"""

import numpy as np

CHUNK = 16  # classes sorted at once: bounds memory to (CHUNK, N) arrays
BLOCK = 65536  # rows at a time for per-row work with (rows, K) temporaries
CHUNK_VALUES = 4_000_000  # ... and to about this many values (fewer classes at once for large N)


def softmax(logits, out=None):
    """Row-wise softmax, as FiftyOne's top-k confidences: ``exp(l) / sum(exp(l))``;
    ``out`` (e.g. the logits themselves) receives it without temporaries."""
    z = np.asarray(logits, dtype=np.float64)
    out = np.empty_like(z) if out is None else out
    np.subtract(z, z.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


def true_rank(probs, gt_label):
    """0-based rank of the true class in each row, ties broken like
    ``top_k_accuracy_score`` (a stable ascending sort reversed: among equal
    scores the higher class index ranks first)."""
    out = np.empty(gt_label.size, np.int64)
    classes = np.arange(probs.shape[1])[None, :]
    for start in range(0, gt_label.size, BLOCK):  # (BLOCK, K) temporaries, not (N, K)
        p, g = probs[start:start + BLOCK], gt_label[start:start + BLOCK]
        s_true = p[np.arange(g.size), g][:, None]
        out[start:start + BLOCK] = np.count_nonzero(
            (p > s_true) | ((p == s_true) & (classes > g[:, None])), axis=1)
    return out


def margin(probs, block=None):
    """Top probability minus the runner-up's, per row (1.0 with one class);
    a block of rows at a time (``np.partition`` copies its input)."""
    if probs.shape[1] < 2:
        return np.ones(probs.shape[0])
    block = block or BLOCK
    out = np.empty(probs.shape[0])
    for start in range(0, probs.shape[0], block):
        top2 = np.partition(probs[start:start + block], probs.shape[1] - 2, axis=1)[:, -2:]
        out[start:start + block] = top2[:, 1] - top2[:, 0]
    return out


def log_loss(probs, gt_label):
    """``sklearn.metrics.log_loss(gt, probs, labels=range(K))``: clipped to
    ``[eps, 1 - eps]`` like scikit-learn."""
    eps = np.finfo(np.float64).eps
    p = np.clip(probs[np.arange(gt_label.size), gt_label], eps, 1 - eps)
    return float(-np.mean(np.log(p)))


def brier(probs, gt_label):
    """``sklearn.metrics.brier_score_loss``: mean squared error of the one-hot
    truth, halved for two classes (``scale_by_half="auto"``)."""
    sq = np.concatenate([np.square(probs[i:i + BLOCK]).sum(axis=1)
                         for i in range(0, probs.shape[0], BLOCK)] or [np.zeros(0)])
    p_true = probs[np.arange(gt_label.size), gt_label]
    total = float(np.mean(sq - 2 * p_true + 1))
    return total / 2 if probs.shape[1] < 3 else total


def one_vs_rest(probs, gt_label, max_points=101):
    """Per class: ROC AUC (``roc_auc_score``), average precision
    (``average_precision_score``) and plot-sized ROC and PR curves.

    Classes are sorted up to :data:`CHUNK` at a time as rows of a contiguous
    ``(CHUNK, N)`` block of scores, values only (one SIMD sort per class, no
    argsort): a curve point sits at the end of each run of equal scores (as
    scikit-learn's distinct thresholds), where the true positives are the
    class's own samples scoring at least that much, counted by one
    ``searchsorted`` into their few sorted scores.

    Returns:
        ``(auc, ap, roc, pr)``: (K,) arrays (NaN where a class has no positive
        or no negative sample) and lists of K ``(x, y)`` curve pairs
    """
    n, k = probs.shape
    auc, ap = np.full(k, np.nan), np.full(k, np.nan)
    roc, pr = [], []
    pick = np.unique(np.linspace(0, n, max_points).round().astype(int))
    before = np.maximum(pick - 1, 0)
    chunk = max(1, min(CHUNK, CHUNK_VALUES // max(n, 1)))
    by_class = np.argsort(gt_label, kind="stable")
    bounds = np.searchsorted(gt_label[by_class], np.arange(k + 1))
    for start in range(0, k, chunk):
        cols = np.arange(start, min(k, start + chunk))
        s = np.negative(probs[:, cols].T, order="C")  # descending scores as ascending keys
        s.sort(axis=1)
        for j, c in enumerate(cols.tolist()):
            row = s[j]
            ends = np.append(np.flatnonzero(row[1:] != row[:-1]), n - 1)
            own = np.sort(np.negative(probs[by_class[bounds[c]:bounds[c + 1]], c]))
            tps = np.searchsorted(own, row[ends], side="right")
            fps = ends + 1 - tps
            p_tot, n_tot = tps[-1], fps[-1]
            with np.errstate(divide="ignore", invalid="ignore"):
                tpr = np.concatenate([[0.0], tps / p_tot])
                fpr = np.concatenate([[0.0], fps / n_tot])
                precision = tps / (tps + fps)
                recall = tps / p_tot
            if p_tot > 0 and n_tot > 0:
                auc[c] = np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2)
            if p_tot > 0:
                ap[c] = np.sum(np.diff(np.concatenate([[0.0], recall])) * precision)
            at = np.searchsorted(ends, before)  # the run holding each picked position
            curve = np.where(pick > 0, at + 1, 0)
            roc.append((fpr[curve], tpr[curve]))
            pr.append((recall[at], precision[at]))
    return auc, ap, roc, pr


def calibration(confidence, correct, num_bins=15):
    """Reliability diagram over equal-width bins, binned like
    ``sklearn.calibration.calibration_curve(strategy="uniform")``.

    Returns:
        dict of per-bin ``count``, ``confidence`` and ``accuracy`` (None for an
        empty bin), the bin ``edges``, and ``ece`` (count-weighted mean
        ``|accuracy - confidence|``) and ``mce`` (its maximum over non-empty bins)
    """
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    ids = np.searchsorted(edges[1:-1], confidence)
    count = np.bincount(ids, minlength=num_bins)
    conf_sum = np.bincount(ids, weights=confidence, minlength=num_bins)
    hit_sum = np.bincount(ids, weights=correct.astype(np.float64), minlength=num_bins)
    full = count > 0
    mean_conf = np.where(full, conf_sum / np.maximum(count, 1), np.nan)
    accuracy = np.where(full, hit_sum / np.maximum(count, 1), np.nan)
    gap = np.abs(accuracy - mean_conf)
    total = max(int(count.sum()), 1)
    return {
        "edges": edges.tolist(),
        "count": count.tolist(),
        "confidence": [None if not f else float(v) for f, v in zip(full, mean_conf)],
        "accuracy": [None if not f else float(v) for f, v in zip(full, accuracy)],
        "ece": float(np.sum(np.where(full, gap, 0.0) * count) / total) if full.any() else None,
        "mce": float(np.max(gap[full])) if full.any() else None,
    }
