"""A deterministic synthetic panoptic generator: ground truth and a perturbed prediction.

Used by ``panokit demo``, the tests and the benchmarks; anyone may use it to make data.
Every image is a function of ``(seed, index)`` only, so any subset can be regenerated
independently and in any order.

The categories are twelve Cityscapes labels (same ids, names and colors), so the data
converts to the ``cityscapes`` format.  Ground truth: wavy bands of *stuff* (sky, building,
vegetation, terrain, sidewalk, road), void rectangles, ellipses of *things* (person, car,
bicycle, truck) and crowd regions (two crowd regions of one class in every 7th image).
The prediction is made from the ground truth with errors a real model makes: a small shift
of the whole map, missed, split, merged and re-classed things, spurious things (also of
``rider``, a class that never occurs in the ground truth), terrain always predicted as
vegetation (a class never predicted), predictions on void, detections inside crowd
regions, and (every 50th image, ``index % 50 == 17``) an image with no predicted segment
at all.  ``train`` is in the taxonomy but occurs in neither.  Segment ids are random
24-bit values (all three RGB channels are used).  String image ids look like Cityscapes
ones (``synth_000003_000019``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from panokit.core.codecs import RGB24
from panokit.core.label import PanopticImage, Segment
from panokit.core.sample import Sample
from panokit.core.taxonomy import Category, Taxonomy
from panokit.dataset import PanopticDataset

THINGS = {24: "person", 26: "car", 33: "bicycle", 27: "truck", 25: "rider", 31: "train"}
STUFF = {23: "sky", 11: "building", 21: "vegetation", 22: "terrain", 8: "sidewalk", 7: "road"}
_COLORS = {
    24: (220, 20, 60),
    26: (0, 0, 142),
    33: (119, 11, 32),
    27: (0, 0, 70),
    25: (255, 0, 0),
    31: (0, 80, 100),
    23: (70, 130, 180),
    11: (70, 70, 70),
    21: (107, 142, 35),
    22: (152, 251, 152),
    8: (244, 35, 232),
    7: (128, 64, 128),
}
_GT_THINGS = (24, 26, 33, 27)
_EMPTY_PREDICTION_EVERY = 50
_EMPTY_PREDICTION_AT = 17


def synthetic_taxonomy() -> Taxonomy:
    """The 12 categories of the synthetic data (6 things, 6 stuff; Cityscapes label ids)."""
    cats = [Category(i, n, True, _COLORS[i]) for i, n in THINGS.items()]
    cats += [Category(i, n, False, _COLORS[i]) for i, n in STUFF.items()]
    return Taxonomy(cats, name="synthetic")


@dataclass
class _Segments:
    """Compact segment table under construction: index i -> (category, iscrowd)."""

    cats: list[int]
    crowd: list[bool]

    def add(self, cat: int, iscrowd: bool = False) -> int:
        self.cats.append(cat)
        self.crowd.append(iscrowd)
        return len(self.cats) - 1


def _ellipse(
    canvas: NDArray[np.int32], cy: int, cx: int, ry: int, rx: int, value: int
) -> NDArray[np.bool_]:
    """Paint a filled ellipse; returns the painted mask of the canvas window."""
    h, w = canvas.shape
    y0, y1 = max(0, cy - ry), min(h, cy + ry + 1)
    x0, x1 = max(0, cx - rx), min(w, cx + rx + 1)
    yy, xx = np.ogrid[y0:y1, x0:x1]
    inside = ((yy - cy) / max(ry, 1)) ** 2 + ((xx - cx) / max(rx, 1)) ** 2 <= 1.0
    canvas[y0:y1, x0:x1][inside] = value
    return inside


def _random_ids(rng: np.random.Generator, count: int) -> NDArray[np.int64]:
    """``count`` distinct random segment ids in 1 .. 2**24 - 1."""
    ids: NDArray[np.int64] = np.zeros(0, dtype=np.int64)
    while len(ids) < count:
        more = rng.integers(1, 1 << 24, size=2 * count + 4, dtype=np.int64)
        ids = np.concatenate([ids, more])
        _, first = np.unique(ids, return_index=True)
        ids = ids[np.sort(first)]
    return ids[:count]


def _finish(
    index_map: NDArray[np.int32], table: _Segments, rng: np.random.Generator, taxonomy: Taxonomy
) -> PanopticImage:
    """Turn a compact index map (-1 = void) into a PanopticImage with random ids, keeping
    only segments that occur, listed in a shuffled order (crowd order matters).  Each
    Segment carries its exact area as ``declared_area`` and its box as
    ``attributes["bbox"]`` (COCO ``[x, y, width, height]``)."""
    h, w = index_map.shape
    k = len(table.cats) + 1
    shifted = index_map + 1
    per_row = np.bincount((shifted + (np.arange(h) * k)[:, None]).ravel(), minlength=h * k)
    per_row = per_row.reshape(h, k)
    per_col = np.bincount((shifted + (np.arange(w) * k)[None, :]).ravel(), minlength=w * k)
    per_col = per_col.reshape(w, k)
    counts = per_row.sum(axis=0)[1:]
    present = np.flatnonzero(counts)
    new_ids = _random_ids(rng, len(present))
    lut = np.zeros(k, dtype=np.uint32)
    lut[present + 1] = new_ids.astype(np.uint32)
    ids = lut[shifted]
    segments: dict[int, Segment] = {}
    for j in rng.permutation(len(present)).tolist():
        c = int(present[j])
        rows = np.flatnonzero(per_row[:, c + 1])
        cols = np.flatnonzero(per_col[:, c + 1])
        box = [int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)]
        segments[int(new_ids[j])] = Segment(
            table.cats[c],
            iscrowd=table.crowd[c],
            attributes={"bbox": box},
            declared_area=int(counts[c]),
        )
    return PanopticImage(ids, segments, taxonomy)


def make_pair(
    index: int,
    seed: int = 0,
    height: int = 512,
    width: int = 1024,
    taxonomy: Taxonomy | None = None,
) -> tuple[PanopticImage, PanopticImage]:
    """Ground truth and prediction of synthetic image ``index`` (deterministic)."""
    tax = taxonomy or synthetic_taxonomy()
    rng = np.random.default_rng([seed, index])
    h, w = height, width
    scale = min(h / 512.0, w / 1024.0)
    table = _Segments([], [])

    # --- stuff: wavy horizontal bands
    n_bands = int(rng.integers(3, 6))
    choices = [(23,), (11, 21), (21, 22, 11), (8, 22), (7,)]
    band_cats = [int(rng.choice(choices[min(b * 5 // n_bands, 4)])) for b in range(n_bands)]
    stuff_index = {c: table.add(c) for c in dict.fromkeys(band_cats)}
    xs = np.arange(w)
    rows = np.arange(h)[:, None]
    band = np.zeros((h, w), dtype=np.int32)
    for b in range(1, n_bands):
        base = h * b / n_bands
        amp = rng.uniform(0.02, 0.08) * h
        boundary = base + amp * np.sin(xs * rng.uniform(0.004, 0.03) + rng.uniform(0, 6.3))
        band += (rows >= boundary[None, :]).astype(np.int32)
    band_lut = np.array([stuff_index[c] for c in band_cats], dtype=np.int32)
    full = band_lut[band]
    stuff_of_pixel = full.copy()

    # --- things (later ones occlude earlier ones) and crowd regions
    thing_info: list[tuple[int, int, int, int, int]] = []  # index, cy, cx, ry, rx
    for _ in range(int(rng.integers(3, 22))):
        cat = int(rng.choice(_GT_THINGS))
        ry = max(2, int(rng.uniform(6, 70) * scale))
        rx = max(2, int(ry * rng.uniform(0.4, 2.0)))
        cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
        k = table.add(cat)
        _ellipse(full, cy, cx, ry, rx, k)
        thing_info.append((k, cy, cx, ry, rx))
    crowd_regions: list[tuple[int, int, int, int, int]] = []
    n_crowd = 2 if index % 7 == 3 else int(rng.integers(0, 2))
    crowd_cat = int(rng.choice((24, 26)))
    for _ in range(n_crowd):
        k = table.add(crowd_cat, iscrowd=True)
        y0, x0 = int(rng.integers(0, h - h // 8)), int(rng.integers(0, w - w // 6))
        ch, cw = int(rng.integers(h // 16, h // 6)), int(rng.integers(w // 16, w // 5))
        full[y0 : y0 + ch, x0 : x0 + cw] = k
        crowd_regions.append((k, y0, x0, ch, cw))

    # --- void rectangles (some of them also void in the prediction)
    gt_map = full.copy()
    void_rects = []
    for _ in range(int(rng.integers(1, 4))):
        y0, x0 = int(rng.integers(0, h - 8)), int(rng.integers(0, w - 8))
        vh, vw = int(rng.integers(4, h // 5)), int(rng.integers(4, w // 5))
        gt_map[y0 : y0 + vh, x0 : x0 + vw] = -1
        void_rects.append((y0, x0, vh, vw))
    gt_map[h - max(1, h // 32) :, :] = -1  # ego-vehicle strip
    gt = _finish(gt_map, table, rng, tax)

    # --- prediction
    pred_table = _Segments([], [])
    lut = np.full(len(table.cats), -2, dtype=np.int32)  # -2: take the stuff underneath
    for c, k in stuff_index.items():
        pc = 21 if c == 22 else c  # terrain is never predicted
        existing = [i for i, cat in enumerate(pred_table.cats) if cat == pc]
        lut[k] = existing[0] if existing else pred_table.add(pc)
    stuff_lut = lut.copy()
    merged_into: dict[int, int] = {}
    for k, _cy, _cx, _ry, _rx in thing_info:
        roll = rng.random()
        cat = table.cats[k]
        if roll < 0.12:
            continue  # missed
        if roll < 0.2 and cat in merged_into:
            lut[k] = merged_into[cat]  # merged with an earlier instance of its class
            continue
        if roll < 0.27:
            cat = int(rng.choice([c for c in _GT_THINGS if c != cat]))  # wrong class
        lut[k] = pred_table.add(cat)
        merged_into[table.cats[k]] = int(lut[k])
    for k, *_ in crowd_regions:
        if rng.random() < 0.5:
            lut[k] = pred_table.add(table.cats[k])  # the crowd predicted as one segment
    pred_map = np.where(lut[full] == -2, stuff_lut[stuff_of_pixel], lut[full])
    # split some things in two along a vertical line
    for k, cy, cx, ry, rx in thing_info:
        if lut[k] >= 0 and rng.random() < 0.1:
            y0, y1 = max(0, cy - ry), min(h, cy + ry + 1)
            x_cut = min(w, max(0, cx + int(rng.integers(-rx // 2, rx // 2 + 1))))
            window = pred_map[y0:y1, x_cut : min(w, cx + rx + 1)]
            window[window == lut[k]] = pred_table.add(pred_table.cats[int(lut[k])])
    # detections inside crowd regions
    for _k, y0, x0, ch, cw in crowd_regions:
        if rng.random() < 0.7:
            _ellipse(
                pred_map,
                y0 + ch // 2,
                x0 + cw // 2,
                max(2, ch // 4),
                max(2, cw // 4),
                pred_table.add(crowd_cat),
            )
    # spurious things, riders included
    for _ in range(int(rng.integers(0, 4))):
        cat = int(rng.choice((24, 26, 33, 27, 25)))
        ry = max(2, int(rng.uniform(4, 30) * scale))
        cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
        _ellipse(pred_map, cy, cx, ry, max(2, int(ry * rng.uniform(0.5, 1.5))), pred_table.add(cat))
    # a small shift of everything
    dy, dx = int(rng.integers(-3, 4)), int(rng.integers(-4, 5))
    pred_map = np.roll(pred_map, (dy, dx), axis=(0, 1))
    for y0, x0, vh, vw in void_rects:
        if rng.random() < 0.5:
            pred_map[y0 : y0 + vh, x0 : x0 + vw] = -1
    if index % _EMPTY_PREDICTION_EVERY == _EMPTY_PREDICTION_AT:
        pred_map[:] = -1
    pred = _finish(pred_map.astype(np.int32), pred_table, rng, tax)
    return gt, pred


def synthetic_datasets(
    n: int,
    seed: int = 0,
    height: int = 512,
    width: int = 1024,
    string_ids: bool = False,
) -> tuple[PanopticDataset, PanopticDataset]:
    """In-memory ground truth and prediction datasets of ``n`` images, generated lazily
    (each label is made when loaded)."""
    tax = synthetic_taxonomy()
    gts: list[Sample] = []
    preds: list[Sample] = []
    for i in range(n):
        source: int | str = _image_id(i, string_ids)

        def load_gt(i: int = i) -> PanopticImage:
            return make_pair(i, seed, height, width, tax)[0]

        def load_pred(i: int = i) -> PanopticImage:
            return make_pair(i, seed, height, width, tax)[1]

        gts.append(Sample(str(source), source_id=source, label_loader=load_gt))
        preds.append(Sample(str(source), source_id=source, label_loader=load_pred))
    return (
        PanopticDataset(gts, tax, format="synthetic"),
        PanopticDataset(preds, tax, format="synthetic"),
    )


def _image_id(index: int, string_ids: bool) -> int | str:
    return f"synth_{index:06d}_000019" if string_ids else index + 1


def _segments_info(label: PanopticImage) -> list[dict[str, Any]]:
    """``segments_info`` (area and bbox as :func:`_finish` recorded them), in listing order."""
    areas = None
    out = []
    for seg_id, seg in label.segments.items():
        area, box = seg.declared_area, seg.attributes.get("bbox")
        if area is None or box is None:  # pragma: no cover - labels not made here
            areas = areas or label.areas()
            area, box = areas.get(seg_id, 0), list(label.bbox(seg_id))
        out.append(
            {
                "id": seg_id,
                "category_id": seg.category_id,
                "iscrowd": int(seg.iscrowd),
                "area": int(area),
                "bbox": list(box),
            }
        )
    return out


def _save_png(ids: NDArray[Any], path: Path, compress_level: int) -> None:
    from PIL import Image

    Image.fromarray(RGB24.encode(ids)).save(path, compress_level=compress_level)


def write_coco_pair(
    out: str | Path,
    n: int,
    seed: int = 0,
    height: int = 512,
    width: int = 1024,
    string_ids: bool = False,
    gt_name: str = "gt",
    pred_name: str = "pred",
    indices: Sequence[int] | None = None,
    compress_level: int = 1,
) -> tuple[Path, Path]:
    """Write ground truth and prediction as COCO panoptic (``out/gt.json`` + ``out/gt/``,
    ``out/pred.json`` + ``out/pred/``); returns the two JSON paths.

    The prediction JSON has no ``categories`` (as predictions usually have none) and its
    annotations are listed in reverse order.  ``indices`` picks which synthetic images to
    write (default ``range(n)``); ``compress_level`` is the PNG zlib level (0 is fastest
    to write and read, 1 is the default, close to real data).
    """
    root = Path(out)
    tax = synthetic_taxonomy()
    docs: dict[str, dict[str, Any]] = {}
    for name in (gt_name, pred_name):
        (root / name).mkdir(parents=True, exist_ok=True)
        docs[name] = {"images": [], "annotations": []}
    for i in indices if indices is not None else range(n):
        image_id = _image_id(i, string_ids)
        stem = str(image_id)
        pair = make_pair(i, seed, height, width, tax)
        for name, label in zip((gt_name, pred_name), pair, strict=True):
            _save_png(label.ids, root / name / f"{stem}.png", compress_level)
            docs[name]["images"].append(
                {"id": image_id, "width": width, "height": height, "file_name": f"{stem}.jpg"}
            )
            docs[name]["annotations"].append(
                {
                    "image_id": image_id,
                    "file_name": f"{stem}.png",
                    "segments_info": _segments_info(label),
                }
            )
    docs[gt_name]["categories"] = tax.to_list()
    docs[pred_name]["annotations"].reverse()
    paths = []
    for name in (gt_name, pred_name):
        path = root / f"{name}.json"
        path.write_text(json.dumps(docs[name]))
        paths.append(path)
    return paths[0], paths[1]


__all__ = [
    "STUFF",
    "THINGS",
    "make_pair",
    "synthetic_datasets",
    "synthetic_taxonomy",
    "write_coco_pair",
]
