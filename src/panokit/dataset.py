"""PanopticDataset: a lazy, indexable collection of samples with one taxonomy."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, overload

from panokit.core.label import PanopticLabel
from panokit.core.sample import Sample
from panokit.core.taxonomy import Taxonomy
from panokit.errors import PanokitError, TaxonomyError


class PanopticDataset:
    """Samples (references, not decoded data) plus the taxonomy their labels use.

    Index by position (``ds[0]``) or by sample key (``ds["frankfurt_000000_000294"]``).
    Iterating opens no file; ``sample.load_label()`` opens that sample's files only.
    """

    def __init__(
        self,
        samples: Iterable[Sample],
        taxonomy: Taxonomy,
        *,
        format: str = "",
        root: Path | None = None,
        modality: str = "image",
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        self._samples: list[Sample] = list(samples)
        self.taxonomy = taxonomy
        self.format = format
        self.root = root
        self.modality = modality
        self.meta: dict[str, Any] = dict(meta or {})
        self._index: dict[str, int] | None = None

    # ------------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self._samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self._samples)

    @overload
    def __getitem__(self, item: int) -> Sample: ...

    @overload
    def __getitem__(self, item: str) -> Sample: ...

    def __getitem__(self, item: int | str) -> Sample:
        if isinstance(item, str):
            position = self._key_index().get(item)
            if position is None:
                raise KeyError(f"no sample with key {item!r} in this dataset ({len(self)} samples)")
            return self._samples[position]
        return self._samples[item]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self._key_index()

    def __repr__(self) -> str:
        where = f", root={str(self.root)!r}" if self.root else ""
        return (
            f"PanopticDataset({len(self)} samples, format={self.format!r}, "
            f"modality={self.modality!r}, taxonomy={self.taxonomy!r}{where})"
        )

    def _key_index(self) -> dict[str, int]:
        if self._index is None:
            index: dict[str, int] = {}
            for i, sample in enumerate(self._samples):
                if sample.key in index:
                    raise PanokitError(f"two samples share the key {sample.key!r}")
                index[sample.key] = i
            self._index = index
        return self._index

    def keys(self) -> list[str]:
        """Sample keys in dataset order."""
        return [s.key for s in self._samples]

    def labels(self) -> Iterator[PanopticLabel]:
        """Load every label in order (one at a time)."""
        for sample in self._samples:
            yield sample.load_label()

    # ------------------------------------------------------------------- derivation
    def _derive(self, samples: Iterable[Sample], **changes: Any) -> PanopticDataset:
        fields: dict[str, Any] = {
            "taxonomy": self.taxonomy,
            "format": self.format,
            "root": self.root,
            "modality": self.modality,
            "meta": self.meta,
        }
        fields.update(changes)
        return PanopticDataset(samples, **fields)

    def filter(self, keep: Callable[[Sample], bool]) -> PanopticDataset:
        """The samples for which ``keep(sample)`` is true."""
        return self._derive(s for s in self._samples if keep(s))

    def select(self, keys: Sequence[str]) -> PanopticDataset:
        """The samples with these keys, in the given order."""
        index = self._key_index()
        missing = [k for k in keys if k not in index]
        if missing:
            raise KeyError(f"{len(missing)} keys are not in the dataset, e.g. {missing[:3]}")
        return self._derive(self._samples[index[k]] for k in keys)

    def map_labels(
        self, fn: Callable[[PanopticLabel], PanopticLabel], taxonomy: Taxonomy | None = None
    ) -> PanopticDataset:
        """A dataset whose labels are ``fn(label)``, applied lazily at load time."""
        mapped = []
        for sample in self._samples:
            loader = sample.label_loader
            new_loader = None if loader is None else _compose(fn, loader)
            mapped.append(_with_loader(sample, new_loader))
        return self._derive(mapped, taxonomy=taxonomy or self.taxonomy)

    def split(self, ratios: Sequence[float], seed: int = 0) -> list[PanopticDataset]:
        """Random disjoint parts with sizes in the given ratios (fixed by ``seed``)."""
        total = float(sum(ratios))
        if total <= 0 or any(r < 0 for r in ratios):
            raise ValueError(f"split ratios must be >= 0 with a positive sum, got {list(ratios)}")
        order = list(range(len(self)))
        random.Random(seed).shuffle(order)
        parts: list[PanopticDataset] = []
        start = 0
        cumulative = 0.0
        for i, ratio in enumerate(ratios):
            cumulative += ratio
            end = len(order) if i == len(ratios) - 1 else round(cumulative / total * len(order))
            parts.append(self._derive(self._samples[j] for j in sorted(order[start:end])))
            start = end
        return parts

    def concat(self, *others: PanopticDataset) -> PanopticDataset:
        """This dataset followed by others with the same taxonomy."""
        samples = list(self._samples)
        for other in others:
            if other.taxonomy != self.taxonomy:
                raise TaxonomyError(
                    "cannot concatenate datasets with different taxonomies; map one onto the "
                    "other first (PanopticDataset.map_labels with a LabelMap)"
                )
            samples.extend(other)
        return self._derive(samples)


def _compose(
    fn: Callable[[PanopticLabel], PanopticLabel], loader: Callable[[], PanopticLabel]
) -> Callable[[], PanopticLabel]:
    def load() -> PanopticLabel:
        return fn(loader())

    return load


def _with_loader(sample: Sample, loader: Callable[[], PanopticLabel] | None) -> Sample:
    return Sample(
        key=sample.key,
        media=sample.media,
        label_files=sample.label_files,
        source_id=sample.source_id,
        meta=sample.meta,
        label_loader=loader,
        media_loader=sample.media_loader,
    )
