"""The vector explorer's actions on its clusters (a mixin of the panel): tag the
chosen cluster, ask for more clusters, split the chosen cluster, undo splits.

"More clusters" computes the map again with four more clusters (a new
partition of every point); "Split cluster" splits only the chosen one with the
map's own method (:mod:`..operators.map_split`): the other clusters keep their
members, the significance test and descriptions are re-run over all of them,
and the list and the map redraw. "Undo split" restores the partition before
the last split, "Reset clusters" the map as computed.
"""

import numpy as np

from ..operators import map_split
from ..operators.errors import EvaluationInputError
from . import map_region
from .map_data import load

COMPUTE_URI = "@error-atlas/error-atlas/compute_error_map"


def rank(m, cluster_id):
    """The cluster's number everywhere (legend, table, report, tag): its rank, from 1."""
    return 1 + [s["id"] for s in m.summaries].index(cluster_id)


def split_md(m, pieces, old_rank):
    """What a split made: each piece's number, size and significance."""
    by_id = {s["id"]: s for s in m.summaries}
    parts = []
    for c in sorted(pieces, key=lambda c: rank(m, c)):
        s = by_id[c]
        parts.append("#%d (%d, %s)" % (rank(m, c), s["size"],
                                       "a failure cluster" if s.get("significant") else
                                       "not significant"))
    return "Split cluster #%d into %s; the significance of every cluster was tested again." % (
        old_rank, ", ".join(parts))


class ClusterActions:
    """Buttons and events acting on the map's clusters."""

    def render_cluster_actions(self, ctx, panel):
        buttons = panel.h_stack("selection_row", align_y="center")
        buttons.btn("clear", label="Clear selection", on_click=self.on_clear)
        buttons.btn("tag", label="Tag selected cluster", on_click=self.on_tag_cluster)
        buttons.btn("more", label="More clusters", on_click=self.on_more_clusters)
        # a second row: five buttons do not fit a third of a laptop's screen
        splits_row = panel.h_stack("split_row", align_y="center")
        splits_row.btn("split", label="Split cluster", on_click=self.on_split_cluster)
        splits = ctx.panel.state.split_count or 0
        if splits:
            splits_row.btn("undo_split", label="Undo split", on_click=self.on_undo_split)
        if splits > 1:
            splits_row.btn("reset_clusters", label="Reset clusters",
                           on_click=self.on_reset_clusters)
        for name in ("tagged_md", "split_md"):
            if getattr(ctx.panel.state, name):
                panel.md(getattr(ctx.panel.state, name), name=name)

    def on_more_clusters(self, ctx):
        """compute_error_map again on this map with more clusters (to split mixed ones)."""
        m = load(ctx.dataset, ctx.panel.state.map_key)
        ctx.prompt(COMPUTE_URI, on_success=self.on_load, params={
            "eval_key": m.config.eval_key, "level": m.config.level, "map_key": m.key[1],
            "embeddings": getattr(m.config, "embeddings", "descriptor"),
            "num_clusters": len(m.summaries) + 4})

    def on_split_cluster(self, ctx):
        """Splits the chosen cluster (:func:`..operators.map_split.split_map_cluster`)."""
        c, map_key = ctx.panel.state.cluster, ctx.panel.state.map_key
        if c is None:
            ctx.ops.notify("Choose a cluster in the table first, then split it", variant="warning")
            return
        old_rank = rank(load(ctx.dataset, map_key), c)
        try:
            out = map_split.split_map_cluster(ctx.dataset, map_key, c)
        except EvaluationInputError as e:
            ctx.ops.notify(str(e), variant="error")
            return
        self._after_clusters_changed(ctx, map_key)
        told = split_md(load(ctx.dataset, map_key), [c] + out["new_ids"], old_rank)
        ctx.ops.notify(told, variant="success")
        ctx.panel.state.set("split_md", told)

    def on_undo_split(self, ctx):
        self._undo(ctx, reset=False)

    def on_reset_clusters(self, ctx):
        self._undo(ctx, reset=True)

    def _undo(self, ctx, reset):
        map_key = ctx.panel.state.map_key
        try:
            out = map_split.undo_map_split(ctx.dataset, map_key, reset=reset)
        except EvaluationInputError as e:
            ctx.ops.notify(str(e), variant="error")
            return
        self._after_clusters_changed(ctx, map_key)
        told = ("Clusters reset to the map as computed (%d splits undone)." % out["undone"]
                if reset else "Last split undone.")
        ctx.ops.notify(told, variant="success")
        ctx.panel.state.set("split_md", told)

    def _after_clusters_changed(self, ctx, map_key):
        """Redraws the map and the list (no cluster chosen: their numbers changed)."""
        self._refresh(ctx, map_key, ctx.panel.state.color_by or "error", new_map=True)
        ctx.ops.clear_view()

    def on_tag_cluster(self, ctx):
        """Tags the chosen cluster's images or objects ``<map_key>_cluster_<rank>`` and
        says how many it tagged (a notice and a line under the buttons)."""
        c = ctx.panel.state.cluster
        if c is None:
            ctx.ops.notify("Choose a failure cluster first", variant="warning")
            return
        m = load(ctx.dataset, ctx.panel.state.map_key)
        r = rank(m, c)
        members = np.flatnonzero(m.arrays["cluster"] == c)
        view = map_region.view_of(ctx.dataset, m, members, cluster=c)
        tag = "%s_cluster_%d" % (ctx.panel.state.map_key, r)
        if m.config.level == "samples":
            view.tag_samples(tag)
            told = "Tagged %d images of cluster #%d as '%s'." % (len(view), r, tag)
        else:
            # the cluster's view also holds the ground truth its predictions detected
            fields = [m.config.pred_field, m.config.gt_field]
            view.tag_labels(tag, label_fields=fields)
            extra = view.count_label_tags(label_fields=fields).get(tag, 0) - len(members)
            told = "Tagged %d objects of cluster #%d as '%s'" % (len(members), r, tag)
            told += (", and the %d ground-truth objects they detected." % extra) if extra > 0 else "."
        ctx.ops.notify(told, variant="success")
        ctx.panel.state.set("tagged_md", told)
