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

from panokit.core.label import PanopticLabel
from panokit.core.taxonomy import Category, Taxonomy
from panokit.dataset import PanopticDataset
from panokit.errors import EvaluationError, FormatError
from panokit.eval.accumulator import PQAccumulator
from panokit.eval.histogram import JointHistogram, SegmentTable, pair_runs
from panokit.eval.protocols import Protocol, get_protocol
from panokit.eval.results import PQResult, Summary
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


class LidarSegAccumulator:
    """nuScenes-lidarseg semantic evaluation (nuscenes-devkit ``eval/lidarseg/evaluate.py``
    ``LidarSegEval`` with ``utils.ConfusionMatrix``), mergeable like :class:`PQAccumulator`.

    A global confusion matrix over the challenge classes 0..K (rows ground truth, columns
    prediction), with the row and column of class 0 (ignore) zeroed.  Per class IoU =
    intersection / union where the devkit casts the union to float32 (reproduced: it
    rounds unions above 2**24 points); mIoU is the mean over classes whose union is not
    empty (``nanmean``: classes absent from both sides do not count); frequency-weighted
    IoU = sum(points of class in the ground truth x IoU) / all counted points.  As the
    devkit does, a prediction of class 0 is an error.

    ``result()`` has no PQ (``n = 0`` everywhere, no per-class rows); ``extra`` holds
    ``miou``, ``fw_iou``, ``images`` and ``iou/<class name>`` for every class with a
    non-empty union (the devkit reports NaN for the others).
    """

    def __init__(self, taxonomy: Taxonomy, protocol: str | Protocol = "nuscenes-lidarseg") -> None:
        self.taxonomy = taxonomy
        self.protocol = get_protocol(protocol)
        self.classes: tuple[Category, ...] = tuple(
            c for c in taxonomy.evaluated if c.id != taxonomy.void_id
        )
        self._index = {c.id: i + 1 for i, c in enumerate(self.classes)}
        size = len(self.classes) + 1
        self.confusion = np.zeros((size, size), dtype=np.int64)
        self.images = 0

    # ------------------------------------------------------------------- merging
    def _check(self, other: object) -> LidarSegAccumulator:
        if not isinstance(other, LidarSegAccumulator):
            raise TypeError(f"cannot add {type(other).__name__} to a LidarSegAccumulator")
        if other.protocol != self.protocol or other.classes != self.classes:
            raise EvaluationError("cannot merge accumulators of different protocols or taxonomies")
        return other

    def __iadd__(self, other: LidarSegAccumulator) -> LidarSegAccumulator:
        other = self._check(other)
        self.confusion += other.confusion
        self.images += other.images
        return self

    def __add__(self, other: LidarSegAccumulator) -> LidarSegAccumulator:
        out = self.copy()
        out += other
        return out

    def __radd__(self, other: Any) -> LidarSegAccumulator:
        if other == 0:
            return self.copy()
        return NotImplemented

    def copy(self) -> LidarSegAccumulator:
        """An independent copy."""
        out = LidarSegAccumulator.__new__(LidarSegAccumulator)
        out.__dict__.update(self.__dict__)
        out.confusion = self.confusion.copy()
        return out

    # ------------------------------------------------------------------- updating
    def _point_classes(self, label: PanopticLabel, where: str) -> NDArray[np.intp]:
        """Class index (0 = ignore, 1..K) of every point of a label."""
        label_map = self.protocol.label_map
        seg_ids = np.array([0, *sorted(label.segments)], dtype=np.int64)
        table = np.zeros(len(seg_ids), dtype=np.intp)
        for i, seg_id in enumerate(seg_ids[1:].tolist(), start=1):
            cat = label.segments[seg_id].category_id
            target = label_map[cat] if label_map is not None else cat
            index = self._index.get(target)
            if index is None:
                if target != self.taxonomy.void_id and target not in self.taxonomy:
                    raise FormatError(
                        f"{where}, segment {seg_id}: unknown category_id {cat}; taxonomy "
                        f"{self.taxonomy.name or '(unnamed)'} knows {self.taxonomy.ids}"
                    )
                index = 0
            table[i] = index
        ids = np.asarray(label.ids)
        top = int(seg_ids[-1])
        if top < 4 * ids.size + 65536 and ids.dtype.kind == "u":  # ids 1..S: a lookup table
            lookup = np.full(top + 2, -1, dtype=np.intp)
            lookup[seg_ids] = table
            out: NDArray[np.intp] = lookup[np.minimum(ids, top + 1)]
            unknown = out < 0
        else:
            pos = np.minimum(np.searchsorted(seg_ids, ids), len(seg_ids) - 1)
            unknown = seg_ids[pos] != ids
            out = table[pos]
        if unknown.any():
            raise FormatError(
                f"{where}: segment id {int(ids[unknown][0])} occurs in the ids but is not listed "
                "among its segments"
            )
        return out

    def update(
        self,
        gt: PanopticLabel,
        pred: PanopticLabel,
        gt_where: str = "ground truth",
        pred_where: str = "prediction",
    ) -> None:
        """Add one scan (labels of the same length)."""
        if gt.ids.shape != pred.ids.shape:
            raise EvaluationError(
                f"{pred_where}: the prediction has {pred.ids.size} points but the ground truth "
                f"{gt_where} has {gt.ids.size}"
            )
        g = self._point_classes(gt, gt_where)
        p = self._point_classes(pred, pred_where)
        self.update_arrays(g, p, pred_where)

    def update_arrays(
        self, gt_classes: NDArray[Any], pred_classes: NDArray[Any], pred_where: str = "prediction"
    ) -> None:
        """Add one scan given as class indices per point (0 = ignore, 1..K)."""
        size = len(self.classes) + 1
        ignored = int(np.count_nonzero(pred_classes == 0))
        if ignored:
            raise FormatError(
                f"{pred_where}: {ignored} points are predicted as class 0 (ignore / void); "
                f"nuScenes-lidarseg predictions must be 1..{size - 1} (the devkit refuses 0)"
            )
        key = np.asarray(gt_classes, dtype=np.intp) * size + np.asarray(pred_classes, np.intp)
        self.confusion += np.bincount(key.ravel(), minlength=size * size).reshape(size, size)
        self.images += 1

    # -------------------------------------------------------------------- results
    def class_iou(self) -> NDArray[np.float64]:
        """IoU of classes 0..K as the devkit computes it (NaN where the union is empty;
        class 0 is always NaN)."""
        conf = self.confusion.copy()
        conf[0, :] = 0
        conf[:, 0] = 0
        inter = np.diagonal(conf)
        union = conf.sum(axis=1) + conf.sum(axis=0) - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            out: NDArray[np.float64] = inter / union.astype(np.float32)
        return out

    def result(self) -> PQResult:
        """mIoU, frequency-weighted IoU and per-class IoU in ``extra`` (no PQ)."""
        conf = self.confusion.copy()
        conf[0, :] = 0
        conf[:, 0] = 0
        iou = self.class_iou()
        extra: dict[str, float] = {"images": float(self.images)}
        total = int(conf.sum())
        if np.isfinite(iou).any():
            extra["miou"] = float(np.nanmean(iou))
            extra["fw_iou"] = float(np.nansum(conf.sum(axis=1) * iou) / total)
        for cat, value in zip(self.classes, iou[1:].tolist(), strict=True):
            if np.isfinite(value):
                extra[f"iou/{cat.name}"] = float(value)
        empty = Summary(0.0, 0.0, 0.0, 0)
        return PQResult(self.protocol.name, empty, empty, empty, [], extra)

    def __repr__(self) -> str:
        return f"LidarSegAccumulator({len(self.classes)} classes, {self.images} scans)"


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
    "LidarSegAccumulator",
    "LidarTask",
    "RawScan",
    "add_pairs",
    "joint_pairs",
    "lidar_task",
    "raw_histogram",
]
