"""The evaluation explorer's texts (markdown): the summary, the App's view, what actions did."""

from . import figures


def confidence_text(value):
    """A confidence threshold as text: 2 decimals on the slider's 0.01 steps, up
    to 4 off them (an optimum), so that two different thresholds never read alike."""
    if abs(value * 100 - round(value * 100)) < 1e-6:
        return "%.2f" % value
    return ("%.4f" % value).rstrip("0")


def operating_point_md(conf, iou, optimal):
    """The sentence naming the operating point: the confidence threshold (the
    slider's), and whether it is the optimal threshold (max F1)."""
    if not optimal:
        return "At confidence **%.2f** and IoU **%.2f** (optimal: –, no prediction matches)." % (
            conf, iou)
    best = optimal["confidence"]
    which = "the optimal threshold" if abs(conf - best) < 1e-9 else "the slider's threshold"
    return "At confidence **%.2f** and IoU **%.2f**, %s (optimal: %s, max F1)." % (
        conf, iou, which, confidence_text(best))


def summary_md(s, rows, n_images, conf, optimal, covers, iou):
    """Verdict, headline numbers and the operating point (``s``: ``Evaluation.summary``).

    Two small tables (what no threshold changes, then the operating point's
    counts), so the summary fits a narrow panel."""
    fmt = lambda v: "–" if v is None else "%.3f" % v
    lines = [
        "**%s**" % figures.verdict(s, rows),
        "",
        "| mAP | AP50 | AP75 | Images | Objects |",
        "|---|---|---|---|---|",
        "| %s | %s | %s | %d | %d |" % (fmt(s["mAP"]), fmt(s["AP50"]), fmt(s["AP75"]), n_images,
                                       s["num_gt"]),
        "",
        "| Precision | Recall | F1 | TP | FP | FN |",
        "|---|---|---|---|---|---|",
        "| %s | %s | %s | %d | %d | %d |" % (fmt(s["precision"]), fmt(s["recall"]), fmt(s["f1"]),
                                           s["tp"], s["fp"], s["fn"]),
        "",
        operating_point_md(conf, iou, optimal) + " Run covers %s." % covers,
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
    lines = ["##### In the App's view",
             "The grid shows %d predictions and %d ground-truth objects of this run, in %d images; "
             "their numbers at this operating point, next to the whole run's:"
             % (n_pred, n_gt, n_images), "",
             "| | View | Whole run |", "|---|---|---|"]
    lines += ["| %s | %s | %s |" % row for row in rows]
    return "\n".join(lines)


def tagged_md(n, n_pred, n_gt, class_name, choices):
    """What Tag did: how many objects got the tag, of which errors, at which point."""
    kinds = [text for count, text in ((n_pred, "%d false detections" % n_pred),
                                      (n_gt, "%d missed objects" % n_gt)) if count]
    return ("Tagged **%d objects** as `needs_review`%s of class '%s' at confidence %s and IoU "
            "%s. Filter the grid by the label tag `needs_review` to see them."
            % (n, ": " + " and ".join(kinds) if kinds else " (no error to tag)", class_name,
               confidence_text(choices["confidence"]), choices["iou"]))


def thresholds_saved_md(thresholds, eval_key, run_key, iou):
    """What Save per-class thresholds did: which thresholds, stored where."""
    n = sum(v is not None for v in thresholds.values())
    none = len(thresholds) - n
    return ("Saved the optimal threshold (max F1, IoU %s) of **%d classes** with run '%s'%s. Read "
            "them with `dataset.load_run_results('%s').class_thresholds`; re-evaluating the same "
            "fields keeps them." % (iou, n, eval_key, " (%d classes have none: no match)" % none
                                    if none else "", run_key))

