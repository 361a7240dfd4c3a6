"""Real FiftyOne datasets built for tests."""

import numpy as np

import fiftyone as fo
import fiftyone.operators as foo

URI = "@error-atlas/error-atlas/evaluate_model"
CLASSES = ("cat", "dog", "car")


def evaluate_model(collection, **params):
    """The typed SDK call, as users make it."""
    return foo.get_operator(URI)(collection, **params)


def random_dataset(seed=0, num_samples=40, crowd=False, masks=False, name=None):
    """Detections with realistic errors: jitter, wrong classes, spurious boxes, misses."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(num_samples):
        gts, preds = [], []
        for _ in range(rng.integers(0, 7)):
            x, y = rng.uniform(0.03, 0.65, 2)
            w, h = rng.uniform(0.03, 0.3, 2)
            label = str(rng.choice(CLASSES))
            attrs = {"iscrowd": bool(crowd and rng.random() < 0.1)}
            gts.append(_det(label, [x, y, w, h], rng, masks, **attrs))
            if rng.random() < 0.85:
                j = rng.normal(0, 0.015, 4)
                box = [x + j[0], y + j[1], max(0.01, w + j[2]), max(0.01, h + j[3])]
                if masks:  # FiftyOne's mask IoU is 0 for masks crossing the image border
                    box[0] = float(np.clip(box[0], 0, 0.98 - box[2]))
                    box[1] = float(np.clip(box[1], 0, 0.98 - box[3]))
                wrong = rng.random() < 0.15
                preds.append(_det(str(rng.choice(CLASSES)) if wrong else label, box, rng, masks,
                                  confidence=float(rng.random())))
        for _ in range(rng.integers(0, 3)):
            x, y = rng.uniform(0, 0.8, 2)
            preds.append(_det(str(rng.choice(CLASSES)), [x, y, 0.1, 0.12], rng, masks,
                              confidence=float(rng.random())))
        samples.append(fo.Sample(
            filepath="/nonexistent/img%03d.jpg" % i,
            metadata=fo.ImageMetadata(width=640, height=480),
            ground_truth=fo.Detections(detections=gts),
            predictions=fo.Detections(detections=preds),
        ))
    dataset = fo.Dataset(name)
    dataset.add_samples(samples, progress=False)
    return dataset


def _det(label, box, rng, masks, **attrs):
    if masks:  # whole pixels, so FiftyOne's image size inferred from mask and box is exact
        box = (np.maximum(np.round(np.asarray(box) * [640, 480, 640, 480]), [0, 0, 1, 1])
               / [640, 480, 640, 480])
    det = fo.Detection(label=label, bounding_box=[float(v) for v in box], **attrs)
    if masks:
        w, h = round(box[2] * 640), round(box[3] * 480)
        det.mask = rng.random((h, w)) < 0.85
    return det


def snapshot(dataset):
    """Everything a failed call must leave untouched."""
    dataset.reload()
    return (
        sorted(dataset.get_field_schema(flat=True)),
        dataset.list_evaluations(),
        dataset.list_runs(),
        [s.to_dict() for s in dataset.iter_samples()],
    )


def label_values(dataset, path):
    return dataset.values(path, unwind=True)
