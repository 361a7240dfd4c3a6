"""Production monitoring: periods, changes, alert rules, drift and the expected error rate.

Pure numpy (and scipy's normal quantiles): the operators aggregate the
production samples in MongoDB and hand the numbers here.

- Periods: a period ``[start, end)`` is compared with the previous one of the
  same length ``[start - (end - start), start)``; time plots use hourly buckets
  up to 2 days, daily up to 60 days, weekly beyond (:func:`bucket_unit`).
- Alert rules (:data:`RULE_KINDS`) are evaluated on a period's statistics by
  :func:`evaluate_rules`; a rule fires when its value is strictly beyond its
  threshold.
- Drift (:func:`drift`): the energy distance (Szekely & Rizzo, 2013) between
  the period's image descriptors and the evaluated images', both scaled by
  the evaluated set's medians and IQRs, with a permutation p-value; the
  features that moved most are the largest standardized median shifts.
- Placement (:func:`place`): a new image goes where its nearest evaluated
  neighbours are on the error map (their inverse-distance-weighted mean
  position, the starting point of UMAP's own ``transform``), in the cluster
  most of them belong to; the period's expected error rate is the mean of its
  images' clusters' measured error rates (:func:`expected_error_rate`).
"""

from datetime import timedelta

import numpy as np

#: Period names of the panel's buttons and their lengths.
PERIODS = {"day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=30)}
#: Time-plot buckets by the period's length: hour up to 2 days, day up to 60 days, else week.
BUCKETS = ((timedelta(days=2), "hour"), (timedelta(days=60), "day"), (None, "week"))
#: Alert rule kinds: (what the value is, phrase); a rule fires when value > threshold,
#: or value < threshold for ``mean_confidence_below``.
RULE_KINDS = {
    "mean_confidence_below": "mean confidence below",
    "class_share_change": "a class's share changed by more than (points)",
    "volume_drop": "volume dropped by more than (%)",
    "drift_above": "drift score above",
    "cluster_share_above": "share of images in a failure cluster above",
}
#: Neighbours that place a new image on the error map.
PLACE_NEIGHBORS = 15
#: Largest number of images per side the drift statistic is computed on (a seeded subsample).
DRIFT_MAX_PER_SIDE = 1000
DRIFT_PERMUTATIONS = 200


# -- periods ----------------------------------------------------------------------------

def period_bounds(period, end, first=None, start=None):
    """``(start, end)`` of a period ending at ``end``: ``"day"``, ``"week"``, ``"month"``,
    ``"all"`` (from ``first``, the earliest timestamp) or ``"custom"`` (``start`` given)."""
    if period in PERIODS:
        return end - PERIODS[period], end
    if period == "all":
        if first is None:
            raise ValueError("period 'all' needs the earliest timestamp")
        return first, end
    if period == "custom":
        if start is None or start >= end:
            raise ValueError("a custom period needs a start before its end")
        return start, end
    raise ValueError("unknown period %r; use day, week, month, all or custom" % (period,))


def previous_period(start, end):
    """The period of the same length just before ``[start, end)``."""
    return start - (end - start), start


def bucket_unit(start, end):
    """``"hour"``, ``"day"`` or ``"week"``: the time plots' bucket for the period's length."""
    span = end - start
    return next(unit for limit, unit in BUCKETS if limit is None or span <= limit)


def pct_change(current, previous):
    """Percentage change ``100 (current - previous) / |previous|``; None when there is no
    previous value or it is 0."""
    if current is None or previous is None or previous == 0:
        return None
    return 100.0 * (float(current) - float(previous)) / abs(float(previous))


def class_shares(current, previous):
    """Rows per class of two ``{class: count}``: counts, shares (%) and the change of the
    share in points, largest current count first."""
    names = sorted(set(current) | set(previous), key=lambda c: (-current.get(c, 0), str(c)))
    n_cur, n_prev = sum(current.values()), sum(previous.values())
    rows = []
    for name in names:
        c, p = current.get(name, 0), previous.get(name, 0)
        share = 100.0 * c / n_cur if n_cur else 0.0
        prev_share = 100.0 * p / n_prev if n_prev else None
        rows.append({"class": name, "count": int(c), "previous": int(p), "share": share,
                     "previous_share": prev_share,
                     "share_change": None if prev_share is None else share - prev_share,
                     "count_change": pct_change(c, p)})
    return rows


# -- alert rules -------------------------------------------------------------------------

def check_rule(rule):
    """A rule as stored: ``{"kind", "threshold"}`` (+ optional ``"name"``, ``"class"``),
    validated; raises ValueError naming the problem."""
    kind = rule.get("kind")
    if kind not in RULE_KINDS:
        raise ValueError("unknown alert rule kind %r; use one of %s"
                         % (kind, ", ".join(RULE_KINDS)))
    try:
        threshold = float(rule.get("threshold"))
    except (TypeError, ValueError):
        raise ValueError("alert rule '%s' needs a numeric threshold" % kind)
    if not np.isfinite(threshold):
        raise ValueError("alert rule '%s' needs a finite threshold" % kind)
    out = dict(rule, kind=kind, threshold=threshold)
    out.setdefault("name", "%s %g" % (RULE_KINDS[kind], threshold))
    return out


def evaluate_rules(rules, stats):
    """Which rules fire on a period's statistics.

    ``stats`` keys (missing ones mean the rule cannot be checked and does not fire):
    ``mean_confidence``, ``requests``, ``previous_requests``, ``classes`` (rows of
    :func:`class_shares`), ``drift`` (score), ``cluster_shares`` (``{cluster: share}``
    of the period's images in failure clusters, 0-1).

    Returns one dict per rule: the rule, ``value`` (None when not checkable),
    ``fired`` (bool), ``subject`` (the class or cluster that fired, if any) and a
    ``message`` in words.
    """
    out = []
    for rule in map(check_rule, rules):
        kind, t = rule["kind"], rule["threshold"]
        value, subject = _rule_value(rule, stats)
        if value is None:
            fired = False
        elif kind == "mean_confidence_below":
            fired = value < t
        else:
            fired = value > t
        out.append({"rule": rule, "value": value, "fired": bool(fired), "subject": subject,
                    "message": _rule_message(rule, value, subject) if fired else None})
    return out


def _rule_value(rule, stats):
    kind = rule["kind"]
    if kind == "mean_confidence_below":
        return stats.get("mean_confidence"), None
    if kind == "volume_drop":
        prev, cur = stats.get("previous_requests"), stats.get("requests")
        change = pct_change(cur, prev)
        return (None if change is None else -change), None
    if kind == "drift_above":
        return stats.get("drift"), None
    if kind == "class_share_change":
        rows = [r for r in stats.get("classes") or () if r["share_change"] is not None
                and (rule.get("class") in (None, "", r["class"]))]
        if not rows:
            return None, None
        worst = max(rows, key=lambda r: abs(r["share_change"]))
        return abs(worst["share_change"]), worst["class"]
    if kind == "cluster_share_above":
        shares = stats.get("cluster_shares")
        if not shares:
            return None, None
        cluster = max(shares, key=shares.get)
        return float(shares[cluster]), cluster
    return None, None


def _rule_message(rule, value, subject):
    kind = rule["kind"]
    if kind == "mean_confidence_below":
        return "mean confidence %.3f is below %g" % (value, rule["threshold"])
    if kind == "volume_drop":
        return "requests dropped by %.1f%% (more than %g%%)" % (value, rule["threshold"])
    if kind == "drift_above":
        return "drift score %.3f is above %g" % (value, rule["threshold"])
    if kind == "class_share_change":
        return "the share of '%s' changed by %.1f points (more than %g)" % (
            subject, value, rule["threshold"])
    return "%.1f%% of the images are in failure cluster %s (more than %g%%)" % (
        100 * value, subject, 100 * rule["threshold"])


# -- drift -------------------------------------------------------------------------------

def robust_scale(X_ref):
    """``(center, scale)`` of the reference: medians and IQR / 1.349 (the standard
    deviation, then 1, where the IQR is 0), ignoring NaN."""
    X_ref = np.asarray(X_ref, dtype=np.float64)
    q25, med, q75 = np.nanpercentile(X_ref, [25, 50, 75], axis=0)
    s = (q75 - q25) / 1.349
    s = np.where(s > 0, s, np.nanstd(X_ref, axis=0))
    return np.nan_to_num(med), np.where(np.isfinite(s) & (s > 0), s, 1.0)


def _pairwise(Z):
    sq = np.einsum("ij,ij->i", Z, Z)
    d2 = sq[:, None] + sq[None, :] - 2 * Z @ Z.T
    return np.sqrt(np.maximum(d2, 0))


def energy_distance(D, group, unbiased=True):
    """Energy distance ``2 E|X-Y| - E|X-X'| - E|Y-Y'|`` of the two groups given the pooled
    distance matrix ``D`` and (P, N) 0/1 group indicators (one row per labelling): (P,).

    ``unbiased``: the within-group means over distinct pairs (``n (n - 1)``), so the
    statistic is centred on 0 when both groups come from one distribution whatever their
    sizes; else over all pairs (``n^2``, the V-statistic of ``scipy.stats.energy_distance``,
    whose value is the square root of this one).
    """
    g = np.atleast_2d(group).astype(np.float64)
    h = 1 - g
    n, m = g.sum(axis=1), h.sum(axis=1)
    Dg, Dh = D @ g.T, D @ h.T  # (N, P)
    within_n, within_m = (n * (n - 1), m * (m - 1)) if unbiased else (n * n, m * m)
    xx = np.einsum("pn,np->p", g, Dg) / within_n
    yy = np.einsum("pn,np->p", h, Dh) / within_m
    xy = np.einsum("pn,np->p", g, Dh) / (n * m)
    return 2 * xy - xx - yy


def drift(X_ref, X_new, feature_names=None, permutations=DRIFT_PERMUTATIONS, seed=0,
          max_per_side=DRIFT_MAX_PER_SIDE, top=5):
    """Two-sample test of whether the period's images differ from the evaluated ones.

    Both sets are scaled by the reference's medians and IQRs (:func:`robust_scale`,
    values clipped to +-10, NaN to the median); the statistic is their energy
    distance (unbiased: about 0 without drift, whatever the sizes), and its
    p-value the share of ``permutations`` random relabellings of
    the pooled rows with a distance at least as large ((1 + count) / (1 + P)). Each
    side is subsampled (seeded) to at most ``max_per_side`` rows.

    Returns a dict: ``score`` (energy distance), ``p_value``, ``n_reference``,
    ``n_period`` and ``features``: the ``top`` features with the largest shift of the
    median in reference scale units, each with the two medians, the shift, the share
    of reference images below the period's median and a ``phrase``.
    """
    X_ref, X_new = np.asarray(X_ref, np.float64), np.asarray(X_new, np.float64)
    if X_ref.ndim != 2 or X_new.ndim != 2 or X_ref.shape[1] != X_new.shape[1]:
        raise ValueError("both sets need the same (N, F) features, got %s and %s"
                         % (X_ref.shape, X_new.shape))
    if len(X_ref) < 2 or len(X_new) < 2:
        raise ValueError("drift needs at least 2 images on each side, got %d and %d"
                         % (len(X_ref), len(X_new)))
    rng = np.random.default_rng(seed)
    center, scale = robust_scale(X_ref)

    def scaled(X):
        if len(X) > max_per_side:
            X = X[np.sort(rng.choice(len(X), max_per_side, replace=False))]
        Z = np.clip((X - center) / scale, -10, 10)
        return np.where(np.isnan(Z), 0.0, Z)

    A, B = scaled(X_ref), scaled(X_new)
    D = _pairwise(np.vstack([A, B]))
    n, N = len(A), len(A) + len(B)
    observed = energy_distance(D, np.r_[np.ones(n), np.zeros(N - n)])[0]
    perms = np.zeros((permutations, N))
    order = np.argsort(rng.random((permutations, N)), axis=1)[:, :n]
    np.put_along_axis(perms, order, 1.0, axis=1)
    null = energy_distance(D, perms)
    p = (1 + np.count_nonzero(null >= observed - 1e-12)) / (1 + permutations)
    return {"score": float(observed), "p_value": float(p), "n_reference": int(len(X_ref)),
            "n_period": int(len(X_new)), "permutations": int(permutations),
            "features": moved_features(X_ref, X_new, feature_names, top)}


def moved_features(X_ref, X_new, feature_names=None, top=5):
    """The features whose median moved most, in the reference's scale units, in words."""
    X_ref, X_new = np.asarray(X_ref, np.float64), np.asarray(X_new, np.float64)
    names = list(feature_names or ["feature %d" % i for i in range(X_ref.shape[1])])
    _, scale = robust_scale(X_ref)
    ref_med, new_med = np.nanmedian(X_ref, axis=0), np.nanmedian(X_new, axis=0)
    shift = np.nan_to_num((new_med - ref_med) / scale)
    below = (X_ref < new_med).mean(axis=0)
    rows = []
    for j in np.argsort(-np.abs(shift), kind="stable")[:top]:
        if shift[j] == 0:
            break
        higher = shift[j] > 0
        pct = 100 * (below[j] if higher else 1 - below[j])
        rows.append({"feature": names[j], "reference_median": float(ref_med[j]),
                     "period_median": float(new_med[j]), "shift": float(shift[j]),
                     "phrase": "%s %s: median %.3g against %.3g, %s than %.0f%% of the "
                               "evaluated images" % (
                                   names[j], "higher" if higher else "lower", new_med[j],
                                   ref_med[j], "higher" if higher else "lower", pct)})
    return rows


# -- placement on the error map ----------------------------------------------------------

def normal_scores_against(X_ref, X_new):
    """New rows on the reference's normal-score scale (:func:`descriptors.normal_scores`):
    each value's mid-rank among the reference values of its column, ``(rank - 0.5) / n``
    clipped to ``[0.5 / n, 1 - 0.5 / n]``, through the normal quantile; NaN becomes 0."""
    from scipy.special import ndtri

    X_ref, X_new = np.asarray(X_ref, np.float64), np.asarray(X_new, np.float64)
    Z = np.zeros(X_new.shape)
    for j in range(X_ref.shape[1]):  # one column at a time: F searchsorted calls, not N
        ref = np.sort(X_ref[:, j][~np.isnan(X_ref[:, j])])
        if len(ref) == 0:
            continue
        lo = np.searchsorted(ref, X_new[:, j], "left")
        hi = np.searchsorted(ref, X_new[:, j], "right")
        q = np.clip((lo + hi) / 2 / len(ref), 0.5 / len(ref), 1 - 0.5 / len(ref))
        Z[:, j] = np.where(np.isnan(X_new[:, j]), 0.0, ndtri(q))
    return Z.astype(np.float32)


def nearest(Z_ref, Z_new, k):
    """Exact k nearest reference rows of each new row: (indices, distances), nearest first."""
    from .projection import _ExactIndex

    return _ExactIndex(Z_ref).query(Z_new, min(k, len(Z_ref)))


def place(Z_ref, xy_ref, cluster_ref, Z_new, k=PLACE_NEIGHBORS):
    """Positions and clusters of new rows on an existing map.

    Each new row goes to the inverse-distance-weighted mean position of its ``k``
    nearest reference rows (in the map's scaled feature space) and to the cluster
    with the largest summed weight among them.

    Returns ``(xy (M, 2) float32, cluster (M,) int64, distance (M,) to the nearest)``.
    """
    cluster_ref = np.asarray(cluster_ref, dtype=np.int64)
    idx, dist = nearest(np.asarray(Z_ref, np.float32), np.asarray(Z_new, np.float32), k)
    w = 1.0 / np.maximum(dist.astype(np.float64), 1e-6)
    w /= w.sum(axis=1, keepdims=True)
    xy = np.einsum("mk,mkd->md", w, np.asarray(xy_ref, np.float64)[idx])
    C = int(cluster_ref.max()) + 1
    votes = np.zeros((len(idx), C))
    np.add.at(votes, (np.repeat(np.arange(len(idx)), idx.shape[1]), cluster_ref[idx].ravel()),
              w.ravel())
    return xy.astype(np.float32), np.argmax(votes, axis=1).astype(np.int64), dist[:, 0]


def cluster_error_rates(cluster, failed):
    """Each cluster's measured error rate: failures / evaluated members (NaN when none);
    ``failed`` is 1 / 0 / NaN (not evaluated) per reference point."""
    cluster = np.asarray(cluster, dtype=np.int64)
    failed = np.asarray(failed, dtype=np.float64)
    ev = np.isfinite(failed)
    C = int(cluster.max()) + 1
    n = np.bincount(cluster[ev], minlength=C)
    f = np.bincount(cluster[ev], weights=failed[ev], minlength=C)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, f / np.maximum(n, 1), np.nan)


def expected_error_rate(new_cluster, rates, ref_cluster=None):
    """The period's expected error rate and how its clusters' shares moved.

    Each image counts its cluster's measured error rate (clusters without evaluated
    members count the mean rate); with ``ref_cluster`` the reference's own rate (the
    same average over the evaluated set) and, per cluster, the share of the period's
    and of the evaluated images, largest growth first.
    """
    rates = np.asarray(rates, dtype=np.float64)
    filled = np.where(np.isfinite(rates), rates, np.nanmean(rates))
    new_cluster = np.asarray(new_cluster, dtype=np.int64)
    out = {"expected_error_rate": float(filled[new_cluster].mean()) if len(new_cluster) else None,
           "n_period": int(len(new_cluster))}
    C = len(rates)
    new_share = np.bincount(new_cluster, minlength=C) / max(len(new_cluster), 1)
    rows = []
    if ref_cluster is not None:
        ref_cluster = np.asarray(ref_cluster, dtype=np.int64)
        ref_share = np.bincount(ref_cluster, minlength=C) / max(len(ref_cluster), 1)
        out["reference_error_rate"] = float(filled[ref_cluster].mean())
        for c in np.argsort(-(new_share - ref_share), kind="stable"):
            rows.append({"cluster": int(c), "error_rate": None if np.isnan(rates[c]) else
                         float(rates[c]), "period_share": float(new_share[c]),
                         "reference_share": float(ref_share[c]),
                         "share_change": float(new_share[c] - ref_share[c])})
    out["clusters"] = rows
    return out
