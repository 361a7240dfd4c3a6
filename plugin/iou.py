"""Overlap between predictions and ground truth, as sparse (pred, gt, IoU) pairs.

Only pairs in the same image can overlap, so every function here returns the
non-zero IoUs of same-image pairs instead of dense matrices. Box IoUs follow
pycocotools' ``bbIou`` operation for operation (so ties and thresholds compare
bit-identically); crowd regions use the prediction's area as the union, as in
COCO.
"""

import numpy as np


def same_image_pairs(pred_image, gt_image):
    """All (pred, gt) index pairs that share an image, grouped by prediction.

    Args:
        pred_image: (P,) int image index of every prediction
        gt_image: (G,) int image index of every ground-truth object

    Returns:
        ``(pred_idx, gt_idx)`` int64 arrays; for each prediction its partners
        appear in ascending gt index order
    """
    pred_image = np.asarray(pred_image, dtype=np.int64)
    gt_image = np.asarray(gt_image, dtype=np.int64)
    if pred_image.size == 0 or gt_image.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty

    n_images = int(max(pred_image.max(), gt_image.max())) + 1
    gt_order = np.argsort(gt_image, kind="stable")
    gt_count = np.bincount(gt_image, minlength=n_images)
    gt_start = np.cumsum(gt_count) - gt_count

    partners = gt_count[pred_image]
    pred_idx = np.repeat(np.arange(pred_image.size), partners)
    run_start = np.repeat(np.cumsum(partners) - partners, partners)
    offset = np.arange(pred_idx.size) - run_start
    gt_idx = gt_order[np.repeat(gt_start[pred_image], partners) + offset]
    return pred_idx, gt_idx


def box_iou(pred_boxes, gt_boxes, gt_crowd):
    """Elementwise COCO IoU of aligned ``[x, y, w, h]`` boxes.

    Args:
        pred_boxes: (N, 4) float boxes
        gt_boxes: (N, 4) float boxes
        gt_crowd: (N,) bool; crowd regions use the prediction area as union

    Returns:
        (N,) float64 IoUs, 0 where the boxes do not intersect
    """
    d = np.asarray(pred_boxes, dtype=np.float64)
    g = np.asarray(gt_boxes, dtype=np.float64)
    w = np.minimum(d[:, 2] + d[:, 0], g[:, 2] + g[:, 0]) - np.maximum(d[:, 0], g[:, 0])
    h = np.minimum(d[:, 3] + d[:, 1], g[:, 3] + g[:, 1]) - np.maximum(d[:, 1], g[:, 1])
    inter = w * h
    d_area = d[:, 2] * d[:, 3]
    union = np.where(gt_crowd, d_area, d_area + g[:, 2] * g[:, 3] - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
    return np.where((w > 0) & (h > 0), iou, 0.0)


def box_pairs(pred_image, pred_boxes, gt_image, gt_boxes, gt_crowd):
    """Overlapping same-image (pred, gt) pairs of boxes and their IoU."""
    p, g = same_image_pairs(pred_image, gt_image)
    iou = box_iou(pred_boxes[p], gt_boxes[g], np.asarray(gt_crowd)[g])
    keep = iou > 0
    return p[keep], g[keep], iou[keep]


def mask_pairs(pred_image, pred_rles, gt_image, gt_rles, gt_crowd):
    """Overlapping same-image (pred, gt) pairs of instance masks and their IoU.

    Masks are COCO RLEs (``pycocotools.mask.encode`` output) of full images;
    IoUs come from ``pycocotools.mask.iou`` with COCO's crowd semantics, one
    call per image.
    """
    from pycocotools import mask as mask_utils

    pred_image = np.asarray(pred_image, dtype=np.int64)
    gt_image = np.asarray(gt_image, dtype=np.int64)
    gt_crowd = np.asarray(gt_crowd, dtype=bool)
    out_p, out_g, out_iou = [], [], []
    pred_by_image = _indices_by_image(pred_image)
    gt_by_image = _indices_by_image(gt_image)
    for image, preds in pred_by_image.items():
        gts = gt_by_image.get(image)
        if gts is None:
            continue
        ious = np.asarray(
            mask_utils.iou(
                [pred_rles[i] for i in preds],
                [gt_rles[j] for j in gts],
                gt_crowd[gts].astype(np.uint8).tolist(),
            ),
            dtype=np.float64,
        ).reshape(len(preds), len(gts))
        pi, gj = np.nonzero(ious > 0)
        out_p.append(preds[pi])
        out_g.append(gts[gj])
        out_iou.append(ious[pi, gj])
    if not out_p:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    return np.concatenate(out_p), np.concatenate(out_g), np.concatenate(out_iou)


#: pycocotools' ``area`` builds a uint8 array holding the list's length before
#: filling it, which NumPy 2 refuses from 256 on: longer lists go in chunks.
_AREA_CHUNK = 255


def mask_areas(rles):
    """(N,) pixel areas of COCO RLEs, at any N (pycocotools' ``area`` in chunks)."""
    from pycocotools import mask as mask_utils

    rles = list(rles)
    chunks = [mask_utils.area(rles[i:i + _AREA_CHUNK]) for i in range(0, len(rles), _AREA_CHUNK)]
    return np.concatenate(chunks).astype(np.float64) if chunks else np.zeros(0)


def _indices_by_image(image):
    order = np.argsort(image, kind="stable")
    images, starts = np.unique(image[order], return_index=True)
    return dict(zip(images.tolist(), np.split(order, starts[1:])))
