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
from . import classification_inputs as inputs, classification_io, labels_io, run_store
from .errors import EvaluationInputError

TASK = "classification"
BLOCK = 65536  # rows of logits processed at once
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
    unchecked = _check_request(view, pred_field, gt_field, eval_key, confidence, k, missing)
    model = run_store.model_info(pred_field, model_name, model_version)
    progress(0.05, "Reading labels")
    labels, class_list, warnings = _read(view, pred_field, gt_field, classes, unchecked)
    if labels.holds is not None:
        run_store.refuse_taken(eval_key, [p for p in unchecked if labels.holds[p].any()])
    else:
        run_store.refuse_taken(eval_key, labels_io.existing_values(dataset, unchecked))
    positive = _positive(class_list, positive_class)
    rows, _ = _checked_rows(labels, class_list, pred_field, gt_field, warnings)
    with_logits = labels.logits is not None and bool(labels.has_logits[rows].any())
    method = "binary" if positive is not None else "top-k" if with_logits else "simple"
    fo_values, fo_results = _fiftyone_values(labels, class_list, method, positive, k)
    inputs = _engine_inputs(labels, rows, pred_field, warnings)

    progress(0.3, "Evaluating")
    probs = inputs["probs"]
    suspect = None
    if probs is not None:
        has = inputs["pred_label"] >= 0
        found = classification.label_issues(inputs["gt_label"][has], probs)
        if found is not None:
            suspect = np.zeros(rows.size, bool)
            suspect[has] = found
    ev = classification.evaluate(class_list, **inputs, positive=positive, k=k, suspect=suspect)
    ev.set_ids(labels.sample_id[rows])
    del inputs, probs

    error = np.full(labels.gt.size, len(classification.ERROR_TYPES), np.int64)
    error[rows] = ev.assess(confidence).error
    fields = {eval_key: fo_values,
              eval_key + "_error": (error, list(classification.ERROR_TYPES) + [None])}
    labels_io.check_sample_growth(dataset, labels.sample_id, labels_io.field_growth(fields),
                                  sizes=labels.doc_bytes)
    sample_ids = labels.object_ids() if labels.sample_bytes is None else labels.sample_bytes

    progress(0.6, "Writing results")
    request = dict(pred_field=pred_field, gt_field=gt_field, classes=classes, confidence=confidence,
                   k=k, positive_class=positive_class, missing=missing)
    run_store.begin_run(view, eval_key, TASK, request, written_fields(eval_key), model=model)
    eval_method = _register(view, pred_field, gt_field, eval_key, method, k)
    run_store.pause("registered")
    labels_io.write_sample_groups(
        dataset, sample_ids, fields,
        on_batch=lambda done, total: run_store.pause("writing") if done == 1 < total else None)
    del sample_ids, fields

    progress(0.85, "Saving the run")
    results = _results(view, eval_method, eval_key, labels, class_list, method, positive,
                       fo_results, missing)
    summary = ev.summary(confidence)
    results.custom_metrics = {run_store.ANALYSIS_METRIC: {
        "key": "optimal_confidence", "value": summary["optimal_threshold"],
        "label": "Optimal confidence (max F1)", "lower_is_better": False,
    }}
    num_images = labels.gt.size
    del labels, fo_results
    run_store.save_fiftyone_results(eval_method, view, eval_key, results)
    run_store.pause("saving")
    eval_method.add_fields_to_sidebar_group(view, eval_key, omit_fields=(pred_field, gt_field))
    run_store.save_analysis_results(dataset, eval_key, ev, confidence, method=method)
    run_store.finish_run(dataset, eval_key, record=history.record(
        TASK, summary, ev.per_class(confidence), num_images))
    summary.update(eval_key=eval_key, method=method, num_images=num_images, warnings=warnings,
                   **model)
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
    inputs.check_request(view, pred_field, gt_field, eval_key, confidence, fol.Classification)
    if isinstance(k, bool) or not float(k).is_integer() or k < 1:
        raise EvaluationInputError("k (top-k accuracy) must be a positive whole number, e.g. 5; "
                                   "got %r." % (k,))
    if missing is not None and (not isinstance(missing, str) or not missing):
        raise EvaluationInputError("missing must be a non-empty class name for samples without a "
                                   "label (e.g. 'none'); got %r." % (missing,))
    return run_store.check_eval_key(view._dataset, eval_key, written_fields(eval_key),
                                    defer_values=True)


def check_classification_field(view, name, role):
    """Raises a clear error unless ``name`` is a Classification field of ``view``."""
    inputs.check_label_field(view, name, role, fol.Classification)


def classification_fields(view):
    """Names of the top-level Classification fields of a collection."""
    return inputs.label_fields(view, fol.Classification)


def _read(view, pred_field, gt_field, classes, value_paths=()):
    """The labels as :class:`.classification_io.LabelArrays`, the class list
    and warnings: straight into arrays when the labels allow it, else through
    ``values()`` and the checks of :func:`_classes`. On a whole dataset, the
    same pass reads the samples' sizes and which hold ``value_paths``."""
    dataset = view._dataset
    declared = inputs.declared_classes(view, gt_field, classes)
    seen = () if declared else \
        set(view.distinct(gt_field + ".label")) | set(view.distinct(pred_field + ".label"))
    class_list = inputs.class_list(declared, seen)
    labels = None
    if class_list and "" not in class_list:
        labels = classification_io.read_arrays(view, pred_field, gt_field, class_list,
                                               whole_samples=view is dataset,
                                               value_paths=value_paths)
    if labels is None or not (labels.gt >= 0).any() or (
            not declared and labels.has_logits.any()):
        values = _read_values(view, pred_field, gt_field)
        class_list, warnings = _classes(view, values, pred_field, gt_field, classes)
        _check_logit_lengths(values["logits"], class_list, pred_field)
        return classification_io.from_values(values, class_list, len(class_list)), class_list, \
            warnings
    gt_count = np.bincount(labels.gt[labels.gt >= 0], minlength=len(class_list))
    pred_count = np.bincount(labels.pred[labels.pred >= 0], minlength=len(class_list))
    only_pred = sorted(c for c, g, p in zip(class_list, gt_count, pred_count) if p and not g)
    return labels, class_list, inputs.only_pred_warning(only_pred)


def _read_values(view, pred_field, gt_field):
    keys = ("sample_id", "gt_label", "gt_id", "pred_label", "pred_id", "confidence", "logits")
    paths = ["id", gt_field + ".label", gt_field + ".id", pred_field + ".label",
             pred_field + ".id", pred_field + ".confidence", pred_field + ".logits"]
    return dict(zip(keys, view.values(paths)))


def _classes(view, labels, pred_field, gt_field, classes):
    """The class list: ``classes``, the field's or dataset's classes, or the labels seen."""
    warnings = []
    for field, key, ids in ((gt_field, "gt_label", "gt_id"), (pred_field, "pred_label", "pred_id")):
        inputs.refuse_unnamed(field, labels[ids], labels[key])
    seen_gt = {l for l in labels["gt_label"] if l}
    seen_pred = {l for l in labels["pred_label"] if l}
    if not seen_gt:
        raise EvaluationInputError(
            "No sample in this view has a ground-truth label in '%s': nothing to evaluate. "
            "Choose the view or field holding the labels." % gt_field)
    declared = inputs.declared_classes(view, gt_field, classes)
    if not declared and any(l is not None for l in labels["logits"]):
        raise EvaluationInputError(
            "The predictions in '%s' have logits, but no class list says which class each "
            "logit is: pass classes=[...] in logit order, or set dataset.default_classes (or "
            "dataset.classes['%s'])." % (pred_field, gt_field))
    class_list = inputs.class_list(declared, seen_gt | seen_pred)
    inputs.check_in_classes(seen_gt | seen_pred, class_list, classes)
    warnings.extend(inputs.only_pred_warning(sorted(seen_pred - seen_gt)))
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


def _check_logit_lengths(logits, class_list, pred_field):
    lengths = {len(z) for z in logits if z is not None}
    if lengths and lengths != {len(class_list)}:
        raise EvaluationInputError(
            "Logits in '%s' have %s values, but there are %d classes (%s...). Logits need the "
            "class list they are over: pass classes=[...] in logit order, or set "
            "dataset.default_classes." % (pred_field, sorted(lengths), len(class_list),
                                          class_list[:5]))


def _checked_rows(labels, class_list, pred_field, gt_field, warnings):
    """The samples with ground truth (those evaluated), after checking their
    logits and confidences; the error names the field and the fix."""
    rows = np.flatnonzero(labels.gt >= 0)
    if rows.size < labels.gt.size:
        warnings.append("%d samples have no label in '%s': they are not evaluated (FiftyOne's "
                        "report counts them under its missing label)." % (
                            labels.gt.size - rows.size, gt_field))
    has = labels.pred[rows] >= 0
    if labels.logits is not None:
        present = labels.has_logits[rows]
        if (has & ~present).any():
            raise EvaluationInputError(
                "%d of %d predictions in '%s' have logits: give every prediction logits (over "
                "the classes %s...), or none." % (int((has & present).sum()), int(has.sum()),
                                                 pred_field, class_list[:5]))
        if not np.isfinite(labels.logits).all():
            raise EvaluationInputError("Logits in '%s' contain NaN or infinite values; fix the "
                                       "model outputs." % pred_field)
    score = labels.confidence[rows]
    bad = has & labels.has_confidence[rows] & ~((score >= 0) & (score <= 1))
    inputs.refuse_bad_confidences(pred_field, bad, score, lambda i: labels.pred_id[rows[i]],
                                  "softmax")
    return rows, rows.size == labels.gt.size


def _engine_inputs(labels, rows, pred_field, warnings):
    """Engine arrays over the samples with ground truth; ``probs`` holds the
    rows of those with a prediction only (what the engine and cleanlab read).
    The logits become those probabilities in place, moved up to the first rows
    of the same matrix: no copy of it (they are not needed after FiftyOne's
    values)."""
    pred_label = labels.pred[rows]
    has = pred_label >= 0
    probs = None
    if labels.logits is not None and labels.has_logits[rows].any():
        probs = scores.softmax(labels.logits, out=labels.logits)
        labels.logits = None
    score = labels.confidence[rows]
    unset = has & ~labels.has_confidence[rows]
    if unset.any() and probs is not None:
        score[unset] = probs[rows[unset], pred_label[unset]]
    elif unset.any():
        score[unset] = 1.0
        warnings.append("%d predictions in '%s' have no confidence: they count at every "
                        "threshold (confidence 1.0)." % (int(unset.sum()), pred_field))
    if probs is not None:
        probs = _keep_rows(probs, rows[has])
    return dict(gt_label=labels.gt[rows], pred_label=pred_label, pred_score=score, probs=probs)


def _keep_rows(matrix, keep):
    """``matrix[keep]`` for increasing ``keep``, moved in place to the first
    rows (a block at a time: a block's sources lie at or after its
    destination, past every row written before) and returned as a view."""
    if keep.size == matrix.shape[0]:
        return matrix
    for start in range(0, keep.size, BLOCK):
        end = min(start + BLOCK, keep.size)
        matrix[start:end] = matrix[keep[start:end]]
    return matrix[:keep.size]


# -- FiftyOne's own run ------------------------------------------------------

def _fiftyone_values(labels, class_list, method, positive, k):
    """Per-sample ``<key>`` values as ``(codes, choices)`` and the ``(ypred,
    confs)`` of FiftyOne's results, exactly as ``evaluate_classifications(
    method=...)`` computes them."""
    names = np.array(list(class_list) + [None], dtype=object)  # index -1: None
    ypred = names[labels.pred]
    confs = labels.confidence.astype(object)
    confs[~labels.has_confidence] = None
    if method == "binary":
        choices = ["TN", "FP", "FN", "TP"]  # index: 2 * (truth positive) + (predicted positive)
        codes = 2 * (labels.gt == positive) + (labels.pred == positive)
        return (codes, choices), (ypred, confs)
    if method == "simple":
        return ((labels.gt == labels.pred).astype(np.int64), [False, True]), (ypred, confs)
    return _top_k_values(labels, names, k)


def _top_k_values(labels, names, k):
    """FiftyOne's top-k rule: the truth among the k largest logits
    (``np.argpartition``) counts as predicted, with its softmax confidence."""
    gt, pred, z = labels.gt, labels.pred, labels.logits
    correct = np.zeros(gt.size, bool)
    confs = np.full(gt.size, None, dtype=object)
    ypred = names[pred]
    ypred[~labels.has_logits] = None
    no_gt = labels.has_logits & (gt < 0)
    correct[no_gt] = pred[no_gt] < 0
    rows = np.flatnonzero(labels.has_logits & (gt >= 0))
    found = np.ones(rows.size, bool)
    total = np.zeros(rows.size)
    logit = np.full(rows.size, -np.inf)
    for start in range(0, rows.size, BLOCK):  # a block of rows at a time: bounded memory
        part = slice(start, start + BLOCK)
        zr, target = z[rows[part]], gt[rows[part]]
        if k < z.shape[1]:
            found[part] = _in_top_k(zr, target, k)
        col = np.where(found[part], target, pred[rows[part]])
        logit[part] = np.where(col >= 0, zr[np.arange(col.size), np.maximum(col, 0)], -np.inf)
        total[part] = np.sum(np.exp(zr), axis=1)
    if rows.size:
        correct[rows] = found
        confs[rows] = (np.exp(logit) / total).tolist()
        ypred[rows[found]] = names[gt[rows[found]]]
    return (correct.astype(np.int64), [False, True]), (ypred, confs)


def _in_top_k(z, target, k):
    """Whether ``target`` is among ``np.argpartition(z, -k)[-k:]`` of each row.
    The counts of logits above and equal to the target's decide it, except
    where equal logits straddle the k-th place: there, as FiftyOne, the
    argpartition (of those rows only) decides which of them count."""
    own = z[np.arange(target.size), target][:, None]
    above = np.count_nonzero(z > own, axis=1)
    found = above + np.count_nonzero(z == own, axis=1) <= k
    tied = np.flatnonzero(~found & (above < k))
    if tied.size:
        top = np.argpartition(z[tied], -k, axis=1)[:, -k:]
        found[tied] = (top == target[tied, None]).any(axis=1)
    return found


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
    ypred, confs = (v.tolist() for v in fo_results)
    ytrue = np.array(list(class_list) + [None], dtype=object)[labels.gt].tolist()
    common = dict(ytrue_ids=labels.gt_id.tolist(), ypred_ids=labels.pred_id.tolist(),
                  backend=eval_method)
    if method == "binary":
        pair = [class_list[1 - positive], class_list[positive]]
        return fouc.BinaryClassificationResults(view, eval_method.config, eval_key, ytrue, ypred,
                                                confs, pair, **common)
    return fouc.ClassificationResults(view, eval_method.config, eval_key, ytrue, ypred,
                                      confs=confs, classes=class_list, missing=missing, **common)
