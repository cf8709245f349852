"""Edit operations on panoptic labels: small serialisable dataclasses + one pure ``apply_edit``.

``apply_edit(label, edit, context) -> (new_label, inverse)`` never changes ``label``; the
inverse is a :class:`Patch` (the changed element indices, their old ids and the old segment
table entries), and applying a patch returns the patch that redoes it.  Every edit has a
JSON form (:func:`edit_to_dict` / :func:`edit_from_dict`) so the server and the browser send
the same operation.

Exact semantics (the web tool must reproduce them element for element):

* **Target segment** (fields ``category_id``, ``segment_id``).  For a *stuff* category the
  target is the category's existing segment, or a new one when it has none (stuff is always
  one segment per category; naming another segment id is an error).  For a *thing*:
  ``segment_id=None`` starts a new instance; an existing ``segment_id`` continues that
  instance (its category must equal ``category_id``); an unused ``segment_id`` creates it.
  New segments get ``max(existing segment ids, default 0) + 1``.  Without a taxonomy every
  category counts as a thing.
* **protect**: when true, only void elements (id 0) of the selection change.
* After any edit, segments left with no element are removed from the table.
* Geometry (brush disks, polygons) follows :mod:`panokit.annotate.geometry`.
* Superpixel selections use :class:`~panokit.annotate.superpixels.SuperpixelHierarchy`
  regions (``context.superpixels``); ``snap_level`` turns a brush into "every region at that
  level the stroke touches".
* **FillUnlabeled**: with no ``x``/``y`` all void pixels of the image; with ``x``/``y`` and a
  ``level``, the void pixels of that superpixel region; with ``x``/``y`` and no level, the
  4-connected void component holding (x, y) (nothing if that pixel is labelled).
* **ChangeCategory** to a stuff category that already has a segment merges into it.
* **Merge** moves every element of ``segment_ids`` into ``into`` (default: the smallest id);
  ``into``'s category is kept.
* **Split** (things only): with ``vertices``, the segment's pixels inside the polygon become a
  new instance; without, every 4-connected component but the largest becomes a new
  instance (components ordered by size, larger first, ties by first pixel in raster order).
* Point clouds: **ClickSupervoxel** assigns the supervoxel of a point; **BoxSelect** the
  points with ``lo <= xyz <= hi``; **LassoSelect** the points with positive depth ``w`` whose
  projection ``(u/w, v/w)``, ``[u, v, w] = P [x, y, z, 1]``, lies inside the lasso polygon;
  **RemoveGround** the inliers of the RANSAC ground plane (:func:`fit_ground_plane`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypeAlias

import numpy as np
from numpy.typing import NDArray

from panokit.annotate.geometry import points_in_polygon, polygon_index, stroke_index
from panokit.annotate.superpixels import SuperpixelHierarchy
from panokit.annotate.supervoxels import SupervoxelHierarchy, fit_ground_plane
from panokit.core import VOID, PanopticImage, PanopticLabel, PanopticPointCloud, Segment
from panokit.errors import FormatError, LabelError

# --------------------------------------------------------------------------- the edits


@dataclass(frozen=True)
class _Edit:
    op: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"op": <name>, <field>: <value>, ...}``."""
        return edit_to_dict(self)


@dataclass(frozen=True)
class ClickRegion(_Edit):
    """Assign the superpixel region at (x, y) of ``level`` to the target segment."""

    op: ClassVar[str] = "click_region"
    level: int
    x: int
    y: int
    category_id: int
    segment_id: int | None = None
    protect: bool = False


@dataclass(frozen=True)
class Brush(_Edit):
    """Paint a stroke (disk of ``radius`` along ``path``) with the target segment."""

    op: ClassVar[str] = "brush"
    path: tuple[tuple[float, float], ...]
    radius: float
    category_id: int
    segment_id: int | None = None
    protect: bool = False
    snap_level: int | None = None


@dataclass(frozen=True)
class Erase(_Edit):
    """Set a stroke to void (only ``segment_id``'s pixels when given)."""

    op: ClassVar[str] = "erase"
    path: tuple[tuple[float, float], ...]
    radius: float
    segment_id: int | None = None
    snap_level: int | None = None


@dataclass(frozen=True)
class Polygon(_Edit):
    """Fill a polygon (``vertices`` as (x, y)) with the target segment."""

    op: ClassVar[str] = "polygon"
    vertices: tuple[tuple[float, float], ...]
    category_id: int
    segment_id: int | None = None
    protect: bool = False


@dataclass(frozen=True)
class FillUnlabeled(_Edit):
    """Give void pixels (whole image, a region, or a void component) to the target segment."""

    op: ClassVar[str] = "fill_unlabeled"
    category_id: int
    segment_id: int | None = None
    x: int | None = None
    y: int | None = None
    level: int | None = None


@dataclass(frozen=True)
class ChangeCategory(_Edit):
    """Give a segment another category."""

    op: ClassVar[str] = "change_category"
    segment_id: int
    category_id: int


@dataclass(frozen=True)
class Merge(_Edit):
    """Merge segments into one."""

    op: ClassVar[str] = "merge"
    segment_ids: tuple[int, ...]
    into: int | None = None


@dataclass(frozen=True)
class Split(_Edit):
    """Split a thing segment by a polygon, or into its connected components."""

    op: ClassVar[str] = "split"
    segment_id: int
    vertices: tuple[tuple[float, float], ...] | None = None


@dataclass(frozen=True)
class Delete(_Edit):
    """Set a segment's elements to void and drop it."""

    op: ClassVar[str] = "delete"
    segment_id: int


@dataclass(frozen=True)
class ClickSupervoxel(_Edit):
    """Assign the supervoxel (at ``level``) holding point ``point`` to the target segment."""

    op: ClassVar[str] = "click_supervoxel"
    level: int
    point: int
    category_id: int
    segment_id: int | None = None
    protect: bool = False


@dataclass(frozen=True)
class BoxSelect(_Edit):
    """Assign the points inside an axis-aligned box (inclusive) to the target segment."""

    op: ClassVar[str] = "box_select"
    lo: tuple[float, float, float]
    hi: tuple[float, float, float]
    category_id: int
    segment_id: int | None = None
    protect: bool = False


@dataclass(frozen=True)
class LassoSelect(_Edit):
    """Assign the points whose camera projection falls in a 2D lasso polygon."""

    op: ClassVar[str] = "lasso_select"
    projection: tuple[tuple[float, float, float, float], ...]
    vertices: tuple[tuple[float, float], ...]
    category_id: int
    segment_id: int | None = None
    protect: bool = False


@dataclass(frozen=True)
class RemoveGround(_Edit):
    """Assign the ground-plane inliers (RANSAC) to a (stuff) ground category."""

    op: ClassVar[str] = "remove_ground"
    category_id: int
    threshold: float = 0.2
    iterations: int = 100
    seed: int = 0
    max_tilt_deg: float = 25.0
    protect: bool = True
    segment_id: int | None = None


@dataclass(frozen=True, eq=False)
class Patch(_Edit):
    """Set ``values`` at flat ``index`` and the given segment-table entries (None = remove).

    The inverse returned by :func:`apply_edit`; applying it returns the redo patch.
    """

    op: ClassVar[str] = "patch"
    index: NDArray[np.int64]
    values: NDArray[Any]
    segments: Mapping[int, Segment | None] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Number of elements the patch writes."""
        return int(self.index.size)

    def nbytes(self) -> int:
        """Memory held by the patch arrays."""
        return int(self.index.nbytes + self.values.nbytes)


Edit: TypeAlias = (
    ClickRegion
    | Brush
    | Erase
    | Polygon
    | FillUnlabeled
    | ChangeCategory
    | Merge
    | Split
    | Delete
    | ClickSupervoxel
    | BoxSelect
    | LassoSelect
    | RemoveGround
    | Patch
)

EDIT_TYPES: dict[str, type[_Edit]] = {
    cls.op: cls
    for cls in (
        ClickRegion,
        Brush,
        Erase,
        Polygon,
        FillUnlabeled,
        ChangeCategory,
        Merge,
        Split,
        Delete,
        ClickSupervoxel,
        BoxSelect,
        LassoSelect,
        RemoveGround,
        Patch,
    )
}


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def edit_to_dict(edit: _Edit) -> dict[str, Any]:
    """The JSON form of an edit."""
    out: dict[str, Any] = {"op": edit.op}
    if isinstance(edit, Patch):
        out["index"] = edit.index.tolist()
        out["values"] = edit.values.tolist()
        out["segments"] = {
            str(k): None if s is None else {"category_id": s.category_id, "iscrowd": s.iscrowd}
            for k, s in edit.segments.items()
        }
        return out
    for f in fields(edit):
        out[f.name] = _plain(getattr(edit, f.name))
    return out


def edit_from_dict(data: Mapping[str, Any]) -> Edit:
    """Rebuild an edit from its JSON form; unknown ops or fields raise FormatError."""
    op = data.get("op")
    cls = EDIT_TYPES.get(str(op))
    if cls is None:
        raise FormatError(f"unknown edit op {op!r}; known ops: {sorted(EDIT_TYPES)}")
    if cls is Patch:
        try:
            segs = {
                int(k): None
                if v is None
                else Segment(int(v["category_id"]), bool(v.get("iscrowd", False)))
                for k, v in dict(data.get("segments", {})).items()
            }
            return Patch(
                index=np.asarray(data["index"], dtype=np.int64),
                values=np.asarray(data["values"]),
                segments=segs,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"malformed patch edit: {exc}") from exc
    names = {f.name for f in fields(cls)}
    extra = sorted(set(data) - names - {"op"})
    if extra:
        raise FormatError(f"edit {op!r} has unknown fields {extra}; expected {sorted(names)}")
    try:
        edit = cls(**{k: _tuples(v) for k, v in data.items() if k != "op"})
    except TypeError as exc:
        raise FormatError(f"edit {op!r}: {exc}") from exc
    return edit  # type: ignore[return-value]


# --------------------------------------------------------------------------- context


@dataclass
class EditContext:
    """What some edits need besides the label: the image's superpixels, the cloud's
    supervoxels, and point coordinates (defaults to the label's ``points[:, :3]``)."""

    superpixels: SuperpixelHierarchy | None = None
    supervoxels: SupervoxelHierarchy | None = None
    points: NDArray[Any] | None = None


# --------------------------------------------------------------------------- helpers


def _isthing(label: PanopticLabel, category_id: int) -> bool:
    tax = label.taxonomy
    if tax is None:
        return True
    if category_id not in tax or category_id == tax.void_id:
        raise LabelError(
            f"category {category_id} is not a category of taxonomy {tax.name or '(unnamed)'}; "
            f"known: {tax.ids}"
        )
    return tax.isthing(category_id)


def _new_id(segments: Mapping[int, Segment]) -> int:
    return max(segments, default=0) + 1


def _target(
    label: PanopticLabel, category_id: int, segment_id: int | None
) -> tuple[int, Segment | None]:
    """The target segment id and the Segment to create (None if it exists)."""
    segs = label.segments
    if _isthing(label, category_id):
        if segment_id is None:
            return _new_id(segs), Segment(category_id)
        existing = segs.get(segment_id)
        if existing is None:
            if segment_id <= 0:
                raise LabelError(f"segment id must be > 0, got {segment_id}")
            return segment_id, Segment(category_id)
        if existing.category_id != category_id:
            raise LabelError(
                f"segment {segment_id} has category {existing.category_id}, not {category_id}"
            )
        return segment_id, None
    same = sorted(s for s, seg in segs.items() if seg.category_id == category_id)
    if segment_id is not None and same and segment_id not in same:
        raise LabelError(
            f"stuff category {category_id} already has segment {same[0]}; stuff is one "
            f"segment per category, so it cannot also be segment {segment_id}"
        )
    if segment_id is not None and segment_id in segs and segment_id not in same:
        raise LabelError(
            f"segment {segment_id} has category {segs[segment_id].category_id}, not {category_id}"
        )
    if same:
        return same[0], None
    new = segment_id if segment_id is not None else _new_id(segs)
    if new <= 0:
        raise LabelError(f"segment id must be > 0, got {new}")
    return new, Segment(category_id)


def resolve_target(label: PanopticLabel, category_id: int, segment_id: int | None) -> int:
    """The segment id an edit with these target fields paints with (see the module rules)."""
    return _target(label, category_id, segment_id)[0]


def _fits(dtype: np.dtype[Any], value: int) -> np.dtype[Any]:
    if np.issubdtype(dtype, np.integer) and value <= np.iinfo(dtype).max:
        return dtype
    return np.dtype(np.uint32) if value <= np.iinfo(np.uint32).max else np.dtype(np.int64)


def _write(
    label: PanopticLabel,
    index: NDArray[np.int64],
    value: int,
    protect: bool = False,
    create: Mapping[int, Segment | None] | None = None,
) -> tuple[PanopticLabel, Patch]:
    """Write ``value`` at ``index`` (only void ones when ``protect``), update the table,
    drop emptied segments, and return the new label with its inverse patch."""
    flat = label.ids.ravel()
    old = flat[index]
    change = old != value
    if protect:
        change &= old == VOID
    index = index[change]
    old = old[change]
    dtype = _fits(label.ids.dtype, value)
    new_flat = flat.astype(dtype, copy=True)
    new_flat[index] = value
    segments = dict(label.segments)
    undo: dict[int, Segment | None] = {}
    for seg_id, seg in (create or {}).items():
        undo[seg_id] = label.segments.get(seg_id)
        if seg is None:
            segments.pop(seg_id, None)
        else:
            segments[seg_id] = seg
    if index.size == 0 and create:
        # nothing painted: do not leave a segment without elements behind
        for seg_id, seg in create.items():
            if seg is not None and seg_id not in label.segments:
                segments.pop(seg_id, None)
                undo.pop(seg_id, None)
    for seg_id in _emptied(old, new_flat, value):
        if seg_id in segments:
            undo.setdefault(seg_id, label.segments.get(seg_id))
            del segments[seg_id]
    new_label = label.with_segments(new_flat.reshape(label.ids.shape), segments)
    return new_label, Patch(index=index, values=old, segments=undo)


def _emptied(old: NDArray[Any], new_flat: NDArray[Any], value: int) -> list[int]:
    """Ids that lost elements in this write and no longer occur in ``new_flat``."""
    if old.size == 0:
        return []
    top = int(old.max())
    if top < 1 << 22:
        touched = np.flatnonzero(np.bincount(old.astype(np.intp), minlength=top + 1))
    else:
        touched = np.unique(old)
    cand = [int(t) for t in touched if t != VOID and t != value]
    if not cand:
        return []
    if len(cand) <= 4:
        return [c for c in cand if not bool((new_flat == c).any())]
    top_new = int(new_flat.max())
    if top_new < 1 << 22:
        counts = np.bincount(new_flat.astype(np.intp), minlength=top_new + 1)
        return [c for c in cand if c > top_new or counts[c] == 0]
    present = set(np.unique(new_flat).tolist())
    return [c for c in cand if c not in present]


def _paint(
    label: PanopticLabel,
    index: NDArray[np.int64],
    category_id: int,
    segment_id: int | None,
    protect: bool,
) -> tuple[PanopticLabel, Patch]:
    target, create = _target(label, category_id, segment_id)
    return _write(label, index, target, protect, {target: create} if create else None)


def _need_image(label: PanopticLabel, op: str) -> PanopticImage:
    if not isinstance(label, PanopticImage):
        raise LabelError(f"the {op!r} edit works on image labels, got {type(label).__name__}")
    return label


def _need_cloud(label: PanopticLabel, op: str) -> PanopticPointCloud:
    if not isinstance(label, PanopticPointCloud):
        raise LabelError(f"the {op!r} edit works on point-cloud labels, got {type(label).__name__}")
    return label


def _superpixels(label: PanopticImage, context: EditContext | None, op: str) -> SuperpixelHierarchy:
    hier = context.superpixels if context else None
    if hier is None:
        raise LabelError(f"the {op!r} edit needs superpixels (EditContext.superpixels)")
    if hier.shape != label.ids.shape:
        raise LabelError(
            f"superpixels are {hier.shape[0]}x{hier.shape[1]} but the label is "
            f"{label.ids.shape[0]}x{label.ids.shape[1]}; they must be the same size"
        )
    return hier


def _supervoxels(
    label: PanopticPointCloud, context: EditContext | None, op: str
) -> SupervoxelHierarchy:
    hier = context.supervoxels if context else None
    if hier is None:
        raise LabelError(f"the {op!r} edit needs supervoxels (EditContext.supervoxels)")
    if hier.fine.shape != label.ids.shape:
        raise LabelError(
            f"supervoxels cover {hier.fine.shape[0]} points but the label has {label.ids.shape[0]}"
        )
    return hier


def _points(label: PanopticPointCloud, context: EditContext | None, op: str) -> NDArray[np.float64]:
    pts = context.points if context is not None and context.points is not None else label.points
    if pts is None:
        raise LabelError(
            f"the {op!r} edit needs point coordinates (label.points or EditContext.points)"
        )
    arr = np.asarray(pts, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 3 or arr.shape[0] != label.ids.shape[0]:
        raise LabelError(
            f"points must have shape ({label.ids.shape[0]}, >=3) to match the label, got {arr.shape}"
        )
    xyz = arr[:, :3]
    if not np.isfinite(xyz).all():
        bad = int((~np.isfinite(xyz).all(axis=1)).sum())
        raise FormatError(f"{bad} points have NaN or infinite coordinates")
    return xyz


def _crop_index(box: tuple[slice, ...], crop: NDArray[np.bool_], width: int) -> NDArray[np.int64]:
    ry, rx = np.nonzero(crop)
    return np.asarray(
        (ry + box[0].start).astype(np.int64) * width + (rx + box[1].start), dtype=np.int64
    )


def _region_index(hier: SuperpixelHierarchy, level: int, x: int, y: int) -> NDArray[np.int64]:
    region = hier.region_at(level, y, x)
    box, crop = hier.region_crop(level, region)
    return _crop_index(box, crop, hier.shape[1])


def _snap(hier: SuperpixelHierarchy, level: int, index: NDArray[np.int64]) -> NDArray[np.int64]:
    lut = hier.lut(level)
    touched = np.zeros(hier.levels[hier._check_level(level)], dtype=bool)
    touched[lut[hier.fine.ravel()[index]]] = True
    member = touched[lut]
    return np.flatnonzero(member[hier.fine].ravel()).astype(np.int64)


def _segment_index(label: PanopticLabel, segment_id: int) -> NDArray[np.int64]:
    if segment_id not in label.segments:
        raise LabelError(
            f"segment {segment_id} does not exist; known ids: {sorted(label.segments)[:20]}"
        )
    return np.flatnonzero(label.ids.ravel() == segment_id).astype(np.int64)


# --------------------------------------------------------------------------- apply


def apply_edit(
    label: PanopticLabel, edit: Edit, context: EditContext | None = None
) -> tuple[PanopticLabel, Patch]:
    """Apply one edit; returns the new label and the patch that undoes it.

    ``label`` is never modified.  Bad input (unknown segment, wrong label kind, sizes that
    do not match, NaN points) raises a panokit error and changes nothing.
    """
    if isinstance(edit, Patch):
        return _apply_patch(label, edit)
    if isinstance(edit, ClickRegion):
        img = _need_image(label, edit.op)
        hier = _superpixels(img, context, edit.op)
        index = _region_index(hier, edit.level, edit.x, edit.y)
        return _paint(img, index, edit.category_id, edit.segment_id, edit.protect)
    if isinstance(edit, Brush | Erase):
        img = _need_image(label, edit.op)
        index = stroke_index(img.ids.shape, edit.path, edit.radius)
        if edit.snap_level is not None:
            index = _snap(_superpixels(img, context, edit.op), edit.snap_level, index)
        if isinstance(edit, Brush):
            return _paint(img, index, edit.category_id, edit.segment_id, edit.protect)
        if edit.segment_id is not None:
            if edit.segment_id not in img.segments:
                raise LabelError(f"segment {edit.segment_id} does not exist")
            index = index[img.ids.ravel()[index] == edit.segment_id]
        return _write(img, index, VOID)
    if isinstance(edit, Polygon):
        img = _need_image(label, edit.op)
        index = polygon_index(img.ids.shape, edit.vertices)
        return _paint(img, index, edit.category_id, edit.segment_id, edit.protect)
    if isinstance(edit, FillUnlabeled):
        return _fill_unlabeled(_need_image(label, edit.op), edit, context)
    if isinstance(edit, ChangeCategory):
        return _change_category(label, edit)
    if isinstance(edit, Merge):
        return _merge(label, edit)
    if isinstance(edit, Split):
        return _split(_need_image(label, edit.op), edit)
    if isinstance(edit, Delete):
        return _write(
            label, _segment_index(label, edit.segment_id), VOID, create={edit.segment_id: None}
        )
    if isinstance(edit, ClickSupervoxel):
        cloud = _need_cloud(label, edit.op)
        vox = _supervoxels(cloud, context, edit.op)
        if not 0 <= edit.point < cloud.ids.shape[0]:
            raise LabelError(f"point {edit.point} does not exist ({cloud.ids.shape[0]} points)")
        region = vox.region_of_fine(edit.level, int(vox.fine[edit.point]))
        index = np.flatnonzero((vox.lut(edit.level) == region)[vox.fine]).astype(np.int64)
        return _paint(cloud, index, edit.category_id, edit.segment_id, edit.protect)
    if isinstance(edit, BoxSelect):
        cloud = _need_cloud(label, edit.op)
        xyz = _points(cloud, context, edit.op)
        lo = np.asarray(edit.lo, dtype=np.float64)
        hi = np.asarray(edit.hi, dtype=np.float64)
        if lo.shape != (3,) or hi.shape != (3,):
            raise LabelError("a box needs lo and hi as (x, y, z)")
        index = np.flatnonzero(((xyz >= lo) & (xyz <= hi)).all(axis=1)).astype(np.int64)
        return _paint(cloud, index, edit.category_id, edit.segment_id, edit.protect)
    if isinstance(edit, LassoSelect):
        cloud = _need_cloud(label, edit.op)
        xyz = _points(cloud, context, edit.op)
        proj = np.asarray(edit.projection, dtype=np.float64)
        if proj.shape != (3, 4):
            raise LabelError(f"a projection matrix must be 3x4, got shape {proj.shape}")
        uvw = xyz @ proj[:, :3].T + proj[:, 3]
        front = uvw[:, 2] > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            u = np.where(front, uvw[:, 0] / uvw[:, 2], np.nan)
            v = np.where(front, uvw[:, 1] / uvw[:, 2], np.nan)
        inside = front & points_in_polygon(u, v, edit.vertices)
        return _paint(
            cloud,
            np.flatnonzero(inside).astype(np.int64),
            edit.category_id,
            edit.segment_id,
            edit.protect,
        )
    if isinstance(edit, RemoveGround):
        cloud = _need_cloud(label, edit.op)
        xyz = _points(cloud, context, edit.op)
        _, _, inliers = fit_ground_plane(
            xyz, edit.threshold, edit.iterations, edit.seed, edit.max_tilt_deg
        )
        return _paint(
            cloud,
            np.flatnonzero(inliers).astype(np.int64),
            edit.category_id,
            edit.segment_id,
            edit.protect,
        )
    raise FormatError(f"not an edit: {type(edit).__name__}")


def _apply_patch(label: PanopticLabel, patch: Patch) -> tuple[PanopticLabel, Patch]:
    flat = label.ids.ravel()
    index = np.asarray(patch.index, dtype=np.int64)
    values = np.asarray(patch.values)
    if index.shape != values.shape:
        raise LabelError(f"a patch has {index.size} indices but {values.size} values")
    if index.size and (int(index.min()) < 0 or int(index.max()) >= flat.size):
        raise LabelError(f"patch indices reach outside the label's {flat.size} elements")
    old = flat[index]
    top = int(values.max()) if values.size else 0
    new_flat = flat.astype(_fits(flat.dtype, top), copy=True)
    new_flat[index] = values
    segments = dict(label.segments)
    undo: dict[int, Segment | None] = {}
    for seg_id, seg in patch.segments.items():
        undo[seg_id] = label.segments.get(seg_id)
        if seg is None:
            segments.pop(seg_id, None)
        else:
            segments[seg_id] = seg
    new_label = label.with_segments(new_flat.reshape(label.ids.shape), segments)
    return new_label, Patch(index=index, values=old, segments=undo)


def _fill_unlabeled(
    img: PanopticImage, edit: FillUnlabeled, context: EditContext | None
) -> tuple[PanopticLabel, Patch]:
    h, w = img.ids.shape
    if (edit.x is None) != (edit.y is None):
        raise LabelError("fill_unlabeled needs both x and y, or neither")
    if edit.x is None or edit.y is None:
        index = np.flatnonzero(img.ids.ravel() == VOID).astype(np.int64)
    elif not (0 <= edit.y < h and 0 <= edit.x < w):
        raise LabelError(f"pixel (x={edit.x}, y={edit.y}) lies outside the {h}x{w} image")
    elif edit.level is not None:
        index = _region_index(_superpixels(img, context, edit.op), edit.level, edit.x, edit.y)
    else:
        if img.ids[edit.y, edit.x] != VOID:
            index = np.zeros(0, dtype=np.int64)
        else:
            from scipy import ndimage

            comps, _ = ndimage.label(img.ids == VOID)
            index = np.flatnonzero(comps.ravel() == comps[edit.y, edit.x]).astype(np.int64)
    return _paint(img, index, edit.category_id, edit.segment_id, protect=True)


def _change_category(label: PanopticLabel, edit: ChangeCategory) -> tuple[PanopticLabel, Patch]:
    seg = label.segments.get(edit.segment_id)
    if seg is None:
        raise LabelError(f"segment {edit.segment_id} does not exist")
    thing = _isthing(label, edit.category_id)
    if not thing:
        same = sorted(
            s
            for s, other in label.segments.items()
            if other.category_id == edit.category_id and s != edit.segment_id
        )
        if same:
            index = _segment_index(label, edit.segment_id)
            return _write(label, index, same[0], create={edit.segment_id: None})
    new_seg = Segment(edit.category_id, seg.iscrowd, seg.attributes)
    return _write(label, np.zeros(0, dtype=np.int64), 0, create={edit.segment_id: new_seg})


def _merge(label: PanopticLabel, edit: Merge) -> tuple[PanopticLabel, Patch]:
    ids = sorted(set(int(s) for s in edit.segment_ids))
    missing = [s for s in ids if s not in label.segments]
    if missing:
        raise LabelError(
            f"segments {missing} do not exist; known ids: {sorted(label.segments)[:20]}"
        )
    into = min(ids) if edit.into is None else int(edit.into)
    if into not in label.segments:
        raise LabelError(f"segment {into} does not exist")
    others = [s for s in ids if s != into]
    if not others:
        return _write(label, np.zeros(0, dtype=np.int64), into)
    table = np.zeros(max(others) + 1, dtype=bool)
    table[others] = True
    flat = label.ids.ravel()
    inside = flat <= max(others)
    hit = np.zeros(flat.shape, dtype=bool)
    hit[inside] = table[flat[inside].astype(np.intp)]
    index = np.flatnonzero(hit).astype(np.int64)
    return _write(label, index, into, create={s: None for s in others})


def _split(img: PanopticImage, edit: Split) -> tuple[PanopticLabel, Patch]:
    seg = img.segments.get(edit.segment_id)
    if seg is None:
        raise LabelError(f"segment {edit.segment_id} does not exist")
    if not _isthing(img, seg.category_id):
        raise LabelError(
            f"segment {edit.segment_id} is stuff (category {seg.category_id}); stuff is one "
            "segment per category and cannot be split"
        )
    h, w = img.ids.shape
    if edit.vertices is not None:
        inside = polygon_index((h, w), edit.vertices)
        index = inside[img.ids.ravel()[inside] == edit.segment_id]
        new = _new_id(img.segments)
        return _write(img, index, new, create={new: Segment(seg.category_id, seg.iscrowd)})
    from scipy import ndimage

    x, y, bw, bh = img.bbox(edit.segment_id)
    crop = img.ids[y : y + bh, x : x + bw] == edit.segment_id
    comps, n = ndimage.label(crop)
    if n <= 1:
        return _write(img, np.zeros(0, dtype=np.int64), edit.segment_id)
    sizes = np.bincount(comps.ravel())[1:]
    first = np.full(n, crop.size, dtype=np.int64)
    np.minimum.at(first, comps.ravel()[crop.ravel()] - 1, np.flatnonzero(crop.ravel()))
    order = sorted(range(n), key=lambda i: (-int(sizes[i]), int(first[i])))
    flat = img.ids.ravel()
    next_id = _new_id(img.segments)
    new_flat = flat.astype(_fits(flat.dtype, next_id + n), copy=True)
    segments = dict(img.segments)
    undo: dict[int, Segment | None] = {}
    changed: list[NDArray[np.int64]] = []
    for comp in order[1:]:
        ry, rx = np.nonzero(comps == comp + 1)
        idx = (ry + y).astype(np.int64) * w + (rx + x)
        new_flat[idx] = next_id
        segments[next_id] = Segment(seg.category_id, seg.iscrowd)
        undo[next_id] = None
        changed.append(idx)
        next_id += 1
    index = np.concatenate(changed)
    new_label = img.with_segments(new_flat.reshape(h, w), segments)
    return new_label, Patch(index=index, values=flat[index], segments=undo)


__all__ = [
    "EDIT_TYPES",
    "BoxSelect",
    "Brush",
    "ChangeCategory",
    "ClickRegion",
    "ClickSupervoxel",
    "Delete",
    "Edit",
    "EditContext",
    "Erase",
    "FillUnlabeled",
    "LassoSelect",
    "Merge",
    "Patch",
    "Polygon",
    "RemoveGround",
    "Split",
    "apply_edit",
    "edit_from_dict",
    "edit_to_dict",
    "resolve_target",
]
