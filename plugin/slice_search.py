"""Slices from values, and the automatic search for the worst combinations of conditions.

:func:`groups` turns one value per unit (a sample field: strings, booleans,
lists such as tags, numbers) or one value per label (a label attribute, with
its unit) into slices ``(name, units)``: a category each, a list element each
(a unit in every slice of its elements), numbers in quantile bins. A unit is
in a label attribute's slice when one of its labels has that value.

:func:`search` finds the combinations of up to ``max_l`` conditions whose
error is highest for their size with SliceLine (Sagadeeva and Boehm, SIGMOD
2021; the ``sliceline`` package): it enumerates the lattice of conjunctions
exactly, with sparse linear algebra and score-based pruning, and scores a slice
by ``alpha * (mean error / overall mean error - 1) - (1 - alpha) * (n / size - 1)``,
keeping slices of at least ``min_sup`` units. Conditions are the categories and
bins of :func:`conditions`.
"""

import numpy as np

MISSING = "missing"
NUM_BINS = 4


def groups(values, units=None, num_units=None, bins=NUM_BINS, prefix=""):
    """``[(name, units), ...]`` for one value per unit (``units`` None) or per
    label (``units``: each label's unit). Lists give one slice per element,
    numbers with more than ``bins`` distinct values quantile bins, anything
    else one slice per value; None is left out."""
    values = list(values)
    if units is None:
        units = np.arange(len(values))
    units = np.asarray(units, dtype=np.int64)
    if any(isinstance(v, (list, tuple)) for v in values):
        flat_units = np.repeat(units, [len(v) if isinstance(v, (list, tuple)) else 0 for v in values])
        values = [x for v in values if isinstance(v, (list, tuple)) for x in v]
        units = flat_units
    names = labels_of(values, bins)
    keep = np.array([n is not None for n in names], bool)
    if not keep.any():
        return []
    names = np.asarray(names, dtype=object)[keep]
    units = units[keep]
    out = []
    for name in _ordered(names):
        out.append((prefix + str(name), np.unique(units[names == name])))
    return out


def labels_of(values, bins=NUM_BINS):
    """Each value's slice name: numbers (not booleans) with more than ``bins``
    distinct values as their quantile bin "[a, b)", others as themselves."""
    numeric = [v for v in values if _is_number(v)]
    if numeric and len(numeric) == sum(v is not None for v in values) and len(set(numeric)) > bins:
        x = np.asarray([np.nan if v is None else float(v) for v in values])
        finite = x[np.isfinite(x)]
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)))
        idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2)
        text = ["[%s, %s%s" % (_num(edges[i]), _num(edges[i + 1]), "]" if i == edges.size - 2 else ")")
                for i in range(edges.size - 1)]
        return [text[i] if np.isfinite(v) else None for i, v in zip(idx, x)]
    return [None if v is None else ("%s" % v) for v in values]


def conditions(columns, num_units, bins=NUM_BINS):
    """(N, F) object array of each unit's condition per column (``{name: values}``
    with one value per unit; lists by their first element), :data:`MISSING` for none."""
    out = np.full((num_units, len(columns)), MISSING, dtype=object)
    for j, values in enumerate(columns.values()):
        values = [(v[0] if v else None) if isinstance(v, (list, tuple)) else v for v in values]
        names = labels_of(values, bins)
        out[:, j] = [MISSING if n is None else n for n in names]
    return out


def search(columns, errors, num_units, k=10, max_l=3, min_sup=30, alpha=0.95):
    """The ``k`` best slices by SliceLine's score (see the module docstring).

    Returns ``[{"conditions": [(column, value), ...], "units", "size",
    "error", "score"}, ...]``, best first, and the overall mean error.
    """
    from sliceline import Slicefinder

    errors = np.asarray(errors, dtype=np.float64)
    names = list(columns)
    if not names or num_units < 2 or not np.any(errors > 0):
        return [], float(errors.mean()) if errors.size else 0.0
    X = conditions(columns, num_units)
    finder = Slicefinder(alpha=alpha, k=k, max_l=min(max_l, len(names)),
                         min_sup=min(min_sup, max(1, num_units // 2)), verbose=False)
    finder.fit(X, errors)
    found = []
    for top, stats in zip(finder.top_slices_, finder.top_slices_statistics_):
        conds = [(names[j], str(v)) for j, v in enumerate(top) if v is not None]
        inside = np.ones(num_units, bool)
        for j, v in enumerate(top):
            if v is not None:
                inside &= X[:, j] == v
        units = np.flatnonzero(inside)
        found.append({"conditions": conds, "units": units, "size": int(units.size),
                      "error": float(stats["slice_average_error"]),
                      "score": float(stats["slice_score"])})
    return found, float(finder.average_error_)


def describe(conds):
    """"weather = rain and brightness in [0.1, 0.3)": the description style of
    the failure clusters' rules."""
    return " and ".join("%s %s %s" % (c, "in" if v.startswith("[") else "=", v) for c, v in conds)


def _ordered(names):
    uniq = list(dict.fromkeys(names.tolist()))
    if all(n.startswith("[") for n in uniq):
        return sorted(uniq, key=lambda n: float(n[1:].split(",")[0]))
    return sorted(uniq, key=lambda n: (-int(np.sum(names == n)), n))


def _is_number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _num(x):
    return ("%.4g" % x)
