"""One compiled pass over an image's pixels for every segmentation count.

:func:`plugin.segmentation.measure_image` needs, per pixel, its true class,
its predicted class, whether it lies on a true edge and on a predicted edge
and, with per-pixel confidences, its confidence bin. Built with numpy that is
a table lookup per mask and half a dozen passes to combine the codes; here the
lookups (raw mask value -> class index, heatmap value -> bin) and both
histograms are one loop over the pixels, and the edge bands come from
OpenCV's erode and dilate (an edge pixel is one whose neighbourhood's minimum
and maximum label differ).
"""

import cv2
import numpy as np

from . import jit


def class_table(values, size, none, unknown, ignore_value=None):
    """The lookup from raw mask values ``0..size-1`` to class indices: the
    class's index for each of ``values``, ``none`` for ``ignore_value`` and
    ``unknown`` for every other value."""
    values = np.asarray(values, dtype=np.int64)
    table = np.full(size, unknown, np.int32)
    inside = (values >= 0) & (values < size)
    table[values[inside]] = np.flatnonzero(inside)
    if ignore_value is not None and 0 <= ignore_value < size:
        table[ignore_value] = none
    return table


def edge_extremes(labels, width):
    """``(low, high)``: each pixel's minimum and maximum label within ``width``
    (chessboard distance, borders replicated); they differ on an edge."""
    k = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    return (cv2.erode(labels, k, borderType=cv2.BORDER_REPLICATE),
            cv2.dilate(labels, k, borderType=cv2.BORDER_REPLICATE))


def joint_counts(gt, pred, gt_table, pred_table, n, width, bins=None, bin_table=None,
                 num_bins=1):
    """Histograms of one image's pixels.

    Args:
        gt, pred: (H, W) uint8 or uint16 raw masks (OpenCV morphology types)
        gt_table, pred_table: their :func:`class_table` (codes ``0..n-1``)
        n: number of codes per axis
        width: the edge band's width in pixels
        bins: optional (H, W) uint8 / uint16 confidences, looked up in
            ``bin_table`` (values ``0..num_bins-1``)

    Returns:
        ``(counts, binned)``: int64 (n, n, 2, 2) counts of (true code,
        predicted code, on a true edge, on a predicted edge), and (n, n,
        num_bins) counts of (true code, predicted code, bin), None without bins
    """
    gt_lo, gt_hi = edge_extremes(gt, width)
    pred_lo, pred_hi = edge_extremes(pred, width)
    if bins is None:
        counts = _counts(gt, pred, gt_lo, gt_hi, pred_lo, pred_hi, gt_table, pred_table, n)
        return counts.reshape(n, n, 2, 2), None
    counts, binned = _counts_binned(gt, pred, gt_lo, gt_hi, pred_lo, pred_hi, gt_table,
                                    pred_table, n, bins, bin_table, num_bins)
    return counts.reshape(n, n, 2, 2), binned.reshape(n, n, num_bins)


@jit.cached_njit(__name__, nogil=True)
def _counts(gt, pred, gt_lo, gt_hi, pred_lo, pred_hi, gt_table, pred_table, n):
    counts = np.zeros(n * n * 4, np.int64)
    rows, cols = gt.shape
    for i in range(rows):
        for j in range(cols):
            code = gt_table[gt[i, j]] * n + pred_table[pred[i, j]]
            edge = (gt_lo[i, j] != gt_hi[i, j]) * 2 + (pred_lo[i, j] != pred_hi[i, j])
            counts[code * 4 + edge] += 1
    return counts


@jit.cached_njit(__name__, nogil=True)
def _counts_binned(gt, pred, gt_lo, gt_hi, pred_lo, pred_hi, gt_table, pred_table, n, bins,
                   bin_table, num_bins):
    counts = np.zeros(n * n * 4, np.int64)
    binned = np.zeros(n * n * num_bins, np.int64)
    rows, cols = gt.shape
    for i in range(rows):
        for j in range(cols):
            code = gt_table[gt[i, j]] * n + pred_table[pred[i, j]]
            edge = (gt_lo[i, j] != gt_hi[i, j]) * 2 + (pred_lo[i, j] != pred_hi[i, j])
            counts[code * 4 + edge] += 1
            binned[code * num_bins + bin_table[bins[i, j]]] += 1
    return counts, binned
