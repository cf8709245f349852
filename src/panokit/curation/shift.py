"""Domain shift between two datasets: what differs, ranked.

Both datasets are described by :class:`~panokit.curation.stats.DatasetStats` over one
taxonomy (dataset B is mapped onto A's with a :class:`~panokit.core.taxonomy.LabelMap` when
their taxonomies differ) and, optionally, by per-sample image statistics.  The report
lists categories present on one side only, the share ratio of every category, the
Jensen-Shannon divergence (base 2, in [0, 1]) of the category distributions, of every
thing category's size distribution and of every image statistic, and ranks all of these by
one score in [0, 1]:

- a category present on one side only: 1;
- a category's share: 1 - min(share_a, share_b) / max(share_a, share_b);
- a size distribution (one bin per octave) or an image statistic (16 bins over the
  pooled range): its Jensen-Shannon divergence.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from panokit.core.taxonomy import LabelMap, Taxonomy
from panokit.curation.features import FeatureTable, dataset_features
from panokit.curation.stats import (
    SIZE_BINS_PER_OCTAVE,
    DatasetStats,
    compute_stats,
    jensen_shannon,
    require_samples,
)
from panokit.dataset import PanopticDataset
from panokit.errors import FormatError, MissingFileError, TaxonomyError

FEATURE_BINS = 16


@dataclass(frozen=True)
class ShiftItem:
    """One difference between the datasets; ``score`` in [0, 1] ranks it."""

    kind: str
    name: str
    score: float
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


@dataclass
class ShiftReport:
    """Everything :func:`domain_shift` found (A and B statistics included)."""

    stats_a: DatasetStats
    stats_b: DatasetStats
    name_a: str
    name_b: str
    missing_in_a: list[str]
    missing_in_b: list[str]
    share_ratio: dict[str, float]
    category_jsd: float
    frequency_jsd: float
    size_jsd: dict[str, float]
    things_size_jsd: float
    image_jsd: dict[str, float] = field(default_factory=dict)
    image_means: dict[str, tuple[float, float]] = field(default_factory=dict)
    ranked: list[ShiftItem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (without the full statistics)."""
        return {
            "a": self.name_a,
            "b": self.name_b,
            "missing_in_a": self.missing_in_a,
            "missing_in_b": self.missing_in_b,
            "share_ratio": self.share_ratio,
            "category_jsd": self.category_jsd,
            "frequency_jsd": self.frequency_jsd,
            "things_size_jsd": self.things_size_jsd,
            "size_jsd": self.size_jsd,
            "image_jsd": self.image_jsd,
            "ranked": [item.to_dict() for item in self.ranked],
        }


def same_categories(a: Taxonomy, b: Taxonomy) -> bool:
    """Whether two taxonomies have the same (id, name, isthing) categories and void id."""
    key_a = sorted((c.id, c.name, c.isthing) for c in a)
    key_b = sorted((c.id, c.name, c.isthing) for c in b)
    return key_a == key_b and a.void_id == b.void_id


def taxonomy_mismatch(a: Taxonomy, b: Taxonomy, name_a: str = "A", name_b: str = "B") -> str:
    """A message naming how two taxonomies differ."""
    ids_a = {c.id: c.name for c in a}
    ids_b = {c.id: c.name for c in b}
    only_a = [f"{i} {n}" for i, n in ids_a.items() if ids_b.get(i) != n]
    only_b = [f"{i} {n}" for i, n in ids_b.items() if ids_a.get(i) != n]
    thing_diff = [
        c.name
        for c in a
        if c.id in ids_b and b.get(c.id) is not None and b[c.id].isthing != c.isthing
    ]

    def short(items: list[str]) -> str:
        return ", ".join(items[:5]) + (f" ... ({len(items)} in all)" if len(items) > 5 else "")

    label_a = "A" if name_a == "A" else f"A ({name_a})"
    label_b = "B" if name_b == "B" else f"B ({name_b})"
    parts = [
        f"{label_a} has {len(a)} categories ({a.name or 'unnamed'}), "
        f"{label_b} has {len(b)} ({b.name or 'unnamed'})"
    ]
    if only_a:
        parts.append(f"only in A: {short(only_a)}")
    if only_b:
        parts.append(f"only in B: {short(only_b)}")
    if thing_diff:
        parts.append(f"thing/stuff differs for: {short(thing_diff)}")
    return "; ".join(parts)


def read_label_map(path: Path, source: Taxonomy, target: Taxonomy) -> LabelMap:
    """A map of ``source`` categories onto ``target``'s from a JSON or YAML file.

    The file holds ``{"mapping": {source: target, ...}, "default": 0}`` where each side is a
    category id or a category name (names are looked up in the taxonomy of their side);
    ``default`` (the target void id if absent) receives unmapped source categories, and
    ``null`` makes unmapped categories an error.
    """
    path = Path(path)
    if not path.is_file():
        from panokit.formats.maps import builtin_maps

        if str(path) in builtin_maps():
            return _conversion_map(str(path), None, source, target)
        raise MissingFileError(f"label map file not found: {path}")
    text = path.read_text()
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:
        raise FormatError(f"{path}: cannot parse the label map ({exc})") from None
    if isinstance(data, Mapping) and "rules" in data:
        # the map format of ``panokit convert --map`` (panokit.formats.maps)
        return _conversion_map(str(path), data, source, target)
    if not isinstance(data, Mapping) or not isinstance(data.get("mapping"), Mapping):
        raise FormatError(
            f"{path}: a label map needs a 'mapping' object of source category -> target "
            'category (ids or names), e.g. {"mapping": {"car": "car", "7": 26}}'
        )

    def resolve(value: Any, taxonomy: Taxonomy, side: str) -> int:
        if isinstance(value, int) or (
            isinstance(value, str) and value.strip().lstrip("-").isdigit()
        ):
            return int(value)
        if isinstance(value, str):
            try:
                return taxonomy.by_name(value).id
            except TaxonomyError as exc:
                raise FormatError(f"{path}: {side} category: {exc}") from None
        raise FormatError(f"{path}: {side} category must be an id or a name, got {value!r}")

    mapping = {
        resolve(k, source, "source"): resolve(v, target, "target")
        for k, v in data["mapping"].items()
    }
    default = data.get("default", target.void_id)
    if default is not None:
        default = resolve(default, target, "default")
    return LabelMap(mapping, default=default, name=path.stem, source=source, target=target)


def _conversion_map(
    where: str, data: Mapping[str, Any] | None, source: Taxonomy, target: Taxonomy
) -> LabelMap:
    """A ``convert --map`` document (or built-in map name ``where`` when ``data`` is None)
    as a LabelMap onto ``target``; its own target taxonomy, if any, must be ``target``'s."""
    from dataclasses import replace

    from panokit.formats.maps import builtin_map, resolve, spec_from_dict

    spec = builtin_map(where) if data is None else spec_from_dict(data, where=where)
    if spec.target is not None and not same_categories(spec.target, target):
        raise TaxonomyError(
            f"{where}: the map's target taxonomy is {spec.target.name or 'its own'}, not A's "
            f"({target.name or 'unnamed'}): "
            + taxonomy_mismatch(spec.target, target, "the map target", "A")
        )
    resolved = resolve(replace(spec, target=target), source)
    return resolved.label_map(spec.unmapped or "void")


def feature_jsd(a: NDArray[np.float64], b: NDArray[np.float64], bins: int = FEATURE_BINS) -> float:
    """Jensen-Shannon divergence of two samples of one scalar, binned on common edges
    (``bins`` equal bins over the pooled range); 0 when the pooled values are constant."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size == 0 or b.size == 0:
        return float("nan")
    low = float(min(a.min(), b.min()))
    high = float(max(a.max(), b.max()))
    if high <= low:
        return 0.0
    edges = np.linspace(low, high, bins + 1)
    ha, _ = np.histogram(a, edges)
    hb, _ = np.histogram(b, edges)
    return jensen_shannon(ha, hb)


def octaves(hist: NDArray[np.int64]) -> NDArray[np.int64]:
    """A size histogram summed into one bin per octave (sizes 2**k .. 2**(k+1))."""
    h = np.asarray(hist)
    return np.asarray(h.reshape(*h.shape[:-1], -1, SIZE_BINS_PER_OCTAVE).sum(axis=-1))


def compare(
    stats_a: DatasetStats,
    stats_b: DatasetStats,
    features_a: FeatureTable | None = None,
    features_b: FeatureTable | None = None,
    name_a: str = "A",
    name_b: str = "B",
) -> ShiftReport:
    """The shift report of two statistics over the same taxonomy (and optional features)."""
    if stats_a.taxonomy != stats_b.taxonomy and not same_categories(
        stats_a.taxonomy, stats_b.taxonomy
    ):
        raise TaxonomyError(
            "cannot compare statistics over different taxonomies: "
            + taxonomy_mismatch(stats_a.taxonomy, stats_b.taxonomy, name_a, name_b)
        )
    names = [c.name for c in stats_a.taxonomy]
    ea, eb = stats_a.elements, stats_b.elements
    sa, sb = stats_a.shares(), stats_b.shares()
    missing_in_a = [names[i] for i in np.flatnonzero((ea == 0) & (eb > 0))]
    missing_in_b = [names[i] for i in np.flatnonzero((eb == 0) & (ea > 0))]
    items: list[ShiftItem] = []
    ratio: dict[str, float] = {}
    for i, name in enumerate(names):
        if ea[i] > 0 and eb[i] > 0:
            ratio[name] = float(sb[i] / sa[i])
            score = 1.0 - min(sa[i], sb[i]) / max(sa[i], sb[i])
            items.append(
                ShiftItem(
                    "share",
                    name,
                    float(score),
                    f"{sa[i]:.2%} of A vs {sb[i]:.2%} of B (x{ratio[name]:.2f})",
                )
            )
        elif ea[i] > 0:
            items.append(ShiftItem("missing", name, 1.0, f"absent from B ({sa[i]:.2%} of A)"))
        elif eb[i] > 0:
            items.append(ShiftItem("missing", name, 1.0, f"absent from A ({sb[i]:.2%} of B)"))
    has_a, has_b = ea.sum() > 0, eb.sum() > 0
    category_jsd = jensen_shannon(ea, eb) if has_a and has_b else float("nan")
    fa, fb = stats_a.sample_counts, stats_b.sample_counts
    frequency_jsd = jensen_shannon(fa, fb) if fa.sum() > 0 and fb.sum() > 0 else float("nan")
    size_jsd: dict[str, float] = {}
    medians_a, medians_b = stats_a.median_sizes(), stats_b.median_sizes()
    thing = stats_a.isthing
    for i, name in enumerate(names):
        if not thing[i]:
            continue
        ra, rb = octaves(stats_a.size_hist[i]), octaves(stats_b.size_hist[i])
        if ra.sum() and rb.sum():
            size_jsd[name] = jensen_shannon(ra, rb)
            items.append(
                ShiftItem(
                    "size",
                    name,
                    size_jsd[name],
                    f"median instance size {medians_a[i]:.0f} vs {medians_b[i]:.0f} "
                    f"{stats_a.unit or 'elements'}",
                )
            )
    ta = octaves(stats_a.size_hist[thing].sum(axis=0))
    tb = octaves(stats_b.size_hist[thing].sum(axis=0))
    things_size_jsd = jensen_shannon(ta, tb) if ta.sum() and tb.sum() else float("nan")
    image_jsd: dict[str, float] = {}
    image_means: dict[str, tuple[float, float]] = {}
    if features_a is not None and features_b is not None:
        for col, fname in enumerate(features_a.names):
            if fname not in features_b.names:
                continue
            va = features_a.values[:, col]
            vb = features_b.values[:, features_b.names.index(fname)]
            short = fname.split(".", 1)[-1]
            value = feature_jsd(va, vb)
            if np.isnan(value):
                continue
            image_jsd[short] = value
            image_means[short] = (float(va.mean()), float(vb.mean()))
            items.append(
                ShiftItem("image", short, value, f"mean {va.mean():.3g} vs {vb.mean():.3g}")
            )
    kind_order = {"missing": 0, "share": 1, "size": 2, "image": 3}
    items.sort(key=lambda it: (-it.score, kind_order[it.kind], it.name))
    return ShiftReport(
        stats_a=stats_a,
        stats_b=stats_b,
        name_a=name_a,
        name_b=name_b,
        missing_in_a=missing_in_a,
        missing_in_b=missing_in_b,
        share_ratio=ratio,
        category_jsd=category_jsd,
        frequency_jsd=frequency_jsd,
        size_jsd=size_jsd,
        things_size_jsd=things_size_jsd,
        image_jsd=image_jsd,
        image_means=image_means,
        ranked=items,
    )


def _media_features(
    dataset: PanopticDataset, progress: Callable[[int], None] | None, workers: int = 1
) -> FeatureTable | None:
    has_media = any(s.media_loader is not None for s in dataset)
    if not has_media and dataset.modality != "pointcloud":
        return None
    table = dataset_features(dataset, media=True, labels=False, progress=progress, workers=workers)
    return table if table.values.shape[1] else None


def domain_shift(
    dataset_a: PanopticDataset,
    dataset_b: PanopticDataset,
    label_map: LabelMap | None = None,
    media: bool = True,
    name_a: str = "A",
    name_b: str = "B",
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> ShiftReport:
    """Compare two datasets; ``label_map`` maps B's categories onto A's taxonomy.

    Different taxonomies without a map raise :class:`TaxonomyError` naming the difference.
    With ``media`` the image (or scan) statistics of both are compared too.  ``workers``
    is passed to :func:`~panokit.curation.stats.compute_stats` and to
    :func:`~panokit.curation.features.dataset_features`.
    """
    require_samples(dataset_a)
    require_samples(dataset_b)
    if label_map is None and not same_categories(dataset_a.taxonomy, dataset_b.taxonomy):
        raise TaxonomyError(
            "the two datasets use different taxonomies and no label map was given: "
            + taxonomy_mismatch(dataset_a.taxonomy, dataset_b.taxonomy, name_a, name_b)
            + "; pass a map of B's categories onto A's (--map FILE)"
        )
    stats_a = compute_stats(dataset_a, progress=progress, workers=workers)
    stats_b = compute_stats(
        dataset_b,
        label_map=label_map,
        taxonomy=dataset_a.taxonomy,
        progress=progress,
        workers=workers,
    )
    feats_a = feats_b = None
    if media:
        feats_a = _media_features(dataset_a, progress, workers)
        feats_b = _media_features(dataset_b, progress, workers)
    return compare(stats_a, stats_b, feats_a, feats_b, name_a, name_b)
