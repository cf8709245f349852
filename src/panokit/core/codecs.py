"""Named encodings of panoptic ids in dataset files.

No reader packs or unpacks ids inline; each uses one of these codecs, and each codec is
round-trip tested.

- :data:`RGB24`: COCO panoptic and Mapillary Vistas PNGs, id = R + 256 G + 65536 B.
- :data:`DIVISOR_1000`: Cityscapes, nuScenes, ScanNet, value = category * 1000 + instance.
- :data:`DIVISOR_256`: Mapillary Vistas ``instances/`` PNGs, value = label * 256 + instance.
- :data:`SPLIT_16`: SemanticKITTI ``.label``, value = semantic | instance << 16 (uint32).
- :data:`BDD100K_RGBA`: BDD100K bitmasks, R = category, G = attribute bits,
  annotation id = B << 8 | A.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from panokit.errors import FormatError


@dataclass(frozen=True)
class Rgb24Codec:
    """Segment id <-> 8-bit RGB triple: id = R + 256*G + 65536*B."""

    name: str = "rgb24"
    max_id: int = (1 << 24) - 1

    def encode(self, ids: NDArray[Any]) -> NDArray[np.uint8]:
        """(…,) ids -> (…, 3) uint8 RGB."""
        ids = np.asarray(ids)
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) > self.max_id):
            raise FormatError(
                f"RGB24 can hold ids 0..{self.max_id}, found {int(ids.min())}..{int(ids.max())}"
            )
        value = ids.astype(np.uint32, copy=False)
        out = np.empty((*ids.shape, 3), dtype=np.uint8)
        out[..., 0] = value & 0xFF
        out[..., 1] = (value >> 8) & 0xFF
        out[..., 2] = (value >> 16) & 0xFF
        return out

    def decode(self, rgb: NDArray[Any]) -> NDArray[np.uint32]:
        """(…, 3) uint8 RGB -> (…,) uint32 ids (computed in 32 bits: no uint8 overflow)."""
        rgb = np.asarray(rgb)
        if rgb.ndim < 1 or rgb.shape[-1] < 3:
            raise FormatError(f"RGB24 decoding needs (..., 3) channels, got shape {rgb.shape}")
        # One strided copy into RGBX and a little-endian uint32 view: about half the cost
        # of widening and shifting each channel.
        rgbx = np.zeros((*rgb.shape[:-1], 4), dtype=np.uint8)
        rgbx[..., :3] = rgb[..., :3]
        ids: NDArray[np.uint32] = rgbx.view("<u4")[..., 0].astype(np.uint32, copy=False)
        return ids


@dataclass(frozen=True)
class DivisorCodec:
    """(category, instance) <-> category * divisor + instance."""

    divisor: int
    name: str

    def encode(self, category: NDArray[Any], instance: NDArray[Any]) -> NDArray[np.int64]:
        """Pack category and instance; instances must be in [0, divisor)."""
        category = np.asarray(category, dtype=np.int64)
        instance = np.asarray(instance, dtype=np.int64)
        if instance.size and (int(instance.min()) < 0 or int(instance.max()) >= self.divisor):
            raise FormatError(
                f"{self.name}: instance ids must be in 0..{self.divisor - 1}, found "
                f"{int(instance.min())}..{int(instance.max())}"
            )
        if category.size and int(category.min()) < 0:
            raise FormatError(f"{self.name}: negative category id {int(category.min())}")
        packed: NDArray[np.int64] = category * self.divisor + instance
        return packed

    def decode(self, value: NDArray[Any]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Unpack into (category, instance)."""
        value = np.asarray(value).astype(np.int64, copy=False)
        return value // self.divisor, value % self.divisor


@dataclass(frozen=True)
class Split16Codec:
    """(semantic, instance) <-> semantic | instance << 16 in uint32 (SemanticKITTI)."""

    name: str = "split16"

    def encode(self, semantic: NDArray[Any], instance: NDArray[Any]) -> NDArray[np.uint32]:
        """Pack; both halves must fit in 16 bits."""
        semantic = np.asarray(semantic).astype(np.int64, copy=False)
        instance = np.asarray(instance).astype(np.int64, copy=False)
        for what, arr in (("semantic", semantic), ("instance", instance)):
            if arr.size and (int(arr.min()) < 0 or int(arr.max()) > 0xFFFF):
                raise FormatError(
                    f"split16: {what} ids must be in 0..65535, found "
                    f"{int(arr.min())}..{int(arr.max())}"
                )
        return (semantic.astype(np.uint32) | (instance.astype(np.uint32) << 16)).astype(np.uint32)

    def decode(self, value: NDArray[Any]) -> tuple[NDArray[np.uint32], NDArray[np.uint32]]:
        """Unpack into (semantic, instance)."""
        value = np.asarray(value).astype(np.uint32, copy=False)
        return value & np.uint32(0xFFFF), value >> np.uint32(16)


class BddFields(NamedTuple):
    """The fields of a BDD100K RGBA bitmask."""

    category: NDArray[np.uint8]
    truncated: NDArray[np.bool_]
    occluded: NDArray[np.bool_]
    crowd: NDArray[np.bool_]
    ignore: NDArray[np.bool_]
    annotation: NDArray[np.uint16]


@dataclass(frozen=True)
class BddRgbaCodec:
    """BDD100K bitmask: R = category, G = truncated<<3 | occluded<<2 | crowd<<1 | ignore,
    annotation id = B << 8 | A."""

    name: str = "bdd100k-rgba"

    def encode(
        self,
        category: NDArray[Any],
        annotation: NDArray[Any],
        truncated: NDArray[Any] | None = None,
        occluded: NDArray[Any] | None = None,
        crowd: NDArray[Any] | None = None,
        ignore: NDArray[Any] | None = None,
    ) -> NDArray[np.uint8]:
        """Pack per-pixel fields into (…, 4) uint8 RGBA."""
        category = np.asarray(category).astype(np.int64, copy=False)
        annotation = np.asarray(annotation).astype(np.int64, copy=False)
        if category.size and (int(category.min()) < 0 or int(category.max()) > 255):
            raise FormatError(
                f"bdd100k-rgba: category ids must be in 0..255, found {int(category.max())}"
            )
        if annotation.size and (int(annotation.min()) < 0 or int(annotation.max()) > 0xFFFF):
            raise FormatError(
                f"bdd100k-rgba: annotation ids must be in 0..65535, found {int(annotation.max())}"
            )
        zero = np.zeros(category.shape, dtype=np.uint8)

        def bit(flag: NDArray[Any] | None, shift: int) -> NDArray[np.uint8]:
            if flag is None:
                return zero
            return ((np.asarray(flag).astype(np.uint8) & 1) << shift).astype(np.uint8)

        out = np.empty((*category.shape, 4), dtype=np.uint8)
        out[..., 0] = category
        out[..., 1] = bit(truncated, 3) | bit(occluded, 2) | bit(crowd, 1) | bit(ignore, 0)
        out[..., 2] = (annotation >> 8).astype(np.uint8)
        out[..., 3] = (annotation & 0xFF).astype(np.uint8)
        return out

    def decode(self, rgba: NDArray[Any]) -> BddFields:
        """Unpack (…, 4) uint8 RGBA into its fields."""
        rgba = np.asarray(rgba)
        if rgba.ndim < 1 or rgba.shape[-1] != 4:
            raise FormatError(
                f"bdd100k-rgba decoding needs (..., 4) channels, got shape {rgba.shape}"
            )
        g = rgba[..., 1]
        return BddFields(
            category=rgba[..., 0].astype(np.uint8),
            truncated=(g >> 3 & 1).astype(bool),
            occluded=(g >> 2 & 1).astype(bool),
            crowd=(g >> 1 & 1).astype(bool),
            ignore=(g & 1).astype(bool),
            annotation=((rgba[..., 2].astype(np.uint16) << 8) | rgba[..., 3]).astype(np.uint16),
        )


RGB24 = Rgb24Codec()
DIVISOR_1000 = DivisorCodec(1000, "divisor1000")
DIVISOR_256 = DivisorCodec(256, "divisor256")
SPLIT_16 = Split16Codec()
BDD100K_RGBA = BddRgbaCodec()

CODECS: dict[str, object] = {
    c.name: c for c in (RGB24, DIVISOR_1000, DIVISOR_256, SPLIT_16, BDD100K_RGBA)
}
"""Every codec by name."""
