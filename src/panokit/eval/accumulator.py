"""The mergeable PQ accumulator: per-class sums of IoU, TP, FP, FN (+ a confusion matrix).

``PQAccumulator(taxonomy, protocol).update(gt, pred)`` per label pair; accumulators add
(``a + b``, ``a += b``), so workers return partial accumulators that are summed, and
``result()`` gives a :class:`~panokit.eval.results.PQResult`.  Pure numpy: no file is
opened here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from panokit.core.label import PanopticLabel
from panokit.core.taxonomy import Category, Taxonomy
from panokit.errors import EvaluationError, FormatError
from panokit.eval.histogram import (
    JointHistogram,
    SegmentTable,
    joint_histogram,
    rgb24_joint_histogram,
)
from panokit.eval.protocols import Protocol, get_protocol
from panokit.eval.results import ClassResult, PQResult, Summary

_EPS = 1e-15


def _shape_text(shape: tuple[int, ...]) -> str:
    return f"{shape[1]}x{shape[0]}" if len(shape) == 2 else f"{shape[0]} elements"


def _check_shapes(
    gt: tuple[int, ...], pred: tuple[int, ...], gt_where: str, pred_where: str
) -> None:
    if gt != pred:
        raise EvaluationError(
            f"{pred_where}: the prediction is {_shape_text(pred)} but the ground truth "
            f"{gt_where} is {_shape_text(gt)}"
        )


class PQAccumulator:
    """Panoptic quality sums over the evaluated categories of ``taxonomy``.

    With a ``protocol.label_map`` segment categories are raw ids mapped onto
    ``taxonomy``; categories that are void, ``ignore_in_eval`` or in
    ``protocol.ignore_ids`` are not evaluated (ground truth there is void).
    """

    def __init__(self, taxonomy: Taxonomy, protocol: str | Protocol = "coco") -> None:
        self.taxonomy = taxonomy
        self.protocol = get_protocol(protocol)
        ignored = set(self.protocol.ignore_ids) | {taxonomy.void_id}
        self.classes: tuple[Category, ...] = tuple(
            c for c in taxonomy.evaluated if c.id not in ignored
        )
        size = len(self.classes)
        self.iou = np.zeros(size, dtype=np.float64)
        self.tp = np.zeros(size, dtype=np.int64)
        self.fp = np.zeros(size, dtype=np.int64)
        self.fn = np.zeros(size, dtype=np.int64)
        self.confusion: NDArray[np.int64] | None = None
        if self.protocol.miou or self.protocol.pq_dagger:
            self.confusion = np.zeros((size + 1, size + 1), dtype=np.int64)
        self.images = 0
        self._index = {c.id: i for i, c in enumerate(self.classes)}
        self._cache: dict[int, int] = {}

    # ------------------------------------------------------------------- merging
    def _check_compatible(self, other: object) -> PQAccumulator:
        if not isinstance(other, PQAccumulator):
            raise TypeError(f"cannot add {type(other).__name__} to a PQAccumulator")
        if other.protocol != self.protocol or other.classes != self.classes:
            raise EvaluationError(
                "cannot merge accumulators of different protocols or taxonomies "
                f"({self.protocol.name!r} and {other.protocol.name!r})"
            )
        return other

    def __iadd__(self, other: PQAccumulator) -> PQAccumulator:
        other = self._check_compatible(other)
        self.iou += other.iou
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        if self.confusion is not None and other.confusion is not None:
            self.confusion += other.confusion
        self.images += other.images
        return self

    def __add__(self, other: PQAccumulator) -> PQAccumulator:
        self._check_compatible(other)
        out = self.copy()
        out += other
        return out

    def __radd__(self, other: Any) -> PQAccumulator:
        if other == 0:  # so that sum(accumulators) works
            return self.copy()
        return NotImplemented

    def copy(self) -> PQAccumulator:
        """An independent copy."""
        out = PQAccumulator.__new__(PQAccumulator)
        out.__dict__.update(self.__dict__)
        out.iou = self.iou.copy()
        out.tp = self.tp.copy()
        out.fp = self.fp.copy()
        out.fn = self.fn.copy()
        out.confusion = None if self.confusion is None else self.confusion.copy()
        out._cache = dict(self._cache)
        return out

    # ------------------------------------------------------------------- classes
    def class_index(self, category_id: int, where: str = "", segment_id: int | None = None) -> int:
        """Index of a segment category among the evaluated classes, -1 when ignored."""
        cached = self._cache.get(category_id)
        if cached is not None:
            return cached
        target = category_id
        label_map = self.protocol.label_map
        if label_map is not None:
            target = label_map[category_id]
        if target in self._index:
            index = self._index[target]
        elif target == self.taxonomy.void_id or target in self.taxonomy:
            index = -1
        else:
            seg = f", segment {segment_id}" if segment_id is not None else ""
            mapped = f" (mapped to {target})" if target != category_id else ""
            raise FormatError(
                f"{where or 'label'}{seg}: unknown category_id {category_id}{mapped}; taxonomy "
                f"{self.taxonomy.name or '(unnamed)'} knows {self.taxonomy.ids}"
            )
        self._cache[category_id] = index
        return index

    def _classes_of(self, table: SegmentTable, where: str) -> NDArray[np.int64]:
        out = np.empty(len(table), dtype=np.int64)
        for i, (cat, seg) in enumerate(
            zip(table.categories.tolist(), table.ids.tolist(), strict=True)
        ):
            out[i] = self.class_index(cat, where, seg)
        return out

    # ------------------------------------------------------------------- updating
    def update(
        self,
        gt: PanopticLabel,
        pred: PanopticLabel,
        gt_where: str = "ground truth",
        pred_where: str = "prediction",
    ) -> None:
        """Add one (ground truth, prediction) pair of labels of the same shape."""
        self.update_arrays(
            gt.ids,
            SegmentTable.from_segments(gt.segments),
            pred.ids,
            SegmentTable.from_segments(pred.segments),
            gt_where=gt_where,
            pred_where=pred_where,
            unit="points" if gt.ids.ndim == 1 else "pixels",
        )

    def update_arrays(
        self,
        gt_ids: NDArray[Any],
        gt_table: SegmentTable,
        pred_ids: NDArray[Any],
        pred_table: SegmentTable,
        gt_where: str = "ground truth",
        pred_where: str = "prediction",
        unit: str = "pixels",
    ) -> None:
        """Add one pair given as id arrays and segment tables."""
        _check_shapes(gt_ids.shape, pred_ids.shape, gt_where, pred_where)
        hist = joint_histogram(gt_ids, pred_ids, gt_table.ids, pred_table.ids)
        self.update_histogram(hist, gt_table, pred_table, gt_where, pred_where, unit)

    def update_rgb24(
        self,
        gt_rgb: NDArray[np.uint8],
        gt_table: SegmentTable,
        pred_rgb: NDArray[np.uint8],
        pred_table: SegmentTable,
        gt_where: str = "ground truth",
        pred_where: str = "prediction",
    ) -> None:
        """Add one pair given as RGB24-encoded (H, W, 3) uint8 arrays (COCO PNGs as
        decoded), without building id arrays: the fast path."""
        _check_shapes(gt_rgb.shape[:2], pred_rgb.shape[:2], gt_where, pred_where)
        hist = rgb24_joint_histogram(gt_rgb, pred_rgb, gt_table.ids, pred_table.ids)
        self.update_histogram(hist, gt_table, pred_table, gt_where, pred_where)

    def update_histogram(
        self,
        hist: JointHistogram,
        gt_table: SegmentTable,
        pred_table: SegmentTable,
        gt_where: str = "ground truth",
        pred_where: str = "prediction",
        unit: str = "pixels",
    ) -> None:
        """Match the segments of one pair from its joint histogram and add the counts."""
        for where, unknown in ((gt_where, hist.unknown_gt), (pred_where, hist.unknown_pred)):
            if unknown:
                seg_id, count = next(iter(unknown.items()))
                more = f" (and {len(unknown) - 1} more unlisted ids)" if len(unknown) > 1 else ""
                raise FormatError(
                    f"{where}: segment id {seg_id} occurs in the ids ({count} {unit}) but is not "
                    f"listed among its segments{more}"
                )
        counts = hist.counts
        gt_pixels = counts[1:].sum(axis=1)
        pred_pixels_all = counts.sum(axis=0)[1:]
        for where, pixels, table in (
            (gt_where, gt_pixels, gt_table),
            (pred_where, pred_pixels_all, pred_table),
        ):
            absent = np.flatnonzero(pixels == 0)
            if absent.size:
                j = int(absent[0])
                raise FormatError(
                    f"{where}: segment id {int(table.ids[j])} (category "
                    f"{int(table.categories[j])}) is listed but occurs nowhere in the ids"
                )
        proto = self.protocol
        gcls = self._classes_of(gt_table, gt_where)
        pcls = self._classes_of(pred_table, pred_where)
        gt_eval = gcls >= 0
        if proto.remove_gt_ignored:
            kept = counts[1:][gt_eval]
            pred_area = kept.sum(axis=0)[1:]
            void_pred = np.zeros(len(pred_table), dtype=np.int64)
        else:
            pred_area = pred_pixels_all
            void_pred = counts[0, 1:] + counts[1:][~gt_eval, 1:].sum(axis=0)
        gt_area = gt_pixels
        if proto.gt_area == "declared":
            gt_area = np.where(gt_table.declared_area >= 0, gt_table.declared_area, gt_pixels)
        crowd = gt_table.iscrowd if proto.crowd else np.zeros(len(gt_table), dtype=np.bool_)

        inter = counts[1:, 1:]
        rows, cols = np.nonzero(inter)
        same = gt_eval[rows] & (gcls[rows] == pcls[cols]) & ~crowd[rows]
        rows, cols = rows[same], cols[same]
        overlap = inter[rows, cols]
        union = pred_area[cols] + gt_area[rows] - overlap
        if proto.void_in_union:
            union = union - void_pred[cols]
        iou = overlap / union
        hit = iou > proto.iou_threshold
        k = len(self.classes)
        if hit.any():
            hit_cls = gcls[rows[hit]]
            self.iou += np.bincount(hit_cls, weights=iou[hit], minlength=k)
            self.tp += np.bincount(hit_cls, minlength=k)
        gt_matched = np.zeros(len(gt_table), dtype=np.bool_)
        gt_matched[rows[hit]] = True
        pred_matched = np.zeros(len(pred_table), dtype=np.bool_)
        pred_matched[cols[hit]] = True

        missed = gt_eval & ~gt_matched & ~crowd & (gt_pixels >= proto.min_size)
        if missed.any():
            self.fn += np.bincount(gcls[missed], minlength=k)

        extra = pcls >= 0
        extra &= ~pred_matched & (pred_area > 0) & (pred_area >= proto.min_size)
        if proto.fp_ignore_fraction is not None and extra.any():
            ignored = void_pred.astype(np.int64)
            crowd_rows = np.flatnonzero(crowd & gt_eval)
            if crowd_rows.size:
                if proto.one_crowd_per_class:
                    last: dict[int, int] = {}
                    for r in sorted(crowd_rows.tolist(), key=lambda r: int(gt_table.rank[r])):
                        last[int(gcls[r])] = r
                    crowd_rows = np.array(sorted(last.values()), dtype=np.int64)
                same_class = gcls[crowd_rows][:, None] == pcls[None, :]
                ignored = ignored + (inter[crowd_rows] * same_class).sum(axis=0)
            with np.errstate(divide="ignore", invalid="ignore"):
                excused = ignored / np.maximum(pred_area, 1) > proto.fp_ignore_fraction
            extra &= ~excused
        if extra.any():
            self.fp += np.bincount(pcls[extra], minlength=k)

        if self.confusion is not None:
            g_class = np.concatenate([[k], np.where(gt_eval, gcls, k)])
            p_class = np.concatenate([[k], np.where(pcls >= 0, pcls, k)])
            keep = np.flatnonzero(g_class < k)
            sub = counts[keep]
            key = g_class[keep][:, None] * (k + 1) + p_class[None, :]
            self.confusion += (
                np.bincount(key.ravel(), weights=sub.ravel(), minlength=(k + 1) ** 2)
                .astype(np.int64)
                .reshape(k + 1, k + 1)
            )
        self.images += 1

    # -------------------------------------------------------------------- results
    def _class_row(self, i: int, miou: NDArray[np.float64] | None) -> ClassResult:
        cat = self.classes[i]
        iou, tp, fp, fn = float(self.iou[i]), int(self.tp[i]), int(self.fp[i]), int(self.fn[i])
        denominator = tp + 0.5 * fp + 0.5 * fn
        if self.protocol.pq_as_product:
            sq = iou / max(tp, _EPS)
            rq = tp / max(denominator, _EPS)
            pq = sq * rq
        elif tp + fp + fn == 0:
            pq = sq = rq = 0.0
        else:
            pq = iou / denominator
            sq = iou / tp if tp != 0 else 0.0
            rq = tp / denominator
        return ClassResult(cat.id, cat.name, cat.isthing, pq, sq, rq, tp, fp, fn, iou)

    def semantic_iou(self) -> NDArray[np.float64]:
        """Per-class IoU from the confusion matrix (rows ground truth, columns prediction);
        predictions of ignored classes count as misses of the ground-truth class."""
        if self.confusion is None:
            raise EvaluationError(f"protocol {self.protocol.name!r} keeps no confusion matrix")
        k = len(self.classes)
        conf = self.confusion.astype(np.float64)
        tp = np.diag(conf)[:k]
        fp = conf[:k, :k].sum(axis=0) - tp
        fn = conf[:k, :].sum(axis=1) - tp
        out: NDArray[np.float64] = tp / np.maximum(tp + fp + fn, _EPS)
        return out

    def _summary(self, rows: list[ClassResult]) -> Summary:
        if self.protocol.average == "present":
            rows = [r for r in rows if r.counted]
        n = len(rows)
        pq = sq = rq = 0.0
        for r in rows:
            pq += r.pq
            sq += r.sq
            rq += r.rq
        tp = sum(r.tp for r in rows)
        fp = sum(r.fp for r in rows)
        fn = sum(r.fn for r in rows)
        if n == 0:
            return Summary(0.0, 0.0, 0.0, 0, tp, fp, fn)
        return Summary(pq / n, sq / n, rq / n, n, tp, fp, fn)

    def result(self) -> PQResult:
        """PQ, SQ, RQ for All / Things / Stuff and per class (plus PQ-dagger / mIoU)."""
        sem = self.semantic_iou() if self.confusion is not None else None
        rows = [self._class_row(i, sem) for i in range(len(self.classes))]
        extra: dict[str, float] = {"images": float(self.images)}
        if sem is not None and len(rows):
            if self.protocol.miou:
                extra["miou"] = float(sem.mean())
            if self.protocol.pq_dagger:
                values = [r.pq if r.isthing else float(sem[i]) for i, r in enumerate(rows)]
                extra["pq_dagger"] = float(np.mean(values))
        return PQResult(
            protocol=self.protocol.name,
            all=self._summary(rows),
            things=self._summary([r for r in rows if r.isthing]),
            stuff=self._summary([r for r in rows if not r.isthing]),
            per_class=rows,
            extra=extra,
        )

    def __repr__(self) -> str:
        return (
            f"PQAccumulator({self.protocol.name!r}, {len(self.classes)} classes, "
            f"{self.images} images)"
        )


__all__ = ["PQAccumulator"]
