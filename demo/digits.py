"""The demo's classification data set: scikit-learn's bundled handwritten digits, a real
classifier, and hidden conditions it fails under.

scikit-learn ships 1,797 real 8x8 scans of handwritten digits (no download).
Each is drawn as a 64x64 grey PNG (dark ink on light paper, bicubic upscaling).
The classifier reads a PNG the way a deployed one reads its camera: it
shrinks it back to 8x8 (area averaging) and feeds the 64 pixels to a
multinomial logistic regression trained on a stratified 60% split of clean
images. The data set holds the held-out 40%, where a share of the images
carry a hidden condition applied to the picture itself, before the
classifier sees it, so it really fails more on them:

- ``blur``: Gaussian blur (sigma 7-9 px at 64 px), ~40% errors;
- ``low_contrast``: ink and paper pushed toward grey, ~60% errors;
- ``rotation``: turned by 30-45 degrees, ~80% errors;

against ~5% on clean images. As in the detection demo, the conditions are
not stored on the samples (they are the causes a failure map must find);
:func:`conditions` gives them to tests and benchmarks.
"""

import os

import numpy as np
from PIL import Image, ImageFilter

SIZE = 64
CLASSES = [str(d) for d in range(10)]
CONDITIONS = ("blur", "low_contrast", "rotation")
CONDITION_SHARE = 0.1  # of the held-out images, per condition
TEST_SHARE = 0.4


# Pillow, not OpenCV: OpenCV's thread pool, once used, can hang processes forked later
# (the detection demo's and the error map's workers)

def render(digit):
    """A 64x64 uint8 grey picture of an 8x8 scan (values 0-16, ink high)."""
    grey = Image.fromarray(255.0 - digit * (255.0 / 16.0)).convert("F")
    big = np.asarray(grey.resize((SIZE, SIZE), Image.BICUBIC))
    return big.clip(0, 255).astype(np.uint8)


def features(image):
    """What the classifier sees of a picture: its 8x8 shrink, on the scans' 0-16 scale."""
    small = np.asarray(Image.fromarray(image.astype(np.float32)).resize((8, 8), Image.BOX))
    return ((255.0 - small) * (16.0 / 255.0)).ravel()


def apply_condition(image, condition, rng):
    """The picture under a hidden condition (see the module)."""
    if condition == "blur":
        blurred = Image.fromarray(image).filter(ImageFilter.GaussianBlur(rng.uniform(7, 9)))
        return np.asarray(blurred)
    if condition == "low_contrast":
        scale = rng.uniform(0.2, 0.3)
        return (238 + (image.astype(np.float32) - 255) * scale).clip(0, 255).astype(np.uint8)
    if condition == "rotation":
        angle = rng.choice([-1, 1]) * rng.uniform(30, 45)
        return np.asarray(Image.fromarray(image).rotate(angle, Image.BILINEAR, fillcolor=255))
    return image


def conditions(num_images, seed):
    """The hidden condition of each held-out image (``"none"`` for clean ones)."""
    rng = np.random.default_rng([seed, 1])
    share = [1 - CONDITION_SHARE * len(CONDITIONS)] + [CONDITION_SHARE] * len(CONDITIONS)
    return rng.choice(("none",) + CONDITIONS, size=num_images, p=share)


def split(seed):
    """``(train, test)`` indices of the digits: stratified, seeded."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    train, test = train_test_split(np.arange(len(digits.target)), test_size=TEST_SHARE,
                                   stratify=digits.target, random_state=seed)
    return digits, train, test


def train_classifier(digits, train):
    """Multinomial logistic regression on the clean training pictures."""
    from sklearn.linear_model import LogisticRegression

    X = np.array([features(render(digits.images[i])) for i in train])
    return LogisticRegression(max_iter=2000, C=0.05).fit(X, digits.target[train])


def build_dataset(name="error-atlas-demo-classification", num_images=None, seed=51,
                  out_dir=None):
    """Trains the classifier, writes the held-out pictures (first ``num_images``
    of them, default all ~719) and loads them into FiftyOne (persistent):
    ``ground_truth`` and ``predictions`` (``fo.Classification``, with the
    prediction's softmax ``confidence`` and the model's ``logits``)."""
    import fiftyone as fo

    digits, train, test = split(seed)
    test = test[:num_images] if num_images else test
    model = train_classifier(digits, train)
    out_dir = os.path.abspath(os.path.expanduser(
        out_dir or "~/.cache/error-atlas/demo-digits/%d-%d" % (seed, len(test))))
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng([seed, 2])
    hidden = conditions(len(test), seed)
    pictures = [apply_condition(render(digits.images[i]), c, rng) for i, c in zip(test, hidden)]
    logits = model.decision_function(np.array([features(p) for p in pictures]))
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = z / z.sum(axis=1, keepdims=True)
    samples = []
    for n, (i, picture) in enumerate(zip(test, pictures)):
        path = os.path.join(out_dir, "digit_%04d.png" % n)
        Image.fromarray(picture).save(path)
        best = int(np.argmax(logits[n]))
        samples.append(fo.Sample(
            filepath=path,
            metadata=fo.ImageMetadata(width=SIZE, height=SIZE, num_channels=1,
                                      mime_type="image/png"),
            ground_truth=fo.Classification(label=CLASSES[digits.target[i]]),
            predictions=fo.Classification(label=CLASSES[best], confidence=float(probs[n, best]),
                                          logits=logits[n].tolist())))
    if fo.dataset_exists(name):
        fo.delete_dataset(name)
    dataset = fo.Dataset(name, persistent=True)
    dataset.default_classes = list(CLASSES)
    dataset.info = {"source": "error-atlas demo (demo/digits.py): scikit-learn's digits",
                    "seed": seed, "num_images": len(test)}
    dataset.add_samples(samples, progress=False)
    return dataset
