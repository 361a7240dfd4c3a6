"""evaluate_model for every task on one dataset holding Detections, Classification,
Classifications and Segmentation fields: the form offers only compatible pairs
and each task's own inputs; the typed call, execute_operator and a delegated run
dispatch on the label type and give the task's reference numbers."""

import numpy as np
import pytest
import sklearn.metrics as skm

import fiftyone as fo
import fiftyone.operators as foo
from fiftyone.operators.delegated import DelegatedOperationService
from fiftyone.operators.executor import ExecutionContext

from tests.fodata import URI, evaluate_model, random_dataset
from tests.taskdata import TARGETS, plugin_module

DETECTION = ["ground_truth", "predictions"]
CLASSIFICATION = ["cls_gt", "cls_pred"]
MULTILABEL = ["ml_gt", "ml_pred"]
SEGMENTATION = ["seg_gt", "seg_pred"]
NAMES = ["cat", "dog", "car"]


def mixed_dataset(seed=0, n=40, shape=(32, 48)):
    """Detections from :func:`random_dataset`, plus on the same images a
    classification, a multi-label classification and a segmentation (with a
    per-pixel confidence heatmap), each with real errors."""
    ds = random_dataset(seed=seed, num_samples=n)
    rng = np.random.default_rng(seed)
    for s in ds.iter_samples(autosave=True, progress=False):
        g = int(rng.integers(3))
        p = g if rng.random() < 0.7 else int(rng.integers(3))
        s["cls_gt"] = fo.Classification(label=NAMES[g])
        s["cls_pred"] = fo.Classification(label=NAMES[p], confidence=float(rng.uniform(0.3, 1)))
        true = rng.random(3) < 0.4
        s["ml_gt"] = fo.Classifications(classifications=[
            fo.Classification(label=NAMES[k]) for k in np.flatnonzero(true)])
        conf = np.clip(np.where(true, 0.7, 0.3) + rng.normal(0, 0.2, 3), 0, 1)
        s["ml_pred"] = fo.Classifications(classifications=[
            fo.Classification(label=NAMES[k], confidence=float(conf[k])) for k in range(3)
            if conf[k] > 0.15])
        coarse = rng.choice(4, size=(shape[0] // 8, shape[1] // 8))
        gt = np.kron(coarse, np.ones((8, 8), np.uint8)).astype(np.uint8)
        pred = np.roll(gt, int(rng.integers(-2, 3)), axis=1)
        s["seg_gt"], s["seg_pred"] = fo.Segmentation(mask=gt), fo.Segmentation(mask=pred)
        s["seg_conf"] = fo.Heatmap(map=np.where(pred == gt, rng.uniform(0.4, 1, shape),
                                                rng.uniform(0, 0.6, shape)).astype(np.float32),
                                   range=[0, 1])
    ds.mask_targets = {"seg_gt": TARGETS, "seg_pred": TARGETS}
    return ds


@pytest.fixture(scope="module")
def mixed():
    ds = mixed_dataset()
    yield ds
    ds.delete()


def form(ds, **params):
    ctx = ExecutionContext(request_params={"dataset_name": ds.name,
                                           "view": ds.view()._serialize(), "params": params})
    return foo.get_operator(URI).resolve_input(ctx).to_json()["type"]["properties"]


def choices(prop):
    return [c["value"] for c in prop["view"]["choices"]]


@pytest.mark.parametrize("pair,shown,hidden", [
    (DETECTION, {"iou", "confidence", "classes", "use_masks", "iscrowd", "iou_threshs", "max_preds"},
     {"k", "mask_targets", "ignore_index", "confidence_field"}),
    (CLASSIFICATION, {"confidence", "classes", "k", "positive_class", "missing"},
     {"iou", "use_masks", "iscrowd", "iou_threshs", "mask_targets", "confidence_field"}),
    (MULTILABEL, {"confidence", "classes"},
     {"iou", "use_masks", "iscrowd", "k", "positive_class", "mask_targets", "confidence_field"}),
    (SEGMENTATION, {"mask_targets", "ignore_index", "background", "confidence_field"},
     {"iou", "use_masks", "iscrowd", "iou_threshs", "k", "confidence", "classes"}),
])
def test_the_form_offers_compatible_pairs_and_the_tasks_inputs(mixed, pair, shown, hidden):
    gt, pred = pair
    props = form(mixed, pred_field=pred)
    every = DETECTION + CLASSIFICATION + MULTILABEL + SEGMENTATION
    assert sorted(choices(props["pred_field"])) == sorted(every)
    assert choices(props["gt_field"]) == pair  # only the predictions' label type
    assert props["gt_field"]["default"] == gt
    assert shown <= set(props), shown - set(props)
    assert not hidden & set(props), hidden & set(props)
    if pair == SEGMENTATION:
        assert props["ignore_index"]["default"] == 255
        assert choices(props["confidence_field"]) == ["seg_conf"]


def test_the_form_without_a_pair_says_which_fields_exist():
    ds = fo.Dataset()
    ds.add_sample(fo.Sample(filepath="/x/a.png", only=fo.Segmentation(mask=np.zeros((4, 4), np.uint8))))
    try:
        props = form(ds)
        error = props["no_fields"]["view"]
        assert "Two fields of one label type" in error["label"]
        assert "1 Segmentation (only)" in error["description"]
    finally:
        ds.delete()


def test_typed_calls_dispatch_on_the_label_type(mixed):
    ds = mixed
    det = evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="det")
    theirs = ds.evaluate_detections("predictions", gt_field="ground_truth", eval_key="fo_det",
                                    compute_mAP=True, progress=False)
    assert det["mAP"] == pytest.approx(theirs.mAP(), abs=1e-4)

    cls = evaluate_model(ds, pred_field="cls_pred", gt_field="cls_gt", eval_key="cls",
                         classes=NAMES)
    ds.evaluate_classifications("cls_pred", gt_field="cls_gt", eval_key="fo_cls", classes=NAMES)
    assert cls["task"] == "classification" and ds.values("cls") == ds.values("fo_cls")

    ml = evaluate_model(ds, pred_field="ml_pred", gt_field="ml_gt", eval_key="ml",
                        confidence=0.5)
    index = {c: k for k, c in enumerate(ml_classes(ds))}
    gt = np.zeros((len(ds), len(index)), bool)
    pred = np.zeros_like(gt)
    for i, (g, p, c) in enumerate(zip(*ds.values(["ml_gt.classifications.label",
                                                  "ml_pred.classifications.label",
                                                  "ml_pred.classifications.confidence"]))):
        gt[i, [index[x] for x in g]] = True
        pred[i, [index[x] for x, v in zip(p, c) if v >= 0.5]] = True
    assert ml["task"] == "multilabel"
    assert ml["micro_f1"] == pytest.approx(skm.f1_score(gt, pred, average="micro"), abs=1e-9)
    assert ml["hamming_loss"] == pytest.approx(skm.hamming_loss(gt, pred), abs=1e-9)

    seg = evaluate_model(ds, pred_field="seg_pred", gt_field="seg_gt", eval_key="seg",
                         confidence_field="seg_conf")
    ds.evaluate_segmentations("seg_pred", gt_field="seg_gt", eval_key="fo_seg")
    assert seg["task"] == "segmentation" and seg["optimal_threshold"] is not None
    np.testing.assert_allclose(np.array(ds.values("seg_accuracy"), float),
                               np.array(ds.values("fo_seg_accuracy"), float), atol=1e-9)
    done = plugin_module("operators.evaluate_model").completion_md
    assert "| %.3f |" % ml["micro_f1"] in done(ml) and "subset accuracy" in done(ml)
    assert "(semantic segmentation)" in done(seg) and "%.3f" % seg["mIoU"] in done(seg)
    tasks = plugin_module("operators.run_store").run_task
    assert [tasks(ds, k) for k in ("det", "cls", "ml", "seg")] == \
        ["detection", "classification", "multilabel", "segmentation"]


def ml_classes(ds):
    return sorted(set(ds.distinct("ml_gt.classifications.label"))
                  | set(ds.distinct("ml_pred.classifications.label")))


def test_execute_operator_runs_every_task(mixed):
    ds = mixed
    view = ds.limit(30)
    for pair, extra, task in ((DETECTION, {}, None), (CLASSIFICATION, {"classes": NAMES},
                                                       "classification"),
                              (MULTILABEL, {}, "multilabel"),
                              (SEGMENTATION, {"mask_targets": '{"0": "background", "1": "road", '
                                              '"2": "car", "3": "person"}'}, "segmentation")):
        result = foo.execute_operator(URI, ctx=dict(view=view, params=dict(
            pred_field=pair[1], gt_field=pair[0], eval_key="x_" + pair[0], **extra)))
        assert result.error is None, result.error
        assert result.result.get("task") == task and result.result["num_images"] == 30


def test_a_segmentation_run_gets_its_optimal_confidence_by_the_protocol(mixed):
    ds = mixed
    summary = evaluate_model(ds, pred_field="seg_pred", gt_field="seg_gt", eval_key="seg2",
                             confidence_field="seg_conf")
    results = ds.load_evaluation_results("seg2")
    results.custom_metrics = None
    results.add_custom_metrics(["@error-atlas/error-atlas/error_analysis"])
    assert results.custom_metrics[
        "@error-atlas/error-atlas/error_analysis"]["value"] == summary["optimal_threshold"]


def test_a_delegated_segmentation_run():
    ds = mixed_dataset(seed=3, n=20)
    try:
        queued = evaluate_model(ds, pred_field="seg_pred", gt_field="seg_gt", eval_key="seg",
                                confidence_field="seg_conf", delegate=True)
        assert queued["run_state"] == "queued" and ds.list_evaluations() == []
        service = DelegatedOperationService()
        service.execute_operation(service.get(queued["id"]), log=False)
        done = service.get(queued["id"])
        assert done.run_state == "completed", done.result
        assert done.status.progress == 1.0 and ds.list_evaluations() == ["seg"]
        assert done.result.result["mIoU"] == pytest.approx(
            plugin_module("operators.run_store").load_analysis(ds, "seg").metrics()["miou"],
            abs=1e-12)
    finally:
        ds.delete()
