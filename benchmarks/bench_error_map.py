"""Error-map benchmark: our projection + clustering + statistics against FiftyOne Brain's UMAP.

On one synthetic set of embeddings (default 50,000 x 512: a seeded Gaussian
mixture of 15 components with different sizes and spreads in a random
32-dimensional subspace, plus noise in all 512 dimensions; every point has a
class, an error type and two numeric features that depend on its component),
in one process:

- ours: ``clusters.reduce`` (PCA to 50), ``clusters.project`` (UMAP map),
  ``clusters.cluster`` (k-means, k chosen automatically from the error types) and
  ``clusters.summarize_clusters`` (ranked failure clusters), the functions
  ``operators/error_map.py`` runs;
- FiftyOne: ``fiftyone.brain.compute_visualization(view, embeddings=X,
  method="umap")`` on a real dataset of the same points, with its defaults
  (``seed=None``: umap-learn's parallel mode), and once with ``seed=51``
  (reproducible like ours: umap-learn then runs single-threaded).

Both sides are warmed up first on 5,000 points (numba compiles umap-learn's and
pynndescent's kernels, and ours, on first use; 5,000 > 4,096 makes umap-learn
take its pynndescent path as it does at full size), then timed alternately
(``--repeat`` times, median). First calls in fresh processes are measured
separately, with an empty numba cache and with the cache already on disk.
Quality: trustworthiness of both maps (scikit-learn, 2,000-point subsample,
against the 512-D input); the adjusted Rand index against the mixture
components of ``clusters.cluster`` without error types (k by silhouette: does
k-means recover the geometry?); whether the top-ranked failure cluster of the
pipeline above is one of the three planted failing components.

    .venv/bin/python benchmarks/bench_error_map.py [--points N] [--dims D]
        [--seed S] [--repeat R] [--quick] [--skip-cold]

FiftyOne uses a private temporary database (``FIFTYONE_DATABASE_DIR``) and a
dataset with a unique name, deleted at the end. The exit status is non-zero
when a target fails.
"""

import argparse
import gc
import glob
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ORIGINAL_ENV = dict(os.environ)  # before plugin.clusters sets NUMBA_CACHE_DIR
CLASSES = ("circle", "square", "triangle", "star", "hexagon")
ERRORS = ("correct", "classification", "localization", "both", "duplicate", "background",
          "missed")
WARMUP = 5000
SEED = 51  # the operator's default seed
TARGETS = {"speedup": 1.0, "aim": 2.0, "trust_margin": 0.01, "ari": 0.9}


# -- data ---------------------------------------------------------------------------

def generate(n=50000, dims=512, components=15, rank=32, seed=0):
    """Embeddings and per-point metadata from a seeded Gaussian mixture.

    Components: Dirichlet weights (sizes from ~1% to ~20%), centres N(0, 4^2)
    in a random ``rank``-dimensional subspace, anisotropic spreads (0.15-2 per
    direction), isotropic noise (sigma 0.3) in all ``dims`` dimensions. Three
    components are failure modes (error rates 0.5-0.8, one dominant error
    type each); the others err at 5-20%. Class mix, "confidence" and
    "log_area" depend on the component too.
    """
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(dims, rank)))[0]
    z = rng.choice(components, n, p=rng.dirichlet(np.full(components, 2.0)))
    centres = rng.normal(0, 4.0, (components, rank))
    scales = rng.uniform(0.3, 1.0, (components, rank)) * rng.uniform(0.5, 2.0, (components, 1))
    latent = centres[z] + rng.normal(size=(n, rank)) * scales[z]
    X = (latent @ basis.T).astype(np.float32)
    X += rng.normal(0, 0.3, (n, dims)).astype(np.float32)

    rate = rng.uniform(0.05, 0.2, components)
    failing = rng.choice(components, 3, replace=False)
    rate[failing] = rng.uniform(0.5, 0.8, 3)
    mix = rng.dirichlet(np.ones(len(ERRORS) - 1), components)
    mix[failing] = 0.05 / (len(ERRORS) - 2)
    mix[failing, rng.choice(len(ERRORS) - 1, 3, replace=False)] = 0.95
    mix /= mix.sum(axis=1, keepdims=True)
    wrong = rng.random(n) < rate[z]
    kind = (mix[z].cumsum(axis=1) < rng.random((n, 1))).sum(axis=1)  # categorical per row
    error = np.where(wrong, 1 + np.minimum(kind, len(ERRORS) - 2), 0)
    class_mix = rng.dirichlet(np.full(len(CLASSES), 0.7), components)
    cls = (class_mix[z].cumsum(axis=1) < rng.random((n, 1))).sum(axis=1)
    cls = np.minimum(cls, len(CLASSES) - 1)
    features = np.c_[np.clip(rng.normal(0.8 - 0.4 * rate[z], 0.1), 0, 1),
                     rng.normal(rng.uniform(4, 9, components)[z], 0.7)]
    return {"X": X, "component": z, "failing": np.sort(failing), "error": error,
            "class": cls.astype(np.int64), "features": features,
            "feature_names": ["confidence", "log_area"]}


def subset(data, m):
    keep = ("X", "component", "error", "class", "features")
    return dict(data, **{key: data[key][:m] for key in keep})


# -- the two pipelines -----------------------------------------------------------------

def ours(data, seed=SEED, phases=None):
    """What compute_error_map runs on (standardized) embeddings: map, clusters, statistics."""
    from plugin import clusters

    times, t = {}, time.perf_counter()
    Xr = clusters.reduce(data["X"], seed)
    times["reduce"], t = time.perf_counter() - t, time.perf_counter()
    xy = clusters.project(Xr, seed=seed)
    times["project"], t = time.perf_counter() - t, time.perf_counter()
    labels, k = clusters.cluster(Xr, seed=seed, error_type=data["error"])
    times["cluster"], t = time.perf_counter() - t, time.perf_counter()
    summaries = clusters.summarize_clusters(
        labels, data["error"], data["class"], CLASSES, features=data["features"],
        feature_names=data["feature_names"], feature_kinds=["object", "object"])
    times["summarize"] = time.perf_counter() - t
    if phases is not None:
        phases.update(times)
    return xy, labels, summaries


def fiftyone_umap(view, X, seed=None):
    import fiftyone.brain as fob

    results = fob.compute_visualization(view, embeddings=X, method="umap", seed=seed,
                                        verbose=False, progress=False)
    return np.asarray(results.points)


def build_dataset(n, name):
    import fiftyone as fo

    dataset = fo.Dataset(name)
    dataset.add_samples([fo.Sample(filepath="/nonexistent/error-atlas-map-bench/%06d.jpg" % i)
                         for i in range(n)], progress=False)
    return dataset


# -- first calls in fresh processes ------------------------------------------------------

def numba_cache_files(side, cache_dir):
    """*.nbi index files of the side's numba cache (0: nothing cached yet)."""
    if side == "ours":
        return len(glob.glob(os.path.join(cache_dir, "**", "*.nbi"), recursive=True))  # ours + umap-learn's
    if cache_dir:
        pattern = os.path.join(cache_dir, "**", "*.nbi")
    else:
        import importlib.util

        roots = [os.path.dirname(importlib.util.find_spec(m).origin) for m in ("umap", "pynndescent")]
        return sum(len(glob.glob(os.path.join(r, "**", "*.nbi"), recursive=True)) for r in roots)
    return len(glob.glob(pattern, recursive=True))


def cold_worker(args):
    """Child process: time the import and the first call of one side; print JSON."""
    data = generate(args.points, args.dims, seed=args.seed)
    gc.collect()
    t0 = time.perf_counter()
    if args.cold == "ours":
        from plugin import clusters  # noqa: F401  (sets NUMBA_CACHE_DIR unless set)

        t_import = time.perf_counter() - t0
        t0 = time.perf_counter()
        ours(data)
    else:
        import fiftyone as fo
        import fiftyone.brain  # noqa: F401

        dataset = fo.load_dataset(args.dataset)
        t_import = time.perf_counter() - t0
        t0 = time.perf_counter()
        fiftyone_umap(dataset.limit(args.points), data["X"])
    print("COLD " + json.dumps({"import": t_import, "first": time.perf_counter() - t0}), flush=True)
    return 0


def run_cold(side, args, dataset_name, cache_dir, tmpdir):
    """(import s, first call s, cache files before) of ``side`` in a new process."""
    env = dict(ORIGINAL_ENV, FIFTYONE_DATABASE_DIR=os.environ["FIFTYONE_DATABASE_DIR"],
               PYTHONPATH=str(ROOT))
    for key in ("FIFTYONE_DATABASE_VALIDATION", "FIFTYONE_DO_NOT_TRACK", "FIFTYONE_PLUGINS_DIR"):
        env[key] = os.environ[key]
    if cache_dir == "empty":
        cache_dir = tempfile.mkdtemp(prefix="numba-%s-" % side, dir=tmpdir)
        env["NUMBA_CACHE_DIR"] = cache_dir
    else:  # the user's setting, else each side's default place
        cache_dir = env.get("NUMBA_CACHE_DIR")
        if side == "ours" and not cache_dir:
            cache_dir = os.path.expanduser("~/.cache/error-atlas/numba")
    before = numba_cache_files(side, cache_dir)
    cmd = [sys.executable, __file__, "--_cold", side, "--points", str(args.points), "--dims",
           str(args.dims), "--seed", str(args.seed), "--_dataset", dataset_name]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("COLD ")]
    if out.returncode or not line:
        raise RuntimeError("cold %s run failed:\n%s" % (side, out.stderr[-3000:]))
    r = json.loads(line[-1][5:])
    return r["import"], r["first"], before


# -- report ---------------------------------------------------------------------------

class Table:
    def __init__(self):
        self.rows = []

    def add(self, name, target, value, ok, miss="FAIL"):
        self.rows.append((name, target, value, "PASS" if ok else miss))
        print("  [%s] %s: %s (target %s)" % (self.rows[-1][3], name, value, target), flush=True)

    def info(self, name, value):
        self.rows.append((name, "-", value, "info"))
        print("  [info] %s: %s" % (name, value), flush=True)

    def print(self):
        head = ("Measurement", "Target", "Measured", "Result")
        widths = [max(len(str(r[i])) for r in self.rows + [head]) for i in range(4)]
        print("| " + " | ".join("%-*s" % (w, h) for w, h in zip(widths, head)) + " |")
        print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for r in self.rows:
            print("| " + " | ".join("%-*s" % (w, str(v)) for w, v in zip(widths, r)) + " |")


def fmt(times):
    return ", ".join("%.1f" % t for t in times)


def quality(data, xy, fo_xy, labels, summaries, table, seed):
    from plugin import clusters
    from sklearn.manifold import trustworthiness
    from sklearn.metrics import adjusted_rand_score

    X, n = data["X"], len(data["X"])
    sub = np.sort(np.random.default_rng(seed).choice(n, min(2000, n), replace=False))
    t_ours = trustworthiness(X[sub], xy[sub], n_neighbors=10)
    t_fo = trustworthiness(X[sub], fo_xy[sub], n_neighbors=10)
    table.add("Map quality: trustworthiness (10 neighbours, 2,000 points), ours vs FiftyOne",
              ">= FiftyOne - %.2f" % TARGETS["trust_margin"], "%.4f vs %.4f" % (t_ours, t_fo),
              t_ours >= t_fo - TARGETS["trust_margin"])
    plain, k = clusters.cluster(clusters.reduce(X, SEED), seed=SEED)
    ari = adjusted_rand_score(data["component"], plain)
    table.add("cluster() without error types vs the %d mixture components: adjusted Rand "
              "index (k = %d by silhouette)" % (len(np.unique(data["component"])), k),
              ">= %.1f" % TARGETS["ari"], "%.3f" % ari, ari >= TARGETS["ari"])
    table.info("The pipeline's clusters (k from the error types) vs the components: ARI (k)",
               "%.3f (%d)" % (adjusted_rand_score(data["component"], labels), labels.max() + 1))
    top = summaries[0]
    members = labels == top.id
    comp = np.bincount(data["component"][members]).argmax()
    share = np.mean(data["component"][members] == comp)
    table.info("Top-ranked failure cluster: a planted failing component? (its share)",
               "%s (component %d, %.0f%% of the cluster, error rate %.2f)"
               % ("yes" if comp in data["failing"] else "NO", comp, 100 * share, top.error_rate))


# -- main -----------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--points", type=int, default=50000, help="points (50000)")
    p.add_argument("--dims", type=int, default=512, help="embedding dimensions (512)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic data (0)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs of each side (3; median)")
    p.add_argument("--quick", action="store_true", help="smoke run: 5,000 points, 1 repeat")
    p.add_argument("--skip-cold", action="store_true", help="skip the fresh-process first calls")
    p.add_argument("--_cold", dest="cold", help=argparse.SUPPRESS)
    p.add_argument("--_dataset", dest="dataset", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.points, args.repeat = min(args.points, 5000), 1
    return args


def stop_private_database(tmpdir):
    """Stops the database service if this process started it on ``tmpdir`` (else leaves it)."""
    if "fiftyone" not in sys.modules:
        return
    try:
        import psutil

        import fiftyone.core.odm.database as fod

        fod._disconnect()
        service = fod._db_service
        child = getattr(service, "child", None)
        if child is None:
            return
        procs = [psutil.Process(child.pid)] + psutil.Process(child.pid).children(recursive=True)
        if not any(tmpdir in " ".join(p.cmdline()) for p in procs):
            return  # another process's service (FiftyOne shares a running one)
        service.stop()
        fod._db_service = None
        psutil.wait_procs(procs, timeout=30)
    except Exception as e:  # cleanup must never hide the results
        print("note: could not stop the benchmark database cleanly: %s" % e)


def main(argv=None):
    args = parse_args(argv)
    if args.cold:
        return cold_worker(args)
    tmpdir = tempfile.mkdtemp(prefix="error-atlas-bench-map-")
    os.environ.setdefault("FIFTYONE_DATABASE_DIR", os.path.join(tmpdir, "db"))
    os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false")
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    os.environ.setdefault("FIFTYONE_PLUGINS_DIR", str(ROOT / ".venv" / "fiftyone-plugins"))
    t_start = time.perf_counter()
    print("Error Atlas error-map benchmark: %d points x %d dims, seed %d (python %s, %d CPUs, "
          "load average %s)" % (args.points, args.dims, args.seed, sys.version.split()[0],
                                os.cpu_count(), " ".join("%.1f" % x for x in os.getloadavg())))
    data = generate(args.points, args.dims, seed=args.seed)
    table = Table()
    dataset = None
    try:
        import fiftyone as fo

        fo.config.show_progress_bars = False
        t0 = time.perf_counter()
        dataset = build_dataset(args.points, "error-atlas-bench-map-%d-%d" % (os.getpid(),
                                                                            time.time_ns()))
        print("FiftyOne dataset of %d samples in %.1f s (setup, not timed)"
              % (len(dataset), time.perf_counter() - t0))

        if not args.skip_cold:
            print("\n== first call in a fresh process ==", flush=True)
            for side, label in (("ours", "ours"), ("fo", "FiftyOne compute_visualization")):
                for cache in ("empty", "disk"):
                    imp, first, files = run_cold(side, args, dataset.name, cache, tmpdir)
                    state = "empty numba cache" if cache == "empty" else \
                        "numba cache on disk (%d index files before)" % files
                    table.info("Cold: %s, first call in a new process, %s" % (label, state),
                               "%.1f s (+ import %.1f s)" % (first, imp))

        print("\n== warm-up on %d points (numba compilation / cache loading) ==" % WARMUP)
        w = min(WARMUP, args.points)
        small = subset(data, w)
        t0 = time.perf_counter()
        ours(small)
        t_ours_warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        fiftyone_umap(dataset.limit(w), small["X"])
        t_fo_warm = time.perf_counter() - t0
        table.info("Warm-up on %d points in this process: ours / FiftyOne" % w,
                   "%.1f s / %.1f s" % (t_ours_warm, t_fo_warm))

        print("\n== timed, alternating (%d runs each) ==" % args.repeat, flush=True)
        t_ours, t_fo, phases = [], [], []
        for _ in range(args.repeat):
            gc.collect()
            ph = {}
            t0 = time.perf_counter()
            xy, labels, summaries = ours(data, phases=ph)
            t_ours.append(time.perf_counter() - t0)
            phases.append(ph)
            print("  ours %.2f s (%s)" % (t_ours[-1], ", ".join("%s %.2f" % kv for kv in ph.items())),
                  flush=True)
            gc.collect()
            t0 = time.perf_counter()
            fo_xy = fiftyone_umap(dataset, data["X"])
            t_fo.append(time.perf_counter() - t0)
            print("  FiftyOne compute_visualization %.2f s" % t_fo[-1], flush=True)
        m_ours, m_fo = statistics.median(t_ours), statistics.median(t_fo)
        split = {k: statistics.median(p[k] for p in phases) for k in phases[0]}
        table.info("Ours: reduce + project + cluster + summarize_clusters, runs",
                   "%s s (median %.1f: %s)" % (fmt(t_ours), m_ours,
                                               ", ".join("%s %.1f" % kv for kv in split.items())))
        table.info("FiftyOne compute_visualization(method='umap'), defaults, runs",
                   "%s s (median %.1f)" % (fmt(t_fo), m_fo))
        again, _, _ = ours(data)
        table.add("Ours reproducible: same map twice with the same seed", "identical",
                  "identical" if np.array_equal(again, xy) else "different",
                  np.array_equal(again, xy))

        gc.collect()
        t0 = time.perf_counter()
        fiftyone_umap(dataset, data["X"], seed=SEED)
        t_seeded = time.perf_counter() - t0
        table.info("FiftyOne compute_visualization(method='umap', seed=%d), reproducible like "
                   "ours (umap-learn then single-threaded), one run" % SEED, "%.1f s" % t_seeded)
        best = min(m_fo, t_seeded)
        ratio = best / m_ours
        table.add("Speed: FiftyOne's faster setting / ours (%d x %d: %.1f s vs %.1f s)"
                  % (args.points, args.dims, best, m_ours), ">= %.0fx" % TARGETS["speedup"],
                  "%.2fx" % ratio, ratio >= TARGETS["speedup"])
        table.add("Speed, the issue's aim: at most half of compute_visualization's time",
                  ">= %.0fx" % TARGETS["aim"], "%.2fx" % ratio, ratio >= TARGETS["aim"],
                  miss="MISS")

        print("\n== quality ==")
        quality(data, xy, fo_xy, labels, summaries, table, args.seed)
    finally:
        print("\n== summary (%d x %d; %.0f s total; load average at the end %s) =="
              % (args.points, args.dims, time.perf_counter() - t_start,
                 " ".join("%.1f" % x for x in os.getloadavg())))
        table.print()
        if dataset is not None:
            dataset.delete()
        stop_private_database(tmpdir)
        shutil.rmtree(tmpdir, ignore_errors=True)
    return 1 if any(r[3] == "FAIL" for r in table.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
