"""The SemanticKITTI label configuration (semantic-kitti-api ``config/semantic-kitti.yaml``) as data.

The official file has six tables: ``labels`` (raw id -> name), ``color_map`` (raw id -> BGR),
``learning_map`` (raw id -> learning id 0..19), ``learning_map_inv`` (learning id -> raw id),
``learning_ignore`` (learning id -> ignored?) and ``split`` (train / valid / test sequence
numbers).  :class:`SemanticKittiConfig` holds them; :data:`DEFAULT_CONFIG` is the official one
and :func:`load_config` reads a user-supplied YAML of the same shape.

Two taxonomies follow from a config: the **raw** taxonomy (the ids stored in ``.label`` files;
things are the raw ids whose learning class is one of the eight thing classes) and the
**learning** taxonomy (ids 1..19, void 0) that evaluation folds raw ids into.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from panokit.core.taxonomy import Category, LabelMap, Taxonomy
from panokit.errors import FormatError, MissingFileError

# raw id: (name, color as BGR like the official color_map, learning id)
_RAW_TABLE: dict[int, tuple[str, tuple[int, int, int], int]] = {
    0: ("unlabeled", (0, 0, 0), 0),
    1: ("outlier", (0, 0, 255), 0),
    10: ("car", (245, 150, 100), 1),
    11: ("bicycle", (245, 230, 100), 2),
    13: ("bus", (250, 80, 100), 5),
    15: ("motorcycle", (150, 60, 30), 3),
    16: ("on-rails", (255, 0, 0), 5),
    18: ("truck", (180, 30, 80), 4),
    20: ("other-vehicle", (255, 0, 0), 5),
    30: ("person", (30, 30, 255), 6),
    31: ("bicyclist", (200, 40, 255), 7),
    32: ("motorcyclist", (90, 30, 150), 8),
    40: ("road", (255, 0, 255), 9),
    44: ("parking", (255, 150, 255), 10),
    48: ("sidewalk", (75, 0, 75), 11),
    49: ("other-ground", (75, 0, 175), 12),
    50: ("building", (0, 200, 255), 13),
    51: ("fence", (50, 120, 255), 14),
    52: ("other-structure", (0, 150, 255), 0),
    60: ("lane-marking", (170, 255, 150), 9),
    70: ("vegetation", (0, 175, 0), 15),
    71: ("trunk", (0, 60, 135), 16),
    72: ("terrain", (80, 240, 150), 17),
    80: ("pole", (150, 240, 255), 18),
    81: ("traffic-sign", (0, 0, 255), 19),
    99: ("other-object", (255, 255, 50), 0),
    252: ("moving-car", (245, 150, 100), 1),
    253: ("moving-bicyclist", (200, 40, 255), 7),
    254: ("moving-person", (30, 30, 255), 6),
    255: ("moving-motorcyclist", (90, 30, 150), 8),
    256: ("moving-on-rails", (255, 0, 0), 5),
    257: ("moving-bus", (250, 80, 100), 5),
    258: ("moving-truck", (180, 30, 80), 4),
    259: ("moving-other-vehicle", (255, 0, 0), 5),
}

LABELS: dict[int, str] = {k: v[0] for k, v in _RAW_TABLE.items()}
"""Raw label id -> name (``labels``)."""

COLOR_MAP_BGR: dict[int, tuple[int, int, int]] = {k: v[1] for k, v in _RAW_TABLE.items()}
"""Raw label id -> colour, **BGR** as in the official ``color_map``."""

LEARNING_MAP: dict[int, int] = {k: v[2] for k, v in _RAW_TABLE.items()}
"""Raw label id -> learning id 0..19 (``learning_map``)."""

LEARNING_MAP_INV: dict[int, int] = {
    0: 0,
    1: 10,
    2: 11,
    3: 15,
    4: 18,
    5: 20,
    6: 30,
    7: 31,
    8: 32,
    9: 40,
    10: 44,
    11: 48,
    12: 49,
    13: 50,
    14: 51,
    15: 70,
    16: 71,
    17: 72,
    18: 80,
    19: 81,
}
"""Learning id -> raw label id (``learning_map_inv``)."""

LEARNING_IGNORE: dict[int, bool] = {i: i == 0 for i in range(20)}
"""Learning id -> ignored in evaluation (``learning_ignore``): only 0."""

SPLIT: dict[str, list[int]] = {
    "train": [0, 1, 2, 3, 4, 5, 6, 7, 9, 10],
    "valid": [8],
    "test": list(range(11, 22)),
}
"""Sequence numbers of each split."""

THING_NAMES: tuple[str, ...] = (
    "car",
    "truck",
    "bicycle",
    "motorcycle",
    "other-vehicle",
    "person",
    "bicyclist",
    "motorcyclist",
)
"""The learning classes with instances (fixed in semantic-kitti-api ``evaluate_panoptic.py``)."""


@dataclass(frozen=True)
class SemanticKittiConfig:
    """The tables of a ``semantic-kitti.yaml`` and the taxonomies derived from them."""

    labels: Mapping[int, str]
    color_map: Mapping[int, tuple[int, int, int]]
    learning_map: Mapping[int, int]
    learning_map_inv: Mapping[int, int]
    learning_ignore: Mapping[int, bool]
    split: Mapping[str, list[int]]
    thing_names: tuple[str, ...] = THING_NAMES
    source: str = field(default="semantic-kitti.yaml (built in)", compare=False)

    @cached_property
    def learning_taxonomy(self) -> Taxonomy:
        """Learning classes (``learning_map_inv`` order), void 0; names from ``labels``."""
        categories = []
        for learning_id, raw_id in sorted(self.learning_map_inv.items()):
            if self.learning_ignore.get(learning_id, False):
                continue
            name = self.labels.get(raw_id, str(raw_id))
            categories.append(
                Category(
                    id=learning_id,
                    name=name,
                    isthing=name in self.thing_names,
                    color=_rgb(self.color_map.get(raw_id, (0, 0, 0))),
                    train_id=learning_id,
                )
            )
        return Taxonomy(categories, void_id=0, name="semantic-kitti-learning")

    @cached_property
    def raw_taxonomy(self) -> Taxonomy:
        """Raw label ids as stored in ``.label`` files (0 = void); a raw id is a thing when
        its learning class is, and is ``ignore_in_eval`` when its learning class is ignored."""
        learning = self.learning_taxonomy
        categories = []
        for raw_id, name in sorted(self.labels.items()):
            if raw_id == 0:
                continue
            learning_id = self.learning_map.get(raw_id, 0)
            target = learning.get(learning_id)
            categories.append(
                Category(
                    id=raw_id,
                    name=name,
                    isthing=bool(target is not None and target.isthing),
                    color=_rgb(self.color_map.get(raw_id, (0, 0, 0))),
                    ignore_in_eval=target is None,
                    train_id=learning_id,
                )
            )
        return Taxonomy(categories, void_id=0, name="semantic-kitti")

    @cached_property
    def learning_label_map(self) -> LabelMap:
        """Raw id -> learning id (unknown raw ids -> 0, as the official lookup table does)."""
        return LabelMap(
            self.learning_map,
            default=0,
            name="semantic-kitti raw->learning",
            source=self.raw_taxonomy,
            target=self.learning_taxonomy,
        )

    @cached_property
    def inverse_label_map(self) -> LabelMap:
        """Learning id -> raw id (``learning_map_inv``)."""
        return LabelMap(
            self.learning_map_inv,
            default=None,
            name="semantic-kitti learning->raw",
            source=self.learning_taxonomy,
            target=self.raw_taxonomy,
        )

    def sequences(self, split: str) -> list[int]:
        """Sequence numbers of a split; a wrong name lists the valid ones."""
        if split not in self.split:
            raise FormatError(
                f"unknown SemanticKITTI split {split!r} in {self.source}; splits are "
                f"{sorted(self.split)}"
            )
        return [int(s) for s in self.split[split]]


def _rgb(bgr: Any) -> tuple[int, int, int]:
    return (int(bgr[2]), int(bgr[1]), int(bgr[0]))


DEFAULT_CONFIG = SemanticKittiConfig(
    labels=LABELS,
    color_map=COLOR_MAP_BGR,
    learning_map=LEARNING_MAP,
    learning_map_inv=LEARNING_MAP_INV,
    learning_ignore=LEARNING_IGNORE,
    split=SPLIT,
)
"""The official configuration."""


def config_from_mapping(data: Mapping[str, Any], source: str) -> SemanticKittiConfig:
    """Build a config from the parsed YAML; missing or malformed tables raise
    :class:`FormatError` naming ``source``."""
    if not isinstance(data, Mapping):
        raise FormatError(f"{source}: expected a mapping of tables, found {type(data).__name__}")
    needed = ("labels", "learning_map", "learning_map_inv", "learning_ignore")
    missing = [k for k in needed if not isinstance(data.get(k), Mapping)]
    if missing:
        raise FormatError(
            f"{source}: a SemanticKITTI config needs the tables {list(needed)}; missing or not a "
            f"mapping: {missing}"
        )
    try:
        labels = {int(k): str(v) for k, v in data["labels"].items()}
        colors = {
            int(k): (int(v[0]), int(v[1]), int(v[2]))
            for k, v in (data.get("color_map") or {}).items()
        }
        learning_map = {int(k): int(v) for k, v in data["learning_map"].items()}
        learning_map_inv = {int(k): int(v) for k, v in data["learning_map_inv"].items()}
        learning_ignore = {int(k): bool(v) for k, v in data["learning_ignore"].items()}
        split = {str(k): [int(s) for s in v] for k, v in (data.get("split") or {}).items()}
    except (TypeError, ValueError, IndexError) as exc:
        raise FormatError(f"{source}: malformed table entry ({exc})") from None
    things = data.get("things")
    return SemanticKittiConfig(
        labels=labels,
        color_map=colors,
        learning_map=learning_map,
        learning_map_inv=learning_map_inv,
        learning_ignore=learning_ignore,
        split=split,
        thing_names=tuple(str(t) for t in things) if things else THING_NAMES,
        source=source,
    )


def load_config(path: str | Path | None) -> SemanticKittiConfig:
    """The built-in config (``path`` None) or a user ``semantic-kitti.yaml``."""
    if path is None:
        return DEFAULT_CONFIG
    import yaml

    where = Path(path)
    if not where.is_file():
        raise MissingFileError(f"SemanticKITTI config not found: {where}")
    try:
        data = yaml.safe_load(where.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise FormatError(f"{where}: not valid YAML ({exc})") from None
    return config_from_mapping(data, str(where))
