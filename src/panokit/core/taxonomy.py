"""Categories, taxonomies and id remapping.

``isthing`` lives here and nowhere else: evaluation, rendering and curation ask the
:class:`Taxonomy` whether a category is a thing.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from panokit.errors import TaxonomyError

Color = tuple[int, int, int]


@dataclass(frozen=True)
class Category:
    """One class of a dataset.

    ``id`` is the dataset-native id (as stored in the dataset's files); ``isthing`` says
    whether the category has instances (thing) or is one region per image (stuff).
    """

    id: int
    name: str
    isthing: bool
    color: Color = (0, 0, 0)
    supercategory: str = ""
    ignore_in_eval: bool = False
    train_id: int | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict in COCO spelling (``isthing`` as 0/1)."""
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "isthing": int(self.isthing),
            "color": list(self.color),
            "supercategory": self.supercategory,
        }
        if self.ignore_in_eval:
            out["ignore_in_eval"] = True
        if self.train_id is not None:
            out["train_id"] = self.train_id
        if self.attributes:
            out["attributes"] = dict(self.attributes)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Category:
        """Build from a COCO-style category dict (``id``, ``name``, ``isthing``, ``color``)."""
        try:
            cid = int(data["id"])
            name = str(data.get("name", cid))
        except (KeyError, TypeError, ValueError) as exc:
            raise TaxonomyError(f"category {dict(data)!r} needs an integer 'id'") from exc
        color = data.get("color") or (0, 0, 0)
        if len(color) != 3:
            raise TaxonomyError(f"category {cid} ({name}): color must have 3 values, got {color!r}")
        train_id = data.get("train_id", data.get("trainId"))
        return cls(
            id=cid,
            name=name,
            isthing=bool(data.get("isthing", False)),
            color=(int(color[0]), int(color[1]), int(color[2])),
            supercategory=str(data.get("supercategory", "")),
            ignore_in_eval=bool(data.get("ignore_in_eval", False)),
            train_id=None if train_id is None else int(train_id),
            attributes=dict(data.get("attributes", {})),
        )


class Taxonomy:
    """The ordered categories of a dataset and its void id.

    Lookup is by dataset-native id (``taxonomy[26]``) or by name (``taxonomy.by_name``).
    """

    def __init__(self, categories: Iterable[Category], void_id: int = 0, name: str = "") -> None:
        self.categories: tuple[Category, ...] = tuple(categories)
        self.void_id = int(void_id)
        self.name = name
        self._by_id: dict[int, Category] = {}
        for cat in self.categories:
            if cat.id in self._by_id:
                raise TaxonomyError(
                    f"taxonomy {name or '(unnamed)'}: category id {cat.id} is used twice "
                    f"({self._by_id[cat.id].name!r} and {cat.name!r})"
                )
            self._by_id[cat.id] = cat
        self._by_name = {cat.name: cat for cat in self.categories}

    def __len__(self) -> int:
        return len(self.categories)

    def __iter__(self) -> Iterator[Category]:
        return iter(self.categories)

    def __contains__(self, category_id: object) -> bool:
        return category_id in self._by_id

    def __getitem__(self, category_id: int) -> Category:
        try:
            return self._by_id[int(category_id)]
        except KeyError:
            raise TaxonomyError(
                f"unknown category id {category_id} in taxonomy {self.name or '(unnamed)'}; "
                f"known ids: {self._short_ids()}"
            ) from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Taxonomy):
            return NotImplemented
        return self.categories == other.categories and self.void_id == other.void_id

    def __hash__(self) -> int:
        return hash((self.categories, self.void_id))

    def __repr__(self) -> str:
        return (
            f"Taxonomy({self.name!r}, {len(self)} categories: {len(self.things)} things, "
            f"{len(self.stuff)} stuff)"
        )

    def _short_ids(self) -> str:
        ids = sorted(self._by_id)
        if len(ids) > 20:
            return f"{ids[:20]}... ({len(ids)} in all)"
        return str(ids)

    @property
    def ids(self) -> list[int]:
        """Category ids in taxonomy order."""
        return [c.id for c in self.categories]

    @property
    def things(self) -> tuple[Category, ...]:
        """Categories with instances."""
        return tuple(c for c in self.categories if c.isthing)

    @property
    def stuff(self) -> tuple[Category, ...]:
        """Categories that form one region per image."""
        return tuple(c for c in self.categories if not c.isthing)

    @property
    def evaluated(self) -> tuple[Category, ...]:
        """Categories that count in evaluation (``ignore_in_eval`` false)."""
        return tuple(c for c in self.categories if not c.ignore_in_eval)

    def isthing(self, category_id: int) -> bool:
        """Whether ``category_id`` is a thing; unknown ids raise :class:`TaxonomyError`."""
        return self[category_id].isthing

    def get(self, category_id: int) -> Category | None:
        """The category with this id, or None."""
        return self._by_id.get(int(category_id))

    def by_name(self, name: str) -> Category:
        """The category with this name; a wrong name suggests the closest one."""
        try:
            return self._by_name[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._by_name), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TaxonomyError(f"unknown category name {name!r}{hint}") from None

    def lookup_table(self, dtype: Any = np.bool_) -> NDArray[Any]:
        """A boolean array indexed by category id: True for things."""
        size = max(self._by_id, default=0) + 1
        table = np.zeros(size, dtype=dtype)
        for cat in self.things:
            if cat.id >= 0:
                table[cat.id] = True
        return table

    def to_list(self) -> list[dict[str, Any]]:
        """JSON-ready list of category dicts (COCO spelling)."""
        return [c.to_dict() for c in self.categories]

    @classmethod
    def from_list(
        cls, categories: Iterable[Mapping[str, Any]], void_id: int = 0, name: str = ""
    ) -> Taxonomy:
        """Build from COCO-style category dicts."""
        return cls((Category.from_dict(c) for c in categories), void_id=void_id, name=name)


class LabelMap:
    """A remapping of category ids between two taxonomies, applied as one lookup table.

    ``mapping`` sends source ids to target ids.  Ids not in ``mapping`` go to ``default``;
    with ``default=None`` they are an error (``apply`` raises, naming them).
    """

    def __init__(
        self,
        mapping: Mapping[int, int],
        default: int | None = 0,
        name: str = "",
        source: Taxonomy | None = None,
        target: Taxonomy | None = None,
    ) -> None:
        self.mapping = {int(k): int(v) for k, v in mapping.items()}
        self.default = default
        self.name = name
        self.source = source
        self.target = target

    def __repr__(self) -> str:
        return f"LabelMap({self.name!r}, {len(self.mapping)} rules, default={self.default})"

    def __eq__(self, other: object) -> bool:
        """Same rules and default (a map pickled to a worker process equals its original)."""
        if not isinstance(other, LabelMap):
            return NotImplemented
        return self.mapping == other.mapping and self.default == other.default

    def __hash__(self) -> int:
        return hash((self.default, frozenset(self.mapping.items())))

    def __getitem__(self, source_id: int) -> int:
        value = self.mapping.get(int(source_id), self.default)
        if value is None:
            raise TaxonomyError(f"label map {self.name or '(unnamed)'}: id {source_id} is unmapped")
        return value

    def lookup_table(self, size: int) -> NDArray[np.int64]:
        """Table of length ``size``: table[source] = target (unmapped = default or -1)."""
        fill = -1 if self.default is None else self.default
        table = np.full(max(size, max(self.mapping, default=-1) + 1), fill, dtype=np.int64)
        for src, dst in self.mapping.items():
            if src >= 0:
                table[src] = dst
        return table

    def apply(self, ids: NDArray[Any]) -> NDArray[np.int64]:
        """Map an integer array of source ids to target ids."""
        if ids.size == 0:
            return np.zeros(ids.shape, dtype=np.int64)
        low = int(ids.min())
        if low < 0:
            raise TaxonomyError(f"label map {self.name or '(unnamed)'}: negative id {low}")
        table = self.lookup_table(int(ids.max()) + 1)
        out: NDArray[np.int64] = table[ids]
        if self.default is None and (out < 0).any():
            missing = sorted(int(v) for v in np.unique(ids[out < 0]))
            raise TaxonomyError(
                f"label map {self.name or '(unnamed)'}: ids {missing} have no rule and the map "
                "has no default"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON/YAML-ready form: ``{"name", "default", "mapping": {src: dst}}``."""
        return {"name": self.name, "default": self.default, "mapping": dict(self.mapping)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LabelMap:
        """Inverse of :meth:`to_dict`; keys may be strings (as JSON makes them)."""
        mapping = data.get("mapping")
        if not isinstance(mapping, Mapping):
            raise TaxonomyError("a label map needs a 'mapping' object of source id -> target id")
        return cls(
            {int(k): int(v) for k, v in mapping.items()},
            default=data.get("default", 0),
            name=str(data.get("name", "")),
        )
