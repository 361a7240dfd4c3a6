"""What a hovered point of the vector explorer's map shows: a few lines of text and
a thumbnail, computed for that one point when the pointer rests on it.

Nothing is sent for the 50,000 points up front (per-point hover text would
double the scatter's payload, see :mod:`.vector_explorer`): the browser
component asks for the point under the pointer (``on_point_hover``) and gets
this answer back as the event's result, with no render. Numbers are those the
map was coloured with: its evaluation's operating point (``assessment``).
"""

import base64
import io
import os

import numpy as np

from . import texts
from .counts import subset_counts

THUMBNAIL_PX = 128  # the thumbnail's longer side
MARGIN = 0.15  # context around an object's box, as a share of its size


def point_info(dataset, m, ev, assessment, i, iou, confidence):
    """``{"lines": [...], "thumbnail": data URL or None}`` for point ``i`` of map ``m``."""
    if m.config.level == "samples":
        image = int(np.flatnonzero(ev.image_ids == m.arrays["ids"][i])[0])
        lines, field, label_id = _sample_lines(ev, assessment, m.arrays["error"][i], image), None, None
    else:
        image, lines, field, label_id = _object_lines(ev, assessment, m, i)
    sample = dataset[str(ev.image_ids[image])]
    name = os.path.basename(sample.filepath)
    lines.insert(1 if m.config.level == "objects" else 0, "image " + name)
    lines.append("as mapped: IoU %.2f, %s" % (
        iou, "every confidence" if confidence is None else
        "confidence ≥ " + texts.confidence_text(confidence)))
    box = _box(sample, field, label_id) if field else None
    return {"lines": lines, "thumbnail": thumbnail(sample.filepath, box)}


def _sample_lines(ev, a, error, image):
    tp, fp, fn = subset_counts(a.pred_error[ev.pred_image == image],
                               a.gt_error[ev.gt_image == image])
    worst = "no error" if error == "correct" else ("worst error: %s" % error if error else
                                                   "nothing evaluated")
    return ["TP %d · FP %d · FN %d" % (tp, fp, fn), worst]


def _object_lines(ev, a, m, i):
    """``(image, lines, label field, label id)`` of an objects map's point."""
    label_id, error = m.arrays["ids"][i], m.arrays["error"][i]
    if m.arrays["kind"][i] == 0:
        p = int(np.flatnonzero(ev.pred_ids == label_id)[0])
        target = int(a.pred_target[p])
        overlap = _pair_iou(ev, np.array([p]), target) if target >= 0 else None
        head = "prediction · %s · confidence %.3f" % (ev.classes[ev.pred_label[p]],
                                                      ev.pred_score[p])
        field, image = m.config.pred_field, int(ev.pred_image[p])
    else:
        g = int(np.flatnonzero(ev.gt_ids == label_id)[0])
        hitting = np.flatnonzero(a.pred_target == g)
        overlap = _pair_iou(ev, hitting, g) if len(hitting) else None
        head = "ground truth · %s" % ev.classes[ev.gt_label[g]]
        field, image = m.config.gt_field, int(ev.gt_image[g])
    what = "correct" if error == "correct" else "error: %s" % (error or "not evaluated")
    if overlap is not None:
        what += " · IoU %.2f" % overlap
    return image, [head, what], field, label_id


def _pair_iou(ev, preds, gt):
    """The largest IoU between predictions ``preds`` and object ``gt`` (None: no overlap)."""
    hit = np.isin(ev.pair_pred, preds) & (ev.pair_gt == gt)
    return float(ev.pair_iou[hit].max()) if hit.any() else None


def _box(sample, field, label_id):
    """The relative box of label ``label_id`` in ``field`` of ``sample``, or None."""
    value = sample.get_field(field)
    labels = getattr(value, "detections", None)
    labels = [value] if labels is None and value is not None else labels or []
    return next((d.bounding_box for d in labels if d.id == label_id), None)


def thumbnail(path, box=None, size=THUMBNAIL_PX):
    """A JPEG of the image (or of ``box``, relative ``[x, y, w, h]``, with some context
    around it) ``size`` px on its longer side, as a data URL; None when it cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            if box is not None:
                W, H = img.size
                x, y, w, h = box
                mx, my = MARGIN * w, MARGIN * h
                crop = (max(0, (x - mx) * W), max(0, (y - my) * H),
                        min(W, (x + w + mx) * W), min(H, (y + h + my) * H))
                if crop[2] - crop[0] >= 1 and crop[3] - crop[1] >= 1:
                    img = img.crop(tuple(int(round(v)) for v in crop))
            scale = size / max(img.size)  # small objects are enlarged, large images shrunk
            img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))))
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=80)
    except (OSError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")

