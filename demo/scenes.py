"""Generated demo data for Error Atlas: synthetic shape scenes and a real classical detector.

Nothing is downloaded. Each scene is rendered with OpenCV from a seeded RNG under hidden
conditions (lighting, blur, noise, clutter, shadows, occlusion) that are kept off the
dataset. A pixels-only detector (background model, colour distance, watershed, contour
geometry) then makes predictions whose errors arise from those conditions, so they cluster
the way real detector failures do. ``scene_conditions`` exposes the hidden causes.
"""

import functools
import hashlib
import json
import multiprocessing
import os
import sys

import cv2
import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.append(_HERE)  # shape_detector.py sits next to this file
import effects  # noqa: E402
from shape_detector import CLASSES, coordinate_image, detect  # noqa: E402

if os.path.dirname(_HERE) not in sys.path:
    sys.path.append(os.path.dirname(_HERE))  # the engine, for its pool helpers
from plugin.workers import opencv_single_threaded  # noqa: E402

DEFAULT_SIZE = (640, 480)
JPEG_QUALITY = 85
MIN_VISIBLE = 0.3  # shapes less visible than this are not annotated
_NUM_VERTICES = {"triangle": 3, "square": 4, "hexagon": 6}


# ------------------------------------------------------------------------------ scenes


def _random_colour(rng, near=None, spread=(15.0, 45.0)):
    """A BGR colour: vivid at random, or a random offset of ``near`` (a similar colour)."""
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
    """Every random choice of a scene, without pixels: conditions, background, shapes, clutter."""
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
    """Fill one shape on ``canvas`` with sub-pixel precision."""
    (cx, cy), r, label = shape["centre"], shape["radius"], shape["label"]
    if label == "circle":
        centre = (round(cx * 16), round(cy * 16))
        cv2.circle(canvas, centre, round(r * 16), value, -1, cv2.LINE_8, 4)
        return
    if label == "star":
        radii = np.tile([r, r * shape["star_ratio"]], 5)
    else:
        radii = np.full(_NUM_VERTICES[label], r)
    theta = shape["angle"] + np.arange(len(radii)) * 2 * np.pi / len(radii)
    points = np.stack([cx + radii * np.cos(theta), cy + radii * np.sin(theta)], axis=1)
    cv2.fillPoly(canvas, [np.round(points * 16).astype(np.int32)], value, cv2.LINE_8, 4)


def _layout(scene):
    """Z-buffer of shape indices (0 = background), each shape's full area and in-image area."""
    width, height = scene["size"]
    zbuf = np.zeros((height, width), np.uint8)
    full, inside = [], []
    for i, shape in enumerate(scene["objects"], start=1):
        _draw_shape(zbuf, shape, i)
        (cx, cy), r = shape["centre"], shape["radius"]
        x0, y0, n = int(cx - r) - 2, int(cy - r) - 2, int(2 * r) + 6
        local = np.zeros((n, n), np.uint8)
        _draw_shape(local, dict(shape, centre=[cx - x0, cy - y0]), 1)
        full.append(cv2.countNonZero(local))
        inside.append(cv2.countNonZero(local[max(-y0, 0):height - y0, max(-x0, 0):width - x0]))
    return zbuf, np.array(full), np.array(inside)


def _background_matrix(scene):
    """3x3 matrix M with background colour = M @ [1, x, y] (a linear gradient from c0 to c1)."""
    width, height = scene["size"]
    bg = scene["background"]
    direction = np.array([np.cos(bg["angle"]), np.sin(bg["angle"])])
    corners = np.array([[0, 0], [width - 1, 0], [0, height - 1], [width - 1, height - 1]])
    corners = corners @ direction
    span = max(float(np.ptp(corners)), 1.0)
    c0, delta = np.array(bg["c0"]), np.array(bg["c1"]) - np.array(bg["c0"])
    return np.stack([c0 - delta * corners.min() / span, delta * direction[0] / span,
                     delta * direction[1] / span], axis=1)


def _expose(scene, pixels):
    """Global lighting: gain and offset, saturating at 255 like a sensor."""
    gain, offset = np.float32(scene["gain"]), np.float32(scene["offset"])
    return np.minimum(np.asarray(pixels, np.float32) * gain + offset, np.float32(255))


def _draw_clutter(image, items):
    """Draw the clutter items on the background (in place, anti-aliased)."""
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


def _draw_shadow(image, zbuf, scene):
    """Soft drop shadow of all shapes, offset by ``scene["shadow"]`` pixels (in place)."""
    dx, dy = scene["shadow"]
    if dx == 0 and dy == 0:
        return
    cast = cv2.warpAffine((zbuf > 0).astype(np.float32), np.float32([[1, 0, dx], [0, 1, dy]]),
                          zbuf.shape[::-1])
    image *= (1 - scene["shadow_depth"] * cv2.GaussianBlur(cast, (0, 0), 2.0))[..., None]


def _paint_shapes(image, zbuf, shapes):
    """Paint the visible part of each shape in its colour under a linear shading ramp."""
    height, width = zbuf.shape
    for i, shape in enumerate(shapes, start=1):
        (cx, cy), r = shape["centre"], shape["radius"]
        x0, y0 = max(int(cx - r) - 1, 0), max(int(cy - r) - 1, 0)
        x1, y1 = min(int(cx + r) + 2, width), min(int(cy + r) + 2, height)
        visible = zbuf[y0:y1, x0:x1] == i
        if not visible.any():
            continue
        ys, xs = np.mgrid[y0:y1, x0:x1]
        a = shape["shading_angle"]
        ramp = 1 + shape["shading"] * ((xs - cx) * np.cos(a) + (ys - cy) * np.sin(a)) / r
        image[y0:y1, x0:x1][visible] = ramp[visible][:, None] * np.float32(shape["colour"])


def _blur(scene, image):
    """Camera blur of the whole image: Gaussian (sigma) or linear motion (length, angle)."""
    if scene["blur"] == "gaussian":
        return cv2.GaussianBlur(image, (0, 0), scene["blur_strength"])
    if scene["blur"] == "motion":
        # Three passes of a line 1/sqrt(3) as long: the spread of one full-length line, but
        # much faster, as OpenCV filters with kernels up to 11x11 directly (larger: by DFT).
        length = int(round(scene["blur_strength"] / np.sqrt(3))) | 1
        kernel = np.zeros((length, length), np.float32)
        c, a = length // 2, np.deg2rad(scene["blur_angle"])
        dx, dy = round(np.cos(a) * c), round(np.sin(a) * c)
        cv2.line(kernel, (c - dx, c - dy), (c + dx, c + dy), 1, 1)
        kernel /= kernel.sum()
        for _ in range(3):
            image = cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT)
    return image


def _occlusion(zbuf, inside):
    """Fraction of each shape's in-image area hidden by shapes drawn over it."""
    n = len(inside)
    visible = cv2.calcHist([zbuf], [0], None, [n + 1], [0, n + 1]).ravel()[1:]
    return 1 - visible / np.maximum(inside, 1)


def _conditions(scene, zbuf, full, inside):
    """Hidden causes of a scene; per-object entries follow the ground-truth order."""
    shapes, matrix = scene["objects"], _background_matrix(scene)
    occlusion = _occlusion(zbuf, inside)
    colours = _expose(scene, [s["colour"] for s in shapes]) if shapes else np.zeros((0, 3))
    objects = []
    for i, shape in enumerate(shapes):
        if occlusion[i] > 1 - MIN_VISIBLE:
            continue
        x, y, w, h = cv2.boundingRect((zbuf == i + 1).view(np.uint8))
        crop = zbuf[max(y - 2, 0):y + h + 2, max(x - 2, 0):x + w + 2]
        ring = cv2.dilate((crop == i + 1).view(np.uint8), np.ones((5, 5), np.uint8)) > 0
        touching = [j - 1 for j in np.unique(crop[ring]) if j not in (0, i + 1)]
        behind = _expose(scene, matrix @ np.array([1.0, *shape["centre"]]))
        objects.append({
            "label": shape["label"],
            "radius": round(shape["radius"], 2),
            "contrast": round(float(np.linalg.norm(colours[i] - behind)), 2),
            "occlusion": round(float(occlusion[i]), 4),
            "truncation": round(float(1 - inside[i] / max(full[i], 1)), 4),
            "touches_similar": any(np.linalg.norm(colours[i] - colours[j]) < 40 for j in touching),
            "planted": shape.get("planted"),
        })
    return {
        "lighting": scene["lighting"], "gain": round(scene["gain"], 4),
        "blur": scene["blur"], "blur_strength": round(scene["blur_strength"], 3),
        "noise": round(scene["noise"], 3), "clutter": len(scene["clutter"]),
        "shadow": round(float(np.hypot(*scene["shadow"])), 2),
        "background": scene["background"]["kind"],
        "num_hidden": int((occlusion > 1 - MIN_VISIBLE).sum()),
        "planted": list(scene.get("planted", ())),
        "jpeg_quality": effects.jpeg_quality(scene, JPEG_QUALITY),
        "objects": objects,
    }


def render_scene(rng, size=DEFAULT_SIZE, scene_fn=None):
    """Render one scene: returns (BGR uint8 image, objects, conditions).

    ``objects`` are the annotated shapes (at least ``MIN_VISIBLE`` of them visible), each a
    dict with ``label``, ``bbox`` [x, y, w, h] in pixels of the visible extent and ``mask``,
    the full-image boolean visible mask. ``conditions`` are the hidden causes of errors.
    ``scene_fn(rng, size)`` replaces ``sample_scene`` (e.g. to plant one condition).
    """
    scene = (scene_fn or sample_scene)(rng, size)
    zbuf, full, inside = _layout(scene)
    image = cv2.transform(coordinate_image(*size), _background_matrix(scene).astype(np.float32))
    _draw_clutter(image, scene["clutter"])
    effects.background(image, scene)
    _draw_shadow(image, zbuf, scene)
    _paint_shapes(image, zbuf, scene["objects"])
    effects.objects(image, zbuf, scene)
    image = effects.image(_blur(scene, _expose(scene, image)), scene)
    if scene["noise"] > 0:
        cv2.setRNGSeed(int(rng.integers(2 ** 31)))
        image += cv2.randn(np.empty_like(image), 0, (scene["noise"],) * 3)
    image = cv2.convertScaleAbs(cv2.max(image, 0))  # rounds and saturates at 255

    objects = []
    occlusion = _occlusion(zbuf, inside)
    for i, shape in enumerate(scene["objects"], start=1):
        if occlusion[i - 1] <= 1 - MIN_VISIBLE:
            mask = zbuf == i
            objects.append({"label": shape["label"], "mask": mask,
                            "bbox": list(cv2.boundingRect(mask.view(np.uint8)))})
    return image, objects, _conditions(scene, zbuf, full, inside)


# ------------------------------------------------------------------------------ dataset


def image_filename(index):
    return f"{index:06d}.jpg"


def _cache_dir(seed, num_images, size):
    name = f"{seed}-{num_images}" + ("" if tuple(size) == DEFAULT_SIZE else "-{}x{}".format(*size))
    return os.path.join(os.path.expanduser("~"), ".cache", "error-atlas", "demo", name)


@functools.lru_cache(maxsize=1)
def _renderer_hash():
    """Hash of this file: cached images and conditions are reused only if it is unchanged."""
    with open(os.path.abspath(__file__), "rb") as f:
        return hashlib.sha1(f.read()).hexdigest()[:12]


def _manifest(seed, num_images, size, scene_fn=None):
    manifest = {"renderer": _renderer_hash(), "seed": seed, "num_images": num_images,
                "size": list(size)}
    if scene_fn is not None:  # images of another scene sampler are never reused
        manifest["scene_fn"] = f"{scene_fn.__module__}.{scene_fn.__qualname__}"
    return manifest


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write_json(path, data):
    with open(path + ".tmp", "w") as f:
        json.dump(data, f)
    os.replace(path + ".tmp", path)


def _scene_rng(seed, index):
    """One independent, reproducible stream per image: image i never depends on image j."""
    return np.random.default_rng([seed, index])


def _compact(item, with_masks):
    """A picklable summary of an object or detection; its mask is cropped to its box."""
    x, y, w, h = item["bbox"]
    return {"label": item["label"], "bbox": [x, y, w, h], "confidence": item.get("confidence"),
            "mask": item["mask"][y:y + h, x:x + w].copy() if with_masks else None}


def _process(task):
    """Render one scene, write its JPEG (or reuse it) and run the detector on the stored pixels,
    so that ``detect(cv2.imread(filepath))`` gives exactly the stored predictions."""
    index, seed, size, out_dir, reuse, with_masks, scene_fn = task
    image, objects, conditions = render_scene(_scene_rng(seed, index), size, scene_fn)
    quality = conditions["jpeg_quality"]
    path = os.path.join(out_dir, image_filename(index))
    if reuse and os.path.exists(path):
        data = np.fromfile(path, np.uint8)
    else:
        data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
        data.tofile(path + ".tmp")
        os.replace(path + ".tmp", path)
    predictions = detect(cv2.imdecode(data, cv2.IMREAD_COLOR))
    return {"filepath": path, "size_bytes": int(data.size),
            "ground_truth": [_compact(o, with_masks) for o in objects],
            "predictions": [_compact(p, with_masks) for p in predictions],
            "conditions": dict(filename=image_filename(index), **conditions)}


def _available_cpus():
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _run(tasks, workers):
    """Results of ``_process`` over ``tasks``, in order, on ``workers`` processes."""
    if workers <= 1 or len(tasks) < 16:
        return [_process(t) for t in tasks]
    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with opencv_single_threaded(), ctx.Pool(workers) as pool:
        return pool.map(_process, tasks, chunksize=max(1, min(16, len(tasks) // (4 * workers))))


def scene_conditions(num_images=300, seed=51, size=DEFAULT_SIZE, out_dir=None, scene_fn=None):
    """The hidden conditions of each scene, in image order, each with its ``filename``.

    Scene keys: lighting, gain, blur, blur_strength, noise, clutter (number of clutter items),
    shadow (offset in px), background, num_hidden (shapes too hidden to annotate), planted
    (names of conditions a benchmark planted in the scene, its ``planted`` list), jpeg_quality;
    ``objects`` lists, in ground-truth order, label, radius, contrast, occlusion, truncation,
    touches_similar and planted (the name a benchmark gave the shape, or None). Read from the
    json cached next to the images when there, otherwise
    re-derived from the seed without rendering any pixels. ``scene_fn`` as in ``build_dataset``.
    """
    out_dir = out_dir or _cache_dir(seed, num_images, size)
    manifest = _manifest(seed, num_images, size, scene_fn)
    if _read_json(os.path.join(out_dir, "manifest.json")) == manifest:
        cached = _read_json(os.path.join(out_dir, "conditions.json"))
        if cached is not None:
            return cached
    conditions = []
    for index in range(num_images):
        scene = (scene_fn or sample_scene)(_scene_rng(seed, index), size)
        hidden = _conditions(scene, *_layout(scene))
        conditions.append(dict(filename=image_filename(index), **hidden))
    return conditions


def build_dataset(name="error-atlas-demo", num_images=300, seed=51, out_dir=None, overwrite=True,
                  with_masks=False, workers=None, size=DEFAULT_SIZE, scene_fn=None):
    """Render the demo scenes and load them, with ground truth and predictions, into FiftyOne.

    Images go to ``out_dir`` (default ``~/.cache/error-atlas/demo/<seed>-<num_images>/``) and
    are reused when already there for the same seed, count and size. The dataset is
    persistent; with ``overwrite=False`` an existing one is returned as is. Fields:
    ``ground_truth`` and ``predictions`` (``fo.Detections``, relative boxes; instance masks
    cropped to the box if ``with_masks``). The hidden conditions are not stored on it: see
    ``scene_conditions``. ``scene_fn(rng, size)``, a module-level function returning a scene
    dict like ``sample_scene``'s, replaces ``sample_scene`` for controlled experiments
    (``benchmarks/bench_planted_failure.py`` plants one condition with it); give such sets
    their own ``out_dir``.
    """
    import fiftyone as fo

    if not overwrite and fo.dataset_exists(name):
        return fo.load_dataset(name)
    out_dir = os.path.abspath(os.path.expanduser(out_dir or _cache_dir(seed, num_images, size)))
    os.makedirs(out_dir, exist_ok=True)
    manifest_path = os.path.join(out_dir, "manifest.json")
    manifest = _manifest(seed, num_images, size, scene_fn)
    reuse = _read_json(manifest_path) == manifest
    tasks = [(i, seed, tuple(size), out_dir, reuse, with_masks, scene_fn)
             for i in range(num_images)]
    results = _run(tasks, workers or _available_cpus())
    _write_json(os.path.join(out_dir, "conditions.json"), [r["conditions"] for r in results])
    _write_json(manifest_path, manifest)

    width, height = size
    scale = np.array([width, height, width, height], float)

    def detections(items):
        return fo.Detections(detections=[
            fo.Detection(label=d["label"], bounding_box=(np.array(d["bbox"]) / scale).tolist(),
                         confidence=d["confidence"], mask=d["mask"])
            for d in items])

    samples = [
        fo.Sample(
            filepath=r["filepath"],
            metadata=fo.ImageMetadata(size_bytes=r["size_bytes"], mime_type="image/jpeg",
                                      width=width, height=height, num_channels=3),
            ground_truth=detections(r["ground_truth"]),
            predictions=detections(r["predictions"]),
        )
        for r in results
    ]
    if fo.dataset_exists(name):  # only now: workers are best forked before any connection
        fo.delete_dataset(name)
    dataset = fo.Dataset(name, persistent=True)
    dataset.default_classes = list(CLASSES)
    dataset.info = {"source": "error-atlas demo (demo/scenes.py)", "seed": seed,
                    "num_images": num_images, "renderer": _renderer_hash()}
    dataset.add_samples(samples)
    return dataset
