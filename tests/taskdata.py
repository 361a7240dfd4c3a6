"""Small real classification and segmentation datasets for the panel tests."""

import importlib
import sys

import numpy as np

import fiftyone as fo
import fiftyone.operators as foo

from tests.fodata import URI

CLASSES = ["cat", "dog", "bird", "fish"]
TARGETS = {0: "background", 1: "road", 2: "car", 3: "person"}


def plugin_module(suffix):
    """A module of the plugin, as FiftyOne imported it (relative imports)."""
    foo.get_operator(URI)
    package = next(n for n in sys.modules if n.startswith("fiftyone.plugins.")
                   and n.endswith(".operators.detection_run"))[:-len(".operators.detection_run")]
    return importlib.import_module(package + "." + suffix)


def classification_dataset(seed=0, n=160, classes=CLASSES, name=None, filepaths=None):
    """Classifications from seeded logits: confusions (a 'dog' often taken for a
    'cat'), over-confident scores, some samples without a prediction."""
    rng = np.random.default_rng(seed)
    k = len(classes)
    gt = rng.integers(0, k, n)
    z = rng.normal(size=(n, k)) + 2.5 * np.eye(k)[gt] * rng.random((n, 1))
    z[gt == 1, 0] += 1.5 * rng.random(int(np.sum(gt == 1)))  # dogs look like cats
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    samples = []
    for i in range(n):
        path = filepaths[i] if filepaths else "/nonexistent/c%05d.png" % i
        s = fo.Sample(filepath=path, ground_truth=fo.Classification(label=classes[gt[i]]))
        if rng.random() >= 0.04:
            j = int(np.argmax(p[i]))
            s["predictions"] = fo.Classification(label=classes[j], confidence=float(p[i, j]),
                                                 logits=z[i].tolist())
        samples.append(s)
    ds = fo.Dataset(name)
    ds.add_samples(samples, progress=False)
    ds.default_classes = list(classes)
    return ds


def segmentation_dataset(seed=0, n=16, shape=(48, 64), confidence=True, name=None,
                         filepaths=None):
    """Blobby scenes; predictions shifted (boundary errors) with a wrong patch
    (confused regions), and a per-pixel confidence lower on the wrong pixels."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        coarse = rng.choice(4, size=(shape[0] // 8, shape[1] // 8), p=[0.5, 0.2, 0.2, 0.1])
        gt = np.kron(coarse, np.ones((8, 8), np.uint8)).astype(np.uint8)
        pred = np.roll(gt, int(rng.integers(-2, 3)), axis=1).copy()
        y, x = rng.integers(0, shape[0] - 12), rng.integers(0, shape[1] - 12)
        pred[y:y + 12, x:x + 12] = rng.integers(0, 4)
        conf = np.where(pred == gt, rng.uniform(0.5, 1.0, shape), rng.uniform(0.0, 0.7, shape))
        path = filepaths[i] if filepaths else "/nonexistent/s%03d.png" % i
        s = fo.Sample(filepath=path, ground_truth=fo.Segmentation(mask=gt),
                      predictions=fo.Segmentation(mask=pred))
        if confidence:
            s["confidence"] = fo.Heatmap(map=conf.astype(np.float32), range=[0, 1])
        samples.append(s)
    ds = fo.Dataset(name)
    ds.add_samples(samples, progress=False)
    ds.mask_targets = {"ground_truth": TARGETS, "predictions": TARGETS}
    return ds


def evaluate_segmentation(ds, eval_key="seg", confidence=True):
    return plugin_module("operators.segmentation_run").evaluate_segmentations(
        ds, "predictions", "ground_truth", eval_key,
        confidence_field="confidence" if confidence else None, num_workers=1)
