"""Reading detections out of FiftyOne and writing per-label results back, in bulk.

Reads use one ``values()`` call per field. Writes go straight to the sample
collection with one ``$set`` per sample that addresses each label by its array
position, which is far faster than ``set_values()`` on nested label lists and
touches nothing but the fields being written.
"""

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
from bson import ObjectId
from pymongo import UpdateOne
from pymongo.errors import AutoReconnect

import fiftyone.core.labels as fol
import fiftyone.core.view as fov

from .errors import EvaluationInputError

WRITE_BATCH = 2000
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024  # MongoDB's limit on a document, and on one update
OP_BYTES = 4 * 1024 * 1024  # one sample's $set is split into updates of about this size
DOC_MARGIN = 64 * 1024


@dataclass
class LabelTable:
    """The labels of one Detections field over a view, flattened."""

    field: str
    ids: list
    sample: np.ndarray  # (N,) index of each label's sample in the view
    position: np.ndarray  # (N,) index in the sample's full label list
    label: list
    box: np.ndarray  # (N, 4) relative [x, y, w, h]
    confidence: list = None
    crowd: np.ndarray = None
    masks: list = None
    extra: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.ids)


def check_detections_field(view, name, role):
    """Raises a clear error unless ``name`` is a Detections field of ``view``."""
    if not name:
        raise EvaluationInputError("Choose the %s field (a Detections field)." % role)
    field = view.get_field(name) if not view._is_frame_field(name) else None
    choices = ", ".join(sorted(detections_fields(view))) or "none"
    if field is None:
        raise EvaluationInputError(
            "%s field '%s' does not exist on this dataset. Detections fields: %s."
            % (role.capitalize(), name, choices)
        )
    doc_type = getattr(field, "document_type", None)
    if doc_type is fol.Polylines:
        raise EvaluationInputError(
            "%s field '%s' holds Polylines, which evaluate_model does not evaluate. Convert "
            "them to fo.Detections with instance masks (Polylines.to_detections(frame_size=(w, h))) "
            "and evaluate with use_masks=True, or use FiftyOne's dataset.evaluate_detections() "
            "for polygon IoUs. Detections fields: %s." % (role.capitalize(), name, choices)
        )
    if doc_type is not fol.Detections:
        kind = doc_type.__name__ if doc_type else type(field).__name__
        raise EvaluationInputError(
            "%s field '%s' holds %s, but evaluate_model needs fo.Detections "
            "(boxes, optionally with instance masks). Detections fields: %s."
            % (role.capitalize(), name, kind, choices)
        )


def detections_fields(view):
    """Paths of the Detections fields of a collection's samples, including ones
    inside embedded documents (e.g. ``embedded.predictions``)."""
    return [
        name for name, f in view.get_field_schema(flat=True).items()
        if getattr(f, "document_type", None) is fol.Detections
    ]


def read_labels(view, name, with_confidence=False, crowd_attr=None, with_masks=False, extra=()):
    """Flattens field ``name`` of every sample in ``view`` into a :class:`LabelTable`.

    ``extra`` names more label attributes to read into ``table.extra``.
    """
    path = name + ".detections."
    keys = ["id", "label", "bounding_box"]
    if with_confidence:
        keys.append("confidence")
    if crowd_attr:
        keys.append(crowd_attr)
    if with_masks:
        keys += ["mask", "mask_path"]
    keys += [k for k in extra if k not in keys]
    columns = view.values([path + k for k in keys])
    per_sample = dict(zip(keys, columns))

    counts = np.array([len(x) if x else 0 for x in per_sample["id"]], dtype=np.int64)
    flat = {k: list(itertools.chain.from_iterable(x or () for x in v)) for k, v in per_sample.items()}
    sample = np.repeat(np.arange(counts.size), counts)
    position = np.arange(sample.size) - np.repeat(np.cumsum(counts) - counts, counts)
    filtered = view._get_filtered_fields() if isinstance(view, fov.DatasetView) else None
    if filtered and any(f == name or f.startswith(name + ".") for f in filtered):
        position = _full_positions(view, name, flat["id"], counts)

    boxes = flat["bounding_box"]
    box = np.full((len(boxes), 4), np.nan)
    ok = [i for i, b in enumerate(boxes) if b is not None and len(b) == 4]
    if ok:
        box[ok] = np.asarray([boxes[i] for i in ok], dtype=np.float64)

    table = LabelTable(
        field=name, ids=flat["id"], sample=sample, position=position,
        label=flat["label"], box=box,
    )
    if with_confidence:
        table.confidence = flat["confidence"]
    if crowd_attr:
        table.crowd = np.array([bool(c) for c in flat[crowd_attr]], dtype=bool)
    else:
        table.crowd = np.zeros(len(table), dtype=bool)
    table.extra = {k: flat[k] for k in extra}
    if with_masks:
        table.masks = [
            m if m is not None else (fol.Detection(mask_path=p).get_mask() if p else None)
            for m, p in zip(flat["mask"], flat["mask_path"])
        ]
    return table


def _full_positions(view, name, ids, counts):
    """Array positions of labels in the stored documents when a view filters them."""
    sample_ids = view.values("id")
    full = view._dataset.select(sample_ids, ordered=True).values(name + ".detections.id")
    lookup = {}
    for per_sample in full:
        for i, label_id in enumerate(per_sample or ()):
            lookup[label_id] = i
    return np.array([lookup[i] for i in ids], dtype=np.int64)


class SampleUpdates:
    """Accumulates ``$set`` values per sample, for labels (by array position) and
    top-level fields, then writes them as one ``UpdateOne`` per sample. Each
    touched sample's ``last_modified_at`` is refreshed like FiftyOne's writes."""

    def __init__(self, sample_ids):
        self.sample_ids = sample_ids
        self.sets = {}
        self.now = datetime.now(timezone.utc)

    def _for(self, s):
        sets = self.sets.get(s)
        if sets is None:
            sets = self.sets[s] = {"last_modified_at": self.now}
        return sets

    def labels(self, table, values):
        """Sets ``values[attr][i]`` on label ``i`` of ``table`` (None unsets the value)."""
        prefix = table.field + ".detections."
        names = list(values)
        for s, pos, *vals in zip(table.sample.tolist(), table.position.tolist(),
                                 *(values[n] for n in names)):
            sets = self._for(s)
            base = "%s%d." % (prefix, pos)
            for n, v in zip(names, vals):
                sets[base + n] = v
        return self

    def samples(self, values):
        """Sets top-level fields: ``values[name]`` is aligned with ``sample_ids``."""
        names = list(values)
        for s, vals in enumerate(zip(*(values[n] for n in names))):
            self._for(s).update(zip(names, vals))
        return self

    def check_size(self, dataset):
        """Refuses, before anything is written, when a sample's document would
        outgrow MongoDB's 16 MB limit with these values (e.g. one image with
        tens of thousands of predictions)."""
        added = {s: sum(_value_bytes(k.rsplit(".", 1)[-1], v) for k, v in sets.items())
                 for s, sets in self.sets.items()}
        large = [s for s, n in added.items() if n > MAX_DOCUMENT_BYTES // 16]
        if not large:
            return
        ids = [ObjectId(self.sample_ids[s]) for s in large]
        sizes = {d["_id"]: d["size"] for d in dataset._sample_collection.aggregate([
            {"$match": {"_id": {"$in": ids}}}, {"$project": {"size": {"$bsonSize": "$$ROOT"}}}])}
        for s, oid in zip(large, ids):
            total = sizes.get(oid, 0) + added[s]
            if total > MAX_DOCUMENT_BYTES - DOC_MARGIN:
                raise EvaluationInputError(
                    "Sample %s would grow to %.1f MB with the evaluation's per-label values, over "
                    "MongoDB's 16 MB document limit (it holds too many labels). Evaluate a view "
                    "without it, e.g. view.exclude('%s'), or keep fewer predictions per image "
                    "(e.g. filter_labels on confidence)." % (self.sample_ids[s], total / 2 ** 20,
                                                              self.sample_ids[s]))

    def write(self, dataset):
        _bulk_set(dataset, self.sample_ids, self.sets)


def write_label_values(dataset, sample_ids, table, values):
    """Sets label attributes of ``table`` in bulk (see :class:`SampleUpdates`)."""
    SampleUpdates(sample_ids).labels(table, values).write(dataset)


def write_sample_values(dataset, sample_ids, values):
    """Sets top-level sample fields in bulk (see :class:`SampleUpdates`)."""
    SampleUpdates(sample_ids).samples(values).write(dataset)


def _bulk_set(dataset, sample_ids, updates):
    coll = dataset._sample_collection
    ops = [UpdateOne({"_id": ObjectId(sample_ids[i])}, {"$set": part})
           for i, sets in updates.items() for part in _split(sets)]
    for start in range(0, len(ops), WRITE_BATCH):
        batch = ops[start:start + WRITE_BATCH]
        try:
            coll.bulk_write(batch, ordered=False)
        except AutoReconnect:
            # a dropped connection (pymongo reconnects): the $set updates are
            # idempotent, so the batch is simply sent again
            coll.bulk_write(batch, ordered=False)
    dataset._reload_docs(hard=True)


def _value_bytes(key, value):
    """An upper bound of the BSON bytes ``key: value`` takes in a document."""
    if isinstance(value, str):
        return len(key) + 7 + len(value.encode("utf-8"))
    return len(key) + 10


def _split(sets):
    """One sample's ``$set`` as parts of at most :data:`OP_BYTES` each, so that
    no single update exceeds MongoDB's 16 MB limit."""
    part, size = {}, 0
    for key, value in sets.items():
        n = _value_bytes(key, value)
        if part and size + n > OP_BYTES:
            yield part
            part, size = {}, 0
        part[key] = value
        size += n
    if part:
        yield part
