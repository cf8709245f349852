"""panokit: panoptic segmentation data for 2D images and 3D point clouds.

Read, write and convert the public panoptic datasets through one data model, and evaluate
predictions with the official numbers::

    import panokit
    gt = panokit.read("annotations/panoptic_val2017.json")
    pred = panokit.read("predictions/panoptic_val2017.json")
    result = panokit.evaluate(gt, pred, protocol="coco")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from panokit.core import (
    Category,
    LabelMap,
    PanopticImage,
    PanopticLabel,
    PanopticPointCloud,
    Sample,
    Segment,
    Taxonomy,
)
from panokit.dataset import PanopticDataset
from panokit.errors import PanokitError
from panokit.io import read, write

if TYPE_CHECKING:
    from panokit.eval.results import PQResult

__version__ = "0.1.0"


def evaluate(
    gt: PanopticDataset, pred: PanopticDataset, protocol: str = "coco", **options: Any
) -> PQResult:
    """Evaluate predictions against ground truth (see :func:`panokit.eval.evaluate`)."""
    from panokit.eval import evaluate as _evaluate

    return _evaluate(gt, pred, protocol=protocol, **options)


__all__ = [
    "Category",
    "LabelMap",
    "PanokitError",
    "PanopticDataset",
    "PanopticImage",
    "PanopticLabel",
    "PanopticPointCloud",
    "Sample",
    "Segment",
    "Taxonomy",
    "__version__",
    "evaluate",
    "read",
    "write",
]
