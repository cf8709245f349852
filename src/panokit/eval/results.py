"""Evaluation results: frozen dataclasses with a JSON-ready ``to_dict()``.

Values are fractions in [0, 1] (multiply by 100 for the percentages the official tools
print).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Summary:
    """PQ, SQ, RQ averaged over ``n`` categories of one group, with summed counts."""

    pq: float
    sq: float
    rq: float
    n: int
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def to_dict(self) -> dict[str, Any]:
        """``{"pq", "sq", "rq", "n", "tp", "fp", "fn"}``."""
        return {
            "pq": self.pq,
            "sq": self.sq,
            "rq": self.rq,
            "n": self.n,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


@dataclass(frozen=True)
class ClassResult:
    """PQ, SQ, RQ of one category with its counts and summed IoU of true positives."""

    category_id: int
    name: str
    isthing: bool
    pq: float
    sq: float
    rq: float
    tp: int
    fp: int
    fn: int
    iou_sum: float

    @property
    def counted(self) -> bool:
        """Whether the category occurred at all (TP + FP + FN > 0)."""
        return self.tp + self.fp + self.fn > 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field."""
        return {
            "category_id": self.category_id,
            "name": self.name,
            "isthing": self.isthing,
            "pq": self.pq,
            "sq": self.sq,
            "rq": self.rq,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "iou_sum": self.iou_sum,
        }


@dataclass(frozen=True)
class PQResult:
    """The result of one evaluation.

    ``all`` / ``things`` / ``stuff`` average over categories as the protocol says;
    ``per_class`` lists every evaluated category in taxonomy order; ``extra`` holds
    protocol-specific numbers (``pq_dagger``, ``miou``, ``images``, ...); ``warnings``
    holds notes for the user (e.g. predicted images absent from the ground truth).
    """

    protocol: str
    all: Summary
    things: Summary
    stuff: Summary
    per_class: list[ClassResult]
    extra: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """``{"All": {...}, "Things": ..., "Stuff": ..., "per_class": [...], "extra": {...}}``
        with values as fractions (not x100)."""
        return {
            "protocol": self.protocol,
            "All": self.all.to_dict(),
            "Things": self.things.to_dict(),
            "Stuff": self.stuff.to_dict(),
            "per_class": [c.to_dict() for c in self.per_class],
            "extra": dict(self.extra),
        }

    def by_id(self, category_id: int) -> ClassResult:
        """The per-class row of one category id."""
        for row in self.per_class:
            if row.category_id == category_id:
                return row
        raise KeyError(f"category {category_id} is not among the evaluated categories")


__all__ = ["ClassResult", "PQResult", "Summary"]
