"""The "what if" section: score the grid's selected images, move a threshold.

One section for the model monitor and the evaluation explorer
(:class:`WhatIfSection`, which each panel mixes in and tells which run's
thresholds apply: the monitor's error map's run, or the explorer's run).
Thin over :mod:`..operators.score_images`: the images selected in the grid are
scored with the dataset's default model (the demo's detector) at the
thresholds of that evaluation run. Each scored image is drawn with its
predictions (:mod:`.what_if_figures`): those at or above their threshold
solid, the others in the figure's legend only; "the model found nothing in
this image" when it has none. A slider moves the threshold live; with the
run's per-class thresholds on (the default where the run saved some), a class
with its own threshold keeps it and the slider sets the others'. The table
lists every prediction with its confidence, whether it is shown and at which
threshold; a row
opens the image in FiftyOne's modal with its ``what_if`` boxes.
"""

import numpy as np

import fiftyone as fo
import fiftyone.operators.types as types

from ..operators import error_map, score_images
from ..operators.errors import EvaluationInputError
from . import what_if_figures as wf

MAX_IMAGES = 20
# three narrow columns: the table fits a panel in three columns at 1440 px (rows also
# hold label, confidence, shown and the run's class_threshold apart)
COLUMNS = (("image", "Image"), ("prediction", "Prediction"), ("shown_at", "Shown"))


def figure_key(i):
    return "what_if_fig_%d" % i


def run_thresholds(settings, dataset):
    """``(eval dataset name, eval_key)`` of the monitor's error map, or (None, None)."""
    name = settings.get("eval_dataset") or dataset.name
    if not settings.get("map_key") or not fo.dataset_exists(name):
        return None, None
    ref = fo.load_dataset(name)
    key = error_map.map_run_key(settings["map_key"])
    if key not in ref.list_runs():
        return None, None
    return name, ref.get_run_info(key).config.eval_key


def score_selected(ctx, eval_dataset, eval_key):
    """Scores the selected images at run ``eval_key``'s thresholds (on dataset
    ``eval_dataset``, None: this one); returns the state for the section."""
    ids = list(ctx.selected or [])[:MAX_IMAGES]
    if not ids:
        raise EvaluationInputError("Select images in the grid first (up to %d)." % MAX_IMAGES)
    model = (ctx.dataset.info or {}).get(score_images.DEFAULT_MODEL_KEY)
    out = score_images.score_images(ctx.dataset, model, sample_ids=ids, eval_key=eval_key,
                                    eval_dataset=eval_dataset)
    overall = out["thresholds"]["overall"]
    per_class = out["thresholds"]["per_class"]
    return {"what_if_ids": ids, "what_if_per_class": per_class,
            "what_if_class_thresholds": bool(per_class),
            "what_if_threshold": float(overall) if overall is not None else 0.5}


def scored(dataset, ids, threshold, per_class, class_thresholds):
    """``(rows, figures, images)`` of the scored images at this threshold: the
    table's rows (one per prediction, or one saying it found nothing), each
    image's traces, and each image's ``{name, filepath}``."""
    view = dataset.select(ids, ordered=True)
    paths, labels = view.values(["filepath", "what_if"])
    per_image = [sorted(getattr(x, "detections", None) or [], key=lambda d: -(d.confidence or 0))
                 for x in labels]
    flat = [d for dets in per_image for d in dets]
    conf = wf.confidences(flat)
    limit = wf.limits([d.label for d in flat], threshold, per_class, class_thresholds)
    shown = conf >= limit
    starts = np.cumsum([0] + [len(d) for d in per_image])
    colors = wf.class_colors(d.label for d in flat)
    rows, figures, images = [], [], []
    for k, (path, dets) in enumerate(zip(paths, per_image)):
        name = path.rsplit("/", 1)[-1]
        on = shown[starts[k]:starts[k + 1]]
        _, width, height = wf.thumbnail(path)
        figures.append(wf.traces(dets, width, height, on, colors))
        images.append({"name": name, "filepath": path})
        if not dets:
            rows.append({"image": name, "prediction": wf.NOTHING, "shown_at": "",
                         "label": wf.NOTHING, "confidence": "", "shown": "",
                         "class_threshold": ""})
        for d, s, c, t in zip(dets, on, conf[starts[k]:starts[k + 1]],
                              limit[starts[k]:starts[k + 1]]):
            saved = per_class.get(d.label)
            rows.append({"image": name, "prediction": "%s %.3f" % (d.label, c),
                         "shown_at": ("yes \u2265 %.2f" if s else "no < %.2f") % t,
                         "label": d.label, "confidence": "%.3f" % c,
                         "shown": "yes" if s else "no",
                         "class_threshold": "" if saved is None else "%.3f" % saved})
    return rows, figures, images


def render(panel, state, on_score, on_threshold, on_class_thresholds, on_row):
    panel.md("#### What if: the model on the selected images", name="what_if_title")
    panel.btn("what_if_score", label="Score the selected images", on_click=on_score)
    if not state.what_if_ids:
        return
    panel.float("what_if_threshold", label="Confidence threshold", min=0.0, max=1.0,
                default=state.what_if_threshold, on_change=on_threshold,
                view=types.SliderView(componentsProps={"slider": {"step": 0.01}}))
    if state.what_if_per_class:
        panel.bool("what_if_class_thresholds", default=bool(state.what_if_class_thresholds),
                   label="Run's thresholds for %s" % ", ".join(sorted(state.what_if_per_class)),
                   description="On: these classes keep the run's saved thresholds and the "
                   "slider sets the others'. Off: the slider sets every class's.",
                   on_change=on_class_thresholds)
    panel.md("Hover a box: its class and confidence. Click a prediction in a figure's "
             "list: its box shown or hidden, whatever the threshold (double-click: it alone).",
             name="what_if_help")
    for i, image in enumerate(state.what_if_images or []):
        source, width, height = wf.thumbnail(image["filepath"])
        panel.plot(figure_key(i), layout=wf.layout(image["name"], source, width, height,
                                                   not image.get("predictions")),
                   config={"displayModeBar": False, "scrollZoom": False}, height=wf.HEIGHT,
                   width=wf.WIDTH)
    # FiftyOne's TableView gives its table a minimum width of 650 px, wider than a
    # column at 1440 px: the three columns here fit without it
    table = types.TableView(on_click_row=on_row, componentsProps={
        "table": {"sx": {"minWidth": 0}}})
    for key, label in COLUMNS:
        table.add_column(key, label=label)
    panel.list("what_if_rows", types.Object(), view=table)


class WhatIfSection:
    """The section's callbacks; a panel mixing it in defines ``_what_if_run(ctx)``:
    ``(eval dataset name or None, eval_key or None)`` whose thresholds apply."""

    def on_what_if(self, ctx):
        try:
            state = score_selected(ctx, *self._what_if_run(ctx))
        except EvaluationInputError as e:
            ctx.ops.notify(str(e), variant="warning")
            return
        # a new set of images: clear the old figures (the App merges lists slot by slot)
        old = len(ctx.panel.state.what_if_images or [])
        ctx.panel.state.set({**{figure_key(i): None for i in range(max(old, MAX_IMAGES))},
                             "what_if_images": None})
        ctx.panel.state.set(state)
        self._what_if_draw(ctx, new=True)

    def on_what_if_threshold(self, ctx):
        value = ctx.params.get("value")
        if value is None or not ctx.panel.state.what_if_ids:
            return
        ctx.panel.state.set({"what_if_threshold": float(value)})
        self._what_if_draw(ctx)

    def on_what_if_class_thresholds(self, ctx):
        if not ctx.panel.state.what_if_ids:
            return
        ctx.panel.state.set({"what_if_class_thresholds": bool(ctx.params.get("value"))})
        self._what_if_draw(ctx)

    def _what_if_draw(self, ctx, new=False):
        state = ctx.panel.state
        value = state.what_if_threshold
        rows, figures, images = scored(
            ctx.dataset, state.what_if_ids, 0.5 if value is None else float(value),
            state.what_if_per_class or {}, bool(state.what_if_class_thresholds))
        patch = {"what_if_rows": None, "what_if_row_images": [r["image"] for r in rows]}
        if new:
            patch["what_if_images"] = [{**im, "predictions": len(f)}
                                       for im, f in zip(images, figures)]
        ctx.panel.state.set(patch)
        ctx.panel.data.set({"what_if_rows": rows,
                            **{figure_key(i): f for i, f in enumerate(figures)}})

    def on_what_if_row(self, ctx):
        """A row opens its image in FiftyOne's modal."""
        ids = ctx.panel.state.what_if_ids or []
        names = ctx.panel.state.what_if_row_images or []
        row = ctx.params.get("row")
        if row is None or not 0 <= int(row) < len(names):
            return
        paths = ctx.dataset.select(ids, ordered=True).values("filepath")
        by_name = {p.rsplit("/", 1)[-1]: i for p, i in zip(paths, ids)}
        if names[int(row)] in by_name:
            ctx.ops.open_sample(id=by_name[names[int(row)]])

    def render_what_if(self, panel, state):
        render(panel, state, self.on_what_if, self.on_what_if_threshold,
               self.on_what_if_class_thresholds, self.on_what_if_row)
