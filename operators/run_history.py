"""The runs of a dataset over time, for the History and the report.

Each finished ``evaluate_model`` run keeps its model, its time and its history
record (:func:`plugin.history.record`) on its analysis run's config, so the
history reads a few small documents and never the stored analyses. Runs made
before records existed, and analyses of FiftyOne's own runs, get their record
computed from the stored analysis once per call (not written back: the panel
never writes the dataset to draw).
"""

from datetime import datetime, timezone

from ..plugin import history
from . import run_store, segmentation_run


def runs(dataset, task=None):
    """Finished runs (of ``task`` if given), oldest first: dicts with ``key``,
    ``task``, ``time`` (ISO, UTC), ``model_name``, ``model_version``,
    ``pred_field``, ``gt_field`` and ``metrics`` (the history record). Every
    task's run has an analysis run (multi-label runs have no FiftyOne
    evaluation): the runs are listed from those."""
    out = []
    prefix = run_store.analysis_run_key("")
    for name in dataset.list_runs():
        key = name[len(prefix):]
        if not name.startswith(prefix) or run_store.run_status(dataset, key) != "completed":
            continue
        info = dataset.get_run_info(name)
        config = info.config
        kind = getattr(config, "kind", None) or "detection"
        if task is not None and kind != task:
            continue
        fields = run_fields(dataset, key)
        record = getattr(config, "history", None) or _record(dataset, key, kind, fields)
        started = getattr(config, "started_at", None) or _iso(info.timestamp)
        out.append({
            "key": key, "task": kind, "time": started,
            "model_name": getattr(config, "model_name", None) or fields["pred_field"],
            "model_version": getattr(config, "model_version", None),
            "pred_field": fields["pred_field"], "gt_field": fields["gt_field"],
            "metrics": record,
        })
    out.sort(key=lambda r: (r["time"] or "", r["key"]))
    return out


def run_fields(dataset, key):
    """``{"pred_field", "gt_field", "iou"}`` of a run: from its request, else
    (analyses of FiftyOne's runs) from FiftyOne's evaluation."""
    request = run_store.run_request(dataset, key) or {}
    if dataset.has_evaluation(key):
        config = dataset.get_evaluation_info(key).config
        request = dict({"pred_field": config.pred_field, "gt_field": config.gt_field,
                        "iou": getattr(config, "iou", None)}, **request)
    return {"pred_field": request.get("pred_field"), "gt_field": request.get("gt_field"),
            "iou": float(request.get("iou") or 0.5)}


def _record(dataset, key, task, fields):
    """The history record of a run that has none stored, from its analysis."""
    stored = run_store.analysis_info(dataset, key)
    confidence = stored["confidence"]
    if task == "segmentation":
        ev = segmentation_run.load_analysis(dataset, key)
        summary = segmentation_run.summarize(ev)
        return history.record(task, summary, summary["per_class"], ev.num_images)
    ev = run_store.load_analysis(dataset, key)
    if task == "classification":
        return history.record(task, ev.summary(confidence), ev.per_class(confidence),
                              int(ev.gt_label.size))
    if task == "multilabel":
        return history.record(task, ev.summary(confidence), ev.per_class(confidence),
                              int(ev.gt.shape[0]))
    iou = fields["iou"]
    return history.record(task, ev.summary(iou, confidence), ev.per_class(confidence, iou=iou),
                          len(ev.image_ids))


def _iso(stamp):
    if stamp is None:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.astimezone(timezone.utc).isoformat()


def label(run):
    """How a run is named in the History and the report: ``model version (key)``."""
    model = run["model_name"] + (" " + run["model_version"] if run.get("model_version") else "")
    return "%s (%s)" % (model, run["key"])


def when(run):
    """The run's time as ``YYYY-MM-DD HH:MM`` UTC."""
    if not run.get("time"):
        return "–"
    return datetime.fromisoformat(run["time"]).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M")
