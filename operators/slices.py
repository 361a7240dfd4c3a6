"""Slices of an ``evaluate_model`` run: where they come from on the data set, and their table.

The numbers are the engine's (:mod:`..plugin.slices`), from the stored
analysis; this module only reads the values that define slices and turns a
slice back into a view. Sources (``source`` strings):

- ``field:<name>``: a sample field (string, bool, number in quantile bins,
  list such as ``tags``: one slice per element);
- ``label:<path>``: a ground-truth label attribute (an image is in a value's
  slice when one of its labels has that value);
- ``views``: every saved view, a slice each;
- ``cluster:<map_key>``: an error map's clusters (objects maps: an image is in
  the clusters of its labels);
- ``feature:<map_key>:<name>``: a built-in descriptor feature
  (``<map_key>_embedding``), in quantile bins.
"""

import numpy as np

from ..plugin import descriptors, slice_search, slices
from . import run_store, segmentation_run
from .errors import EvaluationInputError

SCALARS = ("StringField", "BooleanField", "IntField", "FloatField")
MAX_VALUES = 50  # a categorical source with more distinct values is refused


def load_run(dataset, eval_key):
    """``(analysis, task)`` of a finished run, with its units' sample ids."""
    if not isinstance(eval_key, str) or run_store.run_status(dataset, eval_key) is None:
        runs = [k for k in dataset.list_evaluations() if run_store.run_status(dataset, k)]
        raise EvaluationInputError(
            "No Error Atlas run '%s' on dataset '%s'. Runs: %s. Run evaluate_model first."
            % (eval_key, dataset.name, ", ".join(runs) or "none"))
    task = run_store.run_task(dataset, eval_key)
    if task not in slices.TASKS:
        raise EvaluationInputError(
            "Run '%s' is a multi-label evaluation: slices of multi-label runs are not available "
            "yet (detection, classification and segmentation runs have them)." % eval_key)
    if task != "segmentation":
        return run_store.load_analysis(dataset, eval_key), task
    if run_store.run_status(dataset, eval_key) != "completed":
        run_store.load_analysis(dataset, eval_key)  # refuses an unfinished run, saying so
    ev = segmentation_run.load_analysis(dataset, eval_key)
    results = dataset.load_run_results(run_store.analysis_run_key(eval_key), cache=False)
    ids = getattr(results, "sample_ids", None)
    ev.sample_ids = list(ids) if ids else run_store.run_view(dataset, eval_key).values("id")
    return ev, task


def operating_point(dataset, eval_key, confidence="run", iou=None):
    """``(confidence, iou)``: the run's own (those of its per-label fields) unless given."""
    request = run_store.run_request(dataset, eval_key) or {}
    if confidence == "run":
        confidence = request.get("confidence")
    if iou is None:
        iou = request.get("iou")
        if iou is None and dataset.has_evaluation(eval_key):
            iou = getattr(dataset.get_evaluation_info(eval_key).config, "iou", None)
    return confidence, float(iou or 0.5)


def task_slices(dataset, eval_key, confidence="run", iou=None):
    """The run's :class:`~..plugin.slices.TaskSlices` at an operating point."""
    ev, task = load_run(dataset, eval_key)
    confidence, iou = operating_point(dataset, eval_key, confidence, iou)
    if task == "segmentation":
        return slices.SegmentationSlices(ev)
    return slices.for_run(ev, confidence=confidence, iou=iou)


def list_sources(dataset, eval_key):
    """``[(source, label), ...]`` the run can be sliced by."""
    out = []
    schema = dataset.get_field_schema()
    skip = _own_fields(dataset)
    for name, field in schema.items():
        if name in ("id", "filepath") or name in skip or any(name.startswith(k + "_") for k in skip):
            continue
        kind = type(field).__name__
        inner = type(getattr(field, "field", None)).__name__
        if kind in SCALARS or (kind == "ListField" and inner in ("StringField", "IntField")):
            out.append(("field:" + name, "Sample field: " + name))
    gt = _gt_field(dataset, eval_key)
    if gt:
        for path in _label_attributes(dataset, gt):
            out.append(("label:" + path, "Label attribute: " + path))
    if dataset.list_saved_views():
        out.append(("views", "Saved views"))
    for map_key, level in _maps(dataset, eval_key):
        out.append(("cluster:" + map_key, "Error map '%s': clusters" % map_key))
        if dataset.has_field(map_key + "_embedding"):
            for f in descriptors.IMAGE_FEATURES:
                out.append(("feature:%s:%s" % (map_key, f), "Descriptor feature: " + f))
    return out


def build(dataset, eval_key, ts, source):
    """``[(name, units), ...]``: the slices of ``source`` over the run's units."""
    ids = np.asarray(ts.unit_ids(), dtype=str)
    if ids.size != ts.num_units:
        raise EvaluationInputError("Run '%s' stored no sample ids; re-run evaluate_model." % eval_key)
    kind, _, rest = str(source).partition(":")
    if kind == "field":
        _check_field(dataset, rest)
        return _cap(slice_search.groups(_sample_values(dataset, ids, rest)), source)
    if kind == "label":
        units, values = _label_values(dataset, ids, [rest])
        return _cap(slice_search.groups(values, units=units), source)
    if kind == "views":
        pos = {i: n for n, i in enumerate(ids.tolist())}
        out = []
        for name in dataset.list_saved_views():
            members = dataset.load_saved_view(name).values("id")
            out.append((name, np.array(sorted(pos[i] for i in members if i in pos), np.int64)))
        return out
    if kind == "cluster":
        level = dict(_maps(dataset, eval_key)).get(rest)
        if level is None:
            raise EvaluationInputError("No finished error map '%s' of run '%s'." % (rest, eval_key))
        # a cluster is named by its rank, as in the vector explorer ("cluster #N")
        summaries = dataset.load_run_results("error_map_" + rest, cache=False).clusters
        rank = {s["id"]: r + 1 for r, s in enumerate(summaries)}
        name = lambda v: None if v is None or v not in rank else "cluster #%d" % rank[v]  # noqa: E731
        if level == "samples":
            values = _sample_values(dataset, ids, rest + "_cluster")
            return slice_search.groups([name(v) for v in values])
        config = dataset.get_run_info("error_map_" + rest).config
        paths = ["%s.detections.%s_cluster" % (f, rest) for f in (config.pred_field, config.gt_field)]
        units, values = _label_values(dataset, ids, paths)
        named = [name(v) for v in values]
        return slice_search.groups(named, units=units)
    if kind == "feature":
        map_key, _, name = rest.partition(":")
        if name not in descriptors.IMAGE_FEATURES or not dataset.has_field(map_key + "_embedding"):
            raise EvaluationInputError(
                "Unknown descriptor feature '%s' of map '%s'; features: %s." % (
                    name, map_key, ", ".join(descriptors.IMAGE_FEATURES)))
        j = descriptors.IMAGE_FEATURES.index(name)
        vectors = _sample_values(dataset, ids, map_key + "_embedding")
        values = [None if v is None or len(v) <= j or not np.isfinite(v[j]) else float(v[j])
                  for v in vectors]
        return slice_search.groups(values, prefix=name + " in ")
    raise EvaluationInputError(
        "Unknown slice source '%s'; use 'field:<name>', 'label:<path>', 'views', "
        "'cluster:<map_key>' or 'feature:<map_key>:<name>' (list_sources names them)." % source)


def table(dataset, eval_key, source, confidence="run", iou=None, num_boot=slices.NUM_BOOT,
          seed=0, metric=None, ts=None):
    """The slice table of a run by one source (see :func:`..plugin.slices.slice_table`)."""
    ts = ts or task_slices(dataset, eval_key, confidence, iou)
    if metric is not None and metric not in ts.metrics:
        raise EvaluationInputError("metric '%s' is not one of %s for this run." % (
            metric, ", ".join(ts.metrics)))
    return slices.slice_table(ts, build(dataset, eval_key, ts, source), num_boot=num_boot,
                              seed=seed, metric=metric)


def search(dataset, eval_key, sources=None, k=10, max_l=3, ts=None, num_boot=slices.NUM_BOOT,
           seed=0):
    """The automatic slice search over sample fields (and descriptor features):
    the found slices as rows of a slice table, each with its ``conditions`` and
    ``description``."""
    ts = ts or task_slices(dataset, eval_key)
    ids = np.asarray(ts.unit_ids(), dtype=str)
    sources = sources or [s for s, _ in list_sources(dataset, eval_key)
                          if s.startswith(("field:", "feature:"))]
    columns = {}
    for source in sources:
        kind, _, rest = source.partition(":")
        if kind == "field":
            columns[rest] = _sample_values(dataset, ids, rest)
        elif kind == "feature":
            map_key, _, name = rest.partition(":")
            j = descriptors.IMAGE_FEATURES.index(name)
            columns[name] = [None if v is None or len(v) <= j else float(v[j])
                             for v in _sample_values(dataset, ids, map_key + "_embedding")]
    found, mean_error = slice_search.search(columns, ts.unit_errors(), ts.num_units, k=k,
                                            max_l=max_l, min_sup=slices.MIN_UNITS)
    named = [(slice_search.describe(f["conditions"]), f["units"]) for f in found]
    out = slices.slice_table(ts, named, num_boot=num_boot, seed=seed)
    info = {slice_search.describe(f["conditions"]): f for f in found}
    for row in out["rows"]:
        f = info[row["name"]]
        row.update(conditions=f["conditions"], description=row["name"], error=f["error"],
                   score=f["score"])
    out["rows"].sort(key=lambda r: -r["score"])
    out["mean_error"] = mean_error
    return out


def slice_view(dataset, ts, units):
    """The samples of a slice, as a view."""
    ids = np.asarray(ts.unit_ids(), dtype=str)[np.asarray(units, np.int64)]
    return dataset.select(ids.tolist())


def to_json(result):
    """A table without its unit indices (for the App and the typed call's result)."""
    clean = lambda row: {k: v for k, v in row.items() if k != "units"}  # noqa: E731
    return dict(result, overall=clean(result["overall"]), rows=[clean(r) for r in result["rows"]])


def _sample_values(dataset, ids, path):
    """The values of ``path`` for the samples ``ids``, in that order."""
    got_ids, values = dataset.select(ids.tolist()).values(["id", path])
    by_id = dict(zip(got_ids, values))
    return [by_id.get(i) for i in ids.tolist()]


def _label_values(dataset, ids, paths):
    """(units, values): one entry per label of ``paths`` (lists per sample)."""
    pos = {i: n for n, i in enumerate(ids.tolist())}
    units, values = [], []
    view = dataset.select(ids.tolist())
    for path in paths:
        got_ids, vals = view.values(["id", path])
        for sid, v in zip(got_ids, vals):
            items = v if isinstance(v, list) else [v]
            for x in items:
                if x is not None:
                    units.append(pos[sid])
                    values.append(x)
    return np.asarray(units, np.int64), values


def _cap(groups, source):
    if len(groups) > MAX_VALUES:
        raise EvaluationInputError(
            "'%s' has %d distinct values: too many slices to read. Choose a field with fewer "
            "values, or a numeric one (quantile bins)." % (source, len(groups)))
    return groups


def _check_field(dataset, name):
    if not dataset.has_field(name):
        raise EvaluationInputError("Dataset '%s' has no sample field '%s'." % (dataset.name, name))
    field = dataset.get_field(name)
    kind, inner = type(field).__name__, type(getattr(field, "field", None)).__name__
    if kind not in SCALARS and not (kind == "ListField" and inner in ("StringField", "IntField")):
        raise EvaluationInputError(
            "Sample field '%s' (%s) cannot be sliced: slice by a string, boolean, number or "
            "list-of-strings field, or by a label attribute "
            "('label:<field>.detections.<attribute>')." % (name, kind))


def _gt_field(dataset, eval_key):
    if dataset.has_evaluation(eval_key):
        return dataset.get_evaluation_info(eval_key).config.gt_field
    return (run_store.run_request(dataset, eval_key) or {}).get("gt_field")


def _label_attributes(dataset, gt_field):
    """Attribute paths of the ground-truth labels (strings, bools, numbers), not ours."""
    field = dataset.get_field(gt_field)
    doc = getattr(getattr(field, "document_type", None), "__name__", "")
    prefix = gt_field + (".detections" if doc in ("Detections", "Polylines") else "")
    out = []
    for path, f in dataset.get_field_schema(flat=True).items():
        if not path.startswith(prefix + ".") or "." in path[len(prefix) + 1:]:
            continue
        name = path[len(prefix) + 1:]
        if name in ("id", "label", "confidence", "index", "mask_path", "tags") or name.startswith("_"):
            continue
        if any(name == k or name.startswith(k + "_") for k in _own_fields(dataset)):
            continue
        if type(f).__name__ in SCALARS:
            out.append(path)
    return out


def _own_fields(dataset):
    """Evaluation and error-map keys: their fields are results, not slices."""
    keys = set(dataset.list_evaluations())
    keys.update(r[len("error_map_"):] for r in dataset.list_runs() if r.startswith("error_map_"))
    keys.update(dataset.list_brain_runs())
    return keys


def _maps(dataset, eval_key):
    """``[(map_key, level), ...]``: the finished error maps of the run."""
    out = []
    for run in dataset.list_runs():
        if not run.startswith("error_map_"):
            continue
        config = dataset.get_run_info(run).config
        if getattr(config, "eval_key", None) == eval_key and getattr(config, "complete", True):
            out.append((run[len("error_map_"):], config.level))
    return out

