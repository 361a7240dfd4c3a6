"""TIDE's oracle dAP: how much AP fixing each error type would gain.

After Bolya et al. (ECCV 2020) and the ``tidecv`` package: each main error
type is fixed on its own, from the original predictions, and the AP at IoU
``t`` recomputed; the gain (never below 0, as TIDE) is that type's dAP.

- ``classification`` / ``localization``: the most confident classification
  or localization error on an undetected object becomes a true positive (of
  the object's class); the other errors of that type are removed (TIDE's
  ``BestGTMatch``: one fix per object, over both types).
- ``both``, ``duplicate``, ``background``: those predictions are removed.
- ``missed``: those objects are removed from the ground truth.
- special ``false_positives``: every true positive ranked above every false
  positive (perfect precision, same recall); ``false_negatives``: every
  undetected object removed (perfect recall, same precision).

The error types are the engine's (see :mod:`.errors` and the README for where
they differ from TIDE's). AP is the 101-point AP at ``t`` (COCO's, on TIDE's
recall grid) over every prediction (no ``maxDets``), averaged over the classes
that have ground truth after the fix; TIDE also averages in classes without
ground truth that have predictions, at AP 0.
"""

import numpy as np

from . import errors, matching

#: TIDE's recall grid, i / 100. COCO's ``np.linspace`` differs in the last bit at some
#: thresholds, so where a class's recall lands exactly on one (e.g. 28 of 80 objects) the two
#: APs differ (by 1.1e-4 on coco100)
RECALL_THRESHOLDS = np.arange(101) / 100

MAIN = ("classification", "localization", "both", "duplicate", "background", "missed")
SPECIAL = ("false_positives", "false_negatives")


def mean_ap(label, score, tp, num_gt, tiebreak):
    """COCO's 101-point AP averaged over the classes with ground truth (None if none).

    ``label``, ``score``, ``tp`` (N,) describe the ranked predictions, ``num_gt`` (K,) the
    objects per class, ``tiebreak`` (N,) orders equal confidences (COCO: image, then rank).
    """
    valid = num_gt > 0
    if not valid.any():
        return None
    keep = valid[label]
    label, score, tp, tiebreak = label[keep], score[keep], tp[keep], tiebreak[keep]
    order = np.lexsort((tiebreak, -score, label))
    label, tp = label[order], tp[order].astype(np.int64)
    K, thresholds = num_gt.size, RECALL_THRESHOLDS
    counts = np.bincount(label, minlength=K)
    start = (np.cumsum(counts) - counts)[label]
    before = np.r_[0, np.cumsum(tp)]
    n_tp = np.cumsum(tp) - before[start]
    n_all = np.arange(label.size) + 1 - start
    recall = n_tp / num_gt[label]
    precision = n_tp / (n_all + np.spacing(1))
    # precision at recall r: the best precision among predictions with recall >= r
    bucket = np.searchsorted(thresholds, recall, side="right")
    best = np.zeros((K, thresholds.size + 1))
    np.maximum.at(best, (label, bucket), precision)
    envelope = np.maximum.accumulate(best[:, ::-1], axis=1)[:, ::-1]
    return float(envelope[valid, 1:].mean())


def delta_ap(ev, iou=0.5):
    """``{"AP": ..., "main": {type: dAP}, "special": {type: dAP}}`` at IoU ``iou`` (fractions
    of 1, like the COCO numbers; TIDE prints them x100)."""
    t = ev.threshold_index(iou)
    a = ev.assess(iou)
    err, target = a.pred_error, a.pred_target
    label, score = ev.pred_label, ev.pred_score
    K = ev.num_classes
    kept = err >= 0  # predictions matched to crowd regions are ignored
    tp = err == errors.CORRECT
    num_gt = np.bincount(ev.gt_label[~ev.gt_crowd], minlength=K)
    tiebreak = _tie_order(ev)

    # at equal confidence TIDE ranks a fixed set's errors before its true positives
    fixed_tiebreak = tiebreak + tp * tiebreak.size

    def ap(keep=kept, lab=label, hit=tp, n_gt=num_gt, sc=score):
        return mean_ap(lab[keep], sc[keep], hit[keep], n_gt, fixed_tiebreak[keep])

    base = mean_ap(label[kept], score[kept], tp[kept], num_gt, tiebreak[kept])
    if base is None:
        return {"AP": None, "main": dict.fromkeys(MAIN), "special": dict.fromkeys(SPECIAL)}
    fixed = {}
    best = _best_claims(ev, t, err, target, score)
    for name, code in (("classification", errors.CLASSIFICATION), ("localization", errors.LOCALIZATION)):
        mine = err == code
        hit = tp | (mine & best)
        lab = np.where(mine & best, ev.gt_label[np.maximum(target, 0)], label)
        fixed[name] = ap(keep=kept & ~(mine & ~best), lab=lab, hit=hit)
    for name, code in (("both", errors.BOTH), ("duplicate", errors.DUPLICATE),
                       ("background", errors.BACKGROUND)):
        fixed[name] = ap(keep=kept & (err != code))
    missed = ev.gt_label[a.gt_error == errors.MISSED]
    fixed["missed"] = ap(n_gt=num_gt - np.bincount(missed, minlength=K))
    main = {name: max(_delta(fixed[name], base), 0.0) for name in MAIN}
    special = {
        "false_positives": _delta(ap(sc=tp.astype(np.float64)), base),
        "false_negatives": _delta(ap(n_gt=np.bincount(label[kept & tp], minlength=K)), base),
    }
    return {"AP": base, "main": main, "special": special}


def _best_claims(ev, t, err, target, score):
    """(P,) whether each classification / localization error is the one that fixes its
    object: the most confident (then the first) of those errors on an undetected object."""
    claim = np.isin(err, (errors.CLASSIFICATION, errors.LOCALIZATION))
    claim &= ev.gt_pred[t][np.maximum(target, 0)] < 0
    p = np.flatnonzero(claim)
    g = target[p]
    order = np.lexsort((p, -score[p], g))
    first = np.r_[True, g[order][1:] != g[order][:-1]] if p.size else np.zeros(0, bool)
    best = np.zeros(err.size, bool)
    best[p[order][first]] = True
    return best


def _tie_order(ev):
    """(P,) position of each prediction in COCO's order for equal confidences: image, then rank."""
    rank = matching.group_rank(ev.pred_image, ev.pred_label, ev.pred_score)
    order = np.lexsort((rank, ev.pred_image))
    position = np.empty(order.size, dtype=np.int64)
    position[order] = np.arange(order.size)
    return position


def _delta(value, base):
    """A fix that leaves no class with ground truth gains nothing measurable."""
    return 0.0 if value is None else value - base
