"""Production monitoring's numbers, aggregated in MongoDB: one pipeline per model and period.

A *monitor* watches prediction-only samples (production traffic) with a
datetime field (``created_at`` by default), one prediction field per model
(Detections, Classification or Classifications), and optionally an inference
time field and custom metadata fields (device, site, camera...). Its
settings, alert rules and fired history are kept in the dataset's info under
:data:`INFO_KEY` (:func:`load_settings`, :func:`save_settings`).

:func:`period_stats` answers the headline (requests = samples, mean confidence
over the period's predicted labels, mean inference time, each with its %
change against the previous period of the same length), the per-class counts
and shares, the per-model numbers (a ``model`` field) and the time buckets, in
one ``$match`` on the time range (indexed) and a ``$facet``: no Python loop
over samples.
"""

from datetime import datetime, timedelta, timezone

import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
from fiftyone import ViewField as F

from ..plugin import monitoring
from . import monitor_rollup
from .errors import EvaluationInputError

INFO_KEY = "error_atlas_monitor"
WHAT_IF_PREFIX = "what_if"
DEFAULTS = {"time_field": "created_at", "pred_fields": None, "inference_field": "inference_time",
            "model_field": None, "eval_dataset": None, "eval_key": None, "map_key": None,
            "rules": [], "history": []}
#: Fired alerts kept in the history (oldest dropped first), and sample ids kept per alert.
MAX_HISTORY = 200
MAX_ALERT_SAMPLES = 100
_BUCKET_STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}
_LIST_PATHS = {fol.Detections: "detections", fol.Classifications: "classifications",
               fol.Polylines: "polylines", fol.Keypoints: "keypoints"}


def load_settings(dataset):
    """The monitor's settings on ``dataset`` with defaults, the prediction fields detected
    when not set (every label field with a confidence)."""
    stored = dict((dataset.info or {}).get(INFO_KEY) or {})
    settings = {**DEFAULTS, **stored}
    if not settings["pred_fields"]:
        settings["pred_fields"] = prediction_fields(dataset)
    return settings


def save_settings(dataset, **changes):
    """Updates the stored settings (rules, history, fields...) and saves the dataset."""
    info = dict(dataset.info or {})
    info[INFO_KEY] = {**DEFAULTS, **dict(info.get(INFO_KEY) or {}), **changes}
    dataset.info = info
    dataset.save()
    return info[INFO_KEY]


def prediction_fields(dataset):
    """Label fields whose labels carry a confidence: Detections, Classification(s)."""
    out = []
    for name, field in dataset.get_field_schema(embedded_doc_type=fol.Label).items():
        if name.startswith(WHAT_IF_PREFIX):  # score_images' predictions are not traffic
            continue
        if field.document_type in (fol.Detections, fol.Classification, fol.Classifications):
            out.append(name)
    return out


def metadata_fields(dataset, settings):
    """Custom string / bool / int fields that filter the inference table (device, site...)."""
    skip = {"filepath", "id", "tags", settings["time_field"], settings["inference_field"],
            *settings["pred_fields"]}
    out = []
    for name, field in dataset.get_field_schema().items():
        if name in skip or name.startswith("_") or name.endswith(("_x", "_y", "_cluster")):
            continue
        if isinstance(field, (fof.StringField, fof.BooleanField)):
            out.append(name)
    if settings.get("model_field") and settings["model_field"] not in out:
        out.append(settings["model_field"])
    return out


def check_settings(dataset, settings):
    """Clear errors, before anything is read or written, for a missing time or prediction field."""
    tf = settings["time_field"]
    field = dataset.get_field(tf) if tf else None
    if not isinstance(field, (fof.DateTimeField, fof.DateField)):
        dates = [n for n, f in dataset.get_field_schema().items()
                 if isinstance(f, (fof.DateTimeField, fof.DateField))]
        raise EvaluationInputError(
            "time_field '%s' is not a datetime field of this dataset. Choose one of: %s (or add "
            "one: dataset.add_sample_field('created_at', fo.DateTimeField))."
            % (tf, ", ".join(dates) or "none on this dataset"))
    if not settings["pred_fields"]:
        raise EvaluationInputError(
            "No prediction field: the monitor needs a Detections or Classification(s) field "
            "with confidences (pred_fields=['predictions']).")
    for name in settings["pred_fields"]:
        if name not in prediction_fields(dataset):
            raise EvaluationInputError(
                "pred_field '%s' is not a Detections or Classification(s) field. Choose one of: "
                "%s." % (name, ", ".join(prediction_fields(dataset)) or "none"))


def label_paths(dataset, pred_field):
    """``(confidence path, label path)`` of a prediction field's labels (lists for
    Detections / Classifications, scalars for a Classification)."""
    kind = dataset.get_field(pred_field).document_type
    base = pred_field + ("." + _LIST_PATHS[kind] if kind in _LIST_PATHS else "")
    return base + ".confidence", base + ".label"


def _as_list(path):
    """An aggregation expression: the values at ``path`` as an array without nulls."""
    ref = "$" + path
    wrapped = {"$cond": [{"$isArray": ref}, ref, [ref]]}
    return {"$filter": {"input": wrapped, "cond": {"$ne": [{"$ifNull": ["$$this", None]}, None]}}}


def match_stage(settings, start, end, filters=None):
    """The ``$match`` of a time range and metadata filters (``{field: value}``)."""
    query = {settings["time_field"]: {"$gte": start, "$lt": end}}
    for name, value in (filters or {}).items():
        if value not in (None, ""):
            query[name] = value
    return {"$match": query}


def period_stats(view, settings, start, end, pred_field=None, filters=None, unit=None,
                 previous=True):
    """The numbers of ``[start, end)`` and the previous period for one model.

    Returns a dict: ``requests``, ``mean_confidence`` (over the predicted labels),
    ``mean_inference_time``, ``labels`` (number of predicted labels), the same for the
    previous period under ``previous``, their % changes under ``change``, ``classes``
    (:func:`monitoring.class_shares` rows), ``models`` (per value of the model field),
    ``unit`` and ``buckets`` (one per non-empty bucket: start, requests, mean
    confidence, mean inference time, class counts).
    """
    dataset = view._dataset
    pred_field = pred_field or settings["pred_fields"][0]
    conf_path, label_path = label_paths(dataset, pred_field)
    tf = settings["time_field"]
    unit = unit or monitoring.bucket_unit(start, end)
    prev_start = monitoring.previous_period(start, end)[0] if previous else start
    bucket = {"$dateTrunc": {"date": "$t", "unit": unit, "startOfWeek": "monday"}}
    project = {"t": "$" + tf, "cur": {"$gte": ["$" + tf, start]},
               "conf": _as_list(conf_path), "labels": _as_list(label_path)}
    if settings.get("inference_field") and dataset.has_field(settings["inference_field"]):
        project["inf"] = "$" + settings["inference_field"]
    model = settings.get("model_field")
    rolled = (settings.get("rollup", True) and not getattr(view, "_stages", None)
              and monitor_rollup.on_the_hour(prev_start, start, end))
    dims = monitor_rollup.rollup_dims(dataset, settings, pred_field,
                                      metadata_fields(dataset, settings)) if rolled else []
    rolled = rolled and set(k for k, v in (filters or {}).items()
                            if v not in (None, "")) <= set(dims)
    if rolled:  # hourly sums (see monitor_rollup): the same facets over a few thousand rows
        coll = monitor_rollup.refresh(dataset, settings, pred_field, dims, project, now(),
                                      candidates=metadata_fields(dataset, settings))
        query = monitor_rollup.range_query([(prev_start, start), (start, end)],
                                           daily=unit != "hour")
        query.update({monitor_rollup.dim_name(k): v for k, v in (filters or {}).items()
                      if v not in (None, "")})
        head = [{"$match": query}, {"$addFields": {"t": "$h", "cur": {"$gte": ["$h", start]}}}]
        if model:
            head[1]["$addFields"]["model"] = "$" + monitor_rollup.dim_name(model)
        totals = {f: {"$sum": "$" + f} for f in ("n", "conf_sum", "labels", "inf_sum", "inf_n")}
        only_totals, per_class = [{"$match": {"k": "t"}}], [{"$match": {"k": "c"}}]
        count, label = {"$sum": "$n"}, "$l"
    else:
        if model:
            project["model"] = "$" + model
        head = [match_stage(settings, prev_start, end, filters), {"$project": project}]
        totals = {"n": {"$sum": 1}, "conf_sum": {"$sum": {"$sum": "$conf"}},
                  "labels": {"$sum": {"$size": "$conf"}}, "inf_sum": {"$sum": "$inf"},
                  "inf_n": {"$sum": {"$cond": [{"$isNumber": "$inf"}, 1, 0]}}}
        only_totals, per_class = [], [{"$unwind": "$labels"}]
        count, label = {"$sum": 1}, "$labels"
    facets = {
        "headline": only_totals + [{"$group": {"_id": "$cur", **totals}}],
        "classes": per_class + [{"$group": {"_id": {"c": "$cur", "l": label}, "n": count}}],
        "buckets": only_totals + [{"$match": {"cur": True}}, {"$group": {"_id": bucket, **totals}},
                                  {"$sort": {"_id": 1}}],
        "bucket_classes": per_class + [{"$match": {"cur": True}},
                                       {"$group": {"_id": {"b": bucket, "l": label}, "n": count}}],
    }
    if model:
        facets["models"] = only_totals + [{"$group": {"_id": {"c": "$cur", "m": "$model"},
                                                      **totals}}]
    pipeline = head + [{"$facet": facets}]
    if rolled:
        res = next(iter(coll.aggregate(pipeline)))
    else:
        res = next(iter(view._aggregate(pipeline=pipeline)))
    head = {bool(r["_id"]): _totals(r) for r in res["headline"]}
    cur, prev = head.get(True, _totals(None)), head.get(False, _totals(None))
    counts = {True: {}, False: {}}
    for r in res["classes"]:
        counts[bool(r["_id"]["c"])][r["_id"]["l"]] = r["n"]
    per_bucket = {}
    for r in res["bucket_classes"]:
        per_bucket.setdefault(r["_id"]["b"], {})[r["_id"]["l"]] = r["n"]
    out = dict(cur, pred_field=pred_field, start=start, end=end, unit=unit, rolled_up=bool(rolled),
               previous=prev if previous else None,
               change={k: monitoring.pct_change(cur[k], prev[k]) if previous else None
                       for k in ("requests", "mean_confidence", "mean_inference_time")},
               classes=monitoring.class_shares(counts[True], counts[False] if previous else {}),
               buckets=[dict(_totals(r), start=r["_id"], classes=per_bucket.get(r["_id"], {}))
                        for r in res["buckets"]])
    if model:
        models = {}
        for r in res["models"]:
            models.setdefault(r["_id"].get("m"), {})[bool(r["_id"]["c"])] = _totals(r)
        out["models"] = [dict(models[m].get(True, _totals(None)), model=m,
                              change={k: monitoring.pct_change(
                                  models[m].get(True, _totals(None))[k],
                                  models[m].get(False, _totals(None))[k])
                                  for k in ("requests", "mean_confidence", "mean_inference_time")})
                         for m in sorted(models, key=lambda m: str(m))]
    return out


def _totals(r):
    if r is None:
        return {"requests": 0, "labels": 0, "mean_confidence": None, "mean_inference_time": None}
    return {"requests": int(r["n"]), "labels": int(r["labels"]),
            "mean_confidence": r["conf_sum"] / r["labels"] if r["labels"] else None,
            "mean_inference_time": r["inf_sum"] / r["inf_n"] if r["inf_n"] else None}


def time_range(view, settings):
    """``(first, last)`` timestamps of the view (None, None when empty)."""
    first, last = view.bounds(settings["time_field"])
    return first, last


def period(view, settings, name="week", end=None, start=None):
    """``(start, end)`` of a named period; ``end`` defaults to just after the latest
    timestamp, so a period always holds the newest predictions."""
    first, last = time_range(view, settings)
    if last is None:
        raise EvaluationInputError("The view has no sample with a '%s' timestamp."
                                   % settings["time_field"])
    # on the hour, just after the newest prediction: the hourly roll-ups answer whole hours
    end = end or (last.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1))
    if name == "all":
        first = first.replace(minute=0, second=0, microsecond=0)
    try:
        return monitoring.period_bounds(name, end, first=first, start=start)
    except ValueError as e:
        raise EvaluationInputError(str(e))


def in_range(view, settings, start, end, filters=None):
    """The view's samples of ``[start, end)`` passing the metadata filters, newest first."""
    tf = settings["time_field"]
    out = view.match((F(tf) >= start) & (F(tf) < end))
    for name, value in (filters or {}).items():
        if value not in (None, ""):
            out = out.match(F(name) == value)
    return out.sort_by(tf, reverse=True)


def bucket_view(view, settings, bucket_start, unit, filters=None):
    """The samples of one time-plot bucket (a bar's click)."""
    return in_range(view, settings, bucket_start, bucket_start + _BUCKET_STEP[unit], filters)


def recent(view, settings, start, end, filters=None, limit=50, pred_field=None):
    """Rows of the inference table: the newest ``limit`` samples of the period with their
    time, model field, metadata, number of labels, classes and top confidence."""
    dataset = view._dataset
    pred_field = pred_field or settings["pred_fields"][0]
    conf_path, label_path = label_paths(dataset, pred_field)
    sub = in_range(view, settings, start, end, filters).limit(limit)
    meta = metadata_fields(dataset, settings)
    inf = settings.get("inference_field")
    paths = ["id", settings["time_field"], conf_path, label_path] + meta + (
        [inf] if inf and dataset.has_field(inf) else [])
    columns = sub.values(paths)
    rows = []
    for values in zip(*columns):
        v = dict(zip(paths, values))
        conf = _listed(v[conf_path])
        labels = _listed(v[label_path])
        rows.append({"id": v["id"], "time": v[settings["time_field"]],
                     "labels": len(labels), "classes": ", ".join(sorted(set(map(str, labels)))),
                     "top_confidence": max(conf) if conf else None,
                     "inference_time": v.get(inf) if inf else None,
                     **{m: v[m] for m in meta}})
    return rows


def _listed(value):
    if value is None:
        return []
    return [x for x in (value if isinstance(value, list) else [value]) if x is not None]


def ensure_time_index(dataset, settings):
    """An index on the time field, so every period is a range scan."""
    tf = settings["time_field"]
    if tf not in dataset.list_indexes():
        dataset.create_index(tf)


def now():
    return datetime.now(timezone.utc).replace(tzinfo=None)
