"""A small classical shape detector: it sees only the pixels, never the ground truth.

Background: a colour plane fitted to the image border. Foreground: colour distance to it
above a threshold that grows with the border's noise and clutter. Instances: watershed from
edge-free markers. Class: the nearest geometric template of the contour; box: that shape
fitted to the contour. It runs at two pyramid levels merged by a loose NMS. Its mistakes
come from the pixels: dark or low-contrast shapes are missed, blur rounds corners (class
confusions), similar colours merge, clutter makes spurious blobs, tiny shapes vanish.
"""

import functools

import cv2
import numpy as np
from scipy import ndimage

CLASSES = ("circle", "square", "triangle", "star", "hexagon")
MIN_CONFIDENCE = 0.05  # detections below this score are dropped, as in most real detectors
NMS_IOU = 0.85  # loose class-agnostic NMS between pyramid levels: leaves some duplicates

# Geometry of each class as the detector measures it on clean, unoccluded shapes: fill of the
# enclosing circle, of the min-area rectangle and of the enclosing triangle, solidity, aspect
# ratio of the min-area rectangle and spread of the contour's distance to its centroid
# (see ``_shape_features``); then the typical spread of each feature for each class.
_TEMPLATES = np.array([
    [0.93, 0.78, 0.605, 0.975, 0.985, 0.02],  # circle
    [0.665, 0.91, 0.525, 0.95, 0.975, 0.105],  # square
    [0.45, 0.53, 0.91, 0.935, 0.89, 0.215],  # triangle
    [0.47, 0.445, 0.365, 0.63, 0.955, 0.21],  # star
    [0.83, 0.755, 0.63, 0.965, 0.92, 0.048],  # hexagon
])
_FEATURE_SCALE = np.array([
    [0.07, 0.04, 0.04, 0.04, 0.045, 0.02],  # circles vary most: blur and pixels flatten them
    [0.05, 0.04, 0.04, 0.04, 0.03, 0.015],
    [0.05, 0.04, 0.04, 0.04, 0.03, 0.015],
    [0.05, 0.04, 0.04, 0.04, 0.03, 0.015],
    [0.05, 0.04, 0.04, 0.04, 0.03, 0.015],
])


@functools.lru_cache(maxsize=8)
def _border(width, height, band=4, step=3):
    """Flat indices of every ``step``-th pixel of a ``band``-wide image border, and their
    [1, x, y] rows."""
    inner = np.zeros((height, width), bool)
    inner[band:-band, band:-band] = True
    index = np.flatnonzero(~inner)[::step]
    ys, xs = np.divmod(index, width)
    return index, np.stack([np.ones(len(index)), xs, ys], axis=1)


def _fit_background(image):
    """Plane a + b*x + c*y per channel, fitted to the image border and robust to shapes there.

    Returns the background image and the 90th percentile of the border residuals: a noise
    and clutter scale that sets the foreground threshold.
    """
    h, w = image.shape[:2]
    index, design = _border(w, h)
    values = image.reshape(-1, 3)[index].astype(np.float64)
    keep = np.ones(len(values), bool)
    for _ in range(3):  # einsum, not BLAS: BLAS threads would fight the worker processes
        d = design[keep]
        coef = np.linalg.solve(np.einsum("ni,nj->ij", d, d),
                               np.einsum("ni,nj->ij", d, values[keep]))
        resid = np.sqrt(((values - np.einsum("ni,ij->nj", design, coef)) ** 2).sum(axis=1))
        keep = resid <= max(2.5 * np.median(resid), 4.0)
    plane = cv2.transform(coordinate_image(w, h), coef.T.astype(np.float32))
    return plane, float(np.percentile(resid[keep], 90))


@functools.lru_cache(maxsize=8)
def coordinate_image(width, height):
    """(H, W, 3) float32 image of [1, x, y], to evaluate colour planes with one cv2.transform."""
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    coords = np.dstack([np.ones_like(xs), xs, ys])
    coords.flags.writeable = False
    return coords


def _shape_features(contour):
    """Scale- and rotation-invariant geometry of a contour (see ``_TEMPLATES``)."""
    area = cv2.contourArea(contour)
    hull = cv2.convexHull(contour)
    _, radius = cv2.minEnclosingCircle(hull)
    _, (rw, rh), _ = cv2.minAreaRect(hull)
    tri_area, _ = cv2.minEnclosingTriangle(hull.astype(np.float32))
    m = cv2.moments(contour)
    centre = np.array([m["m10"], m["m01"]]) / max(m["m00"], 1e-6)
    radial = np.linalg.norm(contour.reshape(-1, 2) - centre, axis=1)
    return np.array([
        area / max(np.pi * radius ** 2, 1e-6),
        area / max(rw * rh, 1e-6),
        area / max(tri_area, 1e-6),
        area / max(cv2.contourArea(hull), 1e-6),
        min(rw, rh) / max(rw, rh, 1e-6),
        radial.std() / max(radial.mean(), 1e-6),
    ])


def _classify(contour):
    """Nearest class template: (label, posterior, fit quality in (0, 1]); None for elongated
    contours that are no shape at all (lines, scratches)."""
    features = _shape_features(contour)
    if features[4] < 0.3:
        return None
    d2 = (((features - _TEMPLATES) / _FEATURE_SCALE) ** 2).sum(axis=1)
    post = np.exp(-0.5 * (d2 - d2.min()))
    best = int(np.argmin(d2))
    return CLASSES[best], float(post[best] / post.sum()), float(np.exp(-d2[best] / 60.0))


def _segment(smooth, dist, edges, threshold):
    """Instances at one colour-distance threshold: foreground, edge-free markers, watershed.

    Touching shapes are split only where an edge separates them, so shapes of similar colour
    (or blurred together) merge into one region.
    """
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    square = np.ones((3, 3), np.uint8)
    fg = cv2.threshold(dist, threshold, 1, cv2.THRESH_BINARY)[1].astype(np.uint8)
    fg = cv2.morphologyEx(cv2.morphologyEx(fg, cv2.MORPH_OPEN, square), cv2.MORPH_CLOSE, disk)
    inner = cv2.morphologyEx(cv2.erode(fg & (1 - edges), square), cv2.MORPH_OPEN, square)
    markers = cv2.connectedComponents(inner, connectivity=4, ltype=cv2.CV_32S)[1] + 1
    markers *= 1 - (cv2.dilate(fg, disk) - inner)  # 1 = background, 0 = to be flooded
    cv2.watershed(smooth, markers)
    markers *= fg
    return [(box, (markers[box] == label).astype(np.uint8))
            for label, box in enumerate(ndimage.find_objects(np.maximum(markers, 0)), start=1)
            if box is not None and label >= 2]


def _model_box(label, contour, region_box):
    """Box of the recognised shape fitted to the contour: the whole shape it seems to be, so
    partly hidden or merged shapes get boxes larger than their visible part."""
    if label == "square":
        corners = cv2.boxPoints(cv2.minAreaRect(contour))
    elif label == "triangle":
        corners = cv2.minEnclosingTriangle(contour.astype(np.float32))[1].reshape(-1, 2)
    else:
        (cx, cy), r = cv2.minEnclosingCircle(contour)
        corners = np.array([[cx - r, cy - r], [cx + r, cy + r]])
    x, y, w, h = region_box
    # never smaller than the region, never more than one region size beyond it
    lo = np.clip(np.floor(corners.min(axis=0)), [x - w, y - h], [x, y])
    hi = np.clip(np.ceil(corners.max(axis=0)) + 1, [x + w, y + h], [x + 2 * w, y + 2 * h])
    return lo.astype(int), hi.astype(int)


def _describe(region, dist, threshold, scale, shape):
    """One detection from a region of a pyramid level (``scale``: its downsampling factor)."""
    (sy, sx), crop = region
    contours, _ = cv2.findContours(crop, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contour = max(contours, key=cv2.contourArea)
    area = cv2.contourArea(contour) * scale ** 2
    x, y, w, h = cv2.boundingRect(contour)
    fitted = _classify(contour) if area >= 40 and min(w, h) * scale >= 5 else None
    if fitted is None:
        return None
    label, posterior, fit = fitted
    filled = np.zeros((h, w), np.uint8)
    cv2.drawContours(filled, [contour], -1, 1, -1, offset=(-x, -y))
    contrast = dist[sy.start + y:sy.start + y + h, sx.start + x:sx.start + x + w][filled > 0].mean()
    size_score = 1 / (1 + np.exp(-2 * (np.log(area) - np.log(120))))
    contrast_score = 1 / (1 + np.exp(-3 * (contrast / threshold - 1.6)))
    confidence = np.clip(posterior * fit ** 0.5 * size_score * contrast_score, 0.001, 1.0)
    offset = np.array([sx.start, sy.start])
    lo, hi = _model_box(label, contour, (x, y, w, h))
    lo = np.maximum((lo + offset) * scale, 0)
    hi = np.minimum((hi + offset) * scale, [shape[1], shape[0]])
    x0, y0, w, h = (sx.start + x) * scale, (sy.start + y) * scale, w * scale, h * scale
    if scale > 1:
        filled = cv2.resize(filled, (w, h), interpolation=cv2.INTER_NEAREST)
    mask = np.zeros(shape, bool)
    mask[y0:y0 + h, x0:x0 + w] = filled[:shape[0] - y0, :shape[1] - x0] > 0
    return {
        "label": label,
        "bbox": [int(lo[0]), int(lo[1]), int(hi[0] - lo[0]), int(hi[1] - lo[1])],
        "confidence": float(confidence),
        "mask": mask,
    }


def _detect_level(smooth, scale, sensitivity, floor, shape):
    """Detections at one pyramid level: the foreground threshold is ``sensitivity`` times the
    border spread (noise and clutter) but never below ``floor`` (colour distance, 0-255)."""
    smooth_f = smooth.astype(np.float32)
    background, spread = _fit_background(smooth_f)
    diff = smooth_f - background
    dist = cv2.sqrt(cv2.transform(diff * diff, np.ones((1, 3), np.float32)))
    b, g, r = cv2.split(cv2.morphologyEx(smooth, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)))
    grad = cv2.max(cv2.max(b, g), r)
    border_grad = np.r_[grad[:6].ravel(), grad[-6:].ravel()]
    edges = (grad > max(25.0, 1.5 * float(np.percentile(border_grad, 95)))).astype(np.uint8)
    threshold = max(floor, sensitivity * spread)
    detections = [_describe(region, dist, threshold, scale, shape)
                  for region in _segment(smooth, dist, edges, threshold)]
    return [d for d in detections if d is not None]


def _box_iou(a, b):
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / max(a[2] * a[3] + b[2] * b[3] - ix * iy, 1)


def detect(image_bgr):
    """Detect shapes from the pixels alone: a list of dicts with ``label``, ``bbox``
    [x, y, w, h] in pixels, ``confidence`` in (0, 1] and ``mask`` (full-image bool).

    Runs at full resolution and at half resolution (smoother, so more sensitive, but
    coarser and trusted less); both are merged by a loose class-agnostic NMS that, as in
    real detectors, leaves some near-duplicates.
    """
    fine = cv2.medianBlur(image_bgr, 5)
    shape = image_bgr.shape[:2]
    detections = _detect_level(fine, 1, 3.0, 24.0, shape)
    for det in _detect_level(cv2.pyrDown(fine), 2, 2.2, 15.0, shape):
        det["confidence"] *= 0.75
        detections.append(det)
    kept = []
    for det in sorted(detections, key=lambda d: -d["confidence"]):
        if det["confidence"] < MIN_CONFIDENCE:
            break
        if all(_box_iou(det["bbox"], k["bbox"]) < NMS_IOU for k in kept):
            kept.append(det)
    return kept
