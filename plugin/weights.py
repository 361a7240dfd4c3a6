"""Error-aware weights of the columns k-means sees (:func:`error_weights`).

k-means weighs every column alike, so the one column that carries a cause is
diluted by the many that do not. :func:`clustering.cluster` stretches each column
by its association with the residual failure (failed minus expected), computed
on the map's own failures: by rank correlation on objects maps, by stagewise
one-feature cuts on sample maps (``benchmarks/README.md``, ninth pass).
"""

import numpy as np

from .clustering import cut_gains, quantile_cuts

#: Error-aware partition (:func:`error_weights`): k-means sees each column stretched by
#: 1 + weight x its shrunk association with the residual failure: with ``"rank"`` its rank
#: correlation, weight ERROR_WEIGHT; with ``"cuts"`` the effect size of the one-feature cuts
#: it contributes, stagewise, weight CUT_WEIGHT, at most CUT_ROUNDS cuts (0: off).
ERROR_WEIGHT = 1.0
CUT_WEIGHT = 10.0
CUT_ROUNDS = 10
#: A column's association is shrunk by this many standard errors (1 / sqrt(n)).
ERROR_SHRINK = 3.0
#: The associations :func:`error_weights` knows.
ASSOCIATIONS = ("rank", "cuts")


def _rank_association(X, failed, expected, dispersion=None):
    """|Spearman correlation| of each column with the residual failure (failed - expected)."""
    from scipy.stats import rankdata

    r = rankdata(failed - expected)
    R = rankdata(X, axis=0)
    r, R = r - r.mean(), R - R.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (R * r[:, None]).sum(axis=0) / np.sqrt((R ** 2).sum(axis=0) * (r ** 2).sum())
    return np.abs(np.nan_to_num(rho))


def _cuts_association(X, failed, expected, dispersion=None, rounds=None, shrink=None):
    """Per column, the effect size of the one-feature cuts it contributes, stagewise.

    The best cut over every column (at the quantiles of :func:`clustering.best_split`, the
    deviance gain of two failure rates over one) is taken, the expectation is
    rescaled on each side of it to the failures observed there, and the next
    best cut is sought on what is left, while a cut's z (the square root of its
    gain) exceeds ``shrink`` (:data:`ERROR_SHRINK`), at most ``rounds``
    (:data:`CUT_ROUNDS`). A column's effect size is the square root of its
    cuts' summed gain per point (for one two-group cut, about the correlation of
    the group with the failure). Stagewise, so that columns telling the same
    cause are not all stretched: dark scenes are told by brightness, dark area,
    highlights, shadows and contrast alike, and stretching each of them by its
    own best cut made k-means split along that one direction at its own
    boundaries (bench_planted_failure's dark target: top cluster precision 0.77
    against 0.93 stagewise)."""
    shrink = ERROR_SHRINK if shrink is None else shrink
    n, D = X.shape
    order, _, pos, valid = quantile_cuts(X)
    cf = np.cumsum(failed[order], axis=0)
    e = np.asarray(expected, dtype=np.float64).copy()
    gains = np.zeros(D)
    for _ in range(CUT_ROUNDS if rounds is None else rounds):
        gain = np.where(valid, cut_gains(cf, np.cumsum(e[order], axis=0), pos, dispersion), 0.0)
        i, j = np.unravel_index(int(np.argmax(gain)), gain.shape)
        if np.sqrt(max(float(gain[i, j]), 0.0)) <= shrink:
            break
        gains[j] += gain[i, j]
        left = np.zeros(n, dtype=bool)
        left[order[:pos[i, j] + 1, j]] = True
        for side in (left, ~left):
            total = e[side].sum()
            if total > 0:
                e[side] *= failed[side].sum() / total
    return np.sqrt(gains / n)


def error_weights(X, failed, expected, weight=None, shrink=None, columns=None,
                  association="rank", dispersion=None):
    """(D,) weights of the columns of X by their association with the residual failure.

    k-means weighs every column alike, so one column that carries a cause is
    diluted by the many that do not. Each column's association with the
    residual failure of the evaluated points is soft-thresholded by
    ``shrink`` standard errors (``shrink / sqrt(n)``: a column that does not
    follow the errors gets no extra weight), and the column is stretched by
    ``1 + weight x`` that. Computed on the data being mapped, from its failures
    and their expectation only. Associations:

    - ``"rank"``: the Spearman correlation with the residual failure (weight
      :data:`ERROR_WEIGHT`): a trend over the whole range of the column;
    - ``"cuts"``: the effect size of the one-feature cuts the column contributes,
      stagewise (:func:`_cuts_association`; weight :data:`CUT_WEIGHT`;
      ``dispersion`` as for :func:`clustering.best_split`): a cause in one tail of the
      column, which a rank correlation dilutes (cluttered scenes, 15% of the
      images with six times their expected errors: texture_fraction separates
      them at AUC 0.94, its rank correlation stretched it by 1.3 and k-means
      spread them over every cluster).
    """
    if association not in ASSOCIATIONS:
        raise ValueError(f"association must be one of {ASSOCIATIONS}, got {association!r}")
    if weight is None:
        weight = ERROR_WEIGHT if association == "rank" else CUT_WEIGHT
    shrink = ERROR_SHRINK if shrink is None else shrink
    ones = np.ones(X.shape[1])
    if failed is None or not weight:
        return ones
    ev = np.isfinite(failed)
    n = int(ev.sum())
    if n < 3:
        return ones
    measure = _rank_association if association == "rank" else _cuts_association
    s = np.maximum(measure(X[ev], failed[ev], expected[ev], dispersion) - shrink / np.sqrt(n),
                   0.0)
    if columns is not None:
        s = np.where(np.isin(np.arange(s.size), columns), s, 0.0)
    return 1.0 + weight * s
