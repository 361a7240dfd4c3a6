"""The evaluation explorer's sections for a multi-label classification run, at every slider step.

Talks to :class:`plugin.multilabel.Evaluation` only: a (sample, class)
prediction counts at a threshold when its confidence reaches it. The class
confusion (rows true classes; ``[t, t]`` found, ``[t, p]`` a wrong ``p``
predicted alongside a true ``t``, **Missed** a true class not predicted) and
the samples' error types of all 101 slider steps come from one histogram
each (:meth:`~plugin.multilabel.Evaluation.class_confusions`,
:meth:`~plugin.multilabel.Evaluation.error_counts`), and a cell opens exactly
its samples.
"""

import numpy as np

from ..plugin import multilabel as ml
from ..plugin.recommendations import CONFUSION_MIN, Recommendation
from . import class_rules, task_figures as tf
from .figures import CONFIDENCE_GRID
from .texts import confidence_text

ERROR_NAMES = [n for n in ml.ERROR_TYPES if n != "correct"]
COLORS = {"found": "#2ca02c", "spurious": "#d62728", "missed": "#1f77b4", "confused": "#9467bd"}
TABLE_KEYS = ("class", "precision", "recall", "f1", "support", "optimal_threshold")
TABLE_LABELS = ("Class", "Precision", "Recall", "F1", "Support", "Optimal threshold")
MOVING_KEYS = ("precision", "recall", "f1")
SORT_KEYS = ["errors", "f1", "recall", "precision", "support", "class"]
KINDS = ("missed or spurious", "missed", "spurious")  # a class's error examples
CURVE_CLASSES = 8


class Sections:
    """Every section of a multi-label run, at any threshold."""

    task = "multilabel"
    sort_keys = SORT_KEYS
    example_label = "Errors of the class"
    slider = True

    def __init__(self, ev, info):
        self.ev, self.info = ev, info
        self.overall, self.per_class_sweeps = ev.sweeps()
        self.best = ev.optimal_thresholds()["overall"]
        self.per_class_best = ev.optimal_thresholds()["per_class"]

    def optimal(self):
        return self.best if self.best is not None else 0.0

    def _is_optimal(self, c):
        return self.best is not None and abs(c - self.best) < 1e-9

    def rows(self, confidence):
        """Every class's row at ``confidence`` (orders the classes)."""
        return self._rows(self.ev.class_confusion(confidence), self.false_positives([confidence])[0])

    def matrix_classes(self, confidence, top_n, keep):
        return tf.matrix_classes(self.ev.class_confusion(confidence), top_n, keep)

    def at(self, grid, bar_classes, matrix_classes):
        """Every section that follows the slider, one item per threshold of ``grid``."""
        ev = self.ev
        grid = np.asarray(grid, np.float64)
        confusions, counts = ev.class_confusions(grid), ev.error_counts(grid)
        fp = self.false_positives(grid)
        K = ev.num_classes
        idx = np.asarray(bar_classes, dtype=np.int64)
        tp = np.einsum("tkk->tk", confusions[:, :, :K])
        bars = np.stack([tp, fp, confusions[:, :, K]], axis=1)
        out = {"bars": bars[:, :, idx].tolist(), "z": tf.cell_grid(confusions, matrix_classes).tolist(),
               "summary": [], "table": [], "errors": counts[:, 1:].tolist(), "recommendations": [],
               "point": [], "text": []}
        for j, c in enumerate(grid.tolist()):
            rows = self._rows(confusions[j], fp[j])
            at = self.overall.at(c)
            fn = int(ev.gt.sum()) - at["tp"]
            point = [at["tp"], at["fp"], fn, at["precision"], at["recall"], at["f1"]]
            found = dict(zip(ml.ERROR_TYPES, counts[j].tolist()))
            out["point"].append([round(v, 6) if isinstance(v, float) else v for v in point])
            out["text"].append("%s %s: micro precision %.3f, recall %.3f, F1 %.3f (TP %d, FP %d, "
                               "FN %d)" % ("At the optimal threshold (max micro F1), confidence"
                                           if self._is_optimal(c) else "At confidence",
                                           confidence_text(c), at["precision"], at["recall"],
                                           at["f1"], at["tp"], at["fp"], fn))
            out["summary"].append(self.summary_md(c, rows, found))
            out["table"].append([[rows[k][key] for key in MOVING_KEYS] for k in bar_classes])
            out["recommendations"].append([r.to_dict() for r in self.recommend(confusions[j], rows,
                                                                               found)])
        return out

    def false_positives(self, grid):
        """(T, K) false positives per class at each threshold of ``grid``."""
        ev, T, K = self.ev, len(grid), self.ev.num_classes
        passes = ev.passes(grid)
        s, c = np.nonzero((passes > 0) & ~ev.gt)
        h = np.bincount(c * (T + 1) + passes[s, c], minlength=K * (T + 1)).reshape(K, T + 1)
        return np.cumsum(h[:, ::-1], axis=1)[:, ::-1][:, 1:].T

    def _rows(self, confusion, fp):
        ev, K = self.ev, self.ev.num_classes
        tp = np.diag(confusion[:, :K]).astype(np.float64)
        support = ev.support.astype(np.float64)
        predicted = tp + fp
        div = lambda a, b: np.divide(a, b, out=np.zeros_like(a), where=b > 0)  # noqa: E731
        precision, recall, f1 = div(tp, predicted), div(tp, support), div(2 * tp, predicted + support)
        return [{"class": c, "precision": tf.clean(precision[k]), "recall": tf.clean(recall[k]),
                 "f1": tf.clean(f1[k]), "support": int(support[k]), "fp": int(fp[k]),
                 "fn": int(support[k] - tp[k]), "correct": int(tp[k]),
                 "optimal_threshold": tf.clean(self.per_class_best[c])}
                for k, c in enumerate(ev.classes)]

    # -- texts and recommendations --------------------------------------------------

    def summary_md(self, c, rows, found):
        ev = self.ev
        m = ev.metrics(c)
        weakest = [r["class"] for r in sorted((r for r in rows if r["support"]),
                                              key=lambda r: r["f1"] or 0)[:3]]
        verdict = "The model gets the exact set of classes right on %.0f%% of images; %s." % (
            100 * m["subset_accuracy"], "weakest classes: " + ", ".join(weakest) if weakest
            else "no class has ground truth")
        which = "the optimal threshold" if self._is_optimal(c) else "the slider's threshold"
        best = confidence_text(self.best) if self.best is not None else "–"
        return "\n".join([
            "**%s**" % verdict, "",
            tf.md_table(["Micro F1", "Macro F1", "Subset accuracy", "Hamming loss", "Images"],
                        [[tf.fmt(m["micro_f1"]), tf.fmt(m["macro_f1"]),
                          tf.fmt(m["subset_accuracy"]), tf.fmt(m["hamming_loss"]),
                          ev.gt.shape[0]]]), "",
            tf.md_table(["Micro precision", "Micro recall", "Macro precision", "Macro recall"],
                        [[tf.fmt(m["micro_precision"]), tf.fmt(m["micro_recall"]),
                          tf.fmt(m["macro_precision"]), tf.fmt(m["macro_recall"])]]), "",
            tf.md_table([n.capitalize() for n in ml.ERROR_TYPES],
                        [[found[n] for n in ml.ERROR_TYPES]]), "",
            "At confidence **%.2f**, %s (optimal: %s, max micro F1). Run covers %s." % (
                c, which, best, self.info["covers"])])

    def recommend(self, confusion, rows, found):
        """Rules at one threshold, most severe first (constants of :mod:`plugin.recommendations`)."""
        ev, K = self.ev, self.ev.num_classes
        n = max(ev.gt.shape[0], 1)
        out = class_rules.small_eval_set(ev.gt.shape[0], "subset accuracy")
        out += class_rules.few_class_samples(ev.classes, ev.support, n)
        out += class_rules.confused_pairs(
            confusion, ev.support, ev.classes, n, "'%(pred)s' predicted on '%(true)s' images",
            "%(count)d of %(support)d '%(true)s' images (%(share).0f%%) also get a wrong "
            "'%(pred)s'.", "Review these labels (is '%(pred)s' there?) and add images that tell "
            "the classes apart.")
        for k in np.flatnonzero(ev.support > 0):
            missed = confusion[k, K] / ev.support[k]
            if missed >= 0.5 and confusion[k, K] >= CONFUSION_MIN:
                out.append(Recommendation(
                    "missed_class", "'%s' mostly missed" % ev.classes[k],
                    "%d of %d '%s' images (%.0f%%) do not get the class at this threshold." % (
                        confusion[k, K], ev.support[k], ev.classes[k], 100 * missed),
                    "Lower this class's threshold (see its optimal one) or add training images.",
                    float(confusion[k, K]) / n, {"cell": [int(k), K]}))
        return sorted(out, key=lambda r: -r.severity)

    # -- what the browser draws ----------------------------------------------------

    def steps(self, bar_classes, matrix_classes):
        ev = self.ev
        found = self.at(CONFIDENCE_GRID, bar_classes, matrix_classes)
        names = [ev.classes[k] for k in bar_classes]
        s = self.overall.downsample(200)
        lines = tf.line_figure(s.confidence, [("Micro precision", s.precision),
                                              ("Micro recall", s.recall), ("Micro F1", s.f1)],
                               self.best)
        trace, layout = tf.heatmap(ev.classes, matrix_classes, ml.MISSED,
                                   "truth %{y}<br>predicted %{x}<br>%{z} images")
        table_rows = {r["class"]: r for r in self.rows(self.optimal())}
        picked = [k for k in bar_classes if self.per_class_sweeps[k].confidence.size][:CURVE_CLASSES]
        pr = tf.curves_figure({ev.classes[k]: (self.per_class_sweeps[k].downsample(200).recall,
                                               self.per_class_sweeps[k].downsample(200).precision)
                               for k in picked}, "recall", "precision") if picked else None
        return tf.steps_payload(
            CONFIDENCE_GRID, self.best, lines,
            tf.bars_layout(names, [(e, COLORS[e]) for e in ("found", "spurious", "missed")]),
            {"trace": trace, "layout": layout}, found, matrix_classes,
            (TABLE_KEYS, TABLE_LABELS, MOVING_KEYS, [table_rows[c] for c in names]),
            (ERROR_NAMES, [COLORS[e] for e in ERROR_NAMES]), pr=pr,
            titles={"threshold": "Micro precision, recall and F1 against confidence",
                    "classes": "Performance by class (found / spurious / missed)",
                    "confusion": "Class confusion: a wrong class predicted alongside a true "
                                 "one (click a cell: its images)",
                    "pr": "Precision-recall curves per class"})

    def current(self, confidence, bar_classes, matrix_classes):
        return tf.current_payload(confidence, self.at([confidence], bar_classes, matrix_classes))

    # -- the images behind a number -------------------------------------------------

    def example_kinds(self):
        return list(KINDS)

    def _ids(self, rows, what):
        return self.ev.sample_ids[rows].tolist(), what

    def cell(self, confidence, true_name, pred_name):
        ev = self.ev
        if true_name not in ev.classes or (pred_name not in ev.classes and pred_name != ml.MISSED):
            return [], None
        t = ev.classes.index(true_name)
        p = ev.num_classes if pred_name == ml.MISSED else ev.classes.index(pred_name)
        what = ("'%s' images where it is missed" % true_name if p == ev.num_classes else
                "'%s' images where it is found" % true_name if p == t else
                "'%s' images with a wrong '%s'" % (true_name, pred_name))
        return self._ids(ev.members(t, p, confidence), what)

    def of_class(self, confidence, name, kind="errors"):
        ev = self.ev
        if name not in ev.classes:
            return [], None
        k = ev.classes.index(name)
        pred = ev.assess(confidence).predicted[:, k]
        missed, spurious = ev.gt[:, k] & ~pred, pred & ~ev.gt[:, k]
        mask = missed if kind == "missed" else spurious if kind == "spurious" else missed | spurious
        return self._ids(np.flatnonzero(mask), "images where '%s' is %s" % (
            name, kind if kind in ("missed", "spurious") else "missed or spurious"))

    def of_error(self, confidence, name):
        if name not in ml.ERROR_TYPES:
            return [], None
        error = self.ev.assess(confidence).error
        return self._ids(np.flatnonzero(error == ml.ERROR_TYPES.index(name)), "%s images" % name)

    def of_recommendation(self, confidence, show):
        ev = self.ev
        if "cell" in show:
            t, p = show["cell"]
            return self.cell(confidence, ev.classes[t],
                             ev.classes[p] if p < ev.num_classes else ml.MISSED)
        if "class" in show:
            return self.of_class(confidence, show["class"])
        return [], None

    def class_thresholds(self):
        return self.per_class_best
