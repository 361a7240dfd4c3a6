"""FiftyOne views of the objects behind a number: a confusion cell, a class, an error type.

Objects are identified through the ids stored with the analysis, so what is
shown is exactly what was counted at the panel's (confidence, IoU), whatever the
per-label fields on the samples say. In ``objects`` mode the App shows one patch
per object (the count equals the number); in ``samples`` mode the samples that
contain them, with only those labels visible.
"""

import numpy as np

from ..plugin import errors

OBJECTS, SAMPLES = "objects", "samples"


def cell_ids(evaluation, assessment, row, col):
    """(pred ids, gt ids) of confusion cell (row, col), paired (see
    :func:`objects_view`); the count is len(pred ids) except in the
    Not-detected column, where it is len(gt ids)."""
    K = evaluation.num_classes
    if col == K:
        gts = (assessment.gt_cell[:, 0] == row) & (assessment.gt_cell[:, 1] == K)
        return [], evaluation.gt_ids[gts].tolist()
    preds = (assessment.pred_cell[:, 0] == row) & (assessment.pred_cell[:, 1] == col)
    targets = assessment.pred_target[preds]
    return evaluation.pred_ids[preds].tolist(), evaluation.gt_ids[targets[targets >= 0]].tolist()


def error_ids(evaluation, assessment, error, label=None):
    """(pred ids, gt ids) of one error type (``missed`` lists objects), optionally one class."""
    code = errors.ERROR_TYPES.index(error)
    if error == "missed":
        sel = assessment.gt_error == code
        if label is not None:
            sel &= evaluation.gt_label == label
        return [], evaluation.gt_ids[sel].tolist()
    sel = assessment.pred_error == code
    if label is not None:
        sel &= evaluation.pred_label == label
    return evaluation.pred_ids[sel].tolist(), []


def class_error_ids(evaluation, assessment, label, which="both"):
    """A class's false detections (``fp``), missed objects (``fn``) or ``both``."""
    preds, gts = [], []
    if which in ("fp", "both"):
        wrong = (assessment.pred_error > errors.CORRECT) & (evaluation.pred_label == label)
        preds = evaluation.pred_ids[wrong].tolist()
    if which in ("fn", "both"):
        missed = (evaluation.gt_label == label) & ~evaluation.gt_crowd & (
            assessment.gt_error != errors.CORRECT)
        gts = evaluation.gt_ids[missed].tolist()
    return preds, gts


def objects_view(dataset, config, pred_ids, gt_ids, mode=OBJECTS, paired=False, samples_of=None):
    """The view showing these objects: patches of one field, or their samples.

    ``paired`` says the gts are the objects the predictions matched or
    confused (a confusion cell): objects mode then shows one patch per
    prediction. Unpaired predictions and gts together (a class's false
    detections and missed objects) can only be shown as samples.
    ``samples_of`` (:func:`label_index` of the run) maps label ids to sample
    ids for the fast :func:`labels_view`; without it FiftyOne's
    ``select_labels`` builds the same view (slow for thousands of ids).
    """
    pred_field, gt_field = config.pred_field, config.gt_field
    pred_ids, gt_ids = list(pred_ids), list(gt_ids)
    patches = mode == OBJECTS and (paired or not (pred_ids and gt_ids))
    if patches:  # one field: the predictions when there are any
        pred_ids, gt_ids = (pred_ids, []) if pred_ids else ([], gt_ids)
    if not pred_ids and not gt_ids:
        return dataset.limit(0)
    if samples_of is not None:
        return labels_view(dataset, config, samples_of(pred_ids + gt_ids), pred_ids, gt_ids,
                           patches=patches)
    fields = [f for f, i in ((pred_field, pred_ids), (gt_field, gt_ids)) if i]
    view = dataset.select_labels(ids=pred_ids + gt_ids, fields=fields)
    return view.to_patches(fields[0]) if patches else view


def label_index(ev):
    """A function mapping label ids of an evaluation to their sample ids (vectorized)."""
    ids = np.r_[ev.pred_ids, ev.gt_ids]
    images = np.r_[ev.pred_image, ev.gt_image]
    order = np.argsort(ids)
    sorted_ids, sorted_samples = ids[order], ev.image_ids[images[order]]

    def samples_of(label_ids):
        pos = np.searchsorted(sorted_ids, np.asarray(label_ids, dtype=str))
        return sorted_samples[np.minimum(pos, len(sorted_ids) - 1)]
    return samples_of


def labels_view(dataset, config, samples, pred_ids, gt_ids, patches=True):
    """The samples holding these labels with only them visible, or (``patches``,
    labels of one field) one patch per label. ``samples``: the sample id of each
    label, ``pred_ids`` then ``gt_ids``.

    Built for thousands of labels: FiftyOne's ``select_labels`` tests every
    label of the view against the whole id list (MongoDB's ``$in`` expression
    is a linear scan: ~3 s per query for 5,000 ids among 65,000 labels, and the
    App runs several queries per view). Here each sample finds its own few ids
    by a binary search over the sorted sample ids (a ``$cond`` tree as deep as
    log2 of the number of samples), ~30x faster, and the samples are selected
    by id first (indexed)."""
    pred_ids, gt_ids = np.asarray(pred_ids, dtype=str), np.asarray(gt_ids, dtype=str)
    ids = np.r_[pred_ids, gt_ids]
    if not len(ids):
        return dataset.limit(0)
    samples = np.asarray(samples, dtype=str)
    order = np.lexsort((ids, samples))
    keys, starts = np.unique(samples[order], return_index=True)
    leaves = [part.tolist() for part in np.split(ids[order], starts[1:])]
    fields = [f for f, i in ((config.pred_field, pred_ids), (config.gt_field, gt_ids)) if len(i)]
    keep = "_error_atlas_keep"
    view = dataset.select(keys.tolist()).mongo([
        {"$set": {keep: {"$let": {"vars": {"sid": {"$toString": "$_id"}},
                                  "in": _search_tree(keys.tolist(), leaves)}}}},
        {"$set": {f + ".detections": {"$filter": {
            "input": "$%s.detections" % f,
            "cond": {"$in": [{"$toString": "$$this._id"}, "$" + keep]}}} for f in fields}},
        {"$unset": keep}])
    if patches and len(fields) == 1:
        return view.to_patches(fields[0])
    return view


def _search_tree(keys, leaves):
    """A MongoDB expression giving ``leaves[i]`` for ``$$sid == keys[i]`` (sorted keys);
    leaves are arrays of ids (strings never starting with ``$``, so no ``$literal``)."""
    if len(keys) == 1:
        return leaves[0]
    mid = len(keys) // 2
    return {"$cond": [{"$lt": ["$$sid", keys[mid]]}, _search_tree(keys[:mid], leaves[:mid]),
                      _search_tree(keys[mid:], leaves[mid:])]}


def visible_label_ids(view, config):
    """(pred ids, gt ids) of the evaluated labels a view shows: its samples'
    labels, or its patches' (object or evaluation patches)."""
    import fiftyone as fo

    out = []
    for field in (config.pred_field, config.gt_field):
        if not view.has_field(field):
            out.append([])
            continue
        listed = issubclass(view.get_field(field).document_type, fo.Detections)
        path = field + (".detections.id" if listed else ".id")
        out.append([i for i in view.values(path, unwind=True) if i])
    return out


def tag_objects(dataset, config, pred_ids, gt_ids, tag):
    """Adds ``tag`` to exactly these labels; returns how many were tagged."""
    fields = [f for f, i in ((config.pred_field, pred_ids), (config.gt_field, gt_ids)) if i]
    if not fields:
        return 0
    dataset.select_labels(ids=list(pred_ids) + list(gt_ids), fields=fields).tag_labels(
        tag, label_fields=fields)
    return len(pred_ids) + len(gt_ids)


def stale_samples(dataset, eval_view, written_at):
    """Number of evaluated samples modified after the run wrote its results."""
    if written_at is None:
        return 0
    return eval_view.match({"last_modified_at": {"$gt": written_at}}).count()


def as_index(value, names):
    """Index of a class name (or None)."""
    try:
        return names.index(value)
    except ValueError:
        return None

