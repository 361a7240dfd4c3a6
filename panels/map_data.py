"""The vector explorer's map data: a stored error map loaded once per process,
its points on integer coordinates, and its colourings (legend groups and the
scatter traces sent for them), by error type, cluster, class, confidence or
any sample field of the map's dataset.

A colouring is computed once per (map, colouring) and kept with the map: the
traces are what the panel sends, and the point order behind them maps the
(trace, index) pairs of a selection back to points. A sample field's values
are read with one ``values()`` call when the field is first chosen.
"""

import threading
from collections import OrderedDict

import numpy as np

import fiftyone.core.fields as fof

from ..operators import error_map, map_outcomes, run_store
from ..plugin.errors import ERROR_TYPES
from . import evaluation_explorer, selection
from .figures import COLORS

COLOR_BY = ("error", "cluster", "class", "confidence")
FIELD = "field:"  # colour-by value of a sample field: "field:<name>"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
# a sample field's categories: no grey, which stands for "other" and "missing"
CATEGORY_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                    "#e377c2", "#bcbd22", "#17becf", "#aec7e8")
# viridis from 0.25 to 0.7: its near-black and pale-yellow ends vanish on the App's
# dark and light backgrounds (tests/test_map_colours.py checks the contrast)
VIRIDIS = ("#3b528b", "#2a788e", "#21918c", "#22a884", "#44bf70")
OTHER, MISSING = ("other", "#c7c7c7"), ("missing", "#7f7f7f")
MAX_CATEGORIES = len(CATEGORY_PALETTE)  # more distinct values: the rest are "other"
HIGHLIGHT = "in view"
SCALE = error_map.GRID  # coordinates are sent as integers 0..SCALE on the map's extent
_cache = OrderedDict()   # (dataset id, map key, run time) -> MapData
_lock = threading.Lock()


def drop_orphans(dataset):
    """Deletes the error maps (fields, run and brain runs) of evaluations deleted since:
    ``dataset.delete_evaluation`` knows nothing of them. Returns their keys."""
    evaluations = set(run_store.evaluation_keys(dataset))
    dropped = []
    for run in dataset.list_runs():
        if run.startswith("error_map_"):
            eval_key = getattr(dataset.get_run_info(run).config, "eval_key", None)
            if eval_key not in evaluations:
                error_map.delete_error_map(dataset, run[len("error_map_"):])
                dropped.append(run[len("error_map_"):])
    return dropped


def maps(dataset):
    """Completed error maps of existing evaluations on the dataset, oldest first."""
    found = []
    evaluations = set(run_store.evaluation_keys(dataset))
    for run in dataset.list_runs():
        if run.startswith("error_map_"):
            info = dataset.get_run_info(run)
            if getattr(info.config, "complete", False) and \
                    getattr(info.config, "eval_key", None) in evaluations:
                found.append((str(info.timestamp), run[len("error_map_"):]))
    return [key for _, key in sorted(found)]


def load(dataset, map_key):
    """The map's :class:`MapData`, cached per (dataset, key, run time and last write:
    a split cluster, :mod:`..operators.map_split`)."""
    info = dataset.get_run_info(error_map.map_run_key(map_key))
    key = (str(dataset._doc.id), map_key,
           "%s|%s" % (info.timestamp, getattr(info.config, "written_at", None)))
    with _lock:
        if key in _cache:
            return _cache[key]
    arrays, summaries = error_map.load_error_map(dataset, map_key)
    config = info.config
    data = MapData(key, arrays, summaries, config)
    data.dataset = dataset
    data.task = run_store.run_task(dataset, config.eval_key)
    with _lock:
        _cache[key] = data
        while len(_cache) > 4:
            _cache.popitem(last=False)
    return data


def encode(values):
    """Coordinates as sent: plain lists of integers (see :data:`SCALE`)."""
    return np.asarray(values, dtype=np.int64).tolist()


# on an objects map, the object behind a classification / localization / both error
# has its own point but not its own error: its own legend entry (:data:`OBJECT_OF`),
# so that each error type's entry counts its errors, as the run does
SHARED = ("classification", "localization", "both")
OBJECT_OF = "object of a %s error"


# the error types of classification, multi-label and segmentation maps
# (operators/map_outcomes.py)
TASK_COLORS = {
    "correct": COLORS["correct"], "confused": "#9467bd", "abstained": "#1f77b4",
    "low_margin": "#ff7f0e", "label_suspect": "#d62728",
    "missed": "#1f77b4", "spurious": "#d62728",
    "missed_region": "#1f77b4", "false_region": "#d62728", "confused_region": "#9467bd",
    "boundary": "#ff7f0e",
}


def groups(arrays, summaries, color_by, class_names, task="detection"):
    """Point indices per legend entry, in a stable order: [(name, color, indices)].
    Coloured by error, a map shows its task's error types (detection's: TIDE's)."""
    if color_by == "cluster":
        ranked = [s["id"] for s in summaries]  # numbered by rank, as everywhere
        return [("cluster #%d" % (r + 1), PALETTE[r % len(PALETTE)],
                 np.flatnonzero(arrays["cluster"] == c)) for r, c in enumerate(ranked)]
    if color_by == "class":
        labels = arrays["label"]
        return [(class_names[k] if k >= 0 else "(none)", PALETTE[i % len(PALETTE)],
                 np.flatnonzero(labels == k)) for i, k in enumerate(np.unique(labels))]
    if color_by == "confidence":
        score = arrays.get("score")
        if score is None:
            return [("points", PALETTE[0], np.arange(len(arrays["xy"])))]
        bins = np.digitize(np.nan_to_num(score, nan=-1), [0, 0.25, 0.5, 0.75])
        names = ("no confidence (objects)" if "kind" in arrays and (arrays["kind"] == 1).any()
                 else "no confidence", "< 0.25", "0.25-0.5", "0.5-0.75", ">= 0.75")
        colors = ("#7f7f7f",) + tuple(VIRIDIS[i] for i in (0, 1, 3, 4))
        return [(names[b], colors[b], np.flatnonzero(bins == b)) for b in range(5)]
    err = arrays["error"]
    if task in map_outcomes.ERROR_TYPES:
        return [(name, TASK_COLORS[name], np.flatnonzero(err == name))
                for name in map_outcomes.ERROR_TYPES[task]]
    behind = (arrays["kind"] == 1) & np.isin(err, SHARED) if "kind" in arrays else \
        np.zeros(len(err), bool)
    return [(name, COLORS[name], np.flatnonzero((err == name) & ~behind))
            for name in ERROR_TYPES] + [
        (OBJECT_OF % name, COLORS[name], np.flatnonzero((err == name) & behind))
        for name in SHARED] + [
        ("nothing evaluated", "#7f7f7f", np.flatnonzero(err == ""))]  # images without objects


# -- colouring by a sample field ----------------------------------------------------

def field_choices(dataset):
    """Sample fields a map can be coloured by: top-level booleans, numbers, strings and
    lists of strings (``tags``), without ids, paths, dates, labels, vectors and the
    fields this plugin writes (``<eval_key>_tp/_fp/_fn``, ``<map_key>_cluster``,
    ``_x``, ``_y`` and ``_embedding``)."""
    own = {"id", "filepath"}
    for key in run_store.evaluation_keys(dataset):
        own.update(key + s for s in ("_tp", "_fp", "_fn"))
    for run in dataset.list_runs():
        if run.startswith("error_map_"):
            key = run[len("error_map_"):]
            own.update((key + "_cluster", key + "_embedding", *error_map.grid_fields(key)))
    return sorted(name for name, field in dataset.get_field_schema().items()
                  if name not in own and not name.startswith("_") and field_kind(field))


def field_version(dataset):
    """Changes whenever a sample is edited, added or deleted (an indexed ``max`` and a
    count, ~1 ms): a field's colouring is read again after an edit."""
    return "%s/%d" % (dataset.max("last_modified_at"), len(dataset))


def field_kind(field):
    """``"list"`` (list of strings), ``"bool"``, ``"number"``, ``"category"`` (strings)
    or None (not offered)."""
    if isinstance(field, fof.ListField):
        return "list" if isinstance(field.field, fof.StringField) else None
    if isinstance(field, fof.BooleanField):
        return "bool"
    if isinstance(field, (fof.IntField, fof.FloatField)) and not isinstance(
            field, fof.FrameNumberField):
        return "number"
    if isinstance(field, fof.StringField):
        return "category"
    return None


def field_groups(values, kind):
    """Point indices per legend entry for a sample field's values (one per point, None
    when missing): [(name, color, indices)]. ``kind``: see :func:`field_kind`.

    Numbers with more than :data:`MAX_CATEGORIES` distinct values fall in up to five
    bins of equal counts (quintiles) on a viridis scale, like confidence; other values
    are categories (strings the most frequent first, numbers and booleans in their
    order), beyond :data:`MAX_CATEGORIES` the rest is "other"; a list (``tags``)
    counts by its first element, "none" when empty; None is "missing"."""
    values = _objects(values)
    n = len(values)
    missing = np.fromiter((v is None for v in values), bool, n)
    if kind == "list":
        values = _objects((v[0] if len(v) else "none") if v is not None else None
                          for v in values)
        kind = "category"
    if kind == "number":
        keys = np.full(n, np.nan)
        keys[~missing] = values[~missing].astype(np.float64)
        missing = ~np.isfinite(keys)
        order = np.unique(keys[~missing])
        if len(order) > MAX_CATEGORIES:
            return _number_bins(keys, missing) + [(*MISSING, np.flatnonzero(missing))]
        names = ["%g" % v for v in order]
    else:
        keys = np.where(missing, "", values.astype(str))
        order, counts = np.unique(keys[~missing], return_counts=True)  # sorted: False, True
        if kind == "category":
            order = order[np.argsort(-counts, kind="stable")]  # the most frequent first
        names = [v if v != "" else '""' for v in order]
    shown = order[:MAX_CATEGORIES]
    out = [(name, CATEGORY_PALETTE[i], np.flatnonzero(~missing & (keys == value)))
           for i, (name, value) in enumerate(zip(names, shown))]
    rest = ~missing & ~np.isin(keys, shown)
    return out + [(*OTHER, np.flatnonzero(rest)), (*MISSING, np.flatnonzero(missing))]


def _objects(values):
    """A 1-D object array (lists stay elements, whatever their lengths)."""
    return np.fromiter(values, dtype=object)


def _number_bins(num, missing):
    edges = np.unique(np.quantile(num[~missing], [0.2, 0.4, 0.6, 0.8]))
    bins = np.digitize(num, edges)
    fmt = lambda v: "%.3g" % v
    names = (["< " + fmt(edges[0])]
             + ["%s to %s" % (fmt(a), fmt(b)) for a, b in zip(edges[:-1], edges[1:])]
             + [">= " + fmt(edges[-1])])
    colors = [VIRIDIS[int(round(i))] for i in np.linspace(0, len(VIRIDIS) - 1, len(names))]
    return [(names[b], colors[b], np.flatnonzero(~missing & (bins == b)))
            for b in range(len(names))]


class MapData:
    """A loaded map with what the panel derives from it, computed once."""

    def __init__(self, key, arrays, summaries, config):
        self.key, self.arrays, self.summaries, self.config = key, arrays, summaries, config
        xy = np.asarray(arrays["xy"], dtype=np.float64).reshape(-1, 2)
        self.q = error_map.grid_coordinates(arrays["xy"])
        self._by_color = {}
        self._label_index = None
        self.marker_size = 7 if len(xy) < 2000 else 5 if len(xy) < 20000 else 4
        self.dataset = None  # set by load(): the dataset the map belongs to
        self.task = "detection"  # set by load(): the task of the map's evaluation

    def __len__(self):
        return len(self.q)

    def colouring(self, color_by, class_names, version=None):
        """``(traces, order, offsets)``: the non-empty groups' traces, and the
        point index of trace t's i-th point, ``order[offsets[t] + i]``. A sample
        field's colouring is kept per ``version`` (:func:`field_version`)."""
        key = (color_by, version) if color_by.startswith(FIELD) else color_by
        if key not in self._by_color:
            if color_by.startswith(FIELD):
                found = self.field_groups(color_by[len(FIELD):])
                fields = [k for k in self._by_color if isinstance(k, tuple)]
                for old in fields[:max(0, len(fields) - 7)]:  # at most 8 field colourings
                    self._by_color.pop(old, None)
            else:
                found = groups(self.arrays, self.summaries, color_by, class_names, self.task)
            kept = [g for g in found if len(g[2])]
            traces = [{"type": "scattergl", "mode": "markers", "name": "%s (%d)" % (name, len(idx)),
                       "x": encode(self.q[idx, 0]), "y": encode(self.q[idx, 1]),
                       "marker": {"color": color, "size": self.marker_size, "opacity": 0.8},
                       "hoverinfo": "name", "showlegend": True} for name, color, idx in kept]
            order = np.concatenate([g[2] for g in kept]) if kept else np.zeros(0, np.int64)
            offsets = np.r_[0, np.cumsum([len(g[2]) for g in kept])].astype(np.int64)
            self._by_color[key] = (traces, order, offsets)
        return self._by_color[key]

    def field_groups(self, name):
        """Legend groups of sample field ``name``; on an objects map each point takes
        its sample's value. One ``values()`` call (ids and values together)."""
        kind = field_kind(self.dataset.get_field(name))
        if kind is None:
            raise ValueError("field '%s' cannot colour the map" % name)
        ids, values = self.dataset.values(["id", name])
        ids = np.asarray(ids, dtype=str)
        values = _objects(values)
        points = self.arrays["ids"] if self.config.level == "samples" else \
            self.samples_of(self.arrays["ids"])
        order = np.argsort(ids)
        pos = np.minimum(np.searchsorted(ids[order], points), max(len(ids) - 1, 0))
        found = (ids[order][pos] == points) if len(ids) else np.zeros(len(points), bool)
        mine = np.full(len(points), None, dtype=object)
        mine[found] = values[order][pos[found]]
        return field_groups(mine, kind)

    def highlight_trace(self, idx):
        idx = np.zeros(0, np.int64) if idx is None else idx
        return {"type": "scattergl", "mode": "markers", "name": "%s (%d)" % (HIGHLIGHT, len(idx)),
                "x": encode(self.q[idx, 0]), "y": encode(self.q[idx, 1]),
                "marker": {"color": "rgba(0,0,0,0)", "size": self.marker_size + 5,
                           "line": {"color": "#ffffff", "width": 1.5}},
                "hoverinfo": "name", "showlegend": bool(len(idx))}

    def ids_of(self, idx):
        return self.arrays["ids"][idx]

    def samples_of(self, label_ids):
        """Sample id of each label id (objects maps), from the evaluation's index."""
        index = self._label_index
        if index is None:
            ev, _ = evaluation_explorer.load(self.dataset, self.config.eval_key)
            index = self._label_index = selection.label_index(ev)
        return index(label_ids)

    def index_of(self, ids):
        """Point indices of the given sample / label ids (vectorized)."""
        return np.flatnonzero(np.isin(self.arrays["ids"], np.asarray(list(ids), dtype=str)))
