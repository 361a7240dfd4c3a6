"""Real photographs and a real detector's output (skipped where ../shared/data is absent)."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest

import fiftyone as fo

from tests.cocodata import pycocotools_evaluate
from tests.fodata import evaluate_model, label_values
from tests.test_evaluate_model import assert_same_as_fiftyone


def load_voc100(root):
    """PASCAL VOC XML ground truth + ``class conf x y w h`` prediction files."""
    names = (root / "voc.names").read_text().split()
    samples = []
    for xml in sorted((root / "ground_truth").glob("*.xml")):
        tree = ET.parse(xml).getroot()
        w = float(tree.find("size/width").text)
        h = float(tree.find("size/height").text)
        gts = []
        for obj in tree.findall("object"):
            b = [float(obj.find("bndbox/" + k).text) for k in ("xmin", "ymin", "xmax", "ymax")]
            gts.append(fo.Detection(label=obj.find("name").text,
                                    bounding_box=[b[0] / w, b[1] / h, (b[2] - b[0]) / w, (b[3] - b[1]) / h],
                                    difficult=obj.find("difficult").text == "1"))
        preds = []
        pred_file = root / "predictions" / (xml.stem + ".txt")
        if pred_file.exists():
            for line in pred_file.read_text().split("\n"):
                if line.strip():
                    c, conf, x, y, bw, bh = line.split()
                    preds.append(fo.Detection(label=names[int(c)], confidence=float(conf),
                                              bounding_box=[float(x) / w, float(y) / h, float(bw) / w, float(bh) / h]))
        samples.append(fo.Sample(filepath=str(root / "images" / (xml.stem + ".jpg")),
                                 metadata=fo.ImageMetadata(width=int(w), height=int(h)),
                                 ground_truth=fo.Detections(detections=gts),
                                 predictions=fo.Detections(detections=preds)))
    dataset = fo.Dataset()
    dataset.add_samples(samples, progress=False)
    return dataset


def pycocotools_map(dataset):
    """pycocotools on the same boxes, ``difficult`` as crowd."""
    classes = sorted(set(dataset.distinct("ground_truth.detections.label"))
                     | set(dataset.distinct("predictions.detections.label")))
    cat = {c: i + 1 for i, c in enumerate(classes)}
    images, anns, dets = [], [], []
    for i, s in enumerate(dataset.iter_samples(), start=1):
        w, h = s.metadata.width, s.metadata.height
        images.append({"id": i, "width": w, "height": h})
        px = lambda b: [b[0] * w, b[1] * h, b[2] * w, b[3] * h]
        for d in s.ground_truth.detections:
            box = px(d.bounding_box)
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": cat[d.label],
                         "bbox": box, "area": box[2] * box[3], "iscrowd": int(d.difficult)})
        for d in s.predictions.detections:
            dets.append({"image_id": i, "category_id": cat[d.label], "bbox": px(d.bounding_box),
                         "score": d.confidence})
    gt = {"images": images, "annotations": anns,
          "categories": [{"id": v, "name": k} for k, v in cat.items()]}
    return pycocotools_evaluate(gt, dets).stats[0]


@pytest.fixture(scope="module")
def voc100(shared_data):
    return load_voc100(shared_data / "voc100")


@pytest.mark.parametrize("iou", [0.5, 0.75])
def test_voc100_agrees_with_fiftyone_per_label(voc100, iou):
    key = "ea%d" % int(iou * 100)
    summary = evaluate_model(voc100, pred_field="predictions", gt_field="ground_truth",
                             eval_key=key, iou=iou, iscrowd="difficult")
    theirs = voc100.evaluate_detections("predictions", gt_field="ground_truth", eval_key="fo",
                                        iou=iou, iscrowd="difficult", compute_mAP=True,
                                        progress=False)
    assert_same_as_fiftyone(voc100, ours=key, theirs="fo")
    assert summary["mAP"] == pytest.approx(pycocotools_map(voc100), abs=1e-6)
    # FiftyOne's own mAP breaks confidence ties differently from pycocotools
    assert summary["mAP"] == pytest.approx(theirs.mAP(), abs=1e-4)
    assert summary["num_gt"] == 273 - 38 and summary["num_pred"] == 452
    voc100.delete_evaluation("fo")


def test_voc100_error_types_cover_every_prediction(voc100):
    summary = evaluate_model(voc100, pred_field="predictions", gt_field="ground_truth",
                             eval_key="errs", iscrowd="difficult")
    errors = label_values(voc100, "predictions.detections.errs_error")
    counts = {k: errors.count(k) for k in set(errors)}
    matched_difficult = counts.pop(None, 0)
    assert sum(counts.values()) + matched_difficult == 452
    assert counts == {k: v for k, v in summary["error_counts"].items() if v and k != "missed"}
    assert counts.get("correct", 0) == summary["tp"]  # matches to "difficult" are ignored
    assert np.isclose(summary["precision"], summary["tp"] / (summary["tp"] + summary["fp"]))
