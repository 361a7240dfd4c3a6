"""Plain-language descriptions and statistics of failure clusters.

:func:`summarize_clusters` ranks clusters by the errors they hold beyond what
their content predicts (only clusters that fail significantly more than
expected count as failure clusters) and describes each in a few phrases
("darker than 90% of other images", "mostly missed objects").
"""

from dataclasses import asdict, dataclass, field

import numpy as np

from .clustering import _error_codes
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
_MIN_COUNT = 3      # members needed to say anything
_MIN_H = 0.5        # Cohen's h ("medium effect") for over-represented values
_MIN_DIFF = 0.1     # ... and at least 10 points more than elsewhere
_PERCENTILE = 0.8   # numeric: cluster median beyond 80% (or under 20%) of the rest


def _cohen_h(p, q):
    """Effect size of a difference of proportions (comparable across signals)."""
    return 2 * np.arcsin(np.sqrt(np.clip(p, 0, 1))) - 2 * np.arcsin(np.sqrt(np.clip(q, 0, 1)))


def _over_represented(counts, totals):
    """(cluster, value, p, q, h) where a value's share in a cluster beats the rest's."""
    counts = np.asarray(counts, dtype=np.float64)
    totals = np.asarray(totals, dtype=np.float64)
    rest_tot = totals.sum() - totals
    with np.errstate(divide="ignore", invalid="ignore"):
        p = counts / totals[:, None]
        q = (counts.sum(axis=0) - counts) / rest_tot[:, None]
    h = _cohen_h(np.nan_to_num(p), np.nan_to_num(q))
    hit = ((counts >= _MIN_COUNT) & (rest_tot[:, None] > 0) & (h >= _MIN_H)
           & (p - q >= _MIN_DIFF))
    return [(c, v, p[c, v], q[c, v], h[c, v]) for c, v in zip(*np.nonzero(hit))]


def _numeric(out, values, groups, name, noun, template=None):
    """Percentile rule for one numeric column; appends (cluster, h, family, phrase)."""
    low, high, family = template or FEATURE_PHRASES.get(
        name, (f"low {name} (bottom {{top}}%)", f"high {name} (top {{top}}%)", name))
    finite = np.isfinite(values)
    ranked = np.sort(values[finite])
    for c, idx in enumerate(groups):
        v = values[idx][finite[idx]]
        n_rest = ranked.size - v.size
        if v.size < _MIN_COUNT or n_rest < _MIN_COUNT:
            continue
        q25, med, q75 = np.percentile(v, [25, 50, 75])
        below = np.searchsorted(ranked, med, "left") - np.count_nonzero(v < med)
        ties = np.searchsorted(ranked, med, "right") - np.searchsorted(ranked, med, "left") \
            - np.count_nonzero(v == med)
        p = (below + 0.5 * ties) / n_rest
        template = high if p >= _PERCENTILE else low if p <= 1 - _PERCENTILE else None
        if template is None:
            continue
        pct = round(100 * max(p, 1 - p))
        side25, side75 = (round(float(np.sqrt(np.exp(min(q, 700))))) for q in (q25, q75))
        phrase = template.format(pct=pct, top=max(100 - pct, 1), noun=noun, med=med, q25=q25,
                                 q75=q75, side25=side25, side75=side75)
        out.append((c, abs(_cohen_h(p, 0.5)), family, phrase))


def _binary(out, values, labels, C, name):
    """Over-represented 0s or 1s of a 0/1 column."""
    finite = np.isfinite(values)
    counts = np.bincount(labels[finite] * 2 + values[finite].astype(np.int64),
                         minlength=2 * C).reshape(C, 2)
    names = BINARY_PHRASES.get(name, (None, name))
    for c, v, p, q, h in _over_represented(counts, counts.sum(axis=1)):
        if names[v] is not None:
            out.append((c, h, name, f"{names[v]} in {p:.0%} (vs {q:.0%} elsewhere)"))


def _categorical(out, values, labels, C, name):
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
    counts = np.bincount(labels[pairs // V] * V + pairs % V, minlength=C * V).reshape(C, V)
    totals = np.bincount(labels if is_list else labels[sizes > 0], minlength=C)
    what = (name[:-1] if name.endswith("s") else name) + " '{}'" if is_list else name + "='{}'"
    for c, v, p, q, h in _over_represented(counts, totals):
        out.append((c, h, f"{name}:{uniq[v]}",
                    f"{what.format(uniq[v])} in {p:.0%} (vs {q:.0%} elsewhere)"))


def _as_array(values):
    """A 1-D numeric / str array, or an object array of the values (tags, None)."""
    try:
        arr = np.asarray(values)
        if arr.ndim == 1 and arr.dtype.kind in "biufUS":
            return arr
    except ValueError:  # ragged lists
        pass
    return np.fromiter(values, dtype=object, count=len(values))


def _phrases(labels, C, type_counts, class_counts, class_names, features, names, kinds, extra):
    """Up to MAX_PHRASES descriptions per cluster, strongest contrast first."""
    out = []  # (cluster, effect size, family, phrase)
    for c, v, p, q, h in _over_represented(class_counts, class_counts.sum(axis=1)):
        out.append((c, h, f"class:{v}", f"{p:.0%} '{class_names[v]}' (vs {q:.0%} elsewhere)"))
    for c, v, p, q, h in _over_represented(type_counts, type_counts.sum(axis=1)):
        what = _ERROR_PHRASES[ERROR_TYPES[v]]
        out.append((c, h, f"error:{v}", f"mostly {what} ({p:.0%})" if p >= 0.5 else
                    f"many {what} ({p:.0%} vs {q:.0%} elsewhere)"))

    bounds = np.cumsum(np.bincount(labels, minlength=C))[:-1]
    groups = np.split(np.argsort(labels, kind="stable"), bounds)
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
            _binary(out, col, labels, C, name)
        elif prefix and base in FEATURE_PHRASES:  # crop_ / image_ versions of a feature
            low, high, family = FEATURE_PHRASES[base]
            _numeric(out, col, groups, name, _PREFIX_NOUNS[prefix], (low, high, prefix + family))
        else:
            _numeric(out, col, groups, name, kinds[j] + "s")

    for name, values in (extra or {}).items():
        arr = values if isinstance(values, np.ndarray) else _as_array(values)
        if len(arr) != labels.size:
            raise ValueError(f"extra[{name!r}] has {len(arr)} values, expected {labels.size}")
        if arr.dtype == bool:
            _binary(out, arr.astype(np.float64), labels, C, name)
        elif np.issubdtype(arr.dtype, np.number):
            _numeric(out, arr.astype(np.float64), groups, name, "samples")
        else:
            _categorical(out, arr, labels, C, name)

    phrases = [[] for _ in range(C)]
    seen = [set() for _ in range(C)]
    order = sorted(range(len(out)), key=lambda i: (-round(out[i][1], 6), i))  # ties: input order
    for c, h, family, phrase in (out[i] for i in order):
        if family not in seen[c] and len(phrases[c]) < MAX_PHRASES:
            seen[c].add(family)
            phrases[c].append(phrase)
    return phrases


@dataclass
class ClusterSummary:
    """One cluster: its size, errors and what sets it apart.

    Attributes:
        id: cluster label
        rank: 1 for the cluster with the most excess errors, 2 for the next, ...
        size: number of members
        evaluated: members with an error type (not None)
        error_count: evaluated members that are not ``correct``
        error_rate: error_count / evaluated (NaN when nothing was evaluated)
        lift: error_rate / overall error rate (NaN when undefined)
        excess_errors: error_count - evaluated * overall error rate, the errors
            beyond what the cluster's size predicts
        error_counts: error type -> count
        classes: up to three ``(class name, share of members)``, commonest first
        description: up to four phrases, strongest contrast with the rest first
    """

    id: int
    rank: int
    size: int
    evaluated: int
    error_count: int
    error_rate: float
    lift: float
    excess_errors: float
    error_counts: dict = field(default_factory=dict)
    classes: list = field(default_factory=list)
    description: list = field(default_factory=list)

    def to_dict(self):
        """JSON-ready dict (NaN becomes None)."""
        d = asdict(self)
        for key in ("error_rate", "lift", "excess_errors"):
            d[key] = None if np.isnan(d[key]) else float(d[key])
        d["classes"] = [[name, float(share)] for name, share in self.classes]
        return d


def summarize_clusters(labels, error_type, classes, class_names, features=None,
                       feature_names=None, feature_kinds=None, extra=None):
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

    Returns:
        list of :class:`ClusterSummary` sorted by ``rank``: decreasing excess
        errors (by size when there are no error types)
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError("labels must be a 1-D integer array")
    if labels.size and labels.min() < 0:
        raise ValueError("labels must be non-negative")
    N, T, K = labels.size, len(ERROR_TYPES), len(class_names)
    C = int(labels.max()) + 1 if N else 0
    codes = _error_codes(error_type, N)
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
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = n_err / n_eval
        lift = rate / overall if overall > 0 else np.full(C, np.nan)
    excess = n_err - n_eval * np.nan_to_num(overall)
    sizes = np.bincount(labels, minlength=C)
    phrases = _phrases(labels, C, type_counts, class_counts, class_names, features, names,
                       kinds, extra)

    order = np.lexsort((np.arange(C), -sizes, -np.nan_to_num(rate, nan=-1.0), -excess))
    summaries = []
    for rank, c in enumerate(order[sizes[order] > 0], start=1):
        top = np.argsort(-class_counts[c], kind="stable")[:3]
        summaries.append(ClusterSummary(
            id=int(c), rank=rank, size=int(sizes[c]), evaluated=int(n_eval[c]),
            error_count=int(n_err[c]), error_rate=float(rate[c]), lift=float(lift[c]),
            excess_errors=float(excess[c]),
            error_counts=dict(zip(ERROR_TYPES, type_counts[c].tolist())),
            classes=[(str(class_names[i]), float(class_counts[c, i] / class_counts[c].sum()))
                     for i in top if class_counts[c, i] > 0],
            description=phrases[c],
        ))
    return summaries
