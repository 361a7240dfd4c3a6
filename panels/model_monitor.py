"""The model monitor panel: production predictions over time, alerts, drift and the error map.

Thin over the monitoring operators' modules: each refresh runs one MongoDB
pipeline per model for the chosen period (:func:`..operators.monitoring.period_stats`)
and sends the tables as markdown and the plots' traces as panel data. A bar's
click shows its bucket's samples in the grid, a row of the inference table opens
its sample in FiftyOne's modal, a fired alert's row shows its samples.
"""

from datetime import datetime

import numpy as np

import fiftyone.operators as foo
import fiftyone.operators.types as types

from ..operators import monitor_alerts, monitor_map, monitoring
from ..operators.errors import EvaluationInputError
from . import monitor_sections as sections
from . import what_if

PERIODS = ("day", "week", "month", "all")
CHECK_ALERTS = "@error-atlas/error-atlas/check_alerts"
RECENT_COLUMNS = (("time", "Time"), ("classes", "Classes"), ("labels", "#"),
                  ("top_confidence", "Top conf."), ("inference_time", "ms"))
HISTORY_COLUMNS = (("fired", "Checked"), ("period_end", "Period end"), ("message", "What fired"),
                   ("samples", "Samples"))
GROWN_COLUMNS = (("cluster", "Cluster"), ("error_rate", "Error rate"),
                 ("period_share", "Period"), ("reference_share", "Evaluated"),
                 ("change", "Change"), ("description", "What its images share"))


def _input(state, stack, name):
    """An input's value: inputs inside a stack keep their value under the stack's name."""
    nested = state.get(stack) if hasattr(state, "get") else getattr(state, stack, None)
    if isinstance(nested, dict) and nested.get(name) is not None:
        return nested[name]
    return state.get(name) if hasattr(state, "get") else getattr(state, name, None)


class ModelMonitor(what_if.WhatIfSection, foo.Panel):
    @property
    def config(self):
        return foo.PanelConfig(name="model_monitor", label="Model monitor", icon="monitor_heart",
                               surfaces="grid")

    # -- loading ------------------------------------------------------------------------

    def on_load(self, ctx):
        self._refresh(ctx)

    def _settings(self, ctx):
        settings = monitoring.load_settings(ctx.dataset)
        try:
            monitoring.check_settings(ctx.dataset, settings)
        except EvaluationInputError as e:
            ctx.panel.state.set({"problem": str(e)})
            return None
        ctx.panel.state.set({"problem": None})
        return settings

    def _period(self, ctx, settings):
        state = ctx.panel.state
        name = state.period or "week"
        if name == "custom":
            try:
                start = datetime.fromisoformat(_input(state, "custom_range", "custom_start"))
                end = datetime.fromisoformat(_input(state, "custom_range", "custom_end"))
                return monitoring.period(ctx.dataset, settings, "custom", end=end, start=start)
            except (TypeError, ValueError, EvaluationInputError):
                ctx.ops.notify("A custom range needs two ISO dates, the first before the "
                               "second (e.g. 2026-11-01 and 2026-11-15)", variant="warning")
                name = "week"
        return monitoring.period(ctx.dataset, settings, name)

    def _refresh(self, ctx):
        settings = self._settings(ctx)
        if settings is None:
            return
        monitoring.ensure_time_index(ctx.dataset, settings)
        if ctx.dataset.bounds(settings["time_field"])[1] is None:
            ctx.panel.state.set({"problem": "No sample has a '%s' timestamp yet."
                                 % settings["time_field"]})
            return
        start, end = self._period(ctx, settings)
        filters = {k: v for k, v in (ctx.panel.state.active_filters or {}).items()
                   if v not in (None, "")}
        stats = monitoring.period_stats(ctx.dataset, settings, start, end, filters=filters)
        per_model = [(stats["pred_field"], stats)]
        for field in settings["pred_fields"][1:]:
            per_model.append((field, monitoring.period_stats(ctx.dataset, settings, start, end,
                                                             pred_field=field, filters=filters)))
        if stats.get("models"):
            per_model = [(str(m["model"]), m) for m in stats["models"]]
        meta = monitoring.metadata_fields(ctx.dataset, settings)
        choices = {m: [str(v) for v in ctx.dataset.distinct(m) if v is not None][:50] for m in meta}
        recent = monitoring.recent(ctx.dataset, settings, start, end, filters=filters)
        last = settings.get("last_drift") or None
        if last and (last.get("start"), last.get("end")) != (start.isoformat(), end.isoformat()):
            last = None
        ctx.panel.state.set({
            "period": ctx.panel.state.period or "week", "start": start.isoformat(),
            "end": end.isoformat(), "unit": stats["unit"], "meta": meta, "meta_choices": choices,
            "headline_md": sections.headline_md(stats, settings),
            "models_md": sections.models_md(per_model),
            "classes_md": sections.classes_md(stats["classes"]),
            "rules_md": sections.rules_md(settings["rules"]),
            "rule_ids": [[r["id"], r["name"]] for r in settings["rules"]],
            "drift_md": sections.drift_md(last), "has_map": bool(settings.get("map_key")),
            "has_drift": bool(last),
        })
        plots = sections.time_plots(stats)  # the plots sit in two stacks: their data paths
        data = {"plots_a": {k: plots[k] for k in ("requests_plot", "confidence_plot")},
                "plots_b": {k: plots[k] for k in ("inference_plot", "classes_plot")}}
        data["recent"] = sections.recent_rows(recent, meta)
        data["history"] = sections.history_rows(settings["history"])
        data["grown"] = sections.grown_rows(last["placement"]) if last else []
        ctx.panel.state.set({"recent_ids": [r["id"] for r in recent],
                             "history_count": len(settings["history"])})
        if last:
            data["map_plot"] = self._map_traces(ctx, settings, start, end)
        # the App merges arrays slot by slot: shorter ones (fewer buckets, rows) replace
        # longer ones only once the old values are cleared
        ctx.panel.state.set({k: None for k in data})
        ctx.panel.data.set(data)

    def _map_traces(self, ctx, settings, start, end):
        eval_ds = monitor_map.load_eval_dataset(settings, ctx.dataset)
        arrays, _ = monitor_map.error_map.load_error_map(eval_ds, settings["map_key"])
        names = monitor_map.placed_fields(settings["map_key"])
        current = monitoring.in_range(ctx.dataset, settings, start, end).exists(names[0])
        xs, ys = current.values([names[1], names[2]])
        new_xy = np.c_[xs, ys] if xs else np.zeros((0, 2))
        return sections.map_traces(arrays["xy"], monitor_map.failed_points(arrays), new_xy)

    # -- events -------------------------------------------------------------------------

    def _set_period(self, ctx, name):
        ctx.panel.state.set({"period": name})
        self._refresh(ctx)

    def on_day(self, ctx):
        self._set_period(ctx, "day")

    def on_week(self, ctx):
        self._set_period(ctx, "week")

    def on_month(self, ctx):
        self._set_period(ctx, "month")

    def on_all(self, ctx):
        self._set_period(ctx, "all")

    def on_custom(self, ctx):
        self._set_period(ctx, "custom")

    def on_filter(self, ctx):
        path, value = ctx.params.get("path", ""), ctx.params.get("value")
        field = path.rsplit(".", 1)[-1].replace("filter_", "", 1)
        filters = dict(ctx.panel.state.active_filters or {})
        filters[field] = None if value in (None, "", "(all)") else value
        ctx.panel.state.set({"active_filters": filters})
        self._refresh(ctx)

    def on_bucket(self, ctx):
        """A bar's click: that bucket's samples (with the filters) in the grid."""
        x = ctx.params.get("x")
        settings = monitoring.load_settings(ctx.dataset)
        try:
            bucket = datetime.fromisoformat(str(x).replace("Z", "").replace(" ", "T"))
        except ValueError:
            return
        unit = ctx.panel.state.unit or "day"
        view = monitoring.bucket_view(ctx.dataset, settings, bucket, unit,
                                      ctx.panel.state.active_filters or {})
        ctx.ops.set_view(view)

    def on_recent_row(self, ctx):
        ids = ctx.panel.state.recent_ids or []
        row = ctx.params.get("row")
        if row is not None and 0 <= int(row) < len(ids):
            ctx.ops.open_sample(id=ids[int(row)])

    def on_history_row(self, ctx):
        history = monitoring.load_settings(ctx.dataset)["history"]
        row = ctx.params.get("row")
        newest_first = list(reversed(history[-30:]))
        if row is not None and 0 <= int(row) < len(newest_first):
            ctx.ops.set_view(monitor_alerts.history_view(ctx.dataset, newest_first[int(row)]))

    def on_add_rule(self, ctx):
        state = ctx.panel.state
        try:
            monitor_alerts.add_rule(
                ctx.dataset, _input(state, "rule_form", "rule_kind") or "mean_confidence_below",
                _input(state, "rule_form", "rule_threshold"),
                class_name=_input(state, "rule_form", "rule_class"))
        except EvaluationInputError as e:
            ctx.ops.notify(str(e), variant="error")
            return
        self._refresh(ctx)

    def on_delete_rule(self, ctx):
        ids = [i for i, _ in ctx.panel.state.rule_ids or []]
        target = _input(ctx.panel.state, "rule_delete", "rule_to_delete")
        if target in ids:
            monitor_alerts.delete_rule(ctx.dataset, target)
            self._refresh(ctx)

    def on_check_alerts(self, ctx):
        try:
            out = monitor_alerts.check_alerts(ctx.dataset, period="custom",
                                              start=datetime.fromisoformat(ctx.panel.state.start),
                                              end=datetime.fromisoformat(ctx.panel.state.end),
                                              filters=ctx.panel.state.active_filters or {})
        except EvaluationInputError as e:
            ctx.ops.notify(str(e), variant="error")
            return
        fired = out["fired"]
        ctx.ops.notify("%d alert%s fired" % (len(fired), "" if len(fired) == 1 else "s")
                       if fired else "No alert fired", variant="warning" if fired else "success")
        self._refresh(ctx)

    def on_drift(self, ctx):
        settings = monitoring.load_settings(ctx.dataset)
        if not settings.get("map_key"):
            ctx.ops.notify("Name the evaluation's error map first: run monitor_drift with "
                           "eval_dataset and map_key", variant="warning")
            return
        start = datetime.fromisoformat(ctx.panel.state.start)
        end = datetime.fromisoformat(ctx.panel.state.end)
        try:
            current = monitoring.in_range(ctx.dataset, settings, start, end)
            eval_ds = monitor_map.load_eval_dataset(settings, ctx.dataset)
            drift = monitor_map.drift(current, eval_ds, settings["map_key"])
            placed = monitor_map.place_period(current, eval_ds, settings["map_key"])
        except EvaluationInputError as e:
            ctx.ops.notify(str(e), variant="error")
            return
        from ..operators.monitor_ops import _jsonable

        result = {"start": start.isoformat(), "end": end.isoformat(), "drift": drift,
                  "placement": {k: placed[k] for k in ("expected_error_rate",
                                                       "reference_error_rate", "n_period",
                                                       "clusters", "failure_cluster_shares")}}
        monitoring.save_settings(ctx.dataset, last_drift=_jsonable(result))
        self._refresh(ctx)

    def on_grown_row(self, ctx):
        """The period's images placed in the clicked cluster."""
        settings = monitoring.load_settings(ctx.dataset)
        last = settings.get("last_drift") or {}
        rows = (last.get("placement") or {}).get("clusters") or []
        row = ctx.params.get("row")
        if row is None or not 0 <= int(row) < len(rows):
            return
        from fiftyone import ViewField as F

        start = datetime.fromisoformat(ctx.panel.state.start)
        end = datetime.fromisoformat(ctx.panel.state.end)
        name = monitor_map.placed_fields(settings["map_key"])[0]
        view = monitoring.in_range(ctx.dataset, settings, start, end).match(
            F(name) == int(rows[int(row)]["cluster"]))
        ctx.ops.set_view(view)

    def _what_if_run(self, ctx):
        """The what-if section scores at the monitor's error map's run's thresholds."""
        return what_if.run_thresholds(monitoring.load_settings(ctx.dataset), ctx.dataset)

    def on_clear(self, ctx):
        ctx.ops.clear_view()

    # -- layout -------------------------------------------------------------------------

    def render(self, ctx):
        panel = types.Object()
        state = ctx.panel.state
        if state.problem:
            panel.md("### Model monitor\n%s" % state.problem, name="problem")
            return types.Property(panel, view=types.GridView(orientation="vertical", gap=2))
        bar = panel.h_stack("periods", align_y="center", gap=1)
        for name in PERIODS:
            bar.btn("period_" + name, label=name.capitalize(), on_click=getattr(self, "on_" + name),
                    variant="contained" if (state.period or "week") == name else "outlined")
        custom = panel.h_stack("custom_range", align_y="center", gap=1)
        custom.str("custom_start", label="From (ISO date)")
        custom.str("custom_end", label="To")
        custom.btn("period_custom", label="Range", on_click=self.on_custom,
                variant="contained" if state.period == "custom" else "outlined")
        filters = panel.h_stack("filters", align_y="center", gap=1)
        for m in state.meta or []:
            choices = types.DropdownView()
            for v in ["(all)"] + list((state.meta_choices or {}).get(m, [])):
                choices.add_choice(v, label=v)
            filters.enum("filter_" + m, ["(all)"] + list((state.meta_choices or {}).get(m, [])),
                         default=(state.active_filters or {}).get(m) or "(all)", label=m,
                         view=choices,
                         on_change=self.on_filter)
        filters.btn("clear_view", label="Clear grid", on_click=self.on_clear)
        panel.md(state.headline_md or "", name="headline_md")
        panel.md(state.models_md or "", name="models_md")
        panel.md(state.classes_md or "", name="classes_md")
        span = dict(start=state.start, end=state.end)
        plots = panel.v_stack("plots_a", gap=1)
        plots.plot("requests_plot", layout=sections.plot_layout("Requests", **span),
                   config={"displayModeBar": False, "scrollZoom": False}, on_click=self.on_bucket)
        plots.plot("confidence_plot", layout=sections.plot_layout("Mean confidence", **span),
                   config={"displayModeBar": False, "scrollZoom": False}, on_click=self.on_bucket)
        plots = panel.v_stack("plots_b", gap=1)
        plots.plot("inference_plot",
                   layout=sections.plot_layout("Mean inference time (ms)", **span),
                   config={"displayModeBar": False, "scrollZoom": False}, on_click=self.on_bucket)
        plots.plot("classes_plot", layout=sections.plot_layout("Class mix", stacked=True, **span),
                   config={"displayModeBar": False, "scrollZoom": False}, on_click=self.on_bucket)
        panel.md("#### Recent predictions (a row opens the sample)", name="recent_title")
        table = types.TableView(on_click_row=self.on_recent_row)
        for key, label in RECENT_COLUMNS + tuple((m, m) for m in state.meta or []):
            table.add_column(key, label=label)
        panel.list("recent", types.Object(), view=table)
        self._render_alerts(panel, state)
        self._render_drift(panel, state)
        self.render_what_if(panel, state)
        return types.Property(panel, view=types.GridView(orientation="vertical", gap=2))

    def _render_alerts(self, panel, state):
        panel.md("#### Alert rules\n" + (state.rules_md or ""), name="rules_md")
        form = panel.h_stack("rule_form", align_y="center", gap=1)
        kinds = types.DropdownView()
        for kind, label in sections.RULE_CHOICES:
            kinds.add_choice(kind, label=label)
        form.enum("rule_kind", [k for k, _ in sections.RULE_CHOICES],
                  default="mean_confidence_below", label="Rule", view=kinds)
        form.float("rule_threshold", label="Threshold")
        form.str("rule_class", label="Class (optional)")
        form.btn("add_rule", label="Add rule", on_click=self.on_add_rule)
        form.btn("check_alerts", label="Check alerts now", variant="contained",
                 on_click=self.on_check_alerts)
        if state.rule_ids:
            delete = panel.h_stack("rule_delete", align_y="center", gap=1)
            menu = types.DropdownView()
            for rid, name in state.rule_ids:
                menu.add_choice(rid, label=name)
            delete.enum("rule_to_delete", [r for r, _ in state.rule_ids], label="Rule", view=menu)
            delete.btn("delete_rule", label="Delete rule", on_click=self.on_delete_rule)
        panel.md("#### Fired alerts (a row shows its samples)", name="history_title")
        table = types.TableView(on_click_row=self.on_history_row)
        for key, label in HISTORY_COLUMNS:
            table.add_column(key, label=label)
        panel.list("history", types.Object(), view=table)

    def _render_drift(self, panel, state):
        panel.md("#### Drift and expected error rate\n" + (state.drift_md or ""), name="drift_md")
        if state.has_map:
            panel.btn("drift", label="Check drift for this period", on_click=self.on_drift)
        if state.has_drift:
            panel.md("Clusters of the error map whose share grew (a row shows the period's "
                     "images in it):", name="grown_title")
            table = types.TableView(on_click_row=self.on_grown_row)
            for key, label in GROWN_COLUMNS:
                table.add_column(key, label=label)
            panel.list("grown", types.Object(), view=table)
            panel.plot("map_plot", layout={
                "title": {"text": "This period's images on the error map", "font": {"size": 12}},
                "height": 320, "margin": {"l": 30, "r": 10, "t": 28, "b": 30},
                "legend": {"orientation": "h", "y": -0.1, "font": {"size": 9}},
                "xaxis": {"showticklabels": False}, "yaxis": {"showticklabels": False}},
                config={"displayModeBar": False, "scrollZoom": False})

