"""Dataset statistics as a mergeable accumulator.

:class:`DatasetStats` counts, per category of a taxonomy, the elements (pixels or points),
the samples the category occurs in, its segments (instances for things), the size
distribution of those segments and the co-occurrence of categories in a sample.  Whether a
category is a thing comes from the :class:`~panokit.core.taxonomy.Taxonomy` only.

One pass per label: segment areas come from one ``bincount`` over the segment ids (a
multiplicative hash folds large ids such as COCO's RGB24 ones into 65536 bins, verified
exactly), and everything else is computed on the short segment table.  Accumulators add
(``a + b``, ``a += b``), so workers can return partial statistics that are summed.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from panokit.core.label import PanopticLabel, PanopticPointCloud, Segment
from panokit.core.sample import Sample
from panokit.core.taxonomy import LabelMap, Taxonomy
from panokit.dataset import PanopticDataset
from panokit.errors import PanokitError, TaxonomyError

SIZE_BINS_PER_OCTAVE = 4
"""Resolution of the segment-size histogram: bin b holds areas in [2**(b/4), 2**((b+1)/4))."""
SIZE_BINS = 32 * SIZE_BINS_PER_OCTAVE
COCO_SMALL = 32 * 32
COCO_MEDIUM = 96 * 96

_HASH_MULT = np.uint32(0x9E3779B1)
_HASH_SHIFT = np.uint32(16)


class EmptyDatasetError(PanokitError, ValueError):
    """A dataset has no samples, or none of its samples has a label."""


def size_bin_edges() -> NDArray[np.float64]:
    """The SIZE_BINS + 1 edges (in elements) of the segment-size histogram."""
    return np.asarray(2.0 ** (np.arange(SIZE_BINS + 1) / SIZE_BINS_PER_OCTAVE))


def size_bins(areas: NDArray[Any]) -> NDArray[np.int64]:
    """Histogram bin of each area (areas >= 1)."""
    a = np.maximum(np.asarray(areas, dtype=np.float64), 1.0)
    bins = np.floor(np.log2(a) * SIZE_BINS_PER_OCTAVE + 1e-9).astype(np.int64)
    return np.clip(bins, 0, SIZE_BINS - 1)


_SCRATCH = threading.local()


def _scratch(
    n: int,
) -> tuple[NDArray[np.uint32], NDArray[np.intp], NDArray[np.uint32], NDArray[np.bool_]]:
    """Work arrays of n elements, kept per thread: allocating fresh multi-megabyte arrays
    for every label costs more (page faults) than the arithmetic on them."""
    bufs = getattr(_SCRATCH, "bufs", None)
    if bufs is None or bufs[0].size != n:
        bufs = (
            np.empty(n, dtype=np.uint32),
            np.empty(n, dtype=np.intp),
            np.empty(n, dtype=np.uint32),
            np.empty(n, dtype=bool),
        )
        _SCRATCH.bufs = bufs
    return bufs


def segment_areas(ids: NDArray[Any], seg_ids: NDArray[np.int64]) -> tuple[NDArray[np.int64], int]:
    """Element count of each id in ``seg_ids`` (sorted, no 0) and of void, in one pass.

    Returns ``(areas, void)`` where ``areas[i]`` counts ``seg_ids[i]``.  Elements whose id is
    neither void nor listed are not counted anywhere (the caller gets them as the rest).
    Ids below 65536 are counted by a direct ``bincount``; larger ids (up to 2**32) are
    folded into 65536 bins by a multiplicative hash, verified element by element.
    """
    flat = ids.ravel()
    n = flat.size
    if n == 0:
        return np.zeros(len(seg_ids), dtype=np.int64), 0
    high = int(flat.max())
    hashed_table: NDArray[np.uint32] | None = None
    table = np.concatenate(([0], seg_ids)).astype(np.int64)
    if high >= (1 << 16) and high <= 0xFFFFFFFF:
        hashed_table = (table.astype(np.uint32) * _HASH_MULT) >> _HASH_SHIFT
        if len(np.unique(hashed_table)) != len(table):
            hashed_table = None  # two listed ids collide: exact search below
    if high < (1 << 16):
        _, pos, _, _ = _scratch(n)
        pos[...] = flat
        counts = np.bincount(pos, minlength=high + 1)
        inside = table <= high
        found = np.zeros(len(table), dtype=np.int64)
        found[inside] = counts[table[inside]]
        return found[1:], int(found[0])
    if hashed_table is not None:
        u32, pos, got, same = _scratch(n)
        values = flat if flat.dtype == np.uint32 else flat.astype(np.uint32)
        np.multiply(values, _HASH_MULT, out=u32)
        np.right_shift(u32, _HASH_SHIFT, out=u32)
        pos[...] = u32
        lut = np.zeros(1 << 16, dtype=np.uint32)
        lut[hashed_table] = table.astype(np.uint32)
        np.take(lut, pos, out=got, mode="wrap")
        np.equal(got, values, out=same)
        kept = pos if same.all() else pos[same]
        hashed_counts = np.bincount(kept, minlength=1 << 16)[hashed_table]
        return hashed_counts[1:].astype(np.int64), int(hashed_counts[0])
    position = np.minimum(np.searchsorted(table, flat), len(table) - 1)
    known = table[position] == flat
    exact_counts = np.bincount(position[known], minlength=len(table))
    return exact_counts[1:].astype(np.int64), int(exact_counts[0])


@dataclass(frozen=True)
class CategoryStats:
    """The statistics of one category (a row of :meth:`DatasetStats.categories`)."""

    id: int
    name: str
    isthing: bool
    elements: int
    share: float
    samples: int
    sample_frequency: float
    segments: int
    crowd_segments: int
    mean_size: float
    median_size: float
    small: int
    medium: int
    large: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


class DatasetStats:
    """Mergeable statistics of the labels of a dataset over one taxonomy.

    ``label_map`` (optional) sends the labels' category ids onto ``taxonomy`` first (ids
    mapped to the taxonomy's void id count as void).  Arrays are indexed by the position of
    a category in ``taxonomy`` (``category_ids``).
    """

    def __init__(self, taxonomy: Taxonomy, label_map: LabelMap | None = None) -> None:
        if len(taxonomy) == 0:
            raise TaxonomyError(
                f"taxonomy {taxonomy.name or '(unnamed)'} has no categories; statistics need "
                "the dataset's categories"
            )
        self.taxonomy = taxonomy
        self.label_map = label_map
        self.category_ids = np.array(taxonomy.ids, dtype=np.int64)
        k = len(self.category_ids)
        self._isthing = np.array([c.isthing for c in taxonomy], dtype=bool)
        self.samples = 0
        self.labeled = 0
        self.total_elements = 0
        self.void_elements = 0
        self.unlisted_elements = 0
        self.unit = ""
        self.elements = np.zeros(k, dtype=np.int64)
        self.sample_counts = np.zeros(k, dtype=np.int64)
        self.segments = np.zeros(k, dtype=np.int64)
        self.crowd_segments = np.zeros(k, dtype=np.int64)
        self.crowd_elements = np.zeros(k, dtype=np.int64)
        self.size_hist = np.zeros((k, SIZE_BINS), dtype=np.int64)
        self.size_sum = np.zeros(k, dtype=np.int64)
        self.size_classes = np.zeros((k, 3), dtype=np.int64)
        self.cooccurrence = np.zeros((k, k), dtype=np.int64)
        self._position: dict[int, int] = {int(c): i for i, c in enumerate(self.category_ids)}

    # ------------------------------------------------------------------------ updates
    def _index_of(self, category_id: int, where: str) -> int:
        target = category_id
        if self.label_map is not None:
            target = self.label_map[category_id]
            if target == self.taxonomy.void_id:
                return -1
        pos = self._position.get(target)
        if pos is None:
            if target == self.taxonomy.void_id:
                return -1
            mapped = f" (mapped from {category_id})" if target != category_id else ""
            raise TaxonomyError(
                f"{where}: category {target}{mapped} is not in taxonomy "
                f"{self.taxonomy.name or '(unnamed)'}; known ids: {self.taxonomy._short_ids()}"
            )
        return pos

    def add_unlabeled(self, count: int = 1) -> None:
        """Count samples that have no label."""
        self.samples += count

    def update(self, label: PanopticLabel, where: str = "label") -> None:
        """Add one label (one pass over its ids)."""
        unit = "points" if isinstance(label, PanopticPointCloud) else "pixels"
        self.update_arrays(label.ids, label.segments, unit=unit, where=where)

    def update_arrays(
        self,
        ids: NDArray[Any],
        segments: Mapping[int, Segment],
        unit: str = "pixels",
        where: str = "label",
    ) -> None:
        """Add one label given as its ids array and segment table."""
        if not self.unit:
            self.unit = unit
        self.samples += 1
        self.labeled += 1
        n = int(ids.size)
        self.total_elements += n
        seg_ids = np.array(sorted(segments), dtype=np.int64)
        if seg_ids.size == 0:
            self.void_elements += n
            return
        areas, void = segment_areas(ids, seg_ids)
        self.void_elements += void
        listed = int(areas.sum())
        self.unlisted_elements += n - void - listed
        index = np.empty(len(seg_ids), dtype=np.int64)
        crowd = np.zeros(len(seg_ids), dtype=bool)
        for i, seg_id in enumerate(seg_ids.tolist()):
            seg = segments[seg_id]
            index[i] = self._index_of(seg.category_id, f"{where}, segment {seg_id}")
            crowd[i] = seg.iscrowd
        present = areas > 0
        mapped_void = present & (index < 0)
        if mapped_void.any():
            self.void_elements += int(areas[mapped_void].sum())
        keep = present & (index >= 0)
        if not keep.any():
            return
        index, areas, crowd = index[keep], areas[keep], crowd[keep]
        k = len(self.category_ids)
        np.add.at(self.elements, index, areas)
        cats = np.unique(index)
        self.sample_counts[cats] += 1
        self.cooccurrence[np.ix_(cats, cats)] += 1
        if crowd.any():
            np.add.at(self.crowd_segments, index[crowd], 1)
            np.add.at(self.crowd_elements, index[crowd], areas[crowd])
        solo = ~crowd
        if solo.any():
            idx, sizes = index[solo], areas[solo]
            if self.label_map is not None and len(np.unique(idx)) < len(idx):
                # stuff of several source categories mapped together is one region
                stuff = ~self._isthing[idx]
                if stuff.any():
                    merged = np.bincount(idx[stuff], weights=sizes[stuff], minlength=k)
                    s_idx = np.flatnonzero(merged)
                    idx = np.concatenate((idx[~stuff], s_idx))
                    sizes = np.concatenate((sizes[~stuff], merged[s_idx].astype(np.int64)))
            self.segments += np.bincount(idx, minlength=k)
            self.size_sum += np.bincount(idx, weights=sizes, minlength=k).astype(np.int64)
            np.add.at(self.size_hist, (idx, size_bins(sizes)), 1)
            cls = (sizes >= COCO_SMALL).astype(np.int64) + (sizes >= COCO_MEDIUM)
            np.add.at(self.size_classes, (idx, cls), 1)

    def __iadd__(self, other: DatasetStats) -> DatasetStats:
        if not isinstance(other, DatasetStats):
            return NotImplemented
        if other.taxonomy != self.taxonomy:
            raise TaxonomyError("cannot merge statistics over different taxonomies")
        self.samples += other.samples
        self.labeled += other.labeled
        self.total_elements += other.total_elements
        self.void_elements += other.void_elements
        self.unlisted_elements += other.unlisted_elements
        self.unit = self.unit or other.unit
        for name in (
            "elements",
            "sample_counts",
            "segments",
            "crowd_segments",
            "crowd_elements",
            "size_hist",
            "size_sum",
            "size_classes",
            "cooccurrence",
        ):
            getattr(self, name).__iadd__(getattr(other, name))
        return self

    def __add__(self, other: DatasetStats) -> DatasetStats:
        if not isinstance(other, DatasetStats):
            return NotImplemented
        out = DatasetStats(self.taxonomy, self.label_map)
        out += self
        out += other
        return out

    # ------------------------------------------------------------------------- views
    @property
    def labeled_elements(self) -> int:
        """Elements that belong to a category (not void, not unlisted)."""
        return int(self.elements.sum())

    @property
    def isthing(self) -> NDArray[np.bool_]:
        """Per category position: whether it is a thing (from the taxonomy)."""
        return self._isthing.copy()

    def shares(self) -> NDArray[np.float64]:
        """Share of every category among the labeled elements (sums to 1, or all 0)."""
        total = self.labeled_elements
        if total == 0:
            return np.zeros(len(self.elements))
        return np.asarray(self.elements / total, dtype=np.float64)

    def sample_frequency(self) -> NDArray[np.float64]:
        """Fraction of labeled samples in which each category occurs."""
        if self.labeled == 0:
            return np.zeros(len(self.elements))
        return np.asarray(self.sample_counts / self.labeled, dtype=np.float64)

    def median_sizes(self) -> NDArray[np.float64]:
        """Median segment size per category, from the histogram (geometric bin centre)."""
        out = np.zeros(len(self.elements))
        centres = 2.0 ** ((np.arange(SIZE_BINS) + 0.5) / SIZE_BINS_PER_OCTAVE)
        for i, row in enumerate(self.size_hist):
            total = int(row.sum())
            if total:
                b = int(np.searchsorted(np.cumsum(row), (total + 1) / 2))
                out[i] = centres[min(b, SIZE_BINS - 1)]
        return out

    def categories(self) -> list[CategoryStats]:
        """One row per category, in taxonomy order."""
        shares = self.shares()
        freq = self.sample_frequency()
        medians = self.median_sizes()
        rows = []
        for i, cat in enumerate(self.taxonomy):
            segs = int(self.segments[i])
            rows.append(
                CategoryStats(
                    id=cat.id,
                    name=cat.name,
                    isthing=cat.isthing,
                    elements=int(self.elements[i]),
                    share=float(shares[i]),
                    samples=int(self.sample_counts[i]),
                    sample_frequency=float(freq[i]),
                    segments=segs,
                    crowd_segments=int(self.crowd_segments[i]),
                    mean_size=float(self.size_sum[i] / segs) if segs else 0.0,
                    median_size=float(medians[i]),
                    small=int(self.size_classes[i, 0]),
                    medium=int(self.size_classes[i, 1]),
                    large=int(self.size_classes[i, 2]),
                )
            )
        return rows

    def group(self, things: bool) -> dict[str, Any]:
        """Totals over the things (``things=True``) or the stuff categories."""
        sel = self._isthing if things else ~self._isthing
        total = self.labeled_elements
        elements = int(self.elements[sel].sum())
        return {
            "categories": int(sel.sum()),
            "present": int((self.elements[sel] > 0).sum()),
            "elements": elements,
            "share": elements / total if total else 0.0,
            "segments": int(self.segments[sel].sum()),
            "crowd_segments": int(self.crowd_segments[sel].sum()),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form of everything (the ``--json`` output of ``panokit stats``)."""
        total = self.total_elements
        return {
            "taxonomy": self.taxonomy.name,
            "unit": self.unit or "elements",
            "samples": self.samples,
            "labeled_samples": self.labeled,
            "unlabeled_samples": self.samples - self.labeled,
            "elements": total,
            "labeled_elements": self.labeled_elements,
            "void_elements": self.void_elements,
            "unlisted_elements": self.unlisted_elements,
            "void_share": self.void_elements / total if total else 0.0,
            "things": self.group(True),
            "stuff": self.group(False),
            "categories": [row.to_dict() for row in self.categories()],
            "size_histogram": {
                "bins_per_octave": SIZE_BINS_PER_OCTAVE,
                "counts": {
                    str(int(c)): self.size_hist[i].tolist()
                    for i, c in enumerate(self.category_ids)
                    if self.size_hist[i].any()
                },
            },
            "cooccurrence": {
                "ids": self.category_ids.tolist(),
                "counts": self.cooccurrence.tolist(),
            },
        }


def add_sample(stats: DatasetStats, sample: Sample) -> None:
    """Add one sample's label to ``stats`` (or count it as unlabeled)."""
    if not sample.has_label:
        stats.add_unlabeled()
        return
    stats.update(sample.load_label(), where=f"sample {sample.key!r}")


_WORKER: dict[str, Any] = {}


def _init_worker(dataset: PanopticDataset, taxonomy: Taxonomy, label_map: LabelMap | None) -> None:
    _WORKER.update(dataset=dataset, taxonomy=taxonomy, label_map=label_map)


def _stats_of_range(bounds: tuple[int, int]) -> DatasetStats:
    stats = DatasetStats(_WORKER["taxonomy"], _WORKER["label_map"])
    dataset: PanopticDataset = _WORKER["dataset"]
    for i in range(*bounds):
        add_sample(stats, dataset[i])
    return stats


def compute_stats(
    dataset: PanopticDataset,
    label_map: LabelMap | None = None,
    taxonomy: Taxonomy | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> DatasetStats:
    """Statistics of every label of ``dataset`` (samples without a label are counted).

    ``taxonomy`` defaults to the dataset's; with ``label_map`` the labels are mapped onto
    it first.  ``progress(n)`` is called as samples are done.  ``workers`` > 1 spreads the
    samples over processes (forked, so in-memory loaders work) whose partial statistics
    are summed; 0 uses every core.  An empty dataset, or one without labels, raises
    :class:`EmptyDatasetError`.
    """
    require_samples(dataset)
    tax = taxonomy or dataset.taxonomy
    stats = DatasetStats(tax, label_map)
    total = len(dataset)
    if workers <= 0:
        workers = os.cpu_count() or 1
    workers = max(1, min(workers, total))
    if workers == 1:
        for sample in dataset:
            add_sample(stats, sample)
            if progress is not None:
                progress(1)
    else:
        import multiprocessing

        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        size = max(1, min(64, total // (workers * 4)))
        ranges = [(i, min(i + size, total)) for i in range(0, total, size)]
        with context.Pool(
            workers, initializer=_init_worker, initargs=(dataset, tax, label_map)
        ) as pool:
            for part in pool.imap_unordered(_stats_of_range, ranges):
                stats += part
                if progress is not None:
                    progress(part.samples)
    if stats.labeled == 0:
        raise EmptyDatasetError(
            f"dataset {_describe(dataset)} has {len(dataset)} samples but none has a label"
        )
    return stats


def require_samples(dataset: PanopticDataset) -> None:
    """Raise :class:`EmptyDatasetError` when ``dataset`` has no samples or no labels."""
    if len(dataset) == 0:
        raise EmptyDatasetError(f"dataset {_describe(dataset)} has no samples")
    if not any(s.has_label for s in dataset):
        raise EmptyDatasetError(
            f"dataset {_describe(dataset)} has {len(dataset)} samples but none has a label"
        )


def _describe(dataset: PanopticDataset) -> str:
    where = str(dataset.root) if dataset.root else "(in memory)"
    return f"{where}" + (f" ({dataset.format})" if dataset.format else "")


def jensen_shannon(p: Iterable[float], q: Iterable[float]) -> float:
    """Jensen-Shannon divergence (base 2, in [0, 1]) of two non-negative weight vectors.

    Both are normalised first; an all-zero vector raises ``ValueError``.
    """
    a = np.asarray(list(p), dtype=np.float64)
    b = np.asarray(list(q), dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"distributions of different lengths: {a.shape} and {b.shape}")
    if (a < 0).any() or (b < 0).any() or a.sum() <= 0 or b.sum() <= 0:
        raise ValueError("Jensen-Shannon needs non-negative weights with a positive sum")
    a = a / a.sum()
    b = b / b.sum()
    m = (a + b) / 2

    def kl(x: NDArray[np.float64]) -> float:
        nz = x > 0
        return float(np.sum(x[nz] * np.log2(x[nz] / m[nz])))

    value = (kl(a) + kl(b)) / 2
    return float(min(max(value, 0.0), 1.0)) if not math.isnan(value) else 0.0
