"""A region drawn on the error map (a box or a lasso): its points, and the App view showing them.

The view is a range query on the grid coordinates ``compute_error_map`` stores
with every point (``<map_key>_x`` / ``<map_key>_y``, the integers the panel
draws): a few hundred bytes whatever the number of points. A view listing the
points' ids instead is ~60 bytes a point, and the App sends the view with
every request it makes for it (for 5,000 points among 50,000: ~300 KB, and its
``setView`` alone took 1.3 s). The query is a union of boxes that holds exactly
the selected points among all the map's points (:func:`cover`): one box for a
box selection, a few dozen for a lasso. The id view remains for selections
that would need too many boxes (hidden legend groups among shown ones) and for
maps stored before the coordinates were.
"""

import numpy as np
from matplotlib.path import Path

import fiftyone.core.expressions as foe

from ..operators import error_map
from . import selection

MAX_BOXES = 400  # ~60 KB of query, the ids of ~1,000 points


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
    shrinks it, so this ends. A box selection is one box."""
    q, selected = np.asarray(q), np.asarray(selected, dtype=bool)
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


def boxes_expr(fields, boxes):
    """The expression true for a sample or label whose ``fields`` (x, y) lie in a box;
    with several boxes, their bounding box is tested first (most points are outside)."""
    fx, fy = (foe.ViewField(f) for f in fields)
    inside = lambda x0, x1, y0, y1: (fx >= x0) & (fx <= x1) & (fy >= y0) & (fy <= y1)
    if len(boxes) == 1:
        return inside(*boxes[0])
    b = np.asarray(boxes)
    outer = inside(int(b[:, 0].min()), int(b[:, 1].max()), int(b[:, 2].min()), int(b[:, 3].max()))
    return outer & foe.ViewExpression.any([inside(*box) for box in boxes])


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
    map_key, expr = m.key[1], None
    if cluster is not None and stored(dataset, m, [map_key + "_cluster"]):
        expr = foe.ViewField(map_key + "_cluster") == int(cluster)
    elif stored(dataset, m, error_map.grid_fields(map_key)):
        selected = np.zeros(len(m), bool)
        selected[idx] = True
        boxes = cover(m.q, selected)
        if boxes is not None:
            expr = boxes_expr(error_map.grid_fields(map_key), boxes)
    if expr is None:
        return _ids_view(dataset, m, idx)
    if m.config.level == "samples":
        return dataset.match(expr)
    kinds = m.arrays["kind"][idx]
    fields = [f for k, f in ((0, m.config.pred_field), (1, m.config.gt_field)) if (kinds == k).any()]
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
