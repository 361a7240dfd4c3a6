"""The demo's classification and segmentation tasks: built offline, evaluated and mapped."""

import sys
import uuid

import numpy as np

import fiftyone as fo

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "demo"))
import digits  # noqa: E402
import run_demo  # noqa: E402

RUN = uuid.uuid4().hex[:8]  # this test run's dataset names: runs may share a database


def test_digits_are_real_scans_and_the_hidden_conditions_make_the_classifier_fail(tmp_path):
    dataset = digits.build_dataset(name="demo-digits-data-" + RUN, seed=51, out_dir=str(tmp_path))
    try:
        assert len(dataset) == 719  # the held-out 40% of scikit-learn's 1,797 scans
        assert dataset.default_classes == digits.CLASSES
        truth, pred, logits = dataset.values(["ground_truth.label", "predictions.label",
                                              "predictions.logits"])
        assert all(len(z) == 10 for z in logits)
        wrong = np.array([t != p for t, p in zip(truth, pred)])
        hidden = digits.conditions(len(dataset), 51)
        clean = wrong[hidden == "none"].mean()
        assert clean < 0.08  # a real classifier: right on clean scans
        for condition in digits.CONDITIONS:  # and it fails more under each condition
            assert wrong[hidden == condition].mean() > 2 * clean, condition
        assert "condition" not in dataset.get_field_schema()  # hidden: not on the samples
    finally:
        dataset.delete()


def test_run_demo_classification_without_app(capsys):
    run_demo.main(["--task", "classification", "--num-images", "60", "--no-app",
                   "--name", "demo-test-cls-" + RUN])
    out = capsys.readouterr().out
    assert "accuracy" in out and "top-1" in out and "error types:" in out
    dataset = fo.load_dataset("demo-test-cls-" + RUN)
    try:
        assert len(dataset) == 60 and dataset.has_evaluation("eval")
        config = dataset.get_run_info("error_map_samples_map").config
        assert config.complete and config.level == "samples"
        assert "error_map_objects_map" not in dataset.list_runs()
        assert "Error map 'samples_map' (samples): 60 points" in out
    finally:
        dataset.delete()


def test_run_demo_segmentation_without_app(capsys):
    run_demo.main(["--task", "segmentation", "--num-images", "12", "--no-app",
                   "--name", "demo-test-seg-" + RUN, "--seed", "5"])
    out = capsys.readouterr().out
    assert "mIoU" in out and "IoU per class" in out
    dataset = fo.load_dataset("demo-test-seg-" + RUN)
    try:
        assert dataset.has_evaluation("eval") and dataset.count("eval_miou") == 12
        assert dataset.get_run_info("error_map_samples_map").config.complete
        assert "Error map 'samples_map' (samples): 12 points" in out
    finally:
        dataset.delete()


def test_default_demo_is_detection():
    args = run_demo.parse_args([])
    assert (args.task, args.name, args.num_images) == ("detection", "error-atlas-demo", None)
    assert run_demo.parse_args(["--task", "segmentation"]).name == "error-atlas-demo-segmentation"
