"""One compiled pass over an image's pixels for every segmentation count.

:func:`plugin.segmentation.measure_image` needs, per pixel, its true class,
its predicted class, whether it lies on a true edge and on a predicted edge
and, with per-pixel confidences, its confidence bin. Built with numpy that is
a table lookup per mask and half a dozen passes to combine the codes; here the
lookups (raw mask value -> class index, heatmap value -> bin) and both
histograms are one loop over the pixels, and the edge bands come from
OpenCV's morphological gradient (an edge pixel is one whose neighbourhood's
minimum and maximum label differ).

Masks hold long runs of equal pixels along a row, so the loop packs each
pixel's raw (true value, predicted value, edge bits) into one integer, a pass
the compiler vectorizes, and looks the classes up and increments a count once
per run rather than once per pixel: 3-4x faster than a lookup per pixel.
"""

import functools

import cv2
import numpy as np

from . import jit

PRED_SHIFT, GT_SHIFT = 2, 18  # key = gt << 18 | pred << 2 | on true edge << 1 | on pred edge


def class_table(values, size, none, unknown, ignore_value=None):
    """The lookup from raw mask values ``0..size-1`` to class indices: the
    class's index for each of ``values``, ``none`` for ``ignore_value`` and
    ``unknown`` for every other value (read-only: built once per spec, not
    once per image)."""
    values = tuple(np.asarray(values, dtype=np.int64).tolist())
    ignore_value = None if ignore_value is None else int(ignore_value)
    return _class_table(values, int(size), int(none), int(unknown), ignore_value)


@functools.lru_cache(maxsize=32)
def _class_table(values, size, none, unknown, ignore_value):
    values = np.asarray(values, dtype=np.int64)
    table = np.full(size, unknown, np.int32)
    inside = (values >= 0) & (values < size)
    table[values[inside]] = np.flatnonzero(inside)
    if ignore_value is not None and 0 <= ignore_value < size:
        table[ignore_value] = none
    table.flags.writeable = False
    return table


def edge_band(labels, width):
    """Nonzero where a pixel's labels within ``width`` (chessboard distance,
    borders replicated) differ, i.e. on an edge: OpenCV's morphological
    gradient (dilation minus erosion)."""
    k = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    return cv2.morphologyEx(labels, cv2.MORPH_GRADIENT, k, borderType=cv2.BORDER_REPLICATE)


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
    gt_edge, pred_edge = edge_band(gt, width), edge_band(pred, width)
    if bins is None:
        counts = _counts(gt, pred, gt_edge, pred_edge, gt_table, pred_table, n)
        return counts.reshape(n, n, 2, 2), None
    counts, binned = _counts_binned(gt, pred, gt_edge, pred_edge, gt_table, pred_table, n, bins,
                                    bin_table, num_bins)
    return counts.reshape(n, n, 2, 2), binned.reshape(n, n, num_bins)


@jit.cached_njit(__name__, nogil=True)
def _keys(gt, pred, gt_edge, pred_edge, i, out):
    """Row ``i``'s pixels packed as ``gt << 18 | pred << 2 | edge bits``."""
    g, p, ge, pe = gt[i], pred[i], gt_edge[i], pred_edge[i]
    for j in range(g.shape[0]):
        out[j] = ((np.int64(g[j]) << GT_SHIFT) | (np.int64(p[j]) << PRED_SHIFT)
                  | (np.int64(ge[j] != 0) << 1) | np.int64(pe[j] != 0))


@jit.cached_njit(__name__, nogil=True)
def _index(key, gt_table, pred_table, n):
    """The flat (true code, predicted code, edge bits) index of a packed key."""
    return ((gt_table[key >> GT_SHIFT] * n + pred_table[(key >> PRED_SHIFT) & 0xFFFF]) * 4
            + (key & 3))


@jit.cached_njit(__name__, nogil=True)
def _counts(gt, pred, gt_edge, pred_edge, gt_table, pred_table, n):
    counts = np.zeros(n * n * 4, np.int64)
    rows, cols = gt.shape
    keys = np.empty(cols, np.int64)
    for i in range(rows):
        _keys(gt, pred, gt_edge, pred_edge, i, keys)
        run_key, run = keys[0], 0
        for j in range(cols):
            if keys[j] == run_key:
                run += 1
            else:
                counts[_index(run_key, gt_table, pred_table, n)] += run
                run_key, run = keys[j], 1
        counts[_index(run_key, gt_table, pred_table, n)] += run
    return counts


@jit.cached_njit(__name__, nogil=True)
def _counts_binned(gt, pred, gt_edge, pred_edge, gt_table, pred_table, n, bins, bin_table,
                   num_bins):
    counts = np.zeros(n * n * 4, np.int64)
    binned = np.zeros(n * n * num_bins, np.int64)
    rows, cols = gt.shape
    keys = np.empty(cols, np.int64)
    for i in range(rows):
        _keys(gt, pred, gt_edge, pred_edge, i, keys)
        b = bins[i]
        run_key, run = keys[0], 0
        index = _index(run_key, gt_table, pred_table, n)
        for j in range(cols):
            if keys[j] != run_key:
                counts[index] += run
                run_key, run = keys[j], 0
                index = _index(run_key, gt_table, pred_table, n)
            run += 1
            binned[(index >> 2) * num_bins + bin_table[b[j]]] += 1
        counts[index] += run
    return counts, binned
