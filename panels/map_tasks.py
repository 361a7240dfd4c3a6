"""The vector explorer's task-specific answers for maps of classification,
multi-label and segmentation runs: their classes, a chosen cluster's numbers
and confusion sub-matrix, a cell's samples, and a hovered point's card.

Detection maps keep theirs in :mod:`.cluster_report` and :mod:`.map_hover`;
:func:`analysis` dispatches once on the map's task. A cluster of a
classification map is a set of samples: counted at the evaluation explorer's
confidence (else the run's maximum-F1 one), its per-class TP / FP / FN are
those of its samples' confusion (rows true classes, columns predicted classes
and **Below threshold**), and a cell shows exactly its samples. A cluster of
a segmentation map is a set of images: its pixel confusion is the sum of its
images' (every prediction, no threshold), with per-class IoU, precision and
recall next to the whole set's, and a cell shows the cluster's images holding
that confusion, most such pixels first. Multi-label maps: :mod:`.map_multilabel`.
"""

import os

import numpy as np

from ..operators import map_outcomes, run_store, segmentation_run
from ..plugin import classification, multilabel, segmentation
from . import cluster_report, map_hover, map_multilabel, texts

UNLABELED = "Unlabeled"


def task(dataset, m):
    """The task of the map's evaluation (``"detection"``, ``"classification"``, ...)."""
    return run_store.run_task(dataset, m.config.eval_key)


def analysis(dataset, m):
    """The map's evaluation (the task's engine object), loaded once per map."""
    ev = getattr(m, "analysis", None)
    if ev is None:
        kind = task(dataset, m)
        ev = (segmentation_run.load_analysis(dataset, m.config.eval_key) if kind == "segmentation"
              else run_store.load_analysis(dataset, m.config.eval_key))
        m.analysis = ev
    return ev


def operating_confidence(dataset, m, ev, saved):
    """``(confidence, source)``: the evaluation explorer's when it shows this run,
    else the run's maximum-F1 confidence (classification, multi-label: micro F1) or none
    (segmentation)."""
    if saved and saved.get("eval_key") == m.config.eval_key and saved.get("confidence") is not None:
        return float(saved["confidence"]), "the evaluation explorer's operating point"
    if isinstance(ev, (classification.Evaluation, multilabel.Evaluation)):
        best = ev.optimal_thresholds()["overall"]
        return best, "optimal confidence"
    return None, "every prediction"


def _rows(ev, m, members):
    """Positions in the evaluation's arrays of the map's points ``members``."""
    if isinstance(ev, (classification.Evaluation, multilabel.Evaluation)):
        order = np.argsort(ev.sample_ids)
        ids = m.arrays["ids"][members]
        return order[np.searchsorted(ev.sample_ids[order], ids)]
    return np.asarray(members, dtype=np.int64)  # segmentation: points in the run's image order


def cluster(dataset, m, members, saved):
    """What the panel shows for a chosen cluster: ``op`` (its operating point),
    ``report_md``, ``classes_md`` and the confusion figure ``(traces, layout)``."""
    ev = analysis(dataset, m)
    confidence, source = operating_confidence(dataset, m, ev, saved)
    rows = _rows(ev, m, members)
    if isinstance(ev, classification.Evaluation):
        sub, whole = _class_confusion(ev, confidence, rows), ev.confusion(confidence)
        figure = cluster_report.confusion_figure(_square(sub), ev.classes, col_extra=classification.BELOW)
        return dict(op={"iou": None, "confidence": confidence},
                    report_md=_classification_md(sub, whole, confidence, source),
                    rows=_class_rows(ev.classes, _counts(sub), _counts(whole)), figure=figure)
    if isinstance(ev, multilabel.Evaluation):
        sub = map_multilabel.subset(ev, rows)
        figure = cluster_report.confusion_figure(_square(sub.class_confusion(confidence)),
                                                 ev.classes, col_extra=map_multilabel.MISSED)
        return dict(op={"iou": None, "confidence": confidence},
                    report_md=map_multilabel.report_md(sub, ev, confidence, source),
                    rows=_class_rows(ev.classes, map_multilabel.counts(sub, confidence),
                                     map_multilabel.counts(ev, confidence)), figure=figure)
    sub = ev.image_confusions(rows).sum(axis=0)
    figure = cluster_report.confusion_figure(_square(sub), ev.classes, col_extra=UNLABELED)
    return dict(op={"iou": None, "confidence": None},
                report_md=_segmentation_md(ev, sub, len(rows)),
                classes_md=_pixel_classes_md(ev, sub), figure=figure)


def cell(dataset, m, members, op, true_name, pred_name):
    """Point indices (among ``members``) of a cluster's confusion cell, most relevant first."""
    ev = analysis(dataset, m)
    below = classification.BELOW if isinstance(ev, classification.Evaluation) else \
        map_multilabel.MISSED if isinstance(ev, multilabel.Evaluation) else UNLABELED
    row = cluster_report.cell_index(true_name, ev.classes, None)
    col = cluster_report.cell_index(pred_name, ev.classes, below)
    if row is None or col is None or row >= len(ev.classes):
        return np.zeros(0, np.int64)
    members = np.asarray(members, dtype=np.int64)
    rows = _rows(ev, m, members)
    if isinstance(ev, multilabel.Evaluation):
        return map_multilabel.cell(map_multilabel.subset(ev, rows), members,
                                   op.get("confidence"), row, col)
    if isinstance(ev, classification.Evaluation):
        predicted = ev.assess(op.get("confidence")).predicted[rows]
        return members[(ev.gt_label[rows] == row) & (predicted == col)]
    images, _ = ev.cell_images(row, col)  # most pixels first
    pos = {int(r): int(p) for r, p in zip(rows, members)}
    return np.array([pos[i] for i in images.tolist() if i in pos], dtype=np.int64)


def _class_confusion(ev, confidence, rows):
    K = ev.num_classes
    predicted = ev.assess(confidence).predicted[rows]
    return np.bincount(ev.gt_label[rows] * (K + 1) + predicted,
                       minlength=K * (K + 1)).reshape(K, K + 1)


def _square(confusion):
    """A (K, K + 1) confusion padded with an empty last row, as the figure takes it."""
    return np.vstack([confusion, np.zeros((1, confusion.shape[1]), confusion.dtype)])


def _counts(confusion):
    K = confusion.shape[0]
    tp = np.diag(confusion[:, :K])
    return tp, confusion[:, :K].sum(axis=0) - tp, confusion.sum(axis=1) - tp


def _class_rows(classes, counts, whole):
    """Per class in the cluster, from its ``(tp, fp, fn)`` and the whole set's: TP,
    FP, FN (classification: right, predicted for another class, confused or
    abstained), precision / recall / F1 next to the whole set's."""
    (tp, fp, fn), (wtp, wfp, wfn) = counts, whole
    p, r, f1 = cluster_report.prf(tp, fp, fn)
    wp, wr, wf1 = cluster_report.prf(wtp, wfp, wfn)
    errors = fp + fn
    present = np.flatnonzero(tp + errors > 0)
    order = present[np.lexsort((present, -errors[present]))]
    num = cluster_report._num
    return [{"class": classes[k], "tp": int(tp[k]), "fp": int(fp[k]), "fn": int(fn[k]),
             "precision": num(p[k]), "recall": num(r[k]), "f1": num(f1[k]),
             "precision_all": num(wp[k]), "recall_all": num(wr[k]), "f1_all": num(wf1[k])}
            for k in order]


def _classification_md(sub, whole, confidence, source):
    m, w = classification.metrics_from_confusion(sub), classification.metrics_from_confusion(whole)
    K = sub.shape[0]
    conf = "every prediction" if confidence is None else \
        "confidence **%s**" % texts.confidence_text(confidence)
    return ("At %s (%s): accuracy **%.2f** (whole set %.2f), macro F1 **%.2f** (%.2f); "
            "%d samples in the cluster, %d right, %d confused, %d below the threshold.\n\n"
            "Click a cell of the matrix to see exactly its samples."
            % (conf, source, m["accuracy"], w["accuracy"], m["macro_f1"], w["macro_f1"],
               int(sub.sum()), int(np.trace(sub[:, :K])),
               int(sub[:, :K].sum() - np.trace(sub[:, :K])), int(sub[:, K].sum())))


def _segmentation_md(ev, sub, n):
    keep = ev.classes_in_means()
    m, w = segmentation.pixel_metrics(sub, keep), segmentation.pixel_metrics(ev.confusion, keep)
    return ("Over every prediction: mIoU **%.2f** (whole set %.2f), pixel accuracy **%.3f** "
            "(%.3f) in the cluster's %d images.\n\nClick a cell of the matrix to see the "
            "cluster's images with those pixels, most first."
            % (m["miou"], w["miou"], m["pixel_accuracy"], w["pixel_accuracy"], n))


def _pixel_classes_md(ev, sub):
    keep = ev.classes_in_means()
    m, w = segmentation.pixel_metrics(sub, keep), segmentation.pixel_metrics(ev.confusion, keep)
    fmt = lambda v: "–" if np.isnan(v) else "%.2f" % v  # noqa: E731
    both = lambda k, name: "%s (%s)" % (fmt(m[name][k]), fmt(w[name][k]))  # noqa: E731
    present = [k for k in np.argsort(m["iou"]) if sub[k].sum() + sub[:, k].sum() > 0]
    if not present:
        return "No pixel of this cluster's images is evaluated."
    lines = ["| Class | IoU (all) | Precision (all) | Recall (all) | True pixels |",
             "|---|---|---|---|---|"]
    lines += ["| %s | %s | %s | %s | %d |" % (ev.classes[k], both(k, "iou"), both(k, "precision"),
                                              both(k, "recall"), int(sub[k].sum()))
              for k in present]
    return "\n".join(lines)


def _run_confidence(dataset, m):
    """The run's own threshold (the map's colours), read once per map."""
    if not hasattr(m, "run_confidence"):
        m.run_confidence = run_store.analysis_info(dataset, m.config.eval_key)["confidence"]
    return m.run_confidence


def hover(dataset, m, i):
    """The card of point ``i``: ``{"lines", "thumbnail"}``."""
    sample = dataset[str(m.arrays["ids"][i])]
    key = m.config.eval_key
    error = m.arrays["error"][i]
    lines = ["image " + os.path.basename(sample.filepath)]
    map_task = task(dataset, m)
    if map_task == "multilabel":
        ev = analysis(dataset, m)
        row = int(_rows(ev, m, np.array([i]))[0])
        lines += map_multilabel.hover_lines(ev, row, _run_confidence(dataset, m), error)
    elif map_task == "classification":
        gt, pred = sample[m.config.gt_field], sample[m.config.pred_field]
        conf = getattr(pred, "confidence", None)
        lines.append("truth %s · predicted %s%s" % (
            getattr(gt, "label", "–"), getattr(pred, "label", "none"),
            "" if conf is None else " · confidence %.3f" % conf))
        lines.append("correct" if error == "correct" else "error: %s" % error)
    else:
        miou, acc = sample[key + "_miou"], sample[key + "_pixel_accuracy"]
        lines.append("mIoU %s · pixel accuracy %s" % (
            "–" if miou is None else "%.2f" % miou, "–" if acc is None else "%.3f" % acc))
        kind, what = sample[key + "_error"], sample[key + "_error_class"]
        verdict = "fails: %s" % error if error != "correct" else \
            "mIoU at or above %.2f" % map_outcomes.FAIL_BELOW_MIOU
        lines.append(verdict + ("" if not kind else " · worst error %s (%s)" % (kind, what)))
    return {"lines": lines, "thumbnail": map_hover.thumbnail(sample.filepath)}
