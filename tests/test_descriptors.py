"""Image and object descriptors measure what they claim, on images and scenes built to show it."""

import numpy as np
import pytest

from plugin import descriptors
from plugin.descriptors import (CROP_FEATURES, IMAGE_FEATURES, OBJECT_FEATURES, image_descriptor,
                                normal_scores, object_descriptors, standardize)


def feature(image, name):
    return image_descriptor(image)[IMAGE_FEATURES.index(name)]


def checkerboard(size=128, square=8):
    yy, xx = np.mgrid[:size, :size]
    board = (((yy // square) + (xx // square)) % 2 * 255).astype(np.uint8)
    return np.repeat(board[..., None], 3, axis=2)


def box_blur(image, radius=3):
    """Mean over a (2r+1)^2 window (edges wrap), in plain numpy."""
    img = image.astype(np.float64)
    out = sum(np.roll(np.roll(img, dy, 0), dx, 1)
              for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1))
    return (out / (2 * radius + 1) ** 2).round().astype(np.uint8)


def test_one_value_per_feature():
    d = image_descriptor(np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8))
    assert d.shape == (len(IMAGE_FEATURES),) and d.dtype == np.float32
    assert np.all(np.isfinite(d))


def test_black_is_darker_than_white():
    black, white = np.zeros((32, 32, 3), np.uint8), np.full((32, 32, 3), 255, np.uint8)
    assert feature(black, "brightness") == 0 and feature(white, "brightness") == 1
    assert feature(black, "dark_fraction") == 1 and feature(white, "bright_fraction") == 1
    assert feature(black, "contrast") == 0


def test_blurred_checkerboard_is_less_sharp():
    sharp, blurred = checkerboard(), box_blur(checkerboard())
    assert feature(blurred, "sharpness") < feature(sharp, "sharpness") - 1
    flat = np.full((32, 32, 3), 128, np.uint8)
    assert feature(flat, "sharpness") == 0 and feature(flat, "edge_density") == 0
    assert feature(sharp, "edge_density") > 0.2


def test_saturated_red_is_more_saturated_and_colourful_than_grey():
    red = np.zeros((32, 32, 3), np.uint8)
    red[..., 0] = 255
    grey = np.full((32, 32, 3), 128, np.uint8)
    assert feature(red, "saturation") == 1 and feature(grey, "saturation") == 0
    assert feature(red, "colorfulness") > feature(grey, "colorfulness") == 0
    d = image_descriptor(red)
    hues = d[IMAGE_FEATURES.index("hue_red"):IMAGE_FEATURES.index("hue_magenta") + 1]
    assert hues.tolist() == [1, 0, 0, 0, 0, 0]
    assert d[IMAGE_FEATURES.index("mean_r")] == 1 and d[IMAGE_FEATURES.index("mean_g")] == 0


def test_greyscale_alpha_float_and_large_images():
    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, (40, 50), dtype=np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    np.testing.assert_allclose(image_descriptor(grey), image_descriptor(rgb), atol=1e-5)
    rgba = np.concatenate([rgb, np.zeros((40, 50, 1), np.uint8)], axis=2)
    np.testing.assert_allclose(image_descriptor(rgba), image_descriptor(rgb))
    np.testing.assert_allclose(image_descriptor(rgb / 255.0), image_descriptor(rgb), atol=1e-5)
    # big images are strided down; a uniform image describes the same at any size
    np.testing.assert_allclose(image_descriptor(np.full((2000, 3000, 3), 77, np.uint8)),
                               image_descriptor(np.full((20, 30, 3), 77, np.uint8)), atol=1e-6)
    tiny = image_descriptor(np.zeros((2, 2, 3), np.uint8))
    assert np.isnan(tiny[IMAGE_FEATURES.index("sharpness")])


@pytest.mark.parametrize("image,error", [
    (np.zeros((4, 4, 2), np.uint8), ValueError),
    (np.zeros((0, 4, 3), np.uint8), ValueError),
    (np.zeros((4, 4, 3), np.int16), TypeError),
    (np.full((4, 4, 3), 2.0), ValueError),
])
def test_bad_images(image, error):
    with pytest.raises(error):
        image_descriptor(image)


def scene():
    """Image 0 (640x480): ground truth g0, g1 overlapping (IoU 0.6), g2 alone at the
    border and a prediction on g0; image 1 (100x100): one ground-truth object."""
    boxes = [[0.30, 0.30, 0.20, 0.20],   # g0
             [0.35, 0.30, 0.20, 0.20],   # g1, IoU(g0, g1) = 0.6
             [0.00, 0.70, 0.10, 0.30],   # g2, touches the left and bottom border
             [0.31, 0.30, 0.20, 0.20],   # prediction on g0
             [0.25, 0.25, 0.50, 0.25]]   # g in image 1
    sizes = [[640, 480]] * 4 + [[100, 100]]
    confidence = [np.nan, np.nan, np.nan, 0.8, np.nan]
    return np.array(boxes), np.array(sizes), np.array(confidence), np.array([0, 0, 0, 0, 1])


def column(X, name):
    return X[:, OBJECT_FEATURES.index(name)]


def test_object_descriptors_on_a_constructed_scene():
    X = object_descriptors(*scene())
    assert X.shape == (5, len(OBJECT_FEATURES)) and X.dtype == np.float32
    # crowding counts only objects of the same kind in the same image
    assert column(X, "overlaps").tolist() == [1, 1, 0, 0, 0]
    assert column(X, "objects_in_image").tolist() == [3, 3, 3, 1, 1]
    assert column(X, "truncated").tolist() == [0, 0, 1, 0, 0]
    assert column(X, "is_prediction").tolist() == [0, 0, 0, 1, 0]
    np.testing.assert_allclose(column(X, "confidence"), [0, 0, 0, 0.8, 0])
    np.testing.assert_allclose(column(X, "log_area"),
                               np.log([128 * 96, 128 * 96, 64 * 144, 128 * 96, 50 * 25]), rtol=1e-6)
    np.testing.assert_allclose(column(X, "relative_area"), [0.04, 0.04, 0.03, 0.04, 0.125],
                               rtol=1e-6)
    np.testing.assert_allclose(column(X, "aspect_ratio"),
                               np.log([128 / 96, 128 / 96, 64 / 144, 128 / 96, 2.0]), rtol=1e-6)
    np.testing.assert_allclose(column(X, "border_distance"), [0.3, 0.3, 0, 0.3, 0.25], atol=1e-6)
    np.testing.assert_allclose(column(X, "center_x"), [0.4, 0.45, 0.05, 0.41, 0.5], atol=1e-6)


def test_crop_features():
    crops = [np.zeros((10, 10, 3), np.uint8), np.full((10, 10, 3), 255, np.uint8), None,
             np.zeros((0, 5, 3), np.uint8), np.full((10, 10, 3), 128, np.uint8)]
    X = object_descriptors(*scene(), crops=crops)
    assert X.shape == (5, len(OBJECT_FEATURES) + len(CROP_FEATURES))
    brightness = X[:, len(OBJECT_FEATURES) + CROP_FEATURES.index("crop_brightness")]
    assert brightness[0] == 0 and brightness[1] == 1 and np.isnan(brightness[2:4]).all()


def test_crowding_in_chunks_matches_brute_force(monkeypatch):
    rng = np.random.default_rng(3)
    n = 400
    xy = rng.random((n, 2)) * 0.8
    boxes = np.c_[xy, rng.uniform(0.05, 0.2, (n, 2))]
    image = rng.integers(0, 7, n)
    confidence = np.where(rng.random(n) < 0.5, rng.random(n), np.nan)
    args = boxes, np.full((n, 2), 100.0), confidence, image
    monkeypatch.setattr(descriptors, "_PAIR_CHUNK", 97)  # many small chunks
    got = column(object_descriptors(*args), "overlaps")

    kind = np.isfinite(confidence)
    expected = np.zeros(n)
    for i in range(n):
        same = np.flatnonzero((image == image[i]) & (kind == kind[i]) & (np.arange(n) != i))
        iou = descriptors._pairwise_iou(np.repeat(boxes[i:i + 1], same.size, 0), boxes[same])
        expected[i] = np.count_nonzero(iou > 0.1)
    np.testing.assert_array_equal(got, expected)


def test_object_descriptors_validate_inputs():
    boxes, sizes, confidence, image = scene()
    with pytest.raises(ValueError, match="pixel boxes"):
        object_descriptors(boxes * 100, sizes, confidence, image)
    with pytest.raises(ValueError, match="image_sizes"):
        object_descriptors(boxes, sizes[:3], confidence, image)
    with pytest.raises(ValueError, match="crops"):
        object_descriptors(boxes, sizes, confidence, image, crops=[None])
    assert object_descriptors(np.zeros((0, 4)), np.zeros((0, 2)), [], []).shape == \
        (0, len(OBJECT_FEATURES))


def test_standardize_is_robust_and_nan_safe():
    X = np.array([[1.0, 5.0, np.nan, 0],
                  [2.0, 5.0, np.nan, 0],
                  [3.0, 5.0, np.nan, 0],
                  [4.0, 5.0, np.nan, 0],
                  [np.nan, 5.0, np.nan, 1],
                  [1e6, 5.0, np.nan, 0]])
    Z, center, scale = standardize(X)
    assert Z.dtype == np.float32 and np.all(np.isfinite(Z))
    assert center[0] == 3 and Z[4, 0] == 0              # NaN -> the median
    assert scale[0] == pytest.approx((4 - 2) / 1.349)    # IQR of the observed values
    assert Z[5, 0] == 10                                # the outlier is clipped
    np.testing.assert_allclose(Z[:4, 0], (X[:4, 0] - 3) / scale[0], rtol=1e-6)
    assert np.all(Z[:, 1] == 0) and scale[1] == 1       # constant column
    assert np.all(Z[:, 2] == 0)                         # all-NaN column
    assert scale[3] == pytest.approx(np.std(X[:, 3]))   # IQR 0: standard deviation
    assert standardize(X, clip=None)[0][5, 0] > 1e5
    with pytest.raises(ValueError, match="infinite"):
        standardize([[np.inf]])
    with pytest.raises(ValueError, match="2-D"):
        standardize([1.0, 2.0])


def test_normal_scores_put_every_feature_on_one_scale():
    rng = np.random.default_rng(0)
    X = np.c_[rng.lognormal(0, 2, 1000),                    # heavy tail
              np.where(rng.random(1000) < 0.9, 0.0, rng.random(1000)),  # mostly zero
              np.full(1000, 7.0),                            # constant
              rng.normal(size=1000), rng.normal(size=1000)]
    X[3, 4] = np.nan
    Z = normal_scores(X)
    assert Z.dtype == np.float32 and Z.shape == X.shape and np.all(np.isfinite(Z))
    assert np.abs(Z).max() < 3.3                             # ndtri(0.5 / 1000) = -3.29
    order = np.argsort(X[:, 0])
    assert np.all(np.diff(Z[order, 0]) > 0)                  # monotonic, no clipping
    np.testing.assert_array_equal(np.sort(Z[:, 0]), np.sort(Z[:, 3]))  # whatever the unit
    zeros = X[:, 1] == 0
    assert np.ptp(Z[zeros, 1]) == 0 and np.all(Z[~zeros, 1] > Z[zeros, 1][0])  # ties share
    assert np.all(Z[:, 2] == 0) and Z[3, 4] == 0             # constant, missing -> 0
    assert np.all(normal_scores(np.full((4, 2), np.nan)) == 0)
    with pytest.raises(ValueError, match="infinite"):
        normal_scores([[np.inf]])
    with pytest.raises(ValueError, match="2-D"):
        normal_scores([1.0, 2.0])


def test_added_noise_raises_the_noise_estimate_monotonically():
    rng = np.random.default_rng(7)
    base = np.full((128, 128, 3), 120.0)
    sigmas = [0, 5, 10, 20, 40]
    got = [feature(np.clip(base + rng.normal(0, s, base.shape), 0, 255).astype(np.uint8), "noise")
           for s in sigmas]
    assert np.all(np.diff(got) > 0), got


def test_acutance_measures_blur_not_contrast_or_noise():
    """Blur lowers acutance; halving the contrast, or sensor noise on a blurred image, does
    not undo that: noise does not make a blurred image look sharp (the Laplacian's variance,
    ``sharpness``, drops with contrast and rises with noise)."""
    import cv2

    rng = np.random.default_rng(9)
    image = np.full((240, 240), 110.0)
    for x, y, w, h, v in zip(*rng.integers([0, 0, 10, 10, 40], [200, 200, 60, 60, 220], (40, 5)).T):
        image[y:y + h, x:x + w] = v
    blurred = cv2.GaussianBlur(image, (0, 0), 3.0)
    faint = 110 + 0.5 * (image - 110)
    noisy = blurred + rng.normal(0, 8, image.shape)

    def acutance(plane):
        return feature(np.repeat(np.clip(plane, 0, 255).astype(np.uint8)[..., None], 3, 2),
                       "acutance")

    sharp = acutance(image)
    assert acutance(blurred) < sharp - 1.5
    assert abs(acutance(faint) - sharp) < 0.3
    assert acutance(noisy) < sharp - 1.5
    assert feature(np.repeat(np.clip(noisy, 0, 255).astype(np.uint8)[..., None], 3, 2),
                   "sharpness") > feature(np.repeat(blurred.astype(np.uint8)[..., None], 3, 2),
                                          "sharpness")


def test_texture_fraction_sees_faint_clutter_and_not_noise():
    """Faint specks over a smooth background raise the textured share; more noise on the
    plain background does not."""
    import cv2

    rng = np.random.default_rng(10)
    yy, xx = np.mgrid[:240, :240]
    plain = 90.0 + 0.2 * xx + 0.1 * yy
    cluttered = plain.copy()
    for x, y in rng.integers(0, 240, (120, 2)):
        cv2.circle(cluttered, (int(x), int(y)), int(rng.integers(2, 6)), float(plain[y, x] + 15), -1)

    def texture(plane, sigma):
        noisy = np.clip(plane + rng.normal(0, sigma, plane.shape), 0, 255).astype(np.uint8)
        return feature(np.repeat(noisy[..., None], 3, 2), "texture_fraction")

    assert texture(cluttered, 4) > texture(plain, 4) + 0.3
    assert texture(plain, 4) < 0.05 and texture(plain, 20) < 0.05


def test_low_jpeg_quality_raises_blockiness():
    import io

    from PIL import Image

    rng = np.random.default_rng(8)
    yy, xx = np.mgrid[:256, :256]
    image = (127 + 60 * np.sin(xx / 9.0) * np.cos(yy / 13.0))[..., None] + rng.normal(0, 4, (256, 256, 3))
    image = np.clip(image, 0, 255).astype(np.uint8)

    def jpeg(quality):
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="JPEG", quality=quality)
        return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))

    assert feature(jpeg(5), "blockiness") > feature(jpeg(90), "blockiness") + 0.1
    assert abs(feature(image, "blockiness")) < 0.05


def test_context_ring_sees_an_object_blending_into_its_surroundings():
    from plugin.descriptors import CONTEXT_FEATURES, image_and_context

    image = np.full((200, 200, 3), 100, np.uint8)
    image[20:60, 20:60] = 220      # stands out
    image[120:160, 120:160] = 104  # blends in
    boxes = [[0.1, 0.1, 0.2, 0.2], [0.6, 0.6, 0.2, 0.2]]
    _, context = image_and_context(image, boxes)
    contrast = context[:, CONTEXT_FEATURES.index("object_contrast")]
    assert contrast[0] > 0.3 > 0.05 > contrast[1]
    assert context[0, CONTEXT_FEATURES.index("crop_brightness")] == pytest.approx(220 / 255, abs=0.03)


def test_crop_acutance_and_anisotropy_tell_blur_kinds_apart():
    """Defocus lowers an object's Laplacian energy per unit of its contrast; motion blur
    and stripes make its gradients point one way; a sharp square is neither."""
    import cv2

    from plugin.descriptors import CONTEXT_FEATURES, image_and_context

    sharp = np.full((200, 200, 3), 60, np.uint8)
    sharp[50:150, 50:150] = 200
    striped = sharp.copy()
    striped[50:150, 50:150:8] = 30
    faded = (60 + (sharp.astype(int) - 60) // 4).astype(np.uint8)
    images = {"sharp": sharp, "faded": faded, "defocused": cv2.GaussianBlur(sharp, (0, 0), 4),
              "motion": cv2.blur(sharp, (15, 1)), "striped": striped}
    box = [[0.2, 0.2, 0.6, 0.6]]
    acutance, anisotropy = {}, {}
    for name, image in images.items():
        _, context = image_and_context(image, box)
        acutance[name] = context[0, CONTEXT_FEATURES.index("crop_acutance")]
        anisotropy[name] = context[0, CONTEXT_FEATURES.index("crop_anisotropy")]
    assert acutance["defocused"] < acutance["sharp"] - 3
    assert abs(acutance["faded"] - acutance["sharp"]) < 1  # contrast alone is not blur
    assert anisotropy["sharp"] < 0.05 and anisotropy["defocused"] < 0.05
    assert anisotropy["motion"] > 0.5 and anisotropy["striped"] > 0.5
