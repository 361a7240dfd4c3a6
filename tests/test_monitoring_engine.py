"""The monitoring engine: periods, % changes, alert rules, drift and placement on a map."""

from datetime import datetime, timedelta

import numpy as np
import pytest
from scipy.stats import energy_distance as scipy_energy

from plugin import descriptors, monitoring


def test_periods_and_buckets():
    end = datetime(2026, 3, 1)
    assert monitoring.period_bounds("week", end) == (end - timedelta(days=7), end)
    assert monitoring.previous_period(end - timedelta(days=7), end) == (
        end - timedelta(days=14), end - timedelta(days=7))
    assert monitoring.bucket_unit(end - timedelta(days=2), end) == "hour"
    assert monitoring.bucket_unit(end - timedelta(days=7), end) == "day"
    assert monitoring.bucket_unit(end - timedelta(days=90), end) == "week"
    with pytest.raises(ValueError, match="custom period"):
        monitoring.period_bounds("custom", end, start=end)


def test_pct_change_and_class_shares():
    assert monitoring.pct_change(150, 100) == pytest.approx(50.0)
    assert monitoring.pct_change(50, 100) == pytest.approx(-50.0)
    assert monitoring.pct_change(5, 0) is None
    rows = monitoring.class_shares({"a": 30, "b": 10}, {"a": 10, "b": 10, "c": 20})
    by = {r["class"]: r for r in rows}
    assert by["a"]["share"] == pytest.approx(75.0)
    assert by["a"]["share_change"] == pytest.approx(75.0 - 25.0)
    assert by["c"]["count"] == 0 and by["c"]["share_change"] == pytest.approx(-50.0)
    assert by["b"]["count_change"] == pytest.approx(0.0)


def test_rules_fire_exactly_beyond_their_threshold():
    classes = monitoring.class_shares({"a": 60, "b": 40}, {"a": 50, "b": 50})
    stats = {"mean_confidence": 0.5, "requests": 70, "previous_requests": 100,
             "classes": classes, "drift": 0.2, "cluster_shares": {3: 0.25, 1: 0.1}}

    def fired(kind, threshold, **extra):
        out = monitoring.evaluate_rules([dict(kind=kind, threshold=threshold, **extra)], stats)[0]
        return out["fired"], out["value"], out["subject"]

    assert fired("mean_confidence_below", 0.5001)[0] and not fired("mean_confidence_below", 0.5)[0]
    assert fired("volume_drop", 29.9)[0] and not fired("volume_drop", 30.0)[0]
    assert fired("volume_drop", 0)[1] == pytest.approx(30.0)
    assert fired("class_share_change", 9.9)[:1] == (True,)
    assert fired("class_share_change", 9.9)[2] in ("a", "b")
    assert not fired("class_share_change", 10.0)[0]
    assert fired("drift_above", 0.19)[0] and not fired("drift_above", 0.2)[0]
    assert fired("cluster_share_above", 0.2)[:3:2] == (True, 3)
    assert not fired("cluster_share_above", 0.25)[0]
    # a value that cannot be measured does not fire
    assert not monitoring.evaluate_rules([{"kind": "drift_above", "threshold": 0}], {})[0]["fired"]
    with pytest.raises(ValueError, match="unknown alert rule kind"):
        monitoring.evaluate_rules([{"kind": "nope", "threshold": 1}], stats)
    with pytest.raises(ValueError, match="numeric threshold"):
        monitoring.check_rule({"kind": "drift_above", "threshold": "x"})


def test_energy_distance_matches_scipy_in_one_dimension():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=70), rng.normal(0.4, 1.3, size=50)
    x = np.r_[a, b][:, None]
    D = np.abs(x - x.T)
    ours = monitoring.energy_distance(D, np.r_[np.ones(70), np.zeros(50)], unbiased=False)[0]
    assert ours == pytest.approx(scipy_energy(a, b) ** 2, rel=1e-9)


def test_drift_detects_a_shift_and_not_a_control():
    rng = np.random.default_rng(1)
    F = len(descriptors.IMAGE_FEATURES)
    ref = rng.normal(size=(600, F))
    control = rng.normal(size=(400, F))
    shifted = rng.normal(size=(400, F))
    shifted[:, 0] -= 0.6  # darker
    names = list(descriptors.IMAGE_FEATURES)
    out = monitoring.drift(ref, shifted, names, seed=3)
    assert out["p_value"] < 0.01
    assert out["features"][0]["feature"] == "brightness"
    assert out["features"][0]["shift"] < 0 and "lower" in out["features"][0]["phrase"]
    calm = monitoring.drift(ref, control, names, seed=3)
    assert calm["p_value"] > 0.05
    assert abs(calm["score"]) < 0.25 * out["score"]  # unbiased: about 0 without drift
    # the permutation p-value is calibrated: about 5% of small controls below 0.05
    p = [monitoring.drift(ref, rng.normal(size=(30, F)), names, permutations=99, seed=s)["p_value"]
         for s in range(40)]
    assert np.mean(np.array(p) < 0.05) <= 0.15 and np.mean(p) == pytest.approx(0.5, abs=0.15)


def test_normal_scores_against_the_reference_itself_are_the_reference_scores():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 4))
    X[:, 1] = np.round(X[:, 1])  # ties
    np.testing.assert_allclose(monitoring.normal_scores_against(X, X),
                               descriptors.normal_scores(X), atol=1e-6)


def test_place_puts_reference_points_on_themselves_and_rates():
    rng = np.random.default_rng(4)
    centres = np.array([[0, 0], [8, 0], [0, 8]], float)
    cluster = np.repeat(np.arange(3), 100)
    Z = centres[cluster] + rng.normal(size=(300, 2))
    xy = Z * 2 + 1
    new = centres[[2] * 50 + [0] * 10] + rng.normal(size=(60, 2))
    placed_xy, placed, _ = monitoring.place(Z, xy, cluster, new)
    assert np.mean(placed[:50] == 2) > 0.95 and np.mean(placed[50:] == 0) > 0.9
    assert np.abs(placed_xy[:50].mean(axis=0) - (centres[2] * 2 + 1)).max() < 1.0
    failed = np.r_[np.zeros(100), np.ones(100), np.r_[np.ones(50), np.zeros(50)]]
    rates = monitoring.cluster_error_rates(cluster, failed)
    np.testing.assert_allclose(rates, [0, 1, 0.5])
    out = monitoring.expected_error_rate(placed, rates, cluster)
    assert out["reference_error_rate"] == pytest.approx(0.5)
    assert out["expected_error_rate"] == pytest.approx(rates[placed].mean())
    assert out["clusters"][0]["cluster"] == 2 and out["clusters"][0]["share_change"] > 0.4
