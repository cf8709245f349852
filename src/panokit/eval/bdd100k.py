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

import numpy as np

from panokit.core.label import PanopticLabel
from panokit.core.taxonomy import Taxonomy
from panokit.errors import EvaluationError
from panokit.eval.class_counts import ClassCountsAccumulator
from panokit.eval.histogram import joint_histogram

NAME = "bdd100k"
MAX_DET = 100


class BddPQAccumulator(ClassCountsAccumulator):
    """Mergeable per-category IoU/TP/FP/FN sums under the BDD100K toolkit's rules."""

    NAME = NAME

    @classmethod
    def default_taxonomy(cls) -> Taxonomy:
        """The 40 BDD100K panoptic categories."""
        from panokit.formats.bdd100k import taxonomy

        return taxonomy()

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
        if len(g_ids) == 0 and len(p_ids) == 0:
            self.add()
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
        self.add(by_category=stats)

    def update_many(self, pairs: Iterable[tuple[PanopticLabel, PanopticLabel]]) -> None:
        """Add several image pairs."""
        for gt, pred in pairs:
            self.update(gt, pred)

    def __repr__(self) -> str:
        return f"BddPQAccumulator({len(self.classes)} classes, {self.images} images)"


__all__ = ["MAX_DET", "NAME", "BddPQAccumulator"]
