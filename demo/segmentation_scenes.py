"""The demo's semantic segmentation data set: the same rendered scenes, class
maps as ground truth, and :mod:`segmenter`'s predictions, masks on disk as PNG.

Fields: ``ground_truth`` and ``predictions`` (``fo.Segmentation`` with
``mask_path``), ``confidence`` (``fo.Heatmap``, the predicted class's
probability, 0-255); ``mask_targets`` name the classes. The hidden conditions
are kept off the data set, as in the detection demo.
"""

import multiprocessing
import os
import sys

import cv2
import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.append(_HERE)
import scenes  # noqa: E402
import segmenter  # noqa: E402


def _process(task):
    index, seed, size, out_dir = task
    image, objects, _ = scenes.render_scene(scenes._scene_rng(seed, index), size)
    data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, scenes.JPEG_QUALITY])[1]
    paths = {k: os.path.join(out_dir, "%s_%05d.%s" % (k, index, "jpg" if k == "image" else "png"))
             for k in ("image", "gt", "pred", "conf")}
    data.tofile(paths["image"])
    labels, conf = segmenter.segment(cv2.imdecode(data, cv2.IMREAD_COLOR))
    cv2.imwrite(paths["gt"], segmenter.ground_truth(objects, image.shape[:2]))
    cv2.imwrite(paths["pred"], labels)
    cv2.imwrite(paths["conf"], conf)
    return paths


def build_dataset(name="error-atlas-demo-segmentation", num_images=200, seed=51, out_dir=None,
                  workers=None, size=scenes.DEFAULT_SIZE):
    """Renders the scenes, segments them and loads them into FiftyOne (persistent)."""
    import fiftyone as fo

    out_dir = os.path.abspath(os.path.expanduser(
        out_dir or "~/.cache/error-atlas/demo-segmentation/%d-%d" % (seed, num_images)))
    os.makedirs(out_dir, exist_ok=True)
    tasks = [(i, seed, tuple(size), out_dir) for i in range(num_images)]
    workers = workers or scenes._available_cpus()
    if workers > 1 and num_images >= 16:
        ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        with scenes.opencv_single_threaded(), ctx.Pool(workers) as pool:
            results = pool.map(_process, tasks, chunksize=4)
    else:
        results = [_process(t) for t in tasks]
    width, height = size
    samples = [fo.Sample(filepath=r["image"],
                         metadata=fo.ImageMetadata(width=width, height=height, num_channels=3,
                                                   mime_type="image/jpeg"),
                         ground_truth=fo.Segmentation(mask_path=r["gt"]),
                         predictions=fo.Segmentation(mask_path=r["pred"]),
                         confidence=fo.Heatmap(map_path=r["conf"], range=[0, 255]))
               for r in results]
    if fo.dataset_exists(name):
        fo.delete_dataset(name)
    dataset = fo.Dataset(name, persistent=True)
    dataset.mask_targets = {"ground_truth": segmenter.MASK_TARGETS,
                            "predictions": segmenter.MASK_TARGETS}
    dataset.info = {"source": "error-atlas demo (demo/segmentation_scenes.py)", "seed": seed,
                    "num_images": num_images}
    dataset.add_samples(samples, progress=False)
    return dataset
