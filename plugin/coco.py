"""COCO metrics (pycocotools' ``accumulate`` and ``summarize``), vectorized.

Given matches from :mod:`.matching` for the four COCO area ranges and ten IoU
thresholds, computes the same ``precision`` (T, R, K, A, M) and ``recall``
(T, K, A, M) arrays as ``COCOeval.accumulate`` and the twelve summary numbers
of ``COCOeval.summarize``, without Python loops over classes, thresholds or
detections.
"""

from dataclasses import dataclass

import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
AREA_RANGES = {
    "all": (0.0, 1e5**2),
    "small": (0.0, 32.0**2),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, 1e5**2),
}
MAX_DETS = (1, 10, 100)

#: (name, is_ap, iou threshold or None for 0.50:0.95, area, max_dets)
SUMMARY = (
    ("mAP", True, None, "all", 100),
    ("AP50", True, 0.5, "all", 100),
    ("AP75", True, 0.75, "all", 100),
    ("AP_small", True, None, "small", 100),
    ("AP_medium", True, None, "medium", 100),
    ("AP_large", True, None, "large", 100),
    ("AR1", False, None, "all", 1),
    ("AR10", False, None, "all", 10),
    ("AR100", False, None, "all", 100),
    ("AR_small", False, None, "small", 100),
    ("AR_medium", False, None, "medium", 100),
    ("AR_large", False, None, "large", 100),
)


def area_ignore(area):
    """(A, N) bool: whether each area falls outside each COCO area range."""
    area = np.asarray(area, dtype=np.float64)
    return np.stack([(area < lo) | (area > hi) for lo, hi in AREA_RANGES.values()])


@dataclass
class CocoMetrics:
    """pycocotools-compatible accumulated arrays and summary.

    Attributes:
        precision: (T, R, K, A, M), -1 where a class has no ground truth
        recall: (T, K, A, M), -1 where a class has no ground truth
        scores: (T, R, K, A, M) confidence at each recall threshold
        stats: dict of the twelve ``summarize`` numbers (see :data:`SUMMARY`)
    """

    precision: np.ndarray
    recall: np.ndarray
    scores: np.ndarray
    stats: dict

    def class_ap(self, iou=None, area="all", max_dets=100):
        """(K,) AP per class averaged over IoU thresholds (or at ``iou``); -1 if no gt."""
        p = _select(self.precision, iou, area, max_dets)  # (T', R, K)
        valid = p[0, 0] > -1
        out = np.full(p.shape[2], -1.0)
        out[valid] = p[:, :, valid].mean(axis=(0, 1))
        return out

    def class_ar(self, iou=None, area="all", max_dets=100):
        """(K,) recall per class averaged over IoU thresholds (or at ``iou``); -1 if no gt."""
        a = list(AREA_RANGES).index(area)
        m = MAX_DETS.index(max_dets)
        r = self.recall[:, :, a, m]
        if iou is not None:
            r = r[[_iou_index(iou)]]
        valid = r[0] > -1
        out = np.full(r.shape[1], -1.0)
        out[valid] = r[:, valid].mean(axis=0)
        return out


def accumulate(
    pred_label, pred_image, pred_score, pred_rank, pred_area, pred_gt,
    gt_label, gt_ignore, num_classes,
):
    """COCOeval.accumulate + summarize from vectorized matches.

    Args:
        pred_label, pred_image, pred_score: (P,) per prediction; image indices
            must increase in pycocotools' image order (sorted image ids), which
            breaks confidence ties across images
        pred_rank: (P,) rank within (image, class) by descending confidence
        pred_area: (P,) area used for the area-range ignore rule
        pred_gt: (A, T, P) matched gt index or -1 (from :func:`matching.match`)
        gt_label: (G,) class index of every gt
        gt_ignore: (A, G) crowd or outside the area range
        num_classes: K

    Returns:
        a :class:`CocoMetrics`
    """
    n_area, n_thr, _ = pred_gt.shape
    n_rec, K = RECALL_THRESHOLDS.size, num_classes
    precision = -np.ones((n_thr, n_rec, K, n_area, len(MAX_DETS)))
    recall = -np.ones((n_thr, K, n_area, len(MAX_DETS)))
    scores = -np.ones((n_thr, n_rec, K, n_area, len(MAX_DETS)))

    pred_label = np.asarray(pred_label, dtype=np.int64)
    pred_score = np.asarray(pred_score, dtype=np.float64)
    pred_outside = area_ignore(pred_area)
    order = np.lexsort((pred_rank, pred_image, -pred_score, pred_label))

    for a in range(n_area):
        npig = np.bincount(np.asarray(gt_label)[~gt_ignore[a]], minlength=K).astype(np.float64)
        matched = pred_gt[a] >= 0  # (T, P)
        ignored = np.broadcast_to(pred_outside[a], matched.shape).copy()
        ignored[matched] = gt_ignore[a][pred_gt[a][matched]]
        for m, max_det in enumerate(MAX_DETS):
            sel = order[pred_rank[order] < max_det]
            accumulate_one(
                pred_label[sel], pred_score[sel], matched[:, sel], ignored[:, sel],
                npig, precision[:, :, :, a, m], recall[:, :, a, m], scores[:, :, :, a, m],
            )

    metrics = CocoMetrics(precision, recall, scores, {})
    metrics.stats = summarize(metrics)
    return metrics


def accumulate_one(label, score, matched, ignored, npig, precision, recall, scores):
    """Fills one (area, maxDets) slice: ``precision``/``scores`` (T, R, K) and
    ``recall`` (T, K) in place; arrays are sorted by (class, -score)."""
    n_thr, n = matched.shape
    K, n_rec = npig.size, RECALL_THRESHOLDS.size
    has_gt = npig > 0
    precision[:, :, has_gt] = 0.0
    scores[:, :, has_gt] = 0.0
    recall[:, has_gt] = 0.0
    if n == 0:
        return

    counts = np.bincount(label, minlength=K)
    seg_start = np.cumsum(counts) - counts
    first = seg_start[label]
    # int32 counts: (T, P) arrays are the peak of an evaluation's memory
    tp = _segment_cumsum(matched & ~ignored, first).astype(np.float64)
    fp = _segment_cumsum(~(matched | ignored), first).astype(np.float64)

    with np.errstate(divide="ignore", invalid="ignore"):
        rc = tp / npig[label]
    pr = tp / (fp + tp + np.spacing(1))

    valid_cls = has_gt[label]
    last = np.flatnonzero(np.r_[label[1:] != label[:-1], True])
    keep_last = valid_cls[last]
    recall[:, label[last[keep_last]]] = rc[:, last[keep_last]]

    # precision[r] = max precision among detections with recall >= r (the
    # right-to-left envelope of pycocotools, read at searchsorted positions).
    cols = np.flatnonzero(valid_cls)
    if cols.size == 0:
        return
    rc_v, pr_v, lab_v = rc[:, cols], pr[:, cols], label[cols]
    bucket = np.searchsorted(RECALL_THRESHOLDS, rc_v.ravel(), side="right").reshape(rc_v.shape)
    n_b = RECALL_THRESHOLDS.size + 1
    key = (np.arange(n_thr)[:, None] * K + lab_v[None, :]) * n_b + bucket
    flat_key, flat_pr = key.ravel(), pr_v.ravel()
    run = np.flatnonzero(np.r_[True, flat_key[1:] != flat_key[:-1]])
    best = np.zeros(n_thr * K * n_b)
    best[flat_key[run]] = np.maximum.reduceat(flat_pr, run)
    best = best.reshape(n_thr, K, n_b)
    # precision at recall threshold r: max over buckets b > r
    env = np.maximum.accumulate(best[:, :, :0:-1], axis=2)[:, :, ::-1]  # (T, K, R)
    precision[:, :, has_gt] = env[:, has_gt, :].transpose(0, 2, 1)

    # scores: confidence of the first detection reaching each recall
    # threshold (bucket > r), found by an exact integer searchsorted.
    seg_len = np.bincount(lab_v, minlength=K)
    seg_end = np.cumsum(seg_len)
    classes = np.flatnonzero(has_gt & (seg_len > 0))
    queries = (classes[:, None] * n_b + np.arange(1, n_rec + 1)[None, :]).ravel()
    sc_v = score[cols]
    for t in range(n_thr):
        pos = np.searchsorted(lab_v * n_b + bucket[t], queries, side="left")
        pos = pos.reshape(classes.size, n_rec)
        inside = pos < seg_end[classes][:, None]
        vals = np.where(inside, sc_v[np.minimum(pos, sc_v.size - 1)], 0.0)
        scores[t][:, classes] = vals.T


def _segment_cumsum(values, first):
    """Cumulative sum along the last axis restarting where ``first`` says."""
    cs = np.cumsum(values, axis=-1, dtype=np.int32 if values.shape[-1] < 2**31 else np.int64)
    before = np.concatenate([np.zeros(values.shape[:-1] + (1,), dtype=cs.dtype), cs], axis=-1)
    cs -= before[..., first]
    return cs


def _iou_index(iou):
    idx = np.flatnonzero(np.abs(IOU_THRESHOLDS - iou) < 1e-6)
    if idx.size == 0:
        raise ValueError("IoU threshold %r is not one of 0.50:0.05:0.95" % iou)
    return int(idx[0])


def _select(precision, iou, area, max_dets):
    a = list(AREA_RANGES).index(area)
    m = MAX_DETS.index(max_dets)
    p = precision[:, :, :, a, m]
    if iou is not None:
        p = p[[_iou_index(iou)]]
    return p


def summarize(metrics):
    """The twelve numbers of ``COCOeval.summarize`` as a dict."""
    stats = {}
    for name, is_ap, iou, area, max_dets in SUMMARY:
        if is_ap:
            s = _select(metrics.precision, iou, area, max_dets)
        else:
            a = list(AREA_RANGES).index(area)
            m = MAX_DETS.index(max_dets)
            s = metrics.recall[:, :, a, m]
            if iou is not None:
                s = s[[_iou_index(iou)]]
        valid = s[s > -1]
        stats[name] = float(np.mean(valid)) if valid.size else -1.0
    return stats
