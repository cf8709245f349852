"""The fast LiDAR evaluation path: raw label files straight into the joint histogram.

SemanticKITTI and nuScenes label loaders carry a :class:`RawScan` (attribute
:data:`RAW_ATTR`) describing the file they read.  When every sample of both datasets has
one (datasets read by those formats and not modified since), :func:`lidar_task` returns a
task that reads the raw values of each pair, builds the (gt, pred) histogram over the runs
of equal values and hands it to :meth:`PQAccumulator.update_histogram` -- no label object,
no per-point segment relabelling.  The numbers are those of the label path: a segment is
one distinct value of the file (for SemanticKITTI the whole uint32, as semantic-kitti-api
keys instances), its category the semantic part of the value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from panokit.dataset import PanopticDataset
from panokit.errors import EvaluationError
from panokit.eval.accumulator import PQAccumulator
from panokit.eval.histogram import JointHistogram, SegmentTable, pair_runs
from panokit.formats.lidar_raw import RAW_ATTR, RawScan, dense_codes


def joint_pairs(
    gt_values: NDArray[Any], pred_values: NDArray[Any]
) -> tuple[NDArray[Any], NDArray[Any], NDArray[np.intp], NDArray[np.intp], NDArray[np.int64]]:
    """Distinct gt values, distinct pred values (both sorted) and the (gt index, pred
    index, points) triplets of every co-occurring pair, from the runs of equal pairs."""
    starts, lengths = pair_runs(gt_values, pred_values)
    gt_uniq, gi = dense_codes(np.ravel(gt_values)[starts])
    pred_uniq, pi = dense_codes(np.ravel(pred_values)[starts])
    n_pred = max(len(pred_uniq), 1)
    key = gi * n_pred + pi
    if len(gt_uniq) * n_pred <= max(4 * key.size, 1 << 20):
        flat = np.bincount(key, weights=lengths, minlength=1)
        nz = np.flatnonzero(flat)
        counts = flat[nz]
    else:  # pragma: no cover - thousands of segments on both sides
        nz, inverse = np.unique(key, return_inverse=True)
        counts = np.bincount(inverse.ravel(), weights=lengths)
    return gt_uniq, pred_uniq, nz // n_pred, nz % n_pred, counts.astype(np.int64)


def _segment_table(values: NDArray[Any], categories: NDArray[np.int64]) -> tuple[SegmentTable, int]:
    """The table of the non-zero values and the row offset of value index 0."""
    void = bool(values.size) and int(values[0]) == 0
    ids = values[1:] if void else values
    cats = categories[1:] if void else categories
    count = len(ids)
    table = SegmentTable(
        ids=np.asarray(ids, dtype=np.int64),
        categories=np.asarray(cats, dtype=np.int64),
        iscrowd=np.zeros(count, dtype=np.bool_),
        declared_area=np.full(count, -1, dtype=np.int64),
        rank=np.arange(count, dtype=np.int64),
    )
    return table, 0 if void else 1


def raw_histogram(gt: RawScan, pred: RawScan) -> tuple[JointHistogram, SegmentTable, SegmentTable]:
    """Read a raw pair and return its joint histogram and segment tables."""
    g = gt.values()
    p = pred.values()
    if g.size != p.size:
        raise EvaluationError(
            f"{pred.path}: the prediction has {p.size} points but the ground truth {gt.path} "
            f"has {g.size}"
        )
    gu, pu, gi, pi, counts = joint_pairs(g, p)
    gt_table, g_off = _segment_table(gu, gt.categories(gu))
    pred_table, p_off = _segment_table(pu, pred.categories(pu))
    matrix = np.zeros((len(gt_table) + 1, len(pred_table) + 1), dtype=np.int64)
    matrix[gi + g_off, pi + p_off] = counts
    return JointHistogram(matrix, {}, {}), gt_table, pred_table


class LidarTask:
    """(gt, pred) raw file pairs for :func:`panokit.eval.evaluate.run_task`."""

    def __init__(self, pairs: Sequence[tuple[RawScan, RawScan, str, str]]) -> None:
        self.pairs = list(pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def accumulate(self, acc: PQAccumulator, i: int) -> None:
        """Read pair ``i`` and add it to ``acc``."""
        gt, pred, gt_where, pred_where = self.pairs[i]
        hist, gt_table, pred_table = raw_histogram(gt, pred)
        acc.update_histogram(hist, gt_table, pred_table, gt_where, pred_where, unit="points")


def _raw_scan(dataset: PanopticDataset, index: int) -> RawScan | None:
    loader = dataset[index].label_loader
    found = getattr(loader, RAW_ATTR, None)
    return found if isinstance(found, RawScan) else None


def lidar_task(
    gt: PanopticDataset, pred: PanopticDataset, pairs: Sequence[tuple[int, int]]
) -> LidarTask | None:
    """The fast task when every sample of both datasets loads a raw LiDAR label file
    (unmodified ``semantic-kitti`` / ``nuscenes`` datasets), else None."""
    out = []
    for gi, pi in pairs:
        g = _raw_scan(gt, gi)
        p = _raw_scan(pred, pi)
        if g is None or p is None:
            return None
        key = gt[gi].key
        out.append(
            (g, p, f"ground-truth scan {key!r} ({g.path})", f"predicted scan {key!r} ({p.path})")
        )
    return LidarTask(out)


__all__ = ["RAW_ATTR", "LidarTask", "RawScan", "joint_pairs", "lidar_task", "raw_histogram"]
