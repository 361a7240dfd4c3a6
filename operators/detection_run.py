"""``evaluate_model`` for detections: validate, evaluate, write back, register.

What is stored, the FiftyOne way:
- a standard FiftyOne evaluation run (``COCOEvaluationConfig``, classwise) whose
  results are FiftyOne's own ``COCODetectionResults``, so ``mAP()``,
  ``print_report()``, PR curves, evaluation patches and FiftyOne's Model
  Evaluation panel work on it;
- per label ``<key>``, ``<key>_id``, ``<key>_iou`` exactly like
  ``evaluate_detections`` and ``<key>_error`` (error type); per sample
  ``<key>_tp/_fp/_fn``;
- the engine's compact arrays in a custom run ``error_atlas_<key>`` so panels
  answer any (confidence, IoU) question without touching the samples.
The run lists the custom metric :data:`ANALYSIS_METRIC`, whose cleanup removes
``<key>_error`` and the custom run when FiftyOne deletes the evaluation.

Run status (running -> completed), kill safety and the analysis run are
task-neutral: see :mod:`.run_store`.
"""

import itertools
import logging

import numpy as np

import fiftyone.core.fields as fof
import fiftyone.utils.eval.coco as foec

from ..plugin import detection, errors as engine_errors, history, pr_curves
from . import labels_io, run_store
from .errors import EvaluationInputError
from .run_store import (  # noqa: F401 (the run API, also reached through this module)
    ANALYSIS_METRIC, PAUSE_ENV, STAGES, analysis_info, analysis_run_key, analysis_source,
    delete_run, finish_run, load_analysis, pause, run_request, run_status, run_view,
    save_class_thresholds)

logger = logging.getLogger(__name__)

AREA_STATS = ("AP_small", "AP_medium", "AP_large", "AR_small", "AR_medium", "AR_large")
LABEL_SUFFIXES = ("", "_id", "_iou", "_error")
COUNT_SUFFIXES = ("_tp", "_fp", "_fn")


def evaluate_detections(
    view, pred_field, gt_field, eval_key, iou=0.5, classes=None, use_masks=False,
    iscrowd="iscrowd", confidence=None, progress=None, classwise=True, iou_threshs=None,
    max_preds=None, missing=None, model_name=None, model_version=None,
):
    """Evaluates ``pred_field`` against ``gt_field`` on ``view`` and stores everything.

    ``classwise``, ``iou_threshs``, ``max_preds`` and ``missing`` are FiftyOne's
    ``evaluate_detections`` parameters (see :func:`_check_fiftyone_params`).
    ``model_name`` (default ``pred_field``) and ``model_version`` are stored
    with the run and its time, for the history (:mod:`plugin.history`).

    Returns:
        the summary dict of :meth:`plugin.detection.Evaluation.summary` plus
        ``eval_key``, ``num_images`` and ``warnings``
    """
    progress = progress or (lambda fraction, label: None)
    dataset = view._dataset
    _check_request(view, pred_field, gt_field, eval_key, iou, confidence)
    model = run_store.model_info(pred_field, model_name, model_version)
    iou_threshs, max_preds = _check_fiftyone_params(classwise, iou_threshs, max_preds, missing)
    ev, preds, gts, p_sel, g_sel, sample_ids, class_list, warnings, inputs, areas_known = _analyze(
        view, pred_field, gt_field, iou, classes, use_masks, iscrowd, progress)
    curves = _custom_curves(inputs, iou_threshs, max_preds)
    t = ev.threshold_index(iou)
    assessment = ev.assess(iou, confidence)
    label_values = _label_values(ev, t, assessment, preds, gts, p_sel, g_sel, confidence)
    updates = labels_io.SampleUpdates(
        sample_ids, on_batch=lambda done, total: pause("writing") if done == 1 < total else None)
    for table, values in ((preds, label_values["pred"]), (gts, label_values["gt"])):
        updates.labels(table, {eval_key + k: v for k, v in values.items()})
    updates.samples(_sample_counts(label_values, preds, gts, len(sample_ids), eval_key))
    updates.check_sizes(dataset)
    kept = _kept_thresholds(dataset, eval_key, pred_field, gt_field, ev.classes, warnings)

    progress(0.6, "Writing results")
    request = dict(pred_field=pred_field, gt_field=gt_field, iou=float(iou), classes=classes,
                   use_masks=bool(use_masks), iscrowd=iscrowd, confidence=confidence)
    request.update({k: v for k, v in dict(iou_threshs=iou_threshs, max_preds=max_preds,
                                          missing=missing).items() if v is not None})
    run_store.begin_run(view, eval_key, "detection", request,
                        written_fields(eval_key, pred_field, gt_field), model=model)
    eval_method = _register(view, pred_field, gt_field, eval_key, iou, iscrowd, use_masks, class_list,
                            iou_threshs=iou_threshs, max_preds=max_preds)
    pause("registered")
    updates.write(dataset)
    del updates  # its update documents; the run's saved results below are the peak of memory

    progress(0.85, "Saving the run")
    results = _fiftyone_results(view, eval_method, eval_key, ev, t, label_values, preds, gts, p_sel, g_sel,
                                curves=curves, missing=missing)
    del label_values, preds, gts, p_sel, g_sel, inputs, assessment
    summary = ev.summary(iou, confidence)
    _custom_summary(summary, curves, ev.classes, max_preds)
    if not areas_known:
        summary.update({k: None for k in AREA_STATS})
        warnings.append(
            "Image sizes are unknown (no sample metadata and the images could not be read), "
            "so AP/AR by object size are not reported. Run dataset.compute_metadata() and re-run."
        )
    results.custom_metrics = {ANALYSIS_METRIC: {
        "key": "optimal_confidence", "value": summary["optimal_threshold"],
        "label": "Optimal confidence (max F1)", "lower_is_better": False,
    }}
    run_store.save_fiftyone_results(eval_method, view, eval_key, results)
    pause("saving")
    eval_method.add_fields_to_sidebar_group(view, eval_key, omit_fields=(pred_field, gt_field))
    run_store.save_analysis_results(dataset, eval_key, ev, confidence, class_thresholds=kept,
                                    areas_known=bool(areas_known), delta_ap=summary["delta_ap"])
    finish_run(dataset, eval_key, record=history.record(
        "detection", summary, ev.per_class(confidence, iou=iou), len(sample_ids)))
    summary.update(eval_key=eval_key, num_images=len(sample_ids), warnings=warnings, **model)
    progress(1.0, "Done")
    return summary


def analyze_run(dataset, eval_key, progress=None):
    """Error Atlas's analysis of a detection run FiftyOne made itself
    (``evaluate_detections``): the same view, fields, IoU and crowd attribute,
    evaluated by the engine and stored as the custom run ``error_atlas_<key>``
    only. The user's run and its per-label fields are left untouched.

    Returns:
        the analysis' summary at the run's IoU
    """
    progress = progress or (lambda fraction, label: None)
    config = dataset.get_evaluation_info(eval_key).config
    if config.type != "detection":
        raise EvaluationInputError("Run '%s' is a %s evaluation; the explorer reads detection "
                                   "runs." % (eval_key, config.type))
    view = dataset.load_evaluation_view(eval_key, select_fields=False)
    pred_field, gt_field = config.pred_field, config.gt_field
    labels_io.check_detections_field(view, pred_field, "predictions")
    labels_io.check_detections_field(view, gt_field, "ground truth")
    iou = float(getattr(config, "iou", None) or 0.5)
    ev, *_, areas_known = _analyze(view, pred_field, gt_field, iou, None,
                                   bool(getattr(config, "use_masks", False)),
                                   getattr(config, "iscrowd", None) or "iscrowd", progress)
    _save_analysis(dataset, eval_key, ev, areas_known, None, source="fiftyone",
                   delta_ap=ev.delta_ap(iou))
    progress(1.0, "Done")
    return ev.summary(iou)


def _analyze(view, pred_field, gt_field, iou, classes, use_masks, iscrowd, progress):
    """Reads and checks the labels of ``view``, then evaluates them (the engine)."""
    progress(0.05, "Reading labels")
    preds = labels_io.read_labels(view, pred_field, with_confidence=True, with_masks=use_masks)
    gts = labels_io.read_labels(view, gt_field, crowd_attr=iscrowd, with_masks=use_masks,
                                extra=("area",))
    sample_ids = view.values("id")
    class_list, warnings = _check_labels(preds, gts, pred_field, gt_field, classes, use_masks)
    sizes, areas_known = _image_sizes(view, (preds, gts) if use_masks else ())

    progress(0.3, "Matching")
    p_sel = np.array([l in class_list for l in preds.label], dtype=bool)
    g_sel = np.array([l in class_list for l in gts.label], dtype=bool)
    index = {c: i for i, c in enumerate(class_list)}
    scale_p = np.tile(sizes[preds.sample], 2)
    scale_g = np.tile(sizes[gts.sample], 2)
    gt_area = _gt_area(gts, g_sel)
    pred_masks = gt_masks = None
    if use_masks:
        pred_masks = _rles(preds, p_sel, sizes)
        gt_masks = _rles(gts, g_sel, sizes)
    inputs = dict(
        classes=class_list,
        pred_image=preds.sample[p_sel],
        pred_label=[index[l] for l in np.asarray(preds.label, dtype=object)[p_sel]],
        pred_score=np.asarray(preds.confidence, dtype=np.float64)[p_sel],
        pred_box=(preds.box * scale_p)[p_sel],
        gt_image=gts.sample[g_sel],
        gt_label=[index[l] for l in np.asarray(gts.label, dtype=object)[g_sel]],
        gt_box=(gts.box * scale_g)[g_sel], gt_crowd=gts.crowd[g_sel],
        pred_masks=pred_masks, gt_masks=gt_masks,
    )
    ev = detection.evaluate(**inputs, gt_area=gt_area, iou=iou)
    ev.set_ids(np.asarray(preds.ids, dtype=object)[p_sel], np.asarray(gts.ids, dtype=object)[g_sel],
               sample_ids)
    return ev, preds, gts, p_sel, g_sel, sample_ids, class_list, warnings, inputs, areas_known


def error_fields(samples, config, eval_key):
    """The ``<key>_error`` attribute paths written by a run."""
    return ["%s.detections.%s_error" % (f, eval_key) for f in (config.pred_field, config.gt_field)]


# -- validation ---------------------------------------------------------------

def _check_request(view, pred_field, gt_field, eval_key, iou, confidence):
    run_store.check_view(view, pred_field)
    labels_io.check_detections_field(view, pred_field, "predictions")
    labels_io.check_detections_field(view, gt_field, "ground truth")
    if pred_field == gt_field:
        raise EvaluationInputError("pred_field and gt_field are both '%s': choose two different "
                                   "fields." % pred_field)
    run_store.check_key_name(eval_key)
    if not 0 < float(iou) < 1:
        raise EvaluationInputError("iou must be between 0 and 1 (exclusive); got %r." % iou)
    if confidence is not None and not 0 <= float(confidence) <= 1:
        raise EvaluationInputError("The confidence threshold must be in [0, 1]; got %r." % confidence)
    _check_eval_key(view._dataset, eval_key, pred_field, gt_field)


def _check_fiftyone_params(classwise, iou_threshs, max_preds, missing):
    """Checks ``evaluate_detections``' parameters; returns ``(iou_threshs, max_preds)``
    as a float list and an int (None when not given)."""
    if classwise is not True and classwise not in (None, 1):
        raise EvaluationInputError(
            "classwise=False (matching objects across classes) is not supported: Error Atlas "
            "matches class-wise, like COCO, and reports a prediction that overlaps an object "
            "of another class as a 'classification' error (<eval_key>_error and the confusion "
            "matrix). Leave classwise at True, or run FiftyOne's "
            "dataset.evaluate_detections(..., classwise=False) under another eval_key."
        )
    if iou_threshs is not None:
        values = [iou_threshs] if isinstance(iou_threshs, (int, float)) else list(iou_threshs)
        try:
            iou_threshs = [float(v) for v in values]
        except (TypeError, ValueError):
            iou_threshs = []
        if not iou_threshs or not all(0 < v <= 1 for v in iou_threshs):
            raise EvaluationInputError(
                "iou_threshs must be a non-empty list of IoU thresholds in (0, 1], e.g. "
                "[0.5, 0.75]; got %r." % (values,))
    if max_preds is not None:
        if isinstance(max_preds, bool) or not float(max_preds).is_integer() or max_preds < 1:
            raise EvaluationInputError(
                "max_preds must be a positive whole number (predictions kept per image and "
                "class for mAP, 100 by default); got %r." % (max_preds,))
        max_preds = int(max_preds)
    if missing is not None and (not isinstance(missing, str) or not missing):
        raise EvaluationInputError(
            "missing must be a non-empty class name for unmatched objects (e.g. "
            "'background'); got %r." % (missing,))
    return iou_threshs, max_preds


def written_fields(eval_key, pred_field, gt_field):
    """Every field path a run of ``eval_key`` writes, samples' counts first."""
    paths = [eval_key + s for s in COUNT_SUFFIXES]
    for field in (pred_field, gt_field):
        paths += ["%s.detections.%s%s" % (field, eval_key, s) for s in LABEL_SUFFIXES]
    return paths


def _check_eval_key(dataset, eval_key, pred_field, gt_field):
    run_store.check_eval_key(
        dataset, eval_key, written_fields(eval_key, pred_field, gt_field),
        owned_by=lambda c: (written_fields(eval_key, c.pred_field, c.gt_field)
                            if c.type == "detection" else ()))


def _check_labels(preds, gts, pred_field, gt_field, classes, use_masks):
    warnings = []
    for table, role in ((preds, "prediction"), (gts, "ground truth")):
        _check_boxes(table, role)
        missing = [i for i, l in zip(table.ids, table.label) if not l]
        if missing:
            raise EvaluationInputError(
                "%d %s labels in '%s' have no `label` (e.g. label id %s). Give every object a "
                "class name." % (len(missing), role, table.field, missing[0])
            )
    no_conf = [i for i, c in zip(preds.ids, preds.confidence) if c is None or not np.isfinite(c)]
    if no_conf:
        raise EvaluationInputError(
            "%d predictions in '%s' have no confidence (e.g. label id %s). COCO metrics rank "
            "predictions by confidence: set `confidence` on every prediction (use 1.0 for a "
            "model without scores)." % (len(no_conf), pred_field, no_conf[0])
        )
    if use_masks:
        for table in (preds, gts):
            no_mask = [i for i, m in zip(table.ids, table.masks) if m is None]
            if no_mask:
                raise EvaluationInputError(
                    "use_masks is on but %d labels in '%s' have no instance mask (e.g. label id "
                    "%s). Turn use_masks off to evaluate boxes, or add masks." % (
                        len(no_mask), table.field, no_mask[0])
                )
    seen_gt, seen_pred = set(gts.label), set(preds.label)
    if classes:
        class_list = list(dict.fromkeys(classes))
        if not (seen_gt | seen_pred) & set(class_list):
            raise EvaluationInputError(
                "None of the requested classes %s occur in '%s' or '%s'." % (
                    class_list, gt_field, pred_field)
            )
    else:
        class_list = sorted(seen_gt | seen_pred)
    if not len(preds) and not len(gts):
        raise EvaluationInputError(
            "Neither '%s' nor '%s' contains any object in this view: nothing to evaluate."
            % (pred_field, gt_field)
        )
    only_pred = sorted((seen_pred - seen_gt) & set(class_list))
    if only_pred:
        warnings.append(
            "Classes only in predictions (no ground truth, so no AP; all their predictions "
            "are false positives): %s" % ", ".join(only_pred)
        )
    return class_list, warnings


def _check_boxes(table, role):
    box = table.box
    bad = ~np.isfinite(box).all(axis=1) | (box[:, 2] <= 0) | (box[:, 3] <= 0) if len(table) else []
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise EvaluationInputError(
            "%d %s boxes in '%s' are missing, NaN or have zero/negative width or height "
            "(e.g. label id %s with bounding_box %s). Fix or drop them, e.g. "
            "view.filter_labels('%s', (F('bounding_box')[2] > 0) & (F('bounding_box')[3] > 0))."
            % (int(np.count_nonzero(bad)), role, table.field, table.ids[i],
               np.round(box[i], 4).tolist(), table.field)
        )


def _image_sizes(view, mask_tables=()):
    """(S, 2) [width, height] per sample and whether all are known. Unknown sizes
    are computed from the images, else inferred from the instance masks of
    ``mask_tables`` (as FiftyOne's mask IoU does), else set to 1."""
    w, h = view.values(["metadata.width", "metadata.height"])
    if any(v is None for v in itertools.chain(w, h)):
        view.exists("metadata.width", False).compute_metadata(skip_failures=True, progress=False)
        w, h = view.values(["metadata.width", "metadata.height"])
    sizes = np.array([[a or 0, b or 0] for a, b in zip(w, h)], dtype=np.float64).reshape(-1, 2)
    unknown = (sizes <= 0).any(axis=1)
    if unknown.any() and mask_tables:
        inferred = _sizes_from_masks(len(sizes), mask_tables)
        sizes[unknown] = inferred[unknown]
        # a sample without objects needs no size
        unknown = (sizes <= 0).any(axis=1)
    sizes[unknown] = 1
    return sizes, not unknown.any()


def _sizes_from_masks(num_samples, tables):
    """(S, 2) image sizes implied by instance masks: ``round(mask width / box
    width)`` and likewise for heights, the largest per sample (FiftyOne resizes
    the smaller of two masks' frames to the larger); 0 where a sample has none."""
    out = np.zeros((num_samples, 2))
    for table in tables:
        if not len(table):
            continue
        shape = np.array([np.shape(m)[1::-1] for m in table.masks], dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            size = np.round(shape / table.box[:, 2:4])
        size[~np.isfinite(size)] = 0
        np.maximum.at(out, table.sample, size)
    return out


def _custom_curves(inputs, iou_threshs, max_preds):
    """FiftyOne's PR curves at the requested ``iou_threshs`` / ``max_preds``
    (None when both keep COCO's standard 0.50:0.95 and 100)."""
    if iou_threshs is None and max_preds is None:
        return None
    threshs = iou_threshs if iou_threshs is not None else [x / 100 for x in range(50, 100, 5)]
    return pr_curves.curves(**inputs, iou_threshs=threshs,
                            max_preds=max_preds if max_preds is not None else 100)


def _custom_summary(summary, curves, classes, max_preds):
    """mAP and per-class AP of the summary at the requested ``iou_threshs`` / ``max_preds``."""
    if curves is None:
        return
    undefined_is_none = lambda v: None if v < 0 else float(v)  # noqa: E731
    summary["mAP"] = undefined_is_none(curves.mAP())
    summary["per_class_AP"] = {c: undefined_is_none(a) for c, a in zip(classes, curves.class_ap())}
    summary["iou_threshs"] = curves.iou_threshs.tolist()
    summary["max_preds"] = max_preds if max_preds is not None else 100


def _gt_area(gts, sel):
    """COCO uses the annotation's ``area`` when present (e.g. imported COCO data)."""
    area = gts.extra["area"]
    values = [a for a, s in zip(area, sel) if s]
    if values and all(isinstance(a, (int, float)) and a >= 0 for a in values):
        return np.asarray(values, dtype=np.float64)
    return None


def _rles(table, sel, sizes):
    """Full-image COCO RLEs of instance masks, placed like FiftyOne's mask IoU."""
    from pycocotools import mask as mask_utils

    out = []
    for i in np.flatnonzero(sel):
        w, h = (int(v) for v in sizes[table.sample[i]])
        full = _full_mask(np.asarray(table.masks[i], dtype=bool), table.box[i], w, h)
        out.append(mask_utils.encode(np.asfortranarray(full)))
    return out


def _full_mask(mask, box, w, h):
    """A box-relative mask on a (h, w) image, as FiftyOne's mask IoU places it: on
    the frame that its size and box imply (``round(mask width / box width)``, ...),
    resized (nearest neighbour) to (w, h) when that frame differs: a mask is
    stretched over its box, whatever its resolution."""
    fw, fh = (int(round(n / b)) if b > 0 else 0 for n, b in zip(mask.shape[::-1], box[2:4]))
    if (fw, fh) == (w, h) or fw <= 0 or fh <= 0:
        return _placed(mask, box, w, h)
    import cv2

    return cv2.resize(_placed(mask, box, fw, fh), (w, h), interpolation=cv2.INTER_NEAREST)


def _placed(mask, box, w, h):
    """``mask`` at its box's top-left pixel on a (h, w) frame, cut at the border."""
    x, y = int(round(box[0] * w)), int(round(box[1] * h))
    full = np.zeros((h, w), dtype=np.uint8)
    sub = mask[: max(0, h - y), : max(0, w - x)]
    full[y:y + sub.shape[0], x:x + sub.shape[1]] = sub
    return full


# -- writing ------------------------------------------------------------------

def _register(view, pred_field, gt_field, eval_key, iou, iscrowd, use_masks, classes,
              iou_threshs=None, max_preds=None):
    dataset = view._dataset
    config = foec.COCOEvaluationConfig(
        pred_field, gt_field, iou=float(iou), classwise=True, iscrowd=iscrowd,
        use_masks=use_masks, compute_mAP=True, custom_metrics=[ANALYSIS_METRIC],
        iou_threshs=iou_threshs, max_preds=max_preds,
    )
    eval_method = config.build()
    eval_method.register_run(view, eval_key)
    # The fields FiftyOne's register_samples() declares, plus <key>_error, in
    # one schema update instead of eleven (each one saves the dataset).
    schema = {"%s_%s" % (eval_key, c): fof.IntField() for c in ("tp", "fp", "fn")}
    for field in (pred_field, gt_field):
        prefix = "%s.detections.%s" % (field, eval_key)
        schema.update({prefix: fof.StringField(), prefix + "_id": fof.StringField(),
                       prefix + "_iou": fof.FloatField(), prefix + "_error": fof.StringField()})
    dataset._merge_sample_field_schema(schema)
    return eval_method


def _label_values(ev, t, assessment, preds, gts, p_sel, g_sel, confidence):
    """Per-label ``<key>``, ``_id``, ``_iou``, ``_error`` values, FiftyOne conventions."""
    n_p, n_g = len(preds), len(gts)
    p_idx, g_idx = np.flatnonzero(p_sel), np.flatnonzero(g_sel)
    pred_ids = np.asarray(preds.ids, dtype=object)
    gt_ids = np.asarray(gts.ids, dtype=object)
    types = np.asarray(engine_errors.ERROR_TYPES + (None,), dtype=object)

    active = np.ones(p_idx.size, bool) if confidence is None else ev.pred_score >= confidence
    match = ev.pred_gt[t]
    matched = active & (match >= 0)
    p_eval = np.full(n_p, None, dtype=object)
    p_eval[p_idx[active]] = np.where(matched[active], "tp", "fp")
    p_id = np.full(n_p, None, dtype=object)
    p_id[p_idx[active]] = ""
    p_id[p_idx[matched]] = gt_ids[g_idx[match[matched]]]
    p_iou = np.full(n_p, None, dtype=object)
    p_iou[p_idx[matched]] = ev.pred_iou[t][matched].tolist()
    p_err = np.full(n_p, None, dtype=object)
    p_err[p_idx] = types[assessment.pred_error]

    first = ev.gt_pred[t]
    hit = first >= 0
    hit[hit] = active[first[hit]]
    g_eval = np.full(n_g, None, dtype=object)
    g_eval[g_idx] = np.where(hit, "tp", "fn")
    g_id = np.full(n_g, None, dtype=object)
    g_id[g_idx] = ""
    g_id[g_idx[hit]] = pred_ids[p_idx[first[hit]]]
    g_iou = np.full(n_g, None, dtype=object)
    g_iou[g_idx[hit]] = ev.pred_iou[t][first[hit]].tolist()
    g_err = np.full(n_g, None, dtype=object)
    g_err[g_idx] = types[assessment.gt_error]

    return {
        "pred": {"": p_eval, "_id": p_id, "_iou": p_iou, "_error": p_err},
        "gt": {"": g_eval, "_id": g_id, "_iou": g_iou, "_error": g_err},
    }


def _sample_counts(label_values, preds, gts, num_samples, eval_key):
    """Per-sample ``_tp/_fp/_fn`` counts, as ``evaluate_detections`` tallies them."""
    p_eval, g_eval = label_values["pred"][""], label_values["gt"][""]
    count = lambda table, values, name: np.bincount(
        table.sample[values == name], minlength=num_samples).tolist()
    return {
        eval_key + "_tp": count(preds, p_eval, "tp"),
        eval_key + "_fp": count(preds, p_eval, "fp"),
        eval_key + "_fn": count(gts, g_eval, "fn"),
    }


def _fiftyone_results(view, eval_method, eval_key, ev, t, label_values, preds, gts, p_sel, g_sel,
                      curves=None, missing=None):
    """FiftyOne's ``COCODetectionResults`` built from the engine's arrays (or from
    ``curves`` at the requested ``iou_threshs`` / ``max_preds``)."""
    p_eval, p_gt_id, p_iou = (label_values["pred"][k] for k in ("", "_id", "_iou"))
    g_eval = label_values["gt"][""]
    gt_label_by_id = dict(zip(gts.ids, gts.label))
    matches = []
    for i in np.flatnonzero(p_eval != None):  # noqa: E711 (object array)
        gt_id = p_gt_id[i] or None
        matches.append((gt_label_by_id.get(gt_id), preds.label[i], p_iou[i],
                        preds.confidence[i], gt_id, preds.ids[i]))
    for i in np.flatnonzero(g_eval == "fn"):
        matches.append((gts.label[i], None, None, None, gts.ids[i], None))

    # engine precision (T, R, K, A, M) -> FiftyOne (T, K, R) at area "all", 100 dets
    if curves is None:
        precision = ev.coco.precision[:, :, :, 0, 2].transpose(0, 2, 1)
        scores = ev.coco.scores[:, :, :, 0, 2].transpose(0, 2, 1)
        recall_sweep = ev.coco.recall[:, :, 0, 2]
        iou_threshs = np.asarray(ev.thresholds[: precision.shape[0]])
    else:
        precision = curves.precision.transpose(0, 2, 1)
        scores = curves.scores.transpose(0, 2, 1)
        recall_sweep, iou_threshs = curves.recall, curves.iou_threshs
    return foec.COCODetectionResults(
        view, eval_method.config, eval_key, matches, precision,
        np.linspace(0, 1, 101), iou_threshs,
        np.asarray(ev.classes), recall_sweep=recall_sweep, thresholds=scores,
        missing=missing, backend=eval_method,
    )


def _kept_thresholds(dataset, eval_key, pred_field, gt_field, classes, warnings):
    """The per-class thresholds saved with the run that ``eval_key`` replaces,
    for the classes still evaluated: re-evaluating the same fields keeps them.
    Thresholds of other fields (another model) are dropped, with a warning."""
    if not dataset.has_evaluation(eval_key) or analysis_source(dataset, eval_key) != "evaluate_model":
        return None
    saved = analysis_info(dataset, eval_key)["class_thresholds"]
    if not saved:
        return None
    config = dataset.get_evaluation_info(eval_key).config
    if (config.pred_field, config.gt_field) != (pred_field, gt_field):
        warnings.append(
            "The per-class thresholds saved with run '%s' were for '%s' against '%s'; this run "
            "evaluates '%s' against '%s', so they were not kept: save them again from the "
            "evaluation explorer." % (eval_key, config.pred_field, config.gt_field, pred_field,
                                      gt_field))
        return None
    return {c: saved[c] for c in classes if c in saved}


def _save_analysis(dataset, eval_key, ev, areas_known, confidence, source="evaluate_model",
                   class_thresholds=None, delta_ap=None):
    key = analysis_run_key(eval_key)
    config = dataset.init_run(eval_key=eval_key, kind="detection", version=1, source=source,
                              status="running")
    dataset.register_run(key, config, overwrite=True)
    run_store.save_analysis_results(dataset, eval_key, ev, confidence,
                                    class_thresholds=class_thresholds,
                                    areas_known=bool(areas_known), delta_ap=delta_ap)
    finish_run(dataset, eval_key)

