"""The ``vector_explorer`` panel: the error map, coloured by error type, and its failure clusters.

Data flow, designed for 50,000 points. The App re-renders the panel from
``merge(state, data)`` many times per event (every patch, and about once a
second while the grid loads), echoes panel state back with every event, and
copies the panel data into the state on input changes; plotly's ``react``
redraws a WebGL plot fully unless nothing changed, and in headless Chromium's
software WebGL a redraw of 50,000 points takes ~0.2 s. So:

- the scatter is sent once per map and colouring: WebGL traces of integer
  coordinates 0..9999 on the map's extent (~5 bytes a number in JSON; no ids,
  text or hover labels: a hovered point's text and thumbnail are asked for that
  point only, :mod:`.map_hover`), plain arrays and a ``datarevision``, so that the App's
  re-renders cost plotly no redraw (typed arrays, ``{"bdata": ...}``, would
  be smaller, but plotly's ``react`` counts them as changed on every call and
  redraws);
- the highlight of the App's view ("in view (N)") is the last trace, patched
  alone (``scatter.<n>``) when the view changes and drawn by the browser
  component on a canvas over the plot (plotly would redraw every point while
  the App loads the grid for the new view); the App fires three
  view-change events per change, so views already shown are skipped, and a
  view this panel set is highlighted from the indices it was built from
  (no database query);
- box and lasso selections are drawn by the browser component
  (``ErrorMapScatter`` in ``components.js``), not by plotly, whose selection
  restyles and redraws every point several times; the region comes here as a
  few numbers (``on_region``), its points are found from the map cached in this
  process, and the view showing them is a range query on the grid coordinates
  stored with the points (:mod:`.map_region`), a few hundred bytes where a
  view of 5,000 ids is 300 KB that the App sends with each of its requests.

The map's points and colourings (by error type, cluster, class, confidence or
any sample field) are computed in :mod:`.map_data`, once per map and colouring.

The link with the evaluation explorer goes through the App's own view:
selecting here sets the view, and a view set elsewhere (a confusion cell, a
class, an error type) highlights its points here.
"""

import hashlib
import json
import threading
import zlib
from collections import OrderedDict

import numpy as np

import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
import fiftyone.operators as foo
import fiftyone.operators.types as types
from fiftyone.operators.store import ExecutionStore

from . import (cluster_report, evaluation_explorer, map_hover, map_overlay, map_region, map_tasks,
               runs, selection)
from .cluster_actions import ClusterActions
from .map_slices import MapSlices
from .figures import BASE_LAYOUT, NOT_AN_OBJECT, NOT_DETECTED
from .map_data import (COLOR_BY, FIELD, SCALE, drop_orphans, field_choices, field_version, load,
                       maps)

MAX_CLASS_ROWS = 15
CLUSTER_COLUMNS = [["rank", "#"], ["size", "Size"], ["error_rate", "Error rate"], ["lift", "Lift"],
                   ["excess", "Excess"], ["p_value", "q"], ["top_error", "Main error"],
                   ["description", "What they share"]]
NO_RENDER = ("on_region", "on_point_click", "on_point_hover")
_panels = OrderedDict()  # panel id -> what this process last showed it
_lock = threading.Lock()


class VectorExplorer(ClusterActions, MapSlices, foo.Panel):
    @property
    def config(self):
        return foo.PanelConfig(name="vector_explorer", label="Vector explorer",
                               icon="scatter_plot", surfaces="grid")

    def on_load(self, ctx):
        dropped = drop_orphans(ctx.dataset)
        if dropped:
            ctx.ops.notify("Deleted the error maps of deleted evaluations: %s" % ", ".join(dropped),
                           variant="info")
        keys = maps(ctx.dataset)
        if not keys:
            ctx.panel.state.set("map_key", None)
            return
        key = ctx.panel.state.map_key if ctx.panel.state.map_key in keys else keys[-1]
        if not self._unfinished(ctx, key, keys):
            self._refresh(ctx, key, ctx.panel.state.color_by or "error", new_map=True)

    def _unfinished(self, ctx, map_key, keys):
        """Shows the map's evaluation as unfinished if it is (killed or running)."""
        eval_key = load(ctx.dataset, map_key).config.eval_key
        state = runs.unfinished(ctx.dataset, eval_key)
        ctx.panel.state.set({"unfinished": state["message"], "unfinished_key": eval_key,
                             "map_key": map_key, "map_keys": keys} if state else
                            {"unfinished": None})
        return bool(state)

    def on_rerun(self, ctx):
        params = runs.rerun_prompt(ctx, ctx.panel.state.unfinished_key)
        ctx.prompt(evaluation_explorer.EVALUATE_URI, params=params, on_success=self.on_load)

    def execute(self, ctx):
        """Panel events, never a traceback: a map or evaluation deleted meanwhile
        (another tab, the SDK) brings the panel back to its list of maps."""
        try:
            return self._execute(ctx)
        except (KeyError, ValueError) as e:
            if ctx.params.get("__method__") == "on_load" or not _gone(ctx):
                raise
            ctx.ops.notify("This error map or its evaluation was deleted (%s)" % e,
                           variant="warning")
            ctx.panel.state.set({"map_key": None, "map_keys": maps(ctx.dataset)})
            self.on_load(ctx)
            ctx.ops.show_panel_output(self.render(ctx))
            return None

    def render(self, ctx):
        panel = types.Object()
        state = ctx.panel.state
        keys = state.map_keys or []
        if not keys or not state.map_key:
            panel.md("### No error map yet\nRun **compute_error_map** on an evaluation to map "
                     "samples or objects and find failure clusters.", name="empty")
            panel.btn("compute", label="Compute an error map", variant="contained",
                      on_click=self.on_compute)
            return types.Property(panel, view=types.GridView(orientation="vertical", gap=2))
        # inputs at the top level, so their state paths are their names
        panel.enum("map_key", keys, default=state.map_key, label="Map",
                   view=types.DropdownView(), on_change=self.on_map)
        if state.unfinished:
            panel.view("unfinished", types.Warning(label=state.unfinished))
            panel.btn("rerun", label="Re-run", variant="contained", on_click=self.on_rerun)
            return types.Property(panel, view=types.GridView(orientation="vertical", gap=2))
        colours = types.DropdownView()
        choices = state.color_choices or [[c, c] for c in COLOR_BY]
        for value, label in choices:
            colours.add_choice(value, label=label)
        panel.enum("color_by", [v for v, _ in choices], default=state.color_by,
                   label="Colour by", view=colours, on_change=self.on_color)
        panel.md(state.caption or "", name="caption")
        # composite_view: the App's form otherwise "initializes" a plot's value
        # whenever its data changes, copying all the panel data (50,000 points)
        # into the panel state, which every later event then sends back
        # drawn by components.js: box and lasso selections there call on_region
        panel.obj("scatter", view=types.View(
            component="ErrorMapScatter", composite_view=True,
            layout=state.scatter_layout or {},
            config={"scrollZoom": True, "displaylogo": False,
                    "modeBarButtonsToRemove": ["select2d", "lasso2d", "zoom2d", "pan2d"]},
            on_region=self.on_region, on_click=self.on_point_click,
            on_hover=self.on_point_hover))
        self.render_cluster_actions(ctx, panel)  # clear, tag, more, split, undo
        if state.overlay_md:
            panel.md(state.overlay_md, name="overlay_md")
        # the clusters' table and the chosen cluster's report are folding sections
        # drawn by components.js (ClusterTable, ClusterReport), as the evaluation
        # explorer's; their data are the panel data "clusters" and "cluster_plot"
        panel.obj("clusters", view=types.View(
            component="ClusterTable", composite_view=True, columns=CLUSTER_COLUMNS,
            title="Failure clusters (ranked by errors explained)",
            note=state.ranking_note or "", on_click_row=self.on_cluster_row))
        if state.cluster is not None:
            title, _, verdict = (state.cluster_md or "").partition("\n\n")
            panel.obj("cluster_plot", view=types.View(
                component="ClusterReport", composite_view=True, title=title.lstrip("# "),
                verdict=verdict, report=state.cluster_report_md or "",
                classes=state.cluster_classes_md or "", layout=state.cluster_layout or {},
                on_click=self.on_cluster_cell))
        self.render_map_slices(ctx, panel)  # the automatic slices, under the clusters
        return types.Property(panel, view=types.GridView(orientation="vertical", gap=2))

    def on_compute(self, ctx):
        ctx.prompt("@error-atlas/error-atlas/compute_error_map", on_success=self.on_load)

    def on_map(self, ctx):
        if self._unfinished(ctx, ctx.params["value"], maps(ctx.dataset)):
            return
        self._refresh(ctx, ctx.params["value"], ctx.panel.state.color_by or "error", new_map=True)

    def on_color(self, ctx):
        self._refresh(ctx, ctx.panel.state.map_key, ctx.params["value"])

    # -- selections -----------------------------------------------------------------

    def on_region(self, ctx):
        """A box (``box``: x0, x1, y0, y1) or lasso (``lasso``: xs, ys) drawn on the map,
        in map coordinates, with the legend groups hidden (``hidden``: trace indices):
        its shown points become the App's view."""
        box, lasso = ctx.params.get("box"), ctx.params.get("lasso")
        if not ctx.panel.state.map_key or (box is None and lasso is None):
            return
        m = load(ctx.dataset, ctx.panel.state.map_key)
        try:
            inside = map_region.points_in(m.q, box=box, lasso=lasso)
        except (TypeError, ValueError):
            return
        idx = np.flatnonzero(inside & self._shown(ctx, m, ctx.params.get("hidden") or []))
        if not len(idx):
            ctx.ops.notify("No shown point in the region", variant="info")
            return
        # the browser marks the region's points itself (components.js): the view only
        self._set_view(ctx, m, map_region.view_of(ctx.dataset, m, idx), idx, patch=False)

    def on_point_click(self, ctx):
        trace, i = ctx.params.get("trace_idx"), ctx.params.get("idx")
        if trace is None or i is None:
            return
        if trace == ctx.panel.state.overlay_index:  # the monitored period's images
            map_overlay.on_click(ctx, ctx.panel.state.map_key, i)
            ctx.ops.show_panel_output(self.render(ctx))
            return
        m = load(ctx.dataset, ctx.panel.state.map_key)
        idx = self._points(ctx, m, np.array([trace]), np.array([i]))
        if len(idx):
            self._select(ctx, m, idx)

    def on_point_hover(self, ctx):
        """The point under the pointer (``trace_idx``, ``idx``): its text and thumbnail
        (:mod:`.map_hover`), returned to the browser component, which shows them."""
        trace, i = ctx.params.get("trace_idx"), ctx.params.get("idx")
        if trace is None or i is None or not ctx.panel.state.map_key:
            return None
        m = load(ctx.dataset, ctx.panel.state.map_key)
        idx = self._points(ctx, m, np.array([trace]), np.array([i]))
        if not len(idx):
            return None
        if m.task != "detection":
            return dict(map_tasks.hover(ctx.dataset, m, idx[0]), trace_idx=trace, idx=i)
        ev, info = evaluation_explorer.load(ctx.dataset, m.config.eval_key)
        iou = ctx.dataset.get_evaluation_info(m.config.eval_key).config.iou
        out = map_hover.point_info(ctx.dataset, m, ev, self._map_assessment(ctx, m, ev), idx[0],
                                   iou, info.get("confidence"))
        return dict(out, trace_idx=trace, idx=i)

    def on_clear(self, ctx):
        ctx.ops.clear_view()

    def _execute(self, ctx):
        # The App sends on_change_view three times per view change, and again
        # after reloading its page query: those that change nothing are answered
        # without a render (a render makes the App re-render the whole panel,
        # the scatter included, while the grid loads the new view).
        method = ctx.params.get("__method__")
        if method == "on_change_view" and (ctx.panel.state.unfinished or not self._view_moved(ctx)):
            return None
        # A selection changes the App's view and the "in view" trace (a data patch)
        # only: no render, which would make the App re-render the whole panel
        # while it loads the grid.
        if method in NO_RENDER:
            return getattr(self, method)(ctx)
        return super().execute(ctx)

    def _view_moved(self, ctx):
        """True when the App's view is not the one last highlighted here."""
        if not ctx.panel.state.map_key or ctx.panel.state.n_groups is None:
            return False
        m = load(ctx.dataset, ctx.panel.state.map_key)
        return _memo(ctx.panel_id).get("shown") != (m.key, _view_key(ctx.view))

    def on_change_view(self, ctx):
        """A view set elsewhere (e.g. a confusion cell) highlights its points here."""
        if not ctx.panel.state.map_key or ctx.panel.state.n_groups is None:
            return
        m = load(ctx.dataset, ctx.panel.state.map_key)
        memo = _memo(ctx.panel_id)
        with memo["lock"]:  # the App sends each change three times at once
            key = _view_key(ctx.view)
            if memo.get("shown") == (m.key, key):
                return  # a view this panel set (highlighted then) or already shown
            idx = self._highlight(ctx, m, memo, key)
            memo["shown"], memo["highlight"] = (m.key, key), idx
        self._send_highlight(ctx, m, idx)

    # -- clusters ---------------------------------------------------------------------

    def on_cluster_row(self, ctx):
        m = load(ctx.dataset, ctx.panel.state.map_key)
        i = ctx.params.get("row")
        if i is None or not 0 <= i < len(m.summaries):
            return
        s = m.summaries[i]
        members = np.flatnonzero(m.arrays["cluster"] == s["id"])
        if m.task != "detection":
            return self._task_cluster(ctx, m, s, i, members)
        ev, iou, conf, source = self._operating_point(ctx, m)
        a = ev.assess(iou, conf)
        sub = self._restrict(ctx, m, ev, a, members)
        rows = cluster_report.class_rows(ev, sub, a)
        traces, layout = cluster_report.confusion_figure(sub.confusion, ev.classes)
        ctx.panel.state.set({
            "cluster": s["id"], "cluster_md": _cluster_md(s, i + 1, m.config.level),
            "tagged_md": None,
            "cluster_op": {"iou": iou, "confidence": conf},
            "cluster_report_md": cluster_report.summary_md(
                cluster_report.totals(ev, sub), cluster_report.totals(ev, a), iou, conf, source),
            "cluster_classes_md": _classes_md(rows), "cluster_layout": layout,
            "cluster_plot": None})  # a copy the App may have put in the state
        ctx.panel.data.set("cluster_plot", traces)
        self._select(ctx, m, members, cluster=s["id"])

    def _task_cluster(self, ctx, m, s, i, members):
        """A chosen cluster of a classification or segmentation map (:mod:`.map_tasks`)."""
        dataset_id = ctx.dataset._doc.id
        saved = ExecutionStore.create(evaluation_explorer.STORE, dataset_id).get(str(dataset_id))
        out = map_tasks.cluster(ctx.dataset, m, members, saved)
        traces, layout = out["figure"]
        ctx.panel.state.set({
            "cluster": s["id"], "cluster_md": _cluster_md(s, i + 1, m.config.level),
            "tagged_md": None, "cluster_op": out["op"], "cluster_report_md": out["report_md"],
            "cluster_classes_md": out.get("classes_md") or _classes_md(out["rows"]),
            "cluster_layout": layout, "cluster_plot": None})
        ctx.panel.data.set("cluster_plot", traces)
        self._select(ctx, m, members, cluster=s["id"])

    def on_cluster_cell(self, ctx):
        state = ctx.panel.state
        if state.cluster is None or not state.cluster_op:
            return
        m = load(ctx.dataset, state.map_key)
        if m.task != "detection":
            members = np.flatnonzero(m.arrays["cluster"] == state.cluster)
            idx = map_tasks.cell(ctx.dataset, m, members, state.cluster_op, ctx.params.get("y"),
                                 ctx.params.get("x"))
            if len(idx):
                view = ctx.dataset.select(m.ids_of(idx).tolist(), ordered=True)
                self._set_view(ctx, m, view, idx)
            return
        ev, _ = evaluation_explorer.load(ctx.dataset, m.config.eval_key)
        row = cluster_report.cell_index(ctx.params.get("y"), ev.classes, NOT_AN_OBJECT)
        col = cluster_report.cell_index(ctx.params.get("x"), ev.classes, NOT_DETECTED)
        if row is None or col is None:
            return
        a = ev.assess(state.cluster_op["iou"], state.cluster_op["confidence"])
        members = np.flatnonzero(m.arrays["cluster"] == state.cluster)
        sub = self._restrict(ctx, m, ev, a, members)
        preds, gts = selection.cell_ids(ev, sub, row, col)
        # as selection.objects_view(..., paired=True): one patch per prediction, or
        # per object in the Not-detected column; fast for thousands of labels
        shown = (preds, []) if preds else ([], gts)
        view = selection.labels_view(ctx.dataset, m.config, m.samples_of(shown[0] + shown[1]), *shown)
        self._set_view(ctx, m, view, m.index_of(shown[0] + shown[1]))

    # -- helpers ------------------------------------------------------------------

    def _points(self, ctx, m, trace, index):
        """Point indices of (trace, index) pairs of the colour groups' traces (plotly
        draws those only: the "in view" rings are the browser component's)."""
        color_by, version = self._colour(ctx, m)
        _, order, offsets = m.colouring(color_by, ctx.panel.state.class_names or [], version)
        n = len(offsets) - 1
        ok = (trace >= 0) & (trace < n) & (index >= 0)
        ok[ok] &= index[ok] < np.diff(offsets)[trace[ok]]
        return np.unique(order[offsets[trace[ok]] + index[ok]])

    def _shown(self, ctx, m, hidden):
        """Mask of the points drawn in the legend groups not ``hidden`` (trace indices)."""
        color_by, version = self._colour(ctx, m)
        _, order, offsets = m.colouring(color_by, ctx.panel.state.class_names or [], version)
        n = len(offsets) - 1
        hidden = {t for t in hidden if isinstance(t, int)}
        group = np.repeat(np.arange(n), np.diff(offsets))
        shown = np.zeros(len(m), bool)
        shown[order[~np.isin(group, list(hidden))]] = True
        return shown

    def _select(self, ctx, m, idx, cluster=None):
        self._set_view(ctx, m, map_region.view_of(ctx.dataset, m, idx, cluster), idx)

    def _set_view(self, ctx, m, view, idx, patch=True):
        """Sets the App's view and highlights its points at once (``patch``: else the
        browser has marked them); remembers them, so the view-change events it
        causes need nothing more."""
        key = _view_key(view)
        memo = _memo(ctx.panel_id)
        with memo["lock"]:
            memo["own"] = (m.key, key, idx)  # point indices of this map only
            memo["shown"], memo["highlight"] = (m.key, key), idx
        ctx.ops.set_view(view)
        if patch:
            self._send_highlight(ctx, m, idx)
        else:  # the next patch must differ from the one the browser holds
            memo["seq"] = memo.get("seq", 0) + 1

    def _send_highlight(self, ctx, m, idx):
        """Patches the "in view" trace alone, with its revision (drawn by the browser
        component over the plot, not by plotly); not the panel state: a state
        change makes the App save its spaces and reload its page query, which would
        compete with the grid's own queries for the new view."""
        n = int(ctx.panel.state.lit_index or ctx.panel.state.n_groups)
        memo = _memo(ctx.panel_id)
        memo["seq"] = memo.get("seq", 0) + 1
        memo["revision"] = "%s|%d" % (_revision(m, "%s|%s" % self._colour(ctx, m), idx), memo["seq"])
        ctx.panel.data.set("scatter.%d" % n, dict(m.highlight_trace(idx), revision=memo["revision"]))

    def _colour(self, ctx, m):
        """``(color_by, version)`` of the colouring the scatter was drawn with."""
        color_by = ctx.panel.state.color_by or "error"
        drawn = _memo(ctx.panel_id).get("colour")
        if drawn and drawn[:2] == (m.key, color_by):
            return color_by, drawn[2]
        return color_by, field_version(ctx.dataset) if color_by.startswith(FIELD) else None

    def _highlight(self, ctx, m, memo, key):
        """Point indices of the App's view (None for the whole dataset)."""
        own = memo.get("own")
        if own is not None and own[:2] == (m.key, key):
            return own[2]
        ids = _ids_in_view(ctx.view, m.config)
        if ids is None:
            return None
        if m.config.level == "objects":
            ev, _ = evaluation_explorer.load(ctx.dataset, m.config.eval_key)
            ids = cluster_report.with_detectors(ev, self._map_assessment(ctx, m, ev), ids)
        return m.index_of(ids)

    def _operating_point(self, ctx, m):
        ev, _ = evaluation_explorer.load(ctx.dataset, m.config.eval_key)
        dataset_id = ctx.dataset._doc.id
        saved = ExecutionStore.create(evaluation_explorer.STORE, dataset_id).get(str(dataset_id))
        return (ev, *cluster_report.operating_point(ev, m.config.eval_key, saved))

    def _restrict(self, ctx, m, ev, a, members):
        """The cluster's share of assessment ``a`` (see :func:`cluster_report.restrict`)."""
        map_a = self._map_assessment(ctx, m, ev) if m.config.level == "objects" else None
        return cluster_report.restrict(ev, a, m.ids_of(members), map_a)

    def _map_assessment(self, ctx, m, ev):
        """The assessment an objects map's points were made at (the run's operating point)."""
        _, info = evaluation_explorer.load(ctx.dataset, m.config.eval_key)
        iou = ctx.dataset.get_evaluation_info(m.config.eval_key).config.iou
        return ev.assess(iou, info.get("confidence"))

    def _refresh(self, ctx, map_key, color_by, new_map=False):
        """Sends the map in one colouring (the only time the scatter is sent)."""
        m = load(ctx.dataset, map_key)
        ev = evaluation_explorer.load(ctx.dataset, m.config.eval_key)[0] if m.task == "detection" \
            else map_tasks.analysis(ctx.dataset, m)
        choices = [[c, c] for c in COLOR_BY] + [[FIELD + f, "field: " + f]
                                                for f in field_choices(ctx.dataset)]
        if color_by not in [v for v, _ in choices]:
            color_by = "error"  # e.g. a field deleted since it was chosen
        version = field_version(ctx.dataset) if color_by.startswith(FIELD) else None
        traces, _, _ = m.colouring(color_by, ev.classes, version)
        # a monitored period's production images, over the groups, under "in view"
        overlay = map_overlay.placed(ctx.dataset, map_key) if m.config.level == "samples" else None
        extra = [map_overlay.trace(overlay, m.marker_size)] if overlay and overlay["ids"] else []
        memo = _memo(ctx.panel_id)
        with memo["lock"]:
            key = _view_key(ctx.view)
            idx = self._highlight(ctx, m, memo, key)
            memo["shown"], memo["highlight"] = (m.key, key), idx
            memo["colour"] = (m.key, color_by, version)  # what the scatter was drawn with
            memo["seq"] = memo.get("seq", 0) + 1
            memo["revision"] = "%s|%d" % (_revision(m, "%s|%s" % (color_by, version), idx),
                                          memo["seq"])
        rows = [{"rank": r + 1, "size": s["size"], "error_rate": _round(s["error_rate"], 3),
                 "lift": _round(s["lift"], 2), "excess": _round(s.get("excess_errors"), 1),
                 "p_value": cluster_report.p_text(s.get("p_value")), "top_error": _top_error(s),
                 "description": cluster_report.phrases_md(s)} for r, s in enumerate(m.summaries)]
        caption = ("%d %s, %d clusters, map of evaluation '%s'. Drag to select (box or lasso, "
                   "chosen above the map), click a point to show it, click a legend entry to hide "
                   "or show a group." % (
                       len(m), "images" if m.config.level == "samples" else "objects",
                       len(m.summaries), m.config.eval_key))
        if color_by.startswith(FIELD) and m.config.level == "objects":
            caption += " Each object takes its image's value of '%s'." % color_by[len(FIELD):]
        layout = dict(BASE_LAYOUT, height=520, dragmode=False, hovermode="closest",
                      uirevision=map_key,
                      # the groups' points change with the map and the colouring only
                      datarevision="%s|%s|%s|%s|%s" % (m.key[1], m.key[2], color_by, version,
                                                      overlay and overlay["end"]),
                      margin={"t": 30, "r": 10, "b": 10, "l": 10},
                      xaxis={"visible": False, "range": [-0.02 * SCALE, 1.02 * SCALE]},
                      yaxis={"visible": False, "range": [-0.02 * SCALE, 1.02 * SCALE]},
                      # under the plot, wrapping: never over the points or the toolbar, never cut
                      legend={"orientation": "h", "x": 0, "xanchor": "left", "y": -0.01,
                              "yanchor": "top", "itemclick": "toggle",
                              # groups hidden in one colouring are not hidden in the next
                              "uirevision": "%s|%s" % (map_key, color_by)})
        # None: copies of the data the App may have put in the state (merged under it)
        state = {"scatter": None, "clusters": None, "map_key": map_key,
                 "map_keys": maps(ctx.dataset), "color_by": color_by, "color_choices": choices,
                 "caption": caption, "ranking_note": cluster_report.ranking_note(m.summaries),
                 "scatter_layout": layout, "class_names": ev.classes, "n_groups": len(traces),
                 "overlay_index": len(traces) if extra else None,
                 "lit_index": len(traces) + len(extra),
                 "split_count": getattr(m.config, "num_splits", 0)}
        if new_map:
            state.update(cluster=None, cluster_md=None, tagged_md=None, split_md=None,
                         cluster_report_md=None,
                         cluster_classes_md=None, cluster_op=None, cluster_layout=None,
                         cluster_plot=None, overlay_md=None)
        ctx.panel.state.set(state)
        lit = dict(m.highlight_trace(idx), revision=memo["revision"])
        ctx.panel.data.set({"scatter": traces + extra + [lit], "clusters": rows})


def _gone(ctx):
    """True when the panel's map, or its evaluation, no longer exists."""
    key = ctx.panel.state.map_key
    if not key:
        return False
    drop_orphans(ctx.dataset)
    return key not in maps(ctx.dataset)


def _memo(panel_id):
    with _lock:
        memo = _panels.get(panel_id)
        if memo is None:
            memo = _panels[panel_id] = {"lock": threading.Lock()}
        _panels.move_to_end(panel_id)
        while len(_panels) > 32:
            _panels.popitem(last=False)
    return memo


def _view_key(view):
    """A digest of a view's stages (stage ids and generated datasets' names left out)."""
    stages = [(s["_cls"], [kv for kv in s["kwargs"] if kv[0] != "_state"])
              for s in view._serialize()]
    blob = json.dumps([view._root_dataset.name, stages], sort_keys=True, default=str)
    return hashlib.md5(blob.encode()).hexdigest()


def _revision(m, colour, idx):
    lit = zlib.crc32(np.asarray([] if idx is None else idx, dtype=np.int64).tobytes())
    return "%s|%s|%s|%08x" % (m.key[1], m.key[2], colour, lit)


def _percent(value):
    return "-" if value is None else "%.0f%%" % (100 * value)


def _round(value, digits):
    return None if value is None else round(value, digits)


def _top_error(s):
    counts = {k: v for k, v in s["error_counts"].items() if k != "correct" and v}
    return max(counts, key=counts.get) if counts else "-"


def _cluster_md(s, rank, level):
    counts = ", ".join("%s %d" % (k, v) for k, v in s["error_counts"].items() if v)
    classes = ", ".join("%s %.0f%%" % (c, 100 * share) for c, share in s["classes"])
    excess = round(s["excess_errors"] or 0)
    return ("#### Cluster #%d\n\n%d %s, error rate %s (lift %s), %d error%s "
            "beyond its share. %s.\n\n%s %s\n\nClasses: %s. Errors: %s." % (
                rank, s["size"], "images" if level == "samples" else "objects",
                _percent(s["error_rate"]), _round(s["lift"], 1), excess, "" if excess == 1 else "s",
                cluster_report.phrases_md(s).capitalize() or "Nothing stands out",
                cluster_report.significance_md(s, level), cluster_report.slices_md(s),
                classes, counts))


def _classes_md(rows):
    """The per-class table as markdown (a table view keeps rows of a longer earlier list);
    seven columns, the whole evaluation's value in brackets, to fit a third of a laptop."""
    if not rows:
        return "No evaluated object of this cluster counts at this operating point."
    fmt = lambda v: "–" if v is None else "%.2f" % v
    both = lambda r, k: "%s (%s)" % (fmt(r[k]), fmt(r[k + "_all"]))
    lines = ["| Class | TP | FP | FN | Precision (all) | Recall (all) | F1 (all) |",
             "|---|---|---|---|---|---|---|"]
    lines += ["| %s | %d | %d | %d | %s | %s | %s |" % (
        r["class"], r["tp"], r["fp"], r["fn"], both(r, "precision"), both(r, "recall"),
        both(r, "f1"))
        for r in rows[:MAX_CLASS_ROWS]]
    more = len(rows) - MAX_CLASS_ROWS
    tail = "\n\n... and %d more classes with fewer errors." % more if more > 0 else ""
    return "\n".join(lines) + tail


def _ids_in_view(view, config):
    """Sample ids (samples maps) or label ids (object maps) visible in ``view``, or None
    when the view is the whole dataset (nothing to highlight)."""
    if not getattr(view, "_stages", None) and not view._is_generated:  # patches have no stages
        return None
    if config.level == "samples":
        field = "sample_id" if view._is_patches else "id"
        return set(map(str, view.values(field)))
    ids = set()
    for f in (config.pred_field, config.gt_field):
        if view.has_field(f):
            one = isinstance(view.get_field(f), fof.EmbeddedDocumentField) and \
                view.get_field(f).document_type is fol.Detection
            ids.update(v for v in view.values(f + (".id" if one else ".detections.id"),
                                              unwind=True) if v)
    return ids
