"""Raw LiDAR label files as segment values, shared by the point-cloud formats and the fast
evaluation path (:mod:`panokit.eval.lidar`).

A label loader of the ``semantic-kitti`` and ``nuscenes`` readers carries a
:class:`RawScan` in the attribute :data:`RAW_ATTR`; evaluation reads such files directly.
:func:`dense_codes` is the fast ``np.unique(..., return_inverse=True)`` the readers use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from panokit.core.codecs import DIVISOR_1000, SPLIT_16
from panokit.core.label import PanopticLabel
from panokit.errors import FormatError, MissingFileError, ValidationError

RAW_ATTR = "panokit_raw_scan"
"""Name of the attribute of a label loader that describes its raw file."""

RawKind = Literal["split16", "divisor1000-npz", "uint8-bin"]
_POINT_LAYOUT = {
    16: "4 float32 per point: x, y, z, remission",
    20: "5 float32 per point: x, y, z, intensity, ring",
    4: "one uint32 label per point",
    1: "one uint8 label per point",
}


@dataclass(frozen=True)
class RawScan:
    """A label file whose values are segments: ``split16`` (SemanticKITTI uint32),
    ``divisor1000-npz`` (nuScenes panoptic ``.npz`` key ``data``) or ``uint8-bin``
    (nuScenes-lidarseg).  ``category_lut`` (optional) maps the file's category ids to the
    label's; ``points_from`` is a file whose size gives the expected number of points."""

    path: Path
    kind: RawKind
    category_lut: NDArray[np.int64] | None = None
    points_from: Path | None = None
    point_bytes: int = 16
    """Bytes per point of ``points_from`` (16: SemanticKITTI scan, 20: nuScenes scan, 4: a
    ``.label`` file)."""
    known: frozenset[int] | None = None
    """Category ids (before ``category_lut``) the file may hold; others raise (None: any)."""
    hint: str = ""
    """Appended to the message about unknown category ids (e.g. how to fix the file)."""

    def expected_points(self) -> int | None:
        """The number of points the file must hold, if known."""
        if self.points_from is None:
            return None
        try:
            size = os.stat(self.points_from).st_size
        except FileNotFoundError:
            raise MissingFileError(f"file not found: {self.points_from}") from None
        if size % self.point_bytes:
            what = _POINT_LAYOUT.get(self.point_bytes, f"{self.point_bytes} bytes per point")
            raise FormatError(
                f"{self.points_from}: truncated file: {size} bytes is not a multiple of "
                f"{self.point_bytes} ({what})"
            )
        return size // self.point_bytes

    def values(self) -> NDArray[Any]:
        """The per-point values of the file (with the length checks of the readers)."""
        try:
            if self.kind == "split16":
                size = os.stat(self.path).st_size
                if size % 4:
                    raise FormatError(
                        f"{self.path}: truncated label file: {size} bytes is not a multiple "
                        "of 4 (one uint32 label per point)"
                    )
                data: NDArray[Any] = np.fromfile(self.path, dtype="<u4")
            elif self.kind == "uint8-bin":
                data = np.fromfile(self.path, dtype=np.uint8)
            else:
                data = read_panoptic_npz(self.path)
        except FileNotFoundError:
            raise MissingFileError(f"label file not found: {self.path}") from None
        expected = self.expected_points()
        if expected is not None and data.size != expected:
            raise FormatError(
                f"{self.path}: {data.size} labels but {self.points_from} has {expected} points"
            )
        return data

    def categories(self, values: NDArray[Any]) -> NDArray[np.int64]:
        """The category of each (distinct) value."""
        if self.kind == "split16":
            semantic: NDArray[Any] = SPLIT_16.decode(values)[0]
        elif self.kind == "uint8-bin":
            semantic = values
        else:
            semantic = DIVISOR_1000.decode(values)[0]
        cats = semantic.astype(np.int64)
        if self.known is not None:
            unknown = sorted({int(c) for c in cats.tolist()} - self.known)
            if unknown:
                raise FormatError(
                    f"{self.path}: category ids {unknown} are not in the dataset's taxonomy "
                    f"(known: {sorted(self.known)[:40]}){self.hint}"
                )
        if self.category_lut is not None:
            lut = self.category_lut
            inside = cats < len(lut)
            cats = np.where(inside, lut[np.where(inside, cats, 0)], -1)
        return cats


def _split_codes(v: NDArray[Any]) -> tuple[NDArray[Any], NDArray[np.intp]]:
    """:func:`dense_codes` without run compression: mark the 16-bit halves in tables."""
    if v.size < 4096 or v.dtype.itemsize > 4 or not np.issubdtype(v.dtype, np.unsignedinteger):
        uniq, inverse = np.unique(v, return_inverse=True)
        return uniq, inverse.ravel().astype(np.intp, copy=False)
    low, high = SPLIT_16.decode(v)
    seen = np.zeros(1 << 16, dtype=bool)
    seen[high] = True
    high_present = np.flatnonzero(seen)
    rank = np.empty(1 << 16, dtype=np.intp)
    rank[high_present] = np.arange(high_present.size)
    low_span = int(low.max()) + 1
    size = high_present.size * low_span
    if size > max(4 * v.size, 1 << 20):
        uniq, inverse = np.unique(v, return_inverse=True)
        return uniq, inverse.ravel().astype(np.intp, copy=False)
    key = rank[high] * low_span + low
    seen_key = np.zeros(size, dtype=bool)
    seen_key[key] = True
    present = np.flatnonzero(seen_key)
    table = np.empty(size, dtype=np.intp)
    table[present] = np.arange(present.size)
    uniq_values = SPLIT_16.encode(present % low_span, high_present[present // low_span])
    return uniq_values, table[key]


def dense_runs(
    values: NDArray[Any],
) -> tuple[NDArray[Any], NDArray[np.intp], NDArray[np.intp] | None]:
    """:func:`dense_codes` before expanding the runs: distinct values (sorted), the code of
    each run of equal values and the run lengths (None when every point is its own run:
    then the codes are per point).  ``np.repeat(codes, lengths)`` gives the per-point codes;
    a reader maps the (few) codes first and expands once, sparing a per-point int64 array."""
    v = np.ravel(values)
    n = v.size
    if n < 4096:
        uniq, codes = _split_codes(v)
        return uniq, codes, None
    change = np.empty(n, dtype=bool)
    change[0] = True
    np.not_equal(v[1:], v[:-1], out=change[1:])
    starts = np.flatnonzero(change)
    if starts.size * 2 > n:
        uniq, codes = _split_codes(v)
        return uniq, codes, None
    uniq, run_codes = _split_codes(v[starts])
    return uniq, run_codes, np.diff(starts, append=n)


def dense_codes(values: NDArray[Any]) -> tuple[NDArray[Any], NDArray[np.intp]]:
    """Distinct values (sorted) and each value's index among them (like
    ``np.unique(values, return_inverse=True)``, several times faster on scans).

    Consecutive points mostly share a label, so the runs of equal values are coded once;
    the run values are counted through their 16-bit halves with ``bincount``.
    """
    uniq, codes, lengths = dense_runs(values)
    if lengths is None:
        return uniq, codes
    return uniq, np.repeat(codes, lengths)


def expand_runs(
    table: NDArray[Any], codes: NDArray[np.intp], lengths: NDArray[np.intp] | None
) -> NDArray[Any]:
    """``table[per-point codes]`` from the output of :func:`dense_runs`."""
    mapped = table[codes]
    return mapped if lengths is None else np.repeat(mapped, lengths)


def read_panoptic_npz(path: Path) -> NDArray[np.uint16]:
    """The ``data`` array of a Panoptic nuScenes ``.npz`` (uint16 = class * 1000 + instance)."""
    import zipfile

    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except FileNotFoundError:
        raise MissingFileError(f"panoptic label file not found: {path}") from None
    if magic != b"PK\x03\x04":
        raise FormatError(
            f"{path}: not a .npz file (a zip archive holding the array 'data'); it starts "
            f"with {magic!r}"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "data" not in archive.files:
                raise FormatError(
                    f"{path}: a panoptic .npz holds the key 'data', found {archive.files}"
                )
            data = archive["data"]
    except FileNotFoundError:
        raise MissingFileError(f"panoptic label file not found: {path}") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise FormatError(f"{path}: not a readable .npz file ({exc})") from None
    if data.ndim != 1 or not np.issubdtype(data.dtype, np.integer):
        raise FormatError(
            f"{path}: 'data' must be a 1-D integer array, found {data.dtype} {data.shape}"
        )
    out: NDArray[np.uint16] = data.astype(np.uint16, copy=False)
    return out


def check_segments(label: PanopticLabel, where: str) -> None:
    """:meth:`PanopticLabel.validate` without the one-region-per-stuff-class rule: LiDAR label
    files may number stuff points (each value is a segment for the official evaluators)."""
    found = [p for p in label.problems() if not p.startswith("stuff category ")]
    if found:
        raise ValidationError(found, where=where)


__all__ = [
    "RAW_ATTR",
    "RawScan",
    "check_segments",
    "dense_codes",
    "dense_runs",
    "expand_runs",
    "read_panoptic_npz",
]
