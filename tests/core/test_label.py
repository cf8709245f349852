import numpy as np
import pytest

from panokit.core import Category, PanopticImage, PanopticPointCloud, Segment, Taxonomy
from panokit.errors import LabelError, ValidationError

TAX = Taxonomy([Category(1, "person", True), Category(2, "road", False)], name="t")


def label():
    ids = np.zeros((4, 5), np.uint32)
    ids[0] = 3
    ids[1:, :2] = 1
    ids[1:, 3:] = 2
    return PanopticImage(ids, {1: Segment(1), 2: Segment(1), 3: Segment(2)}, TAX)


def test_areas_bboxes_semantic_instance():
    lab = label()
    assert lab.areas() == {1: 6, 2: 6, 3: 5}
    assert lab.bboxes() == {1: (0, 1, 2, 3), 2: (3, 1, 2, 3), 3: (0, 0, 5, 1)}
    assert lab.bbox(2) == (3, 1, 2, 3)
    assert lab.semantic()[:, 0].tolist() == [2, 1, 1, 1]
    assert lab.instance()[1].tolist() == [1, 1, 0, 2, 2]


def test_validate_reports_every_problem():
    ids = np.zeros((2, 2), np.uint32)
    ids[0, 0] = 7
    ids[1, 1] = 1
    lab = PanopticImage(ids, {1: Segment(1), 2: Segment(1), 3: Segment(9)}, TAX)
    with pytest.raises(ValidationError) as err:
        lab.validate(where="img.png")
    assert err.value.problems == [
        "segment id 7 occurs in ids (1 pixels) but has no Segment; known ids: [1, 2, 3]",
        "segment id 2 (category 1) has a Segment but occurs nowhere in ids",
        "segment id 3 (category 9) has a Segment but occurs nowhere in ids",
        "segment id 3 has unknown category 9; taxonomy t knows [1, 2]",
    ]
    assert str(err.value).startswith("img.png: 4 problems:")


def test_two_stuff_segments_of_one_category_are_a_problem():
    ids = np.array([[1, 2]], np.uint32)
    lab = PanopticImage(ids, {1: Segment(2), 2: Segment(2)}, TAX)
    assert lab.problems() == [
        "stuff category 2 (road) has two segments (1 and 2); stuff is one region per category"
    ]


def test_cheap_checks_on_construction():
    with pytest.raises(LabelError, match="ids must be an integer array, got dtype float64"):
        PanopticImage(np.zeros((2, 2)), {})
    with pytest.raises(LabelError, match="segment id 0 is void"):
        PanopticImage(np.zeros((2, 2), np.uint8), {0: Segment(1)})
    with pytest.raises(
        LabelError, match=r"a PanopticImage needs ids of shape \(H, W\), got \(4,\)"
    ):
        PanopticImage(np.zeros(4, np.uint8), {})
    with pytest.raises(
        LabelError, match=r"points must have shape \(3, C\) to match ids, got \(2, 4\)"
    ):
        PanopticPointCloud(np.zeros(3, np.uint8), {}, points=np.zeros((2, 4)))


def test_from_semantic_instance_groups_stuff_and_splits_things():
    semantic = np.array([[2, 2, 1, 1], [0, 2, 1, 1]])
    instance = np.array([[5, 6, 1, 2], [0, 9, 1, 2]])
    lab = PanopticImage.from_semantic_instance(semantic, instance, TAX)
    assert {k: s.category_id for k, s in lab.segments.items()} == {1: 1, 2: 1, 3: 2}
    assert lab.ids.tolist() == [[3, 3, 1, 2], [0, 3, 1, 2]]
    assert lab.problems() == []
    np.testing.assert_array_equal(lab.semantic(), semantic)


def test_same_partition_ignores_numbering():
    lab = label()
    renumbered = lab.with_segments(
        np.where(lab.ids == 3, 9, lab.ids), {1: Segment(1), 2: Segment(1), 9: Segment(2)}
    )
    assert lab.same_partition(renumbered)
    assert not lab.equals(renumbered)
    assert lab.relabeled().equals(lab)


def test_point_cloud_channels():
    pc = PanopticPointCloud(
        np.array([1, 0, 1]),
        {1: Segment(1)},
        TAX,
        points=np.arange(12.0).reshape(3, 4),
        channels=("x", "y", "z", "remission"),
    )
    assert pc.channel("z").tolist() == [2.0, 6.0, 10.0]
    with pytest.raises(
        LabelError, match=r"no channel 'w'; channels are \['x', 'y', 'z', 'remission'\]"
    ):
        pc.channel("w")
