"""The ``evaluation_explorer`` panel: a model's quality, one click from its examples.

Thin by design: numbers come from the stored engine analysis (no database scan,
:mod:`.runs`), sections from :mod:`.sections` and :mod:`.figures`, the objects
behind a number from :mod:`.selection`. Classification and segmentation runs
go, by one dispatch on the run's task, to :mod:`.task_explorer` and their
section builders, drawn by the same browser component. Panel state holds only the user's
choices (also saved in the execution store per dataset, so they survive
closing the panel and reloading the page); what is computed from them lives in
:mod:`.explorer_memory` in this process, keyed by panel. Every change of a panel's
state makes the App save its spaces and reload its page query (0.2-1.6 s
here), so updates avoid it.

Every section that follows the confidence and the IoU (summary, the App's view,
slider, curves, class bars, confusion matrix, per-class table, recommendations,
error types, PR curves) is drawn in the browser by ``components.js`` from
every slider step of every IoU, sent once per class order: the panel's IoU
with the first render, the others when the browser asks (``on_preload``). The
slider and the IoU selector report to Python by events (``on_confidence``,
``on_iou``) that update only what Python holds (:data:`BROWSER_KEYS`), with
no render. The App calls ``on_change`` after every state change and
``on_change_view`` after every view change: both redraw only when the view
differs from the one last drawn.
"""

import json
import zlib
import fiftyone.operators as foo
import fiftyone.operators.types as types
from fiftyone.operators.store import ExecutionStore

from ..operators import detection_run, eval_target, run_store
from ..plugin import coco
from . import (clicked_views, explorer_memory as memory, figures, history_section, sections,
               selection, task_explorer, texts, what_if)
from .explorer_memory import CHOICE_KEYS
from .compare_section import CompareSection
from .slices_section import SlicesSection
from .runs import (drop_orphans, explorer_runs, load, load_fast, rerun_prompt, staleness,
                   unfinished)

EVALUATE_URI = "@error-atlas/error-atlas/evaluate_model"
IOU_CHOICES = ["%.2f" % t for t in coco.IOU_THRESHOLDS]
TOP_CLASSES = 20
STORE = "error_atlas_explorer"
# Chosen in the browser (components.js) and sent as events, which update
# this process's memory and the store only: writing them to the panel state
# would make the App save its spaces and reload its page query on every move.
BROWSER_KEYS = ("confidence", "iou")
BROWSER_EVENTS = ("on_confidence", "on_iou")
_outputs = memory.outputs  # panel id -> what the panel shows (tests and benchmarks read it)


class EvaluationExplorer(SlicesSection, CompareSection, history_section.HistorySection,
                         what_if.WhatIfSection,
                         foo.Panel):
    @property
    def config(self):
        return foo.PanelConfig(name="evaluation_explorer", label="Evaluation explorer",
                               icon="insights", surfaces="grid")

    # -- lifecycle -------------------------------------------------------------

    def on_load(self, ctx):
        drop_orphans(ctx.dataset)
        history_section.forget(ctx.dataset_name)
        runs = explorer_runs(ctx.dataset)
        saved = ctx.store(STORE).get(str(ctx.dataset._doc.id)) or {}
        key = saved.get("eval_key") if saved.get("eval_key") in runs else (runs[-1] if runs else None)
        if key is None:
            ctx.panel.state.set("eval_key", None)
            return
        choices = {"iou": "0.50", "confidence": None, "sort": "errors", "show_all": False,
                   "mode": selection.OBJECTS, "example_kind": "both", **saved, "eval_key": key}
        if choices["eval_key"] != saved.get("eval_key"):
            choices.update(confidence=None, example_class=None)
        if not self._unfinished(ctx, key, runs):
            self._refresh(ctx, choices, check_stale=True, moved=True)

    def on_change_dataset(self, ctx):
        self.on_load(ctx)

    def on_change_view(self, ctx):
        """The App's view changed (a filter, a selection in the vector explorer,
        a click here): the "In the App's view" section follows it. The App also
        calls this when it reloads an unchanged view: nothing to do then."""
        if memory.moved(ctx):
            self._refresh(ctx, self._choices(ctx))

    def execute(self, ctx):
        # The App calls on_change after every state change, this panel's own
        # updates included: answer those without re-rendering (a re-render
        # redraws every plot in the App). The slider and the IoU selector are
        # drawn in the browser, which already shows their every step: their
        # events only update what Python remembers, with no render.
        method = ctx.params.get("__method__")
        if method in task_explorer.EVENTS and self._task(ctx) != "detection":
            # classification and segmentation runs: their builder answers clicks
            task_explorer.handle(self, ctx, method, memory.tell)
            if method != "on_preload":
                ctx.ops.show_panel_output(self.render(ctx))
            return None
        if method in ("on_change", "on_change_view") and (
                ctx.panel.state.unfinished or not memory.moved(ctx)):
            return None
        if method in BROWSER_EVENTS:
            getattr(self, method)(ctx)
            # The browser draws slider steps, and the confusion matrix of up to
            # LIVE_CONFUSION_MAX classes; an off-grid confidence (an optimum) at a
            # new IoU, or a larger matrix, needs Python's current point
            out = self._shown(ctx)
            conf = out["choices"]["confidence"]
            if (method == "on_iou" and abs(conf * 100 - round(conf * 100)) > 1e-6) or \
                    len(out["matrix_classes"]) > figures.LIVE_CONFUSION_MAX:
                ctx.ops.show_panel_output(self.render(ctx))
            return None
        return super().execute(ctx)

    def on_change(self, ctx):
        """The App changed the panel's state: redraw if the view moved since."""
        if memory.moved(ctx):
            self._refresh(ctx, self._choices(ctx))

    def _what_if_run(self, ctx):
        """The what-if section scores at the shown run's thresholds."""
        return None, ctx.panel.state.eval_key

    def render(self, ctx):
        panel = types.Object()
        state = ctx.panel.state
        # the runs listed when the panel (re)loaded: no database read per event
        runs = state.runs if state.eval_key and state.runs else explorer_runs(ctx.dataset)
        if not runs or not state.eval_key:
            panel.md("### No evaluation yet\nRun **evaluate_model** to compare a prediction field "
                     "with ground truth; results appear here.", name="empty")
            panel.btn("evaluate", label="Evaluate a model", variant="contained",
                      on_click=self.on_evaluate)
            return types.Property(panel, view=types.GridView(orientation="vertical", gap=2))
        if state.unfinished:
            panel.enum("eval_key", runs, default=state.eval_key, label="Evaluation",
                       view=types.DropdownView(), on_change=self.on_choose_run)
            panel.view("unfinished", types.Warning(label=state.unfinished))
            panel.btn("rerun", label="Re-run", variant="contained", on_click=self.on_rerun)
            return types.Property(panel, view=types.GridView(orientation="vertical", gap=2))

        out = self._shown(ctx)
        # Inputs live at the top level so their state paths are their names.
        # Plots are composite views: the App otherwise copies their data into the
        # panel state when it changes, and every state change makes it save its
        # spaces and reload its page query.
        panel.enum("eval_key", runs, default=state.eval_key, label="Evaluation",
                   view=types.DropdownView(), on_change=self.on_choose_run)
        if state.stale:
            panel.view("stale", types.Warning(label=state.stale))
        if out.get("task", "detection") != "detection":
            rendered = task_explorer.render(self, ctx, panel, out)
            self.render_slices(ctx, panel, out)  # Slices and Compare: every task
            self.render_compare(ctx, panel, out)
            history_section.render(self, ctx, panel, out["task"])
            return rendered
        # Every section that follows the confidence is drawn in the browser
        # (panels/components.js) from every slider step's numbers: the
        # summary, the slider, the curves, the class bars and the confusion
        # matrix here, the table, recommendations and error types in the
        # details below. Releasing the slider calls on_confidence.
        panel.obj(out["op_key"], view=types.View(
            component="OperatingPoint", composite_view=True, current=out["current"],
            group=ctx.panel.id, iou=out["choices"]["iou"], iou_choices=IOU_CHOICES,
            on_threshold_click=self.on_threshold_click, on_class_click=self.on_class_click,
            on_cell_click=self.on_cell_click, on_confidence=self.on_confidence,
            on_iou=self.on_iou, on_preload=self.on_preload, on_back_to_optimal=self.on_back_to_optimal,
            on_evaluate=self.on_evaluate, on_save_thresholds=self.on_save_thresholds,
            notice=(out.get("notice") or {}).get("thresholds")))

        panel.md("##### Classes shown", name="table_title")
        panel.enum("sort", ["errors", "AP", "f1", "recall", "precision", "support", "class"],
                   default=state.sort, label="Sort classes by", view=types.DropdownView(),
                   on_change=self.on_sort)
        panel.enum("mode", [selection.OBJECTS, selection.SAMPLES], default=state.mode,
                   label="Clicks show", view=types.DropdownView(), on_change=self.on_mode)
        # one toggle for the bars, the table and the matrix: dozens of classes
        # there are unreadable and make every App update slower
        panel.bool("show_all", default=bool(state.show_all),
                   label="All classes in the bars, the table and the confusion matrix (default: "
                   "the first %d in this order, the %d most confused)" % (TOP_CLASSES, TOP_CLASSES),
                   on_change=self.on_show_all)
        panel.str("class_filter", default=state.class_filter, label="Only classes containing "
                  "(comma-separated, e.g. 'car, truck'; bars, table, matrix and curves)",
                  on_change=self.on_class_filter)
        panel.obj("op_details", view=types.View(
            component="OperatingPointDetails", composite_view=True, group=ctx.panel.id,
            on_class_click=self.on_class_click, on_recommendation=self.on_recommendation,
            on_error_click=self.on_error_click))

        panel.plot("delta_ap", layout=out["delta_ap_layout"], composite_view=True,
                   config={"displayModeBar": False})
        panel.md("##### Error examples", name="examples_title")
        panel.enum("example_class", out.get("class_names") or [], default=state.example_class,
                   label="Class", view=types.DropdownView(), on_change=self.on_example_choice)
        panel.enum("example_kind", ["both", "fp", "fn"], default=state.example_kind,
                   label="Errors (fp: false detections, fn: missed)", view=types.DropdownView(),
                   on_change=self.on_example_choice)
        ex = panel.h_stack("examples", align_y="center")
        ex.btn("show_examples", label="Show", on_click=self.on_show_examples)
        ex.btn("tag_examples", label="Tag shown as needs_review", on_click=self.on_tag_examples)
        told = (out.get("notice") or {}).get("examples")
        if told:
            panel.md(told, name="examples_notice")
        self.render_slices(ctx, panel, out)
        self.render_compare(ctx, panel, out)
        history_section.render(self, ctx, panel, "detection")
        self.render_what_if(panel, state)
        return types.Property(panel, view=types.GridView(orientation="vertical", gap=2))

    # -- choices -----------------------------------------------------------------

    def on_choose_run(self, ctx):
        if self._unfinished(ctx, ctx.params["value"], explorer_runs(ctx.dataset)):
            return
        self._refresh(ctx, {**self._choices(ctx), "eval_key": ctx.params["value"],
                            "confidence": None, "example_class": None}, check_stale=True, moved=True)

    def on_confidence(self, ctx):
        """The slider (drawn in the browser) was released at ``value``."""
        self._refresh(ctx, {**self._choices(ctx), "confidence": float(ctx.params["value"])})

    def on_iou(self, ctx):
        """The IoU threshold chosen next to the slider (in the browser)."""
        self._refresh(ctx, {**self._choices(ctx), "iou": ctx.params["value"]})

    def on_threshold_click(self, ctx):
        self._refresh(ctx, {**self._choices(ctx), "confidence": float(ctx.params["x"])}, moved=True)

    def on_back_to_optimal(self, ctx):
        self._refresh(ctx, {**self._choices(ctx), "confidence": None}, moved=True)

    def on_sort(self, ctx):
        self._refresh(ctx, {**self._choices(ctx), "sort": ctx.params["value"]})

    def on_mode(self, ctx):
        self._refresh(ctx, {**self._choices(ctx), "mode": ctx.params["value"]})

    def on_show_all(self, ctx):
        self._refresh(ctx, {**self._choices(ctx), "show_all": bool(ctx.params["value"])})

    def on_class_filter(self, ctx):
        self._refresh(ctx, {**self._choices(ctx), "class_filter": ctx.params.get("value") or None})

    def on_example_choice(self, ctx):
        name = ctx.params["path"].split(".")[-1]
        self._refresh(ctx, {**self._choices(ctx), name: ctx.params["value"]})

    def on_evaluate(self, ctx):
        params = {}
        if ctx.panel.state.eval_key:
            key = ctx.panel.state.eval_key
            pred_field, gt_field = run_store.run_fields(ctx.dataset, key)
            if detection_run.analysis_source(ctx.dataset, key) == "fiftyone":
                key += "_ea"  # evaluate_model never replaces a FiftyOne run
            params = {"pred_field": pred_field, "gt_field": gt_field, "eval_key": key}
            if ctx.has_custom_view and clicked_views.shows_a_click(ctx):
                # objects a click here showed (patches, or samples with only
                # those labels): evaluate the run's own images again
                params[eval_target.RUN_VIEW] = ctx.panel.state.eval_key
            elif ctx.has_custom_view:
                # the App shows a view: evaluate it, under its own key by default
                params.update(view_target="CURRENT_VIEW", eval_key=key + "_view")
        ctx.prompt(EVALUATE_URI, params=params, on_success=self.on_load)

    def on_rerun(self, ctx):
        """Re-runs an unfinished run with its own parameters (and view)."""
        params = rerun_prompt(ctx, ctx.panel.state.eval_key)
        ctx.prompt(EVALUATE_URI, params=params, on_success=self.on_load)

    def _unfinished(self, ctx, key, runs):
        """Shows run ``key`` as unfinished if it is; False (and cleared) otherwise."""
        state = unfinished(ctx.dataset, key)
        ctx.panel.state.set({"unfinished": state["message"], "runs": runs, "eval_key": key}
                            if state else {"unfinished": None})
        return bool(state)

    # -- clicks that show objects ---------------------------------------------------

    def on_cell_click(self, ctx):
        ev, a, config = self._current(ctx)
        K = ev.num_classes
        names = ev.classes
        row = K if ctx.params.get("y") == figures.NOT_AN_OBJECT else selection.as_index(ctx.params.get("y"), names)
        col = K if ctx.params.get("x") == figures.NOT_DETECTED else selection.as_index(ctx.params.get("x"), names)
        if row is None or col is None:
            return
        self._show(ctx, config, *selection.cell_ids(ev, a, row, col), paired=True)

    def on_class_click(self, ctx):
        self._show_class(ctx, ctx.params.get("x"), "both")

    def on_error_click(self, ctx):
        ev, a, config = self._current(ctx)
        self._show(ctx, config, *selection.error_ids(ev, a, ctx.params.get("x")))

    def on_show_examples(self, ctx):
        state = ctx.panel.state
        if state.example_class:
            self._show_class(ctx, state.example_class, state.example_kind or "both")

    def on_tag_examples(self, ctx):
        state = ctx.panel.state
        if not state.example_class:
            ctx.ops.notify("Choose a class first", variant="warning")
            return
        ev, a, config = self._current(ctx)
        k = selection.as_index(state.example_class, ev.classes)
        preds, gts = selection.class_error_ids(ev, a, k, state.example_kind or "both")
        n = selection.tag_objects(ctx.dataset, config, preds, gts, "needs_review")
        memory.tell(ctx, "examples", texts.tagged_md(n, len(preds), len(gts), state.example_class,
                                               self._shown(ctx)["choices"]))

    def on_recommendation(self, ctx):
        """A recommendation's Show button: its ``show`` (from the browser, which
        draws the recommendations of the slider's step) or its ``index`` among
        those of the panel's operating point."""
        show = ctx.params.get("show")
        if show is None:
            recs = self._shown(ctx).get("recommendations") or []
            i = ctx.params.get("index")
            if i is None or i >= len(recs):
                return
            show = recs[i]["show"]
        ev, a, config = self._current(ctx)
        if "error" in show:
            self._show(ctx, config, *selection.error_ids(ev, a, show["error"]))
        elif "cell" in show:
            self._show(ctx, config, *selection.cell_ids(ev, a, *show["cell"]), paired=True)
        elif "class" in show:
            self._show_class(ctx, show["class"], "both")

    def on_save_thresholds(self, ctx):
        ev, _, _ = self._current(ctx)
        best = ev.optimal_thresholds(float(self._choices(ctx)["iou"] or 0.5))["per_class"]
        detection_run.save_class_thresholds(ctx.dataset, ctx.panel.state.eval_key, best)
        key = ctx.panel.state.eval_key
        memory.tell(ctx, "thresholds", texts.thresholds_saved_md(
            best, key, detection_run.analysis_run_key(key), self._choices(ctx)["iou"] or "0.50"))

    # -- helpers ----------------------------------------------------------------------

    def _choices(self, ctx):
        """The user's choices: the panel state's, with the confidence and IoU
        this process last heard of (from the browser's events, never written
        to the panel state: see :data:`BROWSER_KEYS`)."""
        state = ctx.panel.state
        choices = {k: state.get(k) for k in CHOICE_KEYS}
        held = _outputs.get(ctx.panel.id)
        if held and held["choices"]["eval_key"] == choices["eval_key"]:
            choices.update({k: held["choices"][k] for k in BROWSER_KEYS})
        return choices

    def _task(self, ctx):
        """The task of the panel's run (its analysis run's kind)."""
        out = _outputs.get(ctx.panel.id)
        if out is not None and out["choices"]["eval_key"] == ctx.panel.state.eval_key:
            return out.get("task", "detection")
        if not ctx.panel.state.eval_key or ctx.panel.state.unfinished:
            return "detection"
        return load_fast(ctx, ctx.panel.state.eval_key)[1]["task"]

    def _current(self, ctx):
        choices = self._shown(ctx)["choices"]
        ev, _ = load(ctx.dataset, choices["eval_key"])
        config = ctx.dataset.get_evaluation_info(choices["eval_key"]).config
        return ev, ev.assess(float(choices["iou"]), choices["confidence"]), config

    def _show_class(self, ctx, name, which):
        ev, a, config = self._current(ctx)
        k = selection.as_index(name, ev.classes)
        if k is not None:
            self._show(ctx, config, *selection.class_error_ids(ev, a, k, which))

    def _show(self, ctx, config, pred_ids, gt_ids, paired=False):
        mode = ctx.panel.state.mode or selection.OBJECTS
        ev, info = load_fast(ctx, ctx.panel.state.eval_key)
        if "samples_of" not in info:  # label id -> sample id, once per loaded run
            info["samples_of"] = selection.label_index(ev)
        view = selection.objects_view(ctx.dataset, config, pred_ids, gt_ids, mode, paired=paired,
                                      samples_of=info["samples_of"])
        clicked_views.remember(ctx.panel.id, view)
        ctx.ops.set_view(view)

    def on_preload(self, ctx):
        """The browser drew the panel: send every other IoU's steps, so that an
        IoU chosen next to the slider is drawn at once, without a round trip."""
        out = self._shown(ctx)
        held = out.get("data", {}).get(out["op_key"])
        if not held or ctx.params.get("revision") != held.get("revision"):
            return  # a request of a class order since replaced
        ev, info = load_fast(ctx, ctx.panel.state.eval_key)
        members = memory.view_members(ctx, ev, ctx.panel.state.eval_key, info)
        patch = self._steps_patch(ev, info, out, coco.IOU_THRESHOLDS, out["choices"]["confidence"],
                                  members, out["ious"])
        if patch:
            memory.apply_patch(out["data"], patch)
            ctx.panel.data.set(patch)

    def _steps_patch(self, ev, info, out, ious, confidence, members, sent):
        """Panel-data patches giving the browser the steps of these IoUs for the
        App's current view; ``sent`` (IoU key -> the view its texts are for) is
        updated. Other IoUs' view texts, if stale, are dropped (the browser then
        shows the view section once Python has answered that IoU)."""
        key, view = out["op_key"], out["steps_view"]
        patch = {}
        for iou in ious:
            ikey = sections.iou_key(iou)
            if ikey not in sent:
                patch["%s.ious.%s" % (key, ikey)] = sections.iou_steps(
                    ev, iou, confidence, bar_classes=out["bar_classes"],
                    matrix_classes=out["matrix_classes"], members=members,
                    num_images=info["num_images"], covers=info["covers"],
                    pr_classes=out["pr_classes"])
            elif sent[ikey] != view:
                patch["%s.ious.%s.sections.view" % (key, ikey)] = sections.at_confidences(
                    ev, iou, figures.CONFIDENCE_GRID, num_images=info["num_images"],
                    covers=info["covers"], table_classes=out["bar_classes"], members=members)["view"]
            sent[ikey] = view
        for ikey, was in sent.items():
            if was != view:
                patch["%s.ious.%s.sections.view" % (key, ikey)] = None
                sent[ikey] = False if view is False else "stale"
        return patch

    def _refresh(self, ctx, choices, check_stale=False, moved=False):
        """Recomputes every section for the user's choices and sends them.

        Staleness, the list of runs and the run's freshness need the database,
        so they are checked only when a run is (re)loaded; other changes (slider,
        IoU, sorting...) use the cached run and never touch ``ctx.dataset``."""
        choices, out, data = self._compute(ctx, choices, check_stale=check_stale)
        prev = _outputs.get(ctx.panel.id) or {}
        # ``moved``: Python set the confidence itself, and the browser's slider follows
        count = (prev.get("current") or {}).get("moved", 0)
        out["current"]["moved"] = count + 1 if moved else count
        key = out["op_key"]
        if key in data:  # a new class order: its own key; the old steps are dropped
            out["data"] = {}
            if prev.get("op_key") and prev["op_key"] != key:
                data[prev["op_key"]] = None
        else:
            out["data"] = prev["data"]
        memory.apply_patch(out["data"], data)
        memory.remember(ctx.panel.id, out)
        extra = {k: out[k] for k in ("stale", "runs") if k in out}
        # The App merges new lists into its copies slot by slot: clear first what could
        # leave stale items behind (unknown in a new process: clear all). A slider
        # move (same lengths) sends no clearing patch.
        old = ctx.panel.state
        to_clear = [k for k in extra if not memory.covers(extra[k], old.get(k))]
        # Choices the App sent unchanged are not sent back: the user may have moved
        # the slider again while this update was on its way, and a patch would
        # overwrite that newer value in the App's state. A released slider patches
        # only the confidence, after the browser has drawn it.
        patch = {k: v for k, v in choices.items() if old.get(k) != v and k not in BROWSER_KEYS}
        patch.update(extra)
        if to_clear:
            ctx.panel.state.set({k: None for k in to_clear})
        if patch:
            ctx.panel.state.set(patch)
        if data:
            ctx.panel.data.set(data)
        # ctx.store() would load the dataset; the run's cached dataset id is enough
        dataset_id = out["dataset_id"]
        ExecutionStore.create(STORE, dataset_id).set(str(dataset_id), choices)

    def _shown(self, ctx):
        """What the panel shows for the choices in its state: remembered from the
        last update, or computed again (another server process, another tab)."""
        out = _outputs.get(ctx.panel.id)
        choices = self._choices(ctx)
        if out is None or memory.choice_key(out["choices"]) != memory.choice_key(choices):
            prev = out
            choices, out, data = self._compute(ctx, choices)
            if prev and prev.get("data") and prev["op_key"] == out["op_key"]:
                # what the App holds (the patches computed here were not sent)
                out["data"], out["ious"] = prev["data"], prev["ious"]
            memory.remember(ctx.panel.id, out)
        return out

    def _compute(self, ctx, choices, check_stale=False):
        """``(choices, outputs, plot data)`` for the user's choices; ``choices``
        come back complete (IoU as text, the optimal confidence filled in)."""
        if check_stale:
            ev, info = load(ctx.dataset, choices["eval_key"])
        else:
            ev, info = load_fast(ctx, choices["eval_key"])
        if info["task"] != "detection":  # the one dispatch on the task
            choices, out, data = task_explorer.compute(
                ctx, ev, info, {k: choices.get(k) for k in CHOICE_KEYS}, _outputs.get(ctx.panel.id),
                check_stale, TOP_CLASSES, memory.view_key(ctx))
            if check_stale:
                out.update(staleness(ctx.dataset, choices["eval_key"], info))
            return choices, out, data
        iou = float(choices.get("iou") or "0.50")
        overall, _ = ev.sweeps(iou)
        optimal = overall.optimal()
        conf = choices.get("confidence")
        conf_value = float(conf) if conf is not None else (optimal["confidence"] if optimal else 0.0)
        choices = {**{k: choices.get(k) for k in CHOICE_KEYS}, "iou": "%.2f" % iou,
                   "confidence": conf_value}
        n_images = info["num_images"]
        members = memory.view_members(ctx, ev, choices["eval_key"], info)
        # every section at this confidence (all classes' rows: they order the classes)
        now = sections.at_confidences(ev, iou, [conf_value], num_images=n_images,
                                      covers=info["covers"], table_classes=range(ev.num_classes),
                                      members=members)
        rows = now["rows"][0]
        keep = figures.match_classes(ev.classes, choices.get("class_filter"))
        shown_classes = rows if keep is None else [rows[k] for k in keep]
        sorted_rows = figures.sort_rows(shown_classes, choices.get("sort") or "errors",
                                        descending=(choices.get("sort") or "errors") in ("errors", "support"))

        delta_ap_traces, delta_ap_layout = figures.delta_ap_figure(
            info.get("delta_ap") or ev.delta_ap(0.5))
        # The classes shown and their order are kept while only the confidence
        # or the IoU moves, so the bars do not jump under the slider and the
        # browser keeps every step's numbers: sent once per order and IoU, under
        # a key per order (the App replaces a key it is sent; dotted paths inside
        # it are set in place)
        order_key = json.dumps([choices["eval_key"], str(info.get("written_at")),
                                choices.get("sort"), bool(choices.get("show_all")),
                                choices.get("class_filter")])
        # the steps' texts about the App's view follow the view
        steps_view = members is not None and memory.view_key(ctx)
        prev = _outputs.get(ctx.panel.id)
        data = {}
        # a (re)loaded page has no data yet: everything goes out again
        if not check_stale and prev is not None and prev.get("order_key") == order_key \
                and prev.get("data"):
            bar_classes, matrix_classes = prev["bar_classes"], prev["matrix_classes"]
            op_key, ious = prev["op_key"], dict(prev["ious"])
            pr_classes = prev["pr_classes"]
        else:
            shown = sorted_rows if choices.get("show_all") else sorted_rows[:TOP_CLASSES]
            index = {name: k for k, name in enumerate(ev.classes)}
            bar_classes = [index[r["class"]] for r in shown]
            _, _, matrix_classes = figures.confusion_figure(
                ev.assess(iou, conf_value).confusion, ev.classes,
                None if choices.get("show_all") else TOP_CLASSES, keep=keep)
            revision = "%08x" % zlib.crc32(order_key.encode())
            op_key, ious = "op_" + revision, {}
            pr_classes = None if keep is None else [ev.classes[k] for k in keep[:8]]
            data[op_key] = {"revision": revision, "ious": {}}
            data["delta_ap"] = delta_ap_traces  # the run's, whatever the choices
        out = {"order_key": order_key, "bar_classes": bar_classes, "matrix_classes": matrix_classes,
               "op_key": op_key, "pr_classes": pr_classes, "steps_view": steps_view}
        patch = self._steps_patch(ev, info, out, [iou], conf_value, members, ious)
        if op_key in data:  # inside the new key itself
            memory.apply_patch(data[op_key], {k[len(op_key) + 1:]: v for k, v in patch.items()})
        else:
            data.update(patch)
        current = figures.operating_point_at(ev, iou, conf_value, bar_classes, matrix_classes,
                                             confusion=now["confusion"][0])
        current["sections"] = sections.browser_current(now, bar_classes)
        out.update({
            "choices": choices, "dataset_id": info["dataset_id"],
            "summary_md": now["summary"][0], "view_md": now["view"] and now["view"][0],
            "recommendations": now["recommendations"][0], "more_recommendations": now["more"][0],
            "class_order": [ev.classes[k] for k in bar_classes],
            "class_names": ev.classes,
            "drawn": {"iou": "%.2f" % iou, "confidence": conf_value, "view": memory.view_key(ctx)},
            "current": current, "ious": ious,
            "delta_ap_layout": delta_ap_layout,
        })
        if check_stale:
            out.update(staleness(ctx.dataset, choices["eval_key"], info))
        return choices, out, data
