"""Mapillary Vistas v1.2 and v2.0.

Layout (MVD README and ``demo.py``; FORMATS.md section 4)::

    config_v1.2.json / config_v2.0.json      "labels": [{name, readable, color, instances,
                                               evaluate}, ...]; list index = label id
    <split>/images/<key>.jpg                 split = training | validation | testing
    <split>/<version>/panoptic/<key>.png     RGB24 segment ids (+ panoptic_2018.json for v1.2,
                                               panoptic_2020.json for v2.0, COCO structure)
    <split>/<version>/instances/<key>.png    16 bit, label * 256 + instance
    <split>/<version>/labels/<key>.png       8 bit paletted, label id
    <split>/v2.0/polygons/<key>.json         {width, height, objects: [{id, label, polygon}]}

The taxonomy's category ids are config index + 1 (as in the panoptic JSON, whose
categories hold the hierarchical name in ``supercategory``); the config label named
``void--unlabeled`` is void (segment 0).  ``isthing`` is the config's ``instances`` flag
and ``ignore_in_eval`` is ``not evaluate``.

Sources (``source=``): ``panoptic`` (default when the JSON exists), ``instances``
(segment id = pixel value + 1), ``labels`` (one segment per label: instances are lost) and
``polygons`` (v2.0; objects painted in file order with PIL's polygon fill: the result
equals a pixel-centre rasterisation except on pixels touching a polygon edge; a
``void--unlabeled`` object paints void; thing objects sharing an ``id`` are one instance).
The writer writes config, panoptic PNG + JSON, instances and labels, and for v2.0 the
polygons too when scikit-image is installed (:func:`label_polygons`: one polygon through the
centres of the outer boundary pixels of each 8-connected part, holes filled by drawing
larger parts first and void holes as ``void--unlabeled`` objects; read back, they give the
raster label on at least 99.9 % of the pixels, the rest being pixels where PIL's inclusive
edge fill crosses a concave diagonal; 100 % on the synthetic labels of ``panokit demo``).
Polygons carry no crowd flag.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from panokit.core.codecs import DIVISOR_256
from panokit.core.label import VOID, PanopticImage, Segment
from panokit.core.sample import Sample
from panokit.core.taxonomy import Category, Taxonomy
from panokit.dataset import PanopticDataset
from panokit.errors import FormatError, MissingFileError
from panokit.eval.protocols import COCO
from panokit.formats.coco_panoptic import (
    annotation_for,
    check_ids,
    load_json,
    read_png_ids,
    segments_from_info,
    write_png_ids,
)
from panokit.formats.media import image_loader as _media_loader

NAME = "mapillary-vistas"
DEFAULT_PROTOCOL = "mapillary-vistas"
PROTOCOLS = (
    replace(
        COCO,
        name="mapillary-vistas",
        description="COCO panoptic rules on the Vistas panoptic PNGs (COCO+Mapillary challenges)",
    ),
)
VERSIONS = ("v1.2", "v2.0")
PANOPTIC_JSON = {"v1.2": "panoptic_2018.json", "v2.0": "panoptic_2020.json"}
SPLITS = ("training", "validation", "testing")
SOURCES = ("panoptic", "instances", "labels", "polygons")
UNLABELED = "void--unlabeled"
_ONLY_IN = {
    "v1.2": ("human--person", "marking--general", "marking--crosswalk-zebra"),
    "v2.0": (
        "human--person--individual",
        "marking--continuous--solid",
        "marking--discrete--stop-line",
    ),
}
"""Label names that exist in one version's config only (to catch a swapped config)."""


# --------------------------------------------------------------------------- locating
def _find_root(path: Path) -> Path:
    for candidate in (path, path.parent, path.parent.parent, path.parent.parent.parent):
        if any(candidate.glob("config_v*.json")):
            return candidate
    raise FormatError(
        f"{path}: no Mapillary Vistas config_v1.2.json / config_v2.0.json here or in the "
        "three folders above"
    )


def sniff(path: Path) -> bool:
    """A Vistas root (with ``config_v*.json``) or a split / version folder below one."""
    if not path.is_dir():
        return False
    try:
        _find_root(path)
    except FormatError:
        return False
    return True


def load_config(root: Path, version: str) -> dict[str, Any]:
    """Parse ``config_<version>.json`` and check it is that version's taxonomy."""
    path = root / f"config_{version}.json"
    if not path.is_file():
        found = sorted(p.name for p in root.glob("config_v*.json"))
        raise MissingFileError(
            f"Mapillary Vistas {version} needs {path.name} in {root}; found {found or 'none'}"
        )
    try:
        config = json.loads(path.read_bytes())
    except json.JSONDecodeError as exc:
        raise FormatError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}") from None
    labels = config.get("labels") if isinstance(config, dict) else None
    if not isinstance(labels, list) or not all(isinstance(x, dict) and "name" in x for x in labels):
        raise FormatError(f"{path}: expected {{'labels': [{{'name': ..., ...}}, ...]}}")
    names = {str(x["name"]) for x in labels}
    other = "v2.0" if version == "v1.2" else "v1.2"
    foreign = sorted(names & set(_ONLY_IN[other]))
    if foreign:
        raise FormatError(
            f"{path}: version mismatch: the file is named {version} but holds {other} labels "
            f"({', '.join(foreign)}); use config_{other}.json with the {other} folders"
        )
    return dict(config)


def taxonomy_from_config(config: Mapping[str, Any], version: str) -> Taxonomy:
    """Categories with id = config index + 1; ``void--unlabeled`` is void (not listed)."""
    categories = []
    for index, entry in enumerate(config["labels"]):
        name = str(entry["name"])
        if name == UNLABELED:
            continue
        color = entry.get("color") or (0, 0, 0)
        categories.append(
            Category(
                id=index + 1,
                name=name,
                isthing=bool(entry.get("instances", False)),
                color=(int(color[0]), int(color[1]), int(color[2])),
                supercategory=name.split("--")[0],
                ignore_in_eval=not bool(entry.get("evaluate", True)),
                attributes={"readable": str(entry.get("readable", name))},
            )
        )
    return Taxonomy(categories, void_id=0, name=f"mapillary-vistas-{version}")


def _version_and_split(
    path: Path, root: Path, version: str | None, split: str | None
) -> tuple[str, str]:
    rel = path.resolve().relative_to(root.resolve()).parts if path != root else ()
    if len(rel) >= 1:
        if split is not None and split != rel[0]:
            raise FormatError(f"{path} is split {rel[0]!r} but split={split!r} was asked")
        split = rel[0]
    if len(rel) >= 2:
        if rel[1] not in VERSIONS:
            raise FormatError(f"{path}: {rel[1]!r} is not a Vistas version ({', '.join(VERSIONS)})")
        if version is not None and version != rel[1]:
            raise FormatError(
                f"version mismatch: {path} is a {rel[1]} folder but version={version!r} was asked"
            )
        version = rel[1]
    if version is None:
        configs = [v for v in VERSIONS if (root / f"config_{v}.json").is_file()]
        version = configs[-1] if configs else "v2.0"
    if version not in VERSIONS:
        raise FormatError(f"unknown Vistas version {version!r}; expected one of {VERSIONS}")
    load_config(root, version)
    if split is None:
        present = [s for s in SPLITS if (root / s / version).is_dir()]
        others = [f"{s}/{v}" for s in SPLITS for v in VERSIONS if (root / s / v).is_dir()]
        if not present and others:
            raise MissingFileError(
                f"version mismatch: {root} has no <split>/{version} folder (found "
                f"{', '.join(others)}) while config_{version}.json was chosen"
            )
        if len(present) != 1:
            raise FormatError(
                f"{root}: pass split= one of {present or list(SPLITS)} or the split folder "
                f"(found {version} labels for {present or 'no split'})"
            )
        split = present[0]
    if not (root / split / version).is_dir():
        other = [v for v in VERSIONS if (root / split / v).is_dir()]
        raise MissingFileError(
            f"version mismatch: {root / split / version} does not exist (found {other or 'none'}) "
            f"while config_{version}.json was chosen"
        )
    return version, split


# ----------------------------------------------------------------------------- decoding
def _open_png(path: Path) -> NDArray[Any]:
    try:
        with Image.open(path) as image:
            return np.asarray(image)
    except FileNotFoundError:
        raise MissingFileError(f"PNG not found: {path}") from None
    except OSError as exc:
        raise FormatError(f"{path}: cannot decode PNG ({exc})") from None


def _check_label_range(labels: NDArray[Any], n_labels: int, path: Path, version: str) -> None:
    if labels.ndim != 2:
        raise FormatError(
            f"{path}: expected one label id per pixel (8-bit paletted labels or 16-bit "
            f"instances PNG), found an array of shape {labels.shape}"
        )
    if labels.size and int(labels.max()) >= n_labels:
        bad = sorted(int(v) for v in np.unique(labels[labels >= n_labels]))[:10]
        raise FormatError(
            f"{path}: label ids {bad} but config_{version}.json has only {n_labels} labels "
            "(version mismatch between the config and this folder?)"
        )


def label_from_instances(
    value: NDArray[Any],
    tax: Taxonomy,
    n_labels: int,
    unlabeled: int | None,
    where: Path,
    version: str,
) -> PanopticImage:
    """A label from an instances PNG (label * 256 + instance): segment id = value + 1."""
    value = np.asarray(value).astype(np.int64)
    label, _instance = DIVISOR_256.decode(value)
    _check_label_range(label, n_labels, where, version)
    stuff = np.array([not (tax.get(i + 1) and tax[i + 1].isthing) for i in range(n_labels)])
    seg = np.where(stuff[label], label * 256, value) + 1
    if unlabeled is not None:
        seg[label == unlabeled] = 0
    ids = seg.astype(np.uint32)
    present = np.unique(ids)
    segments = {int(s): Segment(int((s - 1) // 256 + 1)) for s in present.tolist() if s != 0}
    return PanopticImage(ids, segments, tax)


def label_from_labels(
    labels: NDArray[Any],
    tax: Taxonomy,
    n_labels: int,
    unlabeled: int | None,
    where: Path,
    version: str,
) -> PanopticImage:
    """A label from a labels PNG: one segment (id = label + 1) per label present."""
    labels = np.asarray(labels).astype(np.int64)
    _check_label_range(labels, n_labels, where, version)
    ids = (labels + 1).astype(np.uint32)
    if unlabeled is not None:
        ids[labels == unlabeled] = 0
    segments = {int(s): Segment(int(s)) for s in np.unique(ids).tolist() if s != 0}
    return PanopticImage(ids, segments, tax)


def label_from_polygons(path: Path, tax: Taxonomy) -> PanopticImage:
    """Rasterise a v2.0 polygon JSON (objects in file order, later on top)."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise MissingFileError(f"polygon file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise FormatError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}") from None
    try:
        width, height = int(data["width"]), int(data["height"])
        objects = list(data["objects"])
    except (KeyError, TypeError, ValueError):
        raise FormatError(f"{path}: expected {{'width', 'height', 'objects': [...]}}") from None
    canvas = Image.new("I", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    segments: dict[int, Segment] = {}
    stuff_owner: dict[int, int] = {}
    thing_owner: dict[Any, int] = {}
    for index, obj in enumerate(objects, start=1):
        name = str(obj.get("label"))
        what = f"{path}, object {obj.get('id', index)} ({name})"
        cat: Category | None
        try:
            cat = tax.by_name(name)
        except Exception as exc:
            if name != UNLABELED:
                raise FormatError(f"{what}: {exc}") from None
            cat = None  # void, painted over what lies below
        try:
            points = [(float(x), float(y)) for x, y in obj["polygon"]]
        except (KeyError, TypeError, ValueError):
            raise FormatError(f"{what}: 'polygon' must be a list of [x, y] pairs") from None
        for x, y in points:
            if not (-1.0 <= x <= width + 1.0 and -1.0 <= y <= height + 1.0):
                raise FormatError(
                    f"{what}: vertex ({x:g}, {y:g}) lies outside the {width}x{height} image"
                )
        if len(points) < 3:
            continue
        if cat is None:
            draw.polygon(points, fill=VOID)
            continue
        if cat.isthing:
            seg_id = thing_owner.setdefault(("id", obj["id"]) if "id" in obj else index, index)
        else:
            seg_id = stuff_owner.setdefault(cat.id, index)
        draw.polygon(points, fill=seg_id)
        segments.setdefault(seg_id, Segment(cat.id))
    ids = np.asarray(canvas).astype(np.uint32)
    present = set(np.unique(ids).tolist())
    return PanopticImage(ids, {k: v for k, v in segments.items() if k in present}, tax)


def label_polygons(ids: NDArray[Any], names: Mapping[int, str]) -> list[dict[str, Any]]:
    """Vistas v2.0 polygon objects that :func:`label_from_polygons` paints back into
    ``ids`` (see the module docstring for the tolerance).

    ``names`` maps each segment id (0 = void) to its label name.  Every 8-connected part
    of a segment becomes an object with the segment id as ``id`` and, as ``polygon``, the
    centres of its outer boundary pixels (``[x, y]``, collinear points dropped); parts are
    ordered by their hole-filled area, largest first, so what fills a hole is drawn after.
    """
    from panokit.errors import require

    ndimage: Any = require("scipy.ndimage", "annotate", "to write Vistas polygons")
    measure: Any = require("skimage.measure", "annotate", "to write Vistas polygons")
    arr = np.asarray(ids)
    seg_ids, inverse = np.unique(arr, return_inverse=True)
    compact = inverse.reshape(arr.shape).astype(np.int32) + 1
    eight = np.ones((3, 3), dtype=bool)
    parts: list[tuple[int, int, dict[str, Any]]] = []
    for k, box in enumerate(ndimage.find_objects(compact)):
        if box is None:
            continue
        seg = int(seg_ids[k])
        top, left = box[0].start, box[1].start
        pieces, _count = ndimage.label(compact[box] == k + 1, structure=eight)
        for j, part in enumerate(ndimage.find_objects(pieces), start=1):
            if part is None:
                continue
            y0, x0 = top + part[0].start, left + part[1].start
            filled = ndimage.binary_fill_holes(pieces[part] == j)
            if filled.size == 1:  # a lone pixel
                obj = {"id": seg, "label": names[seg], "polygon": [[x0, y0]] * 3}
                parts.append((-1, len(parts), obj))
                continue
            padded = np.pad(filled, 1).astype(np.float32)
            # a level just below 1 passes within 0.01 px of the boundary pixel centres
            contour = max(measure.find_contours(padded, 0.99, fully_connected="high"), key=len)
            rc = np.round(contour).astype(np.int64) - 1
            rc = rc[np.r_[True, np.any(rc[1:] != rc[:-1], axis=1)]]
            if len(rc) > 1 and (rc[0] == rc[-1]).all():
                rc = rc[:-1]
            rc = _drop_straight(rc)
            points = [[int(c) + x0, int(r) + y0] for r, c in rc]
            while len(points) < 3:  # a one- or two-pixel part: repeat a vertex
                points.append(points[-1])
            obj = {"id": seg, "label": names[seg], "polygon": points}
            parts.append((-int(filled.sum()), len(parts), obj))
    parts.sort(key=lambda p: (p[0], p[1]))
    return [obj for _, _, obj in parts]


def _drop_straight(ring: NDArray[np.int64]) -> NDArray[np.int64]:
    """A closed ring without the vertices in the middle of a straight run."""
    if len(ring) < 4:
        return ring
    before = ring - np.roll(ring, 1, axis=0)
    after = np.roll(ring, -1, axis=0) - ring
    cross = before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0]
    dot = (before * after).sum(axis=1)
    keep = (cross != 0) | (dot <= 0)
    return ring[keep] if keep.sum() >= 3 else ring


def _polygons_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("scipy", "skimage"))


# ------------------------------------------------------------------------------ reading
def _json_category_map(
    data: Mapping[str, Any], config: Mapping[str, Any], json_path: Path
) -> dict[int, int]:
    """Panoptic JSON category id -> taxonomy id (matched by hierarchical name)."""
    index_of = {str(x["name"]): i + 1 for i, x in enumerate(config["labels"])}
    readable_of = {str(x.get("readable", "")): i + 1 for i, x in enumerate(config["labels"])}
    mapping: dict[int, int] = {}
    for cat in data.get("categories") or []:
        cid = int(cat["id"])
        for key in ("supercategory", "name"):
            value = str(cat.get(key, ""))
            if value in index_of:
                mapping[cid] = index_of[value]
                break
            if value.replace("_", " ") in readable_of:
                mapping[cid] = readable_of[value.replace("_", " ")]
                break
        else:
            mapping[cid] = cid
    return mapping


def _panoptic_samples(
    folder: Path, json_path: Path, config: Mapping[str, Any], tax: Taxonomy, images: Path
) -> list[Sample]:
    data = load_json(json_path)
    cat_map = _json_category_map(data, config, json_path)
    sizes = {
        str(im.get("id")): (int(im["height"]), int(im["width"]))
        for im in data.get("images") or []
        if isinstance(im, dict) and "height" in im and "width" in im
    }
    samples = []
    for index, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or "image_id" not in ann or "file_name" not in ann:
            raise FormatError(f"{json_path}: annotations[{index}] needs 'image_id' and 'file_name'")
        key = str(ann["image_id"])
        where = f"{json_path.name}, image {key!r}"
        raw = segments_from_info(list(ann.get("segments_info") or []), where, None)
        segments = {}
        for seg_id, seg in raw.items():
            cid = cat_map.get(seg.category_id, seg.category_id)
            if cid not in tax:
                raise FormatError(
                    f"{where}, segment {seg_id}: category {seg.category_id} is not in "
                    f"{tax.name} (config has {len(config['labels'])} labels)"
                )
            segments[seg_id] = replace(seg, category_id=cid)
        png = folder / str(ann["file_name"])
        samples.append(
            _sample(key, png, images, _panoptic_loader(png, segments, tax, where, sizes.get(key)))
        )
    return samples


def _panoptic_loader(
    png: Path, segments: dict[int, Segment], tax: Taxonomy, where: str, size: tuple[int, int] | None
) -> Callable[[], PanopticImage]:
    def load() -> PanopticImage:
        ids = read_png_ids(png)
        if size is not None and ids.shape != size:
            raise FormatError(
                f"{where}: {png.name} is {ids.shape[1]}x{ids.shape[0]}, the JSON says {size[1]}x{size[0]}"
            )
        check_ids(ids, segments, where)
        return PanopticImage(ids, segments, tax)

    return load


def _sample(
    key: str, label_file: Path, images: Path, loader: Callable[[], PanopticImage]
) -> Sample:
    media = images / f"{key}.jpg"
    return Sample(
        key=key,
        media=media,
        label_files=(label_file,),
        source_id=key,
        meta={"file_name": f"{key}.png"},
        label_loader=loader,
        media_loader=_media_loader(media),
    )


def read(
    path: Path,
    version: str | None = None,
    split: str | None = None,
    source: str | None = None,
) -> PanopticDataset:
    """Open Mapillary Vistas labels of one version and split.

    ``path`` is the dataset root (with ``config_v*.json``), a split folder or a version
    folder.  ``version`` defaults to the folder's, else the newest config present;
    ``split`` may be omitted when only one split has labels; ``source`` is one of
    ``panoptic``, ``instances``, ``labels``, ``polygons`` (the first present by default).
    """
    path = Path(path)
    root = _find_root(path)
    rel = path.resolve().relative_to(root.resolve()).parts if path != root else ()
    if len(rel) >= 3 and rel[2] in SOURCES:
        if source is not None and source != rel[2]:
            raise FormatError(f"{path} is the {rel[2]} folder but source={source!r} was asked")
        source = rel[2]
        path = path.parent
    version, split = _version_and_split(path, root, version, split)
    config = load_config(root, version)
    tax = taxonomy_from_config(config, version)
    n_labels = len(config["labels"])
    names = [str(x["name"]) for x in config["labels"]]
    unlabeled = names.index(UNLABELED) if UNLABELED in names else None
    base = root / split / version
    images = root / split / "images"
    json_path = base / "panoptic" / PANOPTIC_JSON[version]
    if source is None:
        source = next(
            (
                s
                for s, present in (
                    ("panoptic", json_path.is_file() or (base / "panoptic").is_dir()),
                    ("instances", (base / "instances").is_dir()),
                    ("labels", (base / "labels").is_dir()),
                    ("polygons", (base / "polygons").is_dir()),
                )
                if present
            ),
            None,
        )
        if source is None:
            raise MissingFileError(f"{base}: no panoptic, instances, labels or polygons folder")
    if source not in SOURCES:
        raise FormatError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    samples: list[Sample]
    if source == "panoptic":
        if not json_path.is_file():
            wrong = base / "panoptic" / PANOPTIC_JSON["v1.2" if version == "v2.0" else "v2.0"]
            if wrong.is_file():
                raise FormatError(
                    f"version mismatch: {base / 'panoptic'} holds {wrong.name} but {version} "
                    f"uses {json_path.name}"
                )
            raise MissingFileError(f"panoptic JSON not found: {json_path}")
        samples = _panoptic_samples(base / "panoptic", json_path, config, tax, images)
    elif not (base / source).is_dir():
        found = [x for x in SOURCES if (base / x).is_dir()]
        raise MissingFileError(f"{base / source} does not exist (found {found or 'nothing'})")
    elif source == "polygons":
        samples = [
            _sample(p.stem, p, images, _polygon_loader(p, tax))
            for p in sorted((base / "polygons").glob("*.json"))
        ]
    else:
        decode = label_from_instances if source == "instances" else label_from_labels
        samples = [
            _sample(p.stem, p, images, _raster_loader(decode, p, tax, n_labels, unlabeled, version))
            for p in sorted((base / source).glob("*.png"))
        ]
    return PanopticDataset(
        samples,
        tax,
        format=NAME,
        root=root,
        modality="image",
        meta={"version": version, "split": split, "source": source, "config": config},
    )


def _polygon_loader(path: Path, tax: Taxonomy) -> Callable[[], PanopticImage]:
    return lambda: label_from_polygons(path, tax)


def _raster_loader(
    decode: Callable[..., PanopticImage],
    path: Path,
    tax: Taxonomy,
    n_labels: int,
    unlabeled: int | None,
    version: str,
) -> Callable[[], PanopticImage]:
    return lambda: decode(_open_png(path), tax, n_labels, unlabeled, path, version)


def read_pair(
    gt_path: Path, pred_path: Path, split: str | None = None, **options: Any
) -> tuple[PanopticDataset, PanopticDataset]:
    """Ground truth and predictions, both in the Vistas layout."""
    return read(Path(gt_path), split=split, **options), read(
        Path(pred_path), split=split, **options
    )


# ------------------------------------------------------------------------------ writing
def _config_for(dataset: PanopticDataset) -> tuple[dict[str, Any], dict[int, int]]:
    """The config to write and the map taxonomy id -> config index + 1."""
    tax = dataset.taxonomy
    source = dataset.meta.get("config")
    if isinstance(source, dict) and dataset.format == NAME:
        version = str(dataset.meta.get("version", ""))
        if version and taxonomy_from_config(source, version) == tax:
            return source, {c.id: c.id for c in tax}
    labels = []
    remap: dict[int, int] = {}
    for position, cat in enumerate(tax, start=1):
        remap[cat.id] = position
        labels.append(
            {
                "name": cat.name,
                "readable": str(cat.attributes.get("readable", cat.name)),
                "color": list(cat.color),
                "instances": cat.isthing,
                "evaluate": not cat.ignore_in_eval,
            }
        )
    labels.append(
        {
            "name": UNLABELED,
            "readable": "Unlabeled",
            "color": [0, 0, 0],
            "instances": False,
            "evaluate": False,
        }
    )
    return {"labels": labels}, remap


def _instance_values(
    label: PanopticImage, remap: Mapping[int, int], where: str
) -> NDArray[np.int64]:
    """Per-pixel label * 256 + instance (the instances PNG), void = the unlabeled label."""
    tax = label.taxonomy
    seg_ids = sorted(label.segments)
    values = np.zeros(len(seg_ids) + 1, dtype=np.int64)
    next_instance: dict[int, int] = {}
    keep = all((s - 1) // 256 + 1 == remap[label.segments[s].category_id] for s in seg_ids)
    for i, seg_id in enumerate(seg_ids, start=1):
        cat_id = label.segments[seg_id].category_id
        index = remap[cat_id] - 1
        thing = tax is not None and tax.isthing(cat_id)
        if keep:
            values[i] = seg_id - 1
        elif thing:
            inst = next_instance.get(index, 0)
            if inst > 255:
                raise FormatError(
                    f"{where}: more than 256 instances of {tax[cat_id].name if tax else cat_id}; the instances PNG holds 256 per label"
                )
            next_instance[index] = inst + 1
            values[i] = index * 256 + inst
        else:
            values[i] = index * 256
    return values


def write(
    dataset: PanopticDataset,
    out: Path,
    version: str | None = None,
    split: str | None = None,
    polygons: bool | None = None,
) -> None:
    """Write ``config_<version>.json`` and ``<split>/<version>/{panoptic,instances,labels}``,
    and ``polygons/`` when ``polygons`` (default: for v2.0 when scikit-image and scipy are
    installed; True without them raises :class:`~panokit.errors.MissingExtraError`)."""
    version = version or str(dataset.meta.get("version") or "v2.0")
    if split is None:
        split = str(dataset.meta.get("split") or "")
        split = split if split in SPLITS else "validation"
    if version not in VERSIONS:
        raise FormatError(f"unknown Vistas version {version!r}; expected one of {VERSIONS}")
    config, remap = _config_for(dataset)
    n_labels = len(config["labels"])
    if n_labels > 256:
        raise FormatError(f"{n_labels} labels do not fit the 8-bit labels PNG (at most 256)")
    names = [str(x["name"]) for x in config["labels"]]
    unlabeled = names.index(UNLABELED) if UNLABELED in names else None
    base = out / split / version
    if polygons is None:
        polygons = version == "v2.0" and _polygons_available()
    if polygons and version != "v2.0":
        raise FormatError(f"Vistas polygons exist in v2.0 only, not {version}")
    for sub in ("panoptic", "instances", "labels", *(("polygons",) if polygons else ())):
        (base / sub).mkdir(parents=True)
    palette = [c for x in config["labels"] for c in (x.get("color") or (0, 0, 0))]
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    used: set[str] = set()
    for sample in dataset:
        label = sample.load_label()
        where = f"sample {sample.key!r}"
        if not isinstance(label, PanopticImage):
            raise FormatError(f"{where}: Vistas holds images; got a {type(label).__name__}")
        label.validate(where=where)
        key = "".join(c if c.isalnum() or c in "-_" else "_" for c in sample.key)
        if key in used:
            raise FormatError(f"{where}: two samples would write {key}.png")
        used.add(key)
        unknown = sorted({s.category_id for s in label.segments.values()} - set(remap))
        if unknown:
            raise FormatError(f"{where}: categories {unknown} are not in the dataset taxonomy")
        mapped = label.with_segments(
            label.ids,
            {k: replace(v, category_id=remap[v.category_id]) for k, v in label.segments.items()},
        )
        mapped = PanopticImage(
            mapped.ids, mapped.segments, _remapped_taxonomy(dataset.taxonomy, remap)
        )
        seg_ids = np.array([VOID, *sorted(label.segments)], dtype=np.int64)
        pos = np.clip(np.searchsorted(seg_ids, label.ids), 0, len(seg_ids) - 1)
        values = _instance_values(mapped, {v: v for v in remap.values()}, where)
        if unlabeled is not None:
            values[0] = unlabeled * 256
        elif not np.all(label.ids):
            raise FormatError(
                f"{where}: the label has void pixels but the config has no {UNLABELED!r} label"
            )
        per_pixel = values[pos]
        Image.fromarray(per_pixel.astype(np.uint16)).save(base / "instances" / f"{key}.png")
        semantic = np.ascontiguousarray((per_pixel // 256).astype(np.uint8))
        paletted = Image.frombytes("P", (label.width, label.height), semantic.tobytes())
        paletted.putpalette(palette + [0] * (768 - len(palette)))
        paletted.save(base / "labels" / f"{key}.png")
        write_png_ids(label.ids, base / "panoptic" / f"{key}.png")
        if polygons:
            seg_names = {VOID: UNLABELED}
            for seg_id, seg in mapped.segments.items():
                seg_names[seg_id] = names[seg.category_id - 1]
            document_p = {
                "width": label.width,
                "height": label.height,
                "objects": label_polygons(label.ids, seg_names),
            }
            (base / "polygons" / f"{key}.json").write_text(json.dumps(document_p))
        images.append(
            {"id": key, "file_name": f"{key}.jpg", "width": label.width, "height": label.height}
        )
        annotations.append(annotation_for(mapped, key, f"{key}.png"))
    categories = [
        {
            "id": i + 1,
            "name": str(x.get("readable", x["name"])),
            "supercategory": str(x["name"]),
            "isthing": int(bool(x.get("instances", False))),
            "color": list(x.get("color") or (0, 0, 0)),
        }
        for i, x in enumerate(config["labels"])
        if x["name"] != UNLABELED
    ]
    document = {"images": images, "annotations": annotations, "categories": categories}
    (base / "panoptic" / PANOPTIC_JSON[version]).write_text(json.dumps(document))
    (out / f"config_{version}.json").write_text(json.dumps(config, indent=1))


def _remapped_taxonomy(tax: Taxonomy, remap: Mapping[int, int]) -> Taxonomy:
    if all(k == v for k, v in remap.items()):
        return tax
    return Taxonomy((replace(c, id=remap[c.id]) for c in tax), void_id=0, name=tax.name)
