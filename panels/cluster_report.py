"""What one failure cluster does to the numbers: per-class metrics and its confusion sub-matrix.

Pure functions over the engine (no App, no database). A cluster is a subset of
the evaluated predictions and objects (:meth:`Evaluation.members`); counted at
an operating point with :meth:`Assessment.restrict`, each prediction keeps its
type and confusion cell, so the cluster's numbers are exactly its share of the
whole set's, and clicking a cell of its sub-matrix shows exactly what it counts.
"""

import numpy as np

from ..plugin.errors import CORRECT
from . import texts
from .counts import class_counts
from .figures import BASE_LAYOUT, NOT_AN_OBJECT, NOT_DETECTED, _revised, _title

DEFAULT_IOU = 0.5


def operating_point(ev, eval_key, saved=None):
    """``(iou, confidence, source)`` to count a cluster at.

    ``saved``: the evaluation explorer's stored choices (its execution store
    entry for the dataset); used when they are for the same run. Otherwise IoU
    0.5 and the maximum-F1 confidence. ``source`` says which, for the caption.
    """
    iou, conf, source = DEFAULT_IOU, None, "optimal confidence at IoU 0.50"
    if saved and saved.get("eval_key") == eval_key:
        try:
            iou = float(saved.get("iou") or DEFAULT_IOU)
            ev.threshold_index(iou)
            conf = saved.get("confidence")
            source = "the evaluation explorer's operating point"
        except (TypeError, ValueError):
            iou, conf = DEFAULT_IOU, None
    if conf is None:
        best = ev.sweeps(iou)[0].optimal()
        conf = best["confidence"] if best else None
    return iou, (None if conf is None else float(conf)), source


def restrict(ev, assessment, ids, map_assessment=None):
    """The assessment counted over the predictions and objects named by ``ids``
    (sample ids for a samples map, label ids for an objects map).

    An objects map has no point for an object that was detected when the map
    was made (its prediction stands for it); ``map_assessment`` (the map's
    operating point) puts such objects with the prediction that detected them,
    so that at any operating point the clusters partition every object."""
    pred_in, gt_in = ev.members(ids)
    if map_assessment is not None:
        hit = pred_in & (map_assessment.pred_error == CORRECT)
        gt_in = gt_in.copy()
        gt_in[map_assessment.pred_target[hit]] = True
    return assessment.restrict(pred_in, gt_in)


def with_detectors(ev, map_assessment, ids):
    """``ids`` (label ids) plus the ids of the predictions that detected, at the map's
    operating point, the objects among them: such an object has no point of its own
    on an objects map, so its detecting prediction's point stands for it."""
    _, gt_in = ev.members(ids)
    a = map_assessment
    hit = (a.pred_error == CORRECT) & gt_in[np.maximum(a.pred_target, 0)]
    return set(ids) | set(ev.pred_ids[hit].tolist())


def prf(tp, fp, fn):
    """Precision, recall, F1 (arrays; NaN where undefined)."""
    tp, fp, fn = (np.asarray(v, dtype=np.float64) for v in (tp, fp, fn))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        r = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
        f1 = np.where(p + r > 0, 2 * p * r / (p + r), np.where(np.isnan(p + r), np.nan, 0.0))
    return p, r, f1


def totals(ev, assessment):
    """Overall tp, fp, fn, precision, recall, F1 of an assessment (JSON-ready),
    counted as :mod:`.counts` defines them."""
    c = class_counts(ev, assessment)
    tp, fp, fn = int(c["tp"].sum()), int(c["fp"].sum()), int(c["fn"].sum())
    p, r, f1 = (_num(v) for v in prf(tp, fp, fn))
    return {"tp": tp, "fp": fp, "fn": fn, "precision": p, "recall": r, "f1": f1}


def class_rows(ev, sub, whole):
    """Per class present in the cluster (tp + fp + fn > 0), its counts (as
    :mod:`.counts` defines them) and precision / recall / F1, next to the whole
    set's; most errors first."""
    classes = ev.classes
    c, w = class_counts(ev, sub), class_counts(ev, whole)
    p, r, f1 = prf(c["tp"], c["fp"], c["fn"])
    wp, wr, wf1 = prf(w["tp"], w["fp"], w["fn"])
    errors = c["fp"] + c["fn"]
    present = np.flatnonzero(c["tp"] + errors > 0)
    order = present[np.lexsort((present, -errors[present]))]
    return [{"class": classes[k], "tp": int(c["tp"][k]), "fp": int(c["fp"][k]),
             "fn": int(c["fn"][k]), "precision": _num(p[k]), "recall": _num(r[k]),
             "f1": _num(f1[k]), "precision_all": _num(wp[k]), "recall_all": _num(wr[k]),
             "f1_all": _num(wf1[k])} for k in order]


def confusion_figure(confusion, classes, row_extra=NOT_AN_OBJECT, col_extra=NOT_DETECTED):
    """Heatmap of the rows and columns of ``confusion`` that are non-zero:
    ground-truth classes + Not an object down, predicted classes + Not detected
    across (as in the evaluation explorer; other tasks name the extra row and
    column, e.g. Below threshold). Returns ``(traces, layout)``."""
    K = len(classes)
    confusion = np.asarray(confusion)
    rows = np.flatnonzero(confusion.sum(axis=1) > 0)
    cols = np.flatnonzero(confusion.sum(axis=0) > 0)
    y = [classes[i] if i < K else row_extra for i in rows]
    x = [classes[j] if j < K else col_extra for j in cols]
    trace = {"type": "heatmap", "z": confusion[np.ix_(rows, cols)].tolist(), "x": x, "y": y,
             "colorscale": "Viridis", "texttemplate": "%{z}", "zmin": 0, "showscale": False,
             "hovertemplate": "truth %{y}<br>predicted %{x}<br>%{z}<extra></extra>"}
    longest = max((len(s) for s in x + y), default=4)
    layout = dict(BASE_LAYOUT, showlegend=False, height=max(220, 34 * len(y) + 120),
                  margin={"t": 70, "r": 10, "b": 10, "l": min(40 + 8 * longest, 220)},
                  xaxis={"title": _title("predicted"), "type": "category", "side": "top"},
                  yaxis={"title": _title("ground truth"), "type": "category",
                         "autorange": "reversed"})
    return [trace], _revised(layout, [trace])


def cell_index(name, classes, special):
    """Row / column index of a heatmap label: a class, or K for ``special``."""
    if name == special:
        return len(classes)
    return classes.index(name) if name in classes else None


def summary_md(cluster_totals, whole_totals, iou, confidence, source):
    """Two lines: the cluster's numbers against the whole set's, and where they come from;
    the confidence as the evaluation explorer writes it (an optimum off the slider's
    steps with up to 4 decimals), so one text never names two operating points."""
    fmt = lambda v: "–" if v is None else "%.2f" % v
    c, w = cluster_totals, whole_totals
    conf = "–" if confidence is None else texts.confidence_text(confidence)
    return ("At confidence **%s**, IoU **%.2f** (%s): precision **%s** (whole set %s), "
            "recall **%s** (%s), F1 **%s** (%s); %d TP, %d FP, %d FN in the cluster.\n\n"
            "Click a cell of the matrix to see exactly its objects."
            % (conf, iou, source, fmt(c["precision"]), fmt(w["precision"]),
               fmt(c["recall"]), fmt(w["recall"]), fmt(c["f1"]), fmt(w["f1"]),
               c["tp"], c["fp"], c["fn"]))


def _num(v):
    v = float(v)
    return None if np.isnan(v) else round(v, 3)


def significance_md(s, level):
    """Whether a cluster fails more than its content predicts, with the test's p-value."""
    expected = s.get("expected_errors")
    if expected is None:
        return ""
    counts = s.get("unit") == "errors"  # a detection image's errors, against a Poisson model
    what = "errors" if counts or level != "samples" else "images with an error"
    basis = s.get("basis") or (
        "their objects and classes predict" if counts else
        "their numbers of objects predict" if level == "samples" else "the overall rate predicts")
    test = "quasi-Poisson" if counts else "binomial"
    observed = s.get("observed_errors")
    p = s.get("p_value")
    verdict = ("**a significant failure cluster**" if s.get("significant") else
               "not significantly more than expected")
    return ("%d %s where %s %.1f (%+.1f): %s (one-sided %s test, Benjamini-Hochberg "
            "q %s)." % (s["error_count"] if observed is None else round(observed), what, basis,
                        expected, s["excess_errors"] or 0, verdict, test,
                        p_text(p) if p is not None and p < 1e-4 else "= " + p_text(p)))


def p_text(p):
    """A p-value as the panel writes it: two significant digits, and "< 0.0001"
    below that (an exponent such as 8.6e-16 wraps at its hyphen in a narrow panel)."""
    if p is None:
        return "–"
    return "< 0.0001" if p < 1e-4 else "%.2g" % p


def phrases_md(s):
    """The cluster's phrases with their effect sizes (Cohen's h), largest first."""
    effects = s.get("effect_sizes") or [None] * len(s["description"])
    return "; ".join(p if h is None else "%s (h %.1f)" % (p, h)
                     for p, h in zip(s["description"], effects))


def slices_md(s):
    """The threshold rules that best pick out the cluster's errors."""
    rules = s.get("slices") or []
    if not rules:
        return ""
    return "Rules for its errors: " + "; ".join(
        "**%s %s %.3g** (precision %.2f, recall %.2f)"
        % (r["feature"], "≤" if r["op"] == "<=" else "≥", r["threshold"], r["precision"],
           r["recall"]) for r in rules) + "."


def ranking_note(summaries):
    """Said plainly when no cluster fails significantly more than expected."""
    if any(s.get("significant") for s in summaries):
        return ""
    return ("No significant failure cluster: no cluster has more errors than its content "
            "predicts (one-sided test, Benjamini-Hochberg q < 0.05). The clusters below "
            "are groups of similar points, not causes of failure.")
