"""``evaluate(gt, pred)``: pair samples, run a task over worker processes, sum accumulators.

Workers are processes (``fork`` where available, so datasets with in-memory loaders work);
each gets the task once and evaluates index ranges, returning a partial
:class:`PQAccumulator`; the parent sums them as they arrive, so memory does not grow
with the number of images.  Unmodified ``coco-panoptic`` datasets take the fast path
(:class:`panokit.eval.sources.CocoTask`): each PNG is decoded once into RGB bytes and
no label object is built.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from typing import Protocol as TypingProtocol

from panokit.core.taxonomy import Taxonomy
from panokit.dataset import PanopticDataset
from panokit.errors import EvaluationError
from panokit.eval.accumulator import PQAccumulator
from panokit.eval.protocols import Protocol, get_protocol
from panokit.eval.results import PQResult
from panokit.eval.sources import DatasetTask, coco_task

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)`` after each finished chunk of images."""


class Task(TypingProtocol):
    """A list of (ground truth, prediction) pairs that can add pair ``i`` to an accumulator."""

    def __len__(self) -> int: ...

    def accumulate(self, acc: PQAccumulator, i: int) -> None: ...


def default_workers() -> int:
    """The number of CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def pair_samples(
    gt: PanopticDataset, pred: PanopticDataset, strict: bool = False
) -> tuple[list[tuple[int, int]], list[str]]:
    """Match samples by key: every ground-truth sample needs a prediction (else
    :class:`EvaluationError`); predictions of unknown samples are returned as warnings,
    or raise with ``strict``."""
    pred_index: dict[str, int] = {}
    for i, sample in enumerate(pred):
        if sample.key in pred_index:
            raise EvaluationError(f"the prediction has two samples with the key {sample.key!r}")
        pred_index[sample.key] = i
    pairs: list[tuple[int, int]] = []
    missing: list[str] = []
    for i, sample in enumerate(gt):
        j = pred_index.pop(sample.key, None)
        if j is None:
            missing.append(sample.key)
        else:
            pairs.append((i, j))
    warnings = check_unmatched(missing, list(pred_index), str(pred.root or ""), strict)
    return pairs, warnings


def check_unmatched(
    missing: list[str], extra: list[str], pred_where: str, strict: bool
) -> list[str]:
    """Raise for ground-truth images without prediction (and, with ``strict``, for
    predictions of unknown images); otherwise the warnings about the latter."""
    if missing:
        shown = ", ".join(repr(k) for k in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        where = f" ({pred_where})" if pred_where else ""
        raise EvaluationError(
            f"no prediction{where} for {len(missing)} ground-truth image(s): {shown}{more}"
        )
    if not extra:
        return []
    shown = ", ".join(repr(k) for k in extra[:5])
    more = f" and {len(extra) - 5} more" if len(extra) > 5 else ""
    message = (
        f"{len(extra)} predicted image(s) are not in the ground truth and were ignored: "
        f"{shown}{more}"
    )
    if strict:
        raise EvaluationError(message.replace("and were ignored", "(strict mode)"))
    return [message]


# ------------------------------------------------------------------------ memory
_M_TRIM_THRESHOLD = -1  # glibc mallopt parameters
_M_MMAP_THRESHOLD = -3
_GLIBC_DEFAULT = 128 * 1024


def _tune_malloc(mmap_threshold: int, trim_threshold: int) -> bool:
    """Set glibc malloc's mmap and trim thresholds; False (and nothing done) elsewhere.

    Each image allocates a few MiB that are freed right after.  By default glibc serves
    such blocks with ``mmap`` and unmaps them on ``free``, so every image page-faults its
    buffers in afresh, which doubles the time per image; served from the heap and kept,
    they are reused.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        ok = libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold)
        ok &= libc.mallopt(_M_TRIM_THRESHOLD, trim_threshold)
        return bool(ok)
    except (OSError, AttributeError):  # pragma: no cover - musl or no libc symbols
        return False


@contextmanager
def reuse_freed_memory(nbytes: int = 32 << 20) -> Iterator[None]:
    """Serve blocks below ``nbytes`` from the heap and keep up to twice that freed for
    reuse (glibc only).  The setting stays after the block: glibc's default is a *dynamic*
    threshold (it grows towards 32 MiB as large blocks are freed) that no ``mallopt`` call
    can turn back on, and pinning it at its 128 KiB start value made every later large
    allocation of the process an ``mmap`` (reading a 120k-point scan after an evaluation
    took 1.9 ms instead of 0.7)."""
    _tune_malloc(nbytes, 2 * nbytes)
    yield


# ------------------------------------------------------------------------ workers
_WORKER: dict[str, Any] = {}


def _init_worker(task: Task, accumulator: PQAccumulator) -> None:
    _tune_malloc(32 << 20, 64 << 20)
    _WORKER["task"] = task
    _WORKER["empty"] = accumulator


def _run_range(bounds: tuple[int, int]) -> tuple[PQAccumulator, int]:
    task: Task = _WORKER["task"]
    acc: PQAccumulator = _WORKER["empty"].copy()
    for i in range(*bounds):
        task.accumulate(acc, i)
    return acc, bounds[1] - bounds[0]


def run_task(
    task: Task,
    accumulator: PQAccumulator,
    workers: int = 1,
    progress: ProgressCallback | None = None,
    chunk: int | None = None,
) -> PQAccumulator:
    """Add every pair of ``task`` to ``accumulator`` using ``workers`` processes."""
    total = len(task)
    workers = max(1, min(workers, total))
    if workers == 1:
        step = max(1, chunk or 16)
        with reuse_freed_memory():
            for i in range(total):
                task.accumulate(accumulator, i)
                if progress is not None and ((i + 1) % step == 0 or i + 1 == total):
                    progress(i + 1, total)
        return accumulator
    size = chunk or max(1, min(32, total // (workers * 8)))
    ranges = [(start, min(total, start + size)) for start in range(0, total, size)]
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    empty = accumulator.copy()
    empty.__init__(accumulator.taxonomy, accumulator.protocol)  # type: ignore[misc]
    done = 0
    # ProcessPoolExecutor, not Pool: on an error it lets running chunks finish and shuts
    # down cleanly, where Pool.terminate() can hang on a worker killed mid-reply
    executor = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(task, empty)
    )
    try:
        futures = [executor.submit(_run_range, bounds) for bounds in ranges]
        for future in as_completed(futures):
            partial, count = future.result()
            accumulator += partial
            done += count
            if progress is not None:
                progress(done, total)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    return accumulator


def make_accumulator(taxonomy: Taxonomy, protocol: Protocol) -> PQAccumulator:
    """A :class:`PQAccumulator`, or the protocol's own accumulator class when it names one."""
    if not protocol.accumulator:
        return PQAccumulator(taxonomy, protocol)
    import importlib

    module_name, _, class_name = protocol.accumulator.partition(":")
    factory = getattr(importlib.import_module(module_name), class_name)
    accumulator: PQAccumulator = factory(taxonomy, protocol)
    return accumulator


def evaluate(
    gt: PanopticDataset,
    pred: PanopticDataset,
    protocol: str | Protocol = "coco",
    workers: int = 1,
    progress: ProgressCallback | None = None,
    strict: bool = False,
    taxonomy: Taxonomy | None = None,
) -> PQResult:
    """Evaluate ``pred`` against ``gt`` and return PQ/SQ/RQ (fractions, not x100).

    Samples are matched by key; a ground-truth sample without prediction is an
    :class:`EvaluationError`, a predicted sample absent from the ground truth is ignored
    with a note in ``result.warnings`` (an error with ``strict``).  ``workers`` processes
    share the work (``0`` or less: all cores).  ``taxonomy`` defaults to the ground
    truth's (or the protocol label map's target).
    """
    proto = get_protocol(protocol)
    if taxonomy is None:
        target = proto.label_map.target if proto.label_map is not None else None
        taxonomy = target or (gt.taxonomy if len(gt.taxonomy) else pred.taxonomy)
    if not len(taxonomy):
        raise EvaluationError("neither the ground truth nor the prediction has categories")
    pairs, warnings = pair_samples(gt, pred, strict=strict)
    task: Task | None = None
    if proto.accumulator:
        task = DatasetTask(gt, pred, pairs)
    elif proto.label_map is None:
        task = coco_task(gt, pred, pairs, taxonomy)
    if task is None:
        from panokit.eval.lidar import lidar_task

        task = lidar_task(gt, pred, pairs)
    if task is None:
        task = DatasetTask(gt, pred, pairs)
    accumulator = make_accumulator(taxonomy, proto)
    if workers <= 0:
        workers = default_workers()
    run_task(task, accumulator, workers=workers, progress=progress)
    result = accumulator.result()
    if warnings:
        from dataclasses import replace

        result = replace(result, warnings=tuple(warnings))
    return result


def _path(value: str | os.PathLike[str] | None) -> Path | None:
    return None if value is None else Path(value)


def evaluate_coco(
    gt_json: str | os.PathLike[str],
    pred_json: str | os.PathLike[str],
    gt_dir: str | os.PathLike[str] | None = None,
    pred_dir: str | os.PathLike[str] | None = None,
    protocol: str | Protocol = "coco",
    workers: int = 1,
    progress: ProgressCallback | None = None,
    strict: bool = False,
) -> PQResult:
    """Evaluate two COCO panoptic JSON files as panopticapi's ``pq_compute`` does (PNG
    folders default to the JSON paths without ``.json``), reading each JSON once and
    leaving every per-image check to the workers.  Same rules and messages as
    :func:`evaluate` on the two datasets."""
    from panokit.eval.sources import coco_json_task

    proto = get_protocol(protocol)
    if proto.accumulator or proto.label_map is not None:  # not the pixel fast path
        from panokit.formats import coco_panoptic

        gt = coco_panoptic.read(Path(gt_json), png_dir=_path(gt_dir), check=False)
        pred = coco_panoptic.read(Path(pred_json), png_dir=_path(pred_dir), check=False)
        return evaluate(gt, pred, proto, workers, progress, strict)
    task, missing, extra, pred_where = coco_json_task(gt_json, pred_json, gt_dir, pred_dir)
    warnings = check_unmatched(missing, extra, pred_where, strict)
    accumulator = make_accumulator(task.taxonomy, proto)
    run_task(
        task, accumulator, workers=default_workers() if workers <= 0 else workers, progress=progress
    )
    result = accumulator.result()
    if warnings:
        from dataclasses import replace

        result = replace(result, warnings=tuple(warnings))
    return result


__all__ = [
    "ProgressCallback",
    "check_unmatched",
    "default_workers",
    "evaluate",
    "evaluate_coco",
    "pair_samples",
    "reuse_freed_memory",
    "run_task",
]
