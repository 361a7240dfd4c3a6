"""The evaluation explorer on classification, multi-label and semantic segmentation runs.

The panel dispatches once on the run's task (the analysis run's kind, see
:mod:`.runs`): detection keeps its own sections (:mod:`.sections`), the other
tasks get a section builder (:mod:`.classification_sections`,
:mod:`.multilabel_sections`, :mod:`.segmentation_sections`) with one interface: ``rows``, ``steps``
(every slider step, drawn by ``components.js`` as for detection),
``current`` and the images behind a number (``cell``, ``of_class``,
``of_error``, ``of_recommendation``), as sample ids in grid order.
"""

import json
import zlib

import fiftyone.operators.types as types

from ..operators import run_store, segmentation_run
from . import (classification_sections, clicked_views, figures, multilabel_sections,
               segmentation_sections)
from .runs import load

BUILDERS = {"classification": classification_sections.Sections,
           "multilabel": multilabel_sections.Sections,
           "segmentation": segmentation_sections.Sections}
# the panel's events answered here for these tasks (the others are the panel's own)
EVENTS = ("on_cell_click", "on_class_click", "on_error_click", "on_recommendation",
          "on_show_examples", "on_tag_examples", "on_save_thresholds", "on_preload")
STEPS_KEY = "i50"  # the browser keys a run's steps by IoU: these tasks have one set
TAG = "needs_review"


def sections(ev, info):
    """The run's section builder, kept with its cached analysis."""
    if "sections" not in info:
        info["sections"] = BUILDERS[info["task"]](ev, info)
    return info["sections"]


def compute(ctx, ev, info, choices, prev, check_stale, top_n, view_key):
    """``(choices, outputs, plot data)`` as the panel's ``_compute``, for these tasks."""
    sec = sections(ev, info)
    conf = choices.get("confidence")
    conf = (float(conf) if conf is not None else sec.optimal()) if sec.slider else 0.0
    sort = choices.get("sort") if choices.get("sort") in sec.sort_keys else "errors"
    choices = dict(choices, iou="0.50", confidence=conf, sort=sort)
    keep = figures.match_classes(ev.classes, choices.get("class_filter"))
    show_all = bool(choices.get("show_all"))
    order_key = json.dumps([info["task"], choices["eval_key"], str(info.get("written_at")), sort,
                            show_all, choices.get("class_filter")])
    data = {}
    if not check_stale and prev and prev.get("order_key") == order_key and prev.get("data"):
        bar_classes, matrix_classes, op_key = prev["bar_classes"], prev["matrix_classes"], prev["op_key"]
    else:
        rows = sec.rows(conf)
        shown = rows if keep is None else [rows[k] for k in keep]
        ordered = figures.sort_rows(shown, sort, descending=sort in ("errors", "support"))
        index = {name: k for k, name in enumerate(ev.classes)}
        bar_classes = [index[r["class"]] for r in (ordered if show_all else ordered[:top_n])]
        matrix_classes = sec.matrix_classes(conf, None if show_all else top_n, keep)
        revision = "%08x" % zlib.crc32(order_key.encode())
        op_key = "op_" + revision
        data[op_key] = {"revision": revision,
                        "ious": {STEPS_KEY: sec.steps(bar_classes, matrix_classes)}}
    current = sec.current(conf, bar_classes, matrix_classes)
    out = {"task": info["task"], "order_key": order_key, "bar_classes": bar_classes,
           "matrix_classes": matrix_classes, "op_key": op_key, "pr_classes": None,
           "steps_view": False, "choices": choices, "dataset_id": info["dataset_id"],
           "class_names": ev.classes, "example_kinds": sec.example_kinds(),
           "example_label": sec.example_label, "sort_keys": sec.sort_keys, "slider": sec.slider,
           "drawn": {"iou": "0.50", "confidence": conf, "view": view_key},
           "current": current, "ious": {STEPS_KEY: False},
           "recommendations": current["sections"]["recommendations"]}
    return choices, out, data


def render(explorer, ctx, panel, out):
    """The panel below the run's dropdown: the browser-drawn sections, the class
    controls and the error examples (no IoU, no object / sample mode)."""
    state = ctx.panel.state
    op = dict(component="OperatingPoint", composite_view=True, current=out["current"],
              group=ctx.panel.id, iou="0.50", iou_choices=[], no_slider=not out["slider"],
              on_threshold_click=explorer.on_threshold_click,
              on_class_click=explorer.on_class_click, on_cell_click=explorer.on_cell_click,
              on_confidence=explorer.on_confidence,
              on_back_to_optimal=explorer.on_back_to_optimal, on_evaluate=explorer.on_evaluate,
              notice=(out.get("notice") or {}).get("thresholds"))
    if out["slider"]:
        op["on_save_thresholds"] = explorer.on_save_thresholds
    panel.obj(out["op_key"], view=types.View(**op))
    panel.md("##### Classes shown", name="table_title")
    panel.enum("sort", out["sort_keys"], default=out["choices"]["sort"], label="Sort classes by",
               view=types.DropdownView(), on_change=explorer.on_sort)
    panel.bool("show_all", default=bool(state.show_all),
               label="All classes in the bars, the table and the confusion matrix (default: the "
               "first 20 in this order, the 20 most confused)", on_change=explorer.on_show_all)
    panel.str("class_filter", default=state.class_filter, label="Only classes containing "
              "(comma-separated; bars, table and matrix)", on_change=explorer.on_class_filter)
    panel.obj("op_details", view=types.View(
        component="OperatingPointDetails", composite_view=True, group=ctx.panel.id,
        on_class_click=explorer.on_class_click, on_recommendation=explorer.on_recommendation,
        on_error_click=explorer.on_error_click))
    kinds = out["example_kinds"]
    panel.md("##### Error examples" if kinds else "##### Worst images per class",
             name="examples_title")
    panel.enum("example_class", out["class_names"], default=state.example_class, label="Class",
               view=types.DropdownView(), on_change=explorer.on_example_choice)
    if kinds:
        panel.enum("example_kind", kinds, default=_kind(state, kinds), label=out["example_label"],
                   view=types.DropdownView(), on_change=explorer.on_example_choice)
    ex = panel.h_stack("examples", align_y="center")
    ex.btn("show_examples", label="Show", on_click=explorer.on_show_examples)
    ex.btn("tag_examples", label="Tag shown for relabeling (%s)" % TAG,
           on_click=explorer.on_tag_examples)
    told = (out.get("notice") or {}).get("examples")
    if told:
        panel.md(told, name="examples_notice")
    return types.Property(panel, view=types.GridView(orientation="vertical", gap=2))


def handle(explorer, ctx, method, tell):
    """Answers event ``method`` of a run of these tasks; ``tell(ctx, where, text)``
    says what an action did (as the panel's own)."""
    if method == "on_preload":
        return
    out = explorer._shown(ctx)
    choices = out["choices"]
    ev, info = load(ctx.dataset, choices["eval_key"])
    sec = sections(ev, info)
    conf, p, state = choices["confidence"], ctx.params, ctx.panel.state
    if method == "on_save_thresholds":
        best = sec.class_thresholds()
        run_store.save_class_thresholds(ctx.dataset, choices["eval_key"], best)
        tell(ctx, "thresholds", "Saved the optimal threshold of **%d classes** with run '%s': "
             "`dataset.load_run_results('%s').class_thresholds`." % (
                 sum(v is not None for v in best.values()), choices["eval_key"],
                 run_store.analysis_run_key(choices["eval_key"])))
        return
    if method == "on_cell_click" and hasattr(sec, "cell_pixels"):
        ids, what, counts = sec.cell_pixels(conf, p.get("y"), p.get("x"))
        field = what and segmentation_run.write_cell_pixels(
            ctx.dataset, choices["eval_key"], ids, counts)
        if field:
            what += " (their pixels in '%s': sort the grid by it)" % field
    elif method == "on_cell_click":
        ids, what = sec.cell(conf, p.get("y"), p.get("x"))
    elif method == "on_class_click":
        ids, what = sec.of_class(conf, p.get("x"), "errors")
    elif method == "on_error_click":
        ids, what = sec.of_error(conf, p.get("x"))
    elif method == "on_recommendation":
        show = p.get("show")
        if show is None:
            recs, i = out.get("recommendations") or [], p.get("index")
            if i is None or i >= len(recs):
                return
            show = recs[i]["show"]
        ids, what = sec.of_recommendation(conf, show)
    else:  # the error examples' Show and Tag
        if not state.example_class:
            ctx.ops.notify("Choose a class first", variant="warning")
            return
        ids, what = sec.of_class(conf, state.example_class, _kind(state, out["example_kinds"]))
        if method == "on_tag_examples":
            return _tag(ctx, choices, ids, what, tell)
    if what is not None:
        show_samples(ctx, ids, what)


def show_samples(ctx, ids, what):
    """The grid shows exactly ``ids``, in their order, and says how many."""
    view = ctx.dataset.select(ids, ordered=True)
    clicked_views.remember(ctx.panel.id, view)
    ctx.ops.set_view(view)
    ctx.ops.notify("Showing %d %s" % (len(ids), what), variant="info")


def _tag(ctx, choices, ids, what, tell):
    """Adds the label tag :data:`TAG` to the ground truth of exactly those images."""
    _, gt_field = run_store.run_fields(ctx.dataset, choices["eval_key"])
    view = ctx.dataset.select(ids)
    view.tag_labels(TAG, label_fields=[gt_field])
    tell(ctx, "examples", "Tagged the ground truth of **%d images** as `%s` (%s). Filter the grid "
         "by the label tag `%s` to relabel them." % (len(ids), TAG, what, TAG))


def _kind(state, kinds):
    return state.example_kind if state.example_kind in kinds else (kinds[0] if kinds else None)
