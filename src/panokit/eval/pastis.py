"""The ``pastis`` protocol: panoptic PQ as the PASTIS benchmark's ``PanopticMeter``.

pastis-benchmark ``code/panoptic_metrics.py`` (after the 2022-06-27 fix), per image, on
per-pixel (instance, class) maps (:func:`panokit.formats.pastis.arrays_from_label`: a
segment's instance is its parcel id, void pixels are class 19 with instance 0):

1. every predicted instance whose IoU with a ground-truth *void* parcel (class 19, instance
   != 0; the void parcel's area counted on its void pixels only) exceeds 0.5 loses its
   instance id (its class is left unchanged, as in the official code);
2. instance and class of the prediction are zeroed on every ground-truth void pixel;
3. for each crop class c (the taxonomy's evaluated things: 1-18), with
   ``T = unique(instance_gt * (class_gt == c))`` and ``P`` likewise for the prediction:
   every (t, p) pair with IoU > 0.5 is a TP, where IoU = |t and p| /
   (|t within c| + |p within c| - |t and p|); FP = (len(P) - 1) - TP and
   FN = (len(T) - 1) - TP (the "- 1" drops id 0; reproduced even when 0 is absent, which
   happens only when class c covers the whole patch);
4. SQ = sum IoU / TP (0 without TP), RQ = TP / (TP + FP/2 + FN/2), PQ = SQ x RQ, averaged
   over the classes with TP + FP + FN > 0.

IoUs are compared in float32 as the official code does (torch float tensors) and summed in
float64 (the official float32 sums differ by ~1e-7).  The official code skips a class when
the running count of predictions or ground truths *in the batch* is zero; here every image
is its own batch, which differs only when a single instance covers a whole patch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from panokit.core.label import PanopticImage, PanopticLabel
from panokit.core.taxonomy import Category, Taxonomy
from panokit.errors import EvaluationError
from panokit.eval.class_counts import ClassCountsAccumulator

NAME = "pastis"
VOID_CLASS = 19
IOU_THRESHOLD = np.float32(0.5)


def _pairs(
    a: NDArray[np.int64], b: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Distinct (a, b) value pairs of two non-negative maps and their counts."""
    if a.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    base = int(b.max()) + 1
    keys, counts = np.unique(a.ravel() * base + b.ravel(), return_counts=True)
    return keys // base, keys % base, counts.astype(np.int64)


def _iou_above(inter: int, area_a: int, area_b: int) -> tuple[bool, float]:
    iou = np.float32(inter) / np.float32(area_a + area_b - inter)
    return bool(iou > IOU_THRESHOLD), float(iou)


def _by_class(
    instance: NDArray[np.int64], semantic: NDArray[np.int64]
) -> dict[int, dict[int, int]]:
    """class -> {instance id (non-zero): pixels of that instance with that class}."""
    out: dict[int, dict[int, int]] = {}
    inst, cls, n = _pairs(instance, semantic)
    for i, c, k in zip(inst.tolist(), cls.tolist(), n.tolist(), strict=True):
        if i != 0:
            out.setdefault(c, {})[i] = k
    return out


def panoptic_meter_counts(
    instance_pred: NDArray[Any],
    semantic_pred: NDArray[Any],
    instance_true: NDArray[Any],
    semantic_true: NDArray[Any],
    classes: list[int],
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Per-class [TP, FP, FN] rows and summed TP IoUs of one image (PanopticMeter.add)."""
    inst_p = np.array(instance_pred, dtype=np.int64)
    sem_p = np.array(semantic_pred, dtype=np.int64)
    inst_t = np.asarray(instance_true, dtype=np.int64)
    sem_t = np.asarray(semantic_true, dtype=np.int64)
    for name, arr in (
        ("instance", inst_p),
        ("instance", inst_t),
        ("semantic", sem_p),
        ("semantic", sem_t),
    ):
        if arr.size and int(arr.min()) < 0:
            raise EvaluationError(f"negative {name} id {int(arr.min())}")
    void = sem_t == VOID_CLASS
    if void.any():
        void_area: dict[int, int] = {}
        t_ids, t_counts = np.unique(inst_t[void], return_counts=True)
        void_area = {int(t): int(c) for t, c in zip(t_ids, t_counts, strict=True) if t != 0}
        if void_area:
            p_ids, p_counts = np.unique(inst_p, return_counts=True)
            pred_area = {int(p): int(c) for p, c in zip(p_ids, p_counts, strict=True)}
            jt, jp, jn = _pairs(inst_t, inst_p)
            drop = {
                p
                for t, p, n in zip(jt.tolist(), jp.tolist(), jn.tolist(), strict=True)
                if t in void_area and p != 0 and _iou_above(n, void_area[t], pred_area[p])[0]
            }
            if drop:
                inst_p[np.isin(inst_p, list(drop))] = 0
        inst_p[void] = 0
        sem_p[void] = 0
    total = inst_t.size
    counts = np.zeros((len(classes), 3), dtype=np.int64)
    ious = np.zeros(len(classes), dtype=np.float64)
    jt, jp, jn = _pairs(inst_t, inst_p)
    joint = {(t, p): n for t, p, n in zip(jt.tolist(), jp.tolist(), jn.tolist(), strict=True)}
    gt_by_class = _by_class(inst_t, sem_t)
    pred_by_class = _by_class(inst_p, sem_p)
    for k, cls in enumerate(classes):
        gt_in = gt_by_class.get(cls, {})
        pred_in = pred_by_class.get(cls, {})
        # len(unique(instance * (class == c))) - 1: id 0 is in the unique values unless
        # every pixel of the patch is a non-zero instance of class c
        n_true = len(gt_in) + (1 if sum(gt_in.values()) < total else 0) - 1
        n_pred = len(pred_in) + (1 if sum(pred_in.values()) < total else 0) - 1
        tp = 0
        if n_true != 0 and n_pred != 0:
            for t, t_area in gt_in.items():
                for p, p_area in pred_in.items():
                    above, iou = _iou_above(joint.get((t, p), 0), t_area, p_area)
                    if above:
                        tp += 1
                        ious[k] += iou
        counts[k] = (tp, n_pred - tp, n_true - tp)
    return counts, ious


class PastisPQAccumulator(ClassCountsAccumulator):
    """Mergeable PanopticMeter sums over the crop classes of the PASTIS taxonomy."""

    NAME = NAME
    PQ_AS_PRODUCT = True

    @classmethod
    def default_taxonomy(cls) -> Taxonomy:
        """The PASTIS classes (0 background, 1-18 crops, 19 void)."""
        from panokit.formats.pastis import taxonomy

        return taxonomy()

    @staticmethod
    def select(taxonomy: Taxonomy) -> tuple[Category, ...]:
        """The evaluated classes but void: the crops 1-18."""
        foreign = [c for c in taxonomy if not 0 <= c.id <= VOID_CLASS]
        if foreign:
            raise EvaluationError(
                f"the pastis protocol scores PASTIS class ids (0 background, 1-18 crops, "
                f"{VOID_CLASS} void) but taxonomy {taxonomy.name or '(unnamed)'} has "
                f"{foreign[0].id} ({foreign[0].name}); map the labels onto pastis first "
                "(panokit convert --map FILE)"
            )
        return tuple(c for c in taxonomy.evaluated if c.id != taxonomy.void_id)

    def update(
        self,
        gt: PanopticLabel,
        pred: PanopticLabel,
        where: str = "",
        gt_where: str = "",
        pred_where: str = "",
    ) -> None:
        """Add one patch (labels with PASTIS class ids)."""
        from panokit.formats.pastis import arrays_from_label

        if gt.ids.shape != pred.ids.shape:
            where = where or gt_where
            head = f"{where}: " if where else ""
            raise EvaluationError(
                f"{head}ground truth has shape {gt.ids.shape} but the prediction {pred.ids.shape}"
            )
        sem_t, inst_t = arrays_from_label(PanopticImage(gt.ids, gt.segments, self.taxonomy))
        sem_p, inst_p = arrays_from_label(PanopticImage(pred.ids, pred.segments, self.taxonomy))
        self.update_arrays(inst_p, sem_p, inst_t, sem_t)

    def update_arrays(
        self,
        instance_pred: NDArray[Any],
        semantic_pred: NDArray[Any],
        instance_true: NDArray[Any],
        semantic_true: NDArray[Any],
    ) -> None:
        """Add one patch given as the meter's four H x W maps."""
        counts, ious = panoptic_meter_counts(
            instance_pred, semantic_pred, instance_true, semantic_true, [c.id for c in self.classes]
        )
        self.add(counts, ious)

    def __repr__(self) -> str:
        return f"PastisPQAccumulator({len(self.classes)} classes, {self.images} patches)"


__all__ = ["NAME", "PastisPQAccumulator", "panoptic_meter_counts"]
