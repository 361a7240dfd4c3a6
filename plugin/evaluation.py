"""The task-neutral shape every engine evaluation has.

Detection (:mod:`.detection`), classification (:mod:`.classification`),
multi-label classification (:mod:`.multilabel`) and semantic segmentation
(:mod:`.segmentation`) each implement :class:`Evaluation` in their own
module, so operators, panels and the stored analysis talk to one protocol.
An *operating point* is a confidence threshold plus the task's own knobs,
passed by keyword (detection's ``iou``; classification has none): a
prediction below the threshold does not count.
"""

from typing import Protocol, runtime_checkable


@runtime_checkable
class Evaluation(Protocol):
    """What an evaluation answers, at any operating point, without the data set.

    Attributes:
        task: ``"detection"``, ``"classification"``, ``"multilabel"``, ``"segmentation"``
        classes: the K class names; every per-class answer follows this order
    """

    task: str
    classes: list

    def summary(self, confidence=None, **point):
        """Headline numbers at an operating point, JSON-ready."""

    def sweeps(self, **point):
        """``(overall, per_class)`` :class:`~.sweep.Sweep`: precision, recall
        and F1 against the confidence threshold, exact at every distinct one."""

    def optimal_thresholds(self, **point):
        """``{"overall": c, "per_class": {class: c}}``: maximum-F1 confidences."""

    def assess(self, confidence=None, **point):
        """Error type of every label and the confusion matrix at an operating point."""

    def per_class(self, confidence=None, **point):
        """One JSON-ready row per class: precision, recall, F1, support..."""

    def to_bytes(self):
        """A compact binary form; ``type(self).from_bytes(blob)`` restores it."""


def engine(task):
    """The engine module's :class:`Evaluation` class for ``task``."""
    from . import classification, detection, multilabel, segmentation

    classes = {"detection": detection.Evaluation, "classification": classification.Evaluation,
               "multilabel": multilabel.Evaluation,
               "segmentation": segmentation.SegmentationEvaluation}
    if task not in classes:
        raise ValueError("unknown task %r; known: %s" % (task, ", ".join(sorted(classes))))
    return classes[task]


def from_bytes(task, blob):
    """Restores an evaluation of ``task`` stored with ``to_bytes()``."""
    return engine(task).from_bytes(blob)
