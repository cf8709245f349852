"""Where evaluation pairs come from: label pairs of two datasets, or (the fast path)
COCO panoptic PNGs decoded once each into RGB bytes that the histogram reads directly.

A *task* is a picklable list of pairs with ``accumulate(acc, i)``; worker processes each
get the task once and are handed index ranges.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from panokit._fastpng import decode_rgb
from panokit.core.taxonomy import Taxonomy
from panokit.dataset import PanopticDataset
from panokit.errors import FormatError, MissingFileError
from panokit.eval.accumulator import PQAccumulator
from panokit.eval.histogram import SegmentTable

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _spng() -> Any:
    import importlib

    try:
        return importlib.import_module("pyspng")
    except ImportError:
        return None


def decode_png_rgb(path: Path, use_spng: bool | None = None) -> NDArray[np.uint8]:
    """Decode a PNG into a contiguous (H, W, 3) uint8 RGB array (alpha dropped, as
    panopticapi ignores it).

    Uses libdeflate and the compiled ``panokit._speedups`` for 8-bit gray/RGB(A) files when
    both are there, else libspng (``pyspng``, the ``fast`` extra) for 8-bit RGB(A) files when
    installed, Pillow otherwise (``use_spng`` forces the choice).
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise MissingFileError(f"panoptic PNG not found: {path}") from None
    except IsADirectoryError:
        raise MissingFileError(f"panoptic PNG not found: {path} is a folder") from None
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise FormatError(f"{path}: not a PNG file")
    depth, color_type = data[24], data[25]
    if use_spng is None:  # libdeflate + panokit._speedups when both are there
        fast = decode_rgb(data, path)
        if fast is not None:
            return fast
    spng = _spng() if use_spng is not False else None
    if use_spng and spng is None:
        raise MissingFileError("pyspng is not installed (pip install 'panokit[fast]')")
    rgb: NDArray[np.uint8]
    if spng is not None and depth == 8 and color_type in (2, 6):
        try:
            rgb = spng.load(data, format="RGB")
        except Exception as exc:  # libspng reports corrupt data with a generic error
            raise FormatError(f"{path}: cannot decode PNG ({exc})") from None
    else:
        rgb = _pillow_rgb(data, path)
    return np.ascontiguousarray(rgb)


def _pillow_rgb(data: bytes, path: Path) -> NDArray[np.uint8]:
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            rgb = image if image.mode == "RGB" else image.convert("RGB")
            return np.asarray(rgb)
    except OSError as exc:
        raise FormatError(f"{path}: cannot decode PNG ({exc})") from None


@dataclass(frozen=True)
class CocoPair:
    """One image of a COCO panoptic evaluation: both PNGs and both ``segments_info``."""

    key: str
    gt_png: Path
    gt_info: Sequence[Mapping[str, Any]] | NDArray[np.int64]
    gt_where: str
    pred_png: Path
    pred_info: Sequence[Mapping[str, Any]] | NDArray[np.int64]
    pred_where: str


def table_from_info(
    segments_info: Sequence[Mapping[str, Any]] | NDArray[np.int64],
    where: str,
    taxonomy: Taxonomy,
    known: frozenset[int] | None = None,
) -> SegmentTable:
    """The :class:`SegmentTable` of a ``segments_info`` list (or of its compact form, rows
    of id, category_id, iscrowd, area or -1, see :func:`load_compact_json`), checked as the
    coco-panoptic reader checks it (any problem is raised with the reader's message)."""
    known = frozenset(taxonomy.ids) if known is None else known
    rows = segments_info if isinstance(segments_info, np.ndarray) else _rows(segments_info)
    if rows is not None:
        ids, cats, area = rows[:, 0], rows[:, 1], rows[:, 3]
        valid = (
            bool((ids > 0).all())
            and len(np.unique(ids)) == len(ids)
            and all(c in known for c in cats.tolist())
        )
        if valid:
            order = np.argsort(ids, kind="stable")
            return SegmentTable(
                ids[order], cats[order], rows[order, 2] != 0, area[order], order.astype(np.int64)
            )
    # let the reader name the problem
    from panokit.formats.coco_panoptic import segments_from_info

    listed = _as_dicts(segments_info) if isinstance(segments_info, np.ndarray) else segments_info
    segments = segments_from_info(list(listed), where, taxonomy)
    return SegmentTable.from_segments(segments)  # pragma: no cover - the reader raised


def _rows(segments_info: Sequence[Mapping[str, Any]]) -> NDArray[np.int64] | None:
    try:
        return np.array([_segment_row(info) for info in segments_info], dtype=np.int64).reshape(
            -1, 4
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _segment_row(info: Mapping[str, Any]) -> tuple[int, int, int, int]:
    area = info.get("area")
    return (
        int(info["id"]),
        int(info["category_id"]),
        int(bool(info.get("iscrowd", 0))),
        -1 if area is None else int(area),
    )


def _as_dicts(rows: NDArray[np.int64]) -> list[dict[str, int]]:
    out = []
    for seg_id, cat, crowd, area in rows.tolist():
        entry = {"id": seg_id, "category_id": cat, "iscrowd": crowd}
        if area >= 0:
            entry["area"] = area
        out.append(entry)
    return out


def _compact_hook(obj: dict[str, Any]) -> Any:
    """``json`` object hook: segments become 4-tuples, a ``segments_info`` of tuples one
    (k, 4) int64 array, so a parsed JSON of N images holds N small arrays, not 20 N dicts."""
    if "category_id" in obj and "id" in obj:
        try:
            return _segment_row(obj)
        except (TypeError, ValueError):
            return obj  # left for the reader's message
    info = obj.get("segments_info")
    if isinstance(info, list) and all(type(x) is tuple for x in info):
        obj["segments_info"] = np.array(info, dtype=np.int64).reshape(-1, 4)
    return obj


def load_compact_json(path: Path) -> dict[str, Any]:
    """A COCO panoptic JSON with compact ``segments_info`` (see :func:`_compact_hook`);
    the same errors as :func:`panokit.formats.coco_panoptic.load_json`."""
    import json

    try:
        raw = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise MissingFileError(f"COCO panoptic JSON not found: {path}") from None
    try:
        data = json.loads(raw, object_hook=_compact_hook)
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        from panokit.formats.coco_panoptic import load_json

        return load_json(path)  # raises with the reader's message
    return data


class CocoTask:
    """COCO panoptic pairs evaluated from their files (the fast path)."""

    def __init__(self, pairs: Sequence[CocoPair], taxonomy: Taxonomy) -> None:
        self.pairs = list(pairs)
        self.taxonomy = taxonomy
        self.known_ids = frozenset(taxonomy.ids)

    def __len__(self) -> int:
        return len(self.pairs)

    def tables(self, i: int) -> tuple[SegmentTable, SegmentTable]:
        """The segment tables of pair ``i`` (categories checked against the taxonomy)."""
        pair = self.pairs[i]
        known = self.known_ids
        return (
            table_from_info(pair.gt_info, pair.gt_where, self.taxonomy, known),
            table_from_info(pair.pred_info, pair.pred_where, self.taxonomy, known),
        )

    def accumulate(self, acc: PQAccumulator, i: int) -> None:
        """Decode pair ``i`` and add it to ``acc``."""
        pair = self.pairs[i]
        gt_table, pred_table = self.tables(i)
        acc.update_rgb24(
            decode_png_rgb(pair.gt_png),
            gt_table,
            decode_png_rgb(pair.pred_png),
            pred_table,
            gt_where=pair.gt_where,
            pred_where=pair.pred_where,
        )


def coco_json_task(
    gt_json: str | PathLike[str],
    pred_json: str | PathLike[str],
    gt_dir: str | PathLike[str] | None = None,
    pred_dir: str | PathLike[str] | None = None,
) -> tuple[CocoTask, list[str], list[str], str]:
    """The fast task of two COCO panoptic JSON files, each parsed once: returns the task,
    the ground-truth image ids without prediction, the predicted image ids absent from
    the ground truth, and the prediction's path (for messages)."""
    from panokit.formats.coco_panoptic import find_json, iter_annotations, taxonomy_from_json

    gt_path, pred_path = find_json(Path(gt_json)), find_json(Path(pred_json))
    pred_data = load_compact_json(pred_path)
    predictions: dict[str, tuple[Any, str, Any]] = {}
    for image_id, file_name, info in iter_annotations(pred_data, pred_path):
        predictions[str(image_id)] = (image_id, file_name, info)
    del pred_data
    gt_data = load_compact_json(gt_path)
    taxonomy = taxonomy_from_json(gt_data, gt_path)
    if taxonomy is None:
        raise FormatError(f"{gt_path}: the ground truth has no 'categories'")
    gt_pngs = Path(gt_dir) if gt_dir is not None else gt_path.with_suffix("")
    pred_pngs = Path(pred_dir) if pred_dir is not None else pred_path.with_suffix("")
    pairs: list[CocoPair] = []
    missing: list[str] = []
    for image_id, file_name, info in iter_annotations(gt_data, gt_path):
        found = predictions.pop(str(image_id), None)
        if found is None:
            missing.append(str(image_id))
            continue
        _, pred_file, pred_info = found
        pairs.append(
            CocoPair(
                key=str(image_id),
                gt_png=gt_pngs / file_name,
                gt_info=info,
                gt_where=f"{gt_path.name}, image {image_id!r} ({gt_pngs / file_name})",
                pred_png=pred_pngs / pred_file,
                pred_info=pred_info,
                pred_where=f"{pred_path.name}, image {image_id!r} ({pred_pngs / pred_file})",
            )
        )
    return CocoTask(pairs, taxonomy), missing, list(predictions), str(pred_path)


class DatasetTask:
    """Pairs of samples of two datasets, loaded through their label loaders."""

    def __init__(
        self, gt: PanopticDataset, pred: PanopticDataset, pairs: Sequence[tuple[int, int]]
    ) -> None:
        self.gt = gt
        self.pred = pred
        self.pairs = list(pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    @staticmethod
    def _where(dataset: PanopticDataset, index: int, role: str) -> str:
        sample = dataset[index]
        files = ", ".join(str(f) for f in sample.label_files)
        return f"{role} sample {sample.key!r}" + (f" ({files})" if files else "")

    def accumulate(self, acc: PQAccumulator, i: int) -> None:
        """Load pair ``i`` and add it to ``acc``."""
        gi, pi = self.pairs[i]
        gt = self.gt[gi].load_label()
        pred = self.pred[pi].load_label()
        acc.update(
            gt,
            pred,
            gt_where=self._where(self.gt, gi, "ground-truth"),
            pred_where=self._where(self.pred, pi, "predicted"),
        )


def _is_plain_coco(dataset: PanopticDataset) -> bool:
    """Whether every sample still loads through the coco-panoptic reader (no map_labels)."""
    if (
        dataset.format != "coco-panoptic"
        or dataset.root is None
        or not Path(dataset.root).is_file()
    ):
        return False
    for sample in dataset:
        loader = sample.label_loader
        if (
            loader is None
            or getattr(loader, "__module__", "") != "panokit.formats.coco_panoptic"
            or not sample.label_files
        ):
            return False
    return True


def coco_task(
    gt: PanopticDataset, pred: PanopticDataset, pairs: Sequence[tuple[int, int]], taxonomy: Taxonomy
) -> CocoTask | None:
    """The fast task for two unmodified coco-panoptic datasets, else None."""
    if not (_is_plain_coco(gt) and _is_plain_coco(pred)):
        return None
    from panokit.formats.coco_panoptic import load_json

    infos = []
    for dataset in (gt, pred):
        json_path = Path(dataset.root or "")
        data = load_json(json_path)
        by_key = {str(a.get("image_id")): a for a in data["annotations"] if isinstance(a, dict)}
        infos.append((json_path, by_key))
    out = []
    for gi, pi in pairs:
        gs, ps = gt[gi], pred[pi]
        (gjson, gby), (pjson, pby) = infos
        gann, pann = gby[gs.key], pby[ps.key]
        out.append(
            CocoPair(
                key=gs.key,
                gt_png=gs.label_files[0],
                gt_info=gann["segments_info"],
                gt_where=f"{gjson.name}, image {gs.source_id!r} ({gs.label_files[0]})",
                pred_png=ps.label_files[0],
                pred_info=pann["segments_info"],
                pred_where=f"{pjson.name}, image {ps.source_id!r} ({ps.label_files[0]})",
            )
        )
    return CocoTask(out, taxonomy)


__all__ = [
    "CocoPair",
    "CocoTask",
    "DatasetTask",
    "coco_json_task",
    "coco_task",
    "decode_png_rgb",
    "load_compact_json",
    "table_from_info",
]
