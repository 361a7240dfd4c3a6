"""Semantic segmentation runs on real FiftyOne datasets, against FiftyOne's own
``evaluate_segmentations`` on the same masks (in the database and on disk)."""

import importlib
import sys

import cv2
import numpy as np
import pytest

import fiftyone as fo
import fiftyone.operators as foo

from tests.fodata import URI, snapshot

TARGETS = {0: "background", 1: "road", 2: "car", 3: "person"}


def run_module():
    foo.get_operator(URI)  # loads the plugin as FiftyOne does
    package = next(n for n in sys.modules if n.startswith("fiftyone.plugins.")
                   and n.endswith(".operators.detection_run"))[:-len(".detection_run")]
    return importlib.import_module(package + ".segmentation_run")


def scenes(tmp_path, n=24, seed=0, shape=(48, 64)):
    """Blobby scenes; predictions wrong at the edges and in patches; some on disk,
    some with a few ignored (255) ground-truth pixels, two of another size."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        coarse = rng.choice(4, size=(shape[0] // 8, shape[1] // 8), p=[0.5, 0.2, 0.2, 0.1])
        gt = np.kron(coarse, np.ones((8, 8), np.uint8)).astype(np.uint8)
        pred = np.roll(gt, rng.integers(-2, 3), axis=1).copy()
        y, x = rng.integers(0, shape[0] - 10), rng.integers(0, shape[1] - 10)
        pred[y:y + 10, x:x + 10] = rng.integers(0, 4)
        if i % 5 == 0:
            gt[:3, :3] = 255
        if i in (3, 7):
            pred = cv2.resize(pred, (shape[1] * 2, shape[0] * 2), interpolation=cv2.INTER_NEAREST)
        if i % 2:
            path = str(tmp_path / ("pred%03d.png" % i))
            cv2.imwrite(path, pred)
            pred_seg = fo.Segmentation(mask_path=path)
        else:
            pred_seg = fo.Segmentation(mask=pred)
        samples.append(fo.Sample(filepath="/nonexistent/seg%03d.png" % i,
                                 ground_truth=fo.Segmentation(mask=gt), predictions=pred_seg))
    ds = fo.Dataset()
    ds.add_samples(samples, progress=False)
    ds.mask_targets = {"ground_truth": TARGETS, "predictions": TARGETS}
    return ds


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    ds = scenes(tmp_path_factory.mktemp("seg"))
    summary = run_module().evaluate_segmentations(ds, "predictions", "ground_truth", "ea",
                                                  num_workers=2)
    ds.evaluate_segmentations("predictions", gt_field="ground_truth", eval_key="fo",
                              mask_targets=TARGETS)
    yield ds, summary
    ds.delete()


def test_each_samples_numbers_equal_fiftyones(evaluated):
    ds, _ = evaluated
    for metric in ("accuracy", "precision", "recall"):
        ours = np.array(ds.values("ea_" + metric), dtype=float)
        theirs = np.array(ds.values("fo_" + metric), dtype=float)
        np.testing.assert_allclose(ours, theirs, atol=1e-9, err_msg=metric)


def test_the_stored_run_is_fiftyones_own_with_the_same_confusion(evaluated):
    ds, summary = evaluated
    ours, theirs = ds.load_evaluation_results("ea"), ds.load_evaluation_results("fo")
    assert type(ours).__name__ == "SegmentationResults"
    assert np.array_equal(ours.pixel_confusion_matrix, theirs.pixel_confusion_matrix)
    assert list(ours.classes) == list(TARGETS.values())
    assert ours.metrics()["accuracy"] == pytest.approx(theirs.metrics()["accuracy"], abs=1e-12)
    assert summary["num_images"] == len(ds) and 0 < summary["mIoU"] < 1
    assert any("resized" in w for w in summary["warnings"])


def test_the_stored_matches_are_fiftyones_in_its_order(evaluated):
    ds, _ = evaluated
    ours = ds.load_evaluation_results("ea", cache=False)
    theirs = ds.load_evaluation_results("fo", cache=False)
    assert len(ours.ytrue) > len(ds)
    for column in ("ytrue", "ypred", "weights", "ytrue_ids", "ypred_ids"):
        assert list(getattr(ours, column)) == list(getattr(theirs, column)), column


def test_pooled_metrics_follow_from_the_confusion(evaluated):
    ds, summary = evaluated
    cm = np.asarray(ds.load_evaluation_results("fo").pixel_confusion_matrix, dtype=float)
    tp = np.diag(cm)
    iou = tp / (cm.sum(0) + cm.sum(1) - tp)
    rows = {r["name"]: r for r in summary["per_class"]}
    for k, name in enumerate(TARGETS.values()):
        assert rows[name]["iou"] == pytest.approx(iou[k], abs=1e-12)
    assert summary["mIoU"] == pytest.approx(iou[1:].mean(), abs=1e-12)  # background left out
    assert summary["background"] == "background"


def test_per_image_fields_and_errors_are_written(evaluated):
    ds, _ = evaluated
    miou = ds.values("ea_miou")
    assert all(v is None or 0 <= v <= 1 for v in miou) and any(v is not None for v in miou)
    errors = set(ds.distinct("ea_error"))
    assert errors and errors <= {"missed_region", "false_region", "confused_region", "boundary"}
    assert set(ds.distinct("ea_error_class")) <= set(TARGETS.values()) - {"background"}


def test_values_outside_the_targets_are_refused_and_nothing_changes(tmp_path):
    ds = scenes(tmp_path, n=6, seed=1)
    ds.mask_targets = {"ground_truth": {0: "background", 1: "road", 2: "car"}}
    before = snapshot(ds)
    with pytest.raises(Exception, match=r"values that are not classes: 3.*mask_targets"):
        run_module().evaluate_segmentations(ds, "predictions", "ground_truth", "ea")
    assert snapshot(ds) == before
    ds.delete()


def test_a_missing_mask_is_refused_and_nothing_changes(tmp_path):
    ds = scenes(tmp_path, n=6, seed=2)
    s = ds.first()
    s.predictions = None
    s.save()
    before = snapshot(ds)
    with pytest.raises(Exception, match=r"no predictions mask.*exists"):
        run_module().evaluate_segmentations(ds, "predictions", "ground_truth", "ea")
    assert snapshot(ds) == before
    ds.delete()


def test_deleting_the_evaluation_removes_every_field(tmp_path):
    ds = scenes(tmp_path, n=6, seed=3)
    before = set(ds.get_field_schema())
    run_module().evaluate_segmentations(ds, "predictions", "ground_truth", "ea")
    assert "ea_miou" in ds.get_field_schema() and "error_atlas_ea" in ds.list_runs()
    run_module().evaluate_segmentations(ds, "predictions", "ground_truth", "ea")  # re-run
    ds.delete_evaluation("ea")  # FiftyOne's call; our metric's cleanup removes the rest
    assert set(ds.get_field_schema()) == before and ds.list_runs() == []
    ds.delete()


def test_heatmap_confidence_over_several_worker_batches_equals_the_pixels(tmp_path):
    """40 images (three worker batches) with a uint8 heatmap: the stored sweep's
    confusion at a threshold equals scikit-learn's on the pixels kept there."""
    from sklearn.metrics import confusion_matrix

    ds = scenes(tmp_path, n=40, seed=5)
    rng = np.random.default_rng(5)
    gts, preds, confs = [], [], []
    for sample in ds.iter_samples(autosave=True, progress=False):
        gt = sample.ground_truth.get_mask()
        pred = sample.predictions.get_mask()
        if pred.shape != gt.shape:
            pred = cv2.resize(pred, gt.shape[::-1], interpolation=cv2.INTER_NEAREST)
        conf = rng.integers(0, 256, gt.shape).astype(np.uint8)
        sample["confidence"] = fo.Heatmap(map=conf, range=[0, 255])
        gts.append(gt), preds.append(pred), confs.append(conf)
    mod = run_module()
    mod.evaluate_segmentations(ds, "predictions", "ground_truth", "ea",
                               confidence_field="confidence", num_workers=2)
    ev = mod.load_analysis(ds, "ea")
    gt, pred = np.concatenate([g.ravel() for g in gts]), np.concatenate([p.ravel() for p in preds])
    conf = np.concatenate([c.ravel() for c in confs]) / 255.0
    kept = gt != 255
    for threshold in (0.0, 0.3, 0.75):
        shown = np.where(conf >= threshold, pred, 4)  # 4: unlabeled
        ref = confusion_matrix(gt[kept], shown[kept], labels=[0, 1, 2, 3, 4])[:4]
        assert np.array_equal(ev.confusion_at(threshold), ref), threshold
    ds.delete()
