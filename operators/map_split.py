"""Splitting a stored error map's cluster, and undoing splits.

:func:`split_map_cluster` splits one cluster of a map with the engine
(:func:`..plugin.split.split_cluster`: the map's method on the map's own
features, which :func:`.error_map.compute_error_map` keeps with the map), re-runs
the significance test and the descriptions over every cluster, and stores the
result the way the map is stored (the ``<map_key>_cluster`` field of every
sample or label, the run's arrays and summaries). Nothing is lost: each split
is recorded in the run (the cluster, the new ids, the summaries before it), so
:func:`undo_map_split` restores the previous partition exactly, and
``reset=True`` the map as computed. Every check and computation comes before
the first write; a write that fails puts the previous clusters back.
"""

import numpy as np

from ..plugin import descriptors, split as engine
from . import error_map
from .errors import EvaluationInputError


def split_map_cluster(dataset, map_key, cluster_id, num_clusters=None):
    """Splits cluster ``cluster_id`` (an id, as in the summaries' ``id``) of map
    ``map_key`` into ``num_clusters`` pieces (None: chosen as the map chose k, at
    least 2). Returns ``{"cluster", "new_ids", "clusters"}``: the new ids (the
    largest piece keeps ``cluster_id``) and every cluster's summary, ranked."""
    stored = _stored(dataset, map_key)
    arrays, config, results = stored["arrays"], stored["config"], stored["results"]
    labels = arrays["cluster"].astype(np.int64)
    if int(cluster_id) != cluster_id or cluster_id not in set(labels.tolist()):
        raise EvaluationInputError(
            "Map '%s' has no cluster %r: its clusters are %s." % (
                map_key, cluster_id, ", ".join(map(str, sorted(set(labels.tolist()))))))
    cluster_id = int(cluster_id)
    size = int((labels == cluster_id).sum())
    if num_clusters is not None and (int(num_clusters) != num_clusters
                                     or not 2 <= num_clusters <= size):
        raise EvaluationInputError(
            "num_clusters must be an integer from 2 to the cluster's size (%d), or empty for "
            "automatic; got %r." % (size, num_clusters))
    if not any(k in arrays for k in error_map.FEATURE_ARRAYS):
        raise EvaluationInputError(
            "Map '%s' was computed before clusters could be split: it has no stored features. "
            "Compute it again (compute_error_map with the same map_key), then split." % map_key)
    points, classes, ev, assessment, sample_ids = _points(dataset, config, arrays, map_key)
    features = arrays.get("features")
    Z = descriptors.normal_scores(features) if features is not None else arrays["space"]
    expected = error_map._expected_failure(points)
    seed = getattr(results, "seed", None) or 51
    try:
        new, new_ids = engine.split_cluster(labels, cluster_id, Z, k=num_clusters, seed=seed,
                                            error_type=error_map._codes(points), **expected)
    except ValueError as e:
        raise EvaluationInputError("Cluster %d of map '%s' cannot be split: %s." % (
            cluster_id, map_key, e))
    task = error_map.detection_run.run_store.run_task(dataset, config.eval_key)
    summaries = [s.to_dict() for s in error_map.describe_clusters(
        new, points, classes, features, config.level, expected, task)]
    record = {"cluster": cluster_id, "new_ids": new_ids.tolist(), "clusters": results.clusters}
    _store(dataset, map_key, stored, new, summaries, _splits(results) + [record],
           (points, ev, assessment, sample_ids))
    return {"cluster": cluster_id, "new_ids": new_ids.tolist(), "clusters": summaries}


def undo_map_split(dataset, map_key, reset=False):
    """Undoes the map's last split (``reset``: every split, back to the map as
    computed). Returns ``{"undone", "clusters"}``: the number of splits undone and
    the summaries restored."""
    stored = _stored(dataset, map_key)
    splits = _splits(stored["results"])
    if not splits:
        raise EvaluationInputError("Map '%s' has no split to undo." % map_key)
    undone = splits if reset else splits[-1:]
    labels = stored["arrays"]["cluster"].astype(np.int64)
    for record in reversed(undone):
        labels = engine.undo_split(labels, record["cluster"], record["new_ids"])
    points, _, ev, assessment, sample_ids = _points(dataset, stored["config"], stored["arrays"],
                                                    map_key)
    _store(dataset, map_key, stored, labels, undone[0]["clusters"], splits[:len(splits) - len(undone)],
           (points, ev, assessment, sample_ids))
    return {"undone": len(undone), "clusters": undone[0]["clusters"]}


def map_splits(dataset, map_key):
    """The map's splits, oldest first: dicts ``cluster``, ``new_ids``."""
    results = dataset.load_run_results(error_map.map_run_key(map_key), cache=False)
    return [{"cluster": r["cluster"], "new_ids": list(r["new_ids"])} for r in _splits(results)]


def _splits(results):
    return list(getattr(results, "splits", None) or [])


def check_map(dataset, map_key):
    """Raises unless ``map_key`` is a complete error map of ``dataset``."""
    key = error_map.map_run_key(map_key or "")
    if not map_key or key not in dataset.list_runs() or \
            not getattr(dataset.get_run_info(key).config, "complete", False):
        maps = [r[len("error_map_"):] for r in dataset.list_runs() if r.startswith("error_map_")]
        raise EvaluationInputError("No complete error map '%s' on this dataset (maps: %s)." % (
            map_key, ", ".join(maps) or "none"))


def _stored(dataset, map_key):
    check_map(dataset, map_key)
    key = error_map.map_run_key(map_key)
    arrays, _ = error_map.load_error_map(dataset, map_key, features=True)
    return {"arrays": arrays, "config": dataset.get_run_info(key).config,
            "results": dataset.load_run_results(key, cache=False)}


def _points(dataset, config, arrays, map_key):
    """The map's points from its evaluation, as ``compute_error_map`` made them; an
    evaluation changed since the map was computed has other points: an error."""
    points, classes, ev, assessment, sample_ids = error_map.evaluated_points(
        dataset, config.eval_key, config.level)
    if len(points["ids"]) != len(arrays["ids"]) or \
            not np.array_equal(np.asarray(points["ids"], dtype=str), arrays["ids"]):
        raise EvaluationInputError(
            "Evaluation '%s' changed since map '%s' was computed: compute the map again, then "
            "split." % (config.eval_key, map_key))
    return points, classes, ev, assessment, sample_ids


def _store(dataset, map_key, stored, labels, summaries, splits, context):
    """Writes the clusters on the points' samples or labels and in the run; puts the
    previous clusters back on the points if a write fails."""
    points, ev, assessment, sample_ids = context
    arrays, config, results = stored["arrays"], stored["config"], stored["results"]
    eval_view = dataset.select(sample_ids.tolist(), ordered=True)

    def write(lab):
        detected = error_map._detected_clusters(ev, assessment, points, lab) \
            if config.level == "objects" else {}
        error_map._write_point_fields(dataset, eval_view, config, points, lab, arrays["xy"],
                                      config.level, map_key, detected=detected)

    new_arrays = {k: v for k, v in arrays.items() if k not in error_map.FEATURE_ARRAYS}
    new_arrays["cluster"] = labels.astype(np.int32)
    try:
        write(labels)
        error_map.save_results(dataset, map_key, new_arrays, summaries,
                               seed=getattr(results, "seed", None), splits=splits)
    except BaseException:
        write(arrays["cluster"].astype(np.int64))
        raise
    config.num_splits = len(splits)
    error_map.mark_written(dataset, map_key, config)
