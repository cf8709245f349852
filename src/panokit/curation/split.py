"""Stratified splits that keep near-duplicates together, and leak checks of splits.

:func:`stratified_split` is iterative stratification (Sechidis, Tsoumakas and Vlahavas,
2011) on the presence of categories in samples, applied to *units*: a group of
near-duplicates is one unit, so it lands in one split.  The rarest category is placed
first, each of its units going to the split that still wants most of that category.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from panokit.curation.dedup import group_pairs
from panokit.errors import FormatError, MissingFileError, PanokitError

DEFAULT_NAMES: dict[int, tuple[str, ...]] = {
    1: ("all",),
    2: ("train", "val"),
    3: ("train", "val", "test"),
}


class SplitError(PanokitError, ValueError):
    """Split ratios, names or a split file are invalid."""


def parse_ratios(text: str | Sequence[float]) -> list[float]:
    """``"0.8,0.1,0.1"`` -> [0.8, 0.1, 0.1]; ratios must be >= 0 with a positive sum."""
    if isinstance(text, str):
        try:
            ratios = [float(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise SplitError(
                f"split ratios must be numbers separated by commas (e.g. 0.8,0.1,0.1), got {text!r}"
            ) from None
    else:
        ratios = [float(r) for r in text]
    if not ratios or any(r < 0 or not np.isfinite(r) for r in ratios) or sum(ratios) <= 0:
        raise SplitError(f"split ratios must be >= 0 with a positive sum, got {ratios}")
    return ratios


def split_names(count: int, names: Sequence[str] | None = None) -> list[str]:
    """Names of ``count`` splits: given, or train/val/test, or split0, split1, ..."""
    if names:
        if len(names) != count or len(set(names)) != count:
            raise SplitError(f"{count} ratios need {count} distinct split names, got {list(names)}")
        return list(names)
    return list(DEFAULT_NAMES.get(count, tuple(f"split{i}" for i in range(count))))


def stratified_split(
    presence: NDArray[np.bool_] | NDArray[np.integer],
    ratios: Sequence[float],
    groups: Sequence[Sequence[int]] = (),
    seed: int = 0,
) -> NDArray[np.int64]:
    """Split number of every sample (rows of the (N, K) ``presence`` matrix).

    ``groups`` lists positions that must share a split (near-duplicates).  Ties between
    splits go to the split that wants more samples, then to the first; units of one
    category are visited in an order shuffled by ``seed``.
    """
    p = np.asarray(presence) > 0
    if p.ndim != 2:
        raise SplitError(f"presence must be (N, K), got shape {p.shape}")
    ratio = np.asarray(parse_ratios(list(ratios)))
    ratio = ratio / ratio.sum()
    n, _ = p.shape
    pairs: list[tuple[int, int]] = []
    for g in groups:
        members = [int(i) for i in g]
        for i in members:
            if not 0 <= i < n:
                raise SplitError(f"group member {i} is outside 0..{n - 1}")
        pairs.extend(itertools.pairwise(members))
    unit_of = np.arange(n)
    for component in group_pairs(n, pairs):
        unit_of[component] = component[0]
    _, unit_index = np.unique(unit_of, return_inverse=True)
    units = int(unit_index.max()) + 1 if n else 0
    size = np.bincount(unit_index, minlength=units).astype(np.float64)
    unit_labels = np.zeros((units, p.shape[1]), dtype=np.float64)
    np.add.at(unit_labels, unit_index, p.astype(np.float64))
    unit_has = unit_labels > 0
    want_samples = ratio * n
    want_labels = ratio[:, None] * unit_labels.sum(axis=0)[None, :]
    # a split with ratio 0 gets nothing, even once the others want less than nothing
    want_samples[ratio == 0] = -np.inf
    want_labels[ratio == 0] = -np.inf
    assigned = np.full(units, -1, dtype=np.int64)
    rng = np.random.default_rng(seed)
    remaining = unit_has.copy()
    while True:
        counts = remaining.sum(axis=0)
        open_labels = np.flatnonzero(counts > 0)
        if open_labels.size == 0:
            break
        label = int(open_labels[np.argmin(counts[open_labels])])
        todo = np.flatnonzero(remaining[:, label])
        for u in todo[rng.permutation(len(todo))].tolist():
            wants = want_labels[:, label]
            best = np.flatnonzero(wants == wants.max())
            if len(best) > 1:
                best = best[want_samples[best] == want_samples[best].max()]
            j = int(best[0])
            assigned[u] = j
            want_labels[j] -= unit_labels[u]
            want_samples[j] -= size[u]
            remaining[u] = False
    for u in np.flatnonzero(assigned < 0).tolist():
        j = int(np.argmax(want_samples))
        assigned[u] = j
        want_samples[j] -= size[u]
    return np.asarray(assigned[unit_index], dtype=np.int64)


@dataclass
class SplitCheck:
    """Problems found in an existing split."""

    sizes: dict[str, int]
    leaks: list[dict[str, list[str]]] = field(default_factory=list)
    repeated: dict[str, list[str]] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No leak, no key in two splits and no key outside the dataset."""
        return not (self.leaks or self.repeated or self.unknown)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "ok": self.ok,
            "sizes": self.sizes,
            "leaks": self.leaks,
            "repeated": self.repeated,
            "unknown": self.unknown,
            "missing": self.missing,
        }


def check_split(
    assignment: Mapping[str, Sequence[str]],
    keys: Sequence[str],
    groups: Sequence[Sequence[str]] = (),
) -> SplitCheck:
    """Check a split (split name -> keys) against the dataset keys and duplicate groups.

    A *leak* is a duplicate group whose members sit in more than one split (listed as
    split -> members); ``repeated`` lists keys found in several splits; ``unknown`` keys
    not in the dataset; ``missing`` dataset keys in no split (not an error).
    """
    where: dict[str, list[str]] = {}
    for name, members in assignment.items():
        for key in members:
            where.setdefault(key, []).append(name)
    known = set(keys)
    check = SplitCheck(sizes={name: len(m) for name, m in assignment.items()})
    check.repeated = {k: v for k, v in where.items() if len(v) > 1}
    check.unknown = sorted(k for k in where if k not in known)
    check.missing = [k for k in keys if k not in where]
    for group in groups:
        spread: dict[str, list[str]] = {}
        for key in group:
            for name in where.get(key, []):
                spread.setdefault(name, []).append(key)
        if len(spread) > 1:
            check.leaks.append(spread)
    return check


def assignment_from(
    keys: Sequence[str], split_of: NDArray[np.int64], names: Sequence[str]
) -> dict[str, list[str]]:
    """Split name -> keys (dataset order) from per-sample split numbers."""
    out: dict[str, list[str]] = {name: [] for name in names}
    for key, j in zip(keys, split_of.tolist(), strict=True):
        out[names[j]].append(key)
    return out


def read_split_file(path: Path) -> dict[str, list[str]]:
    """A split file: JSON ``{"train": [keys], "val": [...], ...}``."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"split file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise FormatError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}") from None
    splits = data.get("splits", data) if isinstance(data, dict) else None
    if not isinstance(splits, dict) or not all(
        isinstance(v, list) and all(isinstance(k, (str, int)) for k in v) for v in splits.values()
    ):
        raise FormatError(
            f"{path}: expected a JSON object of split name -> list of sample keys, e.g. "
            '{"train": ["a", "b"], "val": ["c"]}'
        )
    return {str(name): [str(k) for k in members] for name, members in splits.items()}
