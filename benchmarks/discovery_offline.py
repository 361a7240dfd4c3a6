"""Re-scores ``bench_discovery.py --dump`` maps offline with this checkout's clustering.

Every dump holds one map's clustering inputs (the rows ``cluster`` was given, its
keywords, the error codes), the stored map's positions and labels, and each scored
target's membership. This re-runs ``clusters.cluster`` and the ranking of
``summarize_clusters`` on those inputs and scores them as the benchmark does
(best of the top-3 failure clusters: precision, P@10 around the cluster's median
on the map, recall of the target's failing points; found at precision >= 0.6),
so that a change of the partition is measured in seconds rather than in the
35 minutes of an end-to-end run. ``--stored`` scores the labels the end-to-end
run stored instead (a check that the offline path reproduces it).
``--cluster-seeds 51,1,2,3`` re-runs the partition with each of those k-means
seeds in place of the map's and prints each seed's totals and their mean and
range: one seed's totals move by several conditions, so a change is judged
by the mean over seeds, not by one.

    .venv/bin/python benchmarks/discovery_offline.py DUMP_DIR [--stored] [--verbose]
    .venv/bin/python benchmarks/discovery_offline.py DUMP_DIR --cluster-seeds 51,1,2,3

The positions are the map's float coordinates, the benchmark's its integer grid:
P@10 can differ by a tenth where the 10 nearest points tie.
"""

import argparse
import glob
import os
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from plugin import clustering, clusters  # noqa: E402

TOP, PRECISION = 3, 0.6
CONTROLS = ("grey_background", "flat_shading")
KEYWORDS = ("seed", "expected", "errors", "dispersion", "split_columns", "weigh", "shed")
#: What the operator passes each level's map (``error_map._partition_options``), for dumps
#: written before it did.
OPTIONS = {"samples": {"shed": True}, "objects": {"weigh": "rank", "shed": True}}


def load(path):
    d = np.load(path, allow_pickle=False)
    return {k: d[k] for k in d.files}


def partition(d, seed=None, level=None):
    """(labels, failure cluster ids best first) of this checkout on the dump's inputs,
    with the dump's k-means seed or ``seed``."""
    kw = {k: (d[k].item() if d[k].ndim == 0 else d[k]) for k in KEYWORDS if k in d}
    kw = {**OPTIONS.get(level, {}), **kw}
    if seed is not None:
        kw["seed"] = int(seed)
    labels, _ = clusters.cluster(d["Z"], error_type=d["codes"], **kw)
    return labels, ranking(labels, d)


def ranking(labels, d):
    """Failure clusters in the order of ``summarize_clusters``: significant with positive
    excess, by decreasing excess, then error rate, then size."""
    labels = np.asarray(labels, dtype=np.int64)
    C = int(labels.max()) + 1
    errors = d.get("errors")
    failed, expected = clustering.failures(d["codes"], d.get("expected"), errors)
    dispersion = None if errors is None else max(float(d.get("dispersion", 1.0)), 1.0)
    n, obs, _, excess, p = clustering.failure_statistics(labels, failed, expected, C, dispersion)
    codes = d["codes"]
    ev = codes >= 0
    rate = np.bincount(labels[ev], weights=(codes[ev] > 0), minlength=C) / np.maximum(n, 1)
    sizes = np.bincount(labels, minlength=C)
    significant = (p < clustering.ALPHA) & (excess > 0)
    order = np.lexsort((np.arange(C), -sizes, -rate, -excess, ~significant))
    return [int(c) for c in order if significant[c] and sizes[c] > 0]


def score(labels, ids, xy, member, failed):
    """The benchmark's ``score``: best of the top-3 failure clusters for ``member``."""
    best = dict(precision=0.0, p_at_10=0.0, recall=0.0, rank=None)
    failing = member & failed
    for rank, cid in enumerate(ids[:TOP], start=1):
        inside = labels == cid
        precision = member[inside].mean()
        if precision <= best["precision"]:
            continue
        pts = xy[inside]
        dist = np.hypot(*(pts - np.median(pts, axis=0)).T)
        core = member[inside][np.argsort(dist, kind="stable")[:10]]
        best = dict(precision=float(precision), p_at_10=float(core.mean()), rank=rank,
                    recall=float((failing & inside).sum() / max(failing.sum(), 1)))
    return best


def harm(d, member):
    """Errors per image (samples) or the error rate (objects) with and without."""
    f = d["raw_errors"] if "raw_errors" in d else (d["codes"] > 0).astype(float)
    return (f[member].mean() if member.any() else np.nan), f[~member].mean()


def rows_of(path, stored=False, cluster_seed=None):
    d = load(path)
    name, seed, level = os.path.basename(path)[:-4].rsplit("-", 2)
    if stored:
        labels = d["labels"].astype(np.int64)
        ids = ranking(labels, d)
    else:
        labels, ids = partition(d, cluster_seed, level)
    failed = d["codes"] > 0
    out = []
    for key in sorted(k for k in d if k.startswith("member_")):
        target = key[len("member_"):]
        member = d[key].astype(bool)
        with_, without = harm(d, member)
        out.append(dict(condition=target, planted=name, seed=int(seed), level=level,
                        control=target in CONTROLS, n=int(member.sum()), rate_with=with_,
                        rate_without=without, k=int(labels.max()) + 1, failing=len(ids),
                        **score(labels, ids, d["xy"].astype(float), member, failed)))
    return out


def verified(r):
    return r["n"] >= 10 and r["rate_with"] >= 1.25 * r["rate_without"]


def summary(rows):
    """Per level: (found, verified, mean P@10 of found, flagged controls)."""
    out = {}
    for level in ("samples", "objects"):
        conds = [r for r in rows if r["level"] == level and not r["control"] and verified(r)]
        found = [r for r in conds if r["precision"] >= PRECISION]
        flagged = [r for r in rows if r["level"] == level and r["control"]
                   and r["precision"] >= PRECISION]
        out[level] = (len(found), len(conds),
                      float(np.mean([r["p_at_10"] for r in found])) if found else float("nan"),
                      ["%s in %s" % (r["condition"], r["planted"]) for r in flagged])
    return out


def seed_spread(paths, seeds):
    """Each k-means seed's totals per level, then their mean, minimum and maximum."""
    totals = {level: [] for level in ("samples", "objects")}
    for seed in seeds:
        rows = [r for path in paths for r in rows_of(path, cluster_seed=seed)]
        for level, (found, of, p10, flagged) in summary(rows).items():
            totals[level].append((found, of, p10, len(flagged)))
            print("seed %d %s: found %d of %d, mean P@10 %.2f, controls flagged %d %s"
                  % (seed, level, found, of, p10, len(flagged), flagged))
    for level, t in totals.items():
        found, of, p10, flagged = (np.array(c, dtype=float) for c in zip(*t))
        print("%s over %d seeds: found %.2f of %d (%d-%d), mean P@10 %.2f, controls flagged "
              "%.2f (%d-%d)" % (level, len(seeds), found.mean(), of[0], found.min(),
                                found.max(), np.nanmean(p10), flagged.mean(), flagged.min(),
                                flagged.max()))
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dumps", help="directory of bench_discovery.py --dump files")
    p.add_argument("--stored", action="store_true", help="score the stored labels")
    p.add_argument("--verbose", action="store_true", help="one line per target")
    p.add_argument("--cluster-seeds", help="comma-separated k-means seeds: totals per seed, "
                   "their mean and range")
    args = p.parse_args(argv)
    paths = sorted(glob.glob(os.path.join(args.dumps, "*.npz")))
    if args.cluster_seeds:
        return seed_spread(paths, [int(s) for s in args.cluster_seeds.split(",")])
    rows = []
    for path in paths:
        rows += rows_of(path, args.stored)
    for r in rows:
        if args.verbose or not r["control"]:
            print("%-18s %-7s in %-18s %.2f / %.2f%s: precision %.2f (rank %s) P@10 %.1f "
                  "recall %.2f; k %d, %d failing" % (
                      r["condition"], r["level"], r["planted"], r["rate_with"],
                      r["rate_without"], "" if verified(r) or r["control"] else " (unverified)",
                      r["precision"], r["rank"], r["p_at_10"], r["recall"], r["k"], r["failing"]))
    for level, (found, of, p10, flagged) in summary(rows).items():
        print("%s: found %d of %d, mean P@10 %.2f, controls flagged %d %s"
              % (level, found, of, p10, len(flagged), flagged))
    return 0


if __name__ == "__main__":
    sys.exit(main())
