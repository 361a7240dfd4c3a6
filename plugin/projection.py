"""The 2-D map of samples or objects: umap-learn's UMAP on exact neighbours.

:func:`project` lays samples (or objects) out in 2-D with ``umap.UMAP``
(McInnes, Healy & Melville, 2018), given exact neighbours from tiled BLAS
products (seconds at 50,000 points, instead of pynndescent's compilation and
approximate search), a PCA start and a fixed seed: the same input gives the
same map. :func:`fit_umap` returns the fitted model, whose ``transform``
places new points on an existing map.

Why not a faster optimizer of our own: one was measured side by side in
``benchmarks/bench_error_map.py`` (a parallel epoch-synchronous SGD on the
same graph): 1.1-1.6x faster at 20,000 points on 2 cores, at equal
trustworthiness, short of the 2x that would justify keeping it. The
neighbour kernels are numba, cached on disk, one cache per import name of
the engine (:mod:`.jit`).
"""

import os
import warnings

from . import jit  # sets NUMBA_CACHE_DIR before numba is imported

from concurrent.futures import ThreadPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

#: Inputs with more dimensions are reduced to this many by PCA first: above the
#: objects descriptor's 54 columns, which the failure splits must see as features.
PCA_DIMS = 64
#: Below this many points, :func:`project` uses PCA (UMAP needs neighbours).
MIN_UMAP_POINTS = 10
#: Up to this many points, :func:`project` finds neighbours exactly (else pynndescent).
EXACT_KNN_MAX = 100_000
#: UMAP settings (umap-learn's defaults): neighbours, minimum distance,
#: negative samples per positive one.
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
    """X as is, or its first :data:`PCA_DIMS` (64) principal components when it is wider.

    :func:`project` and :func:`cluster` call this themselves; for wide data
    (e.g. 512-D embeddings) reducing once and passing the result to both
    saves one PCA. Up to 2,048 columns: the eigenvectors of the covariance
    matrix (exact, deterministic, ~0.3 s at 50,000 x 512); wider: a seeded
    randomized SVD.

    Args:
        X: (N, D) finite features
        seed: seed of the randomized SVD

    Returns:
        (N, min(D, 64)) array (X itself when D <= 64 or N <= 64), columns in
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
# tile of the distance matrix: 4 MB, in cache


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

def project(X, seed=51, n_components=2):
    """2-D (or n_components-D) map of the rows of X, for plotting.

    umap-learn's UMAP (``n_neighbors=15, min_dist=0.1``, euclidean) on X, or
    on its first 64 principal components when X is wider (:func:`reduce`);
    fewer than 10 points, or constant ones, are projected by PCA.
    Reproducible: the same X and seed give the same map (umap-learn seeded
    runs single-threaded; the neighbour search uses every core).

    - Neighbours: exact up to :data:`EXACT_KNN_MAX` points (seconds at 50,000
      x 50), else pynndescent; given to umap-learn as ``precomputed_knn``.
    - Start: the first principal components, scaled as umap-learn's
      ``init="pca"``; epochs by size (:data:`EPOCHS`): 500 up to 2,000
      points, 200 up to 10,000, 100 above (umap-learn: 500, 200 above
      10,000); from a PCA start, twice as many epochs raise the
      trustworthiness of the map by ~0.002 (measured by
      ``benchmarks/bench_error_map.py``).

    The same map with ``transform`` for new points: :func:`fit_umap`.

    Args:
        X: (N, D) finite features (put descriptors through
            :func:`descriptors.normal_scores` first)
        seed: random seed
        n_components: output dimensions

    Returns:
        (N, n_components) float32 coordinates
    """
    X = _check_matrix(X)
    if X.shape[0] < MIN_UMAP_POINTS or np.ptp(X, axis=0).max() == 0:
        return _pca(X, n_components, seed).astype(np.float32)
    Xr = reduce(X, seed)
    return _umap(Xr, Xr is not X, seed, n_components).embedding_.astype(np.float32)


def _umap(Xr, reduced, seed, n_components):
    """``umap.UMAP`` fitted on Xr with exact neighbours and a PCA start (Xr's own
    first columns when ``reduced``: they already are its principal components)."""
    import umap
    import umap.layouts
    import umap.umap_

    jit.cache_library_kernels(umap.umap_, umap.layouts)
    N = Xr.shape[0]
    k = min(N_NEIGHBORS, N - 1)
    idx, dist = _knn(Xr, k) if N <= EXACT_KNN_MAX else _approximate_knn(Xr, k, seed)
    init = Xr[:, :n_components] if reduced else _pca(Xr, n_components, seed)
    init = np.zeros((N, n_components)) + init  # zero-padded when Xr is narrower
    scale = np.abs(init).max()
    init = init * (10.0 / scale if scale > 0 else 1.0) \
        + np.random.default_rng(seed).normal(0, 1e-4, init.shape)
    n_epochs = next(e for limit, e in EPOCHS if limit is None or N <= limit)
    model = umap.UMAP(n_neighbors=k, n_components=n_components, min_dist=MIN_DIST,
                      negative_sample_rate=NEGATIVE_SAMPLE_RATE, random_state=seed,
                      init=init, n_epochs=n_epochs,
                      precomputed_knn=(idx, dist, _ExactIndex(Xr)))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*knn_search_index.*")  # ours, not pynndescent's
        warnings.filterwarnings("ignore", message=".*n_jobs value.*")      # seeded: one thread
        warnings.filterwarnings("ignore", message=".*n_neighbors is larger.*")
        model.fit(Xr)
    return model


class _ExactIndex:
    """Exact neighbours of new points among the fitted ones, in the shape of
    pynndescent's ``NNDescent.query`` that ``umap.UMAP.transform`` calls."""

    _angular_trees = False

    def __init__(self, data):
        self.data = np.asarray(data, dtype=np.float32)
        self.sq = np.einsum("ij,ij->i", self.data, self.data)

    def query(self, X, k, epsilon=None):
        X = np.asarray(X, dtype=np.float32)
        idx = np.empty((len(X), k), dtype=np.int32)
        dist = np.empty((len(X), k), dtype=np.float32)
        for s in range(0, len(X), 1024):  # 1,024 x N distances at a time
            d2 = self.sq[None, :] - 2 * X[s:s + 1024] @ self.data.T \
                + np.einsum("ij,ij->i", X[s:s + 1024], X[s:s + 1024])[:, None]
            part = np.argpartition(d2, k - 1, axis=1)[:, :k]
            d = np.take_along_axis(d2, part, 1)
            order = np.argsort(d, axis=1, kind="stable")
            idx[s:s + 1024] = np.take_along_axis(part, order, 1)
            dist[s:s + 1024] = np.sqrt(np.maximum(np.take_along_axis(d, order, 1), 0))
        return idx, dist


def fit_umap(X, seed=51):
    """The fitted UMAP behind :func:`project` (same map), for ``transform``.

    ``model.transform(new_rows)`` places new points (e.g. production images)
    on the existing map, with their exact neighbours among the fitted points
    (:class:`_ExactIndex`). When X is wider than :data:`PCA_DIMS`, the result
    is a scikit-learn pipeline of the fitted PCA and UMAP, so ``transform``
    takes rows like X. New points must be scaled like X: descriptors through
    the same transformation as the fitted ones (``normal_scores`` ranks a set
    against itself, so keep the fitted set and rank new rows against it).

    Returns:
        the fitted ``umap.UMAP`` (or pipeline); ``embedding_`` of the UMAP
        step is the map
    """
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline

    X = _check_matrix(X)
    if X.shape[0] < MIN_UMAP_POINTS or np.ptp(X, axis=0).max() == 0:
        raise ValueError(f"UMAP needs at least {MIN_UMAP_POINTS} distinct points, "
                         f"got {X.shape[0]}")
    if X.shape[1] <= PCA_DIMS or X.shape[0] <= PCA_DIMS:
        return _umap(X, False, seed, 2)
    solver = "covariance_eigh" if X.shape[1] <= _EIGH_MAX_DIMS else "randomized"
    pca = PCA(PCA_DIMS, svd_solver=solver, random_state=seed).fit(X)
    return Pipeline([("pca", pca), ("umap", _umap(pca.transform(X).astype(X.dtype), True,
                                                  seed, 2))])
