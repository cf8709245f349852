"""A fast decoder for the PNGs panoptic labels are stored in: 8-bit gray, RGB or RGBA,
non-interlaced. Chunks are parsed here, the image data is inflated with libdeflate (the
``deflate`` package) and the row filters are undone by the compiled ``panokit._speedups``.

:func:`decode_rgb` returns None whenever this path does not apply (either piece missing,
or a PNG of another kind), so callers fall back to their usual decoder.
"""

from __future__ import annotations

import importlib
import struct
import zlib
from pathlib import Path
from types import ModuleType

import numpy as np
from numpy.typing import NDArray

from panokit.errors import FormatError

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_BYTES_PER_PIXEL = {0: 1, 2: 3, 6: 4}  # colour type -> bytes per pixel at depth 8
_cache: list[tuple[ModuleType, ModuleType] | None] = []  # filled on first use


def _load() -> tuple[ModuleType, ModuleType] | None:
    if not _cache:
        try:
            _cache.append(
                (importlib.import_module("deflate"), importlib.import_module("panokit._speedups"))
            )
        except ImportError:
            _cache.append(None)
    return _cache[0]


def available() -> bool:
    """Whether the fast path is usable (``deflate`` installed and the extension built)."""
    return _load() is not None


def decode_rgb(data: bytes, path: Path | str) -> NDArray[np.uint8] | None:
    """The (H, W, 3) uint8 RGB pixels of PNG bytes (alpha dropped, gray repeated), or None
    when the fast path is unavailable or the PNG is not 8-bit gray/RGB/RGBA non-interlaced.

    Raises :class:`FormatError` naming ``path`` for a corrupt or truncated file.
    """
    modules = _load()
    if modules is None or len(data) < 33 or data[:8] != _SIGNATURE or data[12:16] != b"IHDR":
        return None
    width, height, depth, color, compression, filtering, interlace = struct.unpack_from(
        ">IIBBBBB", data, 16
    )
    bpp = _BYTES_PER_PIXEL.get(color)
    if bpp is None or depth != 8 or compression or filtering or interlace:
        return None
    if not width or not height or width > 1 << 24 or height > 1 << 24:
        return None
    deflate, speedups = modules
    idat: list[bytes] = []
    pos, end = 8, len(data)
    while True:
        if pos + 12 > end:
            raise FormatError(f"{path}: cannot decode PNG (truncated file)")
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4 : pos + 8]
        stop = pos + 12 + length
        if stop > end:
            raise FormatError(f"{path}: cannot decode PNG (truncated {kind!r} chunk)")
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack_from(">I", data, pos + 8 + length)
        if kind in (b"IDAT", b"IHDR") and zlib.crc32(body, zlib.crc32(kind)) != crc:
            raise FormatError(f"{path}: cannot decode PNG (bad CRC in {kind!r} chunk)")
        if kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        elif kind == b"PLTE" or (kind[0] & 0x20 == 0 and kind != b"IHDR"):
            return None  # a critical chunk this path does not handle: let the fallback judge
        pos = stop
    if not idat:
        raise FormatError(f"{path}: cannot decode PNG (no image data)")
    expected = height * (width * bpp + 1)
    try:
        raw = deflate.zlib_decompress(b"".join(idat) if len(idat) > 1 else idat[0], expected)
        pixels = speedups.unfilter_rgb(raw, width, height, bpp)
    except (deflate.DeflateError, ValueError) as exc:
        raise FormatError(f"{path}: cannot decode PNG ({exc or 'corrupt image data'})") from None
    return np.frombuffer(pixels, dtype=np.uint8, count=height * width * 3).reshape(height, width, 3)


def read_rgb(path: Path) -> NDArray[np.uint8] | None:
    """:func:`decode_rgb` of a file, or None when the fast path does not apply or the file
    cannot be read (the caller's usual decoder then reports it)."""
    if not available():
        return None
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    return decode_rgb(data, path)
