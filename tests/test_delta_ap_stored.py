"""dAP of a stored (reloaded) evaluation at a realistic size: the stored arrays are
int32, and TIDE's rankings reach past 2^31 above ~33,000 predictions."""

import numpy as np

from plugin import detection


def test_delta_ap_of_a_reloaded_evaluation_of_40000_predictions():
    rng = np.random.default_rng(0)
    images, per_image, classes = 4000, 10, ["a", "b", "c"]
    G = images * 8
    gt_image = np.repeat(np.arange(images), 8)
    gt_box = np.c_[rng.uniform(0, 500, (G, 2)), rng.uniform(10, 100, (G, 2))]
    gt_label = rng.integers(0, 3, G)
    P = images * per_image
    src = rng.integers(0, G, P)  # each prediction jitters an object of its image or not
    pred_image = np.sort(gt_image[src])
    src = np.sort(src)
    pred_box = gt_box[src] + rng.normal(0, 8, (P, 4))
    pred_box[:, 2:] = np.abs(pred_box[:, 2:]) + 1
    pred_label = np.where(rng.random(P) < 0.85, gt_label[src], rng.integers(0, 3, P))
    ev = detection.evaluate(classes, pred_image, pred_label, rng.random(P), pred_box,
                            gt_image, gt_label, gt_box)
    fresh = ev.delta_ap(0.5)
    loaded = detection.Evaluation.from_bytes(ev.to_bytes())
    assert loaded.pred_label.dtype == np.int32  # as stored
    assert loaded.delta_ap(0.5) == fresh
    assert loaded.summary(0.5)["mAP"] == ev.summary(0.5)["mAP"]
