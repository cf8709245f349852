"""Evaluation protocols as data: every difference between official evaluators is a field.

Two families are covered by one engine (:class:`panokit.eval.accumulator.PQAccumulator`):

* ``coco`` follows panopticapi ``evaluation.py`` (also cityscapesScripts, BDD100K, Mapillary
  Vistas): a match needs IoU > 0.5 and the same category; predicted pixels on void are
  removed from the union; crowd ground-truth segments are never matched and never false
  negatives; an unmatched prediction is not a false positive when more than half of it lies
  on void or on the crowd region of its class; ground-truth areas come from the JSON
  ``area``; averages run over categories with TP + FP + FN > 0.

  panopticapi quirk, reproduced by default (``one_crowd_per_class=True``): per image it
  remembers only *one* crowd segment per category, the last one listed in
  ``segments_info``; overlap with another crowd region of the same category does not
  excuse a prediction.  ``coco-all-crowds`` uses every crowd region instead.

* ``lidar`` is the base of the SemanticKITTI / nuScenes rules (semantic-kitti-api
  ``PanopticEval``): elements whose ground-truth class is ignored are removed from both
  sides; no crowd, no void correction; unmatched segments smaller than ``min_size``
  elements (stuff too, both sides) are neither FN nor FP; averages run over every
  evaluated class, absent ones counting 0; PQ = SQ x RQ per class; PQ-dagger (PQ for
  things, IoU for stuff) and mIoU from the semantic confusion matrix.  Dataset protocols
  (``semantic-kitti``, ``nuscenes``) are this with a :class:`LabelMap` and ``min_size``
  set, registered by their format modules through :func:`register_protocol`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from typing import Literal

from panokit.core.taxonomy import LabelMap
from panokit.errors import EvaluationError


@dataclass(frozen=True)
class Protocol:
    """The parameters of a panoptic evaluation protocol (see the module docstring)."""

    name: str
    description: str = ""
    iou_threshold: float = 0.5
    """A pair matches when IoU is strictly greater than this."""
    void_in_union: bool = True
    """Remove predicted elements lying on ground-truth void from the union (COCO)."""
    crowd: bool = True
    """Crowd ground-truth segments are never matched nor FN and excuse predictions on them."""
    one_crowd_per_class: bool = True
    """panopticapi quirk: only the last-listed crowd segment of a class counts per image."""
    fp_ignore_fraction: float | None = 0.5
    """An unmatched prediction with more than this fraction on void (+ same-class crowd) is
    not a false positive; None disables the filter."""
    gt_area: Literal["declared", "pixels"] = "declared"
    """Ground-truth areas from the file (``Segment.declared_area``, as panopticapi reads
    the JSON) when available, or counted pixels."""
    remove_gt_ignored: bool = False
    """Drop elements whose ground truth is void / an ignored class from both sides."""
    min_size: int = 0
    """Unmatched segments with fewer elements are neither FN nor FP (both sides, stuff too)."""
    average: Literal["present", "all"] = "present"
    """Average over classes with TP+FP+FN > 0 ("present") or all evaluated ("all", absent = 0)."""
    pq_as_product: bool = False
    """Per-class PQ computed as SQ x RQ with epsilon guards (semantic-kitti-api) instead of
    sum IoU / (TP + FP/2 + FN/2) (panopticapi); equal up to rounding."""
    pq_dagger: bool = False
    """Also report PQ-dagger: mean of PQ over things and semantic IoU over stuff."""
    miou: bool = False
    """Also report mIoU from the semantic confusion matrix."""
    label_map: LabelMap | None = None
    """Maps segment category ids (raw dataset ids) to the evaluated taxonomy's ids."""
    ignore_ids: tuple[int, ...] = ()
    """Evaluated-taxonomy ids to ignore (besides void and ``ignore_in_eval`` categories)."""
    accumulator: str = ""
    """``module:Class`` of an accumulator replacing :class:`PQAccumulator` for protocols with
    their own matching (``bdd100k``, ``pastis``); same ``update`` / ``+`` / ``result()``."""


COCO = Protocol(
    "coco",
    "panopticapi / cityscapesScripts rules (void union correction, crowd filter, JSON areas)",
)
COCO_ALL_CROWDS = replace(
    COCO,
    name="coco-all-crowds",
    description="coco, but every crowd region of a class excuses predictions (no quirk)",
    one_crowd_per_class=False,
)
LIDAR = Protocol(
    "lidar",
    "semantic-kitti-api PanopticEval rules without a label map or minimum size",
    void_in_union=False,
    crowd=False,
    fp_ignore_fraction=None,
    gt_area="pixels",
    remove_gt_ignored=True,
    average="all",
    pq_as_product=True,
    pq_dagger=True,
    miou=True,
)

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (COCO, COCO_ALL_CROWDS, LIDAR)}
"""Known protocols by name; format modules add theirs with :func:`register_protocol`."""


def register_protocol(protocol: Protocol, replace_existing: bool = False) -> Protocol:
    """Add a protocol to :data:`PROTOCOLS` (an existing name needs ``replace_existing``)."""
    if protocol.name in PROTOCOLS and not replace_existing and PROTOCOLS[protocol.name] != protocol:
        raise EvaluationError(f"a different protocol named {protocol.name!r} is registered")
    PROTOCOLS[protocol.name] = protocol
    return protocol


def get_protocol(protocol: str | Protocol) -> Protocol:
    """A protocol by name (or the instance itself); a wrong name lists the known ones."""
    if isinstance(protocol, Protocol):
        return protocol
    found = PROTOCOLS.get(protocol)
    if found is None:
        _load_format_protocols()
        found = PROTOCOLS.get(protocol)
    if found is None:
        close = difflib.get_close_matches(protocol, list(PROTOCOLS), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise EvaluationError(
            f"unknown protocol {protocol!r}{hint} (known: {', '.join(sorted(PROTOCOLS))})"
        )
    return found


def _load_format_protocols() -> None:
    """Import implemented format modules that declare protocols (``PROTOCOLS`` attribute)."""
    import importlib

    from panokit.formats.registry import FORMATS

    for spec in FORMATS.values():
        if not spec.implemented:
            continue
        try:
            module = importlib.import_module(spec.module)
        except ImportError:
            continue
        for extra in getattr(module, "PROTOCOLS", ()):
            if isinstance(extra, Protocol):
                PROTOCOLS.setdefault(extra.name, extra)


__all__ = [
    "COCO",
    "COCO_ALL_CROWDS",
    "LIDAR",
    "PROTOCOLS",
    "Protocol",
    "get_protocol",
    "register_protocol",
]
