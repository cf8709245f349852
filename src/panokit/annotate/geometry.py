"""Exact rasterisation rules shared by the edit operations (and re-implemented by the web tool).

Coordinates are ``(x, y)`` with pixel (row ``r``, column ``c``) centred at ``(x=c, y=r)``.

* **Disk / brush stroke**: a pixel is covered when the Euclidean distance from its centre to the
  stroke's polyline (the segments joining consecutive path points; a single point is a disk)
  is ``<= radius``.
* **Polygon** (even-odd rule, half-open in y): edge ``(x0, y0) -> (x1, y1)`` crosses the
  horizontal line through ``py`` when ``min(y0, y1) <= py < max(y0, y1)``, at
  ``xc = x0 + (py - y0) * (x1 - x0) / (y1 - y0)``.  A point ``(px, py)`` is inside when the
  number of crossings with ``xc > px`` is odd.  The polygon closes itself (last vertex joins
  the first).  A pixel is inside when its centre is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from panokit.errors import LabelError

Point2 = tuple[float, float]


def _as_points(points: Sequence[Sequence[float]], what: str) -> NDArray[np.float64]:
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) == 0:
        raise LabelError(f"{what} must be a non-empty list of (x, y) pairs, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise LabelError(f"{what} holds NaN or infinite coordinates")
    return arr


def stroke_index(
    shape: tuple[int, int], path: Sequence[Sequence[float]], radius: float
) -> NDArray[np.int64]:
    """Sorted flat indices of the pixels within ``radius`` of the polyline ``path``."""
    h, w = shape
    pts = _as_points(path, "a brush path")
    if not np.isfinite(radius) or radius < 0:
        raise LabelError(f"a brush radius must be >= 0, got {radius}")
    a = pts if len(pts) == 1 else pts[:-1]
    b = pts if len(pts) == 1 else pts[1:]
    if len(a) <= 64:
        canvas = np.zeros((h, w), dtype=bool)
        any_hit = False
        for (ax, ay), (bx, by) in zip(a.tolist(), b.tolist(), strict=True):
            x0 = max(int(np.floor(min(ax, bx) - radius)), 0)
            x1 = min(int(np.ceil(max(ax, bx) + radius)), w - 1)
            y0 = max(int(np.floor(min(ay, by) - radius)), 0)
            y1 = min(int(np.ceil(max(ay, by) + radius)), h - 1)
            if x0 > x1 or y0 > y1:
                continue
            ys = np.arange(y0, y1 + 1, dtype=np.float64)[:, None]
            xs = np.arange(x0, x1 + 1, dtype=np.float64)[None, :]
            inside = _segment_dist2(xs, ys, ax, ay, bx, by) <= radius * radius
            canvas[y0 : y1 + 1, x0 : x1 + 1] |= inside
            any_hit = True
        if not any_hit:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(canvas.ravel()).astype(np.int64)
    # many short segments: stamp candidates around samples, then test exactly per segment
    step = max(1.0, float(radius))
    reach = radius + step / 2 + 1.0
    span = int(np.ceil(reach))
    oy, ox = np.mgrid[-span : span + 1, -span : span + 1]
    keep = oy * oy + ox * ox <= reach * reach
    oy, ox = oy[keep].ravel(), ox[keep].ravel()
    seg_len = np.hypot(b[:, 0] - a[:, 0], b[:, 1] - a[:, 1])
    n_samples = np.ceil(seg_len / step).astype(np.int64) + 1
    seg_of = np.repeat(np.arange(len(a)), n_samples)
    starts = np.cumsum(n_samples) - n_samples
    frac = (np.arange(len(seg_of)) - starts[seg_of]) / np.maximum(n_samples[seg_of] - 1, 1)
    sx = a[seg_of, 0] + frac * (b[seg_of, 0] - a[seg_of, 0])
    sy = a[seg_of, 1] + frac * (b[seg_of, 1] - a[seg_of, 1])
    cx = (np.round(sx).astype(np.int64)[:, None] + ox[None, :]).ravel()
    cy = (np.round(sy).astype(np.int64)[:, None] + oy[None, :]).ravel()
    cs = np.repeat(seg_of, len(ox))
    ok = (cx >= 0) & (cx < w) & (cy >= 0) & (cy < h)
    cx, cy, cs = cx[ok], cy[ok], cs[ok]
    d2 = _segment_dist2(
        cx.astype(np.float64), cy.astype(np.float64), a[cs, 0], a[cs, 1], b[cs, 0], b[cs, 1]
    )
    hits = np.zeros(h * w, dtype=bool)
    hits[(cy * w + cx)[d2 <= radius * radius]] = True
    return np.flatnonzero(hits).astype(np.int64)


def _segment_dist2(
    px: NDArray[np.float64] | float,
    py: NDArray[np.float64] | float,
    ax: NDArray[np.float64] | float,
    ay: NDArray[np.float64] | float,
    bx: NDArray[np.float64] | float,
    by: NDArray[np.float64] | float,
) -> NDArray[np.float64]:
    """Squared distance from points to segments (broadcasting)."""
    dx = np.subtract(bx, ax)
    dy = np.subtract(by, ay)
    len2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        t = ((np.subtract(px, ax)) * dx + (np.subtract(py, ay)) * dy) / len2
    t = np.where(len2 > 0, np.clip(t, 0.0, 1.0), 0.0)
    ex = np.subtract(px, ax) - t * dx
    ey = np.subtract(py, ay) - t * dy
    return np.asarray(ex * ex + ey * ey, dtype=np.float64)


def polygon_index(shape: tuple[int, int], vertices: Sequence[Sequence[float]]) -> NDArray[np.int64]:
    """Sorted flat indices of the pixels whose centres are inside the polygon (module rule)."""
    h, w = shape
    v = _as_points(vertices, "polygon vertices")
    if len(v) < 3:
        return np.zeros(0, dtype=np.int64)
    x0, y0 = v[:, 0], v[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    r0 = max(int(np.ceil(v[:, 1].min())), 0)
    r1 = min(int(np.floor(v[:, 1].max())), h - 1)
    if r0 > r1:
        return np.zeros(0, dtype=np.int64)
    rows = np.arange(r0, r1 + 1, dtype=np.float64)[:, None]
    lo, hi = np.minimum(y0, y1), np.maximum(y0, y1)
    crosses = (lo <= rows) & (rows < hi)
    with np.errstate(invalid="ignore", divide="ignore"):
        xc = x0 + (rows - y0) * (x1 - x0) / (y1 - y0)
    xs = np.sort(np.where(crosses, xc, np.inf), axis=1)
    starts, ends = xs[:, 0::2], xs[:, 1::2]
    if ends.shape[1] < starts.shape[1]:
        starts = starts[:, : ends.shape[1]]
    valid = np.isfinite(ends)
    row_of = np.broadcast_to(np.arange(r0, r1 + 1)[:, None], starts.shape)[valid]
    c0 = np.maximum(np.ceil(starts[valid]), 0).astype(np.int64)
    c1 = np.minimum(np.ceil(ends[valid]) - 1, w - 1).astype(np.int64)
    n = np.maximum(c1 - c0 + 1, 0)
    total = int(n.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    first = np.repeat(row_of * w + c0 - (np.cumsum(n) - n), n)
    return first + np.arange(total, dtype=np.int64)


def points_in_polygon(
    px: NDArray[np.float64], py: NDArray[np.float64], vertices: Sequence[Sequence[float]]
) -> NDArray[np.bool_]:
    """Which points ``(px, py)`` lie inside the polygon (module rule)."""
    v = _as_points(vertices, "polygon vertices")
    inside = np.zeros(np.shape(px), dtype=bool)
    if len(v) < 3:
        return inside
    n = len(v)
    for i in range(n):
        x0, y0 = float(v[i, 0]), float(v[i, 1])
        x1, y1 = float(v[(i + 1) % n, 0]), float(v[(i + 1) % n, 1])
        if y0 == y1:
            continue
        lo, hi = min(y0, y1), max(y0, y1)
        cand = (lo <= py) & (py < hi)
        xc = x0 + (py - y0) * (x1 - x0) / (y1 - y0)
        inside ^= cand & (xc > px)
    return inside
