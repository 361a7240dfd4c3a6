"""Splitting one failure cluster into sub-clusters, and undoing it.

A cluster that mixes two causes (one part fails for one reason, another part
for another, or not at all) is split with the method that made the map:
:func:`clustering.cluster` on the cluster's own rows of the map's features,
k chosen as the map chose it (at least 2), each member measured against what
the whole map's content predicts for it. Ids stay stable: the largest piece
keeps the cluster's id, the others get new ids after the largest existing one,
so every other cluster keeps its id and undoing a split is the mapping of the
new ids back to the old one (:func:`undo_split`). The significance test and
the descriptions are then re-run over all clusters by
:func:`descriptions.summarize_clusters`, as for the map (Benjamini-Hochberg
over one more cluster).
"""

import numpy as np

from . import clustering


def split_cluster(labels, cluster_id, X, k=None, seed=51, error_type=None, expected=None,
                  errors=None, dispersion=None):
    """Splits cluster ``cluster_id`` of ``labels`` with :func:`clustering.cluster`.

    Args:
        labels: (N,) non-negative int cluster of every point (the map's)
        cluster_id: the cluster to split
        X: (N, D) the features the map was clustered on (every point's row)
        k: number of pieces, or None to choose as the map does (at least 2)
        seed: the map's seed
        error_type, expected, errors, dispersion: as for :func:`clustering.cluster`,
            for every point of the map: ``expected`` defaults to the map's overall
            failure rate (not the cluster's), so pieces are judged as the map's
            clusters are

    Returns:
        ``(labels, new_ids)``: a new (N,) int64 array where the members of
        ``cluster_id`` carry their piece's id (the largest piece keeps
        ``cluster_id``), and the ids given to the other pieces, ascending from
        ``labels.max() + 1``

    Raises:
        ValueError: no such cluster, fewer than 2 members or distinct rows, or a
            bad ``k``; nothing is changed then
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError("labels must be a 1-D integer array")
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] != labels.size:
        raise ValueError(f"X must have one row per point ({labels.size}), got shape {X.shape}")
    members = np.flatnonzero(labels == cluster_id)
    if not len(members):
        raise ValueError(f"cluster {cluster_id} has no members (clusters: "
                         f"{np.unique(labels).tolist()})")
    if len(members) < 2:
        raise ValueError(f"cluster {cluster_id} has one member: nothing to split")
    if k is not None and (int(k) != k or not 2 <= k <= len(members)):
        raise ValueError(f"k must be an integer in [2, {len(members)}] (the cluster's size), "
                         f"got {k}")
    sub = {}
    if error_type is not None:
        codes = clustering.error_codes(error_type, labels.size)
        _, expected = clustering.failures(codes, expected, errors)  # the map's rates
        sub = {"error_type": codes[members], "expected": expected[members],
               "errors": None if errors is None else np.asarray(errors)[members],
               "dispersion": dispersion}
    rows = X[members]
    if not (rows != rows[0]).any():
        raise ValueError(f"cluster {cluster_id} cannot be split: its members are alike in "
                         "the map's features")
    pieces, n = clustering.cluster(rows, k=k, seed=seed, **sub)
    if n < 2:  # too few points for the map's choice of k: two pieces
        pieces, n = clustering.cluster(rows, k=2, seed=seed, **sub)
    used = np.unique(pieces)
    if len(used) < 2:
        raise ValueError(f"cluster {cluster_id} cannot be split: its members are alike in "
                         "the map's features")
    pieces = np.searchsorted(used, pieces)  # k-means may leave a piece empty on duplicates
    start = int(labels.max()) + 1
    new_ids = np.arange(start, start + len(used) - 1, dtype=np.int64)
    out = labels.astype(np.int64, copy=True)
    out[members] = np.r_[cluster_id, new_ids][pieces]
    return out, new_ids


def undo_split(labels, cluster_id, new_ids):
    """``labels`` before :func:`split_cluster` gave ``new_ids``: their members back in
    ``cluster_id``."""
    out = np.asarray(labels, dtype=np.int64).copy()
    out[np.isin(out, np.asarray(new_ids, dtype=np.int64))] = cluster_id
    return out
