"""ScanNet v2 scans -> per-vertex panoptic labels, and the benchmark's per-scene label files.

Per scan ``scans/<scene>/`` (ScanNet ``README.md`` "Data Formats")::

    <scene>_vh_clean_2.ply                  mesh; labels are per vertex of this mesh
    <scene>_vh_clean_2.0.010000.segs.json   "segIndices": over-segment id per vertex
    <scene>.aggregation.json                "segGroups": [{objectId, segments, label}, ...]
    scannetv2-labels.combined.tsv           (dataset root) raw_category -> nyu40id

As in ScanNet ``BenchmarkScripts/3d_helpers/export_train_mesh_for_evaluation.py``: a vertex
takes the groups of its over-segment; instance = ``objectId + 1``; semantic = the NYU40 id of
the group's ``label`` (0 = unannotated, void).  Wall (1) and floor (2) are stuff (one segment
per scan), every other class a thing (one segment per object); classes outside the
20-class benchmark are ``ignore_in_eval``.  Points are the PLY vertices: x, y, z, red, green,
blue (colours as 0..255 floats).

Written output is the benchmark's label files: ``semantic/<scene>.txt`` (one NYU40 id per
vertex line) and ``instance/<scene>.txt`` (``nyu40 * 1000 + instance`` per line, stuff 0);
that layout reads back too.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from panokit.core.codecs import DIVISOR_1000
from panokit.core.label import PanopticLabel, PanopticPointCloud, Segment
from panokit.core.sample import Sample
from panokit.core.taxonomy import LabelMap, Taxonomy
from panokit.dataset import PanopticDataset
from panokit.errors import FormatError, MissingFileError
from panokit.formats.data.scannet import BENCHMARK_TAXONOMY, NYU40_TAXONOMY
from panokit.formats.label_maps import get_label_map, remap_label

NAME = "scannet"
CHANNELS: tuple[str, ...] = ("x", "y", "z", "red", "green", "blue")
LABELS_TSV = "scannetv2-labels.combined.tsv"

_PLY_TYPES = {
    "char": "i1",
    "int8": "i1",
    "uchar": "u1",
    "uint8": "u1",
    "short": "i2",
    "int16": "i2",
    "ushort": "u2",
    "uint16": "u2",
    "int": "i4",
    "int32": "i4",
    "uint": "u4",
    "uint32": "u4",
    "float": "f4",
    "float32": "f4",
    "double": "f8",
    "float64": "f8",
}


# ------------------------------------------------------------------------------ PLY
def read_ply_vertices(path: Path) -> NDArray[Any]:
    """The ``vertex`` element of a PLY file as a numpy structured array.

    Supports binary little/big endian and ASCII files whose vertex element comes first
    (ScanNet meshes); properties of the vertex element must be scalars.
    """
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise MissingFileError(f"ScanNet mesh not found: {path}") from None
    with handle:
        if handle.readline().strip() != b"ply":
            raise FormatError(f"{path}: not a PLY file (no 'ply' magic line)")
        fmt = ""
        elements: list[tuple[str, int, list[tuple[str, str]]]] = []
        while True:
            line = handle.readline()
            if not line:
                raise FormatError(f"{path}: PLY header has no end_header")
            words = line.decode("ascii", "replace").split()
            if not words or words[0] in ("comment", "obj_info"):
                continue
            if words[0] == "end_header":
                break
            if words[0] == "format":
                fmt = words[1]
            elif words[0] == "element":
                elements.append((words[1], int(words[2]), []))
            elif words[0] == "property":
                if not elements:
                    raise FormatError(f"{path}: PLY property before any element")
                if words[1] == "list":
                    elements[-1][2].append((words[-1], "list"))
                else:
                    if words[1] not in _PLY_TYPES:
                        raise FormatError(f"{path}: unknown PLY property type {words[1]!r}")
                    elements[-1][2].append((words[2], _PLY_TYPES[words[1]]))
        if not elements or elements[0][0] != "vertex":
            raise FormatError(f"{path}: the first PLY element must be 'vertex'")
        _, count, props = elements[0]
        if any(t == "list" for _, t in props):
            raise FormatError(f"{path}: list properties in the vertex element are not supported")
        if fmt == "ascii":
            rows = [handle.readline() for _ in range(count)]
            table = np.loadtxt(rows, ndmin=2) if count else np.zeros((0, len(props)))
            out = np.empty(count, dtype=[(n, t) for n, t in props])
            for i, (name, _) in enumerate(props):
                out[name] = table[:, i]
            return out
        order = {"binary_little_endian": "<", "binary_big_endian": ">"}.get(fmt)
        if order is None:
            raise FormatError(f"{path}: unsupported PLY format {fmt!r}")
        dtype = np.dtype([(n, order + t) for n, t in props])
        data = handle.read(dtype.itemsize * count)
        if len(data) < dtype.itemsize * count:
            raise FormatError(
                f"{path}: truncated PLY: {count} vertices need {dtype.itemsize * count} bytes, "
                f"found {len(data)}"
            )
        return np.frombuffer(data, dtype=dtype)


def vertex_points(vertices: NDArray[Any]) -> NDArray[np.float32]:
    """(N, 6) float32 x, y, z, red, green, blue (colour 0 when the mesh has none)."""
    out = np.zeros((len(vertices), 6), dtype=np.float32)
    names = vertices.dtype.names or ()
    for i, name in enumerate(CHANNELS):
        if name in names:
            out[:, i] = vertices[name]
    return out


# ------------------------------------------------------------------------- labels
def read_label_tsv(path: Path) -> dict[str, int]:
    """``raw_category`` -> ``nyu40id`` of ``scannetv2-labels.combined.tsv``."""
    if not path.is_file():
        raise MissingFileError(f"ScanNet label table not found: {path}")
    mapping: dict[str, int] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        fields = reader.fieldnames or []
        if "raw_category" not in fields or "nyu40id" not in fields:
            raise FormatError(f"{path}: needs the columns raw_category and nyu40id, found {fields}")
        for row in reader:
            try:
                mapping[row["raw_category"]] = int(row["nyu40id"])
            except (TypeError, ValueError):
                raise FormatError(
                    f"{path}: nyu40id {row.get('nyu40id')!r} of {row['raw_category']!r} is not an integer"
                ) from None
    return mapping


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MissingFileError(f"ScanNet file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise FormatError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}") from None


def semantic_instance(
    seg_indices: NDArray[np.int64],
    groups: list[Mapping[str, Any]],
    label_to_nyu40: Mapping[str, int],
    where: str,
) -> tuple[NDArray[np.int64], NDArray[np.int64], dict[int, str]]:
    """Per-vertex NYU40 id and instance (``objectId + 1``) from the over-segmentation and
    the aggregation's groups (later groups win on shared segments); unknown segments or
    raw labels raise :class:`FormatError` naming ``where``."""
    n = seg_indices.size
    known_segments = np.unique(seg_indices)
    semantic = np.zeros(n, dtype=np.int64)
    instance = np.zeros(n, dtype=np.int64)
    order = np.argsort(seg_indices, kind="stable")
    sorted_segs = seg_indices[order]
    raw_labels: dict[int, str] = {}
    for g, group in enumerate(groups):
        try:
            object_id = int(group["objectId"])
            segments = np.asarray(group["segments"], dtype=np.int64)
            raw = str(group["label"])
        except (KeyError, TypeError, ValueError):
            raise FormatError(
                f"{where}: segGroups[{g}] needs objectId, segments and label, found {dict(group)!r}"
            ) from None
        missing = np.setdiff1d(segments, known_segments)
        if missing.size:
            raise FormatError(
                f"{where}: segGroups[{g}] (objectId {object_id}, {raw!r}) references segments "
                f"{missing[:10].tolist()} that are not in the over-segmentation"
            )
        if raw not in label_to_nyu40:
            raise FormatError(
                f"{where}: segGroups[{g}] label {raw!r} is not a raw_category of {LABELS_TSV}"
            )
        lo = np.searchsorted(sorted_segs, segments, side="left")
        hi = np.searchsorted(sorted_segs, segments, side="right")
        verts = (
            np.concatenate([order[a:b] for a, b in zip(lo, hi, strict=True)])
            if segments.size
            else order[:0]
        )
        semantic[verts] = label_to_nyu40[raw]
        instance[verts] = object_id + 1
        raw_labels[object_id + 1] = raw
    return semantic, instance, raw_labels


def panoptic_from_semantic_instance(
    semantic: NDArray[np.int64],
    instance: NDArray[np.int64],
    taxonomy: Taxonomy,
    points: NDArray[Any] | None = None,
    raw_labels: Mapping[int, str] | None = None,
) -> PanopticPointCloud:
    """One segment per (thing class, instance) and per stuff class; class 0 or an unknown
    class is void.  Thing segments keep ``instance`` (and the raw label) as attributes."""
    known = np.zeros(
        max(int(semantic.max(initial=0)), max(taxonomy.ids, default=0)) + 1, dtype=bool
    )
    thing = np.zeros_like(known)
    for cat in taxonomy:
        known[cat.id] = True
        thing[cat.id] = cat.isthing
    valid = known[semantic] & (semantic != taxonomy.void_id)
    key = np.where(thing[semantic], semantic * 100_000 + instance, semantic * 100_000)
    key = np.where(valid, key + 1, 0)
    uniq, inverse = np.unique(key, return_inverse=True)
    offset = 1 if uniq.size and uniq[0] == 0 else 0
    segments: dict[int, Segment] = {}
    for i, value in enumerate(uniq[offset:].tolist(), start=1):
        cat, inst = divmod(value - 1, 100_000)
        attributes: dict[str, Any] = {"instance": inst} if thing[cat] else {}
        if thing[cat] and raw_labels and inst in raw_labels:
            attributes["raw_label"] = raw_labels[inst]
        segments[i] = Segment(int(cat), attributes=attributes)
    ids = (inverse.ravel() + (1 - offset)).astype(np.uint32)
    if offset:
        ids = np.where(key == 0, 0, ids).astype(np.uint32)
    return PanopticPointCloud(
        ids, segments, taxonomy, points=points, channels=CHANNELS if points is not None else ()
    )


def read_scene(
    scene_dir: Path, label_to_nyu40: Mapping[str, int], with_points: bool = True
) -> PanopticPointCloud:
    """The panoptic label of one ``scans/<scene>`` folder."""
    scene = scene_dir.name
    mesh = scene_dir / f"{scene}_vh_clean_2.ply"
    segs_path = scene_dir / f"{scene}_vh_clean_2.0.010000.segs.json"
    agg_path = scene_dir / f"{scene}.aggregation.json"
    vertices = read_ply_vertices(mesh)
    segs = _load_json(segs_path)
    if not isinstance(segs, dict) or not isinstance(segs.get("segIndices"), list):
        raise FormatError(f"{segs_path}: expected an object with a 'segIndices' list")
    seg_indices = np.asarray(segs["segIndices"], dtype=np.int64)
    if seg_indices.size != len(vertices):
        raise FormatError(
            f"{segs_path}: {seg_indices.size} segIndices but the mesh {mesh.name} has "
            f"{len(vertices)} vertices"
        )
    agg = _load_json(agg_path)
    groups = agg.get("segGroups") if isinstance(agg, dict) else None
    if not isinstance(groups, list):
        raise FormatError(f"{agg_path}: expected an object with a 'segGroups' list")
    semantic, instance, raw = semantic_instance(seg_indices, groups, label_to_nyu40, str(agg_path))
    points = vertex_points(vertices) if with_points else None
    return panoptic_from_semantic_instance(semantic, instance, NYU40_TAXONOMY, points, raw)


def _read_benchmark_file(path: Path) -> NDArray[np.int64]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise MissingFileError(f"ScanNet label file not found: {path}") from None
    try:
        return np.array([int(v) for v in text.split()], dtype=np.int64)
    except ValueError:
        raise FormatError(f"{path}: expected one integer per line") from None


# ------------------------------------------------------------------------------ reading
def _scans_dir(path: Path) -> Path:
    return path / "scans" if (path / "scans").is_dir() else path


def _is_benchmark(path: Path) -> bool:
    return (path / "instance").is_dir() and any((path / "instance").glob("*.txt"))


def sniff(path: Path) -> bool:
    """A folder with ``scans/<scene>/<scene>.aggregation.json`` (or the scans folder), or
    benchmark label files ``instance/<scene>.txt``."""
    root = Path(path)
    if not root.is_dir():
        return False
    if _is_benchmark(root):
        return True
    return any(_scans_dir(root).glob("*/*.aggregation.json"))


def _scene_loader(scene_dir: Path, tsv: Path, with_points: bool) -> Callable[[], PanopticLabel]:
    def load() -> PanopticLabel:
        return read_scene(scene_dir, read_label_tsv(tsv), with_points)

    return load


def _benchmark_loader(path: Path) -> Callable[[], PanopticLabel]:
    def load() -> PanopticLabel:
        values = _read_benchmark_file(path)
        semantic, instance = DIVISOR_1000.decode(values)
        return panoptic_from_semantic_instance(semantic, instance, NYU40_TAXONOMY)

    return load


def read(path: Path, labels_tsv: str | Path | None = None, points: bool = True) -> PanopticDataset:
    """Open ScanNet scans (``path`` holds ``scans/`` or is it) or benchmark label files.

    ``labels_tsv`` defaults to ``scannetv2-labels.combined.tsv`` next to ``scans/``; it is
    read when a label is loaded.  Samples are keyed by scene name.
    """
    root = Path(path)
    if _is_benchmark(root):
        samples = [
            Sample(
                key=p.stem, label_files=(p,), source_id=p.stem, label_loader=_benchmark_loader(p)
            )
            for p in sorted((root / "instance").glob("*.txt"))
        ]
        return PanopticDataset(
            samples, NYU40_TAXONOMY, format=NAME, root=root, modality="pointcloud"
        )
    scans = _scans_dir(root)
    tsv = Path(labels_tsv) if labels_tsv is not None else None
    if tsv is None:
        candidates = [scans.parent / LABELS_TSV, scans / LABELS_TSV, root / LABELS_TSV]
        tsv = next((c for c in candidates if c.is_file()), candidates[0])
    samples = []
    for scene_dir in sorted(p for p in scans.iterdir() if p.is_dir()):
        scene = scene_dir.name
        agg = scene_dir / f"{scene}.aggregation.json"
        if not agg.is_file():
            continue
        mesh = scene_dir / f"{scene}_vh_clean_2.ply"
        samples.append(
            Sample(
                key=scene,
                media=mesh,
                label_files=(agg, scene_dir / f"{scene}_vh_clean_2.0.010000.segs.json", tsv),
                source_id=scene,
                label_loader=_scene_loader(scene_dir, tsv, points),
                media_loader=_media_loader(mesh),
            )
        )
    return PanopticDataset(
        samples,
        NYU40_TAXONOMY,
        format=NAME,
        root=root,
        modality="pointcloud",
        meta={"labels_tsv": str(tsv)},
    )


def read_pair(
    gt_path: Path,
    pred_path: Path,
    split: str | None = None,
    sequences: list[str] | None = None,
    **options: Any,
) -> tuple[PanopticDataset, PanopticDataset]:
    """Ground truth (scans, or benchmark label files) and predictions in the benchmark
    layout (``instance/<scene>.txt``: ``nyu40 * 1000 + instance`` per vertex).

    ``sequences`` keeps these scenes.  Every ground-truth scene needs a prediction file: a
    missing one raises :class:`MissingFileError` naming it; predictions of other scenes are
    left to the evaluation (ignored with a warning).
    """
    if split is not None:
        raise FormatError("scannet takes no --split; select scenes with --sequences")
    if options:
        raise FormatError(f"scannet read_pair takes no option(s) {sorted(options)}")
    gt = read(Path(gt_path), points=False)
    if sequences:
        unknown = sorted(set(sequences) - set(gt.keys()))
        if unknown:
            raise MissingFileError(f"scenes {unknown} are not in {gt_path}")
        wanted = set(sequences)
        gt = gt.filter(lambda sample: sample.key in wanted)
    pred_root = Path(pred_path)
    if not _is_benchmark(pred_root):
        raise MissingFileError(
            f"no predictions in {pred_root}: expected instance/<scene>.txt files (one "
            "nyu40 * 1000 + instance value per vertex)"
        )
    pred = read(pred_root)
    have = set(pred.keys())
    for key in gt.keys():  # noqa: SIM118 - a dataset iterates samples, not keys
        if key not in have:
            raise MissingFileError(
                f"prediction missing for scene {key}: expected {pred_root / 'instance' / (key + '.txt')}"
            )
    return gt, pred


def _media_loader(mesh: Path) -> Callable[[], NDArray[Any]]:
    def load() -> NDArray[Any]:
        return vertex_points(read_ply_vertices(mesh))

    return load


# ------------------------------------------------------------------------------ writing
def write(dataset: PanopticDataset, out: Path, label_map: LabelMap | str | None = None) -> None:
    """Write the benchmark's per-scene files ``semantic/<scene>.txt`` (NYU40 id per
    vertex) and ``instance/<scene>.txt`` (``nyu40 * 1000 + instance``, stuff 0)."""
    mapping = get_label_map(label_map) if label_map is not None else None
    nyu40_ids = (NYU40_TAXONOMY, BENCHMARK_TAXONOMY)  # the benchmark's 20 keep NYU40 ids
    if mapping is None and not any(
        dataset.taxonomy == t or dataset.taxonomy.name == t.name for t in nyu40_ids
    ):
        raise FormatError(
            f"labels in taxonomy {dataset.taxonomy.name or '(unnamed)'!r} cannot be written as "
            "ScanNet NYU40 ids without a label map; pass label_map= (--map on the command line: "
            "a LabelMap, a JSON/YAML file or a built-in map name)"
        )
    (out / "semantic").mkdir(parents=True)
    (out / "instance").mkdir(parents=True)
    for sample in dataset:
        if not sample.has_label:
            continue
        label = sample.load_label()
        if mapping is not None:
            label = remap_label(label, mapping, NYU40_TAXONOMY)
        if label.ids.ndim != 1:
            raise FormatError(
                f"sample {sample.key!r}: ScanNet holds point clouds; got ids of shape {label.shape}"
            )
        label.validate(where=f"sample {sample.key!r}")
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in sample.key)
        semantic = label.semantic()
        instance = label.instance()
        own = {
            k: s.attributes["instance"]
            for k, s in label.segments.items()
            if isinstance(s.attributes.get("instance"), int)
            and NYU40_TAXONOMY.isthing(s.category_id)
        }
        things = [k for k, s in label.segments.items() if NYU40_TAXONOMY.isthing(s.category_id)]
        distinct = {(label.segments[k].category_id, v) for k, v in own.items()}
        if own and len(own) == len(things) and len(distinct) == len(own):
            table = np.zeros(max(label.segments) + 1, dtype=np.int64)
            for k, v in own.items():
                table[k] = v
            instance = table[np.asarray(label.ids, dtype=np.int64)]
        lines = "\n".join(map(str, semantic.tolist()))
        (out / "semantic" / f"{name}.txt").write_text(lines + "\n")
        packed = DIVISOR_1000.encode(semantic, instance)
        (out / "instance" / f"{name}.txt").write_text("\n".join(map(str, packed.tolist())) + "\n")
