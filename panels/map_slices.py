"""The vector explorer's automatic slices, listed under the failure clusters (a mixin of the panel).

Clusters follow appearance, slices follow metadata: the button "Find slices"
runs the automatic slice search (SliceLine, :func:`..operators.slices.search`)
on the map's evaluation at the run's own operating point, and lists the worst
combinations of sample-field and descriptor-feature conditions with their
description (the clusters' style: "weather = fog and brightness in [0.1,
0.3)"), size, headline metric with its 95% bootstrap interval, and gap to the
whole run. Nothing is computed before the button is pressed; a click on a row
shows the slice in the grid.
"""

from collections import OrderedDict

import fiftyone.operators.types as types

from ..operators import slices as run_slices
from ..plugin import slices as engine
from .map_data import load

COLUMNS = [["rank", "#"], ["description", "Conditions"], ["size", "Size"], ["metric", "Metric"],
           ["value", "Value [95% interval]"], ["gap", "Gap"]]
_found = OrderedDict()  # panel id -> {"map_key", "table", "ts"}


def rows_of(table):
    """The found slices as text cells for the browser's ``ClusterTable``."""
    metric = table["metric"]
    out = []
    for r, row in enumerate(table["rows"]):
        v, ci = row["values"].get(metric), (row.get("ci") or {}).get(metric)
        out.append({"rank": r + 1, "description": row["description"], "size": row["size"],
                    "metric": metric,
                    "value": "-" if v is None else "%.3f" % v + (" [%.3f, %.3f]" % tuple(ci) if ci else ""),
                    "gap": "" if row.get("gap") is None else "%+.3f" % row["gap"]})
    return out


class MapSlices:
    """Render and events of the automatic slices under the failure clusters."""

    def render_map_slices(self, ctx, panel):
        held = _found.get(ctx.panel.id)
        if not held or held["map_key"] != ctx.panel.state.map_key:
            panel.btn("find_slices", label="Find slices",
                      on_click=self.on_find_slices)
            return
        panel.obj("map_slices", view=types.View(
            component="ClusterTable", composite_view=True, columns=COLUMNS,
            title="Automatic slices (worst combinations of metadata)",
            note=held["note"], on_click_row=self.on_map_slice_row))

    def on_find_slices(self, ctx):
        map_key = ctx.panel.state.map_key
        if not map_key:
            return
        eval_key = load(ctx.dataset, map_key).config.eval_key
        try:
            ts = run_slices.task_slices(ctx.dataset, eval_key)
            table = run_slices.search(ctx.dataset, eval_key, ts=ts)
        except Exception as e:  # a field that cannot be read: say why, change nothing
            ctx.ops.notify(str(e), variant="error")
            return
        note = ("The automatic slice search (SliceLine, `sliceline`) on evaluation '%s' at its "
                "operating point: the combinations of up to 3 sample-field and descriptor "
                "conditions with the most errors for their size (mean error of the whole run "
                "%.3f). Value: the slice's %s with a 95%% bootstrap interval (%d replicates, %s "
                "resampled, seed 0); gap: minus the whole run's (%s). Click a row to show the "
                "slice." % (eval_key, table.get("mean_error", 0.0), table["metric"],
                            engine.NUM_BOOT, ts.unit, _value(table["overall"], table["metric"])))
        if not table["rows"]:
            note += (" **No combination** of at least %d %s has more errors than the whole run "
                     "for its size." % (engine.MIN_UNITS, ts.unit))
        _found[ctx.panel.id] = {"map_key": map_key, "table": table, "ts": ts, "note": note}
        while len(_found) > 8:
            _found.popitem(last=False)
        ctx.panel.state.set("map_slices", None)
        ctx.panel.data.set("map_slices", rows_of(table))

    def on_map_slice_row(self, ctx):
        held = _found.get(ctx.panel.id)
        i = ctx.params.get("row")
        if not held or i is None or not 0 <= i < len(held["table"]["rows"]):
            return
        row = held["table"]["rows"][i]
        ctx.ops.set_view(run_slices.slice_view(ctx.dataset, held["ts"], row["units"]))
        ctx.ops.notify("Showing slice %s: %d %s" % (row["description"], row["size"],
                                                   held["ts"].unit), variant="info")


def _value(row, metric):
    v = row["values"].get(metric)
    return "-" if v is None else "%.3f" % v
