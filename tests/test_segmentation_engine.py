"""The semantic segmentation engine against references nobody here wrote:
scikit-learn's metrics on the flattened pixels, FiftyOne's per-sample numbers,
and a brute-force boundary band from scipy."""

import numpy as np
import pytest
import scipy.ndimage as ndi
import sklearn.metrics as skm

from plugin import segmentation as seg

K = 6  # class 0 is the background


def random_masks(n=40, shape=(64, 80), seed=0, ignore_share=0.05, unlabeled_share=0.03):
    """Blobby ground truth, predictions that agree ~70% of the time, confidences."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        coarse = rng.integers(0, K, (shape[0] // 8, shape[1] // 8))
        gt = np.kron(coarse, np.ones((8, 8), int))
        pred = np.where(rng.random(shape) < 0.7, gt, rng.integers(0, K, shape))
        pred[rng.random(shape) < unlabeled_share] = -1  # no class predicted
        conf = np.round(rng.random(shape), 2)  # many values exactly at bin edges
        gt = np.where(rng.random(shape) < ignore_share, -1, gt)
        out.append((gt, pred, conf))
    return out


@pytest.fixture(scope="module")
def data():
    masks = random_masks()
    counts = [seg.measure_image(g, p, K, confidence=c, background=0) for g, p, c in masks]
    return masks, seg.pool([str(k) for k in range(K)], counts, background=0)


def flat(masks, threshold=None):
    t, p = [], []
    for g, pr, c in masks:
        v = g >= 0
        pr = np.where(pr < 0, K, pr)
        if threshold is not None:
            pr = np.where(c < threshold, K, pr)
        t.append(g[v])
        p.append(pr[v])
    return np.concatenate(t), np.concatenate(p)


def test_pooled_confusion_equals_sklearn(data):
    masks, ev = data
    t, p = flat(masks)
    ref = skm.confusion_matrix(t, p, labels=range(K + 1))[:K]
    assert np.array_equal(ev.confusion, ref)


def test_metrics_equal_sklearn_on_the_pixels(data):
    masks, ev = data
    t, p = flat(masks)
    labels = list(range(K))
    m = ev.metrics()
    np.testing.assert_allclose(m["iou"], skm.jaccard_score(t, p, labels=labels, average=None), atol=1e-12)
    np.testing.assert_allclose(m["precision"], skm.precision_score(t, p, labels=labels, average=None,
                                                                   zero_division=0), atol=1e-12)
    np.testing.assert_allclose(m["recall"], skm.recall_score(t, p, labels=labels, average=None), atol=1e-12)
    np.testing.assert_allclose(m["f1"], skm.f1_score(t, p, labels=labels, average=None), atol=1e-12)
    assert abs(m["pixel_accuracy"] - skm.accuracy_score(t, p)) < 1e-12
    fg = labels[1:]  # the background is left out of the means
    assert abs(m["miou"] - skm.jaccard_score(t, p, labels=fg, average="macro")) < 1e-12
    assert abs(m["mean_f1"] - skm.f1_score(t, p, labels=fg, average="macro")) < 1e-12
    assert abs(m["mean_accuracy"] - skm.recall_score(t, p, labels=fg, average="macro")) < 1e-12
    share = np.bincount(t, minlength=K)[1:] / np.isin(t, fg).sum()
    assert abs(m["fw_iou"] - np.sum(share * m["iou"][1:])) < 1e-12


def test_a_class_absent_everywhere_has_no_iou_and_stays_out_of_the_means():
    gt = np.zeros((16, 16), int)
    gt[4:12, 4:12] = 1
    pred = gt.copy()
    pred[4:6, 4:12] = 2
    ev = seg.pool(list("abcd"), [seg.measure_image(gt, pred, 4, background=0)], background=0)
    m = ev.metrics()
    assert np.isnan(m["iou"][3]) and m["iou"][2] == 0.0
    assert abs(m["miou"] - np.mean([48 / 64, 0.0])) < 1e-12


def test_each_images_numbers_equal_fiftyones_evaluate_segmentations():
    import fiftyone.utils.eval.segmentation as foseg

    # FiftyOne's masks have no "unlabeled" prediction: every pixel predicts a value
    masks = random_masks(seed=3, unlabeled_share=0.0)
    ev = seg.pool([str(k) for k in range(K)],
                  [seg.measure_image(g, p, K, background=0) for g, p, _ in masks], background=0)
    ours = ev.image_metrics()
    conf = ev.image_confusions()
    for i in range(ev.num_images):
        # FiftyOne's per-sample values: micro averages without its missing class (value 0)
        c = conf[i][:, :K]
        acc, pre, rec = foseg._compute_accuracy_precision_recall(c, list(range(K)), "micro")
        g, p, _ = masks[i]
        assert abs(ours["accuracy"][i] - acc) < 1e-9, i
        assert abs(ours["precision"][i] - pre) < 1e-9 and abs(ours["recall"][i] - rec) < 1e-9, i
        v = g >= 0
        assert abs(ours["pixel_accuracy"][i] - np.mean(g[v] == p[v])) < 1e-12


def test_the_sweep_equals_recomputing_at_each_threshold(data):
    masks, ev = data
    sweep = ev.sweep()
    for k in (0, 1, 29, 50, 71, 99, 100):
        t, p = flat(masks, threshold=k / seg.CONFIDENCE_BINS)
        ref = skm.confusion_matrix(t, p, labels=range(K + 1))[:K]
        assert np.array_equal(sweep[k], ref), k
        assert np.array_equal(ev.confusion_at(k / seg.CONFIDENCE_BINS), ref)
    m = ev.sweep_metrics()
    t, p = flat(masks, threshold=0.42)
    np.testing.assert_allclose(m["iou"][42], skm.jaccard_score(t, p, labels=range(K), average=None),
                               atol=1e-12)
    found = ev.optimal_thresholds()
    overall, per_class = found["overall"], found["per_class"]
    assert overall == m["thresholds"][np.nanargmax(m["mean"]["f1"])]
    assert set(per_class) == set(ev.classes)


def _brute_band(labels, width):
    size = 2 * width + 1
    mx = ndi.maximum_filter(labels, size=size, mode="nearest")
    mn = ndi.minimum_filter(labels, size=size, mode="nearest")
    return mx != mn


def test_boundary_iou_equals_a_brute_force_band(data):
    masks, ev = data
    inter = np.zeros(K)
    union = np.zeros(K)
    for g, p, _ in masks:
        v = g >= 0
        gb = _brute_band(np.where(v, g, K + 1), seg.BOUNDARY_WIDTH) & v
        pb = _brute_band(np.where(p >= 0, p, K), seg.BOUNDARY_WIDTH) & v
        for c in range(K):
            G, P = (g == c) & gb, (p == c) & pb
            inter[c] += (G & P).sum()
            union[c] += (G | P).sum()
    biou, mean = ev.boundary_iou()
    np.testing.assert_allclose(biou, inter / union, atol=1e-12)
    assert abs(mean - np.mean((inter / union)[1:])) < 1e-12
    bf1, mean_f1 = ev.boundary_f1()
    np.testing.assert_allclose(bf1, 2 * inter / (inter + union), atol=1e-12)
    assert abs(mean_f1 - np.mean((2 * inter / (inter + union))[1:])) < 1e-12


@pytest.mark.parametrize("case,kind,other", [
    ("missed", "missed_region", -1), ("confused", "confused_region", 2),
    ("false", "false_region", -1), ("shifted", "boundary", -1)])
def test_the_dominant_error_names_what_went_wrong(case, kind, other):
    gt = np.zeros((64, 64), int)
    gt[16:48, 16:48] = 1
    pred = gt.copy()
    if case == "missed":
        pred[16:48, 16:48] = 0
    elif case == "confused":
        pred[16:48, 16:48] = 2
    elif case == "false":
        pred[:12, :12] = 1
    else:
        pred = np.roll(gt, 2, axis=1)
    ev = seg.pool(["bg", "thing", "other"], [seg.measure_image(gt, pred, 3, background=0)],
                  background=0)
    dom = ev.dominant_errors()[0]
    assert seg.ERROR_KINDS[dom[1]] == kind
    assert dom[0] == -1  # the background carries no error of its own
    if other >= 0:
        assert ev.image_confused_with[0, 1] == other


def test_to_indices_maps_values_and_reports_the_unknown():
    mask = np.array([[0, 3, 7], [255, 3, 9]], np.uint8)
    idx, unknown = seg.to_indices(mask, [0, 3, 7, 255])
    assert idx.tolist() == [[0, 1, 2], [3, 1, -1]] and unknown.tolist() == [9]


def test_cell_images_are_ordered_by_pixel_count(data):
    masks, ev = data
    images, counts = ev.cell_images(2, 3)
    direct = np.array([np.sum((g == 2) & (p == 3)) for g, p, _ in masks])
    assert counts.tolist() == sorted(direct[direct > 0].tolist(), reverse=True)
    assert np.array_equal(direct[images], counts)


def test_resize_nearest_keeps_the_values():
    mask = np.kron(np.array([[1, 2], [3, 4]], np.uint8), np.ones((3, 3), np.uint8))
    out = seg.resize_nearest(mask, (12, 12))
    assert out.shape == (12, 12) and set(np.unique(out)) == {1, 2, 3, 4}


def test_confidence_bins_are_exact_at_the_edges():
    c = np.r_[np.arange(101) / 100, np.nextafter(np.arange(1, 101) / 100, 0), 0.29, 0.57]
    ref = np.searchsorted(np.arange(101) / 100, c, side="right") - 1
    assert np.array_equal(seg.confidence_bins(c), ref)


def test_raw_16_bit_masks_count_as_sklearn_and_the_brute_band():
    """measure_masks on uint16 masks whose values use all 16 bits (the counting
    kernel packs them into one key per pixel and counts runs of equal keys)."""
    rng = np.random.default_rng(5)
    values = np.array([0, 300, 40000, 65534])
    shape = (120, 256)
    gt = values[np.kron(rng.integers(0, 4, (15, 16)), np.ones((8, 16), int))].astype(np.uint16)
    pred = np.roll(gt, 3, axis=1)
    pred[rng.random(shape) < 0.02] = 40000
    gt[10:14, :] = 65535  # ignored
    counts, unknown = seg.measure_masks(gt, pred, values, ignore_value=65535, background=0)
    assert unknown.size == 0
    gi, _ = seg.to_indices(gt.astype(np.int64), values, ignore_value=65535)
    pi, _ = seg.to_indices(pred.astype(np.int64), values)
    v = gi >= 0
    ref = skm.confusion_matrix(gi[v], pi[v], labels=range(4))
    got = np.zeros((4, 5), np.int64)
    got[counts.pairs[:, 0], counts.pairs[:, 1]] = counts.pairs[:, 2]
    assert np.array_equal(got[:, :4], ref) and got[:, 4].sum() == 0
    gb = _brute_band(np.where(v, gi, 5), seg.BOUNDARY_WIDTH) & v
    assert np.array_equal(counts.gt_band, [((gi == c) & gb).sum() for c in range(4)])
