"""The ``vector_explorer`` panel: the error map, coloured by error type, and its failure clusters.

Data flow for tens of thousands of points: the scatter is sent once per
colouring as WebGL traces of rounded coordinates only (no ids); the App echoes
panel data back with every event, so every byte counts. Selections come back as
(trace, index) pairs and are mapped to sample or label ids here, from the map
cached in this process. The link with the evaluation explorer goes through the
App's own view: selecting here sets the view, and a view set elsewhere (a
confusion cell, a class, an error type) highlights its points here.
"""

from collections import OrderedDict

import numpy as np

import fiftyone.operators as foo
import fiftyone.operators.types as types

from ..operators import error_map
from ..plugin.errors import ERROR_TYPES
from .figures import BASE_LAYOUT, COLORS

COLOR_BY = ("error", "cluster", "class", "confidence")
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
_cache = OrderedDict()


def maps(dataset):
    """Completed error maps on the dataset."""
    keys = []
    for run in dataset.list_runs():
        if run.startswith("error_map_") and getattr(dataset.get_run_info(run).config, "complete", False):
            keys.append(run[len("error_map_"):])
    return keys


def load(dataset, map_key):
    stamp = dataset.get_run_info(error_map.map_run_key(map_key)).timestamp
    key = (dataset._doc.id, map_key, stamp)
    if key not in _cache:
        arrays, summaries = error_map.load_error_map(dataset, map_key)
        config = dataset.get_run_info(error_map.map_run_key(map_key)).config
        _cache[key] = (arrays, summaries, config)
        while len(_cache) > 4:
            _cache.popitem(last=False)
    return _cache[key]


def groups(arrays, summaries, color_by, class_names):
    """Point indices per legend entry, in a stable order: [(name, color, indices)]."""
    if color_by == "cluster":
        ranked = [s["id"] for s in summaries]
        return [("cluster %d (#%d)" % (c, r + 1), PALETTE[r % len(PALETTE)],
                 np.flatnonzero(arrays["cluster"] == c)) for r, c in enumerate(ranked)]
    if color_by == "class":
        labels = arrays["label"]
        return [(class_names[k] if k >= 0 else "(none)", PALETTE[i % len(PALETTE)],
                 np.flatnonzero(labels == k)) for i, k in enumerate(np.unique(labels))]
    if color_by == "confidence":
        score = arrays.get("score")
        if score is None:
            return [("points", PALETTE[0], np.arange(len(arrays["xy"])))]
        bins = np.digitize(np.nan_to_num(score, nan=-1), [0, 0.25, 0.5, 0.75])
        names = ("no confidence (objects)", "< 0.25", "0.25-0.5", "0.5-0.75", ">= 0.75")
        colors = ("#7f7f7f", "#440154", "#3b528b", "#21918c", "#fde725")
        return [(names[b], colors[b], np.flatnonzero(bins == b)) for b in range(5)]
    err = arrays["error"]
    return [(name, COLORS[name], np.flatnonzero(err == name)) for name in ERROR_TYPES]


def scatter_traces(arrays, group_list, highlight=None):
    xy = np.round(arrays["xy"], 3)
    traces = [{"type": "scattergl", "mode": "markers", "name": "%s (%d)" % (name, len(idx)),
               "x": xy[idx, 0].tolist(), "y": xy[idx, 1].tolist(),
               "marker": {"color": color, "size": 5, "opacity": 0.8}}
              for name, color, idx in group_list if len(idx)]
    if highlight is not None and len(highlight):
        traces.append({"type": "scattergl", "mode": "markers", "name": "in view (%d)" % len(highlight),
                       "x": xy[highlight, 0].tolist(), "y": xy[highlight, 1].tolist(),
                       "marker": {"color": "rgba(0,0,0,0)", "size": 10,
                                  "line": {"color": "#ffffff", "width": 1.5}}})
    return traces


class VectorExplorer(foo.Panel):
    @property
    def config(self):
        return foo.PanelConfig(name="vector_explorer", label="Vector explorer",
                               icon="scatter_plot", surfaces="grid")

    def on_load(self, ctx):
        keys = maps(ctx.dataset)
        if not keys:
            ctx.panel.state.set("map_key", None)
            return
        self._refresh(ctx, keys[-1], ctx.panel.state.color_by or "error")

    def render(self, ctx):
        panel = types.Object()
        state = ctx.panel.state
        keys = maps(ctx.dataset)
        if not keys or not state.map_key:
            panel.md("### No error map yet\nRun **compute_error_map** on an evaluation to map "
                     "samples or objects and find failure clusters.", name="empty")
            panel.btn("compute", label="Compute an error map", variant="contained",
                      on_click=self.on_compute)
            return types.Property(panel, view=types.GridView(orientation="vertical", gap=2))
        panel.enum("map_key", keys, default=state.map_key, label="Map",
                   view=types.DropdownView(), on_change=self.on_map)
        panel.enum("color_by", list(COLOR_BY), default=state.color_by, label="Colour by",
                   view=types.DropdownView(), on_change=self.on_color)
        panel.md(state.caption or "", name="caption")
        panel.plot("scatter", layout=state.scatter_layout or {}, config={"scrollZoom": True},
                   on_selected=self.on_selected, on_click=self.on_point_click)
        row = panel.h_stack("selection_row", align_y="center")
        row.btn("clear", label="Clear selection", on_click=self.on_clear)
        row.btn("tag", label="Tag selected cluster", on_click=self.on_tag_cluster)
        panel.md("#### Failure clusters (ranked by errors explained)", name="clusters_title")
        table = types.TableView(on_click_row=self.on_cluster_row)
        for key, label in (("rank", "#"), ("size", "Size"), ("error_rate", "Error rate"),
                           ("lift", "Lift"), ("top_error", "Main error"), ("description", "What they share")):
            table.add_column(key, label=label)
        panel.list("clusters", types.Object(), view=table)
        panel.md(state.cluster_md or "", name="cluster_md")
        return types.Property(panel, view=types.GridView(orientation="vertical", gap=2))

    def on_compute(self, ctx):
        ctx.prompt("@error-atlas/error-atlas/compute_error_map", on_success=self.on_load)

    def on_map(self, ctx):
        self._refresh(ctx, ctx.params["value"], ctx.panel.state.color_by or "error")

    def on_color(self, ctx):
        self._refresh(ctx, ctx.panel.state.map_key, ctx.params["value"])

    def on_selected(self, ctx):
        picked = ctx.params.get("data") or []
        if not picked:
            return  # a plain click with dragmode "select" sends an empty selection
        arrays, summaries, config = load(ctx.dataset, ctx.panel.state.map_key)
        order = self._group_indices(ctx, arrays, summaries)
        idx = np.array([order[p["trace"]][p["idx"]] for p in picked
                        if p.get("trace") is not None and p["trace"] < len(order)], dtype=np.int64)
        self._select(ctx, arrays, config, idx)

    def on_point_click(self, ctx):
        trace, i = ctx.params.get("trace"), ctx.params.get("idx")
        if trace is None or i is None:
            return
        arrays, summaries, config = load(ctx.dataset, ctx.panel.state.map_key)
        order = self._group_indices(ctx, arrays, summaries)
        if trace < len(order):
            self._select(ctx, arrays, config, np.array([order[trace][i]]))

    def on_clear(self, ctx):
        ctx.ops.clear_view()

    def on_cluster_row(self, ctx):
        arrays, summaries, config = load(ctx.dataset, ctx.panel.state.map_key)
        i = ctx.params.get("row")
        if i is None or i >= len(summaries):
            return
        s = summaries[i]
        ctx.panel.state.set("cluster", s["id"])
        ctx.panel.state.set("cluster_md", _cluster_md(s))
        self._select(ctx, arrays, config, np.flatnonzero(arrays["cluster"] == s["id"]))

    def on_tag_cluster(self, ctx):
        c = ctx.panel.state.cluster
        if c is None:
            ctx.ops.notify("Choose a failure cluster first", variant="warning")
            return
        arrays, _, config = load(ctx.dataset, ctx.panel.state.map_key)
        view = _view_of(ctx.dataset, arrays, config, np.flatnonzero(arrays["cluster"] == c))
        tag = "%s_cluster_%d" % (ctx.panel.state.map_key, c)
        if config.level == "samples":
            view.tag_samples(tag)
        else:
            view.tag_labels(tag, label_fields=[config.pred_field, config.gt_field])
        ctx.ops.notify("Tagged cluster %d as '%s'" % (c, tag), variant="success")

    def on_change_view(self, ctx):
        """A view set elsewhere (e.g. a confusion cell) highlights its points here."""
        if not ctx.panel.state.map_key:
            return
        arrays, summaries, config = load(ctx.dataset, ctx.panel.state.map_key)
        ids = _ids_in_view(ctx.view, config)
        highlight = np.flatnonzero(np.isin(arrays["ids"], list(ids))) if ids is not None else None
        group_list = groups(arrays, summaries, ctx.panel.state.color_by or "error",
                            ctx.panel.state.class_names or [])
        ctx.panel.state.set("scatter", None)
        ctx.panel.data.set("scatter", scatter_traces(arrays, group_list, highlight))

    # -- helpers ------------------------------------------------------------------

    def _group_indices(self, ctx, arrays, summaries):
        group_list = groups(arrays, summaries, ctx.panel.state.color_by or "error",
                            ctx.panel.state.class_names or [])
        return [idx for _, _, idx in group_list if len(idx)]

    def _select(self, ctx, arrays, config, idx):
        ctx.ops.set_view(_view_of(ctx.dataset, arrays, config, idx))

    def _refresh(self, ctx, map_key, color_by):
        arrays, summaries, config = load(ctx.dataset, map_key)
        class_names = _class_names(ctx.dataset, config)
        group_list = groups(arrays, summaries, color_by, class_names)
        rows = [{"rank": r + 1, "size": s["size"], "error_rate": _round(s["error_rate"], 3),
                 "lift": _round(s["lift"], 2), "top_error": _top_error(s),
                 "description": "; ".join(s["description"])} for r, s in enumerate(summaries)]
        caption = "%d %s, %d clusters, map of evaluation '%s'." % (
            len(arrays["xy"]), "images" if config.level == "samples" else "objects",
            len(summaries), config.eval_key)
        layout = dict(BASE_LAYOUT, height=480, dragmode="select",
                      xaxis={"visible": False}, yaxis={"visible": False},
                      legend={"orientation": "v", "itemclick": "toggle"})
        ctx.panel.state.set({"scatter": None, "clusters": None})
        ctx.panel.state.set({"map_key": map_key, "color_by": color_by, "caption": caption,
                             "scatter_layout": layout, "class_names": class_names,
                             "cluster": None, "cluster_md": None})
        ctx.panel.data.set({"scatter": scatter_traces(arrays, group_list), "clusters": rows})


def _class_names(dataset, config):
    from ..operators import detection_run

    ev = detection_run.load_analysis(dataset, config.eval_key)
    return ev.classes


def _percent(value):
    return "-" if value is None else "%.0f%%" % (100 * value)


def _round(value, digits):
    return None if value is None else round(value, digits)


def _top_error(s):
    counts = {k: v for k, v in s["error_counts"].items() if k != "correct" and v}
    return max(counts, key=counts.get) if counts else "-"


def _cluster_md(s):
    counts = ", ".join("%s %d" % (k, v) for k, v in s["error_counts"].items() if v)
    classes = ", ".join("%s %.0f%%" % (c, 100 * share) for c, share in s["classes"])
    return ("**Cluster %d**: %d points, error rate %s (lift %s), %.0f errors beyond its share."
            "\n\n%s\n\nClasses: %s. Errors: %s." % (
                s["id"], s["size"], _percent(s["error_rate"]), _round(s["lift"], 1), s["excess_errors"],
                "; ".join(s["description"]), classes, counts))


def _view_of(dataset, arrays, config, idx):
    ids = arrays["ids"][idx].tolist()
    if config.level == "samples":
        return dataset.select(ids)
    kinds = arrays["kind"][idx]
    fields = [f for f, k in ((config.pred_field, 0), (config.gt_field, 1)) if (kinds == k).any()]
    return dataset.select_labels(ids=ids, fields=fields)


def _ids_in_view(view, config):
    """Sample ids (samples maps) or label ids (object maps) visible in ``view``, or None
    when the view is the whole dataset (nothing to highlight)."""
    if not getattr(view, "_stages", None):
        return None
    if config.level == "samples":
        field = "sample_id" if view._is_patches else "id"
        return set(map(str, view.values(field)))
    ids = set()
    for f in (config.pred_field, config.gt_field):
        if view.has_field(f):
            path = f + ".id" if view._is_patches else f + ".detections.id"
            ids.update(v for v in view.values(path, unwind=True) if v)
    return ids
