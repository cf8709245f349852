"""Tiny hand-made datasets shared by the curation tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from panokit.core import Category, PanopticImage, PanopticPointCloud, Sample, Segment, Taxonomy
from panokit.dataset import PanopticDataset

TAX = Taxonomy(
    [
        Category(1, "person", True, (220, 20, 60)),
        Category(2, "car", True, (0, 0, 142)),
        Category(10, "road", False, (128, 64, 128)),
        Category(11, "sky", False, (70, 130, 180)),
    ],
    name="tiny",
)

BIG = 700_000  # a segment id large enough for the hashed counting path


def label_a(car_id: int = BIG) -> PanopticImage:
    """10x10: sky 39, road 46, person 4, car 10, void 1 (at (0, 0))."""
    ids = np.zeros((10, 10), np.uint32)
    ids[:4] = 5
    ids[4:] = 9
    ids[6:8, 0:2] = 3
    ids[8:10, 5:10] = car_id
    ids[0, 0] = 0
    segs = {5: Segment(11), 9: Segment(10), 3: Segment(1), car_id: Segment(2)}
    return PanopticImage(ids, segs, TAX)


def label_b() -> PanopticImage:
    """10x10: road 80, two persons (6 and 4), one crowd of cars (10)."""
    ids = np.full((10, 10), 1, np.uint32)
    ids[0, 0:6] = 2
    ids[1, 0:4] = 4
    ids[9, 0:10] = 6
    segs = {1: Segment(10), 2: Segment(1), 4: Segment(1), 6: Segment(2, iscrowd=True)}
    return PanopticImage(ids, segs, TAX)


def memory_dataset(labels: list[Any], media: list[Any] | None = None, **kw: Any) -> PanopticDataset:
    samples = []
    for i, lab in enumerate(labels):
        image = None if media is None else media[i]
        samples.append(
            Sample(
                f"s{i}",
                label_loader=(lambda lab=lab: lab) if lab is not None else None,
                media_loader=(lambda image=image: image) if image is not None else None,
            )
        )
    return PanopticDataset(samples, kw.pop("taxonomy", TAX), format="memory", **kw)


def cloud(points: np.ndarray, ids: np.ndarray, segs: dict[int, Segment]) -> PanopticPointCloud:
    return PanopticPointCloud(ids, segs, TAX, points=points, channels=("x", "y", "z"))
