"""The demo job: generated scenes, a real detector, evaluated through the SDK."""

import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "demo"))
import run_demo  # noqa: E402
import scenes  # noqa: E402


def test_demo_data_is_deterministic_and_has_real_errors(tmp_path):
    a = scenes.build_dataset(name="demo-a", num_images=16, seed=7,
                             out_dir=str(tmp_path / "a"), overwrite=True)
    b = scenes.build_dataset(name="demo-b", num_images=16, seed=7,
                             out_dir=str(tmp_path / "b"), overwrite=True)
    assert a.values("predictions.detections.bounding_box") == b.values(
        "predictions.detections.bounding_box")
    assert a.count("ground_truth.detections") > 16
    assert a.count("predictions.detections") > 0
    assert set(a.get_field_schema()) >= {"ground_truth", "predictions", "metadata"}
    a.delete()
    b.delete()


def test_run_demo_without_app_prints_the_report(capsys):
    run_demo.main(["--num-images", "12", "--no-app", "--name", "demo-test", "--seed", "3"])
    out = capsys.readouterr().out
    assert "mAP@[.50:.95]" in out and "optimal confidence threshold" in out
    assert "error types:" in out


@pytest.mark.parametrize("masks", [True])
def test_demo_with_instance_masks(capsys, masks):
    run_demo.main(["--num-images", "8", "--no-app", "--masks", "--name", "demo-masks", "--seed", "4"])
    assert "instance masks" in capsys.readouterr().out
