"""``score_images`` ("what if"): a model's predictions on chosen images, at the run's thresholds.

Images: samples selected in the grid (or any ids), every image file of a
folder on the server, or images uploaded through the operator's form
(FiftyOne's ``UploadedFile``: name, MIME type and base64 content; written
under :func:`upload_dir`, ``<fo.config.default_dataset_dir>/error_atlas_uploads/
<dataset>/``, as ``<content hash>_<name>``). Models (:func:`resolve_model`):

- a FiftyOne :class:`fiftyone.core.models.Model` (from Python), applied with
  ``apply_model``;
- an entry point ``package.module:function`` or ``/path/to/file.py:function``:
  the function takes an image as OpenCV reads it (BGR ``uint8``) and returns
  ``fo.Detections`` or a list of dicts with ``label``, ``confidence`` and a box,
  ``bbox`` ``[x, y, w, h]`` in pixels or ``bounding_box`` relative; the demo's
  detector is ``demo/shape_detector.py:detect`` (stored as the demo dataset's
  default, so it works offline);
- a FiftyOne zoo model name, where it can be loaded (a clear error offline).

Every prediction is kept in ``<label_field>`` with its confidence; those at or
above their class's threshold (the run's saved per-class thresholds, else its
operating confidence, else the overall maximum-F1 threshold) are also in
``<label_field>_kept``, the others carry ``below_threshold=True``. Scored
images are tagged :data:`TAG`; folder and uploaded images are added as new samples, to the
dataset or (``target_dataset``) to a separate one: never into a ground-truth
field, so no evaluation counts them.
"""

import base64
import binascii
import hashlib
import importlib
import importlib.util
import os
import re

import numpy as np

import fiftyone as fo
import fiftyone.core.models as fom
import fiftyone.operators as foo
import fiftyone.operators.types as types

from . import run_store, sdk
from .errors import EvaluationInputError

TAG = "what_if"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_MODEL_KEY = "error_atlas_default_model"


def resolve_model(spec):
    """``("fiftyone", Model)`` or ``("function", callable)`` for a model spec (see above)."""
    if isinstance(spec, fom.Model):
        return "fiftyone", spec
    if callable(spec):
        return "function", spec
    text = str(spec or "").strip()
    if not text:
        raise EvaluationInputError("Choose a model: an entry point 'package.module:function', "
                                   "'/path/file.py:function', or a FiftyOne zoo model name.")
    if ":" in text and not text.startswith(("http:", "https:")):
        module, _, name = text.rpartition(":")
        try:
            if module.endswith(".py"):
                spec_ = importlib.util.spec_from_file_location(
                    "error_atlas_model_" + os.path.basename(module)[:-3], module)
                mod = importlib.util.module_from_spec(spec_)
                spec_.loader.exec_module(mod)
            else:
                mod = importlib.import_module(module)
            return "function", getattr(mod, name)
        except (ImportError, AttributeError, FileNotFoundError, OSError) as e:
            raise EvaluationInputError(
                "Model entry point '%s' could not be loaded (%s). Give "
                "'package.module:function' importable on the server, or '/path/file.py:function'."
                % (text, e))
    import fiftyone.zoo as foz

    try:
        return "fiftyone", foz.load_zoo_model(text)
    except Exception as e:
        raise EvaluationInputError(
            "Zoo model '%s' could not be loaded (%s). Offline, use an entry point "
            "'package.module:function' (the demo's: demo/shape_detector.py:detect)."
            % (text, str(e).splitlines()[0][:200] if str(e) else type(e).__name__))


def thresholds(dataset, eval_key):
    """``(per_class, overall)`` confidence thresholds of an ``evaluate_model`` run."""
    if not eval_key:
        return {}, None
    if run_store.run_status(dataset, eval_key) != "completed":
        raise EvaluationInputError(
            "No finished evaluate_model run '%s' on dataset '%s' for its thresholds (runs: %s)."
            % (eval_key, dataset.name, ", ".join(dataset.list_evaluations()) or "none"))
    info = run_store.analysis_info(dataset, eval_key)
    per_class = {c: t for c, t in (info.get("class_thresholds") or {}).items() if t is not None}
    overall = info.get("confidence")
    if overall is None:
        ev = run_store.load_analysis(dataset, eval_key)
        try:
            overall = ev.optimal_thresholds().get("overall")
        except TypeError:
            overall = None
    return per_class, overall


def folder_images(folder):
    if not folder or not os.path.isdir(folder):
        raise EvaluationInputError("Folder '%s' does not exist on the server." % folder)
    paths = sorted(os.path.join(folder, f) for f in os.listdir(folder)
                   if f.lower().endswith(IMAGE_EXTENSIONS))
    if not paths:
        raise EvaluationInputError("Folder '%s' holds no image (%s)." % (
            folder, ", ".join(IMAGE_EXTENSIONS)))
    return paths


def upload_dir(dataset):
    """Where uploaded images of ``dataset`` are written."""
    return os.path.join(fo.config.default_dataset_dir, "error_atlas_uploads",
                        re.sub(r"[^A-Za-z0-9._-]", "_", dataset.name))


def decode_uploads(uploads):
    """``[(file name, bytes)]`` of uploaded images (FiftyOne ``UploadedFile``
    dicts, base64 ``content``), each checked to be a readable image: nothing is
    written when one is not."""
    import cv2

    if isinstance(uploads, dict):
        uploads = [uploads]
    if not uploads:
        raise EvaluationInputError("uploads: no file uploaded; choose an image in the form.")
    out = []
    for up in uploads:
        name = os.path.basename(str((up or {}).get("name") or "upload"))
        content = (up or {}).get("content") or ""
        if "," in content[:100] and content.startswith("data:"):
            content = content.split(",", 1)[1]  # a data URL
        try:
            raw = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise EvaluationInputError("uploads: '%s' is not base64 content; upload the image "
                                       "file itself." % name)
        if not name.lower().endswith(IMAGE_EXTENSIONS) or raw == b"" or cv2.imdecode(
                np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR) is None:
            raise EvaluationInputError("uploads: '%s' is not an image (%s); nothing was written."
                                       % (name, ", ".join(IMAGE_EXTENSIONS)))
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
        out.append(("%s_%s" % (hashlib.sha1(raw).hexdigest()[:10], safe), raw))
    return out


def _write_uploads(directory, files):
    os.makedirs(directory, exist_ok=True)
    paths = []
    for name, raw in files:
        path = os.path.join(directory, name)
        with open(path, "wb") as f:
            f.write(raw)
        paths.append(path)
    return paths


def score_images(dataset, model, sample_ids=None, folder=None, eval_key=None, eval_dataset=None,
                 label_field="what_if", target_dataset=None, progress=None, uploads=None):
    """Scores the images and stores the predictions; returns a summary per image."""
    progress = progress or (lambda fraction, label: None)
    if not label_field or not str(label_field).isidentifier():
        raise EvaluationInputError("label_field '%s' is not valid: use letters, digits and "
                                   "underscores." % label_field)
    if sum(x is not None for x in (sample_ids, folder, uploads)) != 1:
        raise EvaluationInputError("Score one of: samples (selected in the grid), a folder on "
                                   "the server, or uploaded images.")
    files = decode_uploads(uploads) if uploads is not None else None
    kept_field = label_field + "_kept"
    ref = fo.load_dataset(eval_dataset) if eval_dataset else dataset
    for field in (label_field, kept_field):
        gt_fields = {getattr(ref.get_evaluation_info(k).config, "gt_field", None)
                     for k in ref.list_evaluations()}
        if field in gt_fields:
            raise EvaluationInputError("label_field '%s' is a ground-truth field of an "
                                       "evaluation: choose another." % field)
    per_class, overall = thresholds(ref, eval_key)
    kind, fn = resolve_model(model)
    if folder is not None or files is not None:
        paths = folder_images(folder) if files is None else None
        out = fo.load_dataset(target_dataset) if target_dataset and fo.dataset_exists(
            target_dataset) else (fo.Dataset(target_dataset, persistent=True) if target_dataset
                                  else dataset)
        if files is not None:
            paths = _write_uploads(upload_dir(out), files)
        samples = [fo.Sample(filepath=p, tags=[TAG]) for p in paths]
        ids = out.add_samples(samples, progress=False)
        view = out.select(ids, ordered=True)
    else:
        if not sample_ids:
            raise EvaluationInputError("No sample selected: select images in the grid first.")
        out, view = dataset, dataset.select(list(sample_ids), ordered=True)
    if kind == "fiftyone":
        view.apply_model(fn, label_field=label_field, progress=False)
        labels = view.values(label_field)
    else:
        labels = _apply_function(fn, view, progress)
    kept = [_threshold(d, per_class, overall) for d in labels]  # marks the labels too
    view.set_values(label_field, labels)
    view.set_values(kept_field, kept)
    view.tag_samples(TAG)
    rows = [{"id": i, "filepath": p, "predictions": len(_dets(a)), "kept": len(_dets(k)),
             "message": None if _dets(a) else "the model found nothing in this image"}
            for i, p, a, k in zip(view.values("id"), view.values("filepath"),
                                  view.values(label_field), kept)]
    return {"dataset": out.name, "label_field": label_field, "kept_field": kept_field,
            "thresholds": {"per_class": per_class, "overall": overall},
            "num_images": len(rows), "images": rows}


def _dets(label):
    return list(getattr(label, "detections", None) or [])


def _apply_function(fn, view, progress):
    import cv2

    paths = view.values("filepath")
    labels = []
    for n, path in enumerate(paths):  # one model call per image: the model's own cost
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise EvaluationInputError("Image '%s' could not be read." % path)
        labels.append(_as_detections(fn(image), image.shape[1], image.shape[0]))
        progress((n + 1) / len(paths), "Scored %d / %d images" % (n + 1, len(paths)))
    return labels


def _as_detections(result, width, height):
    if isinstance(result, fo.Detections):
        return result
    dets = []
    for d in result or []:
        if "bounding_box" in d:
            box = list(map(float, d["bounding_box"]))
        else:
            x, y, w, h = d["bbox"]
            box = [x / width, y / height, w / width, h / height]
        dets.append(fo.Detection(label=str(d["label"]), bounding_box=box,
                                 confidence=None if d.get("confidence") is None
                                 else float(d["confidence"])))
    return fo.Detections(detections=dets)


def _threshold(label, per_class, overall):
    """The predictions at or above their class's threshold; the others are marked."""
    if label is None or not hasattr(label, "detections"):
        return label
    dets = _dets(label)
    conf = np.array([d.confidence if d.confidence is not None else 1.0 for d in dets])
    limit = np.array([per_class.get(d.label, overall) if per_class.get(d.label, overall)
                      is not None else 0.0 for d in dets])
    keep = conf >= limit
    for d, k, t in zip(dets, keep, limit):
        d["below_threshold"] = bool(not k)
        d["threshold"] = float(t)
    return fo.Detections(detections=[d.copy() for d, k in zip(dets, keep) if k])


class ScoreImages(foo.Operator):
    """Scores chosen images with a model, at an evaluation run's thresholds."""

    @property
    def config(self):
        return foo.OperatorConfig(
            name="score_images", label="Error Atlas: score images (what if)",
            description="A model's predictions on selected samples or a folder, at the "
                        "evaluation's per-class thresholds",
            dynamic=True, allow_immediate_execution=True, allow_delegated_execution=True)

    def __call__(self, sample_collection, model=None, sample_ids=None, folder=None,
                 eval_key=None, eval_dataset=None, label_field="what_if", target_dataset=None,
                 uploads=None, delegate=False):
        """Runs from Python; returns the summary (per image: predictions, kept, message).

        Args:
            sample_collection: the dataset (scored samples are its own, or folder images
                are added to it unless ``target_dataset``)
            model: a FiftyOne ``Model``, an entry point ``package.module:function`` /
                ``/path/file.py:function``, or a zoo model name (default: the dataset's
                default model, which the demo sets)
            sample_ids: samples to score; or ``folder``: a folder of images on the server;
                or ``uploads``: ``[{"name", "content"}]`` (base64), as the form's upload sends
            eval_key, eval_dataset: the run whose thresholds apply (its dataset: default
                this one)
        """
        if isinstance(model, fom.Model) or callable(model):
            if delegate:
                raise EvaluationInputError("A model object cannot be delegated: pass an entry "
                                           "point 'package.module:function' instead.")
            dataset = sample_collection._root_dataset
            return score_images(dataset, model, sample_ids=sample_ids, folder=folder,
                                eval_key=eval_key, eval_dataset=eval_dataset,
                                label_field=label_field, target_dataset=target_dataset,
                                uploads=uploads)
        params = dict(model=model, sample_ids=sample_ids, folder=folder, eval_key=eval_key,
                      eval_dataset=eval_dataset, label_field=label_field,
                      target_dataset=target_dataset, uploads=uploads)
        return sdk.run(self, sample_collection, params, delegate)

    def resolve_input(self, ctx):
        inputs = types.Object()
        inputs.str("model", default=(ctx.dataset.info or {}).get(DEFAULT_MODEL_KEY), required=True,
                   label="Model: package.module:function, /path/file.py:function or zoo name")
        sources = types.RadioGroup()
        sources.add_choice("selected", label="Samples selected in the grid (%d)"
                           % len(ctx.selected or []))
        sources.add_choice("folder", label="A folder on the server")
        sources.add_choice("upload", label="An image uploaded here")
        default = "folder" if ctx.params.get("folder") else (
            "upload" if ctx.params.get("upload") or ctx.params.get("uploads") else "selected")
        inputs.str("source", default=default, view=sources, label="Images")
        source = ctx.params.get("source", default)
        if source == "folder":
            inputs.str("folder", label="Folder", required=True)
        elif source == "upload":
            inputs.define_property("upload", types.UploadedFile(), required=not ctx.params.get(
                "uploads"), view=types.FileView(
                label="Image (%s)" % ", ".join(IMAGE_EXTENSIONS), types=",".join(
                    IMAGE_EXTENSIONS), description="Written under %s and scored as a new sample"
                % upload_dir(ctx.dataset)))
        if source in ("folder", "upload"):
            inputs.str("target_dataset", label="Add them to a separate dataset (empty: this one)")
        runs = [k for k in ctx.dataset.list_evaluations()
                if run_store.run_status(ctx.dataset, k) == "completed"]
        menu = types.Dropdown()
        for k in runs:
            menu.add_choice(k, label=k)
        inputs.str("eval_key", default=runs[-1] if runs else None, view=menu,
                   label="Thresholds of the evaluation run")
        inputs.str("label_field", default="what_if", label="Predictions field")
        return types.Property(inputs, view=types.View(label="Score images (what if)"))

    def execute(self, ctx):
        p = ctx.params
        folder = p.get("folder") if p.get("source") == "folder" or p.get("folder") else None
        uploads = p.get("uploads") if p.get("uploads") is not None else (
            [p["upload"]] if p.get("source") == "upload" and p.get("upload") else None)
        if p.get("source") == "upload" and uploads is None:
            raise EvaluationInputError("upload: no file uploaded; choose an image in the form.")
        ids = p.get("sample_ids") if p.get("sample_ids") is not None else (
            None if folder or uploads is not None else list(ctx.selected or []))
        out = score_images(
            ctx.dataset, p.get("model") or (ctx.dataset.info or {}).get(DEFAULT_MODEL_KEY),
            sample_ids=ids, folder=folder, eval_key=p.get("eval_key"),
            eval_dataset=p.get("eval_dataset"), label_field=p.get("label_field") or "what_if",
            target_dataset=p.get("target_dataset") or None, uploads=uploads,
            progress=lambda f, label: ctx.set_progress(progress=f, label=label))
        if not ctx.delegated:
            ctx.trigger("reload_dataset")
        return out
