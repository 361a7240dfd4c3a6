"""FiftyOne views of the objects behind a number: a confusion cell, a class, an error type.

Objects are identified through the ids stored with the analysis, so what is
shown is exactly what was counted at the panel's (confidence, IoU), whatever the
per-label fields on the samples say. In ``objects`` mode the App shows one patch
per object (the count equals the number); in ``samples`` mode the samples that
contain them, with only those labels visible.
"""

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


def objects_view(dataset, config, pred_ids, gt_ids, mode=OBJECTS, paired=False):
    """The view showing these objects: patches of one field, or their samples.

    ``paired`` says the gts are the objects the predictions matched or
    confused (a confusion cell): objects mode then shows one patch per
    prediction. Unpaired predictions and gts together (a class's false
    detections and missed objects) can only be shown as samples.
    """
    pred_field, gt_field = config.pred_field, config.gt_field
    if mode == OBJECTS and (paired or not (len(pred_ids) and len(gt_ids))):
        field, ids = (pred_field, pred_ids) if len(pred_ids) else (gt_field, gt_ids)
        if not len(ids):
            return dataset.limit(0)
        return dataset.select_labels(ids=list(ids), fields=field).to_patches(field)
    ids = list(pred_ids) + list(gt_ids)
    if not ids:
        return dataset.limit(0)
    fields = [f for f, i in ((pred_field, pred_ids), (gt_field, gt_ids)) if len(i)]
    return dataset.select_labels(ids=ids, fields=fields)


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

