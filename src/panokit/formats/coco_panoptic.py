"""COCO panoptic: one JSON (``images``, ``annotations``, ``categories``) + a PNG folder.

Each annotation is one image: ``image_id``, ``file_name`` (the PNG) and ``segments_info``
(``id``, ``category_id``, ``iscrowd``, ``area``, ``bbox``).  The PNG is RGB with
id = R + 256 G + 65536 B (:data:`panokit.core.codecs.RGB24`), 0 = void.  As in panopticapi,
the PNG folder is the JSON path without ``.json`` unless given.  Image ids may be integers
(COCO) or strings (Cityscapes, Mapillary Vistas); their type is kept on a round trip.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from panokit._fastpng import read_rgb
from panokit.core.codecs import RGB24
from panokit.core.label import PanopticImage, Segment, row_runs
from panokit.core.sample import Sample
from panokit.core.taxonomy import Taxonomy
from panokit.dataset import PanopticDataset
from panokit.errors import FormatError, MissingFileError, TaxonomyError
from panokit.formats.media import image_loader as _media_loader
from panokit.formats.png import encode_png

NAME = "coco-panoptic"


# ----------------------------------------------------------------------------- sniffing
def _looks_panoptic(json_path: Path) -> bool:
    """Cheap check on the first bytes: a COCO panoptic JSON mentions segments_info."""
    try:
        with json_path.open("rb") as handle:
            head = handle.read(1 << 20)
    except OSError:
        return False
    return (b'"annotations"' in head and b'"segments_info"' in head) or (
        b'"segments_info"' in head and head.lstrip().startswith(b"{")
    )


def find_json(path: Path) -> Path:
    """The panoptic JSON of ``path``: the file itself, or the one JSON in a folder whose
    sibling PNG folder exists."""
    if path.is_file():
        return path
    candidates = sorted(p for p in path.glob("*.json") if _looks_panoptic(p))
    if not candidates:
        candidates = sorted(p for p in path.glob("annotations/*.json") if _looks_panoptic(p))
    with_png = [p for p in candidates if p.with_suffix("").is_dir()]
    chosen = with_png or candidates
    if len(chosen) == 1:
        return chosen[0]
    if not chosen:
        raise FormatError(f"{path}: no COCO panoptic JSON (with 'segments_info') found")
    names = ", ".join(p.name for p in chosen)
    raise FormatError(f"{path}: several panoptic JSON files ({names}); pass the one to read")


def sniff(path: Path) -> bool:
    """Whether ``path`` is a COCO panoptic JSON or a folder holding one."""
    try:
        if path.is_file():
            return path.suffix == ".json" and _looks_panoptic(path)
        find_json(path)
    except (FormatError, OSError):
        return False
    return True


# ------------------------------------------------------------------------------ reading
def load_json(json_path: Path) -> dict[str, Any]:
    """Parse a panoptic JSON, turning malformed content into a :class:`FormatError`."""
    if not json_path.is_file():
        raise MissingFileError(f"COCO panoptic JSON not found: {json_path}")
    try:
        with json_path.open("rb") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"{json_path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise FormatError(
            f"{json_path}: expected an object with an 'annotations' list (COCO panoptic), "
            f"found {type(data).__name__} with keys {sorted(data)[:6] if isinstance(data, dict) else []}"
        )
    return data


def read_png_ids(png_path: Path) -> NDArray[np.uint32]:
    """Decode a panoptic PNG into segment ids (RGB24)."""
    fast = read_rgb(png_path)  # None unless libdeflate + panokit._speedups apply
    if fast is not None:
        return RGB24.decode(fast)
    try:
        with Image.open(png_path) as image:
            rgb = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    except FileNotFoundError:
        raise MissingFileError(f"panoptic PNG not found: {png_path}") from None
    except OSError as exc:
        raise FormatError(f"{png_path}: cannot decode PNG ({exc})") from None
    return RGB24.decode(rgb)


def taxonomy_from_json(data: Mapping[str, Any], json_path: Path) -> Taxonomy | None:
    """The taxonomy of the JSON's ``categories``, or None when it has none."""
    categories = data.get("categories")
    if not categories:
        return None
    try:
        return Taxonomy.from_list(categories, name=json_path.stem)
    except TaxonomyError as exc:
        raise FormatError(f"{json_path}: {exc}") from None


def segments_from_info(
    segments_info: list[Any], where: str, taxonomy: Taxonomy | None
) -> dict[int, Segment]:
    """The segment table of one annotation; duplicate or unknown entries raise."""
    segments: dict[int, Segment] = {}
    for info in segments_info:
        try:
            seg_id = int(info["id"])
            category_id = int(info["category_id"])
        except (KeyError, TypeError, ValueError):
            raise FormatError(
                f"{where}: every segments_info entry needs integer 'id' and 'category_id', "
                f"found {info!r}"
            ) from None
        if seg_id in segments:
            raise FormatError(f"{where}: segment id {seg_id} is listed twice in segments_info")
        if seg_id == 0:
            raise FormatError(
                f"{where}: segment id 0 is void and cannot be listed in segments_info"
            )
        if taxonomy is not None and category_id not in taxonomy:
            raise FormatError(
                f"{where}, segment {seg_id}: unknown category_id {category_id}; the JSON's "
                f"categories are {taxonomy._short_ids()}"
            )
        area = info.get("area")
        extra = {k: v for k, v in info.items() if k not in _KNOWN_SEGMENT_KEYS}
        segments[seg_id] = Segment(
            category_id=category_id,
            iscrowd=bool(info.get("iscrowd", 0)),
            attributes=extra,
            declared_area=None if area is None else int(area),
        )
    return segments


_KNOWN_SEGMENT_KEYS = frozenset({"id", "category_id", "iscrowd", "area", "bbox"})


def check_ids(ids: NDArray[Any], segments: Mapping[int, Segment], where: str) -> None:
    """PNG ids and segments_info must list the same segments; name any difference."""
    # Distinct ids from the runs along rows: far fewer values than pixels in a label image.
    present = np.unique(row_runs(ids)[3] if ids.ndim == 2 else ids)
    present_set = {int(v) for v in present if v != 0}
    listed = set(segments)
    problems = []
    for seg_id in sorted(present_set - listed):
        count = int(np.count_nonzero(ids == seg_id))
        problems.append(
            f"segment id {seg_id} occurs in the PNG ({count} pixels) but not in segments_info"
        )
    for seg_id in sorted(listed - present_set):
        problems.append(
            f"segment id {seg_id} (category {segments[seg_id].category_id}) is in "
            "segments_info but not in the PNG"
        )
    if problems:
        raise FormatError(f"{where}: " + "; ".join(problems))


def _label_loader(
    png_path: Path,
    segments: dict[int, Segment],
    taxonomy: Taxonomy | None,
    where: str,
    size: tuple[int, int] | None,
    check: bool,
) -> Any:
    def load() -> PanopticImage:
        ids = read_png_ids(png_path)
        if size is not None and ids.shape != size:
            raise FormatError(
                f"{where}: PNG {png_path.name} is {ids.shape[1]}x{ids.shape[0]} but the JSON "
                f"says {size[1]}x{size[0]}"
            )
        if check:
            check_ids(ids, segments, where)
        return PanopticImage(ids, segments, taxonomy)

    return load


def iter_annotations(data: Mapping[str, Any], json_path: Path) -> Iterator[tuple[Any, str, Any]]:
    """(image_id, PNG file_name, segments_info) of every annotation of a panoptic JSON,
    refusing an annotation without image id or file name, a repeated image and a
    ``segments_info`` that is not a list."""
    seen: set[str] = set()
    for index, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or "image_id" not in ann:
            raise FormatError(f"{json_path}: annotations[{index}] has no 'image_id'")
        image_id = ann["image_id"]
        if str(image_id) in seen:
            raise FormatError(f"{json_path}: image {image_id!r} has two annotations")
        seen.add(str(image_id))
        file_name = ann.get("file_name")
        if not isinstance(file_name, str):
            raise FormatError(f"{json_path}: annotation of image {image_id!r} has no 'file_name'")
        segments_info = ann.get("segments_info")
        if not isinstance(segments_info, (list, np.ndarray)):
            raise FormatError(
                f"{json_path.name}, image {image_id!r} ({file_name}): 'segments_info' must be a list"
            )
        yield image_id, file_name, segments_info


def read(
    path: Path,
    png_dir: str | Path | None = None,
    images_dir: str | Path | None = None,
    taxonomy: Taxonomy | None = None,
    check: bool = True,
) -> PanopticDataset:
    """Open a COCO panoptic JSON (or a folder holding one).

    ``png_dir`` defaults to the JSON path without ``.json``; ``images_dir`` (optional) is
    where ``images[].file_name`` are found.  ``taxonomy`` replaces the JSON's categories
    (predictions usually have none).  With ``check`` every loaded label must list exactly
    the ids present in its PNG.
    """
    json_path = find_json(Path(path))
    data = load_json(json_path)
    json_taxonomy = taxonomy_from_json(data, json_path)
    label_taxonomy = taxonomy or json_taxonomy
    pngs = Path(png_dir) if png_dir is not None else json_path.with_suffix("")
    media_root = Path(images_dir) if images_dir is not None else None
    images: dict[Any, dict[str, Any]] = {}
    for image in data.get("images") or []:
        if not isinstance(image, dict) or "id" not in image:
            raise FormatError(f"{json_path}: every images[] entry needs an 'id', found {image!r}")
        images[image["id"]] = image
    samples: list[Sample] = []
    for image_id, file_name, segments_info in iter_annotations(data, json_path):
        key = str(image_id)
        where = f"{json_path.name}, image {image_id!r} ({file_name})"
        segments = segments_from_info(list(segments_info), where, label_taxonomy)
        info = images.get(image_id, {})
        size = None
        if "height" in info and "width" in info:
            size = (int(info["height"]), int(info["width"]))
        media = None
        if media_root is not None and info.get("file_name"):
            media = media_root / str(info["file_name"])
        png_path = pngs / file_name
        samples.append(
            Sample(
                key=key,
                media=media,
                label_files=(png_path,),
                source_id=image_id,
                meta={"file_name": file_name, "image": info},
                label_loader=_label_loader(png_path, segments, label_taxonomy, where, size, check),
                media_loader=None if media is None else _media_loader(media),
            )
        )
    dataset_taxonomy = label_taxonomy or Taxonomy([], name="(no categories)")
    return PanopticDataset(
        samples,
        dataset_taxonomy,
        format=NAME,
        root=json_path,
        modality="image",
        meta={
            "json_stem": json_path.stem,
            "png_dir": str(pngs),
            "info": data.get("info"),
            "licenses": data.get("licenses"),
        },
    )


# ------------------------------------------------------------------------------ writing
def write_png_ids(ids: NDArray[Any], png_path: Path) -> None:
    """Encode segment ids as an RGB24 PNG."""
    png_path.write_bytes(encode_png(RGB24.encode(ids)))


def annotation_for(label: PanopticImage, image_id: Any, file_name: str) -> dict[str, Any]:
    """The ``annotations[]`` entry of one label with ``area`` and ``bbox`` computed."""
    areas = label.areas()
    boxes = label.bboxes()
    segments_info = []
    for seg_id in sorted(label.segments):
        seg = label.segments[seg_id]
        entry: dict[str, Any] = {
            "id": seg_id,
            "category_id": seg.category_id,
            "iscrowd": int(seg.iscrowd),
            "area": areas.get(seg_id, 0),
            "bbox": list(boxes.get(seg_id, (0, 0, 0, 0))),
        }
        entry.update({k: v for k, v in seg.attributes.items() if k not in entry})
        segments_info.append(entry)
    return {"image_id": image_id, "file_name": file_name, "segments_info": segments_info}


def write(
    dataset: PanopticDataset,
    out: Path,
    name: str | None = None,
    copy_images: bool = False,
) -> None:
    """Write ``out/<name>.json`` and ``out/<name>/*.png`` (name defaults to the source
    JSON's stem, else ``panoptic``).  ``copy_images`` also copies media into
    ``out/images/``."""
    stem = name or str(dataset.meta.get("json_stem") or "panoptic")
    png_dir = out / stem
    png_dir.mkdir(parents=True, exist_ok=True)
    images_out = out / "images"
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    used_names: set[str] = set()
    for sample in dataset:
        label = sample.load_label()
        where = f"sample {sample.key!r}"
        if not isinstance(label, PanopticImage):
            raise FormatError(f"{where}: coco-panoptic holds images; got a {type(label).__name__}")
        label.validate(where=where)
        if label.segments and max(label.segments) > RGB24.max_id:
            label = label.relabeled()
        file_name = _png_name(sample, used_names)
        write_png_ids(label.ids, png_dir / file_name)
        image_id = sample.source_id if sample.source_id is not None else sample.key
        media_name = sample.media.name if sample.media is not None else None
        source_image = sample.meta.get("image") if isinstance(sample.meta, Mapping) else None
        if not media_name and isinstance(source_image, Mapping):
            media_name = source_image.get("file_name")
        entry: dict[str, Any] = {
            "id": image_id,
            "width": label.width,
            "height": label.height,
            "file_name": media_name or file_name.rsplit(".", 1)[0] + ".jpg",
        }
        images.append(entry)
        annotations.append(annotation_for(label, image_id, file_name))
        if copy_images and sample.media is not None:
            images_out.mkdir(exist_ok=True)
            (images_out / sample.media.name).write_bytes(sample.media.read_bytes())
    document: dict[str, Any] = {
        "info": dataset.meta.get("info") or {"description": "written by panokit"},
        "licenses": dataset.meta.get("licenses") or [],
        "images": images,
        "annotations": annotations,
        "categories": dataset.taxonomy.to_list(),
    }
    with (out / f"{stem}.json").open("w") as handle:
        json.dump(document, handle)


def _png_name(sample: Sample, used: set[str]) -> str:
    wanted = sample.meta.get("file_name") if isinstance(sample.meta, Mapping) else None
    if not isinstance(wanted, str) or not wanted.endswith(".png"):
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in sample.key)
        wanted = f"{safe}.png"
    name = Path(wanted).name
    if name in used:
        raise FormatError(f"sample {sample.key!r}: two samples would write the PNG {name}")
    used.add(name)
    return name
