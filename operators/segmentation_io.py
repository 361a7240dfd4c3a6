"""Reading semantic segmentation masks from FiftyOne and measuring them in workers.

Masks stay where the user keeps them: in the database (``mask``, FiftyOne's
serialized array) or on disk (``mask_path``, 8/16-bit PNG, or RGB with colour
``mask_targets``). The parent reads only the references (bytes or paths) and
the worker processes decode, map values to classes and count each image with
:func:`plugin.segmentation.measure_image`, so memory is bounded by a batch.
"""

from dataclasses import dataclass

import cv2
import numpy as np

import fiftyone.core.fields as fof
import fiftyone.core.utils as fou

from ..plugin import png, segmentation, workers
from .errors import EvaluationInputError

BATCH = 16  # images per worker task
RAW_TYPES = (np.uint8, np.uint16)  # masks counted without an index mask


@dataclass
class MaskSpec:
    """How to turn raw masks into class indices, shared by every image."""

    values: np.ndarray  # the K sorted integer mask values of the classes
    rgb: bool  # masks are RGB images whose colours are the values
    ignore_index: int  # ground-truth value not counted (None: none)
    background: int  # class index of the background, or None
    width: int = segmentation.BOUNDARY_WIDTH


def references(view, field, kind="mask"):
    """Per sample ``(bytes, path)`` of a Segmentation (``kind="mask"``) or
    Heatmap (``kind="map"``) field; both None where the sample has none."""
    data, paths = view.values(["%s.%s" % (field, kind), "%s.%s_path" % (field, kind)], _raw=True)
    return list(zip(data, paths))


def heatmap_ranges(view, field):
    return view.values("%s.range" % field)


def decode(ref):
    """A mask or map from its ``(bytes, path)`` reference, or None."""
    data, path = ref
    if data is not None:
        return fou.deserialize_numpy_array(data)
    if path is not None:
        img = png.read(path)  # the common mask layouts, ~5x faster than OpenCV
        if img is not None:
            return img
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if img is None:
            raise EvaluationInputError("Could not read the mask file '%s': check the path and "
                                       "that it is a PNG image." % path)
        return img[..., ::-1] if img.ndim == 3 else img  # cv2 reads BGR
    return None


def to_values(mask, rgb):
    """Integer mask values; RGB colours as ``0xRRGGBB`` integers (FiftyOne's hex targets)."""
    if mask.ndim == 3:
        if not rgb:
            raise ValueError("rgb")
        m = mask[..., :3].astype(np.int64)
        return (m[..., 0] << 16) | (m[..., 1] << 8) | m[..., 2]
    return mask if mask.dtype.kind in "iu" else mask.astype(np.int64)


def measure(spec, gt_ref, pred_ref, conf_ref=None, conf_range=None):
    """One image's :class:`~plugin.segmentation.ImageCounts`, plus what is
    wrong with its input: ``(counts, problems)``, problems a dict."""
    problems = {}
    gt, pred = decode(gt_ref), decode(pred_ref)
    if gt is None or pred is None:
        problems["missing"] = "ground truth" if gt is None else "predictions"
        return None, problems
    try:
        gt_v, pred_v = to_values(gt, spec.rgb), to_values(pred, spec.rgb)
    except ValueError:
        problems["rgb"] = True
        return None, problems
    if pred_v.shape != gt_v.shape:
        problems["resized"] = (pred_v.shape, gt_v.shape)
        pred_v = segmentation.resize_nearest(pred_v, gt_v.shape)
    confidence = None
    if conf_ref is not None:
        confidence = decode(conf_ref)
        if confidence is not None:
            if confidence.shape != gt_v.shape:
                problems["heatmap_size"] = (confidence.shape, gt_v.shape)
                return None, problems
            confidence = _to_unit(confidence, conf_range)
    K, options = len(spec.values), dict(confidence=confidence, background=spec.background,
                                        width=spec.width)
    if gt_v.dtype in RAW_TYPES and pred_v.dtype in RAW_TYPES:  # counted from the raw values
        counts, unknown = segmentation.measure_masks(gt_v, pred_v, spec.values,
                                                     ignore_value=spec.ignore_index, **options)
    else:
        gt_i, unknown_gt = segmentation.to_indices(gt_v, spec.values,
                                                   ignore_value=spec.ignore_index)
        pred_i, unknown_pred = segmentation.to_indices(pred_v, spec.values)
        unknown = np.union1d(unknown_gt, unknown_pred)
        counts = segmentation.measure_image(gt_i, pred_i, K, **options)
    if unknown.size:
        problems["unknown"] = unknown.tolist()
    return counts, problems


def _to_unit(heatmap, value_range):
    """A Heatmap's values in [0, 1] by its ``range`` (default: 0-255 for uint8,
    0-1 otherwise); a uint8 map over 0-255 stays uint8 (binned by a table)."""
    lo, hi = (float(v) for v in value_range) if value_range else (
        (0.0, 255.0) if heatmap.dtype == np.uint8 else (0.0, 1.0))
    if heatmap.dtype == np.uint8 and (lo, hi) == (0.0, 255.0):
        return heatmap
    h = heatmap.astype(np.float64)
    return np.clip((h - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.zeros_like(h)


def _measure_batch(spec, items):
    """``(results, hist)``: each item's ``(counts, problems)``, and the batch's
    confidence-bin counts folded (None unless every measured image has a confidence)."""
    results = [measure(spec, *item) for item in items]
    counts = [c for c, _ in results if c is not None]
    binned = bool(counts) and all(c.binned is not None for c in counts)
    hist = segmentation.fold_binned(counts, len(spec.values)) if binned else None
    return results, hist


def measure_all(spec, items, num_workers=2, progress=None):
    """Measures every ``(gt_ref, pred_ref, conf_ref, conf_range)`` item, in
    worker processes when there are several batches: ``(results, hist)``, the
    results in order and the confidence-bin counts summed over batches (None
    unless every image has them)."""
    progress = progress or (lambda fraction: None)
    out, hist = [], {"sum": None, "complete": True}

    def add(batch):
        out.extend(batch[0])
        if batch[1] is None:
            hist["complete"] = False
        elif hist["sum"] is None:
            hist["sum"] = batch[1]
        else:
            hist["sum"] += batch[1]

    # the parent measures the first image itself: that loads the compiled
    # kernels once, before the fork, instead of once in every worker
    add(_measure_batch(spec, items[:1]))
    rest = items[1:]
    batches = [rest[i:i + BATCH] for i in range(0, len(rest), BATCH)]
    if num_workers <= 1 or len(batches) <= 1:
        for k, b in enumerate(batches, 1):
            add(_measure_batch(spec, b))
            progress(k / len(batches))
        return out, hist["sum"] if hist["complete"] else None
    with workers.pool(num_workers) as ex:
        for k, batch in enumerate(ex.map(_measure_batch, [spec] * len(batches), batches), 1):
            add(batch)
            progress(k / len(batches))
    return out, hist["sum"] if hist["complete"] else None


def mask_values(view, gt_field, pred_field, rgb):
    """The sorted values that occur in the masks (when no ``mask_targets`` name them)."""
    found = set()
    for field in (gt_field, pred_field):
        for ref in references(view, field):
            m = decode(ref)
            if m is not None:
                found.update(np.unique(to_values(m, True)).tolist())
    return np.array(sorted(found), dtype=np.int64)


def targets_of(dataset, gt_field, mask_targets=None):
    """``(values, names, rgb)`` of the classes: the given ``mask_targets``, else
    the field's, else the dataset's default; None when nothing names them."""
    targets = mask_targets or dataset.mask_targets.get(gt_field) or dataset.default_mask_targets
    if not targets:
        return None
    rgb = fof.is_rgb_mask_targets(targets)
    items = sorted(((fof.hex_to_int(k) if rgb else int(k)), str(v)) for k, v in targets.items())
    values, names = zip(*items)
    return np.array(values, dtype=np.int64), list(names), rgb


def check_field(view, field, role, kinds=("Segmentation",)):
    schema = view.get_field_schema(flat=True)
    f = schema.get(field)
    kind = getattr(getattr(f, "document_type", None), "__name__", None)
    if f is None:
        raise EvaluationInputError("The %s field '%s' does not exist on this dataset." % (role, field))
    if kind not in kinds:
        raise EvaluationInputError(
            "The %s field '%s' holds %s, not %s: choose a field of fo.%s labels." % (
                role, field, kind or type(f).__name__, " or ".join(kinds), kinds[0]))
