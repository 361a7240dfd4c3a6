"""What the evaluation explorer holds in this server process, and the App's view.

The panel state holds only the user's choices; what is computed from them
(sections, plot data, the steps sent to the browser) lives in :data:`outputs`,
keyed by panel, and the run's objects in each App view in :data:`views`, so a
slider move reads nothing from the database. Here too: applying panel-data
patches as the App does, the key of the App's current view, whether it moved
since the last draw, and the notices an action leaves next to its button.
"""

import json
from collections import OrderedDict

import numpy as np

from . import selection

CHOICE_KEYS = ("eval_key", "iou", "confidence", "sort", "show_all", "class_filter", "mode",
               "example_class", "example_kind")
views = OrderedDict()  # (dataset, run, App view) -> the run's objects in that view
outputs = OrderedDict()  # panel id -> what the panel shows for its current choices
OUTPUT_PANELS = 8  # each holds every IoU's steps: up to a few MB


def apply_patch(held, patch):
    """Applies a panel-data patch to ``held`` as the App does: a dotted key sets
    that path inside a key, any other key is replaced."""
    for key, value in patch.items():
        *path, last = key.split(".")
        node = held
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value


def remember(panel_id, out):
    outputs[panel_id] = out
    outputs.move_to_end(panel_id)
    while len(outputs) > OUTPUT_PANELS:
        outputs.popitem(last=False)


def choice_key(choices):
    return json.dumps({k: round(v, 9) if isinstance(v, float) else (v if v != "" else None)
                       for k, v in choices.items() if k in CHOICE_KEYS}, sort_keys=True, default=str)


def view_members(ctx, ev, eval_key, info):
    """``(pred_in, gt_in, n_images)``: the run's objects in the App's current
    view, or None when the App shows the whole dataset. Cached per view, so a
    slider move reads nothing from the database."""
    if not ctx.has_custom_view:
        return None
    key = (info["dataset_id"], eval_key, info.get("written_at"), view_key(ctx))
    if key not in views:
        view = ctx.view
        config = ctx.dataset.get_evaluation_info(eval_key).config
        pred_ids, gt_ids = selection.visible_label_ids(view, config)
        pred_in = np.isin(ev.pred_ids, pred_ids)
        gt_in = np.isin(ev.gt_ids, gt_ids)
        images = np.unique(np.r_[ev.pred_image[pred_in], ev.gt_image[gt_in]]).size
        views[key] = (pred_in, gt_in, images)
        while len(views) > 8:
            views.popitem(last=False)
    return views[key]


def view_key(ctx):
    """The App's current view, as it sends it with every call (stage ids aside)."""
    params = ctx.request_params
    stages = [{k: v for k, v in s.items() if k != "_uuid"} if isinstance(s, dict) else s
              for s in params.get("view") or ()]
    return json.dumps([params.get("view_name"), stages, params.get("filters") or None,
                       params.get("extended") or None], sort_keys=True, default=str)


def moved(ctx):
    """True when the App's view differs from the one last drawn, or nothing of
    the panel's run was drawn in this process yet."""
    state = ctx.panel.state
    if not state.eval_key:
        return False
    out = outputs.get(ctx.panel.id)
    if out is None or out["choices"]["eval_key"] != state.eval_key:
        return True
    return out["drawn"].get("view") != view_key(ctx)


def covers(new, old):
    """True when merging ``new`` over ``old`` slot by slot leaves nothing of ``old``:
    lists at least as long, dicts with at least the same keys, all the way down.
    Unknown ``old`` (None) is not covered: clear it to be safe."""
    if old is None:
        return new is None
    if isinstance(old, list):
        return isinstance(new, list) and len(new) >= len(old) and all(
            covers(n, o) for n, o in zip(new, old) if isinstance(o, (list, dict)))
    if isinstance(old, dict):
        return isinstance(new, dict) and all(
            k in new and (not isinstance(v, (list, dict)) or covers(new[k], v))
            for k, v in old.items())
    return True


def tell(ctx, where, text):
    """Says what an action did: a notification, and a line in the panel next to
    its button (``where``) until the panel's next update."""
    ctx.ops.notify(text.replace("**", "").replace("`", ""), variant="success")
    out = outputs.get(ctx.panel.id)
    if out is not None:
        out["notice"] = {where: text}
