"""Maps, clusters and plain-language summaries of where a model fails.

:func:`project` lays samples (or objects) out in 2-D with UMAP, :func:`cluster`
groups them with k-means and :func:`summarize_clusters` ranks the groups by the
errors they hold beyond what their size predicts, describing each in a few
phrases ("darker than 90% of other images", "mostly missed objects").

Why k-means rather than HDBSCAN: every point gets a cluster, so every error is
accounted for and there is no "noise" label to explain; on diffuse error data
HDBSCAN leaves a large share of points unassigned. K-means is also fast,
deterministic given a seed and stable under small changes of the data. The
number of clusters is picked by silhouette score on a seeded subsample.

The projection is UMAP (McInnes, Healy & Melville, 2018) with umap-learn's
graph, curve and sampling schedule, run by our own code so that it is both
reproducible and parallel: umap-learn is single-threaded once seeded (its
parallel mode races and differs on every run), and recompiles pynndescent
in every process (a minute). Here exact neighbours come from tiled BLAS
products, the fuzzy graph from vectorized numpy, and each optimization epoch
updates every point from the previous epoch's positions, so points are
independent within an epoch and are split among threads with the same result
for any number of threads. The numba kernels are cached on disk, one cache
per import name of the engine (:mod:`.jit`): only the first process under
each name compiles them.
"""

import os
import warnings

from . import jit  # sets NUMBA_CACHE_DIR before numba is imported

from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from .descriptors import BINARY_PHRASES, FEATURE_PHRASES, IMAGE_FEATURES  # noqa: E402
from .errors import ERROR_TYPES  # noqa: E402

#: Inputs with more dimensions are reduced to this many by PCA first.
PCA_DIMS = 50
#: Below this many points, :func:`project` uses PCA (UMAP needs neighbours).
MIN_UMAP_POINTS = 10
#: Largest subsample the silhouette score is computed on.
SILHOUETTE_SAMPLE = 3000
#: Above this many points, :func:`cluster` uses mini-batch k-means.
MINIBATCH_ABOVE = 20000
#: Up to this many points, :func:`project` finds neighbours exactly (else pynndescent).
EXACT_KNN_MAX = 100_000
MAX_AUTO_K = 20
#: Given error types, k is the smallest whose top cluster has this share of the
#: best excess errors, among the k whose silhouette has this share of the best.
EXCESS_SHARE, SILHOUETTE_SHARE = 0.9, 0.6
#: UMAP settings: neighbours, minimum distance, negative samples per positive one.
N_NEIGHBORS = 15
MIN_DIST = 0.1
NEGATIVE_SAMPLE_RATE = 5
#: Optimization epochs by number of points (umap-learn: 500, 200 above 10,000).
EPOCHS = ((2_000, 500), (10_000, 200), (None, 100))


def _check_matrix(X):
    X = np.asarray(X)
    if X.dtype.kind not in "f":
        X = X.astype(np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (N, D), got shape {X.shape}")
    if X.shape[1] == 0:
        raise ValueError("X has no columns")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinite values (see descriptors.standardize)")
    return X


def _pca(X, n_components, seed, solver="full"):
    """PCA scores (sign-normalized by sklearn), zero-padded to n_components columns."""
    from sklearn.decomposition import PCA

    N, D = X.shape
    out = np.zeros((N, n_components))
    m = min(n_components, N, D)
    if N >= 2 and np.ptp(X, axis=0).max() > 0:
        out[:, :m] = PCA(m, svd_solver=solver, random_state=seed).fit_transform(X)
    return out


_EIGH_MAX_DIMS = 2048


def reduce(X, seed=51):
    """X as is, or its first 50 principal components when it is wider.

    :func:`project` and :func:`cluster` call this themselves; for wide data
    (e.g. 512-D embeddings) reducing once and passing the result to both
    saves one PCA. Up to 2,048 columns: the eigenvectors of the covariance
    matrix (exact, deterministic, ~0.3 s at 50,000 x 512); wider: a seeded
    randomized SVD.

    Args:
        X: (N, D) finite features
        seed: seed of the randomized SVD

    Returns:
        (N, min(D, 50)) array (X itself when D <= 50 or N <= 50), columns in
        decreasing order of variance
    """
    X = _check_matrix(X)
    if X.shape[1] <= PCA_DIMS or X.shape[0] <= PCA_DIMS:
        return X
    solver = "covariance_eigh" if X.shape[1] <= _EIGH_MAX_DIMS else "randomized"
    return _pca(X, PCA_DIMS, seed, solver=solver).astype(X.dtype)


def _threads():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _in_threads(fn, tasks):
    """fn over tasks on one thread per core (BLAS single-threaded inside), in order."""
    with threadpool_limits(1), ThreadPoolExecutor(min(_threads(), len(tasks))) as pool:
        return list(pool.map(fn, tasks))


# ---------------------------------------------------------------- neighbours

_KNN_ROWS, _KNN_COLS = 512, 2048
#: Each epoch is cut into this many parts per thread: a thread slowed down by
#: other processes takes fewer of them, instead of holding up the epoch.
_LAYOUT_PARTS = 8  # tile of the distance matrix: 4 MB, in cache


_BLOCK = 32  # columns whose minimum is checked before any of them is merged


@jit.cached_njit(__name__, nogil=True, fastmath=True)
def _block_min(G, low):
    """low[r, b] = minimum of block b of the columns of G[r] (vectorized)."""
    n = G.shape[1]
    for r in range(G.shape[0]):
        for blk in range(low.shape[1]):
            m = np.float32(np.inf)
            if (blk + 1) * _BLOCK <= n:
                for c in range(blk * _BLOCK, (blk + 1) * _BLOCK):
                    m = G[r, c] if G[r, c] < m else m  # (min() does not vectorize)
            else:
                for c in range(blk * _BLOCK, n):
                    m = G[r, c] if G[r, c] < m else m
            low[r, blk] = m


@jit.cached_njit(__name__, nogil=True)
def _merge_nearest(G, low, row0, col0, idx, dist):
    """Merges one tile G of squared distances (minus |x|^2) into each row's sorted k best.

    Only blocks whose minimum beats the row's k-th best are scanned: after
    the first tiles almost none.
    """
    k = idx.shape[1]
    n = G.shape[1]
    for r in range(G.shape[0]):
        bi, bd = idx[row0 + r], dist[row0 + r]
        for blk in range(low.shape[1]):
            if not low[r, blk] < bd[k - 1]:
                continue
            for c in range(blk * _BLOCK, min(n, (blk + 1) * _BLOCK)):
                v = G[r, c]
                if v < bd[k - 1] and col0 + c != row0 + r:
                    p = k - 1
                    while p > 0 and bd[p - 1] > v:  # ties: the lower index first
                        bd[p] = bd[p - 1]
                        bi[p] = bi[p - 1]
                        p -= 1
                    bd[p] = v
                    bi[p] = col0 + c


def _knn(X, k):
    """Exact k nearest neighbours of every row, itself first: (indices, distances).

    Brute force in tiles: one float32 BLAS product per tile gives
    |y|^2 - 2 x.y (x's row extended by 1, y's by |y|^2), which compiled
    loops merge into each row's k best; blocks of rows go to threads. The k
    distances are then recomputed in float64 and sorted (ties: lower index),
    so only neighbours tied within float32 rounding can differ from an exact
    float64 search.
    """
    N = X.shape[0]
    Xc = np.asarray(X - X.mean(axis=0), dtype=np.float64)
    right = np.empty((N, X.shape[1] + 1), dtype=np.float32)
    right[:, :-1] = Xc
    right[:, -1] = np.einsum("ij,ij->i", right[:, :-1], right[:, :-1])
    left = -2 * right
    left[:, -1] = 1
    idx = np.full((N, k), -1, dtype=np.int64)
    dist = np.full((N, k), np.inf, dtype=np.float32)
    idx[:, 0], dist[:, 0] = np.arange(N), -np.inf

    def rows(start):
        stop = min(N, start + _KNN_ROWS)
        low = np.empty((stop - start, -(-_KNN_COLS // _BLOCK)), dtype=np.float32)
        for col in range(0, N, _KNN_COLS):
            end = min(N, col + _KNN_COLS)
            G = left[start:stop] @ right[col:end].T
            part = low[:, :-(-(end - col) // _BLOCK)]
            _block_min(G, part)
            _merge_nearest(G, part, start, col, idx, dist)

    _in_threads(rows, range(0, N, _KNN_ROWS))
    d = np.empty((N, k))
    for s in range(0, N, 4096):  # exact distances, in chunks of ~25 MB
        diff = Xc[idx[s:s + 4096]] - Xc[s:s + 4096, None, :]
        d[s:s + 4096] = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    order = np.argsort(d, axis=1, kind="stable")
    return np.take_along_axis(idx, order, 1), np.take_along_axis(d, order, 1).astype(np.float32)


def _approximate_knn(X, k, seed):
    """pynndescent's neighbours (seeded, one thread: reproducible), for large inputs."""
    from pynndescent import NNDescent

    index = NNDescent(np.asarray(X, dtype=np.float32), n_neighbors=k, random_state=seed,
                      n_jobs=1, low_memory=True, verbose=False)
    idx, dist = index.neighbor_graph
    return idx.astype(np.int64), dist.astype(np.float32)


# ---------------------------------------------------------------- UMAP

def _fuzzy_graph(idx, dist, n_iter=64, tol=1e-5):
    """UMAP's fuzzy simplicial set of a kNN graph (self first), as a CSR matrix.

    umap-learn's ``smooth_knn_dist`` + ``compute_membership_strengths`` +
    fuzzy union (local connectivity 1, bandwidth 1), vectorized: the
    bisection for every point's sigma runs on all unconverged points at once,
    with the same steps and stopping rule.
    """
    import scipy.sparse as sp

    N, k = dist.shape
    target = np.log2(k)
    first = np.argmax(dist > 0, axis=1)
    has = dist[np.arange(N), first] > 0
    rho = np.where(has, dist[np.arange(N), first], 0).astype(np.float32)
    gap = dist[:, 1:] - rho[:, None]  # float32, as umap-learn
    lo, hi, mid = np.zeros(N), np.full(N, np.inf), np.ones(N)
    active = np.arange(N)
    for _ in range(n_iter):
        if not active.size:
            break
        m = mid[active]
        g = gap[active]
        psum = np.where(g > 0, np.exp(-(np.maximum(g, 0) / m[:, None])), 1.0).sum(axis=1)
        done = np.abs(psum - target) < tol
        over, under = ~done & (psum > target), ~done & (psum <= target)
        a, b = active[over], active[under]
        hi[a] = m[over]
        mid[a] = (lo[a] + m[over]) / 2.0
        lo[b] = m[under]
        mid[b] = np.where(np.isinf(hi[b]), m[under] * 2, (m[under] + hi[b]) / 2.0)
        active = active[~done]
    floor = 1e-3 * np.where(rho > 0, dist.mean(axis=1), dist.mean())
    sigma = np.maximum(mid, floor).astype(np.float32)

    gap = dist - rho[:, None]
    safe = np.where(sigma > 0, sigma, 1)[:, None]
    vals = np.where((gap <= 0) | (sigma[:, None] == 0), np.float32(1),
                    np.exp(-(np.maximum(gap, 0) / safe))).astype(np.float32)
    vals[idx == np.arange(N)[:, None]] = 0
    vals[idx < 0] = 0
    P = sp.csr_matrix((vals.ravel(), (np.repeat(np.arange(N), k), np.maximum(idx, 0).ravel())),
                      shape=(N, N))
    P.eliminate_zeros()
    Pt = P.T.tocsr()
    G = (P + Pt - P.multiply(Pt)).tocsr()
    G.eliminate_zeros()
    G.sort_indices()
    return G


def _ab(min_dist, spread=1.0):
    """umap-learn's ``find_ab_params``: the curve 1 / (1 + a d^2b) fitted to the target."""
    from scipy.optimize import curve_fit

    x = np.linspace(0, spread * 3, 300)
    y = np.where(x < min_dist, 1.0, np.exp(-(x - min_dist) / spread))
    (a, b), _ = curve_fit(lambda x, a, b: 1.0 / (1.0 + a * x ** (2 * b)), x, y)
    return float(a), float(b)


@numba.njit(inline="always")
def _rand(state):
    """umap-learn's Tausworthe generator (``tau_rand_int``) on a row of int64 state."""
    state[0] = (((state[0] & 4294967294) << 12) & 0xFFFFFFFF) ^ (
        (((state[0] << 13) & 0xFFFFFFFF) ^ state[0]) >> 19)
    state[1] = (((state[1] & 4294967288) << 4) & 0xFFFFFFFF) ^ (
        (((state[1] << 2) & 0xFFFFFFFF) ^ state[1]) >> 25)
    state[2] = (((state[2] & 4294967280) << 17) & 0xFFFFFFFF) ^ (
        (((state[2] << 3) & 0xFFFFFFFF) ^ state[2]) >> 11)
    return state[0] ^ state[1] ^ state[2]


@numba.njit(inline="always")
def _clip(v):
    return 4.0 if v > 4.0 else -4.0 if v < -4.0 else v


@jit.cached_njit(__name__, nogil=True, fastmath=True)
def _epoch(prev, out, lo, hi, indptr, tail, eps, next_s, eps_neg, next_neg, rng,
           a, b, alpha, n):
    """One UMAP epoch for points lo..hi: out[j] = prev[j] moved by its samples.

    umap-learn's SGD step (attraction along the edges due this epoch, then
    negative samples), reading other points from ``prev`` only. The graph is
    symmetric and umap-learn moves both ends of an edge, so every point gets
    two pulls per edge period: the attraction counts twice here.
    """
    N, dim = prev.shape
    for j in range(lo, hi):
        for d in range(dim):
            out[j, d] = prev[j, d]
        for e in range(indptr[j], indptr[j + 1]):
            if next_s[e] > n:
                continue
            k = tail[e]
            d2 = np.float32(0.0)
            for d in range(dim):
                t = out[j, d] - prev[k, d]
                d2 += t * t
            if d2 > 0.0:
                p = np.exp(b * np.log(d2))  # d2 ** b, float32
                g = -2.0 * a * b * (p / d2) / (a * p + 1.0)
                for d in range(dim):
                    out[j, d] += 2.0 * _clip(g * (out[j, d] - prev[k, d])) * alpha
            next_s[e] += eps[e]
            n_neg = int((n - next_neg[e]) / eps_neg[e])
            for _ in range(n_neg):
                k = _rand(rng[j]) % N
                if k == j:
                    continue
                d2 = np.float32(0.0)
                for d in range(dim):
                    t = out[j, d] - prev[k, d]
                    d2 += t * t
                if d2 > 0.0:
                    g = 2.0 * b / ((0.001 + d2) * (a * np.exp(b * np.log(d2)) + 1.0))
                    for d in range(dim):
                        out[j, d] += _clip(g * (out[j, d] - prev[k, d])) * alpha
            next_neg[e] += n_neg * eps_neg[e]


def _layout(G, init, n_epochs, seed):
    """Optimizes the embedding ``init`` of graph G for n_epochs (umap-learn's schedule)."""
    a, b = _ab(MIN_DIST)
    w = G.data.astype(np.float64)
    keep = w >= w.max() / n_epochs  # umap-learn drops edges sampled less than once
    G = G.copy()
    G.data = np.where(keep, w, 0.0)
    G.eliminate_zeros()
    eps = G.data.max() / G.data
    eps_neg = eps / NEGATIVE_SAMPLE_RATE
    next_s, next_neg = eps.copy(), eps_neg.copy()
    N = init.shape[0]
    rng = np.random.default_rng(seed).integers(16, 2 ** 31 - 1, (N, 3))
    indptr, tail = G.indptr.astype(np.int64), G.indices.astype(np.int64)
    threads = _threads()
    parts = 1 if threads == 1 else _LAYOUT_PARTS * threads  # taken by idle threads first
    cuts = np.searchsorted(indptr, np.linspace(0, indptr[-1], parts + 1)[1:-1])
    bounds = np.unique(np.r_[0, cuts, N])  # parts of equal numbers of edges
    ranges = list(zip(bounds[:-1], bounds[1:]))
    prev = np.ascontiguousarray(init, dtype=np.float32)
    out = np.empty_like(prev)
    a, b = np.float32(a), np.float32(b)
    with threadpool_limits(1), ThreadPoolExecutor(threads) as pool:
        for n in range(n_epochs):
            alpha = np.float32(1.0 - n / n_epochs)
            list(pool.map(lambda r: _epoch(prev, out, r[0], r[1], indptr, tail, eps, next_s,
                                           eps_neg, next_neg, rng, a, b, alpha, n), ranges))
            prev, out = out, prev
    return prev


def project(X, seed=51, n_components=2):
    """2-D (or n_components-D) map of the rows of X, for plotting.

    UMAP (``n_neighbors=15, min_dist=0.1``, euclidean) on X, or on its first
    50 principal components when X is wider; fewer than 10 points are
    projected by PCA. Reproducible: the same X and seed give the same map,
    whatever the number of cores.

    - Neighbours: exact up to :data:`EXACT_KNN_MAX` points (seconds at 50,000
      x 50), else pynndescent.
    - Start: the first principal components, scaled as umap-learn's
      ``init="pca"``; epochs by size (:data:`EPOCHS`): 500 up to 2,000
      points, 200 up to 10,000, 100 above (umap-learn: 500, 200 above
      10,000); from a PCA start, twice as many epochs raise the
      trustworthiness of the map by ~0.002 (measured by
      ``benchmarks/bench_error_map.py``).

    Args:
        X: (N, D) finite features (put descriptors through
            :func:`descriptors.normal_scores` first)
        seed: random seed
        n_components: output dimensions

    Returns:
        (N, n_components) float32 coordinates
    """
    X = _check_matrix(X)
    N = X.shape[0]
    if N < MIN_UMAP_POINTS or np.ptp(X, axis=0).max() == 0:
        return _pca(X, n_components, seed).astype(np.float32)
    Xr = reduce(X, seed)
    k = min(N_NEIGHBORS, N - 1)
    idx, dist = _knn(Xr, k) if N <= EXACT_KNN_MAX else _approximate_knn(Xr, k, seed)
    G = _fuzzy_graph(idx, dist)
    init = Xr[:, :n_components] if Xr is not X else _pca(Xr, n_components, seed)
    init = np.zeros((N, n_components)) + init  # zero-padded when Xr is narrower
    scale = np.abs(init).max()
    init = init * (10.0 / scale if scale > 0 else 1.0) \
        + np.random.default_rng(seed).normal(0, 1e-4, init.shape)
    n_epochs = next(e for limit, e in EPOCHS if limit is None or N <= limit)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=numba.NumbaWarning)
        return _layout(G, init, n_epochs, seed).astype(np.float32)


def _silhouette(D, labels, k):
    """Mean silhouette coefficient from a distance matrix: scikit-learn's
    ``silhouette_score(D, labels, metric="precomputed")``, with every point's
    distance sums to the k clusters taken as one BLAS product (~20x faster)."""
    n = labels.size
    onehot = np.zeros((n, k))
    onehot[np.arange(n), labels] = 1
    sums = D @ onehot
    sizes = onehot.sum(axis=0)
    own = sizes[labels]
    intra = sums[np.arange(n), labels] / np.maximum(own - 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = sums / sizes
    mean[np.arange(n), labels] = np.inf
    mean[:, sizes == 0] = np.inf
    inter = mean.min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (inter - intra) / np.maximum(intra, inter)
    s[own == 1] = 0
    return float(np.mean(np.nan_to_num(s)))


def _kmeans(Xr, k, seed, codes=None):
    """k-means labels of the rows of Xr, and k (chosen when None: see :func:`cluster`)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.metrics import pairwise_distances

    N = Xr.shape[0]
    init, n_init = "k-means++", 4
    if k is None:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(N, SILHOUETTE_SAMPLE, replace=False)) \
            if N > SILHOUETTE_SAMPLE else np.arange(N)
        S = Xr[rows]
        distinct = np.unique(S, axis=0).shape[0]
        fits = [KMeans(kk, n_init=2, random_state=seed).fit(S)
                for kk in range(2, min(MAX_AUTO_K, N // 10, distinct) + 1)]
        if fits:
            D = pairwise_distances(S)  # once, for every k
            sil = np.array([_silhouette(D, km.labels_, km.n_clusters) for km in fits])
            best = int(np.flatnonzero(sil >= sil.max() - 1e-9)[0])
            excess = None if codes is None else _top_excess(fits, codes[rows])
            if excess is not None:  # of the well separated, the fewest that isolate the errors
                excess = np.where(sil >= SILHOUETTE_SHARE * sil.max(), excess, -np.inf)
                best = int(np.flatnonzero(excess >= EXCESS_SHARE * excess.max())[0])
            k, init, n_init = fits[best].n_clusters, fits[best].cluster_centers_, 1
        else:
            k = 1
    if k == 1:
        return np.zeros(N, dtype=np.int64), 1
    if N > MINIBATCH_ABOVE:
        km = MiniBatchKMeans(k, init=init, n_init=n_init, batch_size=4096, random_state=seed)
    else:
        km = KMeans(k, init=init, n_init=n_init, random_state=seed)
    return km.fit_predict(Xr), k


def _top_excess(fits, codes):
    """Per fit, the excess errors of its most erroneous cluster; None without contrast."""
    ev = codes >= 0
    err = codes > 0
    if not ev.any() or not err.any() or err.sum() == ev.sum():
        return None
    rate = err.sum() / ev.sum()
    return np.array([(np.bincount(km.labels_[err], minlength=km.n_clusters)
                      - rate * np.bincount(km.labels_[ev], minlength=km.n_clusters)).max()
                     for km in fits])


def cluster(X, k=None, seed=51, error_type=None):
    """Partitions the rows of X with k-means, choosing k when not given.

    X is used as is (reduced to 50 principal components when wider), so its
    columns must already be on comparable scales: descriptors through
    :func:`descriptors.normal_scores`, embeddings as they come. With
    ``k=None``, k-means runs for k = 2 .. min(20, N // 10) on a seeded
    subsample of at most 3,000 rows, and

    - with error types: among the k whose silhouette is at least 60% of the
      best (:data:`SILHOUETTE_SHARE`: well separated), the smallest whose
      most erroneous cluster holds at least 90% (:data:`EXCESS_SHARE`) of
      the largest excess errors (errors beyond what the cluster's size
      predicts, as :func:`summarize_clusters` ranks them): the fewest
      clusters that still isolate the failures, rather than the split that
      is merely best separated (on descriptors, usually k = 2). The shares
      were chosen on ``benchmarks/bench_planted_failure.py`` and
      ``bench_error_map.py`` (see benchmarks/README.md);
    - without (or when every evaluated point is an error, or none): the best
      silhouette (smallest k on ties).

    The final fit starts from that subsample's centroids. Above 20,000 rows
    mini-batch k-means is used. Clusters are numbered by decreasing size.

    Args:
        X: (N, D) finite features
        k: number of clusters, or None to choose (1 when N < 20)
        seed: random seed; the result is deterministic
        error_type: optional (N,) error types as for :func:`summarize_clusters`
            (names or codes, None / -1 for points not evaluated)

    Returns:
        ``(labels, k)``: (N,) int64 cluster of every row, and the k used
    """
    X = _check_matrix(X)
    N = X.shape[0]
    if k is not None:
        if int(k) != k or not 1 <= k <= max(N, 1):
            raise ValueError(f"k must be an integer in [1, N={N}], got {k}")
        k = int(k)
    if N == 0:
        return np.zeros(0, dtype=np.int64), 0
    codes = None if error_type is None else _error_codes(error_type, N)
    Xr = reduce(X, seed)
    with threadpool_limits(1):  # small fits: OpenMP threads only add overhead (10x when busy)
        labels, k = _kmeans(Xr, k, seed, codes)
    if k == 1:
        return labels, 1
    sizes = np.bincount(labels, minlength=k)
    rename = np.empty(k, dtype=np.int64)
    rename[np.argsort(-sizes, kind="stable")] = np.arange(k)
    labels = rename[labels]
    return labels, int(labels.max()) + 1


# ---------------------------------------------------------------- descriptions

_ERROR_PHRASES = {
    "correct": "correct", "classification": "wrong-class detections",
    "localization": "poorly localized boxes", "both": "wrong class and poor box",
    "duplicate": "duplicate detections", "background": "background false positives",
    "missed": "missed objects",
}
#: Features of an object's crop or of its image, named after the image feature.
_PREFIX_NOUNS = {"crop_": "objects", "image_": "images"}
MAX_PHRASES = 4
_MIN_COUNT = 3      # members needed to say anything
_MIN_H = 0.5        # Cohen's h ("medium effect") for over-represented values
_MIN_DIFF = 0.1     # ... and at least 10 points more than elsewhere
_PERCENTILE = 0.8   # numeric: cluster median beyond 80% (or under 20%) of the rest


def _cohen_h(p, q):
    """Effect size of a difference of proportions (comparable across signals)."""
    return 2 * np.arcsin(np.sqrt(np.clip(p, 0, 1))) - 2 * np.arcsin(np.sqrt(np.clip(q, 0, 1)))


def _over_represented(counts, totals):
    """(cluster, value, p, q, h) where a value's share in a cluster beats the rest's."""
    counts = np.asarray(counts, dtype=np.float64)
    totals = np.asarray(totals, dtype=np.float64)
    rest_tot = totals.sum() - totals
    with np.errstate(divide="ignore", invalid="ignore"):
        p = counts / totals[:, None]
        q = (counts.sum(axis=0) - counts) / rest_tot[:, None]
    h = _cohen_h(np.nan_to_num(p), np.nan_to_num(q))
    hit = ((counts >= _MIN_COUNT) & (rest_tot[:, None] > 0) & (h >= _MIN_H)
           & (p - q >= _MIN_DIFF))
    return [(c, v, p[c, v], q[c, v], h[c, v]) for c, v in zip(*np.nonzero(hit))]


def _numeric(out, values, groups, name, noun, template=None):
    """Percentile rule for one numeric column; appends (cluster, h, family, phrase)."""
    low, high, family = template or FEATURE_PHRASES.get(
        name, (f"low {name} (bottom {{top}}%)", f"high {name} (top {{top}}%)", name))
    finite = np.isfinite(values)
    ranked = np.sort(values[finite])
    for c, idx in enumerate(groups):
        v = values[idx][finite[idx]]
        n_rest = ranked.size - v.size
        if v.size < _MIN_COUNT or n_rest < _MIN_COUNT:
            continue
        q25, med, q75 = np.percentile(v, [25, 50, 75])
        below = np.searchsorted(ranked, med, "left") - np.count_nonzero(v < med)
        ties = np.searchsorted(ranked, med, "right") - np.searchsorted(ranked, med, "left") \
            - np.count_nonzero(v == med)
        p = (below + 0.5 * ties) / n_rest
        template = high if p >= _PERCENTILE else low if p <= 1 - _PERCENTILE else None
        if template is None:
            continue
        pct = round(100 * max(p, 1 - p))
        side25, side75 = (round(float(np.sqrt(np.exp(min(q, 700))))) for q in (q25, q75))
        phrase = template.format(pct=pct, top=max(100 - pct, 1), noun=noun, med=med, q25=q25,
                                 q75=q75, side25=side25, side75=side75)
        out.append((c, abs(_cohen_h(p, 0.5)), family, phrase))


def _binary(out, values, labels, C, name):
    """Over-represented 0s or 1s of a 0/1 column."""
    finite = np.isfinite(values)
    counts = np.bincount(labels[finite] * 2 + values[finite].astype(np.int64),
                         minlength=2 * C).reshape(C, 2)
    names = BINARY_PHRASES.get(name, (None, name))
    for c, v, p, q, h in _over_represented(counts, counts.sum(axis=1)):
        if names[v] is not None:
            out.append((c, h, name, f"{names[v]} in {p:.0%} (vs {q:.0%} elsewhere)"))


def _categorical(out, values, labels, C, name):
    """Over-represented values of a categorical (None = missing) or list-valued field."""
    listy = (list, tuple, set, np.ndarray)
    is_list = any(isinstance(v, listy) for v in values)
    items = [list(v) if isinstance(v, listy) else [] if v is None else [v] for v in values]
    sizes = np.array([len(v) for v in items], dtype=np.int64)
    if not sizes.any():
        return
    rows = np.repeat(np.arange(labels.size), sizes)
    uniq, code = np.unique(np.array([str(x) for v in items for x in v]), return_inverse=True)
    V = uniq.size
    pairs = np.unique(rows * V + code.ravel())  # a tag repeated in one row counts once
    counts = np.bincount(labels[pairs // V] * V + pairs % V, minlength=C * V).reshape(C, V)
    totals = np.bincount(labels if is_list else labels[sizes > 0], minlength=C)
    what = (name[:-1] if name.endswith("s") else name) + " '{}'" if is_list else name + "='{}'"
    for c, v, p, q, h in _over_represented(counts, totals):
        out.append((c, h, f"{name}:{uniq[v]}",
                    f"{what.format(uniq[v])} in {p:.0%} (vs {q:.0%} elsewhere)"))


def _as_array(values):
    """A 1-D numeric / str array, or an object array of the values (tags, None)."""
    try:
        arr = np.asarray(values)
        if arr.ndim == 1 and arr.dtype.kind in "biufUS":
            return arr
    except ValueError:  # ragged lists
        pass
    return np.fromiter(values, dtype=object, count=len(values))


def _phrases(labels, C, type_counts, class_counts, class_names, features, names, kinds, extra):
    """Up to MAX_PHRASES descriptions per cluster, strongest contrast first."""
    out = []  # (cluster, effect size, family, phrase)
    for c, v, p, q, h in _over_represented(class_counts, class_counts.sum(axis=1)):
        out.append((c, h, f"class:{v}", f"{p:.0%} '{class_names[v]}' (vs {q:.0%} elsewhere)"))
    for c, v, p, q, h in _over_represented(type_counts, type_counts.sum(axis=1)):
        what = _ERROR_PHRASES[ERROR_TYPES[v]]
        out.append((c, h, f"error:{v}", f"mostly {what} ({p:.0%})" if p >= 0.5 else
                    f"many {what} ({p:.0%} vs {q:.0%} elsewhere)"))

    bounds = np.cumsum(np.bincount(labels, minlength=C))[:-1]
    groups = np.split(np.argsort(labels, kind="stable"), bounds)
    is_pred = features[:, names.index("is_prediction")] if "is_prediction" in names else None
    for j, name in enumerate(names):
        col = features[:, j]
        if name == "confidence" and is_pred is not None:
            col = np.where(is_pred == 1, col, np.nan)  # ground truth has no confidence
        finite = col[np.isfinite(col)]
        prefix = next((p for p in _PREFIX_NOUNS if name.startswith(p)), "")
        base = name[len(prefix):]
        flag = name in BINARY_PHRASES or base not in FEATURE_PHRASES
        if flag and finite.size and np.all((finite == 0) | (finite == 1)):
            _binary(out, col, labels, C, name)
        elif prefix and base in FEATURE_PHRASES:  # crop_ / image_ versions of a feature
            low, high, family = FEATURE_PHRASES[base]
            _numeric(out, col, groups, name, _PREFIX_NOUNS[prefix], (low, high, prefix + family))
        else:
            _numeric(out, col, groups, name, kinds[j] + "s")

    for name, values in (extra or {}).items():
        arr = values if isinstance(values, np.ndarray) else _as_array(values)
        if len(arr) != labels.size:
            raise ValueError(f"extra[{name!r}] has {len(arr)} values, expected {labels.size}")
        if arr.dtype == bool:
            _binary(out, arr.astype(np.float64), labels, C, name)
        elif np.issubdtype(arr.dtype, np.number):
            _numeric(out, arr.astype(np.float64), groups, name, "samples")
        else:
            _categorical(out, arr, labels, C, name)

    phrases = [[] for _ in range(C)]
    seen = [set() for _ in range(C)]
    order = sorted(range(len(out)), key=lambda i: (-round(out[i][1], 6), i))  # ties: input order
    for c, h, family, phrase in (out[i] for i in order):
        if family not in seen[c] and len(phrases[c]) < MAX_PHRASES:
            seen[c].add(family)
            phrases[c].append(phrase)
    return phrases


def _error_codes(error_type, N):
    """(N,) int codes into ERROR_TYPES, -1 for not evaluated."""
    if error_type is None:
        return np.full(N, -1, dtype=np.int64)
    arr = np.asarray(error_type)
    if arr.shape != (N,):
        raise ValueError(f"error_type must have shape ({N},), got {arr.shape}")
    if arr.dtype.kind in "iu":
        if N and (arr.min() < -1 or arr.max() >= len(ERROR_TYPES)):
            raise ValueError(f"error type codes must be in [-1, {len(ERROR_TYPES)})")
        return arr.astype(np.int64)
    arr = arr.astype(object)
    present = ~np.equal(arr, None)
    uniq, inv = np.unique(arr[present].astype(str), return_inverse=True)
    unknown = sorted(set(uniq) - set(ERROR_TYPES))
    if unknown:
        raise ValueError(f"unknown error types {unknown}; expected {ERROR_TYPES} or None")
    codes = np.full(N, -1, dtype=np.int64)
    codes[present] = np.array([ERROR_TYPES.index(u) for u in uniq], dtype=np.int64)[inv.ravel()]
    return codes


@dataclass
class ClusterSummary:
    """One cluster: its size, errors and what sets it apart.

    Attributes:
        id: cluster label
        rank: 1 for the cluster with the most excess errors, 2 for the next, ...
        size: number of members
        evaluated: members with an error type (not None)
        error_count: evaluated members that are not ``correct``
        error_rate: error_count / evaluated (NaN when nothing was evaluated)
        lift: error_rate / overall error rate (NaN when undefined)
        excess_errors: error_count - evaluated * overall error rate, the errors
            beyond what the cluster's size predicts
        error_counts: error type -> count
        classes: up to three ``(class name, share of members)``, commonest first
        description: up to four phrases, strongest contrast with the rest first
    """

    id: int
    rank: int
    size: int
    evaluated: int
    error_count: int
    error_rate: float
    lift: float
    excess_errors: float
    error_counts: dict = field(default_factory=dict)
    classes: list = field(default_factory=list)
    description: list = field(default_factory=list)

    def to_dict(self):
        """JSON-ready dict (NaN becomes None)."""
        d = asdict(self)
        for key in ("error_rate", "lift", "excess_errors"):
            d[key] = None if np.isnan(d[key]) else float(d[key])
        d["classes"] = [[name, float(share)] for name, share in self.classes]
        return d


def summarize_clusters(labels, error_type, classes, class_names, features=None,
                       feature_names=None, feature_kinds=None, extra=None):
    """Statistics and descriptions of every cluster, failure clusters first.

    Args:
        labels: (N,) non-negative int cluster of every sample / object
        error_type: (N,) error type names from
            :data:`errors.ERROR_TYPES` (or their integer codes) with None
            (or -1) for members that were not evaluated; or None altogether
        classes: (N,) int class index (-1 for none), or None
        class_names: names indexed by ``classes``
        features: optional (N, F) numeric features (NaN = missing), e.g.
            :func:`descriptors.image_descriptor` / :func:`object_descriptors` rows
        feature_names: (F,) names; known names get tailored phrases
        feature_kinds: (F,) what each feature describes, used as the noun of
            its phrases ("image", "object"); default "image" for
            :data:`descriptors.IMAGE_FEATURES` names, "object" otherwise
        extra: optional dict name -> (N,) array of sample fields or tags:
            numeric, categorical (str / bool / None) or list-valued (tags)

    Returns:
        list of :class:`ClusterSummary` sorted by ``rank``: decreasing excess
        errors (by size when there are no error types)
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError("labels must be a 1-D integer array")
    if labels.size and labels.min() < 0:
        raise ValueError("labels must be non-negative")
    N, T, K = labels.size, len(ERROR_TYPES), len(class_names)
    C = int(labels.max()) + 1 if N else 0
    codes = _error_codes(error_type, N)
    ev = codes >= 0
    type_counts = np.bincount(labels[ev] * T + codes[ev], minlength=C * T).reshape(C, T)
    classes = np.full(N, -1) if classes is None else np.asarray(classes)
    if N and classes.dtype.kind not in "iu":
        raise TypeError(f"classes must be integer class indices, got {classes.dtype}")
    if classes.shape != (N,) or (N and (classes.min() < -1 or classes.max() >= K)):
        raise ValueError(f"classes must be ({N},) indices into the {K} class_names, or -1")
    has = classes >= 0
    class_counts = np.bincount(labels[has] * K + classes[has], minlength=C * K).reshape(C, K)
    if features is None:
        features, feature_names = np.zeros((N, 0)), []
    features = np.asarray(features, dtype=np.float64)
    names = list(feature_names) if feature_names is not None else \
        [f"feature_{j}" for j in range(features.shape[-1])]
    if features.ndim != 2 or features.shape[0] != N or len(names) != features.shape[1]:
        raise ValueError(f"features must be (N={N}, F) with F feature_names, got "
                         f"{features.shape} and {len(names)} names")
    kinds = list(feature_kinds) if feature_kinds is not None else \
        ["image" if n in IMAGE_FEATURES else "object" for n in names]
    if len(kinds) != len(names):
        raise ValueError(f"feature_kinds must have {len(names)} entries, got {len(kinds)}")

    n_eval = type_counts.sum(axis=1)
    n_err = n_eval - type_counts[:, 0]
    overall = n_err.sum() / n_eval.sum() if n_eval.sum() else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = n_err / n_eval
        lift = rate / overall if overall > 0 else np.full(C, np.nan)
    excess = n_err - n_eval * np.nan_to_num(overall)
    sizes = np.bincount(labels, minlength=C)
    phrases = _phrases(labels, C, type_counts, class_counts, class_names, features, names,
                       kinds, extra)

    order = np.lexsort((np.arange(C), -sizes, -np.nan_to_num(rate, nan=-1.0), -excess))
    summaries = []
    for rank, c in enumerate(order[sizes[order] > 0], start=1):
        top = np.argsort(-class_counts[c], kind="stable")[:3]
        summaries.append(ClusterSummary(
            id=int(c), rank=rank, size=int(sizes[c]), evaluated=int(n_eval[c]),
            error_count=int(n_err[c]), error_rate=float(rate[c]), lift=float(lift[c]),
            excess_errors=float(excess[c]),
            error_counts=dict(zip(ERROR_TYPES, type_counts[c].tolist())),
            classes=[(str(class_names[i]), float(class_counts[c, i] / class_counts[c].sum()))
                     for i in top if class_counts[c, i] > 0],
            description=phrases[c],
        ))
    return summaries
