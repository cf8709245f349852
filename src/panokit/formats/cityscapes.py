"""Cityscapes: the raw ``gtFine`` layout and the panoptic JSON + PNG of createPanopticImgs.

**Raw layout** (cityscapesScripts README)::

    {root}/gtFine/{split}/{city}/{city}_{seq}_{frame}_gtFine_instanceIds.png   uint16
    {root}/gtFine/{split}/{city}/{city}_{seq}_{frame}_gtFine_labelIds.png      uint8
    {root}/leftImg8bit/{split}/{city}/{city}_{seq}_{frame}_leftImg8bit.png     media

``instanceIds`` holds ``id * 1000 + k`` for individually annotated objects of classes with
instances (k from 0) and the plain label ``id`` (< 1000) for classes without instances and
for *group* regions (``cargroup`` ...); 0 is ``unlabeled``.  Values are unpacked with the
named :data:`~panokit.core.codecs.DIVISOR_1000` codec.

**Raw labels** (:func:`read` on a gtFine tree) keep the file's values as segment ids and
every class as a segment, over the full official taxonomy (:func:`taxonomy`, 34 labels +
license plate; ``ignore_in_eval`` and ``train_id`` live on the categories):

- value 0 (``unlabeled``) is void;
- any other value < 1000 is one segment of that class; for a class with instances it is a
  group, so ``iscrowd`` is true (``26`` = a car group);
- a value >= 1000 is one instance (``26003`` = car 3, ``iscrowd`` false).

So a raw label round-trips through :func:`write` bit for bit.

**Panoptic view** (:func:`to_panoptic`) is exactly what cityscapesScripts'
``createPanopticImgs`` makes: segments of ``ignore_in_eval`` classes become void, segment
ids stay the raw values, groups are crowd, the taxonomy is the 19 evaluated classes
(:func:`evaluated_taxonomy`), the JSON is ``cityscapes_panoptic_{split}.json`` and the
PNGs ``<stem>_gtFine_panoptic.png``.  Write it with the coco-panoptic writer::

    ds = panokit.read("cityscapes", format="cityscapes", split="val")
    panokit.write(cityscapes.to_panoptic(ds), "out", format="coco-panoptic")

Segments (id, category, iscrowd, area, bbox) and PNG pixels equal createPanopticImgs'
(tests/formats/test_cityscapes.py runs the official tool); the JSON differs only in
``images[].file_name``, which is the real ``<stem>_leftImg8bit.png`` (the official tool
writes ``<stem>_gtFine_leftImg8bit.png``, which names no file), and in extra keys
(``info``, ``licenses``, categories' ``train_id``).  Writing a *raw* dataset as
coco-panoptic keeps the ignored classes (as categories flagged ``ignore_in_eval``), which
the official evaluators would score: use :func:`to_panoptic`.

Stricter than the official tool: a value >= 1000 of a class without instances, or a class
id outside the table, is a :class:`~panokit.errors.FormatError` naming the file.

**Panoptic JSON** (the output of createPanopticImgs, with label ids or ``--use-train-id``)
is read by :func:`read` as well: pass the JSON, or a folder holding
``cityscapes_panoptic_*.json`` and no gtFine PNGs.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from panokit.core.codecs import DIVISOR_1000
from panokit.core.label import VOID, PanopticImage, PanopticLabel, Segment
from panokit.core.sample import Sample
from panokit.core.taxonomy import Category, Taxonomy
from panokit.dataset import PanopticDataset
from panokit.errors import FormatError, MissingFileError
from panokit.formats import coco_panoptic
from panokit.formats.data.cityscapes_labels import LABELS, LabelRow
from panokit.formats.media import image_loader as _image_loader
from panokit.formats.png import encode_png

NAME = "cityscapes"
DEFAULT_PROTOCOL = "coco"

INSTANCE_SUFFIX = "_gtFine_instanceIds.png"
LABEL_SUFFIX = "_gtFine_labelIds.png"
IMAGE_SUFFIX = "_leftImg8bit.png"
PANOPTIC_SUFFIX = "_gtFine_panoptic.png"
PANOPTIC_PREFIX = "cityscapes_panoptic_"
TRAIN_ID_SUFFIX = "_trainId"

_SPLIT_ORDER = ("train", "val", "test")
_INSTANCE_MODES = frozenset({"I;16", "I;16L", "I;16B", "I"})
_LABEL_MODES = frozenset({"L"})
_MAX_INSTANCES = DIVISOR_1000.divisor
_STEM = re.compile(r"^(?P<city>.+?)_(?P<seq>\d+)_(?P<frame>\d+)$")
_JSON_IMAGE_ID = re.compile(rb'"image_id"\s*:\s*"[^"_]+_\d+_\d+"')


# ---------------------------------------------------------------------------- taxonomy
@functools.cache
def _row_by_id() -> dict[int, LabelRow]:
    return {row[1]: row for row in LABELS}


@functools.cache
def taxonomy() -> Taxonomy:
    """The official taxonomy: the 34 labels and license plate (id -1), void id 0."""
    return Taxonomy(
        (
            Category(
                id=row_id,
                name=name,
                isthing=has_instances,
                color=color,
                supercategory=category,
                ignore_in_eval=ignore,
                train_id=train_id,
            )
            for name, row_id, train_id, category, _cat_id, has_instances, ignore, color in LABELS
        ),
        void_id=0,
        name="cityscapes",
    )


@functools.cache
def evaluated_taxonomy(train_ids: bool = False) -> Taxonomy:
    """The 19 evaluated classes (createPanopticImgs' ``categories``).

    With ``train_ids`` the category ids are the trainIds 0-18 (``--use-train-id``), each
    category keeps its label id in ``attributes["cityscapes_id"]``, and the void id is 255.
    """
    full = taxonomy()
    if not train_ids:
        return Taxonomy(full.evaluated, void_id=0, name="cityscapes-panoptic")
    categories = [
        Category(
            id=train_id,
            name=name,
            isthing=has_instances,
            color=color,
            supercategory=category,
            train_id=train_id,
            attributes={"cityscapes_id": row_id},
        )
        for name, row_id, train_id, category, _cat_id, has_instances, ignore, color in LABELS
        if not ignore
    ]
    return Taxonomy(categories, void_id=255, name="cityscapes-panoptic-trainId")


def _cityscapes_row(category: Category, where: str) -> LabelRow:
    """The official label a category stands for (by label id and name)."""
    label_id = int(category.attributes.get("cityscapes_id", category.id))
    row = _row_by_id().get(label_id)
    if row is None or row[0] != category.name:
        raise FormatError(
            f"{where}: category {category.id} ({category.name!r}) is not a Cityscapes label; "
            "map the taxonomy onto Cityscapes' first (PanopticDataset.map_labels with a "
            "LabelMap)"
        )
    return row


# ----------------------------------------------------------------------- raw label codec
def value_classes(values: NDArray[Any]) -> NDArray[np.int64]:
    """The label id of each instanceIds value: the value itself below 1000, else
    ``value // 1000`` (:data:`DIVISOR_1000`)."""
    values = np.asarray(values).astype(np.int64, copy=False)
    category, _instance = DIVISOR_1000.decode(values)
    classes: NDArray[np.int64] = np.where(values < DIVISOR_1000.divisor, values, category)
    return classes


def _present_values(raw: NDArray[Any]) -> NDArray[np.int64]:
    counts = np.bincount(raw.ravel(), minlength=1)
    return np.flatnonzero(counts).astype(np.int64)


def label_from_instance_ids(raw: NDArray[Any], where: str) -> PanopticImage:
    """A raw label from a decoded ``*_instanceIds.png`` (segment ids = the values)."""
    values = _present_values(raw)
    values = values[values != VOID]
    classes = value_classes(values)
    full = taxonomy()
    segments: dict[int, Segment] = {}
    for value, class_id in zip(values.tolist(), classes.tolist(), strict=True):
        cat = full.get(class_id)
        if cat is None or class_id < 0:
            count = int(np.count_nonzero(raw == value))
            raise FormatError(
                f"{where}: value {value} ({count} pixels) is class {class_id}, which is not a "
                f"Cityscapes label id (0-33)"
            )
        plain = value < DIVISOR_1000.divisor
        if not plain and not cat.isthing:
            raise FormatError(
                f"{where}: value {value} is an instance of class {class_id} ({cat.name}), "
                "which has no instances; expected the plain id"
            )
        segments[value] = Segment(class_id, iscrowd=plain and cat.isthing)
    return PanopticImage(raw, segments, full)


def _remap(ids: NDArray[Any], mapping: Mapping[int, int], dtype: Any) -> NDArray[Any]:
    """Map every id through ``mapping`` (ids absent from it must not occur)."""
    keys = np.array([VOID, *sorted(mapping)], dtype=np.int64)
    targets = np.array([0, *(mapping[int(k)] for k in keys[1:])], dtype=dtype)
    if int(keys[-1]) < (1 << 20):
        table = np.zeros(int(keys[-1]) + 1, dtype=dtype)
        table[keys] = targets
        out: NDArray[Any] = table[ids]
        return out
    pos = np.searchsorted(keys, ids)
    result: NDArray[Any] = targets[pos]
    return result


def encode_label(
    label: PanopticLabel, tax: Taxonomy, where: str
) -> tuple[NDArray[np.uint16], NDArray[np.uint8]]:
    """The ``(instanceIds, labelIds)`` arrays of a label over a Cityscapes taxonomy.

    Stuff and crowd segments get their label id (two crowd segments of one class merge into
    one group: the format has one group value per class); instances get ``id * 1000 + k``,
    keeping ``k`` from segment ids already in that form (so raw labels round-trip), else
    numbering them 0, 1, ... in segment-id order.
    """
    rows: dict[int, LabelRow] = {}
    instance_value: dict[int, int] = {}
    class_value: dict[int, int] = {}
    per_class: dict[int, list[int]] = {}
    for seg_id in sorted(label.segments):
        seg = label.segments[seg_id]
        cat = tax.get(seg.category_id)
        if cat is None:
            raise FormatError(
                f"{where}, segment {seg_id}: unknown category {seg.category_id} in taxonomy "
                f"{tax.name or '(unnamed)'}"
            )
        if seg.category_id not in rows:
            rows[seg.category_id] = _cityscapes_row(cat, f"{where}, segment {seg_id}")
        name, label_id, _t, _c, _ci, has_instances, _ig, _col = rows[seg.category_id]
        if label_id <= 0:
            raise FormatError(
                f"{where}, segment {seg_id}: class {name!r} (id {label_id}) cannot be stored "
                "in Cityscapes label images"
            )
        class_value[seg_id] = label_id
        if has_instances and not seg.iscrowd:
            per_class.setdefault(label_id, []).append(seg_id)
        else:
            instance_value[seg_id] = label_id
    for label_id, seg_ids in per_class.items():
        if len(seg_ids) > _MAX_INSTANCES:
            raise FormatError(
                f"{where}: {len(seg_ids)} instances of class {label_id}; Cityscapes "
                f"instanceIds hold at most {_MAX_INSTANCES} per class"
            )
        category, instance = DIVISOR_1000.decode(np.array(seg_ids, dtype=np.int64))
        keep = bool((category == label_id).all())
        numbers = instance if keep else np.arange(len(seg_ids), dtype=np.int64)
        packed = DIVISOR_1000.encode(np.full(len(seg_ids), label_id), numbers)
        instance_value.update(zip(seg_ids, packed.tolist(), strict=True))
    instance_ids = _remap(label.ids, instance_value, np.uint16)
    label_ids = _remap(label.ids, class_value, np.uint8)
    return instance_ids, label_ids


# ------------------------------------------------------------------------- PNG helpers
def _read_gray(path: Path, modes: frozenset[str], what: str) -> NDArray[Any]:
    """Decode a one-channel PNG of one of ``modes``; anything else names the file."""
    try:
        with Image.open(path) as image:
            if image.format != "PNG" or image.mode not in modes:
                found = f"a {image.format} image of mode {image.mode!r}"
                raise FormatError(f"{path}: expected a {what} PNG, found {found}")
            array = np.asarray(image)
    except FileNotFoundError:
        raise MissingFileError(f"Cityscapes label not found: {path}") from None
    except OSError as exc:
        raise FormatError(f"{path}: cannot decode PNG ({exc})") from None
    if array.dtype != np.uint16 and array.dtype != np.uint8:
        if array.size and (int(array.min()) < 0 or int(array.max()) > 0xFFFF):
            raise FormatError(f"{path}: values must be in 0..65535, found {int(array.max())}")
        array = array.astype(np.uint16)
    return array


def read_instance_ids(path: Path) -> NDArray[Any]:
    """Decode a ``*_instanceIds.png`` (16-bit grayscale)."""
    return _read_gray(path, _INSTANCE_MODES, "16-bit grayscale (instanceIds)")


def read_label_ids(path: Path) -> NDArray[Any]:
    """Decode a ``*_labelIds.png`` (8-bit grayscale)."""
    return _read_gray(path, _LABEL_MODES, "8-bit grayscale (labelIds)")


def _check_label_ids(label: PanopticImage, label_ids: NDArray[Any], label_path: Path) -> None:
    """``label_ids`` must hold, pixel for pixel, the class of the raw label's values."""
    raw = label.ids
    if label_ids.shape != raw.shape:
        raise FormatError(
            f"{label_path}: labelIds is {label_ids.shape[1]}x{label_ids.shape[0]} but its "
            f"instanceIds is {raw.shape[1]}x{raw.shape[0]}"
        )
    if raw.size == 0:
        return
    values = np.array(sorted(label.segments), dtype=np.int64)
    table = np.zeros(int(values[-1]) + 1 if values.size else 1, dtype=np.uint8)
    table[values] = [label.segments[v].category_id for v in values.tolist()]
    differ = table[raw] != label_ids
    if differ.any():
        pairs = np.unique(np.stack([raw[differ], label_ids[differ]], axis=1), axis=0)
        shown = ", ".join(f"{v}->{c}" for v, c in pairs[:5].tolist())
        raise FormatError(
            f"{label_path}: {int(differ.sum())} pixels disagree with the instanceIds classes "
            f"(instanceIds value -> labelIds id: {shown})"
        )


# ---------------------------------------------------------------------- layout finding
def _has_gt_files(folder: Path, depth: int) -> bool:
    pattern = "/".join(["*"] * depth + [f"*{INSTANCE_SUFFIX}"])
    return next(iter(folder.glob(pattern)), None) is not None


def _resolve(path: Path, split: str | None) -> tuple[Path, list[str], Path]:
    """(gtFine folder, splits to read, leftImg8bit folder) of a dataset root, a gtFine
    folder or a split folder."""
    if (path / "gtFine").is_dir() and _has_gt_files(path / "gtFine", 2):
        gt_root, images = path / "gtFine", path / "leftImg8bit"
    elif _has_gt_files(path, 2):
        gt_root, images = path, path.parent / "leftImg8bit"
    elif _has_gt_files(path, 1):
        if split is not None and split != path.name:
            raise FormatError(f"{path}: this is the split folder {path.name!r}, not {split!r}")
        return path.parent, [path.name], path.parent.parent / "leftImg8bit"
    else:
        raise FormatError(
            f"{path}: no Cityscapes gtFine files (expected gtFine/<split>/<city>/"
            f"*{INSTANCE_SUFFIX})"
        )
    available = sorted(
        (p.name for p in gt_root.iterdir() if p.is_dir() and _has_gt_files(p, 1)),
        key=lambda s: (_SPLIT_ORDER.index(s) if s in _SPLIT_ORDER else len(_SPLIT_ORDER), s),
    )
    if split is None:
        return gt_root, available, images
    if split not in available:
        raise FormatError(f"{gt_root}: no split {split!r}; found splits {available}")
    return gt_root, [split], images


def _panoptic_json_in(folder: Path, split: str | None) -> Path | None:
    if split is not None:
        for suffix in ("", TRAIN_ID_SUFFIX):
            candidate = folder / f"{PANOPTIC_PREFIX}{split}{suffix}.json"
            if candidate.is_file():
                return candidate
        return None
    found = sorted(folder.glob(f"{PANOPTIC_PREFIX}*.json"))
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise FormatError(
            f"{folder}: several Cityscapes panoptic JSON files ({names}); pass split="
        )
    return found[0] if found else None


def _looks_cityscapes_json(path: Path) -> bool:
    if path.name.startswith(PANOPTIC_PREFIX):
        return True
    try:
        with path.open("rb") as handle:
            head = handle.read(1 << 20)
    except OSError:
        return False
    return b'"segments_info"' in head and _JSON_IMAGE_ID.search(head) is not None


def sniff(path: Path) -> bool:
    """Whether ``path`` is a gtFine tree (root, gtFine or split folder) or a Cityscapes
    panoptic JSON (or a folder holding one)."""
    path = Path(path)
    try:
        if path.is_file():
            return path.suffix == ".json" and _looks_cityscapes_json(path)
        if not path.is_dir():
            return False
        try:
            _resolve(path, None)
            return True
        except FormatError:
            return _panoptic_json_in(path, None) is not None
    except (FormatError, OSError):
        return False


# ----------------------------------------------------------------------------- reading
def _raw_loader(instance_path: Path, label_path: Path, check: bool) -> Callable[[], PanopticImage]:
    def load() -> PanopticImage:
        raw = read_instance_ids(instance_path)
        label = label_from_instance_ids(raw, str(instance_path))
        if check:
            _check_label_ids(label, read_label_ids(label_path), label_path)
        return label

    return load


def _city_of(stem: str) -> str:
    match = _STEM.match(stem)
    return match.group("city") if match else stem.split("_", 1)[0]


def _read_raw(path: Path, split: str | None, check: bool) -> PanopticDataset:
    gt_root, splits, images_root = _resolve(path, split)
    samples: list[Sample] = []
    seen: dict[str, Path] = {}
    for split_name in splits:
        split_dir = gt_root / split_name
        image_split = images_root / split_name
        with_images = image_split.is_dir()
        for city_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            names = {entry.name for entry in os.scandir(city_dir)}
            stems = {n[: -len(INSTANCE_SUFFIX)] for n in names if n.endswith(INSTANCE_SUFFIX)}
            label_stems = {n[: -len(LABEL_SUFFIX)] for n in names if n.endswith(LABEL_SUFFIX)}
            for stem in sorted(stems ^ label_stems):
                have, want = (
                    (INSTANCE_SUFFIX, LABEL_SUFFIX)
                    if stem in stems
                    else (LABEL_SUFFIX, INSTANCE_SUFFIX)
                )
                raise FormatError(
                    f"{city_dir / (stem + want)} is missing: {stem + have} needs its "
                    f"*{want} partner"
                )
            for stem in sorted(stems):
                instance_path = city_dir / (stem + INSTANCE_SUFFIX)
                if stem in seen:
                    raise FormatError(
                        f"{instance_path}: the image {stem!r} is also at {seen[stem]}"
                    )
                seen[stem] = instance_path
                label_path = city_dir / (stem + LABEL_SUFFIX)
                media = image_split / city_dir.name / (stem + IMAGE_SUFFIX) if with_images else None
                samples.append(
                    Sample(
                        key=stem,
                        media=media,
                        label_files=(instance_path, label_path),
                        source_id=stem,
                        meta={
                            "split": split_name,
                            "city": city_dir.name,
                            "file_name": stem + PANOPTIC_SUFFIX,
                            "image": {"id": stem, "file_name": stem + IMAGE_SUFFIX},
                        },
                        label_loader=_raw_loader(instance_path, label_path, check),
                        media_loader=None if media is None else _image_loader(media),
                    )
                )
    return PanopticDataset(
        samples,
        taxonomy(),
        format=NAME,
        root=gt_root,
        modality="image",
        meta={
            "layout": "gtFine",
            "split": splits[0] if len(splits) == 1 else None,
            "splits": splits,
        },
    )


def _json_taxonomy(data: Mapping[str, Any], json_path: Path) -> Taxonomy:
    """The Cityscapes taxonomy a panoptic JSON's ``categories`` use (label ids or trainIds)."""
    categories = data.get("categories") or []
    if not categories:
        return evaluated_taxonomy()
    listed = coco_panoptic.taxonomy_from_json(data, json_path)
    if listed is None:
        return evaluated_taxonomy()
    full = taxonomy()
    if all(c.id in full and full[c.id].name == c.name for c in listed):
        wanted = {c.id for c in listed}
        if wanted == {c.id for c in full.evaluated}:
            return evaluated_taxonomy()
        return Taxonomy([c for c in full if c.id in wanted], name="cityscapes")
    by_train = {c.id: c for c in evaluated_taxonomy(train_ids=True)}
    if all(c.id in by_train and by_train[c.id].name == c.name for c in listed):
        return evaluated_taxonomy(train_ids=True)
    odd = next(c for c in listed if not (c.id in full and full[c.id].name == c.name))
    raise FormatError(
        f"{json_path}: category {odd.id} ({odd.name!r}) is not a Cityscapes label (by label "
        "id or trainId); read it with format='coco-panoptic'"
    )


def _panoptic_loader(
    png_path: Path,
    segments: dict[int, Segment],
    tax: Taxonomy,
    where: str,
    size: tuple[int, int] | None,
    check: bool,
) -> Callable[[], PanopticImage]:
    def load() -> PanopticImage:
        ids = coco_panoptic.read_png_ids(png_path)
        if size is not None and ids.shape != size:
            raise FormatError(
                f"{where}: PNG {png_path.name} is {ids.shape[1]}x{ids.shape[0]} but the JSON "
                f"says {size[1]}x{size[0]}"
            )
        if check:
            coco_panoptic.check_ids(ids, segments, where)
        return PanopticImage(ids, segments, tax)

    return load


def _read_panoptic(
    json_path: Path,
    png_dir: str | Path | None,
    images_dir: str | Path | None,
    tax: Taxonomy | None,
    check: bool,
) -> PanopticDataset:
    data = coco_panoptic.load_json(json_path)
    label_tax = tax or _json_taxonomy(data, json_path)
    pngs = Path(png_dir) if png_dir is not None else json_path.with_suffix("")
    stem = json_path.stem
    split = stem[len(PANOPTIC_PREFIX) :] if stem.startswith(PANOPTIC_PREFIX) else None
    if split is not None and split.endswith(TRAIN_ID_SUFFIX):
        split = split[: -len(TRAIN_ID_SUFFIX)]
    if images_dir is not None:
        image_root: Path | None = Path(images_dir)
    elif split is not None:
        image_root = json_path.parent.parent / "leftImg8bit" / split
    else:
        image_root = None
    if image_root is not None and not image_root.is_dir():
        image_root = None
    sizes: dict[Any, tuple[int, int]] = {}
    for image in data.get("images") or []:
        if isinstance(image, dict) and "height" in image and "width" in image:
            sizes[image.get("id")] = (int(image["height"]), int(image["width"]))
    samples: list[Sample] = []
    for image_id, file_name, info in coco_panoptic.iter_annotations(data, json_path):
        key = str(image_id)
        where = f"{json_path.name}, image {image_id!r} ({file_name})"
        segments = coco_panoptic.segments_from_info(list(info), where, label_tax)
        city = _city_of(key)
        media = None if image_root is None else image_root / city / (key + IMAGE_SUFFIX)
        png_path = pngs / file_name
        samples.append(
            Sample(
                key=key,
                media=media,
                label_files=(png_path,),
                source_id=image_id,
                meta={
                    "split": split,
                    "city": city,
                    "file_name": file_name,
                    "image": {"id": image_id, "file_name": key + IMAGE_SUFFIX},
                },
                label_loader=_panoptic_loader(
                    png_path, segments, label_tax, where, sizes.get(image_id), check
                ),
                media_loader=None if media is None else _image_loader(media),
            )
        )
    return PanopticDataset(
        samples,
        label_tax,
        format=NAME,
        root=json_path,
        modality="image",
        meta={"layout": "panoptic", "split": split, "json_stem": stem, "png_dir": str(pngs)},
    )


def read(
    path: Path,
    split: str | None = None,
    check: bool = True,
    png_dir: str | Path | None = None,
    images_dir: str | Path | None = None,
    json_taxonomy: Taxonomy | None = None,
) -> PanopticDataset:
    """Open Cityscapes labels.

    ``path`` is the dataset root (holding ``gtFine/``), the ``gtFine`` folder, one split
    folder, or a panoptic JSON of createPanopticImgs (or a folder holding
    ``cityscapes_panoptic_*.json`` and no gtFine PNGs).  ``split`` picks one split
    (``"train"``, ``"val"`` ...); by default every split found.  ``check`` also decodes each
    ``*_labelIds.png`` and requires it to agree with the instanceIds (size and class of
    every pixel); for JSON input it requires the PNG and ``segments_info`` to list the
    same ids.  ``png_dir`` / ``images_dir`` / ``json_taxonomy`` apply to JSON input only (the
    PNG folder, the ``leftImg8bit/<split>`` folder, and a taxonomy for JSONs without
    categories).
    """
    path = Path(path)
    if path.is_file():
        if path.suffix != ".json":
            raise FormatError(
                f"{path}: expected a Cityscapes folder (root, gtFine or split) or a panoptic "
                "JSON, found a file"
            )
        return _read_panoptic(path, png_dir, images_dir, json_taxonomy, check)
    if not path.is_dir():
        raise MissingFileError(f"Cityscapes data not found: {path}")
    try:
        return _read_raw(path, split, check)
    except FormatError as raw_error:
        if "no Cityscapes gtFine files" not in str(raw_error):
            raise
        json_path = _panoptic_json_in(path, split)
        if json_path is None:
            raise
        return _read_panoptic(json_path, png_dir, images_dir, json_taxonomy, check)


def read_pair(
    gt_path: Path, pred_path: Path, split: str | None = None, **options: Any
) -> tuple[PanopticDataset, PanopticDataset]:
    """Ground truth (a gtFine tree, converted with :func:`to_panoptic`, or a panoptic JSON)
    and predictions (a panoptic JSON + PNG folder; categories optional) for evaluation."""
    gt = read(Path(gt_path), split=split, **options)
    if gt.meta.get("layout") == "gtFine":
        gt = to_panoptic(gt)
    pred_file = Path(pred_path)
    if pred_file.is_dir():
        found = _panoptic_json_in(pred_file, split)
        pred_file = found if found is not None else coco_panoptic.find_json(pred_file)
    pred_data = coco_panoptic.load_json(pred_file)
    pred_tax = None if pred_data.get("categories") else gt.taxonomy
    pred = _read_panoptic(pred_file, None, None, pred_tax, True)
    return gt, pred


# ------------------------------------------------------------------------ conversion
def to_panoptic(dataset: PanopticDataset, train_ids: bool = False) -> PanopticDataset:
    """The view createPanopticImgs makes of Cityscapes labels, applied lazily per label.

    Segments of ``ignore_in_eval`` classes become void; every other segment keeps its id
    (the raw instanceIds value: stuff = class id, car 3 = 26003, car group = 26) and crowd
    flag; categories become the 19 evaluated ones (trainIds 0-18 with ``train_ids``).  The
    result's ``meta["json_stem"]`` is ``cityscapes_panoptic_{split}[_trainId]`` (``all`` for
    a dataset of several splits) and each
    sample's PNG ``<stem>_gtFine_panoptic.png``, so the coco-panoptic writer produces
    createPanopticImgs' file names.
    """
    source = dataset.taxonomy
    target = evaluated_taxonomy(train_ids)
    by_label_id = {int(c.attributes.get("cityscapes_id", c.id)): c.id for c in target.categories}
    category_map: dict[int, int | None] = {}
    for cat in source:
        if cat.id < 0:
            category_map[cat.id] = None
            continue
        row = _cityscapes_row(cat, f"dataset taxonomy {source.name or '(unnamed)'}")
        category_map[cat.id] = None if row[6] else by_label_id[row[1]]

    def convert(label: PanopticLabel) -> PanopticLabel:
        kept: dict[int, Segment] = {}
        dropped: list[int] = []
        for seg_id, seg in label.segments.items():
            new_category = category_map.get(seg.category_id)
            if new_category is None:
                if seg.category_id not in category_map:
                    raise FormatError(
                        f"segment {seg_id}: category {seg.category_id} is not in the "
                        f"dataset's taxonomy {source.name or '(unnamed)'}"
                    )
                dropped.append(seg_id)
                continue
            kept[seg_id] = Segment(
                new_category, seg.iscrowd, seg.attributes, declared_area=seg.declared_area
            )
        ids = label.ids
        if dropped and ids.size:
            table = np.arange(max(int(ids.max()), *dropped) + 1, dtype=ids.dtype)
            table[dropped] = VOID
            ids = table[ids]
        return PanopticImage(ids, kept, target)

    mapped = dataset.map_labels(convert, taxonomy=target)
    split = dataset.meta.get("split")
    stem = PANOPTIC_PREFIX + (str(split) if split else "all")
    samples = []
    for sample in mapped:
        meta = dict(sample.meta)
        meta["file_name"] = sample.key + PANOPTIC_SUFFIX
        samples.append(
            Sample(
                key=sample.key,
                media=sample.media,
                label_files=sample.label_files,
                source_id=sample.source_id,
                meta=meta,
                label_loader=sample.label_loader,
                media_loader=sample.media_loader,
            )
        )
    return PanopticDataset(
        samples,
        target,
        format=NAME,
        root=dataset.root,
        modality="image",
        meta={
            **mapped.meta,
            "layout": "panoptic",
            "json_stem": stem + (TRAIN_ID_SUFFIX if train_ids else ""),
        },
    )


# ----------------------------------------------------------------------------- writing
def _stem_and_city(sample: Sample) -> tuple[str, str]:
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in sample.key)
    city = sample.meta.get("city") if isinstance(sample.meta, Mapping) else None
    return stem, str(city) if city else _city_of(stem)


def write(
    dataset: PanopticDataset,
    out: Path,
    split: str | None = None,
    copy_images: bool = False,
) -> None:
    """Write ``out/gtFine/<split>/<city>/<stem>_gtFine_{instanceIds,labelIds}.png``.

    The stem is the sample key (``frankfurt_000000_000294``), the city its
    ``meta["city"]`` or the key's first part.  ``split`` defaults to each sample's
    ``meta["split"]``, then ``"train"``.  The dataset's taxonomy must be Cityscapes' (by
    label id, or trainId with ``cityscapes_id``); see :func:`encode_label` for how
    segments become values.  ``copy_images`` copies media to
    ``out/leftImg8bit/<split>/<city>/<stem>_leftImg8bit.png``.
    """
    used: dict[str, str] = {}
    for sample in dataset:
        where = f"sample {sample.key!r}"
        label = sample.load_label()
        if not isinstance(label, PanopticImage):
            raise FormatError(f"{where}: cityscapes holds images; got a {type(label).__name__}")
        label.validate(where=where)
        stem, city = _stem_and_city(sample)
        if stem in used:
            raise FormatError(f"{where}: writes the same files as sample {used[stem]!r} ({stem})")
        used[stem] = sample.key
        sample_split = split or (sample.meta.get("split") if sample.meta else None) or "train"
        folder = out / "gtFine" / str(sample_split) / city
        folder.mkdir(parents=True, exist_ok=True)
        instance_ids, label_ids = encode_label(label, label.taxonomy or dataset.taxonomy, where)
        (folder / (stem + INSTANCE_SUFFIX)).write_bytes(encode_png(instance_ids))
        (folder / (stem + LABEL_SUFFIX)).write_bytes(encode_png(label_ids))
        if copy_images and sample.media is not None:
            images = out / "leftImg8bit" / str(sample_split) / city
            images.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sample.media, images / (stem + IMAGE_SUFFIX))


def view_for(dataset: PanopticDataset, target_format: str) -> PanopticDataset:
    """How raw Cityscapes labels are written in another format.

    For ``coco-panoptic`` the raw gtFine view becomes createPanopticImgs' view
    (:func:`to_panoptic`): classes ignored in evaluation become void, so panopticapi scores
    exactly the 19 official classes.  Other targets get the raw labels.
    """
    raw = any(c.ignore_in_eval for c in dataset.taxonomy)
    if target_format == "coco-panoptic" and raw:
        return to_panoptic(dataset)
    return dataset
