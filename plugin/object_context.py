"""How each object looks in its image: its crop and a ring of context around it.

A detector misses an object that does not stand out from its own surroundings,
whatever the whole image looks like. Each box is described by its crop (mean
brightness, contrast, sharpness, saturation and colour) and by its difference
from a ring of context around it (the box grown by :data:`RING` of its size on
each side, minus the box): colour contrast against the ring and the ring's
texture (clutter next to the object). Every statistic is a box sum over summed-
area tables, so all boxes of an image cost one pass over its pixels.
"""

import numpy as np

CONTEXT_FEATURES = (
    "crop_brightness",   # mean luma in the box
    "crop_contrast",     # standard deviation of luma in the box
    "crop_sharpness",    # log(1 + mean squared Laplacian of luma, 0-255 units) in the box
    "crop_saturation",   # mean HSV saturation in the box
    "crop_mean_r",       # mean red in the box, in [0, 1]
    "crop_mean_g",       # mean green
    "crop_mean_b",       # mean blue
    "object_contrast",   # RGB distance between the box's mean colour and its ring's
    "luma_contrast",     # |mean luma of the box - mean luma of the ring|
    "ring_texture",      # standard deviation of luma in the ring (clutter around the object)
    "crop_acutance",     # log of the box's Laplacian energy per unit of its luma variance: low when blurred
    "crop_anisotropy",   # coherence of the box's luma gradients (structure tensor), 0 isotropic, 1 one direction
)

#: The ring extends the box by this share of its width / height on each side.
RING = 0.5
#: Images are strided down to at most this many pixels per side first (a 640 x 480 image to
#: 320 x 240: a quarter of the pixels, 4x faster; a 12 px object keeps 6 px and its ring).
MAX_SIDE = 400
_MIN_RING_PX = 2


def _tables(image):
    """Summed-area tables of r, g, b, luma, luma^2, saturation (0-255 units), Laplacian^2.

    From the uint8 pixels with OpenCV (luma by ``cvtColor``'s Rec. 601 weights,
    saturation as HSV's S, the 4-neighbour Laplacian of luma), each table
    (H+1, W+1) (:data:`_TABLE_SCALE` brings box sums to the features' units).
    Every table holds exact integers: the sums of 8-bit planes as int32, which
    is exact up to 8.4 M pixels and three times faster than a float64 four-
    channel ``integral2``; luma^2 and the (integer) Laplacian^2 as float64,
    exact below 2^53; so box sums equal float64 sums exactly. Float planes and
    numpy's cumsums took ~10x as long.
    """
    import cv2

    image = np.asarray(image)
    rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else \
        np.ascontiguousarray(image[..., :3])
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    sat = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[..., 1]
    lap = cv2.Laplacian(luma, cv2.CV_32F, ksize=1)
    lap[0] = lap[-1] = 0  # the border has no full neighbourhood
    lap[:, 0] = lap[:, -1] = 0
    gx = cv2.Sobel(luma, cv2.CV_32F, 1, 0, ksize=3)  # integers: exact in float32 and their products
    gy = cv2.Sobel(luma, cv2.CV_32F, 0, 1, ksize=3)
    colour = cv2.integral(rgb, sdepth=cv2.CV_32S)
    sums, squares = cv2.integral2(luma, sdepth=cv2.CV_32S, sqdepth=cv2.CV_64F)
    return [colour[..., 0], colour[..., 1], colour[..., 2], sums, squares,
            cv2.integral(sat, sdepth=cv2.CV_32S), cv2.integral(lap * lap, sdepth=cv2.CV_64F),
            cv2.integral(gx * gx, sdepth=cv2.CV_64F), cv2.integral(gy * gy, sdepth=cv2.CV_64F),
            cv2.integral(gx * gy, sdepth=cv2.CV_64F)]


#: Scale of each table's sums to the units of :data:`CONTEXT_FEATURES` (0-255 -> [0, 1]).
_TABLE_SCALE = np.array([1 / 255.0] * 4 + [1 / 255.0 ** 2, 1 / 255.0] + [1.0] * 4)[:, None]


def _box_sums(tables, x0, y0, x1, y1):
    """(C, N) float64 sums over pixel boxes [x0, x1) x [y0, y1) (integer arrays) of each table."""
    return np.array([t[y1, x1] - t[y0, x1] - t[y1, x0] + t[y0, x0] for t in tables],
                    dtype=np.float64)


def _pixel_boxes(boxes, width, height, grow=0.0):
    """Integer pixel extents of relative [x, y, w, h] boxes, grown by ``grow`` per side, clipped."""
    x, y, w, h = (boxes[:, i] for i in range(4))
    gx = np.maximum(grow * w * width, _MIN_RING_PX if grow else 0)
    gy = np.maximum(grow * h * height, _MIN_RING_PX if grow else 0)
    x0 = np.clip(np.floor(x * width - gx), 0, width - 1).astype(np.int64)
    y0 = np.clip(np.floor(y * height - gy), 0, height - 1).astype(np.int64)
    x1 = np.clip(np.ceil((x + w) * width + gx), x0 + 1, width).astype(np.int64)
    y1 = np.clip(np.ceil((y + h) * height + gy), y0 + 1, height).astype(np.int64)
    return x0, y0, x1, y1


def context_features(image, boxes):
    """:data:`CONTEXT_FEATURES` of the boxes of one image.

    Args:
        image: (H, W, 3) uint8 RGB array (or (H, W) grey), strided to at most
            :data:`MAX_SIDE` per side first
        boxes: (N, 4) relative ``[x, y, w, h]`` boxes in that image

    Returns:
        (N, len(CONTEXT_FEATURES)) float32; ring features are NaN when the ring
        is empty (a box covering the whole image)
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if boxes.shape[0] == 0:
        return np.zeros((0, len(CONTEXT_FEATURES)), np.float32)
    image = np.asarray(image)
    step = -(-max(image.shape[:2]) // MAX_SIDE)
    image = image[::step, ::step]
    height, width = image.shape[:2]
    table = _tables(image)
    inner = _pixel_boxes(boxes, width, height)
    outer = _pixel_boxes(boxes, width, height, RING)
    s_in = _box_sums(table, *inner) * _TABLE_SCALE
    n_in = ((inner[2] - inner[0]) * (inner[3] - inner[1])).astype(np.float64)
    s_ring = _box_sums(table, *outer) * _TABLE_SCALE - s_in
    n_ring = ((outer[2] - outer[0]) * (outer[3] - outer[1])).astype(np.float64) - n_in
    m_in = s_in / n_in
    with np.errstate(invalid="ignore", divide="ignore"):
        m_ring = np.where(n_ring > 0, s_ring / np.where(n_ring > 0, n_ring, 1), np.nan)
    crop_var = np.maximum(m_in[4] - m_in[3] ** 2, 0.0)
    ring_var = np.maximum(m_ring[4] - m_ring[3] ** 2, 0.0)
    columns = [
        m_in[3], np.sqrt(crop_var), np.log1p(m_in[6]), m_in[5], m_in[0], m_in[1], m_in[2],
        np.sqrt(((m_in[:3] - m_ring[:3]) ** 2).sum(axis=0)),
        np.abs(m_in[3] - m_ring[3]),
        np.sqrt(ring_var),
        np.log((m_in[6] + 1.0) / (crop_var * 255.0 ** 2 + 1.0)),
        np.sqrt((m_in[7] - m_in[8]) ** 2 + 4 * m_in[9] ** 2) / (m_in[7] + m_in[8] + 1.0),
    ]
    return np.column_stack(columns).astype(np.float32)
