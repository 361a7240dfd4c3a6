"""What an error map needs from a classification, multi-label or segmentation run, per sample.

The map's embedding, projection, clustering and statistics are task-neutral
(:mod:`.error_map`); what differs by task is which samples are evaluated, the
error type of each (the map's colours) and whether it counts as a *failure*
(what the clusters' statistics count). :func:`sample_points` answers that for
a run, dispatching once on its task (detection's points stay in
:mod:`.error_map`, with its objects level):

- classification: every evaluated sample, coloured by its error type at the
  run's confidence threshold (the value of ``<key>_error``: ``correct``,
  ``confused``, ``abstained``, ``low_margin``, ``label_suspect``); every type
  but ``correct`` is a failure (``low_margin`` is a right answer the model
  nearly got wrong); a sample's class is its true class;
- multi-label: every evaluated sample, coloured by its error type at the
  run's confidence threshold (the value of ``<key>_error``: ``correct``, the
  exact set of true classes; ``missed``, true classes left out and none
  extra; ``spurious``, extra classes and none left out; ``confused``, both);
  every type but ``correct`` is a failure; a sample's class is the one it
  gets most wrong (:func:`multilabel_class`); images with more true classes
  have more to miss, so each is measured against the failure rate of images
  with as many true classes;
- segmentation: every evaluated image; it fails when its mean IoU
  (``<key>_miou``) is below :data:`FAIL_BELOW_MIOU`, and is then coloured by
  its dominant error (``<key>_error``: ``missed_region``, ``false_region``,
  ``confused_region``, ``boundary``), else ``correct``; its class is the
  non-background class with the most true pixels; images with more true
  classes fail more, so as detection's busy images each is measured against
  the failure rate of images with as many classes.

The statistics code speaks one vocabulary of error codes (0 correct, > 0 a
failure of some type): a task's types are passed as their positions in
:data:`ERROR_TYPES` and named back in the summaries by :func:`relabel`.
"""

import numpy as np

from ..plugin import classification, multilabel, segmentation
from ..plugin.errors import ERROR_TYPES as ENGINE_TYPES
from . import run_store, segmentation_run
from .errors import EvaluationInputError

#: Each task's error types, ``correct`` first (a point's code is its position).
ERROR_TYPES = {
    "classification": tuple(classification.ERROR_TYPES),
    "multilabel": tuple(multilabel.ERROR_TYPES),
    "segmentation": ("correct",) + tuple(segmentation.ERROR_KINDS),
}
#: The levels each task maps (detection: :data:`.error_map.LEVELS`).
LEVELS = {"detection": ("samples", "objects"), "classification": ("samples",),
          "multilabel": ("samples",), "segmentation": ("samples",)}
#: A segmentation image below this mean IoU over its classes is a failure.
FAIL_BELOW_MIOU = 0.5
#: Phrases of the clusters' error types ("mostly confused predictions").
PHRASES = {
    "confused": "confused predictions", "abstained": "abstentions (below the threshold)",
    "low_margin": "low-margin predictions", "label_suspect": "suspected label errors",
    "missed_region": "missed regions", "false_region": "false regions",
    "confused_region": "confused regions", "boundary": "boundary errors",
    "missed": "missed classes", "spurious": "spurious classes",
}
#: What predicts a task's expected failures, as the cluster report says it.
BASIS = {"classification": "the overall rate predicts",
         "multilabel": "their numbers of true classes predict",
         "segmentation": "their numbers of true classes predict"}
#: A task's own phrase where its type shares a name with another task's.
TASK_PHRASES = {"multilabel": {"confused": "missed and spurious classes"}}


def levels(task):
    """The map levels a run of ``task`` supports."""
    return LEVELS.get(task, ("samples",))


def check_level(task, level, eval_key):
    """Refuses a level the task has no points for (objects of a classifier)."""
    if level not in levels(task):
        raise EvaluationInputError(
            "Run '%s' is a %s evaluation: its error map is at sample level (one point per "
            "image), there are no objects to map. Use level='samples'." % (
                eval_key, "multi-label" if task == "multilabel" else task))


def sample_points(dataset, eval_key):
    """``(points, classes)`` of a classification or segmentation run: per point
    ``ids``, ``label`` (class index, -1 none), ``error`` (the task's type name),
    ``code`` (its position in :data:`ERROR_TYPES`), ``score`` and, where content
    predicts failure, ``objects`` (see the module)."""
    task = run_store.run_task(dataset, eval_key)
    if task == "classification":
        points, classes = _classification(dataset, eval_key)
    elif task == "multilabel":
        points, classes = _multilabel(dataset, eval_key)
    elif task == "segmentation":
        points, classes = _segmentation(dataset, eval_key)
    else:
        raise EvaluationInputError("Run '%s' has task '%s', which error maps do not know."
                                   % (eval_key, task))
    n = len(points["ids"])
    points.update(kind=np.zeros(n, np.int8), index=np.arange(n), image=np.arange(n),
                  error=np.asarray(ERROR_TYPES[task], dtype=object)[points["code"]])
    return points, classes


def _classification(dataset, eval_key):
    ev = run_store.load_analysis(dataset, eval_key)
    confidence = run_store.analysis_info(dataset, eval_key)["confidence"]
    code = ev.assess(confidence).error.astype(np.int64)
    return {"ids": np.asarray(ev.sample_ids, dtype=str), "label": ev.gt_label.astype(np.int64),
            "code": code, "score": ev.pred_score.astype(np.float64)}, list(ev.classes)


def _multilabel(dataset, eval_key):
    ev = run_store.load_analysis(dataset, eval_key)
    confidence = run_store.analysis_info(dataset, eval_key)["confidence"]
    a = ev.assess(confidence)
    label, score = multilabel_class(ev.gt, ev.scores, a.predicted)
    return {"ids": np.asarray(ev.sample_ids, dtype=str), "label": label,
            "code": a.error.astype(np.int64), "score": score,
            "objects": ev.gt.sum(axis=1)}, list(ev.classes)


def multilabel_class(gt, scores, predicted):
    """``(label, score)`` per sample: the class it gets most wrong and its
    confidence (NaN when not predicted). A missed true class first (the least
    confident), else a spurious class (the most confident), else for a correct
    sample the true class nearest to being missed (the least confident); -1
    for a sample with no true and no predicted class."""
    s = np.nan_to_num(scores, nan=-1.0)
    missed, spurious = gt & ~predicted, predicted & ~gt
    n = len(gt)
    label = np.full(n, -1, dtype=np.int64)
    for mask, pick in ((gt, np.argmin), (spurious, np.argmax), (missed, np.argmin)):
        rows = mask.any(axis=1)  # later rules take precedence
        ranked = np.where(mask, s, np.inf if pick is np.argmin else -np.inf)
        label[rows] = pick(ranked[rows], axis=1)
    score = np.full(n, np.nan)
    has = label >= 0
    score[has] = scores[np.flatnonzero(has), label[has]]
    return label, score


def _segmentation(dataset, eval_key):
    ev = segmentation_run.load_analysis(dataset, eval_key)
    view = run_store.run_view(dataset, eval_key)
    ids, miou, error = view.values(["id", eval_key + "_miou", eval_key + "_error"])
    if len(ids) != ev.num_images:
        raise EvaluationInputError(
            "Run '%s' evaluated %d images, its view now holds %d: re-run evaluate_model with "
            "eval_key '%s' before mapping it." % (eval_key, ev.num_images, len(ids), eval_key))
    pixels = ev.image_confusions().sum(axis=2)  # (N, K) true pixels per class
    if ev.background is not None:
        pixels[:, ev.background] = 0
    label = np.where(pixels.sum(axis=1) > 0, pixels.argmax(axis=1), -1)
    miou = np.array([np.nan if v is None else v for v in miou], dtype=np.float64)
    names = ERROR_TYPES["segmentation"]
    code = np.array([names.index(e) if e in names else 0 for e in error], dtype=np.int64)
    code[~(miou < FAIL_BELOW_MIOU)] = 0  # at or above the bar (or nothing to measure): correct
    return {"ids": np.asarray(ids, dtype=str), "label": label.astype(np.int64), "code": code,
            "score": np.full(len(ids), np.nan), "objects": (pixels > 0).sum(axis=1)}, \
        list(ev.classes)


def relabel(summaries, task):
    """Names a task's error types in cluster summaries made from their codes:
    ``error_counts`` and the phrases about error types."""
    names = ERROR_TYPES.get(task)
    if names is None:
        return summaries
    from ..plugin import descriptions

    engine_phrases = getattr(descriptions, "_ERROR_PHRASES", {})
    phrases = dict(PHRASES, **TASK_PHRASES.get(task, {}))
    swaps = [(engine_phrases.get(ENGINE_TYPES[j], ENGINE_TYPES[j]), phrases.get(n, n))
             for j, n in enumerate(names) if j]
    for s in summaries:
        s.basis = BASIS.get(task)
        counts = s.error_counts
        s.error_counts = {n: int(counts.get(ENGINE_TYPES[j], 0)) for j, n in enumerate(names)}
        s.description = [_swap(p, swaps) for p in s.description]
    return summaries


def _swap(phrase, swaps):
    for old, new in swaps:
        for lead in ("mostly ", "many "):
            if phrase.startswith(lead + old + " ("):
                return lead + new + phrase[len(lead + old):]
    return phrase
