"""The tasks ``evaluate_model`` evaluates, keyed by the fields' label type.

One :class:`LabelTask` per task: the FiftyOne label type of its fields, the
lister of those fields, the function that runs it from the operator's
parameters and the form inputs of its own parameters. ``evaluate_model``
dispatches on the predictions field's label type through :func:`task_of`
and stays task-neutral; a new task is one more entry in :data:`TASKS`.
"""

import json
from dataclasses import dataclass
from typing import Callable

import fiftyone.operators.types as types

from . import (classification_run, detection_run, eval_target, labels_io, multilabel_run,
               segmentation_run)
from .errors import EvaluationInputError


@dataclass(frozen=True)
class LabelTask:
    """A task: ``name`` (the analysis run's kind), its fields' ``label_type``,
    ``fields(view)`` (their names), ``run(view, params, progress)`` (the summary)
    and ``inputs(inputs, ctx)`` (its own form inputs)."""

    name: str
    label_type: str
    fields: Callable
    run: Callable
    inputs: Callable


def _segmentation_fields(view, kind="Segmentation"):
    """Top-level fields of ``kind`` labels (Segmentation, or Heatmap for confidences)."""
    return [name for name, f in view.get_field_schema().items()
            if getattr(getattr(f, "document_type", None), "__name__", None) == kind]


# -- each task's run, from the operator's parameters ---------------------------

def model(p):
    """The model's name and version (every task records them for the History)."""
    return {"model_name": p.get("model_name") or None,
            "model_version": p.get("model_version") or None}


def _run_detection(view, p, progress):
    return detection_run.evaluate_detections(
        view, p.get("pred_field"), p.get("gt_field"), p.get("eval_key") or "eval",
        iou=float(p.get("iou") or 0.5), classes=p.get("classes") or None,
        use_masks=bool(p.get("use_masks")), iscrowd=p.get("iscrowd") or "iscrowd",
        confidence=p.get("confidence"), iou_threshs=p.get("iou_threshs") or None,
        max_preds=p.get("max_preds"), missing=p.get("missing") or None,
        classwise=p.get("classwise", True), progress=progress, **model(p))


def _run_classification(view, p, progress):
    return classification_run.evaluate_classifications(
        view, p.get("pred_field"), p.get("gt_field"), p.get("eval_key") or "eval",
        classes=p.get("classes") or None, confidence=p.get("confidence"),
        k=p.get("k") if p.get("k") is not None else 5,
        positive_class=p.get("positive_class") or None, missing=p.get("missing") or None,
        progress=progress, **model(p))


def _run_multilabel(view, p, progress):
    return multilabel_run.evaluate_multilabel(
        view, p.get("pred_field"), p.get("gt_field"), p.get("eval_key") or "eval",
        classes=p.get("classes") or None, confidence=p.get("confidence"), progress=progress,
        **model(p))


def _run_segmentation(view, p, progress):
    ignore = p.get("ignore_index", 255)
    return segmentation_run.evaluate_segmentations(
        view, p.get("pred_field"), p.get("gt_field"), p.get("eval_key") or "eval",
        mask_targets=parse_mask_targets(p.get("mask_targets")),
        ignore_index=None if ignore is None or ignore == "" else int(ignore),
        background=p.get("background") or None,
        confidence_field=p.get("confidence_field") or None, progress=progress, **model(p))


def parse_mask_targets(value):
    """``mask_targets`` as given: a dict, or (from the form) its JSON text."""
    if value is None or value == "" or isinstance(value, dict):
        return value or None
    try:
        targets = json.loads(value)
    except (TypeError, ValueError):
        targets = None
    if not isinstance(targets, dict) or not targets:
        raise EvaluationInputError(
            "mask_targets must map mask values to class names, e.g. {\"0\": \"background\", "
            "\"1\": \"road\"} (or {\"#ff0000\": \"road\"} for RGB masks); got %r." % str(value)[:80])
    return targets


# -- each task's form inputs --------------------------------------------------

def _confidence(inputs, description):
    inputs.float("confidence", default=None, label="Confidence threshold (optional)",
                 description=description)


def _detection_inputs(inputs, ctx):
    inputs.float("iou", default=0.5, min=0.05, max=0.95, label="IoU threshold",
                 description="For the per-label tp/fp/fn results; COCO metrics use 0.50:0.95",
                 view=types.SliderView(componentsProps={"slider": {"step": 0.05}}))
    _confidence(inputs, "Operating point for per-label results and counts")
    inputs.list("classes", types.String(), default=None, label="Classes (optional)",
                description="Evaluate only these classes")
    inputs.bool("use_masks", default=False, label="Use instance masks",
                description="Compare masks instead of boxes (instance segmentation)")
    inputs.str("iscrowd", default="iscrowd", label="Crowd attribute",
               description="Ground-truth attribute marking crowd regions")
    inputs.list("iou_threshs", types.Number(float=True), default=None,
                label="mAP IoU thresholds (optional)",
                description="IoU thresholds of mAP and PR curves (default 0.50:0.05:0.95)")
    inputs.int("max_preds", default=None, label="Max predictions (optional)",
               description="Most confident predictions per image and class for mAP (default 100)")
    inputs.str("missing", default=None, label="Missing label (optional)",
               description="Class name given to unmatched objects in FiftyOne's results")
    inputs.bool("classwise", default=True, label="Class-wise matching",
                description="Only class-wise matching is supported; cross-class overlaps are "
                "classification errors")


def _classification_inputs(inputs, ctx):
    _confidence(inputs, "Predictions below it count as abstentions (error types and counts)")
    inputs.list("classes", types.String(), default=None, label="Classes (optional)",
                description="The class list, in logit order (default: the dataset's classes, or "
                "the labels seen)")
    inputs.int("k", default=5, label="Top-k", description="Largest top-k accuracy reported "
               "(from logits)")
    inputs.str("positive_class", default=None, label="Positive class (optional)",
               description="Binary problems only: default, the second class")
    inputs.str("missing", default=None, label="Missing label (optional)",
               description="Class name given to samples without a label in FiftyOne's results")


def _multilabel_inputs(inputs, ctx):
    _confidence(inputs, "A (sample, class) prediction below it does not count (per-label "
                "results, error types and counts)")
    inputs.list("classes", types.String(), default=None, label="Classes (optional)",
                description="The class list (default: the dataset's classes, or the labels seen)")


def _segmentation_inputs(inputs, ctx):
    inputs.str("mask_targets", default=None, label="Mask targets (optional)",
               description="JSON {value: name}, e.g. {\"0\": \"background\", \"1\": \"road\"} "
               "(default: the field's or the dataset's mask targets)")
    inputs.int("ignore_index", default=255, label="Ignore index",
               description="Ground-truth value left out of every count (unlabeled pixels)")
    inputs.str("background", default=None, label="Background class (optional)",
               description="Left out of the means and the error kinds (default: value 0 when it "
               "is named background or unnamed)")
    heatmaps = _segmentation_fields(eval_target.target_samples(ctx), "Heatmap")
    choices = types.Dropdown()
    for name in heatmaps:
        choices.add_choice(name, label=name)
    inputs.str("confidence_field", default=None, label="Confidence heatmap (optional)",
               description="A Heatmap field with the predicted class's probability per pixel: "
               "enables the confidence sweep" if heatmaps else "No Heatmap field on this dataset",
               view=choices)


TASKS = (
    LabelTask("detection", "Detections", labels_io.detections_fields, _run_detection,
              _detection_inputs),
    LabelTask("classification", "Classification", classification_run.classification_fields,
              _run_classification, _classification_inputs),
    LabelTask("multilabel", "Classifications", multilabel_run.classifications_fields,
              _run_multilabel, _multilabel_inputs),
    LabelTask("segmentation", "Segmentation", _segmentation_fields, _run_segmentation,
              _segmentation_inputs),
)
BY_NAME = {t.name: t for t in TASKS}


def fields_by_task(view):
    """``{task name: [field names]}`` of a collection."""
    return {t.name: t.fields(view) for t in TASKS}


def task_of(view, pred_field):
    """The :class:`LabelTask` of ``pred_field``'s label type; detection (whose
    checks name a missing or wrong field) when no task has that type."""
    field = view.get_field(pred_field) if isinstance(pred_field, str) and pred_field else None
    kind = getattr(getattr(field, "document_type", None), "__name__", None)
    return next((t for t in TASKS if t.label_type == kind), BY_NAME["detection"])
