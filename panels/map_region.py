"""A region drawn on the error map (a box or a lasso): its points, and the App view showing them.

The view is a range query on the grid coordinates ``compute_error_map`` stores
with every point (``<map_key>_x`` / ``<map_key>_y``, the integers the panel
draws). A view listing the points' ids instead is ~60 bytes a point, and the
App sends the view with every request it makes for it (for 5,000 points among
50,000: ~300 KB, and its ``setView`` alone took 1.3 s). The query is a union of
boxes that holds exactly the selected points among all the map's points
(:func:`cover`): one box (~1 KB of view) for a box selection, 50-100 (15-20 KB)
for a lasso of a few thousand points, whose boundary runs between points. The
id view remains for selections that would need too many boxes (hidden legend
groups among shown ones) and for maps stored before the coordinates were.
"""

import numpy as np
from matplotlib.path import Path

import fiftyone.core.expressions as foe

from ..operators import error_map
from . import selection

MAX_BOXES = 400  # ~40 KB of query; beyond, a lasso is mostly boundary


def points_in(q, box=None, lasso=None):
    """Mask of the points ``q`` (N, 2) inside ``box`` ``(x0, x1, y0, y1)`` (edges
    included, in either order) or inside the polygon ``lasso`` ``(xs, ys)``."""
    q = np.asarray(q, dtype=np.float64).reshape(-1, 2)
    if box is not None:
        x0, x1, y0, y1 = (float(v) for v in box)
        (x0, x1), (y0, y1) = sorted((x0, x1)), sorted((y0, y1))
        return (q[:, 0] >= x0) & (q[:, 0] <= x1) & (q[:, 1] >= y0) & (q[:, 1] <= y1)
    xs, ys = (np.asarray(v, dtype=np.float64) for v in lasso)
    if len(xs) < 3 or len(xs) != len(ys):
        return np.zeros(len(q), bool)
    return Path(np.c_[xs, ys]).contains_points(q)


def cover(q, selected, max_boxes=MAX_BOXES):
    """Integer boxes ``(x0, x1, y0, y1)`` (edges included) whose union holds exactly
    the ``selected`` points among all the points ``q``; None when that takes more
    than ``max_boxes`` boxes, or is impossible (a selected and an unselected point
    at the same position).

    The bounding box of the selected points in a region is taken when it holds
    no other point; otherwise the region is halved across its longer side, which
    shrinks it, so this ends. Then neighbouring boxes (in the order the halving
    left them) are joined wherever the box around both holds no other point,
    which takes a lasso's boxes from ~90 to ~50. A box selection is one box."""
    q, selected = np.asarray(q), np.asarray(selected, dtype=bool)
    boxes = _halve(q, selected, 4 * max_boxes)
    if boxes is None or len(boxes) < 2:
        return boxes
    lo, hi = q[selected].min(axis=0), q[selected].max(axis=0)
    others = q[~selected & np.all((q >= lo) & (q <= hi), axis=1)]
    while True:
        joined = _join(boxes, others)
        if len(joined) == len(boxes):
            break
        boxes = joined
    return boxes if len(boxes) <= max_boxes else None


def _join(boxes, others):
    """One pass joining each box with the previous one when their bounding box holds
    none of the points ``others``."""
    out = [boxes[0]]
    for b in boxes[1:]:
        a = out[-1]
        u = (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))
        if ((others[:, 0] >= u[0]) & (others[:, 0] <= u[1]) & (others[:, 1] >= u[2])
                & (others[:, 1] <= u[3])).any():
            out.append(b)
        else:
            out[-1] = u
    return out


def _halve(q, selected, max_boxes):
    """The boxes of :func:`cover` before joining (None beyond ``max_boxes``)."""
    boxes, regions = [], [np.arange(len(q))]
    while regions:
        idx = regions.pop()
        chosen = idx[selected[idx]]
        if not len(chosen):
            continue
        lo, hi = q[chosen].min(axis=0), q[chosen].max(axis=0)
        within = idx[np.all((q[idx] >= lo) & (q[idx] <= hi), axis=1)]
        if selected[within].all():
            boxes.append((int(lo[0]), int(hi[0]), int(lo[1]), int(hi[1])))
            if len(boxes) > max_boxes:
                return None
            continue
        axis = int(np.argmax(hi - lo))
        if hi[axis] == lo[axis]:
            return None
        left = q[within, axis] <= (lo[axis] + hi[axis]) // 2
        regions += [within[left], within[~left]]
    return boxes


def boxes_expr(fields, boxes, prefix="$$this."):
    """The MongoDB expression true for a label (``prefix`` ``$$this.``) or a sample
    (``$``) whose ``fields`` (x, y) lie in one of the ``boxes``: ~100 bytes a box;
    with several, their bounding box is tested first (most points are outside).
    (A literal array of boxes tested by ``$reduce`` is 4x smaller but 1.5-2x
    slower for MongoDB, which runs the view several times per App update.)"""
    x, y = (prefix + f for f in fields)

    def inside(x0, x1, y0, y1):
        return {"$and": [{"$gte": ["$$x", x0]}, {"$lte": ["$$x", x1]},
                         {"$gte": ["$$y", y0]}, {"$lte": ["$$y", y1]}]}

    if len(boxes) == 1:
        test = inside(*boxes[0])
    else:
        b = np.asarray(boxes)
        outer = inside(int(b[:, 0].min()), int(b[:, 1].max()), int(b[:, 2].min()), int(b[:, 3].max()))
        test = {"$and": [outer, {"$or": [inside(*box) for box in boxes]}]}
    return {"$let": {"vars": {"x": x, "y": y}, "in": test}}


def stored(dataset, m, fields):
    """Whether these fields of the map are stored on its samples (or labels)."""
    if m.config.level == "samples":
        return all(dataset.has_field(f) for f in fields)
    return all(dataset.has_field("%s.detections.%s" % (lf, f))
               for lf in (m.config.pred_field, m.config.gt_field) for f in fields)


def view_of(dataset, m, idx, cluster=None):
    """The samples (samples map) or objects (objects map) of the points ``idx``
    (cluster ``cluster``'s members, if given): one patch per object when they
    are all predictions or all ground truth, else their samples with only these
    labels (FiftyOne patches hold one field). A query on the fields stored with
    the points when it can be (see the module), else by ids."""
    idx = np.asarray(idx, dtype=np.int64)
    if not len(idx):
        return dataset.limit(0)
    map_key, samples = m.key[1], m.config.level == "samples"
    if cluster is not None and stored(dataset, m, [map_key + "_cluster"]):
        test = foe.ViewField(map_key + "_cluster") == int(cluster)
        return dataset.match(test) if samples else _labels_view(dataset, m, idx, test, True)
    fields, boxes = error_map.grid_fields(map_key), None
    if stored(dataset, m, fields):
        selected = np.zeros(len(m), bool)
        selected[idx] = True
        boxes = cover(m.q, selected)
    if boxes is None:
        return _ids_view(dataset, m, idx)
    if samples:
        return dataset.match({"$expr": boxes_expr(fields, boxes, prefix="$")})
    return _labels_view(dataset, m, idx, boxes_expr(fields, boxes))


def _labels_view(dataset, m, idx, expr, detected=False):
    """The labels of points ``idx`` (of both fields) that ``expr`` selects: patches
    of one field, or their samples with only these labels. ``detected``: ``expr``
    also selects the objects the points' correct predictions detected (a cluster's
    objects without a point of their own)."""
    kinds = m.arrays["kind"][idx]
    has_gt = (kinds == 1).any() or (detected and (m.arrays["error"][idx] == "correct").any())
    fields = [f for f, present in ((m.config.pred_field, (kinds == 0).any()),
                                   (m.config.gt_field, has_gt)) if present]
    if len(fields) == 1:
        return dataset.filter_labels(fields[0], expr).to_patches(fields[0])
    view = dataset
    for f in fields:
        view = view.filter_labels(f, expr, only_matches=False)
    return view.match(foe.ViewExpression.any(
        [foe.ViewField(f + ".detections").length() > 0 for f in fields]))


def _ids_view(dataset, m, idx):
    ids = m.arrays["ids"][idx]
    if m.config.level == "samples":
        return dataset.select(ids.tolist())
    kinds = m.arrays["kind"][idx]
    return selection.labels_view(dataset, m.config, m.samples_of(ids), ids[kinds == 0],
                                 ids[kinds == 1])
