"""``compute_error_map``: embed, project and cluster evaluated samples or objects.

Stored the FiftyOne way:
- a brain visualization run ``<map_key>`` (samples, or prediction patches at
  object level, plus ``<map_key>_gt`` for ground-truth patches), so FiftyOne's
  Embeddings panel shows the map;
- ``<map_key>_cluster`` on every sample (or label), its map position
  ``<map_key>_x`` / ``<map_key>_y`` (integers 0..GRID, see
  :func:`grid_coordinates`), and for the built-in descriptor
  ``<map_key>_embedding`` too, written batch by batch so a stopped run resumes
  where it stopped;
- a custom run ``error_map_<map_key>`` with the points, error types, clusters
  and their statistics, for the vector explorer panel;
- a custom run ``map_features_<map_key>`` with the rows the points were
  clustered on, which splitting a cluster needs (:mod:`.map_split`).
"""

import base64
import io
import itertools
from datetime import datetime, timezone
from types import SimpleNamespace

import numpy as np

import fiftyone.core.fields as fof

from ..plugin import clustering, clusters, descriptors, errors as engine_errors
from ..plugin.workers import pool as workers_pool
from . import detection_run, labels_io, map_outcomes, run_store
from .errors import EvaluationInputError

SOURCES = ("descriptor",)
LEVELS = ("samples", "objects")
BATCH = 256
GRID = 9999
#: Stored arrays of the rows a map was clustered on: the built-in descriptor's
#: features, or the 64 principal components of given embeddings; read on demand.
FEATURE_ARRAYS = ("features", "space")


def map_run_key(map_key):
    return "error_map_" + map_key


def features_run_key(map_key):
    """The run holding the rows a map was clustered on (:data:`FEATURE_ARRAYS`), apart
    from the map's run so that opening a map never reads them (10x its size at 50 columns)."""
    return "map_features_" + map_key


def grid_coordinates(xy):
    """Integer map coordinates 0..GRID on the map's extent, (N, 2) int64: what the
    vector explorer draws, stored with each point so that a region of the map is a
    range query."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    lo = xy.min(axis=0) if len(xy) else np.zeros(2)
    span = (xy.max(axis=0) - lo) if len(xy) else np.ones(2)
    return np.round((xy - lo) / np.where(span > 0, span, 1) * GRID).astype(np.int64)


def grid_fields(map_key):
    """Names of the fields (or label attributes) holding a point's grid coordinates."""
    return map_key + "_x", map_key + "_y"


def compute_error_map(view, eval_key, level="samples", embeddings="descriptor",
                      num_clusters=None, map_key="error_map", workers=None, progress=None,
                      seed=51):
    """Builds the error map; returns a summary with the ranked failure clusters."""
    progress = progress or (lambda fraction, label: None)
    dataset = view._dataset
    _check(dataset, eval_key, level, embeddings, num_clusters, map_key, seed)
    task = detection_run.run_store.run_task(dataset, eval_key)
    info = _run_config(dataset, eval_key)
    points, classes, ev, assessment, sample_ids = evaluated_points(dataset, eval_key, level)
    eval_view = dataset.select(sample_ids.tolist(), ordered=True)
    given = None
    if embeddings != "descriptor":
        if dataset.has_field(embeddings):
            given = _read_embeddings(eval_view, embeddings)
        else:
            given = _zoo_embeddings(eval_view, embeddings)

    _start_run(dataset, map_key, eval_key, level, embeddings)
    progress(0.02, "Embedding")
    X = given if given is not None else _descriptor_embeddings(
        eval_view, dataset, info, points, level, map_key, workers, progress)

    progress(0.7, "Projecting")
    Z = descriptors.normal_scores(X) if given is None else descriptors.standardize(X)[0]
    xy = clusters.project(Z, seed=seed)
    progress(0.85, "Clustering")
    expected = _expected_failure(points)
    labels, k = clusters.cluster(Z, k=num_clusters, seed=seed, error_type=_codes(points),
                                 split_columns=_split_columns(level, embeddings),
                                 **_partition_options(level, expected), **expected)
    summaries = describe_clusters(labels, points, classes, X if embeddings == "descriptor" else None,
                                  level, expected, task)
    failing = [s.to_dict() for s in summaries if s.significant]

    progress(0.92, "Saving")
    _write_point_fields(dataset, eval_view, info, points, labels, xy, level, map_key,
                        detected=_detected_clusters(ev, assessment, points, labels)
                        if level == "objects" else {})
    detection_run.pause("map_writing")
    _register_visualizations(dataset, eval_view, info, points, xy, level, map_key)
    kept = {"features": X} if given is None else {"space": clusters.reduce(Z, seed)}
    _finish_run(dataset, map_key, points, xy, labels, summaries, kept, seed)
    progress(1.0, "Done")
    return {
        "map_key": map_key, "level": level, "num_points": int(len(labels)),
        "num_clusters": int(k), "failure_clusters": failing[:5],
        "clusters": [s.to_dict() for s in summaries[:5]],
        "message": None if failing else
        "No significant failure cluster: no cluster has more errors than its content predicts "
        "(one-sided test, Benjamini-Hochberg q < %g)." % clustering.ALPHA,
    }


def delete_error_map(dataset, map_key):
    """Removes every field and run an error map wrote."""
    key = map_run_key(map_key)
    if key in dataset.list_runs():
        config = dataset.get_run_info(key).config
        fields = [map_key + "_embedding", map_key + "_cluster", *grid_fields(map_key)]
        paths = list(fields)
        for f in (getattr(config, "pred_field", None), getattr(config, "gt_field", None)):
            if f:
                paths += ["%s.detections.%s" % (f, name) for name in fields]
        dataset.delete_sample_fields([p for p in paths if dataset.has_field(p)], error_level=1)
        dataset.delete_run(key)
    if features_run_key(map_key) in dataset.list_runs():
        dataset.delete_run(features_run_key(map_key))
    for brain_key in (map_key, map_key + "_gt"):
        if brain_key in dataset.list_brain_runs():
            dataset.delete_brain_run(brain_key)


def load_error_map(dataset, map_key, features=False):
    """The stored map: dict of arrays (points, clusters, error types, ids) and summaries;
    with ``features``, also the rows the map was clustered on (:data:`FEATURE_ARRAYS`)."""
    results = dataset.load_run_results(map_run_key(map_key), cache=False)
    arrays = _unpack(results.payload)
    if features and features_run_key(map_key) in dataset.list_runs():
        arrays.update(_unpack(dataset.load_run_results(features_run_key(map_key),
                                                       cache=False).payload))
    return arrays, results.clusters


def _pack(arrays):
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _unpack(payload):
    with np.load(io.BytesIO(base64.b64decode(payload)), allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def evaluated_points(dataset, eval_key, level):
    """``(points, classes, analysis, assessment, sample_ids)`` of a run's evaluated
    samples or objects at the run's operating point (analysis and assessment None
    for classification and segmentation, whose points are samples)."""
    if detection_run.run_store.run_task(dataset, eval_key) == "detection":
        ev = detection_run.load_analysis(dataset, eval_key)
        meta = detection_run.analysis_info(dataset, eval_key)
        assessment = ev.assess(dataset.get_evaluation_info(eval_key).config.iou,
                               meta["confidence"])
        return _points(ev, assessment, level), ev.classes, ev, assessment, ev.image_ids
    points, classes = map_outcomes.sample_points(dataset, eval_key)
    return points, classes, None, None, points["ids"]


# -- steps ----------------------------------------------------------------------

def _run_config(dataset, eval_key):
    """The evaluation's config (``pred_field``, ``gt_field``, detection's ``iou``):
    FiftyOne's, or for a multi-label run (none) the fields of its request."""
    if dataset.has_evaluation(eval_key):
        return dataset.get_evaluation_info(eval_key).config
    pred_field, gt_field = run_store.run_fields(dataset, eval_key)
    return SimpleNamespace(pred_field=pred_field, gt_field=gt_field, iou=None)


def _check(dataset, eval_key, level, embeddings, num_clusters, map_key, seed=51):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise EvaluationInputError("seed must be a non-negative integer, got %r." % (seed,))
    keys = run_store.evaluation_keys(dataset)
    if eval_key not in keys or run_store.analysis_run_key(eval_key) not in dataset.list_runs():
        raise EvaluationInputError(
            "No evaluate_model run with eval_key '%s' on this dataset. Run evaluate_model first "
            "(runs: %s)." % (eval_key, ", ".join(keys) or "none"))
    if level not in LEVELS:
        raise EvaluationInputError("level must be 'samples' or 'objects', not %r." % level)
    map_outcomes.check_level(detection_run.run_store.run_task(dataset, eval_key), level, eval_key)
    if not map_key or not str(map_key).isidentifier():
        raise EvaluationInputError("map_key '%s' is not valid: use letters, digits and "
                                   "underscores." % map_key)
    if num_clusters is not None and int(num_clusters) < 2:
        raise EvaluationInputError("num_clusters must be at least 2 (or empty for automatic).")
    if embeddings not in SOURCES:
        _check_embeddings_field(dataset, embeddings, level)
    taken = map_key in dataset.list_brain_runs() and map_run_key(map_key) not in dataset.list_runs()
    if taken:
        raise EvaluationInputError(
            "map_key '%s' is already a brain run that compute_error_map did not create. Choose "
            "another map_key." % map_key)
    if map_run_key(map_key) not in dataset.list_runs():
        existing = _existing_map_fields(dataset, eval_key, map_key)
        if existing:
            raise EvaluationInputError(
                "Field '%s' already exists on this dataset and was not written by an error map: "
                "map_key '%s' would overwrite it. Choose another map_key." % (existing, map_key))


def _map_fields(dataset, eval_key, map_key):
    """Every sample field and label attribute an error map ``map_key`` may write."""
    names = [map_key + "_cluster", *grid_fields(map_key)]
    paths = names + [map_key + "_embedding"]
    for f in run_store.run_fields(dataset, eval_key):
        if f:
            paths += ["%s.detections.%s" % (f, name) for name in names]
    return paths


def _existing_map_fields(dataset, eval_key, map_key):
    """The first field a new map would write that the dataset already has (declared,
    or a label attribute set without being declared), else None."""
    for path in _map_fields(dataset, eval_key, map_key):
        if dataset.has_field(path):
            return path
        if "." in path and dataset.count(path) > 0:
            return path
    return None


def _check_embeddings_field(dataset, name, level):
    if level == "objects":
        raise EvaluationInputError(
            "At object level the embeddings come from the built-in descriptor "
            "(embeddings='descriptor'); an embeddings field or zoo model applies to samples.")
    if dataset.has_field(name):
        return
    import fiftyone.zoo as foz

    if name not in foz.list_zoo_models():
        vectors = [f for f, v in dataset.get_field_schema().items()
                   if isinstance(v, (fof.VectorField, fof.ArrayField))]
        raise EvaluationInputError(
            "Embeddings '%s' is neither a field nor a FiftyOne zoo model. Use the built-in "
            "descriptor (embeddings='descriptor'), a vector field (%s) or a zoo model name."
            % (name, ", ".join(vectors) or "none on this dataset"))


def _zoo_embeddings(eval_view, name):
    """Embeddings from a FiftyOne zoo model, where it can be loaded."""
    import fiftyone.zoo as foz

    try:
        model = foz.load_zoo_model(name)
    except Exception as e:
        raise EvaluationInputError(
            "Zoo model '%s' could not be loaded (%s). Use the built-in descriptor "
            "(embeddings='descriptor', offline) or a vector field of your own embeddings."
            % (name, str(e).splitlines()[0][:200] if str(e) else type(e).__name__))
    return np.asarray(eval_view.compute_embeddings(model), dtype=np.float32)


def _points(ev, a, level):
    """Per point: kind, index into the analysis arrays, image, class, error type."""
    types = np.asarray(engine_errors.ERROR_TYPES + (None,), dtype=object)
    if level == "samples":
        n = len(ev.image_ids)
        worst = np.full(n, None, dtype=object)
        counts = np.zeros((n, len(engine_errors.ERROR_TYPES)), dtype=np.int64)
        np.add.at(counts, (ev.pred_image[a.pred_error >= 0], a.pred_error[a.pred_error >= 0]), 1)
        np.add.at(counts, (ev.gt_image[a.gt_error > 0], a.gt_error[a.gt_error > 0]), 1)
        errs = counts[:, 1:]
        has_error = errs.sum(axis=1) > 0
        worst[has_error] = types[1 + np.argmax(errs[has_error], axis=1)]
        worst[~has_error & (counts[:, 0] > 0)] = "correct"
        label = np.full(n, -1, dtype=np.int64)
        gl = np.bincount(ev.gt_image * ev.num_classes + ev.gt_label,
                         minlength=n * ev.num_classes).reshape(n, ev.num_classes)
        label[gl.sum(axis=1) > 0] = np.argmax(gl[gl.sum(axis=1) > 0], axis=1)
        return {"kind": np.zeros(n, np.int8), "index": np.arange(n), "image": np.arange(n),
                "label": label, "error": worst, "ids": ev.image_ids, "objects": gl.sum(axis=1),
                "errors": errs.sum(axis=1), "class_counts": gl}
    keep_p = a.pred_error >= 0
    keep_g = (a.gt_error >= 0) & (a.gt_error != engine_errors.CORRECT)
    return {
        "kind": np.r_[np.zeros(keep_p.sum(), np.int8), np.ones(keep_g.sum(), np.int8)],
        "index": np.r_[np.flatnonzero(keep_p), np.flatnonzero(keep_g)],
        "image": np.r_[ev.pred_image[keep_p], ev.gt_image[keep_g]],
        "label": np.r_[ev.pred_label[keep_p], ev.gt_label[keep_g]],
        "error": np.r_[types[a.pred_error[keep_p]], types[a.gt_error[keep_g]]],
        "ids": np.r_[ev.pred_ids[keep_p], ev.gt_ids[keep_g]],
        "score": np.r_[ev.pred_score[keep_p], np.full(keep_g.sum(), np.nan)],
    }


def _expected_failure(points):
    """What each point's content predicts, as keywords of ``cluster`` and
    ``summarize_clusters``: a detection image's error count against a Poisson
    model of its objects per class (busy images and hard classes err more); a
    segmentation image's failure against images with as many classes; at
    object level and for classification, the overall rate (nothing)."""
    if "errors" in points:
        expected, dispersion = clustering.expected_errors(points["errors"],
                                                          points["class_counts"])
        return {"expected": expected, "errors": points["errors"], "dispersion": dispersion}
    if "objects" not in points:
        return {}
    failed, _ = clustering.failures(clustering.error_codes(_codes(points), len(points["error"])))
    return {"expected": clustering.expected_failure(failed, points["objects"])}


def describe_clusters(labels, points, classes, features, level, expected, task):
    """The clusters' ranked, described :class:`ClusterSummary` list, in the task's
    error types; ``features``: the built-in descriptor's rows (None for embeddings)."""
    summaries = clusters.summarize_clusters(
        labels, _codes(points), points["label"], classes, features=features,
        feature_names=None if features is None else _feature_names(level), **expected)
    return map_outcomes.relabel(summaries, task)


def _partition_options(level, expected):
    """Objects maps and detection sample maps (error counts against a content model) cut
    failure clusters to shed what does not share their cause; objects maps weigh the
    columns by rank correlation (no content model), sample maps take the engine's default,
    each column's one-feature cuts against the content model (:func:`clustering.cluster`;
    measured by ``benchmarks/bench_discovery.py``, seventh, ninth and tenth passes). Other
    sample maps keep failure clusters whole: shedding cut the digits' rotated images in two
    pure pieces (recall 0.56)."""
    if level == "objects":
        return {"weigh": "rank", "shed": True}
    return {"shed": True} if "errors" in expected else {}


def _split_columns(level, embeddings):
    """The descriptor columns a failure split may cut (:func:`clustering.split_clusters`):
    all but the model's own outputs, which would cut every cluster of predictions into
    its low-confidence part; None (all) for given embeddings."""
    if embeddings != "descriptor":
        return None
    names = _feature_names(level)
    return [i for i, n in enumerate(names) if n not in ("is_prediction", "confidence")]


def _codes(points):
    """The points' error types as the statistics take them: detection's names, or a
    task's codes (:mod:`.map_outcomes`)."""
    return points.get("code", points["error"])


def _feature_names(level):
    if level == "samples":
        return list(descriptors.IMAGE_FEATURES)
    return list(descriptors.OBJECT_FEATURES) + list(descriptors.CONTEXT_FEATURES) + \
        ["image_" + f for f in descriptors.IMAGE_FEATURES]


def _read_embeddings(eval_view, name):
    """A vector field's values for every evaluated sample, validated."""
    values = eval_view.values(name)
    missing = sum(v is None for v in values)
    if missing:
        raise EvaluationInputError(
            "%d evaluated samples have no '%s' embedding. Compute them for every evaluated "
            "sample, or use embeddings='descriptor'." % (missing, name))
    dims = sorted({len(v) for v in values})
    if len(dims) != 1:
        raise EvaluationInputError("Embeddings in '%s' have different dimensions: %s."
                                   % (name, dims))
    return np.asarray(values, dtype=np.float32)


def _descriptor_embeddings(eval_view, dataset, config, points, level, map_key, workers, progress):
    """Image (and object) descriptors, computed in batches; image descriptors are stored as
    they go (a stopped run resumes with them). At object level every image is read for its
    objects' crops and rings of context (:data:`descriptors.CONTEXT_FEATURES`), in the
    same pass that computes the image descriptors still missing."""
    field = map_key + "_embedding"
    sample_ids = eval_view.values("id")
    paths = eval_view.values("filepath")
    w, h = eval_view.values(["metadata.width", "metadata.height"])
    sizes = np.array([[a or 1, b or 1] for a, b in zip(w, h)], dtype=np.float64)
    if not dataset.has_field(field):
        dataset.add_sample_field(field, fof.VectorField)
    F = len(descriptors.IMAGE_FEATURES)
    done = [v if v is not None and len(v) == F else None  # other lengths: an older descriptor
            for v in eval_view.values(field)]
    image_X = np.zeros((len(sample_ids), F), np.float32)
    todo = [i for i, v in enumerate(done) if v is None]
    for i, v in enumerate(done):
        if v is not None:
            image_X[i] = v
    objects = level == "objects"
    if objects:
        boxes, image_index = _point_boxes(dataset, config, points)
        order = np.argsort(image_index, kind="stable")  # each image's points, contiguous
        starts = np.searchsorted(image_index[order], np.arange(len(paths) + 1))
        context = np.full((len(boxes), len(descriptors.CONTEXT_FEATURES)), np.nan, np.float32)
        missing = np.zeros(len(paths), bool)
        missing[todo] = True
        work = list(range(len(paths)))
    else:
        work = todo

    def submit(start):
        """The batch at ``start`` and its results, handed to the workers now."""
        batch = work[start:start + BATCH]
        if objects:
            tasks = [(paths[i], boxes[order[starts[i]:starts[i + 1]]], missing[i])
                     for i in batch]
        else:
            tasks = [(paths[i], None, True) for i in batch]
        return batch, pool.map(_describe_file, tasks, chunksize=8)

    with workers_pool(workers) as pool:
        pending = submit(0) if work else None
        for start in range(0, len(work), BATCH):
            batch, results = pending
            # the next batch goes to the workers before this one is stored: they never wait
            pending = submit(start + BATCH) if start + BATCH < len(work) else None
            results = list(results)
            new = [i for i, (feats, _) in zip(batch, results) if feats is not None]
            if new:
                image_X[new] = np.asarray([f for f, _ in results if f is not None], np.float32)
                labels_io.write_sample_values(dataset, [sample_ids[i] for i in new],
                                              {field: [image_X[i].tolist() for i in new]})
            if objects:
                rows = np.concatenate([order[starts[i]:starts[i + 1]] for i in batch])
                context[rows] = np.concatenate([c for _, c in results])
            progress(0.05 + 0.6 * (start + len(batch)) / max(len(work), 1),
                     "Embedded %d / %d images" % (start + len(batch), len(work)))
    if not objects:
        return image_X
    obj = descriptors.object_descriptors(boxes, sizes[image_index], points["score"], image_index,
                                         context=context)
    return np.hstack([obj, image_X[image_index]])


def _describe_file(task):
    """``(image descriptor or None, context rows or None)`` of one image file: the
    descriptor when asked for, the context of ``boxes`` when given (NaN rows, and a NaN
    descriptor, when the file cannot be read)."""
    import cv2

    path, boxes, describe = task
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    n_ctx = len(descriptors.CONTEXT_FEATURES)
    if image is None:
        return (np.full(len(descriptors.IMAGE_FEATURES), np.nan, np.float32) if describe else None,
                None if boxes is None else np.full((len(boxes), n_ctx), np.nan, np.float32))
    image = image[:, :, ::-1]
    feats = descriptors.image_descriptor(image) if describe else None
    if boxes is None:
        return feats, None
    return feats, descriptors.object_context.context_features(image, boxes)


def _point_boxes(dataset, config, points):
    """Relative boxes of object-level points, read from the labels by id."""
    boxes = np.zeros((len(points["ids"]), 4))
    for kind, field in ((0, config.pred_field), (1, config.gt_field)):
        sel = np.flatnonzero(points["kind"] == kind)
        ids, bbs = dataset.values([field + ".detections.id", field + ".detections.bounding_box"])
        lookup = dict(zip(itertools.chain.from_iterable(x or () for x in ids),
                          itertools.chain.from_iterable(x or () for x in bbs)))
        boxes[sel] = [lookup[i] for i in points["ids"][sel]]
    return boxes, points["image"]


def _detected_clusters(ev, a, points, labels):
    """``{object id: cluster}`` of the objects an objects map has no point for because
    a prediction detected them at the map's operating point: the cluster of that
    prediction, so that a cluster's view holds every object the cluster counts."""
    if "score" not in points:  # a samples map: every sample is a point
        return {}
    preds = np.flatnonzero(points["kind"] == 0)
    hit = preds[a.pred_error[points["index"][preds]] == engine_errors.CORRECT]
    target = a.pred_target[points["index"][hit]]
    return dict(zip(ev.gt_ids[target].tolist(), np.asarray(labels)[hit].tolist()))


def _write_point_fields(dataset, eval_view, config, points, labels, xy, level, map_key,
                        detected=()):
    """Each point's cluster and grid coordinates (:func:`grid_coordinates` of the float32
    positions the run stores) on its sample or label; labels that are not points get None,
    but for the objects in ``detected`` (:func:`_detected_clusters`), which get a cluster."""
    field = map_key + "_cluster"
    fx, fy = grid_fields(map_key)
    q = grid_coordinates(np.asarray(xy).astype(np.float32))
    gx, gy = q[:, 0].tolist(), q[:, 1].tolist()
    if level == "samples":
        for name in (field, fx, fy):
            dataset.add_sample_field(name, fof.IntField)
        labels_io.write_sample_values(dataset, points["ids"].tolist(),
                                      {field: labels.tolist(), fx: gx, fy: gy})
        return
    by_id = {i: (c, None, None) for i, c in dict(detected).items()}
    by_id.update(zip(points["ids"].tolist(), zip(labels.tolist(), gx, gy)))
    sample_ids = eval_view.values("id")
    none = (None, None, None)
    for label_field in (config.pred_field, config.gt_field):
        table = labels_io.read_labels(eval_view, label_field)
        for name in (field, fx, fy):
            dataset.add_sample_field("%s.detections.%s" % (label_field, name), fof.IntField)
        rows = [by_id.get(i, none) for i in table.ids]
        labels_io.write_label_values(dataset, sample_ids, table, {
            field: [r[0] for r in rows], fx: [r[1] for r in rows], fy: [r[2] for r in rows]})


def _register_visualizations(dataset, eval_view, config, points, xy, level, map_key):
    import fiftyone.brain as fob

    for key in (map_key, map_key + "_gt"):
        if key in dataset.list_brain_runs():
            dataset.delete_brain_run(key)
    if level == "samples":
        fob.compute_visualization(eval_view, points=xy, brain_key=map_key, progress=False)
        return
    for kind, field, key in ((0, config.pred_field, map_key), (1, config.gt_field, map_key + "_gt")):
        sel = points["kind"] == kind
        if not sel.any():
            continue
        ids = points["ids"][sel].tolist()
        patches_view = eval_view.select_labels(ids=ids, fields=field)
        order = {i: n for n, i in enumerate(ids)}
        pos = [order[i] for i in patches_view.values(field + ".detections.id", unwind=True)]
        fob.compute_visualization(patches_view, patches_field=field, points=xy[sel][pos],
                                  brain_key=key, progress=False)


def _start_run(dataset, map_key, eval_key, level, embeddings):
    key = map_run_key(map_key)
    info = _run_config(dataset, eval_key)
    if key in dataset.list_runs():
        old = dataset.get_run_info(key).config
        same = (old.eval_key, old.level, old.embeddings) == (eval_key, level, embeddings)
        if getattr(old, "complete", True) or not same:
            delete_error_map(dataset, map_key)
        else:
            return  # resume: embeddings already written are reused
    config = dataset.init_run(eval_key=eval_key, level=level, embeddings=embeddings,
                              pred_field=info.pred_field, gt_field=info.gt_field, complete=False)
    dataset.register_run(key, config)


def _finish_run(dataset, map_key, points, xy, labels, summaries, features, seed):
    """Saves the map's results, then marks it complete: a map killed before its
    last write is never listed without its results. ``features``: the rows it
    was clustered on (:data:`FEATURE_ARRAYS`), kept so that a cluster can be split."""
    arrays = dict(xy=xy.astype(np.float32), cluster=labels.astype(np.int32),
                  kind=points["kind"], label=points["label"],
                  score=points.get("score", np.full(len(labels), np.nan)),
                  error=np.asarray([e or "" for e in points["error"]], dtype=str),
                  ids=np.asarray(points["ids"], dtype=str))
    key = features_run_key(map_key)
    if key not in dataset.list_runs():
        dataset.register_run(key, dataset.init_run(map_key=map_key))
    results = dataset.init_run_results(key, payload=_pack(
        {k: np.asarray(v, dtype=np.float32) for k, v in features.items()}))
    dataset.save_run_results(key, results, overwrite=True, cache=False)
    save_results(dataset, map_key, arrays, [s.to_dict() for s in summaries], seed=seed, splits=[])
    detection_run.pause("map_saving")
    config = dataset.get_run_info(map_run_key(map_key)).config
    config.complete = True
    mark_written(dataset, map_key, config)


def save_results(dataset, map_key, arrays, summaries, **extra):
    """Stores the map's arrays (one compressed npz) and cluster summaries (dicts)."""
    key = map_run_key(map_key)
    results = dataset.init_run_results(key, payload=_pack(arrays), clusters=summaries, **extra)
    dataset.save_run_results(key, results, overwrite=True, cache=False)


def mark_written(dataset, map_key, config):
    """Dates the map's field writes (the evaluation explorer's stale check starts there,
    and the vector explorer reloads a map written since it last read it)."""
    config.written_at = datetime.now(timezone.utc).replace(tzinfo=None).isoformat()
    dataset.update_run_config(map_run_key(map_key), config)
