"""Failure discovery: error counts against a Poisson model of content and the context
tables, on constructed data with known answers (the planted
benchmark is benchmarks/bench_discovery.py)."""

import numpy as np
import pytest

from plugin import clustering, object_context, weights
from plugin.clusters import cluster, summarize_clusters


def content_scene(seed=0, n=3000):
    """Images with 1-8 objects of 5 classes; class 3 ("hard") errs 4x as often per object;
    group 2 (10% of images, any content) has a hidden cause: 2 extra errors per image."""
    rng = np.random.default_rng(seed)
    counts = np.zeros((n, 5), np.int64)
    k = rng.integers(1, 9, n)
    for i in range(5):
        counts[:, i] = rng.binomial(k, 0.2)
    hard_heavy = rng.random(n) < 0.3  # images full of the hard class
    counts[hard_heavy, 3] += rng.integers(2, 5, hard_heavy.sum())
    group = np.where(hard_heavy, 1, 0)
    hidden = rng.random(n) < 0.1
    group[hidden] = 2
    rate = counts @ np.array([0.1, 0.1, 0.1, 0.4, 0.1]) + np.where(hidden, 2.0, 0.0)
    errors = rng.poisson(rate)
    error_type = np.where(errors > 0, "missed", "correct").astype(object)
    return counts, errors, error_type, group


def test_expected_errors_is_scikit_learns_poisson_fit_and_sums_to_the_errors():
    from sklearn.linear_model import PoissonRegressor

    counts, errors, _, group = content_scene()
    plain, _ = clustering.expected_errors(errors, counts, robust=False)
    assert plain.sum() == pytest.approx(errors.sum(), rel=1e-3)  # a log-link GLM's score equation
    onehot = np.eye(len(clustering.CONTENT_BINS))[
        np.searchsorted(clustering.CONTENT_BINS, counts.sum(axis=1), side="right") - 1]
    design = np.hstack([counts, onehot])
    ref = PoissonRegressor(alpha=1e-4, max_iter=300).fit(design, errors).predict(design)
    np.testing.assert_allclose(plain, ref, rtol=1e-6)
    mu, dispersion = clustering.expected_errors(errors, counts)
    assert dispersion >= 1.0
    # robust: the images of the hidden cause no longer raise the others' expectation
    clean = group != 2
    assert abs(mu[clean].sum() / errors[clean].sum() - 1) < \
        abs(plain[clean].sum() / errors[clean].sum() - 1)
    # what the hard class costs per object is learnt from the data
    with_hard = counts[:, 3] >= 3
    assert mu[with_hard].mean() > 2 * mu[counts[:, 3] == 0].mean()
    nan = errors.astype(float)
    nan[:10] = np.nan
    mu2, _ = clustering.expected_errors(nan, counts)
    assert np.isnan(mu2[:10]).all() and np.isfinite(mu2[10:]).all()


def cause_scene(seed=0, n=2000, extra=10.0, share=0.15):
    """Images with 1-8 objects of 3 classes erring 0.3 per object; a hidden cause in
    ``share`` of them adds ``extra`` errors (bench_discovery's clutter: 13 vs 2)."""
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(1, [0.4, 0.3, 0.3], n) * rng.integers(1, 9, n)[:, None]
    hidden = rng.random(n) < share
    true = counts.sum(axis=1) * 0.3
    return counts, rng.poisson(true + np.where(hidden, extra, 0.0)), hidden, true


def test_robust_expectation_is_that_of_the_clean_images():
    counts, errors, hidden, true = cause_scene()
    plain, plain_dispersion = clustering.expected_errors(errors, counts, robust=False)
    mu, dispersion = clustering.expected_errors(errors, counts)
    ratio = lambda m: m[~hidden].sum() / true[~hidden].sum()  # noqa: E731
    assert ratio(plain) > 1.4                   # the cause raises every image's expectation
    assert abs(ratio(mu) - 1) < 0.05            # not once its images are trimmed
    assert plain_dispersion > 5 and dispersion < 1.3
    # the clean images' errors are Poisson: their standardized residuals have unit variance
    z = (errors - mu) / np.sqrt(dispersion * mu)
    assert 0.8 < np.var(z[~hidden]) < 1.2
    # spread over every cluster as k-means spread clutter: the plain fit sees no failure
    labels = np.random.default_rng(1).integers(0, 4, errors.size)
    labels[hidden & (np.arange(errors.size) % 3 == 0)] = 4   # a third of the cause apart
    error_type = np.where(errors > 0, "missed", "correct").astype(object)
    before = summarize_clusters(labels, error_type, None, [], expected=plain, errors=errors,
                                dispersion=plain_dispersion)
    after = summarize_clusters(labels, error_type, None, [], expected=mu, errors=errors,
                               dispersion=dispersion)
    assert after[0].id == 4 and after[0].significant
    # its excess is what the cause added (10 per image), not that less what it added to all
    truth = 10.0 * np.sum(labels == 4)
    assert after[0].excess_errors == pytest.approx(truth, rel=0.1)
    assert abs({s.id: s for s in before}[4].excess_errors - truth) > \
        2 * abs(after[0].excess_errors - truth)
    # without a cause the robust fit is the plain one, up to the trimmed tail
    counts, errors, _, true = cause_scene(seed=2, extra=0.0)
    mu, dispersion = clustering.expected_errors(errors, counts)
    plain, _ = clustering.expected_errors(errors, counts, robust=False)
    assert mu.sum() == pytest.approx(plain.sum(), rel=0.01)
    np.testing.assert_allclose(mu, plain, rtol=0.06)
    assert dispersion == pytest.approx(1.0, abs=0.1)


def test_quasi_poisson_statistics_against_scipy():
    from scipy.stats import norm

    labels = np.array([0] * 50 + [1] * 50)
    failed = np.r_[np.full(50, 3.0), np.full(50, 1.0)]
    expected = np.full(100, 2.0)
    n, obs, exp, excess, p = clustering.failure_statistics(labels, failed, expected, 2,
                                                           dispersion=1.5)
    assert obs.tolist() == [150, 50] and exp.tolist() == [100, 100]
    raw = norm.sf((obs - exp) / np.sqrt(1.5 * exp))
    assert p[0] == pytest.approx(2 * raw[0]) and p[1] == pytest.approx(raw[1])  # Benjamini-Hochberg


def test_images_of_a_hard_class_are_no_failure_once_the_model_knows_the_class_mix():
    counts, errors, error_type, group = content_scene()
    # by the number of objects only (the old expectation), images heavy in the hard class fail
    failed, _ = clustering.failures(clustering.error_codes(error_type, errors.size))
    by_count = clustering.expected_failure(failed, counts.sum(axis=1))
    naive = {s.id: s for s in summarize_clusters(group, error_type, None, [], expected=by_count)}
    assert naive[1].significant
    mu, dispersion = clustering.expected_errors(errors, counts)
    out = summarize_clusters(group, error_type, None, [], expected=mu, errors=errors,
                             dispersion=dispersion)
    by_id = {s.id: s for s in out}
    assert out[0].id == 2 and out[0].significant and out[0].unit == "errors"
    assert not by_id[1].significant and not by_id[0].significant
    assert by_id[2].observed_errors == errors[group == 2].sum()
    assert by_id[2].excess_errors == pytest.approx(by_id[2].observed_errors
                                                   - mu[group == 2].sum())


def test_clustering_on_error_counts_keeps_the_hidden_cause_apart():
    counts, errors, error_type, group = content_scene(seed=1)
    rng = np.random.default_rng(2)
    X = np.c_[group == 2, group == 1, counts.sum(axis=1) / 8.0]
    X = X + rng.normal(0, 0.15, X.shape)
    mu, dispersion = clustering.expected_errors(errors, counts)
    labels, k = cluster(X, error_type=error_type, expected=mu, errors=errors,
                        dispersion=dispersion)
    top = summarize_clusters(labels, error_type, None, [], expected=mu, errors=errors,
                             dispersion=dispersion)[0]
    assert top.significant and np.mean(group[labels == top.id] == 2) > 0.9


def test_context_tables_equal_numpys_summed_area_tables():
    import cv2

    rng = np.random.default_rng(4)
    image = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    tables = [t * k for t, k in zip(object_context._tables(image),
                                    object_context._TABLE_SCALE.ravel())]
    r, g, b = (image[..., i].astype(np.float64) for i in range(3))
    luma = np.round(0.299 * r + 0.587 * g + 0.114 * b)  # OpenCV's uint8 grey
    assert np.abs(luma - cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)).max() <= 1
    luma = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)
    lap = np.zeros_like(luma)
    lap[1:-1, 1:-1] = (4 * luma[1:-1, 1:-1] - luma[:-2, 1:-1] - luma[2:, 1:-1]
                       - luma[1:-1, :-2] - luma[1:-1, 2:])
    mx = np.maximum(np.maximum(r, g), b)
    sat = np.where(mx > 0, (mx - np.minimum(np.minimum(r, g), b)) / np.maximum(mx, 1), 0)
    planes = [r / 255, g / 255, b / 255, luma / 255, (luma / 255) ** 2, sat, lap * lap]
    pixels = np.arange(38)[:, None] * np.arange(54)[None, :]  # pixels each table entry sums
    for c, plane in enumerate(planes):
        ref = np.zeros((38, 54))
        ref[1:, 1:] = np.cumsum(np.cumsum(plane, axis=0), axis=1)
        # HSV's S is rounded to uint8: at most half a step per pixel
        tol = (0.5 / 255 + 1e-9) * pixels if c == 5 else 1e-9 * max(1.0, ref.max())
        assert np.all(np.abs(tables[c] - ref) <= tol), c


def test_offline_rescoring_ranks_and_scores_as_the_operator_does(tmp_path):
    """benchmarks/discovery_offline.py on a dump of a constructed map: the failure ranking is
    summarize_clusters' and the hidden cause's best top-3 cluster is the operator's."""
    import sys
    sys.path.insert(0, "benchmarks")
    import discovery_offline as off

    counts, errors, error_type, group = content_scene(seed=3, n=1500)
    rng = np.random.default_rng(3)
    Z = np.c_[rng.normal(size=(1500, 3)), group == 2].astype(np.float32)
    expected, dispersion = clustering.expected_errors(errors, counts)
    kw = dict(expected=expected, errors=errors.astype(float), dispersion=dispersion)
    labels, _ = cluster(Z, seed=51, error_type=error_type, **kw)
    codes = clustering.error_codes(error_type, 1500)
    np.savez(tmp_path / "hidden-51-samples.npz", Z=Z, codes=codes, seed=51,
             labels=labels, xy=Z[:, :2], raw_errors=errors.astype(float),
             member_hidden=group == 2, **kw)
    d = off.load(tmp_path / "hidden-51-samples.npz")
    again, ids = off.partition(d)
    assert np.array_equal(again, labels)
    summaries = summarize_clusters(labels, error_type, None, [], **kw)
    assert ids == [s.id for s in summaries if s.significant] and ids
    (row,) = off.rows_of(str(tmp_path / "hidden-51-samples.npz"))
    best = max(np.mean(group[labels == c] == 2) for c in ids[:3])
    assert row["precision"] == pytest.approx(best) and row["precision"] > 0.8
    assert off.verified(row) and row["rate_with"] > 2 * row["rate_without"]
    # another k-means seed is that seed's partition, scored the same way
    assert off.rows_of(str(tmp_path / "hidden-51-samples.npz"), cluster_seed=51) == [row]
    other, _ = off.partition(d, seed=7)
    assert np.array_equal(other, cluster(Z, seed=7, error_type=error_type, **kw)[0])


def weighted_scene(seed, n=800, d=30):
    """Two blobs along 6 of d normal columns (what k-means follows), and a hidden cause in
    15% of the points, told only by the last column (+3 sd), that quadruples their errors."""
    rng = np.random.default_rng(seed)
    blob = rng.random(n) < 0.5
    X = rng.normal(size=(n, d))
    X[:, :6] += np.where(blob, 0.8, -0.8)[:, None]
    cause = rng.random(n) < 0.15
    X[cause, -1] += 3.0
    errors = rng.poisson(np.where(cause, 4.0, 1.0))
    return X, errors, np.where(errors > 0, "missed", "correct").astype(object), cause


def test_error_weights_stretch_only_columns_that_follow_the_residual_failure():
    X, errors, _, cause = weighted_scene(0)
    expected = np.ones(errors.size)
    w = weights.error_weights(X, errors.astype(float), expected, weight=1.0)
    assert w[-1] > 1.1 and np.all(w[:-1] < 1.02)  # the blobs do not follow the errors
    assert np.all(weights.error_weights(X, errors.astype(float), expected, weight=1.0,
                                           columns=np.arange(X.shape[1] - 1)) < 1.02)
    assert np.all(weights.error_weights(X, errors.astype(float), expected, weight=0.0) == 1)


@pytest.mark.parametrize("weigh", ["rank", "cuts"])
def test_error_aware_partition_isolates_a_cause_plain_kmeans_dilutes(weigh):
    """k-means over 30 equal columns follows the blobs and dilutes the one column of the
    cause; weighed by their association with the residual failure (either association),
    its cluster is purer at every seed and holds more of it by rank weights, about as much
    by cut weights (which stretch the cause's column more: a purer, tighter cluster);
    k-means stage alone: no splits, no merges."""
    gains = []
    for seed in range(6):
        X, errors, error_type, cause = weighted_scene(seed)
        kw = dict(error_type=error_type, expected=np.ones(errors.size), errors=errors,
                  dispersion=1.0, split=False)
        best = []
        for w in (False, weigh):
            labels, k = cluster(X, weigh=w, **kw)
            precision = np.array([cause[labels == c].mean() for c in range(k)])
            c = int(np.argmax(precision))
            best.append((precision[c], (cause & (labels == c)).sum() / cause.sum()))
        (p_old, r_old), (p_new, r_new) = best
        assert p_new >= p_old and r_new > r_old - (0 if weigh == "rank" else 0.1), (seed, best)
        gains.append(p_new - p_old)
    assert np.mean(gains) >= 0.08, gains


def test_cuts_association_sees_a_cause_in_one_tail_and_stretches_one_of_its_copies():
    """A cause in the lowest 10% of a column (six times the errors): its cuts stretch it
    several times more than its rank correlation does, and unrelated columns stay at 1. A
    second column that tells the same cause (a noisy copy) is not stretched as well once the
    first has explained it: stagewise, one direction of the data is not stretched twice."""
    rng = np.random.default_rng(3)
    n = 2000
    X = rng.normal(size=(n, 10))
    cause = X[:, 0] < np.quantile(X[:, 0], 0.1)
    errors = rng.poisson(np.where(cause, 6.0, 1.0)).astype(float)
    expected = np.full(n, errors.mean())  # no content model: the mean, and its dispersion
    dispersion = errors.var() / errors.mean()
    rank = weights.error_weights(X, errors, expected, association="rank")
    cuts = weights.error_weights(X, errors, expected, association="cuts",
                                    dispersion=dispersion)
    assert cuts[0] - 1 > 10 * (rank[0] - 1) and cuts[0] > 3
    assert np.all(cuts[1:] == 1.0) and np.all(rank[1:] == 1.0)
    X[:, 1] = X[:, 0] + rng.normal(0, 0.1, n)
    both = weights.error_weights(X, errors, expected, association="cuts",
                                    dispersion=dispersion)
    assert max(both[:2]) > 3 and min(both[:2]) < 1 + 0.2 * (max(both[:2]) - 1)
    with pytest.raises(ValueError, match="association"):
        weights.error_weights(X, errors, expected, association="tails")
    with pytest.raises(ValueError, match="weigh"):
        cluster(X, error_type=np.where(errors > 0, "missed", "correct"), weigh="tails")


def test_only_maps_with_a_content_model_or_asking_for_it_are_weighted(monkeypatch):
    """Without a content model (classification maps) the columns are not stretched; an
    objects map asks for it (``weigh=True``), and there the cause's column is stretched
    by its association with the failures and the partition changes."""
    X, errors, error_type, _ = weighted_scene(1)
    f = (errors > 0).astype(float)
    w = weights.error_weights(X, f, np.full(f.size, f.mean()))
    assert w[-1] > 1.02 and np.all(w[:-1] == 1.0)
    plain, weighed = [], []
    for weight in (0.0, 1.0):
        monkeypatch.setattr(weights, "ERROR_WEIGHT", weight)
        plain.append(cluster(X, error_type=error_type, split=False)[0])
        weighed.append(cluster(X, error_type=error_type, split=False, weigh=True)[0])
    np.testing.assert_array_equal(plain[0], plain[1])
    np.testing.assert_array_equal(plain[0], weighed[0])
    assert not np.array_equal(weighed[0], weighed[1])


def test_consensus_keeps_the_partition_whose_failure_clusters_the_others_share():
    """Of three partitions, two of which call the same 40 points a failure cluster, the
    medoid is one of those two; clusters that do not fail do not count."""
    from plugin import consensus

    rng = np.random.default_rng(0)
    failed = (rng.random(400) < 0.1).astype(float)
    failed[:40] = 1.0  # a failing group
    expected = np.full(400, failed.mean())
    agree = np.where(np.arange(400) < 40, 0, 1 + (np.arange(400) % 3))
    other = np.where((np.arange(400) >= 20) & (np.arange(400) < 60), 0, 1 + np.arange(400) % 2)
    again = agree.copy()
    again[40:] = 1 + (np.arange(360) % 5)  # the same failure cluster, other non-failing ones
    marks = consensus.failure_labels(agree, failed, expected)
    assert set(np.unique(marks[:40])) == {1} and np.all(marks[40:] == 0)
    assert consensus.medoid([other, agree, again], failed, expected) in (1, 2)
    assert consensus.medoid([agree, agree, agree], failed, expected) == 0


def test_cluster_is_the_consensus_of_its_seeds(monkeypatch):
    """cluster() with k chosen is the medoid of its CONSENSUS_SEEDS seeds' partitions:
    one of them, and with one seed the given seed's partition."""
    from plugin import consensus

    X, errors, error_type, _ = weighted_scene(1)
    kw = dict(error_type=error_type, expected=np.ones(errors.size), errors=errors.astype(float),
              dispersion=1.0)
    monkeypatch.setattr(clustering, "CONSENSUS_SEEDS", 1)
    singles = [cluster(X, seed=s, **kw)[0] for s in (51, 52, 53)]
    monkeypatch.setattr(clustering, "CONSENSUS_SEEDS", 3)
    labels, _ = cluster(X, seed=51, **kw)
    failed, expected = clustering.failures(clustering.error_codes(error_type, errors.size),
                                           kw["expected"], kw["errors"])
    best = consensus.medoid(singles, failed, expected, 1.0)
    assert np.array_equal(labels, singles[best])
    assert any(not np.array_equal(singles[0], s) for s in singles[1:])  # the seeds differ
