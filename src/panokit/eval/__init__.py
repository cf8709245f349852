"""Panoptic evaluation: mergeable PQ accumulators, protocols as data, official numbers.

>>> result = panokit.eval.evaluate(gt, pred, protocol="coco", workers=0)  # doctest: +SKIP
>>> result.all.pq, result.things.sq, result.per_class[0].rq                # doctest: +SKIP
"""

from panokit.eval.accumulator import PQAccumulator
from panokit.eval.evaluate import default_workers, evaluate, pair_samples, run_task
from panokit.eval.protocols import PROTOCOLS, Protocol, get_protocol, register_protocol
from panokit.eval.results import ClassResult, PQResult, Summary

__all__ = [
    "PROTOCOLS",
    "ClassResult",
    "PQAccumulator",
    "PQResult",
    "Protocol",
    "Summary",
    "default_workers",
    "evaluate",
    "get_protocol",
    "pair_samples",
    "register_protocol",
    "run_task",
]
