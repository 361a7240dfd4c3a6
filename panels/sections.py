"""The evaluation explorer's sections at many confidence thresholds at once.

The browser component moves the confidence slider without a round trip to
Python, so every section that depends on the threshold (the summary, the App's
view, the per-class table, the error types, the recommendations) is computed
here for each slider step. It uses the engine's sweeps (confusion matrices and
error types at every threshold, one vectorized pass each) and the functions
that format a single operating point, so a step and a released slider show the
same text.
"""

import functools
import json

import numpy as np

from ..plugin import errors
from ..plugin.recommendations import class_support, recommend_at
from . import figures, texts
from .counts import subset_counts

MAX_RECOMMENDATIONS = 8  # the most severe; many classes can trigger dozens of rules
TABLE_KEYS = ("class", "AP", "AP50", "AP75", "precision", "recall", "f1", "support",
              "optimal_threshold")  # the per-class table's columns, in order
TABLE_LABELS = ("Class", "AP", "AP50", "AP75", "Precision", "Recall", "F1", "Support",
                "Optimal threshold")
MOVING_KEYS = ("precision", "recall", "f1")  # the table's columns that follow the slider
ERROR_NAMES = [n for n in errors.ERROR_TYPES if n != "correct"]  # the error plot's bars


@functools.lru_cache(maxsize=4)  # as many runs as runs.load keeps
def _headline(ev):
    """The numbers of ``Evaluation.summary`` that no threshold changes."""
    return {k: v for k, v in ev.summary(0.5, None).items()
            if k in ("mAP", "AP50", "AP75", "num_gt", "num_pred")}


def error_counts(pred_error, gt_error):
    """(T, 7) counts per type of :data:`~..plugin.errors.ERROR_TYPES` from (T, P)
    and (T, G) error codes, counted as ``Assessment.error_counts`` counts one
    threshold: predictions by their type, plus missed objects."""
    out = np.stack([np.count_nonzero(pred_error == code, axis=1)
                    for code in range(len(errors.ERROR_TYPES))], axis=1)
    out[:, errors.MISSED] = np.count_nonzero(gt_error == errors.MISSED, axis=1)
    return out


def view_counts(pred_error, gt_error):
    """``(tp, fp, fn, counts)`` (T,) x 3 and (T, 7) of a subset of objects, from
    their error codes, as :func:`.counts.subset_counts` defines them (FN by object)."""
    return (*subset_counts(pred_error, gt_error), error_counts(pred_error, gt_error))


def at_confidences(ev, iou, confidences, *, num_images, covers, table_classes, members=None):
    """Every threshold-dependent section at each of ``confidences`` (ascending).

    ``table_classes``: class indices of the table's rows, in order; ``members``:
    ``(pred_in, gt_in, n_images)`` of the App's view, or None. Returns a dict of
    lists, one item per confidence: ``summary`` and ``view`` (markdown; ``view``
    None without a view), ``table`` (per row, :data:`MOVING_KEYS`), ``errors``
    (counts of :data:`ERROR_NAMES`), ``recommendations`` (the first
    :data:`MAX_RECOMMENDATIONS`, as dicts) and ``more`` (how many were left out);
    plus ``rows`` (every class's row), ``whole`` (``Evaluation.summary``-like)
    and ``confusion`` ((T, K+1, K+1)).
    """
    confidences = np.asarray(confidences, dtype=np.float64)
    if confidences.size == 1:  # one point: the cached assessment, which clicks reuse
        a = ev.assess(iou, float(confidences[0]))
        confusions, pred_error, gt_error = a.confusion[None], a.pred_error[None], a.gt_error[None]
    else:
        confusions = ev.confusions(iou, confidences)
        pred_error, gt_error = ev.error_sweeps(iou, confidences)
    counts = error_counts(pred_error, gt_error)
    overall, _ = ev.sweeps(iou)
    optimal = overall.optimal()
    constants = figures.class_constants(ev, iou)
    support = class_support(ev)
    stats = _headline(ev)
    out = {key: [] for key in ("summary", "table", "errors", "recommendations", "more", "rows",
                               "whole")}
    out["confusion"] = confusions
    for j, conf in enumerate(confidences.tolist()):
        point = overall.at(conf)
        found = dict(zip(errors.ERROR_TYPES, counts[j].tolist()))
        whole = dict(stats, confidence=conf, precision=point["precision"], recall=point["recall"],
                     f1=point["f1"], tp=point["tp"], fp=point["fp"],
                     fn=overall.num_gt - point["tp"], error_counts=found)
        rows = figures.class_rows(confusions[j], constants)
        recs = [r.to_dict() for r in recommend_at(ev.classes, support, point, optimal, found,
                                                  confusions[j], iou, num_images)]
        out["summary"].append(texts.summary_md(whole, rows, num_images, conf, optimal, covers, iou))
        out["table"].append([[rows[k][key] for key in MOVING_KEYS] for k in table_classes])
        out["errors"].append([found[name] for name in ERROR_NAMES])
        out["recommendations"].append(recs[:MAX_RECOMMENDATIONS])
        out["more"].append(max(0, len(recs) - MAX_RECOMMENDATIONS))
        out["rows"].append(rows)
        out["whole"].append(whole)
    out["view"] = None
    if members is not None:
        pred_in, gt_in, n_images = members
        tp, fp, fn, view_errors = view_counts(pred_error[:, pred_in], gt_error[:, gt_in])
        out["view"] = [texts.view_md(
            {"tp": int(tp[j]), "fp": int(fp[j]), "fn": int(fn[j]),
             "error_counts": dict(zip(errors.ERROR_TYPES, view_errors[j].tolist()))},
            out["whole"][j], int(np.count_nonzero(pred_in)), int(np.count_nonzero(gt_in)), n_images)
            for j in range(confidences.size)]
    return out


def browser_steps(sections, table_classes):
    """What ``components.js`` needs of :func:`at_confidences` at the slider's
    steps: recommendations listed once (``items``) and referenced by index, the
    table's fixed columns once and its moving ones per step."""
    items, index, grid = [], {}, []
    for recs in sections["recommendations"]:
        ids = []
        for rec in recs:
            key = json.dumps(rec, sort_keys=True)
            if key not in index:
                index[key] = len(items)
                items.append(rec)
            ids.append(index[key])
        grid.append(ids)
    rows = sections["rows"][0]
    (trace,), layout = figures.error_types_figure({})
    return {
        "summary": sections["summary"], "view": sections["view"],
        "table": {"keys": list(TABLE_KEYS), "labels": list(TABLE_LABELS), "moving": list(MOVING_KEYS),
                  "rows": [{key: rows[k][key] for key in TABLE_KEYS} for k in table_classes],
                  "grid": sections["table"]},
        "errors": {"trace": {k: v for k, v in trace.items() if k != "y"}, "layout": layout,
                   "grid": sections["errors"]},
        "recommendations": {"items": items, "grid": grid, "more": sections["more"]},
    }


def iou_key(iou):
    """The key of an IoU threshold's steps (panel-data paths are dotted: no "0.50")."""
    return "i%02d" % round(100 * float(iou))


def iou_steps(ev, iou, confidence, *, bar_classes, matrix_classes, members, num_images, covers,
              pr_classes=None):
    """Everything ``components.js`` draws at one IoU, at every slider step:
    :func:`figures.operating_point` (curves, bars, matrix, counts), the other
    sections (:func:`browser_steps`) and the PR curves, which depend on the IoU only."""
    optimal = ev.sweeps(iou)[0].optimal()
    steps = figures.operating_point(ev, iou, confidence, optimal, bar_classes, matrix_classes)
    found = at_confidences(ev, iou, figures.CONFIDENCE_GRID, num_images=num_images, covers=covers,
                           table_classes=bar_classes, members=members)
    steps["sections"] = browser_steps(found, bar_classes)
    traces, layout = figures.pr_curves_figure(ev, iou, classes=pr_classes)
    steps["pr"] = {"traces": traces, "layout": layout}
    return steps


def browser_current(sections, table_classes):
    """The same for one confidence (the slider's current, possibly off-grid,
    value), from :func:`at_confidences` with every class in the table."""
    return {"summary": sections["summary"][0],
            "view": None if sections["view"] is None else sections["view"][0],
            "table": [sections["table"][0][k] for k in table_classes],
            "errors": sections["errors"][0],
            "recommendations": sections["recommendations"][0], "more": sections["more"][0]}

