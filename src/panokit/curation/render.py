"""Pictures of panoptic labels: overlays on images, bird's-eye and range views of scans.

Colours: a stuff segment gets its category colour; a thing instance gets the category
colour jittered by up to +-40 per channel, the jitter drawn from a generator seeded by the
segment id, so the same instance has the same colour in every picture.  Segment outlines
are drawn in white, and a legend lists the categories present.  Only numpy and Pillow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from panokit.core.label import VOID, PanopticLabel, PanopticPointCloud
from panokit.core.sample import Sample
from panokit.errors import MissingFileError, PanokitError

Color = tuple[int, int, int]
JITTER = 40
VOID_COLOR: Color = (0, 0, 0)
OUTLINE_COLOR: Color = (255, 255, 255)


def _fallback_color(category_id: int) -> Color:
    return ((category_id * 37) % 256, (category_id * 91) % 256, (category_id * 151) % 256)


def segment_colors(label: PanopticLabel) -> dict[int, Color]:
    """Colour of every segment of ``label`` (deterministic; see the module doc)."""
    taxonomy = label.taxonomy
    out: dict[int, Color] = {}
    for seg_id, seg in label.segments.items():
        cat = taxonomy.get(seg.category_id) if taxonomy is not None else None
        base = cat.color if cat is not None else _fallback_color(seg.category_id)
        thing = cat.isthing if cat is not None else True
        if not thing:
            out[seg_id] = (int(base[0]), int(base[1]), int(base[2]))
            continue
        jitter = np.random.default_rng(seg_id).integers(-JITTER, JITTER + 1, 3)
        rgb = np.clip(np.asarray(base, dtype=np.int64) + jitter, 0, 255)
        out[seg_id] = (int(rgb[0]), int(rgb[1]), int(rgb[2]))
    return out


def colorize(label: PanopticLabel, colors: dict[int, Color] | None = None) -> NDArray[np.uint8]:
    """(..., 3) uint8 colours of ``label.ids`` (void black; ids without a segment grey)."""
    colors = colors if colors is not None else segment_colors(label)
    table_ids = np.array([VOID, *sorted(colors)], dtype=np.int64)
    table = np.array([VOID_COLOR, *(colors[s] for s in table_ids[1:])], dtype=np.uint8)
    pos = np.clip(np.searchsorted(table_ids, label.ids), 0, len(table_ids) - 1)
    known = table_ids[pos] == label.ids
    out = table[pos]
    out[~known] = (128, 128, 128)
    return np.asarray(out)


def outlines(ids: NDArray[Any]) -> NDArray[np.bool_]:
    """(H, W) True on pixels whose right or lower neighbour has another segment id."""
    edge = np.zeros(ids.shape, dtype=bool)
    edge[:, :-1] |= ids[:, 1:] != ids[:, :-1]
    edge[:-1, :] |= ids[1:, :] != ids[:-1, :]
    return edge


def _as_rgb(image: NDArray[Any]) -> NDArray[np.uint8]:
    arr = np.asarray(image)
    if arr.ndim == 4:  # (T, C, H, W) series: its mean frame in true colour
        from panokit.curation.features import series_frame

        arr = series_frame(arr)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3:
        raise PanokitError(f"cannot draw an image of shape {arr.shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    arr = arr[:, :, :3]
    if arr.dtype != np.uint8:
        low, high = np.percentile(arr, [1, 99]) if arr.size else (0.0, 1.0)
        span = high - low if high > low else 1.0
        arr = (np.clip((arr - low) / span, 0, 1) * 255).astype(np.uint8)
    return np.asarray(arr)


def overlay(
    label: PanopticLabel,
    image: NDArray[Any] | None = None,
    alpha: float = 0.5,
    outline: bool = True,
) -> NDArray[np.uint8]:
    """(H, W, 3) picture of an image label, blended over ``image`` when given."""
    if label.ids.ndim != 2:
        raise PanokitError(f"an overlay needs an (H, W) label, got shape {label.ids.shape}")
    colored = colorize(label).astype(np.float64)
    if image is not None:
        rgb = _as_rgb(image)
        if rgb.shape[:2] != label.ids.shape:
            raise PanokitError(
                f"image is {rgb.shape[1]}x{rgb.shape[0]} but the label is "
                f"{label.ids.shape[1]}x{label.ids.shape[0]}"
            )
        painted = label.ids != VOID
        blend = np.where(painted[:, :, None], alpha, 0.0)
        colored = rgb * (1 - blend) + colored * blend
    out = colored.round().astype(np.uint8)
    if outline:
        out[outlines(label.ids)] = OUTLINE_COLOR
    return out


def legend_entries(label: PanopticLabel) -> list[tuple[str, Color, int]]:
    """(name, category colour, segment count) of each category present, in taxonomy order
    (unknown categories last, by id)."""
    counts: dict[int, int] = {}
    for seg in label.segments.values():
        counts[seg.category_id] = counts.get(seg.category_id, 0) + 1
    taxonomy = label.taxonomy
    order = [c.id for c in taxonomy] if taxonomy is not None else []
    rank = {cid: i for i, cid in enumerate(order)}
    entries = []
    for cid in sorted(counts, key=lambda c: (rank.get(c, len(rank)), c)):
        cat = taxonomy.get(cid) if taxonomy is not None else None
        name = cat.name if cat is not None else str(cid)
        color = cat.color if cat is not None else _fallback_color(cid)
        entries.append((name, (int(color[0]), int(color[1]), int(color[2])), counts[cid]))
    return entries


def with_legend(
    picture: NDArray[np.uint8], entries: Sequence[tuple[str, Color, int]]
) -> Image.Image:
    """The picture with a legend column on its right."""
    font = ImageFont.load_default()
    row = 14
    width = 170
    height = max(picture.shape[0], row * len(entries) + 8)
    canvas = Image.new("RGB", (picture.shape[1] + width, height), (32, 32, 32))
    canvas.paste(Image.fromarray(picture), (0, 0))
    draw = ImageDraw.Draw(canvas)
    x = picture.shape[1] + 6
    for i, (name, color, count) in enumerate(entries):
        y = 4 + i * row
        draw.rectangle((x, y, x + 10, y + 10), fill=color, outline=(255, 255, 255))
        text = f"{name} ({count})" if count > 1 else name
        draw.text((x + 16, y - 1), text[:26], fill=(235, 235, 235), font=font)
    return canvas


def _xyz(label: PanopticPointCloud, points: NDArray[Any] | None) -> NDArray[np.float64]:
    pts = points if points is not None else label.points
    if pts is None:
        raise PanokitError(
            "a point cloud picture needs the points (x, y, z); this label carries none"
        )
    pts = np.asarray(pts)
    channels = [c.lower() for c in label.channels] if points is None else []
    if all(c in channels for c in ("x", "y", "z")):
        cols = [channels.index(c) for c in ("x", "y", "z")]
    elif pts.ndim == 2 and pts.shape[1] >= 3:
        cols = [0, 1, 2]
    else:
        raise PanokitError(f"points of shape {pts.shape} have no x, y, z columns")
    if pts.shape[0] != label.ids.shape[0]:
        raise PanokitError(f"{pts.shape[0]} points for a label of {label.ids.shape[0]} points")
    return np.asarray(pts[:, cols], dtype=np.float64)


def birds_eye(
    label: PanopticPointCloud,
    points: NDArray[Any] | None = None,
    size: int = 512,
    extent: float | None = None,
) -> NDArray[np.uint8]:
    """(size, size, 3) top view: x to the right, y up, the highest point of each cell
    drawn; ``extent`` is the half-width in metres (default: the 98th percentile of |x|, |y|)."""
    xyz = _xyz(label, points)
    colors = colorize(label)
    out = np.zeros((size, size, 3), dtype=np.uint8)
    if xyz.shape[0] == 0:
        return out
    half = extent or float(np.percentile(np.abs(xyz[:, :2]), 98)) or 1.0
    col = np.floor((xyz[:, 0] + half) / (2 * half) * size).astype(np.int64)
    row = np.floor((half - xyz[:, 1]) / (2 * half) * size).astype(np.int64)
    inside = (col >= 0) & (col < size) & (row >= 0) & (row < size)
    order = np.argsort(xyz[inside, 2], kind="stable")  # low first, the top one wins
    r, c, rgb = row[inside][order], col[inside][order], colors[inside][order]
    unlabeled = label.ids[inside][order] == VOID
    rgb = np.where(unlabeled[:, None], np.uint8(90), rgb)
    out[r, c] = rgb
    return out


def range_image(
    label: PanopticPointCloud,
    points: NDArray[Any] | None = None,
    rows: int = 64,
    cols: int = 1024,
    fov_up: float = 3.0,
    fov_down: float = -25.0,
) -> NDArray[np.uint8]:
    """(rows, cols, 3) spherical projection (azimuth across, elevation down; the vertical
    field of view in degrees as SemanticKITTI's HDL-64E); the nearest point of each cell
    is drawn."""
    xyz = _xyz(label, points)
    colors = colorize(label)
    out = np.zeros((rows, cols, 3), dtype=np.uint8)
    if xyz.shape[0] == 0:
        return out
    depth = np.linalg.norm(xyz, axis=1)
    ok = depth > 0
    yaw = -np.arctan2(xyz[ok, 1], xyz[ok, 0])
    pitch = np.arcsin(np.clip(xyz[ok, 2] / depth[ok], -1, 1))
    up, down = np.radians(fov_up), np.radians(fov_down)
    u = np.floor(0.5 * (yaw / np.pi + 1.0) * cols).astype(np.int64).clip(0, cols - 1)
    v = np.floor((1.0 - (pitch - down) / (up - down)) * rows).astype(np.int64).clip(0, rows - 1)
    order = np.argsort(-depth[ok], kind="stable")  # far first, the nearest wins
    rgb = colors[ok][order]
    unlabeled = label.ids[ok][order] == VOID
    out[v[order], u[order]] = np.where(unlabeled[:, None], np.uint8(90), rgb)
    return out


def render_sample(sample: Sample, alpha: float = 0.5) -> dict[str, Image.Image]:
    """Pictures of one sample, by view name: ``overlay`` for an image label (the label alone
    when the sample has no media), ``bev`` and ``range`` for a point cloud."""
    label = sample.load_label()
    entries = legend_entries(label)
    if isinstance(label, PanopticPointCloud):
        points = None
        if label.points is None and sample.media_loader is not None:
            try:
                points = np.asarray(sample.load_media())
            except MissingFileError as exc:
                raise PanokitError(f"sample {sample.key!r}: no points to draw: {exc}") from None
        if label.points is None and points is None:
            raise PanokitError(
                f"sample {sample.key!r}: a point cloud picture needs the points (x, y, z) but "
                "neither the label nor a scan file gives them"
            )
        return {
            "bev": with_legend(birds_eye(label, points), entries),
            "range": with_legend(range_image(label, points), entries),
        }
    image = None
    if sample.media_loader is not None:
        try:
            image = sample.load_media()
        except MissingFileError:
            image = None  # draw the label alone
    if label.ids.ndim != 2:
        raise PanokitError(f"sample {sample.key!r}: cannot draw a label of shape {label.ids.shape}")
    return {"overlay": with_legend(overlay(label, image, alpha=alpha), entries)}
