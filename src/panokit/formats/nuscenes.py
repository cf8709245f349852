"""nuScenes-lidarseg and Panoptic nuScenes, located through the JSON tables (stdlib only).

Ground-truth layout (``DATAROOT``)::

    <version>/category.json     general classes with their label-file ``index``
    <version>/sample_data.json  ``token`` -> ``filename`` of the keyframe LIDAR_TOP sweep
    <version>/panoptic.json     {token, sample_data_token, filename}  (and/or lidarseg.json)
    samples/LIDAR_TOP/*.pcd.bin float32 x, y, z, intensity, ring index per point
    panoptic/<version>/<sd_token>_panoptic.npz   key "data": uint16 general * 1000 + instance
    lidarseg/<version>/<sd_token>_lidarseg.bin   uint8 general class per point

Results layout (predictions, ``RESULTS``)::

    panoptic/<split>/<sd_token>_panoptic.npz     uint16 challenge * 1000 + instance
    <split>/submission.json                      {"meta": {"task", "use_camera", ...}}

Labels read into :class:`PanopticPointCloud` keyed by the lidar ``sample_data`` token: one
segment per distinct value (category = the class index, ``attributes["instance"]`` the
instance index), class 0 (noise / ignore) void.  Ground truth is in the 32 general classes
(``nuscenes-general``) or, with ``classes="challenge"``, in the 16 challenge classes with
segments still one per distinct file value (as nuscenes-devkit keys instances by the whole
label).  Results are in the challenge classes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from panokit.core.codecs import DIVISOR_1000
from panokit.core.label import PanopticLabel, PanopticPointCloud, Segment
from panokit.core.sample import Sample
from panokit.core.taxonomy import LabelMap, Taxonomy
from panokit.dataset import PanopticDataset
from panokit.errors import FormatError, MissingFileError
from panokit.formats.data.nuscenes import (
    CHALLENGE_LABEL_MAP,
    CHALLENGE_TAXONOMY,
    GENERAL_NAMES,
    GENERAL_TAXONOMY,
    GENERAL_TO_CHALLENGE,
    IDENTITY_CHALLENGE_MAP,
)
from panokit.formats.label_maps import get_label_map, remap_label
from panokit.formats.lidar_raw import RAW_ATTR, RawScan, check_segments, dense_codes

NAME = "nuscenes"
DEFAULT_PROTOCOL = "nuscenes"
CHANNELS: tuple[str, ...] = ("x", "y", "z", "intensity", "ring")
"""The columns of a ``.pcd.bin`` sweep."""

_POINT_BYTES = 20
_CHALLENGE_LUT = np.array([GENERAL_TO_CHALLENGE[i] for i in range(32)], dtype=np.int64)
_TOKEN = re.compile(r"^[0-9a-f]{32}$")


# ----------------------------------------------------------------------------- files
def read_sweep(path: Path) -> NDArray[np.float32]:
    """A ``.pcd.bin`` sweep as (N, 5) float32 (x, y, z, intensity, ring)."""
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise MissingFileError(f"nuScenes point cloud not found: {path}") from None
    if size % _POINT_BYTES:
        raise FormatError(
            f"{path}: truncated point cloud: {size} bytes is not a multiple of 20 "
            "(5 float32 per point: x, y, z, intensity, ring)"
        )
    return np.fromfile(path, dtype="<f4").reshape(-1, 5)


def _load_table(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise MissingFileError(f"nuScenes table not found: {path}")
    try:
        with path.open("rb") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as exc:
        raise FormatError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(data, list):
        raise FormatError(f"{path}: a nuScenes table is a JSON list, found {type(data).__name__}")
    return data


def _version_dir(root: Path, version: str | None) -> Path:
    if version is not None:
        folder = root / version
        if not (folder / "category.json").is_file():
            raise MissingFileError(f"no nuScenes tables (category.json) in {folder}")
        return folder
    found = sorted(p.parent for p in root.glob("*/category.json"))
    found = [p for p in found if (p / "panoptic.json").is_file() or (p / "lidarseg.json").is_file()]
    if len(found) != 1:
        names = [p.name for p in found]
        raise FormatError(
            f"{root}: expected one version folder with category.json and panoptic.json or "
            f"lidarseg.json, found {names or 'none'}; pass version="
        )
    return found[0]


def general_taxonomy(categories: list[dict[str, Any]], where: Path) -> Taxonomy:
    """The general taxonomy of a ``category.json`` (lidarseg version, with ``index``)."""
    by_index: dict[int, str] = {}
    for record in categories:
        if "index" not in record:
            raise FormatError(
                f"{where}: category {record.get('name')!r} has no 'index'; use the category.json "
                "that comes with nuScenes-lidarseg"
            )
        by_index[int(record["index"])] = str(record["name"])
    if all(GENERAL_NAMES.get(i) == n for i, n in by_index.items()):
        return GENERAL_TAXONOMY
    raise FormatError(
        f"{where}: category indices differ from the official nuScenes-lidarseg ones "
        f"(e.g. {next((i, n) for i, n in by_index.items() if GENERAL_NAMES.get(i) != n)})"
    )


# --------------------------------------------------------------------------- labels
def label_from_values(
    values: NDArray[Any],
    taxonomy: Taxonomy,
    where: str,
    category_lut: NDArray[np.int64] | None = None,
    points: NDArray[Any] | None = None,
    panoptic: bool = True,
) -> PanopticPointCloud:
    """Decode per-point values (``class * 1000 + instance`` when ``panoptic``, else the
    class) into a label; ``category_lut`` maps file classes to ``taxonomy`` ids.  One
    segment per distinct value; class 0 (after the map) is void."""
    uniq, inverse = dense_codes(np.asarray(values))
    if panoptic:
        file_cls, inst = DIVISOR_1000.decode(uniq)
    else:
        file_cls, inst = uniq.astype(np.int64), np.zeros(uniq.size, dtype=np.int64)
    if category_lut is not None:
        bad = file_cls >= len(category_lut)
        if bad.any():
            raise FormatError(
                f"{where}: class indices {sorted(set(file_cls[bad].tolist()))} out of range"
            )
        cats = category_lut[file_cls]
    else:
        cats = file_cls
    unknown = sorted({int(c) for c in cats.tolist() if c != 0 and c not in taxonomy})
    if unknown:
        raise FormatError(
            f"{where}: class indices {unknown} are not in taxonomy {taxonomy.name} "
            f"(known: {taxonomy._short_ids()})"
        )
    labeled = cats != 0
    table = np.zeros(uniq.size, dtype=np.uint32)
    table[labeled] = np.arange(1, int(labeled.sum()) + 1, dtype=np.uint32)
    segments = {
        i: Segment(c, attributes={"instance": k})
        for i, (c, k) in enumerate(
            zip(cats[labeled].tolist(), inst[labeled].tolist(), strict=True), start=1
        )
    }
    return PanopticPointCloud(
        table[inverse],
        segments,
        taxonomy,
        points=points,
        channels=CHANNELS if points is not None else (),
    )


def _loader(
    label_path: Path,
    sweep: Path | None,
    kind: Literal["divisor1000-npz", "uint8-bin"],
    taxonomy: Taxonomy,
    category_lut: NDArray[np.int64] | None,
    with_points: bool,
) -> Callable[[], PanopticLabel]:
    raw = RawScan(
        label_path,
        kind,
        category_lut=category_lut,
        points_from=sweep,
        point_bytes=_POINT_BYTES,
        known=frozenset(
            range(32 if category_lut is not None or taxonomy is GENERAL_TAXONOMY else 17)
        ),
    )

    def load() -> PanopticLabel:
        points = read_sweep(sweep) if (with_points and sweep is not None) else None
        values = raw.values()
        if points is not None and values.size != points.shape[0]:
            raise FormatError(
                f"{label_path}: {values.size} labels but {sweep} has {points.shape[0]} points"
            )
        return label_from_values(
            values,
            taxonomy,
            str(label_path),
            category_lut=category_lut,
            points=points,
            panoptic=kind == "divisor1000-npz",
        )

    setattr(load, RAW_ATTR, raw)
    return load


def _sweep_loader(path: Path) -> Callable[[], NDArray[Any]]:
    def load() -> NDArray[Any]:
        return read_sweep(path)

    return load


# ------------------------------------------------------------------------------ reading
def _is_results(root: Path) -> bool:
    return (root / "panoptic").is_dir() and not any(root.glob("*/category.json"))


def sniff(path: Path) -> bool:
    """A dataroot with ``<version>/category.json`` + panoptic/lidarseg tables, or a results
    folder ``panoptic/<split>/*_panoptic.npz``."""
    root = Path(path)
    if not root.is_dir():
        return False
    if any(root.glob("*/panoptic.json")) or any(root.glob("*/lidarseg.json")):
        return any(root.glob("*/category.json"))
    return _is_results(root) and any(root.glob("panoptic/*/*_panoptic.npz"))


def read(
    path: Path,
    version: str | None = None,
    task: Literal["panoptic", "lidarseg"] = "panoptic",
    classes: Literal["general", "challenge"] = "general",
    split: str | None = None,
    points: bool = True,
) -> PanopticDataset:
    """Open a nuScenes dataroot (ground truth) or a results folder (predictions).

    Ground truth: ``version`` is the tables folder (detected when there is one), ``task``
    picks ``panoptic.json`` or ``lidarseg.json``; ``classes="challenge"`` maps the labels
    to the 16 challenge classes on load.  Results: ``split`` is the sub-folder of
    ``panoptic/`` (detected when there is one).  Samples are keyed by the lidar
    ``sample_data`` token; every record must resolve through ``sample_data.json``.
    """
    root = Path(path)
    if _is_results(root):
        return read_results(root, split=split)
    tables = _version_dir(root, version)
    category_path = tables / "category.json"
    general_taxonomy(_load_table(category_path), category_path)
    table_path = tables / f"{task}.json"
    records = _load_table(table_path)
    sd_path = tables / "sample_data.json"
    sample_data = {str(r.get("token")): r for r in _load_table(sd_path)}
    if classes == "challenge":
        taxonomy, lut = CHALLENGE_TAXONOMY, _CHALLENGE_LUT
    else:
        taxonomy, lut = GENERAL_TAXONOMY, None
    kind: Literal["divisor1000-npz", "uint8-bin"] = (
        "divisor1000-npz" if task == "panoptic" else "uint8-bin"
    )
    samples = []
    for index, record in enumerate(records):
        token = record.get("sample_data_token")
        filename = record.get("filename")
        if not isinstance(token, str) or not isinstance(filename, str):
            raise FormatError(
                f"{table_path}: record {index} needs 'sample_data_token' and 'filename', found {record!r}"
            )
        sd = sample_data.get(token)
        if sd is None:
            raise FormatError(
                f"{table_path}: record {index} ({record.get('token')}) refers to sample_data token "
                f"{token!r}, which is not in {sd_path}"
            )
        sweep = root / str(sd.get("filename", ""))
        label_path = root / filename
        samples.append(
            Sample(
                key=token,
                media=sweep,
                label_files=(label_path,),
                source_id=token,
                meta={
                    "sample_token": sd.get("sample_token"),
                    "filename": sd.get("filename"),
                    "timestamp": sd.get("timestamp"),
                    "record": record.get("token"),
                },
                label_loader=_loader(label_path, sweep, kind, taxonomy, lut, points),
                media_loader=_sweep_loader(sweep),
            )
        )
    return PanopticDataset(
        samples,
        taxonomy,
        format=NAME,
        root=root,
        modality="pointcloud",
        meta={"version": tables.name, "task": task, "classes": classes},
    )


def _results_split(root: Path, split: str | None) -> Path:
    if split is not None:
        folder = root / "panoptic" / split
        if not folder.is_dir():
            raise MissingFileError(f"no results folder {folder}")
        return folder
    found = sorted(p for p in (root / "panoptic").iterdir() if p.is_dir())
    if len(found) != 1:
        raise FormatError(
            f"{root / 'panoptic'}: expected one split folder, found {[p.name for p in found]}; "
            "pass split="
        )
    return found[0]


def read_results(root: Path, split: str | None = None) -> PanopticDataset:
    """Open ``panoptic/<split>/<token>_panoptic.npz`` predictions (challenge classes)."""
    folder = _results_split(Path(root), split)
    samples = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith("_panoptic.npz"):
            continue
        token = name[: -len("_panoptic.npz")]
        path = folder / name
        samples.append(
            Sample(
                key=token,
                label_files=(path,),
                source_id=token,
                meta={"split": folder.name},
                label_loader=_loader(
                    path, None, "divisor1000-npz", CHALLENGE_TAXONOMY, None, False
                ),
            )
        )
    submission = Path(root) / folder.name / "submission.json"
    meta: dict[str, Any] = {"split": folder.name, "results": True}
    if submission.is_file():
        try:
            meta["submission"] = json.loads(submission.read_text())
        except json.JSONDecodeError as exc:
            raise FormatError(f"{submission}: malformed JSON ({exc.msg})") from None
    return PanopticDataset(
        samples, CHALLENGE_TAXONOMY, format=NAME, root=Path(root), modality="pointcloud", meta=meta
    )


def read_pair(
    gt_path: Path,
    pred_path: Path,
    split: str | None = None,
    sequences: Sequence[str] | None = None,
    version: str | None = None,
    **options: Any,
) -> tuple[PanopticDataset, PanopticDataset]:
    """Ground truth (dataroot, mapped to challenge classes) and results
    (``panoptic/<split>/``), as nuscenes-devkit's panoptic evaluation reads them.

    ``sequences`` restricts the ground truth to these scene names (needs ``scene.json`` and
    ``sample.json``); otherwise every ground-truth record is evaluated.  Every evaluated
    record needs a prediction file: a missing one raises :class:`MissingFileError` naming it.
    """
    gt = read(Path(gt_path), version=version, classes="challenge", points=False)
    if sequences:
        gt = _select_scenes(gt, Path(gt_path), list(sequences))
    pred = read_results(Path(pred_path), split=split)
    have = {s.key for s in pred}
    folder = _results_split(Path(pred_path), split)
    for sample in gt:
        if sample.key not in have:
            raise MissingFileError(
                f"prediction missing for sample_data {sample.key}: expected "
                f"{folder / (sample.key + '_panoptic.npz')}"
            )
    return gt, pred.select(gt.keys())


def _select_scenes(gt: PanopticDataset, root: Path, scenes: list[str]) -> PanopticDataset:
    tables = root / str(gt.meta["version"])
    scene_tokens = {
        str(r["token"]): str(r["name"]) for r in _load_table(tables / "scene.json") if "token" in r
    }
    unknown = sorted(set(scenes) - set(scene_tokens.values()))
    if unknown:
        raise FormatError(f"scenes {unknown} are not in {tables / 'scene.json'}")
    sample_scene = {
        str(r["token"]): scene_tokens.get(str(r.get("scene_token")), "")
        for r in _load_table(tables / "sample.json")
    }
    wanted = set(scenes)
    return gt.filter(lambda s: sample_scene.get(str(s.meta.get("sample_token")), "") in wanted)


# ------------------------------------------------------------------------------ writing
def _token(sample: Sample) -> str:
    if _TOKEN.match(sample.key):
        return sample.key
    return hashlib.md5(sample.key.encode("utf-8")).hexdigest()


def _npz_bytes(values: NDArray[Any]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, data=values.astype(np.uint16))
    return buffer.getvalue()


def _encode(label: PanopticLabel, where: str) -> NDArray[np.uint16]:
    """``class * 1000 + instance`` per point; thing instances numbered 1.. per class
    (unless the segments carry their own ``instance``), stuff 0."""
    seg_ids = np.array([0, *sorted(label.segments)], dtype=np.int64)
    kept = [label.segments[int(s)] for s in seg_ids[1:]]
    cls = np.array([0] + [s.category_id for s in kept], dtype=np.int64)
    taxonomy = label.taxonomy
    inst = np.zeros(len(seg_ids), dtype=np.int64)
    numbers = [s.attributes.get("instance") for s in kept]
    own = all(isinstance(k, int) and 0 <= k <= 999 for k in numbers) and len(
        {(s.category_id, k) for s, k in zip(kept, numbers, strict=True)}
    ) == len(kept)
    counters: dict[int, int] = {}
    for i, seg in enumerate(kept, start=1):
        thing = (
            taxonomy is None or seg.category_id not in taxonomy or taxonomy.isthing(seg.category_id)
        )
        if own:
            inst[i] = int(seg.attributes["instance"])
        elif thing:
            counters[seg.category_id] = counters.get(seg.category_id, 0) + 1
            inst[i] = counters[seg.category_id]
    if inst.max(initial=0) > 999:
        raise FormatError(
            f"{where}: {int(inst.max())} instances of one class; nuScenes labels hold at most 999"
        )
    pos = np.searchsorted(seg_ids, np.asarray(label.ids))
    return DIVISOR_1000.encode(cls[pos], inst[pos]).astype(np.uint16)


def _to_taxonomy(
    dataset: PanopticDataset, target: Taxonomy, label_map: LabelMap | str | None
) -> LabelMap | None:
    if label_map is not None:
        return get_label_map(label_map)
    if dataset.taxonomy == target:
        return None
    if dataset.taxonomy == GENERAL_TAXONOMY and target == CHALLENGE_TAXONOMY:
        return CHALLENGE_LABEL_MAP
    raise FormatError(
        f"labels in taxonomy {dataset.taxonomy.name or '(unnamed)'!r} cannot be written as "
        f"{target.name} without a label map; pass label_map= (a LabelMap, a JSON/YAML file or "
        "a built-in map name)"
    )


def write(
    dataset: PanopticDataset,
    out: Path,
    results: bool | None = None,
    split: str = "val",
    version: str = "v1.0-panokit",
    label_map: LabelMap | str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> None:
    """Write ground truth (tables + ``panoptic/<version>/`` + sweeps) or, with
    ``results``, the results layout ``panoptic/<split>/<token>_panoptic.npz`` (challenge
    classes; general labels are mapped with the official map) + ``<split>/submission.json``
    (``meta`` overrides its fields; ``task`` defaults to ``segmentation``).  By default
    labels in the challenge classes are written as results, others as ground truth."""
    if results is None:
        results = dataset.taxonomy == CHALLENGE_TAXONOMY
    target = CHALLENGE_TAXONOMY if results else GENERAL_TAXONOMY
    mapping = _to_taxonomy(dataset, target, label_map)
    label_dir = out / "panoptic" / (split if results else version)
    label_dir.mkdir(parents=True)
    panoptic_records: list[dict[str, Any]] = []
    sample_data: list[dict[str, Any]] = []
    seen: set[str] = set()
    for sample in dataset:
        if not sample.has_label:
            continue
        where = f"sample {sample.key!r}"
        label = sample.load_label()
        if mapping is not None:
            label = remap_label(label, mapping, target)
        if label.ids.ndim != 1:
            raise FormatError(
                f"{where}: nuScenes holds point clouds; got ids of shape {label.shape}"
            )
        check_segments(label, where)
        token = _token(sample)
        if token in seen:
            raise FormatError(f"{where}: two samples have the token {token}")
        seen.add(token)
        values = _encode(label, where)
        (label_dir / f"{token}_panoptic.npz").write_bytes(_npz_bytes(values))
        if results:
            continue
        filename = f"samples/LIDAR_TOP/{token}.pcd.bin"
        points = label.points if isinstance(label, PanopticPointCloud) else None
        if points is not None:
            sweep = np.zeros((len(points), 5), dtype="<f4")
            cols = min(5, points.shape[1])
            sweep[:, :cols] = points[:, :cols]
            (out / "samples/LIDAR_TOP").mkdir(parents=True, exist_ok=True)
            sweep.tofile(out / filename)
        sample_data.append(
            {
                "token": token,
                "sample_token": (sample.meta or {}).get("sample_token") or token,
                "filename": filename,
                "fileformat": "pcd",
                "is_key_frame": True,
                "timestamp": (sample.meta or {}).get("timestamp") or 0,
            }
        )
        panoptic_records.append(
            {
                "token": hashlib.md5(f"panoptic-{token}".encode()).hexdigest(),
                "sample_data_token": token,
                "filename": f"panoptic/{version}/{token}_panoptic.npz",
            }
        )
    if results:
        submission: dict[str, Any] = {
            "task": "segmentation",
            "use_camera": False,
            "use_lidar": True,
            "use_radar": False,
            "use_map": False,
            "use_external": False,
        }
        submission.update(meta or {})
        (out / split).mkdir(parents=True, exist_ok=True)
        (out / split / "submission.json").write_text(json.dumps({"meta": submission}, indent=2))
        return
    tables = out / version
    tables.mkdir(parents=True)
    categories = [
        {
            "token": hashlib.md5(name.encode()).hexdigest(),
            "name": name,
            "description": "",
            "index": i,
        }
        for i, name in GENERAL_NAMES.items()
    ]
    for name, table in (
        ("category", categories),
        ("sample_data", sample_data),
        ("panoptic", panoptic_records),
    ):
        (tables / f"{name}.json").write_text(json.dumps(table, indent=1))


# --------------------------------------------------------------------------- protocol
def _protocols() -> tuple[Any, ...]:
    from panokit.eval.protocols import LIDAR

    return (
        replace(
            LIDAR,
            name="nuscenes",
            description=(
                "nuscenes-devkit panoptic evaluation (a copy of semantic-kitti-api PanopticEval): "
                "16 challenge classes, class 0 ignored, unmatched segments under 15 points "
                "ignored (both sides, stuff too), means over all classes, PQ-dagger, mIoU; "
                "ground truth in challenge classes (read_pair maps it)"
            ),
            min_size=15,
            label_map=IDENTITY_CHALLENGE_MAP,
        ),
    )


PROTOCOLS = _protocols()
"""The ``nuscenes`` protocol (registered when the format is loaded)."""
