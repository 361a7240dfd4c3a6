"""The evaluation explorer's **Slices** section (a mixin of the panel).

Choose a source (a sample field, a label attribute, saved views, an error
map's clusters, a descriptor feature, or the automatic slice search): the
table lists every slice's headline metrics with 95% bootstrap intervals, its
size and its gap to the whole run, worst first, small slices marked; a click
on a row shows the slice in the App. Numbers come from the run's cached
analysis through the engine (:mod:`..plugin.slices`), at the panel's
operating point when the source was chosen; the table is drawn by the
browser's ``ClusterTable`` component (a folding section, as the clusters').
"""

from collections import OrderedDict

import fiftyone.operators.types as types

from ..operators import slices as run_slices
from ..plugin import slices as engine
from .runs import load_fast

SEARCH = "search"
_tables = OrderedDict()  # panel id -> {"key", "table", "source", "point"}
_tasks = OrderedDict()  # (dataset, run, run time, confidence, iou) -> TaskSlices


def task_slices(ctx, eval_key, confidence, iou):
    """The run's :class:`~..plugin.slices.TaskSlices` at an operating point, cached
    (with the whole run's bootstrap row)."""
    ev, info = load_fast(ctx, eval_key)
    key = (info["dataset_id"], eval_key, str(info.get("written_at")), confidence, iou)
    if key not in _tasks:
        if info["task"] == "segmentation":
            _tasks[key] = engine.SegmentationSlices(ev)
        else:
            _tasks[key] = engine.for_run(ev, confidence=confidence, iou=iou)
        while len(_tasks) > 6:
            _tasks.popitem(last=False)
    return _tasks[key]


def rows_of(table, ts):
    """The table's rows as text cells for the browser (values with their intervals)."""
    out = []
    for row in [dict(table["overall"], name="All (whole run)", gap=None)] + table["rows"]:
        cells = {"name": row.get("description") or row["name"], "size": row["size"]}
        for m in ts.metrics:
            v, ci = row["values"].get(m), (row["ci"] or {}).get(m)
            cells[m] = "-" if v is None else ("%.3f" % v + (" [%.3f, %.3f]" % tuple(ci) if ci else ""))
        cells["gap"] = "" if row.get("gap") is None else "%+.3f" % row["gap"]
        cells["small"] = "small" if row["small"] else ""
        out.append(cells)
    return out


class SlicesSection:
    """The Slices section's render and events (mixed into the evaluation explorer)."""

    def render_slices(self, ctx, panel, out):
        state = ctx.panel.state
        key = out["choices"]["eval_key"]
        panel.md("##### Slices", name="slices_title")
        menu = types.Dropdown()
        menu.add_choice(SEARCH, label="Automatic slice search (worst combinations)")
        for value, label in _sources(ctx, key):
            menu.add_choice(value, label=label)
        panel.str("slice_source", default=state.slice_source, label="Slice the run by",
                  view=menu, on_change=self.on_slice_source)
        held = _tables.get(ctx.panel.id)
        if not held or held["key"] != key:
            panel.md("Choose a source: each slice's metrics with 95% bootstrap intervals, its "
                     "size and its gap to the whole run.", name="slices_hint")
            if state.slice_source:  # chosen for another run (or before a reload)
                panel.btn("slices_compute", label="Compute these slices for this run",
                          on_click=self.on_slices_recompute)
            return
        ts = held["ts"]
        columns = [["name", "Slice"], ["size", ts.unit.capitalize()]] + \
            [[m, m] for m in ts.metrics] + [["gap", "Gap (%s)" % held["table"]["metric"]],
                                            ["small", "Small"]]
        panel.obj("slice_table", view=types.View(
            component="ClusterTable", composite_view=True, columns=columns,
            title=held["title"], note=held["note"], on_click_row=self.on_slice_row))
        panel.btn("slices_recompute", label="Recompute at the current threshold",
                  on_click=self.on_slices_recompute)

    def on_slice_source(self, ctx):
        ctx.panel.state.slice_source = ctx.params.get("value")
        self._slices_compute(ctx, ctx.params.get("value"))

    def on_slices_recompute(self, ctx):
        self._slices_compute(ctx, ctx.panel.state.slice_source)

    def _slices_compute(self, ctx, source):
        if not source:
            return
        out = self._shown(ctx)
        key, conf = out["choices"]["eval_key"], out["choices"].get("confidence")
        task = out.get("task", "detection")
        iou = float(out["choices"].get("iou") or 0.5)
        ts = task_slices(ctx, key, conf if task != "segmentation" else None, iou)
        try:
            if source == SEARCH:
                table = run_slices.search(ctx.dataset, key, ts=ts)
            else:
                table = run_slices.table(ctx.dataset, key, source, ts=ts)
        except Exception as e:  # a source that cannot be read: say why, change nothing
            ctx.ops.notify(str(e), variant="error")
            return
        point = ("every prediction" if task == "segmentation" else
                 "confidence %s" % ("any" if conf is None else "%.4g" % conf) +
                 (", IoU %.2f" % iou if task == "detection" else ""))
        label = "the automatic slice search" if source == SEARCH else source.split(":", 1)[-1]
        note = ("At %s. 95%% bootstrap intervals (%d replicates, %s resampled, seed 0); "
                "gap: the slice's %s minus the whole run's; **small**: fewer than %d %s. "
                "Click a row to show the slice." % (
                    point, engine.NUM_BOOT, ts.unit, table["metric"], engine.MIN_UNITS, ts.unit))
        if source == SEARCH:
            note += (" SliceLine (`sliceline`) over the sample fields and descriptor features: "
                     "the combinations of up to 3 conditions with the most errors for their size "
                     "(mean error of the whole run %.3f)." % table.get("mean_error", 0.0))
            if not table["rows"]:
                note += (" **No combination** of at least %d %s has more errors than the whole "
                         "run for its size." % (engine.MIN_UNITS, ts.unit))
        _tables[ctx.panel.id] = {"key": key, "table": table, "ts": ts, "source": source,
                                 "title": "Slices by %s" % label, "note": note}
        while len(_tables) > 8:
            _tables.popitem(last=False)
        ctx.panel.state.set("slice_table", None)
        ctx.panel.data.set("slice_table", rows_of(table, ts))

    def on_slice_row(self, ctx):
        held = _tables.get(ctx.panel.id)
        i = ctx.params.get("row")
        if not held or i is None:
            return
        table = held["table"]
        row = table["overall"] if i == 0 else table["rows"][i - 1]
        view = run_slices.slice_view(ctx.dataset, held["ts"], row["units"])
        ctx.ops.set_view(view)
        ctx.ops.notify("Showing slice %s: %d %s" % (row.get("description") or row["name"],
                                                   row["size"], held["ts"].unit), variant="info")


def _sources(ctx, eval_key):
    """The run's slice sources, listed once per run in this process."""
    ev, info = load_fast(ctx, eval_key)
    if "slice_sources" not in info:
        info["slice_sources"] = run_slices.list_sources(ctx.dataset, eval_key)
    return info["slice_sources"]
