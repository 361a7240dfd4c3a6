"""Partitions of samples or objects into clusters, and which of them fail.

:func:`cluster` groups points with k-means, refined by significant
one-feature failure splits (:func:`split_clusters`) and merges of failure
clusters that are one cause cut into pieces (:func:`merge.merge_clusters`), and
kept as the consensus of several seeds' partitions (:func:`consensus.medoid`),
k-means seeing the columns stretched by their association with the failures
(:func:`weights.error_weights`);
:func:`expected_errors`
is the robust (trimmed) Poisson expectation of an image's errors;
:func:`failure_statistics` gives each cluster's errors beyond what its content
predicts and a one-sided test of whether it fails more than expected
(q-values: Benjamini-Hochberg over clusters).

Why k-means rather than HDBSCAN: every point gets a cluster, so every error is
accounted for and there is no "noise" label to explain; on diffuse error data
HDBSCAN leaves a large share of points unassigned. K-means is also fast,
deterministic given a seed and stable under small changes of the data.
"""

import numpy as np
from threadpoolctl import threadpool_limits

from .errors import ERROR_TYPES
from .projection import _check_matrix, reduce

#: Significance level of a failure cluster: one-sided test, Benjamini-Hochberg q-value.
ALPHA = 0.05
#: Bins of a sample's number of objects for the failure its content predicts.
CONTENT_BINS = (0, 1, 2, 3, 4, 5, 6, 8, 11, 16)
#: Largest subsample the silhouette score is computed on.
SILHOUETTE_SAMPLE = 3000
#: Above this many points, :func:`cluster` uses mini-batch k-means.
MINIBATCH_ABOVE = 20000
MAX_AUTO_K = 20
#: Robust expectation: images whose error count has an upper tail probability below
#: this under the fit are left out of it (:func:`expected_errors`; one-sided 3 sigma).
TRIM_P = 0.00135
TRIM_ITERATIONS = 10
#: Refine the k-means clusters by significant one-feature splits (:func:`split_clusters`).
SPLIT = True
SPLIT_QUANTILES = np.arange(1, 20) / 20
SPLIT_MIN_SIZE = 10
MAX_SPLIT_K = 40
#: Merge failure clusters of one cause (:func:`merge.merge_clusters`).
MERGE = True
#: With ``shed``, a failure cluster is cut only to shed points that do not share its cause: over
#: all its cuts, the parts cut off may take at most these shares of its excess errors and of its
#: errors (:func:`split_clusters`).
SHED_EXCESS = 0.2
SHED_ERRORS = 0.35
#: Given error types, k is chosen among the k whose silhouette has this share of the best.
SILHOUETTE_SHARE = 0.6
#: With error types and k chosen, the partition is computed with this many seeds (seed,
#: seed + 1, ..) and the one whose failure clusters the others agree with most is kept
#: (:func:`consensus.medoid`; 1: the given seed's alone).
CONSENSUS_SEEDS = 5


def error_codes(error_type, N):
    """(N,) int codes into ERROR_TYPES, -1 for not evaluated."""
    if error_type is None:
        return np.full(N, -1, dtype=np.int64)
    arr = np.asarray(error_type)
    if arr.shape != (N,):
        raise ValueError(f"error_type must have shape ({N},), got {arr.shape}")
    if arr.dtype.kind in "iu":
        if N and (arr.min() < -1 or arr.max() >= len(ERROR_TYPES)):
            raise ValueError(f"error type codes must be in [-1, {len(ERROR_TYPES)})")
        return arr.astype(np.int64)
    arr = arr.astype(object)
    present = ~np.equal(arr, None)
    uniq, inv = np.unique(arr[present].astype(str), return_inverse=True)
    unknown = sorted(set(uniq) - set(ERROR_TYPES))
    if unknown:
        raise ValueError(f"unknown error types {unknown}; expected {ERROR_TYPES} or None")
    codes = np.full(N, -1, dtype=np.int64)
    codes[present] = np.array([ERROR_TYPES.index(u) for u in uniq], dtype=np.int64)[inv.ravel()]
    return codes


def expected_failure(failed, content, bins=CONTENT_BINS):
    """Each point's chance of failing given its content: the failure rate of the
    points whose ``content`` (e.g. a sample's number of objects) falls in the same
    bin, shrunk toward the overall rate by two pseudo-points.

    At sample level a sample fails when it has any error, and busy images fail
    more: ~0.2 with 1-2 objects, ~0.85 with 6+. Measured against this, a
    cluster of busy images has no excess; one of a hidden cause has.

    Args:
        failed: (N,) 1 failed, 0 not, NaN not evaluated
        content: (N,) non-negative numbers
        bins: left edges of the bins

    Returns:
        (N,) probabilities (NaN where ``failed`` is)
    """
    failed = np.asarray(failed, dtype=np.float64)
    ev = np.isfinite(failed)
    which = np.searchsorted(np.asarray(bins), np.asarray(content), side="right") - 1
    B = len(bins)
    n = np.bincount(which[ev], minlength=B)
    k = np.bincount(which[ev], weights=failed[ev], minlength=B)
    overall = k.sum() / n.sum() if n.sum() else 0.0
    rate = (k + 2 * overall) / (n + 2)
    return np.where(ev, rate[which], np.nan)


def expected_errors(errors, content, bins=CONTENT_BINS, robust=True):
    """Each point's expected number of errors given its content, and the dispersion.

    A Poisson regression (scikit-learn's ``PoissonRegressor``, log link, a
    light ridge) of the errors on the content: per-class object counts and
    one-hot bins of the total number of objects, so busy images and
    hard classes are expected to err more, each as much as the data say.

    Robust (default): a hidden cause in a share of the images would otherwise
    raise every image's expectation (bench_discovery: cluttered scenes, 15% of
    the images with 13.4 errors, made the fit expect 3.6 errors of a clean
    image that has 2.0, so no cluster stood out). The fit is therefore
    trimmed on one side: images whose count is improbably high under the
    current fit, a Poisson upper tail ``P(X >= e | mu) < TRIM_P`` (the
    one-sided 3-sigma level, continuous in ``e`` through the regularized
    incomplete gamma), are left out, and the fit is redone on the rest, until
    no more images are left out (at most :data:`TRIM_ITERATIONS` fits; once
    out, out). The tail is Poisson, not quasi-Poisson: a fit to all images
    takes its dispersion from the cause (5.8 against 1.0 in the test case
    of a cause adding 10 errors), and a tail that wide trims nothing; it is
    the exact tail, not a normal z of the residual: at 0.3 expected errors, 3
    errors are 1 in 280 images, a z of 4.9, and such a test biased clean
    images' expectation down by a quarter. The dispersion is that of the
    kept images. Only excess errors are trimmed
    (what a cause adds). Assumption: fewer than half the images carry a
    cause; the expectation is then that of the others.

    Args:
        errors: (N,) non-negative counts, NaN not evaluated
        content: (N, K) non-negative per-class object counts
        bins: left edges of the bins of the total count
        robust: trim images of large excess from the fit (False: fit all
            images, the expected counts then sum to the observed)

    Returns:
        ``(expected, dispersion)``: (N,) expected counts (NaN where ``errors``
        is) and the Pearson dispersion ``sum((e - mu)^2 / mu) / (n - p)`` of
        the fitted images, at least 1 (errors of one image come together:
        their variance exceeds their mean)
    """
    from scipy.special import gammainc
    from sklearn.linear_model import PoissonRegressor

    errors = np.asarray(errors, dtype=np.float64)
    content = np.asarray(content, dtype=np.float64).reshape(errors.size, -1)
    ev = np.isfinite(errors)
    which = np.searchsorted(np.asarray(bins), content.sum(axis=1), side="right") - 1
    onehot = np.eye(len(bins))[np.clip(which, 0, len(bins) - 1)]
    design = np.hstack([content, onehot])[ev]
    mu = np.full(errors.size, np.nan)
    if not ev.any():
        return mu, 1.0
    e = errors[ev]
    if e.max() <= 0:
        mu[ev] = 0.0
        return mu, 1.0
    keep = np.ones(e.size, dtype=bool)
    for _ in range(TRIM_ITERATIONS if robust else 1):
        model = PoissonRegressor(alpha=1e-4, max_iter=300).fit(design[keep], e[keep])
        fit = np.maximum(model.predict(design), 1e-9)
        dof = max(int(keep.sum()) - design.shape[1] - 1, 1)
        dispersion = max(float(np.sum((e[keep] - fit[keep]) ** 2 / fit[keep]) / dof), 1.0)
        if not robust:
            break
        tail = np.where(e > 0, gammainc(np.maximum(e, 1e-12), fit), 1.0)  # P(X >= e)
        new = (tail >= TRIM_P) & keep  # once left out, left out
        if new.sum() < max(design.shape[1] + 2, e.size // 2) or np.array_equal(new, keep):
            break  # converged, or no majority left to fit (then: the last fit)
        keep = new
    mu[ev] = fit
    return mu, dispersion


def failures(codes, expected=None, errors=None):
    """(failed, expected): 1 / 0 / NaN (not evaluated) per point from error
    codes (or the point's ``errors`` count where evaluated), and each point's
    expected failure (default: the overall rate)."""
    failed = np.where(codes < 0, np.nan, (codes > 0).astype(np.float64))
    if errors is not None:
        errors = np.asarray(errors, dtype=np.float64)
        if errors.shape != codes.shape:
            raise ValueError(f"errors must have shape {codes.shape}, got {errors.shape}")
        failed = np.where(codes < 0, np.nan, errors)
    if expected is None:
        ev = codes >= 0
        expected = np.full(codes.size, failed[ev].mean() if ev.any() else 0.0)
    expected = np.asarray(expected, dtype=np.float64)
    if expected.shape != codes.shape:
        raise ValueError(f"expected must have shape {codes.shape}, got {expected.shape}")
    return failed, np.where(np.isfinite(failed), expected, np.nan)


def _bh(p):
    """Benjamini-Hochberg's step-up adjustment of p-values: q-values (false discovery
    rate). The failure clusters are candidates a user reads down a list, so what is
    controlled is the share of false ones among those listed, not the chance of any
    (Holm's family-wise rate, which left an isolated cause in 59 images at p = 0.08
    over 5 clusters while a cluster of 0.006 was ranked)."""
    p = np.asarray(p, dtype=np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    out = np.empty(m)
    out[order] = adjusted
    return out


def _holm(p):
    """Holm's step-down adjustment of p-values (family-wise error rate)."""
    p = np.asarray(p, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    m = p.size
    adjusted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out


def failure_statistics(labels, failed, expected, C, dispersion=None):
    """Per cluster: evaluated, failures, expected failures, excess, p-value.

    0/1 failures (``dispersion`` None): the one-sided binomial probability of
    at least the observed failures when each member fails with the cluster's
    mean expected rate (conservative for unequal rates: a sum of unequal
    Bernoullis varies less than a binomial of the same mean). Counts (a
    ``dispersion`` from :func:`expected_errors`): the quasi-Poisson z-test of
    the observed sum against the expected, ``(O - E) / sqrt(dispersion E)``.
    Adjusted over the clusters with evaluated members by Benjamini-Hochberg
    (:func:`_bh`, q-values). A cluster is a failure cluster when that is < ALPHA.
    """
    from scipy.stats import binom, norm

    failed = np.asarray(failed, dtype=np.float64)
    ev = np.isfinite(failed)
    n = np.bincount(labels[ev], minlength=C)
    obs = np.bincount(labels[ev], weights=failed[ev], minlength=C)
    exp = np.bincount(labels[ev], weights=np.asarray(expected, dtype=np.float64)[ev],
                      minlength=C)
    p = np.ones(C)
    has = n > 0
    if dispersion is None:
        p0 = np.clip(exp[has] / np.maximum(n[has], 1), 1e-12, 1 - 1e-12)
        p[has] = binom.sf(np.round(obs[has]) - 1, n[has], p0)
    else:
        e = np.maximum(exp[has], 1e-9)
        p[has] = norm.sf((obs[has] - e) / np.sqrt(dispersion * e))
    p[has] = _bh(p[has])
    return n, obs, exp, obs - exp, p


def _silhouette(D, labels, k):
    """Mean silhouette coefficient from a distance matrix: scikit-learn's
    ``silhouette_score(D, labels, metric="precomputed")``, with every point's
    distance sums to the k clusters taken as one BLAS product (~20x faster)."""
    n = labels.size
    onehot = np.zeros((n, k))
    onehot[np.arange(n), labels] = 1
    sums = D @ onehot
    sizes = onehot.sum(axis=0)
    own = sizes[labels]
    intra = sums[np.arange(n), labels] / np.maximum(own - 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = sums / sizes
    mean[np.arange(n), labels] = np.inf
    mean[:, sizes == 0] = np.inf
    inter = mean.min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (inter - intra) / np.maximum(intra, inter)
    s[own == 1] = 0
    return float(np.mean(np.nan_to_num(s)))


def _kmeans(Xr, k, seed, failed=None, expected=None, dispersion=None):
    """k-means labels of the rows of Xr, and k (chosen when None: see :func:`cluster`)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.metrics import pairwise_distances

    N = Xr.shape[0]
    init, n_init = "k-means++", 4
    if k is None:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(N, SILHOUETTE_SAMPLE, replace=False)) \
            if N > SILHOUETTE_SAMPLE else np.arange(N)
        S = Xr[rows]
        distinct = np.unique(S, axis=0).shape[0]
        fits = [KMeans(kk, n_init=2, random_state=seed).fit(S)
                for kk in range(2, min(MAX_AUTO_K, N // 10, distinct) + 1)]
        if fits:
            D = pairwise_distances(S)  # once, for every k
            sil = np.array([_silhouette(D, km.labels_, km.n_clusters) for km in fits])
            best = int(np.flatnonzero(sil >= sil.max() - 1e-9)[0])
            fit = None if failed is None else _failure_fit(fits, failed[rows], expected[rows],
                                                           dispersion)
            if fit is not None:  # of the well separated, the one that best explains failure
                fit = np.where(sil >= SILHOUETTE_SHARE * sil.max(), fit, -np.inf)
                best = int(np.argmax(fit))
            k, init, n_init = fits[best].n_clusters, fits[best].cluster_centers_, 1
        else:
            k = 1
    if k == 1:
        return np.zeros(N, dtype=np.int64), 1
    if N > MINIBATCH_ABOVE:
        km = MiniBatchKMeans(k, init=init, n_init=n_init, batch_size=4096, random_state=seed)
    else:
        km = KMeans(k, init=init, n_init=n_init, random_state=seed)
    return km.fit_predict(Xr), k


def _failure_fit(fits, failed, expected, dispersion=None):
    """Per fit, how well its clusters explain the failures beyond ``expected``:
    the log-likelihood ratio of one failure rate per cluster against the
    expected rates (binomial for 0/1 failures; Poisson, divided by the
    dispersion, for counts), minus AIC's penalty of 2 (k - 1) for the extra
    rates. Pure clusters of failure score high, mixed ones low. None without
    contrast. AIC, not BIC's (k - 1) log n: a cause in 15% of 400 images whose
    errors are a third above expectation explains ~6 units of deviance, which
    BIC's penalty of log 400 = 6 per cluster cancels, so it stayed merged into
    a large cluster (bench_discovery: washed-out scenes at precision 0.16
    with BIC, 1.0 with AIC); a split the data do not support is still not
    ranked, as every cluster is then tested (:func:`failure_statistics`)."""
    ev = np.isfinite(failed)
    f, e = failed[ev], expected[ev]
    if not ev.any() or f.min() == f.max():
        return None

    def xlogy(x, y):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x > 0, x * np.log(np.where(y > 0, x / y, 1.0)), 0.0)

    scores = []
    for km in fits:
        lab = km.labels_[ev]
        n = np.bincount(lab, minlength=km.n_clusters)
        obs = np.bincount(lab, weights=f, minlength=km.n_clusters)
        exp = np.bincount(lab, weights=e, minlength=km.n_clusters)
        if dispersion is None:
            g = 2 * (xlogy(obs, exp) + xlogy(n - obs, n - exp)).sum()
        else:
            g = 2 * (xlogy(obs, exp) - (obs - exp)).sum() / dispersion
        scores.append(g - 2.0 * (km.n_clusters - 1))
    return np.array(scores)


def _deviance(n, obs, exp, dispersion):
    """Twice the log-likelihood ratio of a group's own failure rate against its expected
    failures: binomial for 0/1 failures (``dispersion`` None), quasi-Poisson for counts."""
    def xlogy(x, y):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x > 0, x * np.log(np.where(y > 0, x / y, 1.0)), 0.0)

    exp = np.maximum(exp, 1e-12)
    if dispersion is None:
        exp = np.minimum(exp, n - 1e-12)
        return 2 * (xlogy(obs, exp) + xlogy(n - obs, n - exp))
    return 2 * (xlogy(obs, exp) - (obs - exp)) / dispersion


def quantile_cuts(X, min_size=1):
    """Every column's cuts at :data:`SPLIT_QUANTILES` with at least ``min_size`` rows a side:
    ``(order, sorted X, positions, valid)``, positions and valid (P, D); a cut at position
    ``p`` puts the first ``p + 1`` rows of a column's ``order`` left.

    A quantile that falls among equal values is moved to the last of them (``x <= value``
    goes left), so that a column with ties is still cut there: at object level an image
    feature has one value for all of an image's objects, and cutting only between two
    different values dropped most of its cuts (18 of 19 for a blur feature of 2,102
    objects in 323 images). Quantiles that land on one cut count once."""
    n = X.shape[0]
    order = np.argsort(X, axis=0, kind="stable")
    xs = np.take_along_axis(X, order, axis=0)
    base = np.unique(np.clip((np.asarray(SPLIT_QUANTILES) * n).astype(int) - 1,
                             min_size - 1, n - min_size - 1))
    rows = np.arange(n)[:, None]
    last = np.ones_like(xs, dtype=bool)
    last[:-1] = xs[1:] > xs[:-1]
    run_end = np.minimum.accumulate(np.where(last, rows, n - 1)[::-1], axis=0)[::-1]
    pos = run_end[base]
    valid = pos <= n - min_size - 1
    valid[1:] &= pos[1:] != pos[:-1]
    return order, xs, pos, valid


def cut_gains(cf, ce, pos, dispersion=None):
    """(P, D) deviance gain of each cut: two failure rates against one (:func:`_deviance`),
    from the cumulative failures ``cf`` and expectations ``ce`` in each column's order, at
    the (P, D) ``pos`` of :func:`quantile_cuts`."""
    n = float(cf.shape[0])
    nl = (pos + 1).astype(np.float64)
    fl, el = np.take_along_axis(cf, pos, axis=0), np.take_along_axis(ce, pos, axis=0)
    return (_deviance(nl, fl, el, dispersion)
            + _deviance(n - nl, cf[-1] - fl, ce[-1] - el, dispersion)
            - _deviance(n, cf[-1], ce[-1], dispersion))


def _shed(f_left, e_left, f_right, e_right):
    """(excess, failures, is_left) of the side of a cut that fails less beyond expectation."""
    left = f_left / np.maximum(e_left, 1e-12) < f_right / np.maximum(e_right, 1e-12)
    return (np.where(left, f_left - e_left, f_right - e_right),
            np.where(left, f_left, f_right), left)


def best_split(Xc, failed, expected, dispersion=None, min_size=SPLIT_MIN_SIZE, max_shed=None):
    """The one-feature threshold that best separates a group's failures beyond expectation.

    Every column is cut at the 5%, 10%, .., 95% quantiles of the group
    (:data:`SPLIT_QUANTILES`) with at least ``min_size`` evaluated points on each
    side; a cut's gain is the deviance of two failure rates over one
    (:func:`_deviance`: the likelihood-ratio statistic, chi-square with 1 degree of
    freedom). All cuts of all columns at once: one sort per column and
    cumulative sums. With ``max_shed`` (excess, failures), only the cuts whose
    side that fails less beyond expectation (:func:`_shed`) holds at most that
    many excess errors and failures are tried.

    Returns:
        ``(column, threshold, gain, tests)``: the best cut (points ``<= threshold``
        go left), its gain and the number of cuts tried; column None without one
    """
    ev = np.isfinite(failed)
    X, f, e = Xc[ev], failed[ev], expected[ev]
    n = f.size
    if n < 2 * min_size:
        return None, None, 0.0, 0
    order, xs, pos, valid = quantile_cuts(X, min_size)
    cf, ce = np.cumsum(f[order], axis=0), np.cumsum(e[order], axis=0)
    gain = cut_gains(cf, ce, pos, dispersion)
    if max_shed is not None:
        fl, el = np.take_along_axis(cf, pos, axis=0), np.take_along_axis(ce, pos, axis=0)
        shed_e, shed_f, _ = _shed(fl, el, cf[-1] - fl, ce[-1] - el)
        valid &= (shed_e <= max_shed[0]) & (shed_f <= max_shed[1])
    gain = np.where(valid, gain, -np.inf)
    tests = int(valid.sum())
    if not tests:
        return None, None, 0.0, 0
    i, j = np.unravel_index(int(np.argmax(gain)), gain.shape)
    return int(j), float(xs[pos[i, j], j]), float(gain[i, j]), tests


def split_clusters(X, labels, failed, expected, dispersion=None, max_clusters=MAX_SPLIT_K,
                   alpha=ALPHA, columns=None, shed=False):
    """Splits clusters along single features while a split explains failure significantly.

    k-means puts its boundaries where the features spread, not where the errors
    are: a cause in a sixth of a cluster stays mixed with the rest. Every
    cluster's :func:`best_split` is computed; the cut of largest gain among the
    significant ones (chi-square 1 df below ``alpha / tests``: Bonferroni over
    every cut tried in that cluster) is made, its two parts are tried in turn,
    until no cut is significant or there are ``max_clusters``. The k-means
    clusters are only refined, so the features keep their part in the
    partition, and every split is a rule on one feature.

    A cluster that already is a failure cluster (one-sided test of
    :func:`failure_statistics` on the k-means partition) is kept whole, or with
    ``shed`` cut only to shed points that do not share its cause: over all its
    cuts, the parts cut off (each cut's side that fails less beyond
    expectation) may take at most :data:`SHED_EXCESS` of its excess errors and
    :data:`SHED_ERRORS` of its errors. Cut freely, a failure cluster's cause is
    divided (bench_planted_failure's dark objects: the top cluster's recall of
    the dark failures fell from 0.99 to 0.41); kept whole, a cause stays mixed
    with points that fail as expected (bench_discovery, washed-out objects: one
    cluster of precision 0.82 at seed 51 holds them with unrelated objects).
    The shedding is for objects maps, where it was measured to find more
    causes; on the digits' classification map it cut the rotated digits the
    model gets right, and some it does not, off the rotation cluster (recall 0.5).

    Args:
        columns: the columns a cut may use (default all); the error map leaves
            out the model's own outputs (``is_prediction``, ``confidence``), or
            every cluster of predictions is cut into its low-confidence part, the
            errors of every cause alike

    Returns:
        (N,) int64 labels, the new parts numbered after the existing clusters
    """
    from scipy.stats import chi2

    labels = np.asarray(labels, dtype=np.int64).copy()
    cols = np.arange(X.shape[1]) if columns is None else np.asarray(columns, dtype=np.int64)
    if not labels.size or not cols.size:
        return labels
    Xs = X[:, cols]
    k = int(labels.max()) + 1
    cuts, budget = {}, {}  # budget: a failure cluster's (excess, failures) left to shed

    def candidate(c):
        inside = np.flatnonzero(labels == c)
        j, thr, gain, tests = best_split(Xs[inside], failed[inside], expected[inside],
                                         dispersion, max_shed=budget.get(c))
        ok = j is not None and chi2.sf(gain, 1) < alpha / tests
        cuts[c] = (gain if ok else -np.inf, j, thr)

    _, obs, _, excess, p = failure_statistics(labels, failed, expected, k, dispersion)
    for c in np.flatnonzero((p < alpha) & (excess > 0)):  # failure clusters already
        budget[c] = (SHED_EXCESS * excess[c], SHED_ERRORS * obs[c])
    ev = np.isfinite(failed)
    f, e = np.where(ev, failed, 0.0), np.where(ev, expected, 0.0)
    for c in range(k):
        if c not in budget or shed:
            candidate(c)
    while cuts and k < max_clusters:
        c = max(cuts, key=lambda c: cuts[c][0])
        gain, j, thr = cuts[c]
        if not np.isfinite(gain):
            break
        right = (labels == c) & (Xs[:, j] > thr)
        if c in budget:  # the side that fails less is shed: the other keeps what is left
            left = (labels == c) & ~right
            shed_e, shed_f, shed_left = _shed(f[left].sum(), e[left].sum(), f[right].sum(),
                                              e[right].sum())
            left_e, left_f = budget.pop(c)
            budget[k if shed_left else c] = (left_e - max(float(shed_e), 0.0),
                                             left_f - float(shed_f))
        labels[right] = k
        candidate(c)
        candidate(k)
        k += 1
    return labels


def cluster(X, k=None, seed=51, error_type=None, expected=None, errors=None, dispersion=None,
            split=None, split_columns=None, merge=None, weigh=None, shed=False):
    """Partitions the rows of X with k-means, choosing k when not given.

    X is used as is (reduced to 64 principal components when wider), so its
    columns must already be on comparable scales: descriptors through
    :func:`descriptors.normal_scores`, embeddings as they come. With
    ``k=None``, k-means runs for k = 2 .. min(20, N // 10) on a seeded
    subsample of at most 3,000 rows, and

    - with error types: among the k whose silhouette is at least 60% of the
      best (:data:`SILHOUETTE_SHARE`: well separated), the one whose clusters
      best explain which points fail beyond ``expected`` (binomial or
      Poisson likelihood ratio with AIC's penalty per cluster, :func:`_failure_fit`):
      purity of failure, not coverage, so a cause mixed with unrelated errors
      is split off when the data support it, and not split further when not;
    - without (or when every evaluated point is an error, or none): the best
      silhouette (smallest k on ties).

    With ``weigh`` (default: with a content model, ``expected`` given, by
    ``"cuts"``) and k chosen, k-means sees the columns stretched by
    :func:`error_weights` (their shrunk association with the residual failure;
    ``split_columns`` only), so a column that carries a cause is not diluted by
    the many that do not.
    The final fit starts from that subsample's centroids. Above 20,000 rows
    mini-batch k-means is used. With error types and k chosen, the clusters
    are then cut along single features while a cut explains failure
    significantly, failure clusters only with ``shed`` and then only to shed
    points that do not share their cause (:func:`split_clusters`, up to
    :data:`MAX_SPLIT_K` clusters), and failure clusters that one feature tells
    apart alike and that fail at one rate are merged (:func:`merge.merge_clusters`).
    With error types and k chosen, all of this is done for the seeds ``seed`` ..
    ``seed + CONSENSUS_SEEDS - 1`` and the partition whose failure clusters agree
    most with the others' is kept (:func:`consensus.medoid`): one seed's failure
    clusters change with it. Clusters are numbered by decreasing size.

    Args:
        X: (N, D) finite features
        k: number of clusters, or None to choose (1 when N < 20)
        seed: random seed; the result is deterministic
        error_type: optional (N,) error types as for :func:`summarize_clusters`
            (names or codes, None / -1 for points not evaluated)
        expected: optional (N,) chance of failing given the point's content
            (:func:`expected_failure`); default the overall error rate; with
            ``errors``, the expected counts (:func:`expected_errors`)
        errors: optional (N,) error counts per point (a detection image's
            errors), measured against ``expected`` instead of 0/1 failures
        dispersion: the counts' dispersion (:func:`expected_errors`)
        split: refine by failure splits (default :data:`SPLIT`, True)
        merge: then merge failure clusters of one cause (default :data:`MERGE`, True)
        split_columns: the columns the splits may cut (default all)
        weigh: stretch the columns by :func:`error_weights` with this
            association (``"rank"`` or ``"cuts"``; True: ``"rank"``; False: not);
            default ``"cuts"`` when ``expected`` is given (sample maps), else not;
            objects maps pass ``"rank"``
        shed: cut failure clusters too, to shed what does not share their cause
            (:func:`split_clusters`; objects maps pass True)

    Returns:
        ``(labels, k)``: (N,) int64 cluster of every row, and the k used
    """
    X = _check_matrix(X)
    N = X.shape[0]
    if k is not None:
        if int(k) != k or not 1 <= k <= max(N, 1):
            raise ValueError(f"k must be an integer in [1, N={N}], got {k}")
        k = int(k)
    if N == 0:
        return np.zeros(0, dtype=np.int64), 0
    if weigh is None:
        weigh = "cuts" if expected is not None else False
    elif not isinstance(weigh, str):
        weigh = "rank" if weigh else False
    from .weights import ASSOCIATIONS, error_weights  # it imports this module's statistics

    if weigh and weigh not in ASSOCIATIONS:
        raise ValueError(f"weigh must be one of {ASSOCIATIONS}, True, False or None, got {weigh!r}")
    failed = None
    if error_type is not None:
        failed, expected = failures(error_codes(error_type, N), expected, errors)
    Xr = reduce(X, seed)
    dispersion = None if errors is None else max(float(dispersion or 1.0), 1.0)
    columns = split_columns if Xr.shape[1] == X.shape[1] else None
    Xw = Xr if failed is None or k is not None or not weigh else \
        Xr * error_weights(Xr, failed, expected, columns=columns, association=weigh,
                           dispersion=dispersion)
    refine = (SPLIT if split is None else split) and k is None and failed is not None

    def partition(s):
        with threadpool_limits(1):  # small fits: OpenMP threads only add overhead (10x when busy)
            labels, k_used = _kmeans(Xw, k, s, failed, expected, dispersion)
        if refine:
            labels = split_clusters(Xr, labels, failed, expected, dispersion, columns=columns,
                                    shed=shed)
            if MERGE if merge is None else merge:
                from .merge import merge_clusters  # it imports this module's statistics

                labels = merge_clusters(Xr, labels, failed, expected, dispersion, columns=columns)
                labels = np.unique(labels, return_inverse=True)[1].astype(np.int64)
            k_used = int(labels.max()) + 1
        return labels, k_used

    seeds = [seed] if k is not None or failed is None else \
        [seed + i for i in range(max(int(CONSENSUS_SEEDS), 1))]
    runs = [partition(s) for s in seeds]
    if len(runs) > 1:
        from .consensus import medoid  # it imports this module's statistics

        labels, k_used = runs[medoid([r[0] for r in runs], failed, expected, dispersion)]
    else:
        labels, k_used = runs[0]
    k = k_used
    if k == 1:
        return labels, 1
    sizes = np.bincount(labels, minlength=k)
    rename = np.empty(k, dtype=np.int64)
    rename[np.argsort(-sizes, kind="stable")] = np.arange(k)
    labels = rename[labels]
    return labels, int(labels.max()) + 1
