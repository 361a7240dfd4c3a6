"""Instance masks at realistic sizes: thousands of masks, against COCOeval('segm')."""

import json

import numpy as np
from pycocotools import mask as mask_utils

import fiftyone as fo

from tests.cocodata import engine_evaluate, pycocotools_evaluate
from tests.fodata import evaluate_model
from tests.test_engine_coco import assert_same_as_pycocotools

W, H = 160, 120
CLASSES = ("cat", "dog", "car", "person")


def _mask_case(seed, num_images):
    """COCO ground truth and segm results, with the FiftyOne samples holding the same masks
    (whole-pixel boxes, so FiftyOne's box-relative masks land on the same pixels)."""
    rng = np.random.default_rng(seed)
    images = [{"id": i + 1, "width": W, "height": H} for i in range(num_images)]
    anns, dets, samples = [], [], []

    def obj(image_id, x, y, w, h):
        crop = (rng.random((h, w)) < 0.85).astype(np.uint8)
        full = np.zeros((H, W), dtype=np.uint8, order="F")
        full[y:y + h, x:x + w] = crop
        rle = mask_utils.encode(full)
        rle["counts"] = rle["counts"].decode("ascii")
        box = [x / W, y / H, w / W, h / H]
        return crop.astype(bool), rle, float(mask_utils.area(rle)), box

    for im in images:
        gts, preds = [], []
        for _ in range(rng.integers(8, 20)):
            w, h = (int(v) for v in rng.integers(4, 50, 2))
            x, y = int(rng.integers(0, W - w)), int(rng.integers(0, H - h))
            k = int(rng.integers(len(CLASSES)))
            crowd = bool(rng.random() < 0.03)
            crop, rle, area, box = obj(im["id"], x, y, w, h)
            anns.append({"id": len(anns) + 1, "image_id": im["id"], "category_id": k + 1,
                         "bbox": [x, y, w, h], "area": area, "iscrowd": int(crowd),
                         "segmentation": rle})
            attrs = {"area": area} if rng.random() < 0.7 else {}  # some objects without area
            gts.append(fo.Detection(label=CLASSES[k], bounding_box=box, mask=crop,
                                    iscrowd=crowd, **attrs))
            for _ in range(int(rng.random() < 0.9) + int(rng.random() < 0.15)):
                dx, dy = (int(v) for v in rng.integers(-3, 4, 2))
                px, py = min(max(x + dx, 0), W - w), min(max(y + dy, 0), H - h)
                kk = k if rng.random() < 0.85 else int(rng.integers(len(CLASSES)))
                preds.append((kk, px, py, w, h))
        for _ in range(rng.integers(0, 4)):
            w, h = (int(v) for v in rng.integers(4, 40, 2))
            preds.append((int(rng.integers(len(CLASSES))), int(rng.integers(0, W - w)),
                          int(rng.integers(0, H - h)), w, h))
        fo_preds = []
        for kk, px, py, w, h in preds:
            score = float(rng.random())
            crop, rle, _, box = obj(im["id"], px, py, w, h)
            dets.append({"image_id": im["id"], "category_id": kk + 1, "segmentation": rle,
                         "score": score})
            fo_preds.append(fo.Detection(label=CLASSES[kk], bounding_box=box, mask=crop,
                                         confidence=score))
        samples.append(fo.Sample(filepath="/nonexistent/mask%04d.jpg" % im["id"],
                                 metadata=fo.ImageMetadata(width=W, height=H),
                                 ground_truth=fo.Detections(detections=gts),
                                 predictions=fo.Detections(detections=fo_preds)))
    gt = {"images": images, "annotations": anns,
          "categories": [{"id": k + 1, "name": c} for k, c in enumerate(CLASSES)]}
    return gt, dets, samples


def test_thousands_of_masks_through_fiftyone_equal_cocoeval_segm():
    gt, dets, samples = _mask_case(seed=11, num_images=160)
    assert len(gt["annotations"]) >= 2000 and len(dets) >= 2000
    dataset = fo.Dataset()
    try:
        dataset.add_samples(samples, progress=False)
        with_area = dataset.count("ground_truth.detections.area")
        assert 0 < with_area < dataset.count("ground_truth.detections")
        summary = evaluate_model(dataset, pred_field="predictions", gt_field="ground_truth",
                                 eval_key="segm", use_masks=True)
        ref = pycocotools_evaluate(gt, dets, iou_type="segm")
        names = ("mAP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
                 "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large")
        ours = [-1.0 if summary[n] is None else summary[n] for n in names]  # None: undefined
        np.testing.assert_allclose(ours, ref.stats, atol=1e-6, rtol=0)
        # per-IoU AP of the stored FiftyOne results, at area "all" and 100 detections
        results = dataset.load_evaluation_results("segm")
        theirs = ref.eval["precision"][:, :, :, 0, 2]  # (T, R, K)
        valid = theirs[0, 0] > -1
        np.testing.assert_allclose(results.precision[:, valid, :].mean(axis=(1, 2)),
                                   theirs[:, :, valid].mean(axis=(1, 2)), atol=1e-6, rtol=0)
        assert abs(results.mAP() - ref.stats[0]) < 1e-6
    finally:
        dataset.delete()


def test_coco100_as_masks_equals_cocoeval_segm(shared_data):
    """pycocotools' demo-sized set: 734 segm results (coco100's boxes as filled masks)."""
    gt = json.loads((shared_data / "coco100" / "ground_truth.json").read_text())
    dets = json.loads((shared_data / "coco100" / "predictions.json").read_text())
    size = {im["id"]: (im["height"], im["width"]) for im in gt["images"]}
    for obj in gt["annotations"] + dets:
        h, w = size[obj["image_id"]]
        rle = mask_utils.frPyObjects(np.array([obj["bbox"]], dtype=np.float64), h, w)[0]
        rle["counts"] = rle["counts"].decode("ascii")
        obj["segmentation"] = rle
    assert len(dets) == 734
    ours = engine_evaluate(gt, dets, use_masks=True)
    mask_dets = [{k: v for k, v in d.items() if k != "bbox"} for d in dets]
    assert_same_as_pycocotools(ours, pycocotools_evaluate(gt, mask_dets, iou_type="segm"))
