"""Reading detections out of FiftyOne and writing per-label results back, in bulk.

Reads use one ``values()`` call per field. Writes go straight to the sample
collection with one ``$set`` per sample that addresses each label by its array
position, which is far faster than ``set_values()`` on nested label lists and
touches nothing but the fields being written. Every write stays within
MongoDB's limits: a sample's ``$set`` is split into pieces of at most
:data:`PIECE_BYTES`, batches hold at most :data:`WRITE_BATCH` updates and
:data:`BATCH_BYTES`, and :meth:`SampleUpdates.check_sizes` refuses, before
anything is written, a write that would grow a sample past 16 MB.
Top-level fields with few distinct values (a classification run's
correctness and error type) go out as one ``update_many`` per combination of
values instead (:func:`write_sample_groups`).
"""

import contextlib
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
from bson import ObjectId
from bson.raw_bson import RawBSONDocument
from pymongo import UpdateOne
from pymongo.errors import AutoReconnect

import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
import fiftyone.core.sample as fos
import fiftyone.core.view as fov

from .errors import EvaluationInputError

WRITE_BATCH = 2000  # updates per bulk write
BATCH_BYTES = 32 * 2 ** 20  # bytes per bulk write (pymongo splits at 48 MB messages)
PIECE_BYTES = 4 * 2 ** 20  # bytes per update; MongoDB's limit is 16 MB
MAX_DOCUMENT_BYTES = 16 * 2 ** 20  # MongoDB's document size limit
DOC_MARGIN = 64 * 2 ** 10  # headroom for what the byte estimates leave out
IDS_PER_UPDATE = 100_000  # ids in one update_many's $in list (~2.4 MB)


@dataclass
class LabelTable:
    """The labels of one Detections (or, with ``list_field``, other label list)
    field over a view, flattened."""

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
    list_field: str = "detections"  # the label list's name: "classifications" for Classifications

    def __len__(self):
        return len(self.ids)


def check_detections_field(view, name, role):
    """Raises a clear error unless ``name`` is a Detections field of ``view``, at
    the top level or inside embedded documents (``embedded.predictions``)."""
    if not name:
        raise EvaluationInputError("Choose the %s field (a Detections field)." % role)
    choices = ", ".join(sorted(detections_fields(view))) or "none"
    field = view.get_field(name) if isinstance(name, str) else None
    if field is None:
        raise EvaluationInputError(
            "%s field '%s' does not exist on this dataset. Detections fields: %s."
            % (role.capitalize(), name, choices)
        )
    doc_type = getattr(field, "document_type", None)
    if doc_type is fol.Polylines:
        raise EvaluationInputError(
            "%s field '%s' holds Polylines; evaluate_model evaluates fo.Detections. Convert "
            "them to Detections with instance masks (as FiftyOne's filled-polygon IoU compares "
            "them): for each sample, sample['%s_dets'] = sample['%s'].to_detections("
            "frame_size=(sample.metadata.width, sample.metadata.height)); then evaluate the "
            "new field with use_masks=True." % (role.capitalize(), name, name.replace(".", "_"),
                                                 name)
        )
    if doc_type is fol.Detections and name not in detections_fields(view):
        raise EvaluationInputError(
            "%s field '%s' is inside a list of documents, so its labels have no single place "
            "to write results to. Copy it to a field of its own, or choose one of: %s."
            % (role.capitalize(), name, choices)
        )
    if doc_type is not fol.Detections:
        kind = doc_type.__name__ if doc_type else type(field).__name__
        raise EvaluationInputError(
            "%s field '%s' holds %s, but evaluate_model needs fo.Detections "
            "(boxes, optionally with instance masks). Detections fields: %s."
            % (role.capitalize(), name, kind, choices)
        )


def detections_fields(view):
    """Paths of the Detections fields of a collection's samples: top-level ones and
    those inside embedded documents (not inside lists, whose labels have no single
    position to write to)."""
    schema = view.get_field_schema(flat=True)
    return [
        name for name, f in schema.items()
        if getattr(f, "document_type", None) is fol.Detections and not _in_list(schema, name)
    ]


def _in_list(schema, path):
    """Whether a parent of ``path`` is a list field."""
    parts = path.split(".")
    return any(isinstance(schema.get(".".join(parts[:i])), fof.ListField)
               for i in range(1, len(parts)))


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
    top-level fields, then writes them in bulk (see :func:`_bulk_set`). Each
    touched sample's ``last_modified_at`` is refreshed like FiftyOne's writes.

    It also counts, per sample, the bytes of its ``$set`` and how much the
    stored document grows (an upper bound: values replaced are not subtracted),
    so limits are checked before the first write."""

    def __init__(self, sample_ids, on_batch=None):
        self.sample_ids = sample_ids
        self.sets = {}
        self.now = datetime.now(timezone.utc)
        self.update_bytes = np.zeros(len(sample_ids))
        self.growth = np.zeros(len(sample_ids))
        self.on_batch = on_batch or (lambda done, total: None)

    def _for(self, s):
        sets = self.sets.get(s)
        if sets is None:
            sets = self.sets[s] = {"last_modified_at": self.now}
            self.update_bytes[s] += _element_bytes("last_modified_at", self.now)
        return sets

    def labels(self, table, values):
        """Sets ``values[attr][i]`` on label ``i`` of ``table`` (None unsets the value)."""
        prefix = "%s.%s." % (table.field, table.list_field)
        names = list(values)
        for s, pos, *vals in zip(table.sample.tolist(), table.position.tolist(),
                                 *(values[n] for n in names)):
            sets = self._for(s)
            base = "%s%d." % (prefix, pos)
            for n, v in zip(names, vals):
                sets[base + n] = v
        n = len(table)
        if n:
            digits = np.floor(np.log10(np.maximum(table.position, 1))) + 1
            for name in names:
                value = _value_bytes_array(values[name])
                stored = 2 + len(name.encode()) + value
                key = 2 + len(prefix.encode()) + digits + 1 + len(name.encode())
                self.growth += np.bincount(table.sample, stored, minlength=self.growth.size)
                self.update_bytes += np.bincount(table.sample, key + value,
                                                 minlength=self.growth.size)
        return self

    def samples(self, values):
        """Sets top-level fields: ``values[name]`` is aligned with ``sample_ids``."""
        names = list(values)
        for s, vals in enumerate(zip(*(values[n] for n in names))):
            self._for(s).update(zip(names, vals))
        for name in names:
            size = 2 + len(name.encode()) + _value_bytes_array(values[name])
            self.growth += size
            self.update_bytes += size
        return self

    def check_sizes(self, dataset):
        """Raises, before anything is written, if a sample would outgrow MongoDB's
        16 MB document limit: its stored size plus what this write adds."""
        check_sample_growth(dataset, self.sample_ids, self.growth)

    def write(self, dataset):
        _bulk_set(dataset, self.sample_ids, self.sets, self.update_bytes, self.on_batch)


def check_sample_growth(dataset, sample_ids, growth, sizes=None):
    """Raises, before anything is written, if a sample would outgrow MongoDB's
    16 MB document limit: its stored size (``sizes``, read already, or one
    aggregation) plus ``growth[i]`` bytes."""
    growth = np.asarray(growth, dtype=np.float64)
    if not growth.size or not growth.max():
        return
    limit = MAX_DOCUMENT_BYTES - DOC_MARGIN
    at_risk = limit - float(growth.max())
    if sizes is not None:
        rows = [{"_id": sample_ids[i], "size": int(sizes[i])}
                for i in np.flatnonzero(np.asarray(sizes) > at_risk)]
    else:
        rows = list(dataset._sample_collection.aggregate([
            {"$project": {"size": {"$bsonSize": "$$ROOT"}}},
            {"$match": {"size": {"$gt": at_risk}}},
        ]))
    index = {str(sid): i for i, sid in enumerate(sample_ids)} if rows else {}
    for row in rows:
        i = index.get(str(row["_id"]))
        if i is not None and row["size"] + growth[i] > limit:
            raise EvaluationInputError(
                "Sample %s would grow to %.1f MB (it holds %.1f MB; the results add %.1f MB), "
                "over MongoDB's 16 MB document limit, so nothing was written. Evaluate a view "
                "with fewer labels on that sample, e.g. dataset.filter_labels('<pred field>', "
                "F('confidence') > 0.05), or exclude it: dataset.exclude('%s')." % (
                    row["_id"], (row["size"] + growth[i]) / 2 ** 20, row["size"] / 2 ** 20,
                    growth[i] / 2 ** 20, row["_id"]))


def field_growth(fields):
    """Bytes each sample grows by when ``write_sample_groups(fields)`` sets them
    (an upper bound, as :class:`SampleUpdates` counts)."""
    total = 0
    for name, (codes, choices) in fields.items():
        size = np.array([_value_bytes(v) for v in choices], dtype=np.float64)
        total = total + 2 + len(name.encode()) + size[np.asarray(codes)]
    return total + _element_bytes("last_modified_at", datetime.now(timezone.utc))


def write_sample_groups(dataset, sample_ids, fields, on_batch=None):
    """Sets top-level fields that take few distinct values, one ``update_many``
    per combination of values: ``fields[name] = (codes, choices)`` sets
    ``choices[codes[i]]`` on sample ``sample_ids[i]`` (``bson.ObjectId``s, or
    their bytes as an (N, 12) uint8 array: then no ObjectId is made).

    Errors, correctness flags, TP/FP/FN/TN take a handful of values, so
    100,000 samples cost ~10 server operations instead of 100,000 updates. Each
    operation's id list holds at most :data:`IDS_PER_UPDATE` ids (~2.4 MB of
    BSON, far below MongoDB's 16 MB). ``last_modified_at`` is refreshed as
    FiftyOne's writes do."""
    on_batch = on_batch or (lambda done, total: None)
    names = list(fields)
    combined = np.zeros(len(sample_ids), np.int64)
    for name in names:
        codes, choices = fields[name]
        combined = combined * len(choices) + np.asarray(codes, np.int64)
    groups, inverse = np.unique(combined, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(groups.size + 1))
    now = datetime.now(timezone.utc)
    ops = []
    for g, value in enumerate(groups.tolist()):
        sets = {"last_modified_at": now}
        for name in reversed(names):
            codes, choices = fields[name]
            value, code = divmod(value, len(choices))
            sets[name] = choices[code]
        members = order[bounds[g]:bounds[g + 1]]
        for start in range(0, members.size, IDS_PER_UPDATE):
            ops.append((members[start:start + IDS_PER_UPDATE], sets))
    coll = dataset._sample_collection
    for done, (members, sets) in enumerate(ops, 1):
        if isinstance(sample_ids, np.ndarray):
            query = _raw_id_query(sample_ids[members])
        else:
            query = {"_id": {"$in": [sample_ids[i] for i in members.tolist()]}}
        try:
            coll.update_many(query, {"$set": sets})
        except AutoReconnect:
            coll.update_many(query, {"$set": sets})  # idempotent: sent again
        on_batch(done, len(ops))
    dataset._reload_docs(hard=True)


def _raw_id_query(raw_ids):
    """``{"_id": {"$in": [...]}}`` as raw BSON, built by numpy from (M, 12)
    ObjectId bytes: each array element is type 0x07, its index in decimal,
    a zero and the 12 bytes."""
    m = raw_ids.shape[0]
    index = np.arange(m)
    digits = np.ones(m, np.int64)
    while m and 10 ** int(digits.max()) <= m - 1:
        digits += index >= 10 ** int(digits.max())
    size = 2 + digits + 12
    start = np.cumsum(size) - size
    body = np.zeros(int(size.sum()), np.uint8)
    body[start] = 0x07
    for place in range(int(digits.max()) if m else 0):
        has = digits > place
        body[start[has] + 1 + place] = index[has] // 10 ** (digits[has] - 1 - place) % 10 + 48
    body[(start + 2 + digits)[:, None] + np.arange(12)] = raw_ids
    array = np.int32(4 + body.size + 1).tobytes() + body.tobytes() + b"\0"
    inner = b"\x04$in\0" + array + b"\0"
    inner = np.int32(4 + len(inner)).tobytes() + inner
    outer = b"\x03_id\0" + inner + b"\0"
    return RawBSONDocument(np.int32(4 + len(outer)).tobytes() + outer)


def _value_bytes(v):
    """BSON size of a value as stored (strings, numbers, ids, None)."""
    if v is None:
        return 0
    if isinstance(v, str):
        return 5 + len(v.encode())
    if isinstance(v, bool):
        return 1
    if isinstance(v, ObjectId):
        return 12
    return 8


def _value_bytes_array(values):
    return np.fromiter((_value_bytes(v) for v in values), dtype=np.float64, count=len(values))


def _element_bytes(key, value):
    return 2 + len(key.encode()) + _value_bytes(value)


def write_label_values(dataset, sample_ids, table, values):
    """Sets label attributes of ``table`` in bulk (see :class:`SampleUpdates`)."""
    SampleUpdates(sample_ids).labels(table, values).write(dataset)


def write_sample_values(dataset, sample_ids, values):
    """Sets top-level sample fields in bulk (see :class:`SampleUpdates`)."""
    SampleUpdates(sample_ids).samples(values).write(dataset)


def existing_values(dataset, paths):
    """The ``paths`` (dotted, through label lists) that hold a value on some
    sample of ``dataset``, declared in its schema or not: one collection scan."""
    if not paths:
        return []
    coll = dataset._sample_collection
    hit = coll.find_one({"$or": [{p: {"$exists": True}} for p in paths]}, {"_id": 1})
    if hit is None:
        return []
    return [p for p in paths if coll.find_one({p: {"$exists": True}}, {"_id": 1})]


@contextlib.contextmanager
def batched_sample_reloads(dataset):
    """FiftyOne reloads every in-memory ``Sample`` of a dataset after most writes,
    one query each (~30 ms). Within this block those reloads are skipped; at the
    end the samples that were in memory are reloaded together, in one query."""
    coll_name = dataset._sample_collection_name
    live = fos.Sample._instances.pop(coll_name, None)
    try:
        yield
    finally:
        if live is not None:
            fos.Sample._instances[coll_name].update(live)
            _reload_samples(dataset, list(live.values()))


def _reload_samples(dataset, samples):
    if not samples:
        return
    dataset._reload(hard=True)
    docs = {d["_id"]: d for d in dataset._sample_collection.find(
        {"_id": {"$in": [s._id for s in samples]}})}
    for sample in samples:
        d = docs.get(sample._id)
        if d is not None:
            sample._doc = dataset._sample_dict_to_doc(d, _reload_backing_docs=False)


def _pieces(sets):
    """Splits one sample's ``$set`` into parts of at most :data:`PIECE_BYTES`
    each, so that no single update exceeds MongoDB's 16 MB limit."""
    part, size = {}, 0
    for key, value in sets.items():
        n = _element_bytes(key, value)
        if part and size + n > PIECE_BYTES:
            yield part, size
            part, size = {}, 0
        part[key] = value
        size += n
    if part:
        yield part, size


def _batches(sample_ids, updates, update_bytes):
    """Bulk-write batches of at most :data:`WRITE_BATCH` updates and :data:`BATCH_BYTES`."""
    batch, batch_bytes = [], 0
    for i, sets in updates.items():
        parts = _pieces(sets) if update_bytes[i] > PIECE_BYTES else [(sets, update_bytes[i])]
        for part, size in parts:
            if batch and (len(batch) >= WRITE_BATCH or batch_bytes + size > BATCH_BYTES):
                yield batch
                batch, batch_bytes = [], 0
            batch.append(UpdateOne({"_id": ObjectId(sample_ids[i])}, {"$set": part}))
            batch_bytes += size + 64
    if batch:
        yield batch


def _bulk_set(dataset, sample_ids, updates, update_bytes, on_batch):
    coll = dataset._sample_collection
    batches = list(_batches(sample_ids, updates, update_bytes))
    for done, batch in enumerate(batches, 1):
        try:
            coll.bulk_write(batch, ordered=False)
        except AutoReconnect:
            # a dropped connection (pymongo reconnects): the $set updates are
            # idempotent, so the batch is simply sent again
            coll.bulk_write(batch, ordered=False)
        on_batch(done, len(batches))
    dataset._reload_docs(hard=True)
