"""Panoptic labels: one segment id per pixel or point plus a segment table.

``PanopticLabel.ids`` holds one segment id per element (0 = void); ``segments`` maps every
non-zero id to a :class:`Segment` (category, crowd flag, attributes).  Areas and boxes are
computed from ``ids``, never stored twice.  :class:`PanopticImage` is the (H, W) case and
:class:`PanopticPointCloud` the (N,) case with optional points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from panokit.core.taxonomy import Taxonomy
from panokit.errors import LabelError, ValidationError

VOID = 0
"""The segment id of void / unlabeled elements in every panoptic label."""

LabelT = TypeVar("LabelT", bound="PanopticLabel")


@dataclass(frozen=True)
class Segment:
    """One segment of a label: its category and crowd flag.

    ``declared_area`` is the area a source file states (COCO ``segments_info[].area``), kept
    only because some official protocols read it instead of counting pixels; it is None
    for labels made in memory.
    """

    category_id: int
    iscrowd: bool = False
    attributes: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    declared_area: int | None = field(default=None, compare=False)


def _segment_counts(ids: NDArray[Any]) -> tuple[NDArray[Any], NDArray[np.int64]]:
    """Distinct ids and their counts, using bincount when ids are small."""
    if ids.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    flat = ids.ravel()
    high = int(flat.max())
    if int(flat.min()) >= 0 and high < 4 * flat.size + 65536:
        counts = np.bincount(flat.astype(np.intp, copy=False), minlength=high + 1)
        present = np.flatnonzero(counts)
        return present, counts[present].astype(np.int64)
    values, counts = np.unique(flat, return_counts=True)
    return values, counts.astype(np.int64)


class PanopticLabel:
    """A panoptic label of any shape: ``ids`` + ``segments`` (+ the taxonomy it refers to).

    Cheap invariants are checked on construction (integer array, no negative ids, no
    segment for id 0); :meth:`validate` does the full check.
    """

    def __init__(
        self,
        ids: NDArray[Any],
        segments: Mapping[int, Segment],
        taxonomy: Taxonomy | None = None,
    ) -> None:
        ids = np.asarray(ids)
        if not np.issubdtype(ids.dtype, np.integer):
            raise LabelError(f"ids must be an integer array, got dtype {ids.dtype}")
        if np.issubdtype(ids.dtype, np.signedinteger) and ids.size and int(ids.min()) < 0:
            raise LabelError(f"ids must be >= 0 (0 = void), found {int(ids.min())}")
        table: dict[int, Segment] = {}
        for seg_id, seg in segments.items():
            if int(seg_id) == VOID:
                raise LabelError("segment id 0 is void and cannot have a Segment")
            if int(seg_id) < 0:
                raise LabelError(f"segment id {seg_id} is negative")
            table[int(seg_id)] = seg
        self.ids: NDArray[Any] = ids
        self.segments: dict[int, Segment] = table
        self.taxonomy = taxonomy

    # ----------------------------------------------------------------------------- views
    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of ``ids``."""
        return tuple(self.ids.shape)

    def areas(self) -> dict[int, int]:
        """Element count of every non-void id present in ``ids``."""
        values, counts = _segment_counts(self.ids)
        return {int(v): int(c) for v, c in zip(values, counts, strict=True) if v != VOID}

    def area(self, segment_id: int) -> int:
        """Element count of one segment."""
        return int(np.count_nonzero(self.ids == segment_id))

    def category_lookup(self) -> tuple[NDArray[Any], NDArray[np.int64]]:
        """Sorted segment ids (void first) and the category of each (void -> void id)."""
        void = self.taxonomy.void_id if self.taxonomy is not None else 0
        seg_ids = np.array([VOID, *sorted(self.segments)], dtype=np.int64)
        cats = np.array(
            [void] + [self.segments[s].category_id for s in seg_ids[1:]], dtype=np.int64
        )
        return seg_ids, cats

    def semantic(self) -> NDArray[np.int64]:
        """Category id per element (the taxonomy's void id where void)."""
        seg_ids, cats = self.category_lookup()
        pos = np.searchsorted(seg_ids, self.ids)
        pos = np.clip(pos, 0, len(seg_ids) - 1)
        known = seg_ids[pos] == self.ids
        void = self.taxonomy.void_id if self.taxonomy is not None else 0
        return np.where(known, cats[pos], void)

    def instance(self) -> NDArray[np.int64]:
        """Instance number per element: 1, 2, ... per thing category, 0 for stuff and void.

        Instances are numbered in increasing segment-id order within each category.
        Without a taxonomy every segment counts as a thing.
        """
        seg_ids = sorted(self.segments)
        numbers = np.zeros(len(seg_ids) + 1, dtype=np.int64)
        next_number: dict[int, int] = {}
        for i, seg_id in enumerate(seg_ids, start=1):
            cat = self.segments[seg_id].category_id
            thing = True if self.taxonomy is None else self.taxonomy.isthing(cat)
            if thing:
                next_number[cat] = next_number.get(cat, 0) + 1
                numbers[i] = next_number[cat]
        table = np.array([VOID, *seg_ids], dtype=np.int64)
        pos = np.clip(np.searchsorted(table, self.ids), 0, len(table) - 1)
        known = table[pos] == self.ids
        return np.where(known, numbers[pos], 0)

    # ---------------------------------------------------------------------- validation
    def problems(self) -> list[str]:
        """Every inconsistency between ``ids``, ``segments`` and the taxonomy."""
        found: list[str] = []
        areas = self.areas()
        known = sorted(self.segments)
        for seg_id, count in sorted(areas.items()):
            if seg_id not in self.segments:
                shown = known if len(known) <= 20 else [*known[:20], "..."]
                found.append(
                    f"segment id {seg_id} occurs in ids ({count} {self._unit}) but has no "
                    f"Segment; known ids: {shown}"
                )
        for seg_id in known:
            if seg_id not in areas:
                found.append(
                    f"segment id {seg_id} (category {self.segments[seg_id].category_id}) has a "
                    "Segment but occurs nowhere in ids"
                )
        if self.taxonomy is not None:
            stuff_seen: dict[int, int] = {}
            for seg_id in known:
                seg = self.segments[seg_id]
                cat = self.taxonomy.get(seg.category_id)
                if cat is None:
                    found.append(
                        f"segment id {seg_id} has unknown category {seg.category_id}; "
                        f"taxonomy {self.taxonomy.name or '(unnamed)'} knows "
                        f"{self.taxonomy._short_ids()}"
                    )
                    continue
                if seg.category_id == self.taxonomy.void_id:
                    found.append(f"segment id {seg_id} has the void category {seg.category_id}")
                if not cat.isthing:
                    if seg_id in areas and seg.category_id in stuff_seen:
                        found.append(
                            f"stuff category {cat.id} ({cat.name}) has two segments "
                            f"({stuff_seen[seg.category_id]} and {seg_id}); stuff is one "
                            "region per category"
                        )
                    stuff_seen.setdefault(seg.category_id, seg_id)
        return found

    def validate(self, where: str = "") -> None:
        """Raise :class:`ValidationError` listing every problem, if any."""
        found = self.problems()
        if found:
            raise ValidationError(found, where=where)

    @property
    def _unit(self) -> str:
        return "elements"

    # -------------------------------------------------------------------- construction
    @classmethod
    def from_semantic_instance(
        cls: type[LabelT],
        semantic: NDArray[Any],
        instance: NDArray[Any] | None,
        taxonomy: Taxonomy,
        crowd: NDArray[Any] | None = None,
        **kwargs: Any,
    ) -> LabelT:
        """Build from a category map and an instance map.

        Stuff categories become one segment each (their instance values are ignored);
        every distinct (thing category, instance) pair becomes a segment.  Elements of the
        taxonomy's void id, or of categories unknown to the taxonomy, raise
        :class:`LabelError` unless void.  ``crowd`` marks elements of crowd regions.
        Segment ids are assigned 1, 2, ... in (category, instance) order.
        """
        semantic = np.asarray(semantic).astype(np.int64, copy=False)
        inst = (
            np.zeros_like(semantic)
            if instance is None
            else np.asarray(instance).astype(np.int64, copy=False)
        )
        if inst.shape != semantic.shape:
            raise LabelError(
                f"semantic map has shape {semantic.shape} but instance map has {inst.shape}"
            )
        present = [int(c) for c in np.unique(semantic) if c != taxonomy.void_id]
        unknown = [c for c in present if c not in taxonomy]
        if unknown:
            raise LabelError(
                f"semantic map holds category ids {unknown} that taxonomy "
                f"{taxonomy.name or '(unnamed)'} does not know"
            )
        thing_table = np.zeros(max([*present, 0]) + 1, dtype=bool)
        for c in present:
            thing_table[c] = taxonomy.isthing(c)
        valid = semantic != taxonomy.void_id
        safe_sem = np.where(valid, semantic, 0)
        is_thing = valid & thing_table[safe_sem]
        key_inst = np.where(is_thing, inst, -1)
        crowd_arr = None if crowd is None else np.asarray(crowd, dtype=bool)
        pairs = np.stack([safe_sem[valid], key_inst[valid]], axis=1) if valid.any() else None
        ids = np.zeros(semantic.shape, dtype=np.uint32)
        segments: dict[int, Segment] = {}
        if pairs is not None:
            uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
            ids[valid] = inverse.ravel().astype(np.uint32) + 1
            for seg_index, (cat, _ins) in enumerate(uniq.tolist(), start=1):
                iscrowd = False
                if crowd_arr is not None:
                    iscrowd = bool(crowd_arr[ids == seg_index].any())
                segments[seg_index] = Segment(int(cat), iscrowd=iscrowd)
        return cls(ids, segments, taxonomy, **kwargs)

    def with_segments(self: LabelT, ids: NDArray[Any], segments: Mapping[int, Segment]) -> LabelT:
        """A copy with new ids and segments and the same taxonomy (and extra fields)."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        PanopticLabel.__init__(new, ids, segments, self.taxonomy)
        return new

    def relabeled(self: LabelT) -> LabelT:
        """A copy whose segment ids are 1..K in increasing order of the old ids."""
        old = np.array([VOID, *sorted(self.segments)], dtype=np.int64)
        pos = np.clip(np.searchsorted(old, self.ids), 0, len(old) - 1)
        known = old[pos] == self.ids
        ids = np.where(known, pos, 0).astype(np.uint32)
        segs = {i: self.segments[int(s)] for i, s in enumerate(old[1:], start=1)}
        return self.with_segments(ids, segs)

    def equals(self, other: PanopticLabel) -> bool:
        """Same ids array and same segment table (category, crowd) element for element."""
        if self.ids.shape != other.ids.shape:
            return False
        if not np.array_equal(self.ids, other.ids):
            return False
        mine = {k: (v.category_id, v.iscrowd) for k, v in self.segments.items()}
        theirs = {k: (v.category_id, v.iscrowd) for k, v in other.segments.items()}
        return mine == theirs

    def same_partition(self, other: PanopticLabel) -> bool:
        """Same segments up to renumbering: each segment covers the same elements with the
        same category and crowd flag."""
        if self.ids.shape != other.ids.shape:
            return False
        a, b = self.ids.ravel(), other.ids.ravel()
        if not np.array_equal(a == VOID, b == VOID):
            return False
        pairs = np.unique(np.stack([a, b], axis=1).astype(np.int64), axis=0)
        if len(np.unique(pairs[:, 0])) != len(pairs) or len(np.unique(pairs[:, 1])) != len(pairs):
            return False
        for sa, sb in pairs.tolist():
            if sa == VOID:
                continue
            x, y = self.segments.get(sa), other.segments.get(sb)
            if x is None or y is None:
                return False
            if (x.category_id, x.iscrowd) != (y.category_id, y.iscrowd):
                return False
        return True

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(shape={self.shape}, {len(self.segments)} segments, "
            f"taxonomy={self.taxonomy.name if self.taxonomy else None!r})"
        )


class PanopticImage(PanopticLabel):
    """A panoptic label of an image: ``ids`` has shape (H, W)."""

    def __init__(
        self,
        ids: NDArray[Any],
        segments: Mapping[int, Segment],
        taxonomy: Taxonomy | None = None,
    ) -> None:
        super().__init__(ids, segments, taxonomy)
        if self.ids.ndim != 2:
            raise LabelError(f"a PanopticImage needs ids of shape (H, W), got {self.ids.shape}")

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return int(self.ids.shape[0])

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return int(self.ids.shape[1])

    @property
    def _unit(self) -> str:
        return "pixels"

    def bbox(self, segment_id: int) -> tuple[int, int, int, int]:
        """Tight box ``[x, y, width, height]`` (COCO convention) of one segment."""
        rows = np.flatnonzero((self.ids == segment_id).any(axis=1))
        if rows.size == 0:
            return (0, 0, 0, 0)
        cols = np.flatnonzero((self.ids[rows[0] : rows[-1] + 1] == segment_id).any(axis=0))
        return (
            int(cols[0]),
            int(rows[0]),
            int(cols[-1] - cols[0] + 1),
            int(rows[-1] - rows[0] + 1),
        )

    def bboxes(self) -> dict[int, tuple[int, int, int, int]]:
        """Tight ``[x, y, width, height]`` of every non-void segment present, in one pass.

        Works on the runs of equal ids along each row, so the cost follows the number of
        runs (small for label images), not the number of pixels.
        """
        run_rows, run_starts, run_ends, run_ids = row_runs(self.ids)
        keep = run_ids != VOID
        if not keep.any():
            return {}
        run_rows, run_starts, run_ends = run_rows[keep], run_starts[keep], run_ends[keep]
        present, index = np.unique(run_ids[keep], return_inverse=True)
        k = len(present)
        big = np.iinfo(np.int64).max
        x0 = np.full(k, big, dtype=np.int64)
        y0 = np.full(k, big, dtype=np.int64)
        x1 = np.full(k, -1, dtype=np.int64)
        y1 = np.full(k, -1, dtype=np.int64)
        np.minimum.at(x0, index, run_starts)
        np.minimum.at(y0, index, run_rows)
        np.maximum.at(x1, index, run_ends)
        np.maximum.at(y1, index, run_rows)
        return {
            int(s): (int(a), int(b), int(c - a + 1), int(d - b + 1))
            for s, a, b, c, d in zip(present, x0, y0, x1, y1, strict=True)
        }


def row_runs(
    ids: NDArray[Any],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[Any]]:
    """Maximal runs of equal values along the rows of a 2D array.

    Returns (row, first column, last column, value) of every run, in raster order.
    """
    height, width = ids.shape
    if ids.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, ids.ravel()[:0]
    change = np.empty((height, width), dtype=bool)
    change[:, 0] = True
    np.not_equal(ids[:, 1:], ids[:, :-1], out=change[:, 1:])
    rows, starts = np.nonzero(change)
    values = ids[rows, starts]
    ends = np.empty_like(starts)
    same_row = rows[1:] == rows[:-1]
    ends[:-1] = np.where(same_row, starts[1:] - 1, width - 1)
    ends[-1] = width - 1
    return rows.astype(np.int64), starts.astype(np.int64), ends.astype(np.int64), values


class PanopticPointCloud(PanopticLabel):
    """A panoptic label of a point cloud: ``ids`` has shape (N,).

    ``points`` (N, C) is optional; ``channels`` names its columns (e.g. x, y, z, intensity).
    """

    def __init__(
        self,
        ids: NDArray[Any],
        segments: Mapping[int, Segment],
        taxonomy: Taxonomy | None = None,
        points: NDArray[Any] | None = None,
        channels: Sequence[str] = (),
    ) -> None:
        super().__init__(ids, segments, taxonomy)
        if self.ids.ndim != 1:
            raise LabelError(f"a PanopticPointCloud needs ids of shape (N,), got {self.ids.shape}")
        if points is not None:
            points = np.asarray(points)
            if points.ndim != 2 or points.shape[0] != self.ids.shape[0]:
                raise LabelError(
                    f"points must have shape ({self.ids.shape[0]}, C) to match ids, got "
                    f"{points.shape}"
                )
            if channels and len(channels) != points.shape[1]:
                raise LabelError(
                    f"{len(channels)} channel names {list(channels)} for points with "
                    f"{points.shape[1]} columns"
                )
        self.points = points
        self.channels: tuple[str, ...] = tuple(channels)

    @property
    def _unit(self) -> str:
        return "points"

    def channel(self, name: str) -> NDArray[Any]:
        """One named column of ``points``."""
        if self.points is None:
            raise LabelError("this point cloud label carries no points")
        try:
            return self.points[:, self.channels.index(name)]
        except ValueError:
            raise LabelError(f"no channel {name!r}; channels are {list(self.channels)}") from None


__all__ = [
    "VOID",
    "PanopticImage",
    "PanopticLabel",
    "PanopticPointCloud",
    "Segment",
]
