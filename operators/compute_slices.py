"""The ``compute_slices`` operator: a run's slice table (or the automatic slice search) from Python or the App.

Numbers come from the run's stored analysis (:mod:`.slices`); nothing is written::

    compute_slices = foo.get_operator("@error-atlas/error-atlas/compute_slices")
    table = compute_slices(dataset, eval_key="eval", source="field:weather")
    for row in table["rows"]:      # worst gap first
        print(row["name"], row["size"], row["values"], row["ci"], row["gap"], row["small"])
    found = compute_slices(dataset, eval_key="eval", source="search")
"""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from ..plugin import slices as engine_slices
from . import run_store, sdk, slices


class ComputeSlices(foo.Operator):
    """Headline metrics per slice with bootstrap intervals, or the automatic slice search."""

    @property
    def config(self):
        return foo.OperatorConfig(
            name="compute_slices", label="Error Atlas: compute slices",
            description="Metrics per slice (sample field, label attribute, saved view, cluster, "
                        "descriptor feature) with bootstrap intervals, or the automatic slice search",
            dynamic=True, allow_immediate_execution=True)

    def __call__(self, sample_collection, eval_key, source, confidence="run", iou=None,
                 num_boot=engine_slices.NUM_BOOT, seed=0, metric=None):
        """Runs from Python; returns the table (:func:`.slices.to_json`).

        Args:
            eval_key: an ``evaluate_model`` run
            source: ``"field:<name>"``, ``"label:<path>"``, ``"views"``,
                ``"cluster:<map_key>"``, ``"feature:<map_key>:<name>"`` or
                ``"search"`` (the automatic slice search)
            confidence, iou: the operating point (default the run's own)
            num_boot, seed: bootstrap replicates and seed
            metric: the metric of the gap (default the task's headline one)
        """
        params = dict(eval_key=eval_key, source=source, confidence=confidence, iou=iou,
                      num_boot=num_boot, seed=seed, metric=metric)
        return sdk.run(self, sample_collection, params)

    def resolve_input(self, ctx):
        inputs = types.Object()
        runs = [k for k in ctx.dataset.list_evaluations()
                if run_store.run_status(ctx.dataset, k) == "completed"]
        if not runs:
            inputs.view("none", types.Warning(label="No evaluation yet",
                                              description="Run evaluate_model first."))
            return types.Property(inputs)
        menu = types.Dropdown()
        for key in runs:
            menu.add_choice(key, label=key)
        inputs.str("eval_key", default=runs[-1], required=True, label="Evaluation", view=menu)
        key = ctx.params.get("eval_key") if ctx.params.get("eval_key") in runs else runs[-1]
        sources = types.Dropdown()
        sources.add_choice("search", label="Automatic slice search")
        for value, label in slices.list_sources(ctx.dataset, key):
            sources.add_choice(value, label=label)
        inputs.str("source", default="search", required=True, label="Slice by", view=sources)
        inputs.int("num_boot", default=engine_slices.NUM_BOOT, label="Bootstrap replicates")
        return types.Property(inputs, view=types.View(label="Compute slices"))

    def resolve_output(self, ctx):
        """The completion dialog: the table in markdown, worst slices first."""
        outputs = types.Object()
        outputs.md(table_md(ctx.results or {}), name="report")
        return types.Property(outputs, view=types.View(label="Slices"))

    def execute(self, ctx):
        p = ctx.params
        key, source = p.get("eval_key"), p.get("source")
        ts = slices.task_slices(ctx.dataset, key, p.get("confidence", "run"), p.get("iou"))
        num_boot, seed = int(p.get("num_boot") if p.get("num_boot") is not None else
                             engine_slices.NUM_BOOT), int(p.get("seed") or 0)
        if source == "search":
            result = slices.search(ctx.dataset, key, ts=ts, num_boot=num_boot, seed=seed)
        else:
            result = slices.table(ctx.dataset, key, source, ts=ts, num_boot=num_boot, seed=seed,
                                  metric=p.get("metric"))
        return dict(slices.to_json(result), eval_key=key, source=source)


def table_md(result):
    """A slice table as markdown: metrics with intervals, size, gap, small (3 decimals)."""
    rows = result.get("rows")
    if rows is None:
        return "No slices."
    names = list(result["overall"]["values"])
    cell = lambda r, k: "-" if r["values"].get(k) is None else "%.3f%s" % (  # noqa: E731
        r["values"][k], " [%.3f, %.3f]" % tuple(r["ci"][k]) if (r.get("ci") or {}).get(k) else "")
    lines = ["| slice | size | %s | gap | |" % " | ".join(names), "|---|---|%s---|---|" % ("---|" * len(names))]
    for r in [dict(result["overall"], name="all", gap=None)] + rows:
        lines.append("| %s | %d | %s | %s | %s |" % (
            r.get("description") or r["name"], r["size"], " | ".join(cell(r, k) for k in names),
            "" if r.get("gap") is None else "%+.3f" % r["gap"], "small" if r["small"] else ""))
    if not rows:
        lines.append("\nNo slice found.")
    return "\n".join(lines)
