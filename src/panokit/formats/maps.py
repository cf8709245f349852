"""Taxonomy maps for conversion: built-in maps and LabelMap files (YAML or JSON).

A map file (or a built-in map, ``data/label_maps.json``) is::

    name: vistas-to-cityscapes          # optional
    target: cityscapes-19               # a built-in taxonomy name, or a list of categories
                                        # ({id, name, isthing, color}); omitted = the source's
    unmapped: void                      # optional default: void | error
    rules:                              # in order, first match wins
      construction--flat--road: road    # source name (shell-style glob) -> target name
      "marking--*": road
      7: 7                              # source id -> target id
      ego vehicle: void                 # explicit void (also 0 or null)

``rules`` may also be a list of ``[source, target]`` pairs, and ``mapping`` (ids only, the
form :meth:`LabelMap.to_dict` writes) is accepted.  :func:`resolve` turns a spec into a
:class:`ResolvedMap` for one source taxonomy; :func:`apply_map` maps a dataset lazily and
counts the pixels each rule moved in a :class:`MapReport`.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from panokit.core.label import VOID, PanopticLabel, Segment
from panokit.core.taxonomy import Category, LabelMap, Taxonomy
from panokit.dataset import PanopticDataset
from panokit.errors import FormatError, MissingFileError, TaxonomyError
from panokit.formats.data.taxonomies import load_json, load_taxonomy

UNMAPPED_CHOICES = ("void", "error")
_VOID_WORDS = frozenset({"void", "ignore", "unlabeled"})


# ------------------------------------------------------------------------- taxonomies
def target_taxonomy(name: str) -> Taxonomy:
    """A built-in taxonomy by name: ``cityscapes-19``, ``cityscapes``, ``bdd100k``, ``pastis``."""
    if name == "cityscapes-19":
        from panokit.formats.cityscapes import evaluated_taxonomy

        return evaluated_taxonomy()
    if name == "cityscapes":
        from panokit.formats.cityscapes import taxonomy

        return taxonomy()
    if name in ("bdd100k", "pastis"):
        return load_taxonomy(name)
    from panokit.formats.label_maps import BUILTIN_TAXONOMIES

    if name in BUILTIN_TAXONOMIES:
        return BUILTIN_TAXONOMIES[name]()
    raise TaxonomyError(
        f"unknown target taxonomy {name!r}; built-in targets are cityscapes-19, cityscapes, "
        f"bdd100k, pastis, {', '.join(BUILTIN_TAXONOMIES)} (or give a list of categories)"
    )


# ------------------------------------------------------------------------------ specs
@dataclass(frozen=True)
class MapSpec:
    """An unresolved map: ordered (source, target) rules and an optional target taxonomy."""

    name: str
    rules: tuple[tuple[int | str, int | str | None], ...]
    target: Taxonomy | None = None
    unmapped: str | None = None
    source: str = ""
    """The source format or taxonomy a built-in map was written for (informative)."""


def builtin_maps() -> list[str]:
    """Names of the built-in maps."""
    from panokit.formats.label_maps import OFFICIAL_MAPS

    return sorted([*load_json("label_maps")["maps"], *OFFICIAL_MAPS])


def builtin_map(name: str) -> MapSpec:
    """A built-in map by name (``<source>-><target>``; Vistas aliases ``-v1.2`` / ``-v2.0``)."""
    from panokit.formats.label_maps import OFFICIAL_MAPS, official_map_spec

    if name in OFFICIAL_MAPS:
        return official_map_spec(name)
    maps = load_json("label_maps")["maps"]
    key = name.replace("mapillary-vistas-v1.2", "mapillary-vistas").replace(
        "mapillary-vistas-v2.0", "mapillary-vistas"
    )
    if key not in maps:
        raise TaxonomyError(
            f"unknown built-in map {name!r}; built-in maps: {', '.join(builtin_maps())}"
        )
    spec = spec_from_dict(maps[key], where=f"built-in map {name!r}")
    return replace(spec, name=name, source=str(maps[key].get("source", "")))


def spec_from_dict(data: Mapping[str, Any], where: str) -> MapSpec:
    """Parse the map document (see the module docstring)."""
    if not isinstance(data, Mapping):
        raise FormatError(f"{where}: a label map must be an object, found {type(data).__name__}")
    raw = data.get("rules", data.get("mapping"))
    if isinstance(raw, Mapping):
        pairs = list(raw.items())
    elif isinstance(raw, list) and all(isinstance(p, list | tuple) and len(p) == 2 for p in raw):
        pairs = [tuple(p) for p in raw]
    else:
        raise FormatError(
            f"{where}: needs 'rules' (source -> target, an object or a list of pairs)"
        )
    rules: list[tuple[int | str, int | str | None]] = []
    for src, dst in pairs:
        rules.append((_key(src), None if dst is None else _key(dst)))
    target = data.get("target")
    target_tax: Taxonomy | None = None
    if isinstance(target, str):
        target_tax = target_taxonomy(target)
    elif isinstance(target, list):
        try:
            target_tax = Taxonomy.from_list(target, name=str(data.get("name", "target")))
        except TaxonomyError as exc:
            raise FormatError(f"{where}: target: {exc}") from None
    elif target is not None:
        raise FormatError(f"{where}: 'target' must be a taxonomy name or a list of categories")
    unmapped = data.get("unmapped")
    if unmapped is None and "default" in data:  # LabelMap.to_dict(): None = no default
        unmapped = "error" if data["default"] is None else "void"
    if unmapped is not None and unmapped not in UNMAPPED_CHOICES:
        raise FormatError(
            f"{where}: 'unmapped' must be one of {UNMAPPED_CHOICES}, got {unmapped!r}"
        )
    return MapSpec(str(data.get("name", "")), tuple(rules), target_tax, unmapped)


def _key(value: Any) -> int | str:
    if isinstance(value, bool):
        raise FormatError(f"a map rule cannot use {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    return text


def load_map(path: str | Path) -> MapSpec:
    """Read a map file (``.yaml`` / ``.yml`` / ``.json``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MissingFileError(f"label map file not found: {path}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FormatError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise FormatError(f"{path}: malformed YAML ({exc})") from None
    spec = spec_from_dict(data, where=str(path))
    return spec if spec.name else replace(spec, name=path.stem)


def find_map(value: str, source_format: str = "") -> MapSpec:
    """A map from a file path, a built-in map name, or a built-in target name (then the
    built-in map ``<source_format>-><target>`` is used)."""
    path = Path(value)
    if path.suffix.lower() in (".yaml", ".yml", ".json") or path.is_file():
        return load_map(path)
    if "->" in value:
        return builtin_map(value)
    candidate = f"{source_format}->{value}"
    if candidate in builtin_maps():
        return builtin_map(candidate)
    raise TaxonomyError(
        f"--map {value!r} is neither a map file nor a built-in map; built-in maps: "
        f"{', '.join(builtin_maps())} (or a target name such as cityscapes-19)"
    )


# -------------------------------------------------------------------------- resolving
@dataclass(frozen=True)
class Rule:
    """One resolved rule: the source categories it moves and their target (None = void)."""

    text: str
    sources: tuple[int, ...]
    target: int | None


@dataclass(frozen=True)
class ResolvedMap:
    """A map resolved against a source taxonomy."""

    name: str
    source: Taxonomy
    target: Taxonomy
    table: Mapping[int, int | None]
    """Source category id -> target id (None = void); unmapped ids are absent."""
    rules: tuple[Rule, ...]
    unmapped: tuple[int, ...]

    def label_map(self, unmapped: str = "void") -> LabelMap:
        """The equivalent :class:`LabelMap` (void = the target's void id)."""
        void = self.target.void_id
        mapping = {k: (void if v is None else v) for k, v in self.table.items()}
        return LabelMap(
            mapping,
            default=void if unmapped == "void" else None,
            name=self.name,
            source=self.source,
            target=self.target,
        )


def _match(tax: Taxonomy, key: int | str, where: str) -> list[int]:
    if isinstance(key, int):
        if key not in tax:
            raise TaxonomyError(f"{where}: source id {key} is not in {tax.name or 'the taxonomy'}")
        return [key]
    hits = [c.id for c in tax if fnmatch.fnmatchcase(c.name, key)]
    if not hits:
        hits = [c.id for c in tax if c.name.lower() == key.lower()]
    return hits


def _target_id(target: Taxonomy, value: int | str | None, where: str) -> int | None:
    if value is None or (value == target.void_id and value not in target):
        return None
    if isinstance(value, str) and value.lower() in _VOID_WORDS:
        return None
    if isinstance(value, int):
        if value not in target:
            raise TaxonomyError(
                f"{where}: target id {value} is not in {target.name or 'the target taxonomy'}"
            )
        return value
    try:
        return target.by_name(value).id
    except TaxonomyError:
        lowered = {c.name.lower(): c.id for c in target}
        if value.lower() in lowered:
            return lowered[value.lower()]
        raise TaxonomyError(
            f"{where}: unknown target category {value!r} in {target.name or 'the target taxonomy'}"
        ) from None


def resolve(spec: MapSpec, source: Taxonomy) -> ResolvedMap:
    """Resolve the rules of ``spec`` against the categories of ``source``."""
    where = f"label map {spec.name or '(unnamed)'}"
    target = spec.target
    if target is None:
        targets = set()
        for _src, dst in spec.rules:
            tid = _target_id(source, dst, where)
            if tid is not None:
                targets.add(tid)
        target = Taxonomy(
            [c for c in source if c.id in targets], void_id=source.void_id, name=source.name
        )
    table: dict[int, int | None] = {}
    rules: list[Rule] = []
    for src, dst in spec.rules:
        tid = _target_id(target, dst, where)
        hits = [h for h in _match(source, src, where) if h not in table]
        for h in hits:
            table[h] = tid
        shown = "void" if tid is None else f"{target[tid].name} ({tid})"
        rules.append(Rule(f"{src} -> {shown}", tuple(hits), tid))
    unmapped = tuple(c.id for c in source if c.id not in table and c.id != source.void_id)
    if spec.rules and not table:
        if len(source) == 0:
            raise TaxonomyError(
                f"{where}: the source dataset lists no categories, so none of its "
                f"{len(spec.rules)} rules can match (e.g. a COCO JSON without 'categories')"
            )
        raise TaxonomyError(
            f"{where}: none of its {len(spec.rules)} rules matches a category of "
            f"{source.name or 'the source'} ({len(source)} categories); check the source "
            "names or ids"
        )
    return ResolvedMap(spec.name, source, target, table, tuple(rules), unmapped)


# --------------------------------------------------------------------------- applying
@dataclass
class MapReport:
    """Pixels (elements) moved per source category while a mapped dataset is loaded."""

    resolved: ResolvedMap
    moved: dict[int, int] = field(default_factory=dict)
    labels: int = 0
    unknown: dict[int, int] = field(default_factory=dict)
    """Elements of categories the labels use but the source taxonomy lacks (made void)."""

    def add(self, label: PanopticLabel) -> None:
        """Count the elements of each source category of one label."""
        self.labels += 1
        for seg_id, area in label.areas().items():
            seg = label.segments.get(seg_id)
            if seg is not None:
                cid = seg.category_id
                self.moved[cid] = self.moved.get(cid, 0) + area
                if cid not in self.resolved.table and cid not in self.resolved.source:
                    self.unknown[cid] = self.unknown.get(cid, 0) + area

    def rows(self) -> list[tuple[str, int]]:
        """``(rule text, pixels)`` per rule in rule order, then ``unmapped -> void`` rows."""
        out = [(r.text, sum(self.moved.get(s, 0) for s in r.sources)) for r in self.resolved.rules]
        for cid in self.resolved.unmapped:
            pixels = self.moved.get(cid, 0)
            if pixels:
                name = self.resolved.source[cid].name
                out.append((f"{name} ({cid}) unmapped -> void", pixels))
        for cid in sorted(self.unknown):
            out.append((f"category {cid} (not in the source taxonomy) -> void", self.unknown[cid]))
        return out


def map_label(label: PanopticLabel, resolved: ResolvedMap) -> PanopticLabel:
    """One label with categories mapped: void targets (and unmapped categories) become
    segment 0, stuff targets merge into one segment (the smallest id), thing targets keep
    their segments."""
    segments: dict[int, Segment] = {}
    merged: dict[int, int] = {}
    stuff_owner: dict[int, int] = {}
    for seg_id in sorted(label.segments):
        seg = label.segments[seg_id]
        tid = resolved.table.get(seg.category_id)
        if tid is None:
            merged[seg_id] = VOID
            continue
        if not resolved.target[tid].isthing:
            owner = stuff_owner.setdefault(tid, seg_id)
            if owner != seg_id:
                merged[seg_id] = owner
                continue
            segments[seg_id] = replace(seg, category_id=tid, iscrowd=False)
        else:
            segments[seg_id] = replace(seg, category_id=tid)
    ids = label.ids
    if merged:
        keys = np.array(sorted(merged), dtype=np.int64)
        values = np.array([merged[int(k)] for k in keys], dtype=ids.dtype)
        pos = np.clip(np.searchsorted(keys, ids), 0, len(keys) - 1)
        hit = keys[pos] == ids
        ids = np.where(hit, values[pos], ids).astype(ids.dtype)
    out = label.with_segments(ids, segments)
    out.taxonomy = resolved.target
    return out


def apply_map(
    dataset: PanopticDataset, spec: MapSpec, unmapped: str | None = None
) -> tuple[PanopticDataset, MapReport]:
    """Map every label of ``dataset`` lazily; the report fills in as labels load.

    ``unmapped`` (``void`` or ``error``, default the spec's, else ``void``): with ``error``
    a source category without a rule fails now, listing every such category.
    """
    mode = unmapped or spec.unmapped or "void"
    if mode not in UNMAPPED_CHOICES:
        raise TaxonomyError(f"unmapped must be one of {UNMAPPED_CHOICES}, got {mode!r}")
    resolved = resolve(spec, dataset.taxonomy)
    if mode == "error" and resolved.unmapped:
        names = ", ".join(f"{dataset.taxonomy[c].name} ({c})" for c in resolved.unmapped[:30])
        more = f" and {len(resolved.unmapped) - 30} more" if len(resolved.unmapped) > 30 else ""
        raise TaxonomyError(
            f"label map {resolved.name or '(unnamed)'}: {len(resolved.unmapped)} categories of "
            f"{dataset.taxonomy.name or 'the source'} have no rule: {names}{more}; add rules "
            "(map to void explicitly with 'void') or pass --unmapped void"
        )
    report = MapReport(resolved)

    def fn(label: PanopticLabel) -> PanopticLabel:
        if mode == "error":
            unknown = sorted(
                {s.category_id for s in label.segments.values()}
                - set(resolved.table)
                - {resolved.source.void_id}
            )
            if unknown:
                raise TaxonomyError(
                    f"label map {resolved.name or '(unnamed)'}: categories {unknown} of a label "
                    f"are not in {dataset.taxonomy.name or 'the source taxonomy'} and have no "
                    "rule; add rules or pass --unmapped void"
                )
        report.add(label)
        return map_label(label, resolved)

    mapped = dataset.map_labels(fn, taxonomy=resolved.target)
    mapped.meta = {k: v for k, v in dataset.meta.items() if k != "config"}
    mapped.meta["label_map"] = resolved.name
    return mapped, report


def void_categories(resolved: ResolvedMap) -> list[Category]:
    """Source categories that the map sends to void (explicitly or as unmapped)."""
    ids = [k for k, v in resolved.table.items() if v is None] + list(resolved.unmapped)
    return [resolved.source[i] for i in sorted(ids)]


__all__ = [
    "MapReport",
    "MapSpec",
    "ResolvedMap",
    "Rule",
    "apply_map",
    "builtin_map",
    "builtin_maps",
    "find_map",
    "load_map",
    "map_label",
    "resolve",
    "spec_from_dict",
    "target_taxonomy",
]
