"""The typed call with live Sample objects: the same results as FiftyOne's executor
(it skips the executor's reload of every in-memory sample; no timing here, see
benchmarks/bench_sdk_live_samples.py)."""

import pytest

import fiftyone as fo
import fiftyone.operators as foo

from tests.fodata import URI, evaluate_model, label_values, random_dataset

P = dict(pred_field="predictions", gt_field="ground_truth", iou=0.6)


@pytest.fixture
def live():
    source = random_dataset(seed=71, num_samples=30)
    samples = [s.copy() for s in source]
    source.delete()
    ds = fo.Dataset()
    ds.add_samples(samples, progress=False)
    yield ds, samples
    ds.delete()


def test_typed_call_with_live_samples_equals_execute_operator(live):
    ds, samples = live
    ours = evaluate_model(ds, eval_key="ea", **P)
    theirs = foo.execute_operator(URI, dict(view=ds.view(), params=dict(P, eval_key="eb"))).result
    assert {k: v for k, v in ours.items() if k != "eval_key"} == \
        {k: v for k, v in theirs.items() if k != "eval_key"}
    for field in ("predictions", "ground_truth"):
        for suffix in ("", "_id", "_iou", "_error"):
            assert label_values(ds, "%s.detections.ea%s" % (field, suffix)) == \
                label_values(ds, "%s.detections.eb%s" % (field, suffix))
    assert ds.values("ea_tp") == ds.values("eb_tp")
    # the samples the user holds show the new fields
    assert [s["ea_tp"] for s in samples] == ds.values("ea_tp")
    assert [d["ea"] for s in samples for d in s.predictions.detections] == \
        label_values(ds, "predictions.detections.ea")


def test_typed_call_validates_like_execute_operator(live):
    ds, _ = live
    with pytest.raises(Exception) as typed:
        evaluate_model(ds, eval_key="ea", **dict(P, pred_field=None))
    with pytest.raises(Exception) as executor:
        foo.execute_operator(URI, dict(view=ds.view(), params=dict(P, pred_field=None,
                                                                    eval_key="ea")))
    assert str(typed.value) == str(executor.value) and "pred_field" in str(typed.value)
    assert ds.list_evaluations() == []


def test_typed_call_on_a_view_evaluates_the_view(live):
    ds, _ = live
    view = ds.limit(10)
    summary = evaluate_model(view, eval_key="ea", **P)
    assert summary["num_images"] == 10 and ds.count("ea_tp") == 10
