"""The compiled RGB24 run finder gives exactly the numpy path's joint histogram."""

import numpy as np
import pytest

from panokit.core.codecs import RGB24
from panokit.eval import histogram


def _pair(seed):
    rng = np.random.default_rng(seed)
    gt = np.zeros((37, 53), np.int64)
    gt[5:20, 3:40] = 70000
    gt[20:, :] = 300
    gt[rng.integers(0, 37, 40), rng.integers(0, 53, 40)] = 5
    pred = np.roll(gt, 2, axis=1)
    pred[pred == 300] = 301
    pred[rng.integers(0, 37, 40), rng.integers(0, 53, 40)] = 9  # an id nobody lists
    return RGB24.encode(gt), RGB24.encode(pred)


def _numpy_path(monkeypatch, gt_rgb, pred_rgb, gt_sorted, pred_sorted):
    monkeypatch.setattr(histogram, "_compiled_pair_runs", lambda: None)
    try:
        return histogram.rgb24_joint_histogram(gt_rgb, pred_rgb, gt_sorted, pred_sorted)
    finally:
        monkeypatch.undo()


@pytest.mark.parametrize("seed", range(5))
def test_compiled_and_numpy_paths_agree(monkeypatch, seed):
    if histogram._compiled_pair_runs() is None:
        pytest.skip("panokit._speedups was not built (no C compiler at install)")
    gt_rgb, pred_rgb = _pair(seed)
    gt_sorted = np.array([5, 300, 70000], np.int64)
    pred_sorted = np.array([5, 301, 70000], np.int64)
    fast = histogram.rgb24_joint_histogram(gt_rgb, pred_rgb, gt_sorted, pred_sorted)
    slow = _numpy_path(monkeypatch, gt_rgb, pred_rgb, gt_sorted, pred_sorted)
    np.testing.assert_array_equal(fast.counts, slow.counts)
    assert fast.unknown_gt == slow.unknown_gt == {}
    assert fast.unknown_pred == slow.unknown_pred
    assert set(fast.unknown_pred) == {9}
    assert int(fast.counts.sum()) == 37 * 53  # unlisted ids are counted as void
    assert fast.unknown_pred[9] == int(np.count_nonzero(RGB24.decode(pred_rgb) == 9))


def test_compiled_runs_known_values():
    runs = histogram._compiled_pair_runs()
    if runs is None:
        pytest.skip("panokit._speedups was not built (no C compiler at install)")
    gt = np.zeros((2, 3, 3), np.uint8)
    pred = gt.copy()
    gt[0, 2] = [1, 2, 3]
    pred[1, 1, 0] = 5
    starts, gt_ids, pred_ids = (np.frombuffer(b, np.int64).tolist() for b in runs(gt, pred, 6))
    assert starts == [0, 2, 3, 4, 5]
    assert gt_ids == [0, 1 + 2 * 256 + 3 * 65536, 0, 0, 0]
    assert pred_ids == [0, 0, 0, 5, 0]
    with pytest.raises(ValueError, match="both buffers must hold n RGB pixels"):
        runs(gt, pred, 7)
