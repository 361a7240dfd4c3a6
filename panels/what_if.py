"""The "what if" section: score the grid's selected images, move a threshold.

One section for the model monitor and the evaluation explorer
(:class:`WhatIfSection`, which each panel mixes in and tells which run's
thresholds apply: the monitor's error map's run, or the explorer's run).
Thin over :mod:`..operators.score_images`: the images selected in the grid are
scored with the dataset's default model (the demo's detector) at the
thresholds of that evaluation run; the table lists every prediction
with its confidence and whether it is shown at the slider's threshold, or
"the model found nothing in this image"; a row opens the image in FiftyOne's
modal with its ``what_if`` boxes.
"""

import fiftyone as fo
import fiftyone.operators.types as types

from ..operators import error_map, score_images
from ..operators.errors import EvaluationInputError

MAX_IMAGES = 20
COLUMNS = (("image", "Image"), ("label", "Class"), ("confidence", "Confidence"),
           ("shown", "Shown"), ("class_threshold", "Run's threshold"))


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
    return {"what_if_ids": ids, "what_if_per_class": out["thresholds"]["per_class"],
            "what_if_threshold": float(overall) if overall is not None else 0.5}


def rows(dataset, ids, threshold, per_class):
    """One row per prediction of the scored images (or one saying it found nothing)."""
    view = dataset.select(ids, ordered=True)
    out = []
    for path, labels in zip(*view.values(["filepath", "what_if"])):
        name = path.rsplit("/", 1)[-1]
        dets = sorted(getattr(labels, "detections", None) or [], key=lambda d: -(d.confidence or 0))
        if not dets:
            out.append({"image": name, "label": "the model found nothing in this image",
                        "confidence": "", "shown": "", "class_threshold": ""})
        for d in dets:
            t = per_class.get(d.label)
            out.append({"image": name, "label": d.label, "confidence": "%.3f" % d.confidence,
                        "shown": "yes" if d.confidence >= threshold else "no",
                        "class_threshold": "" if t is None else "%.3f" % t})
    return out


def render(panel, state, on_score, on_threshold, on_row):
    panel.md("#### What if: the model on the selected images", name="what_if_title")
    panel.btn("what_if_score", label="Score the selected images", on_click=on_score)
    if not state.what_if_ids:
        return
    panel.float("what_if_threshold", label="Confidence threshold", min=0.0, max=1.0,
                default=state.what_if_threshold, on_change=on_threshold,
                view=types.SliderView(componentsProps={"slider": {"step": 0.01}}))
    table = types.TableView(on_click_row=on_row)
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
        ctx.panel.state.set(state)
        self._what_if_rows(ctx, state["what_if_threshold"])

    def on_what_if_threshold(self, ctx):
        value = ctx.params.get("value")
        if value is None or not ctx.panel.state.what_if_ids:
            return
        ctx.panel.state.set({"what_if_threshold": float(value)})
        self._what_if_rows(ctx, float(value))

    def _what_if_rows(self, ctx, threshold):
        out = rows(ctx.dataset, ctx.panel.state.what_if_ids, threshold,
                   ctx.panel.state.what_if_per_class or {})
        ctx.panel.state.set({"what_if_rows": None, "what_if_row_images": [
            r["image"] for r in out]})
        ctx.panel.data.set({"what_if_rows": out})

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
        render(panel, state, self.on_what_if, self.on_what_if_threshold, self.on_what_if_row)
