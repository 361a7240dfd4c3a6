"""Object detection / instance segmentation evaluation: arrays in, everything out.

:func:`evaluate` computes, in one pass, COCO metrics equal to pycocotools,
class-wise matches at the ten COCO IoU thresholds (and any other requested
one), and keeps the overlapping pairs needed to answer later questions
(sweeps, error types, confusion matrices at any operating point) in
milliseconds, without the data set. :class:`Evaluation` serializes to a
compact binary blob for storage with a FiftyOne run.
"""

import io
from functools import lru_cache

import numpy as np

from . import coco, errors, iou as iou_ops, matching, sweep, tide

#: Optional opaque identifiers (e.g. FiftyOne ids) kept with the arrays.
ID_FIELDS = ("pred_ids", "gt_ids", "image_ids")

ARRAY_FIELDS = (
    "thresholds", "pred_image", "pred_label", "pred_score", "pred_area",
    "gt_image", "gt_label", "gt_crowd", "gt_area", "pred_gt", "pred_iou",
    "gt_pred", "pair_pred", "pair_gt", "pair_iou", "coco_precision",
    "coco_recall", "coco_scores",
)


def evaluate(
    classes, pred_image, pred_label, pred_score, pred_box, gt_image, gt_label,
    gt_box, gt_crowd=None, gt_area=None, pred_masks=None, gt_masks=None,
    pred_area=None, iou=0.5,
):
    """Evaluates predictions against ground truth, COCO-style.

    Args:
        classes: the K class names; labels below index into it
        pred_image, pred_label, pred_score: (P,) image index (in the order
            that breaks confidence ties, like pycocotools' sorted image ids),
            class index and confidence of every prediction
        pred_box: (P, 4) ``[x, y, w, h]`` boxes in pixels
        gt_image, gt_label: (G,) image and class index of every object
        gt_box: (G, 4) boxes in pixels
        gt_crowd: (G,) bool crowd flags (default none)
        gt_area, pred_area: areas for COCO's small/medium/large ranges
            (default: box areas, or mask areas when masks are given)
        pred_masks, gt_masks: optional COCO RLEs of full-image instance masks;
            when given, IoUs are mask IoUs
        iou: an extra IoU threshold to keep matches for (per-label results)

    Returns:
        an :class:`Evaluation`
    """
    pred_box = np.asarray(pred_box, dtype=np.float64).reshape(-1, 4)
    gt_box = np.asarray(gt_box, dtype=np.float64).reshape(-1, 4)
    P, G = pred_box.shape[0], gt_box.shape[0]
    gt_crowd = np.zeros(G, bool) if gt_crowd is None else np.asarray(gt_crowd, dtype=bool)
    pred_image = np.asarray(pred_image, dtype=np.int64).reshape(P)
    pred_label = np.asarray(pred_label, dtype=np.int64).reshape(P)
    pred_score = np.asarray(pred_score, dtype=np.float64).reshape(P)
    gt_image = np.asarray(gt_image, dtype=np.int64).reshape(G)
    gt_label = np.asarray(gt_label, dtype=np.int64).reshape(G)

    use_masks = pred_masks is not None and gt_masks is not None
    if use_masks:
        if pred_area is None:
            pred_area = iou_ops.mask_areas(pred_masks)
        if gt_area is None:
            gt_area = iou_ops.mask_areas(gt_masks)
        pp, pg, pv = iou_ops.mask_pairs(pred_image, pred_masks, gt_image, gt_masks, gt_crowd)
    else:
        pp, pg, pv = iou_ops.box_pairs(pred_image, pred_box, gt_image, gt_box, gt_crowd)
    pred_area = pred_box[:, 2] * pred_box[:, 3] if pred_area is None else np.asarray(pred_area, float)
    gt_area = gt_box[:, 2] * gt_box[:, 3] if gt_area is None else np.asarray(gt_area, float)

    thresholds = np.asarray(coco.IOU_THRESHOLDS)
    if not np.any(np.abs(thresholds - iou) < 1e-9):
        thresholds = np.append(thresholds, iou)

    rank = matching.group_rank(pred_image, pred_label, pred_score)
    same = pred_label[pp] == gt_label[pg]
    gt_ignore = coco.area_ignore(gt_area) | gt_crowd[None, :]
    m = matching.match(pp[same], pg[same], pv[same], rank, G, thresholds, gt_ignore, gt_crowd)
    n_coco = coco.IOU_THRESHOLDS.size
    metrics = coco.accumulate(
        pred_label, pred_image, pred_score, rank, pred_area, m.pred_gt[:, :n_coco],
        gt_label, gt_ignore, len(classes),
    )

    keep = pv >= min(errors.BACKGROUND_IOU, iou)
    pair_pred, pair_gt, pair_iou = errors.sort_pairs(pp[keep], pg[keep], pv[keep])
    return Evaluation(
        classes=list(classes), thresholds=thresholds, pred_image=pred_image,
        pred_label=pred_label, pred_score=pred_score, pred_area=pred_area,
        gt_image=gt_image, gt_label=gt_label, gt_crowd=gt_crowd, gt_area=gt_area,
        pred_gt=m.pred_gt[0], pred_iou=m.pred_iou[0], gt_pred=m.gt_pred[0],
        pair_pred=pair_pred, pair_gt=pair_gt, pair_iou=pair_iou,
        coco_precision=metrics.precision, coco_recall=metrics.recall,
        coco_scores=metrics.scores,
    )


class Evaluation:
    """Everything an evaluation learned, queryable at any operating point.

    Matches are class-wise at COCO's area range "all", over every prediction
    (no ``maxDets`` truncation): ``pred_gt[t]`` / ``gt_pred[t]`` at
    ``thresholds[t]``. COCO numbers (``coco``) follow pycocotools exactly.
    Implements :class:`~.evaluation.Evaluation` (the operating point's own
    knob: ``iou``).
    """

    task = "detection"

    def __init__(self, classes, **arrays):
        self.classes = list(classes)
        missing = set(ARRAY_FIELDS) - set(arrays)
        if missing:
            raise ValueError("missing arrays: %s" % sorted(missing))
        for name in ARRAY_FIELDS:
            setattr(self, name, np.asarray(arrays[name]))
        for name in ID_FIELDS:
            setattr(self, name, np.asarray(arrays.get(name, ())).astype(str))
        self.coco = coco.CocoMetrics(self.coco_precision, self.coco_recall, self.coco_scores, {})
        self.coco.stats = coco.summarize(self.coco)
        # confidence orders do not depend on the IoU: sort once, up front
        self._orders = sweep.sort_orders(self.pred_score, self.pred_label)
        self._sweeps = lru_cache(maxsize=16)(self._compute_sweeps)
        self._assess = lru_cache(maxsize=8)(self._compute_assessment)
        self._delta_ap = lru_cache(maxsize=4)(lambda iou: tide.delta_ap(self, iou))

    @property
    def num_classes(self):
        return len(self.classes)

    def set_ids(self, pred_ids=None, gt_ids=None, image_ids=None):
        """Attaches identifiers of predictions, ground truth and images (e.g. FiftyOne ids)."""
        for name, ids in (("pred_ids", pred_ids), ("gt_ids", gt_ids), ("image_ids", image_ids)):
            if ids is not None:
                setattr(self, name, np.asarray(ids, dtype=str))

    def members(self, ids):
        """``(pred_in, gt_in)`` masks of the predictions and objects in a subset
        named by ids: their own ids (labels) or their images' ids (samples).
        Needs the ids attached with :meth:`set_ids`."""
        ids = np.unique(np.asarray(list(ids), dtype=str))
        pred_in = np.isin(self.pred_ids, ids) if self.pred_ids.size else np.zeros(self.pred_score.size, bool)
        gt_in = np.isin(self.gt_ids, ids) if self.gt_ids.size else np.zeros(self.gt_label.size, bool)
        if self.image_ids.size:
            images = np.isin(self.image_ids, ids)
            pred_in |= images[self.pred_image]
            gt_in |= images[self.gt_image]
        return pred_in, gt_in

    def threshold_index(self, iou):
        """Index of IoU threshold ``iou`` in :attr:`thresholds`."""
        idx = np.flatnonzero(np.abs(self.thresholds - iou) < 1e-6)
        if idx.size == 0:
            raise ValueError(
                "IoU %r was not evaluated; available: %s"
                % (iou, ", ".join("%.2f" % t for t in self.thresholds))
            )
        return int(idx[0])

    def sweeps(self, iou=0.5):
        """``(overall, per_class)`` :class:`~.sweep.Sweep` at IoU ``iou``."""
        return self._sweeps(self.threshold_index(iou))

    def _compute_sweeps(self, t):
        matched = self.pred_gt[t] >= 0
        to_crowd = matched & self.gt_crowd[np.where(matched, self.pred_gt[t], 0)] if self.gt_crowd.size else matched
        return sweep.sweeps(
            self.pred_score, self.pred_label, matched & ~to_crowd, to_crowd,
            self.gt_label[~self.gt_crowd], self.num_classes, self._orders,
        )

    def assess(self, iou=0.5, confidence=None):
        """Error types and confusion matrix (:class:`~.errors.Assessment`)."""
        conf = None if confidence is None else float(confidence)
        return self._assess(self.threshold_index(iou), conf)

    def _compute_assessment(self, t, confidence):
        return errors.assess(
            self.pred_score, self.pred_label, self.gt_label, self.gt_crowd,
            self.pred_gt[t], self.gt_pred[t],
            (self.pair_pred, self.pair_gt, self.pair_iou),
            self.thresholds[t], self.num_classes, confidence,
        )

    def delta_ap(self, iou=0.5):
        """TIDE's oracle dAP per error type at IoU ``iou`` (see :mod:`.tide`)."""
        return self._delta_ap(float(iou))

    def confusions(self, iou, thresholds):
        """(T, K+1, K+1) confusion matrices at ascending confidence ``thresholds``,
        each equal to ``assess(iou, threshold).confusion``, in one vectorized pass."""
        t = self.threshold_index(iou)
        return errors.confusion_sweep(
            self.pred_score, self.pred_label, self.gt_label, self.gt_crowd,
            self.pred_gt[t], self.gt_pred[t],
            (self.pair_pred, self.pair_gt, self.pair_iou),
            self.thresholds[t], self.num_classes, thresholds,
        )

    def error_sweeps(self, iou, thresholds):
        """(T, P), (T, G) error types at ascending confidence ``thresholds``, each row
        equal to ``assess(iou, threshold).pred_error`` / ``.gt_error``, in one vectorized pass."""
        t = self.threshold_index(iou)
        return errors.error_sweep(
            self.pred_score, self.pred_label, self.gt_label, self.gt_crowd,
            self.pred_gt[t], self.gt_pred[t],
            (self.pair_pred, self.pair_gt, self.pair_iou),
            self.thresholds[t], self.num_classes, thresholds,
        )

    def optimal_thresholds(self, iou=0.5):
        """Maximum-F1 confidence overall and per class (None where undefined)."""
        overall, per_class = self.sweeps(iou)
        best = overall.optimal()
        return {
            "overall": best["confidence"] if best else None,
            "per_class": {
                c: (s.optimal()["confidence"] if s.optimal() and s.num_gt else None)
                for c, s in zip(self.classes, per_class)
            },
        }

    def per_class(self, confidence=None, iou=0.5):
        """One JSON-ready row per class at an operating point: precision, recall,
        F1, support (ground-truth objects) and AP."""
        _, per_class = self.sweeps(iou)
        class_ap = self.coco.class_ap()
        return [
            {"class": c, **{k: s.at(confidence)[k] for k in ("precision", "recall", "f1", "tp", "fp")},
             "support": int(s.num_gt), "ap": _clean(a)}
            for c, s, a in zip(self.classes, per_class, class_ap)
        ]

    def summary(self, iou=0.5, confidence=None):
        """Headline numbers at an operating point, JSON-ready."""
        overall, per_class = self.sweeps(iou)
        point = overall.at(confidence)
        assessment = self.assess(iou, confidence)
        class_ap = self.coco.class_ap()
        return {
            **{k: _clean(v) for k, v in self.coco.stats.items()},
            "iou": float(iou),
            "confidence": confidence,
            "precision": point["precision"],
            "recall": point["recall"],
            "f1": point["f1"],
            "tp": point["tp"],
            "fp": point["fp"],
            "fn": overall.num_gt - point["tp"],
            "optimal": overall.optimal(),
            "optimal_threshold": (overall.optimal() or {}).get("confidence"),
            "per_class_AP": {c: _clean(a) for c, a in zip(self.classes, class_ap)},
            "per_class_optimal_threshold": self.optimal_thresholds(iou)["per_class"],
            "error_counts": assessment.error_counts(),
            "delta_ap": self.delta_ap(iou),
            "num_gt": int(np.count_nonzero(~self.gt_crowd)),
            "num_pred": int(self.pred_score.size),
        }

    def to_bytes(self):
        """Compressed binary form (numpy ``.npz``)."""
        buf = io.BytesIO()
        ids = {name: getattr(self, name).astype(bytes) for name in ID_FIELDS}  # 4x smaller
        arrays = {name: _compact(getattr(self, name)) for name in ARRAY_FIELDS}
        np.savez_compressed(buf, classes=np.array(self.classes, dtype=str), **arrays, **ids)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob):
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            arrays = {name: data[name] for name in ARRAY_FIELDS + ID_FIELDS if name in data}
            classes = data["classes"].tolist()
        return cls(classes, **arrays)


def _compact(array):
    """Index arrays fit in int32 (half the bytes to compress and store)."""
    if array.dtype == np.int64 and (array.size == 0 or array.max() < 2**31):
        return array.astype(np.int32)
    return array


def _clean(value):
    """-1 (COCO's "undefined") becomes None for JSON and display."""
    value = float(value)
    return None if value < 0 else value
