"""The fast object-context pass gives exactly the features of the reference computation.

The clustering is tuned on these numbers, so a change made for speed must not move any of
them: on real demo scenes (rendered, written as JPEG and detected by ``demo/scenes.py``), the
image descriptor and every object's context row read by ``compute_error_map``'s worker
(``_describe_file``) equal, bit for bit, those of the computation as it was before the speed
work (float64 summed-area tables of four channels and their squares, the descriptor of the
decoded RGB image).
"""

import os
import sys

import numpy as np
import pytest

from plugin import descriptors, object_context

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "demo"))

import scenes  # noqa: E402

NUM_SCENES = 40


def _reference_tables(image):
    """``object_context._tables`` before the speed work: float64 tables of r, g, b, luma
    and their squares by one four-channel ``integral2``, and of the gradients' products."""
    import cv2

    image = np.asarray(image)
    rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else \
        np.ascontiguousarray(image[..., :3])
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    sat = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[..., 1]
    lap = cv2.Laplacian(luma, cv2.CV_32F, ksize=1)
    lap[0] = lap[-1] = 0
    lap[:, 0] = lap[:, -1] = 0
    sums, squares = cv2.integral2(cv2.merge([*cv2.split(rgb), luma]), sdepth=cv2.CV_64F,
                                  sqdepth=cv2.CV_64F)
    gx = cv2.Sobel(luma, cv2.CV_64F, 1, 0, ksize=3)
    gy = cv2.Sobel(luma, cv2.CV_64F, 0, 1, ksize=3)
    return [sums[..., 0], sums[..., 1], sums[..., 2], sums[..., 3], squares[..., 3],
            cv2.integral(sat, sdepth=cv2.CV_64F), cv2.integral(lap * lap, sdepth=cv2.CV_64F),
            *(cv2.integral(g, sdepth=cv2.CV_64F) for g in (gx * gx, gy * gy, gx * gy))]


def _reference_context(image, boxes, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(object_context, "_tables", _reference_tables)
        m.setattr(object_context, "_box_sums", lambda tables, x0, y0, x1, y1: np.array(
            [t[y1, x1] - t[y0, x1] - t[y1, x0] + t[y0, x0] for t in tables]))
        return object_context.context_features(image, boxes)


@pytest.fixture(scope="module")
def demo_scenes(tmp_path_factory):
    """(JPEG path, relative boxes of its ground truth and predictions) of demo scenes,
    with a few boxes at the image borders and one covering the whole image added."""
    out = str(tmp_path_factory.mktemp("scenes"))
    width, height = scenes.DEFAULT_SIZE
    scale = np.array([width, height, width, height], float)
    edge = [[0.0, 0.0, 0.05, 0.08], [0.93, 0.9, 0.07, 0.1], [0.0, 0.0, 1.0, 1.0],
            [0.5, 0.999, 0.01, 0.001]]
    found = []
    for i in range(NUM_SCENES):
        r = scenes._process((i, 51, scenes.DEFAULT_SIZE, out, False, False, None))
        boxes = [d["bbox"] for d in r["ground_truth"] + r["predictions"]]
        found.append((r["filepath"], np.r_[np.reshape(boxes, (-1, 4)) / scale, edge]))
    return found


def test_worker_features_equal_the_reference_on_demo_scenes(demo_scenes, monkeypatch):
    import cv2

    import fiftyone.operators as foo

    foo.get_operator("@error-atlas/error-atlas/compute_error_map")  # the plugin, as users load it
    error_map = next(m for n, m in sys.modules.items() if n.endswith("operators.error_map"))
    objects = 0
    for path, boxes in demo_scenes:
        feats, context = error_map._describe_file((path, boxes, True))
        rgb = cv2.imread(path, cv2.IMREAD_COLOR)[:, :, ::-1]
        assert np.array_equal(feats, descriptors.image_descriptor(rgb), equal_nan=True)
        reference = _reference_context(rgb, boxes, monkeypatch)
        assert context.dtype == reference.dtype == np.float32
        assert np.array_equal(context, reference, equal_nan=True)
        objects += len(boxes)
    assert objects > 8 * NUM_SCENES  # every scene has objects besides the added boxes
    assert np.isnan(reference[-2, object_context.CONTEXT_FEATURES.index("ring_texture")])


def test_tables_are_the_reference_sums(demo_scenes):
    """Each summed-area table holds the same (integer) values as the float64 reference,
    also on a grey and an odd-sized image."""
    import cv2

    rgb = cv2.imread(demo_scenes[0][0], cv2.IMREAD_COLOR)[:, :, ::-1][::2, ::2]
    for image in (rgb, rgb[..., 1], rgb[1:, 3:]):
        new, reference = object_context._tables(image), _reference_tables(image)
        assert len(new) == len(reference)
        for a, b in zip(new, reference):
            assert a.shape == b.shape
            assert np.array_equal(a.astype(np.float64), b)
