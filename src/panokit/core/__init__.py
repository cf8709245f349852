"""The panoptic data model: numpy only, imports no other panokit package (but errors)."""

from panokit.core.codecs import BDD100K_RGBA, CODECS, DIVISOR_256, DIVISOR_1000, RGB24, SPLIT_16
from panokit.core.label import (
    VOID,
    PanopticImage,
    PanopticLabel,
    PanopticPointCloud,
    Segment,
)
from panokit.core.sample import Sample
from panokit.core.taxonomy import Category, LabelMap, Taxonomy

__all__ = [
    "BDD100K_RGBA",
    "CODECS",
    "DIVISOR_256",
    "DIVISOR_1000",
    "RGB24",
    "SPLIT_16",
    "VOID",
    "Category",
    "LabelMap",
    "PanopticImage",
    "PanopticLabel",
    "PanopticPointCloud",
    "Sample",
    "Segment",
    "Taxonomy",
]
