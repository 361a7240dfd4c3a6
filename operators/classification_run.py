"""``evaluate_model`` for single-label classifications: validate, evaluate, write back, register.

What is stored, the FiftyOne way (as ``dataset.evaluate_classifications``
would store it):
- a standard FiftyOne evaluation run whose method follows the problem:
  ``binary`` for two classes (``classes=(negative, positive)``), ``top-k``
  when the predictions carry logits, else ``simple``; its results are
  FiftyOne's own ``ClassificationResults`` / ``BinaryClassificationResults``,
  so ``print_report()``, ``plot_confusion_matrix()`` and FiftyOne's Model
  Evaluation panel work on it;
- per sample ``<key>`` exactly as that method writes it (correct or not; for
  binary ``TP``/``FP``/``TN``/``FN``) and ``<key>_error``, the error type at
  the run's confidence threshold (:data:`plugin.classification.ERROR_TYPES`);
- the engine's arrays in the analysis run ``error_atlas_<key>`` (see
  :mod:`.run_store`), with the same running -> completed status as detection.
"""

import numpy as np

import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
import fiftyone.utils.eval.classification as fouc

from ..plugin import classification, history, scores
from . import labels_io, run_store
from .errors import EvaluationInputError

TASK = "classification"
SUFFIXES = ("", "_error")


def evaluate_classifications(view, pred_field, gt_field, eval_key, classes=None, confidence=None,
                             k=5, positive_class=None, missing=None, progress=None,
                             model_name=None, model_version=None):
    """Evaluates Classification ``pred_field`` against ``gt_field`` on ``view`` and stores everything.

    Returns:
        the summary dict of :meth:`plugin.classification.Evaluation.summary`
        plus ``eval_key``, ``method``, ``num_images`` and ``warnings``
    """
    progress = progress or (lambda fraction, label: None)
    dataset = view._dataset
    _check_request(view, pred_field, gt_field, eval_key, confidence, k, missing)
    model = run_store.model_info(pred_field, model_name, model_version)
    progress(0.05, "Reading labels")
    labels = _read(view, pred_field, gt_field)
    class_list, warnings = _classes(view, labels, pred_field, gt_field, classes)
    positive = _positive(class_list, positive_class)
    inputs = _engine_inputs(labels, class_list, pred_field, gt_field, warnings)

    progress(0.3, "Evaluating")
    rows = inputs.pop("rows")
    probs = inputs["probs"]
    suspect = None
    if probs is not None:
        has = inputs["pred_label"] >= 0
        found = classification.label_issues(inputs["gt_label"][has], probs[has])
        if found is not None:
            suspect = np.zeros(rows.size, bool)
            suspect[has] = found
    ev = classification.evaluate(class_list, **inputs, positive=positive, k=k, suspect=suspect)
    ev.set_ids(np.asarray(labels["sample_id"], dtype=object)[rows])
    method = "binary" if positive is not None else "top-k" if probs is not None else "simple"
    fo_values, fo_results = _fiftyone_values(labels, class_list, method, positive, k)

    error = np.full(len(labels["sample_id"]), None, dtype=object)
    error[rows] = np.asarray(classification.ERROR_TYPES, dtype=object)[ev.assess(confidence).error]
    updates = labels_io.SampleUpdates(
        labels["sample_id"],
        on_batch=lambda done, total: run_store.pause("writing") if done == 1 < total else None)
    updates.samples({eval_key: fo_values, eval_key + "_error": error.tolist()})
    updates.check_sizes(dataset)

    progress(0.6, "Writing results")
    request = dict(pred_field=pred_field, gt_field=gt_field, classes=classes, confidence=confidence,
                   k=k, positive_class=positive_class, missing=missing)
    run_store.begin_run(view, eval_key, TASK, request, written_fields(eval_key), model=model)
    eval_method = _register(view, pred_field, gt_field, eval_key, method, k)
    run_store.pause("registered")
    updates.write(dataset)

    progress(0.85, "Saving the run")
    results = _results(view, eval_method, eval_key, labels, class_list, method, positive,
                       fo_results, missing)
    summary = ev.summary(confidence)
    results.custom_metrics = {run_store.ANALYSIS_METRIC: {
        "key": "optimal_confidence", "value": summary["optimal_threshold"],
        "label": "Optimal confidence (max F1)", "lower_is_better": False,
    }}
    run_store.save_fiftyone_results(eval_method, view, eval_key, results)
    run_store.pause("saving")
    eval_method.add_fields_to_sidebar_group(view, eval_key, omit_fields=(pred_field, gt_field))
    run_store.save_analysis_results(dataset, eval_key, ev, confidence, method=method)
    run_store.finish_run(dataset, eval_key, record=history.record(
        TASK, summary, ev.per_class(confidence), len(labels["sample_id"])))
    summary.update(eval_key=eval_key, method=method, num_images=len(labels["sample_id"]),
                   warnings=warnings, **model)
    progress(1.0, "Done")
    return summary


def written_fields(eval_key):
    """Every sample field a classification run of ``eval_key`` writes."""
    return [eval_key + s for s in SUFFIXES]


def error_fields(eval_key):
    """The Error Atlas fields of a run (FiftyOne's own cleanup removes ``<key>``)."""
    return [eval_key + "_error"]


# -- validation ---------------------------------------------------------------

def _check_request(view, pred_field, gt_field, eval_key, confidence, k, missing):
    run_store.check_view(view, pred_field)
    check_classification_field(view, pred_field, "predictions")
    check_classification_field(view, gt_field, "ground truth")
    if pred_field == gt_field:
        raise EvaluationInputError("pred_field and gt_field are both '%s': choose two different "
                                   "fields." % pred_field)
    run_store.check_key_name(eval_key)
    if confidence is not None and not 0 <= float(confidence) <= 1:
        raise EvaluationInputError("The confidence threshold must be in [0, 1]; got %r." % confidence)
    if isinstance(k, bool) or not float(k).is_integer() or k < 1:
        raise EvaluationInputError("k (top-k accuracy) must be a positive whole number, e.g. 5; "
                                   "got %r." % (k,))
    if missing is not None and (not isinstance(missing, str) or not missing):
        raise EvaluationInputError("missing must be a non-empty class name for samples without a "
                                   "label (e.g. 'none'); got %r." % (missing,))
    run_store.check_eval_key(view._dataset, eval_key, written_fields(eval_key))


def check_classification_field(view, name, role):
    """Raises a clear error unless ``name`` is a Classification field of ``view``."""
    schema = view.get_field_schema()
    choices = ", ".join(classification_fields(view)) or "none"
    if not name:
        raise EvaluationInputError("Choose the %s field (a Classification field)." % role)
    if name not in schema:
        raise EvaluationInputError("%s field '%s' does not exist on this dataset. Classification "
                                   "fields: %s." % (role.capitalize(), name, choices))
    doc_type = getattr(schema[name], "document_type", None)
    if doc_type is not fol.Classification:
        kind = doc_type.__name__ if doc_type else type(schema[name]).__name__
        raise EvaluationInputError(
            "%s field '%s' holds %s, but a classification evaluation compares fo.Classification "
            "fields (one label per image). Classification fields: %s." % (
                role.capitalize(), name, kind, choices))


def classification_fields(view):
    """Names of the top-level Classification fields of a collection."""
    return [name for name, f in view.get_field_schema().items()
            if getattr(f, "document_type", None) is fol.Classification]


def _read(view, pred_field, gt_field):
    keys = ("sample_id", "gt_label", "gt_id", "pred_label", "pred_id", "confidence", "logits")
    paths = ["id", gt_field + ".label", gt_field + ".id", pred_field + ".label",
             pred_field + ".id", pred_field + ".confidence", pred_field + ".logits"]
    return dict(zip(keys, view.values(paths)))


def _classes(view, labels, pred_field, gt_field, classes):
    """The class list: ``classes``, the field's or dataset's classes, or the labels seen."""
    warnings = []
    for field, key, ids in ((gt_field, "gt_label", "gt_id"), (pred_field, "pred_label", "pred_id")):
        empty = [i for i, l in zip(labels[ids], labels[key]) if i is not None and not l]
        if empty:
            raise EvaluationInputError(
                "%d labels in '%s' have no `label` (e.g. label id %s). Give every "
                "Classification a class name, or remove the empty ones." % (
                    len(empty), field, empty[0]))
    seen_gt = {l for l in labels["gt_label"] if l}
    seen_pred = {l for l in labels["pred_label"] if l}
    if not seen_gt:
        raise EvaluationInputError(
            "No sample in this view has a ground-truth label in '%s': nothing to evaluate. "
            "Choose the view or field holding the labels." % gt_field)
    dataset = view._dataset
    declared = classes or dataset.classes.get(gt_field) or dataset.default_classes
    if not declared and any(l is not None for l in labels["logits"]):
        raise EvaluationInputError(
            "The predictions in '%s' have logits, but no class list says which class each "
            "logit is: pass classes=[...] in logit order, or set dataset.default_classes (or "
            "dataset.classes['%s'])." % (pred_field, gt_field))
    class_list = list(dict.fromkeys(declared)) if declared else sorted(seen_gt | seen_pred)
    outside = sorted((seen_gt | seen_pred) - set(class_list))
    if outside:
        raise EvaluationInputError(
            "Labels %s are not in the class list %s (from %s). Pass classes=[...] with every "
            "class, or fix the labels." % (outside[:5], class_list[:10], "classes" if classes else
                                           "the dataset's classes"))
    only_pred = sorted(seen_pred - seen_gt)
    if only_pred:
        warnings.append("Classes only in predictions (no ground truth, so no recall; every such "
                        "prediction is wrong): %s" % ", ".join(only_pred))
    return class_list, warnings


def _positive(class_list, positive_class):
    """Index of the positive class of a binary problem (default: the second
    class, as FiftyOne's binary method), or None for more classes."""
    if positive_class is not None and positive_class not in class_list:
        raise EvaluationInputError("positive_class '%s' is not one of the classes %s." % (
            positive_class, class_list))
    if len(class_list) != 2:
        if positive_class is not None:
            raise EvaluationInputError(
                "positive_class is for binary problems; this evaluation has %d classes (%s). "
                "Leave positive_class empty." % (len(class_list), ", ".join(class_list[:10])))
        return None
    return class_list.index(positive_class) if positive_class is not None else 1


def _engine_inputs(labels, class_list, pred_field, gt_field, warnings):
    """Engine arrays over the samples with ground truth, after checking
    confidences and logits."""
    index = {c: i for i, c in enumerate(class_list)}
    gt = labels["gt_label"]
    rows = np.flatnonzero([l is not None for l in gt])
    if rows.size < len(gt):
        warnings.append("%d samples have no label in '%s': they are not evaluated (FiftyOne's "
                        "report counts them under its missing label)." % (len(gt) - rows.size,
                                                                         gt_field))
    pred = [labels["pred_label"][i] for i in rows]
    conf = [labels["confidence"][i] for i in rows]
    logits = [labels["logits"][i] for i in rows]
    pred_label = np.array([index[p] if p is not None else -1 for p in pred], dtype=np.int64)
    has = pred_label >= 0
    probs = _probs(labels, logits, has, class_list, pred_field)
    unset = has & np.array([c is None for c in conf], dtype=bool)
    score = np.array([np.nan if c is None else float(c) for c in conf], dtype=np.float64)
    bad = has & ~unset & ~((score >= 0) & (score <= 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise EvaluationInputError(
            "%d predictions in '%s' have a confidence that is NaN or outside [0, 1] (e.g. label "
            "id %s: %s). Store probabilities (e.g. softmax outputs) as confidence." % (
                int(bad.sum()), pred_field, labels["pred_id"][rows[i]], float(score[i])))
    if unset.any():
        if probs is not None:
            score[unset] = probs[unset, pred_label[unset]]
        else:
            score[unset] = 1.0
            warnings.append("%d predictions in '%s' have no confidence: they count at every "
                            "threshold (confidence 1.0)." % (int(unset.sum()), pred_field))
    return dict(rows=rows, gt_label=np.array([index[gt[i]] for i in rows], dtype=np.int64),
                pred_label=pred_label, pred_score=score, probs=probs)


def _probs(labels, logits, has, class_list, pred_field):
    """Softmax of the predictions' logits, (N, K), or None when no prediction has logits."""
    present = np.array([l is not None for l in logits], dtype=bool)
    if not present.any():
        return None
    if (has & ~present).any():
        raise EvaluationInputError(
            "%d of %d predictions in '%s' have logits: give every prediction logits (over the "
            "classes %s...), or none." % (int((has & present).sum()), int(has.sum()), pred_field,
                                           class_list[:5]))
    lengths = {len(l) for l in logits if l is not None}
    if lengths != {len(class_list)}:
        raise EvaluationInputError(
            "Logits in '%s' have %s values, but there are %d classes (%s...). Logits need the "
            "class list they are over: pass classes=[...] in logit order, or set "
            "dataset.default_classes." % (pred_field, sorted(lengths), len(class_list),
                                          class_list[:5]))
    matrix = np.zeros((len(logits), len(class_list)))
    matrix[present] = np.asarray([l for l in logits if l is not None], dtype=np.float64)
    if not np.isfinite(matrix).all():
        raise EvaluationInputError("Logits in '%s' contain NaN or infinite values; fix the "
                                   "model outputs." % pred_field)
    return scores.softmax(matrix)


# -- FiftyOne's own run ------------------------------------------------------

def _fiftyone_values(labels, class_list, method, positive, k):
    """Per-sample ``<key>`` values and the ``(ypred, confs)`` of FiftyOne's
    results, exactly as ``evaluate_classifications(method=...)`` computes them."""
    gt, pred = labels["gt_label"], list(labels["pred_label"])
    confs = list(labels["confidence"])
    if method == "binary":
        pos = class_list[positive]
        table = {(True, True): "TP", (True, False): "FN", (False, False): "TN", (False, True): "FP"}
        return [table[(g == pos, p == pos)] for g, p in zip(gt, pred)], (pred, confs)
    if method == "simple":
        return [g == p for g, p in zip(gt, pred)], (pred, confs)
    return _top_k_values(gt, pred, labels["logits"], class_list, k)


def _top_k_values(gt, pred, logits, class_list, k):
    """FiftyOne's top-k rule: the truth among the k largest logits
    (``np.argpartition``) counts as predicted, with its softmax confidence."""
    index = {c: i for i, c in enumerate(class_list)}
    n = len(gt)
    correct = np.zeros(n, bool)
    confs = np.full(n, None, dtype=object)
    ypred = list(pred)
    rows = np.array([i for i in range(n) if logits[i] is not None and gt[i] is not None], dtype=int)
    for i in range(n):
        if logits[i] is None:
            ypred[i] = None
        elif gt[i] is None:
            correct[i] = pred[i] is None
    if rows.size:
        z = np.asarray([logits[i] for i in rows], dtype=np.float64)
        target = np.array([index[gt[i]] for i in rows])
        if k >= z.shape[1]:
            found = np.ones(rows.size, bool)
        else:
            top = np.argpartition(z, -k, axis=1)[:, -k:]
            found = (top == target[:, None]).any(axis=1)
        pred_idx = np.array([index.get(pred[i], -1) if pred[i] is not None else -1 for i in rows])
        col = np.where(found, target, pred_idx)
        logit = np.where(col >= 0, z[np.arange(rows.size), np.maximum(col, 0)], -np.inf)
        conf = np.exp(logit) / np.sum(np.exp(z), axis=1)
        correct[rows] = found
        confs[rows] = conf.tolist()
        for j, i in enumerate(rows):
            if found[j]:
                ypred[i] = gt[i]
    return correct.tolist(), (ypred, confs.tolist())


def _register(view, pred_field, gt_field, eval_key, method, k):
    """Registers FiftyOne's evaluation run and declares the sample fields."""
    config_class = {"simple": fouc.SimpleEvaluationConfig, "top-k": fouc.TopKEvaluationConfig,
                    "binary": fouc.BinaryEvaluationConfig}[method]
    extra = {"k": int(k)} if method == "top-k" else {}
    config = config_class(pred_field, gt_field, custom_metrics=[run_store.ANALYSIS_METRIC], **extra)
    eval_method = config.build()
    eval_method.register_run(view, eval_key)
    field = fof.StringField() if method == "binary" else fof.BooleanField()
    view._dataset._merge_sample_field_schema({eval_key: field, eval_key + "_error": fof.StringField()})
    return eval_method


def _results(view, eval_method, eval_key, labels, class_list, method, positive, fo_results,
             missing):
    """FiftyOne's own results object of the run."""
    ypred, confs = fo_results
    common = dict(ytrue_ids=labels["gt_id"], ypred_ids=labels["pred_id"], backend=eval_method)
    if method == "binary":
        pair = [class_list[1 - positive], class_list[positive]]
        return fouc.BinaryClassificationResults(view, eval_method.config, eval_key,
                                                labels["gt_label"], ypred, confs, pair, **common)
    return fouc.ClassificationResults(view, eval_method.config, eval_key, labels["gt_label"],
                                      ypred, confs=confs, classes=class_list, missing=missing,
                                      **common)
