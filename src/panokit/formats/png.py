"""A fast PNG encoder for label images.

Label images are piecewise constant, so the PNG "Sub" filter turns every run of equal
pixels into zeros and zlib's run-length strategy compresses those in one cheap pass.  This
writes standard PNGs (any decoder reads them) several times faster than Pillow's default
filter search, and usually smaller.  Pillow stays the decoder.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np
from numpy.typing import NDArray

from panokit.errors import FormatError

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type (gray, gray+A, RGB, RGBA)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def encode_png(array: NDArray[Any], level: int = 6) -> bytes:
    """Encode a uint8 (H, W[, C]) or uint16 (H, W[, C]) array as PNG bytes (C in 1..4)."""
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in _COLOR_TYPES:
        raise FormatError(f"PNG encoding needs (H, W) or (H, W, 1..4) arrays, got {array.shape}")
    if array.dtype == np.uint8:
        depth, raw = 8, array
    elif array.dtype == np.uint16:
        depth, raw = 16, array.astype(">u2")
    else:
        raise FormatError(f"PNG encoding needs uint8 or uint16 pixels, got {array.dtype}")
    height, width, channels = array.shape
    bpp = channels * depth // 8
    rows = np.ascontiguousarray(raw).view(np.uint8).reshape(height, width * bpp)
    filtered = np.empty((height, width * bpp + 1), dtype=np.uint8)
    filtered[:, 0] = 1  # filter type Sub
    filtered[:, 1 : 1 + bpp] = rows[:, :bpp]
    np.subtract(rows[:, bpp:], rows[:, :-bpp], out=filtered[:, 1 + bpp :])
    compressor = zlib.compressobj(level, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    data = compressor.compress(filtered.tobytes()) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, depth, _COLOR_TYPES[channels], 0, 0, 0)
    return _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")
