"""The evaluation explorer's **History** section: the runs of this task over time.

A metric selector (any headline or per-class metric the runs record), its
plot over the runs' times with 95% intervals, the baseline's value and band,
regressions in red, and a table of runs sortable by time, value, change or
model, each with the metrics it regresses on (``RowsTable`` in
``components.js``: one block per run below 600 px); a click on a run shows it. Numbers come from the runs'
history records (:mod:`operators.run_history`, :mod:`plugin.history`): a few
small documents per dataset, read once and cached until the panel reloads.

Hooked into the panel by :class:`HistorySection` (its callbacks, mixed into
the panel class), :func:`render` (called at the end of the panel's render)
and :func:`forget` (when the panel loads).
"""

import time
from collections import OrderedDict

import fiftyone.operators.types as types

from ..operators import run_history
from ..plugin import history
from .figures import BASE_LAYOUT

SORTS = ("time", "value", "change", "model")
REGRESSION_COLOR = "#d62728"
RUN_COLOR = "#1f77b4"
BASELINE_COLOR = "#7f7f7f"
CACHE_SECONDS = 30  # another process's new run shows after this at the latest
_cache = OrderedDict()  # (dataset name, task) -> (time read, runs)


def forget(dataset_name):
    """Drops the cached runs of a dataset (the panel (re)loads: a run may be new)."""
    for key in [k for k in _cache if k[0] == dataset_name]:
        del _cache[key]


def runs_of(ctx, task):
    """The dataset's finished runs of ``task``, oldest first (cached)."""
    key = (ctx.dataset_name, task)
    held = _cache.get(key)
    if held is None or time.time() - held[0] > CACHE_SECONDS:
        _cache[key] = held = (time.time(), run_history.runs(ctx.dataset, task=task))
        while len(_cache) > 16:
            _cache.popitem(last=False)
    return held[1]


class HistorySection:
    """The History section's callbacks (the panel class inherits them)."""

    def on_history_metric(self, ctx):
        ctx.panel.state.set("history_metric", ctx.params.get("value"))

    def on_history_baseline(self, ctx):
        ctx.panel.state.set("history_baseline", ctx.params.get("value"))

    def on_history_sort(self, ctx):
        ctx.panel.state.set("history_sort", ctx.params.get("value"))

    def on_history_run(self, ctx):
        """A run's row was clicked: the explorer shows that run."""
        key = ctx.params.get("key")
        if key and key != ctx.panel.state.eval_key:
            ctx.params["value"] = key
            self.on_choose_run(ctx)


def render(explorer, ctx, panel, task):
    """Adds the History section for the shown run's ``task`` to ``panel``."""
    runs = runs_of(ctx, task)
    panel.md("##### History", name="history_title")
    if not runs:
        panel.md("No finished run of this task yet.", name="history_empty")
        return
    state = ctx.panel.state
    metrics = history.metric_ids(runs)
    metric = state.history_metric if state.history_metric in metrics else metrics[0]
    keys = [r["key"] for r in runs]
    baseline = state.history_baseline if state.history_baseline in keys else keys[0]
    sort = state.history_sort if state.history_sort in SORTS else "time"
    series = history.series(runs, metric, baseline)
    flags = history.regressions(runs, baseline)
    panel.md(intro_md(runs, baseline, flags), name="history_intro")
    panel.enum("history_metric", metrics, default=metric, label="Metric",
               view=types.DropdownView(), on_change=explorer.on_history_metric)
    baselines = types.Dropdown()
    for run in runs:
        baselines.add_choice(run["key"], label=run_history.label(run))
    panel.str("history_baseline", default=baseline, label="Baseline run", view=baselines,
              on_change=explorer.on_history_baseline)
    traces, layout = figure(runs, series)
    panel.plot("history_plot", data=traces, layout=layout, config={"displayModeBar": False})
    panel.enum("history_sort", list(SORTS), default=sort, label="Sort runs by",
               view=types.DropdownView(), on_change=explorer.on_history_sort)
    panel.obj("history_table", view=types.View(
        component="RowsTable", composite_view=True, name="history_runs", title="Runs",
        columns=columns(metric), rows=table_rows(runs, series, flags, sort), head="run",
        wide=["regresses"], on_click_row=explorer.on_history_run))


def intro_md(runs, baseline, flags):
    """One sentence: how many runs, the baseline, which runs regress."""
    bad = [k for k, f in flags.items() if f]
    base = next(r for r in runs if r["key"] == baseline)
    text = "%d run%s of this task, oldest first; baseline **%s**. " % (
        len(runs), "" if len(runs) == 1 else "s", run_history.label(base))
    if len(runs) == 1:
        return text + "Evaluate another model (or this one later) to follow its metrics."
    if not bad:
        return text + ("No run is below the baseline on any metric beyond chance (the 95% "
                       "interval of every change reaches zero or above).")
    return text + "Regressions (a metric below the baseline beyond its 95%% interval): %s." % (
        ", ".join("**%s** (%d metric%s)" % (k, len(flags[k]), "" if len(flags[k]) == 1 else "s")
                  for k in bad))


def figure(runs, s):
    """The metric over the runs' times: values with their 95% intervals, the
    baseline's value and band, regressions as red crosses."""
    x = [r["time"] for r in runs]
    text = [run_history.label(r) for r in runs]
    shown = [i for i, v in enumerate(s["value"]) if v is not None]
    pick = lambda a, idx: [a[i] for i in idx]  # noqa: E731
    up = [s["high"][i] - s["value"][i] for i in shown]
    down = [s["value"][i] - s["low"][i] for i in shown]
    traces = [{"type": "scatter", "mode": "lines+markers", "name": s["metric"],
               "x": pick(x, shown), "y": pick(s["value"], shown), "text": pick(text, shown),
               "marker": {"color": RUN_COLOR, "size": 8}, "line": {"color": RUN_COLOR},
               "error_y": {"type": "data", "symmetric": False, "array": up,
                           "arrayminus": down, "color": RUN_COLOR},
               "hovertemplate": "%{text}<br>%{y:.3f}<extra></extra>"}]
    bad = [i for i in shown if s["regression"][i]]
    if bad:
        traces.append({"type": "scatter", "mode": "markers", "name": "regression",
                       "x": pick(x, bad), "y": pick(s["value"], bad), "text": pick(text, bad),
                       "marker": {"color": REGRESSION_COLOR, "size": 14, "symbol": "x"},
                       "hovertemplate": "%{text}: regression<extra></extra>"})
    b = s["keys"].index(s["baseline"])
    shapes = []
    if s["value"][b] is not None:
        shapes = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": s["value"][b],
                   "y1": s["value"][b], "line": {"color": BASELINE_COLOR, "dash": "dash"}},
                  {"type": "rect", "xref": "paper", "x0": 0, "x1": 1, "y0": s["low"][b],
                   "y1": s["high"][b], "fillcolor": BASELINE_COLOR, "opacity": 0.15,
                   "line": {"width": 0}}]
    layout = dict(BASE_LAYOUT, height=320, shapes=shapes,
                  margin={"t": 40, "r": 10, "b": 80, "l": 50},
                  legend={"orientation": "h", "x": 0, "y": -0.28, "xanchor": "left",
                          "yanchor": "top"},
                  title={"text": "%s per run, UTC (baseline dashed, 95%% band)" % s["metric"],
                         "font": {"size": 13}},
                  xaxis={"type": "date", "tickangle": 0, "nticks": 4, "automargin": True},
                  yaxis={"title": {"text": s["metric"]}, "rangemode": "tozero"})
    return traces, layout


def rows(runs, s, flags, sort="time"):
    """The table's rows, sorted: time (oldest first), value or change (worst
    first), model (by name)."""
    out = []
    for i, run in enumerate(runs):
        out.append({"run": run, "value": s["value"][i], "low": s["low"][i], "high": s["high"][i],
                    "delta": s["delta"][i], "delta_low": s["delta_low"][i],
                    "delta_high": s["delta_high"][i], "regression": s["regression"][i],
                    "baseline": run["key"] == s["baseline"], "flags": flags.get(run["key"], [])})
    missing = float("inf")
    keys = {"time": lambda r: (r["run"]["time"] or "", r["run"]["key"]),
            "value": lambda r: missing if r["value"] is None else r["value"],
            "change": lambda r: missing if r["delta"] is None else r["delta"],
            "model": lambda r: (r["run"]["model_name"], r["run"]["model_version"] or "")}
    return sorted(out, key=keys[sort])


def columns(metric):
    """The runs table's columns: [key, label]."""
    return [["run", "Run"], ["model", "Model"], ["time", "Time (UTC)"],
            ["value", "%s [95%% CI]" % metric], ["change", "Change [95% CI]"], ["flag", "Flag"],
            ["regresses", "Regresses on"]]


def table_rows(runs, s, flags, sort="time"):
    """The table's rows as texts (the panel and the report)."""
    f = lambda v: "–" if v is None else "%.3f" % v  # noqa: E731
    signed = lambda v: "–" if v is None else "%+.3f" % v  # noqa: E731
    out = []
    for r in rows(runs, s, flags, sort):
        run = r["run"]
        extra = len(r["flags"]) - 4
        out.append({
            "run": run["key"],
            "model": run["model_name"] + (" " + run["model_version"]
                                          if run.get("model_version") else ""),
            "time": run_history.when(run),
            "value": "–" if r["value"] is None else "%s [%s, %s]" % (
                f(r["value"]), f(r["low"]), f(r["high"])),
            "change": "–" if r["baseline"] or r["delta"] is None else "%s [%s, %s]" % (
                signed(r["delta"]), signed(r["delta_low"]), signed(r["delta_high"])),
            "flag": "baseline" if r["baseline"] else ("▼ regression" if r["regression"] else "–"),
            "regresses": ", ".join(r["flags"][:4]) + (" +%d" % extra if extra > 0 else "")
                         if r["flags"] else "–",
        })
    return out
