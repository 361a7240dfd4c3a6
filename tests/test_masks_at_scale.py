"""Instance masks at realistic sizes: thousands of masks, areas computed from them.

pycocotools' ``mask.area`` raises ``OverflowError`` on 256 or more RLEs under
NumPy 2; these sizes are where that defect lived.
"""

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from plugin import detection, iou
from tests.cocodata import pycocotools_evaluate
from tests.fodata import evaluate_model, random_dataset
from tests.test_engine_coco import assert_same_as_pycocotools
from tests.test_evaluate_model import assert_same_as_fiftyone


def _mask(rng, h, w, box):
    x, y, bw, bh = (int(round(v)) for v in box)
    m = np.zeros((h, w), dtype=np.uint8, order="F")
    m[y:y + bh, x:x + bw] = rng.random((len(range(h)[y:y + bh]), len(range(w)[x:x + bw]))) < 0.8
    return mask_utils.encode(m)


def many_masks(seed=0, num_images=360, h=48, w=64, num_classes=4):
    """A COCO ground truth / segm results pair with ~2,000 masks on each side."""
    rng = np.random.default_rng(seed)
    images = [{"id": i + 1, "width": w, "height": h} for i in range(num_images)]
    anns, dets = [], []
    for im in images:
        for _ in range(rng.integers(3, 11)):
            box = [*rng.uniform(0, [w - 8, h - 8]), *rng.uniform(4, [w / 2, h / 2])]
            rle = _mask(rng, h, w, box)
            anns.append({"id": len(anns) + 1, "image_id": im["id"], "rle": rle,
                         "category_id": int(rng.integers(1, num_classes + 1)),
                         "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                         "area": float(mask_utils.area(rle)), "iscrowd": int(rng.random() < 0.05)})
            if rng.random() < 0.85:
                jitter = box + rng.normal(0, 2, 4)
                jitter[2:] = np.maximum(jitter[2:], 2)
                dets.append({"image_id": im["id"], "rle": _mask(rng, h, w, jitter),
                             "score": float(rng.random()),
                             "category_id": anns[-1]["category_id"] if rng.random() < 0.85
                             else int(rng.integers(1, num_classes + 1))})
        for _ in range(rng.integers(0, 3)):
            box = [*rng.uniform(0, [w - 8, h - 8]), 8, 8]
            dets.append({"image_id": im["id"], "rle": _mask(rng, h, w, box), "score": float(rng.random()),
                         "category_id": int(rng.integers(1, num_classes + 1))})
    gt = {"images": images, "annotations": anns,
          "categories": [{"id": k, "name": "c%d" % k} for k in range(1, num_classes + 1)]}
    return gt, dets


def _as_json(obj):
    out = {k: v for k, v in obj.items() if k != "rle"}
    out["segmentation"] = {**obj["rle"], "counts": obj["rle"]["counts"].decode("ascii")}
    return out


def test_mask_areas_of_thousands_of_rles_equal_pycocotools_one_by_one():
    gt, dets = many_masks(seed=1, num_images=60)
    rles = [d["rle"] for d in dets] + [a["rle"] for a in gt["annotations"]]
    assert len(rles) > 600
    expected = np.array([mask_utils.area(r) for r in rles], dtype=float)
    np.testing.assert_array_equal(iou.mask_areas(rles), expected)
    assert iou.mask_areas([]).shape == (0,)


def test_thousands_of_masks_without_areas_equal_cocoeval_segm():
    gt, dets = many_masks(seed=0)
    anns = gt["annotations"]
    assert len(anns) >= 2000 and len(dets) >= 2000
    cats = {c["id"]: k for k, c in enumerate(gt["categories"])}
    ours = detection.evaluate(
        [c["name"] for c in gt["categories"]],
        [d["image_id"] - 1 for d in dets], [cats[d["category_id"]] for d in dets],
        [d["score"] for d in dets], [mask_utils.toBbox(d["rle"]) for d in dets],
        [a["image_id"] - 1 for a in anns], [cats[a["category_id"]] for a in anns],
        [a["bbox"] for a in anns], gt_crowd=[bool(a["iscrowd"]) for a in anns],
        pred_masks=[d["rle"] for d in dets], gt_masks=[a["rle"] for a in anns],
    )
    # Results as masks only: pycocotools takes their area and box from the mask.
    ref = pycocotools_evaluate({**gt, "annotations": [_as_json(a) for a in anns]},
                               [{k: v for k, v in _as_json(d).items() if k != "bbox"} for d in dets],
                               iou_type="segm")
    assert_same_as_pycocotools(ours, ref)


def test_evaluate_model_with_thousands_of_masks_equals_fiftyone():
    ds = random_dataset(seed=7, num_samples=700, masks=True)
    try:
        num_gt = ds.count("ground_truth.detections")
        num_pred = ds.count("predictions.detections")
        assert num_gt >= 1500 and num_pred >= 1500
        assert ds.count("ground_truth.detections.area") == 0  # areas come from the masks
        summary = evaluate_model(ds, pred_field="predictions", gt_field="ground_truth",
                                 eval_key="ea", use_masks=True)
        theirs = ds.evaluate_detections("predictions", gt_field="ground_truth", eval_key="fo",
                                        use_masks=True, compute_mAP=True, progress=False)
        assert_same_as_fiftyone(ds)
        assert summary["mAP"] == pytest.approx(theirs.mAP(), abs=1e-9)
    finally:
        ds.delete()
