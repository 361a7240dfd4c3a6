"""``evaluate_model`` for semantic segmentation: validate, measure, write back, register.

What is stored, the FiftyOne way:
- a standard FiftyOne segmentation run (``SimpleEvaluationConfig``) whose
  results are FiftyOne's own ``SegmentationResults`` (pixel confusion matrix,
  classes, per-image matches), so ``load_evaluation_results()``,
  ``print_report()`` and FiftyOne's Model Evaluation panel read it;
- per sample FiftyOne's ``<key>_accuracy`` / ``_precision`` / ``_recall``
  (its micro definitions, equal to ``evaluate_segmentations``), and
  ``<key>_miou``, ``<key>_pixel_accuracy``, ``<key>_error`` (the image's
  dominant error kind) and ``<key>_error_class`` (the class it concerns);
- the pooled counts (:class:`plugin.segmentation.SegmentationEvaluation`) in
  the custom run ``error_atlas_<key>``, with the run status of detection runs.
Every input is read and checked before the first write.
"""

import base64
from datetime import datetime, timezone

import numpy as np

import fiftyone.core.fields as fof
import fiftyone.utils.eval.segmentation as foseg

from ..plugin import history, segmentation
from . import labels_io, run_store, segmentation_io
from .errors import EvaluationInputError

SAMPLE_FLOATS = ("_accuracy", "_precision", "_recall", "_miou", "_pixel_accuracy")
SAMPLE_STRINGS = ("_error", "_error_class")
CELL_PIXELS = "_cell_pixels"  # the last opened confusion cell's pixels per image


def written_fields(eval_key):
    return [eval_key + s for s in SAMPLE_FLOATS + SAMPLE_STRINGS + (CELL_PIXELS,)]


def write_cell_pixels(dataset, eval_key, sample_ids, counts):
    """Stores a confusion cell's pixel count on each of its images, in
    ``<key>_cell_pixels`` (cleared on every other image), so the grid can sort
    and filter by it. Returns the field, or None when a field of that name
    is not this run's (runs made before the field existed)."""
    name = eval_key + CELL_PIXELS
    info = dataset.get_run_info(run_store.analysis_run_key(eval_key))
    if name not in (getattr(info.config, "fields", None) or ()):
        return None
    dataset.clear_sample_field(name)
    if len(sample_ids):
        dataset.set_values(name, dict(zip(sample_ids, (int(c) for c in counts))),
                           key_field="id")
    return name


def evaluate_segmentations(view, pred_field, gt_field, eval_key, mask_targets=None,
                           ignore_index=255, background=None, confidence_field=None,
                           num_workers=2, progress=None, model_name=None, model_version=None):
    """Evaluates ``pred_field`` against ``gt_field`` (``fo.Segmentation``) on
    ``view`` and stores everything.

    Args:
        mask_targets: ``{value: name}`` (or ``{"#rrggbb": name}``); default the
            field's or the dataset's mask targets, else the values found
        ignore_index: ground-truth value left out (default 255; None: none)
        background: the background's class name (or value), left out of the
            means and of the error kinds; default the class of value 0 when
            it is named ``background`` or unnamed
        confidence_field: optional ``fo.Heatmap`` field with the predicted
            class's probability per pixel: enables the confidence sweep
        model_name, model_version: the model, stored with the run and its
            time for the history (default name: ``pred_field``)

    Returns:
        the summary: pooled metrics, per-class rows, optimal thresholds,
        ``eval_key``, ``num_images`` and ``warnings``
    """
    progress = progress or (lambda fraction, label: None)
    dataset = view._dataset
    run_store.check_key_name(eval_key)
    _check_fields(view, pred_field, gt_field, confidence_field, eval_key)
    model = run_store.model_info(pred_field, model_name, model_version)
    spec, names, warnings = _spec(view, gt_field, pred_field, mask_targets, ignore_index, background)

    items = _items(view, gt_field, pred_field, confidence_field)
    progress(0.05, "Measuring %d images" % len(items))
    results, hist = segmentation_io.measure_all(
        spec, items, num_workers=num_workers,
        progress=lambda f: progress(0.05 + 0.6 * f, "Measuring masks"))
    counts = _check_results(results, view, gt_field, spec, names, warnings)
    ev = segmentation.pool(names, counts, background=spec.background, width=spec.width, hist=hist)

    sample_ids = view.values("id")
    values = _sample_values(ev, eval_key)
    updates = labels_io.SampleUpdates(sample_ids).samples(values)
    updates.check_sizes(dataset)

    progress(0.7, "Writing results")
    request = dict(task="segmentation", pred_field=pred_field, gt_field=gt_field,
                   mask_targets=mask_targets, ignore_index=ignore_index, background=background,
                   confidence_field=confidence_field)
    _begin_run(view, eval_key, request, model)
    eval_method = _register(view, pred_field, gt_field, eval_key)
    updates.write(dataset)

    progress(0.85, "Saving the run")
    results = _fiftyone_results(view, eval_method, eval_key, ev, spec, sample_ids)
    summary = summarize(ev)
    if summary["optimal_threshold"] is not None:  # the value FiftyOne's Model Evaluation panel lists
        results.custom_metrics = {run_store.ANALYSIS_METRIC: {
            "key": "optimal_confidence", "value": summary["optimal_threshold"],
            "label": "Optimal confidence (max F1)", "lower_is_better": False}}
    run_store.save_fiftyone_results(eval_method, view, eval_key, results)
    _save_analysis(dataset, eval_key, ev, summary, sample_ids)
    run_store.finish_run(dataset, eval_key, record=history.record(
        "segmentation", summary, summary["per_class"], len(sample_ids)))
    summary.update(eval_key=eval_key, num_images=len(sample_ids), warnings=warnings, **model)
    progress(1.0, "Done")
    return summary


def summarize(ev):
    """The run's headline numbers and per-class rows (JSON-ready)."""
    m = ev.metrics()
    best = ev.optimal_thresholds()
    overall, per_class = best["overall"], best["per_class"]
    rows = [dict(name=c, iou=_f(m["iou"][k]), precision=_f(m["precision"][k]),
                 recall=_f(m["recall"][k]), f1=_f(m["f1"][k]), pixel_share=_f(m["pixel_share"][k]),
                 boundary_iou=_f(m["boundary_iou"][k]), boundary_f1=_f(m["boundary_f1"][k]),
                 optimal_threshold=per_class[c])
            for k, c in enumerate(ev.classes)]
    return dict(task="segmentation", mIoU=_f(m["miou"]), pixel_accuracy=_f(m["pixel_accuracy"]),
                mean_accuracy=_f(m["mean_accuracy"]), fw_iou=_f(m["fw_iou"]),
                mean_f1=_f(m["mean_f1"]), mean_boundary_iou=_f(m["mean_boundary_iou"]),
                mean_boundary_f1=_f(m["mean_boundary_f1"]),
                boundary_width=ev.width, optimal_threshold=overall, per_class=rows,
                background=None if ev.background is None else ev.classes[ev.background])


def load_analysis(dataset, eval_key):
    """The stored :class:`~plugin.segmentation.SegmentationEvaluation` of a run."""
    results = dataset.load_run_results(run_store.analysis_run_key(eval_key), cache=False)
    return segmentation.SegmentationEvaluation.from_bytes(_b64decode(results.payload))


# -- checks -------------------------------------------------------------------

def _check_fields(view, pred_field, gt_field, confidence_field, eval_key):
    if view.media_type != "image":
        raise EvaluationInputError("Segmentation runs evaluate images; this collection holds %s. "
                                   "Evaluate dataset.to_frames(sample_frames=True) for videos."
                                   % view.media_type)
    if len(view) == 0:
        raise EvaluationInputError("The view is empty: nothing to evaluate.")
    if pred_field == gt_field:
        raise EvaluationInputError("pred_field and gt_field are both '%s': choose two different "
                                   "fields." % pred_field)
    segmentation_io.check_field(view, gt_field, "ground truth")
    segmentation_io.check_field(view, pred_field, "predictions")
    if confidence_field:
        segmentation_io.check_field(view, confidence_field, "confidence", kinds=("Heatmap",))
    dataset = view._dataset
    if dataset.has_evaluation(eval_key) and run_store.run_status(dataset, eval_key) is None:
        raise EvaluationInputError(
            "eval_key '%s' is already used by an evaluation evaluate_model did not create. "
            "Choose another eval_key, or delete it first with dataset.delete_evaluation('%s')."
            % (eval_key, eval_key))
    owned = set()
    if run_store.run_status(dataset, eval_key) is not None:
        info = dataset.get_run_info(run_store.analysis_run_key(eval_key))
        owned.update(getattr(info.config, "fields", None) or ())
    taken = [f for f in written_fields(eval_key) if f not in owned and dataset.has_field(f)]
    if taken:
        raise EvaluationInputError(
            "eval_key '%s' would overwrite existing fields that no evaluation owns: %s. Choose "
            "another eval_key." % (eval_key, ", ".join(taken)))


def _spec(view, gt_field, pred_field, mask_targets, ignore_index, background):
    warnings = []
    found = segmentation_io.targets_of(view._dataset, gt_field, mask_targets)
    if found is None:
        values = segmentation_io.mask_values(view, gt_field, pred_field, rgb=True)
        if ignore_index is not None:
            values = values[values != ignore_index]
        names = [str(v) for v in values.tolist()]
        rgb = False
        warnings.append("No mask_targets name the classes: the %d values found in the masks are "
                        "the classes. Set dataset.mask_targets['%s'] to name them."
                        % (len(values), gt_field))
    else:
        values, names, rgb = found
    if not len(values):
        raise EvaluationInputError("No class values: the masks of '%s' are empty and no "
                                   "mask_targets are set." % gt_field)
    index = None
    if background is not None:
        matches = [k for k, (v, n) in enumerate(zip(values.tolist(), names))
                   if n == str(background) or str(v) == str(background)]
        if not matches:
            raise EvaluationInputError("background '%s' is not one of the classes: %s."
                                       % (background, ", ".join(names)))
        index = matches[0]
    elif values[0] == 0 and names[0].lower() in ("background", "0", "bg", "none"):
        index = 0
    spec = segmentation_io.MaskSpec(values=values, rgb=rgb, ignore_index=ignore_index,
                                    background=index)
    return spec, names, warnings


def _items(view, gt_field, pred_field, confidence_field):
    gts = segmentation_io.references(view, gt_field)
    preds = segmentation_io.references(view, pred_field)
    if confidence_field:
        confs = segmentation_io.references(view, confidence_field, kind="map")
        ranges = segmentation_io.heatmap_ranges(view, confidence_field)
    else:
        confs, ranges = [None] * len(gts), [None] * len(gts)
    return list(zip(gts, preds, confs, ranges))


def _check_results(results, view, gt_field, spec, names, warnings):
    """Raises on what cannot be evaluated (nothing is written yet); collects warnings."""
    ids = view.values("id")
    problems = [(i, p) for i, (_, p) in enumerate(results) if p]
    missing = [(i, p["missing"]) for i, p in problems if "missing" in p]
    if missing:
        i, role = missing[0]
        raise EvaluationInputError(
            "%d sample(s) have no %s mask (e.g. sample %s): every sample needs both masks; "
            "evaluate a view without them, e.g. view.exists('%s')." % (
                len(missing), role, ids[i], gt_field))
    if any("rgb" in p for _, p in problems):
        raise EvaluationInputError(
            "Some masks are RGB images but the classes have no colour targets: set "
            "dataset.mask_targets['%s'] = {'#rrggbb': 'name', ...}." % gt_field)
    unknown = sorted({v for _, p in problems for v in p.get("unknown", ())})
    if unknown:
        raise EvaluationInputError(
            "The masks hold values that are not classes: %s (classes: %s). Add them to "
            "mask_targets, or set ignore_index to the value of unlabeled pixels." % (
                ", ".join(map(str, unknown[:10])), ", ".join(
                    "%s=%s" % (v, n) for v, n in zip(spec.values.tolist(), names))))
    bad_heat = [i for i, p in problems if "heatmap_size" in p]
    if bad_heat:
        raise EvaluationInputError(
            "The confidence heatmap of sample %s has shape %s, its ground truth %s: heatmaps "
            "must have the masks' size." % ((ids[bad_heat[0]],) + problems[
                [i for i, _ in problems].index(bad_heat[0])][1]["heatmap_size"]))
    resized = [i for i, p in problems if "resized" in p]
    if resized:
        warnings.append("%d prediction mask(s) were resized to their ground truth's size with "
                        "nearest neighbour, as FiftyOne does (e.g. sample %s)." % (
                            len(resized), ids[resized[0]]))
    return [c for c, _ in results]


# -- writing ------------------------------------------------------------------

def _sample_values(ev, eval_key):
    m = ev.image_metrics()
    dom = ev.dominant_errors()
    pixels = ev.image_errors.max(axis=2)
    worst = np.argmax(np.where(dom >= 0, pixels, -1), axis=1)
    kind = dom[np.arange(ev.num_images), worst]
    values = {eval_key + s: [None if np.isnan(v) else float(v) for v in m[s[1:]]]
              for s in SAMPLE_FLOATS}
    values[eval_key + "_error"] = [segmentation.ERROR_KINDS[k] if k >= 0 else None for k in kind]
    values[eval_key + "_error_class"] = [ev.classes[c] if k >= 0 else None
                                         for c, k in zip(worst, kind)]
    return values


def _begin_run(view, eval_key, request, model):
    dataset = view._dataset
    run_store.delete_run(dataset, eval_key)
    config = dataset.init_run(eval_key=eval_key, kind="segmentation", version=1,
                              source="evaluate_model", status="running", request=request,
                              fields=written_fields(eval_key),
                              started_at=datetime.now(timezone.utc).isoformat(), **model)
    view.register_run(run_store.analysis_run_key(eval_key), config)


def _register(view, pred_field, gt_field, eval_key):
    config = foseg.SimpleEvaluationConfig(pred_field, gt_field,
                                          custom_metrics=[run_store.ANALYSIS_METRIC])
    eval_method = config.build()
    eval_method.register_run(view, eval_key)
    schema = {eval_key + s: fof.FloatField() for s in SAMPLE_FLOATS}
    schema.update({eval_key + s: fof.StringField() for s in SAMPLE_STRINGS})
    schema[eval_key + CELL_PIXELS] = fof.IntField()
    view._dataset._merge_sample_field_schema(schema)
    return eval_method


def _fiftyone_results(view, eval_method, eval_key, ev, spec, sample_ids):
    """FiftyOne's ``SegmentationResults``: the (K, K) pixel confusion over the
    class values (unlabeled pixels have no column there) and, per image, its
    ``(gt, pred, count, gt_id, pred_id)`` matches, in the order FiftyOne's
    ``evaluate_segmentations`` lists them.

    The matches' columns are set by indexing, rather than passed as a list of
    tuples that the constructor unzips in Python (half a second at 1,000
    images); names and ids are object arrays of the same few strings (8 bytes
    a row rather than a copy of each string: 3 million rows at 10,000 images)."""
    K = ev.num_classes
    gt_ids, pred_ids = view.values(["%s.id" % eval_method.config.gt_field,
                                    "%s.id" % eval_method.config.pred_field])
    image, true, pred, count = ev.image_pairs[ev.image_pairs[:, 2] < K].T
    names = [str(n) for n in ev.classes]
    missing = names[spec.background] if spec.background is not None else None
    results = foseg.SegmentationResults(view, eval_method.config, eval_key, ev.confusion[:, :K],
                                        names, matches=[], missing=missing, backend=eval_method)
    labels = np.asarray(names, dtype=object)
    results.ytrue, results.ypred, results.weights = labels[true], labels[pred], count
    results.ytrue_ids = np.asarray(gt_ids, dtype=object)[image]
    results.ypred_ids = np.asarray(pred_ids, dtype=object)[image]
    return results


def _save_analysis(dataset, eval_key, ev, summary, sample_ids):
    """The pooled counts, and the ids of the images in the order they were pooled
    (``ev.image_pairs`` index them), so the panels need no pass over the view."""
    key = run_store.analysis_run_key(eval_key)
    results = dataset.init_run_results(
        key, payload=base64.b64encode(ev.to_bytes()).decode("ascii"),
        written_at=datetime.now(timezone.utc).isoformat(),
        optimal_threshold=summary["optimal_threshold"], sample_ids=list(sample_ids))
    dataset.save_run_results(key, results, cache=False)


def _b64decode(text):
    return base64.b64decode(text)


def _f(x):
    return None if x is None or (isinstance(x, float) and np.isnan(x)) or np.isnan(float(x)) \
        else float(x)
