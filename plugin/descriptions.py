"""Plain-language descriptions and statistics of failure clusters.

:func:`summarize_clusters` ranks clusters by the errors they hold beyond what
their content predicts (only clusters that fail significantly more than
expected count as failure clusters) and describes each in a few phrases
("darker than 90% of other images", "mostly missed objects").
"""

from dataclasses import asdict, dataclass, field

import numpy as np

from .clustering import ALPHA, error_codes, failure_statistics, failures
from .descriptors import BINARY_PHRASES, FEATURE_PHRASES, IMAGE_FEATURES
from .errors import ERROR_TYPES

_ERROR_PHRASES = {
    "correct": "correct", "classification": "wrong-class detections",
    "localization": "poorly localized boxes", "both": "wrong class and poor box",
    "duplicate": "duplicate detections", "background": "background false positives",
    "missed": "missed objects",
}
#: Features of an object's crop or of its image, named after the image feature.
_PREFIX_NOUNS = {"crop_": "objects", "image_": "images"}
MAX_PHRASES = 4
#: Threshold rules per failure cluster, and clusters that get them (the top ones).
MAX_SLICES, SLICED_CLUSTERS = 3, 5
_MIN_COUNT = 3      # members needed to say anything
_MIN_H = 0.5        # Cohen's h ("medium effect") for over-represented values
_MIN_DIFF = 0.1     # ... and at least 10 points more than elsewhere
_PERCENTILE = 0.8   # numeric: cluster median beyond 80% (or under 20%) of the rest


def _cohen_h(p, q):
    """Effect size of a difference of proportions (comparable across signals)."""
    return 2 * np.arcsin(np.sqrt(np.clip(p, 0, 1))) - 2 * np.arcsin(np.sqrt(np.clip(q, 0, 1)))


def _over_represented(counts, totals, all_counts=None, all_totals=None):
    """(cluster, value, p, q, h, p-value) where a value's share among a cluster's
    described points (``counts`` of ``totals``) beats its share outside the
    cluster (from ``all_counts`` of ``all_totals``, default the same), with a
    one-sided two-proportion z-test."""
    from scipy.stats import norm

    counts = np.asarray(counts, dtype=np.float64)
    totals = np.asarray(totals, dtype=np.float64)
    all_counts = counts if all_counts is None else np.asarray(all_counts, dtype=np.float64)
    all_totals = totals if all_totals is None else np.asarray(all_totals, dtype=np.float64)
    rest_tot = all_totals.sum() - all_totals
    with np.errstate(divide="ignore", invalid="ignore"):
        p = counts / totals[:, None]
        q = (all_counts.sum(axis=0) - all_counts) / rest_tot[:, None]
        pooled = (counts + all_counts.sum(axis=0) - all_counts) / (totals + rest_tot)[:, None]
        se = np.sqrt(pooled * (1 - pooled) * (1 / totals + 1 / rest_tot)[:, None])
        z = np.where(se > 0, (p - q) / se, np.inf)
    h = _cohen_h(np.nan_to_num(p), np.nan_to_num(q))
    hit = ((counts >= _MIN_COUNT) & (rest_tot[:, None] > 0) & (h >= _MIN_H)
           & (p - q >= _MIN_DIFF))
    return [(c, v, p[c, v], q[c, v], h[c, v], float(norm.sf(z[c, v])))
            for c, v in zip(*np.nonzero(hit))]


def _rank_test(v, below, ties, n_rest):
    """Probability of superiority A = P(focus > rest) and the two-sided p-value of
    the Mann-Whitney U test (normal approximation), from each focus value's count
    of rest values below it and tied with it."""
    from scipy.stats import norm

    n1 = v.size
    u = float(np.sum(below + 0.5 * ties))
    A = u / (n1 * n_rest)
    sd = np.sqrt(n1 * n_rest * (n1 + n_rest + 1) / 12.0)
    return A, float(2 * norm.sf(abs(u - n1 * n_rest / 2) / sd)) if sd > 0 else 1.0


def _numeric(out, values, groups, focus, name, noun, template=None):
    """Percentile rule for one numeric column: a cluster's described points
    (``focus[c]``) against the points outside it (``groups[c]`` are all its
    members); appends (cluster, h, family, phrase, p-value)."""
    low, high, family = template or FEATURE_PHRASES.get(
        name, (f"low {name} (bottom {{top}}%)", f"high {name} (top {{top}}%)", name))
    finite = np.isfinite(values)
    ranked = np.sort(values[finite])
    for c, (idx, fidx) in enumerate(zip(groups, focus)):
        members = np.sort(values[idx][finite[idx]])
        v = values[fidx][finite[fidx]]
        n_rest = ranked.size - members.size
        if v.size < _MIN_COUNT or n_rest < _MIN_COUNT:
            continue
        q25, med, q75 = np.percentile(v, [25, 50, 75])

        def rest_counts(x):
            lo = np.searchsorted(ranked, x, "left") - np.searchsorted(members, x, "left")
            hi = np.searchsorted(ranked, x, "right") - np.searchsorted(members, x, "right")
            return lo, hi - lo

        below, ties = rest_counts(med)
        p = (below + 0.5 * ties) / n_rest
        template = high if p >= _PERCENTILE else low if p <= 1 - _PERCENTILE else None
        if template is None:
            continue
        A, pval = _rank_test(v, *rest_counts(v), n_rest)
        pct = round(100 * max(p, 1 - p))
        side25, side75 = (round(float(np.sqrt(np.exp(min(q, 700))))) for q in (q25, q75))
        phrase = template.format(pct=pct, top=max(100 - pct, 1), noun=noun, med=med, q25=q25,
                                 q75=q75, side25=side25, side75=side75)
        out.append((c, abs(_cohen_h(A, 0.5)), family, phrase, pval))


def _binary(out, values, labels, focus, C, name):
    """Over-represented 0s or 1s of a 0/1 column."""
    finite = np.isfinite(values)
    code = labels * 2 + np.where(finite, values, 0).astype(np.int64)
    counts = np.bincount(code[finite & focus], minlength=2 * C).reshape(C, 2)
    all_counts = np.bincount(code[finite], minlength=2 * C).reshape(C, 2)
    names = BINARY_PHRASES.get(name, (None, name))
    for c, v, p, q, h, pval in _over_represented(counts, counts.sum(axis=1), all_counts,
                                                 all_counts.sum(axis=1)):
        if names[v] is not None:
            out.append((c, h, name, f"{names[v]} in {p:.0%} (vs {q:.0%} elsewhere)", pval))


def _categorical(out, values, labels, focus, C, name):
    """Over-represented values of a categorical (None = missing) or list-valued field."""
    listy = (list, tuple, set, np.ndarray)
    is_list = any(isinstance(v, listy) for v in values)
    items = [list(v) if isinstance(v, listy) else [] if v is None else [v] for v in values]
    sizes = np.array([len(v) for v in items], dtype=np.int64)
    if not sizes.any():
        return
    rows = np.repeat(np.arange(labels.size), sizes)
    uniq, code = np.unique(np.array([str(x) for v in items for x in v]), return_inverse=True)
    V = uniq.size
    pairs = np.unique(rows * V + code.ravel())  # a tag repeated in one row counts once
    cell = labels[pairs // V] * V + pairs % V
    counts = np.bincount(cell[focus[pairs // V]], minlength=C * V).reshape(C, V)
    all_counts = np.bincount(cell, minlength=C * V).reshape(C, V)
    counted = np.ones(labels.size, bool) if is_list else sizes > 0
    totals = np.bincount(labels[counted & focus], minlength=C)
    all_totals = np.bincount(labels[counted], minlength=C)
    what = (name[:-1] if name.endswith("s") else name) + " '{}'" if is_list else name + "='{}'"
    for c, v, p, q, h, pval in _over_represented(counts, totals, all_counts, all_totals):
        out.append((c, h, f"{name}:{uniq[v]}",
                    f"{what.format(uniq[v])} in {p:.0%} (vs {q:.0%} elsewhere)", pval))


def _as_array(values):
    """A 1-D numeric / str array, or an object array of the values (tags, None)."""
    try:
        arr = np.asarray(values)
        if arr.ndim == 1 and arr.dtype.kind in "biufUS":
            return arr
    except ValueError:  # ragged lists
        pass
    return np.fromiter(values, dtype=object, count=len(values))


def _phrases(labels, focus, C, type_counts, class_counts, class_names, features, names, kinds,
             extra):
    """Up to MAX_PHRASES (phrase, effect size) per cluster, largest effect first.

    A cluster's class mix and error types are those of all its members; its
    features are those of its described points (``focus``: a failure
    cluster's errors) against every point outside it. Effect sizes are
    Cohen's h: of two shares, or for numbers of the probability that a
    described point's value exceeds an outside one's (Mann-Whitney). Phrases
    whose test is not significant at ALPHA (Bonferroni over the features) are
    dropped.
    """
    out = []  # (cluster, effect size, family, phrase, p-value)
    for c, v, p, q, h, pval in _over_represented(class_counts, class_counts.sum(axis=1)):
        out.append((c, h, f"class:{v}", f"{p:.0%} '{class_names[v]}' (vs {q:.0%} elsewhere)",
                    pval))
    for c, v, p, q, h, pval in _over_represented(type_counts, type_counts.sum(axis=1)):
        what = _ERROR_PHRASES[ERROR_TYPES[v]]
        out.append((c, h, f"error:{v}", f"mostly {what} ({p:.0%})" if p >= 0.5 else
                    f"many {what} ({p:.0%} vs {q:.0%} elsewhere)", pval))

    order = np.argsort(labels, kind="stable")
    bounds = np.cumsum(np.bincount(labels, minlength=C))[:-1]
    groups = np.split(order, bounds)
    focused = [g[focus[g]] for g in groups]
    is_pred = features[:, names.index("is_prediction")] if "is_prediction" in names else None
    for j, name in enumerate(names):
        col = features[:, j]
        if name == "confidence" and is_pred is not None:
            col = np.where(is_pred == 1, col, np.nan)  # ground truth has no confidence
        finite = col[np.isfinite(col)]
        prefix = next((p for p in _PREFIX_NOUNS if name.startswith(p)), "")
        base = name[len(prefix):]
        flag = name in BINARY_PHRASES or base not in FEATURE_PHRASES
        if flag and finite.size and np.all((finite == 0) | (finite == 1)):
            _binary(out, col, labels, focus, C, name)
        elif prefix and base in FEATURE_PHRASES:  # crop_ / image_ versions of a feature
            low, high, family = FEATURE_PHRASES[base]
            _numeric(out, col, groups, focused, name, _PREFIX_NOUNS[prefix],
                     (low, high, prefix + family))
        else:
            _numeric(out, col, groups, focused, name, kinds[j] + "s")

    for name, values in (extra or {}).items():
        arr = values if isinstance(values, np.ndarray) else _as_array(values)
        if len(arr) != labels.size:
            raise ValueError(f"extra[{name!r}] has {len(arr)} values, expected {labels.size}")
        if arr.dtype == bool:
            _binary(out, arr.astype(np.float64), labels, focus, C, name)
        elif np.issubdtype(arr.dtype, np.number):
            _numeric(out, arr.astype(np.float64), groups, focused, name, "samples")
        else:
            _categorical(out, arr, labels, focus, C, name)

    tests = 2 + len(names) + len(extra or {})
    phrases = [[] for _ in range(C)]
    seen = [set() for _ in range(C)]
    order = sorted(range(len(out)), key=lambda i: (-round(out[i][1], 6), i))  # ties: input order
    for c, h, family, phrase, pval in (out[i] for i in order):
        if pval < ALPHA / tests and family not in seen[c] and len(phrases[c]) < MAX_PHRASES:
            seen[c].add(family)
            phrases[c].append((phrase, round(float(h), 2)))
    return phrases


def feature_slices(features, names, target, max_rules=MAX_SLICES):
    """Single-feature threshold rules ("brightness <= 0.21") that best pick out
    the ``target`` points (a cluster's failures), with their precision and recall.

    For every numeric feature and both directions, the threshold with the best
    F1 over every cut of the sorted values (cumulative counts: vectorized); a
    rule must cover at least _MIN_COUNT points. Up to ``max_rules`` rules on
    different features, best F1 first; ``precision`` is the share of the
    points a rule selects that are targets, ``recall`` the share of targets
    it selects.
    """
    target = np.asarray(target, dtype=bool)
    P = int(target.sum())
    rules = []
    if P < _MIN_COUNT:
        return rules
    for j, name in enumerate(names):
        col = np.asarray(features[:, j], dtype=np.float64)
        ok = np.isfinite(col)
        if np.unique(col[ok]).size < 3:  # flags are phrases, not thresholds
            continue
        order = np.argsort(col[ok], kind="stable")
        v, t = col[ok][order], target[ok][order]
        last = np.r_[v[1:] != v[:-1], True]  # cut after the last of equal values
        for op, vals, hits in (("<=", v, t), (">=", v[::-1], t[::-1])):
            cut = last if op == "<=" else np.r_[vals[1:] != vals[:-1], True]
            tp = np.cumsum(hits)[cut]
            n = (np.arange(1, vals.size + 1))[cut]
            f1 = 2 * tp / (n + P)
            f1[n < _MIN_COUNT] = -1
            best = int(np.argmax(f1))
            if f1[best] > 0:
                rules.append({"feature": name, "op": op, "threshold": float(vals[cut][best]),
                              "precision": float(tp[best] / n[best]),
                              "recall": float(tp[best] / P), "f1": float(f1[best])})
    rules.sort(key=lambda r: -r["f1"])
    out, seen = [], set()
    for r in rules:
        if r["feature"] not in seen:
            seen.add(r["feature"])
            out.append(r)
    return out[:max_rules]


@dataclass
class ClusterSummary:
    """One cluster: its size, errors and what sets it apart.

    Attributes:
        id: cluster label
        rank: 1 for the significant failure cluster with the most excess
            errors, then the next; clusters that are not significant follow
        size: number of members
        evaluated: members with an error type (not None)
        error_count: evaluated members that are not ``correct``
        error_rate: error_count / evaluated (NaN when nothing was evaluated)
        lift: error_rate / overall error rate (NaN when undefined)
        expected_errors: the failures its members' content predicts (``expected``
            of :func:`summarize_clusters`; default evaluated x overall rate)
        observed_errors: its failures in the unit of ``expected_errors``: the
            error count, or with ``errors`` (counts per point) their sum
        unit: what they count: "points" (members with an error) or "errors"
        basis: what predicts ``expected_errors``, as a phrase ("their numbers
            of true classes predict"), when the caller names it; else None
        excess_errors: observed_errors - expected_errors
        p_value: one-sided binomial test of more errors than expected,
            as a Benjamini-Hochberg q-value over the clusters
            (:func:`clustering.failure_statistics`)
        significant: p_value < ALPHA and excess_errors > 0: a failure cluster
        error_counts: error type -> count
        classes: up to three ``(class name, share of members)``, commonest first
        description: up to four significant phrases, largest effect first (a
            failure cluster: what sets its errors apart from every other point)
        effect_sizes: Cohen's h of each phrase
        slices: a failure cluster's threshold rules for its errors
            (:func:`feature_slices`): dicts feature, op, threshold, precision,
            recall, f1
    """

    id: int
    rank: int
    size: int
    evaluated: int
    error_count: int
    error_rate: float
    lift: float
    excess_errors: float
    expected_errors: float = float("nan")
    observed_errors: float = float("nan")
    unit: str = "points"
    basis: str = None
    p_value: float = 1.0
    significant: bool = False
    error_counts: dict = field(default_factory=dict)
    classes: list = field(default_factory=list)
    description: list = field(default_factory=list)
    effect_sizes: list = field(default_factory=list)
    slices: list = field(default_factory=list)

    def to_dict(self):
        """JSON-ready dict (NaN becomes None)."""
        d = asdict(self)
        for key in ("error_rate", "lift", "excess_errors", "expected_errors", "observed_errors",
                    "p_value"):
            d[key] = None if np.isnan(d[key]) else float(d[key])
        d["classes"] = [[name, float(share)] for name, share in self.classes]
        return d


def summarize_clusters(labels, error_type, classes, class_names, features=None,
                       feature_names=None, feature_kinds=None, extra=None, expected=None,
                       errors=None, dispersion=None):
    """Statistics and descriptions of every cluster, failure clusters first.

    Args:
        labels: (N,) non-negative int cluster of every sample / object
        error_type: (N,) error type names from
            :data:`errors.ERROR_TYPES` (or their integer codes) with None
            (or -1) for members that were not evaluated; or None altogether
        classes: (N,) int class index (-1 for none), or None
        class_names: names indexed by ``classes``
        features: optional (N, F) numeric features (NaN = missing), e.g.
            :func:`descriptors.image_descriptor` / :func:`object_descriptors` rows
        feature_names: (F,) names; known names get tailored phrases
        feature_kinds: (F,) what each feature describes, used as the noun of
            its phrases ("image", "object"); default "image" for
            :data:`descriptors.IMAGE_FEATURES` names, "object" otherwise
        extra: optional dict name -> (N,) array of sample fields or tags:
            numeric, categorical (str / bool / None) or list-valued (tags)
        expected: optional (N,) chance of each point failing given its
            content (:func:`clustering.expected_failure`, e.g. from a
            sample's number of objects); default the overall error rate; with
            ``errors``, expected counts (:func:`clustering.expected_errors`)
        errors: optional (N,) error counts per point (a detection image's
            errors): clusters are then tested on their sum against
            ``expected`` (quasi-Poisson, with ``dispersion``)
        dispersion: the counts' dispersion (:func:`clustering.expected_errors`)

    Returns:
        list of :class:`ClusterSummary` sorted by ``rank``: significant
        failure clusters by decreasing excess errors, then the others (by
        size when there are no error types)
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError("labels must be a 1-D integer array")
    if labels.size and labels.min() < 0:
        raise ValueError("labels must be non-negative")
    N, T, K = labels.size, len(ERROR_TYPES), len(class_names)
    C = int(labels.max()) + 1 if N else 0
    codes = error_codes(error_type, N)
    ev = codes >= 0
    type_counts = np.bincount(labels[ev] * T + codes[ev], minlength=C * T).reshape(C, T)
    classes = np.full(N, -1) if classes is None else np.asarray(classes)
    if N and classes.dtype.kind not in "iu":
        raise TypeError(f"classes must be integer class indices, got {classes.dtype}")
    if classes.shape != (N,) or (N and (classes.min() < -1 or classes.max() >= K)):
        raise ValueError(f"classes must be ({N},) indices into the {K} class_names, or -1")
    has = classes >= 0
    class_counts = np.bincount(labels[has] * K + classes[has], minlength=C * K).reshape(C, K)
    if features is None:
        features, feature_names = np.zeros((N, 0)), []
    features = np.asarray(features, dtype=np.float64)
    names = list(feature_names) if feature_names is not None else \
        [f"feature_{j}" for j in range(features.shape[-1])]
    if features.ndim != 2 or features.shape[0] != N or len(names) != features.shape[1]:
        raise ValueError(f"features must be (N={N}, F) with F feature_names, got "
                         f"{features.shape} and {len(names)} names")
    kinds = list(feature_kinds) if feature_kinds is not None else \
        ["image" if n in IMAGE_FEATURES else "object" for n in names]
    if len(kinds) != len(names):
        raise ValueError(f"feature_kinds must have {len(names)} entries, got {len(kinds)}")

    n_eval = type_counts.sum(axis=1)
    n_err = n_eval - type_counts[:, 0]
    overall = n_err.sum() / n_eval.sum() if n_eval.sum() else np.nan
    failed, expected = failures(codes, expected, errors)
    _, obs, exp, excess, pval = failure_statistics(
        labels, failed, expected, C, None if errors is None else max(float(dispersion or 1), 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = n_err / n_eval
        lift = rate / overall if overall > 0 else np.full(C, np.nan)
    significant = (pval < ALPHA) & (excess > 0)
    sizes = np.bincount(labels, minlength=C)
    focus = significant[labels] & (failed > 0)
    few = np.bincount(labels[focus], minlength=C) < _MIN_COUNT
    focus |= few[labels] | ~significant[labels]  # otherwise: all members
    phrases = _phrases(labels, focus, C, type_counts, class_counts, class_names, features,
                       names, kinds, extra)

    order = np.lexsort((np.arange(C), -sizes, -np.nan_to_num(rate, nan=-1.0), -excess,
                        ~significant))
    summaries = []
    for rank, c in enumerate(order[sizes[order] > 0], start=1):
        top = np.argsort(-class_counts[c], kind="stable")[:3]
        sliced = significant[c] and rank <= SLICED_CLUSTERS and features.shape[1]
        summaries.append(ClusterSummary(
            id=int(c), rank=rank, size=int(sizes[c]), evaluated=int(n_eval[c]),
            error_count=int(n_err[c]), error_rate=float(rate[c]), lift=float(lift[c]),
            excess_errors=float(excess[c]), expected_errors=float(exp[c]),
            observed_errors=float(obs[c]), unit="points" if errors is None else "errors",
            p_value=float(pval[c]), significant=bool(significant[c]),
            error_counts=dict(zip(ERROR_TYPES, type_counts[c].tolist())),
            classes=[(str(class_names[i]), float(class_counts[c, i] / class_counts[c].sum()))
                     for i in top if class_counts[c, i] > 0],
            description=[ph for ph, _ in phrases[c]],
            effect_sizes=[h for _, h in phrases[c]],
            slices=feature_slices(features, names, (labels == c) & (failed > 0))
            if sliced else [],
        ))
    return summaries
