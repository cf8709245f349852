import numpy as np
import pytest

from panokit.annotate import (
    SupervoxelHierarchy,
    build_supervoxel_hierarchy,
    fit_ground_plane,
    hierarchy_quality,
)
from panokit.errors import FormatError, LabelError


def scan(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    ground = np.column_stack([rng.uniform(0, 20, n), rng.uniform(0, 20, n), rng.normal(0, 0.02, n)])
    wall = np.column_stack(
        [rng.uniform(0, 20, n // 2), np.full(n // 2, 20.0), rng.uniform(0, 5, n // 2)]
    )
    return np.concatenate([ground, wall])


def test_levels_nest_and_merges_keep_ground_and_wall_apart():
    pts = scan()
    vox = build_supervoxel_hierarchy(pts, voxel_size=1.0, coarsest=4, num_levels=5)
    assert len(vox.levels) >= 4 and vox.levels[0] == 4 and vox.levels[-1] == vox.num_fine
    assert vox.fine.shape == (len(pts),)
    for coarse in range(vox.num_levels - 1):
        pairs = np.unique(np.stack([vox.lut(coarse + 1), vox.lut(coarse)], axis=1), axis=0)
        assert len(pairs) == vox.levels[coarse + 1]
    is_wall = np.zeros(len(pts), dtype=bool)
    is_wall[-1500:] = True

    def mixed(level):
        regions = vox.level_map(level)
        wall = np.bincount(regions, weights=is_wall, minlength=vox.levels[level])
        total = np.bincount(regions, minlength=vox.levels[level])
        return float(np.minimum(wall, total - wall).sum())

    fine_mixed = mixed(-1)  # cells at the foot of the wall hold both
    assert 0 < fine_mixed < 200
    for level in range(1, vox.num_levels):
        assert mixed(level) <= fine_mixed + 10
    rows = hierarchy_quality(vox, is_wall.astype(np.int64) + 1)
    assert [r.regions for r in rows] == list(vox.levels)
    assert np.isnan(rows[0].boundary_recall)
    assert rows[-1].undersegmentation_error == pytest.approx(2 * fine_mixed / len(pts))
    assert vox.region_of(0, 0) == vox.lut(0)[vox.fine[0]]


def test_target_count_features_determinism_and_bytes():
    pts = scan(4000, seed=1)
    intensity = np.where(pts[:, 2] > 0.5, 1.0, 0.0)
    vox = build_supervoxel_hierarchy(pts, intensity, n_fine=200)
    assert 170 <= vox.num_fine <= 230
    again = build_supervoxel_hierarchy(pts, intensity, n_fine=200)
    assert again.to_bytes() == vox.to_bytes()
    back = SupervoxelHierarchy.from_bytes(vox.to_bytes())
    assert np.array_equal(back.fine, vox.fine) and back.levels == vox.levels


def test_bad_clouds():
    pts = scan(100)
    pts[7, 1] = np.nan
    with pytest.raises(
        FormatError, match=r"1 of 150 points hold NaN or infinite values \(first: point 7\)"
    ):
        build_supervoxel_hierarchy(pts)
    with pytest.raises(FormatError, match=r"the point cloud is empty"):
        build_supervoxel_hierarchy(np.zeros((0, 3)))
    with pytest.raises(
        FormatError, match=r"points must have shape \(N, 3\) or \(N, 3 \+ C\), got \(5, 2\)"
    ):
        build_supervoxel_hierarchy(np.zeros((5, 2)))
    with pytest.raises(FormatError, match="features have 3 rows for 149 points"):
        build_supervoxel_hierarchy(scan(100)[:149], np.zeros(3))


def test_ground_plane_fit_is_deterministic_and_finds_the_tilted_plane():
    rng = np.random.default_rng(2)
    xy = rng.uniform(-10, 10, (2000, 2))
    z = 0.1 * xy[:, 0] + 0.5 + rng.normal(0, 0.01, 2000)
    clutter = rng.uniform(-10, 10, (300, 3)) + np.array([0, 0, 12])
    pts = np.concatenate([np.column_stack([xy, z]), clutter])
    normal, offset, inliers = fit_ground_plane(pts, threshold=0.05, seed=3)
    expected = np.array([-0.1, 0.0, 1.0]) / np.sqrt(1.01)
    assert np.allclose(normal, expected, atol=2e-3)
    assert offset == pytest.approx(-0.5 / np.sqrt(1.01), abs=5e-3)
    assert inliers[:2000].all() and not inliers[2000:].any()
    again = fit_ground_plane(pts, threshold=0.05, seed=3)
    assert np.array_equal(again[2], inliers) and np.array_equal(again[0], normal)
    with pytest.raises(LabelError, match=r"no plane within 1\.0 degrees of horizontal"):
        fit_ground_plane(
            np.column_stack([np.zeros(50), rng.uniform(0, 1, (50, 2))]), max_tilt_deg=1.0
        )
