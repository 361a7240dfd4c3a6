"""The Error Atlas demo: build the generated data set, evaluate it, print a report, open the App.

    python demo/run_demo.py [--task detection|classification|segmentation] [--num-images N]
                            [--seed S] [--masks] [--production] [--no-app] [--port 5151]

``detection`` (default): the rendered scenes and the shape detector; ``classification``:
scikit-learn's digits and a logistic regression (:mod:`digits`); ``segmentation``: the
scenes' class maps and the per-pixel segmenter (:mod:`segmentation_scenes`).
``--production`` (detection) also builds 8 simulated weeks of production images with planted
drift (:mod:`production`), sets up the monitor and its alert rules, checks them week by week,
and opens the App on the production data set with the model monitor.
"""

import argparse
import datetime
import os
import sys
import time

os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")

import fiftyone as fo  # noqa: E402
import fiftyone.operators as foo  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenes  # noqa: E402

TASKS = ("detection", "classification", "segmentation")

OPERATOR = "@error-atlas/error-atlas/evaluate_model"
MAP_OPERATOR = "@error-atlas/error-atlas/compute_error_map"
MAP_KEYS = {"samples": "samples_map", "objects": "objects_map"}  # one error map per level
DETECTOR_ENTRY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shape_detector.py") \
    + ":detect"
ERROR_ORDER = ("classification", "localization", "both", "duplicate", "background", "missed")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=TASKS, default="detection",
                        help="what the demo evaluates (default detection)")
    parser.add_argument("--num-images", type=int, default=None,
                        help="images (default: 300 scenes; every held-out digit; 200 "
                             "segmentation scenes)")
    parser.add_argument("--seed", type=int, default=51, help="seed of the scenes (default 51)")
    parser.add_argument("--masks", action="store_true",
                        help="add instance masks and evaluate them instead of boxes")
    parser.add_argument("--production", action="store_true",
                        help="also build 8 weeks of production images with planted drift and "
                             "open the model monitor on them (detection)")
    parser.add_argument("--no-app", action="store_true", help="do not launch the App")
    parser.add_argument("--port", type=int, default=5151, help="App port (default 5151)")
    parser.add_argument("--name", default=None,
                        help="data set name (default error-atlas-demo[-<task>])")
    args = parser.parse_args(argv)
    if args.name is None:
        args.name = "error-atlas-demo" + ("" if args.task == "detection" else "-" + args.task)
    return args


def _num(value, fmt="{:.3f}"):
    return "-" if value is None else fmt.format(value)


def print_report(summary, num_images, masks=False):
    """A compact report of the evaluation summary; missing keys print as '-'."""
    get = summary.get
    print("\nEvaluation of %s" % ("instance masks" if masks else "boxes"))
    print("  images %s   objects %s   predictions %s" % (
        get("num_images", num_images), _num(get("num_gt"), "{:d}"), _num(get("num_pred"), "{:d}")))
    print("  mAP@[.50:.95] %s   AP50 %s   AP75 %s"
          % (_num(get("mAP")), _num(get("AP50")), _num(get("AP75"))))
    print("  precision %s   recall %s   F1 %s   (at confidence %s)" % (
        _num(get("precision")), _num(get("recall")), _num(get("f1")),
        _num(get("confidence"), "{:.2f}") if get("confidence") is not None else "all"))
    print("  optimal confidence threshold (max F1): %s" % _num(get("optimal_threshold"), "{:.3f}"))
    per_class = get("per_class_AP") or {}
    if per_class:
        print("  AP per class:  "
              + "   ".join("%s %s" % (c, _num(ap)) for c, ap in per_class.items()))
    errors = get("error_counts") or {}
    if errors:
        names = sorted(errors, key=lambda k: ERROR_ORDER.index(k) if k in ERROR_ORDER else 99)
        print("  error types:  " + "   ".join("%s %s" % (k, errors[k]) for k in names))
    for warning in get("warnings") or []:
        print("  warning: %s" % warning)


def build_maps(dataset, levels=tuple(MAP_KEYS)):
    """Error maps of the run at its levels, so the vector explorer opens on one."""
    op = foo.get_operator(MAP_OPERATOR)
    for level in levels:
        map_key = MAP_KEYS[level]
        start = time.time()
        out = op(dataset, eval_key="eval", level=level, map_key=map_key)
        out = getattr(out, "result", out) or {}
        print("Error map '%s' (%s): %s points, %s clusters in %.1f s" % (
            map_key, level, out.get("num_points"), out.get("num_clusters"), time.time() - start))


def print_classification_report(summary, num_images, masks=False):
    """The classification run's headline numbers."""
    get = summary.get
    print("\nEvaluation of the digit classifier on %s held-out images" % get("num_images",
                                                                             num_images))
    print("  accuracy %s   balanced accuracy %s   macro F1 %s   Cohen's kappa %s" % (
        _num(get("accuracy")), _num(get("balanced_accuracy")), _num(get("macro_f1")),
        _num(get("kappa"))))
    top = get("top_k") or {}
    if top:
        print("  " + "   ".join("%s %s" % (k.replace("_", "-"), _num(v)) for k, v in top.items()))
    print("  log loss %s   Brier %s   ECE %s" % (_num(get("log_loss")), _num(get("brier")),
                                                  _num(get("ece"))))
    print("  optimal confidence threshold (max F1): %s" % _num(get("optimal_threshold")))
    errors = get("error_counts") or {}
    if errors:
        print("  error types:  " + "   ".join("%s %s" % kv for kv in errors.items()))
    for warning in get("warnings") or []:
        print("  warning: %s" % warning)


def print_segmentation_report(summary, num_images, masks=False):
    """The segmentation run's headline numbers."""
    get = summary.get
    print("\nEvaluation of the per-pixel segmenter on %s images" % get("num_images", num_images))
    print("  mIoU %s   pixel accuracy %s   mean accuracy %s   FW IoU %s   boundary IoU %s" % (
        _num(get("mIoU")), _num(get("pixel_accuracy")), _num(get("mean_accuracy")),
        _num(get("fw_iou")), _num(get("mean_boundary_iou"))))
    rows = get("per_class") or []
    if rows:
        print("  IoU per class:  " + "   ".join("%s %s" % (r["name"], _num(r["iou"]))
                                               for r in rows))
    print("  optimal confidence threshold (max mean F1): %s" % _num(get("optimal_threshold")))
    for warning in get("warnings") or []:
        print("  warning: %s" % warning)


REPORTS = {"detection": print_report, "classification": print_classification_report,
           "segmentation": print_segmentation_report}
MAP_LEVELS = {"detection": ("samples", "objects"), "classification": ("samples",),
              "segmentation": ("samples",)}


def build(args):
    """The task's data set, built offline."""
    if args.task == "classification":
        import digits

        return digits.build_dataset(name=args.name, num_images=args.num_images, seed=args.seed)
    if args.task == "segmentation":
        import segmentation_scenes

        return segmentation_scenes.build_dataset(name=args.name, num_images=args.num_images or 200,
                                                 seed=args.seed)
    return scenes.build_dataset(name=args.name, num_images=args.num_images or 300,
                                seed=args.seed, with_masks=args.masks)


def evaluate_segmentation(dataset, op):
    """``evaluate_model`` on the Segmentation fields, with the per-pixel confidence."""
    return op(dataset, pred_field="predictions", gt_field="ground_truth", eval_key="eval",
              confidence_field="confidence")


def app_spaces():
    """Three columns, each panel rendered on load (a space renders only its
    ``active_child``): the grid, the evaluation explorer, the vector explorer."""
    panels = [fo.Panel(type="Samples", pinned=True), fo.Panel(type="evaluation_explorer"),
              fo.Panel(type="vector_explorer")]
    return fo.Space(children=[fo.Space(children=[p], active_child=p.component_id) for p in panels],
                    orientation="horizontal", sizes=[0.34, 0.33, 0.33])


#: The monitor's alert rules in the demo (kind, threshold).
DEMO_RULES = (("mean_confidence_below", 0.6), ("volume_drop", 30.0),
              ("class_share_change", 10.0), ("drift_above", 0.15),
              ("cluster_share_above", 0.35))


def plugin_module(suffix):
    """A module of the plugin as FiftyOne imported it (under its synthetic package name)."""
    import importlib

    foo.get_operator(OPERATOR)
    found = [n for n in sys.modules if n.startswith("fiftyone.plugins.")
             and n.endswith(".operators.detection_run")]
    if not found:
        sys.exit("Error: the plugin is not loaded: run `make setup`")
    return importlib.import_module(found[0][:-len(".operators.detection_run")] + "." + suffix)


def build_monitor(eval_dataset, args):
    """The production data set, its monitor against the evaluation's samples map, the demo's
    alert rules checked at the end of each simulated week, and the last week's drift."""
    import production

    start = time.time()
    num = max(48, (args.num_images or 300) * 8 // 5)
    dataset = production.build_production(name=args.name + "-production", num_images=num,
                                          seed=args.seed + 1000)
    print("Built '%s': %d production images over %d weeks in %.1f s" % (
        dataset.name, len(dataset), production.WEEKS, time.time() - start))
    monitoring = plugin_module("operators.monitoring")
    alerts = plugin_module("operators.monitor_alerts")
    monitoring.save_settings(dataset, eval_dataset=eval_dataset.name, map_key=MAP_KEYS["samples"])
    dataset.info = dict(dataset.info, error_atlas_default_model=DETECTOR_ENTRY)
    dataset.save()
    for kind, threshold in DEMO_RULES:
        alerts.add_rule(dataset, kind, threshold)
    check = foo.get_operator("@error-atlas/error-atlas/check_alerts")
    last = dataset.bounds("timestamp")[1]
    for week in range(production.WEEKS - 2, -1, -1):  # oldest first, as a weekly schedule would
        out = check(dataset, period="week", end=last - datetime.timedelta(weeks=week)
                    + datetime.timedelta(seconds=1))
        out = getattr(out, "result", out) or {}
        print("  week ending %s: %s" % (out.get("end", "")[:10], "; ".join(
            f["message"] for f in out.get("fired", [])) or "no alert"))
    drift = foo.get_operator("@error-atlas/error-atlas/monitor_drift")(
        dataset, eval_dataset=eval_dataset.name, map_key=MAP_KEYS["samples"])
    drift = getattr(drift, "result", drift) or {}
    d, placed = drift.get("drift", {}), drift.get("placement", {})
    print("Last week against the evaluation: drift %.3f (p = %.3f); expected error rate %.1f%% "
          "(evaluated images: %.1f%%)" % (
              d.get("score", 0), d.get("p_value", 1), 100 * (placed.get("expected_error_rate") or 0),
              100 * (placed.get("reference_error_rate") or 0)))
    for f in d.get("features", [])[:3]:
        print("  " + f["phrase"])
    return dataset


def monitor_spaces():
    """The grid and the model monitor, side by side."""
    panels = [fo.Panel(type="Samples", pinned=True), fo.Panel(type="model_monitor")]
    return fo.Space(children=[fo.Space(children=[p], active_child=p.component_id) for p in panels],
                    orientation="horizontal", sizes=[0.4, 0.6])


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    dataset = build(args)
    print("Built '%s': %d images in %.1f s" % (dataset.name, len(dataset), time.time() - start))

    try:
        op = foo.get_operator(OPERATOR)
    except ValueError:
        sys.exit("Error: %s not found: the plugin is not visible to FiftyOne: run `make setup`"
                 % OPERATOR)
    start = time.time()
    if args.task == "detection":
        summary = op(dataset, pred_field="predictions", gt_field="ground_truth", eval_key="eval",
                     use_masks=args.masks)
    elif args.task == "classification":
        summary = op(dataset, pred_field="predictions", gt_field="ground_truth", eval_key="eval")
    else:
        summary = evaluate_segmentation(dataset, op)
    summary = getattr(summary, "result", summary) or {}
    print("Evaluated in %.1f s" % (time.time() - start))
    REPORTS[args.task](summary, len(dataset), args.masks)
    build_maps(dataset, MAP_LEVELS[args.task])
    if args.task == "detection":  # score_images' default model: the demo's detector, offline
        dataset.info = dict(dataset.info or {}, error_atlas_default_model=DETECTOR_ENTRY)
        dataset.save()
    spaces = app_spaces()
    if args.production and args.task == "detection":
        dataset = build_monitor(dataset, args)
        spaces = monitor_spaces()

    if args.no_app:
        return
    session = fo.launch_app(dataset, spaces=spaces, port=args.port, remote=True)
    print("\nThe App is running: open http://localhost:%d (Ctrl+C to stop)" % args.port)
    try:
        session.wait(-1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
