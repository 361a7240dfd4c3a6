"""plugin/png.py decodes exactly as OpenCV does, or hands the file back to it."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from plugin import png, segmentation


def _opencv(data):
    ref = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return ref[..., ::-1] if ref.ndim == 3 else ref


def _encodings(arr):
    for level in (0, 1, 3, 9):  # OpenCV: Sub / adaptive filters by level
        bgr = arr[..., ::-1] if arr.ndim == 3 else arr
        yield cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, level])[1].tobytes()
    for optimize in (False, True):  # Pillow: adaptive filters (Up, Average, Paeth)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="PNG", optimize=optimize)
        yield buf.getvalue()


@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (33, 257), (512, 512)])
@pytest.mark.parametrize("kind", ["u8", "u16", "rgb"])
def test_equals_opencv_on_every_filter(shape, kind):
    rng = np.random.default_rng(sum(shape))
    if kind == "u8":
        arr = rng.integers(0, 20, shape).astype(np.uint8)
    elif kind == "u16":
        arr = rng.integers(0, 3000, shape).astype(np.uint16)
    else:
        arr = rng.integers(0, 256, shape + (3,)).astype(np.uint8)
    for data in _encodings(arr):
        got = png.decode(data)
        ref = _opencv(data)
        assert got is not None and got.dtype == ref.dtype and np.array_equal(got, ref)


def test_other_layouts_and_damage_fall_back():
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 5, (20, 20)).astype(np.uint8)).convert("P").save(buf, "PNG")
    assert png.decode(buf.getvalue()) is None  # palette: OpenCV expands it
    data = bytearray(cv2.imencode(".png", rng.integers(0, 5, (20, 20)).astype(np.uint8))[1])
    data[40] ^= 0xFF  # inside the IDAT: its CRC fails
    assert png.decode(bytes(data)) is None
    assert png.decode(b"not a png") is None


def test_raw_masks_count_as_their_indices():
    """measure_masks (one pass over raw values) == measure_image on to_indices."""
    rng = np.random.default_rng(3)
    values = np.array([0, 3, 7, 9])
    for dtype in (np.uint8, np.uint16):
        gt = rng.choice(np.r_[values, 255], (97, 131)).astype(dtype)
        pred = rng.choice(values, (97, 131)).astype(dtype)
        conf = rng.integers(0, 256, (97, 131)).astype(np.uint8)
        got, unknown = segmentation.measure_masks(gt, pred, values, ignore_value=255,
                                                  confidence=conf, background=0)
        gi, _ = segmentation.to_indices(gt.astype(np.int64), values, ignore_value=255)
        pi, _ = segmentation.to_indices(pred.astype(np.int64), values)
        ref = segmentation.measure_image(gi, pi, 4, confidence=conf, background=0)
        assert unknown.size == 0
        for name in ("pairs", "gt_band", "pred_band", "band_hits", "errors", "confused_with",
                     "binned"):
            assert np.array_equal(getattr(got, name), getattr(ref, name)), name
    pred[0, 0] = 5
    assert segmentation.measure_masks(gt, pred, values, ignore_value=255)[1].tolist() == [5]
