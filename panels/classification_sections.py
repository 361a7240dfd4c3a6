"""The evaluation explorer's sections for a classification run, at every slider step.

Talks to :class:`plugin.classification.Evaluation` only. The confusion matrices
and error types of all 101 slider steps come from one histogram of the samples
by (true class, predicted class, the number of steps their prediction passes)
and a reversed cumulative sum, so a step costs no pass over the samples;
:meth:`Sections.at` formats them with the same functions as one threshold
(a released slider shows the text of its step). Semantics are the engine's:
a prediction below the threshold is an abstention (**Below threshold**).
"""

import numpy as np

from ..plugin import classification as cls
from ..plugin.recommendations import Recommendation
from . import class_rules, task_figures as tf
from .figures import CONFIDENCE_GRID, sort_rows
from .texts import confidence_text

ERROR_NAMES = [n for n in cls.ERROR_TYPES if n != "correct"]  # the error plot's bars
COLORS = {"correct": "#2ca02c", "confused": "#9467bd", "abstained": "#1f77b4",
          "low_margin": "#ff7f0e", "label_suspect": "#d62728"}
TABLE_KEYS = ("class", "precision", "recall", "f1", "coverage", "support", "auc", "ap",
              "optimal_threshold")
TABLE_LABELS = ("Class", "Precision", "Recall", "F1", "Coverage", "Support", "ROC AUC", "AP",
                "Optimal threshold")
MOVING_KEYS = ("precision", "recall", "f1", "coverage")
SORT_KEYS = ["errors", "f1", "recall", "precision", "support", "class"]
ANY = "any class"  # error examples: every misclassified image of the class
IMBALANCE_RATIO = 10  # the largest class has at least 10x the samples of the smallest
MISCALIBRATED_ECE = 0.05  # expected calibration error above this: over- or under-confident
LOW_COVERAGE = 0.8  # fewer samples with a counted prediction: many abstentions
CURVE_CLASSES = 8  # ROC / PR curves drawn (the bars' first classes)


class Sections:
    """Every section of a classification run, at any threshold."""

    task = "classification"
    sort_keys = SORT_KEYS
    example_label = "Confused with (any class: every misclassified image of the class)"

    def __init__(self, ev, info):
        self.ev, self.info = ev, info
        self.overall = ev.sweeps()[0]
        best = self.overall.optimal()
        self.best = best["confidence"] if best else None
        self.slider = True
        self.kept_type = ev.assess(None).error.astype(np.int64)  # a counted prediction's type
        self.calibration = ev.calibration()
        self.rows_fixed = {r["class"]: r for r in ev.per_class(None)}

    # -- numbers at many thresholds ------------------------------------------------

    def optimal(self):
        return self.best if self.best is not None else 0.0

    def _passes(self, grid):
        """(N,) how many thresholds of ``grid`` (ascending) each prediction reaches."""
        ev = self.ev
        score = np.where(ev.has_pred, ev.pred_score, -1.0)
        return np.searchsorted(np.asarray(grid, np.float64), score, side="right")

    def confusions(self, grid):
        """(T, K, K + 1) confusion at each threshold of ``grid``, as ``Evaluation.confusion``."""
        ev, T = self.ev, len(grid)
        K = ev.num_classes
        code = (ev.gt_label * K + np.where(ev.has_pred, ev.pred_label, 0)) * (T + 1) + self._passes(grid)
        kept = _passing(np.bincount(code, minlength=K * K * (T + 1)).reshape(K, K, T + 1))
        out = np.empty((T, K, K + 1), np.int64)
        out[:, :, :K] = np.moveaxis(kept, 2, 0)
        out[:, :, K] = ev.support[None, :] - out[:, :, :K].sum(axis=2)
        return out

    def error_counts(self, grid):
        """(T, 5) counts of :data:`~plugin.classification.ERROR_TYPES` at each threshold."""
        T, n = len(grid), len(cls.ERROR_TYPES)
        h = np.bincount(self.kept_type * (T + 1) + self._passes(grid), minlength=n * (T + 1))
        out = _passing(h.reshape(n, T + 1)).T.copy()
        out[:, cls.ABSTAINED] = self.ev.gt_label.size - out.sum(axis=1) + out[:, cls.ABSTAINED]
        return out

    def rows(self, confidence):
        """Every class's row at ``confidence`` (orders the classes)."""
        return self._rows(self.confusions([confidence])[0])

    def _rows(self, confusion):
        ev, K = self.ev, self.ev.num_classes
        m = cls.metrics_from_confusion(confusion)
        tp = np.diag(confusion[:, :K])
        predicted = confusion[:, :K].sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            coverage = np.where(ev.support > 0, 1 - confusion[:, K] / np.maximum(ev.support, 1), None)
        return [{**self.rows_fixed[c], "class": c, "precision": tf.clean(m["per_class_precision"][k]),
                 "recall": tf.clean(m["per_class_recall"][k]), "f1": tf.clean(m["per_class_f1"][k]),
                 "coverage": None if coverage[k] is None else tf.clean(coverage[k]),
                 "support": int(ev.support[k]), "fp": int(predicted[k] - tp[k]),
                 "fn": int(ev.support[k] - tp[k]), "correct": int(tp[k]),
                 "confused": int(confusion[k, :K].sum() - tp[k]), "abstained": int(confusion[k, K]),
                 "auc": tf.clean(self.rows_fixed[c]["auc"]), "ap": tf.clean(self.rows_fixed[c]["ap"]),
                 "optimal_threshold": tf.clean(self.rows_fixed[c]["optimal_threshold"])}
                for k, c in enumerate(ev.classes)]

    def matrix_classes(self, confidence, top_n, keep):
        return tf.matrix_classes(self.confusions([confidence])[0], top_n, keep)

    def at(self, grid, bar_classes, matrix_classes):
        """Every section that follows the slider, one item per threshold of ``grid``."""
        ev = self.ev
        confusions, counts = self.confusions(grid), self.error_counts(grid)
        K, n = ev.num_classes, ev.gt_label.size
        bars_idx = np.asarray(bar_classes, dtype=np.int64)
        tp = np.einsum("tkk->tk", confusions[:, :, :K])
        bars = np.stack([tp, confusions[:, :, :K].sum(axis=2) - tp, confusions[:, :, K]], axis=1)
        out = {"bars": bars[:, :, bars_idx].tolist(),
               "z": tf.cell_grid(confusions, matrix_classes).tolist(),
               "summary": [], "table": [], "errors": counts[:, 1:].tolist(), "recommendations": [],
               "point": [], "text": []}
        for j, c in enumerate(np.asarray(grid, np.float64).tolist()):
            rows = self._rows(confusions[j])
            at = self.overall.at(c)
            point = [at["tp"], at["fp"], n - at["tp"], at["precision"], at["recall"], at["f1"]]
            found = dict(zip(cls.ERROR_TYPES, counts[j].tolist()))
            out["point"].append([round(v, 6) if isinstance(v, float) else v for v in point])
            out["text"].append(self.point_text(c, at, found))
            out["summary"].append(self.summary_md(c, confusions[j], rows, found))
            out["table"].append([[rows[k][key] for key in MOVING_KEYS] for k in bar_classes])
            out["recommendations"].append([r.to_dict() for r in self.recommend(confusions[j], found)])
        return out

    # -- texts ----------------------------------------------------------------------

    def point_text(self, c, at, found):
        n = max(self.ev.gt_label.size, 1)
        return ("%s %s: precision %.3f, recall %.3f, F1 %.3f, coverage %.3f (correct %d, "
                "confused %d, abstained %d)" % (
                    "At the optimal threshold (max F1), confidence" if self._is_optimal(c)
                    else "At confidence", confidence_text(c), at["precision"], at["recall"],
                    at["f1"], (at["tp"] + at["fp"]) / n, found["correct"] + found["low_margin"],
                    found["confused"] + found["label_suspect"], found["abstained"]))

    def _is_optimal(self, c):
        return self.best is not None and abs(c - self.best) < 1e-9

    def verdict(self, confusion, rows):
        """One plain-language sentence about the classifier at the threshold."""
        ev, K = self.ev, self.ev.num_classes
        n = max(int(confusion.sum()), 1)
        right = np.trace(confusion[:, :K]) / n
        parts = ["labels %.0f%% of images right" % (100 * right)]
        below = confusion[:, K].sum() / n
        if below:
            parts.append("abstains on %.0f%% (below the threshold)" % (100 * below))
        off = confusion[:, :K].copy()
        np.fill_diagonal(off, 0)
        if off.any():
            t, p = np.unravel_index(np.argmax(off), off.shape)
            parts.append("most confused: %s taken for %s (%d images)" % (
                ev.classes[t], ev.classes[p], off[t, p]))
        weakest = [r["class"] for r in sort_rows([r for r in rows if r["support"]], "f1", False)[:3]]
        if weakest:
            parts.append("weakest classes: " + ", ".join(weakest))
        return "The classifier " + "; ".join(parts) + "."

    def summary_md(self, c, confusion, rows, found):
        """Verdict, headline numbers at the threshold, the threshold-free ones, the operating point."""
        m = cls.metrics_from_confusion(confusion)
        at = self.overall.at(c)
        n = max(self.ev.gt_label.size, 1)
        s = [
            "**%s**" % self.verdict(confusion, rows), "",
            tf.md_table(["Accuracy", "Balanced accuracy", "Macro F1", "Kappa", "Images"],
                        [[tf.fmt(m["accuracy"]), tf.fmt(m["balanced_accuracy"]), tf.fmt(m["macro_f1"]),
                          tf.fmt(m["kappa"]), self.ev.gt_label.size]]), "",
            tf.md_table(["Precision", "Recall", "F1", "Coverage"],
                        [[tf.fmt(at["precision"]), tf.fmt(at["recall"]), tf.fmt(at["f1"]),
                          tf.fmt((at["tp"] + at["fp"]) / n)]]), "",
            tf.md_table(["Correct", "Confused", "Abstained"],
                        [[found["correct"] + found["low_margin"],
                          found["confused"] + found["label_suspect"], found["abstained"]]]), "",
        ]
        fixed = self.fixed_md()
        if fixed:
            s += [fixed, ""]
        which = "the optimal threshold" if self._is_optimal(c) else "the slider's threshold"
        best = confidence_text(self.best) if self.best is not None else "–"
        s.append("At confidence **%.2f**, %s (optimal: %s, max F1). Run covers %s." % (
            c, which, best, self.info["covers"]))
        return "\n".join(s)

    def fixed_md(self):
        """What no threshold changes: top-1, log loss, Brier, macro AUC, ECE."""
        ev = self.ev
        if not ev.has_probs:
            return tf.md_table(["ECE", "MCE"], [[tf.fmt(self.calibration["ece"]),
                                                 tf.fmt(self.calibration["mce"])]])
        top = ev.top_k()
        auc = [v for v in ev.auc.tolist() if np.isfinite(v)]
        return tf.md_table(["Top-1", "Log loss", "Brier", "Macro AUC", "ECE"], [[
            tf.fmt(top.get("top_1")), tf.fmt(ev.meta.get("log_loss")), tf.fmt(ev.meta.get("brier")),
            tf.fmt(float(np.mean(auc)) if auc else None), tf.fmt(self.calibration["ece"])]])

    # -- recommendations ------------------------------------------------------------

    def recommend(self, confusion, found):
        """Rules at one threshold, most severe first (constants above and in
        :mod:`plugin.recommendations`)."""
        ev = self.ev
        n = max(ev.gt_label.size, 1)
        out = class_rules.small_eval_set(ev.gt_label.size, "accuracy")
        present = np.flatnonzero(ev.support > 0)
        if present.size > 1:
            big, small = present[np.argmax(ev.support[present])], present[np.argmin(ev.support[present])]
            if ev.support[big] >= IMBALANCE_RATIO * ev.support[small]:
                out.append(Recommendation(
                    "class_imbalance", "Class imbalance",
                    "'%s' has %d images, '%s' only %d (%.0fx fewer)." % (
                        ev.classes[big], ev.support[big], ev.classes[small], ev.support[small],
                        ev.support[big] / ev.support[small]),
                    "Collect more images of the rare classes, or weight them in training; judge "
                    "the model by balanced accuracy and macro F1.", 0.5, {"class": ev.classes[small]}))
        out += class_rules.few_class_samples(ev.classes, ev.support, n)
        out += class_rules.confused_pairs(
            confusion, ev.support, ev.classes, n, "'%(true)s' is taken for '%(pred)s'",
            "%(count)d of %(support)d '%(true)s' images (%(share).0f%%) are predicted '%(pred)s'.",
            "Review these labels and add images that tell the two classes apart.")
        abstained = found["abstained"] / n
        if abstained > 1 - LOW_COVERAGE:
            out.append(Recommendation(
                "many_abstentions", "Many abstentions",
                "%.0f%% of the images get no counted prediction at this threshold." % (100 * abstained),
                "Lower the threshold if wrong answers cost less than no answer.", abstained,
                {"error": "abstained"}))
        if found["label_suspect"]:
            out.append(Recommendation(
                "label_errors", "Likely label errors",
                "%d confident predictions disagree with their label in the way label errors do "
                "(cleanlab's find_label_issues on the predicted probabilities)." % found["label_suspect"],
                "Review these labels first (Tag them for relabeling): fixing them changes every "
                "metric.", found["label_suspect"] / n, {"error": "label_suspect"}))
        out += self._calibration_rules(n)
        return sorted(out, key=lambda r: -r.severity)

    def _calibration_rules(self, n):
        cal = self.calibration
        if cal["ece"] is None or cal["ece"] < MISCALIBRATED_ECE:
            return []
        count = np.asarray(cal["count"], np.float64)
        gap = np.array([(c - a) if c is not None else 0.0
                        for c, a in zip(cal["confidence"], cal["accuracy"])])
        over = float(np.sum(gap * count)) > 0
        worst = int(np.argmax(np.abs(gap) * (count > 0)))
        lo, hi = cal["edges"][worst], cal["edges"][worst + 1]
        return [Recommendation(
            "overconfident" if over else "underconfident",
            "Over-confident" if over else "Under-confident",
            "Expected calibration error %.3f: confidences are on average %s than the accuracy; "
            "worst between %.2f and %.2f (confidence %.2f, accuracy %.2f)." % (
                cal["ece"], "higher" if over else "lower", lo, hi, cal["confidence"][worst],
                cal["accuracy"][worst]),
            "Calibrate the scores (temperature scaling on a held-out split) before using a "
            "threshold.", float(cal["ece"]), {"bin": worst})]

    # -- what the browser draws ----------------------------------------------------

    def steps(self, bar_classes, matrix_classes):
        """Every slider step of every section, plus the sections no threshold
        changes (ROC, PR, reliability, top-k), in ``components.js``'s shape."""
        ev = self.ev
        found = self.at(CONFIDENCE_GRID, bar_classes, matrix_classes)
        names = [ev.classes[k] for k in bar_classes]
        n = max(ev.gt_label.size, 1)
        s = self.overall.downsample(200)
        lines = tf.line_figure(s.confidence, [("Precision", s.precision), ("Recall", s.recall),
                                              ("F1", s.f1), ("Coverage", (s.tp + s.fp) / n)],
                               self.best)
        trace, layout = tf.heatmap(ev.classes, matrix_classes, cls.BELOW,
                                   "truth %{y}<br>predicted %{x}<br>%{z} images")
        table_rows = {r["class"]: r for r in self.rows(self.optimal())}
        curves = ev.curves()
        picked = [c for c in names if c in curves][:CURVE_CLASSES]
        pr = tf.curves_figure({c: curves[c]["pr"] for c in picked}, "recall", "precision") \
            if picked else None
        return tf.steps_payload(
            CONFIDENCE_GRID, self.best, lines,
            tf.bars_layout(names, [(e, COLORS[e]) for e in ("correct", "confused", "abstained")]),
            {"trace": trace, "layout": layout}, found, matrix_classes,
            (TABLE_KEYS, TABLE_LABELS, MOVING_KEYS, [table_rows[c] for c in names]),
            (ERROR_NAMES, [COLORS[e] for e in ERROR_NAMES]), pr=pr,
            extras=self.extras(picked, curves),
            titles={"threshold": "Precision, recall, F1 and coverage against confidence",
                    "classes": "Performance by class (correct / confused / abstained)",
                    "confusion": "Confusion matrix (click a cell: its images)",
                    "pr": "Precision-recall curves per class (one vs rest)"})

    def extras(self, picked, curves):
        """Top-k accuracy, ROC curves and the reliability diagram."""
        ev = self.ev
        out = []
        top = ev.top_k()
        if top:
            out.append({"name": "top_k", "title": "Top-k accuracy",
                        "md": tf.md_table(["k"] + [str(i + 1) for i in range(len(top))],
                                          [["Accuracy"] + [tf.fmt(v) for v in top.values()]])})
        if picked:
            out.append({"name": "roc", "title": "ROC curves per class (one vs rest)",
                        **tf.curves_figure({c: curves[c]["roc"] for c in picked},
                                           "false positive rate", "true positive rate",
                                           diagonal=True)})
        out.append({"name": "reliability", "title": "Reliability diagram (accuracy per confidence "
                    "bin; dotted: perfect calibration)", **self.reliability()})
        return out

    def reliability(self):
        """Accuracy against mean confidence per bin (15 equal-width bins), ECE and MCE."""
        cal = self.calibration
        edges = np.asarray(cal["edges"])
        mid = ((edges[:-1] + edges[1:]) / 2).round(4).tolist()
        acc = [None if a is None else round(a, 4) for a in cal["accuracy"]]
        traces = [{"type": "bar", "name": "accuracy", "x": mid, "y": acc, "width": 1 / len(mid),
                   "marker": {"color": "#1f77b4"}, "customdata": cal["count"],
                   "hovertemplate": "confidence %{x}<br>accuracy %{y}<br>%{customdata} images"
                                    "<extra></extra>"},
                  {"type": "scatter", "mode": "lines", "name": "perfect calibration", "x": [0, 1],
                   "y": [0, 1], "line": {"dash": "dot", "color": "#888888"}}]
        title = "ECE %s, MCE %s (%d bins)" % (tf.fmt(cal["ece"]), tf.fmt(cal["mce"]), len(mid))
        layout = dict(tf.BASE_LAYOUT, title=tf._title(title), showlegend=False,
                      xaxis={"title": tf._title("confidence"), "range": [0, 1]},
                      yaxis={"title": tf._title("accuracy"), "range": [0, 1.02]})
        layout["margin"] = {"t": 50, "r": 10, "b": 40, "l": 50}
        return {"traces": traces, "layout": tf._revised(layout, traces)}

    def current(self, confidence, bar_classes, matrix_classes):
        """The same at one (possibly off-grid) confidence: ``components.js``'s ``current``."""
        return tf.current_payload(confidence, self.at([confidence], bar_classes, matrix_classes))

    # -- the images behind a number -------------------------------------------------

    def example_kinds(self):
        return [ANY] + list(self.ev.classes) + [cls.BELOW]

    def _ids(self, mask, what):
        return self.ev.sample_ids[np.flatnonzero(mask)].tolist(), what

    def cell(self, confidence, true_name, pred_name):
        """``(sample ids, what they are)`` of one confusion cell."""
        ev = self.ev
        if true_name not in ev.classes or (pred_name not in ev.classes and pred_name != cls.BELOW):
            return [], None
        t = ev.classes.index(true_name)
        p = ev.num_classes if pred_name == cls.BELOW else ev.classes.index(pred_name)
        return (ev.sample_ids[ev.members(t, p, confidence)].tolist(),
                "images of '%s' %s" % (true_name, "below the threshold" if pred_name == cls.BELOW
                                       else "predicted '%s'" % pred_name))

    def of_class(self, confidence, name, kind="errors"):
        """A class's images: its errors (confused or abstained), the misclassified
        ones (``ANY``), those confused with one class or below the threshold."""
        ev = self.ev
        if name not in ev.classes:
            return [], None
        k = ev.classes.index(name)
        predicted = ev.assess(confidence).predicted
        of_k = ev.gt_label == k
        K = ev.num_classes
        if kind == "errors":
            return self._ids(of_k & (predicted != k), "errors of '%s'" % name)
        if kind == ANY:
            return self._ids(of_k & (predicted != k) & (predicted < K), "misclassified '%s' images" % name)
        if kind == cls.BELOW:
            return self._ids(of_k & (predicted == K), "'%s' images below the threshold" % name)
        return self.cell(confidence, name, kind)

    def of_error(self, confidence, name):
        if name not in cls.ERROR_TYPES:
            return [], None
        error = self.ev.assess(confidence).error
        return self._ids(error == cls.ERROR_TYPES.index(name), "%s images" % name)

    def of_recommendation(self, confidence, show):
        ev = self.ev
        if "cell" in show:
            t, p = show["cell"]
            return self.cell(confidence, ev.classes[t], ev.classes[p] if p < ev.num_classes else cls.BELOW)
        if "class" in show:
            return self.of_class(confidence, show["class"])
        if "error" in show:
            return self.of_error(confidence, show["error"])
        if "bin" in show:
            edges = self.calibration["edges"]
            b = int(show["bin"])
            score = np.where(ev.has_pred, ev.pred_score, -1.0)
            ids = np.searchsorted(np.asarray(edges[1:-1]), score) == b
            return self._ids(ev.has_pred & ids, "images with confidence in [%.2f, %.2f]" % (
                edges[b], edges[b + 1]))
        return [], None

    def class_thresholds(self):
        return self.ev.optimal_thresholds()["per_class"]


def _passing(h):
    """``h[..., s]`` counts items passing ``s`` thresholds: the counts passing
    threshold ``t`` (``s > t``) for t = 0..T-1."""
    return np.cumsum(h[..., ::-1], axis=-1)[..., ::-1][..., 1:]
