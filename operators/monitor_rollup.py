"""Hourly roll-ups of a monitor's predictions, so a period's numbers never rescan its samples.

At 1,000,000 predictions over 90 days a week holds ~80,000 samples; reading
them (and the previous week's) takes seconds however the pipeline is written.
A roll-up collection (one per dataset and prediction field, named by
:func:`collection_name`, in FiftyOne's database) holds per hour and per value
of every metadata field (camera, site, model...): requests, summed
confidences, labels, summed inference times, and the labels per class; and
the same per day (``g: "d"``), re-summed from the hours of every day a refresh
touched, so a month is ~60 daily rows per value instead of ~1,440 hourly. It is
built and kept current by MongoDB itself (``$group`` then ``$merge``, adding
to existing hours): each refresh rolls up only the samples *added* since the
last one (FiftyOne's indexed ``created_at``), so late arrivals are counted.

Samples edited or deleted after they were rolled up are not: :func:`drop`
(or a change of the time field or of the metadata fields) rebuilds it. A
period whose bounds are not on the hour is computed from the samples
(:mod:`.monitoring` decides).
"""

from datetime import timedelta

import fiftyone.core.odm as foo_odm

PREFIX = "error_atlas_rollup."
ROLLUPS_KEY = "rollups"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
#: Metadata fields with more distinct values are not roll-up dimensions.
MAX_DIM_VALUES = 100
#: Roll-ups of another layout are rebuilt.
VERSION = 2


def collection_name(dataset, pred_field):
    return "%s%s.%s" % (PREFIX, dataset._doc.id, pred_field)


def rollup_dims(dataset, settings, pred_field, candidates):
    """The metadata fields the roll-up splits by: those with at most :data:`MAX_DIM_VALUES`
    distinct values (a per-request id would make a row per request); a filter on another
    field is answered from the samples. Counted once per set of candidate fields."""
    state = (settings.get(ROLLUPS_KEY) or {}).get(pred_field) or {}
    if state.get("candidates") == list(candidates):
        return state["signature"]["dims"]
    return [f for f in candidates if len(dataset.distinct(f)) <= MAX_DIM_VALUES]


def dim_name(field):
    """A metadata field's name in the roll-up (prefixed: no clash with its own keys)."""
    return "d_" + field.replace(".", "_")


def _roll_days(rollup, name, days, keys):
    """Daily sums of the hourly rows of ``days``, replacing those days' daily rows."""
    if not days:
        return
    sums = {f: {"$sum": "$" + f} for f in ("n", "conf_sum", "labels", "inf_sum", "inf_n")}
    rollup.aggregate([
        {"$match": {"g": "h", "h": {"$gte": min(days), "$lt": max(days) + DAY},  # (g, h) index
                    "day": {"$in": days}}},
        {"$group": {"_id": {"d": "$day", "k": "$k", "l": "$l", **keys}, **sums}},
        {"$set": {"h": "$_id.d", "day": "$_id.d", "k": "$_id.k", "l": "$_id.l", "g": "d",
                  **{k: "$_id." + k for k in keys}}},
        {"$merge": {"into": name, "on": "_id", "whenMatched": "replace",
                    "whenNotMatched": "insert"}}], allowDiskUse=True)


def range_query(bounds, daily):
    """The roll-up rows of the ranges ``[(a, b), ...]`` (on the hour): whole days from the
    daily rows when ``daily``, the hours at either end from the hourly rows."""
    parts = []
    for a, b in bounds:
        d0 = a if a == _floor_day(a) else _floor_day(a) + DAY
        d1 = _floor_day(b)
        if not daily or d0 >= d1:
            parts.append({"g": "h", "h": {"$gte": a, "$lt": b}})
            continue
        parts += [{"g": "h", "h": {"$gte": a, "$lt": d0}}, {"g": "d", "h": {"$gte": d0, "$lt": d1}},
                  {"g": "h", "h": {"$gte": d1, "$lt": b}}]
    return {"$or": parts}


def _floor_day(t):
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def on_the_hour(*times):
    return all(t.minute == 0 and t.second == 0 and t.microsecond == 0 for t in times)


def drop(dataset, settings=None):
    """Removes every roll-up of the dataset (rebuilt on the next use)."""
    from . import monitoring

    db = foo_odm.get_db_conn()
    for name in db.list_collection_names():
        if name.startswith(PREFIX + str(dataset._doc.id) + "."):
            db.drop_collection(name)
    monitoring.save_settings(dataset, **{ROLLUPS_KEY: {}})


def refresh(dataset, settings, pred_field, dims, project, now, candidates=None):
    """Rolls up the samples added since the last refresh; returns the collection.

    ``project``: the ``$project`` of a sample's confidences (``conf``), labels
    (``labels``) and inference time (``inf``) that :mod:`.monitoring` uses.
    """
    from . import monitoring

    db = foo_odm.get_db_conn()
    name = collection_name(dataset, pred_field)
    states = dict(settings.get(ROLLUPS_KEY) or {})
    state = states.get(pred_field)
    signature = {"time_field": settings["time_field"], "dims": list(dims), "version": VERSION}
    if state is None or state.get("signature") != signature:
        db.drop_collection(name)
        since = None
    else:
        since = state["rolled_at"]
    added = {"$lt": now} if since is None else {"$gte": since, "$lt": now}
    tf = settings["time_field"]
    coll = dataset._sample_collection
    candidates = list(dims if candidates is None else candidates)
    if since is not None and coll.find_one({"created_at": added}, {"_id": 1}) is None:
        if state.get("candidates") != candidates:  # counted once, not on every call
            states[pred_field] = dict(state, candidates=candidates)
            monitoring.save_settings(dataset, **{ROLLUPS_KEY: states})
            settings[ROLLUPS_KEY] = states
        return db[name]  # nothing added since the last refresh: one indexed lookup
    hour = {"$dateTrunc": {"date": "$" + tf, "unit": "hour"}}
    proj = dict(project, h=hour, **{dim_name(d): "$" + d for d in dims})
    proj.pop("t", None)
    proj.pop("cur", None)
    keys = {dim_name(d): "$" + dim_name(d) for d in dims}
    totals = {"n": {"$sum": 1}, "conf_sum": {"$sum": {"$sum": "$conf"}},
              "labels": {"$sum": {"$size": "$conf"}}, "inf_sum": {"$sum": "$inf"},
              "inf_n": {"$sum": {"$cond": [{"$isNumber": "$inf"}, 1, 0]}}}
    head = [{"$match": {"created_at": added, tf: {"$ne": None}}}, {"$project": proj}]
    restore = {"h": "$_id.h", "k": "$_id.k", "g": "h", **{k: "$_id." + k for k in keys},
               "day": {"$dateTrunc": {"date": "$_id.h", "unit": "day"}}}

    def merge(fields):
        return {"$merge": {"into": name, "on": "_id", "whenNotMatched": "insert",
                           "whenMatched": [{"$set": {f: {"$add": ["$" + f, "$$new." + f]}
                                                     for f in fields}}]}}

    coll.aggregate(head + [{"$group": {"_id": {"h": "$h", "k": "t", **keys}, **totals}},
                           {"$set": restore}, merge(totals)], allowDiskUse=True)
    coll.aggregate(head + [{"$unwind": "$labels"},
                           {"$group": {"_id": {"h": "$h", "k": "c", "l": "$labels", **keys},
                                       "n": {"$sum": 1}}},
                           {"$set": dict(restore, l="$_id.l")}, merge(["n"])], allowDiskUse=True)
    days = [r["_id"] for r in coll.aggregate(head + [{"$group": {"_id": {"$dateTrunc": {
        "date": "$h", "unit": "day"}}}}])]
    _roll_days(db[name], name, days, keys)
    if since is None:
        db[name].create_index([("g", 1), ("h", 1)])
    states[pred_field] = {"rolled_at": now, "signature": signature, "candidates": candidates}
    monitoring.save_settings(dataset, **{ROLLUPS_KEY: states})
    settings[ROLLUPS_KEY] = states
    return db[name]
