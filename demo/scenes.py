"""Generated demo data for Error Atlas: synthetic shape scenes and a real classical detector.

Nothing is downloaded. Each scene is rendered with OpenCV from a seeded RNG, under
hidden conditions (lighting, blur, noise, clutter, occlusion) that are kept off the
dataset. A simple pixels-only detector (background model, colour distance, watershed,
contour geometry) then produces predictions whose errors arise from those conditions,
so they cluster the way real detector failures do. ``scene_conditions`` exposes the
hidden causes for benchmarks.
"""

import functools
import json
import multiprocessing
import os
import time

import cv2
import numpy as np
from scipy import ndimage

CLASSES = ("circle", "square", "triangle", "star", "hexagon")
DEFAULT_SIZE = (640, 480)
VERSION = 1  # bump whenever rendering or detection changes: invalidates cached images
MIN_VISIBLE = 0.3  # shapes less visible than this are not annotated
MIN_CONFIDENCE = 0.05  # detections below this score are dropped, as in most real detectors
NMS_IOU = 0.8  # loose class-agnostic NMS between pyramid levels: leaves some duplicates
_NUM_VERTICES = {"triangle": 3, "square": 4, "hexagon": 6}


# ----------------------------------------------------------------------------- scenes


def _random_colour(rng, near=None, spread=(15.0, 45.0)):
    """A BGR colour: vivid at random, or a random offset of ``near`` (similar colour)."""
    if near is None:
        hsv = np.array([[[rng.integers(0, 180), rng.integers(60, 256), rng.integers(70, 256)]]])
        return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)[0, 0].astype(float)
    direction = rng.normal(size=3)
    offset = direction / np.linalg.norm(direction) * rng.uniform(*spread)
    return np.clip(np.asarray(near, float) + offset, 0, 255)


def _sample_size(rng):
    """Circumradius in pixels: some tiny (< 16), many medium, some large (> 48)."""
    kind = rng.choice(3, p=[0.14, 0.6, 0.26])
    low, high = [(6, 16), (16, 48), (48, 115)][kind]
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _sample_objects(rng, width, height, background):
    """Shape parameters in z-order; some overlap an earlier shape, often in a similar colour."""
    shapes = []
    for _ in range(int(rng.integers(1, 9))):
        radius = _sample_size(rng)
        if shapes and rng.random() < 0.35:
            other = shapes[int(rng.integers(len(shapes)))]
            angle = rng.uniform(0, 2 * np.pi)
            reach = (radius + other["radius"]) * rng.uniform(0.3, 0.95)
            centre = np.array(other["centre"]) + reach * np.array([np.cos(angle), np.sin(angle)])
            near = other["colour"] if rng.random() < 0.5 else None
        else:
            margin = 0.9 * radius  # a few shapes are still cut by the image border
            centre = rng.uniform([margin, margin], [width - margin, height - margin])
            near = None
        if near is None and rng.random() < 0.12:
            near, spread = background, (18.0, 45.0)  # camouflaged: low contrast
        else:
            spread = (8.0, 35.0)
        shapes.append({
            "label": CLASSES[int(rng.integers(len(CLASSES)))],
            "centre": [float(np.clip(centre[0], 0, width)), float(np.clip(centre[1], 0, height))],
            "radius": radius,
            "angle": float(rng.uniform(0, 2 * np.pi)),
            "star_ratio": float(rng.uniform(0.38, 0.52)),
            "shading": float(rng.uniform(0.0, 0.35)),
            "shading_angle": float(rng.uniform(0, 2 * np.pi)),
            "colour": _random_colour(rng, near, spread).tolist(),
        })
    return shapes


def _sample_clutter(rng, width, height, background, amount):
    """Background clutter: lines, blobs and small polygons in colours close to the background."""
    items = []
    for _ in range(amount):
        kind = ["line", "blob", "speck"][int(rng.integers(3))]
        p = rng.uniform([0, 0], [width, height])
        items.append({
            "kind": kind,
            "points": (p + rng.normal(0, 40 if kind == "line" else 6, size=(3, 2))).tolist(),
            "size": float(rng.uniform(3, 14)),
            "thickness": int(rng.integers(1, 4)),
            "colour": _random_colour(rng, background, (6.0, 40.0)).tolist(),
        })
    return items


def sample_scene(rng, size=DEFAULT_SIZE):
    """Every random choice of a scene (no pixels): conditions, background, shapes, clutter."""
    width, height = size
    c0 = _random_colour(rng) * rng.uniform(0.3, 1.0)
    gradient = rng.random() < 0.6
    c1 = _random_colour(rng, c0, (20.0, 90.0)) if gradient else c0
    lighting = ["normal", "dark", "overexposed"][rng.choice(3, p=[0.6, 0.2, 0.2])]
    blur = ["none", "gaussian", "motion"][rng.choice(3, p=[0.5, 0.25, 0.25])]
    background = (c0 + c1) / 2
    return {
        "size": [width, height],
        "background": {"kind": "gradient" if gradient else "plain", "c0": c0.tolist(),
                       "c1": c1.tolist(), "angle": float(rng.uniform(0, 2 * np.pi))},
        "lighting": lighting,
        "gain": float({"normal": rng.uniform(0.85, 1.15), "dark": rng.uniform(0.22, 0.5),
                       "overexposed": rng.uniform(1.5, 2.3)}[lighting]),
        "offset": float(rng.uniform(20, 80) if lighting == "overexposed" else 0.0),
        "blur": blur,
        "blur_strength": float({"none": 0.0, "gaussian": rng.uniform(1.2, 3.5),
                                "motion": rng.uniform(5, 19)}[blur]),
        "blur_angle": float(rng.uniform(0, 180)),
        "noise": float(rng.uniform(3, 22) if rng.random() < 0.6 else 0.0),
        "shadow": (rng.uniform(3, 10, size=2) * rng.choice([-1, 1], size=2)).tolist()
        if rng.random() < 0.25 else [0.0, 0.0],
        "shadow_depth": float(rng.uniform(0.35, 0.7)),
        "objects": _sample_objects(rng, width, height, background),
        "clutter": _sample_clutter(rng, width, height, background,
                                   int(rng.integers(15, 60)) if rng.random() < 0.3 else 0),
    }


def _draw_shape(canvas, shape, value):
    """Fill one shape on ``canvas`` with sub-pixel precision (same pixels for masks and image)."""
    (cx, cy), r, label = shape["centre"], shape["radius"], shape["label"]
    if label == "circle":
        cv2.circle(canvas, (round(cx * 16), round(cy * 16)), round(r * 16), value, -1, cv2.LINE_8, 4)
        return
    if label == "star":
        radii = np.tile([r, r * shape["star_ratio"]], 5)
    else:
        radii = np.full(_NUM_VERTICES[label], r)
    theta = shape["angle"] + np.arange(len(radii)) * 2 * np.pi / len(radii)
    points = np.stack([cx + radii * np.cos(theta), cy + radii * np.sin(theta)], axis=1)
    cv2.fillPoly(canvas, [np.round(points * 16).astype(np.int32)], value, cv2.LINE_8, 4)


def _layout(scene):
    """Z-buffer of shape indices (0 = background) and each shape's in-image area."""
    width, height = scene["size"]
    zbuf = np.zeros((height, width), np.uint8)
    single = np.zeros_like(zbuf)
    areas = []
    for i, shape in enumerate(scene["objects"], start=1):
        single[:] = 0
        _draw_shape(single, shape, 1)
        areas.append(cv2.countNonZero(single))
        _draw_shape(zbuf, shape, i)
    return zbuf, np.array(areas)


@functools.lru_cache(maxsize=4)
def _coords(width, height):
    """(H, W, 3) float32 image of [1, x, y], to evaluate planes with one ``cv2.transform``."""
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    coords = np.dstack([np.ones_like(xs), xs, ys])
    coords.flags.writeable = False
    return coords


def _background_matrix(scene):
    """3x3 matrix M with background colour = M @ [1, x, y] (a linear gradient from c0 to c1)."""
    width, height = scene["size"]
    bg = scene["background"]
    direction = np.array([np.cos(bg["angle"]), np.sin(bg["angle"])])
    corners = np.array([[0, 0], [width - 1, 0], [0, height - 1], [width - 1, height - 1]]) @ direction
    span = max(float(np.ptp(corners)), 1.0)
    c0, delta = np.array(bg["c0"]), np.array(bg["c1"]) - np.array(bg["c0"])
    return np.stack([c0 - delta * corners.min() / span, delta * direction[0] / span,
                     delta * direction[1] / span], axis=1)


def _expose(scene, pixels):
    """Global lighting: gain and offset, clipped like a saturating sensor."""
    return np.clip(np.asarray(pixels, np.float32) * scene["gain"] + scene["offset"], 0, 255)


def _draw_clutter(image, items):
    for item in items:
        pts = np.round(np.array(item["points"]) * 16).astype(np.int32)
        colour = item["colour"]
        if item["kind"] == "line":
            cv2.line(image, tuple(pts[0]), tuple(pts[1]), colour, item["thickness"], cv2.LINE_AA, 4)
        elif item["kind"] == "blob":
            axes = (round(item["size"] * 16), round(item["size"] * 10))
            cv2.ellipse(image, tuple(pts[0]), axes, item["size"] * 20, 0, 360, colour, -1,
                        cv2.LINE_AA, 4)
        else:
            cv2.fillPoly(image, [pts], colour, cv2.LINE_AA, 4)


def _paint_shapes(image, zbuf, shapes):
    """Paint the visible part of each shape with its colour under a linear shading ramp."""
    height, width = zbuf.shape
    for i, shape in enumerate(shapes, start=1):
        (cx, cy), r = shape["centre"], shape["radius"]
        x0, y0 = max(int(cx - r) - 1, 0), max(int(cy - r) - 1, 0)
        x1, y1 = min(int(cx + r) + 2, width), min(int(cy + r) + 2, height)
        visible = zbuf[y0:y1, x0:x1] == i
        if x1 <= x0 or y1 <= y0 or not visible.any():
            continue
        ys, xs = np.mgrid[y0:y1, x0:x1]
        a = shape["shading_angle"]
        ramp = 1 + shape["shading"] * ((xs - cx) * np.cos(a) + (ys - cy) * np.sin(a)) / r
        crop = image[y0:y1, x0:x1]
        crop[visible] = ramp[visible][:, None] * np.float32(shape["colour"])


def _draw_shadow(image, zbuf, scene):
    """Soft drop shadow of all shapes, offset by ``scene["shadow"]`` pixels (in place)."""
    dx, dy = scene["shadow"]
    if dx == 0 and dy == 0:
        return
    shift = np.float32([[1, 0, dx], [0, 1, dy]])
    cast = cv2.warpAffine((zbuf > 0).astype(np.float32), shift, zbuf.shape[::-1])
    cast = cv2.GaussianBlur(cast, (0, 0), 2.0)
    image *= (1 - scene["shadow_depth"] * cast)[..., None]


def _blur(scene, image):
    if scene["blur"] == "gaussian":
        return cv2.GaussianBlur(image, (0, 0), scene["blur_strength"])
    if scene["blur"] == "motion":
        length = int(round(scene["blur_strength"])) | 1
        kernel = np.zeros((length, length), np.float32)
        c, a = length // 2, np.deg2rad(scene["blur_angle"])
        d = np.array([np.cos(a), np.sin(a)]) * c
        cv2.line(kernel, (round(c - d[0]), round(c - d[1])), (round(c + d[0]), round(c + d[1])), 1, 1)
        return cv2.filter2D(image, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)
    return image


def _occlusion(zbuf, areas):
    """Fraction of each shape's in-image area hidden by shapes drawn over it."""
    visible = np.bincount(zbuf.ravel(), minlength=len(areas) + 1)[1:]
    return 1.0 - visible / np.maximum(areas, 1)


def _conditions(scene, occlusion):
    """Hidden causes of a scene; per-object entries follow the ground-truth order."""
    matrix = _background_matrix(scene)
    objects = []
    for shape, occ in zip(scene["objects"], occlusion):
        if occ > 1 - MIN_VISIBLE:
            continue
        behind = matrix @ np.array([1.0, *shape["centre"]])
        contrast = np.linalg.norm(_expose(scene, shape["colour"]) - _expose(scene, behind))
        objects.append({"label": shape["label"], "occlusion": round(float(occ), 4),
                        "radius": round(shape["radius"], 2), "contrast": round(float(contrast), 2)})
    return {
        "lighting": scene["lighting"], "gain": round(scene["gain"], 4),
        "blur": scene["blur"], "blur_strength": round(scene["blur_strength"], 3),
        "noise": round(scene["noise"], 3), "clutter": len(scene["clutter"]),
        "shadow": round(float(np.hypot(*scene["shadow"])), 2),
        "background": scene["background"]["kind"],
        "num_hidden": int((occlusion > 1 - MIN_VISIBLE).sum()),
        "objects": objects,
    }


def render_scene(rng, size=DEFAULT_SIZE):
    """Render one scene: returns (BGR uint8 image, objects, conditions).

    ``objects`` are the annotatable shapes (at least ``MIN_VISIBLE`` visible), each a dict
    with ``label``, ``bbox`` [x, y, w, h] in pixels of the visible extent and ``mask``, the
    full-image boolean visible mask. ``conditions`` are the hidden causes of errors.
    """
    scene = sample_scene(rng, size)
    zbuf, areas = _layout(scene)
    image = cv2.transform(_coords(*size), _background_matrix(scene).astype(np.float32))
    _draw_clutter(image, scene["clutter"])
    _draw_shadow(image, zbuf, scene)
    _paint_shapes(image, zbuf, scene["objects"])
    image = _blur(scene, _expose(scene, image))
    if scene["noise"] > 0:
        cv2.setRNGSeed(int(rng.integers(2 ** 31)))
        image += cv2.randn(np.empty_like(image), 0, (scene["noise"],) * 3)
    image = cv2.convertScaleAbs(np.clip(image, 0, 255, out=image))

    occlusion = _occlusion(zbuf, areas)
    objects = []
    for i, shape in enumerate(scene["objects"], start=1):
        if occlusion[i - 1] > 1 - MIN_VISIBLE:
            continue
        mask = zbuf == i
        x, y, w, h = cv2.boundingRect(mask.view(np.uint8))
        objects.append({"label": shape["label"], "bbox": [x, y, w, h], "mask": mask})
    return image, objects, _conditions(scene, occlusion)


# --------------------------------------------------------------------------- detector

# Geometry of each class as the detector measures it on clean, unoccluded shapes: fill of
# the enclosing circle, of the min-area rectangle and of the enclosing triangle, solidity and
# rectangle aspect ratio (see ``_shape_features``), with their typical spread.
_TEMPLATES = np.array([
    [0.93, 0.78, 0.605, 0.975, 0.985, 0.02],  # circle
    [0.665, 0.91, 0.525, 0.95, 0.975, 0.105],  # square
    [0.45, 0.53, 0.91, 0.935, 0.89, 0.215],  # triangle
    [0.47, 0.445, 0.365, 0.63, 0.955, 0.21],  # star
    [0.83, 0.755, 0.63, 0.965, 0.92, 0.048],  # hexagon
])
_FEATURE_SCALE = np.array([0.05, 0.04, 0.04, 0.04, 0.03, 0.015])


def _fit_background(image):
    """Per-channel plane a + b*x + c*y fitted to the 4-pixel image border, robustly (trimmed).

    Returns the background image and the 90th percentile of the border residuals, a
    noise-and-clutter scale used to set the foreground threshold.
    """
    h, w = image.shape[:2]
    xs, ys = np.arange(w, dtype=np.float32) / w, np.arange(h, dtype=np.float32) / h
    strips = [(image[:4], xs[None, :], ys[:4, None]), (image[-4:], xs[None, :], ys[-4:, None]),
              (image[4:-4, :4], xs[None, :4], ys[4:-4, None]),
              (image[4:-4, -4:], xs[None, -4:], ys[4:-4, None])]
    values = np.concatenate([v.reshape(-1, 3) for v, _, _ in strips]).astype(np.float64)
    px = np.concatenate([np.broadcast_to(x, v.shape[:2]).ravel() for v, x, _ in strips])
    py = np.concatenate([np.broadcast_to(y, v.shape[:2]).ravel() for v, _, y in strips])
    design = np.stack([np.ones_like(px), px, py], axis=1)
    keep = np.ones(len(values), bool)
    for _ in range(3):
        d = design[keep]
        coef = np.linalg.solve(d.T @ d, d.T @ values[keep])
        resid = np.linalg.norm(values - design @ coef, axis=1)
        keep = resid <= max(2.5 * np.median(resid), 4.0)
    plane = cv2.transform(_coords(w, h), (coef / [[1], [w], [h]]).T.astype(np.float32))
    return plane, float(np.percentile(resid[keep], 90))


def _shape_features(contour):
    """Scale- and rotation-invariant geometry of a contour (see ``_TEMPLATES``)."""
    area = cv2.contourArea(contour)
    hull = cv2.convexHull(contour)
    _, radius = cv2.minEnclosingCircle(hull)
    (_, _), (rw, rh), _ = cv2.minAreaRect(hull)
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
    """Nearest class template: (label index, posterior, fit quality in (0, 1]), or None if the
    contour is too elongated to be any shape (lines, scratches)."""
    features = _shape_features(contour)
    if features[4] < 0.3:
        return None
    d2 = (((features - _TEMPLATES) / _FEATURE_SCALE) ** 2).sum(axis=1)
    logits = -0.5 * d2
    post = np.exp(logits - logits.max())
    post /= post.sum()
    best = int(np.argmax(post))
    return best, float(post[best]), float(np.exp(-d2[best] / 60.0))


def _segment(smooth, dist, edges, threshold):
    """Instances at one colour-distance threshold: foreground, edge-free markers, watershed."""
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    square = np.ones((3, 3), np.uint8)
    fg = cv2.threshold(dist, threshold, 1, cv2.THRESH_BINARY)[1].astype(np.uint8)
    fg = cv2.morphologyEx(cv2.morphologyEx(fg, cv2.MORPH_OPEN, square), cv2.MORPH_CLOSE, disk)
    inner = cv2.morphologyEx(cv2.erode(fg & ~edges, square), cv2.MORPH_OPEN, square)
    markers = cv2.connectedComponents(inner, connectivity=4, ltype=cv2.CV_32S)[1] + 1
    markers *= 1 - (cv2.dilate(fg, disk) - inner)  # 1 = background, 0 = to be flooded
    cv2.watershed(smooth, markers)
    markers *= fg
    regions = []
    for label, box in enumerate(ndimage.find_objects(np.maximum(markers, 0)), start=1):
        if box is not None and label >= 2:
            regions.append((box, (markers[box] == label).astype(np.uint8)))
    return regions


def _largest_contour(mask):
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return max(contours, key=cv2.contourArea) if contours else None


def _model_box(label, contour, region_box):
    """Box of the recognised shape fitted to the contour: the whole shape it seems to be,
    so partly hidden or cut shapes get larger boxes than their visible part."""
    if label == "square":
        corners = cv2.boxPoints(cv2.minAreaRect(contour))
    elif label == "triangle":
        corners = cv2.minEnclosingTriangle(contour.astype(np.float32))[1].reshape(-1, 2)
    else:
        (cx, cy), r = cv2.minEnclosingCircle(contour)
        corners = np.array([[cx - r, cy - r], [cx + r, cy + r]])
    x, y, w, h = region_box
    lo = np.maximum(np.floor(corners.min(axis=0)), [x - w, y - h]).astype(int)
    hi = np.minimum(np.ceil(corners.max(axis=0)) + 1, [x + 2 * w, y + 2 * h]).astype(int)
    lo, hi = np.minimum(lo, [x, y]), np.maximum(hi, [x + w, y + h])
    return int(lo[0]), int(lo[1]), int(hi[0] - lo[0]), int(hi[1] - lo[1])


def _describe(region, dist, threshold, scale, shape):
    """One detection from a region of a pyramid level (``scale`` = its downsampling factor).

    The box and mask cover the whole region above the threshold, blur halo included; the
    class comes from the region's half-contrast core, the best guess of the sharp outline.
    """
    (sy, sx), crop = region
    contour = _largest_contour(crop)
    area = cv2.contourArea(contour) * scale ** 2
    x, y, w, h = cv2.boundingRect(contour)
    if area < 40 or min(w, h) * scale < 5:
        return None
    filled = np.zeros((h, w), np.uint8)
    cv2.drawContours(filled, [contour], -1, 1, -1, offset=(-x, -y))
    local = dist[sy.start + y:sy.start + y + h, sx.start + x:sx.start + x + w]
    inside = local[filled > 0]
    core = _largest_contour((filled & (local > 0.5 * np.percentile(inside, 90))).astype(np.uint8))
    use_core = core is not None and cv2.contourArea(core) >= 0.25 * cv2.contourArea(contour)
    fitted = _classify(core if use_core else contour)
    if fitted is None:
        return None
    label, posterior, fit = fitted
    box = _model_box(CLASSES[label], core if use_core else contour, (x, y, w, h))
    size = 1 / (1 + np.exp(-(np.log(area) - np.log(120)) * 2))
    strength = 1 / (1 + np.exp(-(float(inside.mean()) / threshold - 1.6) * 3))
    x0, y0, w, h = (sx.start + x) * scale, (sy.start + y) * scale, w * scale, h * scale
    if scale > 1:
        filled = cv2.resize(filled, (w, h), interpolation=cv2.INTER_NEAREST)
    h, w = min(h, shape[0] - y0), min(w, shape[1] - x0)
    mask = np.zeros(shape, bool)
    mask[y0:y0 + h, x0:x0 + w] = filled[:h, :w] > 0
    bx0, by0 = max(box[0] + sx.start, 0) * scale, max(box[1] + sy.start, 0) * scale
    bx1 = min((box[0] + box[2] + sx.start) * scale, shape[1])
    by1 = min((box[1] + box[3] + sy.start) * scale, shape[0])
    return {
        "label": CLASSES[label],
        "bbox": [bx0, by0, bx1 - bx0, by1 - by0],
        "confidence": float(np.clip(posterior * fit ** 0.5 * size * strength, 0.001, 1.0)),
        "mask": mask,
    }


def _max_channel(image):
    """Per-pixel maximum over the colour channels (cv2 is much faster than numpy here)."""
    b, g, r = cv2.split(image)
    return cv2.max(cv2.max(b, g), r)


def _box_iou(a, b):
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / max(a[2] * a[3] + b[2] * b[3] - inter, 1)


def _detect_level(smooth, scale, sensitivity, floor, shape):
    """Detections at one pyramid level: the threshold is ``sensitivity`` times the border
    spread (noise and clutter), but never below ``floor`` (colour distance, 0-255 units)."""
    smooth_f = smooth.astype(np.float32)
    background, spread = _fit_background(smooth_f)
    diff = smooth_f - background
    dist = cv2.sqrt(cv2.transform(diff * diff, np.ones((1, 3), np.float32)))
    grad = _max_channel(cv2.morphologyEx(smooth, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)))
    edge_threshold = max(25.0, 1.5 * float(np.percentile(np.r_[grad[:6].ravel(), grad[-6:].ravel()], 95)))
    edges = (grad > edge_threshold).astype(np.uint8)
    threshold = max(floor, sensitivity * spread)
    detections = [_describe(region, dist, threshold, scale, shape)
                  for region in _segment(smooth, dist, edges, threshold)]
    return [d for d in detections if d is not None]


def detect(image_bgr):
    """Detect shapes from pixels alone; returns dicts (label, bbox [x,y,w,h] px, confidence, mask).

    Background: plane fitted to the image border. Foreground: colour distance above a
    threshold scaled by the border's noise and clutter. Instances: watershed from edge-free
    markers, so touching shapes split only where their colours differ. Class: nearest
    geometric template. This runs at full resolution (strict) and at half resolution
    (smoother, so more sensitive, but with coarser masks and lower confidence); the two
    are merged by class-agnostic NMS at IoU 0.7 which, as in real detectors, leaves some
    near-duplicates.
    """
    fine = cv2.medianBlur(image_bgr, 5)
    shape = image_bgr.shape[:2]
    detections = _detect_level(fine, 1, 3.0, 24.0, shape)
    for det in _detect_level(cv2.pyrDown(fine), 2, 2.2, 15.0, shape):
        det["confidence"] *= 0.75
        detections.append(det)
    detections.sort(key=lambda d: -d["confidence"])
    kept = []
    for det in detections:
        if det["confidence"] >= MIN_CONFIDENCE and all(_box_iou(det["bbox"], k["bbox"]) < NMS_IOU for k in kept):
            kept.append(det)
    return kept
