"""Synthetic street scenes with panoptic ground truth, for tests, demos and benchmarks.

The scenes are made so that superpixels do *not* trivially follow the labels: stuff regions
are textured (building windows, lane marks, foliage noise), objects have noisy outlines and
internal parts of other colours, every segment is shaded, the whole image is blurred (soft
boundaries) and carries sensor noise.  Deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from panokit.core import Category, PanopticImage, Taxonomy
from panokit.errors import LabelError, require

STREET_TAXONOMY = Taxonomy(
    [
        Category(1, "road", False, (128, 64, 128)),
        Category(2, "sidewalk", False, (244, 35, 232)),
        Category(3, "building", False, (70, 70, 70)),
        Category(4, "vegetation", False, (107, 142, 35)),
        Category(5, "sky", False, (70, 130, 180)),
        Category(6, "terrain", False, (152, 251, 152)),
        Category(11, "person", True, (220, 20, 60)),
        Category(12, "car", True, (0, 0, 142)),
        Category(13, "sign", True, (220, 220, 0)),
    ],
    name="synthetic-street",
)

_BASE = {
    1: (92, 90, 96),
    2: (150, 140, 135),
    3: (140, 110, 90),
    4: (60, 110, 40),
    5: (150, 185, 225),
    6: (120, 140, 70),
    11: (90, 60, 70),
    12: (40, 70, 140),
    13: (200, 180, 40),
}


@dataclass(frozen=True)
class SyntheticScene:
    """An image (H, W, 3) uint8 and its panoptic ground truth."""

    image: NDArray[np.uint8]
    label: PanopticImage


def _smooth_noise(
    rng: np.random.Generator, shape: tuple[int, int], sigma: float
) -> NDArray[np.float32]:
    from scipy import ndimage

    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    std = float(field.std()) or 1.0
    return np.asarray(field / std, dtype=np.float32)


def _jagged(
    mask: NDArray[np.bool_], rng: np.random.Generator, amp: float, sigma: float
) -> NDArray[np.bool_]:
    """Perturb a mask's outline by ``amp`` pixels of smooth noise (works in a crop)."""
    from scipy import ndimage

    if not mask.any() or amp <= 0:
        return mask
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    pad = int(3 * amp) + 2
    y0, y1 = max(rows[0] - pad, 0), min(rows[-1] + pad + 1, mask.shape[0])
    x0, x1 = max(cols[0] - pad, 0), min(cols[-1] + pad + 1, mask.shape[1])
    crop = mask[y0:y1, x0:x1]
    signed = ndimage.distance_transform_edt(crop) - ndimage.distance_transform_edt(~crop)
    noise = _smooth_noise(rng, crop.shape, sigma)
    out = mask.copy()
    out[y0:y1, x0:x1] = (signed + amp * noise) > 0
    return out


def _ellipse(h: int, w: int, cy: float, cx: float, ry: float, rx: float) -> NDArray[np.bool_]:
    y, x = np.ogrid[:h, :w]
    return ((y - cy) / max(ry, 0.5)) ** 2 + ((x - cx) / max(rx, 0.5)) ** 2 <= 1.0


def _rect(h: int, w: int, y0: float, y1: float, x0: float, x1: float) -> NDArray[np.bool_]:
    y, x = np.ogrid[:h, :w]
    return (y >= y0) & (y < y1) & (x >= x0) & (x < x1)


def street_scene(
    height: int = 512, width: int = 1024, seed: int = 0, objects: int = 14
) -> SyntheticScene:
    """One synthetic street scene with about ``objects`` thing instances."""
    if height < 32 or width < 32:
        raise LabelError(f"a synthetic scene needs at least 32x32 pixels, got {height}x{width}")
    require("scipy", "annotate", "synthetic scenes")
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    h, w = height, width
    sem = np.zeros((h, w), dtype=np.int64)
    inst = np.zeros((h, w), dtype=np.int64)
    yy, xx = np.mgrid[:h, :w]
    horizon = h * (0.42 + 0.06 * rng.random())
    sem[:] = 5
    # buildings: a skyline of blocks between sky_line and the horizon
    x = 0
    while x < w:
        bw = int(w * (0.08 + 0.15 * rng.random()))
        top = horizon - h * (0.12 + 0.3 * rng.random())
        block = _rect(h, w, top, horizon + 2, x, x + bw)
        sem[_jagged(block, rng, 1.5, 2.0)] = 3
        x += bw + int(rng.integers(0, max(2, w // 30)))
    # vegetation: blobs along the horizon
    veg_field = _smooth_noise(rng, (h, w), 12.0)
    veg_zone = (yy > horizon - 0.22 * h) & (yy < horizon + 0.04 * h)
    sem[veg_zone & (veg_field > 0.6)] = 4
    # ground: road in the middle, sidewalks and terrain at the sides
    vanish = w * (0.4 + 0.2 * rng.random())
    below = yy >= horizon
    t = np.clip((yy - horizon) / max(h - horizon, 1), 0, 1)
    left = vanish - t * w * 0.75
    right = vanish + t * w * 0.75
    sem[below] = 6
    sidewalk = below & (xx > left - t * w * 0.18) & (xx < right + t * w * 0.18)
    sem[_jagged(sidewalk, rng, 2.0, 3.0) & below] = 2
    road = below & (xx > left) & (xx < right)
    sem[_jagged(road, rng, 1.0, 2.0) & below] = 1

    # things, far (near the horizon) first so near ones occlude them
    placed: list[tuple[float, int]] = []
    for _ in range(objects):
        placed.append(
            (horizon + (h - horizon) * rng.random() ** 0.8, int(rng.choice([11, 12, 12, 13])))
        )
    placed.sort()
    next_inst = 1
    parts: list[tuple[NDArray[np.bool_], int]] = []
    for foot, cat in placed:
        scale = 0.15 + 0.85 * (foot - horizon) / max(h - horizon, 1)
        cx = float(rng.uniform(0.05, 0.95) * w)
        if cat == 12:
            cw, ch = 0.16 * w * scale, 0.09 * w * scale
            body = _rect(h, w, foot - ch * 0.55, foot, cx - cw / 2, cx + cw / 2)
            cabin = _rect(h, w, foot - ch, foot - ch * 0.5, cx - cw * 0.3, cx + cw * 0.28)
            shape = body | cabin
            shape = ndimage.binary_opening(shape, iterations=max(1, int(2 * scale))) | cabin
            wheel_r = max(1.5, ch * 0.16)
            for wx in (cx - cw * 0.3, cx + cw * 0.3):
                parts.append(
                    (_ellipse(h, w, foot - wheel_r * 0.6, wx, wheel_r, wheel_r), next_inst)
                )
            window = _rect(h, w, foot - ch * 0.93, foot - ch * 0.6, cx - cw * 0.25, cx + cw * 0.22)
            parts.append((window, -next_inst))
        elif cat == 11:
            ph = 0.12 * h * scale + 6
            shape = _ellipse(h, w, foot - ph * 0.45, cx, ph * 0.38, ph * 0.12)
            shape |= _ellipse(h, w, foot - ph * 0.88, cx, ph * 0.09, ph * 0.07)
            legs = _rect(h, w, foot - ph * 0.3, foot, cx - ph * 0.08, cx + ph * 0.08)
            shape |= legs
        else:
            ph = 0.2 * h * scale + 8
            pole = _rect(
                h, w, foot - ph, foot, cx - max(1.0, ph * 0.015), cx + max(1.0, ph * 0.015)
            )
            plate = _rect(h, w, foot - ph, foot - ph * 0.75, cx - ph * 0.12, cx + ph * 0.12)
            shape = pole | plate
        shape = _jagged(shape, rng, 1.2 + 1.5 * scale, 1.5)
        if shape.sum() < 12:
            continue
        sem[shape] = cat
        inst[shape] = next_inst
        next_inst += 1

    label = PanopticImage.from_semantic_instance(sem, inst, STREET_TAXONOMY)
    image = _render(label, sem, inst, parts, rng)
    return SyntheticScene(image=image, label=label)


def _render(
    label: PanopticImage,
    sem: NDArray[np.int64],
    inst: NDArray[np.int64],
    parts: list[tuple[NDArray[np.bool_], int]],
    rng: np.random.Generator,
) -> NDArray[np.uint8]:
    from scipy import ndimage

    h, w = sem.shape
    ids = label.ids.astype(np.int64)
    k = int(ids.max()) + 1
    base = np.zeros((k, 3), dtype=np.float32)
    tex = np.zeros(k, dtype=np.float32)
    shade = np.zeros((k, 3), dtype=np.float32)
    for seg_id, seg in label.segments.items():
        jitter = rng.normal(0, 18 if STREET_TAXONOMY.isthing(seg.category_id) else 8, 3)
        if seg.category_id == 12:
            jitter = rng.uniform(-40, 110, 3)
        base[seg_id] = np.clip(np.array(_BASE[seg.category_id]) + jitter, 10, 245)
        tex[seg_id] = {4: 0.22, 6: 0.14, 3: 0.08, 1: 0.05}.get(seg.category_id, 0.06)
        shade[seg_id] = (rng.uniform(-0.35, 0.35), rng.uniform(-0.35, 0.35), rng.uniform(0.8, 1.1))
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    yn, xn = yy / h - 0.5, xx / w - 0.5
    fine = _smooth_noise(rng, (h, w), 1.0)
    mid = _smooth_noise(rng, (h, w), 4.0)
    coarse = _smooth_noise(rng, (h, w), 16.0)
    s = shade[ids]
    factor = s[..., 2] + s[..., 0] * yn + s[..., 1] * xn
    t = tex[ids]
    texture = 1.0 + t * (0.6 * fine + 0.8 * mid) + 0.05 * coarse
    img = base[ids] * (factor * texture)[..., None]
    # building windows: a darker grid inside buildings
    windows = (
        ((yy.astype(np.int64) // 7) % 3 == 0) & ((xx.astype(np.int64) // 6) % 3 == 0) & (sem == 3)
    )
    img[windows] *= 0.55
    # lane marks on the road
    lane = (
        (sem == 1)
        & (np.abs(xx - w * 0.5 - (yy - h) * 0.2) < 1 + yy / h * 3)
        & ((yy.astype(np.int64) // 12) % 2 == 0)
    )
    img[lane] = np.array([225, 225, 215], dtype=np.float32)
    # object parts (wheels dark, windows bright) of another colour than the body
    for mask, owner in parts:
        own = mask & (inst == abs(owner)) & (sem >= 11)
        img[own] = np.array([25, 25, 30] if owner > 0 else [170, 200, 220], dtype=np.float32)
    # global light, soft boundaries, sensor noise
    img *= (1.05 - 0.25 * (xn + 0.5) * (yn + 0.5))[..., None]
    for ch in range(3):
        img[..., ch] = ndimage.gaussian_filter(img[..., ch], 1.2)
    img += rng.normal(0, 6.0, img.shape).astype(np.float32)
    return np.asarray(np.clip(np.round(img), 0, 255), dtype=np.uint8)
