"""One definition per count, shared by both panels (a view, a cluster, a class).

Counted over a subset of the evaluated predictions and objects, each thing once:
TP = its correct predictions, FP = its other predictions (classification,
localization, both, duplicate, background), FN = its objects that nothing
detected (classification, localization, both, missed), counted by object, so
an object confused by another class's prediction is an FN of the subset that
holds the object. Over the whole set these equal the confusion matrix's.
"""

import numpy as np

from ..plugin import errors

UNDETECTED = (errors.CLASSIFICATION, errors.LOCALIZATION, errors.BOTH, errors.MISSED)
WRONG = (errors.CLASSIFICATION, errors.LOCALIZATION, errors.BOTH, errors.DUPLICATE,
         errors.BACKGROUND)


def subset_counts(pred_error, gt_error):
    """``(tp, fp, fn)`` over the last axis of error codes ((..., P), (..., G));
    codes < 0 (not evaluated, or outside the subset) count nowhere."""
    pred_error, gt_error = np.asarray(pred_error), np.asarray(gt_error)
    return (np.count_nonzero(pred_error == errors.CORRECT, axis=-1),
            np.count_nonzero(np.isin(pred_error, WRONG), axis=-1),
            np.count_nonzero(np.isin(gt_error, UNDETECTED), axis=-1))


def class_counts(ev, assessment):
    """Per class (K,): tp, fp (by predicted class), fn (by the object's class)."""
    K = len(ev.classes)
    pe, ge = assessment.pred_error, assessment.gt_error
    per = lambda labels, mask: np.bincount(labels[mask], minlength=K)[:K]
    return {"tp": per(ev.pred_label, pe == errors.CORRECT),
            "fp": per(ev.pred_label, np.isin(pe, WRONG)),
            "fn": per(ev.gt_label, np.isin(ge, UNDETECTED))}
