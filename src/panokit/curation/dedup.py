"""Near-duplicate images and repeated scans.

Images get a 64-bit perceptual hash (``phash``: the signs of the 8x8 lowest frequencies of
a 32x32 DCT against their median; or ``dhash``: the signs of horizontal differences of a
9x8 thumbnail); two images are near-duplicates when the Hamming distance of their hashes
is at most a threshold.  Candidate pairs come from the pigeonhole principle (split the 64
bits into threshold + 1 bands: a close pair agrees exactly on one band), so the search is
not quadratic.  Samples without media are hashed from their label drawn in category
colours.  Point clouds get an exact hash of their points quantised to 1 cm (order-free),
or, without points, of their per-category point counts.

Grouping (``linkage``): near-duplicate pairs do not form an equivalence relation (a slow
pan gives A~B~C~...~Z with A far from Z).  ``star`` (the default, what ``panokit dedup``
lists) visits samples in dataset order; an unassigned sample leads a new group and takes
every unassigned sample within the threshold of it, so each member is a near-duplicate of
its group's first sample and dropping all but the first loses nothing that is not kept in
a near copy (members are within 2 x threshold of each other).  ``single`` closes pairs
transitively (connected components): the right choice for splits, where any chain between
two splits is a leak, and what ``panokit split`` uses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from panokit.core.label import PanopticLabel, PanopticPointCloud
from panokit.core.sample import Sample
from panokit.dataset import PanopticDataset
from panokit.errors import PanokitError

METHODS: tuple[str, ...] = ("phash", "dhash")

_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _gray(image: NDArray[Any], size: tuple[int, int]) -> NDArray[np.float64]:
    """Image resized to ``size`` (width, height) in grayscale, as float."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3:
        arr = arr[:, :, :3]
    if arr.dtype != np.uint8:
        top = float(arr.max(initial=0))
        arr = (np.clip(arr / (top if top > 0 else 1.0), 0, 1) * 255).astype(np.uint8)
    pil = Image.fromarray(arr)
    if pil.mode != "L":
        pil = pil.convert("L")
    return np.asarray(
        pil.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0), dtype=np.float64
    )


def _dct_matrix(n: int) -> NDArray[np.float64]:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return np.asarray(m)


_DCT32 = _dct_matrix(32)


def _pack(bits: NDArray[np.bool_]) -> int:
    value = 0
    for bit in bits.ravel().tolist():
        value = (value << 1) | int(bit)
    return value


def phash(image: NDArray[Any]) -> int:
    """64-bit DCT perceptual hash of an image."""
    gray = _gray(image, (32, 32))
    coeffs = (_DCT32 @ gray @ _DCT32.T)[:8, :8]
    median = float(np.median(coeffs.ravel()[1:]))
    return _pack(coeffs > median)


def dhash(image: NDArray[Any]) -> int:
    """64-bit difference hash of an image."""
    gray = _gray(image, (9, 8))
    return _pack(gray[:, 1:] > gray[:, :-1])


def hamming(a: int, b: int) -> int:
    """Number of differing bits of two hashes."""
    return (a ^ b).bit_count()


def label_picture(label: PanopticLabel) -> NDArray[np.uint8]:
    """An (H, W, 3) picture of an image label in category colours (for hashing)."""
    taxonomy = label.taxonomy
    seg_ids, cats = label.category_lookup()
    colors = np.zeros((len(seg_ids), 3), dtype=np.uint8)
    for i, cat in enumerate(cats.tolist()):
        found = taxonomy.get(cat) if taxonomy is not None else None
        if found is not None:
            colors[i] = found.color
        elif i:
            colors[i] = ((cat * 37) % 256, (cat * 91) % 256, (cat * 151) % 256)
    pos = np.clip(np.searchsorted(seg_ids, label.ids), 0, len(seg_ids) - 1)
    known = seg_ids[pos] == label.ids
    return np.asarray(colors[np.where(known, pos, 0)])


def scan_digest(label: PanopticPointCloud) -> str:
    """Exact fingerprint of a scan: its points rounded to 1 cm in sorted order, or its
    per-category point counts when it carries no points."""
    h = hashlib.sha1()
    if label.points is not None and label.points.size:
        q = np.round(np.asarray(label.points[:, :3], dtype=np.float64) * 100).astype(np.int64)
        order = np.lexsort(q.T[::-1])
        h.update(b"points")
        h.update(np.ascontiguousarray(q[order]).tobytes())
    else:
        semantic = label.semantic()
        values, counts = np.unique(semantic, return_counts=True)
        h.update(b"histogram")
        h.update(np.stack([values, counts]).astype(np.int64).tobytes())
    return h.hexdigest()


def close_pairs(hashes: Sequence[int], threshold: int) -> list[tuple[int, int]]:
    """All pairs (i < j) whose 64-bit hashes differ in at most ``threshold`` bits."""
    if threshold < 0 or threshold > 63:
        raise PanokitError(f"the Hamming threshold must be in 0..63, got {threshold}")
    n = len(hashes)
    if n < 2:
        return []
    values = np.array([h & ((1 << 64) - 1) for h in hashes], dtype=np.uint64)
    bands = threshold + 1
    widths = [64 // bands + (1 if b < 64 % bands else 0) for b in range(bands)]
    candidates: set[tuple[int, int]] = set()
    shift = 0
    for width in widths:
        band = (values >> np.uint64(shift)) & np.uint64((1 << width) - 1)
        shift += width
        order = np.argsort(band, kind="stable")
        sorted_band = band[order]
        starts = np.flatnonzero(np.r_[True, sorted_band[1:] != sorted_band[:-1]])
        ends = np.r_[starts[1:], n]
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            if e - s < 2:
                continue
            members = np.sort(order[s:e])
            ii, jj = np.triu_indices(len(members), k=1)
            candidates.update(zip(members[ii].tolist(), members[jj].tolist(), strict=True))
    if not candidates:
        return []
    pairs = np.array(sorted(candidates), dtype=np.int64)
    xor = values[pairs[:, 0]] ^ values[pairs[:, 1]]
    dist = _POPCOUNT8[xor.view(np.uint8).reshape(-1, 8)].sum(axis=1)
    keep = dist <= threshold
    return [(int(a), int(b)) for a, b in pairs[keep].tolist()]


def group_pairs(n: int, pairs: Sequence[tuple[int, int]]) -> list[list[int]]:
    """Connected components (size >= 2) of ``pairs`` over 0..n-1, each sorted, ordered by
    their first member."""
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])


LINKAGES: tuple[str, ...] = ("star", "single")


def star_groups(n: int, pairs: Sequence[tuple[int, int]]) -> list[list[int]]:
    """Groups (size >= 2) led by the first unassigned position in order, each taking the
    unassigned positions paired with its leader; each sorted, ordered by their leader."""
    neighbours: dict[int, list[int]] = {}
    for a, b in pairs:
        if a != b:
            neighbours.setdefault(a, []).append(b)
            neighbours.setdefault(b, []).append(a)
    leader = [-1] * n
    groups: list[list[int]] = []
    for i in range(n):
        if leader[i] >= 0 or i not in neighbours:
            continue
        leader[i] = i
        group = [i]
        for j in neighbours[i]:
            if leader[j] < 0:
                leader[j] = i
                group.append(j)
        if len(group) > 1:
            groups.append(sorted(group))
    return groups


def hash_groups(hashes: Sequence[int], threshold: int, linkage: str = "single") -> list[list[int]]:
    """Groups (size >= 2) of positions whose hashes are within ``threshold`` bits, closed
    transitively (``single``) or around a leader (``star``, see the module docstring);
    identical hashes are collapsed first, so many exact copies cost nothing extra."""
    if linkage not in LINKAGES:
        raise PanokitError(f"unknown linkage {linkage!r}; choose one of {list(LINKAGES)}")
    values = np.array([h & ((1 << 64) - 1) for h in hashes], dtype=np.uint64)
    if values.size == 0:
        return []
    uniq, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    local = close_pairs([int(v) for v in uniq], threshold)
    if linkage == "star":
        # lead in order of first occurrence: rank the distinct values by it
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        ranked = star_groups(len(uniq), [(int(rank[a]), int(rank[b])) for a, b in local])
        group_of = np.full(len(uniq), -1, dtype=np.int64)
        for g, members in enumerate(ranked):
            group_of[order[members]] = g
        singles = np.bincount(inverse, minlength=len(uniq)) > 1
        next_id = len(ranked)
        for lone in np.flatnonzero((group_of < 0) & singles).tolist():
            group_of[lone] = next_id  # exact copies of a value with no close neighbour
            next_id += 1
        found: dict[int, list[int]] = {}
        for i, u in enumerate(inverse.tolist()):
            if group_of[u] >= 0:
                found.setdefault(int(group_of[u]), []).append(i)
        return sorted(found.values(), key=lambda g: g[0])
    pairs: list[tuple[int, int]] = [
        (int(first[u]), i) for i, u in enumerate(inverse.tolist()) if first[u] != i
    ]
    pairs.extend((int(first[a]), int(first[b])) for a, b in local)
    return group_pairs(len(values), pairs)


@dataclass
class DuplicateReport:
    """Groups of near-duplicate samples (keys, in dataset order) and how each was hashed."""

    groups: list[list[str]]
    method: str
    threshold: int
    hashes: dict[str, str]
    sources: dict[str, str]
    linkage: str = "star"

    @property
    def duplicates(self) -> int:
        """Samples that could be dropped keeping one per group."""
        return sum(len(g) - 1 for g in self.groups)

    def group_of(self) -> dict[str, int]:
        """Key -> group number, for keys in a group."""
        return {k: i for i, g in enumerate(self.groups) for k in g}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "method": self.method,
            "threshold": self.threshold,
            "linkage": self.linkage,
            "groups": self.groups,
            "duplicates": self.duplicates,
        }


def _sample_hash(sample: Sample, method: str, pointcloud: bool) -> tuple[str, int | str]:
    """(source, hash): source is 'image', 'label' or 'scan'."""
    fn = phash if method == "phash" else dhash
    if pointcloud:
        if not sample.has_label:
            raise PanokitError(f"sample {sample.key!r} has no label to fingerprint the scan")
        label = sample.load_label()
        if not isinstance(label, PanopticPointCloud):
            raise PanokitError(
                f"sample {sample.key!r}: a point cloud dataset gave a {type(label).__name__}"
            )
        if label.points is None and sample.media_loader is not None:
            points = np.asarray(sample.load_media())
            if points.ndim == 2 and points.shape[0] == label.ids.shape[0]:
                label = PanopticPointCloud(label.ids, label.segments, label.taxonomy, points)
        return "scan", scan_digest(label)
    if sample.media_loader is not None:
        media = np.asarray(sample.load_media())
        if media.ndim == 2 or (media.ndim == 3 and media.shape[2] <= 4):
            return "image", fn(media)
        if media.ndim == 4:  # a (T, C, H, W) series: its mean frame
            from panokit.curation.features import series_frame

            return "image", fn(series_frame(media))
    if not sample.has_label:
        raise PanokitError(f"sample {sample.key!r} has neither media nor a label to hash")
    label = sample.load_label()
    if label.ids.ndim == 2:
        return "label", fn(label_picture(label))
    if isinstance(label, PanopticPointCloud):
        return "scan", scan_digest(label)
    raise PanokitError(f"sample {sample.key!r}: cannot hash a label of shape {label.ids.shape}")


def find_duplicates(
    dataset: PanopticDataset,
    method: str = "phash",
    threshold: int = 6,
    progress: Callable[[int], None] | None = None,
    linkage: str = "star",
) -> DuplicateReport:
    """Near-duplicate groups of ``dataset``: images within ``threshold`` bits, scans equal.

    Image hashes and label-picture hashes are compared only with their own kind.
    ``linkage`` is ``star`` (each member close to the group's first sample) or ``single``
    (transitive closure, for splits); see the module docstring.
    """
    if method not in METHODS:
        raise PanokitError(f"unknown hash method {method!r}; choose one of {list(METHODS)}")
    if linkage not in LINKAGES:
        raise PanokitError(f"unknown linkage {linkage!r}; choose one of {list(LINKAGES)}")
    keys = dataset.keys()
    sources: dict[str, str] = {}
    hashes: dict[str, str] = {}
    by_kind: dict[str, list[tuple[int, int | str]]] = {}
    for i, sample in enumerate(dataset):
        kind, value = _sample_hash(sample, method, dataset.modality == "pointcloud")
        sources[sample.key] = kind
        hashes[sample.key] = value if isinstance(value, str) else f"{value:016x}"
        by_kind.setdefault(kind, []).append((i, value))
        if progress is not None:
            progress(1)
    found: list[list[int]] = []
    for kind, rows in by_kind.items():
        positions = [p for p, _ in rows]
        if kind == "scan":
            same: dict[str, list[int]] = {}
            for p, v in rows:
                same.setdefault(str(v), []).append(p)
            found.extend(g for g in same.values() if len(g) > 1)
        else:
            for group in hash_groups([int(v) for _, v in rows], threshold, linkage):
                found.append([positions[m] for m in group])
    # each sample has one kind, so the groups of different kinds are disjoint
    groups = [[keys[i] for i in sorted(g)] for g in sorted(found, key=min)]
    return DuplicateReport(groups, method, threshold, hashes, sources, linkage)
