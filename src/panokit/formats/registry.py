"""The lazy registry of dataset formats.

Formats are declared as data (:class:`FormatSpec`); a format's module is imported only when
it is used.  A format module provides::

    def sniff(path: Path) -> bool            # is this folder/file in my format?
    def read(path: Path, **options) -> PanopticDataset
    def write(dataset: PanopticDataset, out: Path, **options) -> None   # out is a fresh dir

``write`` is always called on a new, empty directory: :func:`panokit.io.write` creates it
next to the destination and renames it into place only when the writer succeeded.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from panokit.errors import FormatError, FormatNotImplementedError, UnknownFormatError


@dataclass(frozen=True)
class FormatSpec:
    """One dataset format: its name, modality and the module that implements it."""

    name: str
    modality: str
    module: str
    description: str
    implemented: bool = True
    extras: tuple[str, ...] = ()
    can_write: bool = True

    def load(self) -> ModuleType:
        """Import the implementing module (raises if the format is only planned)."""
        if not self.implemented:
            raise FormatNotImplementedError(
                f"format {self.name!r} is planned but not implemented yet"
            )
        return importlib.import_module(self.module)


FORMATS: dict[str, FormatSpec] = {
    spec.name: spec
    for spec in (
        FormatSpec(
            "coco-panoptic",
            "image",
            "panokit.formats.coco_panoptic",
            "COCO panoptic: one JSON (images, annotations, categories) + a folder of RGB24 PNGs",
        ),
        FormatSpec(
            "cityscapes",
            "image",
            "panokit.formats.cityscapes",
            "Cityscapes gtFine (*_instanceIds.png, *_labelIds.png) and its panoptic JSON + PNG",
        ),
        FormatSpec(
            "bdd100k",
            "image",
            "panokit.formats.bdd100k",
            "BDD100K panoptic bitmasks (RGBA) and Scalabel JSON with RLE masks",
        ),
        FormatSpec(
            "mapillary-vistas",
            "image",
            "panokit.formats.mapillary_vistas",
            "Mapillary Vistas v1.2 / v2.0 panoptic PNG + JSON, instances and labels PNGs",
        ),
        FormatSpec(
            "pastis",
            "image-series",
            "panokit.formats.pastis",
            "PASTIS / PASTIS-R satellite time series with parcel instances",
        ),
        FormatSpec(
            "semantic-kitti",
            "pointcloud",
            "panokit.formats.semantic_kitti",
            "SemanticKITTI sequences/NN/{velodyne,labels} with uint32 labels",
        ),
        FormatSpec(
            "nuscenes",
            "pointcloud",
            "panokit.formats.nuscenes",
            "nuScenes-lidarseg / Panoptic nuScenes via the JSON tables",
        ),
        FormatSpec(
            "scannet",
            "pointcloud",
            "panokit.formats.scannet",
            "ScanNet v2 scans: mesh vertices, over-segmentation and aggregation",
        ),
    )
}


def get_format(name: str) -> FormatSpec:
    """The spec of a format by name; a wrong name lists the valid ones and the closest."""
    spec = FORMATS.get(name)
    if spec is None:
        close = difflib.get_close_matches(name, list(FORMATS), n=1, cutoff=0.5)
        normalized = name.replace("_", "-").lower()
        if not close and normalized in FORMATS:
            close = [normalized]
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UnknownFormatError(
            f"unknown format {name!r}{hint} (valid formats: {', '.join(FORMATS)})"
        )
    return spec


def detect_format(path: Path) -> FormatSpec:
    """The implemented format whose ``sniff`` accepts ``path``."""
    path = Path(path)
    if not path.exists():
        raise FormatError(f"cannot detect the format of {path}: it does not exist")
    for spec in FORMATS.values():
        if not spec.implemented:
            continue
        module = spec.load()
        if module.sniff(path):
            return spec
    implemented = [n for n, s in FORMATS.items() if s.implemented]
    raise FormatError(
        f"cannot detect the format of {path}; pass format= one of {', '.join(implemented)}"
    )
