"""The evaluation explorer's **Compare** section (a mixin of the panel).

Pick a second run of the same task and ground truth: the headline metrics
side by side with B - A and its 95% paired bootstrap interval, per-class
deltas (largest first), both runs' P / R / F1 curves overlaid, the difference
confusion matrix (B - A), and buttons that put the flips in the grid (what A
got right and B wrong, and the reverse). Each run is taken at its own
max-F1 threshold (models' confidences are not comparable), at the panel's IoU;
numbers come from :func:`..operators.compare_runs.compare_tasks` on the runs'
cached analyses.
"""

from collections import OrderedDict

import numpy as np

import fiftyone.operators.types as types

from ..operators import compare_runs
from ..plugin import slices as engine
from .runs import load_fast
from .slices_section import task_slices

MATRIX_CLASSES = 15  # the difference matrix shows the classes that changed most
DELTA_ROWS = 20
CURVES_TITLE = "P (blue), R (green), F1 (red): A solid, B dashed"
_held = OrderedDict()  # panel id -> {"key", "compare_key", "result"}


def optimal(ctx, eval_key, iou):
    """A run's max-F1 confidence (None for segmentation runs)."""
    ev, info = load_fast(ctx, eval_key)
    if info["task"] == "segmentation":
        return None
    point = {"iou": iou} if info["task"] == "detection" else {}
    return ev.optimal_thresholds(**point)["overall"]


def verdict(m):
    ci = m.get("ci")
    if not ci or m.get("diff") is None:
        return "-"
    if ci[0] > 0:
        return "B better"
    if ci[1] < 0:
        return "A better"
    return "no clear difference"


def metric_rows(result):
    rows = []
    for name, m in result["metrics"].items():
        rows.append({"metric": name, "a": _f(m["a"]), "b": _f(m["b"]),
                     "diff": "-" if m["diff"] is None else "%+.3f" % m["diff"],
                     "ci": "-" if not m["ci"] else "[%+.3f, %+.3f]" % tuple(m["ci"]),
                     "verdict": verdict(m)})
    return rows


def delta_rows(result):
    return [{"class": r["class"], "a": _f(r["a"]), "b": _f(r["b"]),
             "delta": "-" if r["delta"] is None else "%+.3f" % r["delta"]}
            for r in result["per_class"][:DELTA_ROWS]]


def curve_traces(result):
    traces = []
    for run, dash in (("a", "solid"), ("b", "dash")):
        c = result["curves"][run]
        if not c:
            continue
        key = result["eval_key"] if run == "a" else result["compare_key"]
        for metric, colour in (("precision", "#1f77b4"), ("recall", "#2ca02c"), ("f1", "#d62728")):
            traces.append({"type": "scatter", "mode": "lines", "x": c["confidence"], "y": c[metric],
                           "name": "%s %s" % (key, metric),
                           "line": {"color": colour, "dash": dash, "width": 2}})
    return traces


def matrix_trace(result):
    """The difference matrix (B - A) on the classes that changed most, plus the
    last row and column (Not an object / Not detected, Below threshold, Unlabeled)."""
    rows, cols = result["confusion"]["rows"], result["confusion"]["columns"]
    d = np.asarray(result["confusion"]["difference"])
    extra_row = rows[-1] not in cols
    names = [c for c in rows if c in cols]
    change = np.array([np.abs(d[rows.index(c)]).sum() + np.abs(d[:, cols.index(c)]).sum()
                       for c in names])
    keep = [names[i] for i in sorted(np.argsort(-change, kind="stable")[:MATRIX_CLASSES])]
    r = [rows.index(c) for c in keep] + ([len(rows) - 1] if extra_row else [])
    c = [cols.index(x) for x in keep] + [len(cols) - 1]
    z = d[np.ix_(r, c)]
    lim = max(1, int(np.abs(z).max()))
    return {"type": "heatmap", "z": z.tolist(), "x": [cols[i] for i in c], "y": [rows[i] for i in r],
            "text": z.astype(str).tolist(), "texttemplate": "%{text}", "zmin": -lim, "zmax": lim,
            "colorscale": [[0, "#b2182b"], [0.5, "#f7f7f7"], [1, "#2166ac"]],
            "hovertemplate": "truth %{y}<br>predicted %{x}<br>B - A: %{z}<extra></extra>"}


class CompareSection:
    """The Compare section's render and events (mixed into the evaluation explorer)."""

    def render_compare(self, ctx, panel, out):
        state = ctx.panel.state
        key = out["choices"]["eval_key"]
        others = [k for k in (state.runs or []) if k != key]  # (B is checked when chosen)
        panel.md("##### Compare with another run", name="compare_title")
        if not others:
            panel.md("No other finished run on this dataset: evaluate a second model "
                     "(another predictions field) to compare.", name="compare_hint")
            return
        panel.enum("compare_key", others, default=state.compare_key if state.compare_key in others
                   else None, label="Run B (run A: the one above)", view=types.DropdownView(),
                   on_change=self.on_compare_run)
        held = _held.get(ctx.panel.id)
        if not held or held["key"] != key or held["compare_key"] != state.compare_key:
            if state.compare_key in others:  # chosen for another run (or before a reload)
                panel.btn("compare_compute", label="Compare with %s" % state.compare_key,
                          on_click=self.on_compare_again)
            return
        result = held["result"]
        points = result["operating_points"]
        at = lambda p: "every prediction" if p["confidence"] is None else "%.4g" % p["confidence"]  # noqa: E731
        panel.md("**A** = `%s`, **B** = `%s`, on the %d %s both evaluated, each at its max-F1 "
                 "threshold (A %s, B %s)%s. 95%% paired bootstrap intervals of B - A (%d "
                 "replicates, the same resampled %s for both, seed 0)." % (
                     result["eval_key"], result["compare_key"], result["num_units"], result["unit"],
                     at(points["a"]), at(points["b"]),
                     ", IoU %.2f" % points["a"]["iou"] if result["task"] == "detection" else "",
                     result["num_boot"], result["unit"]), name="compare_note")
        panel.obj("compare_metrics", view=types.View(
            component="ClusterTable", composite_view=True, title="Side by side",
            columns=[["metric", "Metric"], ["a", "A"], ["b", "B"], ["diff", "B - A"],
                     ["ci", "95% CI"], ["verdict", "Verdict"]], note=""))
        panel.obj("compare_deltas", view=types.View(
            component="ClusterTable", composite_view=True,
            title="Per-class %s, largest change first" % result["per_class_metric"],
            columns=[["class", "Class"], ["a", "A"], ["b", "B"], ["delta", "B - A"]], note=""))
        panel.plot("compare_curves", composite_view=True, config={"displayModeBar": False},
                   layout={"title": {"text": CURVES_TITLE},
                           "xaxis": {"title": {"text": "confidence"}, "range": [0, 1]},
                           "yaxis": {"range": [0, 1.02]}, "height": 420,
                           "margin": {"l": 40, "r": 10, "t": 40, "b": 40},
                           "showlegend": True,
                           "legend": {"orientation": "h", "y": -0.2, "x": 0}})
        panel.plot("compare_matrix", composite_view=True, config={"displayModeBar": False},
                   layout={"title": {"text": "Confusion matrix, B - A"}, "height": 420,
                           "margin": {"l": 90, "r": 10, "t": 40, "b": 90},
                           "yaxis": {"autorange": "reversed"}})
        what = "objects" if result["flips"]["level"] == "objects" else result["unit"]
        row = panel.h_stack("compare_flips", align_y="center")
        row.btn("flips_a", label="A right, B wrong (%d %s)" % (len(result["flips"]["a_only"]), what),
                on_click=self.on_flips_a)
        row.btn("flips_b", label="B right, A wrong (%d %s)" % (len(result["flips"]["b_only"]), what),
                on_click=self.on_flips_b)

    def on_compare_run(self, ctx):
        other = ctx.params.get("value")
        ctx.panel.state.compare_key = other
        if not other:
            return
        out = self._shown(ctx)
        key = out["choices"]["eval_key"]
        iou = float(out["choices"].get("iou") or 0.5)
        try:
            compare_runs.check_pair(ctx.dataset, key, other)
            seg = out.get("task") == "segmentation"
            ts_a = task_slices(ctx, key, None if seg else optimal(ctx, key, iou), iou)
            ts_b = task_slices(ctx, other, None if seg else optimal(ctx, other, iou), iou)
            result = compare_runs.compare_tasks(ts_a, ts_b, key, other, num_boot=engine.NUM_BOOT)
        except Exception as e:  # runs that cannot be paired: say why
            ctx.ops.notify(str(e), variant="error")
            return
        _held[ctx.panel.id] = {"key": key, "compare_key": other, "result": result}
        while len(_held) > 8:
            _held.popitem(last=False)
        ctx.panel.state.set({"compare_metrics": None, "compare_deltas": None})
        ctx.panel.data.set({"compare_metrics": metric_rows(result),
                            "compare_deltas": delta_rows(result),
                            "compare_curves": curve_traces(result),
                            "compare_matrix": [matrix_trace(result)]})

    def on_compare_again(self, ctx):
        ctx.params["value"] = ctx.panel.state.compare_key
        self.on_compare_run(ctx)

    def on_flips_a(self, ctx):
        self._show_flips(ctx, "a_only")

    def on_flips_b(self, ctx):
        self._show_flips(ctx, "b_only")

    def _show_flips(self, ctx, which):
        held = _held.get(ctx.panel.id)
        if not held:
            return
        result = held["result"]
        ctx.ops.set_view(compare_runs.flips_view(ctx.dataset, result, which))
        ctx.ops.notify("Showing %d %s that %s got right and %s got wrong" % (
            len(result["flips"][which]), "objects" if result["flips"]["level"] == "objects"
            else result["unit"], *((result["eval_key"], result["compare_key"]) if which == "a_only"
                                   else (result["compare_key"], result["eval_key"]))),
            variant="info")


def _f(v):
    return "-" if v is None else "%.3f" % v
