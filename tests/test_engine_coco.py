"""The engine's COCO metrics equal pycocotools' COCOeval."""

import json

import numpy as np
import pytest

from plugin import coco
from tests.cocodata import engine_evaluate, pycocotools_evaluate, random_case

PUBLISHED_COCO100 = [0.503647, 0.696973, 0.571667, 0.593252, 0.557991, 0.489363,
                     0.386813, 0.593680, 0.595353, 0.654764, 0.603130, 0.553744]


def assert_same_as_pycocotools(ours, ref):
    np.testing.assert_allclose(ours.coco.precision, ref.eval["precision"], atol=1e-6, rtol=0)
    np.testing.assert_allclose(ours.coco.recall, ref.eval["recall"], atol=1e-6, rtol=0)
    np.testing.assert_allclose(list(ours.coco.stats.values()), ref.stats, atol=1e-6, rtol=0)


@pytest.mark.parametrize("seed", range(0, 200, 1))
def test_random_boxes_match_pycocotools(seed):
    gt, dets = random_case(seed)
    if not dets:
        # pycocotools cannot load empty results; COCO's definition: precision and
        # recall 0 for classes with ground truth, -1 (undefined) for the others
        ours = engine_evaluate(gt, dets)
        cats = sorted(c["id"] for c in gt["categories"])
        has_gt = np.isin(cats, [a["category_id"] for a in gt["annotations"] if not a["iscrowd"]])
        assert set(np.unique(ours.coco.precision)) <= {0.0, -1.0}
        assert set(np.unique(ours.coco.recall)) <= {0.0, -1.0}
        assert (ours.coco.precision[:, :, has_gt, 0, :] == 0).all()
        assert (ours.coco.precision[:, :, ~has_gt, 0, :] == -1).all()
        return
    assert_same_as_pycocotools(engine_evaluate(gt, dets), pycocotools_evaluate(gt, dets))


@pytest.mark.parametrize("seed", range(12))
def test_random_masks_match_pycocotools_segm(seed):
    gt, dets = random_case(seed, max_images=6, masks=True)
    if not dets:
        pytest.skip("pycocotools cannot load empty results")
    # Results given as masks only: pycocotools then takes area and box from the mask.
    mask_dets = [{k: v for k, v in d.items() if k != "bbox"} for d in dets]
    ref = pycocotools_evaluate(gt, mask_dets, iou_type="segm")
    assert_same_as_pycocotools(engine_evaluate(gt, dets, use_masks=True), ref)


def test_many_predictions_per_image_respect_max_dets():
    gt, dets = random_case(3)
    rng = np.random.default_rng(0)
    image = gt["images"][0]["id"]
    extra = [{"image_id": image, "category_id": 1, "bbox": [float(v) for v in rng.uniform(1, 90, 4)],
              "score": float(rng.random())} for _ in range(250)]
    dets = dets + extra
    assert_same_as_pycocotools(engine_evaluate(gt, dets), pycocotools_evaluate(gt, dets))


def test_coco100_equals_pycocotools_and_published_numbers(shared_data):
    gt = json.loads((shared_data / "coco100" / "ground_truth.json").read_text())
    dets = json.loads((shared_data / "coco100" / "predictions.json").read_text())
    ours = engine_evaluate(gt, dets)
    assert_same_as_pycocotools(ours, pycocotools_evaluate(gt, dets))
    np.testing.assert_allclose(list(ours.coco.stats.values()), PUBLISHED_COCO100, atol=5e-7)


def test_class_ap_averages_precision_like_summarize():
    gt, dets = random_case(7)
    ours = engine_evaluate(gt, dets)
    ap = ours.coco.class_ap()
    valid = ap > -1
    assert np.isclose(ap[valid].mean(), ours.coco.stats["mAP"])
    assert np.isclose(ours.coco.class_ap(iou=0.5)[valid].mean(), ours.coco.stats["AP50"])


def test_unknown_iou_threshold_is_a_clear_error():
    gt, dets = random_case(1)
    with pytest.raises(ValueError, match="0.50:0.05:0.95"):
        engine_evaluate(gt, dets).coco.class_ap(iou=0.52)


def test_area_ranges_are_inclusive_like_pycocotools():
    ignore = coco.area_ignore([32.0 ** 2, 96.0 ** 2])
    names = list(coco.AREA_RANGES)
    assert not ignore[names.index("small"), 0] and not ignore[names.index("medium"), 0]
    assert not ignore[names.index("medium"), 1] and not ignore[names.index("large"), 1]
