"""The runs the evaluation explorer lists (every task), and their analyses, cached.

Loading a run's analysis reads the database; a panel event must not (FiftyOne
reloads the dataset on its first use in every call, 50-150 ms), so analyses
are cached in this process per (dataset, key, run time).
"""

from collections import OrderedDict
from datetime import datetime

from ..operators import detection_run, run_store, segmentation_run
from .selection import stale_samples

TASKS = ("detection", "classification", "segmentation")  # FiftyOne's evaluation types

_cache = OrderedDict()
_latest = {}  # (dataset name, eval key) -> key in _cache of the run's newest load


def load(dataset, eval_key):
    """``(analysis, info)`` of a run, cached per (dataset, key, run time).

    ``info`` also holds the run's ``task`` (the analysis run's kind), what
    the panel shows about the run's view (``num_images``, ``covers``) and the
    dataset's id (for the store)."""
    _ensure_analysis(dataset, eval_key)
    stamp = dataset.get_run_info(detection_run.analysis_run_key(eval_key)).timestamp
    key = (dataset._doc.id, eval_key, stamp)
    if key not in _cache:
        task = run_store.run_task(dataset, eval_key)
        ev = _load_analysis(dataset, eval_key, task)
        info = dict(detection_run.analysis_info(dataset, eval_key), task=task)
        eval_view = run_store.run_view(dataset, eval_key)
        n_images = _num_images(ev, task) or len(eval_view)
        covers = ("the whole dataset" if eval_view.view() == dataset.view() else
                  "a view of %d of the dataset's %d images" % (n_images, len(dataset)))
        source = detection_run.analysis_source(dataset, eval_key)
        if source == "fiftyone":
            config = dataset.get_evaluation_info(eval_key).config
            covers += (" (a FiftyOne `%s` run: Error Atlas analysed the same fields, view and IoU; "
                       "the run and its per-label fields are FiftyOne's%s)" % (
                           config.method, "" if getattr(config, "classwise", True) else
                           "; FiftyOne matched across classes, Error Atlas within classes, "
                           "so counts can differ"))
        info.update(num_images=n_images, dataset_id=dataset._doc.id, covers=covers, source=source)
        _cache[key] = (ev, info)
        while len(_cache) > 4:
            _cache.popitem(last=False)
    _latest[(dataset.name, eval_key)] = key
    return _cache[key]


def _load_analysis(dataset, eval_key, task):
    """The stored evaluation of a run of ``task``; a segmentation run's gets the
    ids of its images, in the order it pooled them."""
    if task != "segmentation" or run_store.run_status(dataset, eval_key) != "completed":
        return run_store.load_analysis(dataset, eval_key)  # (refuses an unfinished run)
    ev = segmentation_run.load_analysis(dataset, eval_key)
    results = dataset.load_run_results(run_store.analysis_run_key(eval_key), cache=False)
    ids = getattr(results, "sample_ids", None)
    ev.sample_ids = list(ids) if ids else run_store.run_view(dataset, eval_key).values("id")
    return ev


def _num_images(ev, task):
    if task == "classification":
        return int(ev.gt_label.size)
    if task == "multilabel":
        return int(ev.gt.shape[0])
    if task == "segmentation":
        return int(ev.num_images)
    return len(ev.image_ids)


def load_fast(ctx, eval_key):
    """:func:`load` without reading the database when this process loaded the run
    before: moving a slider never touches ``ctx.dataset`` (FiftyOne reloads the
    dataset on its first use in every call, 50-150 ms). A newer run of the same
    key is picked up when the panel loads or the run is chosen again."""
    key = _latest.get((ctx.dataset_name, eval_key))
    if key in _cache:
        return _cache[key]
    return load(ctx.dataset, eval_key)


def unfinished(dataset, eval_key):
    """What the panels show for an ``evaluate_model`` run that did not finish
    (killed, or still running in another process), or None for a finished run:
    ``{"eval_key", "message", "rerun"}``, ``rerun`` being the parameters of the
    call (None when the run did not store them)."""
    if detection_run.run_status(dataset, eval_key) != "running":
        return None
    config = dataset.get_run_info(detection_run.analysis_run_key(eval_key)).config
    started = (getattr(config, "started_at", None) or "")[:19].replace("T", " ")
    return {
        "eval_key": eval_key,
        "message": "Evaluation '%s' has not finished: it started at %s UTC and is still running "
                   "or was interrupted (its results are incomplete). Re-run it, or delete it "
                   "with dataset.delete_evaluation('%s')." % (eval_key, started or "?", eval_key),
        "rerun": detection_run.run_request(dataset, eval_key),
    }


def rerun_prompt(ctx, eval_key):
    """Opens evaluate_model's prompt with the parameters of run ``eval_key``, on
    the view it evaluated (set in the App first when it was not the dataset)."""
    dataset = ctx.dataset
    params = dict(detection_run.run_request(dataset, eval_key) or {"eval_key": eval_key})
    view = detection_run.run_view(dataset, eval_key)
    if view.view() != dataset.view():
        ctx.ops.set_view(view=view)
        params["view_target"] = "CURRENT_VIEW"
    return params


def explorer_runs(dataset):
    """Evaluation keys of every task, newest last: runs of ``evaluate_model``,
    FiftyOne's own ``evaluate_detections`` runs (analysed on first use), and
    ``evaluate_model`` runs killed before FiftyOne registered them. FiftyOne's
    classification and segmentation runs without an Error Atlas analysis are
    not listed (``evaluate_model`` evaluates them). Multi-label runs have no
    FiftyOne evaluation: their analysis run is the run."""
    infos = {k: dataset.get_evaluation_info(k) for k in dataset.list_evaluations()}
    keys = [k for k, i in infos.items() if i.config.type == "detection" or (
        i.config.type in TASKS and run_store.run_status(dataset, k) is not None)]
    for run in dataset.list_runs():
        key = run[len("error_atlas_"):]
        if run.startswith("error_atlas_") and key not in infos and (
                detection_run.run_status(dataset, key) == "running"
                or run_store.run_task(dataset, key) == "multilabel"):
            infos[key] = dataset.get_run_info(run)
            keys.append(key)
    return sorted(keys, key=lambda k: infos[k].timestamp)


def _ensure_analysis(dataset, eval_key):
    """A FiftyOne run gets its Error Atlas analysis when first shown, and a new
    one when the run was redone since; ``evaluate_model`` runs have theirs
    (an unfinished one is refused by :func:`~operators.detection_run.load_analysis`)."""
    source = detection_run.analysis_source(dataset, eval_key)
    if source == "evaluate_model" or detection_run.run_status(dataset, eval_key) == "running":
        return
    analysed = source and dataset.get_run_info(detection_run.analysis_run_key(eval_key)).timestamp
    if not analysed or analysed < dataset.get_evaluation_info(eval_key).timestamp:
        detection_run.analyze_run(dataset, eval_key)


def drop_orphans(dataset):
    """Deletes analyses of FiftyOne runs that were deleted since (ours only)."""
    evaluations = set(dataset.list_evaluations())
    for run in dataset.list_runs():
        key = run[len("error_atlas_"):]
        if (run.startswith("error_atlas_") and key not in evaluations
                and detection_run.analysis_source(dataset, key) == "fiftyone"):
            dataset.delete_run(run)


def staleness(dataset, eval_key, info):
    """``stale`` (samples edited since the run, as a warning, or None) and the ``runs`` listed."""
    eval_view = run_store.run_view(dataset, eval_key)
    stale = stale_samples(dataset, eval_view, _last_write(dataset, eval_key, info["written_at"]))
    return {"stale": ("%d evaluated samples changed since this run: re-evaluate to refresh"
                      % stale if stale else None), "runs": explorer_runs(dataset)}


def _last_write(dataset, eval_key, written_at):
    """When Error Atlas last wrote to the run's samples: the run itself, or an
    error map of it (cluster ids). Edits after that make the run stale; edits
    made before an error map was computed are not told apart from its writes."""
    times = [written_at] if written_at else []
    for run in dataset.list_runs():
        config = dataset.get_run_info(run).config if run.startswith("error_map_") else None
        if config is not None and getattr(config, "eval_key", None) == eval_key \
                and getattr(config, "written_at", None):
            times.append(datetime.fromisoformat(config.written_at))
    return max(times) if times else None

