"""Model-improvement recommendations, computed from an evaluation by fixed rules.

Each rule looks at the numbers at the current operating point (confidence,
IoU) and, when it fires, returns a :class:`Recommendation` with its evidence and
the objects behind it (``show``: an error type, a class, or a confusion cell)
so the App can display them. The thresholds are documented constants.
"""

from dataclasses import asdict, dataclass, field

import numpy as np
MIN_IMAGES = 30          # fewer evaluated images: metrics are anecdotal
MIN_CLASS_OBJECTS = 10   # fewer ground-truth objects of a class: its metrics are unreliable
LOW_RECALL = 0.7         # recall below this: many objects are missed
LOW_PRECISION = 0.7      # precision below this: many detections are wrong
CONFUSION_SHARE = 0.1    # a class pair confused for >= 10% of the class's objects ...
CONFUSION_MIN = 3        # ... and at least 3 times
LOCALIZATION_SHARE = 0.3  # localization errors >= 30% of all errors, and the largest kind
DUPLICATE_SHARE = 0.05   # duplicates >= 5% of predictions


@dataclass
class Recommendation:
    """One finding: what, why (evidence), what to do, and which objects show it."""

    rule: str
    title: str
    evidence: str
    action: str
    severity: float  # share of errors (or of the data) it concerns, for ordering
    show: dict = field(default_factory=dict)

    def to_dict(self):
        return asdict(self)


def recommend(evaluation, iou=0.5, confidence=None, num_images=None):
    """All recommendations that apply, most severe first."""
    overall, _ = evaluation.sweeps(iou)
    a = evaluation.assess(iou, confidence)
    return recommend_at(evaluation.classes, class_support(evaluation), overall.at(confidence),
                        overall.optimal(), a.error_counts(), a.confusion, iou, num_images)


def class_support(evaluation):
    """(K,) ground-truth objects per class, crowd regions excluded."""
    return np.bincount(evaluation.gt_label[~evaluation.gt_crowd], minlength=evaluation.num_classes)


def recommend_at(classes, gt_per_class, point, best, counts, confusion, iou, num_images=None):
    """The rules applied to one operating point's numbers: ``point`` (the overall
    sweep at the confidence: ``tp``, ``fp``, ``precision``, ``recall``), ``best``
    (its optimum or None), ``counts`` (error type -> count), ``confusion``
    ((K+1, K+1)). Pure, so the panel can apply it at every slider step."""
    n_gt = int(gt_per_class.sum())
    n_pred = int(point["tp"] + point["fp"])
    n_errors = sum(v for k, v in counts.items() if k != "correct")
    out = []

    if num_images is not None and num_images < MIN_IMAGES:
        out.append(Recommendation(
            "small_evaluation_set", "The evaluation set is too small to trust",
            "Only %d images were evaluated (fewer than %d)." % (num_images, MIN_IMAGES),
            "Evaluate on more images before drawing conclusions.", 1.0, {}))

    if n_gt and point["recall"] < LOW_RECALL:
        missed = counts["missed"]
        at_best = best["recall"] if best else point["recall"]
        out.append(Recommendation(
            "many_missed", "The model misses many objects",
            "Recall is %.0f%%: %d of %d objects are not detected (%d missed outright)."
            % (100 * point["recall"], n_gt - point["tp"], n_gt, missed),
            "Lower the confidence threshold (recall %.0f%% at the optimal %.2f) or add "
            "training data like the missed objects." % (100 * at_best, best["confidence"] if best else 0),
            (n_gt - point["tp"]) / max(n_gt, 1), {"error": "missed"}))

    if n_pred and point["precision"] < LOW_PRECISION:
        wrong = n_pred - point["tp"]
        out.append(Recommendation(
            "many_false_positives", "Many detections are wrong",
            "Precision is %.0f%%: 1 in %.1f detections is a false positive (%d background)."
            % (100 * point["precision"], n_pred / max(wrong, 1), counts["background"]),
            "Raise the confidence threshold (optimal: %.2f) and add hard negatives "
            "(images like these without the objects) to training." % (best["confidence"] if best else 1),
            wrong / max(n_pred, 1), {"error": "background"}))

    K = len(classes)
    off = np.asarray(confusion)[:K, :K].copy()
    np.fill_diagonal(off, 0)
    for gi, pi in zip(*np.nonzero(off)):
        n = int(off[gi, pi])
        if n >= CONFUSION_MIN and n >= CONFUSION_SHARE * gt_per_class[gi]:
            out.append(Recommendation(
                "confused_classes", "'%s' is often detected as '%s'" % (classes[gi], classes[pi]),
                "%d of %d '%s' objects were detected as '%s'."
                % (n, gt_per_class[gi], classes[gi], classes[pi]),
                "Review the labels of both classes and add training examples that tell them "
                "apart.", n / max(n_errors, 1), {"cell": [int(gi), int(pi)]}))

    for k in np.flatnonzero((gt_per_class > 0) & (gt_per_class < MIN_CLASS_OBJECTS)):
        out.append(Recommendation(
            "few_objects", "Few '%s' objects to evaluate" % classes[k],
            "Only %d ground-truth '%s' objects; its AP and recall are unreliable."
            % (gt_per_class[k], classes[k]),
            "Add more labelled '%s' examples to the evaluation (and training) set." % classes[k],
            0.5 * (1 - gt_per_class[k] / MIN_CLASS_OBJECTS), {"class": classes[k]}))

    kinds = {k: v for k, v in counts.items() if k not in ("correct",)}
    if n_errors and counts["localization"] >= LOCALIZATION_SHARE * n_errors and \
            counts["localization"] == max(kinds.values()):
        out.append(Recommendation(
            "localization", "Boxes are often misplaced",
            "%d of %d errors are localization errors (right class, IoU below %.2f)."
            % (counts["localization"], n_errors, iou),
            "Improve box quality: box regression loss, higher input resolution, consistent "
            "box annotation guidelines.", counts["localization"] / n_errors,
            {"error": "localization"}))

    if n_pred and counts["duplicate"] >= DUPLICATE_SHARE * n_pred:
        out.append(Recommendation(
            "duplicates", "Objects are detected more than once",
            "%d duplicate detections (%.0f%% of predictions)."
            % (counts["duplicate"], 100 * counts["duplicate"] / n_pred),
            "Tighten non-maximum suppression (lower its IoU threshold) or use class-agnostic NMS.",
            counts["duplicate"] / n_pred, {"error": "duplicate"}))

    out.sort(key=lambda r: -r.severity)
    return out

