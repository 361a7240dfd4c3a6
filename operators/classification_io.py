"""Reading Classification labels, logits included, straight into numpy arrays.

``view.values()`` turns every logit into a Python float (10 million of them
for 100,000 samples over 100 classes: seconds, and gigabytes at a million
samples, each one decompressed and parsed by ``np.load``).
:func:`read_arrays` instead asks MongoDB, in one scan, for one document per
sample of a fixed layout (the class *index* of each label by
``$indexOfArray``, the label ids, the confidence as a double) followed by the
logits blob, fetches them as raw BSON batches and reads every fixed column
with one numpy gather; the logits (FiftyOne stores each vector as a
zlib-compressed ``.npy``) are decompressed and checked against one expected
header, then read by one ``frombuffer`` per batch. It returns None, so the
caller takes the general path, whenever a sample does
not fit that layout (a label outside the class list or without a name,
logits of another length or not all doubles, no class list for logits): the
general path then explains the problem exactly as before.
"""

import contextlib
import io
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from bson import Int64, ObjectId
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument

NO_LABEL = -2  # the server's class index of a missing label (-1: not in the list)
_ZERO_ID = ObjectId(b"\x00" * 12)
_RAW = CodecOptions(document_class=RawBSONDocument)


@dataclass
class LabelArrays:
    """One row per sample of the view, in its order.

    Attributes:
        sample_id: (N,) object array of sample id strings
        gt, pred: (N,) class indices, -1 without a label
        gt_id, pred_id: (N,) object arrays of label id strings (None without a label)
        confidence: (N,) float64 (NaN where there is none)
        has_confidence: (N,) bool, a confidence is stored
        logits: (N, K) float64 (zero rows where absent), or None
        has_logits: (N,) bool
        sample_bytes: optional (N, 12) uint8 ObjectId bytes of the samples
        doc_bytes: with ``whole_samples``, (N,) BSON size of each stored sample
        holds: with ``whole_samples``, ``{path: (N,) bool}``, the samples
            holding a value at each of ``value_paths``
    """

    sample_id: np.ndarray
    gt: np.ndarray
    gt_id: np.ndarray
    pred: np.ndarray
    pred_id: np.ndarray
    confidence: np.ndarray
    has_confidence: np.ndarray
    logits: np.ndarray
    has_logits: np.ndarray
    sample_bytes: np.ndarray = None
    doc_bytes: np.ndarray = None
    holds: dict = None

    def object_ids(self):
        """The sample ids as ``bson.ObjectId`` (what pymongo sends)."""
        if self.sample_bytes is None:
            return [ObjectId(s) for s in self.sample_id]
        raw = np.ascontiguousarray(self.sample_bytes).tobytes()
        return [ObjectId(raw[i:i + 12]) for i in range(0, len(raw), 12)]


def from_values(values, classes, num_logits):
    """:class:`LabelArrays` from ``view.values()`` lists (the general path),
    after its checks: every label is in ``classes``."""
    index = {c: i for i, c in enumerate(classes)}
    obj = lambda v: np.array(v + [None], dtype=object)[:-1]  # noqa: E731 (no 2-D inference)
    conf = values["confidence"]
    has_conf = np.fromiter((c is not None for c in conf), bool, len(conf))
    logits = values["logits"]
    has_logits = np.fromiter((z is not None for z in logits), bool, len(logits))
    matrix = None
    if has_logits.any():
        matrix = np.zeros((len(logits), num_logits))
        matrix[has_logits] = np.asarray([z for z in logits if z is not None], dtype=np.float64)
    return LabelArrays(
        sample_id=obj(values["sample_id"]),
        gt=np.array([index[l] if l is not None else -1 for l in values["gt_label"]], np.int64),
        gt_id=obj(values["gt_id"]),
        pred=np.array([index[l] if l is not None else -1 for l in values["pred_label"]],
                      np.int64),
        pred_id=obj(values["pred_id"]),
        confidence=np.array([np.nan if c is None else float(c) for c in conf], np.float64),
        has_confidence=has_conf, logits=matrix, has_logits=has_logits)


def hex_ids(raw, present=None):
    """(N, 12) uint8 ObjectId bytes as an (N,) object array of 24-digit hex
    strings (None where ``present`` is False)."""
    digits = np.frombuffer(b"0123456789abcdef", np.uint8)
    raw = np.asarray(raw, np.uint8).reshape(-1, 12)
    text = np.empty((raw.shape[0], 24), np.uint8)
    text[:, 0::2], text[:, 1::2] = digits[raw >> 4], digits[raw & 15]
    out = text.view("S24").ravel().astype("U24").astype(object)
    if present is not None:
        out[~np.asarray(present, bool)] = None
    return out


LAYOUT = [("_id", 0x07, 12), ("g", 0x10, 4), ("gi", 0x07, 12), ("p", 0x10, 4),
          ("pi", 0x07, 12), ("cs", 0x08, 1), ("c", 0x01, 8)]  # (name, BSON type, bytes)


def _template(fields):
    """Bytes of a document of ``fields`` with zero payloads, a mask of its
    structural bytes (size, types, names) and each field's payload offset."""
    out, structural, offsets = bytearray(b"\0\0\0\0"), [True] * 4, {}
    for name, kind, payload in fields:
        head = bytes([kind]) + name.encode() + b"\0"
        out.extend(head)
        structural.extend([True] * len(head))
        offsets[name] = len(out)
        out.extend(b"\0" * payload)
        structural.extend([False] * payload)
    out.extend(b"\0")
    structural.append(True)
    out[:4] = np.int32(len(out)).tobytes()
    return np.frombuffer(bytes(out), np.uint8), np.array(structural, bool), offsets


def read_arrays(view, pred_field, gt_field, classes, whole_samples=False, value_paths=()):
    """The labels of ``view`` as :class:`LabelArrays` over ``classes``, or None
    when a sample needs the general path (see the module docstring).

    One scan: each projected document is the fixed layout followed by the
    logits blob (or nothing), so the fixed part of every document is read by
    one gather once the documents' starts are known. ``whole_samples`` (only
    for a view whose documents are the stored samples unchanged, e.g. a whole
    dataset) reads in the same pass each sample's stored size and whether it
    holds a value at each of ``value_paths``: the checks before writing then
    need no scan of their own."""
    gt, pred = "$" + gt_field, "$" + pred_field

    def index(path):
        return {"$toInt": {"$cond": [{"$eq": [{"$type": path + ".label"}, "string"]},
                                     {"$indexOfArray": [list(classes), path + ".label"]},
                                     NO_LABEL]}}

    project = {
        "_id": 1, "g": index(gt), "gi": {"$ifNull": [gt + "._id", _ZERO_ID]},
        "p": index(pred), "pi": {"$ifNull": [pred + "._id", _ZERO_ID]},
        "cs": {"$isNumber": pred + ".confidence"},
        "c": {"$cond": [{"$isNumber": pred + ".confidence"},
                        {"$toDouble": pred + ".confidence"}, 0.0]},
    }
    layout = list(LAYOUT)
    if whole_samples:
        project["sz"] = {"$toInt": {"$bsonSize": "$$ROOT"}}
        layout.append(("sz", 0x10, 4))
        for i, path in enumerate(value_paths):
            project["v%d" % i] = {"$ne": [{"$type": "$" + path}, "missing"]}
            layout.append(("v%d" % i, 0x08, 1))
    project["l"] = pred + ".logits"  # last: the only part of variable size
    template, structural, offsets = _template(layout)
    prefix = template.size - 1  # the fixed part, without the document's final zero
    check = structural[:prefix].copy()
    check[:4] = False  # the document's size follows its logits
    fixed = template[:prefix][check]
    n = len(view)
    out = {name: np.empty((n, width), np.uint8) for name, _, width in layout}
    logits = _Logits(n, len(classes))
    done = 0
    batches = _raw_batches(view._dataset._sample_collection,
                           view._pipeline(pipeline=[{"$project": project}]))
    with ThreadPoolExecutor(2) as pool, contextlib.closing(batches):
        for batch, starts in batches:
            m = starts.size
            buf = np.frombuffer(batch, np.uint8)
            if done + m > n or (starts + prefix >= buf.size).any():
                return None
            rows = buf[starts[:, None] + np.arange(prefix)]
            if not (rows[:, check] == fixed).all():
                return None  # a document of another layout
            for name, _, width in layout:
                out[name][done:done + m] = rows[:, offsets[name]:offsets[name] + width]
            sizes = rows[:, :4].copy().view(np.int32).ravel()
            del rows
            if not logits.add(batch, buf, starts + prefix, sizes - prefix, done, pool):
                return None
            done += m
    if done != n:
        return None
    gt_label = out["g"].view(np.int32).ravel().astype(np.int64)
    pred_label = out["p"].view(np.int32).ravel().astype(np.int64)
    if (gt_label == -1).any() or (pred_label == -1).any():
        return None  # labels outside the class list (or empty): the general path says which
    for label, ids in ((gt_label, out["gi"]), (pred_label, out["pi"])):
        if ((label == NO_LABEL) & ids.any(axis=1)).any():
            return None  # a label without a class name
        label[label == NO_LABEL] = -1
    has_conf = out["cs"].ravel() == 1
    confidence = out["c"].view(np.float64).ravel().copy()
    confidence[~has_conf] = np.nan
    labels = LabelArrays(
        sample_id=hex_ids(out["_id"]), gt=gt_label, gt_id=hex_ids(out["gi"], gt_label >= 0),
        pred=pred_label, pred_id=hex_ids(out["pi"], pred_label >= 0), confidence=confidence,
        has_confidence=has_conf, logits=logits.matrix, has_logits=logits.present,
        sample_bytes=out["_id"])
    if whole_samples:
        labels.doc_bytes = out["sz"].view(np.int32).ravel()
        labels.holds = {p: out["v%d" % i].ravel() == 1 for i, p in enumerate(value_paths)}
    return labels


def _raw_batches(coll, pipeline):
    """The reply of each batch of an aggregation, raw, and the offsets of its
    documents in it: ``aggregate`` and ``getMore`` commands decoded lazily
    (pymongo's ``aggregate_raw_batches`` wraps every document in a
    ``RawBSONDocument`` first, ~3 us each). The cursor is killed when the
    caller stops early."""
    db = coll.database
    with db.client.start_session(causal_consistency=False) as session:
        reply = db.command({"aggregate": coll.name, "pipeline": pipeline, "cursor": {},
                            "allowDiskUse": True}, codec_options=_RAW, session=session)
        cursor_id = 0
        try:
            while True:
                raw = reply["cursor"].raw
                cursor_id, starts = _cursor_batch(raw)
                yield raw, starts
                if not cursor_id:
                    break
                reply = db.command({"getMore": Int64(cursor_id), "collection": coll.name},
                                   codec_options=_RAW, session=session)
        finally:
            if cursor_id:
                db.command({"killCursors": coll.name, "cursors": [Int64(cursor_id)]},
                           session=session)


def _cursor_batch(raw):
    """``(cursor id, document offsets)`` of a reply's ``cursor`` document
    (``firstBatch`` or ``nextBatch``, ``id``, ``ns``)."""
    unpack, pos, cursor_id, starts = struct.Struct("<i").unpack_from, 4, 0, None
    while pos < len(raw) - 1:
        kind, name_end = raw[pos], raw.index(b"\0", pos + 1)
        name, pos = raw[pos + 1:name_end], name_end + 1
        if kind in (0x03, 0x04):  # a document or an array: its size first
            size = unpack(raw, pos)[0]
            if name in (b"firstBatch", b"nextBatch"):
                starts = _array_documents(raw, pos, pos + size)
            pos += size
        elif kind == 0x12:
            cursor_id = struct.unpack_from("<q", raw, pos)[0]
            pos += 8
        elif kind == 0x02:
            pos += 4 + unpack(raw, pos)[0]
        else:
            raise ValueError("unexpected BSON type %d in a cursor reply" % kind)
    return cursor_id, starts


def _array_documents(raw, start, end):
    """Offsets of the documents of the BSON array at ``raw[start:end]``."""
    unpack, starts, pos = struct.Struct("<i").unpack_from, [], start + 4
    while pos < end - 1:
        if raw[pos] != 0x03:
            raise ValueError("a cursor batch holds a value that is not a document")
        pos = raw.index(b"\0", pos + 1) + 1  # the element's name: its index
        starts.append(pos)
        pos += unpack(raw, pos)[0]
    return np.array(starts, np.int64)


class _Logits:
    """The (N, K) float64 logits of FiftyOne's stored form (each vector a
    zlib-compressed ``.npy`` in a BSON binary), filled a raw batch at a time:
    one decompression per vector, then one header check and one
    ``frombuffer`` per batch."""

    def __init__(self, n, num_classes):
        expected = _npy_bytes(np.zeros(num_classes))
        self.width, self.header = len(expected), len(expected) - 8 * num_classes
        self.expected_header = np.frombuffer(expected[:self.header], np.uint8)
        self.n, self.num_classes = n, num_classes
        self.matrix, self.present = None, np.zeros(n, bool)

    def add(self, batch, buf, at, tail, done, pool):
        """Reads the element at ``at`` of each document (``tail`` bytes up to
        its end): none (1: the final zero), ``l: null`` (4) or ``l: <binary>``.
        False when a document holds anything else (e.g. logits as a list)."""
        kind = buf[at]
        last = buf.size - 1  # a document without logits may end the batch
        named = (buf[np.minimum(at + 1, last)] == ord("l")) & (buf[np.minimum(at + 2, last)] == 0)
        blob = (kind == 0x05) & named
        if not ((tail == 1) & (kind == 0) | (tail == 4) & (kind == 0x0A) & named | blob).all():
            return False
        if not blob.any():
            return True
        start = at[blob]
        length = buf[start[:, None] + np.arange(3, 7)].copy().view(np.int32).ravel()
        if (buf[start + 7] != 0).any() or (tail[blob] != 9 + length).any():
            return False  # a binary subtype other than FiftyOne's, or a malformed element
        view = memoryview(batch)
        raw = _decompress([view[a:a + b] for a, b in zip((start + 8).tolist(), length.tolist())],
                          pool=pool)
        if any(len(r) != self.width for r in raw):
            return False
        flat = np.frombuffer(b"".join(raw), np.uint8).reshape(len(raw), self.width)
        del raw
        if not (flat[:, :self.header] == self.expected_header).all():
            return False
        if self.matrix is None:
            self.matrix = np.zeros((self.n, self.num_classes))
        rows = done + np.flatnonzero(blob)
        self.matrix[rows] = flat[:, self.header:].view(np.float64)
        self.present[rows] = True
        return True


def _decompress(blobs, threads=2, pool=None):
    """``zlib.decompress`` of every blob, on ``threads`` threads (zlib releases
    the GIL while it inflates), of ``pool`` when given."""
    if len(blobs) < 1000:
        return [zlib.decompress(b) for b in blobs]
    step = -(-len(blobs) // threads)
    parts = [blobs[i:i + step] for i in range(0, len(blobs), step)]
    if pool is None:
        with ThreadPoolExecutor(threads) as own:
            return [r for part in own.map(_inflate, parts) for r in part]
    return [r for part in pool.map(_inflate, parts) for r in part]


def _inflate(blobs):
    return [zlib.decompress(b) for b in blobs]


def _npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()
