"""The evaluation explorer's text sections (markdown): the summary and the App's view."""

from . import figures


def summary_md(s, rows, n_images, conf, optimal, covers, iou):
    """Verdict, headline numbers and the operating point (``s``: ``Evaluation.summary``)."""
    fmt = lambda v: "–" if v is None else "%.3f" % v
    lines = [
        "**%s**" % figures.verdict(s, rows),
        "",
        "| mAP | AP50 | AP75 | Precision | Recall | F1 | TP | FP | FN | Images | Objects |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        "| %s | %s | %s | %s | %s | %s | %d | %d | %d | %d | %d |" % (
            fmt(s["mAP"]), fmt(s["AP50"]), fmt(s["AP75"]), fmt(s["precision"]), fmt(s["recall"]),
            fmt(s["f1"]), s["tp"], s["fp"], s["fn"], n_images, s["num_gt"]),
        "",
        "At confidence **%.2f** and IoU **%.2f** (optimal: %s). Run covers %s."
        % (conf, iou, "%.2f" % optimal["confidence"] if optimal else "–", covers),
    ]
    return "\n".join(lines)


def view_md(view, whole, n_pred, n_gt, n_images):
    """The operating point counted over the objects in the App's view (``view``:
    ``tp``, ``fp``, ``fn``, ``error_counts``, see :func:`.sections.view_counts`),
    next to the whole run's numbers (``whole``: ``Evaluation.summary``)."""
    tp, fp, fn = view["tp"], view["fp"], view["fn"]
    ratio = lambda n, d: n / d if d else None
    p, r = ratio(tp, tp + fp), ratio(tp, tp + fn)
    f1 = ratio(2 * tp, 2 * tp + fp + fn)
    fmt = lambda v: "–" if v is None else "%.3f" % v
    errors = view["error_counts"]
    whole_errors = whole["error_counts"]
    rows = [("Precision", fmt(p), fmt(whole["precision"])), ("Recall", fmt(r), fmt(whole["recall"])),
            ("F1", fmt(f1), fmt(whole["f1"])), ("TP", tp, whole["tp"]), ("FP", fp, whole["fp"]),
            ("FN", fn, whole["fn"])]
    rows += [(name.capitalize(), errors[name], whole_errors[name])
             for name in errors if name != "correct" and (errors[name] or whole_errors[name])]
    lines = ["#### In the App's view",
             "The grid shows %d predictions and %d ground-truth objects of this run, in %d images; "
             "their numbers at this operating point, next to the whole run's:"
             % (n_pred, n_gt, n_images), "",
             "| | View | Whole run |", "|---|---|---|"]
    lines += ["| %s | %s | %s |" % row for row in rows]
    return "\n".join(lines)
