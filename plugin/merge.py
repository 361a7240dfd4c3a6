"""Merging failure clusters that are one cause cut into pieces.

k-means and the failure splits of :mod:`clustering` cut a cause along features
unrelated to it; :func:`merge_clusters` joins such pieces back when one feature
tells each of them, and their union, apart from every other point, and they fail
at one rate beyond expectation.
"""

import numpy as np

from .clustering import ALPHA, _deviance, failure_statistics

#: Both pieces, and their union, set apart from the other points by one feature at
#: least this well (AUC, either side) to be merged.
MERGE_AUC = 0.9


def _rank_sums(X):
    """(N, D) ranks of every column (ties averaged), for group AUCs by sums."""
    from scipy.stats import rankdata
    return rankdata(X, axis=0)


def merge_clusters(X, labels, failed, expected, dispersion=None, alpha=ALPHA, columns=None,
                   min_auc=MERGE_AUC):
    """Merges failure clusters that are one cause cut into pieces.

    k-means and the splits cut a cause along features that have nothing to do
    with it (the class, the size of the objects of noisy images), and a ranking
    by excess errors then puts each piece behind larger mixed clusters
    (bench_discovery, sensor noise at object level: five pieces of precision
    0.98-1.00, the best 4th). Two failure clusters (significant with positive
    excess, :func:`clustering.failure_statistics`) are merged when (1) one feature sets
    each of them, and their union, apart from every other point with an AUC of
    at least ``min_auc`` on the same side (the union is described by one rule
    as well as each piece) and (2) their failure rates beyond expectation do
    not differ (the likelihood-ratio statistic of two rates against one,
    as :func:`clustering.best_split` computes it, has a chi-square p-value >= ``alpha``).
    The pair sharing the best-separating feature is merged first, then the
    merged cluster is compared again, until no pair qualifies.

    Args:
        columns: the columns that may tell a cause (default all; the error map
            leaves out the model's own outputs, as for the splits)

    Returns:
        (N,) int64 labels; a merged cluster takes the smaller id, ids are not
        renumbered (empty ids are left for :func:`clustering.cluster` to drop)
    """
    from scipy.stats import chi2

    labels = np.asarray(labels, dtype=np.int64).copy()
    if not labels.size:
        return labels
    cols = np.arange(X.shape[1]) if columns is None else np.asarray(columns, dtype=np.int64)
    k = int(labels.max()) + 1
    _, _, _, excess, p = failure_statistics(labels, failed, expected, k, dispersion)
    members = [int(c) for c in np.flatnonzero((p < alpha) & (excess > 0))]
    if len(members) < 2 or not cols.size:
        return labels
    R = _rank_sums(X[:, cols])
    N = labels.size
    ev = np.isfinite(failed)
    onehot = (labels[:, None] == np.asarray(members)[None, :])
    size = onehot.sum(axis=0).astype(np.float64)
    sums = onehot.T.astype(np.float64) @ R  # rank sums per cluster and column
    n = (onehot & ev[:, None]).sum(axis=0).astype(np.float64)
    obs = np.where(ev, failed, 0.0) @ onehot
    exp = np.where(ev, expected, 0.0) @ onehot
    groups = {c: [size[i], sums[i], n[i], obs[i], exp[i]] for i, c in enumerate(members)}

    def auc(g):
        m = g[0]
        return (g[1] - m * (m + 1) / 2) / max(m * (N - m), 1.0)

    def union(a, b):
        return [x + y for x, y in zip(groups[a], groups[b])]

    def score(a, b):
        """The union's separation on the best shared feature, or -inf."""
        ga, gb, gu = groups[a], groups[b], union(a, b)
        gain = (_deviance(ga[2], ga[3], ga[4], dispersion)
                + _deviance(gb[2], gb[3], gb[4], dispersion)
                - _deviance(gu[2], gu[3], gu[4], dispersion))
        if chi2.sf(max(float(gain), 0.0), 1) < alpha:
            return -np.inf
        sides = np.stack([auc(ga), auc(gb), auc(gu)]) - 0.5
        same = (np.sign(sides) == np.sign(sides[0])).all(axis=0)
        sep = np.where(same, np.abs(sides).min(axis=0), -np.inf)
        best = float(sep.max())
        return best if best >= min_auc - 0.5 else -np.inf

    while len(groups) > 1:
        ids = sorted(groups)
        pairs = [(score(a, b), a, b) for i, a in enumerate(ids) for b in ids[i + 1:]]
        best, a, b = max(pairs)
        if not np.isfinite(best):
            break
        groups[a] = union(a, b)
        del groups[b]
        labels[labels == b] = a
    return labels
