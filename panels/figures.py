"""Plot-ready data for the evaluation explorer, computed from an engine Evaluation.

Pure functions (no App, no database): each returns plain plotly traces /
layouts or table rows, small enough to send to the browser on every change.
"""

import functools
import json
import zlib

import numpy as np

from ..plugin.errors import ERROR_TYPES

NOT_DETECTED = "Not detected"
NOT_AN_OBJECT = "Not an object"
COLORS = {
    "correct": "#2ca02c", "classification": "#9467bd", "localization": "#ff7f0e",
    "both": "#8c564b", "duplicate": "#e377c2", "background": "#d62728", "missed": "#1f77b4",
}
# The App's PlotlyView merges these over its own (dark-theme) defaults, which hide
# the legend (``showlegend: False``) and style axis titles as objects: a title must
# be ``{"text": ...}`` (a plain string is dropped) and legends must be asked for.
# Every layout carries a ``datarevision`` (see :func:`_revised`).
BASE_LAYOUT = {"margin": {"t": 30, "r": 10, "b": 40, "l": 50}, "height": 300,
               "showlegend": True, "legend": {"orientation": "h", "x": 0, "y": 1.02,
                                              "xanchor": "left", "yanchor": "bottom"},
               "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)"}


def class_metrics(evaluation, iou, confidence):
    """Per-class rows: counts, precision/recall/F1 at the operating point, AP, optimum."""
    return class_rows(evaluation.assess(iou, confidence).confusion, class_constants(evaluation, iou))


@functools.lru_cache(maxsize=10)  # a run's IoUs; holds its Evaluation
def class_constants(evaluation, iou):
    """What a class row keeps whatever the confidence: names, APs, optimal threshold."""
    _, per_class = evaluation.sweeps(iou)
    ap, ap50, ap75 = (evaluation.coco.class_ap(**kw) for kw in ({}, {"iou": 0.5}, {"iou": 0.75}))
    best = [s.optimal() if s.num_gt else None for s in per_class]
    return [{"class": name, "AP": _ap(ap[k]), "AP50": _ap(ap50[k]), "AP75": _ap(ap75[k]),
             "optimal_threshold": _r(best[k]["confidence"]) if best[k] else None}
            for k, name in enumerate(evaluation.classes)]


def class_rows(confusion, constants):
    """:func:`class_metrics` from a (K+1, K+1) confusion matrix and :func:`class_constants`."""
    c = np.asarray(confusion)
    K = c.shape[0] - 1
    tp = np.diag(c)[:K]
    fp, fn = c[:, :K].sum(axis=0) - tp, c[:K, :].sum(axis=1) - tp
    misclassified, missed = c[:K, :K].sum(axis=1) - tp, c[:K, K]
    rows = []
    for k, const in enumerate(constants):
        t, f, n = int(tp[k]), int(fp[k]), int(fn[k])
        p = t / (t + f) if t + f else None
        r = t / (t + n) if t + n else None
        f1 = 2 * p * r / (p + r) if p and r else (0.0 if p is not None and r is not None else None)
        rows.append({**const, "support": t + n, "tp": t, "fp": f, "fn": n,
                     "misclassified": int(misclassified[k]), "missed": int(missed[k]),
                     "precision": _r(p), "recall": _r(r), "f1": _r(f1)})
    return rows


def sort_rows(rows, key="errors", descending=True):
    """Rows sorted by a column; ``errors`` (fp + fn) puts the worst classes first."""
    value = (lambda r: r["fp"] + r["fn"]) if key == "errors" else (lambda r: r.get(key))
    present = [r for r in rows if value(r) is not None]
    absent = [r for r in rows if value(r) is None]
    return sorted(present, key=value, reverse=descending) + absent


def threshold_figure(overall, confidence, optimal):
    """Precision, recall and F1 against confidence, current and optimal thresholds marked."""
    s = overall.downsample(200)  # the panel's largest data: sent back by the App on every event
    x = np.round(s.confidence, 4).tolist()
    traces = [
        {"type": "scatter", "mode": "lines", "name": n, "x": x, "y": np.round(y, 4).tolist(),
         "line": {"shape": "hv"}}
        for n, y in (("Precision", s.precision), ("Recall", s.recall), ("F1", s.f1))
    ]
    shapes, notes = [], []
    if optimal:  # named on the plot: the slider's line is the other one
        shapes.append(_vline(optimal["confidence"], "#2ca02c", "dash"))
        notes.append({"x": optimal["confidence"], "y": 0, "xref": "x", "yref": "paper",
                      "text": "optimal (max F1)", "showarrow": False, "textangle": -90,
                      "xanchor": "right", "yanchor": "bottom", "font": {"color": "#2ca02c"}})
    if confidence is not None:
        shapes.append(_vline(confidence, "#ffffff", "solid"))
    layout = dict(BASE_LAYOUT, shapes=shapes, annotations=notes,
                  xaxis={"title": _title("confidence threshold"), "range": [0, 1]},
                  yaxis={"range": [0, 1.02]})
    return traces, _revised(layout, traces)


def class_bars_figure(rows):
    """Stacked bars per class: correct, misclassified, missed, false positives."""
    names = [r["class"] for r in rows]
    series = (("correct", "tp", COLORS["correct"]),
              ("misclassified", "misclassified", COLORS["classification"]),
              ("missed", "missed", COLORS["missed"]),
              ("false positives", "fp", COLORS["background"]))
    traces = [{"type": "bar", "name": label, "x": names, "y": [r[key] for r in rows],
               "marker": {"color": color}} for label, key, color in series]
    layout = dict(BASE_LAYOUT, barmode="stack", xaxis={"type": "category"})
    return traces, _revised(layout, traces)


CONFIDENCE_GRID = np.round(np.linspace(0, 1, 101), 2)  # the slider's steps
LIVE_CONFUSION_MAX = 40  # larger matrices follow the slider when it is released


def operating_point(evaluation, iou, confidence, optimal, bar_classes, matrix_classes):
    """What the ``OperatingPoint`` browser component draws, at every slider step.

    The component moves the confidence threshold in the browser, without a round
    trip to Python: it needs the threshold curves, and the class bars, the
    confusion matrix and the headline counts at each step of
    :data:`CONFIDENCE_GRID` (``grid``) and at the current, possibly off-grid,
    ``confidence`` (``current``, :func:`operating_point_at`, sent separately).
    ``bar_classes`` / ``matrix_classes`` are the
    class indices shown, in order; the matrix gets its grid only up to
    :data:`LIVE_CONFUSION_MAX` classes (its size grows with their square).
    """
    K = evaluation.num_classes
    overall, _ = evaluation.sweeps(iou)
    grid = evaluation.confusions(iou, CONFIDENCE_GRID)
    now = evaluation.assess(iou, confidence).confusion  # the heatmap's labels and layout
    bars_idx = np.asarray(bar_classes, dtype=np.int64)
    rows = np.r_[np.asarray(matrix_classes, dtype=np.int64), K]
    live = len(matrix_classes) <= LIVE_CONFUSION_MAX

    def bars(c):  # (..., K+1, K+1) -> (..., 4, n): correct, misclassified, missed, false positives
        tp = np.diagonal(c[..., :K, :K], axis1=-2, axis2=-1)
        counts = (tp, c[..., :K, :K].sum(axis=-1) - tp, c[..., :K, K], c[..., :, :K].sum(axis=-2) - tp)
        return np.stack([x[..., bars_idx] for x in counts], axis=-2)

    def point(c):
        at = overall.at(c)
        return [at["tp"], at["fp"], overall.num_gt - at["tp"], _r6(at["precision"]),
                _r6(at["recall"]), _r6(at["f1"])]

    threshold_traces, threshold_layout = threshold_figure(overall, None, optimal)
    class_traces, class_layout = class_bars_figure([{"class": evaluation.classes[k], "tp": 0,
                                                     "misclassified": 0, "missed": 0, "fp": 0}
                                                    for k in bars_idx])
    cm_traces, cm_layout, _ = confusion_figure(now, evaluation.classes, keep=matrix_classes)
    heatmap = {k: v for k, v in cm_traces[0].items() if k != "z"}
    return {
        "thresholds": CONFIDENCE_GRID.tolist(),
        "value": confidence,
        "optimal": optimal["confidence"] if optimal else None,  # names its operating point
        "threshold": {"traces": threshold_traces, "layout": threshold_layout},
        "classes": {"x": class_traces[0]["x"],
                    "series": [[t["name"], t["marker"]["color"]] for t in class_traces],
                    "layout": class_layout, "grid": bars(grid).tolist()},
        "confusion": {"trace": heatmap, "layout": cm_layout,
                      "grid": grid[:, rows[:, None], rows].tolist() if live else None},
        "points": {"grid": [point(c) for c in CONFIDENCE_GRID]},
    }


def operating_point_at(evaluation, iou, confidence, bar_classes, matrix_classes, confusion=None):
    """The ``current`` part of :func:`operating_point`: bars, matrix and counts at
    ``confidence`` (``confusion``: its matrix, when already computed)."""
    K = evaluation.num_classes
    c = evaluation.assess(iou, confidence).confusion if confusion is None else confusion
    bars_idx = np.asarray(bar_classes, dtype=np.int64)
    rows = np.r_[np.asarray(matrix_classes, dtype=np.int64), K]
    tp = np.diag(c)[:K]
    counts = (tp, c[:K, :K].sum(axis=1) - tp, c[:K, K], c[:, :K].sum(axis=0) - tp)
    overall, _ = evaluation.sweeps(iou)
    at = overall.at(confidence)
    return {"value": confidence,
            "bars": [x[bars_idx].tolist() for x in counts],
            "z": c[np.ix_(rows, rows)].tolist(),
            "point": [at["tp"], at["fp"], overall.num_gt - at["tp"], _r6(at["precision"]),
                      _r6(at["recall"]), _r6(at["f1"])]}


def match_classes(classes, text):
    """Indices of the classes whose names contain any of the comma-separated
    terms of ``text`` (case-insensitive); None when ``text`` is empty."""
    terms = [t.strip().lower() for t in (text or "").split(",") if t.strip()]
    if not terms:
        return None
    return [k for k, c in enumerate(classes) if any(t in c.lower() for t in terms)]


def confusion_figure(confusion, classes, top_n=None, keep=None):
    """Heatmap of the confusion matrix; with ``top_n`` only the most involved
    classes, with ``keep`` only those class indices (a filter).

    Returns ``(traces, layout, shown)`` where ``shown`` lists the class indices
    displayed, so clicks map back to cells.
    """
    K = len(classes)
    off = confusion.astype(np.int64).copy()
    np.fill_diagonal(off, 0)
    involvement = off[:K].sum(axis=1)[:K] + off[:, :K].sum(axis=0)
    shown = np.arange(K) if keep is None else np.asarray(keep, dtype=np.int64)
    if top_n is not None and shown.size > top_n:
        shown = np.sort(shown[np.argsort(-involvement[shown], kind="stable")[:top_n]])
    rows = np.r_[shown, K]
    z = confusion[np.ix_(rows, rows)]
    x = [classes[i] for i in shown] + [NOT_DETECTED]
    y = [classes[i] for i in shown] + [NOT_AN_OBJECT]
    trace = {"type": "heatmap", "z": z.tolist(), "x": x, "y": y, "colorscale": "Viridis",
             "texttemplate": "%{z}", "hovertemplate": "truth %{y}<br>predicted %{x}<br>%{z}<extra></extra>",
             "zmin": 0, "showscale": False}
    size = max(300, 24 * len(x) + 120)
    layout = dict(BASE_LAYOUT, height=size,
                  showlegend=False,
                  xaxis={"title": _title("predicted"), "type": "category", "side": "top"},
                  yaxis={"title": _title("ground truth"), "type": "category",
                         "autorange": "reversed"})
    layout["margin"] = {"t": 60, "r": 10, "b": 10, "l": 110}
    return [trace], _revised(layout, [trace]), shown.tolist()


def pr_curves_figure(evaluation, iou, classes=None, max_classes=5):
    """COCO PR curves (101 recall points) at ``iou``: overall plus a few classes."""
    t = evaluation.threshold_index(iou)
    p = evaluation.coco.precision[t, :, :, 0, 2]  # (R, K) at area "all", 100 dets
    recall = np.linspace(0, 1, p.shape[0]).tolist()
    valid = p[0] > -1
    traces = []
    if valid.any():
        traces.append({"type": "scatter", "mode": "lines", "name": "all classes",
                       "x": recall, "y": np.round(p[:, valid].mean(axis=1), 4).tolist(),
                       "line": {"width": 3}})
    ap = np.where(valid, np.where(valid, p, 0).mean(axis=0), -1)
    picks = ([evaluation.classes.index(c) for c in classes if c in evaluation.classes]
             if classes else [k for k in np.argsort(-ap) if valid[k]][:max_classes])
    for k in picks:
        if valid[k]:
            traces.append({"type": "scatter", "mode": "lines", "name": evaluation.classes[k],
                           "x": recall, "y": np.round(p[:, k], 4).tolist()})
    layout = dict(BASE_LAYOUT, xaxis={"title": _title("recall"), "range": [0, 1]},
                  yaxis={"title": _title("precision"), "range": [0, 1.02]})
    return traces, _revised(layout, traces)


def error_types_figure(counts):
    """One clickable bar per error type."""
    names = [n for n in ERROR_TYPES if n != "correct"]
    trace = {"type": "bar", "x": names, "y": [counts.get(n, 0) for n in names],
             "marker": {"color": [COLORS[n] for n in names]}, "name": "errors"}
    return [trace], _revised(dict(BASE_LAYOUT, showlegend=False, xaxis={"type": "category"}),
                             [trace])


DELTA_AP_LABELS = {"classification": "Cls", "localization": "Loc", "both": "Both",
                   "duplicate": "Dupe", "background": "Bkg", "missed": "Miss",
                   "false_positives": "FalsePos", "false_negatives": "FalseNeg"}
SPECIAL_COLORS = {"false_positives": "#7f7f7f", "false_negatives": "#17becf"}


def delta_ap_figure(delta):
    """TIDE's summary as TIDE draws it: horizontal bars of the AP (in points) that fixing each
    main error type would gain, then the special errors, from :meth:`Evaluation.delta_ap`."""
    names = list(delta["main"]) + list(delta["special"])
    values = [100 * (v or 0.0) for v in list(delta["main"].values()) + list(delta["special"].values())]
    colors = [COLORS.get(n) or SPECIAL_COLORS[n] for n in names]
    trace = {"type": "bar", "orientation": "h", "y": [DELTA_AP_LABELS[n] for n in names],
             "x": [round(v, 2) for v in values], "marker": {"color": colors},
             "text": ["%.2f" % v for v in values], "textposition": "outside", "name": "dAP",
             "hovertext": names, "hoverinfo": "text+x"}
    ap = delta.get("AP")
    title = "TIDE: AP gained by fixing each error type (dAP, IoU %.2f; AP %s)" % (
        delta.get("iou", 0.5), "%.1f" % (100 * ap) if ap is not None else "undefined")
    layout = dict(BASE_LAYOUT, showlegend=False, title=_title(title), height=280,
                  margin={"t": 40, "r": 40, "b": 40, "l": 70},
                  xaxis={"title": _title("dAP (AP points)"), "rangemode": "tozero"},
                  yaxis={"type": "category", "autorange": "reversed"})
    return [trace], _revised(layout, [trace])


def verdict(summary, rows):
    """One plain-language sentence about the model at the current operating point."""
    parts = []
    if summary["recall"] is not None:
        parts.append("finds %.0f%% of objects" % (100 * summary["recall"]))
    n_pred = summary["tp"] + summary["fp"]
    if n_pred and summary["fp"]:
        ratio = n_pred / summary["fp"]  # "1 in 1 is wrong" would misstate 60% wrong
        parts.append("1 in %.0f detections is wrong" % ratio if ratio >= 2.5 else
                     "%.0f%% of detections are wrong" % (100 / ratio))
    elif n_pred:
        parts.append("no detection is wrong")
    weakest = [r["class"] for r in sort_rows([r for r in rows if r["support"]], "f1", False)[:3]]
    if weakest:
        parts.append("weakest classes: " + ", ".join(weakest))
    return "The model " + "; ".join(parts) + "." if parts else "No objects to evaluate."


def _revised(layout, traces):
    """``layout`` with a ``datarevision`` that changes only when the traces do.

    The App re-renders a panel many times per event and hands plotly new (equal)
    trace arrays each time; without a ``datarevision`` plotly.js treats every new
    array as new data (measured: 16 full recalculations and redraws of each of the
    5 plots per slider move). With it, each changed plot is redrawn once."""
    blob = json.dumps(traces, sort_keys=True, separators=(",", ":")).encode()
    return dict(layout, datarevision=zlib.crc32(blob))


def _title(text):
    return {"text": text}


def _vline(x, color, dash):
    return {"type": "line", "x0": x, "x1": x, "y0": 0, "y1": 1, "yref": "paper",
            "line": {"color": color, "dash": dash, "width": 2}}


def _r(v):
    return None if v is None else round(float(v), 4)


def _r6(v):  # the browser prints 3 decimals like the summary: round them from the full value
    return None if v is None else round(float(v), 6)


def _ap(v):
    return None if v < 0 else round(float(v), 4)
