"""Recommendation rules that single- and multi-label classification runs apply alike
(constants of :mod:`plugin.recommendations`); each task words its confused pairs.

``n`` is the number of evaluated images (at least 1): a rule's severity is the
share of them it concerns.
"""

import numpy as np

from ..plugin.recommendations import (CONFUSION_MIN, CONFUSION_SHARE, MIN_CLASS_OBJECTS,
                                      MIN_IMAGES, Recommendation)


def small_eval_set(num_images, metric):
    """Fewer than :data:`MIN_IMAGES` images: each moves ``metric`` by 100 / n points."""
    if num_images >= MIN_IMAGES:
        return []
    return [Recommendation(
        "small_eval_set", "Small evaluation set",
        "Only %d images are evaluated: each one moves %s by %.1f points." % (
            num_images, metric, 100 / max(num_images, 1)),
        "Evaluate on more images before trusting small differences.", 1.0)]


def few_class_samples(classes, support, n):
    """A class with fewer than :data:`MIN_CLASS_OBJECTS` labelled images."""
    return [Recommendation(
        "few_class_samples", "Few images of '%s'" % classes[k],
        "Only %d evaluated images are labelled '%s': its metrics are unreliable." % (
            support[k], classes[k]),
        "Add labelled images of this class to the evaluation set.",
        float(support[k]) / n, {"class": classes[k]})
        for k in np.flatnonzero((support > 0) & (support < MIN_CLASS_OBJECTS))]


def confused_pairs(confusion, support, classes, n, title, text, action):
    """A wrong class ``p`` on at least :data:`CONFUSION_SHARE` (and
    :data:`CONFUSION_MIN`) of the images of true class ``t``: ``confusion`` has
    rows true classes and its first K columns predicted ones. ``title``,
    ``text`` and ``action`` are %-formats of ``true``, ``pred``, ``count``,
    ``support`` and ``share`` (percent)."""
    K = len(classes)
    off = np.asarray(confusion)[:, :K].copy()
    np.fill_diagonal(off, 0)
    share = off / np.maximum(support, 1)[:, None]
    out = []
    for t, p in np.argwhere((share >= CONFUSION_SHARE) & (off >= CONFUSION_MIN)):
        fill = {"true": classes[t], "pred": classes[p], "count": off[t, p],
                "support": support[t], "share": 100 * share[t, p]}
        out.append(Recommendation("confused_pair", title % fill, text % fill, action % fill,
                                  float(off[t, p]) / n, {"cell": [int(t), int(p)]}))
    return out
