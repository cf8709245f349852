"""Hand-computed cases for the PQ accumulator (coco and lidar parameters)."""

from dataclasses import replace

import numpy as np
import pytest

from panokit.core import Category, LabelMap, PanopticImage, PanopticPointCloud, Segment, Taxonomy
from panokit.errors import EvaluationError, FormatError
from panokit.eval import PQAccumulator, get_protocol
from panokit.eval.protocols import COCO, LIDAR

TAX = Taxonomy(
    [Category(1, "person", True), Category(2, "car", True), Category(10, "road", False)],
    name="t",
)

GT_IDS = np.array(
    [
        [10, 10, 10, 10, 10, 10, 10, 10],
        [10, 10, 10, 10, 0, 0, 0, 0],
        [1, 1, 1, 1, 0, 0, 0, 0],
        [1, 1, 1, 1, 2, 2, 2, 2],
    ],
    dtype=np.uint32,
)
PRED_IDS = np.array(
    [
        [7, 7, 7, 7, 7, 7, 7, 7],
        [7, 7, 7, 7, 7, 7, 0, 0],
        [5, 5, 5, 0, 0, 0, 0, 0],
        [5, 5, 5, 5, 0, 0, 6, 6],
    ],
    dtype=np.uint32,
)


def gt_label(person_area=None):
    return PanopticImage(
        GT_IDS,
        {10: Segment(10), 1: Segment(1, declared_area=person_area), 2: Segment(2)},
        TAX,
    )


def pred_label():
    return PanopticImage(PRED_IDS, {7: Segment(10), 5: Segment(1), 6: Segment(2)}, TAX)


def test_coco_case_by_hand():
    # road: 12 px of GT, 14 px predicted of which 2 on void -> IoU 12 / (14 + 12 - 12 - 2) = 1
    # person: 7 / (7 + 8 - 7) = 0.875; car: 2 / (2 + 4 - 2) = 0.5 is not > 0.5 -> FP + FN
    acc = PQAccumulator(TAX, "coco")
    acc.update(gt_label(), pred_label())
    r = acc.result()
    road, person, car = r.by_id(10), r.by_id(1), r.by_id(2)
    assert (road.pq, road.sq, road.rq, road.tp) == (1.0, 1.0, 1.0, 1)
    assert (person.pq, person.iou_sum, person.tp, person.fp, person.fn) == (0.875, 0.875, 1, 0, 0)
    assert (car.pq, car.sq, car.rq, car.tp, car.fp, car.fn) == (0.0, 0.0, 0.0, 0, 1, 1)
    assert r.all.n == 3 and r.things.n == 2 and r.stuff.n == 1
    assert r.all.pq == pytest.approx((1 + 0.875) / 3, abs=1e-15)
    assert r.all.rq == pytest.approx(2 / 3, abs=1e-15)
    assert r.things.pq == 0.4375 and r.things.rq == 0.5
    assert (r.all.tp, r.all.fp, r.all.fn) == (2, 1, 1)
    assert r.extra == {"images": 1.0}


def test_void_is_kept_in_the_union_without_the_correction():
    acc = PQAccumulator(TAX, replace(COCO, void_in_union=False))
    acc.update(gt_label(), pred_label())
    assert acc.result().by_id(10).sq == 12 / 14


def test_declared_ground_truth_area_is_used():
    acc = PQAccumulator(TAX, "coco")
    acc.update(gt_label(person_area=10), pred_label())
    assert acc.result().by_id(1).sq == 7 / 10
    pixels = PQAccumulator(TAX, replace(COCO, gt_area="pixels"))
    pixels.update(gt_label(person_area=10), pred_label())
    assert pixels.result().by_id(1).sq == 0.875


def void_filter_pair(on_void):
    gt = np.zeros((2, 4), np.uint32)
    gt[0] = 10
    pred = np.zeros((2, 4), np.uint32)
    pred[1, :on_void] = 3  # on void
    pred[0, : 4 - on_void] = 3  # on road, wrong class
    pred[0, 4 - on_void :] = 8
    return (
        PanopticImage(gt, {10: Segment(10)}, TAX),
        PanopticImage(pred, {3: Segment(2), 8: Segment(10)}, TAX),
    )


@pytest.mark.parametrize(("on_void", "fp"), [(3, 0), (2, 1)])
def test_unmatched_prediction_mostly_on_void_is_not_a_false_positive(on_void, fp):
    # 3 of 4 pixels on void: 0.75 > 0.5 -> excused; 2 of 4: 0.5 is not > 0.5 -> FP
    acc = PQAccumulator(TAX, "coco")
    acc.update(*void_filter_pair(on_void))
    assert acc.result().by_id(2).fp == fp


def crowd_pair():
    gt = np.zeros((2, 8), np.uint32)
    gt[:, :4] = 30  # crowd person, listed first
    gt[:, 4:] = 31  # crowd person, listed second
    pred = np.zeros((2, 8), np.uint32)
    pred[:, :4] = 50  # a person exactly on the first crowd region
    pred[:, 5:7] = 51  # a person inside the second one
    gt_segments = {30: Segment(1, iscrowd=True), 31: Segment(1, iscrowd=True)}
    return (
        PanopticImage(gt, gt_segments, TAX),
        PanopticImage(pred, {50: Segment(1), 51: Segment(1)}, TAX),
    )


def test_one_crowd_per_class_quirk_is_reproduced_by_default():
    # panopticapi remembers only the last-listed crowd segment of a class (31): segment 50
    # on crowd 30 is a false positive; crowd segments are never matched nor missed
    acc = PQAccumulator(TAX, "coco")
    acc.update(*crowd_pair())
    person = acc.result().by_id(1)
    assert (person.tp, person.fp, person.fn) == (0, 1, 0)
    every = PQAccumulator(TAX, "coco-all-crowds")
    every.update(*crowd_pair())
    assert every.result().by_id(1).fp == 0
    assert acc.result().all.n == 1 and every.result().all.n == 0


def test_accumulators_merge():
    a = PQAccumulator(TAX, "coco")
    a.update(gt_label(), pred_label())
    b = PQAccumulator(TAX, "coco")
    b.update(*crowd_pair())
    both = PQAccumulator(TAX, "coco")
    both.update(gt_label(), pred_label())
    both.update(*crowd_pair())
    merged = a + b
    assert merged.result() == both.result()
    assert sum([a, b]).result() == both.result()
    assert a.images == 1 and merged.images == 2
    a += b
    assert a.result() == both.result()
    with pytest.raises(EvaluationError, match="different protocols"):
        a + PQAccumulator(TAX, "lidar")


def test_shape_mismatch_is_an_error():
    small = PanopticImage(PRED_IDS[:, :4], {7: Segment(10), 5: Segment(1)}, TAX)
    with pytest.raises(EvaluationError) as info:
        PQAccumulator(TAX).update(gt_label(), small, gt_where="gt.json, image 3", pred_where="p")
    assert str(info.value) == (
        "p: the prediction is 4x4 but the ground truth gt.json, image 3 is 8x4"
    )


def test_unlisted_and_absent_segments_are_errors():
    unlisted = PanopticImage(PRED_IDS, {7: Segment(10), 5: Segment(1)}, TAX)
    with pytest.raises(FormatError) as info:
        PQAccumulator(TAX).update(gt_label(), unlisted, pred_where="pred.json, image 3")
    assert str(info.value) == (
        "pred.json, image 3: segment id 6 occurs in the ids (2 pixels) but is not listed "
        "among its segments"
    )
    extra = dict(gt_label().segments) | {99: Segment(2)}
    with pytest.raises(FormatError, match=r"gt: segment id 99 \(category 2\) is listed but"):
        PQAccumulator(TAX).update(PanopticImage(GT_IDS, extra, TAX), pred_label(), gt_where="gt")


def test_unknown_category_is_an_error():
    bad = PanopticImage(PRED_IDS, {7: Segment(10), 5: Segment(1), 6: Segment(4)}, TAX)
    with pytest.raises(FormatError) as info:
        PQAccumulator(TAX).update(gt_label(), bad, pred_where="pred.json, image 3")
    assert str(info.value) == (
        "pred.json, image 3, segment 6: unknown category_id 4; taxonomy t knows [1, 2, 10]"
    )


# ----------------------------------------------------------------------------- lidar
LTAX = Taxonomy(
    [
        Category(0, "unlabeled", False, ignore_in_eval=True),
        Category(1, "car", True),
        Category(2, "road", False),
        Category(3, "bicycle", True),
    ],
    void_id=0,
    name="l",
)
# points:        0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15
LGT = np.array([11, 11, 11, 11, 11, 11, 20, 20, 20, 20, 20, 20, 0, 0, 12, 12])
LPRED = np.array([101, 101, 101, 101, 101, 200, 200, 200, 200, 200, 200, 200, 102, 102, 103, 0])


def lidar_pair(car_raw=1):
    gt = PanopticPointCloud(LGT, {11: Segment(car_raw), 20: Segment(2), 12: Segment(1)}, LTAX)
    pred = PanopticPointCloud(
        LPRED, {101: Segment(1), 200: Segment(2), 102: Segment(1), 103: Segment(1)}, LTAX
    )
    return gt, pred


def test_lidar_case_by_hand():
    # points 12-13 (GT unlabeled) are removed from both sides, so prediction 102 vanishes;
    # car 11 vs 101: 5 / 6; road 20 vs 200: 6 / 7; car 12 (2 points) and prediction 103
    # (1 point) are unmatched but under min_size 3; bicycle is absent and counts 0
    acc = PQAccumulator(LTAX, replace(LIDAR, min_size=3))
    acc.update(*lidar_pair())
    r = acc.result()
    car, road, bike = r.by_id(1), r.by_id(2), r.by_id(3)
    assert (car.tp, car.fp, car.fn, car.sq, car.rq) == (1, 0, 0, 5 / 6, 1.0)
    assert (road.tp, road.fp, road.fn, road.pq) == (1, 0, 0, 6 / 7)
    assert (bike.pq, bike.tp) == (0.0, 0)
    assert r.all.n == 3 and r.things.n == 2 and r.stuff.n == 1
    assert r.all.pq == pytest.approx((5 / 6 + 6 / 7) / 3, abs=1e-15)
    assert r.things.pq == pytest.approx(5 / 12, abs=1e-15)
    # confusion of kept points: car -> car 6, car -> road 1, car -> void 1; road -> road 6
    assert r.extra["miou"] == pytest.approx((6 / 8 + 6 / 7) / 3, abs=1e-15)
    assert r.extra["pq_dagger"] == pytest.approx((5 / 6 + 6 / 7) / 3, abs=1e-15)


def test_lidar_without_minimum_size_counts_small_segments():
    acc = PQAccumulator(LTAX, "lidar")
    acc.update(*lidar_pair())
    car = acc.result().by_id(1)
    assert (car.tp, car.fp, car.fn) == (1, 1, 1)
    assert car.pq == pytest.approx(5 / 12, abs=1e-15)


def test_label_map_folds_raw_ids():
    raw = Taxonomy([*LTAX, Category(10, "moving-car", True)], name="raw")
    protocol = replace(
        LIDAR, name="lidar-mapped", min_size=3, label_map=LabelMap({10: 1, 1: 1, 2: 2, 3: 3})
    )
    acc = PQAccumulator(LTAX, protocol)
    gt, pred = lidar_pair(car_raw=10)
    gt.taxonomy = raw
    acc.update(gt, pred)
    assert acc.result().by_id(1).tp == 1
    assert acc.class_index(0) == -1  # unmapped -> default 0 = void


def test_protocol_lookup():
    assert get_protocol("coco") is COCO
    with pytest.raises(EvaluationError, match="did you mean 'coco'"):
        get_protocol("cocoo")
