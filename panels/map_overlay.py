"""A monitored period's production images over the vector explorer's evaluated points.

``monitor_drift`` (or the model monitor's drift button) places a period's images
on a samples map and writes their positions on the production samples
(``<map_key>_placed_x`` / ``_y``, see :mod:`..operators.monitor_map`), and the
period (``last_drift``) in the production dataset's monitor settings. Here the
production dataset whose settings name this dataset and map is found with one
query on FiftyOne's datasets collection, and its period's placed images are
drawn as one more trace, on the same integer grid as the map's points
(:func:`..operators.error_map.grid_coordinates` on the map's extent).
"""

from datetime import datetime

import numpy as np

import fiftyone as fo
import fiftyone.core.odm as foo_odm

from ..operators import error_map, monitor_map, monitoring

NAME = "production: %s (%d)"


def monitored(dataset, map_key):
    """``(production dataset name, start, end)`` of the newest period placed on
    ``dataset``'s map ``map_key``, or None."""
    field = "info.%s" % monitoring.INFO_KEY
    docs = foo_odm.get_db_conn().datasets.find(
        {field + ".map_key": map_key, field + ".last_drift": {"$exists": True}},
        {"name": 1, field + ".eval_dataset": 1, field + ".last_drift.end": 1,
         field + ".last_drift.start": 1})
    found = []
    for doc in docs:
        s = doc["info"][monitoring.INFO_KEY]
        if (s.get("eval_dataset") or doc["name"]) == dataset.name and s["last_drift"].get("end"):
            found.append((s["last_drift"]["end"], doc["name"], s["last_drift"]["start"]))
    if not found:
        return None
    end, name, start = max(found)
    return name, start, end


def placed(dataset, map_key):
    """The newest placed period of ``map_key``: ``{"dataset", "start", "end", "ids",
    "q" (grid coordinates, (N, 2) int), "cluster"}`` or None."""
    where = monitored(dataset, map_key)
    if where is None:
        return None
    name, start, end = where
    prod = dataset if name == dataset.name else fo.load_dataset(name)
    names = monitor_map.placed_fields(map_key)
    view = monitoring.in_range(prod, monitoring.load_settings(prod), _time(start),
                               _time(end)).exists(names[1])
    ids, cluster, xs, ys = view.values(["id"] + list(names))
    arrays, _ = error_map.load_error_map(dataset, map_key)
    q = grid(arrays["xy"], np.c_[xs, ys] if ids else np.zeros((0, 2)))
    return {"dataset": name, "start": start, "end": end, "ids": [str(i) for i in ids],
            "q": q, "cluster": np.asarray(cluster, dtype=np.int64)}


def grid(ref_xy, xy):
    """``xy`` on the integer grid of the map's points (the extent of ``ref_xy``)."""
    ref_xy = np.asarray(ref_xy, dtype=np.float64).reshape(-1, 2)
    lo = ref_xy.min(axis=0)
    span = ref_xy.max(axis=0) - lo
    q = (np.asarray(xy, dtype=np.float64).reshape(-1, 2) - lo) / np.where(span > 0, span, 1)
    return np.round(np.clip(q, 0, 1) * error_map.GRID).astype(np.int64)


def trace(p, marker_size):
    """The period's images as a legend entry drawn above the map's groups."""
    return {"type": "scattergl", "mode": "markers", "name": NAME % (p["start"][:10], len(p["ids"])),
            "x": p["q"][:, 0].tolist(), "y": p["q"][:, 1].tolist(), "hoverinfo": "name",
            "marker": {"size": marker_size + 3, "color": "#1f4e9c", "symbol": "diamond",
                       "line": {"color": "#ffffff", "width": 1}}}


def clicked_md(p, i, summaries, here):
    """What a click on the overlay says: the period, the clicked image's cluster, and
    where its images are when they are on another dataset (``here``: on this one)."""
    ranks = {s["id"]: r + 1 for r, s in enumerate(summaries)}
    c = int(p["cluster"][i]) if 0 <= i < len(p["cluster"]) else None
    line = "**Production period %s to %s**: %d images placed on this map" % (
        p["start"][:16], p["end"][:16], len(p["ids"]))
    if c is not None and c in ranks:
        line += "; the clicked one falls in cluster #%d" % ranks[c]
    if here:
        return line + ", shown in the grid."
    return line + (". They are on dataset '%s': open it to see them with the model monitor."
                   % p["dataset"])


def _time(iso):
    return datetime.fromisoformat(str(iso).replace("Z", ""))


def on_click(ctx, map_key, i):
    """A click on the overlay: the period's images as the App's view when they are on
    this dataset (the clicked one first), else a line saying where they are."""
    p = placed(ctx.dataset, map_key)
    if p is None or not p["ids"]:
        return
    _, summaries = error_map.load_error_map(ctx.dataset, map_key)
    i = int(i) if i is not None else -1
    here = p["dataset"] == ctx.dataset.name
    if here:
        ids = list(p["ids"])
        if 0 <= i < len(ids):
            ids.insert(0, ids.pop(i))
        ctx.ops.set_view(ctx.dataset.select(ids, ordered=True))
    ctx.panel.state.set("overlay_md", clicked_md(p, i, summaries, here))
