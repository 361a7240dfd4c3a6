"""A simulated "production" data set for the monitor: 8 weeks of the demo detector on new scenes.

Three cameras send images; each week has the same traffic pattern (fewer
images at night and at the weekend). Planted drift, kept off the data set
like the scenes' other hidden conditions (``conditions.json`` next to the
images):

- camera ``north``: its light fades, the exposure gain falling linearly by
  :data:`FADE_PER_WEEK` of its value each week (week 7: 30%);
- camera ``south``: from week :data:`BLUR_FROM_WEEK` on, a Gaussian blur
  (sigma 2.5-4) as a lens that fogs up;
- camera ``east``: unchanged, the control.

Each sample has ``timestamp`` (FiftyOne's own ``created_at`` is when it was
added), ``camera``, ``site``, the detector's ``predictions`` and its measured
``inference_time`` (ms). With ``with_truth=True`` the ground truth is kept in
``ground_truth``: a labelled hold-out for the expected error rate's test, never
the production set itself.
"""

import functools
import os
import time
from datetime import datetime, timedelta, timezone

import cv2
import numpy as np

import scenes
from shape_detector import CLASSES, detect

WEEKS = 8
CAMERAS = ("north", "south", "east")
SITES = {"north": "warehouse", "south": "dock", "east": "warehouse"}
FADE_PER_WEEK = 0.1
BLUR_FROM_WEEK = 5
INFO_KEY = "error_atlas_monitor"


def production_scene(rng, size, week, camera):
    """A demo scene as ``scenes.sample_scene`` draws it, with the camera's drift for the week."""
    scene = scenes.sample_scene(rng, size)
    if camera == "north":
        scene["gain"] *= max(0.2, 1 - FADE_PER_WEEK * week)
    elif camera == "south" and week >= BLUR_FROM_WEEK:
        scene["blur"], scene["blur_strength"] = "gaussian", float(rng.uniform(2.5, 4.0))
    return scene


def _process(task):
    """Render one scene, store its JPEG, time the detector on the decoded pixels."""
    index, seed, size, out_dir, week, camera = task
    fn = functools.partial(production_scene, week=week, camera=camera)
    image, objects, conditions = scenes.render_scene(scenes._scene_rng(seed, index), size, fn)
    path = os.path.join(out_dir, scenes.image_filename(index))
    data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, scenes.JPEG_QUALITY])[1]
    data.tofile(path)
    pixels = cv2.imdecode(data, cv2.IMREAD_COLOR)
    t0 = time.perf_counter()
    predictions = detect(pixels)
    elapsed = 1000 * (time.perf_counter() - t0)
    return {"filepath": path, "size_bytes": int(data.size), "inference_time": elapsed,
            "ground_truth": [scenes._compact(o, False) for o in objects],
            "predictions": [scenes._compact(p, False) for p in predictions],
            "conditions": dict(conditions, week=week, camera=camera)}


def schedule(num_images, seed, end):
    """Per image: its week (0 oldest), camera and timestamp within the 8 weeks before ``end``.

    Hours follow a day curve (peak at 14:00, few at night), weekends get half the traffic.
    """
    rng = np.random.default_rng([seed, 8])
    start = end - timedelta(weeks=WEEKS)
    hours = np.arange(WEEKS * 7 * 24)
    hour_of_day, day = hours % 24, (hours // 24 + start.weekday()) % 7
    weight = (0.15 + np.exp(-0.5 * ((hour_of_day - 14) / 4.0) ** 2)) * np.where(day >= 5, 0.5, 1)
    picked = np.sort(rng.choice(hours, num_images, p=weight / weight.sum()))
    stamps = [start + timedelta(hours=float(h) + float(rng.random())) for h in picked]
    weeks = (picked // (7 * 24)).astype(int)
    cameras = [CAMERAS[i] for i in rng.integers(0, len(CAMERAS), num_images)]
    return weeks, cameras, stamps


def build_production(name="error-atlas-demo-production", num_images=480, seed=1051, out_dir=None,
                     end=None, with_truth=False, workers=None):
    """Renders the production images, runs the detector and loads them into FiftyOne.

    ``end`` (default now, UTC, to the hour) closes the 8 weeks. Returns the dataset, with
    the monitor's settings (time field, inference time, metadata) stored on it.
    """
    import fiftyone as fo

    end = end or datetime.now(timezone.utc).replace(tzinfo=None, minute=0, second=0,
                                                    microsecond=0)
    out_dir = os.path.abspath(os.path.expanduser(out_dir or os.path.join(
        "~", ".cache", "error-atlas", "production", "%d-%d" % (seed, num_images))))
    os.makedirs(out_dir, exist_ok=True)
    weeks, cameras, stamps = schedule(num_images, seed, end)
    size = scenes.DEFAULT_SIZE
    tasks = [(i, seed, size, out_dir, int(weeks[i]), cameras[i]) for i in range(num_images)]
    results = _run(tasks, workers)
    scenes._write_json(os.path.join(out_dir, "conditions.json"), [r["conditions"] for r in results])
    scale = np.array([size[0], size[1], size[0], size[1]], float)

    def detections(items):
        return fo.Detections(detections=[
            fo.Detection(label=d["label"], bounding_box=(np.array(d["bbox"]) / scale).tolist(),
                         confidence=d["confidence"]) for d in items])

    samples = []
    for r, stamp, camera in zip(results, stamps, cameras):
        s = fo.Sample(filepath=r["filepath"], timestamp=stamp, camera=camera, site=SITES[camera],
                      inference_time=r["inference_time"], predictions=detections(r["predictions"]),
                      metadata=fo.ImageMetadata(size_bytes=r["size_bytes"], width=size[0],
                                                height=size[1], num_channels=3,
                                                mime_type="image/jpeg"))
        if with_truth:
            s["ground_truth"] = detections(r["ground_truth"])
        samples.append(s)
    if fo.dataset_exists(name):
        fo.delete_dataset(name)
    dataset = fo.Dataset(name, persistent=True)
    dataset.default_classes = list(CLASSES)
    dataset.add_samples(samples, progress=False)
    dataset.create_index("timestamp")
    dataset.info = {"source": "error-atlas demo (demo/production.py)", "seed": seed,
                    INFO_KEY: {"time_field": "timestamp", "pred_fields": ["predictions"],
                               "inference_field": "inference_time", "rules": [], "history": []}}
    dataset.save()
    return dataset


def _run(tasks, workers):
    import multiprocessing
    import sys

    workers = workers or scenes._available_cpus()
    if workers <= 1 or len(tasks) < 16:
        return [_process(t) for t in tasks]
    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with scenes.opencv_single_threaded(), ctx.Pool(workers) as pool:
        return pool.map(_process, tasks, chunksize=8)
