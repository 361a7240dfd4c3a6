"""Slices: every slice's numbers equal a direct evaluation of the same view (evaluate_model on
it, scikit-learn for classification), bootstrap intervals are seeded and cover the truth at
their rate; the automatic search finds a planted slice; bad sources are refused."""

import numpy as np
import pytest
import sklearn.metrics as skm

import fiftyone.operators as foo
from fiftyone import ViewField as F

from plugin import classification, descriptors, detection, slices
from tests.fodata import evaluate_model, random_dataset
from tests.taskdata import classification_dataset, evaluate_segmentation, segmentation_dataset

SLICES_URI = "@error-atlas/error-atlas/compute_slices"
HEADLINE = ("mAP", "AP50", "precision", "recall", "f1")


def compute_slices(collection, **params):
    return foo.get_operator(SLICES_URI)(collection, **params)


@pytest.fixture(scope="module")
def detection_ds():
    ds = random_dataset(seed=3, num_samples=150)
    rng = np.random.default_rng(0)
    weather = rng.choice(["sun", "rain", "fog"], len(ds)).tolist()
    ds.set_values("weather", weather)
    ds.set_values("brightness", rng.random(len(ds)).tolist())
    ds.set_values("night", (rng.random(len(ds)) < 0.3).tolist())
    for s, w in zip(ds.iter_samples(autosave=True), weather):
        if w == "rain":
            s.tags.append("rainy")
        for d in s.ground_truth.detections:
            d["occluded"] = bool(rng.random() < 0.25)
    ds.add_dynamic_sample_fields()
    evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="eval",
                   confidence=0.3)
    yield ds
    ds.delete()


def _direct(view, ds):
    """evaluate_model on the slice's view, under its own key, deleted after."""
    summary = evaluate_model(view, pred_field="predictions", gt_field="ground_truth",
                             eval_key="direct", confidence=0.3)
    ds.delete_evaluation("direct")
    return summary


def _check_rows(table, views, ds):
    assert table["rows"], table
    for row in table["rows"]:
        view = views(row["name"])
        assert row["size"] == len(view)
        direct = _direct(view, ds)
        for k in HEADLINE:
            assert row["values"][k] == direct[k], (row["name"], k)  # exactly


def test_field_slices_equal_evaluate_model_on_the_view(detection_ds):
    ds = detection_ds
    table = compute_slices(ds, eval_key="eval", source="field:weather")
    _check_rows(table, lambda name: ds.match(F("weather") == name), ds)
    whole = ds.load_evaluation_results("eval")
    assert table["overall"]["values"]["mAP"] == pytest.approx(whole.mAP(), abs=1e-12)
    gaps = [r["gap"] for r in table["rows"]]
    assert gaps == sorted(gaps)
    import sys
    md = sys.modules[foo.get_operator(SLICES_URI).__module__].table_md(table)  # the App's dialog
    worst = table["rows"][0]
    assert ("| %s | %d | %.3f [" % (worst["name"], worst["size"], worst["values"]["mAP"])) in md


def test_bool_list_and_numeric_slices(detection_ds):
    ds = detection_ds
    night = compute_slices(ds, eval_key="eval", source="field:night", num_boot=0)
    assert {r["name"] for r in night["rows"]} == {"True", "False"}
    _check_rows(night, lambda name: ds.match(F("night") == (name == "True")), ds)
    tags = compute_slices(ds, eval_key="eval", source="field:tags", num_boot=0)
    _check_rows(tags, lambda name: ds.match_tags(name), ds)
    bins = compute_slices(ds, eval_key="eval", source="field:brightness", num_boot=0)
    assert len(bins["rows"]) == 4 and sum(r["size"] for r in bins["rows"]) == len(ds)
    values = np.array(ds.values("brightness"))
    edges = np.quantile(values, [0, 0.25, 0.5, 0.75, 1])
    low = ds.match(F("brightness") < edges[1])
    row = next(r for r in bins["rows"] if r["name"].startswith("[%.4g," % edges[0]))
    assert row["size"] == len(low)
    direct = _direct(low, ds)
    assert all(row["values"][k] == direct[k] for k in HEADLINE)


def test_label_attribute_slices_hold_the_images_with_such_labels(detection_ds):
    ds = detection_ds
    table = compute_slices(ds, eval_key="eval", source="label:ground_truth.detections.occluded",
                           num_boot=0)
    _check_rows(table, lambda name: ds.match(F("ground_truth.detections").filter(
        F("occluded") == (name == "True")).length() > 0), ds)


def test_saved_view_slices(detection_ds):
    ds = detection_ds
    ds.save_view("foggy", ds.match(F("weather") == "fog"))
    try:
        table = compute_slices(ds, eval_key="eval", source="views", num_boot=0)
        _check_rows(table, lambda name: ds.load_saved_view(name), ds)
    finally:
        ds.delete_saved_view("foggy")


def test_bootstrap_is_seeded_and_brackets_the_estimate(detection_ds):
    ds = detection_ds
    a = compute_slices(ds, eval_key="eval", source="field:weather", seed=5)
    b = compute_slices(ds, eval_key="eval", source="field:weather", seed=5)
    c = compute_slices(ds, eval_key="eval", source="field:weather", seed=6)
    assert a["rows"] == b["rows"]
    assert a["rows"][0]["ci"] != c["rows"][0]["ci"]
    for row in a["rows"]:
        for k in HEADLINE:
            lo, hi = row["ci"][k]
            assert lo <= hi and lo - 0.05 <= row["values"][k] <= hi + 0.05
        assert row["small"] == (row["size"] < slices.MIN_UNITS)


def test_weighted_ap_with_unit_weights_equals_pycocotools_accumulation():
    rng = np.random.default_rng(1)
    n_img, K = 200, 3
    gi = rng.integers(0, n_img, 600)
    gl = rng.integers(0, K, 600)
    gb = np.c_[rng.uniform(0, 300, (600, 2)), rng.uniform(8, 80, (600, 2))]
    keep = rng.random(600) < 0.8
    pb = gb[keep] + rng.normal(0, 4, (keep.sum(), 4))
    pb[:, 2:] = np.abs(pb[:, 2:]) + 1
    ev = detection.evaluate(list("abc"), gi[keep], gl[keep], rng.random(keep.sum()), pb,
                            gi, gl, gb)
    ev.set_ids(image_ids=np.arange(n_img).astype(str))
    ts = slices.DetectionSlices(ev, confidence=0.2)
    units = np.arange(n_img)
    exact = ts.values(units)
    reps = ts.replicates(units, np.ones((2, n_img)))
    for k in HEADLINE:
        assert reps[k][0] == pytest.approx(exact[k], abs=1e-12)
    # doubling every image changes no metric (each copy next to the original)
    reps = ts.replicates(units, np.full((1, n_img), 2.0))
    for k in HEADLINE:
        assert reps[k][0] == pytest.approx(exact[k], abs=1e-12)


def test_bootstrap_covers_the_true_accuracy_at_its_rate():
    """300 simulated evaluation sets of 200 samples with true accuracy 0.8."""
    rng = np.random.default_rng(0)
    hits = 0
    trials = 300
    for trial in range(trials):
        gt = rng.integers(0, 2, 200)
        right = rng.random(200) < 0.8
        pred = np.where(right, gt, 1 - gt)
        ev = classification.evaluate(["a", "b"], gt, pred, np.ones(200))
        ts = slices.ClassificationSlices(ev)
        row = slices.slice_table(ts, [], num_boot=400, seed=trial)["overall"]
        lo, hi = row["ci"]["accuracy"]
        hits += lo <= 0.8 <= hi
    assert 0.91 <= hits / trials <= 0.98, hits / trials


def test_classification_slices_equal_scikit_learn():
    ds = classification_dataset(seed=2, n=300)
    try:
        ds.set_values("site", np.random.default_rng(1).choice(["a", "b", "c"], len(ds)).tolist())
        evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="cls",
                       classes=list(ds.default_classes))
        table = compute_slices(ds, eval_key="cls", source="field:site")
        classes = list(ds.default_classes)
        for row in table["rows"]:
            view = ds.match(F("site") == row["name"])
            gt = [classes.index(x) for x in view.values("ground_truth.label")]
            pred = [-1 if x is None else classes.index(x) for x in view.values("predictions.label")]
            assert row["size"] == len(view)
            assert row["values"]["accuracy"] == skm.accuracy_score(gt, pred)
            assert row["values"]["macro_f1"] == pytest.approx(skm.f1_score(
                gt, pred, labels=range(len(classes)), average="macro", zero_division=0), abs=1e-12)
            lo, hi = row["ci"]["accuracy"]
            assert lo <= row["values"]["accuracy"] <= hi
    finally:
        ds.delete()


def test_segmentation_slices_equal_evaluating_the_view():
    ds = segmentation_dataset(seed=4, n=24)
    try:
        ds.set_values("half", ["first" if i < 12 else "second" for i in range(len(ds))])
        evaluate_segmentation(ds, "seg")
        table = compute_slices(ds, eval_key="seg", source="field:half")
        for row in table["rows"]:
            view = ds.match(F("half") == row["name"])
            direct = evaluate_segmentation(view, "seg_direct")
            assert row["values"]["mIoU"] == direct["mIoU"]
            ds.delete_evaluation("seg_direct")
    finally:
        ds.delete()


def test_automatic_search_finds_the_planted_slice():
    ds = classification_dataset(seed=5, n=600)
    try:
        rng = np.random.default_rng(3)
        camera = rng.choice(["old", "new"], len(ds))
        light = rng.choice(["day", "dusk", "night"], len(ds))
        ds.set_values("camera", camera.tolist())
        ds.set_values("light", light.tolist())
        bad = (camera == "old") & (light == "night")
        classes = list(ds.default_classes)
        for s, b in zip(ds.iter_samples(autosave=True), bad):  # the planted failure
            if b and s.predictions is not None and rng.random() < 0.8:
                wrong = [c for c in classes if c != s.ground_truth.label]
                s.predictions.label = str(rng.choice(wrong))
        evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="cls",
                       classes=classes)
        found = compute_slices(ds, eval_key="cls", source="search", num_boot=50)
        top = found["rows"][0]
        assert set(map(tuple, top["conditions"])) == {("camera", "old"), ("light", "night")}
        assert top["size"] == int(bad.sum())
        assert top["description"] in ("camera = old and light = night", "light = night and camera = old")
    finally:
        ds.delete()


def test_bad_sources_are_refused(detection_ds):
    with pytest.raises(Exception, match="no sample field 'nope'"):
        compute_slices(detection_ds, eval_key="eval", source="field:nope")
    with pytest.raises(Exception, match="'predictions' \\(EmbeddedDocumentField\\) cannot be sliced"):
        compute_slices(detection_ds, eval_key="eval", source="field:predictions")
    with pytest.raises(Exception, match="Unknown slice source"):
        compute_slices(detection_ds, eval_key="eval", source="whatever")
    with pytest.raises(Exception, match="No Error Atlas run 'missing'"):
        compute_slices(detection_ds, eval_key="missing", source="field:weather")


def test_error_map_clusters_and_descriptor_features(tmp_path):
    """A real samples map of the demo's digits: clusters named by rank, features in bins."""
    import sys

    from tests.conftest import ROOT

    sys.path.insert(0, str(ROOT / "demo"))
    import digits

    ds = digits.build_dataset(name="slices-digits", num_images=200, seed=52, out_dir=str(tmp_path))
    try:
        evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="eval")
        summary = foo.get_operator("@error-atlas/error-atlas/compute_error_map")(
            ds, eval_key="eval", level="samples", map_key="dmap")
        ranked = [c["id"] for c in summary["clusters"]]
        clusters = compute_slices(ds, eval_key="eval", source="cluster:dmap", num_boot=20)
        for row in clusters["rows"]:
            rank = int(row["name"].split("#")[1])
            if rank > len(ranked):  # the summary lists the first five
                continue
            view = ds.match(F("dmap_cluster") == ranked[rank - 1])
            assert row["size"] == len(view)
            gt, pred = view.values("ground_truth.label"), view.values("predictions.label")
            assert row["values"]["accuracy"] == skm.accuracy_score(gt, pred)
        assert sum(r["size"] for r in clusters["rows"]) == len(ds)
        bins = compute_slices(ds, eval_key="eval", source="feature:dmap:brightness", num_boot=0)
        assert len(bins["rows"]) == 4 and sum(r["size"] for r in bins["rows"]) == len(ds)
        j = descriptors.IMAGE_FEATURES.index("brightness")
        x = np.array([v[j] for v in ds.values("dmap_embedding")])
        low = next(r for r in bins["rows"] if r["name"].startswith("brightness in [%.4g," % x.min()))
        assert low["size"] == int(np.sum(x < np.quantile(x, 0.25)))
    finally:
        ds.delete()
