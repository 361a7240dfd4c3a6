"""The what-if section's figures: each scored image with its predictions drawn.

One plotly figure per image, drawn by FiftyOne's ``PlotlyView``: the image is
a layout image (a JPEG thumbnail of at most :data:`THUMB_SIDE` pixels, inline
as base64), each prediction one trace named ``"<label> <confidence>"`` in the
figure's legend (the list of predictions), its box a closed outline filled
faintly. Predictions at or above their threshold are drawn; the others are in
the legend only (``visible="legendonly"``). The App's ``PlotlyView`` forwards
clicks on points to Python but neither hovers nor legend events, so the rest is
plotly's own in the browser: hovering a box shows its label and confidence, a
click on a legend entry shows (or hides) its box whatever the threshold, a
double-click shows that box alone.
"""

import base64
import os
from collections import OrderedDict

import numpy as np

THUMB_SIDE = 320
WIDTH, HEIGHT = 390, 300  # fixed: fits a panel in three columns at 1440 px
NOTHING = "the model found nothing in this image"
PALETTE = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
           "#bfef45", "#fabed4", "#469990", "#dcbeff", "#9a6324", "#ffe119", "#800000")
_thumbs = OrderedDict()  # (path, mtime) -> (data URI, width, height)
THUMBS_HELD = 64


def limits(labels, threshold, per_class, class_thresholds):
    """Each prediction's threshold: its class's saved one where the run has it
    and ``class_thresholds`` is on, else the slider's ``threshold``."""
    labels = np.asarray(labels, dtype=object)
    out = np.full(labels.size, float(threshold))
    if class_thresholds and per_class and labels.size:
        names = np.array(list(per_class), dtype=object)
        values = np.array([float(per_class[n]) for n in names])
        hit = labels[:, None] == names[None, :]
        has = hit.any(axis=1)
        out[has] = values[hit.argmax(axis=1)[has]]
    return out


def confidences(dets):
    """Confidences of ``dets``; a prediction without one counts as 1 (always shown)."""
    return np.array([1.0 if d.confidence is None else float(d.confidence) for d in dets])


def thumbnail(path):
    """``(data URI of a JPEG thumbnail, width, height)`` of an image file (cached)."""
    import cv2

    key = (path, os.path.getmtime(path) if os.path.exists(path) else None)
    if key not in _thumbs:
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            _thumbs[key] = (None, 1, 1)
        else:
            h, w = image.shape[:2]
            scale = min(1.0, THUMB_SIDE / max(h, w))
            small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                               interpolation=cv2.INTER_AREA) if scale < 1 else image
            ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])
            _thumbs[key] = ("data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode(),
                            w, h)
        while len(_thumbs) > THUMBS_HELD:
            _thumbs.popitem(last=False)
    _thumbs.move_to_end(key)
    return _thumbs[key]


def traces(dets, width, height, shown, colors):
    """One trace per prediction (most confident first): its box's outline, in
    pixels, drawn when ``shown`` else in the legend only."""
    out = []
    for d, on in zip(dets, shown):
        x, y, w, h = (float(v) for v in d.bounding_box)
        xs = np.array([x, x + w, x + w, x, x]) * width
        ys = np.array([y, y, y + h, y + h, y]) * height
        name = "%s %.2f" % (d.label, 1.0 if d.confidence is None else d.confidence)
        color = colors[d.label]
        out.append({
            "type": "scatter", "mode": "lines", "name": name, "x": xs.round(1).tolist(),
            "y": ys.round(1).tolist(), "fill": "toself", "fillcolor": _alpha(color, 0.12),
            "line": {"color": color, "width": 2}, "hoveron": "fills+points",
            "hovertemplate": name + "<extra></extra>", "showlegend": True,
            "visible": True if on else "legendonly"})
    return out


def layout(name, source, width, height, empty):
    """The figure's layout: the image under axes in its pixels (y downwards)."""
    out = {
        "title": {"text": name, "font": {"size": 12}, "x": 0.01, "y": 0.99},
        "showlegend": True, "hovermode": "closest", "width": WIDTH,
        "height": HEIGHT, "autosize": False,
        "margin": {"t": 24, "l": 4, "r": 4, "b": 4},
        "legend": {"orientation": "v", "x": 1.02, "y": 1, "font": {"size": 11},
                   "title": {"text": "predictions"}},
        "xaxis": {"visible": False, "range": [0, width], "showgrid": False, "zeroline": False},
        "yaxis": {"visible": False, "range": [height, 0], "showgrid": False, "zeroline": False,
                  "scaleanchor": "x"},
        "images": [] if source is None else [{
            "source": source, "xref": "x", "yref": "y", "x": 0, "y": 0, "sizex": width,
            "sizey": height, "sizing": "stretch", "layer": "below", "xanchor": "left",
            "yanchor": "top"}],
    }
    if empty:
        out["annotations"] = [{"text": NOTHING, "xref": "paper", "yref": "paper", "x": 0.5,
                               "y": 0.5, "showarrow": False, "bgcolor": "rgba(0,0,0,0.6)",
                               "font": {"color": "#ffffff", "size": 14}}]
    return out


def class_colors(labels):
    """A color per class, stable for a set of classes (sorted names)."""
    return {c: PALETTE[k % len(PALETTE)] for k, c in enumerate(sorted(set(labels)))}


def _alpha(hex_color, a):
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return "rgba(%d,%d,%d,%.2f)" % (r, g, b, a)
