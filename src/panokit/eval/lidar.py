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


def _is_lidar_protocol(acc: PQAccumulator) -> bool:
    """Whether the accumulator's protocol has the semantic-kitti-api rules that
    :func:`add_pairs` implements (else the general histogram path is used)."""
    proto = acc.protocol
    return (
        proto.remove_gt_ignored
        and not proto.crowd
        and not proto.void_in_union
        and proto.fp_ignore_fraction is None
        and proto.gt_area == "pixels"
    )


def _class_indices(
    acc: PQAccumulator, categories: NDArray[np.int64], where: str
) -> NDArray[np.int64]:
    """Evaluated class index of each category (-1 = not evaluated), via the accumulator."""
    if categories.size == 0:
        return np.zeros(0, dtype=np.int64)
    distinct, inverse = np.unique(categories, return_inverse=True)
    table = np.array([acc.class_index(int(c), where) for c in distinct.tolist()], dtype=np.int64)
    out: NDArray[np.int64] = table[inverse.ravel()]
    return out


def add_pairs(
    acc: PQAccumulator,
    gt_classes: NDArray[np.int64],
    pred_classes: NDArray[np.int64],
    gt_index: NDArray[np.intp],
    pred_index: NDArray[np.intp],
    counts: NDArray[np.int64],
) -> None:
    """Add one scan given sparsely -- class index per gt / pred segment (-1 = ignored or
    void) and (gt, pred, points) triplets -- under the semantic-kitti-api rules: points of
    ignored ground truth leave both sides, IoU > threshold matches within a class,
    unmatched segments under ``min_size`` points are neither FN nor FP."""
    k = len(acc.classes)
    proto = acc.protocol
    kept = gt_classes[gt_index] >= 0
    gi, pi, c = gt_index[kept], pred_index[kept], counts[kept].astype(np.float64)
    gc, pc = gt_classes[gi], pred_classes[pi]
    g_area = np.bincount(gi, weights=c, minlength=len(gt_classes))
    p_area = np.bincount(pi, weights=c, minlength=len(pred_classes))
    same = gc == pc
    sg, sp, inter = gi[same], pi[same], c[same]
    iou = inter / (g_area[sg] + p_area[sp] - inter)
    hit = iou > proto.iou_threshold
    hit_cls = gc[same][hit]
    acc.iou += np.bincount(hit_cls, weights=iou[hit], minlength=k)
    acc.tp += np.bincount(hit_cls, minlength=k)
    matched_g = np.zeros(len(gt_classes), dtype=np.bool_)
    matched_g[sg[hit]] = True
    matched_p = np.zeros(len(pred_classes), dtype=np.bool_)
    matched_p[sp[hit]] = True
    missed = (gt_classes >= 0) & ~matched_g & (g_area > 0) & (g_area >= proto.min_size)
    acc.fn += np.bincount(gt_classes[missed], minlength=k)
    extra = (pred_classes >= 0) & ~matched_p & (p_area > 0) & (p_area >= proto.min_size)
    acc.fp += np.bincount(pred_classes[extra], minlength=k)
    if acc.confusion is not None:
        pcol = np.where(pc >= 0, pc, k)
        acc.confusion += (
            np.bincount(gc * (k + 1) + pcol, weights=c, minlength=(k + 1) ** 2)
            .astype(np.int64)
            .reshape(k + 1, k + 1)
        )
    acc.images += 1


class LidarTask:
    """(gt, pred) raw file pairs for :func:`panokit.eval.evaluate.run_task`."""

    def __init__(self, pairs: Sequence[tuple[RawScan, RawScan, str, str]]) -> None:
        self.pairs = list(pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def accumulate(self, acc: PQAccumulator, i: int) -> None:
        """Read pair ``i`` and add it to ``acc``."""
        gt, pred, gt_where, pred_where = self.pairs[i]
        if not _is_lidar_protocol(acc):
            hist, gt_table, pred_table = raw_histogram(gt, pred)
            acc.update_histogram(hist, gt_table, pred_table, gt_where, pred_where, unit="points")
            return
        g = gt.values()
        p = pred.values()
        if g.size != p.size:
            raise EvaluationError(
                f"{pred.path}: the prediction has {p.size} points but the ground truth "
                f"{gt.path} has {g.size}"
            )
        gu, pu, gi, pi, counts = joint_pairs(g, p)
        g_cls = _class_indices(acc, gt.categories(gu), gt_where)
        p_cls = _class_indices(acc, pred.categories(pu), pred_where)
        g_cls[gu == 0] = -1  # value 0 is void on both sides
        p_cls[pu == 0] = -1
        add_pairs(acc, g_cls, p_cls, gi, pi, counts)


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


__all__ = [
    "RAW_ATTR",
    "LidarTask",
    "RawScan",
    "add_pairs",
    "joint_pairs",
    "lidar_task",
    "raw_histogram",
]
