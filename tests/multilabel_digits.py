"""A real multi-label image set for tests: strips of scikit-learn's handwritten
digit scans, read by a real classifier, with hidden conditions it fails under.

Each picture is a 64x192 strip of three slots; one to three of them hold a
held-out digit scan (:mod:`demo.digits`'s 64 px rendering), the others blank
paper. The ground truth (``fo.Classifications``) is the set of digits shown.
The model reads it as a deployed pipeline would: a slot with ink (mean
darkness above :data:`INK`) is cut out and fed to the demo's logistic
regression (trained on clean single digits), and a class's confidence is its
highest probability over the slots read; classes at 0.05 or more are
predicted. The demo's hidden conditions (blur, low contrast, rotation) are
applied to a share of the strips' slots, so the model really misses digits,
reads blank slots as digits (low contrast greys the paper) and confuses
them. :func:`conditions` gives each strip's condition to the tests.
"""

import os
import sys

import numpy as np
from PIL import Image

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "demo"))
import digits  # noqa: E402

CLASSES = digits.CLASSES
SLOTS = 3
INK = 12.0  # mean darkness (0-255) of a slot read as holding a digit
MIN_CONFIDENCE = 0.05


def conditions(num_images, seed):
    """The hidden condition of each strip (``"none"`` for clean ones)."""
    return digits.conditions(num_images, seed)


def build(num_images, seed, out_dir):
    """An in-memory (non-persistent) FiftyOne dataset of ``num_images`` strips with
    ``ground_truth`` and ``predictions`` Classifications."""
    import fiftyone as fo

    data, train, test = digits.split(seed)
    model = digits.train_classifier(data, train)
    rng = np.random.default_rng([seed, 3])
    hidden = conditions(num_images, seed)
    blank = np.full((digits.SIZE, digits.SIZE), 255, np.uint8)
    os.makedirs(out_dir, exist_ok=True)
    samples = []
    for n in range(num_images):
        count = int(rng.choice([1, 2, 3], p=[0.3, 0.4, 0.3]))
        slots = rng.permutation(SLOTS)[:count]
        scans = rng.choice(test, size=count, replace=False)
        tiles = [blank] * SLOTS
        for slot, i in zip(slots, scans):
            tiles[slot] = digits.render(data.images[i])
        tiles = [digits.apply_condition(t, hidden[n], rng) for t in tiles]
        read = [t for t in tiles if (255.0 - t.astype(np.float64)).mean() > INK]
        best = np.zeros(len(CLASSES))
        if read:
            best = model.predict_proba(np.array([digits.features(t) for t in read])).max(axis=0)
        path = os.path.join(out_dir, "strip_%04d.png" % n)
        Image.fromarray(np.hstack(tiles)).save(path)
        truth = sorted({CLASSES[data.target[i]] for i in scans})
        samples.append(fo.Sample(
            filepath=path,
            metadata=fo.ImageMetadata(width=SLOTS * digits.SIZE, height=digits.SIZE,
                                      num_channels=1, mime_type="image/png"),
            ground_truth=fo.Classifications(classifications=[
                fo.Classification(label=c) for c in truth]),
            predictions=fo.Classifications(classifications=[
                fo.Classification(label=CLASSES[k], confidence=float(best[k]))
                for k in np.flatnonzero(best >= MIN_CONFIDENCE)])))
    dataset = fo.Dataset()
    dataset.default_classes = list(CLASSES)
    dataset.add_samples(samples, progress=False)
    return dataset
