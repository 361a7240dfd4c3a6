"""The monitoring operators: ``check_alerts`` and ``monitor_drift``, thin over their modules.

Both run from the App (form, delegated execution: schedule ``check_alerts``
with FiftyOne's delegated operations, e.g. a cron calling
``fiftyone delegated launch`` after queueing it) and from Python
(``foo.get_operator(uri)(dataset, ...)``).
"""

from datetime import datetime

import fiftyone.operators as foo
import fiftyone.operators.types as types

from . import monitor_alerts, monitor_map, monitoring, sdk
from .errors import EvaluationInputError

PERIOD_CHOICES = ("day", "week", "month", "all")


def _settings_inputs(ctx, inputs):
    settings = monitoring.load_settings(ctx.dataset)
    inputs.str("time_field", default=settings["time_field"], label="Time field")
    inputs.str("pred_field", default=(settings["pred_fields"] or [None])[0],
               label="Prediction field")
    periods = types.RadioGroup()
    for p in PERIOD_CHOICES:
        periods.add_choice(p, label=p)
    inputs.str("period", default="week", label="Period (ending at the newest prediction)",
               view=periods)
    return settings


def _apply_settings(ctx):
    """``(settings, changes)``: the stored settings with the time / prediction / map fields
    given with the call, checked; the caller stores ``changes`` once it succeeded."""
    p, changes = ctx.params, {}
    if p.get("time_field"):
        changes["time_field"] = p["time_field"]
    if p.get("pred_field"):
        changes["pred_fields"] = [p["pred_field"]]
    for name in ("eval_dataset", "map_key", "inference_field", "model_field"):
        if p.get(name):
            changes[name] = p[name]
    settings = {**monitoring.load_settings(ctx.dataset), **changes}
    monitoring.check_settings(ctx.dataset, settings)
    return settings, changes


def _end(value):
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise EvaluationInputError("end '%s' is not an ISO date-time, e.g. 2026-03-01T00:00"
                                   % value)


class CheckAlerts(foo.Operator):
    """Checks the monitor's alert rules on a period and records those that fire."""

    @property
    def config(self):
        return foo.OperatorConfig(
            name="check_alerts", label="Error Atlas: check alerts",
            description="Evaluate the production monitor's alert rules on the latest period",
            dynamic=True, allow_immediate_execution=True, allow_delegated_execution=True)

    def __call__(self, sample_collection, period="week", end=None, time_field=None,
                 pred_field=None, eval_dataset=None, map_key=None, delegate=False):
        """Runs from Python; returns ``{"start", "end", "fired": [...], "results": [...]}``.

        Args:
            sample_collection: the production samples (dataset or view)
            period: ``"day"``, ``"week"``, ``"month"`` or ``"all"``, ending at ``end``
            end: ISO date-time or datetime (default: just after the newest prediction)
            time_field, pred_field, eval_dataset, map_key: stored as the monitor's settings
            delegate: queue as a delegated operation
        """
        params = dict(period=period, end=end.isoformat() if isinstance(end, datetime) else end,
                      time_field=time_field, pred_field=pred_field, eval_dataset=eval_dataset,
                      map_key=map_key)
        return sdk.run(self, sample_collection, params, delegate)

    def resolve_input(self, ctx):
        inputs = types.Object()
        _settings_inputs(ctx, inputs)
        inputs.str("end", label="End (ISO date-time; empty: the newest prediction)")
        return types.Property(inputs, view=types.View(label="Check alerts"))

    def execute(self, ctx):
        if ctx.params.get("period", "week") not in PERIOD_CHOICES:
            raise EvaluationInputError("period must be one of %s." % ", ".join(PERIOD_CHOICES))
        settings, changes = _apply_settings(ctx)
        out = monitor_alerts.check_alerts(ctx.view, period=ctx.params.get("period", "week"),
                                          end=_end(ctx.params.get("end")), settings=settings)
        if changes:
            monitoring.save_settings(ctx.dataset, **changes)
        return _jsonable(out)


class MonitorDrift(foo.Operator):
    """Drift of a period's images from an evaluation run's, and their place on its error map."""

    @property
    def config(self):
        return foo.OperatorConfig(
            name="monitor_drift", label="Error Atlas: production drift and expected error rate",
            description="Compare a period's images with an error map's evaluated images",
            dynamic=True, allow_immediate_execution=True, allow_delegated_execution=True)

    def __call__(self, sample_collection, eval_dataset=None, map_key="samples_map",
                 period="week", end=None, time_field=None, pred_field=None, delegate=False):
        """Runs from Python; returns ``{"drift": ..., "placement": ...}``.

        Args:
            sample_collection: the production samples
            eval_dataset: the dataset the error map is on (default: the same dataset)
            map_key: a samples-level ``compute_error_map`` map
            period, end, time_field, pred_field: as ``check_alerts``
        """
        params = dict(eval_dataset=eval_dataset, map_key=map_key, period=period,
                      end=end.isoformat() if isinstance(end, datetime) else end,
                      time_field=time_field, pred_field=pred_field)
        return sdk.run(self, sample_collection, params, delegate)

    def resolve_input(self, ctx):
        inputs = types.Object()
        settings = _settings_inputs(ctx, inputs)
        inputs.str("eval_dataset", default=settings.get("eval_dataset") or ctx.dataset.name,
                   label="Dataset of the evaluation run and its error map")
        inputs.str("map_key", default=settings.get("map_key") or "samples_map", label="Error map")
        inputs.str("end", label="End (ISO date-time; empty: the newest prediction)")
        return types.Property(inputs, view=types.View(label="Drift and expected error rate"))

    def execute(self, ctx):
        settings, changes = _apply_settings(ctx)
        view = ctx.view
        start, end = monitoring.period(view, settings, ctx.params.get("period", "week"),
                                       end=_end(ctx.params.get("end")))
        current = monitoring.in_range(view, settings, start, end)
        eval_ds = monitor_map.load_eval_dataset(settings, ctx.dataset)
        map_key = settings.get("map_key") or "samples_map"
        ctx.set_progress(progress=0.1, label="Describing the period's images")
        drift = monitor_map.drift(current, eval_ds, map_key)
        ctx.set_progress(progress=0.7, label="Placing them on the error map")
        placed = monitor_map.place_period(current, eval_ds, map_key)
        result = {"start": start, "end": end, "drift": drift,
                  "placement": {k: placed[k] for k in ("expected_error_rate",
                                                       "reference_error_rate", "n_period",
                                                       "clusters", "failure_cluster_shares")}}
        monitoring.save_settings(ctx.dataset, last_drift=_jsonable(result), **changes)
        return _jsonable(result)


def _jsonable(obj):
    """Datetimes as ISO strings, numpy scalars as Python numbers, int keys as strings."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj

