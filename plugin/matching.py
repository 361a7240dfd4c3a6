"""Greedy COCO matching for many IoU thresholds and area ranges in one pass.

pycocotools matches, per image and class, each prediction in descending
confidence to the unmatched ground truth of highest IoU (at least the
threshold), preferring regular objects over ignored ones (crowds and objects
outside the area range); crowds may absorb several predictions. Predictions of
one (image, class) group depend on the ones before them, but different groups
are independent, so here the k-th prediction of *every* group is matched at
once, for every threshold and area range: the Python loop runs over ranks
(at most the largest group, typically tens), never over objects.

Greedy matching is prefix-consistent: dropping the lowest-confidence
predictions of a group does not change the matches of the others. So one pass
over all predictions also gives COCO's ``maxDets`` truncations and the matches
at any confidence threshold.
"""

from dataclasses import dataclass

import numpy as np


@dataclass
class Matches:
    """Result of :func:`match`.

    Attributes:
        pred_gt: (A, T, P) int, index of the matched gt or -1
        pred_iou: (A, T, P) float, IoU with the matched gt (NaN if unmatched)
        gt_pred: (A, T, G) int, index of the first (most confident) prediction
            matched to each gt, or -1
        rank: (P,) int, rank of each prediction within its (image, class)
            group by descending confidence (ties keep input order)
    """

    pred_gt: np.ndarray
    pred_iou: np.ndarray
    gt_pred: np.ndarray
    rank: np.ndarray


def group_rank(image, label, score):
    """Rank of each prediction in its (image, label) group, most confident first.

    Ties keep input order, like pycocotools' mergesort.
    """
    n = len(score)
    order = np.lexsort((np.arange(n), -np.asarray(score, dtype=np.float64), label, image))
    key_image = np.asarray(image)[order]
    key_label = np.asarray(label)[order]
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = (key_image[1:] != key_image[:-1]) | (key_label[1:] != key_label[:-1])
    starts = np.flatnonzero(new_group)
    group_start = np.repeat(starts, np.diff(np.append(starts, n)))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - group_start
    return rank


def match(pair_pred, pair_gt, pair_iou, rank, num_gt, thresholds, gt_ignore, gt_crowd):
    """Matches predictions to ground truth like pycocotools' ``evaluateImg``.

    Args:
        pair_pred, pair_gt, pair_iou: candidate pairs (same image and, for
            class-wise matching, same class) with their IoU
        rank: (P,) rank of each prediction within its group (see
            :func:`group_rank`)
        num_gt: number of ground-truth objects G
        thresholds: (T,) IoU thresholds
        gt_ignore: (A, G) bool, whether each gt is ignored in each area range
        gt_crowd: (G,) bool, crowd regions (may be matched repeatedly)

    Returns:
        a :class:`Matches`
    """
    rank = np.asarray(rank, dtype=np.int64)
    num_pred = rank.size
    gt_ignore = np.atleast_2d(np.asarray(gt_ignore, dtype=bool))
    gt_crowd = np.asarray(gt_crowd, dtype=bool)
    thr = np.minimum(np.asarray(thresholds, dtype=np.float64), 1 - 1e-10)
    n_area, n_thr = gt_ignore.shape[0], thr.size

    pred_gt = np.full((n_area, n_thr, num_pred), -1, dtype=np.int64)
    pred_iou = np.full((n_area, n_thr, num_pred), np.nan)
    gt_pred = np.full((n_area, n_thr, num_gt), -1, dtype=np.int64)
    if len(pair_pred) == 0:
        return Matches(pred_gt, pred_iou, gt_pred, rank)

    pair_pred = np.asarray(pair_pred, dtype=np.int64)
    pair_gt = np.asarray(pair_gt, dtype=np.int64)
    pair_iou = np.asarray(pair_iou, dtype=np.float64)
    # Pairs that can never pass the lowest threshold are irrelevant.
    keep = pair_iou >= thr.min()
    pair_pred, pair_gt, pair_iou = pair_pred[keep], pair_gt[keep], pair_iou[keep]
    if pair_pred.size == 0:
        return Matches(pred_gt, pred_iou, gt_pred, rank)

    # Preference among a prediction's candidates, per area range: regular
    # before ignored, then higher IoU, then later gt (pycocotools keeps the
    # last of equal IoUs). Encoded as a global rank so a segment max picks it.
    n_pairs = pair_pred.size
    pref = np.empty((n_area, n_pairs), dtype=np.int64)
    for a in range(n_area):
        order = np.lexsort((pair_gt, pair_iou, ~gt_ignore[a, pair_gt], pair_pred))
        pref[a, order] = np.arange(n_pairs)
    inverse = np.argsort(pref, axis=1)

    # Process pairs step by step: all predictions of the same rank at once.
    step_order = np.lexsort((pair_pred, rank[pair_pred]))
    pair_rank = rank[pair_pred][step_order]
    step_bounds = np.flatnonzero(np.diff(pair_rank)) + 1
    step_starts = np.concatenate([[0], step_bounds])
    step_ends = np.concatenate([step_bounds, [n_pairs]])

    taken = np.zeros((n_area, n_thr, num_gt), dtype=bool)
    for start, end in zip(step_starts, step_ends):
        idx = step_order[start:end]
        p, g, iou = pair_pred[idx], pair_gt[idx], pair_iou[idx]
        free = ~taken[:, :, g] | gt_crowd[g]
        eligible = free & (iou[None, None, :] >= thr[None, :, None])
        key = np.where(eligible, pref[:, idx][:, None, :], -1)
        seg_start = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
        best = np.maximum.reduceat(key, seg_start, axis=2)
        hit = best >= 0
        if not hit.any():
            continue
        a_i, t_i, s_i = np.nonzero(hit)
        chosen = inverse[a_i, best[a_i, t_i, s_i]]
        pred = pair_pred[chosen]
        gt = pair_gt[chosen]
        pred_gt[a_i, t_i, pred] = gt
        pred_iou[a_i, t_i, pred] = pair_iou[chosen]
        first = gt_pred[a_i, t_i, gt] < 0
        gt_pred[a_i[first], t_i[first], gt[first]] = pred[first]
        taken[a_i, t_i, gt] = True
    return Matches(pred_gt, pred_iou, gt_pred, rank)
