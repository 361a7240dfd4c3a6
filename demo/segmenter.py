"""A per-pixel semantic segmenter for the demo scenes, from the pixels alone.

The shape detector's instance masks (colour distance to a fitted background,
watershed, contour geometry) are painted into a class map, most confident on
top; every pixel gets a confidence: its detection's score inside a shape, and
its colour's closeness to the fitted background outside. Its mistakes come
from the pixels, as a real segmenter's do: dark or low-contrast shapes are
left as background, blur erodes and rounds the boundaries (class confusions),
clutter leaks in as false regions.
"""

import cv2
import numpy as np

from shape_detector import CLASSES, _fit_background, detect

#: Mask values: 0 the background, then the shape classes in order.
MASK_TARGETS = {0: "background", **{i + 1: c for i, c in enumerate(CLASSES)}}


def segment(image_bgr):
    """``(labels, confidence)``: uint8 class values (see :data:`MASK_TARGETS`)
    and uint8 confidence (0-255) of the predicted class, per pixel."""
    shape = image_bgr.shape[:2]
    labels = np.zeros(shape, np.uint8)
    score = np.zeros(shape, np.float32)
    for det in sorted(detect(image_bgr), key=lambda d: d["confidence"]):
        labels[det["mask"]] = CLASSES.index(det["label"]) + 1
        score[det["mask"]] = det["confidence"]
    smooth = cv2.medianBlur(image_bgr, 5).astype(np.float32)
    background, spread = _fit_background(smooth)
    diff = smooth - background
    dist = np.sqrt((diff * diff).sum(axis=2))
    scale = max(3.0 * spread, 24.0)  # the detector's foreground threshold
    bg_conf = np.clip(1.0 - dist / (2.0 * scale), 0.0, 1.0)
    conf = np.where(labels > 0, score, bg_conf)
    return labels, np.round(conf * 255).astype(np.uint8)


def ground_truth(objects, shape):
    """The class map of a scene's annotated shapes (``render_scene``'s objects)."""
    labels = np.zeros(shape, np.uint8)
    for obj in objects:
        labels[obj["mask"]] = CLASSES.index(obj["label"]) + 1
    return labels
