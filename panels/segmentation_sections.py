"""The evaluation explorer's sections for a semantic segmentation run.

Talks to :class:`plugin.segmentation.SegmentationEvaluation` only: the pooled
pixel confusion (at every confidence bin edge ``k / 100`` when the run has a
per-pixel confidence: the slider's steps), the images' sparse confusions
(``image_pairs``: a cell's images, a class's worst images) and the error kinds
per image and class. A matrix cell opens the images holding that confusion at
the slider's threshold (``SegmentationEvaluation.cell_images``), most pixels
first; its number of images, at every step, is printed in the cell.
"""

import numpy as np

from ..plugin import segmentation as seg
from ..plugin.recommendations import CONFUSION_SHARE, MIN_IMAGES, Recommendation
from . import task_figures as tf
from .figures import sort_rows
from .texts import confidence_text

UNLABELED = "Unlabeled"  # the matrix's last column: no prediction, or below the threshold
TABLE_KEYS = ("class", "iou", "precision", "recall", "f1", "pixel_share", "boundary_iou",
              "optimal_threshold")
TABLE_LABELS = ("Class", "IoU", "Precision", "Recall", "F1", "Pixel share", "Boundary IoU",
                "Optimal threshold")
MOVING_KEYS = ("iou", "precision", "recall", "f1")
SORT_KEYS = ["errors", "iou", "f1", "recall", "precision", "pixel_share", "class"]
COLORS = {"missed_region": "#1f77b4", "false_region": "#d62728", "confused_region": "#9467bd",
          "boundary": "#ff7f0e"}
RARE_SHARE = 0.01  # a class with fewer than 1% of the pixels is rare
BOUNDARY_SHARE = 0.5  # boundary pixels at least half of the wrong pixels: boundaries dominate
THIN_BAND_SHARE = 0.5  # at least half of a class's pixels lie near an edge: a thin structure
THIN_RECALL = 0.5  # ... and less than half of them are found


class Sections:
    """Every section of a segmentation run, at any confidence bin edge."""

    task = "segmentation"
    sort_keys = SORT_KEYS
    example_label = None  # worst images per class: no kind to choose

    def __init__(self, ev, info):
        self.ev, self.info = ev, info
        self.slider = ev.hist is not None
        self.sample_ids = np.asarray(ev.sample_ids, dtype=object)
        self.keep = ev.classes_in_means()
        if self.slider:
            self.grid = np.arange(seg.CONFIDENCE_BINS + 1) / seg.CONFIDENCE_BINS
            self.all_confusions = ev.sweep()
            found = ev.optimal_thresholds()
            best, per_class = found["overall"], found["per_class"]
        else:
            self.grid = np.zeros(1)
            self.all_confusions = ev.confusion[None]
            best, per_class = None, {}
        self.best, self.per_class_best = best, per_class or {}
        self.boundary_iou, self.mean_boundary_iou = ev.boundary_iou()
        self.mean_boundary_f1 = ev.boundary_f1()[1]
        kinds = self.image_kinds()
        self.kind_counts = [int(np.count_nonzero(kinds == k)) for k in range(len(seg.ERROR_KINDS))]
        # images holding each cell, at each step
        self.cell_counts = ev.cell_image_counts(self.grid if self.slider else None)

    def optimal(self):
        return self.best if self.best is not None else 0.0

    def confusions(self, grid):
        """(T, K, K + 1) pooled pixel confusions at each threshold of ``grid``."""
        if not self.slider:
            return np.repeat(self.ev.confusion[None], len(grid), axis=0)
        return self.all_confusions[[self.ev.bin_of(c) for c in grid]]

    def _rows(self, confusion):
        ev, K = self.ev, self.ev.num_classes
        m = seg.pixel_metrics(confusion, self.keep)
        tp = np.diag(confusion[:, :K])
        return [{"class": c, "iou": tf.clean(m["iou"][k]), "precision": tf.clean(m["precision"][k]),
                 "recall": tf.clean(m["recall"][k]), "f1": tf.clean(m["f1"][k]),
                 "pixel_share": tf.clean(m["pixel_share"][k]),
                 "boundary_iou": tf.clean(self.boundary_iou[k]),
                 "optimal_threshold": self.per_class_best.get(c),
                 "support": int(confusion[k].sum()), "fp": int(confusion[:, k].sum() - tp[k]),
                 "fn": int(confusion[k].sum() - tp[k])}
                for k, c in enumerate(ev.classes)]

    def rows(self, confidence):
        return self._rows(self.confusions([confidence])[0])

    def matrix_classes(self, confidence, top_n, keep):
        return tf.matrix_classes(self.confusions([confidence])[0], top_n, keep)

    def images_at(self, grid):
        """(T, K, K + 1) images holding each cell at each threshold of ``grid``."""
        if len(self.cell_counts) == 1:  # no confidence (or a run stored without pair_bins)
            return np.repeat(self.cell_counts, len(grid), axis=0)
        return self.cell_counts[[self.ev.bin_of(c) for c in grid]]

    def image_kinds(self):
        """(N,) each image's dominant error kind (its worst class's), -1 for none."""
        ev = self.ev
        dom = ev.dominant_errors()
        pixels = ev.image_errors.max(axis=2)
        worst = np.argmax(np.where(dom >= 0, pixels, -1), axis=1)
        return dom[np.arange(ev.num_images), worst] if ev.num_images else np.zeros(0, int)

    def at(self, grid, bar_classes, matrix_classes):
        """Every section that follows the slider, one item per threshold of ``grid``."""
        confusions = self.confusions(grid)
        every = self.images_at(grid)
        out = {"bars": [], "z": tf.cell_grid(confusions, matrix_classes).tolist(),
               "images": tf.cell_grid(every, matrix_classes).tolist(), "summary": [],
               "table": [], "errors": [], "recommendations": [], "point": [], "text": []}
        for j, c in enumerate(np.asarray(grid, np.float64).tolist()):
            m = seg.pixel_metrics(confusions[j], self.keep)
            rows = self._rows(confusions[j])
            out["bars"].append([[rows[k]["iou"] or 0.0 for k in bar_classes]])
            out["point"].append([0, 0, 0, tf.clean(m["mean_precision"]), tf.clean(m["mean_recall"]),
                                 tf.clean(m["mean_f1"])])
            out["text"].append(self.point_text(c, m))
            out["summary"].append(self.summary_md(c, confusions[j], m, rows))
            out["table"].append([[rows[k][key] for key in MOVING_KEYS] for k in bar_classes])
            out["errors"].append(self.kind_counts)
            out["recommendations"].append([r.to_dict() for r in self.recommend(confusions[j], m,
                                                                                every[j])])
        return out

    # -- texts ----------------------------------------------------------------------

    def point_text(self, c, m):
        where = ("At the optimal threshold (max mean F1), confidence %s" % confidence_text(c)
                 if self._is_optimal(c) else "At confidence %s" % confidence_text(c)) \
            if self.slider else "Every predicted pixel"
        return "%s: mIoU %s, pixel accuracy %s, mean F1 %s" % (
            where, tf.fmt(m["miou"]), tf.fmt(m["pixel_accuracy"]), tf.fmt(m["mean_f1"]))

    def _is_optimal(self, c):
        return self.best is not None and abs(c - self.best) < 1e-9

    def verdict(self, confusion, m, rows):
        ev, K = self.ev, self.ev.num_classes
        parts = ["mIoU %s%s" % (tf.fmt(m["miou"]), "" if ev.background is None else
                                " ('%s' left out)" % ev.classes[ev.background]),
                 "%.0f%% of the pixels labelled right" % (100 * (m["pixel_accuracy"] or 0))]
        scored = [r for r in rows if r["iou"] is not None and self.keep[ev.classes.index(r["class"])]]
        weakest = sort_rows(scored, "iou", False)[:3]
        if weakest:
            parts.append("weakest classes: " + ", ".join(
                "%s (IoU %.2f)" % (r["class"], r["iou"]) for r in weakest))
        off = np.asarray(confusion[:, :K], np.float64).copy()
        np.fill_diagonal(off, 0)
        share = off / np.maximum(confusion.sum(axis=1), 1)[:, None]
        if off.any():
            t, p = np.unravel_index(np.argmax(share), share.shape)
            parts.append("most confused: %s taken for %s (%.1f%% of its pixels)" % (
                ev.classes[t], ev.classes[p], 100 * share[t, p]))
        return "The segmenter scores " + "; ".join(parts) + "."

    def summary_md(self, c, confusion, m, rows):
        ev = self.ev
        s = ["**%s**" % self.verdict(confusion, m, rows), "",
             tf.md_table(["mIoU", "Pixel accuracy", "Mean accuracy", "FW IoU", "Boundary IoU",
                          "Images"],
                         [[tf.fmt(m["miou"]), tf.fmt(m["pixel_accuracy"]), tf.fmt(m["mean_accuracy"]),
                           tf.fmt(m["fw_iou"]), tf.fmt(self.mean_boundary_iou), ev.num_images]]), "",
             tf.md_table(["Mean precision", "Mean recall", "Mean F1 (Dice)", "Boundary F1"],
                         [[tf.fmt(m["mean_precision"]), tf.fmt(m["mean_recall"]),
                           tf.fmt(m["mean_f1"]), tf.fmt(self.mean_boundary_f1)]]), ""]
        if self.slider:
            which = "the optimal threshold" if self._is_optimal(c) else "the slider's threshold"
            s.append("At confidence **%.2f**, %s (optimal: %s, max mean F1; pixels below it are "
                     "unlabeled). Run covers %s." % (c, which, confidence_text(self.optimal()),
                                                     self.info["covers"]))
        else:
            s.append("Every predicted pixel counts (the run has no per-pixel confidence). Run "
                     "covers %s." % self.info["covers"])
        return "\n".join(s)

    # -- recommendations ------------------------------------------------------------

    def recommend(self, confusion, m, images):
        """Rules at one threshold (``images``: (K, K + 1) images holding each cell)."""
        ev, K = self.ev, self.ev.num_classes
        total = max(float(confusion.sum()), 1.0)
        out = []
        if ev.num_images < MIN_IMAGES:
            out.append(Recommendation(
                "small_eval_set", "Small evaluation set",
                "Only %d images are evaluated: a few images decide every class's IoU." % ev.num_images,
                "Evaluate on more images before trusting small differences.", 1.0))
        gt = confusion.sum(axis=1)
        for k in np.flatnonzero(self.keep & (gt > 0) & (m["pixel_share"] < RARE_SHARE)):
            if np.isfinite(m["iou"][k]) and m["iou"][k] < m["miou"]:
                out.append(Recommendation(
                    "rare_class", "Rare class '%s'" % ev.classes[k],
                    "'%s' covers %.2f%% of the pixels and scores IoU %.2f (mIoU %.2f)." % (
                        ev.classes[k], 100 * m["pixel_share"][k], m["iou"][k], m["miou"]),
                    "Add images with this class, or weight it in the loss.",
                    float(1 - m["iou"][k]) * 0.5, {"class": ev.classes[k]}))
        off = np.asarray(confusion[:, :K], np.float64).copy()
        np.fill_diagonal(off, 0)
        share = off / np.maximum(gt, 1)[:, None]
        for t, p in np.argwhere(share >= CONFUSION_SHARE):
            out.append(Recommendation(
                "confused_pair", "'%s' is taken for '%s'" % (ev.classes[t], ev.classes[p]),
                "%.0f%% of the '%s' pixels (%d) are predicted '%s', in %d images." % (
                    100 * share[t, p], ev.classes[t], off[t, p], ev.classes[p],
                    images[t, p]),
                "Review those images' masks and add examples that tell the classes apart.",
                float(off[t, p]) / total + 0.1, {"cell": [int(t), int(p)]}))
        errors = ev.image_errors.sum(axis=0)  # (K, kinds) pixels
        wrong = errors[:, :3].sum() + errors[:, 3].sum()
        if wrong and errors[:, 3].sum() >= BOUNDARY_SHARE * wrong:
            out.append(Recommendation(
                "boundary_errors", "Boundary errors dominate",
                "%.0f%% of the error pixels lie within %d px of a true edge." % (
                    100 * errors[:, 3].sum() / wrong, ev.width),
                "Sharpen the boundaries: a higher output resolution, a boundary-aware loss, or "
                "more careful masks at the edges.", 0.6, {"error": "boundary"}))
        with np.errstate(invalid="ignore", divide="ignore"):
            thin = ev.gt_band / np.maximum(gt, 1)
        for k in np.flatnonzero(self.keep & (gt > 0) & (thin >= THIN_BAND_SHARE)):
            if np.isfinite(m["recall"][k]) and m["recall"][k] < THIN_RECALL:
                out.append(Recommendation(
                    "thin_structures", "Thin or small '%s' structures missed" % ev.classes[k],
                    "%.0f%% of the '%s' pixels lie near an edge (thin or small regions) and only "
                    "%.0f%% of them are found." % (100 * thin[k], ev.classes[k], 100 * m["recall"][k]),
                    "Use a higher input resolution or a finer output stride; add examples with "
                    "small instances.", float(1 - m["recall"][k]) * 0.5, {"class": ev.classes[k]}))
        return sorted(out, key=lambda r: -r.severity)

    # -- what the browser draws ----------------------------------------------------

    def steps(self, bar_classes, matrix_classes):
        ev = self.ev
        found = self.at(self.grid, bar_classes, matrix_classes)
        names = [ev.classes[k] for k in bar_classes]
        sm = ev.sweep_metrics() if self.slider else None
        lines = tf.line_figure(self.grid, [(n, sm["mean"][k]) for n, k in (
            ("Mean IoU", "iou"), ("Mean precision", "precision"), ("Mean recall", "recall"),
            ("Mean F1", "f1"))], self.best) if self.slider else ([], {})
        trace, layout = tf.heatmap(
            ev.classes, matrix_classes, UNLABELED,
            "truth %{y}<br>predicted %{x}<br>%{z} pixels in %{text} images",
            text="%{z:.3s} px<br>%{text} img", cell_text=found["images"][0])
        table_rows = {r["class"]: r for r in self.rows(self.optimal())}
        return tf.steps_payload(
            self.grid, self.best, lines,
            tf.bars_layout(names, [("IoU", "#2ca02c")], y_title="IoU"),
            {"trace": trace, "layout": layout,
             "text": tf.live(found["images"], matrix_classes)}, found, matrix_classes,
            (TABLE_KEYS, TABLE_LABELS, MOVING_KEYS, [table_rows[c] for c in names]),
            (seg.ERROR_KINDS, [COLORS[k] for k in seg.ERROR_KINDS]),
            titles={"threshold": "Mean IoU, precision, recall and F1 against confidence",
                    "classes": "IoU by class",
                    "confusion": "Pixel confusion matrix (numbers: pixels and the images "
                                 "holding them; click a cell: those images)",
                    "errors": "Dominant error per image (click: those images)"})

    def current(self, confidence, bar_classes, matrix_classes):
        found = self.at([confidence], bar_classes, matrix_classes)
        return tf.current_payload(confidence, found, ztext=found["images"][0])

    # -- the images behind a number -------------------------------------------------

    def example_kinds(self):
        return []

    def cell(self, confidence, true_name, pred_name):
        """Images holding pixels of ``true_name`` predicted ``pred_name``, most first."""
        ids, what, _ = self.cell_pixels(confidence, true_name, pred_name)
        return ids, what

    def cell_pixels(self, confidence, true_name, pred_name):
        """:meth:`cell` and the cell's pixels in each of those images."""
        ev = self.ev
        if true_name not in ev.classes or (pred_name not in ev.classes and pred_name != UNLABELED):
            return [], None, []
        t = ev.classes.index(true_name)
        p = ev.num_classes if pred_name == UNLABELED else ev.classes.index(pred_name)
        images, counts = ev.cell_images(t, p, confidence if self.slider else None)
        return self.sample_ids[images].tolist(), "images with '%s' pixels %s, most first" % (
            true_name, "left unlabeled" if p == ev.num_classes else "predicted '%s'" % pred_name), \
            counts

    def class_iou(self, k):
        """``(images, iou)``: the images holding class ``k`` (truth or prediction)
        and its IoU in each, from their sparse confusions."""
        pairs, n = self.ev.image_pairs, self.ev.num_images
        count = lambda mask: np.bincount(pairs[mask, 0], weights=pairs[mask, 3], minlength=n)  # noqa: E731
        tp = count((pairs[:, 1] == k) & (pairs[:, 2] == k))
        union = count(pairs[:, 1] == k) + count(pairs[:, 2] == k) - tp
        images = np.flatnonzero(union > 0)
        return images, tp[images] / union[images]

    def of_class(self, confidence, name, kind=None):
        """A class's images with errors, worst IoU first."""
        ev = self.ev
        if name not in ev.classes:
            return [], None
        images, iou = self.class_iou(ev.classes.index(name))
        wrong = iou < 1
        order = np.argsort(iou[wrong], kind="stable")
        return self.sample_ids[images[wrong][order]].tolist(), \
            "images where '%s' has errors, worst IoU first" % name

    def of_error(self, confidence, name):
        if name not in seg.ERROR_KINDS:
            return [], None
        code = seg.ERROR_KINDS.index(name)
        kinds = self.image_kinds()
        pixels = self.ev.image_errors[:, :, code].sum(axis=1)
        images = np.flatnonzero(kinds == code)
        order = np.argsort(-pixels[images], kind="stable")
        return self.sample_ids[images[order]].tolist(), \
            "images whose dominant error is %s, most such pixels first" % name

    def of_recommendation(self, confidence, show):
        ev = self.ev
        if "cell" in show:
            t, p = show["cell"]
            return self.cell(confidence, ev.classes[t], ev.classes[p] if p < ev.num_classes
                             else UNLABELED)
        if "class" in show:
            return self.of_class(confidence, show["class"])
        if "error" in show:
            return self.of_error(confidence, show["error"])
        return [], None

    def class_thresholds(self):
        return dict(self.per_class_best)
