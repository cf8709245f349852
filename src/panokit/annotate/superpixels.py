"""Superpixel hierarchies of images and their quality against a ground truth.

:func:`build_superpixel_hierarchy` makes the fine over-segmentation with a watershed of the
colour gradient from a regular grid of seeds (each seed moved to the weakest gradient of its
3x3 neighbourhood), so region borders sit on image edges; it then merges adjacent regions
greedily with Ward's criterion on the mean colour plus the mean colour step across their
shared border.  The result is stored as one fine label map plus the merge table
(:class:`SuperpixelHierarchy`), so a level is one lookup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from panokit.annotate._hierarchy import RegionHierarchy, agglomerate, geometric_levels
from panokit.errors import FormatError, LabelError, require


class SuperpixelHierarchy(RegionHierarchy):
    """Nested superpixels of an (H, W) image: ``fine`` (H, W) int32 + merge table + levels.

    ``levels`` holds region counts from coarse (level 0) to fine (the last level).
    """

    kind = "superpixels"

    def __init__(self, fine: NDArray[Any], merges: NDArray[Any], levels: Sequence[int]) -> None:
        super().__init__(fine, merges, levels)
        if self.fine.ndim != 2:
            raise LabelError(f"superpixels need a fine map of shape (H, W), got {self.fine.shape}")

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the image."""
        return (int(self.fine.shape[0]), int(self.fine.shape[1]))

    def region_at(self, level: int, y: int, x: int) -> int:
        """The region at ``level`` that holds pixel (row ``y``, column ``x``)."""
        h, w = self.shape
        if not (0 <= y < h and 0 <= x < w):
            raise LabelError(f"pixel (y={y}, x={x}) lies outside the {h}x{w} image")
        return int(self.lut(level)[self.fine[y, x]])

    def boundary_mask(self, level: int) -> NDArray[np.bool_]:
        """Pixels whose right or lower neighbour lies in another region at ``level`` (for
        drawing region outlines)."""
        return _boundaries(self.level_map(level))


def _as_float_image(image: NDArray[Any]) -> NDArray[np.float32]:
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise FormatError(f"an image must have shape (H, W, 3) or (H, W), got {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise FormatError(f"the image is empty (shape {arr.shape})")
    if arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.dtype == np.uint8:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise FormatError("the image holds NaN or infinite values")
        scale = 255.0 if float(arr.max(initial=0.0)) <= 1.0 else 1.0
        return (arr * scale).astype(np.float32)
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.float32)
    raise FormatError(f"an image must be uint8 or float, got dtype {arr.dtype}")


def build_superpixel_hierarchy(
    image: NDArray[Any],
    n_fine: int = 5000,
    coarsest: int = 30,
    num_levels: int = 7,
    smoothing: float = 1.0,
    edge_weight: float = 4.0,
) -> SuperpixelHierarchy:
    """Compute the superpixel hierarchy of an (H, W, 3) image (uint8 or float in [0, 1]).

    ``n_fine`` is the target number of fine regions, ``coarsest`` the region count of the
    coarsest level, ``num_levels`` how many levels (spaced geometrically) to keep,
    ``smoothing`` the Gaussian sigma applied before the gradient, ``edge_weight`` how much the
    colour step across a shared border counts against a merge, relative to the difference of
    the mean colours.  Deterministic.
    """
    if n_fine < 1 or coarsest < 1 or num_levels < 1:
        raise LabelError(
            f"n_fine, coarsest and num_levels must be >= 1, got {n_fine}, {coarsest}, {num_levels}"
        )
    img = _as_float_image(image)
    require("scipy", "annotate", "superpixels")
    require("skimage", "annotate", "superpixels")
    from scipy import ndimage
    from skimage.segmentation import watershed

    h, w, c = img.shape
    smooth = np.empty_like(img)
    for ch in range(c):
        if smoothing > 0:
            ndimage.gaussian_filter(img[:, :, ch], smoothing, output=smooth[:, :, ch])
        else:
            smooth[:, :, ch] = img[:, :, ch]
    grad = np.zeros((h, w), dtype=np.float32)
    tmp = np.empty((h, w), dtype=np.float32)
    for ch in range(c):
        ndimage.sobel(smooth[:, :, ch], axis=0, output=tmp)
        grad += tmp * tmp
        ndimage.sobel(smooth[:, :, ch], axis=1, output=tmp)
        grad += tmp * tmp
    np.sqrt(grad, out=grad)

    fine = _watershed_fine(grad, n_fine, watershed)
    k = int(fine.max()) + 1
    flat = fine.ravel()
    counts = np.bincount(flat, minlength=k).astype(np.float64)
    means = (
        np.stack(
            [np.bincount(flat, weights=smooth[:, :, ch].ravel(), minlength=k) for ch in range(c)],
            axis=1,
        )
        / counts[:, None]
    )

    keys_list: list[NDArray[np.int64]] = []
    steps_list: list[NDArray[np.float64]] = []
    for a, b, ca, cb in (
        (fine[:, :-1], fine[:, 1:], smooth[:, :-1], smooth[:, 1:]),
        (fine[:-1, :], fine[1:, :], smooth[:-1, :], smooth[1:, :]),
    ):
        border = a != b
        la = a[border].astype(np.int64)
        lb = b[border].astype(np.int64)
        step = np.sqrt(((ca[border] - cb[border]) ** 2).sum(axis=1)).astype(np.float64)
        keys_list.append(np.minimum(la, lb) * k + np.maximum(la, lb))
        steps_list.append(step)
    keys = np.concatenate(keys_list)
    steps = np.concatenate(steps_list)
    uniq, inverse = np.unique(keys, return_inverse=True)
    length = np.bincount(inverse, minlength=len(uniq)).astype(np.float64)
    strength = np.asarray(
        np.bincount(inverse, weights=steps, minlength=len(uniq)), dtype=np.float64
    )
    edges = np.stack([uniq // k, uniq % k], axis=1)
    merges = agglomerate(means, counts, edges, length, strength, coarsest, edge_weight)
    levels = geometric_levels(k, coarsest, num_levels, reachable=k - len(merges))
    return SuperpixelHierarchy(fine, merges, levels)


def _watershed_fine(grad: NDArray[np.float32], n_fine: int, watershed: Any) -> NDArray[np.int32]:
    """Watershed of ``grad`` from a grid of about ``n_fine`` seeds; ids 0..K-1."""
    h, w = grad.shape
    step = max(1.0, float(np.sqrt(h * w / max(n_fine, 1))))
    ny = max(1, round(h / step))
    nx = max(1, round(w / step))
    ys = np.minimum(((np.arange(ny) + 0.5) * h / ny).astype(np.int64), h - 1)
    xs = np.minimum(((np.arange(nx) + 0.5) * w / nx).astype(np.int64), w - 1)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    yy = yy.ravel()
    xx = xx.ravel()
    if step >= 3:
        best = grad[yy, xx].copy()
        by, bx = yy.copy(), xx.copy()
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                cy = np.clip(yy + dy, 0, h - 1)
                cx = np.clip(xx + dx, 0, w - 1)
                g = grad[cy, cx]
                better = g < best
                best = np.where(better, g, best)
                by = np.where(better, cy, by)
                bx = np.where(better, cx, bx)
        yy, xx = by, bx
    markers = np.zeros((h, w), dtype=np.int32)
    markers[yy, xx] = np.arange(1, len(yy) + 1, dtype=np.int32)
    labels = np.asarray(watershed(grad, markers), dtype=np.int64)
    present = np.zeros(len(yy) + 2, dtype=bool)
    present[labels.ravel()] = True
    remap = np.cumsum(present) - 1
    return remap[labels].astype(np.int32)


# ------------------------------------------------------------------------- quality


@dataclass(frozen=True)
class LevelQuality:
    """Quality of one level against a ground truth."""

    level: int
    regions: int
    boundary_recall: float
    undersegmentation_error: float
    achievable_accuracy: float


def _check_same_shape(regions: NDArray[Any], gt_ids: NDArray[Any]) -> None:
    if regions.shape != gt_ids.shape:
        raise LabelError(
            f"regions have shape {regions.shape} but the ground-truth label has {gt_ids.shape}; "
            "they must be the same size"
        )


def _boundaries(ids: NDArray[Any]) -> NDArray[np.bool_]:
    """Pixels whose right or lower neighbour has another id."""
    edge = np.zeros(ids.shape, dtype=bool)
    edge[:, :-1] |= ids[:, :-1] != ids[:, 1:]
    edge[:-1, :] |= ids[:-1, :] != ids[1:, :]
    return edge


def boundary_recall(regions: NDArray[Any], gt_ids: NDArray[Any], tolerance: int = 2) -> float:
    """Share of ground-truth boundary pixels within ``tolerance`` pixels (chessboard
    distance) of a region boundary.  Boundary pixels are those whose right or lower
    neighbour differs.  1.0 when the ground truth has no boundary."""
    _check_same_shape(regions, gt_ids)
    from scipy import ndimage

    gt_edge = _boundaries(gt_ids)
    total = int(gt_edge.sum())
    if total == 0:
        return 1.0
    sp_edge = _boundaries(regions)
    if tolerance > 0:
        sp_edge = ndimage.maximum_filter(sp_edge.view(np.uint8), size=2 * tolerance + 1) > 0
    return float(np.count_nonzero(gt_edge & sp_edge)) / total


def _contingency(regions: NDArray[Any], gt_ids: NDArray[Any]) -> tuple[NDArray[np.int64], int]:
    keep = gt_ids.ravel() != 0
    r = regions.ravel()[keep].astype(np.int64)
    _, g = np.unique(gt_ids.ravel()[keep], return_inverse=True)
    g = g.astype(np.int64).ravel()
    nr = int(r.max()) + 1 if r.size else 1
    ng = int(g.max()) + 1 if g.size else 1
    table = np.bincount(r * ng + g, minlength=nr * ng).reshape(nr, ng)
    return table, int(keep.sum())


def undersegmentation_error(regions: NDArray[Any], gt_ids: NDArray[Any]) -> float:
    """Under-segmentation error (Neubert & Protzel's form): for every ground-truth segment
    and every region touching it, the smaller of the region's part inside and outside the
    segment, summed and divided by the number of labelled pixels.  Ground-truth id 0 (void)
    is left out.  0 is perfect."""
    _check_same_shape(regions, gt_ids)
    table, n = _contingency(regions, gt_ids)
    if n == 0:
        return 0.0
    size = table.sum(axis=1, keepdims=True)
    return float(np.minimum(table, size - table).sum()) / n


def achievable_accuracy(regions: NDArray[Any], gt_ids: NDArray[Any]) -> float:
    """Best pixel accuracy reachable by giving each region its majority ground-truth
    segment (void left out)."""
    _check_same_shape(regions, gt_ids)
    table, n = _contingency(regions, gt_ids)
    return float(table.max(axis=1).sum()) / n if n else 1.0


def hierarchy_quality(
    hierarchy: RegionHierarchy, gt_ids: NDArray[Any], tolerance: int = 2
) -> list[LevelQuality]:
    """Boundary recall, under-segmentation error and achievable accuracy of every level.

    Works for supervoxels too (``gt_ids`` of shape (N,)); boundary recall is then NaN, as
    points have no pixel grid.
    """
    gt_ids = np.asarray(gt_ids)
    _check_same_shape(hierarchy.fine, gt_ids)
    out = []
    for level, n in enumerate(hierarchy.levels):
        regions = hierarchy.level_map(level)
        out.append(
            LevelQuality(
                level=level,
                regions=int(n),
                boundary_recall=boundary_recall(regions, gt_ids, tolerance)
                if regions.ndim == 2
                else float("nan"),
                undersegmentation_error=undersegmentation_error(regions, gt_ids),
                achievable_accuracy=achievable_accuracy(regions, gt_ids),
            )
        )
    return out
