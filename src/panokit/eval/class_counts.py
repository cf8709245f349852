"""Per-category PQ sums shared by the accumulators of protocols that match segments in their
own way (``bdd100k``, ``pastis``): merging, copying and the PQ/SQ/RQ result.

A subclass sets ``NAME``, chooses its categories (:meth:`ClassCountsAccumulator.select`)
and implements ``update``; it adds per-image sums with :meth:`ClassCountsAccumulator.add`.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import numpy as np
from numpy.typing import NDArray

from panokit.core.taxonomy import Category, Taxonomy
from panokit.errors import EvaluationError
from panokit.eval.results import ClassResult, PQResult, Summary

Self = TypeVar("Self", bound="ClassCountsAccumulator")


class ClassCountsAccumulator:
    """Mergeable per-category sums of TP IoU, TP, FP and FN, and the image count."""

    NAME: ClassVar[str] = ""
    PQ_AS_PRODUCT: ClassVar[bool] = False
    """PQ computed as SQ x RQ (as PanopticMeter does) instead of sum IoU / (TP + FP/2 + FN/2);
    the two agree up to rounding."""

    def __init__(self, taxonomy: Taxonomy | None = None, protocol: Any = None) -> None:
        self.taxonomy = taxonomy or self.default_taxonomy()
        self.protocol = protocol if protocol is not None else self.NAME
        self.classes: tuple[Category, ...] = self.select(self.taxonomy)
        self._index = {c.id: i for i, c in enumerate(self.classes)}
        size = len(self.classes)
        self.iou = np.zeros(size, dtype=np.float64)
        self.tp = np.zeros(size, dtype=np.int64)
        self.fp = np.zeros(size, dtype=np.int64)
        self.fn = np.zeros(size, dtype=np.int64)
        self.images = 0

    # ------------------------------------------------------------- to override
    @classmethod
    def default_taxonomy(cls) -> Taxonomy:
        """The taxonomy used when none is given."""
        raise NotImplementedError

    @staticmethod
    def select(taxonomy: Taxonomy) -> tuple[Category, ...]:
        """The scored categories: every one but void."""
        return tuple(c for c in taxonomy if c.id != taxonomy.void_id)

    # ------------------------------------------------------------------ counts
    @property
    def counts(self) -> NDArray[np.int64]:
        """(classes, 3) array of [TP, FP, FN] (a copy)."""
        return np.stack([self.tp, self.fp, self.fn], axis=1)

    def add(
        self,
        counts: NDArray[np.int64] | None = None,
        ious: NDArray[np.float64] | None = None,
        by_category: dict[int, list[float]] | None = None,
    ) -> None:
        """Add one image: aligned ``counts`` rows [TP, FP, FN] and ``ious``, and/or
        ``by_category`` {category id: [iou, tp, fp, fn]} (ids not scored are skipped)."""
        if counts is not None:
            self.tp += counts[:, 0]
            self.fp += counts[:, 1]
            self.fn += counts[:, 2]
        if ious is not None:
            self.iou += ious
        for cat_id, (iou, tp, fp, fn) in (by_category or {}).items():
            k = self._index.get(cat_id)
            if k is None:
                continue
            self.iou[k] += iou
            self.tp[k] += int(tp)
            self.fp[k] += int(fp)
            self.fn[k] += int(fn)
        self.images += 1

    # ----------------------------------------------------------------- merging
    def _check(self: Self, other: object) -> Self:
        if type(other) is not type(self):
            raise TypeError(f"cannot add {type(other).__name__} to a {type(self).__name__}")
        if other.classes != self.classes:
            raise EvaluationError(f"cannot merge {self.NAME} accumulators of different taxonomies")
        return other

    def __iadd__(self: Self, other: Self) -> Self:
        other = self._check(other)
        self.iou += other.iou
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.images += other.images
        return self

    def __add__(self: Self, other: Self) -> Self:
        out = self.copy()
        out += other
        return out

    def __radd__(self: Self, other: Any) -> Self:
        if other == 0:
            return self.copy()
        return self.__add__(other)

    def copy(self: Self) -> Self:
        """An independent copy."""
        out = type(self)(self.taxonomy, self.protocol)
        out.iou = self.iou.copy()
        out.tp, out.fp, out.fn = self.tp.copy(), self.fp.copy(), self.fn.copy()
        out.images = self.images
        return out

    # ------------------------------------------------------------------ result
    def _row(self, k: int) -> ClassResult:
        cat = self.classes[k]
        iou, tp, fp, fn = float(self.iou[k]), int(self.tp[k]), int(self.fp[k]), int(self.fn[k])
        if tp + fp + fn == 0:
            return ClassResult(cat.id, cat.name, cat.isthing, 0.0, 0.0, 0.0, tp, fp, fn, iou)
        denominator = tp + 0.5 * fp + 0.5 * fn
        sq = iou / tp if tp else 0.0
        rq = tp / denominator
        pq = sq * rq if self.PQ_AS_PRODUCT else iou / denominator
        return ClassResult(cat.id, cat.name, cat.isthing, pq, sq, rq, tp, fp, fn, iou)

    def result(self) -> PQResult:
        """PQ, SQ, RQ overall (``all``), for things and for stuff, and per category;
        averages over the categories with TP + FP + FN > 0."""
        rows = [self._row(k) for k in range(len(self.classes))]
        return PQResult(
            protocol=self.NAME,
            all=summarize(rows),
            things=summarize([r for r in rows if r.isthing]),
            stuff=summarize([r for r in rows if not r.isthing]),
            per_class=rows,
            extra={"images": float(self.images)},
        )


def summarize(rows: list[ClassResult]) -> Summary:
    """Mean PQ/SQ/RQ over the counted rows (TP + FP + FN > 0) and their summed counts."""
    counted = [r for r in rows if r.counted]
    tp = sum(r.tp for r in counted)
    fp = sum(r.fp for r in counted)
    fn = sum(r.fn for r in counted)
    n = len(counted)
    if n == 0:
        return Summary(0.0, 0.0, 0.0, 0, tp, fp, fn)
    return Summary(
        sum(r.pq for r in counted) / n,
        sum(r.sq for r in counted) / n,
        sum(r.rq for r in counted) / n,
        n,
        tp,
        fp,
        fn,
    )


__all__ = ["ClassCountsAccumulator", "summarize"]
