"""Planted conditions: pixel effects a scene may ask for, for benchmarks of failure discovery.

A scene dict (``scenes.sample_scene``'s) may carry ``effects``, a list of image-level
effects, and each shape may carry ``effect``, an object-level one; ``render_scene`` applies
them at their stage. A benchmark names what it planted in the scene's ``planted`` list and a
shape's ``planted`` key, which ``scene_conditions`` reports, so the cause of an error is known
to the benchmark and to nobody else. Every parameter is in the dict (drawn by whoever planted
it), so rendering stays a pure function of the scene. Stages, in render order:

- ``background`` (after the background and clutter, before the shapes): ``stripes``, a
  periodic pattern of a second colour (period, angle, colour);
- ``objects`` (after the shapes are painted): per shape ``stripes`` (its colour modulated by
  dark bands), ``occluder`` (a bar in the background colour across it, like a pole in front),
  ``defocus`` (the shape alone blurred);
- ``image`` (after exposure and camera blur, before sensor noise): ``cast`` (channel gains),
  ``vignette`` (corners darkened), ``lowres`` (shrunk and enlarged back: a low-resolution
  sensor);
- encoding: ``jpeg`` (the JPEG quality of the stored file).
"""

import cv2
import numpy as np

IMAGE_EFFECTS = ("stripes", "cast", "vignette", "lowres", "jpeg")
OBJECT_EFFECTS = ("stripes", "occluder", "defocus")


def _effects(scene, kinds):
    return [e for e in scene.get("effects", ()) if e["kind"] in kinds]


def jpeg_quality(scene, default):
    """The JPEG quality the scene is stored at."""
    found = _effects(scene, ("jpeg",))
    return int(found[0]["quality"]) if found else default


def _bands(shape_hw, period, angle, x0=0.0, y0=0.0):
    """(H, W) float32 0/1 bands of ``period`` pixels across direction ``angle`` (radians)."""
    h, w = shape_hw
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = ((xs + x0) * np.cos(angle) + (ys + y0) * np.sin(angle)) * (2 * np.pi / period)
    return (np.sin(phase) > 0).astype(np.float32)


def background(image, scene):
    """Background-stage effects, in place on the float32 BGR image."""
    for e in _effects(scene, ("stripes",)):
        m = _bands(image.shape[:2], e["period"], e["angle"])[..., None]
        image[:] = image * (1 - m) + np.float32(e["colour"]) * m


def objects(image, zbuf, scene):
    """Object-stage effects of each shape with an ``effect``, in place."""
    height, width = zbuf.shape
    for i, shape in enumerate(scene["objects"], start=1):
        e = shape.get("effect")
        if not e:
            continue
        (cx, cy), r = shape["centre"], shape["radius"]
        pad = int(r) + 8
        x0, y0 = max(int(cx) - pad, 0), max(int(cy) - pad, 0)
        x1, y1 = min(int(cx) + pad + 1, width), min(int(cy) + pad + 1, height)
        if x1 <= x0 or y1 <= y0:
            continue
        window = image[y0:y1, x0:x1]
        mask = zbuf[y0:y1, x0:x1] == i
        if e["kind"] == "stripes":
            bands = _bands(mask.shape, e["period"], e["angle"], x0, y0)
            factor = 1 - e["depth"] * bands
            window[mask] *= factor[mask][:, None]
        elif e["kind"] == "occluder":
            a = e["angle"]
            d = np.array([np.cos(a), np.sin(a)]) * r * 1.3
            p, q = np.array([cx, cy]) - d, np.array([cx, cy]) + d
            p, q = (tuple(np.round(v * 16).astype(int)) for v in (p, q))
            cv2.line(image, p, q,
                     tuple(float(c) for c in e["colour"]), max(int(round(e["width"] * r)), 2),
                     cv2.LINE_AA, 4)
        elif e["kind"] == "defocus":
            blurred = cv2.GaussianBlur(window, (0, 0), e["sigma"])
            near = cv2.dilate(mask.view(np.uint8), np.ones((7, 7), np.uint8)) > 0
            window[near] = blurred[near]


def image(img, scene):
    """Image-stage effects; returns the float32 BGR image."""
    h, w = img.shape[:2]
    for e in _effects(scene, ("cast", "vignette", "lowres")):
        if e["kind"] == "cast":
            img = img * np.float32(e["gains"])
        elif e["kind"] == "vignette":
            ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
            cx, cy = (w - 1) / 2, (h - 1) / 2
            r2 = ((xs - cx) / cx) ** 2 + ((ys - cy) / cy) ** 2
            img = img * (1 - np.float32(e["strength"]) * np.minimum(r2 / 2, 1))[..., None]
        elif e["kind"] == "lowres":
            f = e["factor"]
            small = cv2.resize(img, (max(w // f, 1), max(h // f, 1)), interpolation=cv2.INTER_AREA)
            img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(img, dtype=np.float32)
