"""Classification: Error Atlas's engine and ``evaluate_model`` against scikit-learn and
FiftyOne on the same data, side by side in one run (issue 13's "Speed" targets).

Generates ``--samples`` classifications with logits over ``--classes`` classes
(seeded: Zipf-like class frequencies, confident and unsure samples, a
confusable neighbour class, 1% without a prediction, logits with three
decimals) and measures:

1. the engine (``classification.evaluate`` + summary, per-class rows,
   calibration and curves at a threshold) against computing the same numbers
   with ``sklearn.metrics`` calls, every number checked;
2. a new threshold: confusion matrix, error types and per-class numbers;
3. ``evaluate_model`` end to end (read, every metric, sweep, confusion, error
   types, per-sample fields, both runs registered) against FiftyOne's
   ``evaluate_classifications(method="top-k")`` plus a ``method="simple"``
   run, with FiftyOne's fields and results checked value for value; MongoDB's
   floor (one scan of the fields read, one update of every sample) measured
   next to our runs and compared with FiftyOne's time / 20; a timer per phase;
4. peak memory of ``evaluate_model`` in a child process: the largest child's
   ``ru_maxrss`` (``RUSAGE_CHILDREN``) as seen by a small launcher process
   (Linux carries a parent's peak into a child it forks, so the benchmark's
   own process does not start it), and the child's own ``VmHWM``;
5. with ``--million``: 1,000,000 samples through ``evaluate_model`` (time, memory).

Run from the repository root::

    .venv/bin/python benchmarks/bench_classification.py [--samples 100000] [--classes 100]
        [--million] [--skip-fiftyone] [--seed 0]

MongoDB: a private ``mongod`` on a free port with a temporary directory
(``FIFTYONE_DATABASE_URI``), stopped and removed at the end. Not
``FIFTYONE_DATABASE_DIR``: FiftyOne attaches to any database service already
running on the machine, whatever its directory, so other sessions' data and
cleanups would share it.
"""

import argparse
import importlib
import importlib.util
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_detection import Table, own_peak_mb  # noqa: E402

OPERATOR_URI = "@error-atlas/error-atlas/evaluate_model"
TARGETS = {"speedup_fiftyone": 20.0, "speedup_sklearn": 1.0, "aim_sklearn": 3.0,
           "query_ms": 20.0, "peak_mb": 2048.0, "exact": 1e-9}
THRESHOLD = 0.3  # the operating point of the engine comparison
LAUNCHER = (
    "import json, resource, subprocess, sys\n"
    "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "sys.stderr.write(r.stderr[-4000:])\n"
    "out = json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else None\n"
    "print(json.dumps({'child': out, 'maxrss_kb': "
    "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n"
)


# -- data ---------------------------------------------------------------------

def generate(n, k, seed=0):
    """Seeded classifications: true class (Zipf-like), logits, the argmax
    prediction and its softmax confidence, 1% of samples without a prediction."""
    rng = np.random.default_rng(seed)
    freq = 1.0 / np.sqrt(1.0 + np.arange(k))
    gt = rng.choice(k, n, p=freq / freq.sum())
    z = rng.normal(0.0, 1.0, (n, k))
    rows = np.arange(n)
    z[rows, gt] += rng.gamma(2.0, 1.6, n)  # confident and unsure samples
    confusable = rng.random(n) < 0.15
    z[rows[confusable], (gt[confusable] + 1) % k] += 3.0 * rng.random(int(confusable.sum()))
    z = np.round(z, 3)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    pred = p.argmax(axis=1)
    return dict(classes=["class%03d" % i for i in range(k)], gt=gt, logits=z, probs=p,
                pred=pred, conf=p[rows, pred], has_pred=rng.random(n) >= 0.01)


def build(data, name, chunk=20_000):
    """A FiftyOne dataset of the data: the Classification fields declared by
    FiftyOne, the samples inserted in bulk as FiftyOne stores them (logits as
    its compressed ``.npy`` bytes); a few samples are read back through
    FiftyOne and compared."""
    import fiftyone as fo
    import fiftyone.core.utils as fou
    from bson import ObjectId

    ds = fo.Dataset(name)
    ds.media_type = "image"
    for field in ("ground_truth", "predictions"):
        ds.add_sample_field(field, fo.EmbeddedDocumentField, embedded_doc_type=fo.Classification)
    ds.default_classes = data["classes"]
    classes, n = data["classes"], data["gt"].size
    coll, dataset_id = ds._sample_collection, ds._doc.id
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rand = np.random.default_rng(1).random(n).tolist()
    for start in range(0, n, chunk):
        docs = []
        for i in range(start, min(n, start + chunk)):
            doc = {"_id": ObjectId(), "filepath": "/nonexistent/cls-bench/%07d.png" % i,
                   "tags": [], "_media_type": "image", "_rand": rand[i],
                   "ground_truth": {"_id": ObjectId(), "_cls": "Classification", "tags": [],
                                    "label": classes[data["gt"][i]]},
                   "_dataset_id": dataset_id, "created_at": now, "last_modified_at": now}
            if data["has_pred"][i]:
                doc["predictions"] = {
                    "_id": ObjectId(), "_cls": "Classification", "tags": [],
                    "label": classes[data["pred"][i]], "confidence": float(data["conf"][i]),
                    "logits": fou.serialize_numpy_array(data["logits"][i])}
            docs.append(doc)
        coll.insert_many(docs, ordered=False)
        del docs
    ds.reload()
    check = ds.take(200, seed=0)
    for s in check.iter_samples():
        i = int(s.filepath[-11:-4])
        assert s.ground_truth.label == classes[data["gt"][i]]
        if data["has_pred"][i]:
            assert np.array_equal(s.predictions.logits, data["logits"][i])
        else:
            assert s.predictions is None
    return ds


# -- private database ---------------------------------------------------------

def start_mongod(tmpdir):
    """A private mongod (FiftyOne's binary) on a free port; FiftyOne and the
    child processes connect to it through ``FIFTYONE_DATABASE_URI``."""
    spec = importlib.util.find_spec("fiftyone")
    mongod = os.path.join(spec.submodule_search_locations[0], "db", "bin", "mongod")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dbpath = os.path.join(tmpdir, "db")
    os.makedirs(dbpath)
    proc = subprocess.Popen([mongod, "--dbpath", dbpath, "--port", str(port), "--bind_ip",
                             "127.0.0.1", "--nounixsocket", "--logpath",
                             os.path.join(tmpdir, "mongod.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import pymongo

    client = pymongo.MongoClient("127.0.0.1", port, serverSelectionTimeoutMS=500)
    deadline = time.time() + 60
    while True:
        try:
            client.admin.command("ping")
            break
        except pymongo.errors.PyMongoError:
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("the private mongod did not start (%s)" % tmpdir)
            time.sleep(0.2)
    client.close()
    os.environ["FIFTYONE_DATABASE_URI"] = "mongodb://127.0.0.1:%d" % port
    return proc


def stop_mongod(proc):
    if "fiftyone" in sys.modules:
        import fiftyone.core.odm.database as fod

        fod._disconnect()
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


# -- 1. engine vs scikit-learn ------------------------------------------------

def engine_numbers(data, threshold):
    from plugin import classification

    has = data["has_pred"]
    ev = classification.evaluate(data["classes"], data["gt"], np.where(has, data["pred"], -1),
                                 data["conf"], probs=data["probs"], k=5)
    summary = ev.summary(threshold)
    rows = ev.per_class(threshold)
    cal = ev.calibration()
    ev.curves()
    return ev, {"summary": summary, "per_class": rows, "calibration": cal,
                "confusion": ev.confusion(threshold)}


def sklearn_numbers(data, threshold):
    """The same numbers by ``sklearn.metrics`` (and ``calibration_curve``)."""
    import warnings

    import sklearn.metrics as skm
    from sklearn.calibration import calibration_curve

    k = len(data["classes"])
    labels = np.arange(k)
    gt, has = data["gt"], data["has_pred"]
    pred = np.where(has, data["pred"], -1)
    kept = has & (data["conf"] >= threshold)
    y_pred = np.where(kept, pred, -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true": the -1
        balanced = skm.balanced_accuracy_score(gt, y_pred)
    out = {"accuracy": skm.accuracy_score(gt, y_pred), "balanced_accuracy": balanced,
           "kappa": skm.cohen_kappa_score(gt, y_pred)}
    p, r, f, s = skm.precision_recall_fscore_support(gt, y_pred, labels=labels, zero_division=0)
    out.update(per_class_precision=p, per_class_recall=r, per_class_f1=f, support=s)
    for avg in ("micro", "macro", "weighted"):
        out[avg] = skm.precision_recall_fscore_support(gt, y_pred, labels=labels, average=avg,
                                                       zero_division=0)[:3]
    out["confusion"] = skm.confusion_matrix(gt, np.where(kept, pred, k), labels=range(k + 1))[:k]
    g, pr = gt[has], data["probs"][has]
    out["top_k"] = [skm.top_k_accuracy_score(g, pr, k=i, labels=labels) for i in range(1, 6)]
    out["log_loss"] = skm.log_loss(g, pr, labels=labels)
    out["brier"] = skm.brier_score_loss(g, pr, labels=labels)
    out["auc"] = np.array([skm.roc_auc_score(g == j, pr[:, j]) for j in labels])
    out["ap"] = np.array([skm.average_precision_score(g == j, pr[:, j]) for j in labels])
    correct = data["pred"][has] == g
    out["calibration"] = calibration_curve(correct, data["conf"][has], n_bins=15,
                                           strategy="uniform")
    return out


def max_difference(ours, ref):
    s, rows, cal = ours["summary"], ours["per_class"], ours["calibration"]
    pairs = [(s["accuracy"], ref["accuracy"]), (s["balanced_accuracy"], ref["balanced_accuracy"]),
             (s["kappa"], ref["kappa"]), (s["log_loss"], ref["log_loss"]),
             (s["brier"], ref["brier"])]
    for avg in ("micro", "macro", "weighted"):
        pairs += list(zip([s[avg + "_precision"], s[avg + "_recall"], s[avg + "_f1"]], ref[avg]))
    pairs += list(zip([s["top_k"]["top_%d" % i] for i in range(1, 6)], ref["top_k"]))
    for key, col in (("precision", "per_class_precision"), ("recall", "per_class_recall"),
                     ("f1", "per_class_f1"), ("auc", "auc"), ("ap", "ap")):
        pairs += list(zip([r[key] for r in rows], ref[col]))
    full = [i for i, c in enumerate(cal["count"]) if c]
    acc, conf = ref["calibration"]
    pairs += list(zip([cal["accuracy"][i] for i in full], acc))
    pairs += list(zip([cal["confidence"][i] for i in full], conf))
    diff = max(abs(float(a) - float(b)) for a, b in pairs)
    same_counts = (np.array_equal(ours["confusion"], ref["confusion"])
                   and [r["support"] for r in rows] == ref["support"].tolist())
    return diff, same_counts, len(pairs)


def bench_engine(data, table, repeat):
    t_ours, t_ref = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        ev, ours = engine_numbers(data, THRESHOLD)
        t_ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ref = sklearn_numbers(data, THRESHOLD)
        t_ref.append(time.perf_counter() - t0)
    diff, same_counts, count = max_difference(ours, ref)
    a, b = float(np.median(t_ours)), float(np.median(t_ref))
    n, k = data["gt"].size, len(data["classes"])
    table.add("Engine vs sklearn.metrics (%d samples, %d classes): %.2f s vs %.2f s (median of %d)"
              % (n, k, a, b, repeat), ">= %.0fx (aim %.0fx)" % (TARGETS["speedup_sklearn"],
                                                             TARGETS["aim_sklearn"]),
              "%.1fx" % (b / a), b / a >= TARGETS["speedup_sklearn"])
    table.add("Engine numbers == sklearn's (%d numbers; confusion matrix and supports equal)"
              % count, "<= %.0e" % TARGETS["exact"], "max abs diff %.1e" % diff,
              diff <= TARGETS["exact"] and same_counts)
    return ev


# -- 2. a new threshold -------------------------------------------------------

def bench_queries(ev, table, n=30, seed=0):
    thresholds = np.random.default_rng(seed).uniform(0.05, 0.95, n)
    ev.sweeps()  # computed once per run (as the panel's first render does)
    times = []
    for c in thresholds:
        ev._assess.cache_clear()
        t0 = time.perf_counter()
        ev.confusion(c)
        ev.assess(c).error_counts()
        ev.per_class(c)
        times.append(time.perf_counter() - t0)
    ms = 1000 * np.array(times)
    table.add("New threshold: confusion + error types + per-class rows, median / max of %d" % n,
              "< %.0f ms" % TARGETS["query_ms"], "%.1f / %.1f ms" % (np.median(ms), ms.max()),
              float(np.median(ms)) < TARGETS["query_ms"])


# -- 3. end to end vs FiftyOne ------------------------------------------------

def bench_fiftyone(ds, data, table, skip_fiftyone):
    import warnings

    import fiftyone.operators as foo

    op = foo.get_operator(OPERATOR_URI)
    op(ds.limit(500), pred_field="predictions", gt_field="ground_truth", eval_key="warm")
    ds.delete_evaluation("warm")
    t_ours = []

    def ours(key):
        t0 = time.perf_counter()
        out = op(ds, pred_field="predictions", gt_field="ground_truth", eval_key=key, k=5)
        t_ours.append(time.perf_counter() - t0)
        print("evaluate_model: %.1f s (%s, accuracy %.4f)" % (t_ours[-1], out["method"],
                                                           out["accuracy"]))
        return out

    summary = ours("ea")
    floors = [floor(ds)]
    if skip_fiftyone:
        table.info("evaluate_model end to end, %d samples" % len(ds), "%.1f s" % t_ours[0])
        report_floor(table, floors, t_ours, None)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        ds.evaluate_classifications("predictions", gt_field="ground_truth", eval_key="fo_topk",
                                    classes=data["classes"], method="top-k", k=5)
        t_topk = time.perf_counter() - t0
        t0 = time.perf_counter()
        ds.evaluate_classifications("predictions", gt_field="ground_truth", eval_key="fo_simple",
                                    classes=data["classes"])
        t_simple = time.perf_counter() - t0
    print("FiftyOne top-k %.1f s, simple %.1f s" % (t_topk, t_simple))
    ours("ea_again")  # before and after FiftyOne's runs: the load changes over minutes
    ds.delete_evaluation("ea_again")
    floors.append(floor(ds))
    t_ea = float(np.mean(t_ours))
    t_fo = t_topk + t_simple
    table.add("evaluate_model vs FiftyOne top-k + simple (%d samples): %.2f s (mean of %.2f s "
              "before and %.2f s after) vs %.1f + %.1f s" % (len(ds), t_ea, t_ours[0], t_ours[1],
                                                            t_topk, t_simple), ">= %.0fx" % TARGETS["speedup_fiftyone"],
              "%.1fx" % (t_fo / t_ea), t_fo / t_ea >= TARGETS["speedup_fiftyone"])
    report_floor(table, floors, t_ours, t_fo)

    ours, theirs = ds.load_evaluation_results("ea"), ds.load_evaluation_results("fo_topk")
    same_values = ds.values("ea") == ds.values("fo_topk")
    same_results = (ours.ypred.tolist() == theirs.ypred.tolist()
                    and ours.confs.tolist() == theirs.confs.tolist())
    a, b = ours.report(), theirs.report()
    report_diff = max(abs(a[c][m] - b[c][m]) for c in b for m in b[c])
    table.add("Per-sample top-k values, results (ypred, confs) == FiftyOne's", "equal",
              "equal" if same_values and same_results else "DIFFER",
              same_values and same_results)
    table.add("print_report() numbers vs FiftyOne's top-k run", "<= %.0e" % TARGETS["exact"],
              "max abs diff %.1e" % report_diff, report_diff <= TARGETS["exact"])
    simple = ds.load_evaluation_results("fo_simple").metrics()["accuracy"]
    table.add("Top-1 accuracy (no threshold) == FiftyOne simple run's", "<= %.0e" %
              TARGETS["exact"], "%.6f vs %.6f" % (summary["accuracy"], simple),
              abs(summary["accuracy"] - simple) <= TARGETS["exact"])


READ_PATHS = {"gi": "$ground_truth._id", "g": "$ground_truth.label", "pi": "$predictions._id",
              "p": "$predictions.label", "c": "$predictions.confidence",
              "l": "$predictions.logits"}


def floor(ds):
    """The least MongoDB work of any run that reads these labels and writes
    two per-sample fields, measured now: one scan of the fields read (a plain
    projection in raw batches, nothing decoded: the reader's own batch loop,
    which is faster than pymongo's raw batches) and one ``update_many``
    setting two new fields (and ``last_modified_at``, as FiftyOne's writes
    do) on every sample."""
    import fiftyone.operators as foo

    foo.get_operator(OPERATOR_URI)
    package = next(n for n in sys.modules if n.startswith("fiftyone.plugins.")
                   and n.endswith(".operators.classification_io"))
    reader = importlib.import_module(package)
    coll = ds._sample_collection
    t0 = time.perf_counter()
    for _ in reader._raw_batches(coll, [{"$project": READ_PATHS}]):
        pass
    scan = time.perf_counter() - t0
    now = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    coll.update_many({}, {"$set": {"floor": True, "floor_error": "correct",
                                   "last_modified_at": now}})
    update = time.perf_counter() - t0
    coll.update_many({}, {"$unset": {"floor": 1, "floor_error": 1}})
    print("MongoDB floor: scan %.2f s, update %.2f s" % (scan, update))
    return scan, update


def report_floor(table, floors, t_ours, t_fo):
    """The floor next to our time and FiftyOne's / 20: whether 20x is
    reachable on this machine at all, and by how much we miss it."""
    scan, update = (float(np.mean(v)) for v in zip(*floors))
    total, t_ea = scan + update, float(np.mean(t_ours))
    table.info("MongoDB floor (mean of %d, next to our runs): one scan of the fields read %.2f s "
               "+ one update_many of every sample setting the same two fields %.2f s"
               % (len(floors), scan, update), "%.2f s" % total)
    table.info("evaluate_model / floor: %.2f s / %.2f s" % (t_ea, total), "%.1fx the floor"
               % (t_ea / total))
    if t_fo is not None:
        budget = t_fo / TARGETS["speedup_fiftyone"]
        table.info("20x budget (FiftyOne / 20 = %.2f s) vs the floor alone (%.2f s): best "
                   "speedup any run writing these fields could reach here = FiftyOne / floor"
                   % (budget, total), "%.1fx; 20x %s" % (
                       t_fo / total, "reachable" if total <= budget else
                       "unreachable (floor %.1fx the budget)" % (total / budget)))


PHASES = [  # (label, module suffix, attribute, top level in the run)
    ("read (one scan)", "operators.classification_io", "read_arrays", True),
    ("FiftyOne's top-k values", "operators.classification_run", "_fiftyone_values", True),
    ("softmax in place", "operators.classification_run", "_engine_inputs", True),
    ("cleanlab label issues", "plugin.classification", "label_issues", True),
    ("engine", "plugin.classification", "evaluate", True),
    ("of which ROC/AP per class", "plugin.scores", "one_vs_rest", False),
    ("error types", "plugin.classification", "Evaluation._compute_assessment", True),
    ("size checks", "operators.labels_io", "check_sample_growth", True),
    ("registration", "operators.run_store", "begin_run", True),
    ("FiftyOne run registered", "operators.classification_run", "_register", True),
    ("per-sample writes", "operators.labels_io", "write_sample_groups", True),
    ("FiftyOne results built", "operators.classification_run", "_results", True),
    ("summary", "plugin.classification", "Evaluation.summary", True),
    ("of which sweep", "plugin.classification", "Evaluation._compute_sweeps", False),
    ("of which calibration", "plugin.classification", "Evaluation.calibration", False),
    ("FiftyOne results serialized and saved", "operators.run_store", "save_fiftyone_results",
     True),
    ("analysis blob saved", "operators.run_store", "save_analysis_results", True),
    ("history and completion", "operators.run_store", "finish_run", True),
]


def bench_phases(ds, table):
    """``evaluate_classifications`` with a timer around each phase's function
    (inclusive times; "other" is what no top-level timer covers)."""
    import fiftyone.operators as foo

    foo.get_operator(OPERATOR_URI)
    package = next(n for n in sys.modules if n.startswith("fiftyone.plugins.")
                   and n.endswith(".operators.classification_run"))[:-len(".operators."
                                                                          "classification_run")]
    spent, restore = {}, []
    for label, suffix, attr, _ in PHASES:
        owner = importlib.import_module(package + "." + suffix)
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part)
        original = getattr(owner, name)

        def timed(*args, _f=original, _label=label, **kwargs):
            t0 = time.perf_counter()
            try:
                return _f(*args, **kwargs)
            finally:
                spent[_label] = spent.get(_label, 0.0) + time.perf_counter() - t0

        setattr(owner, name, timed)
        restore.append((owner, name, original))
    run = importlib.import_module(package + ".operators.classification_run")
    try:
        t0 = time.perf_counter()
        run.evaluate_classifications(ds, "predictions", "ground_truth", "phases")
        total = time.perf_counter() - t0
    finally:
        for owner, name, original in restore:
            setattr(owner, name, original)
    ds.delete_evaluation("phases")
    other = total - sum(spent.get(label, 0.0) for label, _, _, top in PHASES if top)
    spans = ["%s %.2f" % (label, spent.get(label, 0.0)) for label, _, _, _ in PHASES]
    table.info("evaluate_model phases (%.2f s, s each): %s; other %.2f"
               % (total, "; ".join(spans), other), "-")


# -- 4, 5. memory in a child --------------------------------------------------

def child(name, eval_key):
    """Runs in the child process: evaluate_model, then its peak as JSON."""
    import fiftyone as fo
    import fiftyone.operators as foo

    fo.config.show_progress_bars = False
    op = foo.get_operator(OPERATOR_URI)
    dataset = fo.load_dataset(name)
    before = own_peak_mb()
    t0 = time.perf_counter()
    summary = op(dataset, pred_field="predictions", gt_field="ground_truth", eval_key=eval_key)
    seconds = time.perf_counter() - t0
    print(json.dumps(dict(before_mb=before, vmhwm_mb=own_peak_mb(), seconds=seconds,
                          num_images=summary["num_images"], accuracy=summary["accuracy"])))


def measure(name, eval_key):
    """evaluate_model in a child of a small launcher: the launcher's
    ``RUSAGE_CHILDREN`` peak is the child's own (the launcher is ~10 MB)."""
    cmd = [sys.executable, "-c", LAUNCHER, sys.executable, __file__, "--_child", name,
           "--_key", eval_key]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ.copy())
    r = json.loads(out.stdout.strip().splitlines()[-1])
    if r["child"] is None:
        raise RuntimeError("evaluate_model failed in the child:\n" + out.stderr)
    return dict(r["child"], maxrss_mb=r["maxrss_kb"] / 1024.0)


def bench_memory(name, n, table, label):
    r = measure(name, "mem")
    table.add("evaluate_model peak RSS, %s (%d samples, %.1f s; %.0f MB before the call; "
              "VmHWM %.0f MB)" % (label, r["num_images"], r["seconds"], r["before_mb"],
                                  r["vmhwm_mb"]),
              "< 2 GB", "%.0f MB" % r["maxrss_mb"], r["maxrss_mb"] < TARGETS["peak_mb"])
    return r


def bench_million(args, table):
    import fiftyone as fo

    t0 = time.perf_counter()
    data = generate(1_000_000, args.classes, seed=args.seed + 1)
    ds = build(data, "error-atlas-cls-bench-1m-%d" % os.getpid())
    del data
    print("1,000,000 samples generated and inserted in %.0f s" % (time.perf_counter() - t0))
    try:
        r = measure(ds.name, "mem")
        ok = r["num_images"] == 1_000_000
        table.add("evaluate_model, 1,000,000 samples x %d classes: completes" % args.classes,
                  "completes", "%.1f s, peak %.0f MB (VmHWM %.0f MB)" % (
                      r["seconds"], r["maxrss_mb"], r["vmhwm_mb"]), ok)
    finally:
        fo.delete_dataset(ds.name)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=100_000)
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=3, help="engine and sklearn runs (median)")
    p.add_argument("--million", action="store_true", help="also 1,000,000 samples end to end")
    p.add_argument("--skip-fiftyone", action="store_true")
    p.add_argument("--_child", dest="child")
    p.add_argument("--_key", dest="key")
    args = p.parse_args(argv)
    if args.child:
        return child(args.child, args.key)

    tmpdir = tempfile.mkdtemp(prefix="error-atlas-cls-")
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    os.environ.setdefault("FIFTYONE_SHOW_PROGRESS_BARS", "false")
    os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false")
    plugins = pathlib.Path(tmpdir) / "plugins"
    plugins.mkdir()
    (plugins / "error-atlas").symlink_to(ROOT)
    os.environ["FIFTYONE_PLUGINS_DIR"] = str(plugins)
    mongod = start_mongod(tmpdir)
    table = Table()
    print("load average at the start: %.1f %.1f %.1f" % os.getloadavg())
    try:
        data = generate(args.samples, args.classes, args.seed)
        ev = bench_engine(data, table, args.repeat)
        bench_queries(ev, table)
        del ev
        t0 = time.perf_counter()
        ds = build(data, "error-atlas-cls-bench-%d" % os.getpid())
        table.info("FiftyOne dataset setup: %d samples inserted in bulk" % len(ds),
                   "%.0f s" % (time.perf_counter() - t0))
        bench_memory(ds.name, len(ds), table, "%d classes" % args.classes)
        bench_fiftyone(ds, data, table, args.skip_fiftyone)
        bench_phases(ds, table)
        del data
        ds.delete()
        if args.million:
            bench_million(args, table)
    finally:
        print("load average at the end: %.1f %.1f %.1f" % os.getloadavg())
        table.print()
        stop_mongod(mongod)
        shutil.rmtree(tmpdir, ignore_errors=True)
    return 1 if any(r[3] == "FAIL" for r in table.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
