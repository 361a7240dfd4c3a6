"""The model monitor's "what if" section: score the grid's selected images, move a threshold.

Thin over :mod:`..operators.score_images`: the images selected in the grid are
scored with the dataset's default model (the demo's detector) at the
thresholds of the monitor's evaluation run; the table lists every prediction
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


def score_selected(ctx, settings):
    """Scores the selected images; returns the state for the section."""
    ids = list(ctx.selected or [])[:MAX_IMAGES]
    if not ids:
        raise EvaluationInputError("Select images in the grid first (up to %d)." % MAX_IMAGES)
    model = (ctx.dataset.info or {}).get(score_images.DEFAULT_MODEL_KEY)
    eval_dataset, eval_key = run_thresholds(settings, ctx.dataset)
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
