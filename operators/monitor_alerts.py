"""Alert rules of a monitor and ``check_alerts``: which fired for a period, on which samples.

Rules and the fired history live with the monitor's settings in the dataset's
info (:mod:`.monitoring`). :func:`check_alerts` computes the period's numbers
(and drift / failure-cluster shares when a rule needs them and the monitor
names an error map), evaluates every rule (:func:`plugin.monitoring.evaluate_rules`)
and appends each fired one to the history with the samples it concerns: the
period's lowest-confidence samples, those holding the class whose share moved,
those placed in the failure cluster, or the period's newest samples.
"""

import uuid

from fiftyone import ViewField as F

from ..plugin import monitoring as engine
from . import monitor_map, monitoring
from .errors import EvaluationInputError


def add_rule(dataset, kind, threshold, class_name=None, name=None):
    """Stores a new rule; returns it (with its ``id``)."""
    try:
        rule = engine.check_rule({"kind": kind, "threshold": threshold, "class": class_name or None,
                                  **({"name": name} if name else {})})
    except ValueError as e:
        raise EvaluationInputError(str(e))
    rule["id"] = uuid.uuid4().hex[:8]
    settings = monitoring.load_settings(dataset)
    monitoring.save_settings(dataset, rules=list(settings["rules"]) + [rule])
    return rule


def delete_rule(dataset, rule_id):
    settings = monitoring.load_settings(dataset)
    monitoring.save_settings(dataset, rules=[r for r in settings["rules"] if r["id"] != rule_id])


def check_alerts(view, period="week", end=None, start=None, filters=None, record=True,
                 settings=None):
    """Evaluates every rule on the period; appends the fired ones to the history.

    Returns ``{"start", "end", "results": [...], "fired": [...]}`` (results as
    :func:`plugin.monitoring.evaluate_rules`, each fired one with its ``sample_ids``).
    """
    dataset = view._dataset
    settings = settings or monitoring.load_settings(dataset)
    monitoring.check_settings(dataset, settings)
    rules = settings["rules"]
    start, end = monitoring.period(view, settings, period, end=end, start=start)
    stats = monitoring.period_stats(view, settings, start, end, filters=filters)
    values = {"mean_confidence": stats["mean_confidence"], "requests": stats["requests"],
              "previous_requests": stats["previous"]["requests"], "classes": stats["classes"]}
    kinds = {r["kind"] for r in rules}
    current = monitoring.in_range(view, settings, start, end, filters)
    placed = None
    if kinds & {"drift_above", "cluster_share_above"} and settings.get("map_key") \
            and len(current) >= 2:
        eval_ds = monitor_map.load_eval_dataset(settings, dataset)
        if "drift_above" in kinds:
            values["drift"] = monitor_map.drift(current, eval_ds, settings["map_key"])["score"]
        if "cluster_share_above" in kinds:
            placed = monitor_map.place_period(current, eval_ds, settings["map_key"])
            values["cluster_shares"] = placed["failure_cluster_shares"]
    results = engine.evaluate_rules(rules, values)
    fired = []
    for r in results:
        if r["fired"]:
            ids = _samples(current, settings, r, placed)
            fired.append(dict(r, sample_ids=ids, start=start, end=end,
                              fired_at=monitoring.now(), rule_id=r["rule"].get("id")))
    if record and fired:
        history = list(settings["history"]) + [_stored(f) for f in fired]
        monitoring.save_settings(dataset, history=history[-monitoring.MAX_HISTORY:])
    return {"start": start, "end": end, "results": results, "fired": fired}


def _stored(f):
    return {"rule_id": f["rule_id"], "name": f["rule"]["name"], "kind": f["rule"]["kind"],
            "message": f["message"], "value": f["value"], "subject": f["subject"],
            "start": f["start"], "end": f["end"], "fired_at": f["fired_at"],
            "sample_ids": f["sample_ids"]}


def _samples(current, settings, result, placed):
    """The ids of the samples an alert concerns (at most MAX_ALERT_SAMPLES)."""
    kind, limit = result["rule"]["kind"], monitoring.MAX_ALERT_SAMPLES
    conf_path, label_path = monitoring.label_paths(current._dataset, settings["pred_fields"][0])
    listed = conf_path.rsplit(".", 1)[0] != settings["pred_fields"][0]
    labels = F(conf_path.rsplit(".", 1)[0])
    if kind == "mean_confidence_below":
        key = labels.map(F("confidence")).mean() if listed else F(conf_path)
        return current.sort_by(key).limit(limit).values("id")
    if kind == "class_share_change" and result["subject"] is not None:
        has = (labels.filter(F("label") == result["subject"]).length() > 0 if listed
               else F(label_path) == result["subject"])
        return current.match(has).limit(limit).values("id")
    if kind == "cluster_share_above" and placed is not None:
        name = monitor_map.placed_fields(settings["map_key"])[0]
        return current.match(F(name) == int(result["subject"])).limit(limit).values("id")
    return current.limit(limit).values("id")


def history_view(dataset, entry):
    """The samples of one fired alert."""
    return dataset.select(entry.get("sample_ids") or [])

