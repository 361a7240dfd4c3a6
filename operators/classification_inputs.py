"""What single-label (``fo.Classification``) and multi-label (``fo.Classifications``)
runs check and read alike: their fields, the request, labels without a class
and the class list (``classes``, the field's or dataset's classes, or the
labels seen).
"""

import numpy as np

from . import run_store
from .errors import EvaluationInputError

#: Per label type: the evaluation that compares its fields and what a field holds.
KINDS = {"Classification": ("a classification evaluation", "one label per image"),
         "Classifications": ("a multi-label evaluation", "any number of classes per image")}


def label_fields(view, doc_type):
    """Names of the top-level fields of ``view`` holding ``doc_type`` labels."""
    return [name for name, f in view.get_field_schema().items()
            if getattr(f, "document_type", None) is doc_type]


def check_label_field(view, name, role, doc_type):
    """Raises a clear error unless ``name`` is a ``doc_type`` field of ``view``."""
    schema = view.get_field_schema()
    type_name = doc_type.__name__
    choices = ", ".join(label_fields(view, doc_type)) or "none"
    if not name:
        raise EvaluationInputError("Choose the %s field (a %s field)." % (role, type_name))
    if name not in schema:
        raise EvaluationInputError("%s field '%s' does not exist on this dataset. %s "
                                   "fields: %s." % (role.capitalize(), name, type_name, choices))
    held = getattr(schema[name], "document_type", None)
    if held is not doc_type:
        kind = held.__name__ if held else type(schema[name]).__name__
        evaluation, holds = KINDS[type_name]
        raise EvaluationInputError(
            "%s field '%s' holds %s, but %s compares fo.%s fields (%s). %s fields: %s." % (
                role.capitalize(), name, kind, evaluation, type_name, holds, type_name, choices))


def check_request(view, pred_field, gt_field, eval_key, confidence, doc_type):
    """The checks every classification request passes: the view, both fields, the
    key's name and the confidence threshold."""
    run_store.check_view(view, pred_field)
    check_label_field(view, pred_field, "predictions", doc_type)
    check_label_field(view, gt_field, "ground truth", doc_type)
    if pred_field == gt_field:
        raise EvaluationInputError("pred_field and gt_field are both '%s': choose two different "
                                   "fields." % pred_field)
    run_store.check_key_name(eval_key)
    if confidence is not None and not 0 <= float(confidence) <= 1:
        raise EvaluationInputError("The confidence threshold must be in [0, 1]; got %r." % confidence)


def refuse_unnamed(field, ids, labels):
    """Raises when a label (its id in ``ids``, None for no label) has no class name."""
    empty = [i for i, l in zip(ids, labels) if i is not None and not l]
    if empty:
        raise EvaluationInputError(
            "%d labels in '%s' have no `label` (e.g. label id %s). Give every "
            "Classification a class name, or remove the empty ones." % (
                len(empty), field, empty[0]))


def refuse_bad_confidences(pred_field, bad, score, label_id, outputs):
    """Raises when predictions (mask ``bad`` over ``score``) have a NaN or
    out-of-range confidence; ``label_id(i)`` names the i-th one, ``outputs`` the
    model outputs that are probabilities (softmax, sigmoid)."""
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise EvaluationInputError(
            "%d predictions in '%s' have a confidence that is NaN or outside [0, 1] (e.g. label "
            "id %s: %s). Store probabilities (e.g. %s outputs) as confidence." % (
                int(bad.sum()), pred_field, label_id(i), float(score[i]), outputs))


def declared_classes(view, gt_field, classes):
    """``classes``, else the ground truth's or the dataset's classes (None when unset)."""
    dataset = view._dataset
    return classes or dataset.classes.get(gt_field) or dataset.default_classes


def class_list(declared, seen):
    """The declared classes without repeats, else the labels ``seen``, sorted."""
    return list(dict.fromkeys(declared)) if declared else sorted(seen)


def check_in_classes(seen, classes_used, classes):
    """Raises when labels ``seen`` are outside the class list."""
    outside = sorted(set(seen) - set(classes_used))
    if outside:
        raise EvaluationInputError(
            "Labels %s are not in the class list %s (from %s). Pass classes=[...] with every "
            "class, or fix the labels." % (outside[:5], classes_used[:10], "classes" if classes else
                                           "the dataset's classes"))


def only_pred_warning(only_pred):
    """The warning for classes that only the predictions hold (sorted), or none."""
    if not only_pred:
        return []
    return ["Classes only in predictions (no ground truth, so no recall; every such "
            "prediction is wrong): %s" % ", ".join(only_pred)]
