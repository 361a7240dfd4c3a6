"""The ``compute_error_map`` operator: a thin form and SDK entry over :mod:`.error_map`."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from . import detection_run, error_map, map_outcomes, sdk

LEVEL_LABELS = {"samples": "samples: one point per image",
                "objects": "objects: every prediction and every missed object"}


class ComputeErrorMap(foo.Operator):
    """Maps evaluated samples or objects with UMAP and finds failure clusters."""

    @property
    def config(self):
        return foo.OperatorConfig(
            name="compute_error_map",
            label="Error Atlas: compute error map",
            description="Embed, project (UMAP) and cluster evaluated samples or objects",
            dynamic=True,
            allow_immediate_execution=True,
            allow_delegated_execution=True,
        )

    def __call__(self, sample_collection, eval_key="eval", level="samples",
                 embeddings="descriptor", num_clusters=None, map_key="error_map",
                 seed=51, delegate=False):
        """Runs from Python; returns the summary (ranked failure clusters).

        Args:
            sample_collection: the dataset (or a view of it) that was evaluated
            eval_key: an ``evaluate_model`` run
            level: ``"samples"`` or ``"objects"`` (every prediction and missed object;
                detection runs only)
            embeddings: ``"descriptor"`` (built-in, offline) or a vector field
            num_clusters: number of clusters (default: chosen automatically)
            map_key: name of the map (brain run, fields, custom run)
            seed: random seed of the projection and of k-means; which cause near
                the significance line is found can change with it, so another seed
                is a cheap second opinion
            delegate: queue as a delegated operation instead of running now
        """
        params = dict(eval_key=eval_key, level=level, embeddings=embeddings,
                      num_clusters=num_clusters, map_key=map_key, seed=seed)
        return sdk.run(self, sample_collection, params, delegate)

    def resolve_input(self, ctx):
        inputs = types.Object()
        runs = [k for k in detection_run.run_store.evaluation_keys(ctx.dataset)
                if detection_run.analysis_run_key(k) in ctx.dataset.list_runs()]
        if not runs:
            inputs.view("none", types.Warning(
                label="No evaluation yet", description="Run Error Atlas: evaluate model first."))
            return types.Property(inputs)
        runs_menu = types.Dropdown()
        for key in runs:
            runs_menu.add_choice(key, label=key)
        # a string with a dropdown, not an enum: a wrong key from Python gets
        # compute_error_map's own message
        inputs.str("eval_key", default=runs[-1], required=True, label="Evaluation", view=runs_menu)
        chosen = ctx.params.get("eval_key")
        task = detection_run.run_store.run_task(ctx.dataset, chosen if chosen in runs else runs[-1])
        levels = types.RadioGroup()
        for level in map_outcomes.levels(task):  # objects only where the task has them
            levels.add_choice(level, label=LEVEL_LABELS[level])
        vectors = [f for f, v in ctx.dataset.get_field_schema().items()
                   if type(v).__name__ in ("VectorField", "ArrayField")]
        choices = types.Dropdown()
        choices.add_choice("descriptor", label="Built-in descriptor (offline)",
                           description="appearance, geometry, crowding, confidence")
        for name in vectors:
            choices.add_choice(name, label="Field: " + name)
        inputs.str("embeddings", default="descriptor", label="Embeddings", view=choices)
        inputs.str("level", default="samples", label="Map", view=levels)
        inputs.int("num_clusters", default=None, label="Number of clusters (empty: automatic)")
        inputs.str("map_key", default="error_map", required=True, label="Map key")
        inputs.int("seed", default=51, label="Random seed",
                   description="of the projection and the clustering: another seed is a "
                               "second opinion on the failure clusters")
        return types.Property(inputs, view=types.View(label="Compute error map"))

    def execute(self, ctx):
        p = ctx.params
        summary = error_map.compute_error_map(
            ctx.dataset, p.get("eval_key") or "eval", level=p.get("level") or "samples",
            embeddings=p.get("embeddings") or "descriptor", num_clusters=p.get("num_clusters"),
            map_key=p.get("map_key") or "error_map",
            seed=51 if p.get("seed") is None else p.get("seed"),
            progress=lambda fraction, label: ctx.set_progress(progress=fraction, label=label),
        )
        if not ctx.delegated:
            ctx.trigger("reload_dataset")
        return summary
