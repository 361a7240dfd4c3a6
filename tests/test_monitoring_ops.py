"""Monitoring aggregations and check_alerts on a real FiftyOne dataset, against direct counts."""

from datetime import datetime, timedelta

import numpy as np
import pytest

import fiftyone as fo
import fiftyone.operators as foo

from tests.taskdata import plugin_module

URI = "@error-atlas/error-atlas/check_alerts"
CLASSES = ("circle", "square", "star")
END = datetime(2026, 3, 2)


def production_dataset(seed=0, n=3000, days=28, name=None):
    """Prediction-only samples over ``days`` days; volume and confidence fall in the last week."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(0, days, n)
    keep = (age > 7) | (rng.random(n) < 0.6)  # 40% fewer requests in the last week
    age = age[keep]
    samples = []
    for a in age:
        last_week = a <= 7
        dets = []
        for _ in range(rng.integers(0, 5)):
            label = CLASSES[int(rng.choice(3, p=[0.2, 0.3, 0.5] if last_week else [0.4, 0.3, 0.3]))]
            conf = float(np.clip(rng.normal(0.55 if last_week else 0.7, 0.15), 0.05, 1))
            dets.append(fo.Detection(label=label, bounding_box=[0.1, 0.1, 0.2, 0.2],
                                     confidence=conf))
        samples.append(fo.Sample(
            filepath="/nonexistent/p%06d.jpg" % len(samples),
            timestamp=END - timedelta(days=float(a)),
            inference_time=float(rng.gamma(4, 5)) if rng.random() > 0.02 else None,
            camera=str(rng.choice(["north", "south"])),
            predictions=fo.Detections(detections=dets)))
    ds = fo.Dataset(name)
    ds.add_samples(samples, progress=False)
    # FiftyOne's own created_at is when a sample was added: the traffic's time is its own field
    plugin_module("operators.monitoring").save_settings(ds, time_field="timestamp")
    return ds


@pytest.fixture(scope="module")
def dataset():
    ds = production_dataset()
    yield ds
    ds.delete()


def direct(ds, start, end, camera=None):
    """The period's numbers from the samples themselves, in Python."""
    rows = [s for s in ds.select_fields(["timestamp", "inference_time", "camera", "predictions"])
            if start <= s.timestamp < end and (camera is None or s.camera == camera)]
    conf = [d.confidence for s in rows for d in s.predictions.detections]
    inf = [s.inference_time for s in rows if s.inference_time is not None]
    labels = [d.label for s in rows for d in s.predictions.detections]
    return {"requests": len(rows), "mean_confidence": float(np.mean(conf)) if conf else None,
            "mean_inference_time": float(np.mean(inf)) if inf else None,
            "classes": {c: labels.count(c) for c in set(labels)}, "rows": rows}


def test_period_stats_match_direct_counts(dataset):
    mon = plugin_module("operators.monitoring")
    settings = mon.load_settings(dataset)
    assert settings["pred_fields"] == ["predictions"]
    start, end = mon.period(dataset, settings, "week", end=END)
    assert (start, end) == (END - timedelta(days=7), END)
    out = mon.period_stats(dataset, settings, start, end)
    cur, prev = direct(dataset, start, end), direct(dataset, start - timedelta(days=7), start)
    assert out["requests"] == cur["requests"] and out["previous"]["requests"] == prev["requests"]
    assert out["mean_confidence"] == pytest.approx(cur["mean_confidence"], rel=1e-9)
    assert out["mean_inference_time"] == pytest.approx(cur["mean_inference_time"], rel=1e-9)
    for key in ("requests", "mean_confidence", "mean_inference_time"):
        assert out["change"][key] == pytest.approx(100 * (cur[key] - prev[key]) / prev[key])
    assert cur["requests"] > 300
    assert out["change"]["requests"] < -25  # the planted drop
    by = {r["class"]: r for r in out["classes"]}
    total = sum(cur["classes"].values())
    for c, n in cur["classes"].items():
        assert by[c]["count"] == n and by[c]["share"] == pytest.approx(100 * n / total)
        assert by[c]["previous"] == prev["classes"].get(c, 0)
    # daily buckets: every request in exactly one, each bucket's count direct
    assert out["unit"] == "day" and sum(b["requests"] for b in out["buckets"]) == cur["requests"]
    b = out["buckets"][2]
    in_bucket = [s for s in cur["rows"]
                 if b["start"] <= s.timestamp < b["start"] + timedelta(days=1)]
    assert b["requests"] == len(in_bucket)
    assert len(mon.bucket_view(dataset, settings, b["start"], "day")) == len(in_bucket)
    assert sum(b["classes"].values()) == sum(len(s.predictions.detections) for s in in_bucket)


def test_filters_and_models(dataset):
    mon = plugin_module("operators.monitoring")
    settings = dict(mon.load_settings(dataset), model_field="camera")
    start, end = END - timedelta(days=7), END
    out = mon.period_stats(dataset, settings, start, end, filters={"camera": "north"})
    cur = direct(dataset, start, end, camera="north")
    assert out["requests"] == cur["requests"]
    assert out["mean_confidence"] == pytest.approx(cur["mean_confidence"])
    assert [m["model"] for m in out["models"]] == ["north"]
    both = mon.period_stats(dataset, settings, start, end)
    assert sum(m["requests"] for m in both["models"]) == both["requests"]
    rows = mon.recent(dataset, settings, start, end, filters={"camera": "south"}, limit=20)
    assert len(rows) == 20 and all(r["camera"] == "south" for r in rows)
    assert [r["time"] for r in rows] == sorted((r["time"] for r in rows), reverse=True)
    assert "camera" in mon.metadata_fields(dataset, settings)


def test_check_alerts_fires_exactly_when_it_should(dataset):
    alerts = plugin_module("operators.monitor_alerts")
    mon = plugin_module("operators.monitoring")
    settings = mon.load_settings(dataset)
    out = mon.period_stats(dataset, settings, END - timedelta(days=7), END)
    conf, drop = out["mean_confidence"], -out["change"]["requests"]
    worst = max(out["classes"], key=lambda r: abs(r["share_change"]))
    for kind, t in (("mean_confidence_below", conf + 1e-6), ("mean_confidence_below", conf),
                    ("volume_drop", drop - 0.01), ("volume_drop", drop),
                    ("class_share_change", abs(worst["share_change"]) - 0.01),
                    ("class_share_change", abs(worst["share_change"]))):
        alerts.add_rule(dataset, kind, t)
    result = foo.get_operator(URI)(dataset, period="week", end=END)
    result = getattr(result, "result", result)
    fired = [r["fired"] for r in result["results"]]
    assert fired == [True, False, True, False, True, False]
    stored = mon.load_settings(dataset)["history"]
    assert len(stored) == 3
    low = stored[0]
    assert low["kind"] == "mean_confidence_below" and len(low["sample_ids"]) == 100
    shifted = next(h for h in stored if h["kind"] == "class_share_change")
    assert shifted["subject"] == worst["class"]
    labels = dataset.select(shifted["sample_ids"]).values("predictions.detections.label")
    assert all(worst["class"] in ls for ls in labels)
    # a second check records again; deleting rules stops them
    for rule in mon.load_settings(dataset)["rules"]:
        alerts.delete_rule(dataset, rule["id"])
    again = foo.get_operator(URI)(dataset, period="week", end=END)
    assert getattr(again, "result", again)["fired"] == []


def test_bad_settings_are_refused_before_any_write():
    ds = fo.Dataset()
    ds.add_sample(fo.Sample(filepath="/nonexistent/a.jpg", predictions=fo.Detections()))
    before = dict(ds.info or {})
    with pytest.raises(Exception, match="time_field 'captured' is not a datetime field"):
        foo.get_operator(URI)(ds, period="week", time_field="captured")
    assert dict(ds.info or {}) == before
    ds.delete()


def _rounded(obj):
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rounded(v) for v in obj]
    return round(obj, 9) if isinstance(obj, float) else obj


def test_hourly_rollups_equal_the_samples_and_count_late_arrivals():
    ds = production_dataset(seed=5, n=1200)
    try:
        mon = plugin_module("operators.monitoring")
        settings = mon.load_settings(ds)
        start, end = END - timedelta(days=7), END
        rolled = mon.period_stats(ds, settings, start, end, filters={"camera": "south"})
        raw = mon.period_stats(ds.view(), dict(settings, rollup=False), start, end,
                               filters={"camera": "south"})
        assert rolled["rolled_up"] and not raw["rolled_up"]
        for key in ("requests", "labels", "previous", "classes", "buckets", "change",
                    "mean_inference_time"):
            assert _rounded(rolled[key]) == _rounded(raw[key]), key
        assert rolled["mean_confidence"] == pytest.approx(raw["mean_confidence"], rel=1e-12)
        # a period ending mid-day: whole days from daily rows, the hours at its ends hourly
        for a, b in ((start - timedelta(hours=5), end - timedelta(hours=5)),
                     (start - timedelta(days=3, hours=7), end - timedelta(hours=7))):
            mid = mon.period_stats(ds, settings, a, b)
            assert mid["rolled_up"]
            assert _rounded(mid) == _rounded(dict(mon.period_stats(
                ds, dict(settings, rollup=False), a, b), rolled_up=True))
        # samples added later, some with old timestamps, are in the next answer
        ds.add_samples([fo.Sample(filepath="/nonexistent/late%d.jpg" % i, camera="south",
                                  timestamp=END - timedelta(days=1 + i), inference_time=3.0,
                                  predictions=fo.Detections(detections=[fo.Detection(
                                      label="star", bounding_box=[0, 0, .1, .1],
                                      confidence=0.9)])) for i in range(3)])
        again = mon.period_stats(ds, mon.load_settings(ds), start, end, filters={"camera": "south"})
        assert again["requests"] == rolled["requests"] + 3
        assert again["requests"] == direct(ds, start, end, camera="south")["requests"]
        # a per-request field is no roll-up dimension: a filter on it reads the samples
        ds.set_values("request", ["r%d" % i for i in range(len(ds))])
        settings = mon.load_settings(ds)
        one = ds.match({"timestamp": {"$gte": start, "$lt": end}}).first()["request"]
        by_request = mon.period_stats(ds, settings, start, end, filters={"request": one})
        assert not by_request["rolled_up"] and by_request["requests"] == 1
        assert mon.period_stats(ds, settings, start, end)["rolled_up"]
        states = mon.load_settings(ds)["rollups"]["predictions"]
        assert "request" not in states["signature"]["dims"] and "request" in states["candidates"]
        # an unaligned period is answered from the samples
        odd = mon.period_stats(ds, settings, start + timedelta(minutes=5), end)
        assert not odd["rolled_up"]
        assert odd["requests"] == direct(ds, start + timedelta(minutes=5), end)["requests"]
    finally:
        plugin_module("operators.monitor_rollup").drop(ds)
        ds.delete()


def test_check_alerts_runs_as_a_scheduled_delegated_operation():
    from fiftyone.operators.delegated import DelegatedOperationService

    ds = production_dataset(seed=7, n=400)
    try:
        plugin_module("operators.monitor_alerts").add_rule(ds, "mean_confidence_below", 0.99)
        queued = foo.get_operator(URI)(ds, period="week", end=END, delegate=True)
        assert queued["run_state"] == "queued"
        assert plugin_module("operators.monitoring").load_settings(ds)["history"] == []
        service = DelegatedOperationService()
        service.execute_operation(service.get(queued["id"]), log=False)
        done = service.get(queued["id"])
        assert done.run_state == "completed", done.result
        ds.reload()
        history = plugin_module("operators.monitoring").load_settings(ds)["history"]
        assert [h["kind"] for h in history] == ["mean_confidence_below"]
    finally:
        ds.delete()


def test_monitor_drift_without_an_error_map_says_which_to_compute(dataset):
    before = dataset.get_field_schema().keys()
    settings = plugin_module("operators.monitoring").load_settings(dataset)
    with pytest.raises(Exception, match="No error map 'nomap'.*compute_error_map"):
        foo.get_operator("@error-atlas/error-atlas/monitor_drift")(
            dataset, map_key="nomap", period="week", end=END)
    assert dataset.get_field_schema().keys() == before
    assert plugin_module("operators.monitoring").load_settings(dataset)["map_key"] == \
        settings["map_key"]
    with pytest.raises(Exception, match="period must be one of"):
        foo.get_operator(URI)(dataset, period="fortnight", end=END)
