"""The Error Atlas demo: build the generated data set, evaluate it, print a report, open the App.

    python demo/run_demo.py [--task detection|classification|segmentation] [--num-images N]
                            [--seed S] [--masks] [--no-app] [--port 5151]

``detection`` (default): the rendered scenes and the shape detector; ``classification``:
scikit-learn's digits and a logistic regression (:mod:`digits`); ``segmentation``: the
scenes' class maps and the per-pixel segmenter (:mod:`segmentation_scenes`).
"""

import argparse
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

    if args.no_app:
        return
    session = fo.launch_app(dataset, spaces=app_spaces(), port=args.port, remote=True)
    print("\nThe App is running: open http://localhost:%d (Ctrl+C to stop)" % args.port)
    try:
        session.wait(-1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
