"""The images ``evaluate_model`` evaluates: the form's target, or a run's own view.

After a click in the panels the App shows a patches view: Detection patches,
not images with Detections fields. Evaluating such a view means evaluating
the images it was made from, with all their labels. The evaluation explorer's
Re-evaluate names the run to redo (:data:`RUN_VIEW`), so that run's images are
evaluated again whatever the App shows.
"""

from . import run_store

RUN_VIEW = "run_view"  # parameter: an evaluation key whose view to evaluate again


def run_view_key(ctx):
    """The run named by :data:`RUN_VIEW`, if it exists."""
    key = ctx.params.get(RUN_VIEW)
    return key if key and (ctx.dataset.has_evaluation(key) or
                           run_store.run_status(ctx.dataset, key) is not None) else None


def target_samples(ctx):
    """The sample collection to evaluate (never a patches, frames or clips view)."""
    key = run_view_key(ctx)
    if key:
        return run_store.run_view(ctx.dataset, key)
    return image_view(ctx.target_view())


def image_view(view):
    """``view`` itself, or for a generated view (patches...) the images it shows,
    with all their labels (its base view may hide some of them)."""
    if not view._is_generated:
        return view
    return view._root_dataset.select(view.distinct("sample_id"))


def describe(ctx, key):
    """A sentence telling which images a re-evaluation of run ``key`` covers."""
    view = run_store.run_view(ctx.dataset, key)
    n = len(view)
    whole = n == len(ctx.dataset) and view.view() == ctx.dataset.view()
    return "Evaluates the images of run '%s' again: %s." % (
        key, "the whole dataset (%d images)" % n if whole else "a view of %d images" % n)
