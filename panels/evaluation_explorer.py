"""The ``evaluation_explorer`` panel: a model's quality, one click from its examples.

Thin by design: numbers come from the stored engine analysis (no database scan),
figures from :mod:`.figures`, the objects behind a number from :mod:`.selection`.
Panel state holds only the user's choices (also saved in the execution store
per dataset, so they survive closing the panel and reloading the page); what
is computed from them (texts, layouts, recommendations) lives in
:data:`_outputs` in this process, keyed by panel. Every change of a panel's
state makes the App save its spaces and reload its page query (0.2-1.6 s
here), so an update that patches only plot data and the render avoids that.

The confidence slider, the IoU selector and the plots that follow them (curves,
class bars, confusion matrix) are drawn in the browser by ``operating_point.js``
from every slider step's numbers, sent once per IoU and class order; a released
slider or a new IoU comes back as an event (``on_confidence``, ``on_iou``), and
Python redraws the other sections. The App calls ``on_change`` after every
state change and ``on_change_view`` after every view change: both redraw only
when the operating point or the view differ from those last drawn.
"""

import json
import zlib
from collections import OrderedDict
from datetime import datetime

import numpy as np

import fiftyone.operators as foo
import fiftyone.operators.types as types
from fiftyone.operators.store import ExecutionStore

from ..operators import detection_run
from ..plugin import coco
from ..plugin.recommendations import recommend
from . import figures, selection, texts

EVALUATE_URI = "@error-atlas/error-atlas/evaluate_model"
IOU_CHOICES = ["%.2f" % t for t in coco.IOU_THRESHOLDS]
TOP_CLASSES = 20
MAX_RECOMMENDATIONS = 8  # the most severe; many classes can trigger dozens of rules
TABLE_KEYS = ("class", "AP", "AP50", "AP75", "precision", "recall", "f1", "support",
              "optimal_threshold")  # the table's columns: only these go to the App
STORE = "error_atlas_explorer"
CHOICE_KEYS = ("eval_key", "iou", "confidence", "sort", "show_all", "class_filter", "mode",
               "example_class", "example_kind")
_cache = OrderedDict()
_latest = {}  # (dataset name, eval key) -> key in _cache of the run's newest load
_views = OrderedDict()  # (dataset, run, App view) -> the run's objects in that view
_outputs = OrderedDict()  # panel id -> what the panel shows for its current choices
OUTPUT_PANELS = 32


def load(dataset, eval_key):
    """``(analysis, info)`` of a run, cached per (dataset, key, run time).

    ``info`` also holds what the panel shows about the run's view
    (``num_images``, ``covers``) and the dataset's id (for the store)."""
    _ensure_analysis(dataset, eval_key)
    stamp = dataset.get_run_info(detection_run.analysis_run_key(eval_key)).timestamp
    key = (dataset._doc.id, eval_key, stamp)
    if key not in _cache:
        ev = detection_run.load_analysis(dataset, eval_key)
        info = dict(detection_run.analysis_info(dataset, eval_key))
        eval_view = dataset.load_evaluation_view(eval_key)
        n_images = len(ev.image_ids) or len(eval_view)
        covers = ("the whole dataset" if eval_view.view() == dataset.view() else
                  "a view of %d of the dataset's %d images" % (n_images, len(dataset)))
        source = detection_run.analysis_source(dataset, eval_key)
        if source == "fiftyone":
            config = dataset.get_evaluation_info(eval_key).config
            covers += (" (a FiftyOne `%s` run: Error Atlas analysed the same fields, view and IoU; "
                       "the run and its per-label fields are FiftyOne's%s)" % (
                           config.method, "" if getattr(config, "classwise", True) else
                           "; FiftyOne matched across classes, Error Atlas within classes, "
                           "so counts can differ"))
        info.update(num_images=n_images, dataset_id=dataset._doc.id, covers=covers, source=source)
        _cache[key] = (ev, info)
        while len(_cache) > 4:
            _cache.popitem(last=False)
    _latest[(dataset.name, eval_key)] = key
    return _cache[key]


def load_fast(ctx, eval_key):
    """:func:`load` without reading the database when this process loaded the run
    before: moving a slider never touches ``ctx.dataset`` (FiftyOne reloads the
    dataset on its first use in every call, 50-150 ms). A newer run of the same
    key is picked up when the panel loads or the run is chosen again."""
    key = _latest.get((ctx.dataset_name, eval_key))
    if key in _cache:
        return _cache[key]
    return load(ctx.dataset, eval_key)


def explorer_runs(dataset):
    """Detection evaluation keys, newest last: runs of ``evaluate_model`` and
    FiftyOne's own ``evaluate_detections`` runs (analysed on first use)."""
    infos = {k: dataset.get_evaluation_info(k) for k in dataset.list_evaluations()}
    return sorted((k for k, i in infos.items() if i.config.type == "detection"),
                  key=lambda k: infos[k].timestamp)


def _ensure_analysis(dataset, eval_key):
    """A FiftyOne run gets its Error Atlas analysis when first shown, and a new
    one when the run was redone since; ``evaluate_model`` runs have theirs."""
    source = detection_run.analysis_source(dataset, eval_key)
    if source == "evaluate_model":
        return
    analysed = source and dataset.get_run_info(detection_run.analysis_run_key(eval_key)).timestamp
    if not analysed or analysed < dataset.get_evaluation_info(eval_key).timestamp:
        detection_run.analyze_run(dataset, eval_key)


def drop_orphans(dataset):
    """Deletes analyses of FiftyOne runs that were deleted since (ours only)."""
    evaluations = set(dataset.list_evaluations())
    for run in dataset.list_runs():
        key = run[len("error_atlas_"):]
        if (run.startswith("error_atlas_") and key not in evaluations
                and detection_run.analysis_source(dataset, key) == "fiftyone"):
            dataset.delete_run(run)


class EvaluationExplorer(foo.Panel):
    @property
    def config(self):
        return foo.PanelConfig(name="evaluation_explorer", label="Evaluation explorer",
                               icon="insights", surfaces="grid")

    # -- lifecycle -------------------------------------------------------------

    def on_load(self, ctx):
        drop_orphans(ctx.dataset)
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
        self._refresh(ctx, choices, check_stale=True)

    def on_change_dataset(self, ctx):
        self.on_load(ctx)

    def on_change_view(self, ctx):
        """The App's view changed (a filter, a selection in the vector explorer,
        a click here): the "In the App's view" section follows it. The App also
        calls this when it reloads an unchanged view: nothing to do then."""
        if _moved(ctx):
            self._refresh(ctx, self._choices(ctx))

    def execute(self, ctx):
        # The App calls on_change after every state change, this panel's own
        # updates included: answer those without re-rendering (a re-render
        # redraws every plot in the App)
        if ctx.params.get("__method__") in ("on_change", "on_change_view") and not _moved(ctx):
            return None
        return super().execute(ctx)

    def on_change(self, ctx):
        """The App changed the panel's state: redraw if the operating point moved."""
        if _moved(ctx):
            self._refresh(ctx, {**self._choices(ctx), "confidence": float(ctx.panel.state.confidence)})

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

        out = self._shown(ctx)
        # Inputs live at the top level so their state paths are their names.
        # Plots are composite views: the App otherwise copies their data into the
        # panel state when it changes, and every state change makes it save its
        # spaces and reload its page query.
        panel.enum("eval_key", runs, default=state.eval_key, label="Evaluation",
                   view=types.DropdownView(), on_change=self.on_choose_run)
        panel.md(out.get("summary_md") or "", name="summary")
        if out.get("view_md"):
            panel.md(out.get("view_md"), name="view_summary")
        if state.stale:
            panel.view("stale", types.Warning(label=state.stale))

        panel.md("#### Precision, recall and F1 against confidence", name="threshold_title")
        row = panel.h_stack("threshold_row", align_y="center")
        row.btn("back_to_optimal", label="Back to optimal", on_click=self.on_back_to_optimal)
        row.btn("rerun", label="Re-evaluate (the App's view, if any)", on_click=self.on_evaluate)
        row.btn("save_thresholds", label="Save per-class thresholds", on_click=self.on_save_thresholds)
        # the slider, the curves, the class bars and the confusion matrix move
        # together in the browser (panels/operating_point.js); releasing the
        # slider calls on_confidence, which updates the rest
        panel.obj(out["op_key"], view=types.View(
            component="OperatingPoint", composite_view=True, current=out["current"],
            on_threshold_click=self.on_threshold_click, on_class_click=self.on_class_click,
            on_cell_click=self.on_cell_click, on_confidence=self.on_confidence,
            iou=state.iou, iou_choices=IOU_CHOICES, on_iou=self.on_iou))

        panel.md("#### Classes shown", name="table_title")
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
        table = types.TableView(on_click_row=self.on_class_row)
        for key, label in (("class", "Class"), ("AP", "AP"), ("AP50", "AP50"), ("AP75", "AP75"),
                           ("precision", "Precision"), ("recall", "Recall"), ("f1", "F1"),
                           ("support", "Support"), ("optimal_threshold", "Optimal conf.")):
            table.add_column(key, label=label)
        panel.list(out.get("table_name") or "class_table", types.Object(), view=table)

        panel.md("#### Recommendations", name="recs_title")
        for i, rec in enumerate(out.get("recommendations") or []):
            rec_row = panel.h_stack("rec_%d" % i, align_y="center")
            rec_row.md("**%s.** %s %s" % (rec["title"], rec["evidence"], rec["action"]), name="text")
            if rec["show"]:
                rec_row.btn("show", label="Show", on_click=self.on_recommendation, params={"index": i})
        if not out.get("recommendations"):
            panel.md("Nothing stands out at this operating point.", name="recs_none")
        elif out.get("more_recommendations"):
            panel.md("... and %d less severe findings." % out.get("more_recommendations"),
                     name="recs_more")

        panel.md("#### Error types", name="errors_title")
        panel.plot("error_plot", composite_view=True,
                   layout=out.get("error_layout") or {}, config={"displayModeBar": False},
                   on_click=self.on_error_click)

        panel.md("#### Precision-recall curves", name="pr_title")
        panel.plot("pr_plot", composite_view=True,
                   layout=out.get("pr_layout") or {}, config={"displayModeBar": False})

        panel.md("#### Error examples", name="examples_title")
        panel.enum("example_class", out.get("class_names") or [], default=state.example_class,
                   label="Class", view=types.DropdownView(), on_change=self.on_example_choice)
        panel.enum("example_kind", ["both", "fp", "fn"], default=state.example_kind,
                   label="Errors (fp: false detections, fn: missed)", view=types.DropdownView(),
                   on_change=self.on_example_choice)
        ex = panel.h_stack("examples", align_y="center")
        ex.btn("show_examples", label="Show", on_click=self.on_show_examples)
        ex.btn("tag_examples", label="Tag shown as needs_review", on_click=self.on_tag_examples)
        return types.Property(panel, view=types.GridView(orientation="vertical", gap=2))

    # -- choices -----------------------------------------------------------------

    def on_choose_run(self, ctx):
        self._refresh(ctx, {**self._choices(ctx), "eval_key": ctx.params["value"],
                            "confidence": None, "example_class": None}, check_stale=True)

    def on_confidence(self, ctx):
        """The slider (drawn in the browser) was released at ``value``."""
        self._refresh(ctx, {**self._choices(ctx), "confidence": float(ctx.params["value"])})

    def on_iou(self, ctx):
        """The IoU threshold chosen next to the slider (in the browser)."""
        self._refresh(ctx, {**self._choices(ctx), "iou": ctx.params["value"]})

    def on_threshold_click(self, ctx):
        self._refresh(ctx, {**self._choices(ctx), "confidence": float(ctx.params["x"])})

    def on_back_to_optimal(self, ctx):
        self._refresh(ctx, {**self._choices(ctx), "confidence": None})

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
            info = ctx.dataset.get_evaluation_info(ctx.panel.state.eval_key).config
            key = ctx.panel.state.eval_key
            if detection_run.analysis_source(ctx.dataset, key) == "fiftyone":
                key += "_ea"  # evaluate_model never replaces a FiftyOne run
            params = {"pred_field": info.pred_field, "gt_field": info.gt_field, "eval_key": key}
            if ctx.has_custom_view:
                # the App shows a view: evaluate it, under its own key by default
                params.update(view_target="CURRENT_VIEW", eval_key=key + "_view")
        ctx.prompt(EVALUATE_URI, params=params, on_success=self.on_load)

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

    def on_class_row(self, ctx):
        order = self._shown(ctx).get("class_order") or []
        i = ctx.params.get("row")
        if i is not None and 0 <= i < len(order):
            self._show_class(ctx, order[i], "both")

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
        ctx.ops.notify("Tagged %d labels as needs_review" % n, variant="success")

    def on_recommendation(self, ctx):
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
        best = ev.optimal_thresholds(float(ctx.panel.state.iou))["per_class"]
        detection_run.save_class_thresholds(ctx.dataset, ctx.panel.state.eval_key, best)
        ctx.ops.notify("Saved %d per-class thresholds on run '%s'"
                       % (sum(v is not None for v in best.values()), ctx.panel.state.eval_key),
                       variant="success")

    # -- helpers ----------------------------------------------------------------------

    def _choices(self, ctx):
        state = ctx.panel.state
        return {k: state.get(k) for k in CHOICE_KEYS}

    def _current(self, ctx):
        state = ctx.panel.state
        ev, _ = load(ctx.dataset, state.eval_key)
        config = ctx.dataset.get_evaluation_info(state.eval_key).config
        return ev, ev.assess(float(state.iou), state.confidence), config

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
        ctx.ops.set_view(selection.objects_view(ctx.dataset, config, pred_ids, gt_ids, mode,
                                                paired=paired, samples_of=info["samples_of"]))

    def _refresh(self, ctx, choices, check_stale=False):
        """Recomputes every section for the user's choices and sends them.

        Staleness, the list of runs and the run's freshness need the database,
        so they are checked only when a run is (re)loaded; other changes (slider,
        IoU, sorting...) use the cached run and never touch ``ctx.dataset``."""
        choices, out, data = self._compute(ctx, choices, check_stale=check_stale)
        prev = _outputs.get(ctx.panel.id) or {}
        sent = prev.get("data")
        key = out["op_key"]
        if key not in data:  # the browser has every step: only the current point changed
            out["data"] = dict(data, **{key: sent[key]})
        else:
            out["data"] = dict(data)
            # the steps of each IoU and class order go under a key of their own,
            # so the browser component of the old ones is replaced, never fed a
            # mix of both; the old steps are dropped
            if prev.get("op_key") and prev["op_key"] != key:
                data[prev["op_key"]] = None
        _remember(ctx.panel.id, out)
        extra = {k: out[k] for k in ("stale", "runs") if k in out}
        # The App merges new lists into its copies slot by slot: clear first what could
        # leave stale items behind (unknown in a new process: clear all). A slider
        # move (same lengths) sends no clearing patch.
        old = ctx.panel.state
        to_clear = [k for k in extra if not _covers(extra[k], old.get(k))]
        to_clear += [k for k in data if not k.startswith("op_") and (sent is None or (
            k in sent and not _covers(out["data"][k], sent[k])))]
        # Choices the App sent unchanged are not sent back: the user may have moved
        # the slider again while this update was on its way, and a patch would
        # overwrite that newer value in the App's state. A released slider patches
        # only the confidence, after the browser has drawn it.
        patch = {k: v for k, v in choices.items() if old.get(k) != v}
        patch.update(extra)
        if to_clear:
            ctx.panel.state.set({k: None for k in to_clear})
        if patch:
            ctx.panel.state.set(patch)
        ctx.panel.data.set(data)
        # ctx.store() would load the dataset; the run's cached dataset id is enough
        dataset_id = out["dataset_id"]
        ExecutionStore.create(STORE, dataset_id).set(str(dataset_id), choices)

    def _shown(self, ctx):
        """What the panel shows for the choices in its state: remembered from the
        last update, or computed again (another server process, another tab)."""
        out = _outputs.get(ctx.panel.id)
        choices = self._choices(ctx)
        if out is None or _choice_key(out["choices"]) != _choice_key(choices):
            prev = out
            choices, out, _ = self._compute(ctx, choices)
            if prev and prev.get("data") and prev["op_key"] == out["op_key"]:
                out["data"] = prev["data"]  # what the App holds
            _remember(ctx.panel.id, out)
        return out

    def _compute(self, ctx, choices, check_stale=False):
        """``(choices, outputs, plot data)`` for the user's choices; ``choices``
        come back complete (IoU as text, the optimal confidence filled in)."""
        if check_stale:
            ev, info = load(ctx.dataset, choices["eval_key"])
        else:
            ev, info = load_fast(ctx, choices["eval_key"])
        iou = float(choices.get("iou") or "0.50")
        overall, _ = ev.sweeps(iou)
        optimal = overall.optimal()
        conf = choices.get("confidence")
        conf_value = float(conf) if conf is not None else (optimal["confidence"] if optimal else 0.0)
        choices = {**{k: choices.get(k) for k in CHOICE_KEYS}, "iou": "%.2f" % iou,
                   "confidence": conf_value}
        summary = ev.summary(iou, conf_value)
        rows = figures.class_metrics(ev, iou, conf_value)
        keep = figures.match_classes(ev.classes, choices.get("class_filter"))
        shown_classes = rows if keep is None else [rows[k] for k in keep]
        sorted_rows = figures.sort_rows(shown_classes, choices.get("sort") or "errors",
                                        descending=(choices.get("sort") or "errors") in ("errors", "support"))
        a = ev.assess(iou, conf_value)
        n_images = info["num_images"]
        members = _view_members(ctx, ev, choices["eval_key"], info)
        view_md = None if members is None else texts.view_md(ev, a, summary, *members)
        recs = [r.to_dict() for r in recommend(ev, iou, conf_value, n_images)]
        more_recs = max(0, len(recs) - MAX_RECOMMENDATIONS)
        recs = recs[:MAX_RECOMMENDATIONS]

        # The classes shown and their order are kept while only the confidence
        # moves, so the bars do not jump under the slider and the browser keeps
        # every step's numbers (sent once per order)
        order_key = json.dumps([choices["eval_key"], str(info.get("written_at")), "%.2f" % iou,
                                choices.get("sort"), bool(choices.get("show_all")),
                                choices.get("class_filter")])
        prev = _outputs.get(ctx.panel.id)
        # a (re)loaded page has no data yet: everything goes out again
        if not check_stale and prev is not None and prev.get("order_key") == order_key \
                and prev.get("data"):
            bar_classes, matrix_classes = prev["bar_classes"], prev["matrix_classes"]
            op_key, op = prev["op_key"], None
        else:
            shown = sorted_rows if choices.get("show_all") else sorted_rows[:TOP_CLASSES]
            index = {name: k for k, name in enumerate(ev.classes)}
            bar_classes = [index[r["class"]] for r in shown]
            _, _, matrix_classes = figures.confusion_figure(
                a.confusion, ev.classes, None if choices.get("show_all") else TOP_CLASSES, keep=keep)
            revision = "%08x" % zlib.crc32(order_key.encode())
            op_key = "op_" + revision
            op = figures.operating_point(ev, iou, conf_value, optimal, bar_classes, matrix_classes,
                                         revision=revision)
        shown_rows = [rows[k] for k in bar_classes]
        # The App's table keeps the rows of a longer earlier list even when it is
        # cleared first (FiftyOne 1.22.1): a table of another length is a new one
        table_name = "class_table_%d" % len(shown_rows)
        pr_traces, pr_layout = figures.pr_curves_figure(
            ev, iou, classes=None if keep is None else [ev.classes[k] for k in keep[:8]])
        err_traces, err_layout = figures.error_types_figure(summary["error_counts"])

        out = {
            "choices": choices, "dataset_id": info["dataset_id"],
            "summary_md": texts.summary_md(summary, rows, n_images, conf_value, optimal,
                                           info["covers"], iou),
            "view_md": view_md,
            "recommendations": recs, "more_recommendations": more_recs,
            "class_order": [r["class"] for r in shown_rows],
            "class_names": ev.classes, "table_name": table_name,
            "drawn": {"iou": "%.2f" % iou, "confidence": conf_value, "view": _view_key(ctx)},
            "pr_layout": pr_layout, "error_layout": err_layout,
            "order_key": order_key, "bar_classes": bar_classes, "matrix_classes": matrix_classes,
            "op_key": op_key,
            "current": figures.operating_point_at(ev, iou, conf_value, bar_classes, matrix_classes),
        }
        if check_stale:
            dataset = ctx.dataset
            eval_view = dataset.load_evaluation_view(choices["eval_key"])
            stale = selection.stale_samples(dataset, eval_view,
                                            _last_write(dataset, choices["eval_key"], info["written_at"]))
            out["stale"] = ("%d evaluated samples changed since this run: re-evaluate to "
                            "refresh" % stale if stale else None)
            out["runs"] = explorer_runs(dataset)
        data = {"pr_plot": pr_traces, "error_plot": err_traces,
                table_name: [{k: r[k] for k in TABLE_KEYS} for r in shown_rows]}
        if op is not None:
            data[op_key] = op
        return choices, out, data


def _remember(panel_id, out):
    _outputs[panel_id] = out
    _outputs.move_to_end(panel_id)
    while len(_outputs) > OUTPUT_PANELS:
        _outputs.popitem(last=False)


def _choice_key(choices):
    return json.dumps({k: round(v, 9) if isinstance(v, float) else (v if v != "" else None)
                       for k, v in choices.items() if k in CHOICE_KEYS}, sort_keys=True, default=str)


def _last_write(dataset, eval_key, written_at):
    """When Error Atlas last wrote to the run's samples: the run itself, or an
    error map of it (cluster ids). Edits after that make the run stale; edits
    made before an error map was computed are not told apart from its writes."""
    times = [written_at] if written_at else []
    for run in dataset.list_runs():
        config = dataset.get_run_info(run).config if run.startswith("error_map_") else None
        if config is not None and getattr(config, "eval_key", None) == eval_key \
                and getattr(config, "written_at", None):
            times.append(datetime.fromisoformat(config.written_at))
    return max(times) if times else None


def _view_members(ctx, ev, eval_key, info):
    """``(pred_in, gt_in, n_images)``: the run's objects in the App's current
    view, or None when the App shows the whole dataset. Cached per view, so a
    slider move reads nothing from the database."""
    if not ctx.has_custom_view:
        return None
    key = (info["dataset_id"], eval_key, info.get("written_at"), _view_key(ctx))
    if key not in _views:
        view = ctx.view
        config = ctx.dataset.get_evaluation_info(eval_key).config
        pred_ids, gt_ids = selection.visible_label_ids(view, config)
        pred_in = np.isin(ev.pred_ids, pred_ids)
        gt_in = np.isin(ev.gt_ids, gt_ids)
        images = np.unique(np.r_[ev.pred_image[pred_in], ev.gt_image[gt_in]]).size
        _views[key] = (pred_in, gt_in, images)
        while len(_views) > 8:
            _views.popitem(last=False)
    return _views[key]


def _view_key(ctx):
    """The App's current view, as it sends it with every call (stage ids aside)."""
    params = ctx.request_params
    stages = [{k: v for k, v in s.items() if k != "_uuid"} if isinstance(s, dict) else s
              for s in params.get("view") or ()]
    return json.dumps([params.get("view_name"), stages, params.get("filters") or None,
                       params.get("extended") or None], sort_keys=True, default=str)


def _moved(ctx):
    """True when the (IoU, confidence) in the state or the App's view differ from
    those last drawn."""
    state = ctx.panel.state
    if not state.eval_key or state.confidence is None:
        return False
    out = _outputs.get(ctx.panel.id)
    if out is None or out["choices"]["eval_key"] != state.eval_key:
        return True  # nothing drawn in this process yet
    drawn = out["drawn"]
    return (state.iou != drawn["iou"] or abs(float(state.confidence) - drawn["confidence"]) > 1e-9
            or drawn.get("view") != _view_key(ctx))


def _covers(new, old):
    """True when merging ``new`` over ``old`` slot by slot leaves nothing of ``old``:
    lists at least as long, dicts with at least the same keys, all the way down.
    Unknown ``old`` (None) is not covered: clear it to be safe."""
    if old is None:
        return new is None
    if isinstance(old, list):
        return isinstance(new, list) and len(new) >= len(old) and all(
            _covers(n, o) for n, o in zip(new, old) if isinstance(o, (list, dict)))
    if isinstance(old, dict):
        return isinstance(new, dict) and all(
            k in new and (not isinstance(v, (list, dict)) or _covers(new[k], v))
            for k, v in old.items())
    return True
