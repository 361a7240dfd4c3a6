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
    ``pred_field``, ``gt_field`` and ``metrics`` (the history record)."""
    out = []
    for key in dataset.list_evaluations():
        if run_store.run_status(dataset, key) != "completed":
            continue
        info = dataset.get_run_info(run_store.analysis_run_key(key))
        config = info.config
        kind = getattr(config, "kind", None) or "detection"
        if task is not None and kind != task:
            continue
        eval_config = dataset.get_evaluation_info(key).config
        record = getattr(config, "history", None) or _record(dataset, key, kind, eval_config)
        started = getattr(config, "started_at", None) or _iso(info.timestamp)
        out.append({
            "key": key, "task": kind, "time": started,
            "model_name": getattr(config, "model_name", None) or eval_config.pred_field,
            "model_version": getattr(config, "model_version", None),
            "pred_field": eval_config.pred_field, "gt_field": eval_config.gt_field,
            "metrics": record,
        })
    out.sort(key=lambda r: (r["time"] or "", r["key"]))
    return out


def _record(dataset, key, task, eval_config):
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
    iou = float(getattr(eval_config, "iou", 0.5) or 0.5)
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
