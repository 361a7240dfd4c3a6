"""The ``compare_runs`` operator: two runs with the same ground truth, side by side.

Numbers come from the runs' stored analyses (:mod:`..plugin.compare`), on the
samples both evaluated; nothing is written. From Python::

    compare = foo.get_operator("@error-atlas/error-atlas/compare_runs")
    result = compare(dataset, eval_key="model_a", compare_key="model_b")
    result["metrics"]["mAP"]   # {"a", "b", "diff", "ci"}: ci of B - A, paired bootstrap
    flips_view(dataset, result, "a_only")  # what A got right and B got wrong
"""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from ..plugin import compare, slices as engine_slices
from . import run_store, sdk, slices
from .errors import EvaluationInputError


class CompareRuns(foo.Operator):
    """Compares two evaluations of the same ground truth (paired bootstrap)."""

    @property
    def config(self):
        return foo.OperatorConfig(
            name="compare_runs", label="Error Atlas: compare two runs",
            description="Side-by-side metrics with paired bootstrap intervals, per-class deltas, "
                        "curves, difference confusion matrix and flips",
            dynamic=True, allow_immediate_execution=True)

    def __call__(self, sample_collection, eval_key, compare_key, confidence="run",
                 compare_confidence="run", iou=None, num_boot=engine_slices.NUM_BOOT, seed=0):
        """Runs from Python; returns what :func:`compare_runs` returns.

        Args:
            sample_collection: the dataset (or a view of it) both runs evaluated
            eval_key, compare_key: runs A and B (``evaluate_model`` keys)
            confidence, compare_confidence: their operating points (default:
                each run's own, the one of its per-label fields; None: every prediction)
            iou: detection's IoU for P / R / F1, the curves, the matrix and the
                flips (default each run's own)
            num_boot, seed: the paired bootstrap's replicates and seed
        """
        params = dict(eval_key=eval_key, compare_key=compare_key, confidence=confidence,
                      compare_confidence=compare_confidence, iou=iou, num_boot=num_boot, seed=seed)
        return sdk.run(self, sample_collection, params)

    def resolve_input(self, ctx):
        inputs = types.Object()
        runs = [k for k in ctx.dataset.list_evaluations()
                if run_store.run_status(ctx.dataset, k) == "completed"]
        if len(runs) < 2:
            inputs.view("none", types.Warning(
                label="Two runs needed", description="Evaluate two models with evaluate_model first."))
            return types.Property(inputs)
        for name, label, default in (("eval_key", "Run A", runs[-2]), ("compare_key", "Run B", runs[-1])):
            menu = types.Dropdown()
            for key in runs:
                menu.add_choice(key, label=key)
            inputs.str(name, default=default, required=True, label=label, view=menu)
        inputs.int("num_boot", default=engine_slices.NUM_BOOT, label="Bootstrap replicates")
        inputs.int("seed", default=0, label="Seed")
        return types.Property(inputs, view=types.View(label="Compare two runs"))

    def resolve_output(self, ctx):
        """The completion dialog: the side-by-side table in markdown."""
        outputs = types.Object()
        outputs.md(result_md(ctx.results or {}), name="report")
        return types.Property(outputs, view=types.View(label="Comparison"))

    def execute(self, ctx):
        p = ctx.params
        result = compare_runs(ctx.dataset, p.get("eval_key"), p.get("compare_key"),
                              confidence=p.get("confidence", "run"),
                              compare_confidence=p.get("compare_confidence", "run"),
                              iou=p.get("iou"), num_boot=int(p.get("num_boot") or 0),
                              seed=int(p.get("seed") or 0))
        return result


def compare_runs(dataset, eval_key, compare_key, confidence="run", compare_confidence="run",
                 iou=None, num_boot=engine_slices.NUM_BOOT, seed=0):
    """The comparison of runs ``eval_key`` (A) and ``compare_key`` (B), JSON-ready:
    ``metrics`` (A, B, B - A and its paired-bootstrap 95% interval),
    ``per_class`` deltas, ``curves`` (A and B), ``confusion`` (A, B and B - A),
    ``flips`` (``a_only``: right in A, wrong in B; ``b_only``: the reverse)."""
    ts_a, ts_b = check(dataset, eval_key, compare_key, confidence, compare_confidence, iou)
    return compare_tasks(ts_a, ts_b, eval_key, compare_key, num_boot=num_boot, seed=seed)


def compare_tasks(ts_a, ts_b, eval_key, compare_key, num_boot=engine_slices.NUM_BOOT, seed=0):
    """:func:`compare_runs` of two runs' :class:`~..plugin.slices.TaskSlices`."""
    ua, ub = compare.paired_units(ts_a, ts_b)
    if ua.size == 0:
        raise EvaluationInputError("Runs '%s' and '%s' have no sample in common." % (
            eval_key, compare_key))
    ra, ca, ma = compare.confusion(ts_a)
    rb, cb, mb = compare.confusion(ts_b)
    rows, cols, diff = compare.difference((ra, ca, ma), (rb, cb, mb))
    flips = compare.flips(ts_a, ts_b)
    same_units = ua.size == ts_a.num_units == ts_b.num_units
    return {
        "task": _task(ts_a), "eval_key": eval_key, "compare_key": compare_key,
        "num_units": int(ua.size), "unit": ts_a.unit, "primary": ts_a.primary,
        "operating_points": {"a": _point(ts_a), "b": _point(ts_b)},
        "metrics": engine_slices.compare(ts_a, ts_b, ua, ub, num_boot=num_boot, seed=seed),
        "per_class_metric": ts_a.per_class_metric,
        "per_class": compare.per_class_deltas(ts_a, ts_b, ua, ub),
        "curves": {"a": compare.curves(ts_a), "b": compare.curves(ts_b)},
        "confusion": {"rows": rows, "columns": cols, "difference": diff.tolist(),
                      "same_units": bool(same_units)},
        "flips": {**flips, "level": "objects" if _task(ts_a) == "detection" else "samples"},
        "num_boot": int(num_boot), "seed": int(seed),
    }


def check(dataset, eval_key, compare_key, confidence="run", compare_confidence="run", iou=None):
    """Both runs' :class:`~..plugin.slices.TaskSlices`, refusing runs that cannot be paired."""
    check_pair(dataset, eval_key, compare_key)
    return (slices.task_slices(dataset, eval_key, confidence, iou),
            slices.task_slices(dataset, compare_key, compare_confidence, iou))


def check_pair(dataset, eval_key, compare_key):
    """Refuses runs that are missing, the same, of two tasks or of two ground truths."""
    for key in (eval_key, compare_key):
        if not isinstance(key, str) or run_store.run_status(dataset, key) is None:
            runs = [k for k in dataset.list_evaluations() if run_store.run_status(dataset, k)]
            raise EvaluationInputError("No Error Atlas run '%s'; runs: %s." % (
                key, ", ".join(runs) or "none"))
    if eval_key == compare_key:
        raise EvaluationInputError("Choose two different runs (both are '%s')." % eval_key)
    tasks = [run_store.run_task(dataset, k) for k in (eval_key, compare_key)]
    if tasks[0] != tasks[1]:
        raise EvaluationInputError("Run '%s' is a %s run and '%s' a %s run: compare runs of one task."
                                   % (eval_key, tasks[0], compare_key, tasks[1]))
    gts = [slices._gt_field(dataset, k) for k in (eval_key, compare_key)]
    if gts[0] != gts[1]:
        raise EvaluationInputError(
            "Runs '%s' and '%s' use different ground truth ('%s' and '%s'): compare runs of the "
            "same ground-truth field." % (eval_key, compare_key, gts[0], gts[1]))


def flips_view(dataset, result, which):
    """The grid's view of ``result["flips"][which]`` (``"a_only"`` / ``"b_only"``):
    detection objects as their samples with only those objects, samples otherwise."""
    ids = result["flips"][which]
    if result["flips"]["level"] == "objects":
        gt = slices._gt_field(dataset, result["eval_key"])
        return dataset.select_labels(ids=ids, fields=gt)
    return dataset.select(ids)


def result_md(result):
    """A comparison's headline table and flips, as markdown (3 decimals)."""
    if not result.get("metrics"):
        return "No comparison."
    num = lambda v: "-" if v is None else "%.3f" % v  # noqa: E731
    lines = ["A = `%s`, B = `%s`, on %d %s both evaluated; 95%% paired bootstrap intervals of "
             "B - A." % (result["eval_key"], result["compare_key"], result["num_units"],
                         result["unit"]), "", "| metric | A | B | B - A | 95% CI |", "|---|---|---|---|---|"]
    for name, m in result["metrics"].items():
        ci = "-" if not m["ci"] else "[%+.3f, %+.3f]" % tuple(m["ci"])
        lines.append("| %s | %s | %s | %s | %s |" % (
            name, num(m["a"]), num(m["b"]), "-" if m["diff"] is None else "%+.3f" % m["diff"], ci))
    lines += ["", "Flips: %d right in A only, %d right in B only (%s)." % (
        len(result["flips"]["a_only"]), len(result["flips"]["b_only"]), result["flips"]["level"])]
    return "\n".join(lines)


def _task(ts):
    return getattr(ts.ev, "task", "segmentation")


def _point(ts):
    return {"confidence": getattr(ts, "confidence", None), "iou": getattr(ts, "iou", None)}
