"""Error types (after TIDE) and the confusion matrix at an operating point.

At a confidence threshold ``c`` and IoU threshold ``t`` every prediction with
confidence ``>= c`` and every ground-truth object gets one error type, in this
order of precedence (``bg`` = 0.1, TIDE's background threshold):

predictions
- ``correct``: matched class-wise (COCO greedy matching at ``t``).
- ``classification``: IoU >= t with an object of another class that nothing
  detected; if several predictions claim one object, the most confident one
  is the classification error and the others are duplicates.
- ``duplicate``: IoU >= t with an object that is already detected (correctly
  or as a classification error), whatever its class.
- ``localization``: IoU in [bg, t) with an object of its own class.
- ``both``: IoU in [bg, t) with an object of another class only.
- ``background``: IoU < bg with every object (a false positive from nowhere).

ground truth
- ``correct``: detected class-wise.
- ``classification``: claimed by a classification error.
- ``localization`` / ``both``: the best-overlapping object of such an error.
- ``missed``: none of the above.

Crowd regions follow TIDE: they get no error type and are never the target of
an error (pairs with them are dropped before typing). Predictions matched to
crowd regions are ignored, as in COCO.

TIDE tests localization before classification and duplicates last; here
classification comes first so that a prediction sitting squarely (IoU >= t)
on an undetected object of another class is always a confusion, which makes
the error types and the confusion matrix tell the same story: its off-diagonal
cells are exactly the classification errors, its **Not an object** row the
other false positives and its **Not detected** column the undetected objects.
Every resulting difference from TIDE is listed in the README (Exact semantics)
and asserted against ``tidecv`` in tests/test_tide_reference.py.
"""

from dataclasses import dataclass

import numpy as np

ERROR_TYPES = ("correct", "classification", "localization", "both", "duplicate", "background", "missed")
CORRECT, CLASSIFICATION, LOCALIZATION, BOTH, DUPLICATE, BACKGROUND, MISSED = range(7)
NOT_EVALUATED = -1
BACKGROUND_IOU = 0.1


@dataclass
class Assessment:
    """Errors and confusion at one (confidence, IoU) operating point.

    Attributes:
        pred_error, gt_error: (P,), (G,) codes into :data:`ERROR_TYPES`, -1 when
            not evaluated (below the confidence threshold, crowd regions and the
            predictions matched to them)
        pred_target: (P,) the gt each error refers to (matched, confused,
            mislocalized), or -1
        pred_cell, gt_cell: (P, 2), (G, 2) confusion (row, col) of each object,
            -1 when not counted
        confusion: (K+1, K+1) counts; rows are gt classes + Not an object,
            columns predicted classes + Not detected
    """

    pred_error: np.ndarray
    gt_error: np.ndarray
    pred_target: np.ndarray
    pred_cell: np.ndarray
    gt_cell: np.ndarray
    confusion: np.ndarray

    def error_counts(self):
        """Errors counted once each: predictions by their type, plus missed objects."""
        counts = np.bincount(self.pred_error[self.pred_error >= 0], minlength=len(ERROR_TYPES))
        counts[MISSED] = np.count_nonzero(self.gt_error == MISSED)
        return dict(zip(ERROR_TYPES, counts.tolist()))

    def restrict(self, pred_in, gt_in):
        """The same operating point counted over a subset only (e.g. a cluster of
        the error map, or the App's current view).

        ``pred_in`` (P,) / ``gt_in`` (G,) say which predictions and objects are
        in the subset. Every prediction keeps its type and confusion cell and
        every missed object its row, so a subset's counts add up to the whole's
        over a partition (an object confused by a prediction is counted with
        that prediction, as in the full matrix).
        """
        pred_in = np.asarray(pred_in, dtype=bool)
        gt_in = np.asarray(gt_in, dtype=bool)
        pred_error = np.where(pred_in, self.pred_error, NOT_EVALUATED)
        gt_error = np.where(gt_in, self.gt_error, NOT_EVALUATED)
        pred_cell = np.where(pred_in[:, None], self.pred_cell, -1)
        gt_cell = np.where(gt_in[:, None], self.gt_cell, -1)
        K1 = self.confusion.shape[0]
        counted = pred_cell[:, 0] >= 0
        missed = (gt_cell[:, 0] >= 0) & (gt_cell[:, 1] == K1 - 1)  # not detected nor confused
        cells = np.r_[pred_cell[counted, 0] * K1 + pred_cell[counted, 1],
                      gt_cell[missed, 0] * K1 + K1 - 1]
        confusion = np.bincount(cells, minlength=K1 * K1).reshape(K1, K1)
        return Assessment(pred_error, gt_error, self.pred_target, pred_cell, gt_cell, confusion)

    def class_counts(self):
        """Per class: tp, fp, fn, misclassified (gt of k given another class), as arrays."""
        c = self.confusion
        K = c.shape[0] - 1
        tp = np.diag(c)[:K].copy()
        fp = c[:, :K].sum(axis=0) - tp
        fn = c[:K, :].sum(axis=1) - tp
        misclassified = c[:K, :K].sum(axis=1) - tp
        return {"tp": tp, "fp": fp, "fn": fn, "misclassified": misclassified,
                "not_an_object": c[K, :K].copy(), "not_detected": c[:K, K].copy()}


def assess(score, label, gt_label, gt_crowd, pred_gt, gt_pred, pairs, iou, num_classes, confidence=None):
    """Error types and confusion matrix at ``(confidence, iou)``.

    Args:
        score, label: (P,) prediction confidences and classes
        gt_label, gt_crowd: (G,) gt classes and crowd flags
        pred_gt: (P,) class-wise match at ``iou`` (gt index or -1)
        gt_pred: (G,) most confident class-wise match at ``iou`` or -1
        pairs: ``(pred, gt, iou)`` arrays of all overlapping same-image pairs,
            any class, sorted by (pred, iou) (see :func:`sort_pairs`)
        iou: the IoU threshold ``t``
        num_classes: K
        confidence: threshold ``c``; None keeps every prediction

    Returns:
        an :class:`Assessment`
    """
    score = np.asarray(score, dtype=np.float64)
    label = np.asarray(label, dtype=np.int64)
    gt_label = np.asarray(gt_label, dtype=np.int64)
    gt_crowd = np.asarray(gt_crowd, dtype=bool)
    P, G, K = score.size, gt_label.size, num_classes

    active = np.ones(P, dtype=bool) if confidence is None else score >= confidence
    matched = active & (pred_gt >= 0)
    first = np.where(gt_pred >= 0, gt_pred, 0)
    detected = (gt_pred >= 0) & (active[first] if P else False)

    pred_error = np.full(P, NOT_EVALUATED, dtype=np.int64)
    pred_error[matched] = CORRECT
    pred_target = np.where(matched, pred_gt, -1)

    pp, pg, pv = _object_pairs(pairs, gt_crowd)
    fp_pair = active[pp] & ~matched[pp]
    pp, pg, pv = pp[fp_pair], pg[fp_pair], pv[fp_pair]
    same = label[pp] == gt_label[pg]

    # classification: best undetected other-class object at IoU >= t; one
    # winner (most confident) per object, the others become duplicates
    cand = ~same & ~gt_crowd[pg] & ~detected[pg] & (pv >= iou)
    p_c, g_c = _best_pair(pp[cand], pg[cand], pv[cand])
    order = np.lexsort((p_c, -score[p_c], g_c))
    win = np.r_[True, g_c[order][1:] != g_c[order][:-1]] if order.size else np.zeros(0, bool)
    winners, losers = order[win], order[~win]
    pred_error[p_c[winners]] = CLASSIFICATION
    pred_target[p_c[winners]] = g_c[winners]
    claimed = np.zeros(G, dtype=bool)
    claimed[g_c[winners]] = True
    pred_error[p_c[losers]] = DUPLICATE
    pred_target[p_c[losers]] = g_c[losers]

    # duplicate: IoU >= t with an already detected object
    todo = pred_error[pp] == NOT_EVALUATED
    dup = todo & (pv >= iou) & (detected | claimed)[pg]
    p_d, g_d = _best_pair(pp[dup], pg[dup], pv[dup])
    pred_error[p_d], pred_target[p_d] = DUPLICATE, g_d

    # localization, then both (class + localization)
    for code, mask in ((LOCALIZATION, same), (BOTH, ~same)):
        todo = pred_error[pp] == NOT_EVALUATED
        sel = todo & mask & (pv >= BACKGROUND_IOU)
        p_x, g_x = _best_pair(pp[sel], pg[sel], pv[sel])
        pred_error[p_x], pred_target[p_x] = code, g_x

    pred_error[active & (pred_error == NOT_EVALUATED)] = BACKGROUND

    gt_error = np.full(G, MISSED, dtype=np.int64)
    for code in (BOTH, LOCALIZATION):  # localization wins over both
        hit = pred_target[pred_error == code]
        gt_error[hit] = code
    gt_error[claimed] = CLASSIFICATION
    gt_error[detected] = CORRECT
    gt_error[gt_crowd] = NOT_EVALUATED

    # predictions on crowd regions are ignored, as in COCO
    crowd_match = matched & gt_crowd[np.where(pred_gt >= 0, pred_gt, 0)] if G else np.zeros(P, bool)
    pred_error[crowd_match] = NOT_EVALUATED

    # confusion matrix, counting objects
    pred_row = np.full(P, -1, dtype=np.int64)
    pred_col = np.full(P, -1, dtype=np.int64)
    counted = active & ~crowd_match
    pred_col[counted] = label[counted]
    pred_row[counted] = K
    ok = counted & (pred_error == CORRECT)
    pred_row[ok] = label[ok]
    cls = pred_error == CLASSIFICATION
    pred_row[cls] = gt_label[pred_target[cls]]

    # every non-crowd gt sits in its row: on the diagonal when detected, in
    # the confusing class's column when claimed, else in Not detected
    real = ~gt_crowd
    gt_row = np.where(real, gt_label, -1)
    gt_col = np.where(real, K, -1)
    gt_col[real & detected] = gt_label[real & detected]
    gt_col[pred_target[cls]] = label[cls]
    missed = real & ~detected & ~claimed

    cells = np.r_[pred_row[counted] * (K + 1) + pred_col[counted],
                  gt_row[missed] * (K + 1) + K]
    confusion = np.bincount(cells, minlength=(K + 1) ** 2).reshape(K + 1, K + 1)
    pred_cell = np.stack([pred_row, pred_col], axis=1)
    gt_cell = np.stack([gt_row, gt_col], axis=1)
    return Assessment(pred_error, gt_error, pred_target, pred_cell, gt_cell, confusion)


def sort_pairs(p, g, v):
    """Pairs ordered by (prediction, IoU), the order :func:`assess` expects."""
    order = np.lexsort((v, p))
    return p[order], g[order], v[order]


def _object_pairs(pairs, gt_crowd):
    """The pairs with real objects: crowd regions are never an error's target (as in TIDE)."""
    pp, pg, pv = (np.asarray(a) for a in pairs)
    if gt_crowd.any():
        real = ~gt_crowd[pg]
        pp, pg, pv = pp[real], pg[real], pv[real]
    return pp, pg, pv


def _best_pair(p, g, v):
    """For each distinct prediction in ``p``, its pair of highest IoU.

    Pairs arrive sorted by (prediction, IoU), and filtering keeps that order,
    so the best pair is the last of each prediction's run.
    """
    if p.size == 0:
        return p, g
    last = np.r_[p[1:] != p[:-1], True]
    return p[last], g[last]


def _threshold_ranges(score, gt_pred, thresholds):
    """Index ranges over ascending ``thresholds``: a prediction is kept for the
    thresholds ``j < kept_until``, an object is detected for ``j < detected_until``."""
    if np.any(np.diff(thresholds) < 0):
        raise ValueError("thresholds must be ascending")
    kept_until = np.searchsorted(thresholds, score, side="right")
    has_match = gt_pred >= 0
    detect_score = np.where(has_match, score[np.where(has_match, gt_pred, 0)] if score.size else 0, -np.inf)
    detected_until = np.searchsorted(thresholds, detect_score, side="right")
    return kept_until, detected_until


def _classification_claims(score, label, gt_label, gt_crowd, pred_gt, pairs, iou, kept_until,
                           detected_until):
    """The classification candidates of :func:`assess` at every threshold.

    A false positive ``p`` is a candidate for an undetected, non-crowd object
    ``g`` of another class at IoU >= ``iou`` for the thresholds
    ``[detected_until[g], kept_until[p])``. Returns ``(p, g, j, win)``: each
    prediction's best candidate (highest IoU) at threshold ``j``, ordered by
    (threshold, object, confidence descending, prediction), and whether it
    wins its object there (the most confident, then the lowest index); the
    others are duplicates.
    """
    pp, pg, pv = (np.asarray(a) for a in pairs)
    cand = ((pred_gt[pp] < 0) & (label[pp] != gt_label[pg]) & ~gt_crowd[pg] & (pv >= iou))
    pp, pg = pp[cand], pg[cand]
    lo, hi = detected_until[pg], kept_until[pp]
    n = np.maximum(hi - lo, 0)
    pair = np.repeat(np.arange(pp.size), n)
    j = lo[pair] + np.arange(pair.size) - np.repeat(np.cumsum(n) - n, n)
    by_j = np.argsort(j, kind="stable")  # pairs stay in (prediction, IoU) order within a threshold
    pair, j = pair[by_j], j[by_j]
    p = pp[pair]
    # highest IoU per (threshold, prediction): the last of its run
    best = np.r_[(p[1:] != p[:-1]) | (j[1:] != j[:-1]), True] if p.size else np.zeros(0, bool)
    p, g, j = p[best], pg[pair[best]], j[best]
    order = np.lexsort((p, -score[p], g, j))
    p, g, j = p[order], g[order], j[order]
    win = np.r_[True, (g[1:] != g[:-1]) | (j[1:] != j[:-1])] if p.size else np.zeros(0, bool)
    return p, g, j, win


def confusion_sweep(score, label, gt_label, gt_crowd, pred_gt, gt_pred, pairs, iou, num_classes,
                    thresholds):
    """The confusion matrix of :func:`assess` at many confidence thresholds at once.

    Same arguments as :func:`assess`, with ``thresholds`` (T,) ascending instead
    of one confidence. Returns (T, K+1, K+1) counts, equal to
    ``assess(..., confidence=thresholds[j]).confusion`` for every ``j``.

    Only classification errors depend on the threshold in a non-monotone way:
    a false positive ``p`` can claim an undetected object ``g`` of another
    class for the thresholds at which ``p`` is kept and ``g``'s detection is
    not. Everything else is a prefix (kept predictions) or a suffix (missed
    objects) over the sorted thresholds, so counts are cumulative sums.
    """
    score = np.asarray(score, dtype=np.float64)
    label = np.asarray(label, dtype=np.int64)
    gt_label = np.asarray(gt_label, dtype=np.int64)
    gt_crowd = np.asarray(gt_crowd, dtype=bool)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    kept_until, detected_until = _threshold_ranges(score, gt_pred, thresholds)
    T, K1 = thresholds.size, num_classes + 1
    to_crowd = (pred_gt >= 0) & (gt_crowd[np.where(pred_gt >= 0, pred_gt, 0)] if gt_crowd.size else False)
    counted = ~to_crowd

    # predictions: matched ones on the diagonal, the others in "Not an object" (prefixes)
    rows = np.where(pred_gt >= 0, label, K1 - 1)
    last = np.zeros((T + 1) * K1 * K1, dtype=np.int64)
    np.add.at(last, (kept_until[counted] * K1 + rows[counted]) * K1 + label[counted], 1)
    # objects never detected nor claimed: "Not detected" from their first undetected threshold (suffixes)
    real = ~gt_crowd
    first = np.zeros((T + 1) * K1 * K1, dtype=np.int64)
    np.add.at(first, (detected_until[real] * K1 + gt_label[real]) * K1 + K1 - 1, 1)
    conf = (np.cumsum(last.reshape(T + 1, K1, K1)[::-1], axis=0)[::-1][1:]
            + np.cumsum(first.reshape(T + 1, K1, K1), axis=0)[:T])

    # classification errors move a prediction and its object into the object's row
    p, g, j, win = _classification_claims(score, label, gt_label, gt_crowd, pred_gt, pairs, iou,
                                          kept_until, detected_until)
    p, g, j = p[win], g[win], j[win]
    moves = np.zeros(T * K1 * K1, dtype=np.int64)
    np.add.at(moves, (j * K1 + gt_label[g]) * K1 + label[p], 1)       # into the object's row
    np.add.at(moves, (j * K1 + K1 - 1) * K1 + label[p], -1)          # out of "Not an object"
    np.add.at(moves, (j * K1 + gt_label[g]) * K1 + K1 - 1, -1)       # the object is not missed
    conf += moves.reshape(T, K1, K1)
    return conf


def error_sweep(score, label, gt_label, gt_crowd, pred_gt, gt_pred, pairs, iou, num_classes,
                thresholds):
    """The error types of :func:`assess` at many confidence thresholds at once.

    Same arguments as :func:`assess`, with ``thresholds`` (T,) ascending instead
    of one confidence. Returns ``(pred_error, gt_error)``, int8 arrays of shape
    (T, P) and (T, G) whose row ``j`` equals ``assess(...,
    confidence=thresholds[j]).pred_error`` and ``.gt_error``.

    A kept prediction's type changes with the threshold only through the
    objects detected or claimed by a classification error: it is a duplicate
    of a detected object for a prefix of the thresholds, and a classification
    error or a duplicate of a claimed object where
    :func:`_classification_claims` says so. Otherwise its type (correct,
    localization, both, background) and the object it refers to do not
    depend on the threshold: :func:`assess` assigns them per prediction, from
    all of its pairs.
    """
    score = np.asarray(score, dtype=np.float64)
    label = np.asarray(label, dtype=np.int64)
    gt_label = np.asarray(gt_label, dtype=np.int64)
    gt_crowd = np.asarray(gt_crowd, dtype=bool)
    pred_gt = np.asarray(pred_gt, dtype=np.int64)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    kept_until, detected_until = _threshold_ranges(score, gt_pred, thresholds)
    T, P, G = thresholds.size, score.size, gt_label.size
    steps = np.arange(T)[:, None]

    # the type a kept prediction has when no object near it is detected or claimed
    matched = pred_gt >= 0
    to_crowd = matched & (gt_crowd[np.where(matched, pred_gt, 0)] if G else False)
    base = np.full(P, BACKGROUND, dtype=np.int8)
    base[matched] = CORRECT
    base[to_crowd] = NOT_EVALUATED
    target = np.full(P, -1, dtype=np.int64)
    pp, pg, pv = _object_pairs(pairs, gt_crowd)
    fp_pair = ~matched[pp]
    pp, pg, pv = pp[fp_pair], pg[fp_pair], pv[fp_pair]
    same = label[pp] == gt_label[pg]
    for code, sel in ((BOTH, ~same & (pv >= BACKGROUND_IOU)),   # localization wins over both
                      (LOCALIZATION, same & (pv >= BACKGROUND_IOU))):
        p_x, g_x = _best_pair(pp[sel], pg[sel], pv[sel])
        base[p_x], target[p_x] = code, g_x

    # duplicates of detected objects: thresholds below the latest detection among them
    close = pv >= iou
    dup_until = np.zeros(P, dtype=np.int64)
    np.maximum.at(dup_until, pp[close], detected_until[pg[close]])
    dup_until = np.minimum(dup_until, kept_until)
    # base where kept, NOT_EVALUATED elsewhere, without np.where (several times slower on (T, P))
    pred_error = (steps < kept_until) * (base + np.int8(1))
    pred_error -= 1
    np.putmask(pred_error, steps < dup_until, DUPLICATE)

    # classification errors, duplicates of claimed objects, and losing claims
    p_c, g_c, j_c, win = _classification_claims(score, label, gt_label, gt_crowd, pred_gt, pairs, iou,
                                                kept_until, detected_until)
    claimed = np.zeros((T, G), dtype=bool)
    claimed[j_c[win], g_c[win]] = True
    near = close & claimed.any(axis=0)[pg]
    j_d, k_d = np.nonzero(claimed[:, pg[near]])
    p_d = pp[near][k_d]
    kept = j_d < kept_until[p_d]
    pred_error[j_d[kept], p_d[kept]] = DUPLICATE
    pred_error[j_c, p_c] = np.where(win, CLASSIFICATION, DUPLICATE)

    # objects: precedence missed < both < localization < classification < correct
    gt_error = np.full((T, G), MISSED, dtype=np.int8)
    for code in (BOTH, LOCALIZATION):
        j_x, p_x = np.divmod(np.flatnonzero(pred_error == code), P)
        gt_error[j_x, target[p_x]] = code
    gt_error[j_c[win], g_c[win]] = CLASSIFICATION
    detected = steps < detected_until
    np.putmask(gt_error, detected, CORRECT)
    gt_error[:, gt_crowd] = NOT_EVALUATED
    return pred_error, gt_error
