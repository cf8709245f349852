"""The ``bdd100k`` protocol: panoptic PQ as the BDD100K toolkit computes it.

bdd100k 1.0.1 ``bdd100k/eval/pan_seg.py`` (``pq_per_image``) differs from panopticapi:

* a segment is *valid* when neither its crowd nor its ignored bit is set
  (``Segment.iscrowd`` here, which the bitmask reader sets to ``crowd or ignored``);
* only the first ``MAX_DET`` = 100 predicted segments in ascending id order are considered;
  later ones are background;
* IoU = intersection / (gt area + pred area - intersection) over all pixels (no void
  correction), zero across categories;
* every valid ground-truth segment takes the prediction of maximal IoU (first on ties);
  TP when that IoU > 0.5 and the prediction is valid, else FN;
* a valid, unmatched prediction is an FP unless more than half of it lies outside valid
  ground-truth segments (on background, crowd or ignored regions);
* per-category PQ/SQ/RQ averaged over the categories with TP + FP + FN > 0 (all 40 BDD100K
  categories are evaluated; ``ignore_in_eval`` is not applied).

Values are fractions (the toolkit prints x100).  Documented departures: the toolkit fails
(a broadcasting error) when an image has more than 100 predicted segments or none at all;
here the first 100 are used and an empty prediction makes every valid ground truth an FN.
Bitmask segments of category 0 are void when read, so they take no MAX_DET slot, and a stuff
category drawn under several annotation ids is one segment once read (the toolkit scores each
id apart; official ground truth uses one id per stuff category, so this never differs there).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from panokit.core.label import PanopticLabel
from panokit.core.taxonomy import Category, Taxonomy
from panokit.errors import EvaluationError
from panokit.eval.histogram import joint_histogram
from panokit.eval.results import ClassResult, PQResult, Summary

NAME = "bdd100k"
MAX_DET = 100


def _default_taxonomy() -> Taxonomy:
    from panokit.formats.bdd100k import taxonomy

    return taxonomy()


class BddPQAccumulator:
    """Mergeable per-category IoU/TP/FP/FN sums under the BDD100K toolkit's rules."""

    def __init__(self, taxonomy: Taxonomy | None = None, protocol: Any = NAME) -> None:
        self.taxonomy = taxonomy or _default_taxonomy()
        self.protocol = protocol
        self.classes: tuple[Category, ...] = tuple(
            c for c in self.taxonomy if c.id != self.taxonomy.void_id
        )
        self._index = {c.id: i for i, c in enumerate(self.classes)}
        size = len(self.classes)
        self.iou = np.zeros(size, dtype=np.float64)
        self.tp = np.zeros(size, dtype=np.int64)
        self.fp = np.zeros(size, dtype=np.int64)
        self.fn = np.zeros(size, dtype=np.int64)
        self.images = 0

    # ------------------------------------------------------------------- merging
    def _check(self, other: object) -> BddPQAccumulator:
        if not isinstance(other, BddPQAccumulator):
            raise TypeError(f"cannot add {type(other).__name__} to a BddPQAccumulator")
        if other.classes != self.classes:
            raise EvaluationError("cannot merge bdd100k accumulators of different taxonomies")
        return other

    def __iadd__(self, other: BddPQAccumulator) -> BddPQAccumulator:
        other = self._check(other)
        self.iou += other.iou
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.images += other.images
        return self

    def __add__(self, other: BddPQAccumulator) -> BddPQAccumulator:
        out = self.copy()
        out += other
        return out

    def __radd__(self, other: Any) -> BddPQAccumulator:
        if other == 0:
            return self.copy()
        return self.__add__(other)

    def copy(self) -> BddPQAccumulator:
        """An independent copy."""
        out = BddPQAccumulator(self.taxonomy, self.protocol)
        out.iou = self.iou.copy()
        out.tp, out.fp, out.fn = self.tp.copy(), self.fp.copy(), self.fn.copy()
        out.images = self.images
        return out

    # -------------------------------------------------------------------- update
    def update(
        self,
        gt: PanopticLabel,
        pred: PanopticLabel,
        where: str = "",
        gt_where: str = "",
        pred_where: str = "",
    ) -> None:
        """Add one image pair."""
        where = where or gt_where
        head = f"{where}: " if where else ""
        if gt.ids.shape != pred.ids.shape:
            raise EvaluationError(
                f"{head}ground truth has shape {gt.ids.shape} but the prediction {pred.ids.shape}"
            )
        g_ids = np.array(sorted(gt.segments), dtype=np.int64)
        p_all = np.array(sorted(pred.segments), dtype=np.int64)
        p_ids = p_all[:MAX_DET]
        hist = joint_histogram(gt.ids, pred.ids, g_ids, p_ids).counts
        # the histogram counts pixels of dropped predictions (beyond MAX_DET) as background
        g_cats = np.array([gt.segments[int(s)].category_id for s in g_ids], dtype=np.int64)
        p_cats = np.array([pred.segments[int(s)].category_id for s in p_ids], dtype=np.int64)
        g_valid = ~np.array([gt.segments[int(s)].iscrowd for s in g_ids], dtype=bool)
        p_valid = ~np.array([pred.segments[int(s)].iscrowd for s in p_ids], dtype=bool)
        self.images += 1
        if len(g_ids) == 0 and len(p_ids) == 0:
            return
        inter = hist[1:, 1:].astype(np.float64)
        g_area = hist[1:, :].sum(axis=1, keepdims=True).astype(np.float64)
        p_area = hist[:, 1:].sum(axis=0, keepdims=True).astype(np.float64)
        union = g_area + p_area - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            ious = np.where(union > 0, inter / union, 0.0)
            iofs = np.where(p_area > 0, inter / p_area, 0.0)
        ious = ious * (g_cats[:, None] == p_cats[None, :])
        inv_iofs = 1.0 - iofs[g_valid].sum(axis=0)
        stats: dict[int, list[float]] = {}
        matched: set[int] = set()
        for i in range(len(g_ids)):
            if not g_valid[i]:
                continue
            row = stats.setdefault(int(g_cats[i]), [0.0, 0, 0, 0])
            if len(p_ids) == 0:
                row[3] += 1
                continue
            j = int(np.argmax(ious[i]))
            best = float(ious[i, j])
            if best <= 0.5 or not p_valid[j]:
                row[3] += 1
            else:
                row[1] += 1
                row[0] += best
                matched.add(j)
        for j in range(len(p_ids)):
            if not p_valid[j] or j in matched or inv_iofs[j] > 0.5:
                continue
            stats.setdefault(int(p_cats[j]), [0.0, 0, 0, 0])[2] += 1
        for cat_id, (iou, tp, fp, fn) in stats.items():
            k = self._index.get(cat_id)
            if k is None:
                continue  # e.g. category 0: not among the evaluated categories
            self.iou[k] += iou
            self.tp[k] += int(tp)
            self.fp[k] += int(fp)
            self.fn[k] += int(fn)

    def update_many(self, pairs: Iterable[tuple[PanopticLabel, PanopticLabel]]) -> None:
        """Add several image pairs."""
        for gt, pred in pairs:
            self.update(gt, pred)

    # -------------------------------------------------------------------- result
    def _row(self, k: int) -> ClassResult:
        cat = self.classes[k]
        iou, tp, fp, fn = float(self.iou[k]), int(self.tp[k]), int(self.fp[k]), int(self.fn[k])
        if tp + fp + fn == 0:
            return ClassResult(cat.id, cat.name, cat.isthing, 0.0, 0.0, 0.0, tp, fp, fn, iou)
        denominator = tp + 0.5 * fp + 0.5 * fn
        sq = iou / tp if tp else 0.0
        return ClassResult(
            cat.id, cat.name, cat.isthing, iou / denominator, sq, tp / denominator, tp, fp, fn, iou
        )

    @staticmethod
    def _summary(rows: list[ClassResult]) -> Summary:
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

    def result(self) -> PQResult:
        """PQ, SQ, RQ overall (``all``), for things and for stuff, and per category."""
        rows = [self._row(k) for k in range(len(self.classes))]
        return PQResult(
            protocol=NAME,
            all=self._summary(rows),
            things=self._summary([r for r in rows if r.isthing]),
            stuff=self._summary([r for r in rows if not r.isthing]),
            per_class=rows,
            extra={"images": float(self.images)},
        )

    def __repr__(self) -> str:
        return f"BddPQAccumulator({len(self.classes)} classes, {self.images} images)"


__all__ = ["MAX_DET", "NAME", "BddPQAccumulator"]
