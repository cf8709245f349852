"""Supervoxel hierarchies of point clouds, and the ground-plane fit used by RemoveGround.

:func:`build_supervoxel_hierarchy` groups points into the occupied cells of a voxel grid
(the fine level), links cells that touch (26-neighbourhood) plus each cell's nearest cells
(k-d tree on the cell centroids, so sparse far-range scans stay connected), and merges them
greedily with Ward's criterion on the centroid (in voxel units) and the optional per-point
features, plus a penalty for the change of the local surface normal across a link.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from panokit.annotate._hierarchy import RegionHierarchy, agglomerate, geometric_levels
from panokit.errors import FormatError, LabelError, require


class SupervoxelHierarchy(RegionHierarchy):
    """Nested supervoxels of N points: ``fine`` (N,) int32 + merge table + levels
    (region counts, coarse -> fine)."""

    kind = "supervoxels"

    def __init__(self, fine: NDArray[Any], merges: NDArray[Any], levels: Sequence[int]) -> None:
        super().__init__(fine, merges, levels)
        if self.fine.ndim != 1:
            raise LabelError(f"supervoxels need a fine map of shape (N,), got {self.fine.shape}")

    def region_of(self, level: int, point: int) -> int:
        """The supervoxel at ``level`` that holds point ``point``."""
        if not 0 <= point < self.fine.shape[0]:
            raise LabelError(f"point {point} does not exist ({self.fine.shape[0]} points)")
        return int(self.lut(level)[self.fine[point]])


def _check_points(points: NDArray[Any], what: str = "points") -> NDArray[np.float64]:
    arr = np.asarray(points)
    if arr.ndim != 2 or arr.shape[1] < 3:
        raise FormatError(f"{what} must have shape (N, 3) or (N, 3 + C), got {arr.shape}")
    if arr.shape[0] == 0:
        raise FormatError(f"the point cloud is empty ({what} shape {arr.shape})")
    if not np.issubdtype(arr.dtype, np.number):
        raise FormatError(f"{what} must be numeric, got dtype {arr.dtype}")
    xyz = arr.astype(np.float64, copy=False)
    finite = np.isfinite(xyz).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise FormatError(
            f"{len(bad)} of {len(xyz)} points hold NaN or infinite values (first: point {int(bad[0])}); "
            "drop or fix them first"
        )
    return xyz


def _voxelise(xyz: NDArray[np.float64], size: float) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Cell coordinates of the occupied cells (K, 3) and the cell of every point (N,)."""
    cell = np.floor((xyz - xyz.min(axis=0)) / size).astype(np.int64)
    span = cell.max(axis=0) + 1
    key = (cell[:, 0] * span[1] + cell[:, 1]) * span[2] + cell[:, 2]
    uniq, inverse = np.unique(key, return_inverse=True)
    coords = np.stack(
        [uniq // (span[1] * span[2]), (uniq // span[2]) % span[1], uniq % span[2]], axis=1
    )
    return coords, inverse.ravel()


def build_supervoxel_hierarchy(
    points: NDArray[Any],
    features: NDArray[Any] | None = None,
    voxel_size: float | None = None,
    n_fine: int | None = None,
    coarsest: int = 20,
    num_levels: int = 5,
    normal_weight: float = 4.0,
    feature_weight: float = 1.0,
) -> SupervoxelHierarchy:
    """Compute the supervoxel hierarchy of an (N, 3) cloud (extra columns are ignored).

    ``features`` (N, C) (intensity, colour ...) are compared after scaling each column to
    unit standard deviation, times ``feature_weight``.  Give ``voxel_size`` (same unit as the
    points) or ``n_fine`` (target number of fine supervoxels, default N / 30 capped at 5000);
    the voxel size is then searched for.  Deterministic.
    """
    xyz = _check_points(points)[:, :3]
    n = len(xyz)
    feats: NDArray[np.float64] | None = None
    if features is not None:
        feats = np.asarray(features, dtype=np.float64)
        if feats.ndim == 1:
            feats = feats[:, None]
        if feats.shape[0] != n:
            raise FormatError(f"features have {feats.shape[0]} rows for {n} points")
        if not np.isfinite(feats).all():
            raise FormatError("features hold NaN or infinite values")
        std = feats.std(axis=0)
        feats = (feats - feats.mean(axis=0)) / np.where(std > 0, std, 1.0) * feature_weight
    require("scipy", "annotate", "supervoxels")
    from scipy.spatial import cKDTree

    if voxel_size is None:
        target = n_fine if n_fine is not None else min(5000, max(1, n // 30))
        extent = float(np.max(xyz.max(axis=0) - xyz.min(axis=0))) or 1.0
        size = extent / max(target, 1) ** 0.5
        for _ in range(6):
            coords, _ = _voxelise(xyz, size)
            ratio = len(coords) / target
            if 0.85 < ratio < 1.15:
                break
            size *= ratio**0.5
    else:
        if not voxel_size > 0:
            raise LabelError(f"voxel_size must be > 0, got {voxel_size}")
        size = float(voxel_size)
    coords, fine = _voxelise(xyz, size)
    k = len(coords)
    counts = np.bincount(fine, minlength=k).astype(np.float64)
    cent = (
        np.stack(
            [np.bincount(fine, weights=xyz[:, d], minlength=k) for d in range(3)], axis=1
        ).astype(np.float64)
        / counts[:, None]
    )
    rel = xyz - cent[fine]
    cov = np.empty((k, 3, 3))
    for i in range(3):
        for j in range(i, 3):
            cov[:, i, j] = cov[:, j, i] = np.bincount(
                fine, weights=rel[:, i] * rel[:, j], minlength=k
            )
    _, vecs = np.linalg.eigh(cov)
    normals = vecs[:, :, 0]
    flat_enough = counts >= 3
    normals[~flat_enough] = 0.0

    # links: touching cells (13 forward offsets of the 26-neighbourhood) + k nearest cells
    span = coords.max(axis=0) + 3
    ckey = ((coords[:, 0] + 1) * span[1] + coords[:, 1] + 1) * span[2] + coords[:, 2] + 1
    order = np.argsort(ckey)
    sorted_keys = ckey[order]
    pairs: list[NDArray[np.int64]] = []
    for dz in (-1, 0, 1):
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if (dz, dy, dx) <= (0, 0, 0):
                    continue
                nk = ckey + (dz * span[1] + dy) * span[2] + dx
                pos = np.clip(np.searchsorted(sorted_keys, nk), 0, k - 1)
                hit = sorted_keys[pos] == nk
                pairs.append(np.stack([np.flatnonzero(hit), order[pos[hit]]], axis=1))
    if k > 1:
        kk = min(7, k)
        _, nn = cKDTree(cent).query(cent, k=kk)
        nn = np.asarray(nn).reshape(k, kk)
        pairs.append(np.stack([np.repeat(np.arange(k), kk - 1), nn[:, 1:].ravel()], axis=1))
    allp = np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64)
    allp = np.unique(np.sort(allp, axis=1), axis=0)
    allp = allp[allp[:, 0] != allp[:, 1]]
    a, b = allp[:, 0], allp[:, 1]
    cos = np.abs((normals[a] * normals[b]).sum(axis=1))
    known = flat_enough[a] & flat_enough[b]
    strength = np.where(known, 1.0 - cos, 0.0) * 3.0
    mean_feat = cent / size
    if feats is not None:
        vf = (
            np.stack(
                [
                    np.bincount(fine, weights=feats[:, d], minlength=k)
                    for d in range(feats.shape[1])
                ],
                axis=1,
            )
            / counts[:, None]
        )
        mean_feat = np.concatenate([mean_feat, vf], axis=1)
    merges = agglomerate(
        mean_feat,
        counts,
        allp.astype(np.int64),
        np.ones(len(allp)),
        strength,
        coarsest,
        normal_weight,
    )
    levels = geometric_levels(k, coarsest, num_levels, reachable=k - len(merges))
    return SupervoxelHierarchy(fine.astype(np.int32), merges, levels)


def fit_ground_plane(
    points: NDArray[Any],
    threshold: float = 0.2,
    iterations: int = 100,
    seed: int = 0,
    max_tilt_deg: float = 25.0,
) -> tuple[NDArray[np.float64], float, NDArray[np.bool_]]:
    """RANSAC plane fit for the ground: ``(normal, offset, inliers)`` with
    ``normal . p + offset = 0``, ``normal`` of unit length with ``normal[2] >= 0``.

    Candidate planes come from ``iterations`` random point triples (``numpy`` generator with
    ``seed``); planes tilted more than ``max_tilt_deg`` from horizontal (z up) are skipped;
    the plane with most points within ``threshold`` wins (first on ties) and is refined by a
    least-squares fit to its inliers.  Deterministic for a seed.
    """
    xyz = _check_points(points)[:, :3]
    n = len(xyz)
    if n < 3:
        raise LabelError(f"a plane fit needs at least 3 points, got {n}")
    rng = np.random.default_rng(seed)
    tri = rng.integers(0, n, size=(max(iterations, 1), 3))
    p0, p1, p2 = xyz[tri[:, 0]], xyz[tri[:, 1]], xyz[tri[:, 2]]
    nrm = np.cross(p1 - p0, p2 - p0)
    length = np.linalg.norm(nrm, axis=1)
    ok = length > 1e-12
    nrm[ok] /= length[ok, None]
    nrm[nrm[:, 2] < 0] *= -1
    ok &= nrm[:, 2] >= np.cos(np.deg2rad(max_tilt_deg))
    cand = np.flatnonzero(ok)
    if cand.size == 0:
        raise LabelError(
            f"no plane within {max_tilt_deg} degrees of horizontal found in {iterations} tries"
        )
    offs = -(nrm[cand] * p0[cand]).sum(axis=1)
    # score the candidates on a fixed subsample (same generator), then refine on all points
    sample = xyz if n <= 20000 else xyz[rng.choice(n, 20000, replace=False)]
    pts32 = sample.astype(np.float32)
    best, best_count = -1, -1
    for start in range(0, len(cand), 16):
        sl = slice(start, start + 16)
        dist = np.abs(pts32 @ nrm[cand[sl]].T.astype(np.float32) + offs[sl].astype(np.float32))
        cnt = (dist <= threshold).sum(axis=0)
        i = int(np.argmax(cnt))
        if int(cnt[i]) > best_count:
            best, best_count = start + i, int(cnt[i])
    normal, offset = nrm[cand[best]], float(offs[best])
    inliers = np.abs(xyz @ normal + offset) <= threshold
    if inliers.sum() >= 3:
        sel = xyz[inliers]
        center = sel.mean(axis=0)
        _, _, vt = np.linalg.svd(sel - center, full_matrices=False)
        refined = vt[-1]
        if refined[2] < 0:
            refined = -refined
        normal = refined / np.linalg.norm(refined)
        offset = -float(normal @ center)
        inliers = np.abs(xyz @ normal + offset) <= threshold
    return normal, offset, inliers
