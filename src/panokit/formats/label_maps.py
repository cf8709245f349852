"""Built-in label maps between dataset taxonomies, and applying a map to a label.

Only maps that the official documentation defines are built in:

- ``semantic-kitti-learning``: SemanticKITTI raw ids -> learning ids 0..19 (``learning_map``);
- ``semantic-kitti-learning-inv``: learning ids -> raw ids (``learning_map_inv``);
- ``nuscenes-challenge``: nuScenes general class indices 0..31 -> the 16 challenge classes
  (nuscenes-devkit ``LidarsegClassMapper``);
- ``scannet-benchmark``: NYU40 ids -> the 20 ScanNet benchmark classes (NYU40 ids kept,
  other ids -> 0).

Anything else (e.g. nuScenes -> SemanticKITTI) is the user's choice: a JSON or YAML file
``{"name": ..., "default": 0, "mapping": {source id: target id}}`` (or a SemanticKITTI-style
config with a ``learning_map``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from panokit.core.label import PanopticLabel, Segment
from panokit.core.taxonomy import LabelMap, Taxonomy
from panokit.errors import FormatError, MissingFileError, TaxonomyError

if TYPE_CHECKING:
    from panokit.formats.maps import MapSpec

LabelT = TypeVar("LabelT", bound=PanopticLabel)


def _kitti_learning() -> LabelMap:
    from panokit.formats.data.semantic_kitti import DEFAULT_CONFIG

    return DEFAULT_CONFIG.learning_label_map


def _kitti_learning_inv() -> LabelMap:
    from panokit.formats.data.semantic_kitti import DEFAULT_CONFIG

    return DEFAULT_CONFIG.inverse_label_map


def _nuscenes_challenge() -> LabelMap:
    from panokit.formats.data.nuscenes import CHALLENGE_LABEL_MAP

    return CHALLENGE_LABEL_MAP


def _scannet_benchmark() -> LabelMap:
    from panokit.formats.data.scannet import BENCHMARK_LABEL_MAP

    return BENCHMARK_LABEL_MAP


BUILTIN_MAPS: dict[str, Callable[[], LabelMap]] = {
    "semantic-kitti-learning": _kitti_learning,
    "semantic-kitti-learning-inv": _kitti_learning_inv,
    "nuscenes-challenge": _nuscenes_challenge,
    "scannet-benchmark": _scannet_benchmark,
}
"""Built-in maps by name (built on first use)."""

OFFICIAL_MAPS: dict[str, str] = {
    "semantic-kitti->semantic-kitti-learning": "semantic-kitti-learning",
    "nuscenes->nuscenes-challenge": "nuscenes-challenge",
    "scannet->scannet-benchmark": "scannet-benchmark",
}
"""The same maps under ``panokit convert --map`` names (``<source format>-><target>``)."""


def _taxonomy(module: str, attribute: str) -> Callable[[], Taxonomy]:
    def load() -> Taxonomy:
        import importlib

        value = getattr(importlib.import_module(module), attribute)
        if not isinstance(value, Taxonomy):  # pragma: no cover - a config property
            raise TypeError(f"{module}.{attribute} is not a Taxonomy")
        return value

    return load


def _kitti_taxonomy(kind: str) -> Callable[[], Taxonomy]:
    def load() -> Taxonomy:
        from panokit.formats.data.semantic_kitti import DEFAULT_CONFIG

        return DEFAULT_CONFIG.raw_taxonomy if kind == "raw" else DEFAULT_CONFIG.learning_taxonomy

    return load


BUILTIN_TAXONOMIES: dict[str, Callable[[], Taxonomy]] = {
    "semantic-kitti": _kitti_taxonomy("raw"),
    "semantic-kitti-learning": _kitti_taxonomy("learning"),
    "nuscenes-general": _taxonomy("panokit.formats.data.nuscenes", "GENERAL_TAXONOMY"),
    "nuscenes-challenge": _taxonomy("panokit.formats.data.nuscenes", "CHALLENGE_TAXONOMY"),
    "scannet-nyu40": _taxonomy("panokit.formats.data.scannet", "NYU40_TAXONOMY"),
    "scannet-benchmark": _taxonomy("panokit.formats.data.scannet", "BENCHMARK_TAXONOMY"),
}
"""The point-cloud taxonomies by name (targets of ``panokit convert --map``)."""


def official_map_spec(name: str) -> MapSpec:
    """An official map as a :class:`panokit.formats.maps.MapSpec` (for ``convert --map``)."""
    from panokit.formats.maps import MapSpec

    label_map = BUILTIN_MAPS[OFFICIAL_MAPS[name]]()
    source, target = label_map.source, label_map.target
    if source is None or target is None:  # pragma: no cover - every built-in map has both
        raise TaxonomyError(f"built-in map {name!r} has no source or target taxonomy")
    rules = tuple(
        (src, None if dst == target.void_id else dst)
        for src, dst in sorted(label_map.mapping.items())
        if src in source
    )
    return MapSpec(name, rules, target, "void", source=name.split("->")[0])


def get_label_map(spec: str | Path | LabelMap) -> LabelMap:
    """A built-in map by name, or a map read from a JSON / YAML file."""
    if isinstance(spec, LabelMap):
        return spec
    name = str(spec)
    if name in BUILTIN_MAPS:
        return BUILTIN_MAPS[name]()
    path = Path(name)
    if not path.is_file():
        raise MissingFileError(
            f"label map {name!r} is neither a built-in map ({', '.join(BUILTIN_MAPS)}) nor a file"
        )
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # json / yaml parse errors
        raise FormatError(f"{path}: cannot parse label map ({exc})") from None
    if (
        isinstance(data, dict)
        and "mapping" not in data
        and isinstance(data.get("learning_map"), dict)
    ):
        data = {"name": path.stem, "default": 0, "mapping": data["learning_map"]}
    if not isinstance(data, dict):
        raise FormatError(f"{path}: a label map is an object with a 'mapping' of id -> id")
    try:
        return LabelMap.from_dict({"name": path.stem, **data})
    except (TaxonomyError, TypeError, ValueError) as exc:
        raise FormatError(f"{path}: {exc}") from None


def remap_label(label: LabelT, label_map: LabelMap, taxonomy: Taxonomy) -> LabelT:
    """``label`` with every segment's category sent through ``label_map`` into ``taxonomy``.

    Segments mapped to the taxonomy's void id become void; stuff segments that land on the
    same category are merged (stuff is one region per category); thing segments stay apart.
    Segment attributes (such as a source instance id) are dropped, since instance numbers
    are per category and categories changed.  Segment ids are renumbered 1..K.
    """
    old_ids = sorted(label.segments)
    old_to_new = np.zeros(len(old_ids) + 1, dtype=np.uint32)
    segments: dict[int, Segment] = {}
    stuff_segment: dict[int, int] = {}
    for position, seg_id in enumerate(old_ids, start=1):
        seg = label.segments[seg_id]
        target = label_map[seg.category_id]
        if target == taxonomy.void_id:
            continue
        category = taxonomy.get(target)
        if category is None:
            raise TaxonomyError(
                f"label map {label_map.name or '(unnamed)'} sends category {seg.category_id} to "
                f"{target}, which taxonomy {taxonomy.name or '(unnamed)'} does not know"
            )
        if not category.isthing and target in stuff_segment:
            old_to_new[position] = stuff_segment[target]
            continue
        new_id = len(segments) + 1
        segments[new_id] = Segment(target, iscrowd=seg.iscrowd)
        old_to_new[position] = new_id
        if not category.isthing:
            stuff_segment[target] = new_id
    table = np.array([0, *old_ids], dtype=np.int64)
    ids = np.asarray(label.ids)
    if table[-1] < 4 * ids.size + 65536:
        lookup = np.zeros(int(table[-1]) + 1, dtype=np.intp)
        lookup[table] = np.arange(len(table))
        pos = lookup[ids]
    else:
        pos = np.searchsorted(table, ids)
    new = label.with_segments(old_to_new[pos], segments)
    new.taxonomy = taxonomy
    return new


__all__ = ["BUILTIN_MAPS", "get_label_map", "remap_label"]
