import json

import numpy as np
import pytest

from panokit.annotate import (
    BoxSelect,
    Brush,
    ChangeCategory,
    ClickRegion,
    ClickSupervoxel,
    Delete,
    EditContext,
    Erase,
    FillUnlabeled,
    LassoSelect,
    Merge,
    Patch,
    Polygon,
    RemoveGround,
    Split,
    SuperpixelHierarchy,
    SupervoxelHierarchy,
    apply_edit,
    edit_from_dict,
    edit_to_dict,
)
from panokit.core import Category, PanopticImage, PanopticPointCloud, Segment, Taxonomy
from panokit.errors import FormatError, LabelError

TAX = Taxonomy(
    [
        Category(1, "road", False),
        Category(2, "sky", False),
        Category(10, "car", True),
        Category(11, "person", True),
    ]
)


def empty(h=6, w=8):
    return PanopticImage(np.zeros((h, w), dtype=np.uint32), {}, TAX)


def two_segments():
    ids = np.zeros((6, 8), dtype=np.uint32)
    ids[:3] = 1  # sky
    ids[3:, :4] = 2  # car
    return PanopticImage(ids, {1: Segment(2), 2: Segment(10)}, TAX)


def check_undo(before, edit, context=None):
    after, undo = apply_edit(before, edit, context)
    back, redo = apply_edit(after, undo)
    assert back.equals(before)
    again, _ = apply_edit(back, redo)
    assert again.equals(after)
    return after, undo


def test_brush_starts_a_thing_and_undo_redo_round_trip():
    label = empty()
    after, undo = check_undo(label, Brush(path=((2, 2),), radius=1.0, category_id=10))
    assert after.segments == {1: Segment(10)}
    assert np.flatnonzero(after.ids.ravel()).tolist() == [10, 17, 18, 19, 26]
    assert undo.index.tolist() == [10, 17, 18, 19, 26]
    assert undo.values.tolist() == [0] * 5
    assert undo.segments == {1: None}
    assert label.ids.sum() == 0  # the input is untouched


def test_thing_clicks_start_instances_and_stuff_reuses_its_segment():
    label = empty()
    a, _ = apply_edit(label, Brush(path=((1, 1),), radius=0.0, category_id=10))
    b, _ = apply_edit(a, Brush(path=((5, 1),), radius=0.0, category_id=10))
    assert sorted(b.segments) == [1, 2]
    c, _ = apply_edit(b, Brush(path=((5, 1),), radius=0.0, category_id=10, segment_id=1))
    assert sorted(c.segments) == [1]  # segment 2 lost its only pixel and is gone
    assert c.ids[1, 5] == 1
    d, _ = apply_edit(c, Brush(path=((0, 4),), radius=0.0, category_id=1))
    e, _ = apply_edit(d, Brush(path=((7, 5),), radius=0.0, category_id=1))
    assert e.segments[2] == Segment(1) and e.ids[4, 0] == 2 and e.ids[5, 7] == 2
    with pytest.raises(
        LabelError,
        match="stuff category 1 already has segment 2; stuff is one segment per category, so it cannot also be segment 9",
    ):
        apply_edit(e, Brush(path=((7, 5),), radius=0.0, category_id=1, segment_id=9))
    with pytest.raises(LabelError, match="segment 1 has category 10, not 11"):
        apply_edit(e, Brush(path=((7, 5),), radius=0.0, category_id=11, segment_id=1))
    with pytest.raises(
        LabelError,
        match=r"category 7 is not a category of taxonomy \(unnamed\); known: \[1, 2, 10, 11\]",
    ):
        apply_edit(e, Brush(path=((7, 5),), radius=0.0, category_id=7))


def test_protect_only_fills_void():
    label = two_segments()
    after, undo = check_undo(
        label, Polygon(vertices=((-1, -1), (9, -1), (9, 9), (-1, 9)), category_id=11, protect=True)
    )
    assert (after.ids[3:, 4:] == 3).all()
    assert (after.ids[:3] == 1).all() and (after.ids[3:, :4] == 2).all()
    assert undo.size == 12
    overwrite, _ = apply_edit(
        label, Polygon(vertices=((-1, -1), (9, -1), (9, 9), (-1, 9)), category_id=11)
    )
    assert sorted(overwrite.segments) == [3]  # sky and car were emptied and dropped


def test_polygon_uses_pixel_centres():
    after, _ = apply_edit(
        empty(), Polygon(vertices=((0.5, 0.5), (3.5, 0.5), (3.5, 2.5), (0.5, 2.5)), category_id=2)
    )
    assert np.argwhere(after.ids == 1).tolist() == [[1, 1], [1, 2], [1, 3], [2, 1], [2, 2], [2, 3]]


def test_erase_whole_stroke_or_one_segment():
    label = two_segments()
    after, _ = check_undo(label, Erase(path=((3, 2), (3, 3)), radius=0.0))
    assert after.ids[2, 3] == 0 and after.ids[3, 3] == 0
    only_car, _ = check_undo(label, Erase(path=((3, 2), (3, 3)), radius=0.0, segment_id=2))
    assert only_car.ids[2, 3] == 1 and only_car.ids[3, 3] == 0


def test_fill_unlabeled_whole_image_component_and_region():
    label = two_segments()
    after, _ = check_undo(label, FillUnlabeled(category_id=1))
    assert (after.ids[3:, 4:] == 3).all() and after.segments[3] == Segment(1)
    holes = label.ids.copy()
    holes[0, 0] = 0
    holed = label.with_segments(holes, label.segments)
    comp, _ = check_undo(holed, FillUnlabeled(category_id=1, x=5, y=4))
    assert comp.ids[0, 0] == 0 and (comp.ids[3:, 4:] == 3).all()
    nothing, undo = apply_edit(holed, FillUnlabeled(category_id=1, x=0, y=3))
    assert nothing.equals(holed) and undo.size == 0 and 3 not in nothing.segments
    with pytest.raises(LabelError, match="fill_unlabeled needs both x and y, or neither"):
        apply_edit(label, FillUnlabeled(category_id=1, x=2))


def tiny_hierarchy():
    # fine regions: four 3x4 quadrants of a 6x8 image; merges: 0+1, then 2+3, then 0+2
    fine = np.zeros((6, 8), dtype=np.int32)
    fine[:3, 4:] = 1
    fine[3:, :4] = 2
    fine[3:, 4:] = 3
    return SuperpixelHierarchy(fine, np.array([[0, 1], [2, 3], [0, 2]]), [1, 2, 4])


def test_click_region_and_fill_by_region():
    hier = tiny_hierarchy()
    ctx = EditContext(superpixels=hier)
    assert hier.level_map(1).tolist() == [[0] * 8] * 3 + [[1] * 8] * 3
    after, _ = check_undo(empty(), ClickRegion(level=1, x=6, y=5, category_id=11), ctx)
    assert (after.ids[3:] == 1).all() and (after.ids[:3] == 0).all()
    filled, _ = check_undo(after, FillUnlabeled(category_id=2, x=0, y=0, level=2), ctx)
    assert (filled.ids[:3, :4] == 2).all() and (filled.ids[:3, 4:] == 0).all()
    snapped, _ = check_undo(
        empty(), Brush(path=((0, 0),), radius=0.0, category_id=2, snap_level=2), ctx
    )
    assert (snapped.ids[:3, :4] == 1).sum() == 12 and snapped.ids.sum() == 12


def test_size_mismatch_is_a_clear_error_and_changes_nothing():
    label = empty(5, 8)
    ctx = EditContext(superpixels=tiny_hierarchy())
    with pytest.raises(
        LabelError, match="superpixels are 6x8 but the label is 5x8; they must be the same size"
    ):
        apply_edit(label, ClickRegion(level=0, x=0, y=0, category_id=2), ctx)
    with pytest.raises(LabelError, match="the 'click_region' edit needs superpixels"):
        apply_edit(label, ClickRegion(level=0, x=0, y=0, category_id=2))
    assert label.ids.sum() == 0 and label.segments == {}


def test_change_category_merge_split_delete():
    label = two_segments()
    person, undo = check_undo(label, ChangeCategory(segment_id=2, category_id=11))
    assert (
        person.segments[2] == Segment(11) and undo.size == 0 and undo.segments == {2: Segment(10)}
    )
    to_sky, _ = check_undo(label, ChangeCategory(segment_id=2, category_id=2))
    assert sorted(to_sky.segments) == [1] and (to_sky.ids[:, :4] == 1).all()
    merged, _ = check_undo(label, Merge(segment_ids=(1, 2), into=2))
    assert sorted(merged.segments) == [2] and merged.segments[2] == Segment(10)
    split, _ = check_undo(
        label, Split(segment_id=2, vertices=((-1, 3.5), (2, 3.5), (2, 9), (-1, 9)))
    )
    assert sorted(split.segments) == [1, 2, 3]
    assert (split.ids[4:, :2] == 3).all() and split.ids[3, 0] == 2 and split.ids[4, 2] == 2
    with pytest.raises(
        LabelError,
        match=r"segment 1 is stuff \(category 2\); stuff is one segment per category and cannot be split",
    ):
        apply_edit(label, Split(segment_id=1))
    deleted, undo = check_undo(label, Delete(segment_id=2))
    assert sorted(deleted.segments) == [1] and undo.segments == {2: Segment(10)}
    with pytest.raises(LabelError, match="segment 5 does not exist"):
        apply_edit(label, Delete(segment_id=5))


def test_split_into_components_largest_keeps_its_id():
    ids = np.zeros((4, 8), dtype=np.uint8)
    ids[0, 0] = 1
    ids[2:, 2:5] = 1
    ids[0, 7] = 1
    label = PanopticImage(ids, {1: Segment(10)}, TAX)
    after, _ = check_undo(label, Split(segment_id=1))
    assert after.ids[0, 0] == 2 and after.ids[0, 7] == 3 and (after.ids[2:, 2:5] == 1).all()
    assert after.segments == {1: Segment(10), 2: Segment(10), 3: Segment(10)}


def test_every_edit_has_a_json_form():
    edits = [
        ClickRegion(level=1, x=2, y=3, category_id=10, segment_id=4, protect=True),
        Brush(path=((1.5, 2.0), (3.0, 4.0)), radius=2.0, category_id=1, snap_level=2),
        Erase(path=((1.0, 1.0),), radius=3.0, segment_id=2),
        Polygon(vertices=((0.0, 0.0), (4.0, 0.0), (0.0, 4.0)), category_id=11),
        FillUnlabeled(category_id=1, x=3, y=4, level=0),
        ChangeCategory(segment_id=2, category_id=11),
        Merge(segment_ids=(1, 2, 3), into=2),
        Split(segment_id=3, vertices=((0.0, 0.0), (1.0, 0.0), (1.0, 1.0))),
        Delete(segment_id=1),
        ClickSupervoxel(level=0, point=7, category_id=10),
        BoxSelect(lo=(0.0, 0.0, 0.0), hi=(1.0, 2.0, 3.0), category_id=10),
        LassoSelect(
            projection=((1.0, 0, 0, 0), (0, 1.0, 0, 0), (0, 0, 1.0, 0)),
            vertices=((0.0, 0.0), (1.0, 0.0), (0.0, 1.0)),
            category_id=10,
        ),
        RemoveGround(category_id=1, threshold=0.1),
    ]
    for edit in edits:
        wire = json.loads(json.dumps(edit.to_dict()))
        assert wire["op"] == edit.op
        assert edit_from_dict(wire) == edit
    patch = Patch(
        index=np.array([1, 5]),
        values=np.array([0, 3], dtype=np.uint32),
        segments={3: Segment(10), 4: None},
    )
    back = edit_from_dict(json.loads(json.dumps(edit_to_dict(patch))))
    assert isinstance(back, Patch)
    assert (
        back.index.tolist() == [1, 5]
        and back.values.tolist() == [0, 3]
        and back.segments == {3: Segment(10), 4: None}
    )
    with pytest.raises(FormatError, match="unknown edit op 'paint'; known ops: "):
        edit_from_dict({"op": "paint"})
    with pytest.raises(FormatError, match=r"edit 'delete' has unknown fields \['colour'\]"):
        edit_from_dict({"op": "delete", "segment_id": 1, "colour": 3})


def test_ids_dtype_grows_when_a_new_id_does_not_fit():
    ids = np.zeros((2, 2), dtype=np.uint8)
    label = PanopticImage(ids, {}, TAX)
    label = label.with_segments(ids, {})
    big = PanopticImage(np.full((2, 2), 255, dtype=np.uint8), {255: Segment(10)}, TAX)
    after, undo = apply_edit(big, Brush(path=((0, 0),), radius=0.0, category_id=10))
    assert after.ids[0, 0] == 256 and after.ids.dtype == np.uint32
    back, _ = apply_edit(after, undo)
    assert back.ids.tolist() == [[255, 255], [255, 255]]


# ----------------------------------------------------------------------- point clouds

CLOUD_TAX = Taxonomy([Category(1, "ground", False), Category(2, "car", True)])


def cloud():
    grid = np.stack(np.meshgrid(np.arange(10.0), np.arange(10.0)), axis=-1).reshape(-1, 2)
    ground = np.column_stack([grid, np.zeros(100)])
    box = np.array(
        [[4.0 + dx, 4.0 + dy, 1.0 + dz] for dx in (0, 0.5) for dy in (0, 0.5) for dz in (0, 0.5)]
    )
    pts = np.concatenate([ground, box])
    return PanopticPointCloud(np.zeros(len(pts), dtype=np.uint32), {}, CLOUD_TAX, points=pts)


def test_box_lasso_and_ground():
    label = cloud()
    boxed, _ = check_undo(label, BoxSelect(lo=(3.9, 3.9, 0.5), hi=(4.6, 4.6, 2.0), category_id=2))
    assert np.flatnonzero(boxed.ids).tolist() == list(range(100, 108))
    # camera looking down from z = 20: u = x / (20 - z), v = y / (20 - z); the box projects
    # into [0.21, 0.25), the ground points nearest to it to 0.2 and 0.25
    proj = ((1.0, 0.0, 0.0, 0.0), (0.0, 1.0, 0.0, 0.0), (0.0, 0.0, -1.0, 20.0))
    square = ((0.205, 0.205), (0.245, 0.205), (0.245, 0.245), (0.205, 0.245))
    lasso, _ = check_undo(label, LassoSelect(projection=proj, vertices=square, category_id=2))
    assert np.flatnonzero(lasso.ids).tolist() == [100, 101, 102, 103, 104, 105, 106, 107]
    behind = ((1.0, 0.0, 0.0, 0.0), (0.0, 1.0, 0.0, 0.0), (0.0, 0.0, 1.0, -20.0))
    flipped = tuple((-x, -y) for x, y in square)
    nothing, _ = apply_edit(label, LassoSelect(projection=behind, vertices=flipped, category_id=2))
    assert nothing.ids.sum() == 0  # every point is behind this camera
    ground, _ = check_undo(label, RemoveGround(category_id=1, threshold=0.1))
    assert np.flatnonzero(ground.ids).tolist() == list(range(100))
    assert ground.segments == {1: Segment(1)}


def test_click_supervoxel():
    label = cloud()
    fine = np.zeros(108, dtype=np.int32)
    fine[100:] = 1
    vox = SupervoxelHierarchy(fine, np.array([[0, 1]]), [1, 2])
    after, _ = check_undo(
        label, ClickSupervoxel(level=1, point=103, category_id=2), EditContext(supervoxels=vox)
    )
    assert np.flatnonzero(after.ids).tolist() == list(range(100, 108))


def test_nan_points_are_refused_and_nothing_changes():
    label = cloud()
    pts = label.points.copy()
    pts[5, 2] = np.nan
    bad = PanopticPointCloud(label.ids, {}, CLOUD_TAX, points=pts)
    with pytest.raises(FormatError, match="1 points have NaN or infinite coordinates"):
        apply_edit(bad, BoxSelect(lo=(0, 0, 0), hi=(1, 1, 1), category_id=2))
    assert bad.ids.sum() == 0
    with pytest.raises(
        LabelError, match="the 'box_select' edit works on point-cloud labels, got PanopticImage"
    ):
        apply_edit(empty(), BoxSelect(lo=(0, 0, 0), hi=(1, 1, 1), category_id=2))
