"""Built-in, offline descriptors of images and objects for finding failures.

Detectors fail on dark, blurry, washed-out or cluttered images and on small,
truncated, crowded or oddly shaped objects. These descriptors measure exactly
those conditions in plain units, so clusters of errors can be explained in
words ("darker than 90% of other images", "objects mostly under 32 px")
without a model download. Everything is vectorized numpy; an image costs a
few milliseconds whatever its size, because it is first strided down to at
most :data:`MAX_SIDE` pixels per side (so sharpness is measured at that scale).
"""

import numpy as np

from . import image_quality, object_context
from .image_quality import QUALITY_FEATURES
from .object_context import CONTEXT_FEATURES

#: Images are strided down to at most this many pixels per side first.
MAX_SIDE = 256

#: One line each; luma is Rec. 601 ``0.299 R + 0.587 G + 0.114 B`` in [0, 1].
IMAGE_FEATURES = (
    "brightness",       # mean luma
    "contrast",         # standard deviation of luma
    "dark_fraction",    # fraction of pixels with luma < 0.2
    "bright_fraction",  # fraction of pixels with luma > 0.9
    "highlights",       # 99th percentile of luma: low when the whole scene is under-exposed
    "shadows",          # 1st percentile of luma: high when the whole scene is washed out
    "saturation",       # mean HSV saturation
    "colorfulness",     # Hasler & Suesstrunk (2003) colourfulness, RGB in [0, 1]
    "sharpness",        # log(1 + variance of the 4-neighbour Laplacian of luma in 0-255 units)
    "edge_density",     # fraction of pixels whose luma gradient exceeds 0.1 per pixel
    "entropy",          # Shannon entropy (bits) of the 64-bin luma histogram
    "mean_r",           # mean red, in [0, 1]
    "mean_g",           # mean green
    "mean_b",           # mean blue
    "hue_red",          # saturation-weighted fraction of pixels with red hue (330-30 deg)
    "hue_yellow",       # ... yellow hue (30-90 deg)
    "hue_green",        # ... green hue (90-150 deg)
    "hue_cyan",         # ... cyan hue (150-210 deg)
    "hue_blue",         # ... blue hue (210-270 deg)
    "hue_magenta",      # ... magenta hue (270-330 deg)
) + QUALITY_FEATURES    # noise, blockiness, blur kind, cast, clipping, vignetting: image_quality.py

#: Columns of :func:`object_descriptors` (boxes are relative ``[x, y, w, h]``).
OBJECT_FEATURES = (
    "log_area",          # natural log of the box area in pixels (at least 1 px)
    "relative_area",     # box area as a fraction of the image
    "aspect_ratio",      # log(width / height), in pixels; > 0 is wide, < 0 tall
    "center_x",          # relative x of the box centre
    "center_y",          # relative y of the box centre
    "border_distance",   # relative distance from the box to the nearest image border
    "truncated",         # 1 if the box is within 1% of an image border, else 0
    "overlaps",          # other objects of its kind in its image overlapping it with IoU > 0.1
    "overlap_fraction",  # largest share of its box covered by one other box of its kind (occlusion)
    "objects_in_image",  # objects of its kind (ground truth or prediction) in its image
    "is_prediction",     # 1 for predictions, 0 for ground truth (confidence was NaN)
    "confidence",        # prediction confidence; 0 for ground truth
)

#: Appended to :data:`OBJECT_FEATURES` when crops are given (NaN for empty crops); the
#: object-level map uses :data:`CONTEXT_FEATURES` (crop and a ring of context) instead.
CROP_FEATURES = ("crop_brightness", "crop_contrast", "crop_sharpness", "crop_saturation")
_CROP_SOURCE = ("brightness", "contrast", "sharpness", "saturation")


def _than(low, high, family):
    return (low and low + " than {pct}% of other {noun}",
            high and high + " than {pct}% of other {noun}", family)


#: How a cluster that stands out on a feature is described: (phrase when its
#: median is low, when high, family); None = not worth saying; of phrases of
#: one family only the strongest is kept. Fields: pct (share of the other
#: members beyond the cluster's median), noun (plural), med / q25 / q75 (the
#: cluster's quartiles), side25 / side75 (``sqrt(exp(q))``, box side in px).
FEATURE_PHRASES = {
    "brightness": _than("darker", "brighter", "light"),
    "contrast": _than("lower contrast", "higher contrast", "contrast"),
    "dark_fraction": _than(None, "more dark area", "light"),
    "bright_fraction": _than(None, "more overexposed area", "light"),
    "highlights": _than("dimmer highlights", None, "exposure"),
    "shadows": _than(None, "brighter shadows", "exposure"),
    "saturation": _than("less saturated", "more saturated", "colour"),
    "colorfulness": _than("less colourful", "more colourful", "colour"),
    "sharpness": _than("blurrier", "sharper", "sharpness"),
    "edge_density": _than("fewer edges", "more edges", "texture"),
    "entropy": _than("flatter tones", "more varied tones", "texture"),
    "mean_r": _than("less red", "redder", "tint"),
    "mean_g": _than("less green", "greener", "tint"),
    "mean_b": _than("less blue", "bluer", "tint"),
    **{f"hue_{c}": _than(None, f"more {c} hues", "hue")
       for c in ("red", "yellow", "green", "cyan", "blue", "magenta")},
    "log_area": ("objects mostly under {side75} px", "objects mostly over {side25} px", "size"),
    "relative_area": ("small in the frame (median {med:.1%} of it)",
                      "large in the frame (median {med:.0%} of it)", "size"),
    "aspect_ratio": ("tall, narrow boxes", "wide, flat boxes", "shape"),
    "center_x": ("near the left edge", "near the right edge", "x"),
    "center_y": ("near the top", "near the bottom", "y"),
    "border_distance": ("close to the image border", "away from the image border", "border"),
    "overlaps": (None, "overlapping other objects (median {med:.0f})", "crowding"),
    "objects_in_image": ("in sparse scenes (median {med:.0f} objects)",
                         "in crowded scenes (median {med:.0f} objects)", "crowding"),
    "confidence": ("low confidence (median {med:.2f})", "high confidence (median {med:.2f})",
                   "confidence"),
    "overlap_fraction": (None, "largely covered by another object (median {med:.0%})",
                         "occlusion"),
    "noise": _than("less noisy", "noisier", "noise"),
    "blockiness": _than(None, "more JPEG blocking", "compression"),
    "blur_anisotropy": _than(None, "more directional (motion) blur", "blur kind"),
    "acutance": _than("softer edges for their contrast (blur, low resolution)", "crisper edges",
                      "sharpness"),
    "colour_cast": _than(None, "stronger colour cast", "cast"),
    "clipped_highlights": _than(None, "more clipped highlights", "clipping"),
    "clipped_shadows": _than(None, "more crushed shadows", "clipping"),
    "vignetting": _than(None, "darker corners (vignetting)", "vignetting"),
    "periodicity": _than(None, "more periodic background pattern", "pattern"),
    "texture_fraction": _than("plainer backgrounds", "more textured or cluttered area",
                              "texture"),
    "object_contrast": _than("objects blending into their surroundings",
                             "objects standing out from their surroundings", "object contrast"),
    "luma_contrast": _than("objects as bright as their surroundings",
                           "objects brighter or darker than their surroundings", "object contrast"),
    "ring_texture": _than("plain surroundings", "cluttered surroundings", "surroundings"),
    "crop_acutance": _than("blurrier objects (softer edges for their contrast)",
                           "crisper or more textured objects", "object blur"),
    "crop_anisotropy": _than(None, "more directional object gradients (motion blur, stripes)",
                             "object blur kind"),
}
#: 0/1 features: (what the 0s are, what the 1s are); None = not worth saying.
BINARY_PHRASES = {"truncated": (None, "cut off at the image border"),
                  "is_prediction": ("ground truth", "predictions")}

_TRUNCATION_MARGIN = 0.01
_CROWD_IOU = 0.1
_PAIR_CHUNK = 1 << 20  # same-image pairs handled at once (bounds memory to ~100 MB)


def _as_planes(image):
    """Contiguous float32 R, G, B planes in [0, 1], strided to at most MAX_SIDE per side."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] in (1, 4):
        image = image[..., 0] if image.shape[2] == 1 else image[..., :3]
    if not (image.ndim == 2 or image.ndim == 3 and image.shape[2] == 3):
        raise ValueError(f"image must be HxW or HxWx3 (RGB), got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty (shape {image.shape})")
    step = -(-max(image.shape[:2]) // MAX_SIDE)
    image = image[::step, ::step]
    if image.dtype == np.uint8:
        scale = 1.0 / 255.0
    elif np.issubdtype(image.dtype, np.floating):
        scale = 1.0
        if not np.all(np.isfinite(image)) or image.min() < 0.0 or image.max() > 1.0:
            raise ValueError("float images must hold finite values in [0, 1]")
    else:
        raise TypeError(f"image must be uint8 (or float in [0, 1]), got {image.dtype}")
    if image.ndim == 2:
        grey = np.ascontiguousarray(image, dtype=np.float32)
        grey *= scale
        return grey, grey, grey
    planes = np.ascontiguousarray(np.moveaxis(image, 2, 0), dtype=np.float32)  # (3, H, W)
    planes *= scale
    return planes[0], planes[1], planes[2]


def _full_luma255(image):
    """Unscaled luma (0-255) of the central block-aligned crop, for blockiness."""
    crop = image_quality.block_crop(np.asarray(image))
    if crop.ndim == 3:
        crop = crop[..., 0] if crop.shape[2] == 1 else (
            0.299 * crop[..., 0] + 0.587 * crop[..., 1] + 0.114 * crop[..., 2])
    crop = np.asarray(crop, dtype=np.float32)
    return crop if np.asarray(image).dtype == np.uint8 else crop * 255.0


def image_descriptor(image):
    """Describes one image by :data:`IMAGE_FEATURES`.

    Args:
        image: (H, W, 3) uint8 RGB array, or (H, W) greyscale (an alpha
            channel is ignored; float arrays in [0, 1] are accepted too)

    Returns:
        (F,) float32, in the order of :data:`IMAGE_FEATURES`; sharpness, edge
        density and the quality signals are NaN for images too small to measure
        them (3 x 3 to 16 x 16 pixels)
    """
    r, g, b = _as_planes(image)
    n = r.size
    luma = 0.299 * r + 0.587 * g + 0.114 * b

    mx = np.maximum(np.maximum(r, g), b)
    chroma = mx - np.minimum(np.minimum(r, g), b)
    sat = np.divide(chroma, mx, out=np.zeros_like(mx), where=mx > 0)
    safe = np.where(chroma > 0, chroma, 1.0)
    hue = np.where(mx == r, (g - b) / safe,  # in units of 60 deg, red at 0
                   np.where(mx == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0))
    hue_bin = np.floor(hue + 0.5).astype(np.int64) % 6  # centred bins: red, yellow, ...
    hue_hist = np.bincount(hue_bin.ravel(), weights=sat.ravel(), minlength=6) / n

    rg, yb = r - g, 0.5 * (r + g) - b
    colorfulness = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())

    if min(luma.shape) >= 3:
        l255 = luma * 255.0
        lap = (4.0 * l255[1:-1, 1:-1] - l255[:-2, 1:-1] - l255[2:, 1:-1]
               - l255[1:-1, :-2] - l255[1:-1, 2:])
        sharpness = np.log1p(lap.var())
        gx = 0.5 * (luma[1:-1, 2:] - luma[1:-1, :-2])
        gy = 0.5 * (luma[2:, 1:-1] - luma[:-2, 1:-1])
        edge_density = np.mean(gx * gx + gy * gy > 0.01)
    else:
        sharpness = edge_density = np.nan

    counts = np.bincount(np.minimum((luma * 64).astype(np.int64), 63).ravel(), minlength=64)
    p = counts[counts > 0] / n
    entropy = 0.0 - np.sum(p * np.log2(p))  # 0.0 - : no -0.0

    shadows, highlights = np.quantile(luma, [0.01, 0.99])
    values = [
        luma.mean(), luma.std(), np.mean(luma < 0.2), np.mean(luma > 0.9), highlights, shadows,
        sat.mean(),
        colorfulness, sharpness, edge_density, entropy, r.mean(), g.mean(), b.mean(),
        *hue_hist,
        *image_quality.quality_signals(r, g, b, luma, _full_luma255(image)),
    ]
    return np.array(values, dtype=np.float32)


def _intersection(a, b):
    """Elementwise intersection area of aligned relative [x, y, w, h] boxes."""
    iw = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    ih = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    return np.clip(iw, 0, None) * np.clip(ih, 0, None)


def _pairwise_iou(a, b):
    """Elementwise IoU of aligned relative [x, y, w, h] boxes."""
    inter = _intersection(a, b)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _crowding(boxes, group):
    """Per object: group size, how many other group members overlap it (IoU > 0.1) and the
    largest share of its box one other member covers.

    Pairs are enumerated group by group (sorted order + np.repeat), in chunks of
    at most about ``_PAIR_CHUNK`` pairs so that huge images cannot exhaust memory.
    """
    N = group.size
    order = np.argsort(group, kind="stable")
    size = np.bincount(group)
    start = np.cumsum(size) - size
    partners = size[group[order]]
    cum = np.cumsum(partners)
    cuts = np.searchsorted(cum, np.arange(_PAIR_CHUNK, cum[-1], _PAIR_CHUNK), side="right")
    bounds = np.unique(np.concatenate([[0], cuts, [N]]))
    overlaps = np.zeros(N, dtype=np.int64)
    covered = np.zeros(N)
    area = boxes[:, 2] * boxes[:, 3]
    for a, b in zip(bounds[:-1], bounds[1:]):
        objs, reps = order[a:b], partners[a:b]
        i = np.repeat(objs, reps)
        offset = np.arange(i.size) - np.repeat(np.cumsum(reps) - reps, reps)
        j = order[np.repeat(start[group[objs]], reps) + offset]
        keep = i != j
        i, j = i[keep], j[keep]
        inter = _intersection(boxes[i], boxes[j])
        union = area[i] + area[j] - inter
        hit = inter > _CROWD_IOU * union
        overlaps += np.bincount(i[hit], minlength=N)
        share = np.divide(inter, area[i], out=np.zeros_like(inter), where=area[i] > 0)
        np.maximum.at(covered, i, share)
    return size[group], overlaps, covered


def object_descriptors(boxes, image_sizes, confidence, image_index, crops=None, context=None):
    """Describes N objects (ground truth and/or predictions) by :data:`OBJECT_FEATURES`.

    Crowding is counted among objects of the same kind in the same image
    (ground truth with ground truth, predictions with predictions), so that a
    prediction does not count as crowded because it sits on its own object.

    Args:
        boxes: (N, 4) relative ``[x, y, w, h]`` boxes, coordinates in [0, 1]
        image_sizes: (N, 2) ``[width, height]`` of each object's image, in pixels
        confidence: (N,) prediction confidence, NaN for ground-truth objects
        image_index: (N,) int id of each object's image
        crops: optional length-N sequence of (h, w, 3) uint8 arrays (the
            object's region) or None; adds :data:`CROP_FEATURES`
        context: optional (N, len(CONTEXT_FEATURES)) rows of :func:`image_and_context`
            (the object's crop and its ring of context); appended as they are

    Returns:
        (N, F2) float32, columns :data:`OBJECT_FEATURES` (+ :data:`CROP_FEATURES`)
        (+ :data:`CONTEXT_FEATURES`)
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be (N, 4) [x, y, w, h], got shape {boxes.shape}")
    N = boxes.shape[0]
    sizes = np.asarray(image_sizes, dtype=np.float64)
    confidence = np.asarray(confidence, dtype=np.float64)
    image_index = np.asarray(image_index)
    if sizes.shape != (N, 2):
        raise ValueError(f"image_sizes must be ({N}, 2) [width, height], got {sizes.shape}")
    if confidence.shape != (N,) or image_index.shape != (N,):
        raise ValueError(f"confidence and image_index must be ({N},), got "
                         f"{confidence.shape} and {image_index.shape}")
    if not np.all(np.isfinite(boxes)):
        raise ValueError("boxes must be finite")
    if N and (boxes[:, 2:].min() < 0 or np.abs(boxes).max() > 1.5):
        raise ValueError("boxes must be relative [x, y, w, h] with w, h >= 0 and "
                         f"coordinates in [0, 1], got values up to {np.abs(boxes).max():g} "
                         "(pixel boxes?)")
    if not (np.all(np.isfinite(sizes)) and np.all(sizes > 0)):
        raise ValueError("image_sizes must be positive")
    if N and not np.issubdtype(image_index.dtype, np.integer):
        raise TypeError(f"image_index must be integers, got {image_index.dtype}")
    if crops is not None and len(crops) != N:
        raise ValueError(f"crops must have one entry per object ({N}), got {len(crops)}")
    if context is not None:
        context = np.asarray(context, dtype=np.float32)
        if context.shape != (N, len(CONTEXT_FEATURES)):
            raise ValueError(f"context must be ({N}, {len(CONTEXT_FEATURES)}), got {context.shape}")
    n_cols = len(OBJECT_FEATURES) + (len(CROP_FEATURES) if crops is not None else 0) + \
        (len(CONTEXT_FEATURES) if context is not None else 0)
    if N == 0:
        return np.zeros((0, n_cols), dtype=np.float32)

    x, y, w, h = boxes.T
    w_px, h_px = w * sizes[:, 0], h * sizes[:, 1]
    border = np.clip(np.min([x, y, 1.0 - x - w, 1.0 - y - h], axis=0), 0.0, None)
    is_pred = np.isfinite(confidence)
    group = np.unique(image_index, return_inverse=True)[1].ravel() * 2 + is_pred
    in_image, overlaps, covered = _crowding(boxes, group)

    columns = [
        np.log(np.maximum(w_px * h_px, 1.0)),
        w * h,
        np.log(np.maximum(w_px, 1.0) / np.maximum(h_px, 1.0)),
        x + 0.5 * w,
        y + 0.5 * h,
        border,
        border <= _TRUNCATION_MARGIN,
        overlaps,
        covered,
        in_image,
        is_pred,
        np.where(is_pred, confidence, 0.0),
    ]
    if crops is not None:
        idx = [IMAGE_FEATURES.index(f) for f in _CROP_SOURCE]
        crop_values = np.full((N, len(idx)), np.nan)
        for n, crop in enumerate(crops):  # one image per crop: inherently a loop
            if crop is not None and np.size(crop) > 0:
                crop_values[n] = image_descriptor(crop)[idx]
        columns.extend(crop_values.T)
    if context is not None:
        columns.extend(context.T)
    return np.column_stack(columns).astype(np.float32)


def image_and_context(image, boxes):
    """One image's :data:`IMAGE_FEATURES` and its objects' :data:`CONTEXT_FEATURES`.

    Args:
        image: (H, W, 3) uint8 RGB array
        boxes: (N, 4) relative ``[x, y, w, h]`` boxes of objects in that image

    Returns:
        ((F,) float32, (N, len(CONTEXT_FEATURES)) float32)
    """
    context = object_context.context_features(image, boxes)
    return image_descriptor(image), context


def standardize(X, clip=10.0):
    """Robustly scales features of different units to comparable ranges.

    Each column is centred on its median and divided by its IQR / 1.349 (the
    standard deviation for normal data), falling back to the standard
    deviation, then 1, for columns whose IQR is 0 (e.g. mostly-constant flags).
    Medians and IQRs ignore NaNs and outliers, so one extreme value cannot
    squash a column; NaNs become 0 (the median) after scaling and values are
    clipped to ``[-clip, clip]`` so no single outlier owns a k-means centroid.

    Args:
        X: (N, F) numeric array, NaN for missing values (no infinities)
        clip: bound on the absolute scaled value, or None to keep all

    Returns:
        ``(Z, center, scale)``: (N, F) float32 scaled values and the (F,)
        float64 median and scale used, so ``Z = (X - center) / scale``
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (N, F), got shape {X.shape}")
    if np.isinf(X).any():
        raise ValueError("X contains infinite values; use NaN for missing values")
    F = X.shape[1]
    center, scale = np.zeros(F), np.ones(F)
    observed = ~np.all(np.isnan(X), axis=0) if X.shape[0] else np.zeros(F, bool)
    if observed.any():
        Xo = X[:, observed]
        q25, med, q75 = np.nanpercentile(Xo, [25, 50, 75], axis=0)
        s = (q75 - q25) / 1.349
        s = np.where(s > 0, s, np.nanstd(Xo, axis=0))
        center[observed], scale[observed] = med, np.where(s > 0, s, 1.0)
    Z = (X - center) / scale
    Z[np.isnan(Z)] = 0.0
    if clip is not None:
        np.clip(Z, -clip, clip, out=Z)
    return Z.astype(np.float32), center, scale


def normal_scores(X):
    """Puts every feature on the same scale by rank: normal scores ("rank-Gauss").

    Each column's observed values are replaced by the standard normal
    quantiles of their mid-ranks, ``(rank - 0.5) / n`` (tied values share
    their average rank); NaN (missing) becomes 0, the median; a constant
    column becomes 0. Every column then has the same bounded spread whatever
    its unit or distribution. This is how the built-in descriptor is scaled
    before it is mapped and clustered: with :func:`standardize`, fractions
    that are 0 for most images (pixels of one hue, over-exposed area) reach
    the +-10 clip and outweigh brightness, contrast or sharpness, so failure
    clusters were split by background colour rather than by what makes a
    detector fail.

    Args:
        X: (N, F) numeric array, NaN for missing values (no infinities)

    Returns:
        (N, F) float32 scores, within about +-3.7 for 10,000 rows
    """
    from scipy.special import ndtri
    from scipy.stats import rankdata

    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (N, F), got shape {X.shape}")
    if np.isinf(X).any():
        raise ValueError("X contains infinite values; use NaN for missing values")
    missing = np.isnan(X)
    ranks = rankdata(np.where(missing, np.inf, X), method="average", axis=0)  # NaN ranked last
    n = (~missing).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        Z = ndtri((ranks - 0.5) / np.maximum(n, 1))
    Z[missing] = 0.0
    return Z.astype(np.float32)
