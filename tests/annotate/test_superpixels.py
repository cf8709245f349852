import numpy as np
import pytest

from panokit.annotate import (
    SuperpixelHierarchy,
    SupervoxelHierarchy,
    achievable_accuracy,
    boundary_recall,
    build_superpixel_hierarchy,
    hierarchy_quality,
    undersegmentation_error,
)
from panokit.annotate.synthetic import street_scene
from panokit.errors import FormatError, LabelError


@pytest.fixture(scope="module")
def two_tone():
    rng = np.random.default_rng(0)
    img = np.zeros((60, 90, 3), dtype=np.float64)
    img[:, :40] = (200, 40, 40)
    img[:, 40:] = (30, 60, 210)
    img += rng.normal(0, 4, img.shape)
    gt = np.ones((60, 90), dtype=np.int64)
    gt[:, 40:] = 2
    return np.clip(img, 0, 255).astype(np.uint8), gt


@pytest.fixture(scope="module")
def scene_hier():
    scene = street_scene(96, 160, seed=2, objects=5)
    return scene, build_superpixel_hierarchy(scene.image, n_fine=600, coarsest=10, num_levels=6)


def test_fine_regions_follow_a_strong_edge(two_tone):
    img, gt = two_tone
    hier = build_superpixel_hierarchy(img, n_fine=150, coarsest=2, num_levels=6)
    assert hier.levels[0] == 2 and hier.levels[-1] == hier.num_fine
    assert len(hier.levels) == 6
    fine = hier.fine
    assert achievable_accuracy(fine, gt) == 1.0
    assert undersegmentation_error(fine, gt) == 0.0
    assert boundary_recall(fine, gt, tolerance=0) == 1.0
    # the two coarsest regions are exactly the two halves
    assert hier.level_map(0).tolist() == (gt - 1).tolist()


def test_levels_nest_and_are_numbered_by_smallest_fine_id(scene_hier):
    _, hier = scene_hier
    assert len(hier.levels) == 6
    assert list(hier.levels) == sorted(hier.levels)
    assert hier.level_map(-1).tolist() == hier.fine.tolist()
    for coarse in range(hier.num_levels):
        for finer in range(coarse + 1, hier.num_levels):
            pairs = np.unique(np.stack([hier.lut(finer), hier.lut(coarse)], axis=1), axis=0)
            assert len(pairs) == hier.levels[finer]  # each finer region lies in one coarse region
        lut = hier.lut(coarse)
        first = [int(np.flatnonzero(lut == r)[0]) for r in range(hier.levels[coarse])]
        assert first == sorted(first)
        assert len(np.unique(lut)) == hier.levels[coarse]


def test_region_lookups_agree(scene_hier):
    _, hier = scene_hier
    region = hier.region_at(2, 50, 70)
    mask = hier.region_mask(2, region)
    assert mask[50, 70]
    assert mask.tolist() == (hier.level_map(2) == region).tolist()
    box, crop = hier.region_crop(2, region)
    rebuilt = np.zeros_like(mask)
    rebuilt[box] = crop
    assert rebuilt.tolist() == mask.tolist()
    edges = hier.boundary_mask(0)
    regions = hier.level_map(0)
    assert edges[:, :-1][regions[:, :-1] != regions[:, 1:]].all()
    assert not edges[-1, -1] and edges.sum() < edges.size // 4
    with pytest.raises(LabelError, match=r"pixel \(y=96, x=0\) lies outside the 96x160 image"):
        hier.region_at(0, 96, 0)
    with pytest.raises(LabelError, match="level 9 does not exist"):
        hier.level_map(9)


def test_bytes_round_trip_exactly(scene_hier):
    _, hier = scene_hier
    blob = hier.to_bytes()
    back = SuperpixelHierarchy.from_bytes(blob)
    assert back.fine.dtype == np.int32
    assert np.array_equal(back.fine, hier.fine)
    assert np.array_equal(back.merges, hier.merges)
    assert back.levels == hier.levels
    for level in range(hier.num_levels):
        assert np.array_equal(back.level_map(level), hier.level_map(level))
    with pytest.raises(
        FormatError, match="these bytes hold a 'superpixels' hierarchy, expected 'supervoxels'"
    ):
        SupervoxelHierarchy.from_bytes(blob)
    with pytest.raises(FormatError, match="not a serialised region hierarchy"):
        SuperpixelHierarchy.from_bytes(b"not an npz")


def test_deterministic(scene_hier):
    scene, hier = scene_hier
    again = build_superpixel_hierarchy(scene.image, n_fine=600, coarsest=10, num_levels=6)
    assert again.to_bytes() == hier.to_bytes()


def test_quality_per_level(scene_hier):
    scene, hier = scene_hier
    rows = hierarchy_quality(hier, scene.label.ids)
    assert [r.regions for r in rows] == list(hier.levels)
    assert rows[-1].boundary_recall > 0.8
    assert rows[-1].undersegmentation_error < rows[0].undersegmentation_error
    assert all(0 <= r.achievable_accuracy <= 1 for r in rows)


def test_boundary_recall_and_undersegmentation_by_hand():
    gt = np.zeros((4, 8), dtype=np.int64)
    gt[:, :4] = 1
    gt[:, 4:] = 2
    assert boundary_recall(gt, gt) == 1.0
    assert boundary_recall(np.zeros_like(gt), gt) == 0.0
    shifted = np.zeros_like(gt)
    shifted[:, 7:] = 1  # region border 3 columns right of the truth
    assert boundary_recall(shifted, gt, tolerance=2) == 0.0
    assert boundary_recall(shifted, gt, tolerance=3) == 1.0
    # one region over everything: each gt segment loses min(16, 16) of 32 pixels
    assert undersegmentation_error(np.zeros_like(gt), gt) == 1.0
    straddle = np.zeros_like(gt)
    straddle[:, 5:] = 1  # region 0: 16 px of segment 1 + 4 of segment 2; region 1: 12 of 2
    assert undersegmentation_error(straddle, gt) == pytest.approx((4 + 4 + 0) / 32)
    void = gt.copy()
    void[:, :4] = 0  # void is left out
    assert undersegmentation_error(np.zeros_like(gt), void) == 0.0


def test_bad_images():
    with pytest.raises(FormatError, match=r"the image is empty \(shape \(0, 5, 3\)\)"):
        build_superpixel_hierarchy(np.zeros((0, 5, 3), dtype=np.uint8))
    with pytest.raises(
        FormatError, match=r"an image must have shape \(H, W, 3\) or \(H, W\), got \(4, 4, 2\)"
    ):
        build_superpixel_hierarchy(np.zeros((4, 4, 2), dtype=np.uint8))
    with pytest.raises(
        LabelError, match=r"regions have shape \(4, 4\) but the ground-truth label has \(4, 5\)"
    ):
        boundary_recall(np.zeros((4, 4)), np.zeros((4, 5)))


def test_tiny_image_has_one_level_per_distinct_count():
    img = np.full((3, 3, 3), 128, dtype=np.uint8)
    hier = build_superpixel_hierarchy(img, n_fine=4, coarsest=1, num_levels=3)
    assert hier.levels[0] == 1
    assert hier.level_map(0).tolist() == [[0, 0, 0]] * 3


def test_import_is_light():
    import subprocess
    import sys

    code = "import sys, panokit.annotate; print(sorted(m for m in ('scipy', 'skimage') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_hierarchy_checks_its_tables():
    fine = np.array([[0, 1], [2, 3]])
    with pytest.raises(LabelError, match=r"merge table rows must be \(a, b\) with 0 <= a < b"):
        SuperpixelHierarchy(fine, np.array([[1, 0]]), [3, 4])
    with pytest.raises(LabelError, match="merge 1 joins 0 and 1, which are already joined"):
        SuperpixelHierarchy(fine, np.array([[0, 1], [0, 1]]), [2, 4])
    with pytest.raises(LabelError, match="the finest level must have all 4 fine regions, got 3"):
        SuperpixelHierarchy(fine, np.array([[0, 1]]), [3])
    with pytest.raises(
        LabelError, match="the coarsest level has 2 regions but the merge table reaches only 3"
    ):
        SuperpixelHierarchy(fine, np.array([[0, 1]]), [2, 4])
