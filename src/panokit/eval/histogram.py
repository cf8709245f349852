"""The joint (ground truth, prediction) histogram of one label pair: the hot loop.

Segments are large, so along the flattened arrays the (gt, pred) pair changes rarely.
:func:`pair_runs` finds the runs of equal pairs with two vectorised comparisons;
the histogram is then a weighted ``bincount`` over the runs' compact segment indices
(:func:`index_ids`), never a ``np.unique`` over every pixel pair.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from panokit.core.label import Segment

_DENSE_LIMIT = 1 << 22
"""Largest (gt segments + 1) x (pred segments + 1) histogram kept dense."""


@dataclass(frozen=True)
class SegmentTable:
    """The segments of one label as arrays sorted by id (void 0 never listed).

    ``rank`` is each segment's position in the source listing (``segments_info`` order),
    which panopticapi's crowd rule depends on; ``declared_area`` is -1 where unknown.
    """

    ids: NDArray[np.int64]
    categories: NDArray[np.int64]
    iscrowd: NDArray[np.bool_]
    declared_area: NDArray[np.int64]
    rank: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_segments(cls, segments: Mapping[int, Segment]) -> SegmentTable:
        """Build from a label's segment table (its iteration order is the listing order)."""
        count = len(segments)
        ids = np.fromiter((int(k) for k in segments), dtype=np.int64, count=count)
        cats = np.fromiter((s.category_id for s in segments.values()), np.int64, count)
        crowd = np.fromiter((bool(s.iscrowd) for s in segments.values()), np.bool_, count)
        area = np.fromiter(
            (-1 if s.declared_area is None else int(s.declared_area) for s in segments.values()),
            np.int64,
            count,
        )
        order = np.argsort(ids, kind="stable")
        return cls(ids[order], cats[order], crowd[order], area[order], order.astype(np.int64))


def pair_runs(
    gt_ids: NDArray[Any], pred_ids: NDArray[Any]
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Start positions and lengths of the runs of equal (gt, pred) pairs in the flattened
    arrays (which must have the same shape)."""
    g = np.ravel(gt_ids)
    p = np.ravel(pred_ids)
    n = g.size
    if n == 0:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty
    change = np.empty(n, dtype=np.bool_)
    change[0] = True
    np.not_equal(g[1:], g[:-1], out=change[1:])
    change[1:] |= p[1:] != p[:-1]
    starts = np.flatnonzero(change)
    lengths = np.diff(starts, append=n)
    return starts, lengths


def index_ids(
    values: NDArray[Any], sorted_ids: NDArray[np.int64]
) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
    """Position of each value in ``[0, *sorted_ids]`` (0 = void) and whether it is listed."""
    table = np.concatenate([np.zeros(1, dtype=np.int64), sorted_ids])
    pos = np.searchsorted(table, values)
    np.minimum(pos, len(table) - 1, out=pos)
    known = table[pos] == values
    return pos, known


@dataclass(frozen=True)
class JointHistogram:
    """Counts of (gt segment, pred segment) pairs: row/column 0 is void, row ``i`` the
    ``i``-th gt segment in id order (column likewise); plus ids found but not listed."""

    counts: NDArray[np.int64]
    unknown_gt: dict[int, int]
    unknown_pred: dict[int, int]


def _unknown(
    values: NDArray[Any], lengths: NDArray[Any], known: NDArray[np.bool_]
) -> dict[int, int]:
    if known.all():
        return {}
    bad = values[~known]
    weights = lengths[~known]
    uniq, inverse = np.unique(bad, return_inverse=True)
    sums = np.bincount(inverse.ravel(), weights=weights)
    return {int(u): int(s) for u, s in zip(uniq, sums, strict=True)}


def rgb_pair_runs(
    gt_rgb: NDArray[np.uint8], pred_rgb: NDArray[np.uint8]
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Like :func:`pair_runs` for two (H, W, 3) uint8 RGB arrays, without ever building
    the id arrays: consecutive pixels are compared byte-wise (3 bytes apart)."""
    g = np.ascontiguousarray(gt_rgb).reshape(-1)
    p = np.ascontiguousarray(pred_rgb).reshape(-1)
    n = g.size // 3
    if n == 0:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty
    differs = g[3:] != g[:-3]
    differs |= p[3:] != p[:-3]
    pixels = np.flatnonzero(differs) // 3 + 1
    if pixels.size:
        first = np.empty(pixels.size, dtype=np.bool_)
        first[0] = True
        np.not_equal(pixels[1:], pixels[:-1], out=first[1:])
        pixels = pixels[first]
    starts = np.concatenate([np.zeros(1, dtype=np.intp), pixels.astype(np.intp)])
    lengths = np.diff(starts, append=n)
    return starts, lengths


def rgb24_at(rgb: NDArray[np.uint8], positions: NDArray[np.intp]) -> NDArray[np.int64]:
    """RGB24 ids (R + 256 G + 65536 B) of the pixels at flat ``positions`` only."""
    flat = np.ascontiguousarray(rgb).reshape(-1)
    at = positions * 3
    ids: NDArray[np.int64] = flat[at].astype(np.int64)
    ids |= flat[at + 1].astype(np.int64) << 8
    ids |= flat[at + 2].astype(np.int64) << 16
    return ids


def histogram_from_runs(
    gt_values: NDArray[Any],
    pred_values: NDArray[Any],
    lengths: NDArray[Any],
    gt_sorted: NDArray[np.int64],
    pred_sorted: NDArray[np.int64],
) -> JointHistogram:
    """The histogram of runs given by their (gt id, pred id) values and lengths."""
    gi, gknown = index_ids(gt_values, gt_sorted)
    pi, pknown = index_ids(pred_values, pred_sorted)
    unknown_gt = _unknown(gt_values, lengths, gknown)
    unknown_pred = _unknown(pred_values, lengths, pknown)
    if unknown_gt:
        gi = np.where(gknown, gi, 0)
    if unknown_pred:
        pi = np.where(pknown, pi, 0)
    rows, cols = len(gt_sorted) + 1, len(pred_sorted) + 1
    if rows * cols <= _DENSE_LIMIT:
        flat = np.bincount(gi * cols + pi, weights=lengths, minlength=rows * cols)
        counts = flat.astype(np.int64).reshape(rows, cols)
    else:  # pragma: no cover - only for labels with thousands of segments on both sides
        keys, inverse = np.unique(gi.astype(np.int64) * cols + pi, return_inverse=True)
        sums = np.bincount(inverse.ravel(), weights=lengths).astype(np.int64)
        counts = np.zeros((rows, cols), dtype=np.int64)
        counts[keys // cols, keys % cols] = sums
    return JointHistogram(counts, unknown_gt, unknown_pred)


def joint_histogram(
    gt_ids: NDArray[Any],
    pred_ids: NDArray[Any],
    gt_sorted: NDArray[np.int64],
    pred_sorted: NDArray[np.int64],
) -> JointHistogram:
    """The (gt, pred) histogram of two id arrays of one shape over listed segment ids.

    Ids present but not listed go to ``unknown_gt`` / ``unknown_pred`` with their element
    counts (and are counted as void).
    """
    starts, lengths = pair_runs(gt_ids, pred_ids)
    g = np.ravel(gt_ids)[starts]
    p = np.ravel(pred_ids)[starts]
    return histogram_from_runs(g, p, lengths, gt_sorted, pred_sorted)


def rgb24_joint_histogram(
    gt_rgb: NDArray[np.uint8],
    pred_rgb: NDArray[np.uint8],
    gt_sorted: NDArray[np.int64],
    pred_sorted: NDArray[np.int64],
) -> JointHistogram:
    """:func:`joint_histogram` of two RGB24-encoded (H, W, 3) arrays (COCO panoptic PNGs).

    Uses the compiled run finder of ``panokit._speedups`` when it was built (one pass, ids
    read at run starts only); the numpy path gives the same histogram.
    """
    compiled = _compiled_pair_runs()
    if compiled is not None and gt_rgb.shape == pred_rgb.shape and gt_rgb.ndim == 3:
        count = int(gt_rgb.shape[0]) * int(gt_rgb.shape[1])
        raw_starts, raw_gt, raw_pred = compiled(
            np.ascontiguousarray(gt_rgb, dtype=np.uint8),
            np.ascontiguousarray(pred_rgb, dtype=np.uint8),
            count,
        )
        starts = np.frombuffer(raw_starts, dtype=np.int64)
        lengths = np.diff(starts, append=count)
        return histogram_from_runs(
            np.frombuffer(raw_gt, dtype=np.int64),
            np.frombuffer(raw_pred, dtype=np.int64),
            lengths,
            gt_sorted,
            pred_sorted,
        )
    run_starts, run_lengths = rgb_pair_runs(gt_rgb, pred_rgb)
    return histogram_from_runs(
        rgb24_at(gt_rgb, run_starts),
        rgb24_at(pred_rgb, run_starts),
        run_lengths,
        gt_sorted,
        pred_sorted,
    )


@functools.cache
def _compiled_pair_runs() -> Callable[..., tuple[bytes, bytes, bytes]] | None:
    """``panokit._speedups.rgb24_pair_runs`` when the optional extension is built."""
    try:
        module = importlib.import_module("panokit._speedups")
    except ImportError:
        return None
    found: Callable[..., tuple[bytes, bytes, bytes]] | None = getattr(
        module, "rgb24_pair_runs", None
    )
    return found


__all__ = [
    "JointHistogram",
    "SegmentTable",
    "histogram_from_runs",
    "index_ids",
    "joint_histogram",
    "pair_runs",
    "rgb24_at",
    "rgb24_joint_histogram",
    "rgb_pair_runs",
]
