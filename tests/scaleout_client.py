"""The client side of tests/test_scaleout.py, run as its own process.

FiftyOne connects to ``FIFTYONE_DATABASE_URI`` at import, so everything that
talks to the test's standalone mongod runs here, never in the pytest process
(which uses conftest's private database). Each command prints one JSON line.
"""

import json
import pathlib
import sys

import cv2
import numpy as np

import fiftyone.operators as foo

from tests.fodata import evaluate_model, random_dataset

MAP_URI = "@error-atlas/error-atlas/compute_error_map"


def compute_error_map(collection, **params):
    return foo.get_operator(MAP_URI)(collection, **params)


def prepare(name, image_dir, num_samples):
    """A dataset with real images, evaluated and mapped now (keys ``now``), and
    the same evaluation queued as a delegated operation (key ``queued``)."""
    ds = random_dataset(seed=7, num_samples=int(num_samples), name=name)
    ds.persistent = True
    rng = np.random.default_rng(7)
    paths = []
    for i in range(len(ds)):
        path = str(pathlib.Path(image_dir) / ("img%03d.png" % i))
        cv2.imwrite(path, np.clip(rng.normal(40 + 180 * (i % 3 == 0), 15, (48, 64, 3)), 0, 255)
                    .astype(np.uint8))
        paths.append(path)
    ds.set_values("filepath", paths)
    evaluate_model(ds, pred_field="predictions", gt_field="ground_truth", eval_key="now")
    compute_error_map(ds, eval_key="now", map_key="now_map")
    queued = evaluate_model(ds, pred_field="predictions", gt_field="ground_truth",
                            eval_key="queued", delegate=True)
    return {"op": str(queued["id"])}


def queue_map(name, map_key):
    """Queues compute_error_map on the delegated evaluation."""
    import fiftyone as fo

    queued = compute_error_map(fo.load_dataset(name), eval_key="queued", map_key=map_key,
                               delegate=True)
    return {"op": str(queued["id"])}


def results(name, *pairs):
    """mAP, every per-label and per-sample field, and the map of each ``eval_key:map_key``,
    with the keys stripped from the field names so runs can be compared."""
    import fiftyone as fo

    ds = fo.load_dataset(name)
    error_map = next(m for n, m in sys.modules.items() if n.endswith("operators.error_map"))
    out = {}
    for pair in pairs:
        eval_key, map_key = pair.split(":")
        out[pair] = {
            "mAP": ds.load_evaluation_results(eval_key).mAP(),
            "fields": _fields(ds, eval_key),
            "map_fields": _fields(ds, map_key),
            "points": ds.load_brain_results(map_key).points.tolist(),
            "map": _map(error_map, ds, map_key),
        }
    return out


def _fields(ds, key):
    values = {}
    for path in sorted(ds.get_field_schema(flat=True)):
        leaf = path.rsplit(".", 1)[-1]
        if leaf == key or leaf.startswith(key + "_"):
            parent = path.rsplit(".", 1)[0] + "." if "." in path else ""
            values[parent + leaf[len(key):]] = ds.values(path, unwind=True)
    return json.loads(json.dumps(values, default=str))


def _map(error_map, ds, map_key):
    arrays, clusters = error_map.load_error_map(ds, map_key)
    return {"arrays": {k: v.tolist() for k, v in arrays.items()},
            "clusters": json.loads(json.dumps(clusters, default=str))}


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    foo.get_operator(MAP_URI)  # loads the plugin
    print(json.dumps({"prepare": prepare, "queue_map": queue_map, "results": results}[command](*args),
                     default=str))
