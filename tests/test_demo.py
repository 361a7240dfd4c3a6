"""The demo job: generated scenes, a real detector, evaluated through the SDK."""

import sys
import uuid

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "demo"))
import run_demo  # noqa: E402
import scenes  # noqa: E402

RUN = uuid.uuid4().hex[:8]  # this test run's dataset names: runs may share a database


def test_demo_data_is_deterministic_and_has_real_errors(tmp_path):
    a = scenes.build_dataset(name="demo-a-" + RUN, num_images=16, seed=7,
                             out_dir=str(tmp_path / "a"), overwrite=True)
    b = scenes.build_dataset(name="demo-b-" + RUN, num_images=16, seed=7,
                             out_dir=str(tmp_path / "b"), overwrite=True)
    assert a.values("predictions.detections.bounding_box") == b.values(
        "predictions.detections.bounding_box")
    assert a.count("ground_truth.detections") > 16
    assert a.count("predictions.detections") > 0
    assert set(a.get_field_schema()) >= {"ground_truth", "predictions", "metadata"}
    a.delete()
    b.delete()


def test_run_demo_without_app_prints_the_report(capsys):
    run_demo.main(["--num-images", "12", "--no-app", "--name", "demo-test-" + RUN, "--seed", "3"])
    out = capsys.readouterr().out
    assert "mAP@[.50:.95]" in out and "optimal confidence threshold" in out
    assert "error types:" in out
    # the whole pipeline: the run and an error map at each level, complete
    import fiftyone as fo

    dataset = fo.load_dataset("demo-test-" + RUN)
    try:
        assert dataset.has_evaluation("eval")
        for level, key in run_demo.MAP_KEYS.items():
            config = dataset.get_run_info("error_map_" + key).config
            assert config.complete and config.level == level and config.eval_key == "eval"
            assert key in dataset.list_brain_runs()
            assert "Error map '%s' (%s)" % (key, level) in out
    finally:
        dataset.delete()


def test_demo_spaces_render_both_panels_on_load():
    """fo.Space renders only its active_child: every column names one."""
    spaces = run_demo.app_spaces()
    columns = spaces.children
    assert [c.active_child for c in columns] == [c.children[0].component_id for c in columns]
    assert [c.children[0].type for c in columns] == ["Samples", "evaluation_explorer",
                                                      "vector_explorer"]


@pytest.mark.parametrize("masks", [True])
def test_demo_with_instance_masks(capsys, masks):
    run_demo.main(["--num-images", "8", "--no-app", "--masks", "--name", "demo-masks-" + RUN,
                   "--seed", "4"])
    assert "instance masks" in capsys.readouterr().out
