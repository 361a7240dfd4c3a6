"""What the sections of classification and segmentation runs share: plot shapes,
the class order, and the packing of every slider step for ``components.js``.

The browser component (``OperatingPoint`` / ``OperatingPointDetails``) draws
the same data shape for every task (see :func:`.figures.operating_point` and
:func:`.sections.browser_steps`); these helpers build it from a task's own
numbers: (T, K, K + 1) confusions with a last column that is not a class
(``Below threshold``, ``Unlabeled``), per-step texts and recommendations.
"""

import json

import numpy as np

from .figures import BASE_LAYOUT, LIVE_CONFUSION_MAX, _revised, _title, _vline

MAX_RECOMMENDATIONS = 8


def line_figure(x, series, optimal=None, x_title="confidence threshold", y_title=None):
    """Lines against the confidence threshold (``series``: ``(name, y)`` pairs),
    the optimum dashed and named; the slider's line is drawn by the browser."""
    traces = [{"type": "scatter", "mode": "lines", "name": name, "x": _round(x),
               "y": _round(y), "line": {"shape": "hv"}} for name, y in series]
    shapes, notes = [], []
    if optimal is not None:
        shapes.append(_vline(optimal, "#2ca02c", "dash"))
        notes.append({"x": optimal, "y": 0, "xref": "x", "yref": "paper",
                      "text": "optimal (max F1)", "showarrow": False, "textangle": -90,
                      "xanchor": "right", "yanchor": "bottom", "font": {"color": "#2ca02c"}})
    layout = dict(BASE_LAYOUT, shapes=shapes, annotations=notes,
                  xaxis={"title": _title(x_title), "range": [0, 1]},
                  yaxis={"range": [0, 1.02], **({"title": _title(y_title)} if y_title else {})})
    return traces, _revised(layout, traces)


def bars_layout(names, series, y_title=None):
    """The class bars' layout and series (``(name, colour)``), data left to the steps."""
    traces = [{"type": "bar", "name": n, "x": list(names), "y": [0] * len(names),
               "marker": {"color": c}} for n, c in series]
    layout = dict(BASE_LAYOUT, barmode="stack", xaxis={"type": "category"},
                  **({"yaxis": {"title": _title(y_title)}} if y_title else {}))
    return {"x": list(names), "series": [list(s) for s in series], "layout": _revised(layout, traces)}


def heatmap(classes, rows, extra_column, hover, text=None, cell_text=None):
    """The confusion heatmap (without ``z``, sent per step): rows true classes,
    columns predicted classes plus ``extra_column``; ``cell_text`` (``%{text}``
    in the templates) e.g. each cell's number of images."""
    x = [classes[k] for k in rows] + [extra_column]
    y = [classes[k] for k in rows]
    trace = {"type": "heatmap", "x": x, "y": y, "colorscale": "Viridis",
             "texttemplate": text or "%{z}", "hovertemplate": hover + "<extra></extra>",
             "zmin": 0, "showscale": False}
    if cell_text is not None:
        trace["text"] = cell_text
    layout = dict(BASE_LAYOUT, height=max(300, 24 * len(x) + 120), showlegend=False,
                  xaxis={"title": _title("predicted"), "type": "category", "side": "top"},
                  yaxis={"title": _title("ground truth"), "type": "category", "autorange": "reversed"})
    layout["margin"] = {"t": 60, "r": 10, "b": 10, "l": 110}
    return trace, _revised(layout, [trace])


def matrix_classes(confusion, top_n=None, keep=None):
    """Class indices the matrix shows: all (or ``keep``), or the ``top_n`` most
    involved in errors (off-diagonal and last-column counts), in class order."""
    c = np.asarray(confusion, dtype=np.int64)
    K = c.shape[0]
    off = c[:, :K].copy()
    np.fill_diagonal(off, 0)
    involvement = off.sum(axis=1) + off.sum(axis=0) + c[:, K]
    shown = np.arange(K) if keep is None else np.asarray(keep, dtype=np.int64)
    if top_n is not None and shown.size > top_n:
        shown = np.sort(shown[np.argsort(-involvement[shown], kind="stable")[:top_n]])
    return shown.tolist()


def cell_grid(confusions, rows):
    """(T, R, R + 1) of the shown rows and columns (the last column kept)."""
    K = confusions.shape[1]
    cols = np.r_[np.asarray(rows, dtype=np.int64), K]
    return confusions[:, np.asarray(rows, dtype=np.int64)[:, None], cols]


def live(grid, matrix_classes):
    """The matrix's steps, or None for more than ``LIVE_CONFUSION_MAX`` classes
    (their matrix follows the slider when it is released, as for detection)."""
    return grid if len(matrix_classes) <= LIVE_CONFUSION_MAX else None


def pack_recommendations(per_step):
    """Recommendations of every step listed once (``items``) and referenced by
    index (``grid``), the first :data:`MAX_RECOMMENDATIONS` of each step."""
    items, index, grid, more = [], {}, [], []
    for recs in per_step:
        ids = []
        for rec in recs[:MAX_RECOMMENDATIONS]:
            key = json.dumps(rec, sort_keys=True)
            if key not in index:
                index[key] = len(items)
                items.append(rec)
            ids.append(index[key])
        grid.append(ids)
        more.append(max(0, len(recs) - MAX_RECOMMENDATIONS))
    return {"items": items, "grid": grid, "more": more}


def steps_payload(thresholds, best, lines, classes, confusion, found, matrix_classes, table,
                  errors, pr=None, extras=(), titles=None):
    """Every slider step of a task's sections in ``components.js``'s shape.

    ``classes``: the bar chart's layout (:func:`bars_layout`); ``confusion``:
    the heatmap's ``trace`` and ``layout`` (plus any per-step extras);
    ``table``: ``(keys, labels, moving, rows)`` with one row dict per bar
    class; ``errors``: ``(names, colors)`` of the error types; ``found``: the
    task's :meth:`at` over the thresholds."""
    keys, labels, moving, rows = table
    return {
        "thresholds": np.asarray(thresholds).tolist(), "optimal": best,
        "threshold": {"traces": lines[0], "layout": lines[1]},
        "classes": {**classes, "grid": found["bars"]},
        "confusion": {**confusion, "grid": live(found["z"], matrix_classes)},
        "points": {"grid": found["point"], "text": found["text"]},
        "sections": {
            "summary": found["summary"], "view": None,
            "table": {"keys": list(keys), "labels": list(labels), "moving": list(moving),
                      "rows": [{k: r[k] for k in keys} for r in rows], "grid": found["table"]},
            "errors": {**error_bars(*errors), "grid": found["errors"]},
            "recommendations": pack_recommendations(found["recommendations"]),
        },
        "pr": pr, "extras": list(extras), "titles": titles or {},
    }


def current_payload(confidence, found, **extra):
    """The same at one (possibly off-grid) confidence: ``components.js``'s
    ``current``; ``found`` is the task's :meth:`at` at ``[confidence]``."""
    recs = found["recommendations"][0]
    return {"value": confidence, "bars": found["bars"][0], "z": found["z"][0],
            "point": found["point"][0], "text": found["text"][0], **extra,
            "sections": {"summary": found["summary"][0], "view": None,
                         "table": found["table"][0], "errors": found["errors"][0],
                         "recommendations": recs[:MAX_RECOMMENDATIONS],
                         "more": max(0, len(recs) - MAX_RECOMMENDATIONS)}}


def error_bars(names, colors):
    """The error types' bar trace (``y`` per step) and layout."""
    trace = {"type": "bar", "x": list(names), "marker": {"color": list(colors)}, "name": "errors"}
    layout = _revised(dict(BASE_LAYOUT, showlegend=False, xaxis={"type": "category"}), [trace])
    return {"trace": trace, "layout": layout}


def curves_figure(curves, x_title, y_title, diagonal=False):
    """Lines per class (``{name: (x, y)}``), e.g. ROC or PR curves."""
    traces = [{"type": "scatter", "mode": "lines", "name": name, "x": _round(x), "y": _round(y)}
              for name, (x, y) in curves.items()]
    if diagonal:
        traces.append({"type": "scatter", "mode": "lines", "name": "chance", "x": [0, 1],
                       "y": [0, 1], "line": {"dash": "dot", "color": "#888888"}})
    layout = dict(BASE_LAYOUT, xaxis={"title": _title(x_title), "range": [0, 1]},
                  yaxis={"title": _title(y_title), "range": [0, 1.02]})
    return {"traces": traces, "layout": _revised(layout, traces)}


def md_table(header, rows):
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(v, digits=3):
    return "–" if v is None or (isinstance(v, float) and not np.isfinite(v)) else "%.*f" % (digits, v)


def clean(v):
    """A JSON-ready number (None for NaN), rounded as the table prints it."""
    return None if v is None or not np.isfinite(v) else round(float(v), 4)


def _round(values):
    return [None if not np.isfinite(v) else round(float(v), 4) for v in np.asarray(values, float)]
