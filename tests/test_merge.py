"""Merging failure clusters that are one cause cut into pieces (``merge.merge_clusters``),
on constructed data with known answers."""

import numpy as np

from plugin import clustering
from plugin.merge import merge_clusters


def pieces_scene(seed=0, n=3000):
    """Points of 6 features. A cause (15%, feature 0 high) fails at 0.7 against 0.3; a second
    cause (8%, feature 2 high) at 0.95. The partition cuts the first cause into three pieces
    along feature 1 (as k-means cut sensor-noise objects by their class and size) and puts
    the rest in four clusters along feature 3, the second cause in a cluster of its own."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    cause = rng.random(n) < 0.15
    other = ~cause & (rng.random(n) < 0.08)
    X[cause, 0] += 4.0
    X[other, 2] += 4.0
    failed = (rng.random(n) < np.where(cause, 0.7, np.where(other, 0.95, 0.3))).astype(float)
    labels = np.digitize(X[:, 3], [-0.7, 0, 0.7])
    labels[cause] = 4 + np.digitize(X[cause, 1], [-0.45, 0.45])
    labels[other] = 7
    return X, labels, failed, np.full(n, 0.3), cause, other


def ranked(labels, failed, expected):
    """Failure clusters by decreasing excess (as summarize_clusters ranks them)."""
    C = int(labels.max()) + 1
    _, _, _, excess, p = clustering.failure_statistics(labels, failed, expected, C)
    ids = [c for c in np.argsort(-excess, kind="stable") if p[c] < 0.05 and excess[c] > 0]
    return ids


def test_pieces_of_one_cause_become_one_cluster_that_ranks_first():
    X, labels, failed, expected, cause, other = pieces_scene()
    before = ranked(labels, failed, expected)
    assert set(before[:4]) >= {4, 5, 6, 7}  # three pieces and the second cause fail
    best_before = labels == before[0]
    assert cause[best_before].mean() < 0.5 or (best_before & cause).sum() < 0.45 * cause.sum()

    merged = merge_clusters(X, labels, failed, expected)
    top = merged == ranked(merged, failed, expected)[0]
    assert cause[top].mean() == 1.0 and (top & cause).sum() == cause.sum()  # the whole cause
    # the second cause, failing at another rate and told by another feature, stays apart
    assert len(np.unique(merged[other])) == 1 and not (merged[other][0] == merged[cause]).any()
    # clusters that are not failure clusters are never merged
    for c in range(4):
        assert (merged[labels == c] == c).all()


def test_pieces_told_by_different_features_or_failing_differently_stay_apart():
    X, labels, failed, expected, cause, _ = pieces_scene(seed=1)
    # no feature tells the pieces: shuffle the cause's feature within each piece's rows
    rng = np.random.default_rng(1)
    Y = X.copy()
    Y[:, 0] = rng.permutation(Y[:, 0])
    np.testing.assert_array_equal(merge_clusters(Y, labels, failed, expected), labels)
    # one piece fails at another rate: it is not merged with the others
    piece = labels == 6
    f = failed.copy()
    f[piece] = 1.0
    merged = merge_clusters(X, labels, f, expected)
    assert len(np.unique(merged[labels == 4])) == 1 and merged[piece][0] == 6
    assert (merged[labels == 5] == merged[labels == 4][0]).all()


def test_columns_restrict_what_may_tell_a_cause_and_counts_use_the_dispersion():
    X, labels, failed, expected, cause, _ = pieces_scene(seed=2)
    np.testing.assert_array_equal(
        merge_clusters(X, labels, failed, expected, columns=[1, 2, 3, 4, 5]), labels)
    rng = np.random.default_rng(2)
    errors = rng.poisson(np.where(cause, 3.0, 1.0)).astype(float)
    merged = merge_clusters(X, labels, errors, np.ones(errors.size), dispersion=1.2)
    assert len(np.unique(merged[cause])) == 1
