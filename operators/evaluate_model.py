"""The ``evaluate_model`` operator and the metric that owns its extra fields."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from ..panels.texts import confidence_text
from . import (classification_run, detection_run, eval_target, label_tasks, run_store, sdk,
               segmentation_run)

DELEGATE_ABOVE = 5000  # samples; larger views default to delegated execution


class EvaluateModel(foo.Operator):
    """Evaluation with error analysis: COCO-exact detection / instance segmentation,
    classification, multi-label classification or semantic segmentation (the
    task follows the fields' label types, see :mod:`.label_tasks`)."""

    @property
    def config(self):
        return foo.OperatorConfig(
            name="evaluate_model",
            label="Error Atlas: evaluate model",
            description="Detection, classification, multi-label or segmentation metrics, "
                        "confidence sweep, confusion matrix and error types",
            dynamic=True,
            allow_immediate_execution=True,
            allow_delegated_execution=True,
        )

    def __call__(
        self, sample_collection, pred_field, gt_field="ground_truth", eval_key="eval",
        iou=0.5, classes=None, use_masks=False, iscrowd="iscrowd", confidence=None,
        delegate=False, iou_threshs=None, max_preds=None, missing=None, classwise=True,
        k=5, positive_class=None, mask_targets=None, ignore_index=255, background=None,
        confidence_field=None, model_name=None, model_version=None,
    ):
        """Runs the evaluation from Python and returns its summary dict.

        Args:
            sample_collection: a dataset or view
            pred_field, gt_field: two fields of one label type, which sets the
                task: Detections (detection), Classification (classification),
                Classifications (multi-label) or Segmentation (segmentation)
            eval_key: where results are stored (replaces an earlier run of
                ``evaluate_model`` with the same key)
            iou: IoU threshold of the per-label results
            classes: evaluate only these classes (default: all seen)
            use_masks: compare instance masks instead of boxes
            iscrowd: name of the crowd attribute of ground-truth objects
            confidence: operating-point threshold for per-label results, error
                types and counts (mAP always uses every prediction)
            delegate: queue as a delegated operation instead of running now
                (run it with ``fiftyone delegated launch``)
            iou_threshs, max_preds: as ``evaluate_detections(compute_mAP=True)``:
                the IoU thresholds and per-(image, class) prediction cap of the
                mAP and PR curves (default 0.50:0.05:0.95 and 100)
            missing: as ``evaluate_detections``: the class name FiftyOne's
                results give unmatched objects (confusion matrix, report)
            classwise: only True (class-wise matching, as COCO); cross-class
                overlaps are ``classification`` errors
            k: classification: the largest top-k accuracy reported, and the k
                of FiftyOne's ``top-k`` method where predictions have logits
            positive_class: classification with two classes: the positive one
                (default: the second class, as FiftyOne's ``binary`` method)
            mask_targets: segmentation: ``{value: name}`` (or ``{"#rrggbb": name}``);
                default the field's or the dataset's mask targets
            ignore_index: segmentation: ground-truth value not counted (None: none)
            background: segmentation: the background class (name or value), left
                out of the means
            confidence_field: segmentation: a Heatmap field with the predicted
                class's probability per pixel (enables the confidence sweep)
            model_name, model_version: the model evaluated, stored with the
                run and its time for the evaluation explorer's History
                (default name: ``pred_field``)

        Detection's IoU, masks, crowd and mAP parameters apply to detection
        only; ``classes`` and ``confidence`` to every task but segmentation.

        Returns:
            the summary dict, or with ``delegate=True`` the queued operation
            (a dict with its ``id`` and ``run_state``)
        """
        params = dict(
            pred_field=pred_field, gt_field=gt_field, eval_key=eval_key, iou=iou,
            classes=classes, use_masks=use_masks, iscrowd=iscrowd, confidence=confidence,
            iou_threshs=iou_threshs, max_preds=max_preds, missing=missing, classwise=classwise,
            k=k, positive_class=positive_class, mask_targets=mask_targets,
            ignore_index=ignore_index, background=background, confidence_field=confidence_field,
            model_name=model_name, model_version=model_version,
        )
        return sdk.run(self, sample_collection, params, delegate)

    def resolve_execution_options(self, ctx):
        """Both modes are offered; large views default to delegated execution."""
        from fiftyone.operators.executor import ExecutionOptions

        return ExecutionOptions(
            allow_immediate_execution=True,
            allow_delegated_execution=True,
            default_choice_to_delegated=len(eval_target.target_samples(ctx)) > DELEGATE_ABOVE,
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        rerun = eval_target.run_view_key(ctx)
        if rerun:  # the evaluation explorer's Re-evaluate: that run's images
            inputs.str(eval_target.RUN_VIEW, default=rerun, view=types.HiddenView(read_only=False))
            inputs.view("run_view_notice", types.Notice(label=eval_target.describe(ctx, rerun)))
        else:
            inputs.view_target(ctx)
        view = eval_target.target_samples(ctx)
        by_task = label_tasks.fields_by_task(view)
        fields = [f for names in by_task.values() if len(names) >= 2 for f in names]
        if not fields:
            found = "; ".join("%d %s (%s)" % (len(by_task[t.name]), t.label_type,
                                              ", ".join(by_task[t.name]) or "none")
                              for t in label_tasks.TASKS)
            inputs.view("no_fields", types.Error(
                label="Two fields of one label type are needed",
                description="Predictions and ground truth must both be Detections, "
                "Classification, Classifications or Segmentation fields. This dataset has: %s."
                % found))
            return types.Property(inputs, view=types.View(label="Evaluate model"))

        gt_default = "ground_truth" if "ground_truth" in fields else fields[0]
        pred_default = next((f for f in fields if f != gt_default), fields[0])
        pred = ctx.params.get("pred_field") or pred_default
        task = label_tasks.task_of(view, pred)
        compatible = [f for f in by_task[task.name] if len(by_task[task.name]) >= 2] or fields
        pred_choices, gt_choices = types.Dropdown(), types.Dropdown()
        for name in fields:
            pred_choices.add_choice(name, label=name)
        for name in compatible:
            gt_choices.add_choice(name, label=name)
        if gt_default not in compatible or gt_default == pred:
            gt_default = next((f for f in compatible if f != pred), compatible[0])
        # Strings with a dropdown (not enums), so a wrong name from Python gets
        # evaluate_model's own message listing the fields of the right type.
        inputs.str("pred_field", default=pred_default, required=True, label="Predictions",
                   view=pred_choices)
        inputs.str("gt_field", default=gt_default, required=True, label="Ground truth",
                   description="%s fields, as the predictions" % task.label_type,
                   view=gt_choices)
        inputs.str("eval_key", default="eval", required=True, label="Evaluation key",
                   description="Field prefix and run name for the results")
        key = ctx.params.get("eval_key") or "eval"
        if ctx.dataset.has_evaluation(key) or run_store.run_status(ctx.dataset, key):
            inputs.view("replace", types.Warning(
                label="'%s' exists and will be replaced" % key))
        _model_inputs(inputs, pred)
        task.inputs(inputs, ctx)
        return types.Property(inputs, view=types.View(label="Evaluate model"))

    def execute(self, ctx):
        view = eval_target.target_samples(ctx)
        report = lambda fraction, label: ctx.set_progress(progress=fraction, label=label)  # noqa: E731
        summary = label_tasks.task_of(view, ctx.params.get("pred_field")).run(
            view, ctx.params, report)
        if not ctx.delegated:
            ctx.trigger("reload_dataset")
        return summary

    def resolve_output(self, ctx):
        """The completion dialog: the run's numbers, formatted; warnings only if any."""
        outputs = types.Object()
        summary = ctx.results or {}
        outputs.md(completion_md(summary), name="report")
        for i, text in enumerate(summary.get("warnings") or []):
            outputs.view("warning_%d" % i, types.Warning(label=text))
        return types.Property(outputs, view=types.View(label="Evaluation complete"))


def completion_md(summary):
    """Markdown of a run's summary for the completion dialog (3 decimals, no raw floats)."""
    if summary.get("task") == "classification":
        return classification_md(summary)
    if summary.get("task") == "multilabel":
        return multilabel_md(summary)
    if summary.get("task") == "segmentation":
        return segmentation_md(summary)
    if "mAP" not in summary:
        return "The evaluation finished: open the **Evaluation explorer** panel to see it."
    num = lambda v: "–" if v is None else "%.3f" % v
    conf = summary.get("confidence")
    best = summary.get("optimal_threshold")
    at = ("every prediction (no confidence threshold)" if conf is None else
          "confidence threshold %s" % confidence_text(conf))
    lines = [
        "Run **%s**: %d images." % (summary.get("eval_key", ""), summary.get("num_images", 0)),
        "",
        "| mAP@[.50:.95] | AP50 | AP75 |", "|---|---|---|",
        "| %s | %s | %s |" % (num(summary.get("mAP")), num(summary.get("AP50")), num(summary.get("AP75"))),
        "",
        "At IoU %.2f and %s: precision %s, recall %s, F1 %s (TP %d, FP %d, FN %d)." % (
            summary.get("iou", 0.5), at, num(summary.get("precision")), num(summary.get("recall")),
            num(summary.get("f1")), summary.get("tp", 0), summary.get("fp", 0), summary.get("fn", 0)),
        "",
        "Optimal threshold (max F1): %s." % ("–" if best is None else confidence_text(best)),
    ]
    return "\n".join(lines)


def classification_md(summary):
    """Markdown of a classification run's summary for the completion dialog."""
    num = lambda v: "–" if v is None else "%.3f" % v  # noqa: E731
    conf = summary.get("confidence")
    best = summary.get("optimal_threshold")
    top = summary.get("top_k") or {}
    lines = [
        "Run **%s** (%s): %d images." % (summary.get("eval_key", ""), summary.get("method", ""),
                                         summary.get("num_images", 0)),
        "",
        "| accuracy | balanced accuracy | macro F1 | kappa |", "|---|---|---|---|",
        "| %s | %s | %s | %s |" % (num(summary.get("accuracy")), num(summary.get("balanced_accuracy")),
                                  num(summary.get("macro_f1")), num(summary.get("kappa"))),
        "",
        "At %s: precision %s, recall %s, coverage %s." % (
            "every prediction" if conf is None else "confidence threshold %s" % confidence_text(conf),
            num(summary.get("precision")), num(summary.get("recall")), num(summary.get("coverage"))),
    ]
    if top:
        lines += ["", "Top-k accuracy: " + ", ".join(
            "top-%s %s" % (k.split("_")[1], num(v)) for k, v in top.items()) + "."]
    lines += ["", "Optimal threshold (max F1): %s." % ("–" if best is None else confidence_text(best))]
    return "\n".join(lines)


def _model_inputs(inputs, pred_field):
    """The model's name and version, kept with the run for the History."""
    inputs.str("model_name", default=None, label="Model name (optional)",
               description="Shown in the History; default: the prediction field (%s)" % pred_field)
    inputs.str("model_version", default=None, label="Model version (optional)",
               description="E.g. a checkpoint or a date")


def multilabel_md(summary):
    """Markdown of a multi-label run's summary for the completion dialog."""
    num = lambda v: "–" if v is None else "%.3f" % v  # noqa: E731
    conf, best = summary.get("confidence"), summary.get("optimal_threshold")
    return "\n".join([
        "Run **%s** (multi-label): %d images." % (summary.get("eval_key", ""),
                                                 summary.get("num_images", 0)),
        "",
        "| micro F1 | macro F1 | subset accuracy | Hamming loss |", "|---|---|---|---|",
        "| %s | %s | %s | %s |" % (num(summary.get("micro_f1")), num(summary.get("macro_f1")),
                                  num(summary.get("subset_accuracy")),
                                  num(summary.get("hamming_loss"))),
        "",
        "At %s: micro precision %s, micro recall %s." % (
            "every prediction" if conf is None else "confidence threshold %s" % confidence_text(conf),
            num(summary.get("micro_precision")), num(summary.get("micro_recall"))),
        "",
        "Optimal threshold (max micro F1): %s." % ("–" if best is None else confidence_text(best)),
    ])


def segmentation_md(summary):
    """Markdown of a segmentation run's summary for the completion dialog."""
    num = lambda v: "–" if v is None else "%.3f" % v  # noqa: E731
    best = summary.get("optimal_threshold")
    return "\n".join([
        "Run **%s** (semantic segmentation): %d images." % (summary.get("eval_key", ""),
                                                           summary.get("num_images", 0)),
        "",
        "| mIoU | pixel accuracy | mean F1 | boundary IoU |", "|---|---|---|---|",
        "| %s | %s | %s | %s |" % (num(summary.get("mIoU")), num(summary.get("pixel_accuracy")),
                                  num(summary.get("mean_f1")),
                                  num(summary.get("mean_boundary_iou"))),
        "",
        "Optimal threshold (max mean F1): %s." % (
            "– (no confidence heatmap)" if best is None else confidence_text(best)),
    ])


class ErrorAnalysis(foo.EvaluationMetric):
    """Custom metric attached to every ``evaluate_model`` run.

    FiftyOne calls it when the evaluation is renamed or deleted, so the
    ``<key>_error`` fields and the stored analysis follow the run; its value
    (shown by FiftyOne's Model Evaluation panel) is the optimal confidence.
    """

    @property
    def config(self):
        return foo.EvaluationMetricConfig(
            name="error_analysis",
            label="Optimal confidence (max F1)",
            description="Error Atlas error types and analysis of an evaluation",
            eval_types=["detection", "classification", "segmentation"],
            aggregate_key="optimal_confidence",
            lower_is_better=False,
            unlisted=True,
        )

    def compute(self, samples, results, **kwargs):
        analysis = run_store.load_analysis(samples._dataset, results.key)
        point = {"iou": results.config.iou} if results.config.type == "detection" else {}
        return analysis.optimal_thresholds(**point)["overall"]

    def get_fields(self, samples, config, eval_key):
        if config.type == "classification":
            return classification_run.error_fields(eval_key)
        if config.type == "segmentation":
            return segmentation_run.written_fields(eval_key)
        return detection_run.error_fields(samples, config, eval_key)

    def rename(self, samples, config, eval_key, new_eval_key):
        super().rename(samples, config, eval_key, new_eval_key)
        dataset = samples._dataset
        old, new = (run_store.analysis_run_key(k) for k in (eval_key, new_eval_key))
        if old in dataset.list_runs():
            dataset.rename_run(old, new)

    def cleanup(self, samples, config, eval_key):
        dataset = samples._dataset
        key = run_store.analysis_run_key(eval_key)
        paths = list(self.get_fields(samples, config, eval_key))
        if key in dataset.list_runs():  # any task: every field the run recorded writing
            paths += getattr(dataset.get_run_info(key).config, "fields", None) or []
        fields = sorted({f for f in paths if dataset.has_field(f)})
        dataset.delete_sample_fields(fields, error_level=1)
        if key in dataset.list_runs():
            dataset.delete_run(key)
