"""Broad planted-failure benchmark: do the failure clusters find causes nobody named?

One dataset per (condition, seed): clean demo scenes (``demo/scenes.py``: real pixels, the
real classical detector; normal exposure, no camera blur, light sensor noise, no clutter, no
shadows) in which one hidden condition, recorded in no field, is planted in a share of the
images (sample conditions) or of the objects (object conditions), plus two harmless controls
in every dataset (a grey background in some images, flat shading on some objects). Then, on a
real FiftyOne dataset and through the real operators, as a user calls them:

    evaluate_model(dataset, pred_field="predictions", gt_field="ground_truth", eval_key="eval")
    compute_error_map(dataset, eval_key="eval", level="samples")   # and level="objects"

Per condition and level (the Domino-style criterion of issue 12):

- verified: the condition raises the detector's errors by a quarter (errors per image on
  the samples map, the error rate of the objects map's points), printed with and without;
  unverified conditions are reported and not scored;
- found: one of the top-3 failure clusters holds the condition at precision >= 0.6
  (precision: the share of the cluster's points with the condition; objects map: a
  prediction has its image's condition, and the condition of the ground-truth object it
  overlaps most, IoU >= 0.1);
- P@10 (Domino's precision-at-10) of that best cluster: the share with the condition among
  its 10 points nearest its centre on the map;
- recall: the share of the condition's failing points (images with an error, erroneous
  predictions and missed objects) the best cluster holds;
- a control is flagged when one of the top-3 failure clusters holds it at precision >= 0.6.

    .venv/bin/python benchmarks/bench_discovery.py [--quick] [--images N] [--seeds 51,52]
        [--conditions a,b] [--fraction F] [--plugin-root CHECKOUT] [--dump DIR]

Targets: >= 80% of verified conditions found per level, mean P@10 >= 0.8 over found ones,
no control flagged. ``--quick``: 5 conditions, one seed, 400 images (~5 min on 2 cores).
The database is a private ``mongod`` on a free port (``FIFTYONE_DATABASE_URI``): FiftyOne's
own service is shared with any other process that runs one, and went away with another
benchmark's exit twice, mid-run.
"""

import argparse
import os
import pathlib
import shutil
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "demo", ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import scenes  # noqa: E402
from bench_classification import start_mongod, stop_mongod  # noqa: E402
from bench_planted_failure import Table  # noqa: E402

EVALUATE = "@error-atlas/error-atlas/evaluate_model"
ERROR_MAP = "@error-atlas/error-atlas/compute_error_map"
TARGETS = {"found": 0.8, "p_at_10": 0.8, "precision": 0.6}
FRACTION = float(os.environ.get("DISCOVERY_FRACTION", "0.15"))  # workers fork: read at import
TOP = 3
QUICK = ("washed_out", "jpeg", "striped_background", "faded", "occluded")


def _background_at(scene, x, y):
    return scenes._background_matrix(scene) @ np.array([1.0, x, y])


def _effect(scene, **e):
    scene.setdefault("effects", []).append(e)


def _tint(rng):
    gains = np.ones(3)
    cut = int(rng.integers(3))
    gains[cut] = rng.uniform(0.25, 0.45)
    gains[(cut + 1 + int(rng.integers(2))) % 3] = rng.uniform(1.1, 1.35)
    return gains.tolist()


# name: (family, plant(rng, scene)); sample conditions change the whole image
SAMPLE_CONDITIONS = {
    "washed_out": ("lighting", lambda rng, s: s.update(
        lighting="overexposed", gain=float(rng.uniform(2.4, 3.2)),
        offset=float(rng.uniform(60, 110)))),
    "vignette": ("lighting", lambda rng, s: _effect(
        s, kind="vignette", strength=float(rng.uniform(0.75, 0.92)))),
    "colour_cast": ("colour", lambda rng, s: _effect(s, kind="cast", gains=_tint(rng))),
    "sensor_noise": ("sensor", lambda rng, s: s.update(noise=float(rng.uniform(28, 40)))),
    "low_resolution": ("sensor", lambda rng, s: _effect(
        s, kind="lowres", factor=int(rng.integers(4, 7)))),
    "jpeg": ("compression", lambda rng, s: _effect(
        s, kind="jpeg", quality=int(rng.integers(3, 8)))),
    "motion_blur": ("optics", lambda rng, s: s.update(
        blur="motion", blur_strength=float(rng.uniform(12, 25)))),
    "striped_background": ("background", lambda rng, s: _effect(
        s, kind="stripes", period=float(rng.uniform(6, 16)), angle=float(rng.uniform(0, np.pi)),
        colour=scenes._random_colour(rng, np.array(s["background"]["c0"]),
                                     (70.0, 120.0)).tolist())),
    "clutter": ("context", lambda rng, s: s.update(clutter=scenes._sample_clutter(
        rng, *s["size"], (np.array(s["background"]["c0"]) + s["background"]["c1"]) / 2,
        int(rng.integers(80, 140))))),
}


def _tiny(rng, s, shape):
    shape["radius"] = float(rng.uniform(5, 9))


def _border_cut(rng, s, shape):
    width, height = s["size"]
    side = int(rng.integers(4))
    out = shape["radius"] * rng.uniform(0.1, 0.45)  # the centre this far past the border
    cx, cy = shape["centre"]
    cx, cy = [(-out, cy), (width + out, cy), (cx, -out), (cx, height + out)][side]
    shape["centre"] = [float(cx), float(cy)]
    shape["radius"] = max(shape["radius"], 20.0)


def _faded(rng, s, shape):
    behind = _background_at(s, *shape["centre"])
    shape["colour"] = scenes._random_colour(rng, behind, (10.0, 20.0)).tolist()


def _striped(rng, s, shape):
    shape["effect"] = dict(kind="stripes", period=float(rng.uniform(4, 8)),
                           angle=float(rng.uniform(0, np.pi)), depth=float(rng.uniform(0.5, 0.7)))
    shape["radius"] = max(shape["radius"], 14.0)


def _occluded(rng, s, shape):
    shape["effect"] = dict(kind="occluder", angle=float(rng.uniform(0, np.pi)),
                           width=float(rng.uniform(0.3, 0.45)),
                           colour=_background_at(s, *shape["centre"]).tolist())
    shape["radius"] = max(shape["radius"], 14.0)


def _defocused(rng, s, shape):
    sigma = max(3.0, shape["radius"] * rng.uniform(0.2, 0.3))
    shape["effect"] = dict(kind="defocus", sigma=float(sigma))
    shape["radius"] = max(shape["radius"], 10.0)


# name: (family, plant(rng, scene, shape)); object conditions change single objects
OBJECT_CONDITIONS = {
    "tiny": ("geometry", _tiny),
    "border_cut": ("geometry", _border_cut),
    "faded": ("colour", _faded),
    "striped_object": ("texture", _striped),
    "occluded": ("context", _occluded),
    "defocused": ("optics", _defocused),
}
CONDITIONS = {**SAMPLE_CONDITIONS, **OBJECT_CONDITIONS}
SAMPLE_CONTROL, OBJECT_CONTROL = "grey_background", "flat_shading"


def planted_scene(rng, size, name):
    """A clean demo scene with the condition ``name`` and the two controls planted."""
    scene = scenes.sample_scene(rng, size)
    scene.update(lighting="normal", gain=float(rng.uniform(0.85, 1.15)), offset=0.0,
                 blur="none", blur_strength=0.0, noise=float(rng.uniform(3, 8)),
                 shadow=[0.0, 0.0], clutter=[])
    planted = []
    if name in SAMPLE_CONDITIONS and rng.random() < FRACTION:
        SAMPLE_CONDITIONS[name][1](rng, scene)
        planted.append(name)
    if rng.random() < FRACTION:  # control: a neutral grey background of the same brightness
        bg = scene["background"]
        for key in ("c0", "c1"):
            bg[key] = [float(np.mean(bg[key]))] * 3
        planted.append(SAMPLE_CONTROL)
    for shape in scene["objects"]:
        if name in OBJECT_CONDITIONS and rng.random() < FRACTION:
            OBJECT_CONDITIONS[name][1](rng, scene, shape)
            shape["planted"] = name
        elif rng.random() < FRACTION:  # control: no shading ramp
            shape["shading"] = 0.0
            shape["planted"] = OBJECT_CONTROL
    scene["planted"] = planted
    return scene


def _sampler(name):
    """A module-level scene function for ``name`` (the renderer's workers pickle it by name)."""
    def fn(rng, size):
        return planted_scene(rng, size, name)
    fn.__name__ = fn.__qualname__ = "scene_" + name
    globals()[fn.__name__] = fn
    return fn


SAMPLERS = {name: _sampler(name) for name in CONDITIONS}


# -- the points of each map and what was planted in them --------------------------------------

def _box_iou(a, b):
    """IoU of aligned [x, y, w, h] rows."""
    iw = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    ih = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _flat(values):
    return [x for v in values for x in (v or ())]


def sample_points(dataset, map_key, conditions):
    """Per image: cluster, map position, failed, and the names planted in it."""
    names = {c["filename"]: set(c["planted"]) for c in conditions}
    paths, cl, x, y, fp, fn, ids = dataset.values(["filepath", map_key + "_cluster",
                                                   map_key + "_x", map_key + "_y", "eval_fp",
                                                   "eval_fn", "id"])
    errors = np.array(fp) + np.array(fn)
    return {"cluster": np.array(cl), "xy": np.column_stack([x, y]).astype(float),
            "failed": errors > 0, "errors": errors.astype(float), "ids": np.array(ids),
            "image": [names[os.path.basename(p)] for p in paths]}


def object_points(dataset, map_key, conditions):
    """Per point of the objects map (predictions, missed objects): cluster, position,
    error, its image's planted names and the planted name of its object (a prediction:
    of the ground truth it overlaps most, IoU >= 0.1)."""
    by_file = {c["filename"]: c for c in conditions}
    cond = [by_file[os.path.basename(p)] for p in dataset.values("filepath")]
    n_img = len(cond)
    rows = {}
    for field in ("ground_truth", "predictions"):
        vals = dataset.values(["%s.detections.%s" % (field, k) for k in
                               ("bounding_box", map_key + "_cluster", map_key + "_x",
                                map_key + "_y", "eval_error", "id")])
        counts = np.array([len(v or ()) for v in vals[0]])
        rows[field] = dict(image=np.repeat(np.arange(n_img), counts),
                           box=np.array(_flat(vals[0]), float).reshape(-1, 4),
                           cluster=np.array([-1 if c is None else c for c in _flat(vals[1])]),
                           x=np.array([np.nan if v is None else v for v in _flat(vals[2])]),
                           y=np.array([np.nan if v is None else v for v in _flat(vals[3])]),
                           error=np.array([e not in (None, "correct") for e in _flat(vals[4])]),
                           ids=np.array(_flat(vals[5])),
                           counts=counts)
    gt, pr = rows["ground_truth"], rows["predictions"]
    gt_planted = np.array([o["planted"] or "" for c in cond for o in c["objects"]], dtype=object)
    if gt_planted.size != gt["image"].size:
        raise RuntimeError("conditions and ground truth disagree")
    # every (prediction, ground truth) pair of one image, vectorized
    start = np.cumsum(gt["counts"]) - gt["counts"]
    reps = gt["counts"][pr["image"]]
    p_idx = np.repeat(np.arange(pr["image"].size), reps)
    g_idx = np.repeat(start[pr["image"]], reps) + \
        (np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps))
    iou = _box_iou(pr["box"][p_idx], gt["box"][g_idx])
    best = np.full(pr["image"].size, -1.0)
    np.maximum.at(best, p_idx, iou)
    owner = np.full(pr["image"].size, -1)
    hit = (iou >= best[p_idx]) & (iou >= 0.1)
    owner[p_idx[hit]] = g_idx[hit]
    pred_planted = np.where(owner >= 0, gt_planted[np.maximum(owner, 0)], "")
    on_map = [np.isfinite(r["x"]) for r in (gt, pr)]  # detected objects: no point
    images = [set(c["planted"]) for c in cond]
    img = np.concatenate([gt["image"][on_map[0]], pr["image"][on_map[1]]])
    return {"cluster": np.concatenate([gt["cluster"][on_map[0]], pr["cluster"][on_map[1]]]),
            "xy": np.column_stack([np.concatenate([gt[k][on_map[0]], pr[k][on_map[1]]])
                                   for k in ("x", "y")]),
            "failed": np.concatenate([gt["error"][on_map[0]], pr["error"][on_map[1]]]),
            "image": [images[i] for i in img],
            "ids": np.concatenate([gt["ids"][on_map[0]], pr["ids"][on_map[1]]]),
            "object": np.concatenate([gt_planted[on_map[0]], pred_planted[on_map[1]]])}


def membership(points, name):
    """(N,) bool: the points that hold the planted condition ``name``."""
    in_image = np.array([name in s for s in points["image"]])
    if "object" in points and name in (*OBJECT_CONDITIONS, OBJECT_CONTROL):
        return points["object"] == name
    return in_image


def score(points, member, failure_ids):
    """Best of the top-3 failure clusters for ``member``: precision, P@10, recall, rank."""
    best = dict(precision=0.0, p_at_10=0.0, recall=0.0, rank=None)
    failing = member & points["failed"]
    for rank, cid in enumerate(failure_ids[:TOP], start=1):
        inside = points["cluster"] == cid
        if not inside.any():
            continue
        precision = member[inside].mean()
        if precision <= best["precision"]:
            continue
        xy = points["xy"][inside]
        d = np.hypot(*(xy - np.median(xy, axis=0)).T)
        core = member[inside][np.argsort(d, kind="stable")[:10]]
        best = dict(precision=float(precision), p_at_10=float(core.mean()), rank=rank,
                    recall=float((failing & inside).sum() / max(failing.sum(), 1)))
    return best


def harm(points, member):
    """(with, without): errors per image on a samples map, the error rate of its points on an
    objects map (an image's share with an error saturates: 0.7 of clean ones have one)."""
    f = points.get("errors", points["failed"].astype(float))
    return f[member].mean() if member.any() else np.nan, f[~member].mean()


# -- dumps: every map's clustering inputs, to measure partitions offline --------------------

def _plugin_module(suffix):
    """The loaded plugin module whose name ends with ``suffix`` (FiftyOne imports the plugin
    under a synthetic package name)."""
    for name, module in list(sys.modules.items()):
        if name.endswith(suffix) and module is not None:
            return module
    raise RuntimeError("plugin module %s not loaded" % suffix)


class Recorder:
    """Records the inputs of the plugin's ``cluster`` and ``expected_errors`` calls, and the
    points' classes that ``summarize_clusters`` is given."""

    def __enter__(self):
        self.clusters, self.clustering = (_plugin_module(".plugin.clusters"),
                                          _plugin_module(".plugin.clustering"))
        self.cluster, self.expected = self.clusters.cluster, self.clustering.expected_errors
        self.summarize = self.clusters.summarize_clusters
        self.record = {}

        def cluster(X, **kw):
            self.record.update(Z=np.asarray(X), **{k: v for k, v in kw.items() if v is not None})
            return self.cluster(X, **kw)

        def expected_errors(errors, content, *a, **kw):
            self.record.update(raw_errors=np.asarray(errors), content=np.asarray(content))
            return self.expected(errors, content, *a, **kw)

        def summarize_clusters(labels, error_type, classes, *a, **kw):
            self.record.update(classes=np.asarray(classes))
            return self.summarize(labels, error_type, classes, *a, **kw)

        self.clusters.cluster, self.clustering.expected_errors = cluster, expected_errors
        self.clusters.summarize_clusters = summarize_clusters
        return self

    def __exit__(self, *exc):
        self.clusters.cluster, self.clustering.expected_errors = self.cluster, self.expected
        self.clusters.summarize_clusters = self.summarize


def dump(path, record, dataset, map_key, points, targets):
    """One map's clustering inputs, its stored map and each target's membership, in the
    map's point order."""
    arrays, _ = _plugin_module(".operators.error_map").load_error_map(dataset, map_key)
    where = {i: n for n, i in enumerate(points["ids"])}
    order = np.array([where[i] for i in arrays["ids"]])
    error_type = record.pop("error_type")
    codes = _plugin_module(".plugin.clustering").error_codes(error_type, len(error_type))
    members = {"member_" + t: membership(points, t)[order] for t in targets}
    np.savez_compressed(path, xy=arrays["xy"], labels=arrays["cluster"], codes=codes,
                        **{k: np.asarray(v) for k, v in record.items()}, **members)


# -- main ---------------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="5 conditions, one seed, 400 images")
    p.add_argument("--images", type=int, default=None, help="scenes per dataset (600; quick 400)")
    p.add_argument("--seeds", default=None, help="comma-separated seeds (51,52; quick 51)")
    p.add_argument("--conditions", default=None,
                   help="comma-separated conditions (default all: %s)" % ", ".join(CONDITIONS))
    p.add_argument("--plugin-root", default=None,
                   help="run the operators of another checkout (e.g. main's), same scenes")
    p.add_argument("--fraction", type=float, default=0.15,
                   help="share of images / objects given the condition (0.15)")
    p.add_argument("--dump", default=None,
                   help="directory: save every map's clustering inputs and the planted "
                        "membership (.npz) to measure partitions offline")
    args = p.parse_args(argv)
    args.images = args.images or (400 if args.quick else 600)
    args.seeds = [int(s) for s in (args.seeds or ("51" if args.quick else "51,52")).split(",")]
    names = args.conditions.split(",") if args.conditions else list(QUICK if args.quick
                                                                      else CONDITIONS)
    unknown = sorted(set(names) - set(CONDITIONS))
    if unknown:
        p.error("unknown conditions %s; choose from %s" % (unknown, ", ".join(CONDITIONS)))
    args.conditions = names
    return args


def run_one(name, seed, args, tmpdir):
    """One dataset: its rows of results per level."""
    import fiftyone.operators as foo

    sampler = SAMPLERS[name]
    out_dir = os.path.join(tmpdir, "%s-%d" % (name, seed))
    t0 = time.perf_counter()
    dataset = scenes.build_dataset(
        name="error-atlas-bench-discovery-%d-%d" % (os.getpid(), time.time_ns()),
        num_images=args.images, seed=seed, out_dir=out_dir, scene_fn=sampler)
    rows = []
    try:
        conditions = scenes.scene_conditions(args.images, seed, scene_fn=sampler, out_dir=out_dir)
        foo.get_operator(EVALUATE)(dataset, pred_field="predictions", gt_field="ground_truth",
                                   eval_key="eval")
        levels = ("samples", "objects") if name in SAMPLE_CONDITIONS else ("objects",)
        for level in ("samples", "objects"):
            map_key = "discovery_" + level
            t1 = time.perf_counter()
            with Recorder() as recorder:
                result = foo.get_operator(ERROR_MAP)(dataset, eval_key="eval", level=level,
                                                     map_key=map_key)
            elapsed = time.perf_counter() - t1
            points = (sample_points if level == "samples" else object_points)(
                dataset, map_key, conditions)
            ids = [c["id"] for c in result["failure_clusters"]]
            controls = (SAMPLE_CONTROL,) + ((OBJECT_CONTROL,) if level == "objects" else ())
            if args.dump:
                dump(os.path.join(args.dump, "%s-%d-%s.npz" % (name, seed, level)),
                     recorder.record, dataset, map_key, points,
                     ((name,) if level in levels else ()) + controls)
            for target in ((name,) if level in levels else ()) + controls:
                member = membership(points, target)
                with_, without = harm(points, member)
                best = score(points, member, ids)
                rows.append(dict(condition=target, planted=name, seed=seed, level=level,
                                 control=target in (SAMPLE_CONTROL, OBJECT_CONTROL),
                                 n=int(member.sum()), rate_with=with_, rate_without=without,
                                 num_failure_clusters=len(ids), seconds=elapsed, **best))
                r = rows[-1]
                print("  %-18s %-7s seed %d: %4d points, errors %.2f vs %.2f; best of top %d: "
                      "precision %.2f (rank %s), P@10 %.1f, recall %.2f; %d failure clusters "
                      "(map %.0f s)" % (target, level, seed, r["n"], with_, without, TOP,
                                        r["precision"], r["rank"], r["p_at_10"], r["recall"],
                                        len(ids), elapsed), flush=True)
    finally:
        dataset.delete()
        shutil.rmtree(out_dir, ignore_errors=True)
    print("%s, seed %d: %.0f s" % (name, seed, time.perf_counter() - t0), flush=True)
    return rows


def verified(row):
    """The condition raises the detector's errors by a quarter (see ``harm``)."""
    return row["n"] >= 10 and row["rate_with"] >= 1.25 * row["rate_without"]


def summarize(rows, table):
    for level in ("samples", "objects"):
        conds = [r for r in rows if r["level"] == level and not r["control"]]
        scored = [r for r in conds if verified(r)]
        found = [r for r in scored if r["precision"] >= TARGETS["precision"]]
        share = len(found) / max(len(scored), 1)
        p10 = np.mean([r["p_at_10"] for r in found]) if found else float("nan")  # tenths
        table.add("%s: conditions found (top-%d precision >= %.1f), of verified"
                  % (level, TOP, TARGETS["precision"]), ">= %.0f%%" % (100 * TARGETS["found"]),
                  "%d of %d (%.0f%%)" % (len(found), len(scored), 100 * share),
                  share >= TARGETS["found"])
        table.add("%s: mean P@10 of found conditions" % level, ">= %.1f" % TARGETS["p_at_10"],
                  "%.2f" % p10, bool(found) and round(p10, 9) >= TARGETS["p_at_10"])
        table.info("%s: mean recall of found conditions' failures" % level,
                   "%.2f" % np.mean([r["recall"] for r in found]) if found else "-")
        table.info("%s: best precision per condition (seed)" % level, ", ".join(
            "%s %.2f (%d)%s" % (r["condition"], r["precision"], r["seed"],
                                "" if verified(r) else " unverified") for r in conds))
        controls = [r for r in rows if r["level"] == level and r["control"]]
        flagged = [r for r in controls if r["precision"] >= TARGETS["precision"]]
        table.add("%s: controls flagged (of %d)" % (level, len(controls)), "0",
                  "%d%s" % (len(flagged), "" if not flagged else " (%s)" % ", ".join(
                      "%s in %s/%d" % (r["condition"], r["planted"], r["seed"]) for r in flagged)),
                  not flagged)


def main(argv=None):
    args = parse_args(argv)
    global FRACTION
    FRACTION = args.fraction
    os.environ["DISCOVERY_FRACTION"] = repr(args.fraction)
    tmpdir = tempfile.mkdtemp(prefix="error-atlas-bench-discovery-")
    if args.dump:
        os.makedirs(args.dump, exist_ok=True)
    os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false")
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    plugins = pathlib.Path(tmpdir) / "plugins"  # this checkout's operators (or --plugin-root's)
    plugins.mkdir()
    (plugins / "error-atlas").symlink_to(pathlib.Path(args.plugin_root or ROOT).resolve())
    os.environ["FIFTYONE_PLUGINS_DIR"] = str(plugins)
    t_start = time.perf_counter()
    print("Error Atlas discovery benchmark: %d conditions x seeds %s, %d scenes each, %.0f%% "
          "planted; operators of %s" % (len(args.conditions), args.seeds, args.images,
                                        100 * args.fraction, args.plugin_root or ROOT))
    table, rows = Table(), []
    mongod = start_mongod(tmpdir)
    try:
        import fiftyone as fo

        fo.config.show_progress_bars = False
        for seed in args.seeds:
            for name in args.conditions:
                rows += run_one(name, seed, args, tmpdir)
    finally:
        print("\n== summary (%.0f s, load average %s) ==" % (
            time.perf_counter() - t_start, " ".join("%.1f" % v for v in os.getloadavg())))
        if rows:
            summarize(rows, table)
            table.print()
        stop_mongod(mongod)
        shutil.rmtree(tmpdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
