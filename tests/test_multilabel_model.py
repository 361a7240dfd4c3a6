"""evaluate_model on Classifications fields (multi-label) equals scikit-learn on the
indicator matrices, at realistic size; its fields, run and bad input."""

import numpy as np
import pytest
import sklearn.metrics as skm

import fiftyone as fo
from fiftyone import ViewField as F

from tests.fodata import evaluate_model, snapshot
from tests.taskdata import plugin_module

CLASSES = ["c%02d" % k for k in range(20)]


def multilabel_dataset(seed=0, n=3000, classes=CLASSES, ties=True, no_gt=0.0):
    """Real Classifications: each class present with its own rate, predicted
    with a noisy confidence (rounded: ties), misses, spurious classes, some
    samples without ground truth (None) and some with an empty list."""
    rng = np.random.default_rng(seed)
    k = len(classes)
    rate = rng.uniform(0.03, 0.4, k)
    gt = rng.random((n, k)) < rate
    score = np.clip(np.where(gt, 0.65, 0.3) + rng.normal(0, 0.22, (n, k)), 0, 1)
    if ties:
        score = np.round(score, 2)
    shown = (score > 0.1) & (rng.random((n, k)) < 0.9)
    samples = []
    for i in range(n):
        s = fo.Sample(filepath="/nonexistent/m%05d.png" % i)
        if rng.random() >= no_gt:
            s["ground_truth"] = fo.Classifications(classifications=[
                fo.Classification(label=classes[j]) for j in np.flatnonzero(gt[i])])
        s["predictions"] = fo.Classifications(classifications=[
            fo.Classification(label=classes[j], confidence=float(score[i, j]))
            for j in rng.permutation(np.flatnonzero(shown[i]))])
        samples.append(s)
    ds = fo.Dataset()
    ds.add_samples(samples, progress=False)
    return ds


def indicators(ds, classes=CLASSES):
    """Ground truth and confidences as (N, K) arrays, read back from the dataset."""
    index = {c: j for j, c in enumerate(classes)}
    view = ds.exists("ground_truth")
    gl = view.values("ground_truth.classifications.label")
    pl = view.values("predictions.classifications.label")
    pc = view.values("predictions.classifications.confidence")
    n = len(gl)
    gt = np.zeros((n, len(classes)), bool)
    score = np.full((n, len(classes)), -1.0)
    for i in range(n):
        gt[i, [index[l] for l in gl[i] or []]] = True
        for l, c in zip(pl[i] or [], pc[i] or []):
            score[i, index[l]] = max(score[i, index[l]], c)
    return gt, score


@pytest.fixture(scope="module")
def evaluated():
    ds = multilabel_dataset(seed=1, no_gt=0.02)
    summary = evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="ml",
                             classes=CLASSES, confidence=0.5)
    yield ds, summary
    ds.delete()


def test_metrics_equal_sklearn_on_the_indicator_matrices(evaluated):
    ds, summary = evaluated
    gt, score = indicators(ds)
    pred = score >= 0.5
    p, r, f, s = skm.precision_recall_fscore_support(gt, pred, zero_division=0)
    assert summary["subset_accuracy"] == pytest.approx(skm.accuracy_score(gt, pred), abs=1e-9)
    assert summary["hamming_loss"] == pytest.approx(skm.hamming_loss(gt, pred), abs=1e-9)
    for avg in ("micro", "macro"):
        ref = skm.precision_recall_fscore_support(gt, pred, average=avg, zero_division=0)
        assert [summary[avg + "_precision"], summary[avg + "_recall"], summary[avg + "_f1"]] == \
            pytest.approx(ref[:3], abs=1e-9)
    ev = plugin_module("operators.run_store").load_analysis(ds, "ml")
    rows = ev.per_class(0.5)
    np.testing.assert_allclose([x["precision"] for x in rows], p, atol=1e-9)
    np.testing.assert_allclose([x["recall"] for x in rows], r, atol=1e-9)
    np.testing.assert_allclose([x["f1"] for x in rows], f, atol=1e-9)
    assert [x["support"] for x in rows] == s.tolist()
    np.testing.assert_array_equal(ev.assess(0.5).confusion, skm.multilabel_confusion_matrix(gt, pred))
    assert summary["num_images"] == len(gt) < len(ds)
    assert any("not evaluated" in w for w in summary["warnings"])


def test_the_sweep_and_optimal_threshold_equal_sklearn_at_every_threshold(evaluated):
    ds, summary = evaluated
    gt, score = indicators(ds)
    ev = plugin_module("operators.run_store").load_analysis(ds, "ml")
    overall, per_class = ev.sweeps()
    thresholds = np.unique(score[score >= 0])
    f1 = np.array([skm.f1_score(gt, score >= c, average="micro", zero_division=0)
                   for c in thresholds])
    for c in thresholds[::7]:
        at = overall.at(c)
        ref = skm.precision_recall_fscore_support(gt, score >= c, average="micro", zero_division=0)
        assert [at["precision"], at["recall"], at["f1"]] == pytest.approx(ref[:3], abs=1e-9)
    best = thresholds[f1 == f1.max()].max()  # the highest confidence among ties, as every task
    assert summary["optimal_threshold"] == pytest.approx(best, abs=1e-12)
    k = 3
    fk = [skm.f1_score(gt[:, k], score[:, k] >= c, zero_division=0) for c in thresholds]
    assert summary["per_class_optimal_threshold"][CLASSES[k]] == pytest.approx(
        thresholds[np.flatnonzero(fk == np.max(fk)).max()], abs=1e-12)
    info = ds.get_run_info("error_atlas_ml")
    assert info.config.kind == "multilabel" and info.config.status == "completed"
    assert not ds.has_evaluation("ml")  # FiftyOne has no multi-label method


def test_per_label_and_per_sample_fields(evaluated):
    ds, summary = evaluated
    view = ds.exists("ground_truth")
    gt, score = indicators(ds)
    pred = score >= 0.5
    assert view.values("ml_tp") == np.count_nonzero(gt & pred, axis=1).tolist()
    assert view.values("ml_fp") == np.count_nonzero(~gt & pred, axis=1).tolist()
    assert view.values("ml_fn") == np.count_nonzero(gt & ~pred, axis=1).tolist()
    assert ds.exists("ground_truth", False).values("ml_error") == [None] * (len(ds) - len(view))
    counts = summary["error_counts"]
    assert sum(counts.values()) == len(view)
    assert counts["correct"] == int(np.all(gt == pred, axis=1).sum())
    tags = ds.count_values("predictions.classifications.ml")
    assert tags.get("tp", 0) == int((gt & pred).sum()) and tags.get("fp", 0) == int((~gt & pred).sum())
    below = view.filter_labels("predictions", F("confidence") < 0.5, only_matches=False)
    assert set(below.distinct("predictions.classifications.ml")) <= {None}
    gt_tags = view.count_values("ground_truth.classifications.ml")
    assert gt_tags == {"tp": int((gt & pred).sum()), "fn": int((gt & ~pred).sum())}


def test_a_filtered_view_writes_at_the_labels_true_positions():
    ds = multilabel_dataset(seed=2, n=200)
    try:
        view = ds.filter_labels("predictions", F("label") != CLASSES[0], only_matches=False)
        evaluate_model(view, pred_field="predictions", gt_field="ground_truth", eval_key="ml",
                       classes=CLASSES)
        for s in ds.iter_samples():
            for c in s.predictions.classifications:
                written = c.has_field("ml") and c["ml"] in ("tp", "fp")
                assert written == (c.label != CLASSES[0])
    finally:
        ds.delete()


def test_rerun_replaces_and_delete_removes_every_field():
    ds = multilabel_dataset(seed=3, n=150)
    try:
        before = set(ds.get_field_schema(flat=True))
        for _ in range(2):
            evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="ml")
        assert ds.list_runs() == ["error_atlas_ml"]
        plugin_module("operators.run_store").delete_run(ds, "ml")
        assert set(ds.get_field_schema(flat=True)) == before and ds.list_runs() == []
    finally:
        ds.delete()


def _rejected(ds, collection, pattern, **params):
    before = snapshot(ds)
    kwargs = dict(pred_field="predictions", gt_field="ground_truth", eval_key="ml")
    kwargs.update(params)
    with pytest.raises(Exception, match=pattern):
        evaluate_model(collection, **kwargs)
    assert snapshot(ds) == before


@pytest.mark.parametrize("value", [float("nan"), -0.1, 1.5])
def test_bad_confidences_change_nothing(value):
    ds = multilabel_dataset(seed=4, n=40)
    try:
        sample = ds.match(F("predictions.classifications").length() > 0).first()
        sample.predictions.classifications[0].confidence = value
        sample.save()
        _rejected(ds, ds, r"confidence that is NaN or outside \[0, 1\]")
    finally:
        ds.delete()


def test_bad_labels_fields_and_views_change_nothing():
    ds = multilabel_dataset(seed=5, n=40)
    try:
        ds.set_values("single", [fo.Classification(label="c00")] * len(ds))
        _rejected(ds, ds, r"'single' holds Classification, but a multi-label evaluation compares "
                  r"fo.Classifications.*Classifications fields: ground_truth, predictions",
                  gt_field="single")
        _rejected(ds, ds, r"not in the class list", classes=CLASSES[:5])
        _rejected(ds, ds.limit(0), r"view is empty")
        _rejected(ds, ds.set_field("ground_truth", None), r"No sample in this view has ground truth")
        sample = ds.match(F("ground_truth.classifications").length() > 0).first()
        sample.ground_truth.classifications[0].label = ""
        sample.save()
        _rejected(ds, ds, r"labels in 'ground_truth' have no `label`")
    finally:
        ds.delete()


def test_an_error_map_at_object_level_is_refused_and_nothing_written():
    """(Sample-level maps of multi-label runs: tests/test_error_map_multilabel.py.)"""
    import fiftyone.operators as foo

    ds = multilabel_dataset(seed=6, n=30)
    try:
        evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="ml")
        before = snapshot(ds)
        with pytest.raises(Exception, match=r"'ml' is a multi-label evaluation: its error map is "
                                             r"at sample level"):
            foo.get_operator("@error-atlas/error-atlas/compute_error_map")(
                ds, eval_key="ml", level="objects")
        assert snapshot(ds) == before
    finally:
        ds.delete()


def test_class_confusions_and_error_counts_at_every_step_equal_their_definitions():
    """The engine's histograms against the definitions, sample by sample, on
    random indicator matrices with ties and unpredicted classes."""
    from plugin import multilabel as ml

    rng = np.random.default_rng(12)
    n, k = 600, 7
    gt = rng.random((n, k)) < 0.3
    scores = np.where(rng.random((n, k)) < 0.6, np.round(rng.random((n, k)), 2), np.nan)
    ev = ml.Evaluation(["c%d" % j for j in range(k)], gt, scores)
    grid = np.round(np.linspace(0, 1, 101), 2)
    confusions, counts = ev.class_confusions(grid), ev.error_counts(grid)
    for j in range(0, 101, 4):
        pred = np.nan_to_num(scores, nan=-1) >= grid[j]
        ref = np.zeros((k, k + 1), np.int64)
        for t in range(k):
            ref[t, :k] = [(gt[:, t] & pred[:, p] & (~gt[:, p] if p != t else True)).sum()
                          for p in range(k)]
            ref[t, k] = (gt[:, t] & ~pred[:, t]).sum()
        assert np.array_equal(confusions[j], ref), j
        fp, fn = (pred & ~gt).any(axis=1), (gt & ~pred).any(axis=1)
        assert counts[j].tolist() == [int((~fp & ~fn).sum()), int((~fp & fn).sum()),
                                      int((fp & ~fn).sum()), int((fp & fn).sum())], j
        a = ev.assess(grid[j])
        assert list(a.error_counts().values()) == counts[j].tolist()
        for t, p in ((0, 0), (1, 3), (2, k)):
            assert len(ev.members(t, p, grid[j])) == ref[t, p]
    assert np.array_equal(ev.class_confusion(None), ev.class_confusions([-1.0])[0])
