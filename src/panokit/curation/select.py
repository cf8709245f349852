"""Subset selection: k-center greedy (diverse), class-balanced and random.

k-center greedy keeps, for every sample, the distance to its nearest chosen centre and
adds the sample farthest from all centres, one distance row per pick; the chosen subset
covers the feature space within a radius at most twice the optimum.  The *coverage
radius* of a subset is the largest distance from any sample to its nearest chosen one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from panokit.errors import PanokitError

STRATEGIES: tuple[str, ...] = ("diverse", "class-balanced", "random")


class SelectionError(PanokitError, ValueError):
    """A selection cannot be made (bad size, no features, unknown strategy)."""


@dataclass
class Selection:
    """The chosen samples (positions, in pick order) and how well they cover the data.

    ``radius_before`` is the coverage radius of the ``initial`` samples (infinite when
    there were none: nothing is covered), ``radius_after`` that of ``initial`` + chosen.
    """

    indices: list[int]
    strategy: str
    radius_before: float
    radius_after: float
    extra: dict[str, float] = field(default_factory=dict)


def _check_k(k: int, n: int, initial: int = 0) -> None:
    if k < 0:
        raise SelectionError(f"cannot select {k} samples; --n must be >= 0")
    if k > n - initial:
        raise SelectionError(
            f"cannot select {k} samples: only {n - initial} are available "
            f"({n} in all, {initial} already chosen)"
        )


def _as_matrix(features: NDArray[np.floating] | Sequence[Sequence[float]]) -> NDArray[np.float32]:
    x = np.ascontiguousarray(np.asarray(features, dtype=np.float32))
    if x.ndim != 2:
        raise SelectionError(f"features must be a 2-D array (N, D), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise SelectionError("features contain NaN or infinite values")
    return x


def _sq_dist_row(x: NDArray[np.float32], norms: NDArray[np.float32], i: int) -> NDArray[np.float32]:
    d: NDArray[np.float32] = norms + norms[i] - 2.0 * (x @ x[i])
    np.maximum(d, 0.0, out=d)
    d[i] = 0.0
    return d


def coverage_radius(
    features: NDArray[np.floating] | Sequence[Sequence[float]],
    centres: Sequence[int],
    chunk: int = 256,
) -> float:
    """Largest distance from any sample to its nearest centre (inf when no centres)."""
    x = _as_matrix(features)
    centres = list(centres)
    if not centres:
        return float("inf")
    if x.shape[0] == 0:
        return 0.0
    norms = np.einsum("ij,ij->i", x, x)
    nearest = np.full(x.shape[0], np.inf, dtype=np.float32)
    for start in range(0, len(centres), chunk):
        c = np.asarray(centres[start : start + chunk], dtype=np.int64)
        d = norms[:, None] + norms[c][None, :] - 2.0 * (x @ x[c].T)
        np.minimum(nearest, d.min(axis=1), out=nearest)
    nearest[np.asarray(centres)] = 0.0
    return float(np.sqrt(max(float(nearest.max()), 0.0)))


def k_center_greedy(
    features: NDArray[np.floating] | Sequence[Sequence[float]],
    k: int,
    initial: Sequence[int] = (),
) -> Selection:
    """Pick ``k`` samples by k-center greedy.

    Without ``initial`` centres the first pick is the sample nearest the mean of all
    features; every later pick is the sample farthest from its nearest centre (ties: the
    lowest position).  Distances are Euclidean, computed in float32.
    """
    x = _as_matrix(features)
    n = x.shape[0]
    initial = [int(i) for i in initial]
    _check_k(k, n, len(set(initial)))
    if n == 0 or (k == 0 and not initial):
        return Selection([], "diverse", float("inf"), float("inf"))
    norms = np.einsum("ij,ij->i", x, x)
    nearest = np.full(n, np.inf, dtype=np.float32)
    for i in initial:
        np.minimum(nearest, _sq_dist_row(x, norms, i), out=nearest)
    before = float(np.sqrt(nearest.max())) if initial else float("inf")
    nearest[initial] = -1.0  # chosen: never picked again, even among exact duplicates
    picks: list[int] = []
    for step in range(k):
        if step == 0 and not initial:
            centre = x.mean(axis=0, dtype=np.float64).astype(np.float32)
            d0 = norms - 2.0 * (x @ centre)
            pick = int(np.argmin(d0))
        else:
            pick = int(np.argmax(nearest))
        picks.append(pick)
        np.minimum(nearest, _sq_dist_row(x, norms, pick), out=nearest)
        nearest[pick] = -1.0
    after = float(np.sqrt(max(float(nearest.max()), 0.0)))
    return Selection(picks, "diverse", before, after)


def random_selection(n: int, k: int, seed: int = 0) -> list[int]:
    """``k`` distinct positions out of ``n``, fixed by ``seed`` (in pick order)."""
    _check_k(k, n)
    rng = np.random.default_rng(seed)
    return [int(i) for i in rng.choice(n, size=k, replace=False)]


def class_balanced(presence: NDArray[np.bool_] | NDArray[np.floating], k: int) -> list[int]:
    """Pick ``k`` samples so that every category occurs in as many chosen samples as it can.

    ``presence`` is (N, K): whether (or how much) category j occurs in sample i.  Each step
    takes the category with the fewest chosen samples among those that still have unchosen
    samples, and picks, among the unchosen samples containing it, the one whose categories
    are rarest so far (score = sum of 1 / (1 + chosen count)); ties go to the lowest
    position.  Samples without any category are picked last, in order.
    """
    p = np.asarray(presence) > 0
    if p.ndim != 2:
        raise SelectionError(f"presence must be (N, K), got shape {p.shape}")
    n, cats = p.shape
    _check_k(k, n)
    chosen = np.zeros(n, dtype=bool)
    counts = np.zeros(cats, dtype=np.float64)
    available = p.sum(axis=0).astype(np.int64)
    picks: list[int] = []
    while len(picks) < k:
        open_cats = np.flatnonzero(available > 0)
        if open_cats.size == 0:
            rest = np.flatnonzero(~chosen)[: k - len(picks)]
            picks.extend(int(i) for i in rest)
            break
        target = int(open_cats[np.argmin(counts[open_cats])])
        candidates = np.flatnonzero(p[:, target] & ~chosen)
        score = p[candidates].astype(np.float64) @ (1.0 / (1.0 + counts))
        pick = int(candidates[int(np.argmax(score))])
        picks.append(pick)
        chosen[pick] = True
        counts += p[pick]
        available -= p[pick]
    return picks


def select(
    features: NDArray[np.floating] | None,
    k: int,
    strategy: str = "diverse",
    presence: NDArray[np.bool_] | None = None,
    seed: int = 0,
    initial: Sequence[int] = (),
) -> Selection:
    """Choose ``k`` samples with one of :data:`STRATEGIES`.

    ``features`` (N, D) are needed for ``diverse`` and for the coverage radii of the other
    strategies (radii are NaN without them); ``presence`` (N, K) for ``class-balanced``.
    """
    if strategy not in STRATEGIES:
        raise SelectionError(f"unknown strategy {strategy!r}; choose one of {list(STRATEGIES)}")
    if strategy == "diverse":
        if features is None:
            raise SelectionError("the diverse strategy needs feature vectors")
        return k_center_greedy(features, k, initial=initial)
    if strategy == "random":
        n = (
            len(features)
            if features is not None
            else (len(presence) if presence is not None else 0)
        )
        picks = random_selection(n, k, seed)
    else:
        if presence is None:
            raise SelectionError("the class-balanced strategy needs the category presence matrix")
        picks = class_balanced(presence, k)
    if features is None:
        return Selection(picks, strategy, float("nan"), float("nan"))
    before = coverage_radius(features, list(initial))
    after = coverage_radius(features, [*initial, *picks])
    return Selection(picks, strategy, before, after)
