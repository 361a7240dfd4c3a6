"""Drift and the expected error rate on the demo's real scenes and detector.

An evaluated set with a samples error map; production images of the demo's
three cameras (one fading, one blurring, one unchanged); a labelled hold-out
evaluated by evaluate_model (FiftyOne's own matching) gives the true error rate
the placement's expected error rate is compared with.
"""

import sys
import uuid
from datetime import datetime

import numpy as np
import pytest

import fiftyone as fo
import fiftyone.operators as foo
from fiftyone import ViewField as F

from tests.conftest import ROOT
from tests.fodata import evaluate_model
from tests.taskdata import plugin_module
from tests.test_error_map import compute_error_map

sys.path.insert(0, str(ROOT / "demo"))
import production  # noqa: E402
import scenes  # noqa: E402

END = datetime(2026, 3, 2)
#: |expected - true| error rate of a labelled hold-out, in absolute points (see README).
TOLERANCE = 0.08


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tag = uuid.uuid4().hex[:6]
    tmp = tmp_path_factory.mktemp("monitor")
    ev = scenes.build_dataset(name="ea-mon-eval-" + tag, num_images=240, seed=11,
                              out_dir=str(tmp / "eval"))
    evaluate_model(ev, pred_field="predictions", gt_field="ground_truth", eval_key="eval")
    compute_error_map(ev, eval_key="eval", level="samples", map_key="smap")
    prod = production.build_production(name="ea-mon-prod-" + tag, num_images=480, seed=12,
                                       out_dir=str(tmp / "prod"), end=END)
    plugin_module("operators.monitoring").save_settings(prod, eval_dataset=ev.name, map_key="smap")
    yield ev, prod, tmp
    for ds in (ev, prod):
        ds.delete()


def _camera_period(prod, camera, weeks):
    mon = plugin_module("operators.monitoring")
    settings = mon.load_settings(prod)
    view = prod.match((F("camera") == camera))
    stamps = prod.bounds("timestamp")
    start = stamps[0] + (stamps[1] - stamps[0]) * weeks[0] / production.WEEKS
    end = stamps[0] + (stamps[1] - stamps[0]) * weeks[1] / production.WEEKS
    return mon.in_range(view, settings, start, end)


def test_drift_finds_the_fading_camera_and_not_the_control(world):
    ev, prod, _ = world
    drift = plugin_module("operators.monitor_map").drift
    faded = drift(_camera_period(prod, "north", (5, 8)), ev, "smap")
    control = drift(_camera_period(prod, "east", (5, 8)), ev, "smap")
    print(faded, control)
    assert faded["p_value"] < 0.01, faded
    assert control["p_value"] > 0.05, control
    names = [f["feature"] for f in faded["features"][:3]]
    assert {"brightness", "highlights", "dark_fraction", "mean_r", "mean_g", "mean_b"} & set(names)
    light = next(f for f in faded["features"] if f["feature"] in ("brightness", "highlights",
                                                                   "mean_r", "mean_g", "mean_b"))
    assert light["shift"] < 0  # darker


def test_monitor_drift_operator_places_the_period_on_the_map(world):
    ev, prod, _ = world
    out = foo.get_operator("@error-atlas/error-atlas/monitor_drift")(
        prod, eval_dataset=ev.name, map_key="smap", period="week")
    out = getattr(out, "result", out)
    week = prod.match(F("timestamp") >= datetime.fromisoformat(out["start"]))
    assert out["placement"]["n_period"] == len(week) == out["drift"]["n_period"]
    assert week.count("smap_placed_cluster") == len(week)
    assert 0 <= out["placement"]["expected_error_rate"] <= 1
    shares = [c["period_share"] for c in out["placement"]["clusters"]]
    assert sum(shares) == pytest.approx(1.0)


def test_expected_error_rate_is_within_tolerance_of_a_labelled_hold_out(world, tmp_path):
    ev, _, _ = world
    hold = production.build_production(name="ea-mon-hold-" + uuid.uuid4().hex[:6],
                                       num_images=240, seed=13, out_dir=str(tmp_path / "hold"),
                                       end=END, with_truth=True)
    try:
        evaluate_model(hold, pred_field="predictions", gt_field="ground_truth", eval_key="eval")
        fp, fn = np.array(hold.values("eval_fp")), np.array(hold.values("eval_fn"))
        tp = np.array(hold.values("eval_tp"))
        evaluated = (tp + fp + fn) > 0
        true_rate = float(((fp + fn) > 0)[evaluated].mean())
        placed = plugin_module("operators.monitor_map").place_period(hold, ev, "smap", write=False)
        expected = placed["expected_error_rate"]
        print("expected %.3f true %.3f evaluated set %.3f" % (
            expected, true_rate, placed["reference_error_rate"]))
        assert abs(expected - true_rate) <= TOLERANCE
    finally:
        hold.delete()
