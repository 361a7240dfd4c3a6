"""What every ``evaluate_model`` run stores besides FiftyOne's own evaluation, whatever the task.

Each run has a custom FiftyOne run ``error_atlas_<key>`` (its ``kind`` is the
task) holding the engine's :class:`~plugin.evaluation.Evaluation` as a blob,
the request, the view and every field the run writes. Kill safety: that run
is registered first with ``status="running"`` and set to ``"completed"``
last, so a run killed in between is recognisable (:func:`run_status`) and
deleting or re-running the key removes every field it wrote
(:func:`delete_run`). :data:`PAUSE_ENV` names a stage at which a run waits,
so tests can kill it there.
"""

import base64
import json
import os
import re
import time
from datetime import datetime, timezone

from ..plugin import evaluation
from . import labels_io
from .errors import EvaluationInputError

ANALYSIS_METRIC = "@error-atlas/error-atlas/error_analysis"
MAX_KEY_LENGTH = 64
KEY_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
STAGES = ("registered", "writing", "saving",  # where PAUSE_ENV may stop evaluate_model,
          "map_writing", "map_saving")  # and compute_error_map
PAUSE_ENV = "ERROR_ATLAS_PAUSE_AT"  # "<stage>:<file>": touch <file>, then wait there


def analysis_run_key(eval_key):
    return "error_atlas_" + eval_key


def analysis_source(dataset, eval_key):
    """``"evaluate_model"``, ``"fiftyone"`` (an analysis of FiftyOne's own run, see
    ``detection_run.analyze_run``) or None (no analysis)."""
    key = analysis_run_key(eval_key)
    if key not in dataset.list_runs():
        return None
    return getattr(dataset.get_run_info(key).config, "source", None) or "evaluate_model"


def run_task(dataset, eval_key):
    """The task of the analysis run of ``eval_key`` (``"detection"``, ``"classification"``,
    ``"multilabel"``, ``"segmentation"``)."""
    return getattr(dataset.get_run_info(analysis_run_key(eval_key)).config, "kind", None) or "detection"


def load_analysis(dataset, eval_key):
    """The stored :class:`~plugin.evaluation.Evaluation` of run ``eval_key``
    (the task's own engine class)."""
    key = analysis_run_key(eval_key)
    if key not in dataset.list_runs():
        raise EvaluationInputError(
            "No Error Atlas analysis for eval_key '%s'. Run evaluate_model with this key." % eval_key
        )
    if run_status(dataset, eval_key) != "completed":
        raise EvaluationInputError(
            "The evaluate_model run '%s' did not finish (it is still running, or it was "
            "interrupted). Re-run evaluate_model with eval_key '%s', or delete it with "
            "dataset.delete_evaluation('%s')." % (eval_key, eval_key, eval_key))
    results = dataset.load_run_results(key, cache=False)
    return evaluation.from_bytes(run_task(dataset, eval_key), base64.b64decode(results.payload))


def analysis_info(dataset, eval_key):
    """Metadata stored with the analysis: ``written_at``, ``areas_known``,
    ``confidence`` and the saved per-class thresholds."""
    results = dataset.load_run_results(analysis_run_key(eval_key), cache=False)
    written = getattr(results, "written_at", None)
    return {
        "written_at": datetime.fromisoformat(written).replace(tzinfo=None) if written else None,
        "areas_known": getattr(results, "areas_known", True),
        "confidence": getattr(results, "confidence", None),
        "class_thresholds": getattr(results, "class_thresholds", None),
        "delta_ap": getattr(results, "delta_ap", None),
    }


def save_class_thresholds(dataset, eval_key, thresholds):
    """Stores per-class confidence thresholds with the run, for inference pipelines:
    ``dataset.load_run_results("error_atlas_<key>").class_thresholds``."""
    key = analysis_run_key(eval_key)
    results = dataset.load_run_results(key, cache=False)
    results.class_thresholds = dict(thresholds)
    dataset.save_run_results(key, results, overwrite=True, cache=False)


def run_status(dataset, eval_key):
    """``"completed"``, ``"running"`` (unfinished: still running or killed) or
    None (no Error Atlas run for the key). Runs stored before statuses existed
    are complete."""
    key = analysis_run_key(eval_key)
    if key not in dataset.list_runs():
        return None
    return getattr(dataset.get_run_info(key).config, "status", None) or "completed"


def run_request(dataset, eval_key):
    """The parameters ``evaluate_model`` was called with for ``eval_key`` (for a
    Re-run), or None when the run did not store them."""
    key = analysis_run_key(eval_key)
    if key not in dataset.list_runs():
        return None
    request = getattr(dataset.get_run_info(key).config, "request", None)
    return dict(request, eval_key=eval_key) if request else None


def run_fields(dataset, eval_key):
    """``(pred_field, gt_field)`` of a run of any task (a multi-label run has no
    FiftyOne evaluation: its request names them)."""
    if dataset.has_evaluation(eval_key):
        config = dataset.get_evaluation_info(eval_key).config
        return config.pred_field, config.gt_field
    request = run_request(dataset, eval_key) or {}
    return request.get("pred_field"), request.get("gt_field")


def evaluation_keys(dataset):
    """Keys of every evaluation on the dataset: FiftyOne's evaluations and the
    ``evaluate_model`` runs that have none (multi-label: the analysis run is the run)."""
    keys = list(dataset.list_evaluations())
    for run in dataset.list_runs():
        key = run[len("error_atlas_"):]
        if run.startswith("error_atlas_") and key not in keys and \
                getattr(dataset.get_run_info(run).config, "kind", None) == "multilabel":
            keys.append(key)
    return keys


def run_view(dataset, eval_key):
    """The view an ``evaluate_model`` run evaluated (finished or not)."""
    if dataset.has_evaluation(eval_key):
        return dataset.load_evaluation_view(eval_key, select_fields=False)
    return dataset.load_run_view(analysis_run_key(eval_key), select_fields=False)


def delete_run(dataset, eval_key):
    """Deletes an ``evaluate_model`` run, finished or not, and every field it
    wrote (the FiftyOne evaluation, ``<key>_error`` and the analysis run)."""
    key = analysis_run_key(eval_key)
    fields = []
    if key in dataset.list_runs():
        fields = getattr(dataset.get_run_info(key).config, "fields", None) or []
    if dataset.has_evaluation(eval_key):
        dataset.delete_evaluation(eval_key)
    declared = [f for f in fields if dataset.has_field(f)]
    if declared:
        dataset.delete_sample_fields(declared, error_level=1)
    if key in dataset.list_runs():
        dataset.delete_run(key)


def check_key_name(eval_key):
    """Keys become field names and run keys: short ASCII identifiers."""
    key = eval_key if isinstance(eval_key, str) else ""
    if not key or not KEY_PATTERN.fullmatch(key):
        raise EvaluationInputError(
            "eval_key '%s' is not valid: use letters, digits and underscores, starting with a "
            "letter, e.g. 'eval'." % str(eval_key)[:80])
    if len(key) > MAX_KEY_LENGTH:
        raise EvaluationInputError(
            "eval_key '%s...' is %d characters long; use at most %d (it prefixes every field "
            "the run writes), e.g. 'eval'." % (key[:40], len(key), MAX_KEY_LENGTH))


def begin_run(view, eval_key, task, request, fields, model=None):
    """Removes an earlier run of the key (finished or not), then registers the
    analysis run of ``task`` as ``running``, with the request, the view, every
    field path the run will write, the model (:func:`model_info`) and the time."""
    dataset = view._dataset
    delete_run(dataset, eval_key)
    config = dataset.init_run(eval_key=eval_key, kind=task, version=1,
                              source="evaluate_model", status="running", request=request,
                              fields=fields, started_at=datetime.now(timezone.utc).isoformat(),
                              **(model or {}))
    view.register_run(analysis_run_key(eval_key), config)


def model_info(pred_field, model_name=None, model_version=None):
    """The model a run evaluates: its name (default the prediction field's)
    and optional version, as stored on the analysis run's config."""
    for name, value in (("model_name", model_name), ("model_version", model_version)):
        if value is not None and not isinstance(value, (str, int, float)):
            raise EvaluationInputError(
                "%s must be a string, e.g. %s='%s'; got %s." % (
                    name, name, "detector-v2" if name == "model_name" else "2026-12-06",
                    type(value).__name__))
    return {"model_name": str(model_name) if model_name not in (None, "") else str(pred_field),
            "model_version": str(model_version) if model_version not in (None, "") else None}


def finish_run(dataset, eval_key, record=None):
    """The run's last write: its status becomes ``completed``, with its
    history record (:func:`plugin.history.record`) and completion time."""
    key = analysis_run_key(eval_key)
    config = dataset.get_run_info(key).config
    config.status = "completed"
    if record is not None:
        config.history = record
        config.completed_at = datetime.now(timezone.utc).isoformat()
    dataset.update_run_config(key, config)


def pause(stage):
    """Test hook: with ``ERROR_ATLAS_PAUSE_AT=<stage>:<file>``, creates ``<file>``
    and waits at ``stage`` (one of :data:`STAGES`) until the process is killed."""
    target = os.environ.get(PAUSE_ENV, "")
    name, _, marker = target.partition(":")
    if name != stage:
        return
    if marker:
        with open(marker, "w") as f:
            f.write(stage)
    while True:
        time.sleep(1)


def save_analysis_results(dataset, eval_key, ev, confidence, class_thresholds=None, **extra):
    """Stores the engine's blob with the analysis run, plus JSON-ready ``extra``."""
    key = analysis_run_key(eval_key)
    results = dataset.init_run_results(
        key, payload=base64.b64encode(ev.to_bytes()).decode("ascii"), confidence=confidence,
        written_at=datetime.now(timezone.utc).isoformat(), class_thresholds=class_thresholds,
        **extra,
    )
    dataset.save_run_results(key, results, cache=False)


def check_view(view, pred_field):
    """Image samples, at least one."""
    if view.media_type == "video":
        raise EvaluationInputError(
            "evaluate_model evaluates image samples; this view holds videos, whose labels are "
            "on frames ('frames.%s'). Evaluate the frames as images: frames = "
            "dataset.to_frames(sample_frames=True).clone('<name>'), then "
            "evaluate_model(frames, pred_field='%s', ...)." % (
                str(pred_field).replace("frames.", "", 1), str(pred_field).replace("frames.", "", 1))
        )
    if view.media_type != "image":
        raise EvaluationInputError(
            "evaluate_model evaluates images; this view holds %s media." % view.media_type
        )
    if len(view) == 0:
        raise EvaluationInputError("The view is empty: there are no samples to evaluate. "
                                   "Clear the filters or choose another view.")


def check_eval_key(dataset, eval_key, paths, owned_by=lambda config: (), defer_values=False):
    """Refuses a key used by an evaluation ``evaluate_model`` did not create, or
    whose field ``paths`` hold values no run owns. ``owned_by(config)`` names
    the fields of an existing run of ours that its analysis run did not record.

    Values of undeclared paths take a scan of the samples; with
    ``defer_values`` it is left to the caller (who scans the samples anyway):
    the paths to check are returned, for :func:`refuse_taken`."""
    owned = set()
    if dataset.has_evaluation(eval_key):
        config = dataset.get_evaluation_info(eval_key).config
        if ANALYSIS_METRIC not in (getattr(config, "custom_metrics", None) or ()):
            raise EvaluationInputError(
                "eval_key '%s' is already used by a %s evaluation (method '%s') that evaluate_model "
                "did not create. Choose another eval_key, or delete it first with "
                "dataset.delete_evaluation('%s')." % (eval_key, config.type, config.method, eval_key)
            )
        owned.update(owned_by(config))
    if analysis_run_key(eval_key) in dataset.list_runs():
        config = dataset.get_run_info(analysis_run_key(eval_key)).config
        owned.update(getattr(config, "fields", None) or ())
    paths = [p for p in paths if p not in owned]
    declared = [p for p in paths if dataset.has_field(p)]
    undeclared = [p for p in paths if p not in declared]
    if defer_values:
        refuse_taken(eval_key, declared)
        return undeclared
    refuse_taken(eval_key, declared + labels_io.existing_values(dataset, undeclared))
    return []


def refuse_taken(eval_key, taken):
    """Raises when ``taken`` (fields a run of ``eval_key`` would write) hold values."""
    if taken:
        raise EvaluationInputError(
            "eval_key '%s' would overwrite existing values that no evaluation owns: %s. Choose "
            "another eval_key (or rename or delete those values first)." % (
                eval_key, ", ".join(taken))
        )


_JSON_SCALARS = (str, int, float, bool, type(None))


def save_fiftyone_results(eval_method, samples, key, results):
    """``eval_method.save_run_results(samples, key, results)``, writing the
    same bytes with the standard library's C encoder when the results hold
    only JSON types: FiftyOne's ``json_util.dumps`` first copies every element
    of the results' lists in Python (seconds, and the peak of memory, at 100k
    labels). Anything else goes through FiftyOne unchanged."""
    doc = results.serialize()
    if not _json_native(doc):
        return eval_method.save_run_results(samples, key, results)
    run_doc = eval_method._get_run_doc(samples, key)
    if run_doc.results:
        run_doc.results.delete()
    _write_json(run_doc.results, doc)
    run_doc.results_meta = dict(results.get_meta() or {})
    getattr(samples._root_dataset, eval_method._results_cache_field())[key] = results
    run_doc.save()


def _write_json(proxy, doc):
    """Writes ``json.dumps(doc).encode()`` to the GridFS file of ``proxy`` one
    top-level value at a time (the same bytes), so the peak of memory is the
    text of the largest value rather than of the whole document."""
    proxy.new_file(content_type="application/json")
    try:
        if not doc:
            proxy.write(b"{}")
        for k, (name, value) in enumerate(doc.items()):
            piece = ("{" if k == 0 else ", ") + json.dumps(name) + ": " + json.dumps(value)
            proxy.write((piece + ("}" if k == len(doc) - 1 else "")).encode())
    finally:
        proxy.close()


def _json_native(obj):
    """Whether ``obj`` is made of dicts (``serialize`` gives ordered ones) with
    string keys, lists and JSON scalars only (exact types: numpy scalars and
    BSON types are not)."""
    if isinstance(obj, dict):
        return all(type(k) is str and _json_native(v) for k, v in obj.items())
    if type(obj) in (list, tuple):
        types = set(map(type, obj))
        if types.issubset(_JSON_SCALARS):
            return True
        return all(_json_native(v) for v in obj)
    return type(obj) in _JSON_SCALARS
