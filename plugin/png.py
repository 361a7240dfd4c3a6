"""A fast reader of the PNG files label masks are stored in.

Decoding is most of the cost of evaluating masks kept on disk, and most of a
PNG decode is its zlib stream: libdeflate (the ``deflate`` package) inflates it
about five times faster than zlib, the inflater behind OpenCV and Pillow. This
module reads the common mask layouts itself (8- and 16-bit greyscale, 8-bit
RGB, not interlaced, no palette or transparency) with libdeflate and a compiled
unfilter, and returns None for everything else, so the caller falls back to
OpenCV and gets its exact behaviour. A file this reader accepts decodes to the
same array as ``cv2.imread(path, cv2.IMREAD_UNCHANGED)`` (RGB channel order
instead of BGR); the tests check it on every filter type.

Every check (signature, chunk CRCs, the inflated size) fails over to the
fallback rather than guessing, so a damaged file is reported by OpenCV as
before.
"""

import struct
import zlib

import numpy as np

from . import jit

try:
    import deflate as _deflate
except ImportError:  # the plugin still works, with zlib's inflate
    _deflate = None

SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: (colour type, bit depth) -> (channels, bytes per sample) of the layouts read here
LAYOUTS = {(0, 8): (1, 1), (0, 16): (1, 2), (2, 8): (3, 1)}
#: Chunks that change the decoded pixels and so leave the file to OpenCV
FALLBACK_CHUNKS = (b"PLTE", b"tRNS")


def read(path):
    """The mask stored at ``path``, or None when this reader does not handle
    the file (other layouts, damage): then read it with OpenCV."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    return decode(data)


def decode(data):
    """A PNG file's pixels from its bytes (see :func:`read`), or None."""
    header = _parse(data)
    if header is None:
        return None
    width, height, channels, sample_bytes, stream = header
    row_bytes = width * channels * sample_bytes
    size = height * (row_bytes + 1)
    try:
        raw = _inflate(stream, size)
    except Exception:  # damaged stream: OpenCV reports it
        return None
    if len(raw) != size:
        return None
    pixels = np.empty((height, row_bytes), np.uint8)
    if not _unfilter(np.frombuffer(raw, np.uint8), pixels, channels * sample_bytes):
        return None
    if sample_bytes == 2:
        pixels = pixels.view(">u2").astype(np.uint16)
    return pixels.reshape(height, width, channels) if channels > 1 else pixels


def _parse(data):
    """``(width, height, channels, sample bytes, zlib stream)`` of a file this
    reader handles, else None."""
    if data[:8] != SIGNATURE:
        return None
    pos, ihdr, idat = 8, None, []
    while pos + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if end > len(data):
            return None
        body = data[pos + 8:end - 4]
        critical = not kind[0] & 0x20
        if critical and zlib.crc32(body, zlib.crc32(kind)) != struct.unpack(">I", data[end - 4:end])[0]:
            return None
        if kind in FALLBACK_CHUNKS:
            return None
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body) if length == 13 else None
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        elif critical:
            return None
        pos = end
    if ihdr is None or not idat:
        return None
    width, height, depth, colour, compression, filtering, interlace = ihdr
    layout = LAYOUTS.get((colour, depth))
    if layout is None or compression or filtering or interlace or not width or not height:
        return None
    return (width, height) + layout + (b"".join(idat),)


def _inflate(stream, size):
    if _deflate is not None:
        return _deflate.zlib_decompress(stream, size)
    return zlib.decompress(stream)


@jit.cached_njit(__name__, nogil=True)
def _unfilter(raw, out, bpp):
    """PNG's five row filters undone (specification section 9): ``raw`` holds
    each row's filter byte and filtered bytes, ``out`` receives the rows.
    False on an unknown filter type."""
    height, row_bytes = out.shape
    for y in range(height):
        start = y * (row_bytes + 1)
        kind = raw[start]
        line = raw[start + 1:start + 1 + row_bytes]
        cur = out[y]
        if kind == 0:
            cur[:] = line
        elif kind == 1:
            cur[:bpp] = line[:bpp]
            if bpp == 1:  # a running sum in a register, not a reload of the last store
                left = np.uint8(line[0])
                for x in range(1, row_bytes):
                    left = np.uint8(line[x] + left)
                    cur[x] = left
            else:
                for x in range(bpp, row_bytes):
                    cur[x] = line[x] + cur[x - bpp]
        elif kind == 2:
            if y == 0:
                cur[:] = line
            else:
                up = out[y - 1]
                for x in range(row_bytes):
                    cur[x] = line[x] + up[x]
        elif kind == 3:
            for x in range(row_bytes):
                left = np.int32(cur[x - bpp]) if x >= bpp else 0
                above = np.int32(out[y - 1, x]) if y > 0 else 0
                cur[x] = (line[x] + ((left + above) >> 1)) & 0xFF
        elif kind == 4:
            for x in range(row_bytes):
                a = np.int32(cur[x - bpp]) if x >= bpp else 0
                b = np.int32(out[y - 1, x]) if y > 0 else 0
                c = np.int32(out[y - 1, x - bpp]) if (y > 0 and x >= bpp) else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if (pa <= pb and pa <= pc) else (b if pb <= pc else c)
                cur[x] = (line[x] + pred) & 0xFF
        else:
            return False
    return True
