"""What hovering a map point shows (``on_point_hover``), through FiftyOne's operator
machinery, checked against the dataset's labels, the engine and the image on disk."""

import base64
import io
import os

import numpy as np
import pytest
from PIL import Image

from tests import browser
from tests.fodata import evaluate_model, random_dataset
from tests.test_error_map import compute_error_map
from tests.test_vector_explorer import VectorClient, module


@pytest.fixture(scope="module")
def mapped(tmp_path_factory):
    ds = random_dataset(seed=29, num_samples=30)
    browser.write_images(ds, tmp_path_factory.mktemp("hover") / "images")
    evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="eval")
    compute_error_map(ds, eval_key="eval", level="samples", map_key="smap", num_clusters=3)
    compute_error_map(ds, eval_key="eval", level="objects", map_key="omap", num_clusters=3)
    ev = module("operators.detection_run").load_analysis(ds, "eval")
    yield ds, ev
    ds.delete()


def hover(client, trace, i):
    from fiftyone import operators as foo

    result = foo.execute_operator(client.panel, ctx=dict(view=client.dataset.view(), params={
        "__method__": "on_point_hover", "panel_id": client.panel_id, "panel_state": client.state,
        "trace_idx": trace, "idx": i}))
    assert result.error is None, result.error
    out = result.to_json()
    rendered = [r for r in result.executor.to_json()["requests"]
                if r["operator_uri"].endswith("show_panel_output")]
    assert not rendered, "a hover must not re-render the panel"
    return out["result"]


def decoded(url):
    assert url.startswith("data:image/jpeg;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def point_ids(ds, map_key):
    arrays, _ = module("operators.error_map").load_error_map(ds, map_key)
    return arrays


def test_an_object_point_shows_its_class_confidence_error_iou_and_crop(mapped):
    ds, ev = mapped
    client = VectorClient(ds).call("on_load")
    client.call("on_map", value="omap")
    groups = [t["name"].split(" (")[0] for t in client.data["scatter"][:-1]]
    arrays = point_ids(ds, "omap")
    # a localization error: a prediction with an IoU against the object it missed
    t = groups.index("localization")
    out = hover(client, t, 0)
    head, image, what = out["lines"][:3]
    order = module("panels.map_data").groups(arrays, [], "error", ev.classes)
    point = dict((g[0], g[2]) for g in order)["localization"][0]
    label_id = arrays["ids"][point]
    p = int(np.flatnonzero(ev.pred_ids == label_id)[0])
    det = next(d for dets in ds.values("predictions.detections") for d in dets if d.id == label_id)
    assert head == "prediction · %s · confidence %.3f" % (det.label, det.confidence)
    sample = ds[str(ev.image_ids[ev.pred_image[p]])]
    assert image == "image " + os.path.basename(sample.filepath)
    a = ev.assess(0.5, None)
    g = a.pred_target[p]
    hit = (ev.pair_pred == p) & (ev.pair_gt == g)
    assert what == "error: localization · IoU %.2f" % ev.pair_iou[hit][0]
    assert 0.1 <= ev.pair_iou[hit][0] < 0.5
    crop = decoded(out["thumbnail"])
    assert max(crop.size) == 128
    # the crop is the box's shape (with its margins), not the whole 640x480 image
    w, h = det.bounding_box[2] * 640, det.bounding_box[3] * 480
    assert abs(crop.size[0] / crop.size[1] - w / h) < 0.25 * w / h
    # a missed object: ground truth, its class, no confidence
    t = groups.index("missed")
    out = hover(client, t, 0)
    assert out["lines"][0].startswith("ground truth · ") and "confidence" not in out["lines"][0]
    assert out["lines"][2] == "error: missed"


def test_a_sample_point_shows_its_counts_file_and_image(mapped):
    ds, ev = mapped
    client = VectorClient(ds).call("on_load")
    client.call("on_map", value="smap")
    arrays = point_ids(ds, "smap")
    order = module("panels.map_data").groups(arrays, [], "error", ev.classes)
    kept = [g for g in order if len(g[2])]
    out = hover(client, 0, 0)
    sid = arrays["ids"][kept[0][2][0]]
    sample = ds[sid]
    assert out["lines"][0] == "image " + os.path.basename(sample.filepath)
    i = int(np.flatnonzero(ev.image_ids == sid)[0])
    a = ev.assess(0.5, None)
    pe, ge = a.pred_error[ev.pred_image == i], a.gt_error[ev.gt_image == i]
    tp = int((pe == 0).sum())
    fp = int(((pe > 0) & (pe != 6)).sum())
    fn = int(np.isin(ge, [1, 2, 3, 6]).sum())
    assert out["lines"][1] == "TP %d · FP %d · FN %d" % (tp, fp, fn)
    # the same counts FiftyOne's per-sample fields hold at the run's operating point
    assert (tp, fp, fn) == (sample["eval_tp"], sample["eval_fp"], sample["eval_fn"])
    assert decoded(out["thumbnail"]).size == (128, 96)  # the whole 640x480 image


def test_a_point_without_an_image_file_still_shows_its_text(mapped):
    ds, ev = mapped
    client = VectorClient(ds).call("on_load")
    client.call("on_map", value="smap")
    out = hover(client, 0, 0)
    hovered = [s for s in ds if os.path.basename(s.filepath) == out["lines"][0][6:]][0]
    moved = hovered.filepath + ".moved"
    os.rename(hovered.filepath, moved)
    try:
        again = hover(client, 0, 0)
    finally:
        os.rename(moved, hovered.filepath)
    assert again["thumbnail"] is None and again["lines"] == out["lines"]


def test_out_of_range_points_answer_nothing(mapped):
    ds, _ = mapped
    client = VectorClient(ds).call("on_load")
    assert hover(client, 99, 0) is None
    assert hover(client, 0, 10 ** 6) is None


def test_switching_maps_while_the_other_maps_selection_is_shown(mapped):
    """A cluster chosen on the objects map sets the App's view; choosing the samples
    map then highlights that view's images, not the objects map's point indices
    (which once raised "index 60 is out of bounds" in the App)."""
    ds, _ = mapped
    client = VectorClient(ds).call("on_load")
    assert client.state["map_key"] == "omap"
    client.call("on_cluster_row", row=0)
    view = client.view()
    images = set(view.values("sample_id" if view._is_patches else "id"))  # not its patches
    client.call("on_map", value="smap", view=view)
    assert client.highlight()["name"] == "in view (%d)" % len(images)
    assert len(client.highlight()["x"]) == len(images)
