"""Headline metrics of any subset of a run, with bootstrap intervals, from the stored analysis.

A *slice* is a set of a run's units (detection and segmentation: images;
classification: samples), given as indices into the run's unit order
(``image_ids`` / ``sample_ids``). Each task's :class:`TaskSlices` computes a
slice's headline metrics from the analysis arrays alone, equal exactly to the
engine run on that subset (matching is per image, so a subset's matches are
the full run's restricted to it):

- detection: ``mAP``, ``AP50`` (pycocotools' area "all", 100 detections per
  image) and ``precision``, ``recall``, ``f1`` at the operating point;
- classification: ``accuracy``, ``macro_f1`` (over the run's K classes);
- segmentation: ``mIoU`` (pooled, every prediction: a run keeps its pixels
  per confidence bin for the whole set only).

**Bootstrap**: units resampled with replacement, ``B`` replicates drawn as one
seeded multinomial weight matrix ``W`` (B, n); count metrics are ``W`` times
the per-unit count arrays (P / R / F1: true and false positives and objects
per image; classification and segmentation: confusion cells). AP needs the
predictions re-accumulated per replicate: a weighted accumulation (one numba
pass over the slice's predictions per replicate and IoU threshold), where a
prediction of an image drawn ``w`` times counts ``w`` times. That equals
pycocotools on the resampled set with each image's copies next to each other
in the image order (the copies of a prediction are consecutive, and of the
points inside such a run of copies only its last can set the interpolated
precision). The interval is the 2.5 and 97.5 percentiles of the replicates
where the metric is defined; the seed of a slice is ``(seed, crc32(name))``,
so adding slices changes no other slice's interval.
"""

import zlib

import numpy as np

from . import coco, jit, matching
from .classification import metrics_from_confusion
from .segmentation import pixel_metrics

#: fewer units than this: the slice is marked small (too few to trust),
#: the recommendations' rule for a whole evaluation set
MIN_UNITS = 30
NUM_BOOT = 200
ALPHA = 0.05
MAX_DETS = 100


class TaskSlices:
    """A task's slice metrics at one operating point (see the module docstring)."""

    metrics = ()
    primary = None
    unit = "images"

    def __init__(self, ev):
        self.ev = ev

    @property
    def num_units(self):
        raise NotImplementedError

    def unit_ids(self):
        """The run's unit ids in its order (FiftyOne sample ids)."""
        raise NotImplementedError

    def values(self, units):
        """``{metric: value}`` on units (indices), exact; None where undefined."""
        raise NotImplementedError

    def per_class(self, units):
        """(K,) the task's per-class metric on units (NaN where undefined)."""
        raise NotImplementedError

    def replicates(self, units, W):
        """``{metric: (B,)}`` on the resampled units (``W``: (B, len(units)) counts)."""
        raise NotImplementedError

    def unit_errors(self):
        """(N,) a unit's error in [0, 1], for the automatic slice search."""
        raise NotImplementedError


class DetectionSlices(TaskSlices):
    metrics = ("mAP", "AP50", "precision", "recall", "f1")
    primary = "mAP"
    per_class_metric = "AP"

    def __init__(self, ev, confidence=None, iou=0.5):
        super().__init__(ev)
        self.confidence, self.iou = confidence, float(iou)
        t = ev.threshold_index(iou)
        n = self.num_units
        pred_gt = ev.pred_gt[t]
        matched = pred_gt >= 0
        crowd = ev.gt_crowd.astype(bool)
        to_crowd = matched & crowd[np.where(matched, pred_gt, 0)] if crowd.size else matched & False
        kept = np.ones(ev.pred_score.size, bool) if confidence is None else \
            ev.pred_score >= float(confidence)
        # per image: true / false positives at the operating point, objects
        self.counts = np.stack([
            np.bincount(ev.pred_image[kept & matched & ~to_crowd], minlength=n),
            np.bincount(ev.pred_image[kept & ~matched], minlength=n),
            np.bincount(ev.gt_image[~crowd], minlength=n)], axis=1).astype(np.float64)
        # COCO at area "all", maxDets 100, as coco.accumulate orders predictions
        rank = matching.group_rank(ev.pred_image, ev.pred_label, ev.pred_score)
        order = np.lexsort((rank, ev.pred_image, -ev.pred_score, ev.pred_label))
        self.order = order[rank[order] < MAX_DETS]
        self.gt_ignore = coco.area_ignore(ev.gt_area)[0] | crowd
        n_coco = coco.IOU_THRESHOLDS.size
        m = ev.pred_gt[:n_coco] >= 0
        ignored = np.broadcast_to(coco.area_ignore(ev.pred_area)[0], m.shape).copy()
        ignored[m] = self.gt_ignore[ev.pred_gt[:n_coco][m]]
        self.matched, self.ignored = m, ignored
        # (P, T) per prediction and threshold: 1 true positive, 2 false positive, 0 ignored
        self.code = np.ascontiguousarray(np.where(m & ~ignored, 1, np.where(m | ignored, 0, 2))
                                         .astype(np.int8).T)
        self.same = np.where((self.code == 2).all(axis=1), 2,
                             np.where((self.code == 0).all(axis=1), 0, 1)).astype(np.int8)
        # the same in COCO's order, for the bootstrap's per-slice selections
        self.o_image, self.o_label = ev.pred_image[self.order], ev.pred_label[self.order]
        self.o_code, self.o_same = self.code[self.order], self.same[self.order]
        self.K = ev.num_classes

    @property
    def num_units(self):
        ev = self.ev
        if ev.image_ids.size:
            return int(ev.image_ids.size)
        return int(max(ev.pred_image.max(initial=-1), ev.gt_image.max(initial=-1)) + 1)

    def unit_ids(self):
        return self.ev.image_ids

    def _precision(self, units):
        """(T, R, K) pycocotools' precision on the units (-1 where a class has no object)."""
        ev = self.ev
        inside = np.zeros(self.num_units, bool)
        inside[units] = True
        sel = self.order[inside[ev.pred_image[self.order]]]
        npig = np.bincount(ev.gt_label[inside[ev.gt_image] & ~self.gt_ignore],
                           minlength=self.K).astype(np.float64)
        T, R = coco.IOU_THRESHOLDS.size, coco.RECALL_THRESHOLDS.size
        precision, scores = -np.ones((T, R, self.K)), -np.ones((T, R, self.K))
        recall = -np.ones((T, self.K))
        coco.accumulate_one(ev.pred_label[sel], ev.pred_score[sel], self.matched[:, sel],
                            self.ignored[:, sel], npig, precision, recall, scores)
        return precision

    def values(self, units):
        units = np.asarray(units, dtype=np.int64)
        p = self._precision(units)
        tp, fp, gt = self.counts[units].sum(axis=0)
        return {"mAP": _mean_valid(p), "AP50": _mean_valid(p[[0]]), **_prf(tp, fp, gt)}

    def per_class(self, units):
        p = self._precision(np.asarray(units, dtype=np.int64))
        valid = p[0, 0] > -1
        out = np.full(self.K, np.nan)
        out[valid] = p[:, :, valid].mean(axis=(0, 1))
        return out

    def replicates(self, units, W):
        units = np.asarray(units, dtype=np.int64)
        ev = self.ev
        c = W @ self.counts[units]
        out = _prf_vec(c[:, 0], c[:, 1], c[:, 2])
        pos = np.full(self.num_units, -1, np.int64)
        pos[units] = np.arange(units.size)
        at = pos[self.o_image]
        keep = at >= 0
        g = pos[ev.gt_image]
        gsel = (g >= 0) & ~self.gt_ignore
        gt_counts = np.bincount(g[gsel] * self.K + ev.gt_label[gsel],
                                minlength=units.size * self.K).reshape(units.size, self.K)
        npig = W @ gt_counts  # (B, K)
        bounds = np.searchsorted(self.o_label[keep], np.arange(self.K + 1))
        ap = _weighted_ap(np.ascontiguousarray(W, dtype=np.float64), at[keep], bounds,
                          self.o_code[keep], self.o_same[keep], npig,
                          coco.RECALL_THRESHOLDS)  # (B, T, K)
        valid = npig > 0
        with np.errstate(invalid="ignore"):
            n_valid = valid.sum(axis=1)
            out["mAP"] = np.where(n_valid > 0, np.where(valid[:, None, :], ap, 0).sum(axis=(1, 2))
                                  / np.maximum(n_valid * ap.shape[1], 1), np.nan)
            out["AP50"] = np.where(n_valid > 0, np.where(valid, ap[:, 0], 0).sum(axis=1)
                                   / np.maximum(n_valid, 1), np.nan)
        return out

    def unit_errors(self):
        tp, fp, gt = self.counts.T
        fn = gt - tp
        total = tp + fp + fn
        return np.where(total > 0, (fp + fn) / np.maximum(total, 1), 0.0)


class ClassificationSlices(TaskSlices):
    metrics = ("accuracy", "macro_f1")
    primary = "accuracy"
    per_class_metric = "F1"
    unit = "samples"

    def __init__(self, ev, confidence=None, **point):
        super().__init__(ev)
        self.confidence = confidence
        self.K = ev.num_classes
        predicted = np.where(ev.kept(confidence), ev.pred_label, self.K)
        self.cell = ev.gt_label * (self.K + 1) + predicted
        self.correct = predicted == ev.gt_label

    @property
    def num_units(self):
        return int(self.ev.gt_label.size)

    def unit_ids(self):
        return self.ev.sample_ids

    def _confusion(self, units):
        K = self.K
        return np.bincount(self.cell[units], minlength=K * (K + 1)).reshape(K, K + 1)

    def values(self, units):
        units = np.asarray(units, dtype=np.int64)
        if units.size == 0:
            return {"accuracy": None, "macro_f1": None}
        m = metrics_from_confusion(self._confusion(units))
        return {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}

    def per_class(self, units):
        return np.asarray(metrics_from_confusion(self._confusion(np.asarray(units, np.int64)))
                          ["per_class_f1"], dtype=np.float64)

    def replicates(self, units, W):
        K = self.K
        conf = _weighted_cells(W, self.cell[np.asarray(units, np.int64)], np.ones(len(units)),
                               K * (K + 1)).reshape(-1, K, K + 1)
        tp = np.einsum("bkk->bk", conf[:, :, :K])
        support, predicted = conf.sum(axis=2), conf[:, :, :K].sum(axis=1)
        n = support.sum(axis=1)
        den = predicted + support
        f1 = np.divide(2 * tp, den, out=np.zeros_like(tp), where=den > 0)
        return {"accuracy": np.where(n > 0, tp.sum(axis=1) / np.maximum(n, 1), np.nan),
                "macro_f1": f1.mean(axis=1)}

    def unit_errors(self):
        return (~self.correct).astype(np.float64)


class SegmentationSlices(TaskSlices):
    metrics = ("mIoU",)
    primary = "mIoU"
    per_class_metric = "IoU"

    def __init__(self, ev, confidence=None, **point):
        super().__init__(ev)
        self.K = ev.num_classes
        self.keep = ev.classes_in_means()
        pairs = ev.image_pairs
        self.rows = pairs
        self.cell = pairs[:, 1] * (self.K + 1) + pairs[:, 2]

    @property
    def num_units(self):
        return int(self.ev.num_images)

    def unit_ids(self):
        return np.asarray(getattr(self.ev, "sample_ids", ()), dtype=str)

    def _confusion(self, units):
        inside = np.zeros(self.num_units, bool)
        inside[units] = True
        rows = self.rows[inside[self.rows[:, 0]]]
        K = self.K
        conf = np.zeros((K, K + 1), np.int64)
        np.add.at(conf, (rows[:, 1], rows[:, 2]), rows[:, 3])
        return conf

    def values(self, units):
        miou = pixel_metrics(self._confusion(np.asarray(units, np.int64)), self.keep)["miou"]
        return {"mIoU": None if np.isnan(miou) else miou}

    def per_class(self, units):
        return pixel_metrics(self._confusion(np.asarray(units, np.int64)), self.keep)["iou"]

    def replicates(self, units, W):
        K = self.K
        units = np.asarray(units, np.int64)
        pos = np.full(self.num_units, -1, np.int64)
        pos[units] = np.arange(units.size)
        sel = pos[self.rows[:, 0]] >= 0
        conf = _weighted_cells(W, self.cell[sel], self.rows[sel, 3].astype(np.float64),
                               K * (K + 1), columns=pos[self.rows[sel, 0]]).reshape(-1, K, K + 1)
        tp = np.einsum("bkk->bk", conf[:, :, :K])
        gt, pr = conf.sum(axis=2), conf[:, :, :K].sum(axis=1)
        union = gt + pr - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = np.where(union > 0, tp / union, np.nan)[:, self.keep]
            n = (~np.isnan(iou)).sum(axis=1)
            miou = np.where(n > 0, np.nansum(iou, axis=1) / np.maximum(n, 1), np.nan)
        return {"mIoU": miou}

    def unit_errors(self):
        miou = self.ev.image_metrics()["miou"]
        return np.clip(np.where(np.isnan(miou), 0.0, 1.0 - miou), 0.0, 1.0)


TASKS = {"detection": DetectionSlices, "classification": ClassificationSlices,
         "segmentation": SegmentationSlices}


def for_run(ev, confidence=None, **point):
    """The :class:`TaskSlices` of an evaluation (its ``task``; segmentation's has none)."""
    task = getattr(ev, "task", "segmentation")
    return TASKS[task](ev, confidence=confidence, **point)


def weights(n, num_boot=NUM_BOOT, seed=0, name=""):
    """(B, n) bootstrap counts: each replicate draws n units with replacement
    (a multinomial row), seeded by (seed, name)."""
    rng = np.random.default_rng([int(seed), zlib.crc32(str(name).encode())])
    if n == 0:
        return np.zeros((num_boot, 0))
    draws = rng.integers(0, n, size=(num_boot, n)) + (np.arange(num_boot) * n)[:, None]
    return np.bincount(draws.ravel(), minlength=num_boot * n).reshape(num_boot, n).astype(np.float64)


def interval(reps):
    """The bootstrap's (2.5, 97.5) percentiles over the replicates where defined."""
    reps = np.asarray(reps, dtype=np.float64)
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return None
    lo, hi = np.percentile(reps, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
    return [float(lo), float(hi)]


def slice_table(task, slices, num_boot=NUM_BOOT, seed=0, metric=None, min_units=MIN_UNITS):
    """Every slice's metrics, intervals, size and gap to the whole run, sorted by gap.

    Args:
        task: a :class:`TaskSlices`
        slices: ``[(name, units), ...]`` (units: indices into the run's order)
        metric: the metric the gap is taken on (default the task's primary)

    Returns:
        ``{"metric", "overall": row, "rows": [row, ...]}``, a row holding
        ``name``, ``size``, ``values``, ``ci``, ``gap`` (slice minus the whole
        run, None where undefined), ``small`` and ``units``; rows worst first
    """
    metric = metric or task.primary
    cached = getattr(task, "_overall", {})
    key = (num_boot, seed, min_units)
    if key not in cached:  # the same for every source: a panel keeps its run's task
        cached[key] = _row(task, "all", np.arange(task.num_units), num_boot, seed, min_units)
        task._overall = cached
    overall = cached[key]
    rows = []
    for name, units in slices:
        row = _row(task, name, np.unique(np.asarray(units, np.int64)), num_boot, seed, min_units)
        a, b = row["values"].get(metric), overall["values"].get(metric)
        row["gap"] = None if a is None or b is None else a - b
        rows.append(row)
    rows.sort(key=lambda r: (r["gap"] is None, r["gap"] if r["gap"] is not None else 0))
    return {"metric": metric, "overall": overall, "rows": rows}


def _row(task, name, units, num_boot, seed, min_units):
    values = task.values(units)
    ci = {}
    if num_boot and units.size:
        reps = task.replicates(units, weights(units.size, num_boot, seed, name))
        ci = {k: interval(v) if values.get(k) is not None else None for k, v in reps.items()}
    return {"name": name, "size": int(units.size), "values": values, "ci": ci,
            "small": bool(units.size < min_units), "units": units}


def compare(task_a, task_b, units_a, units_b, num_boot=NUM_BOOT, seed=0):
    """Paired bootstrap of two runs on the same units (``units_a[i]`` in run A
    is ``units_b[i]`` in run B): one weight matrix for both, so a replicate's
    difference is B - A on the same resampled units.

    Returns ``{metric: {"a", "b", "diff", "ci"}}`` (``ci`` of the difference).
    """
    va, vb = task_a.values(units_a), task_b.values(units_b)
    W = weights(len(units_a), num_boot, seed, "compare")
    ra, rb = task_a.replicates(units_a, W), task_b.replicates(units_b, W)
    out = {}
    for k in task_a.metrics:
        a, b = va.get(k), vb.get(k)
        out[k] = {"a": a, "b": b, "diff": None if a is None or b is None else b - a,
                  "ci": interval(rb[k] - ra[k]) if num_boot else None}
    return out


def _mean_valid(p):
    valid = p[p > -1]
    return float(np.mean(valid)) if valid.size else None


def _prf(tp, fp, gt):
    """Precision, recall and F1 as the engine's sweep computes them."""
    precision = float(tp / (tp + fp)) if tp + fp > 0 else 0.0
    recall = float(tp / gt) if gt > 0 else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f1": float(f1)}


def _prf_vec(tp, fp, gt):
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(gt > 0, tp / gt, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return {"precision": precision, "recall": recall, "f1": f1}


def _weighted_cells(W, cell, count, num_cells, columns=None):
    """(B, C) sums of ``W[:, column] * count`` per cell (columns default 0..n-1)."""
    columns = np.arange(cell.size) if columns is None else np.asarray(columns)
    out = np.zeros((W.shape[0], num_cells))
    if cell.size == 0:
        return out
    order = np.argsort(cell, kind="stable")
    c = cell[order]
    start = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    vals = W[:, columns[order]] * count[order][None, :]
    out[:, c[start]] = np.add.reduceat(vals, start, axis=1)
    return out


@jit.cached_njit(__name__, parallel=True)
def _weighted_ap(W, pos, bounds, code, same, npig, rec_thr):
    """(B, T, K) pycocotools' interpolated AP with prediction i counted
    ``W[b, pos[i]]`` times; predictions sorted by (class, -score, image, rank),
    class k's in ``bounds[k]:bounds[k + 1]``; ``code[i, t]``: 1 true positive,
    2 false positive, 0 ignored at threshold t, ``same[i]`` 2 when it is a false
    positive at every threshold, 0 when ignored at every one (else 1); -1 where
    ``npig[b, k]`` is 0.

    Only true positives can raise the interpolated precision (a false positive
    keeps the recall and lowers the precision), so only they are points. Their
    recall buckets (how many recall thresholds are <= the recall) never
    decrease, so the interpolated precision at threshold r, the maximum
    precision of the points of bucket > r, is a suffix maximum: AP is
    ``sum_i max(p_i..p_m) * (bucket_i - bucket_{i-1}) / R`` over the points, no
    pass over the R thresholds. Replicates run in parallel."""
    B, T, K, R = W.shape[0], code.shape[1], bounds.size - 1, rec_thr.size
    longest = 1
    for k in range(K):
        longest = max(longest, bounds[k + 1] - bounds[k])
    out = -np.ones((B, T, K))
    eps = np.spacing(1.0)
    scale = R - 1
    for b in jit.numba.prange(B):
        jbuf = np.empty((T, longest), np.int64)  # written before read
        pbuf = np.empty((T, longest))
        count = np.zeros(T, np.int64)
        ctp, cfp = np.zeros(T), np.zeros(T)
        for k in range(K):
            n_gt = npig[b, k]
            if n_gt <= 0:
                continue
            count[:] = 0
            ctp[:] = 0.0
            cfp[:] = 0.0
            common = 0.0  # false positives at every threshold
            for i in range(bounds[k], bounds[k + 1]):
                w = W[b, pos[i]]
                if w == 0.0 or same[i] == 0:
                    continue
                if same[i] == 2:
                    common += w
                    continue
                for t in range(T):
                    c = code[i, t]
                    if c == 2:
                        cfp[t] += w
                    elif c == 1:
                        ctp[t] += w
                        rc = ctp[t] / n_gt
                        j = min(int(rc * scale), R - 1)  # bucket - 1, exactly
                        while j + 1 < R and rec_thr[j + 1] <= rc:
                            j += 1
                        while j >= 0 and rec_thr[j] > rc:
                            j -= 1
                        n = count[t]
                        jbuf[t, n] = j + 1
                        pbuf[t, n] = ctp[t] / (ctp[t] + cfp[t] + common + eps)
                        count[t] = n + 1
            for t in range(T):
                best, total = 0.0, 0.0
                for n in range(count[t] - 1, -1, -1):
                    if pbuf[t, n] > best:
                        best = pbuf[t, n]
                    total += best * (jbuf[t, n] - (jbuf[t, n - 1] if n > 0 else 0))
                out[b, t, k] = total / R
    return out
