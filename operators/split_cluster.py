"""The ``split_cluster`` operator: a thin form and SDK entry over :mod:`.map_split`."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from . import error_map, map_split, sdk
from .errors import EvaluationInputError

ACTIONS = {"split": "Split the cluster", "undo": "Undo the last split",
           "reset": "Reset: undo every split"}


class SplitCluster(foo.Operator):
    """Splits one failure cluster of an error map, or undoes splits."""

    @property
    def config(self):
        return foo.OperatorConfig(
            name="split_cluster",
            label="Error Atlas: split a failure cluster",
            description="Split one cluster of an error map with the map's own method, or undo",
            dynamic=True,
            allow_immediate_execution=True,
        )

    def __call__(self, sample_collection, map_key="error_map", cluster=None, num_clusters=None,
                 action="split"):
        """Runs from Python; returns the map's clusters after the action.

        Args:
            sample_collection: the dataset (or a view of it) of the map
            map_key: a ``compute_error_map`` map
            cluster: with ``action="split"``, the cluster's number as the vector
                explorer shows it (its rank, from 1)
            num_clusters: pieces to split it into (default: chosen as the map chose k)
            action: ``"split"``, ``"undo"`` (the last split) or ``"reset"`` (every split)
        """
        params = dict(map_key=map_key, cluster=cluster, num_clusters=num_clusters, action=action)
        return sdk.run(self, sample_collection, params)

    def resolve_input(self, ctx):
        inputs = types.Object()
        maps = [r[len("error_map_"):] for r in ctx.dataset.list_runs()
                if r.startswith("error_map_")]
        if not maps:
            inputs.view("none", types.Warning(
                label="No error map yet", description="Run Error Atlas: compute error map first."))
            return types.Property(inputs)
        menu = types.Dropdown()
        for key in maps:
            menu.add_choice(key, label=key)
        inputs.str("map_key", default=maps[-1], required=True, label="Map", view=menu)
        actions = types.RadioGroup()
        for value, label in ACTIONS.items():
            actions.add_choice(value, label=label)
        inputs.str("action", default="split", label="Action", view=actions)
        inputs.int("cluster", default=None, label="Cluster number (as shown: its rank, from 1)")
        inputs.int("num_clusters", default=None, label="Pieces (empty: automatic)")
        return types.Property(inputs, view=types.View(label="Split a failure cluster"))

    def execute(self, ctx):
        p = ctx.params
        map_key, action = p.get("map_key") or "error_map", p.get("action") or "split"
        if action not in ACTIONS:
            raise EvaluationInputError("action must be one of %s, not %r." % (
                ", ".join(ACTIONS), action))
        if action != "split":
            out = map_split.undo_map_split(ctx.dataset, map_key, reset=action == "reset")
        else:
            out = map_split.split_map_cluster(ctx.dataset, map_key,
                                              _cluster_id(ctx.dataset, map_key, p.get("cluster")),
                                              num_clusters=p.get("num_clusters"))
        ctx.trigger("reload_dataset")
        return out


def _cluster_id(dataset, map_key, rank):
    """The id of the cluster numbered ``rank`` (from 1) in the map's ranking."""
    map_split.check_map(dataset, map_key)
    summaries = error_map.load_error_map(dataset, map_key)[1]
    if rank is None or int(rank) != rank or not 1 <= rank <= len(summaries):
        raise EvaluationInputError("cluster must be a cluster's number from 1 to %d (its rank, "
                                   "as the vector explorer shows it), got %r." % (
                                       len(summaries), rank))
    return summaries[int(rank) - 1]["id"]
