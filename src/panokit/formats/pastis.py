"""PASTIS / PASTIS-R: satellite image time series with crop-parcel instances.

Layout (pastis-benchmark ``README.md``, ``code/dataloader.py``)::

    metadata.geojson                       one feature per patch: ID_PATCH, Fold (1-5),
                                           dates-S2 / dates-S1A / dates-S1D {index: YYYYMMDD}
    DATA_S2/S2_{id}.npy                    T x C x H x W series (PASTIS-R adds DATA_S1A, DATA_S1D)
    ANNOTATIONS/TARGET_{id}.npy            C x H x W, channel 0 = semantic class
    INSTANCE_ANNOTATIONS/INSTANCES_{id}.npy  H x W parcel id (0 = no parcel)

A sample's media is its series (``load_media()`` memory-maps the ``.npy``); its label is a
:class:`PanopticImage`: class 0 (background) is one stuff segment, every (parcel, class) of
classes 1-19 is a thing segment whose id is the parcel id when that id is unique (else a fresh
id above the largest parcel id) and whose ``attributes["instance"]`` holds the parcel id.
Class 19 ("Void label") parcels stay segments so the ``pastis`` protocol can drop predictions
on them; pixels of class 19 without a parcel are void (segment 0) and are written back as
class 19, instance 0.  The taxonomy's void id is 255 because no PASTIS class value is void.

The writer writes TARGET with three channels: channel 0 the semantic class, channels 1-2
zero (the official loader reads channel 0 only; the meaning of the others is unverified).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from panokit.core.label import VOID, PanopticImage, Segment
from panokit.core.sample import Sample
from panokit.core.taxonomy import Taxonomy
from panokit.dataset import PanopticDataset
from panokit.errors import FormatError, MissingFileError
from panokit.eval.protocols import Protocol
from panokit.formats.data.taxonomies import load_taxonomy

NAME = "pastis"
DEFAULT_PROTOCOL = "pastis"
PROTOCOLS = (
    Protocol(
        "pastis",
        "PASTIS PanopticMeter: crop classes 1-18, predictions on void parcels dropped",
        accumulator="panokit.eval.pastis:PastisPQAccumulator",
    ),
)
BACKGROUND = 0
VOID_CLASS = 19
SATELLITES = ("S2", "S1A", "S1D")


def taxonomy() -> Taxonomy:
    """The 20 PASTIS classes: 0 background (stuff), 1-18 crops, 19 void parcels (things)."""
    return load_taxonomy("pastis")


# ----------------------------------------------------------------------------- sniffing
def sniff(path: Path) -> bool:
    """A folder with ``ANNOTATIONS/`` and ``metadata.geojson`` or ``DATA_S2/``."""
    return (
        path.is_dir()
        and (path / "ANNOTATIONS").is_dir()
        and ((path / "metadata.geojson").is_file() or (path / "DATA_S2").is_dir())
    )


# ------------------------------------------------------------------------------ arrays
def label_from_arrays(
    semantic: NDArray[Any], instance: NDArray[Any], tax: Taxonomy | None = None, where: str = ""
) -> PanopticImage:
    """A :class:`PanopticImage` from a PASTIS semantic map and parcel-id map (both H x W)."""
    tax = tax or taxonomy()
    head = f"{where}: " if where else ""
    sem = np.asarray(semantic).astype(np.int64, copy=False)
    inst = np.asarray(instance).astype(np.int64, copy=False)
    if sem.shape != inst.shape or sem.ndim != 2:
        raise FormatError(
            f"{head}semantic map is {'x'.join(map(str, sem.shape))} but instance map is "
            f"{'x'.join(map(str, inst.shape))}; both must be the same H x W"
        )
    if sem.size and (int(sem.min()) < 0 or int(sem.max()) > VOID_CLASS):
        bad = sorted(int(v) for v in np.unique(sem[(sem < 0) | (sem > VOID_CLASS)]))
        raise FormatError(f"{head}unknown PASTIS classes {bad}; classes are 0-{VOID_CLASS}")
    if inst.size and int(inst.min()) < 0:
        raise FormatError(f"{head}negative parcel id {int(inst.min())}")
    void = (sem == VOID_CLASS) & (inst == 0)
    background = sem == BACKGROUND
    parcel = ~(void | background)
    ids = np.zeros(sem.shape, dtype=np.uint32)
    segments: dict[int, Segment] = {}
    fresh = (int(inst.max()) if inst.size else 0) + 1
    if background.any():
        ids[background] = fresh
        segments[fresh] = Segment(BACKGROUND)
        fresh += 1
    if parcel.any():
        key = inst[parcel] * 32 + sem[parcel]
        uniq, inverse = np.unique(key, return_inverse=True)
        parcels, classes = uniq // 32, uniq % 32
        values, counts = np.unique(parcels, return_counts=True)
        shared = set(values[counts > 1].tolist())
        seg_of = np.empty(len(uniq), dtype=np.int64)
        for i, (pid, cls) in enumerate(zip(parcels.tolist(), classes.tolist(), strict=True)):
            if pid > 0 and pid not in shared and pid <= 0xFFFFFFFF:
                seg_id = pid
            else:
                seg_id, fresh = fresh, fresh + 1
            seg_of[i] = seg_id
            segments[seg_id] = Segment(int(cls), attributes={"instance": pid})
        ids[parcel] = seg_of[inverse.ravel()].astype(np.uint32)
    return PanopticImage(ids, segments, tax)


def arrays_from_label(label: PanopticImage) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """(semantic, instance) H x W maps of a label with PASTIS categories.

    Void pixels become class 19 with instance 0; a thing's instance is its
    ``attributes["instance"]`` when set, else its segment id; stuff has instance 0.
    """
    seg_ids = np.array([VOID, *sorted(label.segments)], dtype=np.int64)
    classes = np.full(len(seg_ids), VOID_CLASS, dtype=np.int64)
    parcels = np.zeros(len(seg_ids), dtype=np.int64)
    tax = label.taxonomy or taxonomy()
    for i, seg_id in enumerate(seg_ids[1:].tolist(), start=1):
        seg = label.segments[seg_id]
        classes[i] = seg.category_id
        cat = tax.get(seg.category_id)
        if cat is not None and cat.isthing:
            parcels[i] = int(seg.attributes.get("instance", seg_id))
    pos = np.clip(np.searchsorted(seg_ids, label.ids), 0, len(seg_ids) - 1)
    pos = np.where(seg_ids[pos] == label.ids, pos, 0)
    return classes[pos].astype(np.uint8), parcels[pos]


# ------------------------------------------------------------------------------ reading
def _load(path: Path, mmap: bool = False) -> NDArray[Any]:
    try:
        array: NDArray[Any] = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise MissingFileError(f"PASTIS array not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise FormatError(f"{path}: cannot read .npy ({exc})") from None
    return array


def _dates(value: Any) -> list[int]:
    if isinstance(value, str):
        value = json.loads(value)
    if isinstance(value, Mapping):
        return [int(value[k]) for k in sorted(value, key=lambda k: int(k))]
    if isinstance(value, list):
        return [int(v) for v in value]
    return []


def load_metadata(path: Path) -> list[dict[str, Any]]:
    """The ``properties`` of every feature in ``metadata.geojson`` (stdlib json only), with
    the feature ``geometry`` under ``"geometry"``."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise MissingFileError(f"PASTIS metadata not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list):
        raise FormatError(f"{path}: expected a GeoJSON FeatureCollection with 'features'")
    rows: list[dict[str, Any]] = []
    for index, feature in enumerate(features):
        props = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(props, dict) or "ID_PATCH" not in props:
            raise FormatError(f"{path}: features[{index}] has no properties.ID_PATCH")
        rows.append({**props, "geometry": feature.get("geometry")})
    return rows


def _label_loader(
    root: Path, pid: str, series: Path | None, tax: Taxonomy
) -> Callable[[], PanopticImage]:
    def load() -> PanopticImage:
        target_path = root / "ANNOTATIONS" / f"TARGET_{pid}.npy"
        inst_path = root / "INSTANCE_ANNOTATIONS" / f"INSTANCES_{pid}.npy"
        target = _load(target_path)
        if target.ndim == 3:
            semantic = target[0]
        elif target.ndim == 2:
            semantic = target
        else:
            raise FormatError(f"{target_path}: expected C x H x W, found shape {target.shape}")
        if inst_path.is_file():
            instance = _load(inst_path)
        else:
            instance = np.zeros(semantic.shape, dtype=np.int64)
        if instance.shape != semantic.shape:
            raise FormatError(
                f"patch {pid}: {inst_path} is {_hw(instance.shape)} but {target_path} is "
                f"{_hw(semantic.shape)} (H x W must agree)"
            )
        if series is not None and series.is_file():
            shape = _load(series, mmap=True).shape
            if len(shape) != 4 or tuple(shape[-2:]) != semantic.shape:
                raise FormatError(
                    f"patch {pid}: {series} has shape {shape}, expected T x C x "
                    f"{_hw(semantic.shape)} to match {target_path}"
                )
        return label_from_arrays(semantic, instance, tax, where=str(target_path))

    return load


def _hw(shape: Sequence[int]) -> str:
    return "x".join(str(s) for s in shape)


def _series_loader(path: Path) -> Callable[[], NDArray[Any]]:
    return lambda: _load(path, mmap=True)


def read(
    path: Path,
    folds: Sequence[int] | None = None,
    satellite: str = "S2",
) -> PanopticDataset:
    """Open a PASTIS / PASTIS-R folder.

    ``folds`` keeps the patches of those official folds (1-5); ``satellite`` picks the
    series a sample's media is (``S2``, or ``S1A`` / ``S1D`` in PASTIS-R).
    """
    root = Path(path)
    if satellite not in SATELLITES:
        raise FormatError(f"unknown satellite {satellite!r}; PASTIS has {', '.join(SATELLITES)}")
    tax = taxonomy()
    meta_path = root / "metadata.geojson"
    if meta_path.is_file():
        rows = load_metadata(meta_path)
    else:
        if folds is not None:
            raise MissingFileError(f"{meta_path} is needed to select folds {list(folds)}")
        stems = sorted((root / "ANNOTATIONS").glob("TARGET_*.npy"))
        rows = [{"ID_PATCH": p.stem[len("TARGET_") :]} for p in stems]
    if folds is not None:
        wanted = {int(f) for f in folds}
        rows = [r for r in rows if r.get("Fold") is not None and int(r["Fold"]) in wanted]
    rows.sort(key=lambda r: (0, int(r["ID_PATCH"])) if str(r["ID_PATCH"]).isdigit() else (1, 0))
    samples: list[Sample] = []
    for row in rows:
        pid = str(row["ID_PATCH"])
        # a patch written from another dataset keeps that sample's key as "name", so a
        # ground truth and a prediction converted apart still pair by key, not by number
        name = row.get("name")
        key = name if isinstance(name, str) and name else pid
        series = root / f"DATA_{satellite}" / f"{satellite}_{pid}.npy"
        has_series = (root / f"DATA_{satellite}").is_dir()
        meta: dict[str, Any] = {
            "id_patch": row["ID_PATCH"],
            "fold": row.get("Fold"),
            "dates": _dates(row.get(f"dates-{satellite}")),
            "properties": {k: v for k, v in row.items() if k != "geometry"},
            "geometry": row.get("geometry"),
        }
        samples.append(
            Sample(
                key=key,
                media=series if has_series else None,
                label_files=(
                    root / "ANNOTATIONS" / f"TARGET_{pid}.npy",
                    root / "INSTANCE_ANNOTATIONS" / f"INSTANCES_{pid}.npy",
                ),
                source_id=row["ID_PATCH"],
                meta=meta,
                label_loader=_label_loader(root, pid, series if has_series else None, tax),
                media_loader=_series_loader(series) if has_series else None,
            )
        )
    return PanopticDataset(
        samples,
        tax,
        format=NAME,
        root=root,
        modality="image-series",
        meta={"satellite": satellite, "folds": None if folds is None else list(folds)},
    )


def read_pair(
    gt_path: Path, pred_path: Path, split: str | None = None, **options: Any
) -> tuple[PanopticDataset, PanopticDataset]:
    """Ground truth and predictions, both in the PASTIS layout (predictions need only
    ``ANNOTATIONS/`` and ``INSTANCE_ANNOTATIONS/``).  ``split`` names folds: ``"5"`` or
    ``"1,2"`` (``panokit eval --split 5``); they select the ground-truth patches."""
    if split is not None:
        try:
            options["folds"] = [int(f) for f in str(split).split(",") if f.strip()]
        except ValueError:
            raise FormatError(
                f"PASTIS has folds 1-5, not named splits; got split {split!r} (use e.g. 5 or 1,2)"
            ) from None
    pred_options = {k: v for k, v in options.items() if k != "folds"}
    return read(Path(gt_path), **options), read(Path(pred_path), **pred_options)


# ------------------------------------------------------------------------------ writing
def _own_patch_id(sample: Sample) -> int | None:
    source = sample.source_id
    if isinstance(source, int):
        return source
    if sample.key.isdigit():
        return int(sample.key)
    return None


def _patch_ids(dataset: PanopticDataset) -> list[int]:
    """ID_PATCH per sample: its own number (a PASTIS id or a numeric key), else numbers after
    the largest of those in sorted key order, so the same keys get the same ids whatever
    order the samples come in (the sample key is kept as the ``name`` property too)."""
    own = [_own_patch_id(s) for s in dataset]
    start = max((p for p in own if p is not None), default=0) + 1
    others = sorted({s.key for s, p in zip(dataset, own, strict=True) if p is None})
    numbers = {key: start + i for i, key in enumerate(others)}
    return [p if p is not None else numbers[s.key] for s, p in zip(dataset, own, strict=True)]


def write(dataset: PanopticDataset, out: Path, satellite: str = "S2") -> None:
    """Write ``metadata.geojson``, ``ANNOTATIONS/``, ``INSTANCE_ANNOTATIONS/`` and, for
    samples whose media is a T x C x H x W series, ``DATA_<satellite>/``."""
    from panokit.formats.bdd100k import check_categories

    tax = taxonomy()
    (out / "ANNOTATIONS").mkdir(parents=True)
    (out / "INSTANCE_ANNOTATIONS").mkdir()
    features: list[dict[str, Any]] = []
    used: set[str] = set()
    patch_ids = _patch_ids(dataset)
    for index, sample in enumerate(dataset):
        label = sample.load_label()
        where = f"sample {sample.key!r}"
        if not isinstance(label, PanopticImage):
            raise FormatError(f"{where}: pastis labels are images; got a {type(label).__name__}")
        label.validate(where=where)
        check_categories(label, tax, where, NAME)
        pid = patch_ids[index]
        if str(pid) in used:
            raise FormatError(f"{where}: two samples would be patch {pid}")
        used.add(str(pid))
        semantic, instance = arrays_from_label(PanopticImage(label.ids, label.segments, tax))
        target = np.zeros((3, *semantic.shape), dtype=np.uint8)
        target[0] = semantic
        np.save(out / "ANNOTATIONS" / f"TARGET_{pid}.npy", target)
        np.save(out / "INSTANCE_ANNOTATIONS" / f"INSTANCES_{pid}.npy", instance)
        meta = sample.meta if isinstance(sample.meta, Mapping) else {}
        props = dict(meta.get("properties") or {})
        props["ID_PATCH"] = pid
        if meta.get("fold") is not None:
            props["Fold"] = meta["fold"]
        if meta.get("dates") and f"dates-{satellite}" not in props:
            props[f"dates-{satellite}"] = {str(i): d for i, d in enumerate(meta["dates"])}
        if str(sample.key) != str(pid):
            props["name"] = sample.key
        features.append({"type": "Feature", "properties": props, "geometry": meta.get("geometry")})
        _write_series(sample, out, satellite, pid, semantic.shape, where)
    document = {"type": "FeatureCollection", "features": features}
    (out / "metadata.geojson").write_text(json.dumps(document))


def _write_series(
    sample: Sample, out: Path, satellite: str, pid: int | str, hw: tuple[int, ...], where: str
) -> None:
    if sample.media_loader is None:
        return
    folder = out / f"DATA_{satellite}"
    target = folder / f"{satellite}_{pid}.npy"
    source = sample.media
    if source is not None and source.suffix == ".npy" and source.is_file():
        shape = _load(source, mmap=True).shape
        if len(shape) == 4 and tuple(shape[-2:]) == hw:
            folder.mkdir(exist_ok=True)
            shutil.copyfile(source, target)
            return
    series = sample.load_media()
    if series.ndim != 4:
        return  # a single image is not a time series: label only
    if tuple(series.shape[-2:]) != hw:
        raise FormatError(
            f"{where}: series has shape {series.shape}, expected T x C x {_hw(hw)} like its label"
        )
    folder.mkdir(exist_ok=True)
    np.save(target, np.asarray(series))
