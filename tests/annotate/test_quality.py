import numpy as np
import pytest

from panokit.annotate import PQScorer, panoptic_quality
from panokit.core import Category, PanopticImage, Segment, Taxonomy
from panokit.errors import LabelError

TAX = Taxonomy([Category(1, "road", False), Category(10, "car", True)])


def gt():
    ids = np.zeros((4, 10), dtype=np.uint32)
    ids[:, :6] = 1  # road, 24 px
    ids[:, 6:] = 2  # car, 16 px
    return PanopticImage(ids, {1: Segment(1), 2: Segment(10)}, TAX)


def test_perfect_and_empty():
    assert panoptic_quality(gt(), gt()) == 1.0
    empty = PanopticImage(np.zeros((4, 10), dtype=np.uint32), {}, TAX)
    assert panoptic_quality(gt(), empty) == 0.0


def test_hand_computed_pq():
    ids = np.zeros((4, 10), dtype=np.uint32)
    ids[:, :8] = 5  # road prediction: 24 ∩, union 32 -> IoU 0.75
    ids[:, 8:] = 6  # car prediction: 8 ∩ of the 16 -> IoU 0.5, not a match
    pred = PanopticImage(ids, {5: Segment(1), 6: Segment(10)}, TAX)
    # road: tp 1, iou 0.75 -> PQ 0.75; car: fp 1, fn 1 -> PQ 0
    assert panoptic_quality(gt(), pred) == pytest.approx(0.375)
    score = PQScorer(gt()).score(pred)
    assert score.matched.tolist() == [5, 0]
    assert score.iou.tolist() == [0.75, 0.0]


def test_void_is_left_out_and_shapes_must_match():
    g = gt()
    ids = g.ids.copy()
    ids[:, :3] = 0
    void_gt = g.with_segments(ids, g.segments)
    assert panoptic_quality(void_gt, g) == 1.0
    with pytest.raises(
        LabelError, match=r"prediction has shape \(4, 9\) but the ground truth has \(4, 10\)"
    ):
        panoptic_quality(g, PanopticImage(np.zeros((4, 9), dtype=np.uint32), {}, TAX))
