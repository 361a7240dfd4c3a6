"""Sweeps, error types and confusion matrices of the engine."""

import numpy as np
import pytest

from plugin import detection, errors
from tests.cocodata import engine_evaluate, random_case


def tiny_scene():
    """One image with one example of every error type (classes A=0, B=1)."""
    gt_box = [[0, 0, 10, 10], [20, 0, 10, 10], [40, 0, 10, 10], [60, 0, 10, 10], [80, 0, 10, 10]]
    gt_label = [0, 1, 0, 0, 1]
    pred_box = [[0, 0, 10, 10],      # correct (g0)
                [1, 0, 10, 10],      # duplicate of g0
                [20, 0, 10, 10],     # A on a B object: classification (g1)
                [44, 0, 10, 10],     # IoU 0.43 with g2: localization
                [85, 0, 10, 10],     # IoU 0.33 with B object g4: both
                [200, 200, 10, 10]]  # background
    pred_label = [0, 0, 0, 0, 0, 0]
    score = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    return detection.evaluate(["A", "B"], [0] * 6, pred_label, score, pred_box,
                              [0] * 5, gt_label, gt_box)


def names(codes):
    return [errors.ERROR_TYPES[c] if c >= 0 else None for c in codes]


def test_every_error_type_on_a_constructed_scene():
    a = tiny_scene().assess(iou=0.5)
    assert names(a.pred_error) == ["correct", "duplicate", "classification", "localization",
                                   "both", "background"]
    assert names(a.gt_error) == ["correct", "classification", "localization", "missed", "both"]
    assert a.pred_target.tolist() == [0, 0, 1, 2, 4, -1]
    # rows: A, B, Not an object; columns: A, B, Not detected
    assert a.confusion.tolist() == [[1, 0, 2], [1, 0, 1], [4, 0, 0]]
    assert a.error_counts() == {"correct": 1, "classification": 1, "localization": 1, "both": 1,
                                "duplicate": 1, "background": 1, "missed": 1}


def test_confidence_threshold_drops_predictions_and_their_claims():
    a = tiny_scene().assess(iou=0.5, confidence=0.75)
    assert names(a.pred_error) == ["correct", "duplicate", None, None, None, None]
    assert names(a.gt_error) == ["correct", "missed", "missed", "missed", "missed"]
    assert a.confusion.tolist() == [[1, 0, 2], [0, 0, 2], [1, 0, 0]]


def test_competing_classification_claims_leave_one_confusion():
    ev = detection.evaluate(["A", "B"], [0, 0], [0, 0], [0.9, 0.8], [[0, 0, 10, 10], [0, 0, 10, 11]],
                            [0], [1], [[0, 0, 10, 10]])
    a = ev.assess(iou=0.5)
    assert names(a.pred_error) == ["classification", "duplicate"]
    assert a.confusion.tolist() == [[0, 0, 0], [1, 0, 0], [1, 0, 0]]


@pytest.mark.parametrize("seed", range(20))
def test_sweep_equals_brute_force_counting(seed):
    gt, dets = random_case(seed)
    ev = engine_evaluate(gt, dets)
    for iou in (0.5, 0.75):
        t = ev.threshold_index(iou)
        overall, per_class = ev.sweeps(iou)
        matched = ev.pred_gt[t] >= 0
        to_crowd = matched & ev.gt_crowd[np.maximum(ev.pred_gt[t], 0)]
        n_gt = np.count_nonzero(~ev.gt_crowd)
        for c in np.unique(ev.pred_score):
            on = ev.pred_score >= c
            tp = np.count_nonzero(on & matched & ~to_crowd)
            fp = np.count_nonzero(on & ~matched)
            point = overall.at(c)
            assert (point["tp"], point["fp"]) == (tp, fp)
            assert np.isclose(point["recall"], tp / n_gt if n_gt else 0)
        best = overall.optimal()
        if best:
            assert best["f1"] == pytest.approx(overall.f1.max())
            assert best["confidence"] == overall.confidence[overall.f1 == overall.f1.max()].max()
        # per-class sweeps add up to the overall one
        total_tp = sum(s.at(None)["tp"] for s in per_class)
        assert total_tp == overall.at(None)["tp"]


@pytest.mark.parametrize("seed", range(20))
def test_confusion_matrix_agrees_with_sweeps_and_counts(seed):
    gt, dets = random_case(seed)
    ev = engine_evaluate(gt, dets)
    K = ev.num_classes
    n_gt = np.bincount(ev.gt_label[~ev.gt_crowd], minlength=K)
    for iou in (0.5, 0.75, 0.95):
        _, per_class = ev.sweeps(iou)
        for conf in (None, 0.3, 0.65):
            a = ev.assess(iou, conf)
            counts = a.class_counts()
            assert counts["tp"].tolist() == [s.at(conf)["tp"] for s in per_class]
            assert counts["fp"].tolist() == [s.at(conf)["fp"] for s in per_class]
            assert a.confusion[:K].sum(axis=1).tolist() == n_gt.tolist()
            # every counted object sits in exactly the cell the matrix counts
            cells = np.concatenate([a.pred_cell[a.pred_cell[:, 0] >= 0],
                                    a.gt_cell[a.gt_cell[:, 1] == K]])
            rebuilt = np.zeros_like(a.confusion)
            np.add.at(rebuilt, (cells[:, 0], cells[:, 1]), 1)
            assert (rebuilt == a.confusion).all()


def test_serialization_round_trip_keeps_every_answer():
    gt, dets = random_case(11)
    ev = engine_evaluate(gt, dets)
    back = detection.Evaluation.from_bytes(ev.to_bytes())
    assert back.classes == ev.classes
    ev.set_ids(pred_ids=["p%d" % i for i in range(ev.pred_score.size)])
    assert detection.Evaluation.from_bytes(ev.to_bytes()).pred_ids.tolist() == ev.pred_ids.tolist()
    assert back.coco.stats == ev.coco.stats
    assert back.summary(0.5, 0.3) == ev.summary(0.5, 0.3)
    assert (back.assess(0.7, 0.2).confusion == ev.assess(0.7, 0.2).confusion).all()


def test_extra_iou_threshold_is_kept_for_per_label_results():
    gt, dets = random_case(2)
    ev = engine_evaluate(gt, dets, iou=0.33)
    assert ev.threshold_index(0.33) == 10
    with pytest.raises(ValueError, match="was not evaluated"):
        ev.threshold_index(0.4)


def test_downsampled_sweep_keeps_the_optimum():
    rng = np.random.default_rng(0)
    n = 3000
    boxes = rng.uniform(0, 100, (n, 4)) + [0, 0, 5, 5]
    ev = detection.evaluate(["A"], np.arange(n) % 50, np.zeros(n), rng.random(n), boxes,
                            np.arange(n) % 50, np.zeros(n), boxes + rng.normal(0, 2, (n, 4)))
    overall, _ = ev.sweeps(0.5)
    small = overall.downsample(100)
    assert small.confidence.size <= 101
    assert small.f1.max() == overall.f1.max()


@pytest.mark.parametrize("seed", [2, 9])
def test_restricted_counts_partition_the_whole(seed):
    gt, dets = random_case(seed)
    ev = engine_evaluate(gt, dets)
    P, G = ev.pred_score.size, ev.gt_label.size
    images = np.unique(np.r_[ev.pred_image, ev.gt_image])
    ev.set_ids(pred_ids=["p%d" % i for i in range(P)], gt_ids=["g%d" % i for i in range(G)],
               image_ids=["i%d" % i for i in range(images.max() + 1)])
    a = ev.assess(0.5, 0.3)
    whole = a.restrict(np.ones(P, bool), np.ones(G, bool))
    assert (whole.confusion == a.confusion).all()
    assert whole.error_counts() == a.error_counts()

    # two halves of the images: counts add up to the whole, cell by cell
    half = ["i%d" % i for i in images[::2]]
    rest = ["i%d" % i for i in images[1::2]]
    parts = [a.restrict(*ev.members(ids)) for ids in (half, rest)]
    assert (parts[0].confusion + parts[1].confusion == a.confusion).all()
    for key in ("tp", "fp", "fn"):
        assert (parts[0].class_counts()[key] + parts[1].class_counts()[key]
                == a.class_counts()[key]).all()
    assert parts[0].confusion.sum() > 0 and parts[1].confusion.sum() > 0

    # labels by their own ids: one prediction alone sits in its own cell
    p = int(np.flatnonzero(a.pred_cell[:, 0] >= 0)[0])
    one = a.restrict(*ev.members(["p%d" % p]))
    assert one.confusion.sum() == 1 and one.confusion[tuple(a.pred_cell[p])] == 1
    empty = a.restrict(*ev.members([]))
    assert empty.confusion.sum() == 0 and sum(empty.error_counts().values()) == 0


@pytest.mark.parametrize("seed", range(8))
def test_confusion_sweep_equals_assess_at_every_threshold(seed):
    """The vectorized sweep the confidence slider draws from is assess, threshold by threshold."""
    gt, dets = random_case(seed, max_images=15, max_classes=4)
    ev = engine_evaluate(gt, dets)
    grid = np.round(np.linspace(0, 1, 101), 2)
    # ties: some thresholds equal to scores, and crowd regions, are in the random cases
    grid = np.unique(np.r_[grid, ev.pred_score[:5]])
    for iou in (0.5, 0.75):
        sweep = ev.confusions(iou, grid)
        for j in range(grid.size):
            expected = ev.assess(iou, grid[j]).confusion
            assert np.array_equal(sweep[j], expected), (iou, j, grid[j])


def test_confusion_sweep_on_the_constructed_scene():
    ev = tiny_scene()
    sweep = ev.confusions(0.5, [0.0, 0.65, 0.75, 0.95])
    # at 0.75 the classification error (0.7) is gone: the B object is missed
    assert sweep[2].tolist() == [[1, 0, 2], [0, 0, 2], [1, 0, 0]]
    assert sweep[3].tolist() == [[0, 0, 3], [0, 0, 2], [0, 0, 0]]
    for j, c in enumerate([0.0, 0.65, 0.75, 0.95]):
        assert np.array_equal(sweep[j], ev.assess(0.5, c).confusion)


def error_counts(pred_error, gt_error):
    """:meth:`~plugin.errors.Assessment.error_counts` of every row of a sweep, as (T, 7)."""
    counts = (pred_error[:, :, None] == np.arange(len(errors.ERROR_TYPES))).sum(axis=1)
    counts[:, errors.MISSED] = (gt_error == errors.MISSED).sum(axis=1)
    return counts


@pytest.mark.parametrize("seed", range(10))
def test_error_sweep_equals_assess_at_every_threshold(seed):
    """Error types at every slider step are assess's, crowds and score ties included."""
    gt, dets = random_case(seed, max_images=15, max_classes=4)
    ev = engine_evaluate(gt, dets)
    assert ev.gt_crowd.any()
    grid = np.unique(np.r_[np.linspace(0, 1, 101), ev.pred_score])
    for iou in (0.5, 0.75):
        pred_error, gt_error = ev.error_sweeps(iou, grid)
        assert pred_error.dtype == gt_error.dtype == np.int8
        assert pred_error.shape == (grid.size, ev.pred_score.size)
        assert gt_error.shape == (grid.size, ev.gt_label.size)
        counts = error_counts(pred_error, gt_error)
        for j in range(grid.size):
            a = ev.assess(iou, grid[j])
            assert np.array_equal(pred_error[j], a.pred_error), (iou, j, grid[j])
            assert np.array_equal(gt_error[j], a.gt_error), (iou, j, grid[j])
            assert dict(zip(errors.ERROR_TYPES, counts[j].tolist())) == a.error_counts()


def test_error_sweep_on_the_constructed_scene():
    ev = tiny_scene()
    grid = [0.0, 0.45, 0.65, 0.75, 0.85, 0.95]
    pred_error, gt_error = ev.error_sweeps(0.5, grid)
    # at 0.75 the classification error (0.7) is gone: the B object is missed
    assert names(pred_error[3]) == ["correct", "duplicate", None, None, None, None]
    assert names(gt_error[3]) == ["correct", "missed", "missed", "missed", "missed"]
    assert names(pred_error[5]) == [None] * 6
    for j, c in enumerate(grid):
        a = ev.assess(0.5, c)
        assert np.array_equal(pred_error[j], a.pred_error) and np.array_equal(gt_error[j], a.gt_error)


def test_sweeps_refuse_descending_thresholds():
    ev = tiny_scene()
    for sweep in (ev.error_sweeps, ev.confusions):
        with pytest.raises(ValueError, match="ascending"):
            sweep(0.5, [0.5, 0.2])


@pytest.mark.parametrize("seed", range(200))
def test_error_sweep_follows_assess_on_arbitrary_matches(seed):
    """assess is the definition even for matches COCO never produces, e.g. a
    same-class false positive on an object claimed by a classification error."""
    rng = np.random.default_rng(seed)
    P, G, K = rng.integers(1, 12), rng.integers(1, 8), rng.integers(1, 4)
    score = np.round(rng.random(P), 1)
    label, gt_label, gt_crowd = rng.integers(0, K, P), rng.integers(0, K, G), rng.random(G) < 0.25
    pred_gt = np.where(rng.random(P) < 0.4, rng.integers(0, G, P), -1)
    gt_pred = np.where(rng.random(G) < 0.4, rng.integers(0, P, G), -1)
    key = np.unique(rng.integers(0, P, 3 * P * G) * G + rng.integers(0, G, 3 * P * G))
    pairs = errors.sort_pairs(key // G, key % G, np.round(rng.random(key.size), 1))
    grid = np.unique(np.r_[np.round(rng.random(6), 1), 0, 1])
    for iou in (0.3, 0.5):
        pred_error, gt_error = errors.error_sweep(score, label, gt_label, gt_crowd, pred_gt, gt_pred,
                                                  pairs, iou, K, grid)
        for j, c in enumerate(grid):
            a = errors.assess(score, label, gt_label, gt_crowd, pred_gt, gt_pred, pairs, iou, K, c)
            assert np.array_equal(pred_error[j], a.pred_error), (iou, c)
            assert np.array_equal(gt_error[j], a.gt_error), (iou, c)
