"""The array reader of Classification fields equals ``values()``; samples it cannot
read exactly send evaluate_model to the general path, with the same results."""

import numpy as np
import pytest

import fiftyone as fo

from tests.fodata import evaluate_model
from tests.taskdata import plugin_module
from tests.test_classification_model import CLASSES, classification_dataset


@pytest.fixture
def datasets():
    made = []
    yield made
    for ds in made:
        ds.delete()


def _reference(view, classes):
    """What the reader must return, from ``values()``."""
    sid, gt, gid, pred, pid, conf, logits = view.values(
        ["id", "ground_truth.label", "ground_truth.id", "predictions.label", "predictions.id",
         "predictions.confidence", "predictions.logits"])
    index = {c: i for i, c in enumerate(classes)}
    return dict(sid=sid, gt=[index.get(g, -1) for g in gt], gid=gid,
                pred=[index.get(p, -1) for p in pred], pid=pid, conf=conf, logits=logits)


def _check_equal(arrays, ref):
    assert arrays.sample_id.tolist() == ref["sid"]
    assert arrays.gt.tolist() == ref["gt"] and arrays.pred.tolist() == ref["pred"]
    assert arrays.gt_id.tolist() == ref["gid"] and arrays.pred_id.tolist() == ref["pid"]
    assert arrays.has_confidence.tolist() == [c is not None for c in ref["conf"]]
    assert [c if h else None for c, h in zip(arrays.confidence.tolist(),
                                             arrays.has_confidence)] == ref["conf"]
    assert arrays.has_logits.tolist() == [z is not None for z in ref["logits"]]
    if arrays.logits is not None:
        for row, z in zip(arrays.logits, ref["logits"]):
            if z is not None:
                assert np.array_equal(row, z)


def test_reader_equals_values_on_datasets_and_views(datasets):
    io = plugin_module("operators.classification_io")
    ds = classification_dataset(seed=11, n=3000, missing_gt=0.05, missing_pred=0.05)
    datasets.append(ds)
    sample = ds.exists("predictions").first()
    sample["predictions"].confidence = None  # a prediction without confidence
    sample.save()
    for view in (ds, ds.skip(17).limit(900), ds.match(fo.ViewField("predictions.confidence") > 0.5),
                 ds.sort_by("filepath", reverse=True)):
        arrays = io.read_arrays(view, "predictions", "ground_truth", CLASSES)
        assert arrays is not None
        _check_equal(arrays, _reference(view, CLASSES))
    no_logits = classification_dataset(seed=12, n=500, logits=False)
    datasets.append(no_logits)
    arrays = io.read_arrays(no_logits, "predictions", "ground_truth", CLASSES)
    assert arrays.logits is None and not arrays.has_logits.any()
    _check_equal(arrays, _reference(no_logits, CLASSES))


def test_samples_outside_the_layout_take_the_general_path(datasets):
    io = plugin_module("operators.classification_io")
    ds = classification_dataset(seed=13, n=300)
    datasets.append(ds)
    assert io.read_arrays(ds, "predictions", "ground_truth", CLASSES[:4]) is None  # 'frog'
    sample = ds.exists("predictions").first()
    sample["predictions"].logits = np.arange(5, dtype=np.float32)  # not float64
    sample.save()
    assert io.read_arrays(ds, "predictions", "ground_truth", CLASSES) is None
    sample["predictions"].logits = np.arange(6, dtype=np.float64)  # another length
    sample.save()
    assert io.read_arrays(ds, "predictions", "ground_truth", CLASSES) is None


@pytest.mark.parametrize("logits", [True, False])
def test_general_path_gives_the_same_run(datasets, monkeypatch, logits):
    """The same run through values() (the reader switched off) and through the reader."""
    ds = classification_dataset(seed=14, n=600, logits=logits, missing_gt=0.05)
    datasets.append(ds)
    fast = evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="a",
                          classes=CLASSES, confidence=0.4)
    monkeypatch.setattr(plugin_module("operators.classification_io"), "read_arrays",
                        lambda *args, **kwargs: None)
    general = evaluate_model(ds, pred_field="predictions", gt_field="ground_truth",
                             eval_key="b", classes=CLASSES, confidence=0.4)
    for s in (fast, general):
        s.pop("eval_key")
    assert general == fast
    assert ds.values("a") == ds.values("b")
    assert ds.values("a_error") == ds.values("b_error")
    ours, theirs = ds.load_evaluation_results("a"), ds.load_evaluation_results("b")
    assert ours.ypred.tolist() == theirs.ypred.tolist()
    assert ours.confs.tolist() == theirs.confs.tolist()
    assert ours.ytrue_ids.tolist() == theirs.ytrue_ids.tolist()


def test_one_pass_checks_refuse_like_the_scans(datasets):
    """On a whole dataset the reader's pass also finds values left at the run's
    fields and the samples' sizes: the same refusals, nothing written."""
    ds = classification_dataset(seed=15, n=200)
    datasets.append(ds)
    ds._sample_collection.update_one({}, {"$set": {"ea_error": "left over"}})  # undeclared
    before = list(ds._sample_collection.find())
    with pytest.raises(Exception, match=r"would overwrite existing values that no evaluation "
                                        r"owns: ea_error"):
        evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="ea",
                       classes=CLASSES)
    assert list(ds._sample_collection.find()) == before
    assert "error_atlas_ea" not in ds.list_runs() and not ds.has_evaluation("ea")
    io = plugin_module("operators.classification_io")
    arrays = io.read_arrays(ds, "predictions", "ground_truth", CLASSES, whole_samples=True,
                            value_paths=["ea", "ea_error"])
    sizes = [len(__import__("bson").encode(d)) for d in ds._sample_collection.find()]
    assert arrays.doc_bytes.tolist() == sizes
    assert arrays.holds["ea_error"].sum() == 1 and not arrays.holds["ea"].any()


def test_threaded_decompression_keeps_the_order():
    import zlib

    blobs = [zlib.compress(np.arange(i % 97, dtype=np.float64).tobytes()) for i in range(5001)]
    out = plugin_module("operators.classification_io")._decompress(blobs)
    assert out == [zlib.decompress(b) for b in blobs]
