"""SemanticKITTI (panoptic): ``sequences/NN/{velodyne/*.bin, labels/*.label}``.

- ``velodyne/NNNNNN.bin``: float32 x, y, z, remission per point, no header.
- ``labels/NNNNNN.label``: one uint32 per point, semantic raw id in the low 16 bits and
  instance id in the high 16 bits (:data:`panokit.core.codecs.SPLIT_16`).
- predictions: the same tree with ``sequences/NN/predictions/NNNNNN.label``, **raw** ids.

Labels read into :class:`PanopticPointCloud` in the **raw** taxonomy of the config (the ids
stored in the files); one segment per distinct (semantic, instance) value, numbered 1..S in
(instance, semantic) order, with the file's instance id kept in
``Segment.attributes["instance"]`` so that writing gives back the same bytes.  Points whose
semantic id is 0 (unlabeled) are void.  Evaluation folds raw ids into learning ids with the
config's ``learning_map`` (protocol ``semantic-kitti``), exactly as semantic-kitti-api does:
two segments stay apart when their raw ids differ even if they fold into one class.

Instance ids up to 65535 are supported (semantic-kitti-api overflows at 32768 on the ground
truth side).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from panokit.core.codecs import SPLIT_16
from panokit.core.label import PanopticLabel, PanopticPointCloud, Segment
from panokit.core.sample import Sample
from panokit.core.taxonomy import LabelMap, Taxonomy
from panokit.dataset import PanopticDataset
from panokit.errors import FormatError, MissingFileError
from panokit.formats.data.semantic_kitti import SemanticKittiConfig, load_config
from panokit.formats.label_maps import remap_label
from panokit.formats.lidar_raw import (
    RAW_ATTR,
    RawScan,
    check_segments,
    dense_runs,
    expand_runs,
)

NAME = "semantic-kitti"
DEFAULT_PROTOCOL = "semantic-kitti"
CHANNELS: tuple[str, ...] = ("x", "y", "z", "remission")
"""The columns of a ``velodyne/*.bin`` scan."""

_POINT_BYTES = 16


# ----------------------------------------------------------------------------- files
def read_scan(bin_path: Path) -> NDArray[np.float32]:
    """A ``velodyne/*.bin`` scan as (N, 4) float32 (x, y, z, remission)."""
    scan_point_count(bin_path)  # missing / truncated files raise with the byte count
    data = np.fromfile(bin_path, dtype="<f4")
    return data.reshape(-1, 4)


def scan_point_count(bin_path: Path) -> int:
    """Number of points of a scan from its file size (no read)."""
    try:
        size = os.stat(bin_path).st_size
    except FileNotFoundError:
        raise MissingFileError(f"SemanticKITTI scan not found: {bin_path}") from None
    if size % _POINT_BYTES:
        raise FormatError(
            f"{bin_path}: truncated scan: {size} bytes is not a multiple of 16 "
            "(4 float32 per point: x, y, z, remission)"
        )
    return size // _POINT_BYTES


def read_label_file(label_path: Path, points: int | None = None) -> NDArray[np.uint32]:
    """The raw uint32 values of a ``.label`` file; ``points`` checks the length."""
    try:
        raw = np.fromfile(label_path, dtype="<u4")
    except FileNotFoundError:
        raise MissingFileError(f"SemanticKITTI label file not found: {label_path}") from None
    if os.stat(label_path).st_size % 4:
        raise FormatError(
            f"{label_path}: truncated label file: size is not a multiple of 4 bytes (uint32)"
        )
    if points is not None and raw.size != points:
        raise FormatError(
            f"{label_path}: {raw.size} labels but the scan has {points} points "
            "(one uint32 label per point expected)"
        )
    return raw


def label_from_raw(
    raw: NDArray[Any],
    taxonomy: Taxonomy,
    where: str = "",
    points: NDArray[Any] | None = None,
    strict: bool = True,
) -> PanopticPointCloud:
    """Decode uint32 labels into a point-cloud label (segments 1..S, void where semantic 0).

    Segments are numbered in increasing label-value order (instance, then semantic id).
    With ``strict`` a semantic id that the taxonomy does not know raises
    :class:`FormatError` naming ``where``.
    """
    values, codes, lengths = dense_runs(np.asarray(raw).astype(np.uint32, copy=False))
    seg_sem, seg_inst = SPLIT_16.decode(values)
    labeled = seg_sem != 0
    table = np.zeros(values.size, dtype=np.uint32)
    table[labeled] = np.arange(1, int(labeled.sum()) + 1, dtype=np.uint32)
    ids = expand_runs(table, codes, lengths)
    cats = seg_sem[labeled].tolist()
    if strict:
        unknown = sorted({c for c in cats if c not in taxonomy})
        if unknown:
            raise FormatError(
                f"{where}: semantic ids {unknown} are not in the SemanticKITTI labels table "
                f"(known raw ids: {taxonomy._short_ids()}); labels and predictions hold raw "
                "ids (map learning ids back with learning_map_inv)"
            )
    segments = {
        i: Segment(c, attributes={"instance": k})
        for i, (c, k) in enumerate(zip(cats, seg_inst[labeled].tolist(), strict=True), start=1)
    }
    return PanopticPointCloud(
        ids, segments, taxonomy, points=points, channels=CHANNELS if points is not None else ()
    )


def raw_from_label(label: PanopticLabel) -> NDArray[np.uint32]:
    """Encode a label (in raw SemanticKITTI ids) as uint32 ``.label`` values.

    Segments keep the instance id in ``attributes["instance"]`` when they have one (labels
    read from SemanticKITTI); otherwise thing segments are numbered 1, 2, ... per category and
    stuff gets instance 0.
    """
    seg_ids = np.array([0, *sorted(label.segments)], dtype=np.int64)
    kept = [label.segments[int(s)] for s in seg_ids[1:]]
    sem_table = np.array([0] + [s.category_id for s in kept], dtype=np.int64)
    own = [s.attributes.get("instance") for s in kept]
    pairs = {(s.category_id, k) for s, k in zip(kept, own, strict=True)}
    if all(isinstance(k, int) and 0 <= k <= 0xFFFF for k in own) and len(pairs) == len(
        kept
    ):  # the file's own instance ids, when they still tell the segments apart
        inst_table = np.array([0, *own], dtype=np.int64)
    else:
        inst_table = np.zeros(len(seg_ids), dtype=np.int64)
        counters: dict[int, int] = {}
        taxonomy = label.taxonomy
        for i, seg in enumerate(kept, start=1):
            thing = (
                True
                if taxonomy is None or seg.category_id not in taxonomy
                else (taxonomy.isthing(seg.category_id))
            )
            if thing:
                counters[seg.category_id] = counters.get(seg.category_id, 0) + 1
                inst_table[i] = counters[seg.category_id]
    ids = np.asarray(label.ids)
    if seg_ids[-1] < 4 * ids.size + 65536:
        lookup = np.zeros(int(seg_ids[-1]) + 1, dtype=np.intp)
        lookup[seg_ids] = np.arange(len(seg_ids))
        pos = lookup[ids]
    else:
        pos = np.searchsorted(seg_ids, ids)
    return SPLIT_16.encode(sem_table[pos], inst_table[pos])


# ------------------------------------------------------------------------------ layout
def _sequences_root(path: Path) -> Path:
    if path.name == "sequences" and path.is_dir():
        return path
    return path / "sequences"


def sniff(path: Path) -> bool:
    """Whether ``path`` holds ``sequences/NN/{velodyne,labels,predictions}``."""
    root = _sequences_root(Path(path))
    if not root.is_dir():
        return False
    for seq in root.iterdir():
        if seq.is_dir() and any((seq / d).is_dir() for d in ("velodyne", "labels", "predictions")):
            return True
    return False


def _select_sequences(
    root: Path,
    config: SemanticKittiConfig,
    split: str | None,
    sequences: Sequence[str | int] | None,
) -> list[str]:
    if split is not None and sequences:
        raise FormatError("pass either a split or sequences, not both")
    if split is not None:
        wanted = [f"{s:02d}" for s in config.sequences(split)]
    elif sequences:
        wanted = [f"{int(s):02d}" if str(s).isdigit() else str(s) for s in sequences]
    else:
        if not root.is_dir():
            raise MissingFileError(f"no sequences folder at {root}")
        return sorted(p.name for p in root.iterdir() if p.is_dir())
    missing = [s for s in wanted if not (root / s).is_dir()]
    if missing:
        raise MissingFileError(
            f"sequence folders {missing} not found under {root}"
            + (f" (split {split!r})" if split else "")
        )
    return wanted


def _label_loader(
    label_path: Path,
    bin_path: Path | None,
    taxonomy: Taxonomy,
    with_points: bool,
    strict: bool,
) -> Callable[[], PanopticLabel]:
    def load() -> PanopticLabel:
        points = None
        expected = None
        if bin_path is not None:
            if with_points:
                points = read_scan(bin_path)
                expected = points.shape[0]
            else:
                expected = scan_point_count(bin_path)
        raw = read_label_file(label_path, expected)
        return label_from_raw(raw, taxonomy, str(label_path), points=points, strict=strict)

    known = frozenset([0, *taxonomy.ids]) if strict else None
    hint = (
        "; labels and predictions hold raw ids (map learning ids back with learning_map_inv, "
        "or pass the dataset YAML that defines these ids)"
    )
    raw = RawScan(label_path, "split16", points_from=bin_path, known=known, hint=hint)
    setattr(load, RAW_ATTR, raw)
    return load


def _media_loader(bin_path: Path) -> Callable[[], NDArray[Any]]:
    def load() -> NDArray[Any]:
        return read_scan(bin_path)

    return load


def read(
    path: Path,
    split: str | None = None,
    sequences: Sequence[str | int] | None = None,
    labels: str | None = None,
    config: str | Path | SemanticKittiConfig | None = None,
    points: bool = True,
    strict: bool = True,
) -> PanopticDataset:
    """Open a SemanticKITTI tree (``path`` holds ``sequences/``, or is it).

    ``labels`` is the per-sequence label folder: ``labels`` (ground truth) or
    ``predictions`` (default: ``labels``, or ``predictions`` for a tree that has only
    prediction folders).  ``split`` (train / valid / test of the config) or ``sequences``
    (e.g. ``["08"]``) select sequences; by default every sequence folder is read.
    ``config`` is a user ``semantic-kitti.yaml`` (default: the official tables).  With
    ``points`` each label carries its scan as ``points`` (channels x, y, z, remission).
    Samples are keyed ``"NN/NNNNNN"``; a scan with no label file has no label.
    """
    cfg = config if isinstance(config, SemanticKittiConfig) else load_config(config)
    root = _sequences_root(Path(path))
    if labels is None:
        labels = "labels"
        if root.is_dir() and not any(root.glob("*/labels")) and any(root.glob("*/predictions")):
            labels = "predictions"
    taxonomy = cfg.raw_taxonomy
    samples: list[Sample] = []
    for seq in _select_sequences(root, cfg, split, sequences):
        seq_dir = root / seq
        label_dir = seq_dir / labels
        scan_dir = seq_dir / "velodyne"
        frames: dict[str, None] = {}
        label_names = set()
        if label_dir.is_dir():
            label_names = {n[:-6] for n in os.listdir(label_dir) if n.endswith(".label")}
        scan_names = set()
        if scan_dir.is_dir():
            scan_names = {n[:-4] for n in os.listdir(scan_dir) if n.endswith(".bin")}
        if labels != "labels":  # a predictions tree: one sample per prediction file
            scan_names &= label_names
        for name in sorted(label_names | scan_names):
            frames[name] = None
        for frame in frames:
            label_path = label_dir / f"{frame}.label"
            bin_path = scan_dir / f"{frame}.bin" if frame in scan_names else None
            has_label = frame in label_names
            samples.append(
                Sample(
                    key=f"{seq}/{frame}",
                    media=bin_path,
                    label_files=(label_path,) if has_label else (),
                    source_id=f"{seq}/{frame}",
                    meta={"sequence": seq, "frame": frame},
                    label_loader=(
                        _label_loader(label_path, bin_path, taxonomy, points, strict)
                        if has_label
                        else None
                    ),
                    media_loader=None if bin_path is None else _media_loader(bin_path),
                )
            )
    return PanopticDataset(
        samples,
        taxonomy,
        format=NAME,
        root=root.parent,
        modality="pointcloud",
        meta={"config": cfg, "labels": labels},
    )


def read_pair(
    gt_path: Path,
    pred_path: Path,
    split: str | None = None,
    sequences: Sequence[str | int] | None = None,
    config: str | Path | SemanticKittiConfig | None = None,
    **options: Any,
) -> tuple[PanopticDataset, PanopticDataset]:
    """Ground truth (``sequences/NN/labels``) and predictions (``sequences/NN/predictions``)
    laid out as semantic-kitti-api's ``--dataset`` / ``--predictions`` expect.

    Every ground-truth label must have a prediction and vice versa; a missing one raises
    :class:`MissingFileError` naming the expected file.  Scans are not loaded (labels only);
    the label length is still checked against the scan's size when the scan is present.
    """
    cfg = config if isinstance(config, SemanticKittiConfig) else load_config(config)
    gt = read(Path(gt_path), split=split, sequences=sequences, config=cfg, points=False)
    gt = gt.filter(lambda s: s.has_label)
    if len(gt) == 0:
        raise MissingFileError(
            f"no ground-truth labels (sequences/NN/labels/*.label) under {gt_path}"
        )
    seqs = sorted({str(s.meta["sequence"]) for s in gt})
    pred_root = _sequences_root(Path(pred_path))
    missing_dirs = [s for s in seqs if not (pred_root / s / "predictions").is_dir()]
    if missing_dirs:
        raise MissingFileError(
            f"prediction folders missing: {[str(pred_root / s / 'predictions') for s in missing_dirs]}"
        )
    pred = read(Path(pred_path), sequences=seqs, labels="predictions", config=cfg, points=False)
    pred_keys = {s.key for s in pred if s.has_label}
    gt_keys = set(gt.keys())
    for key in gt.keys():  # noqa: SIM118 - a dataset iterates samples, not keys
        if key not in pred_keys:
            seq, frame = key.split("/")
            raise MissingFileError(
                f"prediction missing for scan {key}: expected {pred_root / seq / 'predictions' / (frame + '.label')}"
            )
    extra = sorted(pred_keys - gt_keys)
    if extra:
        seq, frame = extra[0].split("/")
        raise FormatError(
            f"{len(extra)} predictions have no ground-truth label, e.g. "
            f"{pred_root / seq / 'predictions' / (frame + '.label')}"
        )
    pred = pred.select(gt.keys())
    # predictions are checked against the ground truth's point count, not the scan
    checked = [_with_expected_length(p, g) for g, p in zip(gt, pred, strict=True)]
    return gt, PanopticDataset(
        checked,
        pred.taxonomy,
        format=NAME,
        root=pred.root,
        modality="pointcloud",
        meta=pred.meta,
    )


def _with_expected_length(pred: Sample, gt: Sample) -> Sample:
    """A prediction sample whose loader checks its length against the GT label file."""
    label_path = pred.label_files[0]
    gt_path = gt.label_files[0]
    inner = pred.label_loader
    assert inner is not None

    def load() -> PanopticLabel:
        label = inner()
        expected = os.stat(gt_path).st_size // 4
        if label.ids.size != expected:
            raise FormatError(
                f"{label_path}: {label.ids.size} labels but the ground truth {gt_path} has "
                f"{expected} points"
            )
        return label

    raw = getattr(inner, RAW_ATTR, None)
    if isinstance(raw, RawScan):
        setattr(load, RAW_ATTR, replace(raw, points_from=gt_path, point_bytes=4))
    return replace(pred, label_loader=load)


# ------------------------------------------------------------------------------ writing
def _frame_name(sample: Sample, index: int) -> tuple[str, str]:
    seq = sample.meta.get("sequence") if sample.meta else None
    frame = sample.meta.get("frame") if sample.meta else None
    if isinstance(seq, str) and isinstance(frame, str):
        return seq, frame
    parts = sample.key.split("/")
    if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
        return parts[0], parts[1]
    return "00", f"{index:06d}"


def _scan_for_kitti(label: PanopticLabel) -> NDArray[np.float32] | None:
    if not isinstance(label, PanopticPointCloud) or label.points is None:
        return None
    pts = np.asarray(label.points)
    names = label.channels
    if names and all(c in names for c in ("x", "y", "z")):
        fourth = next((c for c in ("remission", "intensity") if c in names), None)
        cols = [names.index(c) for c in ("x", "y", "z")]
        data = pts[:, cols].astype(np.float32)
        extra = (
            pts[:, names.index(fourth)].astype(np.float32)
            if fourth
            else np.zeros(len(pts), np.float32)
        )
        return np.ascontiguousarray(np.column_stack([data, extra]), dtype="<f4")
    if pts.shape[1] >= 4:
        return np.ascontiguousarray(pts[:, :4], dtype="<f4")
    raise FormatError(
        f"cannot write points with {pts.shape[1]} unnamed columns as x, y, z, remission"
    )


def to_raw_taxonomy(
    dataset_taxonomy: Taxonomy,
    config: SemanticKittiConfig,
    label_map: LabelMap | str | None,
) -> LabelMap | None:
    """The map that brings labels of ``dataset_taxonomy`` to raw SemanticKITTI ids (None
    when they already are); learning ids map back with ``learning_map_inv``."""
    from panokit.formats.label_maps import get_label_map

    if label_map is not None:
        return get_label_map(label_map) if isinstance(label_map, str) else label_map
    if dataset_taxonomy == config.raw_taxonomy or dataset_taxonomy.name == "semantic-kitti":
        return None
    if dataset_taxonomy == config.learning_taxonomy:
        return config.inverse_label_map
    raise FormatError(
        f"labels in taxonomy {dataset_taxonomy.name or '(unnamed)'!r} cannot be written as "
        "SemanticKITTI raw ids without a label map; pass label_map= (--map on the command "
        "line: a LabelMap, a JSON/YAML file or a built-in map name, see "
        "panokit.formats.label_maps.BUILTIN_MAPS)"
    )


def write(
    dataset: PanopticDataset,
    out: Path,
    labels: str = "labels",
    label_map: LabelMap | str | None = None,
    config: str | Path | SemanticKittiConfig | None = None,
    points: bool = True,
) -> None:
    """Write ``sequences/NN/labels/NNNNNN.label`` (or ``predictions/`` with
    ``labels="predictions"``) and, when labels carry points, ``velodyne/NNNNNN.bin``.

    Labels in another taxonomy are brought to raw ids with ``label_map`` (learning ids go
    back through ``learning_map_inv`` automatically).
    """
    cfg = config if isinstance(config, SemanticKittiConfig) else load_config(config)
    mapping = to_raw_taxonomy(dataset.taxonomy, cfg, label_map)
    root = out / "sequences"
    used: set[tuple[str, str]] = set()
    for index, sample in enumerate(dataset):
        if not sample.has_label:
            continue
        label = sample.load_label()
        where = f"sample {sample.key!r}"
        if mapping is not None:
            label = remap_label(label, mapping, cfg.raw_taxonomy)
        else:
            label.taxonomy = label.taxonomy or cfg.raw_taxonomy
        if label.ids.ndim != 1:
            raise FormatError(
                f"{where}: SemanticKITTI holds point clouds; got ids of shape {label.shape}"
            )
        check_segments(label, where)
        seq, frame = _frame_name(sample, index)
        if (seq, frame) in used:
            raise FormatError(f"{where}: two samples would write sequence {seq} frame {frame}")
        used.add((seq, frame))
        folder = root / seq / labels
        folder.mkdir(parents=True, exist_ok=True)
        raw_from_label(label).astype("<u4").tofile(folder / f"{frame}.label")
        scan = _scan_for_kitti(label) if points else None
        if scan is not None:
            scan_dir = root / seq / "velodyne"
            scan_dir.mkdir(parents=True, exist_ok=True)
            scan.tofile(scan_dir / f"{frame}.bin")


# --------------------------------------------------------------------------- protocol
def protocol(config: str | Path | SemanticKittiConfig | None = None, min_points: int = 50) -> Any:
    """The ``semantic-kitti`` protocol for a config (default: the official tables) and
    ``--min_inst_points`` (default 50, as ``evaluate_panoptic.py``): pass it to
    :func:`panokit.evaluate` when your ``semantic-kitti.yaml`` has its own learning map."""
    from panokit.eval.protocols import LIDAR

    cfg = config if isinstance(config, SemanticKittiConfig) else load_config(config)
    ignored = tuple(i for i, flag in cfg.learning_ignore.items() if flag and i != 0)
    return replace(
        LIDAR,
        name="semantic-kitti",
        description=(
            "semantic-kitti-api evaluate_panoptic.py: raw ids folded by learning_map, ignored "
            f"classes removed, unmatched segments under {min_points} points ignored (both sides, "
            "stuff too), means over all evaluated classes (absent = 0), PQ-dagger, mIoU"
        ),
        min_size=min_points,
        label_map=cfg.learning_label_map,
        ignore_ids=ignored,
    )


def eval_protocol(
    name: str | Any,
    config: str | Path | SemanticKittiConfig | None = None,
    min_points: int | None = None,
) -> Any:
    """The protocol ``name`` with ``panokit eval``'s ``--config`` (a dataset YAML: its
    learning map and ignored classes) and ``--min-points`` applied."""
    from panokit.eval.protocols import get_protocol

    if min_points is not None and min_points < 0:
        raise FormatError(f"--min-points must be 0 or more, got {min_points}")
    proto = get_protocol(name)
    if proto.name == "semantic-kitti":
        if config is None and min_points is None:
            return proto
        return protocol(config, proto.min_size if min_points is None else min_points)
    if config is not None:
        raise FormatError(
            f"--config (a SemanticKITTI dataset YAML) applies to protocol 'semantic-kitti', "
            f"not {proto.name!r}"
        )
    if min_points is None:
        return proto
    if proto.accumulator:
        raise FormatError(f"--min-points does not apply to protocol {proto.name!r}")
    return replace(proto, min_size=min_points)


PROTOCOLS = (protocol(),)
"""The ``semantic-kitti`` protocol (registered when the format is loaded)."""
