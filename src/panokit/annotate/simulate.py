"""The simulated annotator: replay a ground truth with a tool set and count the actions.

One cost model for every tool set (:class:`CostModel`): a click is 1 action, a polygon vertex
1, a category pick 1 (choosing the current segment: a category, or a new instance of it), a
brush stroke 1 plus 1 per full 50 px of its path (``1 + floor(length / 50)``).  Every change goes through
:func:`~panokit.annotate.edits.apply_edit`, so the simulator measures the real operations.
PQ against the ground truth (:mod:`panokit.annotate.quality`) is recorded after every segment
(or group of clicks); the run stops as soon as it reaches ``target_pq``.

Tool sets:

* ``polygon``: segments in decreasing area, back to front (later polygons overwrite); each
  4-connected part (holes filled) traced by Douglas-Peucker on its contour, or, when that
  needs fewer vertices, the part grown into the pixels of segments drawn later (and void),
  which the later polygons overwrite anyway.  The tolerance is
  the one among :attr:`Simulator.polygon_tolerances` that reaches the target with the fewest
  actions.
* ``brush``: the same order and the same choice of outline (fewer actions); each part painted with a fine edge stroke (radius ``r``) along
  its outline, then strokes of doubling radius (up to ``R`` <= 20 px) along the outlines of
  ever deeper interiors, and row strokes of radius ``R`` over the rest.  ``r`` is chosen like the polygon tolerance.
* ``superpixel``: the annotator plans its clicks on the hierarchy as a tree: for every region
  (coarsest level first) it either clicks it, giving it its dominant segment, or leaves it
  to its children, whichever minimises ``clicks + w * wrong pixels`` (exact dynamic
  programme; a finer click overrides a coarser one, so coarse clicks followed by fine fixes
  are found); the largest segment is left for one fill-unlabeled at the end.  Clicks are
  grouped by segment as far as their nesting allows (one pick per group).  Segments that
  still miss pixels are then painted with the brush (unmatched segments first).  ``w`` is
  the one among :attr:`Simulator.error_weights` that reaches the target with the fewest
  actions.
* ``prelabel``: start from a prediction; fix the category of predicted segments that match
  a ground-truth segment (click + pick), delete those that mostly cover other segments
  (2 clicks), then the same click planning (counting the pixels the prediction already has
  right) and brush corrections.

Deterministic for a given ``seed`` (it picks where inside a region a click lands).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from panokit.annotate.edits import (
    Brush,
    ChangeCategory,
    ClickRegion,
    Delete,
    Edit,
    EditContext,
    FillUnlabeled,
    Polygon,
    apply_edit,
    resolve_target,
)
from panokit.annotate.quality import PQScorer
from panokit.annotate.superpixels import SuperpixelHierarchy, build_superpixel_hierarchy
from panokit.core import PanopticImage, Segment
from panokit.errors import FormatError, LabelError, require

TOOLSETS = ("polygon", "brush", "superpixel", "prelabel")


@dataclass(frozen=True)
class CostModel:
    """Actions per interaction (the same for every tool set)."""

    click: int = 1
    vertex: int = 1
    category_pick: int = 1
    stroke: int = 1
    stroke_px_per_action: float = 50.0

    def stroke_cost(self, path_length: float) -> int:
        """Actions of one brush stroke whose path is ``path_length`` pixels long."""
        return self.stroke + math.floor(path_length / self.stroke_px_per_action + 1e-9)


@dataclass(frozen=True)
class SimulationResult:
    """Outcome of one simulated labeling run.

    ``actions`` is the count when PQ first reached the target (or the total when it never
    did, ``reached`` False); ``curve`` the (cumulative actions, PQ) points, starting at
    (0, PQ of the starting label); ``by_kind`` splits ``actions`` into clicks, vertices,
    picks and strokes; ``params`` the chosen tolerance / radius.
    """

    toolset: str
    actions: int
    pq: float
    reached: bool
    curve: tuple[tuple[int, float], ...]
    by_kind: dict[str, int]
    params: dict[str, float]
    label: PanopticImage = field(repr=False)


class _Session:
    """The label being built, the action count and the PQ curve."""

    def __init__(
        self,
        start: PanopticImage,
        scorer: PQScorer,
        costs: CostModel,
        target: float,
        context: EditContext | None,
    ) -> None:
        self.label: PanopticImage = start
        self.scorer = scorer
        self.costs = costs
        self.target = target
        self.context = context
        self.actions = 0
        self.by_kind = {"clicks": 0, "vertices": 0, "picks": 0, "strokes": 0}
        first = scorer.score(start).pq
        self.pq = first
        self.curve: list[tuple[int, float]] = [(0, first)]

    @property
    def done(self) -> bool:
        return self.pq >= self.target

    def spend(self, kind: str, amount: int) -> None:
        self.actions += amount
        self.by_kind[kind] += amount

    def apply(self, edit: Edit) -> None:
        new, _ = apply_edit(self.label, edit, self.context)
        self.label = new  # type: ignore[assignment]

    def record(self) -> None:
        self.pq = self.scorer.score(self.label).pq
        self.curve.append((self.actions, self.pq))

    def result(self, toolset: str, params: dict[str, float]) -> SimulationResult:
        return SimulationResult(
            toolset=toolset,
            actions=self.actions,
            pq=self.pq,
            reached=self.done,
            curve=tuple(self.curve),
            by_kind=dict(self.by_kind),
            params=params,
            label=self.label,
        )


def _empty_like(gt: PanopticImage) -> PanopticImage:
    return PanopticImage(np.zeros(gt.ids.shape, dtype=np.uint32), {}, gt.taxonomy)


def _parts(
    gt: PanopticImage, seg_id: int, fill_holes: bool
) -> list[tuple[int, int, NDArray[np.bool_], int]]:
    """4-connected parts of a segment as (y0, x0, crop mask, pixels), largest first."""
    from scipy import ndimage

    x, y, bw, bh = gt.bbox(seg_id)
    crop = gt.ids[y : y + bh, x : x + bw] == seg_id
    comps, n = ndimage.label(crop)
    found = ndimage.find_objects(comps)
    sizes = np.bincount(comps.ravel(), minlength=n + 1)[1:]
    out: list[tuple[int, int, NDArray[np.bool_], int]] = []
    for i in np.argsort(-sizes, kind="stable"):
        sl = found[i]
        if sl is None:
            continue
        part = comps[sl] == i + 1
        if fill_holes:
            part = ndimage.binary_fill_holes(part)
        out.append((y + sl[0].start, x + sl[1].start, part, int(sizes[i])))
    return out


def _contours(mask: NDArray[np.bool_]) -> list[NDArray[np.float64]]:
    """Closed outlines (row, col) of a mask, in the mask's coordinates."""
    from skimage import measure

    padded = np.pad(mask, 1).astype(np.float32)
    found = measure.find_contours(padded, 0.5)  # type: ignore[no-untyped-call]
    return [c - 1.0 for c in found]


def _thin_strokes(
    y0: int, x0: int, part: NDArray[np.bool_]
) -> list[tuple[tuple[tuple[float, float], ...], float, float]]:
    """Strokes of radius 0.5 that trace a thin part run by run: a serpentine through
    consecutive rows (or columns, whichever has fewer runs) whose single runs overlap; a row
    with several runs gets one stroke per run."""
    best: list[tuple[tuple[tuple[float, float], ...], float, float]] | None = None
    for transpose in (False, True):
        grid = part.T if transpose else part
        strokes: list[tuple[tuple[tuple[float, float], ...], float, float]] = []
        current: list[tuple[float, float]] = []
        previous: tuple[int, int] | None = None

        def flush(into: list[Any] = strokes, pts: list[tuple[float, float]] = current) -> None:
            if pts:
                into.append((tuple(pts), 0.5, _path_length(np.array(pts, dtype=np.float64))))
                pts.clear()

        for i in range(grid.shape[0]):
            line = grid[i]
            if not line.any():
                flush()
                previous = None
                continue
            edges = np.flatnonzero(np.diff(np.concatenate([[0], line.astype(np.int8), [0]])))
            runs = list(zip(edges[0::2].tolist(), (edges[1::2] - 1).tolist(), strict=True))
            if (
                len(runs) == 1
                and previous is not None
                and runs[0][0] <= previous[1]
                and runs[0][1] >= previous[0]
            ):
                a, b = runs[0]
                ends = [(a, i), (b, i)] if len(current) % 4 == 0 else [(b, i), (a, i)]
            else:
                flush()
                for a, b in runs[:-1]:
                    current.extend([(a, i), (b, i)])
                    flush()
                a, b = runs[-1]
                ends = [(a, i), (b, i)]
            previous = runs[-1] if len(runs) == 1 else None
            for c, r in ends:
                current.append(
                    (float(r + x0), float(c + y0)) if transpose else (float(c + x0), float(r + y0))
                )
            if previous is None:
                flush()
        flush()
        if best is None or len(strokes) < len(best):
            best = strokes
    return best or []


def _path_length(path: NDArray[np.float64]) -> float:
    return float(np.hypot(*np.diff(path, axis=0).T).sum()) if len(path) > 1 else 0.0


class Simulator:
    """Runs the tool sets on one image and its ground truth (see the module docstring)."""

    polygon_tolerances: Sequence[float] = (0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
    brush_radii: Sequence[int] = (1, 2, 4)
    min_part_area = 12
    min_fix_area = 4
    error_weights: Sequence[float] = (0.01, 0.03, 0.1, 0.3, 1.0)
    click_gain = 0.3

    def __init__(
        self,
        image: NDArray[Any] | None,
        ground_truth: PanopticImage,
        target_pq: float = 0.9,
        seed: int = 0,
        costs: CostModel | None = None,
        hierarchy: SuperpixelHierarchy | None = None,
    ) -> None:
        if not isinstance(ground_truth, PanopticImage):
            raise LabelError(
                f"the ground truth must be a PanopticImage, got {type(ground_truth).__name__}"
            )
        h, w = ground_truth.ids.shape
        if h == 0 or w == 0:
            raise FormatError(f"the ground truth is empty (shape {ground_truth.ids.shape})")
        if image is not None:
            arr = np.asarray(image)
            if arr.ndim < 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
                raise FormatError(f"the image is empty or not an image (shape {arr.shape})")
            if arr.shape[:2] != (h, w):
                raise LabelError(
                    f"the image is {arr.shape[0]}x{arr.shape[1]} but the ground truth is {h}x{w}; "
                    "they must be the same size"
                )
        if hierarchy is not None and hierarchy.shape != (h, w):
            raise LabelError(
                f"the superpixels are {hierarchy.shape[0]}x{hierarchy.shape[1]} but the ground "
                f"truth is {h}x{w}"
            )
        require("scipy", "annotate", "the simulated annotator")
        require("skimage", "annotate", "the simulated annotator")
        self.image = image
        self.gt = ground_truth
        self.target = float(target_pq)
        self.seed = int(seed)
        self.costs = costs or CostModel()
        self._hierarchy = hierarchy
        self.scorer = PQScorer(ground_truth)
        areas = ground_truth.areas()
        crowd = {s for s, seg in ground_truth.segments.items() if seg.iscrowd}
        self.order = sorted(
            (s for s in areas if s in ground_truth.segments and s not in crowd),
            key=lambda s: (-areas[s], s),
        )

    @property
    def hierarchy(self) -> SuperpixelHierarchy:
        if self._hierarchy is None:
            if self.image is None:
                raise LabelError("the superpixel tool set needs the image (or a hierarchy)")
            self._hierarchy = build_superpixel_hierarchy(self.image)
        return self._hierarchy

    # ------------------------------------------------------------------ polygon
    def polygon(self) -> SimulationResult:
        from skimage import measure

        own = {s: _parts(self.gt, s, fill_holes=True) for s in self.order}
        layered = self._layered_parts()
        outlines: dict[int, list[list[tuple[int, int, NDArray[np.float64]]]]] = {}
        for seg_id in self.order:
            options = []
            for parts in (own[seg_id], layered[seg_id]):
                found = []
                for i, (y0, x0, part, weight) in enumerate(parts):
                    if i and weight < self.min_part_area:
                        continue
                    contours = _contours(part)
                    if contours:
                        found.append((y0, x0, max(contours, key=len)))
                options.append(found)
            outlines[seg_id] = options
        best: SimulationResult | None = None
        for tol in self.polygon_tolerances:
            plan: list[tuple[int, list[tuple[tuple[float, float], ...]]]] = []
            for seg_id in self.order:
                choices = []
                for found in outlines[seg_id]:
                    polys = []
                    for y0, x0, outline in found:
                        simple = measure.approximate_polygon(outline, tolerance=tol)  # type: ignore[no-untyped-call]
                        if len(simple) - 1 >= 3:
                            polys.append(
                                tuple((float(c + x0), float(r + y0)) for r, c in simple[:-1])
                            )
                    choices.append(polys)
                usable = [c for c in choices if c] or choices[:1]
                plan.append((seg_id, min(usable, key=lambda ps: sum(len(p) for p in ps))))
            run = replace(self._run_polygons(plan), params={"tolerance": tol})
            if best is None or _better(run, best):
                best = run
        assert best is not None
        return best

    def _layered_parts(self) -> dict[int, list[tuple[int, int, NDArray[np.bool_], int]]]:
        """Per segment, the parts of its mask grown into everything drawn after it (and
        void), which later polygons overwrite anyway: how a back-to-front annotator may
        outline a segment more simply.  (y0, x0, crop, own pixels), most own pixels first."""
        from scipy import ndimage

        rank = np.full(int(self.gt.ids.max()) + 1, len(self.order), dtype=np.int64)
        for i, seg_id in enumerate(self.order):
            rank[seg_id] = i
        rank_map = rank[self.gt.ids]
        out: dict[int, list[tuple[int, int, NDArray[np.bool_], int]]] = {}
        for i, seg_id in enumerate(self.order):
            grown, _ = ndimage.label(rank_map >= i)
            mine = self.gt.ids == seg_id
            counts = np.bincount(grown[mine], minlength=int(grown.max()) + 1)
            parts = []
            boxes = ndimage.find_objects(grown)
            valid = True
            for comp in np.flatnonzero(counts):
                if comp == 0 or boxes[comp - 1] is None:
                    continue
                sl = boxes[comp - 1]
                part = ndimage.binary_fill_holes(grown[sl] == comp)
                if (rank_map[sl][part] < i).any():
                    valid = False  # it encloses a segment drawn before: no single outline
                    break
                parts.append((sl[0].start, sl[1].start, part, int(counts[comp])))
            parts.sort(key=lambda p: -p[3])
            out[seg_id] = parts if valid else []
        return out

    def _run_polygons(
        self, plan: list[tuple[int, list[tuple[tuple[float, float], ...]]]]
    ) -> SimulationResult:
        s = _Session(_empty_like(self.gt), self.scorer, self.costs, self.target, None)
        for seg_id, polys in plan:
            if s.done:
                break
            if not polys:
                continue
            cat = self.gt.segments[seg_id].category_id
            s.spend("picks", self.costs.category_pick)
            target = resolve_target(s.label, cat, None)
            for poly in polys:
                s.spend("vertices", self.costs.vertex * len(poly))
                s.apply(Polygon(vertices=poly, category_id=cat, segment_id=target))
            s.record()
        return s.result("polygon", {})

    # -------------------------------------------------------------------- brush
    def _strokes(
        self, y0: int, x0: int, part: NDArray[np.bool_], r: int
    ) -> list[tuple[tuple[tuple[float, float], ...], float, float]]:
        """Brush strokes (path, radius, path length) that paint a part."""
        from scipy import ndimage
        from skimage import measure

        dist = ndimage.distance_transform_edt(np.pad(part, 1))[1:-1, 1:-1]
        out: list[tuple[tuple[tuple[float, float], ...], float, float]] = []
        big = int(min(20, max(r, np.floor(float(dist.max()) / 2))))

        def along(radius: int) -> None:
            inner = dist > radius + 0.5
            for c in _contours(inner):
                simple = measure.approximate_polygon(c, tolerance=0.3)  # type: ignore[no-untyped-call]
                path = tuple((float(cc + x0), float(rr + y0)) for rr, cc in simple)
                out.append((path, float(radius), _path_length(simple)))

        if not (dist > r + 0.5).any():
            # too thin for the brush: one stroke through the middle of its rows (or columns)
            return _thin_strokes(y0, x0, part)
        # outline with the fine brush, then ever wider strokes (radius doubling up to R)
        radius = r
        along(radius)
        while radius < big:
            radius = min(big, 2 * radius)
            if (dist > radius + 0.5).any():
                along(radius)
        core = dist > big + 0.5
        for row in range(0, core.shape[0], max(1, 2 * big)):
            line = core[row]
            if not line.any():
                continue
            edges = np.flatnonzero(np.diff(np.concatenate([[0], line.astype(np.int8), [0]])))
            for a, b in zip(edges[0::2], edges[1::2] - 1, strict=True):
                path = ((float(a + x0), float(row + y0)), (float(b + x0), float(row + y0)))
                out.append((path, float(big), float(b - a)))
        return out

    def brush(self) -> SimulationResult:
        own = {s: _parts(self.gt, s, fill_holes=True) for s in self.order}
        layered = self._layered_parts()
        best: SimulationResult | None = None
        for r in self.brush_radii:
            s = _Session(_empty_like(self.gt), self.scorer, self.costs, self.target, None)
            for seg_id in self.order:
                if s.done:
                    break
                cat = self.gt.segments[seg_id].category_id
                s.spend("picks", self.costs.category_pick)
                target = resolve_target(s.label, cat, None)
                options = []
                for parts in (own[seg_id], layered[seg_id]):
                    strokes = []
                    for i, (y0, x0, part, weight) in enumerate(parts):
                        if i and weight < self.min_part_area:
                            continue
                        strokes.extend(self._strokes(y0, x0, part, r))
                    if strokes:
                        options.append(strokes)
                chosen = min(
                    options or [[]],
                    key=lambda st: sum(self.costs.stroke_cost(ln) for _, _, ln in st),
                )
                for path, radius, length in chosen:
                    s.spend("strokes", self.costs.stroke_cost(length))
                    s.apply(Brush(path=path, radius=radius, category_id=cat, segment_id=target))
                s.record()
            run = s.result("brush", {"radius": float(r)})
            if best is None or _better(run, best):
                best = run
        assert best is not None
        return best

    def _paint_part(
        self, s: _Session, y0: int, x0: int, part: NDArray[np.bool_], r: int, cat: int, target: int
    ) -> None:
        for path, radius, length in self._strokes(y0, x0, part, r):
            s.spend("strokes", self.costs.stroke_cost(length))
            s.apply(Brush(path=path, radius=radius, category_id=cat, segment_id=target))

    # --------------------------------------------------------------- superpixel
    def superpixel(self) -> SimulationResult:
        hier = self.hierarchy
        tree = _RegionTree(hier, self.scorer)
        fill_g = int(np.searchsorted(self.scorer.gt_ids, self.order[0])) if self.order else -1
        # pixels right without a click: those of the segment left for fill-unlabeled
        right = (
            tree.tables[-1][:, fill_g] if fill_g >= 0 else np.zeros(hier.num_fine, dtype=np.int64)
        )
        best: SimulationResult | None = None
        for weight in self.error_weights:
            plan = tree.plan(weight, right)
            s = _Session(
                _empty_like(self.gt),
                self.scorer,
                self.costs,
                self.target,
                EditContext(superpixels=hier),
            )
            mapping: dict[int, int] = {}
            self._run_clicks(s, hier, plan, mapping)
            if not s.done and fill_g >= 0:
                gseg = int(self.scorer.gt_ids[fill_g])
                cat = self.gt.segments[gseg].category_id
                s.spend("picks", self.costs.category_pick)
                s.spend("clicks", self.costs.click)
                target = mapping.get(gseg) or resolve_target(s.label, cat, None)
                mapping[gseg] = target
                s.apply(FillUnlabeled(category_id=cat, segment_id=target))
                s.record()
            self._brush_corrections(s, mapping)
            run = s.result(
                "superpixel", {"error_weight": weight, "planned_clicks": float(len(plan))}
            )
            if best is None or _better(run, best):
                best = run
        assert best is not None
        return best

    def _run_clicks(
        self,
        s: _Session,
        hier: SuperpixelHierarchy,
        plan: list[tuple[int, int, int]],
        mapping: dict[int, int],
    ) -> None:
        """Replay planned (level, region, gt index) clicks; one pick per change of segment."""
        rng = np.random.default_rng(self.seed)
        current: int | None = None
        last = hier.num_levels - 1
        for level, region, gidx in plan:
            if s.done:
                break
            if current is not None and current != gidx:
                s.record()
                if s.done:
                    break
            if current != gidx:
                s.spend("picks", self.costs.category_pick)
            current = gidx
            gseg = int(self.scorer.gt_ids[gidx])
            cat = self.gt.segments[gseg].category_id
            target = mapping.get(gseg)
            if target is None or target not in s.label.segments:
                target = resolve_target(s.label, cat, None)
                mapping[gseg] = target
            fine_ids = np.flatnonzero(hier.lut(level) == region)
            k = int(fine_ids[rng.integers(len(fine_ids))])
            box, crop = hier.region_crop(last, k)
            ys, xs = np.nonzero(crop)
            j = int(rng.integers(len(ys)))
            y, x = int(ys[j] + box[0].start), int(xs[j] + box[1].start)
            s.spend("clicks", self.costs.click)
            s.apply(ClickRegion(level=level, x=x, y=y, category_id=cat, segment_id=target))
        if current is not None and not s.done:
            s.record()

    def _brush_corrections(self, s: _Session, mapping: dict[int, int]) -> None:
        """Paint the pixels segments still miss: first the unmatched segments, cheapest
        first, then the matched ones by missing share per action."""
        if s.done:
            return
        score = self.scorer.score(s.label)
        gt_pos = {int(v): i for i, v in enumerate(self.scorer.gt_ids)}
        jobs: list[
            tuple[
                tuple[int, float, int],
                int,
                int,
                int,
                list[tuple[tuple[tuple[float, float], ...], float, float]],
            ]
        ] = []
        for seg_id in self.order:
            cat = self.gt.segments[seg_id].category_id
            target = mapping.get(seg_id)
            if target is not None and target not in s.label.segments:
                target = None
            missing = (self.gt.ids == seg_id) & (
                s.label.ids != (target if target is not None else -1)
            )
            count = int(missing.sum())
            if count < self.min_fix_area:
                continue
            strokes: list[tuple[tuple[tuple[float, float], ...], float, float]] = []
            holder = PanopticImage(missing.astype(np.uint8), {1: Segment(cat)})
            for y0, x0, part, _ in _parts(holder, 1, fill_holes=False):
                if part.sum() >= self.min_fix_area:
                    strokes.extend(self._strokes(y0, x0, part, 1))
            if not strokes:
                continue
            cost = self.costs.category_pick + sum(
                self.costs.stroke_cost(ln) for _, _, ln in strokes
            )
            gi = gt_pos[seg_id]
            unmatched = int(score.matched[gi] == 0)
            share = count / max(int(self.scorer.gt_area[gi]), 1)
            key = (-unmatched, cost if unmatched else -share / cost, seg_id)
            jobs.append((key, seg_id, cat, -1 if target is None else target, strokes))
        jobs.sort(key=lambda j: j[0])
        for _, seg_id, cat, target, strokes in jobs:
            if s.done:
                break
            if target < 0 or target not in s.label.segments:
                target = resolve_target(s.label, cat, None)
            mapping[seg_id] = target
            s.spend("picks", self.costs.category_pick)
            for path, radius, length in strokes:
                s.spend("strokes", self.costs.stroke_cost(length))
                s.apply(Brush(path=path, radius=radius, category_id=cat, segment_id=target))
            s.record()

    # ----------------------------------------------------------------- prelabel
    def prelabel(self, prediction: PanopticImage) -> SimulationResult:
        if prediction.ids.shape != self.gt.ids.shape:
            raise LabelError(
                f"the prediction is {prediction.ids.shape} but the ground truth is {self.gt.ids.shape}"
            )
        start = prediction.with_segments(prediction.ids, prediction.segments)
        if start.taxonomy is None:
            start.taxonomy = self.gt.taxonomy
        hier = (
            self._hierarchy if self._hierarchy is not None or self.image is None else self.hierarchy
        )
        tree = _RegionTree(hier, self.scorer) if hier is not None else None
        weights: Sequence[float | None] = self.error_weights if tree is not None else (None,)
        best: SimulationResult | None = None
        for weight in weights:
            s = _Session(start, self.scorer, self.costs, self.target, EditContext(superpixels=hier))
            mapping = self._fix_prediction(s, start)
            if tree is not None and hier is not None and weight is not None and not s.done:
                want = np.full(len(self.scorer.gt_ids), -1, dtype=np.int64)
                gt_pos = {int(v): i for i, v in enumerate(self.scorer.gt_ids)}
                for gseg, pseg in mapping.items():
                    want[gt_pos[gseg]] = pseg
                cur = s.label.ids.ravel()[self.scorer.keep].astype(np.int64)
                ok = cur == want[self.scorer.gt_index]
                fine = hier.fine.ravel()[self.scorer.keep]
                right = np.bincount(fine[ok], minlength=hier.num_fine).astype(np.int64)
                self._run_clicks(s, hier, tree.plan(weight, right), mapping)
            self._brush_corrections(s, mapping)
            run = s.result("prelabel", {} if weight is None else {"error_weight": weight})
            if best is None or _better(run, best):
                best = run
            if run.actions == 0:
                break
        assert best is not None
        return best

    def _fix_prediction(self, s: _Session, start: PanopticImage) -> dict[int, int]:
        """Fix the categories of predicted segments that match a ground-truth segment
        (IoU > 0.5, any category; click + pick) and delete those that mostly cover other
        segments (click + delete).  Returns ground-truth id -> predicted id."""
        mapping: dict[int, int] = {}
        g = len(self.scorer.gt_ids)
        pids = s.label.ids.ravel()[self.scorer.keep].astype(np.int64)
        for pseg in sorted(start.segments):
            if s.done:
                break
            inside = pids == pseg
            area = int(inside.sum())
            if area == 0:
                continue
            counts = np.bincount(self.scorer.gt_index[inside], minlength=g)
            best = int(counts.argmax())
            gseg = int(self.scorer.gt_ids[best])
            union = area + int(self.scorer.gt_area[best]) - int(counts[best])
            if counts[best] / max(union, 1) > 0.5 and gseg not in mapping:
                mapping[gseg] = pseg
                want = self.gt.segments[gseg].category_id
                if s.label.segments[pseg].category_id != want:
                    s.spend("clicks", self.costs.click)
                    s.spend("picks", self.costs.category_pick)
                    s.apply(ChangeCategory(segment_id=pseg, category_id=want))
                    s.record()
            elif counts[best] < 0.5 * area:
                s.spend("clicks", 2 * self.costs.click)
                s.apply(Delete(segment_id=pseg))
                s.record()
        return {k: v for k, v in mapping.items() if v in s.label.segments}


class _RegionTree:
    """The hierarchy as a tree with ground-truth counts per region, for click planning."""

    def __init__(self, hier: SuperpixelHierarchy, scorer: PQScorer) -> None:
        g = len(scorer.gt_ids)
        self.g = g
        keep = scorer.keep
        fine = hier.fine.ravel()[keep].astype(np.int64)
        k = hier.num_fine
        fine_table = np.bincount(fine * g + scorer.gt_index, minlength=k * g).reshape(k, g)
        self.tables: list[NDArray[np.int64]] = []
        self.children: list[list[list[int]]] = []
        for level, n in enumerate(hier.levels):
            lut = hier.lut(level).astype(np.int64)
            table = np.zeros((n, g), dtype=np.int64)
            np.add.at(table, lut, fine_table)
            self.tables.append(table)
            if level + 1 < hier.num_levels:
                finer = hier.lut(level + 1).astype(np.int64)
                parent = np.zeros(hier.levels[level + 1], dtype=np.int64)
                parent[finer] = lut
                kids: list[list[int]] = [[] for _ in range(n)]
                for child, par in enumerate(parent.tolist()):
                    kids[par].append(child)
                self.children.append(kids)
        self.dom = [t.argmax(axis=1) for t in self.tables]
        self.size = [t.sum(axis=1) for t in self.tables]

    def plan(self, weight: float, right: NDArray[np.int64]) -> list[tuple[int, int, int]]:
        """Clicks (level, region, gt index), each after the click of its enclosing region,
        that minimise ``clicks + weight * wrong pixels``; ``right`` counts, per fine region,
        the pixels that are right if nothing above it is clicked."""
        last = len(self.tables) - 1
        memo: dict[tuple[int, int, int], tuple[float, bool]] = {}
        tables, dom, size, children = self.tables, self.dom, self.size, self.children
        keep_right = right.tolist()

        def cost(level: int, region: int, inherited: int) -> float:
            # inherited: gt index painted by the nearest clicked ancestor, -1 for none
            key = (level, region, inherited)
            hit = memo.get(key)
            if hit is not None:
                return hit[0]
            d = int(dom[level][region])
            if size[level][region] == 0:
                memo[key] = (0.0, False)
                return 0.0
            if level == last:
                good = (
                    keep_right[region] if inherited < 0 else int(tables[level][region, inherited])
                )
                keep_cost = weight * float(size[level][region] - good)
                click_cost = 1.0 + weight * float(size[level][region] - tables[level][region, d])
            else:
                kids = children[level][region]
                keep_cost = sum(cost(level + 1, c, inherited) for c in kids)
                click_cost = (
                    1.0 + sum(cost(level + 1, c, d) for c in kids) if d != inherited else math.inf
                )
            result = (click_cost, True) if click_cost < keep_cost else (keep_cost, False)
            memo[key] = result
            return result[0]

        for r in range(len(self.tables[0])):
            cost(0, r, -1)
        clicks: list[tuple[int, int, int]] = []
        parent_of: list[int] = []

        def walk(level: int, region: int, inherited: int, parent: int) -> None:
            cost(level, region, inherited)
            _, clicked = memo[(level, region, inherited)]
            label = inherited
            if clicked:
                label = int(dom[level][region])
                clicks.append((level, region, label))
                parent_of.append(parent)
                parent = len(clicks) - 1
            if level < last:
                for c in children[level][region]:
                    walk(level + 1, c, label, parent)

        for r in range(len(self.tables[0])):
            walk(0, r, -1, -1)
        return _schedule(clicks, parent_of)


def _schedule(
    clicks: list[tuple[int, int, int]], parent_of: list[int]
) -> list[tuple[int, int, int]]:
    """Order clicks so that each comes after the click of its enclosing region, with as
    few changes of the current segment as that allows: repeatedly take the segment with the
    most clicks ready, and do all of them (and those they make ready)."""
    kids: list[list[int]] = [[] for _ in clicks]
    ready: dict[int, list[int]] = {}
    for i, p in enumerate(parent_of):
        if p < 0:
            ready.setdefault(clicks[i][2], []).append(i)
        else:
            kids[p].append(i)
    plan: list[tuple[int, int, int]] = []
    while ready:
        seg = max(ready, key=lambda k: (len(ready[k]), -k))
        todo = ready.pop(seg)
        while todo:
            i = todo.pop(0)
            plan.append(clicks[i])
            for k in kids[i]:
                if clicks[k][2] == seg:
                    todo.append(k)
                else:
                    ready.setdefault(clicks[k][2], []).append(k)
    return plan


def _better(run: SimulationResult, best: SimulationResult) -> bool:
    if run.reached != best.reached:
        return run.reached
    if run.reached:
        return run.actions < best.actions
    return run.pq > best.pq


def simulate(
    image: NDArray[Any] | None,
    ground_truth: PanopticImage,
    toolset: str,
    target_pq: float = 0.9,
    seed: int = 0,
    *,
    hierarchy: SuperpixelHierarchy | None = None,
    prediction: PanopticImage | None = None,
    costs: CostModel | None = None,
) -> SimulationResult:
    """Label ``ground_truth`` again with ``toolset`` and count the actions to ``target_pq``.

    ``image`` (H, W, 3) is needed by ``superpixel`` unless ``hierarchy`` is given;
    ``prelabel`` needs ``prediction``.  See the module docstring for the tool sets.
    """
    if toolset not in TOOLSETS:
        raise LabelError(f"unknown tool set {toolset!r}; known: {list(TOOLSETS)}")
    sim = Simulator(image, ground_truth, target_pq, seed, costs, hierarchy)
    if toolset == "polygon":
        return sim.polygon()
    if toolset == "brush":
        return sim.brush()
    if toolset == "superpixel":
        return sim.superpixel()
    if prediction is None:
        raise LabelError("the prelabel tool set needs a prediction to start from")
    return sim.prelabel(prediction)
