"""A period's production images against an evaluation run's error map: drift and placement.

The reference is the evaluated images of a samples-level error map
(``compute_error_map``, see :mod:`.error_map`), on the map's own features: the
built-in descriptor (``<map_key>_embedding``, computed here for production
images that lack it, from their files, and stored under the same name) or the
map's embeddings field (which the production samples must have too).

- :func:`drift`: :func:`plugin.monitoring.drift` of the period against the
  evaluated images (energy distance, permutation p-value, moved features);
- :func:`place_period`: each image's position on the map and its cluster
  (:func:`plugin.monitoring.place`, written to ``<map_key>_placed_cluster``,
  ``<map_key>_placed_x`` / ``_y`` on the production samples) and the period's
  expected error rate, each image counting its cluster's measured error rate.
"""

import numpy as np

import fiftyone as fo
import fiftyone.core.fields as fof

from ..plugin import descriptors, monitoring
from ..plugin.workers import pool as workers_pool
from . import error_map, labels_io
from .errors import EvaluationInputError

BATCH = 256


def placed_fields(map_key):
    """The fields a placement writes on production samples."""
    return map_key + "_placed_cluster", map_key + "_placed_x", map_key + "_placed_y"


def reference(eval_dataset, map_key):
    """``(X, arrays, summaries, source)`` of a samples map: the evaluated images' features
    in map order, the stored map arrays and cluster summaries, the map's embeddings."""
    key = error_map.map_run_key(map_key)
    if key not in eval_dataset.list_runs():
        raise EvaluationInputError(
            "No error map '%s' on dataset '%s'. Run compute_error_map first (maps: %s)." % (
                map_key, eval_dataset.name, ", ".join(
                    k[len("error_map_"):] for k in eval_dataset.list_runs()
                    if k.startswith("error_map_")) or "none"))
    config = eval_dataset.get_run_info(key).config
    if getattr(config, "level", "samples") != "samples":
        raise EvaluationInputError(
            "Error map '%s' maps objects; production images are placed on a samples map. "
            "Compute one with compute_error_map(level='samples')." % map_key)
    arrays, summaries = error_map.load_error_map(eval_dataset, map_key)
    source = getattr(config, "embeddings", "descriptor")
    field = map_key + "_embedding" if source == "descriptor" else source
    X = eval_dataset.select(arrays["ids"].tolist(), ordered=True).values(field)
    return np.asarray(X, dtype=np.float64), arrays, summaries, source


def load_eval_dataset(settings, dataset):
    name = settings.get("eval_dataset")
    if not name or name == dataset.name:
        return dataset
    if not fo.dataset_exists(name):
        raise EvaluationInputError("eval_dataset '%s' does not exist. Choose the dataset the "
                                   "evaluation run and its error map are on." % name)
    return fo.load_dataset(name)


def period_features(view, map_key, source, workers=None):
    """The features of the view's images, in view order: the built-in descriptor (computed
    for images without ``<map_key>_embedding`` and stored) or the embeddings field."""
    dataset = view._dataset
    if source != "descriptor":
        if not dataset.has_field(source):
            raise EvaluationInputError(
                "The error map uses embeddings '%s'; the production samples have no such field. "
                "Compute it for them, or map with the built-in descriptor." % source)
        values = view.values(source)
        if any(v is None for v in values):
            raise EvaluationInputError("Some production samples have no '%s' embedding." % source)
        return np.asarray(values, dtype=np.float64)
    field = map_key + "_embedding"
    if not dataset.has_field(field):
        dataset.add_sample_field(field, fof.VectorField)
    ids, paths, values = view.values(["id", "filepath", field])
    F = len(descriptors.IMAGE_FEATURES)
    X = np.full((len(ids), F), np.nan)
    todo = []
    for i, v in enumerate(values):
        if v is not None and len(v) == F:
            X[i] = v
        else:
            todo.append(i)
    if todo:
        with workers_pool(workers) as pool:
            for s in range(0, len(todo), BATCH):
                batch = todo[s:s + BATCH]
                feats = list(pool.map(_descriptor_file, [paths[i] for i in batch],
                                      chunksize=8))
                X[batch] = np.asarray(feats, dtype=np.float64)
                labels_io.write_sample_values(dataset, [ids[i] for i in batch],
                                              {field: [X[i].tolist() for i in batch]})
    return X


def _descriptor_file(path):
    """The built-in descriptor of one image file, as ``compute_error_map`` computes it."""
    return error_map._describe_file((path, None, True))[0]


def drift(view, eval_dataset, map_key, permutations=monitoring.DRIFT_PERMUTATIONS, seed=0):
    """Drift of the view's images from the map's evaluated images (see the module docstring)."""
    X_ref, _, _, source = reference(eval_dataset, map_key)
    if len(view) < 2:
        raise EvaluationInputError("Drift needs at least 2 images in the period; it has %d."
                                   % len(view))
    X_new = period_features(view, map_key, source)
    names = list(descriptors.IMAGE_FEATURES) if source == "descriptor" else None
    out = monitoring.drift(X_ref, X_new, names, permutations=permutations, seed=seed)
    return dict(out, map_key=map_key, embeddings=source)


def failed_points(arrays):
    """1 / 0 / NaN per map point: failed (any error), correct, not evaluated."""
    error = arrays["error"].astype(str)
    return np.where(error == "", np.nan, (error != "correct").astype(np.float64))


def place_period(view, eval_dataset, map_key, write=True):
    """Places the view's images on the map; returns the expected error rate, the clusters
    whose share grew (with their measured rates and descriptions), and the positions."""
    X_ref, arrays, summaries, source = reference(eval_dataset, map_key)
    if len(view) == 0:
        raise EvaluationInputError("The period has no images to place on the map.")
    X_new = period_features(view, map_key, source)
    if source == "descriptor":
        Z_ref = descriptors.normal_scores(X_ref)
        Z_new = monitoring.normal_scores_against(X_ref, X_new)
    else:
        Z_ref, center, scale = descriptors.standardize(X_ref)
        Z_new = np.clip(np.nan_to_num((X_new - center) / scale), -10, 10)
    xy, cluster, _ = monitoring.place(Z_ref, arrays["xy"], arrays["cluster"], Z_new)
    rates = monitoring.cluster_error_rates(arrays["cluster"], failed_points(arrays))
    out = monitoring.expected_error_rate(cluster, rates, arrays["cluster"])
    by_cluster = {s["id"]: s for s in summaries}
    for row in out["clusters"]:
        s = by_cluster.get(row["cluster"], {})
        row.update(rank=s.get("rank"), significant=bool(s.get("significant")),
                   description=s.get("description") or "")
    failing = {s["id"] for s in summaries if s.get("significant")}
    shares = np.bincount(cluster, minlength=len(rates)) / len(cluster)
    out["failure_cluster_shares"] = {int(c): float(shares[c]) for c in failing}
    if write:
        dataset = view._dataset
        names = placed_fields(map_key)
        for name in names:
            if not dataset.has_field(name):
                dataset.add_sample_field(name, fof.FloatField if name != names[0]
                                         else fof.IntField)
        labels_io.write_sample_values(dataset, view.values("id"), {
            names[0]: cluster.tolist(), names[1]: xy[:, 0].tolist(), names[2]: xy[:, 1].tolist()})
    return dict(out, map_key=map_key, xy=xy, cluster=cluster, reference_xy=arrays["xy"],
                reference_cluster=arrays["cluster"], reference_failed=failed_points(arrays))
