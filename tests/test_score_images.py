"""score_images ("what if") with the demo's real detector: entry point, FiftyOne Model, folder."""

import base64
import os
import shutil
import sys
import uuid

import cv2
import numpy as np
import pytest

import fiftyone as fo
import fiftyone.core.models as fom
import fiftyone.operators as foo

from tests.conftest import ROOT
from tests.fodata import evaluate_model
from tests.taskdata import plugin_module

sys.path.insert(0, str(ROOT / "demo"))
import scenes  # noqa: E402
from shape_detector import detect  # noqa: E402

URI = "@error-atlas/error-atlas/score_images"
ENTRY = str(ROOT / "demo" / "shape_detector.py") + ":detect"


class ShapeModel(fom.Model):
    """The demo detector as a FiftyOne model (apply_model hands it RGB arrays)."""

    @property
    def media_type(self):
        return "image"

    @property
    def transforms(self):
        return None

    @property
    def preprocess(self):
        return False

    @preprocess.setter
    def preprocess(self, value):
        pass

    @property
    def ragged_batches(self):
        return False

    def predict(self, arg):
        image = np.ascontiguousarray(np.asarray(arg)[:, :, ::-1])
        h, w = image.shape[:2]
        return fo.Detections(detections=[fo.Detection(
            label=d["label"], confidence=d["confidence"],
            bounding_box=[d["bbox"][0] / w, d["bbox"][1] / h, d["bbox"][2] / w, d["bbox"][3] / h])
            for d in detect(image)])

    def predict_all(self, args):
        return [self.predict(a) for a in args]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    ds = scenes.build_dataset(name="ea-whatif-" + uuid.uuid4().hex[:6], num_images=40, seed=21,
                              out_dir=str(tmp_path_factory.mktemp("whatif")))
    evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="eval")
    plugin_module("operators.run_store").save_class_thresholds(
        ds, "eval", {"circle": 0.3, "square": 0.5, "star": 0.9})
    yield ds
    ds.delete()


def _boxes(labels):
    return sorted((d.label, round(d.confidence, 6), tuple(np.round(d.bounding_box, 6)))
                  for d in (labels.detections if labels else []))


def test_entry_point_scores_selected_samples_at_the_runs_thresholds(dataset):
    ids = dataset.limit(6).values("id")
    out = foo.get_operator(URI)(dataset, model=ENTRY, sample_ids=ids, eval_key="eval")
    out = getattr(out, "result", out)
    assert out["num_images"] == 6 and out["thresholds"]["per_class"]["star"] == 0.9
    overall = out["thresholds"]["overall"]
    scored = dataset.select(ids, ordered=True)
    for sample in scored:
        # the same detector on the same file: the demo's stored predictions
        assert _boxes(sample["what_if"]) == _boxes(sample["predictions"])
        limits = {"circle": 0.3, "square": 0.5, "star": 0.9}
        expected = [d for d in sample["what_if"].detections
                    if d.confidence >= limits.get(d.label, overall if overall is not None else 0)]
        assert _boxes(sample["what_if_kept"]) == _boxes(fo.Detections(detections=expected))
        assert all(d["below_threshold"] == (d not in expected)
                   for d in sample["what_if"].detections)
        assert "what_if" in sample.tags
    # never mixed into the evaluated ground truth
    assert dataset.count("ground_truth.detections") == sum(
        len(g.detections) for g in dataset.values("ground_truth"))
    assert len(dataset.match_tags("what_if")) == 6


def test_fiftyone_model_and_a_folder_into_a_separate_dataset(dataset, tmp_path):
    folder = tmp_path / "new"
    folder.mkdir()
    for p in dataset.limit(3).values("filepath"):
        shutil.copy(p, folder)
    before = len(dataset)
    name = "ea-whatif-out-" + uuid.uuid4().hex[:6]
    try:
        out = foo.get_operator(URI)(dataset, model=ShapeModel(), folder=str(folder),
                                    eval_key="eval", target_dataset=name)
        assert len(dataset) == before and out["dataset"] == name
        scored = fo.load_dataset(name)
        assert len(scored) == 3 and scored.count_sample_tags() == {"what_if": 3}
        for path, labels in zip(*scored.values(["filepath", "what_if"])):
            direct = detect(cv2.imread(path, cv2.IMREAD_COLOR))
            assert len(labels.detections) == len(direct)
    finally:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)


def test_bad_models_and_inputs_are_refused_before_any_write(dataset, tmp_path):
    op = foo.get_operator(URI)
    with pytest.raises(Exception, match="could not be loaded"):
        op(dataset, model="no_such_module:fn", sample_ids=dataset.limit(1).values("id"))
    with pytest.raises(Exception, match="holds no image"):
        op(dataset, model=ENTRY, folder=str(tmp_path))
    with pytest.raises(Exception, match="ground-truth field"):
        op(dataset, model=ENTRY, sample_ids=dataset.limit(1).values("id"),
           label_field="ground_truth")
    assert not dataset.has_field("what_if") or len(dataset.match_tags("what_if")) in (0, 6)


def test_the_monitor_what_if_section_scores_the_selection_and_moves_the_threshold(dataset):
    from tests.test_panel_callbacks import PanelClient

    client = PanelClient(dataset, panel="@error-atlas/error-atlas/model_monitor")
    ids = dataset.skip(10).limit(4).values("id")
    dataset.info = dict(dataset.info or {}, error_atlas_default_model=ENTRY)
    dataset.save()
    result = foo.execute_operator(client.panel, ctx=dict(
        view=dataset.view(), selected=ids, params={
            "__method__": "on_what_if", "panel_id": client.panel_id, "panel_state": {}}))
    assert result.error is None, result.error
    requests = result.executor.to_json()["requests"]
    rows = next(r["params"]["data"]["what_if_rows"] for r in requests
                if r["operator_uri"].endswith("patch_panel_data"))
    state = {}
    for r in requests:
        if r["operator_uri"].endswith("patch_panel_state"):
            state.update(r["params"]["state"])
    labels = dataset.select(ids, ordered=True).values("what_if")
    assert len(rows) == sum(max(1, len(x.detections)) for x in labels)
    t = state["what_if_threshold"]
    assert all((r["shown"] == "yes") == (float(r["confidence"]) >= t) for r in rows
               if r["confidence"])
    client.state = state
    client.call("on_what_if_threshold", value=0.0)
    assert all(r["shown"] == "yes" for r in client.data["what_if_rows"] if r["confidence"])
    client.call("on_what_if_row", row=0)
    assert any(r["operator_uri"].endswith("open_sample") for r in client.requests)


def test_the_evaluation_explorer_what_if_section_scores_at_its_runs_thresholds(dataset):
    """The same section in the evaluation explorer: the run shown there sets the
    per-class thresholds the table marks, and the slider re-marks every row."""
    from tests.test_panel_callbacks import PanelClient

    client = PanelClient(dataset, panel="@error-atlas/error-atlas/evaluation_explorer")
    client.call("on_load")
    assert client.state["eval_key"] == "eval"
    ids = dataset.skip(20).limit(3).values("id")
    dataset.info = dict(dataset.info or {}, error_atlas_default_model=ENTRY)
    dataset.save()
    result = foo.execute_operator(client.panel, ctx=dict(
        view=dataset.view(), selected=ids, params={
            "__method__": "on_what_if", "panel_id": client.panel_id,
            "panel_state": client.state}))
    assert result.error is None, result.error
    requests = result.executor.to_json()["requests"]
    for r in requests:
        if r["operator_uri"].endswith("patch_panel_state"):
            client.state.update(r["params"]["state"])
    rows = next(r["params"]["data"]["what_if_rows"] for r in requests
                if r["operator_uri"].endswith("patch_panel_data") and
                "what_if_rows" in r["params"]["data"])
    saved = {"circle": 0.3, "square": 0.5, "star": 0.9}
    assert client.state["what_if_per_class"] == saved
    labels, paths = dataset.select(ids, ordered=True).values(["what_if", "filepath"])
    assert len(rows) == sum(max(1, len(x.detections)) for x in labels)
    scored = [r for r in rows if r["confidence"]]
    assert any(r["label"] in saved for r in scored)
    t = client.state["what_if_threshold"]
    for r in scored:  # the table's Shown column: yes/no and the threshold applied
        limit = saved.get(r["label"], t)
        assert r["shown_at"] == ("yes \u2265 %.2f" % limit if float(r["confidence"]) >= limit
                                 else "no < %.2f" % limit)
    for r in scored:  # a class without a saved threshold falls back to the run's overall one
        assert r["class_threshold"] == ("%.3f" % saved[r["label"]] if r["label"] in saved else "")
    output = next(r["params"]["output"] for r in requests
                  if r["operator_uri"].endswith("show_panel_output"))
    assert "what_if_threshold" in output["type"]["properties"]
    client.data = {}
    for r in requests:
        if r["operator_uri"].endswith("patch_panel_data"):
            client.data.update(r["params"]["data"])
    figures = [client.data["what_if_fig_%d" % i] for i in range(len(ids))]
    _check_figures(figures, labels, client.state["what_if_threshold"], saved, True, paths)
    assert all(("what_if_fig_%d" % i) in output["type"]["properties"] for i in range(len(ids)))
    # slider at 1.01: only the classes with a saved threshold keep theirs
    client.call("on_what_if_threshold", value=1.01)
    for r in client.data["what_if_rows"]:
        if r["confidence"]:
            assert (r["shown"] == "yes") == (r["label"] in saved and
                                             float(r["confidence"]) >= saved[r["label"]])
    _check_figures([client.data["what_if_fig_%d" % i] for i in range(len(ids))], labels, 1.01,
                   saved, True, paths)
    # the run's per-class thresholds off: the slider alone, nothing shown at 1.01
    client.call("on_what_if_class_thresholds", value=False)
    assert all(r["shown"] == "no" for r in client.data["what_if_rows"] if r["confidence"])
    _check_figures([client.data["what_if_fig_%d" % i] for i in range(len(ids))], labels, 1.01,
                   saved, False, paths)
    client.call("on_what_if_threshold", value=0.2)
    low = [client.data["what_if_fig_%d" % i] for i in range(len(ids))]
    _check_figures(low, labels, 0.2, saved, False, paths)
    assert any(t["visible"] is True for f in low for t in f)


def test_an_image_without_predictions_says_so_in_its_figure(dataset, tmp_path):
    """A blank image next to a demo image: its figure holds the image, no
    trace, and "the model found nothing in this image"; the other its boxes."""
    from tests.test_panel_callbacks import PanelClient

    blank = str(tmp_path / "blank.png")
    cv2.imwrite(blank, np.full((200, 300, 3), 128, np.uint8))
    ds = fo.Dataset("ea-whatif-empty-" + uuid.uuid4().hex[:6])
    try:
        ds.add_samples([fo.Sample(filepath=blank), fo.Sample(filepath=dataset.first().filepath)])
        ds.info = {"error_atlas_default_model": ENTRY}
        ds.save()
        client = PanelClient(ds, panel="@error-atlas/error-atlas/model_monitor")
        ids = ds.values("id")
        result = foo.execute_operator(client.panel, ctx=dict(
            view=ds.view(), selected=ids, params={
                "__method__": "on_what_if", "panel_id": client.panel_id, "panel_state": {}}))
        assert result.error is None, result.error
        requests = result.executor.to_json()["requests"]
        data = {}
        for r in requests:
            if r["operator_uri"].endswith("patch_panel_data"):
                data.update(r["params"]["data"])
        props = next(r["params"]["output"] for r in requests
                     if r["operator_uri"].endswith("show_panel_output"))["type"]["properties"]
        empty, full = (props["what_if_fig_%d" % i]["view"]["layout"] for i in (0, 1))
        assert data["what_if_fig_0"] == [] and len(data["what_if_fig_1"]) == len(
            ds.select(ids[1]).first()["what_if"].detections) > 0
        assert empty["annotations"][0]["text"] == "the model found nothing in this image"
        assert "annotations" not in full
        assert empty["images"][0]["source"].startswith("data:image/jpeg;base64,")
        assert (empty["xaxis"]["range"], empty["yaxis"]["range"]) == ([0, 300], [200, 0])
        assert data["what_if_rows"][0]["label"] == "the model found nothing in this image"
    finally:
        ds.delete()


def _check_figures(figures, labels, threshold, per_class, class_thresholds, paths):
    """Each image's figure: one trace per prediction, named "label 0.87", its
    box's outline in the image's pixels, drawn at or above its threshold,
    legend-only below."""
    for traces, x, path in zip(figures, labels, paths):
        height, width = cv2.imread(path).shape[:2]
        dets = sorted(x.detections, key=lambda d: -d.confidence)
        assert len(traces) == len(dets)
        for t, d in zip(traces, dets):
            assert t["name"] == "%s %.2f" % (d.label, d.confidence)
            limit = per_class.get(d.label, threshold) if class_thresholds else threshold
            assert t["visible"] == (True if d.confidence >= limit else "legendonly")
            x0, y0, w, h = d.bounding_box
            assert np.allclose([min(t["x"]) / width, max(t["x"]) / width],
                               [x0, x0 + w], atol=0.002)
            assert np.allclose([min(t["y"]) / height, max(t["y"]) / height],
                               [y0, y0 + h], atol=0.002)


def _form_upload(name, raw, mime="image/png"):
    """What the App's FileView sends for an UploadedFile: base64 content, no data-URL prefix."""
    return {"name": name, "type": mime, "size": len(raw), "last_modified": 1765000000000,
            "content": base64.b64encode(raw).decode()}


def test_an_image_uploaded_through_the_form_is_written_and_scored_as_a_new_sample(
        dataset, tmp_path, monkeypatch):
    monkeypatch.setattr(fo.config, "default_dataset_dir", str(tmp_path))
    source = dataset.skip(30).first()
    raw = open(source.filepath, "rb").read()
    before = len(dataset)
    result = foo.execute_operator(URI, ctx=dict(view=dataset.view(), params={
        "model": ENTRY, "source": "upload", "upload": _form_upload("my photo.png", raw),
        "eval_key": "eval", "label_field": "what_if", "target_dataset": None}))
    assert result.error is None, result.error
    out = result.result
    assert len(dataset) == before + 1 and out["num_images"] == 1
    path = out["images"][0]["filepath"]
    folder = tmp_path / "error_atlas_uploads" / dataset.name
    assert os.path.dirname(path) == str(folder) and path.endswith("_my_photo.png")
    assert open(path, "rb").read() == raw
    sample = dataset[out["images"][0]["id"]]
    assert "what_if" in sample.tags and sample["ground_truth"] is None
    # the demo detector on the uploaded copy finds what it found on the original
    assert _boxes(sample["what_if"]) == _boxes(source["predictions"])
    assert len(sample["what_if_kept"].detections) == out["images"][0]["kept"]


def test_an_upload_that_is_not_an_image_is_refused_and_nothing_is_written(
        dataset, tmp_path, monkeypatch):
    monkeypatch.setattr(fo.config, "default_dataset_dir", str(tmp_path))
    before = len(dataset)
    for upload in (_form_upload("notes.txt", b"hello", "text/plain"),
                   _form_upload("fake.png", b"not really a png"),
                   {"name": "broken.png", "content": "%%% not base64 %%%"}):
        with pytest.raises(Exception, match=r"'%s' is (not an image|not base64)" % upload["name"]):
            foo.execute_operator(URI, ctx=dict(view=dataset.view(), params={
                "model": ENTRY, "source": "upload", "upload": upload, "eval_key": "eval"}))
    assert len(dataset) == before
    assert not (tmp_path / "error_atlas_uploads").exists()
