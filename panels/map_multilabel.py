"""The vector explorer's answers for a map of a multi-label run: a chosen
cluster's numbers and class confusion, a cell's samples, a hovered point's text.

A cluster is a set of samples, so its numbers are those of the run restricted
to them (:func:`subset`, the engine's own :class:`plugin.multilabel.Evaluation`
on the cluster's rows), at the evaluation explorer's confidence (else the
run's maximum micro-F1 one): per class TP / FP / FN of its (sample, class)
pairs, micro F1 and subset accuracy next to the whole set's, and the class
confusion of the evaluation explorer (rows true classes; ``[t, t]`` samples
where ``t`` is found, ``[t, p]`` samples with a wrong ``p`` predicted
alongside a true ``t``, **Missed** samples where ``t`` is not predicted),
whose cells show exactly their samples of the cluster.
"""

import numpy as np

from ..plugin import multilabel
from . import texts

MISSED = multilabel.MISSED


def subset(ev, rows):
    """The evaluation of the samples at ``rows`` alone (a cluster's)."""
    rows = np.asarray(rows, dtype=np.int64)
    return multilabel.Evaluation(ev.classes, ev.gt[rows], ev.scores[rows], ev.sample_ids[rows])


def counts(ev, confidence):
    """Per class ``(tp, fp, fn)`` of the (sample, class) pairs at the threshold."""
    c = ev.assess(confidence).confusion
    return c[:, 1, 1], c[:, 0, 1], c[:, 1, 0]


def report_md(sub, ev, confidence, source):
    """The cluster's verdict next to the whole set's, at the operating point."""
    m, w = sub.metrics(confidence), ev.metrics(confidence)
    n = sub.assess(confidence).error_counts()
    conf = "every prediction" if confidence is None else \
        "confidence **%s**" % texts.confidence_text(confidence)
    return ("At %s (%s): micro F1 **%.2f** (whole set %.2f), subset accuracy **%.2f** (%.2f); "
            "%d samples in the cluster: %d correct, %d missed (true classes left out), "
            "%d spurious (extra classes), %d confused (both).\n\nClick a cell of the matrix to see "
            "exactly its samples."
            % (conf, source, m["micro_f1"], w["micro_f1"], m["subset_accuracy"],
               w["subset_accuracy"], sub.gt.shape[0], n["correct"], n["missed"], n["spurious"],
               n["confused"]))


def cell(sub, members, confidence, row, col):
    """The points among ``members`` (the rows of ``sub``, in order) in one cell of
    the cluster's class confusion; ``col`` = K is **Missed**."""
    return np.asarray(members, dtype=np.int64)[sub.members(row, col, confidence)]


def hover_lines(ev, row, confidence, error):
    """Truth, the classes predicted at the run's threshold with their confidence,
    and the error type with the classes behind it."""
    gt, scores = ev.gt[row], ev.scores[row]
    counted = multilabel.predicted_at(scores[None], confidence)[0]
    names = np.asarray(ev.classes, dtype=object)
    order = np.argsort(-np.nan_to_num(scores, nan=-1.0), kind="stable")
    shown = [j for j in order if counted[j]]
    truth = ", ".join(names[gt]) or "no class"
    pred = ", ".join("%s %.2f" % (names[j], scores[j]) for j in shown) or "no class"
    lines = ["truth %s · predicted %s" % (truth, pred)]
    if error == "correct":
        lines.append("correct")
    else:
        wrong = [("missed", gt & ~counted), ("extra", counted & ~gt)]
        lines.append("error: %s (%s)" % (error, "; ".join(
            "%s %s" % (what, ", ".join(names[mask])) for what, mask in wrong if mask.any())))
    return lines
