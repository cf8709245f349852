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
    lidarseg/<split>/<sd_token>_lidarseg.bin     uint8 challenge class (1..16) per point
    <split>/submission.json                      {"meta": {"task", "use_camera", ...}}

A ground truth can be restricted to an official split (``split="val"``: the scene names of
nuscenes-devkit ``utils/splits.py``, held in ``data/nuscenes_splits.json``) or to named
scenes; samples are then located sample_data -> sample -> scene through ``sample.json`` and
``scene.json``.  Protocols: ``nuscenes`` (panoptic, PQ) and ``nuscenes-lidarseg`` (mIoU and
frequency-weighted IoU of ``LidarSegEval``, see :class:`panokit.eval.lidar.LidarSegAccumulator`).

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
    official_splits,
)
from panokit.formats.label_maps import get_label_map, remap_label
from panokit.formats.lidar_raw import (
    RAW_ATTR,
    RawScan,
    check_segments,
    dense_runs,
    expand_runs,
)

NAME = "nuscenes"
DEFAULT_PROTOCOL = "nuscenes"
CHANNELS: tuple[str, ...] = ("x", "y", "z", "intensity", "ring")
"""The columns of a ``.pcd.bin`` sweep."""

_POINT_BYTES = 20
Task = Literal["panoptic", "lidarseg"]
_SUFFIX: dict[str, str] = {"panoptic": "_panoptic.npz", "lidarseg": "_lidarseg.bin"}
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
    uniq, codes, lengths = dense_runs(np.asarray(values))
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
        expand_runs(table, codes, lengths),
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
    length_from: tuple[Path, int] | None = None,
) -> Callable[[], PanopticLabel]:
    """``length_from`` (file, bytes per point) checks the label length against a file's
    size; by default the sweep's, when it exists (evaluation needs no sweeps)."""
    if length_from is None and sweep is not None and sweep.is_file():
        length_from = (sweep, _POINT_BYTES)
    raw = RawScan(
        label_path,
        kind,
        category_lut=category_lut,
        points_from=length_from[0] if length_from else None,
        point_bytes=length_from[1] if length_from else _POINT_BYTES,
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
    return ((root / "panoptic").is_dir() or (root / "lidarseg").is_dir()) and not any(
        root.glob("*/category.json")
    )


def sniff(path: Path) -> bool:
    """A dataroot with ``<version>/category.json`` + panoptic/lidarseg tables, or a results
    folder ``panoptic/<split>/*_panoptic.npz`` / ``lidarseg/<split>/*_lidarseg.bin``."""
    root = Path(path)
    if not root.is_dir():
        return False
    if any(root.glob("*/panoptic.json")) or any(root.glob("*/lidarseg.json")):
        return any(root.glob("*/category.json"))
    return _is_results(root) and (
        any(root.glob("panoptic/*/*_panoptic.npz")) or any(root.glob("lidarseg/*/*_lidarseg.bin"))
    )


def split_scenes(split: str) -> tuple[str, ...]:
    """The scene names of an official nuScenes split (``train``, ``val``, ``test``,
    ``mini_train``, ``mini_val``, ``train_detect``, ``train_track``)."""
    splits = official_splits()
    if split not in splits:
        import difflib

        close = difflib.get_close_matches(split, list(splits), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise FormatError(
            f"unknown nuScenes split {split!r}{hint} (official splits: {', '.join(splits)})"
        )
    return splits[split]


def _scene_of_samples(tables: Path, why: str) -> tuple[dict[str, str], set[str]]:
    """sample token -> scene name (through ``sample.json`` and ``scene.json``), and the
    scene names of the tables."""
    try:
        scene_rows = _load_table(tables / "scene.json")
        sample_rows = _load_table(tables / "sample.json")
    except MissingFileError as exc:
        raise MissingFileError(f"{exc} (needed to {why})") from None
    names = {str(r.get("token")): str(r.get("name")) for r in scene_rows}
    scene_of: dict[str, str] = {}
    for index, row in enumerate(sample_rows):
        scene = names.get(str(row.get("scene_token")))
        if scene is None:
            raise FormatError(
                f"{tables / 'sample.json'}: record {index} ({row.get('token')}) refers to scene "
                f"token {row.get('scene_token')!r}, which is not in {tables / 'scene.json'}"
            )
        scene_of[str(row.get("token"))] = scene
    return scene_of, set(names.values())


def _select(
    samples: list[Sample],
    tables: Path,
    sd_path: Path,
    split: str | None,
    scenes: Sequence[str] | None,
    table_name: str = "the label table",
) -> list[Sample]:
    """The samples of an official split and/or of named scenes (meta gets ``scene``); every
    sample of those scenes must have a label record."""
    why = f"select split {split!r}" if split is not None else "select scenes"
    scene_of, present = _scene_of_samples(tables, why)
    wanted: set[str] | None = None
    if split is not None:
        listed = split_scenes(split)
        absent = [s for s in listed if s not in present]
        if absent:
            holds = [n for n, names in official_splits().items() if set(names) <= present]
            raise FormatError(
                f"{tables / 'scene.json'}: split {split!r} has {len(listed)} scenes and "
                f"{len(absent)} of them are not in these tables (e.g. {absent[:3]}); the tables "
                f"hold the whole of: {', '.join(holds) or 'no official split'}"
            )
        wanted = set(listed)
    if scenes:
        unknown = sorted(set(scenes) - present)
        if unknown:
            raise FormatError(f"scenes {unknown} are not in {tables / 'scene.json'}")
        wanted = set(scenes) if wanted is None else wanted & set(scenes)
    out = []
    for sample in samples:
        token = str(sample.meta.get("sample_token"))
        scene = scene_of.get(token)
        if scene is None:
            raise FormatError(
                f"{sd_path}: sample_data {sample.key} refers to sample token {token!r}, which "
                f"is not in {tables / 'sample.json'}"
            )
        if wanted is None or scene in wanted:
            out.append(replace(sample, meta={**sample.meta, "scene": scene}))
    if wanted is not None:  # the devkit walks every keyframe of these scenes
        labeled = {str(s.meta.get("sample_token")) for s in out}
        unlabeled = sorted(
            t for t, scene in scene_of.items() if scene in wanted and t not in labeled
        )
        if unlabeled:
            what = f"split {split!r}" if split is not None else "the selected scenes"
            raise FormatError(
                f"{tables / 'sample.json'}: {len(unlabeled)} samples of {what} have no record "
                f"in {table_name} (e.g. sample {unlabeled[0]} of scene {scene_of[unlabeled[0]]}); "
                "nuscenes-devkit evaluates every keyframe of the split's scenes"
            )
    return out


def read(
    path: Path,
    version: str | None = None,
    task: Task | None = None,
    classes: Literal["general", "challenge"] = "general",
    split: str | None = None,
    points: bool = True,
    scenes: Sequence[str] | None = None,
) -> PanopticDataset:
    """Open a nuScenes dataroot (ground truth) or a results folder (predictions).

    Ground truth: ``version`` is the tables folder (detected when there is one), ``task``
    picks ``panoptic.json`` or ``lidarseg.json`` (default: panoptic when the tables have
    it); ``classes="challenge"`` maps the labels to the 16 challenge classes on load;
    ``split`` (an official split, e.g.
    ``"val"``) and/or ``scenes`` (scene names) keep the records of those scenes.  Results:
    ``split`` is the sub-folder of ``panoptic/`` or ``lidarseg/`` (detected when there is
    one).  Samples are keyed by the lidar ``sample_data`` token; every record must resolve
    through ``sample_data.json``.
    """
    root = Path(path)
    if _is_results(root):
        if scenes:
            raise FormatError(f"{root}: a results folder cannot be selected by scenes")
        return read_results(root, split=split, task=task)
    tables = _version_dir(root, version)
    if task is None:  # nuScenes-lidarseg alone has no panoptic.json
        has_panoptic = (tables / "panoptic.json").is_file()
        task = (
            "panoptic" if has_panoptic or not (tables / "lidarseg.json").is_file() else "lidarseg"
        )
    if task not in _SUFFIX:
        raise FormatError(f"unknown nuScenes task {task!r}; use 'panoptic' or 'lidarseg'")
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
    if split is not None or scenes:
        samples = _select(samples, tables, sd_path, split, scenes, table_path.name)
        if not samples:
            raise FormatError(
                f"{table_path}: no record belongs to "
                + (f"split {split!r}" if split is not None else f"scenes {list(scenes or ())}")
            )
    meta: dict[str, Any] = {"version": tables.name, "task": task, "classes": classes}
    if split is not None:
        meta["split"] = split
    if task == "lidarseg":
        meta["protocol"] = "nuscenes-lidarseg"
    return PanopticDataset(
        samples, taxonomy, format=NAME, root=root, modality="pointcloud", meta=meta
    )


def _results_task(root: Path, task: Task | None) -> Task:
    if task is not None:
        if task not in _SUFFIX:
            raise FormatError(f"unknown nuScenes task {task!r}; use 'panoptic' or 'lidarseg'")
        return task
    if (root / "panoptic").is_dir() or not (root / "lidarseg").is_dir():
        return "panoptic"
    return "lidarseg"


def _results_split(root: Path, split: str | None, task: Task = "panoptic") -> Path:
    base = root / task
    if split is not None:
        folder = base / split
        if not folder.is_dir():
            raise MissingFileError(f"no results folder {folder}")
        return folder
    if not base.is_dir():
        raise MissingFileError(f"no results folder {base}")
    found = sorted(p for p in base.iterdir() if p.is_dir())
    if len(found) != 1:
        raise FormatError(
            f"{base}: expected one split folder, found {[p.name for p in found]}; pass split="
        )
    return found[0]


def read_results(root: Path, split: str | None = None, task: Task | None = None) -> PanopticDataset:
    """Open ``panoptic/<split>/<token>_panoptic.npz`` or ``lidarseg/<split>/<token>_lidarseg.bin``
    predictions (challenge classes); ``task`` defaults to panoptic when both are there."""
    task = _results_task(Path(root), task)
    folder = _results_split(Path(root), split, task)
    suffix = _SUFFIX[task]
    kind: Literal["divisor1000-npz", "uint8-bin"] = (
        "divisor1000-npz" if task == "panoptic" else "uint8-bin"
    )
    samples = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith(suffix):
            continue
        token = name[: -len(suffix)]
        path = folder / name
        samples.append(
            Sample(
                key=token,
                label_files=(path,),
                source_id=token,
                meta={"split": folder.name},
                label_loader=_loader(path, None, kind, CHALLENGE_TAXONOMY, None, False),
            )
        )
    submission = Path(root) / folder.name / "submission.json"
    meta: dict[str, Any] = {"split": folder.name, "results": True, "task": task}
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
    task: Task | None = None,
    protocol: str | None = None,
    **options: Any,
) -> tuple[PanopticDataset, PanopticDataset]:
    """Ground truth (dataroot, mapped to challenge classes) and results
    (``panoptic/<split>/`` or ``lidarseg/<split>/``), as nuscenes-devkit's panoptic and
    lidarseg evaluations read them.

    ``split`` is the devkit's ``eval_set``: an official split whose scenes are evaluated
    (their records located through ``sample.json`` / ``scene.json``) and the results
    sub-folder; without it every ground-truth record is evaluated against the one results
    folder.  ``sequences`` restricts the ground truth to these scene names.  ``task``
    (default: ``panoptic``, or ``lidarseg`` when the results hold only ``lidarseg/``)
    picks the tables and files (``protocol="nuscenes-lidarseg"`` means ``task="lidarseg"``,
    other protocol names ``panoptic``); the ground truth of a lidarseg pair has
    ``meta["protocol"] == "nuscenes-lidarseg"``.  Every evaluated record needs a
    prediction file: a missing one raises :class:`MissingFileError` naming it.
    """
    if options.get("config") is not None:
        raise FormatError(
            "a dataset config (--config, a SemanticKITTI YAML) does not apply to nuscenes"
        )
    unknown = sorted(k for k in options if k != "config")
    if unknown:
        raise FormatError(f"nuscenes read_pair takes no option(s) {unknown}")
    if task is None and protocol is not None:
        task = "lidarseg" if protocol == "nuscenes-lidarseg" else "panoptic"
    task = _results_task(Path(pred_path), task)
    gt = read(
        Path(gt_path),
        version=version,
        task=task,
        classes="challenge",
        points=False,
        split=split,
        scenes=list(sequences) if sequences else None,
    )
    pred = read_results(Path(pred_path), split=split, task=task)
    by_key = {s.key: s for s in pred}
    folder = _results_split(Path(pred_path), split, task)
    selected = []
    for sample in gt:
        found = by_key.get(sample.key)
        if found is None:
            raise MissingFileError(
                f"prediction missing for sample_data {sample.key}: expected "
                f"{folder / (sample.key + _SUFFIX[task])}"
            )
        if task == "lidarseg":  # one byte per point on both sides: check the length
            found = replace(
                found,
                label_loader=_loader(
                    found.label_files[0],
                    None,
                    "uint8-bin",
                    CHALLENGE_TAXONOMY,
                    None,
                    False,
                    length_from=(sample.label_files[0], 1),
                ),
            )
        selected.append(found)
    return gt, PanopticDataset(
        selected,
        pred.taxonomy,
        format=NAME,
        root=pred.root,
        modality="pointcloud",
        meta=pred.meta,
    )


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
        f"{target.name} without a label map; pass label_map= (--map on the command line: a "
        "LabelMap, a JSON/YAML file or a built-in map name)"
    )


def write(
    dataset: PanopticDataset,
    out: Path,
    results: bool | None = None,
    split: str = "val",
    version: str = "v1.0-panokit",
    label_map: LabelMap | str | None = None,
    meta: Mapping[str, Any] | None = None,
    task: Task | None = None,
) -> None:
    """Write ground truth (tables + ``panoptic/<version>/`` + sweeps) or, with
    ``results``, the results layout ``panoptic/<split>/<token>_panoptic.npz`` (challenge
    classes; general labels are mapped with the official map) + ``<split>/submission.json``
    (``meta`` overrides its fields; ``task`` defaults to ``segmentation``).  By default
    labels in the challenge classes are written as results, others as ground truth.

    ``task="lidarseg"`` writes nuScenes-lidarseg instead: ``lidarseg/<version>/*.bin`` +
    ``lidarseg.json`` (uint8 general class per point), or the results
    ``lidarseg/<split>/<token>_lidarseg.bin`` (uint8 challenge class 1..16: a point
    without a class is an error, as the devkit refuses 0).  Label records take the
    sample_data token as their token (the devkit looks them up by it).  ``task`` defaults
    to the task of a nuScenes dataset that was read (lidarseg stays lidarseg), else panoptic."""
    if task is None:
        task = dataset.meta.get("task", "panoptic") if dataset.format == NAME else "panoptic"
    if task not in _SUFFIX:
        raise FormatError(f"unknown nuScenes task {task!r}; use 'panoptic' or 'lidarseg'")
    if results is None:
        results = dataset.taxonomy == CHALLENGE_TAXONOMY
    target = CHALLENGE_TAXONOMY if results else GENERAL_TAXONOMY
    mapping = _to_taxonomy(dataset, target, label_map)
    label_dir = out / task / (split if results else version)
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
        name = f"{token}{_SUFFIX[task]}"
        if task == "panoptic":
            (label_dir / name).write_bytes(_npz_bytes(_encode(label, where)))
        else:
            classes = label.semantic()
            if results and (classes == 0).any():
                raise FormatError(
                    f"{where}: {int((classes == 0).sum())} points have no class (void); "
                    "nuScenes-lidarseg results give every point a class 1..16"
                )
            (label_dir / name).write_bytes(classes.astype(np.uint8).tobytes())
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
            {"token": token, "sample_data_token": token, "filename": f"{task}/{version}/{name}"}
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
        (task, panoptic_records),
    ):
        (tables / f"{name}.json").write_text(json.dumps(table, indent=1))


# --------------------------------------------------------------------------- protocol
def protocol(min_points: int = 15) -> Any:
    """The ``nuscenes`` panoptic protocol with ``min_inst_points`` (default 15, as
    nuscenes-devkit ``eval/panoptic/evaluate.py``)."""
    from panokit.eval.protocols import LIDAR

    return replace(
        LIDAR,
        name="nuscenes",
        description=(
            "nuscenes-devkit panoptic evaluation (a copy of semantic-kitti-api PanopticEval): "
            f"16 challenge classes, class 0 ignored, unmatched segments under {min_points} "
            "points ignored (both sides, stuff too), means over all classes, PQ-dagger, mIoU; "
            "ground truth in challenge classes (read_pair maps it)"
        ),
        min_size=min_points,
        label_map=IDENTITY_CHALLENGE_MAP,
    )


def lidarseg_protocol() -> Any:
    """The ``nuscenes-lidarseg`` protocol: nuscenes-devkit ``LidarSegEval`` (see
    :class:`panokit.eval.lidar.LidarSegAccumulator`)."""
    from panokit.eval.protocols import Protocol

    return Protocol(
        "nuscenes-lidarseg",
        "nuscenes-devkit LidarSegEval: global confusion matrix over the 16 challenge classes, "
        "class 0 ignored (ground truth 0 dropped, predictions must be 1..16), per-class IoU "
        "(union as float32, as the devkit), mIoU over classes with a non-empty union, "
        "frequency-weighted IoU; no PQ",
        void_in_union=False,
        crowd=False,
        fp_ignore_fraction=None,
        gt_area="pixels",
        remove_gt_ignored=True,
        average="all",
        miou=True,
        label_map=IDENTITY_CHALLENGE_MAP,
        accumulator="panokit.eval.lidar:LidarSegAccumulator",
    )


def eval_protocol(
    name: str | Any, config: str | Path | None = None, min_points: int | None = None
) -> Any:
    """The protocol ``name`` with ``panokit eval``'s ``--min-points`` applied (``--config``
    is a SemanticKITTI option and is refused here)."""
    from panokit.eval.protocols import get_protocol

    if config is not None:
        raise FormatError("--config (a SemanticKITTI dataset YAML) does not apply to nuscenes")
    proto = get_protocol(name)
    if min_points is None:
        return proto
    if min_points < 0:
        raise FormatError(f"--min-points must be 0 or more, got {min_points}")
    if proto.accumulator:
        raise FormatError(
            f"--min-points does not apply to protocol {proto.name!r} (no segments are matched)"
        )
    return replace(proto, min_size=min_points)


PROTOCOLS = (protocol(), lidarseg_protocol())
"""The ``nuscenes`` and ``nuscenes-lidarseg`` protocols (registered when the format is
loaded)."""
