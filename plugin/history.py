"""Runs over time: any headline or per-class metric, a baseline, regressions.

A run's *record* (:func:`record`) holds, per metric, its value and the count
its confidence interval rests on; records are built from the summary and
per-class rows a run returns, so they are stored with the run once and the
history never re-evaluates. Metric ids are a headline name (``"mAP"``) or a
per-class one (``"AP · car"``).

Intervals: every metric kept here is a share in [0, 1] where higher is better
(precision, recall, F1, accuracy, AP, IoU...), given a 95% Wilson score
interval on its count ``n`` (binomial): precision on the predictions counted,
recall on the ground truth, F1 on ``tp + (fp + fn) / 2`` (its own
denominator; per class ``(predictions + support) / 2``), mAP / AP / AR on the
ground-truth objects (per class: its support), classification's
accuracy-like metrics on the images, multi-label's micro metrics on the (sample,
class) pairs and the others on the images, segmentation's on the images (pixels of
an image are not independent draws). A run **regresses** on a metric when the
95% interval of its difference to the baseline (Newcombe's hybrid score
interval, from the two Wilson intervals, runs taken as independent samples)
lies wholly below zero. For AP and IoU this is an approximation (they are not
plain proportions), stated in the README.
"""

import numpy as np

Z95 = 1.959963984540054
SEP = " · "  # between a per-class metric and its class: "AP · car"

HEADLINE = {
    "detection": ("mAP", "AP50", "AP75", "AR100", "precision", "recall", "f1"),
    "classification": ("accuracy", "balanced_accuracy", "macro_f1", "precision", "recall", "f1",
                       "coverage"),
    "multilabel": ("micro_f1", "micro_precision", "micro_recall", "macro_f1", "subset_accuracy"),
    "segmentation": ("mIoU", "pixel_accuracy", "mean_accuracy", "fw_iou", "mean_f1",
                     "mean_boundary_iou"),
}
PER_CLASS = {
    "detection": (("AP", "ap"), ("precision", "precision"), ("recall", "recall"), ("f1", "f1")),
    "classification": (("precision", "precision"), ("recall", "recall"), ("f1", "f1")),
    "multilabel": (("precision", "precision"), ("recall", "recall"), ("f1", "f1")),
    "segmentation": (("IoU", "iou"), ("precision", "precision"), ("recall", "recall"),
                     ("f1", "f1")),
}


def record(task, summary, rows, num_images):
    """``{metric id: [value, n]}`` of a run: the headline metrics of ``summary``
    and the per-class ones of ``rows`` (the engine's ``per_class`` rows;
    segmentation: the summary's ``per_class``). Undefined values are left out."""
    if task not in HEADLINE:
        raise ValueError("unknown task %r; known: %s" % (task, ", ".join(HEADLINE)))
    n = _headline_counts(task, summary, num_images)
    out = {}
    for name in HEADLINE[task]:
        _put(out, name, summary.get(name), n.get(name, n["default"]))
    for row in rows or ():
        name = row.get("class", row.get("name"))
        for label, key in PER_CLASS[task]:
            _put(out, label + SEP + str(name), row.get(key), _class_count(task, key, row, num_images))
    return out


def _headline_counts(task, s, num_images):
    if task == "detection":
        tp, fp, fn = (int(s.get(k) or 0) for k in ("tp", "fp", "fn"))
        return {"default": int(s.get("num_gt") or tp + fn), "precision": tp + fp,
                "recall": tp + fn, "f1": tp + (fp + fn) / 2}
    if task == "classification":
        images = int(s.get("num_samples") or num_images)
        tp, fp = int(s.get("tp") or 0), int(s.get("fp") or 0)
        return {"default": images, "precision": tp + fp, "f1": tp + (fp + images - tp) / 2}
    if task == "multilabel":  # micro metrics count (sample, class) pairs
        truth = int(s.get("num_gt") or 0)
        hits = float(s.get("micro_recall") or 0) * truth
        precision = float(s.get("micro_precision") or 0)
        predicted = round(hits / precision) if precision > 0 else 0
        return {"default": int(s.get("num_samples") or num_images), "micro_precision": predicted,
                "micro_recall": truth, "micro_f1": (predicted + truth) / 2}
    return {"default": int(num_images)}


def _class_count(task, key, row, num_images):
    """A class's count: recall and AP on its support, precision on its
    predictions, F1 on (predictions + support) / 2; segmentation on the images."""
    if task == "segmentation":
        return int(num_images)
    support = int(row.get("support") or 0)
    if task in ("detection", "multilabel"):
        predicted = int(row.get("tp") or 0) + int(row.get("fp") or 0)
    else:  # classification rows give shares: tp = recall * support, predicted = tp / precision
        tp = round(float(row.get("recall") or 0) * support)
        precision = float(row.get("precision") or 0)
        predicted = round(tp / precision) if precision > 0 else 0
    return {"precision": predicted, "f1": (predicted + support) / 2}.get(key, support)


def _put(out, name, value, n):
    if value is None or not np.isfinite(float(value)) or n <= 0:
        return
    out[name] = [float(value), float(n)]


def wilson(p, n, z=Z95):
    """The Wilson score interval ``(low, high)`` of shares ``p`` on counts ``n``
    (arrays; NaN where ``n`` is 0)."""
    p, n = np.asarray(p, float), np.asarray(n, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z2n = z * z / n
        centre = (p + z2n / 2) / (1 + z2n)
        half = z * np.sqrt(np.clip(p * (1 - p), 0, None) / n + z2n / (4 * n)) / (1 + z2n)
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def difference_interval(p, n, p0, n0, z=Z95):
    """Newcombe's hybrid score interval of ``p - p0`` (two independent shares)."""
    lo, hi = wilson(p, n, z)
    lo0, hi0 = wilson(p0, n0, z)
    d = np.asarray(p, float) - np.asarray(p0, float)
    return (d - np.sqrt((p - lo) ** 2 + (hi0 - p0) ** 2),
            d + np.sqrt((hi - p) ** 2 + (p0 - lo0) ** 2))


def metric_ids(runs):
    """Every metric id the runs record: headline ones first (in the task's
    order), then per-class ones by metric and class."""
    seen = {}
    for run in runs:
        for name in run["metrics"]:
            seen[name] = True
    headline = [m for task in HEADLINE.values() for m in task]
    first = [m for m in dict.fromkeys(headline) if m in seen]
    rest = sorted((m for m in seen if m not in first), key=lambda m: tuple(m.split(SEP, 1)))
    return first + rest


def table(runs, baseline=None):
    """Every run against the baseline on every metric, as arrays.

    ``runs``: dicts with ``key`` and ``metrics`` (:func:`record`), in the
    order to show (oldest first). ``baseline``: a run key (default the first
    run). Returns ``metrics`` (ids), ``value``, ``n``, ``low``, ``high``,
    ``delta``, ``delta_low``, ``delta_high`` (runs x metrics, NaN where a run
    lacks a metric) and ``regression`` (bool, runs x metrics).
    """
    keys = [r["key"] for r in runs]
    if not keys:
        raise ValueError("no runs")
    base = keys.index(baseline) if baseline in keys else 0
    ids = metric_ids(runs)
    col = {m: j for j, m in enumerate(ids)}
    vals = np.full((len(runs), len(ids), 2), np.nan)
    for i, run in enumerate(runs):
        for m, vn in run["metrics"].items():
            vals[i, col[m]] = vn
    value, n = vals[..., 0], vals[..., 1]
    low, high = wilson(value, n)
    d_low, d_high = difference_interval(value, n, value[base], n[base])
    regression = np.nan_to_num(d_high, nan=0.0) < 0
    regression[base] = False
    return {"keys": keys, "baseline": keys[base], "metrics": ids, "value": value, "n": n,
            "low": low, "high": high, "delta": value - value[base], "delta_low": d_low,
            "delta_high": d_high, "regression": regression}


def series(runs, metric, baseline=None):
    """One metric over the runs (JSON-ready lists): value, interval, delta to the
    baseline with its interval, regression flags; None where a run lacks it."""
    t = table(runs, baseline)
    if metric not in t["metrics"]:
        raise ValueError("no run records metric %r; recorded: %s" % (
            metric, ", ".join(t["metrics"][:12])))
    j = t["metrics"].index(metric)
    clean = lambda a: [None if not np.isfinite(v) else float(v) for v in a[:, j]]  # noqa: E731
    return {"keys": t["keys"], "baseline": t["baseline"], "metric": metric,
            "value": clean(t["value"]), "n": clean(t["n"]), "low": clean(t["low"]),
            "high": clean(t["high"]), "delta": clean(t["delta"]),
            "delta_low": clean(t["delta_low"]), "delta_high": clean(t["delta_high"]),
            "regression": [bool(x) for x in t["regression"][:, j]]}


def regressions(runs, baseline=None):
    """``{run key: [metric ids it regresses on]}`` against the baseline."""
    t = table(runs, baseline)
    return {k: [t["metrics"][j] for j in np.flatnonzero(t["regression"][i])]
            for i, k in enumerate(t["keys"])}
