"""FiftyOne's evaluation results are saved byte for byte as FiftyOne saves
them, through the standard library's JSON encoder when that is possible."""

import bson.json_util as json_util
import numpy as np
import pytest
from bson import ObjectId

import fiftyone.core.evaluation as foe

from tests.fodata import evaluate_model, random_dataset
from tests.taskdata import (classification_dataset, evaluate_segmentation, plugin_module,
                            segmentation_dataset)


def _stored_bytes(dataset, key):
    return foe.EvaluationMethod._get_run_doc(dataset, key).results.read()


def _run(task, dataset):
    if task == "detection":
        evaluate_model(dataset, pred_field="predictions", gt_field="ground_truth", eval_key="ev")
    elif task == "classification":
        evaluate_model(dataset, pred_field="predictions", gt_field="ground_truth", eval_key="ev")
    else:
        evaluate_segmentation(dataset, eval_key="ev")


@pytest.mark.parametrize("task,make", [("detection", lambda: random_dataset(seed=3)),
                                       ("classification", classification_dataset),
                                       ("segmentation", segmentation_dataset)])
def test_stored_results_are_fiftyones_bytes_and_load(task, make):
    ds = make()
    try:
        _run(task, ds)
        saved = ds.load_evaluation_results("ev")  # the object the run saved (cached)
        assert _stored_bytes(ds, "ev") == json_util.dumps(saved.serialize()).encode()
        fresh = ds.load_evaluation_results("ev", cache=False)
        assert type(fresh) is type(saved) and len(fresh.ytrue) > 0
        assert list(fresh.ytrue) == list(saved.ytrue) and list(fresh.ypred) == list(saved.ypred)
    finally:
        ds.delete()


def test_results_with_bson_or_numpy_values_go_through_fiftyone():
    run_store = plugin_module("operators.run_store")
    assert run_store._json_native({"a": [1, 2.5, "x", None, True], "b": [[1, 2], [3]]})
    assert not run_store._json_native({"a": [1, np.int64(2)]})
    assert not run_store._json_native({"a": [ObjectId()]})
    assert not run_store._json_native({1: "key not a string"})


    from collections import OrderedDict
    assert run_store._json_native(OrderedDict(cls="x", ytrue=["a", "b"]))
