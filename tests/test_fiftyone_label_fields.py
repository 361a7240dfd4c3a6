"""Label fields FiftyOne's ``evaluate_detections`` takes, against FiftyOne's own run:
embedded fields, instance masks on samples without metadata, and the inputs
``evaluate_model`` refuses (with what to do, and the dataset unchanged)."""

import numpy as np
import pytest

import fiftyone as fo
from fiftyone import ViewField as F

from tests.fodata import evaluate_model, label_values, random_dataset, snapshot
from tests.test_panel_callbacks import PanelClient

PRED, GT = "embedded.predictions", "embedded.ground_truth"


def assert_same_labels(ds, pred_field, gt_field, ours="ea", theirs="fo"):
    """Per-label ``<key>``, ``_id`` and ``_iou`` and per-sample counts equal FiftyOne's."""
    for field in (pred_field, gt_field):
        for suffix in ("", "_id"):
            a = label_values(ds, "%s.detections.%s%s" % (field, ours, suffix))
            b = label_values(ds, "%s.detections.%s%s" % (field, theirs, suffix))
            assert a == b, (field, suffix)
        a = np.array(label_values(ds, "%s.detections.%s_iou" % (field, ours)), dtype=float)
        b = np.array(label_values(ds, "%s.detections.%s_iou" % (field, theirs)), dtype=float)
        np.testing.assert_allclose(a, b, rtol=1e-9, equal_nan=True)
    for count in ("tp", "fp", "fn"):
        assert ds.values("%s_%s" % (ours, count)) == ds.values("%s_%s" % (theirs, count))


def embedded_dataset(seed):
    """Predictions and ground truth only inside an embedded document ``embedded``."""
    ds = random_dataset(seed=seed, crowd=True)
    pairs = zip(ds.values("predictions"), ds.values("ground_truth"))
    ds.set_values("embedded", [fo.DynamicEmbeddedDocument(predictions=p, ground_truth=g)
                               for p, g in pairs])
    ds.add_dynamic_sample_fields()
    ds.delete_sample_fields(["predictions", "ground_truth"])
    return ds


def test_embedded_label_fields_equal_fiftyone():
    ds = embedded_dataset(seed=21)
    try:
        before = snapshot(ds)
        summary = evaluate_model(ds, pred_field=PRED, gt_field=GT, eval_key="ea", iou=0.5)
        theirs = ds.evaluate_detections(PRED, gt_field=GT, eval_key="fo", compute_mAP=True,
                                        progress=False)
        assert_same_labels(ds, PRED, GT)
        assert summary["mAP"] == pytest.approx(theirs.mAP(), abs=1e-9)
        ours = ds.load_evaluation_results("ea")
        assert ours.mAP() == pytest.approx(theirs.mAP(), abs=1e-9)
        np.testing.assert_array_equal(ours.confusion_matrix(), theirs.confusion_matrix())
        # the written attributes are declared and readable like FiftyOne's
        for field in (PRED, GT):
            for suffix in ("", "_id", "_iou", "_error"):
                assert ds.get_field("%s.detections.ea%s" % (field, suffix)) is not None
        errors = ds.count_values(PRED + ".detections.ea_error")
        assert sum(errors.values()) == ds.count(PRED + ".detections")
        fps = ds.filter_labels(PRED, F("ea") == "fp").count(PRED + ".detections")
        assert fps == summary["fp"] == sum(ds.values("fo_fp"))
        ds.delete_evaluation("fo")
        ds.delete_evaluation("ea")
        assert snapshot(ds)[:3] == before[:3]
    finally:
        ds.delete()


def masks_without_metadata(seed, num_samples=20):
    """Instance masks on samples with no metadata and no readable image: the image
    size can only come from the masks (mask size / relative box size)."""
    ds = random_dataset(seed=seed, num_samples=num_samples, masks=True)
    ds.set_values("metadata", [None] * len(ds))
    return ds


def test_masks_without_metadata_equal_fiftyone_mask_evaluation():
    ds = masks_without_metadata(seed=22)
    try:
        assert ds.count("metadata") == 0
        summary = evaluate_model(ds, pred_field="predictions", gt_field="ground_truth",
                                 eval_key="ea", use_masks=True)
        theirs = ds.evaluate_detections("predictions", gt_field="ground_truth", eval_key="fo",
                                        use_masks=True, compute_mAP=True, progress=False)
        assert_same_labels(ds, "predictions", "ground_truth")
        assert summary["mAP"] == pytest.approx(theirs.mAP(), abs=1e-9)
        assert ds.load_evaluation_results("ea").mAP() == pytest.approx(theirs.mAP(), abs=1e-9)
        assert summary["tp"] == sum(ds.values("fo_tp"))
    finally:
        ds.delete()


def test_masks_at_another_resolution_than_their_box_equal_fiftyone():
    """A mask is stretched over its box (FiftyOne draws and compares it so): predicted
    masks at half resolution are placed over their whole box, as FiftyOne's mask IoU
    places them."""
    ds = masks_without_metadata(seed=23)
    try:
        dets = ds.values("predictions.detections")
        for per_sample in dets:
            for d in per_sample:
                d.mask = d.mask[::2, ::2]
        ds.set_values("predictions.detections", dets)
        evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="ea",
                       use_masks=True)
        theirs = ds.evaluate_detections("predictions", gt_field="ground_truth", eval_key="fo",
                                        use_masks=True, compute_mAP=True, progress=False)
        assert_same_labels(ds, "predictions", "ground_truth")
        assert ds.load_evaluation_results("ea").mAP() == pytest.approx(theirs.mAP(), abs=1e-9)
        assert sum(ds.values("ea_tp")) > 0
    finally:
        ds.delete()


def test_classwise_false_says_what_to_do_and_changes_nothing():
    ds = embedded_dataset(seed=24)
    try:
        before = snapshot(ds)
        with pytest.raises(Exception, match=r"classwise=False.*Leave classwise at True.*"
                                            r"evaluate_detections\(\.\.\., classwise=False\)"):
            evaluate_model(ds, pred_field=PRED, gt_field=GT, eval_key="ea", classwise=False)
        assert snapshot(ds) == before
    finally:
        ds.delete()


def test_polylines_are_refused_with_the_conversion_and_change_nothing():
    ds = random_dataset(seed=25, num_samples=10)
    try:
        ds.set_values("polylines", [fo.Polylines(polylines=[fo.Polyline(
            label="cat", points=[[(0.1, 0.1), (0.4, 0.1), (0.3, 0.5)]], closed=True, filled=True)])
            for _ in range(len(ds))])
        before = snapshot(ds)
        for fields in (dict(pred_field="polylines", gt_field="ground_truth"),
                       dict(pred_field="predictions", gt_field="polylines")):
            with pytest.raises(Exception, match=r"'polylines' holds Polylines.*to_detections\("
                                                r"frame_size=.*use_masks=True"):
                evaluate_model(ds, eval_key="ea", **fields)
            assert snapshot(ds) == before
    finally:
        ds.delete()


def video_dataset():
    """Two videos whose frames hold Detections (no media is read)."""
    ds = fo.Dataset()
    for v in range(2):
        sample = fo.Sample(filepath="/nonexistent/video%d.mp4" % v)
        for f in range(1, 4):
            box = [0.1 * f, 0.2, 0.2, 0.2]
            gt = fo.Detection(label="cat", bounding_box=box)
            pred = fo.Detection(label="cat", bounding_box=box, confidence=0.9)
            sample.frames[f] = fo.Frame(ground_truth=fo.Detections(detections=[gt]),
                                        predictions=fo.Detections(detections=[pred]))
        ds.add_sample(sample)
    return ds


def frames_snapshot(ds):
    """:func:`snapshot` plus the frames' schema and documents."""
    frames = [[f.to_dict() for f in s.frames.values()] for s in ds.iter_samples()]
    return snapshot(ds), sorted(ds.get_frame_field_schema(flat=True)), frames


def test_video_frame_fields_are_refused_with_to_frames_and_change_nothing():
    ds = video_dataset()
    try:
        before = frames_snapshot(ds)
        for pred, gt in (("frames.predictions", "frames.ground_truth"),
                         ("predictions", "ground_truth")):
            with pytest.raises(Exception, match=r"videos.*to_frames\(sample_frames=True\)"):
                evaluate_model(ds, pred_field=pred, gt_field=gt, eval_key="ea")
            assert frames_snapshot(ds) == before
    finally:
        ds.delete()


def explorer_counts(ds, pred_field, gt_field):
    """What the evaluation explorer shows for a few clicks (objects in each view)."""
    evaluate_model(ds, pred_field=pred_field, gt_field=gt_field, eval_key="ea")
    client = PanelClient(ds, "embedded-%s" % pred_field).call("on_load")
    counts = [client.call("on_error_click", x="missed").view().count(),
              client.call("on_cell_click", x="Not detected", y="cat").view().count()]
    client.call("on_mode", value="samples", path="mode")
    view = client.call("on_class_click", x="cat").view()
    return counts + [view.count(pred_field + ".detections"), view.count(gt_field + ".detections")]


def test_the_evaluation_explorer_shows_an_embedded_run_as_a_top_level_one():
    nested, top = embedded_dataset(seed=26), random_dataset(seed=26, crowd=True)
    try:
        shown = explorer_counts(nested, PRED, GT)
        assert min(shown) > 0
        assert shown == explorer_counts(top, "predictions", "ground_truth")
    finally:
        nested.delete()
        top.delete()


def test_detections_inside_a_list_are_refused_and_change_nothing():
    ds = random_dataset(seed=27, num_samples=8)
    try:
        ds.set_values("views", [[fo.DynamicEmbeddedDocument(predictions=p)]
                                for p in ds.values("predictions")])
        ds.add_dynamic_sample_fields()
        before = snapshot(ds)
        with pytest.raises(Exception, match=r"'views.predictions' is inside a list.*Copy it"):
            evaluate_model(ds, pred_field="views.predictions", gt_field="ground_truth",
                           eval_key="ea")
        assert snapshot(ds) == before
    finally:
        ds.delete()
