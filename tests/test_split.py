"""Splitting a failure cluster (plugin/split.py) on constructed data with known causes."""

import numpy as np
import pytest

from plugin import clustering
from plugin.clusters import cluster, summarize_clusters
from plugin.split import split_cluster, undo_split

N = 1500  # points per true group


def mixed_map(seed=0):
    """Four groups of points in 6-D; the map's cluster 0 mixes groups 0 and 1, whose
    errors have two different causes (missed objects in one, background detections
    in the other); clusters 1 and 2 are groups 2 and 3, with few errors."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0, 0, 0, 0, 0], [5, 0, 0, 0, 0, 0], [0, 14, 0, 0, 0, 0],
                        [0, 0, 14, 0, 0, 0]], dtype=np.float64)
    truth = np.repeat(np.arange(4), N)
    X = centres[truth] + rng.normal(0, 1, (4 * N, 6))
    labels = np.array([0, 0, 1, 2])[truth]
    error = np.full(4 * N, "correct", dtype=object)
    fail = rng.random(4 * N)
    error[(truth == 0) & (fail < 0.6)] = "missed"
    error[(truth == 1) & (fail < 0.6)] = "background"
    error[(truth >= 2) & (fail < 0.1)] = "localization"
    return X, labels, error, truth


def test_split_separates_a_cluster_that_mixes_two_causes():
    X, labels, error, truth = mixed_map()
    before = labels.copy()
    new, ids = split_cluster(labels, 0, X, error_type=error)
    np.testing.assert_array_equal(labels, before)  # the input is not changed
    assert ids.tolist() == [3]
    # the other clusters keep their ids and members
    np.testing.assert_array_equal(new[labels != 0], labels[labels != 0])
    pieces = new[labels == 0]
    assert set(pieces.tolist()) == {0, 3}
    # each piece is one true group (blobs 5 sd apart overlap by ~0.6%)
    majority = [np.bincount(pieces[truth[labels == 0] == g]).argmax() for g in (0, 1)]
    assert sorted(majority) == [0, 3]
    for cause, g, piece in (("missed", 0, majority[0]), ("background", 1, majority[1])):
        assert np.mean(new[truth == g] == piece) > 0.98
        in_piece = error[new == piece]
        # before: the cause's share of the mixed cluster's errors was about a half;
        # after: its piece's errors are (nearly) all of that cause
        share_before = np.mean(error[(labels == 0) & (error != "correct")] == cause)
        assert 0.4 < share_before < 0.6
        assert np.mean(in_piece[in_piece != "correct"] == cause) > 0.97
    # the largest piece keeps the id
    assert (new == 0).sum() >= (new == 3).sum()
    # undo gives the map back exactly
    np.testing.assert_array_equal(undo_split(new, 0, ids), labels)


def test_significance_is_rerun_over_every_cluster_with_benjamini_hochberg():
    X, labels, error, _ = mixed_map(seed=1)
    new, ids = split_cluster(labels, 0, X, error_type=error)
    summaries = summarize_clusters(new, error, None, [])
    assert sorted(s.id for s in summaries) == [0, 1, 2, 3]
    codes = clustering.error_codes(error, len(error))
    failed, expected = clustering.failures(codes)
    n, obs, exp, excess, p = clustering.failure_statistics(new, failed, expected, 4)
    from scipy.stats import binom

    raw = binom.sf(np.round(obs) - 1, n, exp / n)
    for s in summaries:  # Benjamini-Hochberg's step-up over the four clusters
        assert s.p_value == pytest.approx(p[s.id], rel=1e-9)
        assert s.excess_errors == pytest.approx(excess[s.id])
    assert p.tolist() == pytest.approx(clustering._bh(raw).tolist(), rel=1e-9)
    # both causes are now failure clusters, ranked first; the clean ones are not
    assert {s.id for s in summaries if s.significant} == {0, 3}
    assert [s.rank for s in summaries if s.id in (0, 3)] == [1, 2]


def test_pieces_are_chosen_as_the_map_chooses_k_and_judged_against_the_maps_rate():
    X, labels, error, truth = mixed_map(seed=2)
    # k chosen as cluster() chooses it on the members, with the map's overall rate
    codes = clustering.error_codes(error, len(error))
    _, expected = clustering.failures(codes)
    members = labels == 0
    direct, k = cluster(X[members], error_type=error[members], expected=expected[members])
    new, ids = split_cluster(labels, 0, X, error_type=error)
    assert len(ids) == k - 1
    np.testing.assert_array_equal(new[members], np.r_[0, ids][direct])
    # with counts (a detection samples map): the same pieces from the counts
    errors = (error != "correct").astype(np.float64) * 2
    mu = np.full(len(error), errors.mean())
    by_counts, _ = split_cluster(labels, 0, X, error_type=error, expected=mu, errors=errors,
                                 dispersion=2.0)
    assert len(np.unique(by_counts[members])) >= 2
    for g in (0, 1):
        assert np.bincount(by_counts[truth == g]).max() > 0.98 * N


def test_a_given_k_and_a_small_cluster_still_give_at_least_two_pieces():
    X, labels, error, _ = mixed_map(seed=3)
    new, ids = split_cluster(labels, 0, X, k=4, error_type=error)
    assert ids.tolist() == [3, 4, 5] and len(np.unique(new)) == 6
    # 12 members: too few for the automatic choice (N // 10 < 2): two pieces
    small = np.zeros(len(labels), np.int64)
    small[:12] = 1
    new, ids = split_cluster(small, 1, X, error_type=error)
    assert ids.tolist() == [2] and len(np.unique(new[:12])) == 2
    # without error types (no evaluation of the points): still split
    new, ids = split_cluster(labels, 1, X)
    assert len(ids) >= 1 and np.isin(new[labels == 1], np.r_[1, ids]).all()


def test_bad_input_raises_and_changes_nothing():
    X, labels, error, _ = mixed_map(seed=4)
    before = labels.copy()
    with pytest.raises(ValueError, match="cluster 7 has no members"):
        split_cluster(labels, 7, X)
    with pytest.raises(ValueError, match="k must be an integer in"):
        split_cluster(labels, 0, X, k=1)
    with pytest.raises(ValueError, match="one row per point"):
        split_cluster(labels, 0, X[:10])
    one = labels.copy()
    one[0] = 9
    with pytest.raises(ValueError, match="one member"):
        split_cluster(one, 9, X)
    same = np.zeros_like(X)
    with pytest.raises(ValueError, match="alike"):
        split_cluster(labels, 0, same, k=2)
    np.testing.assert_array_equal(labels, before)
