"""Builders of COCO-format test data and adapters to the engine and pycocotools."""

import contextlib
import copy
import io

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from plugin import detection


def random_case(seed, max_images=12, max_classes=5, masks=False):
    """A random COCO ground truth / results pair with crowds, ties, empty images,
    images with only predictions, and a class that appears only in predictions."""
    rng = np.random.default_rng(seed)
    n_img, K = int(rng.integers(1, max_images)), int(rng.integers(1, max_classes))
    images = [{"id": int(i * 3 + 1), "width": 200, "height": 160} for i in range(n_img)]
    anns, dets = [], []
    for im in images:
        if rng.random() < 0.2:
            continue  # an image with predictions only (or nothing)
        for _ in range(rng.integers(0, 8)):
            x, y = rng.uniform(0, 150, 2)
            w, h = rng.uniform(1, 120, 2)
            if rng.random() < 0.5:  # quantized boxes create exact IoU ties
                x, y, w, h = (float(np.round(v / 10) * 10 + 1) for v in (x, y, w, h))
            anns.append({
                "id": len(anns) + 1, "image_id": im["id"], "category_id": int(rng.integers(1, K + 1)),
                "bbox": [float(x), float(y), float(w), float(h)], "area": float(w * h * rng.uniform(0.5, 1)),
                "iscrowd": int(rng.random() < 0.1),
            })
    for im in images:
        if rng.random() < 0.15:
            continue
        own = [a for a in anns if a["image_id"] == im["id"]]
        for _ in range(rng.integers(0, 15)):
            if own and rng.random() < 0.7:
                b = own[rng.integers(len(own))]
                x, y, w, h = b["bbox"]
                j = rng.normal(0, 8, 4) if rng.random() < 0.7 else np.zeros(4)
                box = [x + j[0], y + j[1], max(1.0, w + j[2]), max(1.0, h + j[3])]
                c = b["category_id"] if rng.random() < 0.8 else int(rng.integers(1, K + 2))
            else:
                box = list(rng.uniform(0, 150, 2)) + list(rng.uniform(1, 120, 2))
                c = int(rng.integers(1, K + 2))
            score = float(np.round(rng.random(), 1)) if rng.random() < 0.5 else float(rng.random())
            dets.append({"image_id": im["id"], "category_id": c, "bbox": [float(v) for v in box],
                         "score": score})
    gt = {"images": images, "annotations": anns,
          "categories": [{"id": k, "name": "c%d" % k} for k in range(1, K + 2)]}
    if masks:
        _add_masks(gt, dets, rng)
    return gt, dets


def _add_masks(gt, dets, rng):
    from pycocotools import mask as mask_utils

    size = {im["id"]: (im["height"], im["width"]) for im in gt["images"]}
    for obj in gt["annotations"] + dets:
        h, w = size[obj["image_id"]]
        x, y, bw, bh = (int(round(v)) for v in obj["bbox"])
        m = np.zeros((h, w), dtype=np.uint8, order="F")
        m[y:y + bh, x:x + bw] = rng.random((len(range(h)[y:y + bh]), len(range(w)[x:x + bw]))) < 0.8
        rle = mask_utils.encode(m)
        rle["counts"] = rle["counts"].decode("ascii")
        obj["segmentation"] = rle
        if "score" not in obj:
            obj["area"] = float(mask_utils.area(rle))


def engine_evaluate(gt, dets, use_masks=False, iou=0.5):
    """Runs the engine on COCO dicts, with pycocotools' image and class order."""
    img_index = {i: k for k, i in enumerate(sorted(im["id"] for im in gt["images"]))}
    cats = sorted(gt["categories"], key=lambda c: c["id"])
    cat_index = {c["id"]: k for k, c in enumerate(cats)}
    dets = [d for d in dets if d["category_id"] in cat_index]
    anns = gt["annotations"]
    kwargs = {}
    if use_masks:
        enc = lambda o: {**o["segmentation"], "counts": o["segmentation"]["counts"].encode("ascii")}
        kwargs = dict(pred_masks=[enc(d) for d in dets], gt_masks=[enc(a) for a in anns])
    return detection.evaluate(
        [c["name"] for c in cats],
        [img_index[d["image_id"]] for d in dets], [cat_index[d["category_id"]] for d in dets],
        [d["score"] for d in dets], [d["bbox"] for d in dets],
        [img_index[a["image_id"]] for a in anns], [cat_index[a["category_id"]] for a in anns],
        [a["bbox"] for a in anns], gt_crowd=[bool(a["iscrowd"]) for a in anns],
        gt_area=[a["area"] for a in anns], iou=iou, **kwargs,
    )


def pycocotools_evaluate(gt, dets, iou_type="bbox"):
    """COCOeval after evaluate + accumulate + summarize, output silenced."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(dets))
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev
