"""BDD100K panoptic segmentation: RGBA bitmask PNGs and the Scalabel JSON with RLE masks.

Bitmasks (``labels/pan_seg/bitmasks/{train,val}/*.png``) are decoded with
:data:`panokit.core.codecs.BDD100K_RGBA`: R = category (0 = unlabeled, stuff 1-30, things
31-40), G = ``truncated<<3 | occluded<<2 | crowd<<1 | ignored``, annotation id = B << 8 | A.
A segment's id is its annotation id; its crowd/ignored/occluded/truncated bits are kept as
``Segment.attributes`` and ``iscrowd`` is ``crowd or ignored`` (as the toolkit's COCO
converter does).  Pixels of category 0 or annotation 0 are void.

Stuff is one segment per category: when a stuff category occurs under several annotation
ids in one image, the regions are merged into one segment whose id is the smallest of them
(the toolkit's own COCO converter mishandles that case, FORMATS.md section 3).

The Scalabel JSON (a list of frames, or ``{"frames": [...]}``) holds per label ``category``
(a name), ``attributes`` and ``rle`` (COCO compressed RLE, decoded with pycocotools, the
``rle`` extra).  Labels are painted in file order (sorted by ``score`` when scores exist),
later labels on top.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from panokit.core.codecs import BDD100K_RGBA
from panokit.core.label import VOID, PanopticImage, Segment
from panokit.core.sample import Sample
from panokit.core.taxonomy import Taxonomy
from panokit.dataset import PanopticDataset
from panokit.errors import FormatError, MissingFileError, TaxonomyError, require
from panokit.eval.protocols import Protocol
from panokit.formats.data.taxonomies import load_taxonomy
from panokit.formats.media import image_loader as _media_loader

NAME = "bdd100k"
DEFAULT_PROTOCOL = "bdd100k"
PROTOCOLS = (
    Protocol(
        "bdd100k",
        "BDD100K toolkit pan_seg: argmax matching, first 100 predictions, crowd/ignore bits, "
        "no void correction",
        accumulator="panokit.eval.bdd100k:BddPQAccumulator",
    ),
)
STUFF_NUM = 30
"""Categories 1-30 are stuff, 31-40 things; a thing's annotation id starts at 31."""
IMAGE_SIZE = (720, 1280)
"""(height, width) of BDD100K images, used for frames that state no size."""
FLAGS = ("truncated", "occluded", "crowd", "ignored")


def taxonomy() -> Taxonomy:
    """The 40 BDD100K panoptic categories (stuff 1-30, things 31-40; 0 = void)."""
    return load_taxonomy("bdd100k")


# ----------------------------------------------------------------------------- sniffing
def _bitmask_dir(path: Path, split: str | None) -> Path:
    """The folder of bitmask PNGs under ``path`` (``bitmasks/<split>`` when present)."""
    for base in (path / "bitmasks", path / "labels" / "pan_seg" / "bitmasks", path):
        if not base.is_dir():
            continue
        splits = sorted(p.name for p in base.iterdir() if p.is_dir() and any(p.glob("*.png")))
        if split is not None:
            if (base / split).is_dir():
                return base / split
            if base is not path or splits:
                raise MissingFileError(
                    f"{base}: no split {split!r}; found splits {splits or '(none)'}"
                )
        if any(base.glob("*.png")):
            return base
        if len(splits) == 1:
            return base / splits[0]
        if len(splits) > 1:
            raise FormatError(
                f"{base} holds several splits {splits}; pass split= one of them or the split folder"
            )
    raise FormatError(f"{path}: no BDD100K bitmask PNGs found (expected bitmasks/<split>/*.png)")


def _is_rgba_png(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            return image.format == "PNG" and image.mode == "RGBA"
    except OSError:
        return False


def _looks_scalabel(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(1 << 16)
    except OSError:
        return False
    return b'"labels"' in head and b'"segments_info"' not in head and b'"name"' in head


def sniff(path: Path) -> bool:
    """A Scalabel JSON, a folder of RGBA bitmask PNGs, or a folder with ``bitmasks/``."""
    if path.is_file():
        return path.suffix == ".json" and _looks_scalabel(path)
    if not path.is_dir():
        return False
    try:
        folder = _bitmask_dir(path, None)
    except (FormatError, OSError):
        # read() opens a folder holding one pan_seg_<split>.json (what write(rle=True) makes)
        json_files = sorted(path.glob("pan_seg_*.json"))
        return len(json_files) == 1 and _looks_scalabel(json_files[0])
    first = next(iter(sorted(folder.glob("*.png"))), None)
    return first is not None and _is_rgba_png(first)


# ------------------------------------------------------------------------ bitmask codec
def _distinct_words(rgba: NDArray[Any]) -> NDArray[np.uint32]:
    """The distinct pixels as uint32 words (R, G low nibble, B, A bytes), found on runs of
    equal neighbours (few) rather than on every pixel."""
    keep = np.frombuffer(bytes([0xFF, 0x0F, 0xFF, 0xFF]), dtype=np.uint32)[0]
    words: NDArray[np.uint32] = np.ascontiguousarray(rgba, dtype=np.uint8).view(np.uint32)
    flat: NDArray[np.uint32] = (words & keep).ravel()
    if flat.size == 0:
        return flat
    change = np.empty(flat.size, dtype=bool)
    change[0] = True
    np.not_equal(flat[1:], flat[:-1], out=change[1:])
    distinct: NDArray[np.uint32] = np.unique(flat[change])
    return distinct


def decode_bitmask(rgba: NDArray[Any], tax: Taxonomy, where: str) -> PanopticImage:
    """Turn an (H, W, 4) BDD100K bitmask into a :class:`PanopticImage`."""
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise FormatError(f"{where}: a BDD100K bitmask is RGBA (H, W, 4); got shape {rgba.shape}")
    distinct = _distinct_words(rgba)
    fields = BDD100K_RGBA.decode(distinct.view(np.uint8).reshape(-1, 4))
    category = fields.category.astype(np.int64)
    annotation = fields.annotation.astype(np.int64)
    known = np.zeros(256, dtype=bool)
    known[[c.id for c in tax if 0 <= c.id < 256]] = True
    known[0] = True
    bad = ~known[category]
    if bad.any():
        values = sorted({int(v) for v in category[bad]})
        count = int(np.isin(rgba[..., 0], values).sum())
        raise FormatError(
            f"{where}: unknown category ids {values} in the R channel ({count} pixels); "
            f"BDD100K panoptic categories are 0-{max(tax.ids)}"
        )
    valid = (category != 0) & (annotation != 0)
    pixel_ann = (rgba[..., 2].astype(np.uint32) << 8) | rgba[..., 3]
    ids = np.where(rgba[..., 0] != 0, pixel_ann, 0).astype(np.uint32)
    if not valid.any():
        return PanopticImage(ids, {}, tax)
    anns = annotation[valid]
    cats = category[valid]
    bits = (
        fields.truncated.astype(np.int64) << 3
        | fields.occluded.astype(np.int64) << 2
        | fields.crowd.astype(np.int64) << 1
        | fields.ignore.astype(np.int64)
    )[valid]
    order = np.argsort(anns, kind="stable")
    anns, cats, bits = anns[order], cats[order], bits[order]
    dup = anns[1:][anns[1:] == anns[:-1]]
    if dup.size:
        ann = int(dup[0])
        mixed_cats = sorted({int(c) for c in cats[anns == ann]})
        mixed_bits = sorted({int(b) for b in bits[anns == ann]})
        raise FormatError(
            f"{where}: annotation id {ann} has mixed categories {mixed_cats} or attribute bits "
            f"{mixed_bits}; every pixel of one annotation must carry the same R and G values"
        )
    segments: dict[int, Segment] = {}
    stuff_owner: dict[int, int] = {}
    remap: dict[int, int] = {}
    for ann, cat, bit in zip(anns.tolist(), cats.tolist(), bits.tolist(), strict=True):
        flags = {name: True for i, name in enumerate(FLAGS) if bit >> (3 - i) & 1}
        if not tax.isthing(cat):
            owner = stuff_owner.setdefault(cat, ann)
            if owner != ann:
                remap[ann] = owner
                continue
        segments[ann] = Segment(
            cat, iscrowd=bool(flags.get("crowd") or flags.get("ignored")), attributes=flags
        )
    if remap:
        table_keys = np.array(sorted(remap), dtype=np.int64)
        table_vals = np.array([remap[k] for k in table_keys.tolist()], dtype=np.uint32)
        pos = np.clip(np.searchsorted(table_keys, ids), 0, len(table_keys) - 1)
        hit = table_keys[pos] == ids
        ids = np.where(hit, table_vals[pos], ids).astype(np.uint32)
    return PanopticImage(ids, segments, tax)


def _flags(segment: Segment) -> dict[str, bool]:
    attrs = segment.attributes
    flags = {name: bool(attrs.get(name, False)) for name in FLAGS}
    if segment.iscrowd and not (flags["crowd"] or flags["ignored"]):
        flags["crowd"] = True
    return flags


def encode_bitmask(label: PanopticImage) -> NDArray[np.uint8]:
    """The (H, W, 4) RGBA bitmask of a label whose categories are BDD100K ids.

    Annotation ids are the segment ids when they fit in 16 bits; otherwise they follow the
    toolkit's rule (stuff = category id, things 31, 32, ... in segment order).
    """
    seg_ids = sorted(label.segments)
    if seg_ids and max(seg_ids) > 0xFFFF:
        ann_of: dict[int, int] = {}
        next_thing = STUFF_NUM
        for seg_id in seg_ids:
            cat = label.segments[seg_id].category_id
            if cat <= STUFF_NUM:
                ann_of[seg_id] = cat
            else:
                next_thing += 1
                ann_of[seg_id] = next_thing
    else:
        ann_of = {s: s for s in seg_ids}
    table = np.array([VOID, *seg_ids], dtype=np.int64)
    n = len(table)
    columns = np.zeros((6, n), dtype=np.int64)
    for i, seg_id in enumerate(seg_ids, start=1):
        seg = label.segments[seg_id]
        flags = _flags(seg)
        columns[:, i] = (
            seg.category_id,
            ann_of[seg_id],
            flags["truncated"],
            flags["occluded"],
            flags["crowd"],
            flags["ignored"],
        )
    pos = np.clip(np.searchsorted(table, label.ids), 0, n - 1)
    pos = np.where(table[pos] == label.ids, pos, 0)
    c = columns[:, pos]
    return BDD100K_RGBA.encode(c[0], c[1], c[2], c[3], c[4], c[5])


def read_bitmask(png_path: Path, tax: Taxonomy | None = None) -> PanopticImage:
    """Decode one bitmask PNG."""
    try:
        with Image.open(png_path) as image:
            if image.mode != "RGBA":
                raise FormatError(
                    f"{png_path}: a BDD100K bitmask must be an RGBA PNG, found mode {image.mode}"
                )
            rgba = np.asarray(image)
    except FileNotFoundError:
        raise MissingFileError(f"BDD100K bitmask not found: {png_path}") from None
    except OSError as exc:
        raise FormatError(f"{png_path}: cannot decode PNG ({exc})") from None
    return decode_bitmask(rgba, tax or taxonomy(), str(png_path))


# ----------------------------------------------------------------------------------- RLE
def _mask_api() -> Any:
    return require("pycocotools.mask", "rle", "BDD100K RLE masks")


def _frames(data: Any, json_path: Path) -> list[dict[str, Any]]:
    frames = data.get("frames") if isinstance(data, dict) else data
    if not isinstance(frames, list) or not all(isinstance(f, dict) for f in frames):
        raise FormatError(
            f"{json_path}: expected a Scalabel list of frames or {{'frames': [...]}}, "
            f"found {type(data).__name__}"
        )
    return frames


def _frame_size(frame: Mapping[str, Any]) -> tuple[int, int] | None:
    size = frame.get("size")
    if isinstance(size, Mapping) and "height" in size and "width" in size:
        return int(size["height"]), int(size["width"])
    for lab in frame.get("labels") or []:
        rle = lab.get("rle") if isinstance(lab, Mapping) else None
        if isinstance(rle, Mapping) and isinstance(rle.get("size"), list):
            h, w = rle["size"]
            return int(h), int(w)
    return None


def _segment_numbers(labels: list[Mapping[str, Any]]) -> list[int]:
    """Segment ids of a frame's labels: their ``id`` when all are distinct positive ints."""
    try:
        numbers = [int(str(lab.get("id"))) for lab in labels]
    except ValueError:
        numbers = []
    distinct = len(numbers) == len(labels) and len(set(numbers)) == len(numbers)
    if distinct and all(0 < n <= 0xFFFFFFFF for n in numbers):
        return numbers
    return list(range(1, len(labels) + 1))


def decode_frame(
    frame: Mapping[str, Any], tax: Taxonomy, where: str, default_size: tuple[int, int]
) -> PanopticImage:
    """Paint one Scalabel frame's labels (RLE masks, else poly2d) into a :class:`PanopticImage`."""
    labels = [lab for lab in frame.get("labels") or [] if isinstance(lab, Mapping)]
    if labels and labels[0].get("score") is not None:
        labels = sorted(labels, key=lambda lab: float(lab.get("score") or 0.0))
    height, width = _frame_size(frame) or default_size
    ids = np.zeros((height, width), dtype=np.uint32)
    segments: dict[int, Segment] = {}
    stuff_owner: dict[int, int] = {}
    numbers = _segment_numbers(labels)
    for lab, seg_id in zip(labels, numbers, strict=True):
        name = lab.get("category")
        what = f"{where}, label {lab.get('id', seg_id)!r}"
        try:
            cat = tax.by_name(str(name))
        except TaxonomyError as exc:
            raise FormatError(f"{what}: {exc}") from None
        pixels = _label_pixels(lab, height, width, what)
        attrs = lab.get("attributes") or {}
        flags = {n: True for n in FLAGS if bool(attrs.get(n, False))}
        target = seg_id
        if not cat.isthing:
            target = stuff_owner.setdefault(cat.id, seg_id)
        ids[pixels] = target
        if target == seg_id:
            segments[seg_id] = Segment(
                cat.id, iscrowd=bool(flags.get("crowd") or flags.get("ignored")), attributes=flags
            )
    present = set(np.unique(ids).tolist())
    segments = {k: v for k, v in segments.items() if k in present}
    return PanopticImage(ids, segments, tax)


def _label_pixels(lab: Mapping[str, Any], height: int, width: int, what: str) -> NDArray[np.bool_]:
    """The mask of one Scalabel label from its ``rle`` or, failing that, its ``poly2d``."""
    rle = lab.get("rle")
    if isinstance(rle, Mapping) and "counts" in rle and "size" in rle:
        if [int(v) for v in rle["size"]] != [height, width]:
            raise FormatError(
                f"{what}: RLE size {list(rle['size'])} differs from the frame's {[height, width]}"
            )
        counts = rle["counts"]
        encoded = {
            "size": [height, width],
            "counts": counts.encode() if isinstance(counts, str) else counts,
        }
        try:
            decoded = _mask_api().decode(encoded)
        except (TypeError, ValueError) as exc:
            raise FormatError(f"{what}: undecodable RLE ({exc})") from None
        return np.asarray(decoded).astype(bool)
    polys = lab.get("poly2d")
    if isinstance(polys, list) and polys:
        return poly2d_mask(polys, height, width, what)
    raise FormatError(f"{what}: no 'rle' mask (counts, size) and no 'poly2d'")


def _flatten(
    vertices: list[tuple[float, float]], types: str, closed: bool
) -> list[tuple[float, float]]:
    """Polyline of a Scalabel poly2d: "L" vertices joined by lines, "CC" pairs are the control
    points of a cubic Bezier curve to the next vertex (sampled at 16 steps)."""
    n = len(vertices)
    points = [vertices[0]]
    i = 1
    while i < n + (1 if closed else 0):
        if types[i % n] == "C" and i + 2 <= n + (1 if closed else 0) and types[(i + 1) % n] == "C":
            p0, p1, p2 = points[-1], vertices[i % n], vertices[(i + 1) % n]
            p3 = vertices[(i + 2) % n]
            for step in range(1, 17):
                t = step / 16
                a, b, c, d = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3
                points.append(
                    (
                        a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0],
                        a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1],
                    )
                )
            i += 3
        else:
            points.append(vertices[i % n])
            i += 1
    return points


def fill_polygon(points: list[tuple[float, float]], height: int, width: int) -> NDArray[np.bool_]:
    """Pixels whose centre (x + 0.5, y + 0.5) lies inside the polygon (even-odd rule)."""
    out = np.zeros((height, width), dtype=bool)
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) < 3:
        return out
    x0, y0 = pts[:, 0], pts[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    top = max(0, int(np.floor(y0.min() - 0.5)))
    bottom = min(height, int(np.ceil(y0.max() + 0.5)))
    if bottom <= top:
        return out
    centres = np.arange(top, bottom, dtype=np.float64)[:, None] + 0.5
    crossing = (y0 <= centres) != (y1 <= centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        xs = x0 + (centres - y0) * (x1 - x0) / (y1 - y0)
    for row, (hit, at) in enumerate(zip(crossing, xs, strict=True)):
        cuts = np.sort(at[hit])
        for a, b in zip(cuts[0::2], cuts[1::2], strict=False):
            first = max(0, int(np.ceil(a - 0.5)))
            last = min(width, int(np.ceil(b - 0.5)))
            if last > first:
                out[top + row, first:last] ^= True
    return out


def poly2d_mask(
    polys: list[Any], height: int, width: int, what: str = "poly2d"
) -> NDArray[np.bool_]:
    """Rasterise Scalabel ``poly2d`` entries: closed ones fill the pixels whose centre is
    inside (vertices in pixel-corner coordinates, pixel x spans [x, x + 1]); open ones are
    drawn as 1 px lines.  Compared with the toolkit's matplotlib rendering, only pixels cut
    by an edge may differ."""
    mask = np.zeros((height, width), dtype=bool)
    lines = Image.new("1", (width, height), 0)
    draw = ImageDraw.Draw(lines)
    for poly in polys:
        try:
            vertices = [(float(x), float(y)) for x, y in poly["vertices"]]
            types = str(poly.get("types") or "L" * len(vertices))
            closed = bool(poly.get("closed", True))
        except (KeyError, TypeError, ValueError):
            raise FormatError(f"{what}: poly2d needs 'vertices' [[x, y], ...]") from None
        if len(types) != len(vertices):
            raise FormatError(f"{what}: poly2d has {len(vertices)} vertices but {len(types)} types")
        for (x, y), kind in zip(vertices, types, strict=True):
            # on-curve vertices only: a Bezier control point ("C") may lie outside
            if kind != "C" and not (-1.0 <= x <= width + 1.0 and -1.0 <= y <= height + 1.0):
                raise FormatError(
                    f"{what}: poly2d vertex ({x:g}, {y:g}) lies outside the {width}x{height} image"
                )
        if len(vertices) < 2:
            continue
        path = _flatten(vertices, types, closed)
        if closed and len(path) >= 3:
            mask |= fill_polygon(path, height, width)
        else:
            draw.line([(x - 0.5, y - 0.5) for x, y in path], fill=1, width=1)
    mask |= np.asarray(lines).astype(bool)
    return mask


def encode_frame(label: PanopticImage, name: str) -> dict[str, Any]:
    """One Scalabel frame with an RLE mask per segment."""
    mask_api = _mask_api()
    tax = label.taxonomy or taxonomy()
    labels: list[dict[str, Any]] = []
    for index, seg_id in enumerate(sorted(label.segments)):
        seg = label.segments[seg_id]
        pixels = np.asfortranarray((label.ids == seg_id).astype(np.uint8))
        rle = mask_api.encode(pixels)
        counts = rle["counts"]
        labels.append(
            {
                "id": str(seg_id),
                "index": index,
                "category": tax[seg.category_id].name,
                "attributes": {k: v for k, v in _flags(seg).items() if v},
                "rle": {
                    "counts": counts.decode() if isinstance(counts, bytes) else counts,
                    "size": [label.height, label.width],
                },
            }
        )
    return {
        "name": name,
        "size": {"width": label.width, "height": label.height},
        "labels": labels,
    }


# ------------------------------------------------------------------------------ reading
def _media_guess(bitmask_dir: Path, images_dir: Path | None) -> Path | None:
    if images_dir is not None:
        return images_dir
    parts = bitmask_dir.resolve().parts
    if len(parts) >= 5 and parts[-4:-1] == ("labels", "pan_seg", "bitmasks"):
        candidate = Path(*parts[:-4]) / "images" / "10k" / parts[-1]
        if candidate.is_dir():
            return candidate
    return None


def _bitmask_loader(png: Path, tax: Taxonomy) -> Callable[[], PanopticImage]:
    return lambda: read_bitmask(png, tax)


def _frame_loader(
    frame: Mapping[str, Any], tax: Taxonomy, where: str
) -> Callable[[], PanopticImage]:
    return lambda: decode_frame(frame, tax, where, IMAGE_SIZE)


def read(
    path: Path,
    split: str | None = None,
    images_dir: str | Path | None = None,
) -> PanopticDataset:
    """Open BDD100K panoptic labels.

    ``path`` is a Scalabel JSON (RLE masks), a folder of bitmask PNGs, or a folder holding
    ``bitmasks/<split>/`` (``split`` picks one when there are several).  ``images_dir`` is
    where ``<name>.jpg`` are found (guessed from the official layout when omitted).
    """
    path = Path(path)
    tax = taxonomy()
    media_root = Path(images_dir) if images_dir is not None else None
    samples: list[Sample] = []
    if path.is_file():
        try:
            data = json.loads(path.read_bytes())
        except json.JSONDecodeError as exc:
            raise FormatError(
                f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            ) from None
        for index, frame in enumerate(_frames(data, path)):
            name = frame.get("name")
            if not isinstance(name, str):
                raise FormatError(f"{path}: frames[{index}] has no 'name'")
            key = Path(name).stem
            where = f"{path.name}, frame {name!r}"
            media = media_root / name if media_root is not None else None
            samples.append(
                Sample(
                    key=key,
                    media=media,
                    label_files=(path,),
                    source_id=name,
                    meta={"name": name},
                    label_loader=_frame_loader(frame, tax, where),
                    media_loader=None if media is None else _media_loader(media),
                )
            )
        return PanopticDataset(
            samples, tax, format=NAME, root=path, modality="image", meta={"source": "rle"}
        )
    try:
        folder = _bitmask_dir(path, split)
    except FormatError:
        json_files = sorted(path.glob("pan_seg_*.json")) if path.is_dir() else []
        if len(json_files) == 1:
            return read(json_files[0], images_dir=images_dir)
        raise
    media_dir = _media_guess(folder, media_root)
    for png in sorted(folder.glob("*.png")):
        media = media_dir / f"{png.stem}.jpg" if media_dir is not None else None
        samples.append(
            Sample(
                key=png.stem,
                media=media,
                label_files=(png,),
                source_id=f"{png.stem}.jpg",
                meta={"name": f"{png.stem}.jpg", "file_name": png.name},
                label_loader=_bitmask_loader(png, tax),
                media_loader=None if media is None else _media_loader(media),
            )
        )
    return PanopticDataset(
        samples,
        tax,
        format=NAME,
        root=folder,
        modality="image",
        meta={
            "source": "bitmasks",
            "split": folder.name if folder.parent.name == "bitmasks" else split,
        },
    )


def read_pair(
    gt_path: Path, pred_path: Path, split: str | None = None, **options: Any
) -> tuple[PanopticDataset, PanopticDataset]:
    """Ground truth and predictions (bitmask folders or Scalabel JSON files)."""
    return read(Path(gt_path), split=split, **options), read(Path(pred_path), split=split)


# ------------------------------------------------------------------------------ writing
def check_categories(label: PanopticImage, tax: Taxonomy, where: str, fmt: str) -> None:
    """Every category of ``label`` must be the same-named category of ``tax``."""
    source = label.taxonomy
    for seg_id in sorted(label.segments):
        cid = label.segments[seg_id].category_id
        cat = tax.get(cid)
        mine = source.get(cid) if source is not None else None
        if cat is None or (mine is not None and mine.name.lower() != cat.name.lower()):
            found = f"{cid} ({mine.name})" if mine is not None else str(cid)
            expected = f"{cat.name!r}" if cat is not None else "no category"
            raise FormatError(
                f"{where}, segment {seg_id}: category {found} is {expected} in {fmt}; map the "
                f"labels onto the {fmt} categories first (panokit convert --map FILE)"
            )


def write(
    dataset: PanopticDataset,
    out: Path,
    split: str | None = None,
    rle: bool = False,
    bitmasks: bool = True,
) -> None:
    """Write ``out/bitmasks/[<split>/]<key>.png`` and, with ``rle``, the Scalabel JSON
    ``out/pan_seg_<split or 'labels'>.json`` with RLE masks."""
    tax = taxonomy()
    split = split or (
        dataset.meta.get("split") if isinstance(dataset.meta.get("split"), str) else None
    )
    png_dir = out / "bitmasks" / split if split else out / "bitmasks"
    if bitmasks:
        png_dir.mkdir(parents=True, exist_ok=True)
    frames: list[dict[str, Any]] = []
    used: set[str] = set()
    for sample in dataset:
        label = sample.load_label()
        where = f"sample {sample.key!r}"
        if not isinstance(label, PanopticImage):
            raise FormatError(f"{where}: bdd100k holds images; got a {type(label).__name__}")
        label.validate(where=where)
        check_categories(label, tax, where, NAME)
        label = PanopticImage(label.ids, label.segments, tax)
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in sample.key)
        if stem in used:
            raise FormatError(f"{where}: two samples would write {stem}.png")
        used.add(stem)
        if bitmasks:
            Image.fromarray(encode_bitmask(label)).save(png_dir / f"{stem}.png", compress_level=1)
        if rle:
            name = sample.meta.get("name") if isinstance(sample.meta, Mapping) else None
            frames.append(encode_frame(label, name if isinstance(name, str) else f"{stem}.jpg"))
    if rle:
        with (out / f"pan_seg_{split or 'labels'}.json").open("w") as handle:
            json.dump(frames, handle)
