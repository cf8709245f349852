"""The fast PNG path (libdeflate + the compiled ``panokit._speedups`` row unfilter) decodes
exactly what Pillow decodes, reports corrupt files as the other decoders do, and steps aside
for PNG kinds it does not handle or when either piece is missing.

Expected pixels always come from Pillow (``Image.open(...).convert("RGB")``).
"""

from __future__ import annotations

import io
import re
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from panokit import _fastpng
from panokit.core.codecs import RGB24
from panokit.errors import FormatError
from panokit.eval.sources import decode_png_rgb
from panokit.formats.coco_panoptic import read_png_ids
from panokit.formats.png import encode_png

needs_fast = pytest.mark.skipif(
    not _fastpng.available(), reason="deflate or panokit._speedups missing"
)
COLOR_TYPE = {1: 0, 3: 2, 4: 6}
SIZES = [(1, 1), (1, 9), (13, 1), (5, 7), (31, 17)]  # (height, width)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _filter_row(ftype: int, row: NDArray[np.int64], up: NDArray[np.int64], bpp: int) -> bytes:
    left = np.concatenate([np.zeros(bpp, np.int64), row[:-bpp]])
    upleft = np.concatenate([np.zeros(bpp, np.int64), up[:-bpp]])
    if ftype == 0:
        pred = np.zeros_like(row)
    elif ftype == 1:
        pred = left
    elif ftype == 2:
        pred = up
    elif ftype == 3:
        pred = (left + up) // 2
    else:
        p = left + up - upleft
        pa, pb, pc = abs(p - left), abs(p - up), abs(p - upleft)
        pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
    return bytes([ftype]) + ((row - pred) % 256).astype(np.uint8).tobytes()


def filtered_rows(pixels: NDArray[np.uint8], filters: list[int]) -> bytes:
    """The filtered image data of (H, W, bpp) pixels, row y using ``filters[y % len]``."""
    height, width, bpp = pixels.shape
    flat = pixels.reshape(height, width * bpp).astype(np.int64)
    return b"".join(
        _filter_row(
            filters[y % len(filters)], flat[y], flat[y - 1] if y else np.zeros_like(flat[0]), bpp
        )
        for y in range(height)
    )


def png_of(raw: bytes, height: int, width: int, bpp: int, interlace: int = 0) -> bytes:
    """A PNG around filtered image data, compressed and split over two IDAT chunks."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, COLOR_TYPE[bpp], 0, 0, interlace)
    data = zlib.compress(raw)
    idat = [data[: len(data) // 2], data[len(data) // 2 :]]
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + b"".join(_chunk(b"IDAT", part) for part in idat)
        + _chunk(b"IEND", b"")
    )


def hand_png(pixels: NDArray[np.uint8], filters: list[int]) -> bytes:
    """A PNG of (H, W, bpp) pixels whose row y uses filter ``filters[y % len(filters)]``."""
    return png_of(filtered_rows(pixels, filters), *pixels.shape)


def pillow_rgb(data: bytes) -> NDArray[np.uint8]:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def label_pixels(height: int, width: int, bpp: int, seed: int) -> NDArray[np.uint8]:
    """Random pixels with flat runs, as label images have, so every predictor branch runs."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (height, width, bpp), dtype=np.uint8)
    flat = np.repeat(noise[:, :1], width, axis=1)
    return np.where(rng.random((height, width, 1)) < 0.5, noise, flat).astype(np.uint8)


@needs_fast
@pytest.mark.parametrize("bpp", [1, 3, 4])
@pytest.mark.parametrize("filters", [[0], [1], [2], [3], [4], [0, 1, 2, 3, 4], [4, 3, 2, 1]])
def test_hand_built_filters_match_pillow(bpp: int, filters: list[int]) -> None:
    for i, (height, width) in enumerate(SIZES):
        pixels = label_pixels(height, width, bpp, seed=i)
        data = hand_png(pixels, filters)
        got = _fastpng.decode_rgb(data, "x.png")
        assert got is not None
        assert got.shape == (height, width, 3)
        np.testing.assert_array_equal(got, pillow_rgb(data))


@needs_fast
@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_pillow_and_panokit_writers_match_pillow(mode: str, tmp_path: Path) -> None:
    channels = len(mode)
    for i, (height, width) in enumerate([*SIZES, (64, 96)]):
        pixels = label_pixels(height, width, channels, seed=10 + i)
        image = Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels, mode)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")  # Pillow's adaptive filter choice
        for data in (buffer.getvalue(), encode_png(pixels)):  # encode_png uses Sub
            expected = pillow_rgb(data)
            got = _fastpng.decode_rgb(data, "x.png")
            assert got is not None
            np.testing.assert_array_equal(got, expected)
            path = tmp_path / f"{mode}_{i}.png"
            path.write_bytes(data)
            np.testing.assert_array_equal(decode_png_rgb(path), expected)
            np.testing.assert_array_equal(read_png_ids(path), RGB24.decode(expected))


def test_decoders_agree_with_or_without_fast_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pixels = label_pixels(9, 11, 3, seed=3)
    path = tmp_path / "a.png"
    path.write_bytes(hand_png(pixels, [0, 1, 2, 3, 4]))
    with_fast = decode_png_rgb(path)
    monkeypatch.setattr(_fastpng, "_cache", [None])
    assert not _fastpng.available()
    np.testing.assert_array_equal(with_fast, pixels)
    np.testing.assert_array_equal(decode_png_rgb(path), pixels)
    np.testing.assert_array_equal(read_png_ids(path), RGB24.decode(pixels))


def test_fallback_when_extension_is_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "panokit._speedups", None)  # import raises ImportError
    monkeypatch.setattr(_fastpng, "_cache", [])
    pixels = label_pixels(6, 5, 3, seed=4)
    data = hand_png(pixels, [4])
    assert _fastpng.decode_rgb(data, "x.png") is None
    assert not _fastpng.available()
    path = tmp_path / "a.png"
    path.write_bytes(data)
    calls: list[bytes] = []
    real = _fastpng.decode_rgb
    monkeypatch.setattr(
        "panokit.eval.sources.decode_rgb", lambda d, p: calls.append(d) or real(d, p)
    )
    np.testing.assert_array_equal(decode_png_rgb(path), pixels)
    assert calls == [data]  # asked, declined, then pyspng/Pillow decoded it
    np.testing.assert_array_equal(read_png_ids(path), RGB24.decode(pixels))


@needs_fast
def test_other_png_kinds_are_left_to_the_fallback(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    cases = {
        "16bit": encode_png(rng.integers(0, 65536, (4, 5, 3), dtype=np.uint16)),
        "palette": _save(Image.fromarray(rng.integers(0, 4, (4, 5), dtype=np.uint8), "P")),
        # Adam7 of a 1x1 image is its only pixel in pass 1: the same bytes, flagged interlaced
        "interlaced": png_of(bytes([0, 9, 8, 7]), 1, 1, 3, interlace=1),
    }
    assert pillow_rgb(cases["interlaced"]).tolist() == [[[9, 8, 7]]]
    for name, data in cases.items():
        assert _fastpng.decode_rgb(data, name) is None, name
        path = tmp_path / f"{name}.png"
        path.write_bytes(data)
        np.testing.assert_array_equal(decode_png_rgb(path), pillow_rgb(data))


def _save(image: Image.Image, **options: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def _corruptions() -> dict[str, bytes]:
    pixels = label_pixels(8, 6, 3, seed=6)
    good = hand_png(pixels, [1, 2, 4])
    raw = bytearray(filtered_rows(pixels, [1, 2, 4]))
    raw[19] = 7  # row 1 gets an unknown filter type
    bad_filter = png_of(bytes(raw), 8, 6, 3)
    short = png_of(bytes(raw[:-5]), 8, 6, 3)
    ihdr_end = 8 + 25
    flipped = bytearray(good)
    flipped[ihdr_end + 20] ^= 0xFF  # inside the first IDAT: CRC mismatch
    garbage = good[:ihdr_end] + _chunk(b"IDAT", b"\x78\x9c" + b"\xff" * 40) + good[-12:]
    return {
        "truncated": good[: len(good) - 30],
        "header only": good[:ihdr_end],
        "bad crc": bytes(flipped),
        "bad deflate": garbage,
        "short data": short,
        "bad filter": bad_filter,
    }


@pytest.mark.parametrize("name", list(_corruptions()))
def test_corrupt_files_raise_format_error_naming_the_file(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(_corruptions()[name])
    pattern = "^" + re.escape(f"{path}: cannot decode PNG (")
    if _fastpng.available() or name != "bad crc":  # pyspng does not check IDAT CRCs
        with pytest.raises(FormatError, match=pattern):
            decode_png_rgb(path)
    with pytest.raises(FormatError, match=pattern):
        read_png_ids(path)
    monkeypatch.setattr(_fastpng, "_cache", [None])  # the fallback says the same
    with pytest.raises(FormatError, match=pattern):
        decode_png_rgb(path, use_spng=False)
    with pytest.raises(FormatError, match=pattern):
        read_png_ids(path)


@needs_fast
def test_unfilter_checks_its_input() -> None:
    from panokit import _speedups  # type: ignore[attr-defined]

    with pytest.raises(ValueError, match=r"^image data is 10 bytes, expected 14$"):
        _speedups.unfilter_rgb(bytes(10), 2, 2, 3)
    with pytest.raises(ValueError, match=r"^row 1 has unknown filter type 5$"):
        _speedups.unfilter_rgb(bytes([0, 1, 2, 3, 5, 1, 1, 1]), 1, 2, 3)
    with pytest.raises(ValueError, match=r"^bad image size or bytes per pixel$"):
        _speedups.unfilter_rgb(bytes(6), 1, 2, 2)
    # bytes are copied, a bytearray of RGB rows is unfiltered in place and returned
    data = bytes([1, 10, 20, 30, 2, 1, 1, 1])
    assert bytes(_speedups.unfilter_rgb(data, 1, 2, 3)) == bytes([10, 20, 30, 11, 21, 31])
    array = bytearray(data)
    assert _speedups.unfilter_rgb(array, 1, 2, 3) is array
    assert bytes(array[:6]) == bytes([10, 20, 30, 11, 21, 31])
