"""The evaluation explorer on classification and semantic segmentation runs, through
FiftyOne's operator machinery (what the App calls), checked against the engines
(plugin/classification.py, plugin/segmentation.py) on real FiftyOne datasets."""

import json

import numpy as np
import pytest

from tests.fodata import evaluate_model
from tests.taskdata import (classification_dataset, evaluate_segmentation, plugin_module,
                            segmentation_dataset)
from tests.test_panel_callbacks import PanelClient

STEPS = range(0, 101, 7)  # slider steps checked (every 7th of 0.00..1.00)


def steps(client):
    return client.data[client.shown["op_key"]]["ious"]["i50"]


def engine_of(ds, key):
    return plugin_module("panels.runs").load(ds, key)[0]


def notified(client):
    return [r["params"]["message"] for r in client.requests if r["operator_uri"].endswith("notify")]


def rendered(client):
    """The panel's rendered schema (the App's show_panel_output), as text."""
    return json.dumps([r["params"] for r in client.requests
                       if r["operator_uri"].endswith("show_panel_output")], default=str)


@pytest.fixture(scope="module")
def classified():
    ds = classification_dataset(seed=3)
    evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="cls")
    ds.evaluate_classifications("predictions", gt_field="ground_truth", eval_key="theirs")
    yield ds, engine_of(ds, "cls")
    ds.delete()


@pytest.fixture(scope="module")
def segmented():
    ds = segmentation_dataset(seed=5)
    evaluate_segmentation(ds, "seg")
    yield ds, engine_of(ds, "seg")
    ds.delete()


# -- classification ---------------------------------------------------------------------

def test_a_classification_run_is_listed_and_shown_at_its_optimal_threshold(classified):
    ds, ev = classified
    client = PanelClient(ds, "c_load").call("on_load")
    # FiftyOne's own classification run has no Error Atlas analysis: not listed
    assert client.state["eval_key"] == "cls" and client.state["runs"] == ["cls"]
    assert client.shown["task"] == "classification"
    best = ev.sweeps()[0].optimal()["confidence"]
    assert client.shown["choices"]["confidence"] == pytest.approx(best)
    s = ev.summary(best)
    summary = client.shown["current"]["sections"]["summary"]
    assert "| %.3f | %.3f | %.3f |" % (s["accuracy"], s["balanced_accuracy"], s["macro_f1"]) in summary
    assert "| %.3f | %.3f | %.3f | %.3f |" % (s["precision"], s["recall"], s["f1"],
                                              s["coverage"]) in summary
    counts = s["error_counts"]
    assert "| %d | %d | %d |" % (counts["correct"] + counts["low_margin"],
                                 counts["confused"] + counts["label_suspect"],
                                 counts["abstained"]) in summary
    assert "the optimal threshold" in summary
    # no IoU for classification; the slider is there
    shown = rendered(client)
    assert '"iou_choices": []' in shown and '"no_slider": false' in shown


def test_every_classification_step_is_the_engine_s(classified):
    ds, ev = classified
    client = PanelClient(ds, "c_steps").call("on_load")
    data = steps(client)
    names = data["classes"]["x"]
    idx = [ev.classes.index(c) for c in names]
    cols = data["confusion"]["trace"]["x"]
    assert cols[-1] == "Below threshold"
    rows = [ev.classes.index(c) for c in data["confusion"]["trace"]["y"]]
    for j in STEPS:
        c = data["thresholds"][j]
        a = ev.assess(c)
        conf = a.confusion
        assert np.array_equal(data["confusion"]["grid"][j], conf[np.ix_(rows, rows + [ev.num_classes])])
        counts = a.error_counts()
        assert data["sections"]["errors"]["grid"][j] == [counts[n] for n in
                                                         data["sections"]["errors"]["trace"]["x"]]
        tp = np.diag(conf[:, :ev.num_classes])
        bars = data["classes"]["grid"][j]
        assert bars[0] == tp[idx].tolist()
        assert bars[2] == conf[idx, ev.num_classes].tolist()
        per_class = {r["class"]: r for r in ev.per_class(c)}
        for name, moving in zip(names, data["sections"]["table"]["grid"][j]):
            assert moving[:3] == pytest.approx([per_class[name][k] for k in ("precision", "recall", "f1")],
                                               abs=1e-4)
            assert moving[3] == pytest.approx(per_class[name]["coverage"], abs=1e-4)
        s = ev.summary(c)
        assert data["points"]["grid"][j][:3] == [s["tp"], s["fp"], ev.gt_label.size - s["tp"]]
        assert "coverage %.3f" % s["coverage"] in data["points"]["text"][j]


def test_a_released_slider_shows_the_step_s_sections(classified):
    ds, ev = classified
    client = PanelClient(ds, "c_slide").call("on_load")
    data = steps(client)
    client.call("on_confidence", value=0.63)
    current = client.shown["current"]
    j = 63
    assert current["sections"]["summary"] == data["sections"]["summary"][j]
    assert current["z"] == data["confusion"]["grid"][j]
    assert "the slider's threshold" in current["sections"]["summary"]
    client.call("on_back_to_optimal")
    assert client.shown["choices"]["confidence"] == pytest.approx(ev.sweeps()[0].optimal()["confidence"])


@pytest.mark.parametrize("pred", ["cat", "Below threshold"])
def test_a_confusion_cell_opens_exactly_its_images(classified, pred):
    ds, ev = classified
    client = PanelClient(ds, "c_cell").call("on_load")
    conf = client.shown["choices"]["confidence"]
    client.call("on_cell_click", x=pred, y="dog")
    view = client.view()
    p = ev.num_classes if pred == "Below threshold" else ev.classes.index(pred)
    want = set(ev.sample_ids[ev.members(ev.classes.index("dog"), p, conf)])
    assert want and set(view.values("id")) == want
    z = client.shown["current"]["z"]
    rows = client.data[client.shown["op_key"]]["ious"]["i50"]["confusion"]["trace"]["y"]
    cols = client.data[client.shown["op_key"]]["ious"]["i50"]["confusion"]["trace"]["x"]
    assert z[rows.index("dog")][cols.index(pred)] == len(view)  # the count shown in the cell
    assert notified(client) == ["Showing %d images of 'dog' %s" % (len(view), (
        "below the threshold" if pred == "Below threshold" else "predicted 'cat'"))]


def test_error_examples_switch_by_confusion_and_tag_exactly_them(classified):
    ds, ev = classified
    client = PanelClient(ds, "c_examples").call("on_load")
    conf = client.shown["choices"]["confidence"]
    a = ev.assess(conf)
    dog = ev.classes.index("dog")
    client.change(example_class="dog", example_kind="any class")
    client.call("on_show_examples")
    wrong = (ev.gt_label == dog) & (a.predicted != dog) & (a.predicted < ev.num_classes)
    assert set(client.view().values("id")) == set(ev.sample_ids[wrong])
    client.change(example_kind="cat")
    client.call("on_show_examples")
    cat = set(ev.sample_ids[ev.members(dog, ev.classes.index("cat"), conf)])
    assert set(client.view().values("id")) == cat
    client.call("on_tag_examples")
    tagged = ds.match_labels(tags="needs_review", fields="ground_truth").values("id")
    assert set(tagged) == cat
    assert "**%d images**" % len(cat) in client.shown["notice"]["examples"]
    ds.untag_labels("needs_review", label_fields="ground_truth")


def test_error_types_recommendations_and_static_sections(classified):
    ds, ev = classified
    client = PanelClient(ds, "c_recs").call("on_load")
    conf = client.shown["choices"]["confidence"]
    a = ev.assess(conf)
    client.call("on_error_click", x="abstained")
    assert set(client.view().values("id")) == set(ev.sample_ids[a.error == 2])
    recs = client.shown["current"]["sections"]["recommendations"]
    rules = {r["rule"]: r for r in recs}
    assert "confused_pair" in rules and "overconfident" in rules
    client.call("on_recommendation", show=rules["confused_pair"]["show"])
    t, p = rules["confused_pair"]["show"]["cell"]
    assert set(client.view().values("id")) == set(ev.sample_ids[ev.members(t, p, conf)])
    client.call("on_recommendation", show=rules["overconfident"]["show"])
    assert len(client.view()) > 0
    extras = {e["name"]: e for e in steps(client)["extras"]}
    cal = ev.calibration()
    assert "ECE %.3f" % cal["ece"] in extras["reliability"]["layout"]["title"]["text"]
    bars = extras["reliability"]["traces"][0]
    assert bars["customdata"] == cal["count"]
    top = ev.top_k()
    assert extras["top_k"]["md"].splitlines()[-1] == "| Accuracy | %s |" % " | ".join(
        "%.3f" % v for v in top.values())
    assert len(extras["roc"]["traces"]) == ev.num_classes + 1  # every class and chance
    client.call("on_save_thresholds")
    saved = ds.load_run_results("error_atlas_cls", cache=False).class_thresholds
    assert saved == ev.optimal_thresholds()["per_class"]


# -- segmentation ---------------------------------------------------------------------

def test_a_segmentation_run_shows_miou_and_every_step_is_the_engine_s(segmented):
    ds, ev = segmented
    client = PanelClient(ds, "s_load").call("on_load")
    assert client.shown["task"] == "segmentation"
    best = ev.optimal_thresholds()["overall"]
    assert client.shown["choices"]["confidence"] == pytest.approx(best)
    m = ev.metrics(best)
    assert "| %.3f | %.3f |" % (m["miou"], m["pixel_accuracy"]) in \
        client.shown["current"]["sections"]["summary"]
    data = steps(client)
    names = data["classes"]["x"]
    rows = [ev.classes.index(c) for c in data["confusion"]["trace"]["y"]]
    for j in STEPS:
        c = data["thresholds"][j]
        conf = ev.confusion_at(c)
        assert np.array_equal(data["confusion"]["grid"][j], conf[np.ix_(rows, rows + [ev.num_classes])])
        mj = ev.metrics(c)
        assert data["classes"]["grid"][j][0] == pytest.approx(
            [mj["iou"][ev.classes.index(n)] for n in names], abs=1e-4)
        for name, moving in zip(names, data["sections"]["table"]["grid"][j]):
            k = ev.classes.index(name)
            assert moving == pytest.approx([mj[key][k] for key in ("iou", "precision", "recall", "f1")],
                                           abs=1e-4)
    table = data["sections"]["table"]["rows"]
    assert [r["optimal_threshold"] for r in table] == [ev.optimal_thresholds()["per_class"][n] for n in names]


def test_a_pixel_cell_opens_its_images_at_the_threshold_most_pixels_first(segmented):
    ds, ev = segmented
    client = PanelClient(ds, "s_cell").call("on_load")
    client.call("on_confidence", value=0.3)
    data = steps(client)
    trace = data["confusion"]["trace"]
    i, j = trace["y"].index("road"), trace["x"].index("car")
    client.call("on_cell_click", x="car", y="road")
    images, counts = ev.cell_images(ev.classes.index("road"), ev.classes.index("car"), 0.3)
    ids = ds.values("id")
    assert client.view().values("id") == [ids[k] for k in images]  # in the order of their pixels
    assert np.all(np.diff(counts) <= 0)
    # the count printed in the cell, at the slider's step and now
    assert data["confusion"]["text"][30][i][j] == client.shown["current"]["ztext"][i][j] \
        == len(images) == len(client.view()) > 0
    field = [f for f in ds.get_field_schema() if f.endswith("_cell_pixels")]
    assert len(field) == 1  # the cell's pixels on each of its images, the others None
    cell = ds.values(field[0])
    assert [cell[k] for k in images] == counts.tolist()
    assert sum(v is not None for v in cell) == len(images)
    assert client.view().sort_by(field[0], reverse=True).values(field[0]) == counts.tolist()
    client.call("on_cell_click", x="Unlabeled", y="car")
    below, pixels = ev.cell_images(ev.classes.index("car"), ev.num_classes, 0.3)
    assert client.view().values("id") == [ids[k] for k in below]
    cell = ds.values(field[0])
    assert [cell[k] for k in below] == pixels.tolist()
    assert sum(v is not None for v in cell) == len(below)
    assert len(below) == data["confusion"]["text"][30][trace["y"].index("car")][-1]


def test_cell_images_at_any_threshold_equal_the_masks():
    """The engine's per-cell images at a threshold (from each row's lowest and
    highest confidence bin) against the masks themselves."""
    seg = plugin_module("plugin.segmentation")
    rng = np.random.default_rng(0)
    K, counted, masks = 4, [], []
    for _ in range(12):
        gt = rng.integers(0, K, (20, 24)).astype(np.int16)
        pred = gt.copy()
        wrong = rng.random(gt.shape) < 0.3
        pred[wrong] = rng.integers(-1, K, int(wrong.sum()))
        conf = rng.random(gt.shape)
        counted.append(seg.measure_image(gt, pred, K, conf))
        masks.append((gt, pred, seg.confidence_bins(conf)))
    ev = seg.pool(list("abcd"), counted)
    thresholds = np.arange(101) / 100
    every = ev.cell_image_counts(thresholds)
    for k in (0, 13, 50, 77, 100):
        want = np.zeros((K, K + 1), int)
        for gt, pred, bins in masks:
            held = np.zeros((K, K + 1), bool)
            held[gt.ravel(), np.where((pred >= 0) & (bins >= k), pred, K).ravel()] = True
            want += held
        assert (every[k] == want).all()
        for t in range(K):
            for p in range(K + 1):
                assert len(ev.cell_images(t, p, thresholds[k])[0]) == want[t, p]


def test_worst_images_per_class_and_recommendations(segmented):
    ds, ev = segmented
    client = PanelClient(ds, "s_worst").call("on_load")
    client.change(example_class="person")
    client.call("on_show_examples")
    shown = client.view().values("id")
    ids = ds.values("id")
    k = ev.classes.index("person")
    conf = ev.image_confusions()
    tp, gt, pr = conf[:, k, k], conf[:, k].sum(axis=1), conf[:, :, k].sum(axis=1)
    iou = {ids[n]: tp[n] / (gt[n] + pr[n] - tp[n]) for n in range(len(ids)) if gt[n] + pr[n] > 0}
    assert shown and set(shown) == {i for i, v in iou.items() if v < 1}
    assert [iou[i] for i in shown] == sorted(iou[i] for i in shown)
    client.call("on_tag_examples")
    assert set(ds.match_labels(tags="needs_review", fields="ground_truth").values("id")) == set(shown)
    rules = {r["rule"] for r in client.shown["current"]["sections"]["recommendations"]}
    assert "small_eval_set" in rules  # 16 images
    client.call("on_error_click", x="boundary")
    kinds = ds.values("seg_error")
    assert set(client.view().values("id")) == {i for i, kd in zip(ids, kinds) if kd == "boundary"}


def test_a_run_without_confidence_has_no_slider():
    ds = segmentation_dataset(seed=6, n=6, confidence=False)
    try:
        evaluate_segmentation(ds, "plain", confidence=False)
        client = PanelClient(ds, "s_plain").call("on_load")
        assert client.shown["choices"]["confidence"] == 0.0
        assert len(steps(client)["thresholds"]) == 1
        assert '"no_slider": true' in rendered(client)
        assert "Every predicted pixel counts" in client.shown["current"]["sections"]["summary"]
    finally:
        ds.delete()
