"""The run-length joint histogram equals a brute-force count over every element pair."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from panokit.core import Segment
from panokit.core.codecs import RGB24
from panokit.eval.histogram import (
    SegmentTable,
    joint_histogram,
    pair_runs,
    rgb24_joint_histogram,
)


def brute(gt, pred, gt_ids, pred_ids):
    rows = np.concatenate([[0], gt_ids])
    cols = np.concatenate([[0], pred_ids])
    out = np.zeros((len(rows), len(cols)), np.int64)
    for g, p in zip(gt.ravel().tolist(), pred.ravel().tolist(), strict=True):
        out[int(np.flatnonzero(rows == g)[0]), int(np.flatnonzero(cols == p)[0])] += 1
    return out


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 9), st.integers(1, 12), st.integers(0, 2**32 - 1))
def test_histogram_matches_brute_force(h, w, seed):
    rng = np.random.default_rng(seed)
    gt_ids = np.sort(rng.choice(np.arange(1, 1 << 24), size=4, replace=False))
    pred_ids = np.sort(rng.choice(np.arange(1, 1 << 24), size=3, replace=False))
    gt = rng.choice(np.concatenate([[0], gt_ids]), size=(h, w)).astype(np.uint32)
    pred = rng.choice(np.concatenate([[0], pred_ids]), size=(h, w)).astype(np.uint32)
    expected = brute(gt, pred, gt_ids, pred_ids)
    hist = joint_histogram(gt, pred, gt_ids.astype(np.int64), pred_ids.astype(np.int64))
    assert np.array_equal(hist.counts, expected)
    assert hist.unknown_gt == {} and hist.unknown_pred == {}
    rgb = rgb24_joint_histogram(
        RGB24.encode(gt), RGB24.encode(pred), gt_ids.astype(np.int64), pred_ids.astype(np.int64)
    )
    assert np.array_equal(rgb.counts, expected)


def test_runs_and_unknown_ids():
    gt = np.array([[5, 5, 5, 9], [9, 9, 0, 0]], np.uint32)
    pred = np.array([[1, 1, 2, 2], [2, 2, 2, 2]], np.uint32)
    starts, lengths = pair_runs(gt, pred)
    assert starts.tolist() == [0, 2, 3, 6] and lengths.tolist() == [2, 1, 3, 2]
    hist = joint_histogram(gt, pred, np.array([5]), np.array([1, 2]))
    assert hist.unknown_gt == {9: 3}
    assert hist.counts.tolist() == [[0, 0, 5], [0, 2, 1]]


def test_segment_table_keeps_listing_order_as_rank():
    table = SegmentTable.from_segments(
        {40: Segment(1, iscrowd=True), 7: Segment(2, declared_area=12), 9: Segment(1)}
    )
    assert table.ids.tolist() == [7, 9, 40]
    assert table.rank.tolist() == [1, 2, 0]
    assert table.iscrowd.tolist() == [False, False, True]
    assert table.declared_area.tolist() == [12, -1, -1]
