"""A small panoptic quality (PQ) scorer for the simulated annotator.

COCO matching rules (a ground-truth and a predicted segment of the same category match when
their IoU exceeds 0.5; PQ averages over the categories present in either), simplified:
ground-truth void and crowd pixels are removed from both sides (no void correction of the
union).  For the official numbers use :mod:`panokit.eval`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from panokit.core import VOID, PanopticLabel
from panokit.errors import LabelError


@dataclass(frozen=True)
class Score:
    """PQ and, per ground-truth segment (in :attr:`PQScorer.gt_ids` order), its matched
    predicted id (0 if none) and IoU with it."""

    pq: float
    matched: NDArray[np.int64]
    iou: NDArray[np.float64]


class PQScorer:
    """Scores many predictions against one ground truth quickly."""

    def __init__(self, gt: PanopticLabel) -> None:
        ids = gt.ids.ravel().astype(np.int64)
        crowd = [s for s, seg in gt.segments.items() if seg.iscrowd]
        keep = ids != VOID
        if crowd:
            keep &= ~np.isin(ids, crowd)
        self.keep = keep
        self.gt_ids = np.array(sorted(s for s in gt.segments if s not in crowd), dtype=np.int64)
        self.gt_cats = np.array([gt.segments[s].category_id for s in self.gt_ids], dtype=np.int64)
        pos = np.searchsorted(self.gt_ids, ids[keep])
        self.gt_index = np.clip(pos, 0, max(len(self.gt_ids) - 1, 0)).astype(np.int64)
        self.gt_area = np.bincount(self.gt_index, minlength=len(self.gt_ids)).astype(np.int64)
        self.shape = gt.ids.shape

    def score(self, pred: PanopticLabel) -> Score:
        """PQ of ``pred`` against the ground truth."""
        if pred.ids.shape != self.shape:
            raise LabelError(
                f"prediction has shape {pred.ids.shape} but the ground truth has {self.shape}"
            )
        pids = pred.ids.ravel()[self.keep].astype(np.int64)
        seg_ids = np.array([VOID, *sorted(pred.segments)], dtype=np.int64)
        pos = np.clip(np.searchsorted(seg_ids, pids), 0, len(seg_ids) - 1)
        pos = np.where(seg_ids[pos] == pids, pos, 0)
        p = len(seg_ids)
        g = len(self.gt_ids)
        table = np.bincount(self.gt_index * p + pos, minlength=g * p).reshape(g, p)
        pred_area = table.sum(axis=0)
        pred_cats = np.array(
            [-1, *(pred.segments[int(s)].category_id for s in seg_ids[1:])], dtype=np.int64
        )
        union = self.gt_area[:, None] + pred_area[None, :] - table
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = np.where(union > 0, table / np.maximum(union, 1), 0.0)
        iou[:, 0] = 0.0
        same = self.gt_cats[:, None] == pred_cats[None, :]
        match = (iou > 0.5) & same
        matched = np.zeros(g, dtype=np.int64)
        best_iou = np.zeros(g, dtype=np.float64)
        gi, pj = np.nonzero(match)
        matched[gi] = seg_ids[pj]
        best_iou[gi] = iou[gi, pj]
        pred_matched = np.zeros(p, dtype=bool)
        pred_matched[pj] = True
        cats = sorted(
            set(self.gt_cats.tolist()) | {int(c) for c in pred_cats[1:][pred_area[1:] > 0]}
        )
        total = 0.0
        for c in cats:
            in_c = self.gt_cats == c
            tp = int((matched[in_c] != 0).sum())
            fn = int(in_c.sum()) - tp
            pc = (pred_cats == c) & (pred_area > 0)
            pc[0] = False
            fp = int((pc & ~pred_matched).sum())
            denom = tp + 0.5 * fp + 0.5 * fn
            total += float(best_iou[in_c].sum()) / denom if denom else 0.0
        pq = total / len(cats) if cats else 1.0
        return Score(pq=pq, matched=matched, iou=best_iou)


def panoptic_quality(gt: PanopticLabel, pred: PanopticLabel) -> float:
    """PQ of one prediction against one ground truth (see the module docstring)."""
    return PQScorer(gt).score(pred).pq
