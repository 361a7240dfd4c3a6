"""``evaluate_model`` for multi-label classification (``fo.Classifications``): validate,
evaluate, write back, register.

FiftyOne has no multi-label evaluation method (``evaluate_classifications``
accepts only ``fo.Classification`` fields), so there is no FiftyOne
evaluation run: the run is the custom run ``error_atlas_<key>`` (kind
``multilabel``, see :mod:`.run_store`) holding the engine's
:class:`plugin.multilabel.Evaluation`, and ``evaluate_model``'s own key
handling replaces or deletes it with every field it wrote. Written, at the
run's confidence threshold (a prediction below it does not count):
- on every label ``<key>``: ``tp`` / ``fn`` (ground truth), ``tp`` / ``fp``
  (predictions), None for a prediction below the threshold;
- per sample ``<key>_tp``, ``<key>_fp``, ``<key>_fn`` and ``<key>_error``
  (:data:`plugin.multilabel.ERROR_TYPES`).
Samples whose ground-truth field is None are not evaluated; an empty
``fo.Classifications()`` is a sample with no class.
"""

import numpy as np

import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
import fiftyone.core.view as fov

from ..plugin import history, multilabel
from . import classification_inputs as inputs, labels_io, run_store
from .errors import EvaluationInputError

TASK = "multilabel"
SAMPLE_SUFFIXES = ("_tp", "_fp", "_fn", "_error")


def evaluate_multilabel(view, pred_field, gt_field, eval_key, classes=None, confidence=None,
                        progress=None, model_name=None, model_version=None):
    """Evaluates Classifications ``pred_field`` against ``gt_field`` on ``view`` and
    stores everything.

    Returns:
        the summary of :meth:`plugin.multilabel.Evaluation.summary` plus
        ``eval_key``, ``num_images`` and ``warnings``
    """
    progress = progress or (lambda fraction, label: None)
    dataset = view._dataset
    _check_request(view, pred_field, gt_field, eval_key, confidence)
    model = run_store.model_info(pred_field, model_name, model_version)
    progress(0.05, "Reading labels")
    sample_ids = view.values("id")
    (gts, has_gt), (preds, _) = _read(view, gt_field, False), _read(view, pred_field, True)
    warnings = []
    class_list = _classes(view, gts, preds, gt_field, pred_field, classes, has_gt, warnings)
    index = {c: i for i, c in enumerate(class_list)}
    scores = _scores(preds, pred_field, warnings)
    if any(v is not None for v in view.values(pred_field + ".logits")):
        warnings.append("'%s' has logits: a multi-label evaluation reads each label's "
                        "confidence, not the logits." % pred_field)

    progress(0.3, "Evaluating")
    rows = np.flatnonzero(has_gt)
    pos = np.full(len(sample_ids), -1, dtype=np.int64)
    pos[rows] = np.arange(rows.size)
    g_lab = np.array([index[l] for l in gts.label], dtype=np.int64)
    p_lab = np.array([index[l] for l in preds.label], dtype=np.int64)
    g_row, p_row = pos[gts.sample], pos[preds.sample]
    keep_p = p_row >= 0
    gt = multilabel.indicators(rows.size, len(class_list), g_row, g_lab)
    dense = np.full((rows.size, len(class_list)), -np.inf)
    np.maximum.at(dense, (p_row[keep_p], p_lab[keep_p]), scores[keep_p])
    if np.count_nonzero(np.isfinite(dense)) < int(keep_p.sum()):
        warnings.append("Some samples predict a class twice in '%s': each (sample, class) counts "
                        "once, with its highest confidence." % pred_field)
    dense[~np.isfinite(dense)] = np.nan
    ev = multilabel.Evaluation(class_list, gt, dense, np.asarray(sample_ids, dtype=object)[rows])
    a = ev.assess(confidence)

    updates = _updates(sample_ids, rows, ev, a, gts, preds, g_row, g_lab, p_row, p_lab, scores,
                       confidence, eval_key)
    updates.check_sizes(dataset)
    progress(0.6, "Writing results")
    request = dict(pred_field=pred_field, gt_field=gt_field, classes=classes, confidence=confidence)
    run_store.begin_run(view, eval_key, TASK, request,
                        written_fields(eval_key, pred_field, gt_field), model=model)
    _declare(dataset, eval_key, pred_field, gt_field)
    run_store.pause("registered")
    updates.write(dataset)
    progress(0.85, "Saving the run")
    run_store.save_analysis_results(dataset, eval_key, ev, confidence)
    summary = ev.summary(confidence)
    run_store.finish_run(dataset, eval_key, record=history.record(
        TASK, summary, ev.per_class(confidence), int(rows.size)))
    summary.update(eval_key=eval_key, num_images=int(rows.size), warnings=warnings, **model)
    progress(1.0, "Done")
    return summary


def written_fields(eval_key, pred_field, gt_field):
    """Every field path a multi-label run of ``eval_key`` writes."""
    return [eval_key + s for s in SAMPLE_SUFFIXES] + [
        "%s.classifications.%s" % (f, eval_key) for f in (pred_field, gt_field)]


def classifications_fields(view):
    """Names of the top-level Classifications fields of a collection."""
    return inputs.label_fields(view, fol.Classifications)


def check_classifications_field(view, name, role):
    """Raises a clear error unless ``name`` is a Classifications field of ``view``."""
    inputs.check_label_field(view, name, role, fol.Classifications)


# -- validation and reading ---------------------------------------------------

def _check_request(view, pred_field, gt_field, eval_key, confidence):
    inputs.check_request(view, pred_field, gt_field, eval_key, confidence, fol.Classifications)
    run_store.check_eval_key(view._dataset, eval_key,
                             written_fields(eval_key, pred_field, gt_field))


def _read(view, field, with_confidence):
    """The labels of Classifications ``field`` as a :class:`~.labels_io.LabelTable`
    (positions in the stored lists, also when the view filters them), and (N,)
    bool: the samples where the field is set."""
    path = field + ".classifications."
    keys = ["id", "label"] + (["confidence"] if with_confidence else [])
    cols = dict(zip(keys, view.values([path + k for k in keys])))
    counts = np.array([len(x) if x else 0 for x in cols["id"]], dtype=np.int64)
    flat = {k: [x for per in v for x in (per or ())] for k, v in cols.items()}
    sample = np.repeat(np.arange(counts.size), counts)
    position = np.arange(sample.size) - np.repeat(np.cumsum(counts) - counts, counts)
    filtered = view._get_filtered_fields() if isinstance(view, fov.DatasetView) else None
    if filtered and any(f == field or f.startswith(field + ".") for f in filtered):
        full = view._dataset.select(view.values("id"), ordered=True).values(path + "id")
        lookup = {i: k for per in full for k, i in enumerate(per or ())}
        position = np.array([lookup[i] for i in flat["id"]], dtype=np.int64)
    table = labels_io.LabelTable(field=field, ids=flat["id"], sample=sample, position=position,
                                 label=flat["label"], box=np.zeros((sample.size, 0)),
                                 confidence=flat.get("confidence"), list_field="classifications")
    return table, np.array([x is not None for x in cols["id"]], dtype=bool)


def _classes(view, gts, preds, gt_field, pred_field, classes, has_gt, warnings):
    """The class list: ``classes``, the field's or dataset's classes, or the labels seen."""
    for table in (gts, preds):
        inputs.refuse_unnamed(table.field, table.ids, table.label)
    if not has_gt.any():
        raise EvaluationInputError(
            "No sample in this view has ground truth in '%s': nothing to evaluate. Choose the "
            "view or field holding the labels." % gt_field)
    if not has_gt.all():
        warnings.append("%d samples have no '%s' (None): they are not evaluated (an empty "
                        "fo.Classifications() is a sample with no class)." % (
                            int((~has_gt).sum()), gt_field))
    seen_gt, seen_pred = set(gts.label), set(preds.label)
    class_list = inputs.class_list(inputs.declared_classes(view, gt_field, classes),
                                   seen_gt | seen_pred)
    if not class_list:
        raise EvaluationInputError(
            "Neither '%s' nor '%s' holds any label, and no class list is set: pass classes=[...]."
            % (gt_field, pred_field))
    inputs.check_in_classes(seen_gt | seen_pred, class_list, classes)
    warnings.extend(inputs.only_pred_warning(sorted(seen_pred - seen_gt)))
    return class_list


def _scores(preds, pred_field, warnings):
    """The predictions' confidences; None counts at every threshold (1.0)."""
    conf = preds.confidence or []
    unset = np.array([c is None for c in conf], dtype=bool)
    score = np.array([np.nan if c is None else float(c) for c in conf], dtype=np.float64)
    bad = ~unset & ~((score >= 0) & (score <= 1))
    inputs.refuse_bad_confidences(pred_field, bad, score, lambda i: preds.ids[i], "sigmoid")
    if unset.any():
        score[unset] = 1.0
        warnings.append("%d predictions in '%s' have no confidence: they count at every "
                        "threshold (confidence 1.0)." % (int(unset.sum()), pred_field))
    return score


# -- writing ------------------------------------------------------------------

def _updates(sample_ids, rows, ev, a, gts, preds, g_row, g_lab, p_row, p_lab, scores, confidence,
             eval_key):
    """Every value the run writes, per label and per sample."""
    n = len(sample_ids)
    g_ok, p_ok = g_row >= 0, p_row >= 0
    g_val = np.full(len(gts), None, dtype=object)
    g_val[g_ok] = np.where(a.predicted[g_row[g_ok], g_lab[g_ok]], "tp", "fn")
    counted = p_ok & (scores >= confidence if confidence is not None else True)
    p_val = np.full(len(preds), None, dtype=object)
    p_val[counted] = np.where(ev.gt[p_row[counted], p_lab[counted]], "tp", "fp")
    values = {}
    for suffix, per in (("_tp", a.tp), ("_fp", a.fp), ("_fn", a.fn)):
        col = np.full(n, None, dtype=object)
        col[rows] = per.tolist()
        values[eval_key + suffix] = col.tolist()
    error = np.full(n, None, dtype=object)
    error[rows] = np.asarray(multilabel.ERROR_TYPES, dtype=object)[a.error]
    values[eval_key + "_error"] = error.tolist()
    updates = labels_io.SampleUpdates(sample_ids)
    updates.labels(gts, {eval_key: g_val.tolist()})
    updates.labels(preds, {eval_key: p_val.tolist()})
    return updates.samples(values)


def _declare(dataset, eval_key, pred_field, gt_field):
    schema = {eval_key + s: fof.IntField() for s in ("_tp", "_fp", "_fn")}
    schema[eval_key + "_error"] = fof.StringField()
    for field in (pred_field, gt_field):
        schema["%s.classifications.%s" % (field, eval_key)] = fof.StringField()
    dataset._merge_sample_field_schema(schema)
