"""Semantic segmentation evaluation: label masks in, pooled pixel metrics out.

One image at a time, :func:`measure_image` turns a ground-truth and a
predicted label mask (class indices, see :func:`to_indices`) into a compact
:class:`ImageCounts`: its pixel confusion as sparse ``(true, pred, count)``
triplets, a confusion per confidence bin when per-pixel confidences are given,
the pixels in the band around the true edges (boundary IoU), and the dominant
error per class. :func:`pool` adds images into a :class:`SegmentationEvaluation`
that answers every metric, at any confidence threshold, without the masks.

Conventions (mmsegmentation's): intersections and unions are summed over all
pixels of the data set, then averaged over classes; a class with no pixel in
either ground truth or predictions has no IoU (NaN, left out of the means).
Ground-truth pixels equal to ``ignore_index`` are not counted. A prediction
below the confidence threshold counts as *unlabeled*: the last column of every
confusion matrix, a miss for the true class.
"""

import io
import json
import zipfile
from dataclasses import dataclass, field

import cv2
import numpy as np

from . import pixel_counts

#: Width in pixels of the band around the true edges (boundary IoU, ``boundary`` errors).
BOUNDARY_WIDTH = 3
#: Confidence bins of the sweep: thresholds at ``k / CONFIDENCE_BINS``, exact there.
CONFIDENCE_BINS = 100
#: Per image and class, the error kinds :func:`measure_image` counts.
ERROR_KINDS = ("missed_region", "false_region", "confused_region", "boundary")
#: The arrays of a stored evaluation (besides the optional ``hist`` and ``pair_bins``).
BLOB_ARRAYS = ("confusion", "image_pairs", "gt_band", "pred_band", "band_hits", "image_errors",
               "image_confused_with")


def to_indices(mask, values, ignore_value=None):
    """Maps a mask of raw values (e.g. 0, 1, 255) to class indices.

    Args:
        mask: an integer array
        values: the K sorted mask values of the classes
        ignore_value: optional raw value mapped to -1 without being unknown

    Returns:
        ``(indices, unknown)``: int16 indices (-1 where a value is not a
        class) and the sorted values that are neither classes nor ignored
    """
    values = np.asarray(values, dtype=np.int64)
    if mask.dtype == np.uint8:  # OpenCV's table and histogram: ~10x numpy's gather
        lut = _lut(values, ignore_value, 256)
        present = np.flatnonzero(cv2.calcHist([mask], [0], None, [256], [0, 256]).ravel())
        indices = cv2.LUT(mask, lut)
        unknown = present[lut[present] == -2]
        if unknown.size:
            indices[indices == -2] = -1
        return indices, unknown.astype(np.int64)
    if mask.dtype == np.uint16:  # a lookup table: one gather
        indices = _lut(values, ignore_value, 65536)[mask]
    else:
        pos = np.clip(np.searchsorted(values, mask), 0, max(values.size - 1, 0))
        known = values[pos] == mask if values.size else np.zeros(mask.shape, bool)
        indices = np.where(known, pos, -2).astype(np.int16)
        if ignore_value is not None:
            indices[mask == ignore_value] = -1
    bad = indices == -2
    if not bad.any():
        return indices, np.array([], dtype=np.int64)
    unknown = np.unique(mask[bad]).astype(np.int64)
    indices[bad] = -1
    return indices, unknown


def _lut(values, ignore_value, size):
    """The int16 table of :func:`to_indices`: class index, -1 ignored, -2 unknown."""
    lut = np.full(size, -2, np.int16)
    lut[values[(values >= 0) & (values < size)]] = np.flatnonzero((values >= 0) & (values < size))
    if ignore_value is not None and 0 <= ignore_value < size:
        lut[ignore_value] = -1
    return lut


def resize_nearest(mask, shape):
    """``mask`` resized to ``shape`` (rows, cols) with nearest neighbour, as FiftyOne does."""
    if mask.shape[:2] == tuple(shape):
        return mask
    return cv2.resize(mask, (int(shape[1]), int(shape[0])), interpolation=cv2.INTER_NEAREST)


def confidence_bins(confidence):
    """The bin ``k`` of each confidence: ``k / B <= c < (k + 1) / B`` exactly
    (``k / B`` is the same correctly rounded float64 as ``np.arange(B + 1) / B``),
    1.0 in bin ``B``. Integer heatmaps (uint8 / uint16 scaled to [0, 1] by
    their maximum value) go through a lookup table."""
    c = np.asarray(confidence)
    if c.dtype in (np.uint8, np.uint16):
        top = 255 if c.dtype == np.uint8 else 65535
        return confidence_bins(np.arange(top + 1) / top).astype(np.int16)[c]
    c = np.clip(c.astype(np.float64, copy=False), 0.0, 1.0)
    k = np.floor(c * CONFIDENCE_BINS)
    k -= k / CONFIDENCE_BINS > c
    k += (k + 1) / CONFIDENCE_BINS <= c
    return np.minimum(k, CONFIDENCE_BINS).astype(np.int16)


@dataclass
class ImageCounts:
    """What one image contributes; everything else derives from it.

    ``pairs`` are ``(true, pred, count)`` rows (pred ``K`` = unlabeled);
    ``binned`` (optional) are ``(true, pred, bin, count)`` rows of the
    predicted pixels by confidence bin, folded by :func:`fold_binned` into
    the data set's counts and ``pair_bins``, the lowest and highest bin of
    each ``pairs`` row; ``gt_band`` / ``pred_band`` /
    ``band_hits`` count, per class, the pixels in the band of the true
    (predicted) edges and those of both; ``errors`` is (K, 4) pixel counts of
    :data:`ERROR_KINDS` per class and ``confused_with`` (K,) the class each
    class's pixels were most often taken for (-1: none).
    """

    pairs: np.ndarray
    gt_band: np.ndarray
    pred_band: np.ndarray
    band_hits: np.ndarray
    errors: np.ndarray
    confused_with: np.ndarray
    binned: np.ndarray = None
    pair_bins: np.ndarray = None


def measure_image(gt, pred, num_classes, confidence=None, background=None,
                  width=BOUNDARY_WIDTH):
    """Counts one image given as class indices.

    Args:
        gt: (H, W) class indices of the ground truth; -1 = ignored
        pred: (H, W) class indices of the prediction (resized to ``gt``)
        num_classes: K
        confidence: optional (H, W) per-pixel confidence in [0, 1], or its
            :func:`confidence_bins` (int16), or a uint8 / uint16 heatmap over
            its type's full range
        background: optional class index of the background (its errors are
            the other classes'; it is never a ``missed`` / ``false`` region)
        width: the boundary band's width in pixels

    Returns:
        an :class:`ImageCounts`
    """
    K = int(num_classes)
    dtype = np.uint8 if K < 255 else np.uint16
    table = np.minimum(np.arange(np.iinfo(dtype).max + 1), K)  # -1 reads as the maximum
    gt, pred = (np.where(m >= 0, m, K).astype(dtype) for m in (gt, pred))
    return _measure(gt, pred, table, table, K, confidence, background, width)[0]


def measure_masks(gt, pred, values, ignore_value=None, confidence=None, background=None,
                  width=BOUNDARY_WIDTH):
    """Counts one image given as raw uint8 / uint16 masks (the class values
    :func:`to_indices` maps), without building the index masks.

    Returns:
        ``(counts, unknown)``: the :class:`ImageCounts` of
        :func:`measure_image` on the masks' indices, and the sorted raw values
        that are neither classes nor ``ignore_value`` (the counts are not
        meaningful when there are any)
    """
    K = len(values)
    gt_table = pixel_counts.class_table(values, _table_size(gt), K, K + 1, ignore_value)
    pred_table = pixel_counts.class_table(values, _table_size(pred), K, K + 1)
    counts, found = _measure(gt, pred, gt_table, pred_table, K, confidence, background, width)
    unknown = [m[table[m] == K + 1] for m, table in ((gt, gt_table), (pred, pred_table))
               if found]
    unknown = np.unique(np.concatenate(unknown)).astype(np.int64) if unknown else \
        np.array([], np.int64)
    return counts, unknown


def _table_size(mask):
    return np.iinfo(mask.dtype).max + 1


def _measure(gt, pred, gt_table, pred_table, K, confidence, background, width):
    """``(counts, unknown)`` of raw masks through their class tables: code
    ``K`` is ignored (true) / unlabeled (predicted), ``K + 1`` a value of no
    class, counted as ``K``; ``unknown`` says whether there was one."""
    n = K + 2
    bins = bin_table = None
    if confidence is not None:
        if confidence.dtype in (np.uint8, np.uint16):
            bins, bin_table = confidence, _heatmap_bins(confidence.dtype)
        else:
            bins = (confidence if confidence.dtype == np.int16
                    else confidence_bins(confidence)).astype(np.uint8)
            bin_table = np.arange(256)
    h, hb = pixel_counts.joint_counts(gt, pred, gt_table, pred_table, n, width, bins, bin_table,
                                      CONFIDENCE_BINS + 1)
    unknown = bool(h[K + 1].any() or h[:, K + 1].any())
    h = _fold_unknown(h, K)[:K]

    binned = None
    if hb is not None:
        hb = _fold_unknown(hb, K)[:K]
        tp, pp, bb = np.nonzero(hb)
        binned = np.stack([tp, pp, bb, hb[tp, pp, bb]], axis=1).astype(np.int64)

    full = h.sum(axis=(2, 3))
    rows, cols = np.nonzero(full)
    pairs = np.stack([rows, cols, full[rows, cols]], axis=1).astype(np.int64)
    on_gt = h[:, :, 1, :]  # (true, pred, pred pixel on a predicted edge) on a true edge
    gt_band = on_gt.sum(axis=(1, 2))
    pred_band = h[:, :, :, 1].sum(axis=(0, 2))[:K]
    band_hits = np.diagonal(on_gt[:, :K, 1]).copy()

    errors, confused_with = _errors(full, on_gt.sum(axis=2), K, background)
    return ImageCounts(pairs, gt_band, pred_band, band_hits, errors, confused_with, binned), unknown


def _fold_unknown(h, K):
    """(K + 2, K + 2, ...) counts with code ``K + 1`` added into ``K``: (K + 1, K + 1, ...)."""
    folded = h[:K + 1, :K + 1].copy()
    folded[K] += h[K + 1, :K + 1]
    folded[:, K] += h[:K + 1, K + 1]
    folded[K, K] += h[K + 1, K + 1]
    return folded


def _heatmap_bins(dtype):
    """The confidence bin of every value of a uint8 / uint16 heatmap over its full range."""
    top = np.iinfo(dtype).max
    return confidence_bins(np.arange(top + 1) / top).astype(np.int32)


def _errors(full, near_edge, K, background):
    """Pixel counts of each error kind per class, and the most confused class,
    from the (K, K + 1) confusion of all pixels and of those near a true edge."""
    off = ~np.eye(K, K + 1, dtype=bool)
    edge = np.where(off, near_edge, 0)
    errors = np.zeros((K, len(ERROR_KINDS)), np.int64)
    # a wrong pixel near a true edge is a boundary error of both classes involved
    errors[:, 3] = edge.sum(axis=1) + edge[:, :K].sum(axis=0)
    inner = np.where(off, full - near_edge, 0)
    errors[:, 0] = inner[:, K]
    pair = inner[:, :K].copy()
    if background is not None:
        errors[:, 0] += pair[:, background]
        errors[:, 1] = pair[background]
        pair[:, background] = 0
        pair[background] = 0
    pair = pair + pair.T  # a confusion counts for both classes
    errors[:, 2] = pair.sum(axis=1)
    confused_with = np.where(pair.max(axis=1) > 0, pair.argmax(axis=1), -1)
    if background is not None:
        errors[background] = 0
    return errors, confused_with


@dataclass
class SegmentationEvaluation:
    """Pooled counts of a data set (images in the order they were pooled).

    ``confusion`` is (K, K + 1), rows true classes, columns predicted classes
    and *unlabeled*; ``hist`` (optional) the same counts per confidence bin,
    (K, K + 1, B + 1). ``image_pairs`` holds every image's sparse confusion as
    ``(image, true, pred, count)`` rows, so an image's or a view's numbers and
    a cell's images need no pass over the masks. ``pair_bins`` (optional,
    with ``hist``) holds the lowest and highest confidence bin of each of
    those rows' pixels, so a cell's images are known at any threshold.
    """

    classes: list
    confusion: np.ndarray
    image_pairs: np.ndarray
    gt_band: np.ndarray
    pred_band: np.ndarray
    band_hits: np.ndarray
    image_errors: np.ndarray
    image_confused_with: np.ndarray
    hist: np.ndarray = None
    background: int = None
    width: int = BOUNDARY_WIDTH
    names: dict = field(default_factory=dict)
    pair_bins: np.ndarray = None
    task = "segmentation"

    @property
    def num_classes(self):
        return len(self.classes)

    @property
    def num_images(self):
        return self.image_errors.shape[0]

    def classes_in_means(self):
        """Class indices averaged in the means: all but the background."""
        keep = np.ones(self.num_classes, bool)
        if self.background is not None:
            keep[self.background] = False
        return keep

    def metrics(self, confidence=None):
        """Every pooled metric at a confidence threshold (None: all predictions)."""
        conf = self.confusion_at(confidence)
        out = pixel_metrics(conf, self.classes_in_means())
        out["boundary_iou"], out["mean_boundary_iou"] = self.boundary_iou()
        out["boundary_f1"], out["mean_boundary_f1"] = self.boundary_f1()
        return out

    def confusion_at(self, confidence=None):
        """(K, K + 1) pooled confusion with predictions below ``confidence`` unlabeled."""
        if confidence is None or self.hist is None:
            return self.confusion
        return self.sweep()[self.bin_of(confidence)]

    @staticmethod
    def bin_of(confidence):
        return int(np.clip(np.ceil(float(confidence) * CONFIDENCE_BINS - 1e-9), 0, CONFIDENCE_BINS))

    def sweep(self):
        """(B + 1, K, K + 1) pooled confusions at thresholds ``k / B``, k = 0..B."""
        K = self.num_classes
        kept = np.cumsum(self.hist[..., ::-1], axis=2)[..., ::-1]  # pixels with bin >= k
        kept = np.moveaxis(kept, 2, 0).copy()
        kept[:, :, K] = 0
        kept[:, :, K] = self.confusion.sum(axis=1)[None, :] - kept.sum(axis=2)
        return kept

    def sweep_metrics(self):
        """Per threshold ``k / B``: per-class IoU, precision, recall, F1 and their means."""
        s = self.sweep()
        K = self.num_classes
        tp = np.einsum("tkk->tk", s[:, :, :K]).astype(np.float64)
        gt = s.sum(axis=2).astype(np.float64)
        pr = s[:, :, :K].sum(axis=1).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = tp / (gt + pr - tp)
            precision = tp / pr
            recall = tp / gt
            f1 = 2 * tp / (gt + pr)
        keep = self.classes_in_means()
        mean = {name: _row_nanmean(a[:, keep]) for name, a in (
            ("iou", iou), ("precision", precision), ("recall", recall), ("f1", f1))}
        return dict(thresholds=np.arange(CONFIDENCE_BINS + 1) / CONFIDENCE_BINS, iou=iou,
                    precision=precision, recall=recall, f1=f1, mean=mean)

    def optimal_thresholds(self, **point):
        """``{"overall": c, "per_class": {class: c}}`` (the protocol's shape): the
        threshold of max mean F1, and of max F1 per class; None without confidence."""
        if self.hist is None:
            return {"overall": None, "per_class": {c: None for c in self.classes}}
        m = self.sweep_metrics()
        overall = float(m["thresholds"][np.nanargmax(_nan_to(m["mean"]["f1"]))])
        f1 = _nan_to(m["f1"])
        per_class = {c: float(m["thresholds"][np.argmax(f1[:, k])]) if np.any(f1[:, k] > 0) else None
                     for k, c in enumerate(self.classes)}
        return {"overall": overall, "per_class": per_class}

    def to_bytes(self):
        """Compressed binary form: a numpy ``.npz`` (metadata as JSON) deflated at
        level 1, 7x faster than ``np.savez_compressed``'s level 6 for 10% more bytes."""
        arrays = {k: getattr(self, k) for k in BLOB_ARRAYS}
        arrays.update({k: getattr(self, k) for k in ("hist", "pair_bins")
                       if getattr(self, k) is not None})
        meta = dict(classes=self.classes, background=self.background, width=self.width)
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
        with io.BytesIO() as f:
            with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
                for name, a in arrays.items():
                    with z.open(name + ".npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, np.asarray(a), allow_pickle=False)
            return f.getvalue()

    @classmethod
    def from_bytes(cls, blob):
        with np.load(io.BytesIO(blob)) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            arrays = {k: z[k] for k in z.files if k != "meta"}
        return cls(classes=meta["classes"], background=meta["background"], width=meta["width"],
                   hist=arrays.pop("hist", None), pair_bins=arrays.pop("pair_bins", None),
                   **arrays)

    def boundary_iou(self):
        """Per-class boundary IoU (pooled) and its mean over :meth:`classes_in_means`."""
        union = self.gt_band + self.pred_band - self.band_hits
        with np.errstate(invalid="ignore", divide="ignore"):
            biou = np.where(union > 0, self.band_hits / np.maximum(union, 1), np.nan)
        keep = self.classes_in_means() & ~np.isnan(biou)
        return biou, float(biou[keep].mean()) if keep.any() else float("nan")

    def boundary_f1(self):
        """Per-class boundary F1 (Dice of the class's pixels within the band of
        the true and of the predicted edges, pooled) and its mean over
        :meth:`classes_in_means`: ``2 IoU / (1 + IoU)`` of :meth:`boundary_iou`."""
        total = self.gt_band + self.pred_band
        with np.errstate(invalid="ignore", divide="ignore"):
            bf1 = np.where(total > 0, 2 * self.band_hits / np.maximum(total, 1), np.nan)
        keep = self.classes_in_means() & ~np.isnan(bf1)
        return bf1, float(bf1[keep].mean()) if keep.any() else float("nan")

    def image_confusions(self, images=None):
        """(N, K, K + 1) per-image confusions (or of the given image indices)."""
        K = self.num_classes
        images = np.arange(self.num_images) if images is None else np.asarray(images)
        out = np.zeros((images.size, K, K + 1), np.int64)
        pos = np.full(self.num_images, -1)
        pos[images] = np.arange(images.size)
        rows = self.image_pairs[pos[self.image_pairs[:, 0]] >= 0]
        np.add.at(out, (pos[rows[:, 0]], rows[:, 1], rows[:, 2]), rows[:, 3])
        return out

    def image_metrics(self):
        """Per image: ``miou``, ``pixel_accuracy`` and FiftyOne's ``accuracy``,
        ``precision``, ``recall`` (micro over the classes but the background)."""
        conf = self.image_confusions()
        K = self.num_classes
        keep = self.classes_in_means()
        tp = np.einsum("nkk->nk", conf[:, :, :K]).astype(np.float64)
        gt = conf.sum(axis=2).astype(np.float64)
        pr = conf[:, :, :K].sum(axis=1).astype(np.float64)
        union = gt + pr - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
            miou = _row_nanmean(np.where(keep, iou, np.nan))
            total = gt.sum(axis=1)
            pixel_accuracy = tp.sum(axis=1) / total
            # FiftyOne's per-sample numbers: pixels whose truth or prediction is not background
            bg = self.background
            tpk, gtk, prk = tp[:, keep].sum(axis=1), gt[:, keep].sum(axis=1), pr[:, keep].sum(axis=1)
            both_bg = conf[:, bg, bg] if bg is not None else 0
            considered = total - both_bg - (conf[:, bg, K] if bg is not None else 0)
            accuracy = tpk / considered
            precision = np.where(prk > 0, tpk / np.maximum(prk, 1), 0.0)
            recall = np.where(gtk > 0, tpk / np.maximum(gtk, 1), 0.0)
        none = gtk == 0
        return dict(miou=miou, pixel_accuracy=pixel_accuracy,
                    accuracy=np.where(none, np.nan, accuracy),
                    precision=np.where(none, np.nan, precision),
                    recall=np.where(none, np.nan, recall))

    def dominant_errors(self):
        """Per image and class: the dominant error kind (index into
        :data:`ERROR_KINDS`, -1 when the class has no error there)."""
        e = self.image_errors
        return np.where(e.sum(axis=2) > 0, e.argmax(axis=2), -1)

    def cell_images(self, true, pred, confidence=None):
        """Image indices holding pixels of class ``true`` predicted ``pred`` (K:
        unlabeled) at a confidence threshold (None: every prediction counts),
        most such pixels first, and those counts. The counts are those of all
        predictions (per-image counts per bin are not kept): at a threshold
        they order the images, and an unlabeled cell counts the class's pixels."""
        K = self.num_classes
        held = self._held(self.bin_of(confidence)
                          if confidence is not None and self.pair_bins is not None else None)
        rows = self.image_pairs[(self.image_pairs[:, 1] == true) & held[:, 0]] if pred == K else \
            self.image_pairs[(self.image_pairs[:, 1] == true) & (self.image_pairs[:, 2] == pred) & held[:, 1]]
        if pred == K:  # per image, all its pixels of the class that reach unlabeled
            images, first = np.unique(rows[:, 0], return_index=True)
            counts = np.bincount(rows[:, 0], weights=rows[:, 3], minlength=self.num_images)[images]
            rows = np.c_[images, np.zeros((images.size, 2), np.int64), counts.astype(np.int64)]
        order = np.argsort(-rows[:, 3], kind="stable")
        return rows[order, 0], rows[order, 3]

    def _held(self, k):
        """(M, 2) bool per ``image_pairs`` row at bin ``k`` (None: no threshold): its
        pixels make the image hold (unlabeled, the row's own cell)."""
        unlabeled = self.image_pairs[:, 2] == self.num_classes
        if k is None:
            return np.c_[unlabeled, ~unlabeled]
        low, high = self.pair_bins[:, 0], self.pair_bins[:, 1]
        return np.c_[unlabeled | (low < k), ~unlabeled & (high >= k)]

    def cell_image_counts(self, thresholds=None):
        """(T, K, K + 1) number of images holding each cell at each threshold
        (None, or a run without confidence: every prediction counts, T = 1),
        from histograms of the rows' bins (no pass per threshold)."""
        K, B = self.num_classes, CONFIDENCE_BINS + 1
        pairs = self.image_pairs
        unlabeled = pairs[:, 2] == K
        if thresholds is None or self.pair_bins is None:
            cells = np.bincount(pairs[:, 1] * (K + 1) + pairs[:, 2], minlength=K * (K + 1))
            return cells.reshape(1, K, K + 1)
        k = np.array([self.bin_of(c) for c in thresholds])
        low, high = self.pair_bins[:, 0].astype(np.int64), self.pair_bins[:, 1].astype(np.int64)
        # a class cell holds at bin k when the row's highest bin reaches k
        cell = pairs[:, 1] * (K + 1) + pairs[:, 2]
        h = np.bincount(cell[~unlabeled] * B + high[~unlabeled], minlength=K * (K + 1) * B)
        reach = np.cumsum(h.reshape(K * (K + 1), B)[:, ::-1], axis=1)[:, ::-1]  # high >= k
        out = reach[:, k].T.reshape(k.size, K, K + 1).copy()
        # unlabeled at bin k: (image, class) with unlabeled pixels, or a pixel below k
        group = pairs[:, 0] * K + pairs[:, 1]
        first = np.full(self.num_images * K, B, np.int64)  # lowest bin + 1 (0: always held)
        np.minimum.at(first, group, np.where(unlabeled, 0, low + 1))
        present = np.zeros(first.size, bool)
        present[group] = True
        g = np.flatnonzero(present)
        hu = np.bincount((g % K) * (B + 1) + first[g], minlength=K * (B + 1)).reshape(K, B + 1)
        out[:, :, K] = np.cumsum(hu, axis=1)[:, k].T  # first <= k
        return out

def pixel_metrics(conf, keep=None):
    """The pooled metrics of a (K, K + 1) confusion (last column unlabeled).

    ``keep`` selects the classes in the means (default all). Returns per-class
    ``iou``, ``precision``, ``recall``, ``f1`` (Dice), ``class_accuracy``,
    ``pixel_share``, and ``miou``, ``pixel_accuracy``, ``mean_accuracy``,
    ``fw_iou``, ``mean_f1``, ``mean_precision``, ``mean_recall``.
    """
    conf = np.asarray(conf, dtype=np.float64)
    K = conf.shape[0]
    keep = np.ones(K, bool) if keep is None else np.asarray(keep, bool)
    tp = np.diag(conf[:, :K])
    gt = conf.sum(axis=1)
    pr = conf[:, :K].sum(axis=0)
    union = gt + pr - tp
    total = gt.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
        precision = np.where(pr > 0, tp / pr, np.where(union > 0, 0.0, np.nan))
        recall = np.where(gt > 0, tp / gt, np.nan)
        f1 = np.where(gt + pr > 0, 2 * tp / (gt + pr), np.nan)
    share = gt / total if total else np.zeros(K)

    def mean(a):
        a = a[keep]
        return float(np.nanmean(a)) if np.any(~np.isnan(a)) else float("nan")

    freq = np.where(keep, share, 0.0)
    with np.errstate(invalid="ignore"):
        fw = float(np.nansum(freq * iou) / freq[~np.isnan(iou)].sum()) if freq.sum() else float("nan")
    return dict(iou=iou, precision=precision, recall=recall, f1=f1, class_accuracy=recall,
                pixel_share=share, miou=mean(iou), mean_accuracy=mean(recall), fw_iou=fw,
                pixel_accuracy=float(tp.sum() / total) if total else float("nan"),
                mean_f1=mean(f1), mean_precision=mean(precision), mean_recall=mean(recall))


def fold_binned(images, num_classes):
    """The (K, K + 1, B + 1) pixel counts per confidence bin of ``images``
    (:class:`ImageCounts`), which then keep only their ``pair_bins`` of their
    ``binned`` rows: a batch's worker folds them, so memory follows a batch,
    not the data set."""
    K = int(num_classes)
    hist = np.zeros((K, K + 1, CONFIDENCE_BINS + 1), np.int64)
    rows = [c.binned for c in images if c is not None and c.binned is not None]
    if rows:
        rows = np.concatenate(rows)
        np.add.at(hist, (rows[:, 0], rows[:, 1], rows[:, 2]), rows[:, 3])
    for c in images:
        if c is not None and c.binned is not None:
            c.pair_bins = _pair_bins(c, K)
            c.binned = None
    return hist


def pool(classes, images, background=None, width=BOUNDARY_WIDTH, hist=None):
    """A :class:`SegmentationEvaluation` from the :class:`ImageCounts` of every
    image; ``hist``: their confidence-bin counts already folded (:func:`fold_binned`)."""
    K = len(classes)
    images = list(images)
    n = len(images)
    sizes = [len(c.pairs) for c in images]
    image_pairs = np.zeros((sum(sizes), 4), np.int64)
    image_pairs[:, 0] = np.repeat(np.arange(n), sizes)
    if n:
        image_pairs[:, 1:] = np.concatenate([c.pairs for c in images])
    confusion = np.bincount(image_pairs[:, 1] * (K + 1) + image_pairs[:, 2],
                            weights=image_pairs[:, 3], minlength=K * (K + 1))
    confusion = np.rint(confusion).astype(np.int64).reshape(K, K + 1)
    if hist is None and n and all(c.binned is not None for c in images):
        hist = fold_binned(images, K)
    pair_bins = None
    if hist is not None and all(c.pair_bins is not None for c in images):
        pair_bins = np.concatenate([c.pair_bins for c in images]).astype(np.int16)

    def stack(name, shape):
        return np.array([getattr(c, name) for c in images]).reshape((n,) + shape)

    return SegmentationEvaluation(
        classes=list(classes), confusion=confusion, image_pairs=image_pairs,
        gt_band=stack("gt_band", (K,)).sum(axis=0), pred_band=stack("pred_band", (K,)).sum(axis=0),
        band_hits=stack("band_hits", (K,)).sum(axis=0),
        image_errors=stack("errors", (K, len(ERROR_KINDS))),
        image_confused_with=stack("confused_with", (K,)), hist=hist, background=background,
        width=width, pair_bins=pair_bins)


def _pair_bins(counts, K):
    """(len(pairs), 2) lowest and highest confidence bin of the pixels of each
    of one image's ``pairs`` rows, from its ``binned`` rows."""
    rows = counts.binned
    key = rows[:, 0] * (K + 1) + rows[:, 1]
    b = rows[:, 2]
    if np.any((np.diff(key) < 0) | ((np.diff(key) == 0) & (np.diff(b) < 0))):
        order = np.lexsort((b, key))  # measure_image's rows come sorted: rarely needed
        key, b = key[order], b[order]
    start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    end = np.r_[start[1:], key.size] - 1
    wanted = counts.pairs[:, 0] * (K + 1) + counts.pairs[:, 1]
    pos = np.searchsorted(key[start], wanted)
    return np.c_[b[start][pos], b[end][pos]].astype(np.int16)


def _row_nanmean(a):
    """The mean of each row's non-NaN values (NaN for a row with none), silently."""
    n = (~np.isnan(a)).sum(axis=1)
    return np.where(n > 0, np.nansum(a, axis=1) / np.maximum(n, 1), np.nan)


def _nan_to(a, value=-1.0):
    return np.where(np.isnan(a), value, a)
