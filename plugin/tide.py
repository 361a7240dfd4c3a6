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


def mean_ap(label, rank, tp, num_gt):
    """101-point AP averaged over the classes with ground truth (None if none).

    ``label``, ``tp`` (N,) describe the predictions, ``rank`` (N,) distinct integers ordering
    them most confident first (see :func:`rankings`), ``num_gt`` (K,) the objects per class.
    """
    valid = num_gt > 0
    if not valid.any():
        return None
    keep = valid[label]
    label, rank, tp = label[keep], rank[keep], tp[keep]
    order = np.argsort(label.astype(np.int64) * (int(rank.max(initial=0)) + 1) + rank)  # int32 when loaded
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


def rankings(ev, tp):
    """``(original, fixed)`` (P,) ranks, most confident first. Equal confidences keep COCO's
    order (image, then rank in its image and class); after a fix TIDE puts the errors of a
    confidence before its true positives, and so does ``fixed``."""
    within = matching.group_rank(ev.pred_image, ev.pred_label, ev.pred_score)
    order = np.lexsort((within, ev.pred_image, -ev.pred_score))
    P = order.size
    original = np.empty(P, dtype=np.int64)
    original[order] = np.arange(P)
    sorted_score = ev.pred_score[order]
    level = np.empty(P, dtype=np.int64)
    level[order] = np.cumsum(np.r_[False, sorted_score[1:] != sorted_score[:-1]])
    fixed = (level * 2 + tp) * P + original
    return original, fixed


def delta_ap(ev, iou=0.5):
    """``{"iou", "AP", "main": {type: dAP}, "special": {type: dAP}}`` at IoU ``iou``
    (fractions of 1, like the COCO numbers; TIDE prints them x100)."""
    t = ev.threshold_index(iou)
    a = ev.assess(iou)
    err, target, label = a.pred_error, a.pred_target, ev.pred_label
    K = ev.num_classes
    kept = err >= 0  # predictions matched to crowd regions are ignored
    tp = err == errors.CORRECT
    num_gt = np.bincount(ev.gt_label[~ev.gt_crowd], minlength=K)
    original, fixed_rank = rankings(ev, tp)

    def ap(keep=kept, lab=label, hit=tp, n_gt=num_gt, rank=fixed_rank):
        return mean_ap(lab[keep], rank[keep], hit[keep], n_gt)

    base = ap(rank=original)
    if base is None:
        return {"iou": float(iou), "AP": None, "main": dict.fromkeys(MAIN),
                "special": dict.fromkeys(SPECIAL)}
    fixed = {}
    best = _best_claims(ev, t, err, target)
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
    special = {  # perfect precision: every true positive first; perfect recall: no missed object
        "false_positives": _delta(ap(rank=~tp * tp.size + original), base),
        "false_negatives": _delta(ap(n_gt=np.bincount(label[kept & tp], minlength=K)), base),
    }
    return {"iou": float(iou), "AP": base, "main": main, "special": special}


def _best_claims(ev, t, err, target):
    """(P,) whether each classification / localization error is the one that fixes its
    object: the most confident (then the first) of those errors on an undetected object."""
    claim = np.isin(err, (errors.CLASSIFICATION, errors.LOCALIZATION))
    claim &= ev.gt_pred[t][np.maximum(target, 0)] < 0
    p = np.flatnonzero(claim)
    g = target[p]
    order = np.lexsort((p, -ev.pred_score[p], g))
    first = np.r_[True, g[order][1:] != g[order][:-1]] if p.size else np.zeros(0, bool)
    best = np.zeros(err.size, bool)
    best[p[order][first]] = True
    return best


def _delta(value, base):
    """A fix that leaves no class with ground truth gains nothing measurable."""
    return 0.0 if value is None else value - base
