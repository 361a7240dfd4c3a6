"""Two runs with the same ground truth, side by side: what changed and whether it is real.

Everything is computed on the units both runs evaluated (paired by id): the
headline metrics with a paired bootstrap interval of B - A
(:func:`~.slices.compare`), per-class deltas, the P / R / F1 curves, the
difference of the confusion matrices, and the *flips*: the objects
(detection: ground-truth objects detected at the operating point), samples
(classification: predicted right) or images (segmentation: mean IoU at least
:data:`IMAGE_OK`) one run got right and the other did not.
"""

import numpy as np

from . import slices

IMAGE_OK = 0.5  # a segmentation image is "right" at this mean IoU (the error map's rule)
LAST = {"detection": ("Not an object", "Not detected"), "classification": (None, "Below threshold"),
        "segmentation": (None, "Unlabeled")}


def paired_units(ts_a, ts_b):
    """``(units_a, units_b)``: positions in each run of the units both hold, in A's order."""
    ids_a, ids_b = np.asarray(ts_a.unit_ids(), str), np.asarray(ts_b.unit_ids(), str)
    pos_b = {i: n for n, i in enumerate(ids_b.tolist())}
    both = [(n, pos_b[i]) for n, i in enumerate(ids_a.tolist()) if i in pos_b]
    if not both:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    a, b = np.asarray(both, np.int64).T
    return a, b


def per_class_deltas(ts_a, ts_b, units_a, units_b):
    """Per class (by name, both runs' classes): the task's per-class metric in A
    and B and B - A, largest change first (undefined ones last)."""
    va = dict(zip(ts_a.ev.classes, ts_a.per_class(units_a)))
    vb = dict(zip(ts_b.ev.classes, ts_b.per_class(units_b)))
    rows = []
    for c in list(dict.fromkeys(list(ts_a.ev.classes) + list(ts_b.ev.classes))):
        a, b = _num(va.get(c)), _num(vb.get(c))
        rows.append({"class": c, "a": a, "b": b, "delta": None if a is None or b is None else b - a})
    rows.sort(key=lambda r: (r["delta"] is None, -abs(r["delta"] or 0)))
    return rows


def curves(ts):
    """Precision, recall and F1 against the confidence threshold (plot-sized), or None."""
    ev = ts.ev
    if isinstance(ts, slices.SegmentationSlices):
        if ev.hist is None:
            return None
        m = ev.sweep_metrics()
        return {"confidence": m["thresholds"].tolist(),
                **{k: np.nan_to_num(m["mean"][k]).tolist() for k in ("precision", "recall", "f1")}}
    overall = (ev.sweeps(ts.iou) if isinstance(ts, slices.DetectionSlices) else ev.sweeps())[0]
    s = overall.downsample(300)
    return {k: getattr(s, k).tolist() for k in ("confidence", "precision", "recall", "f1")}


def confusion(ts):
    """``(rows, columns, matrix)`` of a run at its operating point, named."""
    ev = ts.ev
    if isinstance(ts, slices.DetectionSlices):
        m = ev.assess(ts.iou, ts.confidence).confusion
        return list(ev.classes) + ["Not an object"], list(ev.classes) + ["Not detected"], m
    if isinstance(ts, slices.ClassificationSlices):
        return list(ev.classes), list(ev.classes) + ["Below threshold"], ev.confusion(ts.confidence)
    return list(ev.classes), list(ev.classes) + ["Unlabeled"], ev.confusion_at(None)


def difference(conf_a, conf_b):
    """B - A of two named confusion matrices on the union of their rows and columns."""
    rows = list(dict.fromkeys(conf_a[0] + conf_b[0]))
    cols = list(dict.fromkeys(conf_a[1] + conf_b[1]))
    out = np.zeros((len(rows), len(cols)), np.int64)
    for sign, (r, c, m) in ((-1, conf_a), (1, conf_b)):
        ri = [rows.index(x) for x in r]
        ci = [cols.index(x) for x in c]
        out[np.ix_(ri, ci)] += sign * np.asarray(m, np.int64)
    return rows, cols, out


def right(ts):
    """``(ids, right)``: what flips are counted on (see the module docstring)."""
    ev = ts.ev
    if isinstance(ts, slices.DetectionSlices):
        t = ev.threshold_index(ts.iou)
        g = ev.gt_pred[t]
        hit = g >= 0
        if ts.confidence is not None:
            hit &= ev.pred_score[np.where(hit, g, 0)] >= float(ts.confidence)
        real = ~ev.gt_crowd.astype(bool)
        return ev.gt_ids[real], hit[real]
    if isinstance(ts, slices.ClassificationSlices):
        return np.asarray(ev.sample_ids, str), ts.correct
    miou = ev.image_metrics()["miou"]
    return np.asarray(ts.unit_ids(), str), np.nan_to_num(miou, nan=0.0) >= IMAGE_OK


def flips(ts_a, ts_b):
    """``{"a_only": ids, "b_only": ids}``: what A got right and B wrong, and the reverse
    (ids of objects, samples or images both runs hold)."""
    ids_a, ok_a = right(ts_a)
    ids_b, ok_b = right(ts_b)
    common, ia, ib = np.intersect1d(ids_a, ids_b, return_indices=True)
    a, b = ok_a[ia], ok_b[ib]
    return {"a_only": common[a & ~b].tolist(), "b_only": common[b & ~a].tolist()}


def _num(v):
    return None if v is None or not np.isfinite(v) else float(v)
