"""Nested region hierarchies stored as one fine partition plus a merge table.

A hierarchy over ``K`` fine regions (ids ``0..K-1`` in ``fine``) is the list of merges an
agglomerative clustering made: row ``t`` of ``merges`` is ``(a, b)`` with ``a < b`` the
*representatives* of the two clusters joined at step ``t``, where the representative of a
cluster is its smallest fine id.  After ``m`` merges there are ``K - m`` clusters, so a level
with ``n`` regions is the partition after the first ``K - n`` merges; every coarse region is
therefore a union of finer ones by construction.

At a level, regions are numbered ``0..n-1`` in increasing order of their representative
(smallest fine id).  The finest level is the identity.  Changing level is one table lookup.
"""

from __future__ import annotations

import heapq
import io
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from panokit.errors import FormatError, LabelError

HierarchyT = TypeVar("HierarchyT", bound="RegionHierarchy")

_FORMAT_VERSION = 1


class RegionHierarchy:
    """A fine partition of any shape + a merge table + the region counts of the levels.

    ``levels`` lists region counts from the coarsest level (index 0) to the finest
    (index ``len(levels) - 1``, which is always ``K``, the number of fine regions).
    """

    kind = "regions"

    def __init__(self, fine: NDArray[Any], merges: NDArray[Any], levels: Sequence[int]) -> None:
        fine = np.ascontiguousarray(fine, dtype=np.int32)
        merges = np.asarray(merges, dtype=np.int32).reshape(-1, 2)
        count = int(fine.max()) + 1 if fine.size else 0
        if fine.size and int(fine.min()) < 0:
            raise LabelError(f"fine region ids must be >= 0, found {int(fine.min())}")
        if len(merges) > max(count - 1, 0):
            raise LabelError(f"{len(merges)} merges for only {count} fine regions")
        if len(merges) and (
            int(merges.min()) < 0
            or int(merges.max()) >= count
            or bool(np.any(merges[:, 0] >= merges[:, 1]))
        ):
            raise LabelError(
                "merge table rows must be (a, b) with 0 <= a < b < number of fine regions"
            )
        lv = [int(n) for n in levels]
        if not lv:
            raise LabelError("a hierarchy needs at least one level")
        if lv != sorted(set(lv)):
            raise LabelError(f"levels must be strictly increasing region counts, got {lv}")
        if lv[-1] != count:
            raise LabelError(f"the finest level must have all {count} fine regions, got {lv[-1]}")
        if lv[0] < count - len(merges):
            raise LabelError(
                f"the coarsest level has {lv[0]} regions but the merge table reaches only "
                f"{count - len(merges)}"
            )
        self.fine: NDArray[np.int32] = fine
        self.merges: NDArray[np.int32] = merges
        self.levels: tuple[int, ...] = tuple(lv)
        self._luts: list[NDArray[np.int32]] = _level_luts(merges, count, self.levels)
        self._boxes: NDArray[np.int64] | None = None

    # ------------------------------------------------------------------------ basics
    @property
    def num_fine(self) -> int:
        """Number of fine regions ``K``."""
        return int(self.levels[-1])

    @property
    def num_levels(self) -> int:
        """Number of levels."""
        return len(self.levels)

    def _check_level(self, level: int) -> int:
        if not -len(self.levels) <= level < len(self.levels):
            raise LabelError(
                f"level {level} does not exist; this hierarchy has levels 0..{len(self.levels) - 1} "
                f"with {list(self.levels)} regions"
            )
        return level % len(self.levels)

    def lut(self, level: int) -> NDArray[np.int32]:
        """Lookup table fine id -> region id at ``level`` (shape (K,))."""
        return self._luts[self._check_level(level)]

    def level_map(self, level: int) -> NDArray[np.int32]:
        """Region id of every element at ``level`` (same shape as ``fine``)."""
        return self.lut(level)[self.fine]

    def region_of_fine(self, level: int, fine_id: int) -> int:
        """Region at ``level`` that contains fine region ``fine_id``."""
        return int(self.lut(level)[fine_id])

    def region_mask(self, level: int, region: int) -> NDArray[np.bool_]:
        """Boolean mask (shape of ``fine``) of one region at ``level``."""
        lut = self.lut(level)
        if not 0 <= region < self.levels[self._check_level(level)]:
            raise LabelError(
                f"region {region} does not exist at level {level} "
                f"({self.levels[self._check_level(level)]} regions)"
            )
        return np.asarray((lut == region)[self.fine], dtype=bool)

    def region_crop(self, level: int, region: int) -> tuple[tuple[slice, ...], NDArray[np.bool_]]:
        """The bounding box of a region (one slice per axis) and its mask inside that box.

        Much faster than :meth:`region_mask` for small regions of large images.
        """
        member = self.lut(level) == region
        fine_ids = np.flatnonzero(member)
        if fine_ids.size == 0:
            raise LabelError(f"region {region} does not exist at level {level}")
        boxes = self._fine_boxes()[fine_ids]
        nd = self.fine.ndim
        starts = boxes[:, :nd].min(axis=0).tolist()
        stops = boxes[:, nd:].max(axis=0).tolist()
        box = tuple(slice(a, b) for a, b in zip(starts, stops, strict=True))
        return box, np.asarray(member[self.fine[box]], dtype=bool)

    def _fine_boxes(self) -> NDArray[np.int64]:
        """(K, 2 * ndim) array: start of every axis, then stop of every axis."""
        if self._boxes is None:
            from scipy import ndimage

            nd = self.fine.ndim
            found = ndimage.find_objects(self.fine + 1)
            boxes = np.zeros((len(found), 2 * nd), dtype=np.int64)
            for i, b in enumerate(found):
                if b is not None:
                    boxes[i] = [s.start for s in b] + [s.stop for s in b]
            self._boxes = boxes
        return self._boxes

    # ------------------------------------------------------------------ serialisation
    def to_bytes(self) -> bytes:
        """Compressed npz bytes (no pickle): ``fine``, ``merges``, ``levels``, ``kind``."""
        k = self.num_fine
        dtype = np.uint16 if k <= 65536 else np.int32
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            kind=np.array(self.kind),
            version=np.array(_FORMAT_VERSION, dtype=np.int32),
            fine=self.fine.astype(dtype),
            merges=self.merges.astype(dtype),
            levels=np.array(self.levels, dtype=np.int64),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls: type[HierarchyT], data: bytes) -> HierarchyT:
        """Read what :meth:`to_bytes` wrote."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                kind = str(npz["kind"])
                version = int(npz["version"])
                fine = npz["fine"].astype(np.int32)
                merges = npz["merges"].astype(np.int32)
                levels = [int(v) for v in npz["levels"]]
        except (OSError, ValueError, KeyError) as exc:
            raise FormatError(f"not a serialised region hierarchy: {exc}") from exc
        if kind != cls.kind:
            raise FormatError(f"these bytes hold a {kind!r} hierarchy, expected {cls.kind!r}")
        if version != _FORMAT_VERSION:
            raise FormatError(f"hierarchy format version {version}, expected {_FORMAT_VERSION}")
        return cls(fine, merges, levels)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.fine.shape}, levels={list(self.levels)})"


def _level_luts(
    merges: NDArray[np.int32], count: int, levels: Sequence[int]
) -> list[NDArray[np.int32]]:
    """Replay the merge table with union-find, snapshotting every level."""
    parent = np.arange(count, dtype=np.int64)
    pairs = merges.tolist()
    par: list[int] = parent.tolist()

    def find(i: int) -> int:
        root = i
        while par[root] != root:
            root = par[root]
        while par[i] != root:
            par[i], i = root, par[i]
        return root

    wanted = {count - n: n for n in levels}
    luts: dict[int, NDArray[np.int32]] = {}
    for step in range(len(pairs) + 1):
        if step in wanted:
            roots = np.array([find(i) for i in range(count)], dtype=np.int64)
            _, lut = np.unique(roots, return_inverse=True)
            luts[wanted[step]] = lut.astype(np.int32).ravel()
        if step < len(pairs):
            a, b = pairs[step]
            ra, rb = find(a), find(b)
            if ra == rb:
                raise LabelError(f"merge {step} joins {a} and {b}, which are already joined")
            lo, hi = (ra, rb) if ra < rb else (rb, ra)
            par[hi] = lo
    return [luts[n] for n in levels]


def agglomerate(
    features: NDArray[np.float64],
    counts: NDArray[np.float64],
    edges: NDArray[np.int64],
    edge_length: NDArray[np.float64],
    edge_strength: NDArray[np.float64],
    stop_at: int,
    strength_weight: float,
) -> NDArray[np.int32]:
    """Greedy agglomerative merging on a region adjacency graph.

    ``features`` (K, F) are per-region feature *means*, ``counts`` the region sizes,
    ``edges`` (E, 2) adjacent pairs, ``edge_length`` and ``edge_strength`` the length of the
    shared boundary and the sum of the boundary strength along it.  The cost of joining
    ``a`` and ``b`` is ``n_a n_b / (n_a + n_b) * (|mean_a - mean_b|^2 + w * s^2)`` with ``s``
    the mean boundary strength (Ward's criterion plus an edge term).  Ties break by the pair
    of representatives, so the result is deterministic.  Returns the merge table
    (representatives, ``a < b``) until ``stop_at`` regions remain or the graph has no edge.
    """
    k = len(counts)
    feat: list[list[float]] = features.tolist()
    size: list[float] = counts.astype(np.float64).tolist()
    nbrs: list[dict[int, list[float]]] = [{} for _ in range(k)]
    for (a, b), ln, st in zip(
        edges.tolist(), edge_length.tolist(), edge_strength.tolist(), strict=True
    ):
        if a == b:
            continue
        entry = nbrs[a].get(b)
        if entry is None:
            entry = [0.0, 0.0]
            nbrs[a][b] = entry
            nbrs[b][a] = entry
        entry[0] += ln
        entry[1] += st
    version = [0] * k
    alive = [True] * k
    w = float(strength_weight)

    def cost(a: int, b: int, entry: list[float]) -> float:
        fa, fb = feat[a], feat[b]
        d = 0.0
        for x, y in zip(fa, fb, strict=True):
            d += (x - y) * (x - y)
        s = entry[1] / entry[0] if entry[0] > 0 else 0.0
        na, nb = size[a], size[b]
        return na * nb / (na + nb) * (d + w * s * s)

    heap: list[tuple[float, int, int, int, int]] = []
    for a in range(k):
        for b, entry in nbrs[a].items():
            if a < b:
                heap.append((cost(a, b, entry), a, b, 0, 0))
    heapq.heapify(heap)
    merges: list[tuple[int, int]] = []
    remaining = k
    while heap and remaining > stop_at:
        _, a, b, va, vb = heapq.heappop(heap)
        if not (alive[a] and alive[b]) or version[a] != va or version[b] != vb:
            continue
        # a < b: b joins a
        na, nb = size[a], size[b]
        tot = na + nb
        feat[a] = [(x * na + y * nb) / tot for x, y in zip(feat[a], feat[b], strict=True)]
        size[a] = tot
        alive[b] = False
        del nbrs[a][b]
        for c, entry in nbrs[b].items():
            if c == a:
                continue
            del nbrs[c][b]
            mine = nbrs[a].get(c)
            if mine is None:
                nbrs[a][c] = entry
                nbrs[c][a] = entry
            else:
                mine[0] += entry[0]
                mine[1] += entry[1]
        nbrs[b] = {}
        version[a] += 1
        merges.append((a, b))
        remaining -= 1
        for c, entry in nbrs[a].items():
            lo, hi = (a, c) if a < c else (c, a)
            heapq.heappush(heap, (cost(a, c, entry), lo, hi, version[lo], version[hi]))
    return np.array(merges, dtype=np.int32).reshape(-1, 2)


def geometric_levels(finest: int, coarsest: int, count: int, reachable: int) -> list[int]:
    """``count`` region counts spaced geometrically from ``coarsest`` to ``finest``.

    Counts below ``reachable`` (the fewest regions the merges reach) are raised to it;
    duplicates are dropped.
    """
    coarsest = max(1, min(coarsest, finest))
    raw = np.geomspace(coarsest, finest, num=max(count, 1))
    values = sorted({max(round(float(v)), reachable) for v in raw} | {finest})
    return [v for v in values if v <= finest]
