"""COCO precision-recall curves at any IoU thresholds and prediction cap.

FiftyOne's ``evaluate_detections(method="coco", compute_mAP=True)`` takes
``iou_threshs`` (default 0.50:0.05:0.95) and ``max_preds`` (default 100: the
most confident predictions kept per image and class). :func:`detection.evaluate`
keeps COCO's standard ones for its analysis; this computes the same
pycocotools arrays (area range "all") for other choices, from the same inputs.
"""

from dataclasses import dataclass

import numpy as np

from . import coco, iou as iou_ops, matching


@dataclass
class Curves:
    """Attributes:
        iou_threshs: (T,) IoU thresholds
        precision: (T, R, K) precision at COCO's 101 recall points, -1 where a
            class has no ground truth
        scores: (T, R, K) confidence at each recall point
        recall: (T, K) recall reached, -1 where a class has no ground truth
    """

    iou_threshs: np.ndarray
    precision: np.ndarray
    scores: np.ndarray
    recall: np.ndarray

    def class_ap(self):
        """(K,) AP per class averaged over thresholds and recall points; -1 if no gt."""
        valid = self.precision[0, 0] > -1
        out = np.full(valid.size, -1.0)
        out[valid] = self.precision[:, :, valid].mean(axis=(0, 1))
        return out

    def mAP(self):
        """Mean of the defined class APs (-1 when none), as FiftyOne's ``results.mAP()``."""
        ap = self.class_ap()
        ap = ap[ap > -1]
        return float(ap.mean()) if ap.size else -1.0


def curves(
    classes, pred_image, pred_label, pred_score, pred_box, gt_image, gt_label, gt_box,
    gt_crowd, iou_threshs, max_preds, pred_masks=None, gt_masks=None,
):
    """Class-wise greedy COCO matching at ``iou_threshs`` over the ``max_preds``
    most confident predictions of each (image, class), accumulated like
    ``COCOeval.accumulate``. Arguments as :func:`detection.evaluate`.

    Returns:
        a :class:`Curves`
    """
    pred_image = np.asarray(pred_image, dtype=np.int64)
    pred_label = np.asarray(pred_label, dtype=np.int64)
    pred_score = np.asarray(pred_score, dtype=np.float64)
    gt_label = np.asarray(gt_label, dtype=np.int64)
    gt_crowd = np.asarray(gt_crowd, dtype=bool)
    thresholds = np.asarray(iou_threshs, dtype=np.float64)
    if pred_masks is not None and gt_masks is not None:
        pp, pg, pv = iou_ops.mask_pairs(pred_image, pred_masks, gt_image, gt_masks, gt_crowd)
    else:
        pp, pg, pv = iou_ops.box_pairs(pred_image, pred_box, gt_image, gt_box, gt_crowd)

    rank = matching.group_rank(pred_image, pred_label, pred_score)
    same = pred_label[pp] == gt_label[pg]
    m = matching.match(pp[same], pg[same], pv[same], rank, gt_label.size, thresholds,
                       gt_crowd[None, :], gt_crowd)
    pred_gt = m.pred_gt[0]  # (T, P)
    matched = pred_gt >= 0
    ignored = np.zeros_like(matched)
    ignored[matched] = gt_crowd[pred_gt[matched]]

    K, T, R = len(classes), thresholds.size, coco.RECALL_THRESHOLDS.size
    precision, scores = -np.ones((T, R, K)), -np.ones((T, R, K))
    recall = -np.ones((T, K))
    order = np.lexsort((rank, pred_image, -pred_score, pred_label))
    sel = order[rank[order] < max_preds]
    npig = np.bincount(gt_label[~gt_crowd], minlength=K).astype(np.float64)
    coco.accumulate_one(pred_label[sel], pred_score[sel], matched[:, sel], ignored[:, sel],
                        npig, precision, recall, scores)
    return Curves(thresholds, precision, scores, recall)
