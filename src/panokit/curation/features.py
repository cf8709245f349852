"""Light per-sample feature vectors: image (or scan) statistics and label composition.

These are the built-in features of ``panokit select --strategy diverse`` and the image
statistics compared by ``panokit shift``.  They are cheap (images are subsampled to at most
128 pixels on the long side) and need numpy only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from panokit.core.label import PanopticLabel, PanopticPointCloud
from panokit.core.sample import Sample
from panokit.core.taxonomy import Taxonomy
from panokit.dataset import PanopticDataset
from panokit.errors import FormatError, PanokitError

IMAGE_FEATURES: tuple[str, ...] = (
    "brightness",
    "contrast",
    "red",
    "green",
    "blue",
    "saturation",
    "edge_density",
    "dark_fraction",
    "bright_fraction",
    "aspect_ratio",
)
"""Names of the columns of :func:`image_features`."""

SCAN_FEATURES: tuple[str, ...] = (
    "log10_points",
    "range_mean",
    "range_std",
    "z_mean",
    "z_std",
    "intensity_mean",
)
"""Names of the columns of :func:`scan_features`."""


def series_frame(series: NDArray[Any]) -> NDArray[np.uint8]:
    """An (H, W, 3) uint8 picture of a (T, C, H, W) image series: the mean over time of
    channels 2, 1, 0 as red, green, blue (Sentinel-2 B4, B3, B2 in PASTIS order; a series
    of fewer channels repeats its first), stretched between the 1st and 99th percentiles."""
    arr = np.asarray(series, dtype=np.float64)
    if arr.ndim != 4 or arr.shape[1] == 0:
        raise FormatError(f"an image series must be (T, C, H, W), got shape {arr.shape}")
    channels = [2, 1, 0] if arr.shape[1] >= 3 else [0, 0, 0]
    frame = np.moveaxis(arr[:, channels].mean(axis=0), 0, -1)
    low, high = np.percentile(frame, [1, 99])
    span = high - low if high > low else 1.0
    return np.asarray((np.clip((frame - low) / span, 0, 1) * 255).round(), dtype=np.uint8)


def _subsample(image: NDArray[Any], longest: int = 128) -> NDArray[Any]:
    step = max(1, int(np.ceil(max(image.shape[0], image.shape[1]) / longest)))
    return image[::step, ::step]


def image_features(image: NDArray[Any]) -> NDArray[np.float64]:
    """The :data:`IMAGE_FEATURES` of an (H, W) or (H, W, C) image (values in [0, 1] except
    the aspect ratio, width / height)."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise FormatError(f"image features need an (H, W) or (H, W, C) image, got {arr.shape}")
    height, width = arr.shape[:2]
    small = _subsample(arr)
    scale = 255.0 if small.dtype == np.uint8 or float(small.max(initial=0)) > 1.0 else 1.0
    if small.dtype == np.uint16:
        scale = 65535.0
    rgb = small[:, :, :3].astype(np.float64) / scale
    if rgb.shape[2] < 3:
        rgb = np.repeat(rgb[:, :, :1], 3, axis=2)
    gray = rgb @ np.array([0.299, 0.587, 0.114])
    high = rgb.max(axis=2)
    low = rgb.min(axis=2)
    saturation = np.where(high > 0, (high - low) / np.maximum(high, 1e-12), 0.0)
    gy = np.abs(np.diff(gray, axis=0))
    gx = np.abs(np.diff(gray, axis=1))
    edges = (float((gx > 0.1).mean()) if gx.size else 0.0) + (
        float((gy > 0.1).mean()) if gy.size else 0.0
    )
    return np.array(
        [
            gray.mean(),
            gray.std(),
            rgb[:, :, 0].mean(),
            rgb[:, :, 1].mean(),
            rgb[:, :, 2].mean(),
            saturation.mean(),
            edges / 2,
            (gray < 0.15).mean(),
            (gray > 0.85).mean(),
            width / height,
        ],
        dtype=np.float64,
    )


def scan_features(label: PanopticPointCloud) -> NDArray[np.float64]:
    """The :data:`SCAN_FEATURES` of a point cloud with points (x, y, z[, intensity])."""
    n = int(label.ids.shape[0])
    out = np.zeros(len(SCAN_FEATURES))
    out[0] = np.log10(max(n, 1))
    points = label.points
    if points is None or n == 0:
        return out
    xyz = _xyz(label)
    rng = np.linalg.norm(xyz, axis=1)
    out[1:5] = [rng.mean(), rng.std(), xyz[:, 2].mean(), xyz[:, 2].std()]
    channels = [c.lower() for c in label.channels]
    for name in ("intensity", "remission", "reflectance"):
        if name in channels:
            out[5] = float(points[:, channels.index(name)].mean())
            break
    return out


def _xyz(label: PanopticPointCloud) -> NDArray[np.float64]:
    """The x, y, z columns (named, else the first three)."""
    if label.points is None:
        raise PanokitError("this point cloud label carries no points")
    channels = [c.lower() for c in label.channels]
    if all(c in channels for c in ("x", "y", "z")):
        cols = [channels.index(c) for c in ("x", "y", "z")]
    elif label.points.shape[1] >= 3:
        cols = [0, 1, 2]
    else:
        raise PanokitError(f"points have {label.points.shape[1]} columns; x, y, z are needed")
    return np.asarray(label.points[:, cols], dtype=np.float64)


def composition(label: PanopticLabel, taxonomy: Taxonomy) -> NDArray[np.float64]:
    """Share of the label's elements per category of ``taxonomy`` (taxonomy order)."""
    from panokit.curation.stats import segment_areas

    out = np.zeros(len(taxonomy))
    if not label.segments or label.ids.size == 0:
        return out
    position = {c.id: i for i, c in enumerate(taxonomy)}
    seg_ids = np.array(sorted(label.segments), dtype=np.int64)
    areas, _ = segment_areas(label.ids, seg_ids)
    for seg_id, area in zip(seg_ids.tolist(), areas.tolist(), strict=True):
        pos = position.get(label.segments[seg_id].category_id)
        if pos is not None:
            out[pos] += area
    return out / label.ids.size


@dataclass
class FeatureTable:
    """Per-sample feature vectors: ``values[i]`` belongs to ``keys[i]``."""

    keys: list[str]
    values: NDArray[np.float64]
    names: list[str]

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape[0] != len(self.keys):
            raise FormatError(
                f"{len(self.keys)} keys but a feature array of shape {self.values.shape}"
            )

    def columns(self, prefix: str) -> NDArray[np.float64]:
        """The columns whose name starts with ``prefix``."""
        sel = [i for i, n in enumerate(self.names) if n.startswith(prefix)]
        return self.values[:, sel]

    def standardized(self) -> NDArray[np.float64]:
        """Columns scaled to zero mean and unit variance (constant columns become 0)."""
        centred = self.values - self.values.mean(axis=0)
        std = self.values.std(axis=0)
        return np.asarray(np.where(std > 0, centred / np.where(std > 0, std, 1.0), 0.0))


def sample_media_features(
    sample: Sample, label: PanopticLabel | None
) -> NDArray[np.float64] | None:
    """Image statistics of a sample's media (or scan statistics of a point cloud label);
    None when the sample has no media to read."""
    if isinstance(label, PanopticPointCloud):
        if label.points is None and sample.media_loader is not None:
            points = np.asarray(sample.load_media())
            if points.ndim == 2 and points.shape[0] == label.ids.shape[0]:
                label = PanopticPointCloud(label.ids, label.segments, label.taxonomy, points)
        return scan_features(label)
    if sample.media_loader is None:
        return None
    media = np.asarray(sample.load_media())
    if media.ndim == 4:  # a time series (T, C, H, W)
        media = series_frame(media)
    return image_features(media)


_Row = tuple["NDArray[np.float64] | None", "NDArray[np.float64] | None", bool]
_WORKER: dict[str, Any] = {}


def _sample_rows(sample: Sample, media: bool, labels: bool, taxonomy: Taxonomy) -> _Row:
    """(media features or None, composition or None, whether the label is a scan)."""
    label = sample.load_label() if sample.has_label and (labels or media) else None
    media_row = sample_media_features(sample, label) if media else None
    comp_row = None
    if labels:
        comp_row = (
            np.sqrt(composition(label, taxonomy)) if label is not None else np.zeros(len(taxonomy))
        )
    return media_row, comp_row, isinstance(label, PanopticPointCloud)


def _init_worker(dataset: PanopticDataset, media: bool, labels: bool) -> None:
    _WORKER.update(dataset=dataset, media=media, labels=labels)


def _rows_of_range(bounds: tuple[int, int]) -> list[_Row]:
    dataset: PanopticDataset = _WORKER["dataset"]
    return [
        _sample_rows(dataset[i], _WORKER["media"], _WORKER["labels"], dataset.taxonomy)
        for i in range(*bounds)
    ]


def _all_rows(
    dataset: PanopticDataset,
    media: bool,
    labels: bool,
    progress: Callable[[int], None] | None,
    workers: int,
) -> list[_Row]:
    total = len(dataset)
    if workers <= 0:
        workers = os.cpu_count() or 1
    workers = max(1, min(workers, total))
    rows: list[_Row] = []
    if workers == 1:
        for sample in dataset:
            rows.append(_sample_rows(sample, media, labels, dataset.taxonomy))
            if progress is not None:
                progress(1)
        return rows
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    size = max(1, min(64, total // (workers * 4)))
    ranges = [(i, min(i + size, total)) for i in range(0, total, size)]
    with context.Pool(workers, initializer=_init_worker, initargs=(dataset, media, labels)) as pool:
        for part in pool.imap(_rows_of_range, ranges):  # in order
            rows.extend(part)
            if progress is not None:
                progress(len(part))
    return rows


def dataset_features(
    dataset: PanopticDataset,
    media: bool = True,
    labels: bool = True,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> FeatureTable:
    """Built-in features of every sample: media statistics (``media``) then the category
    composition of the label (``labels``; the square root of each share).

    Samples without media get the mean media features of the others; samples without a
    label get an all-zero composition.  Only the small per-sample rows are kept; ``workers``
    > 1 spreads the samples over processes (forked; 0 uses every core).
    """
    taxonomy = dataset.taxonomy
    rows = _all_rows(dataset, media, labels, progress, workers)
    media_rows = [r[0] for r in rows]
    comp_rows = [r[1] for r in rows if r[1] is not None]
    media_names: list[str] = []
    first = next((r for r in rows if r[0] is not None), None)
    if media and first is not None:
        media_names = list(SCAN_FEATURES if first[2] else IMAGE_FEATURES)
    blocks: list[NDArray[np.float64]] = []
    names: list[str] = []
    present = [r for r in media_rows if r is not None]
    if present:
        fill = np.mean(present, axis=0)
        blocks.append(np.stack([fill if r is None else r for r in media_rows]))
        names.extend(f"media.{n}" for n in media_names)
    if labels:
        blocks.append(np.stack(comp_rows) if comp_rows else np.zeros((0, len(taxonomy))))
        names.extend(f"label.{c.name}" for c in taxonomy)
    values = np.concatenate(blocks, axis=1) if blocks else np.zeros((len(dataset), 0))
    return FeatureTable(dataset.keys(), values, names)


def load_features(path: Path, dataset: PanopticDataset) -> FeatureTable:
    """User-provided vectors aligned to ``dataset``'s keys.

    ``.npz`` with arrays ``keys`` (strings) and ``features`` (N, D): rows are matched by key
    (every dataset key must be present).  ``.npy`` of shape (len(dataset), D): rows in
    dataset order.
    """
    path = Path(path)
    if not path.is_file():
        from panokit.errors import MissingFileError

        raise MissingFileError(f"feature file not found: {path}")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise FormatError(f"{path}: cannot read as .npy/.npz ({exc})") from None
    keys = dataset.keys()
    if isinstance(loaded, np.ndarray):
        values = np.asarray(loaded, dtype=np.float64)
        if values.ndim != 2 or values.shape[0] != len(keys):
            raise FormatError(
                f"{path}: expected an array of shape ({len(keys)}, D) (one row per sample in "
                f"dataset order), found {values.shape}"
            )
        return FeatureTable(keys, values, [f"f{i}" for i in range(values.shape[1])])
    with loaded:
        if "keys" not in loaded or "features" not in loaded:
            raise FormatError(
                f"{path}: an .npz of features needs arrays 'keys' and 'features', found "
                f"{sorted(loaded.files)}"
            )
        file_keys = [str(k) for k in loaded["keys"].tolist()]
        values = np.asarray(loaded["features"], dtype=np.float64)
    if values.ndim != 2 or values.shape[0] != len(file_keys):
        raise FormatError(f"{path}: {len(file_keys)} keys but 'features' has shape {values.shape}")
    row = {k: i for i, k in enumerate(file_keys)}
    missing = [k for k in keys if k not in row]
    if missing:
        raise FormatError(
            f"{path}: {len(missing)} dataset samples have no feature vector, e.g. {missing[:3]}"
        )
    order = np.array([row[k] for k in keys], dtype=np.int64)
    return FeatureTable(keys, values[order], [f"f{i}" for i in range(values.shape[1])])


def presence_matrix(
    dataset: PanopticDataset, progress: Callable[[int], None] | None = None
) -> NDArray[np.bool_]:
    """(N, K) whether each category of the taxonomy occurs in each sample's label (samples
    without a label have no category)."""
    taxonomy = dataset.taxonomy
    out = np.zeros((len(dataset), len(taxonomy)), dtype=bool)
    for i, sample in enumerate(dataset):
        if sample.has_label:
            out[i] = composition(sample.load_label(), taxonomy) > 0
        if progress is not None:
            progress(1)
    return out
