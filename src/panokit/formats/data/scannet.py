"""ScanNet v2 classes as data: the NYU40 label set and the 20-class benchmark.

Per-vertex semantics are NYU40 ids (``nyu40id`` of ``scannetv2-labels.combined.tsv``).  The
benchmark evaluates 20 of them (ScanNet ``BenchmarkScripts/3d_evaluation``
``VALID_CLASS_IDS``); the official COCO-panoptic converter makes wall (1) and floor (2) stuff
and every other class a thing (``isthing = label > 2``), which this module extends to all 40
ids.  Ids outside the benchmark are ``ignore_in_eval``.
"""

from __future__ import annotations

from panokit.core.taxonomy import Category, LabelMap, Taxonomy

NYU40_NAMES: dict[int, str] = {
    1: "wall",
    2: "floor",
    3: "cabinet",
    4: "bed",
    5: "chair",
    6: "sofa",
    7: "table",
    8: "door",
    9: "window",
    10: "bookshelf",
    11: "picture",
    12: "counter",
    13: "blinds",
    14: "desk",
    15: "shelves",
    16: "curtain",
    17: "dresser",
    18: "pillow",
    19: "mirror",
    20: "floor mat",
    21: "clothes",
    22: "ceiling",
    23: "books",
    24: "refrigerator",
    25: "television",
    26: "paper",
    27: "towel",
    28: "shower curtain",
    29: "box",
    30: "whiteboard",
    31: "person",
    32: "night stand",
    33: "toilet",
    34: "sink",
    35: "lamp",
    36: "bathtub",
    37: "bag",
    38: "otherstructure",
    39: "otherfurniture",
    40: "otherprop",
}
"""NYU40 id -> class name."""

BENCHMARK_IDS: tuple[int, ...] = (
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
    12,
    14,
    16,
    24,
    28,
    33,
    34,
    36,
    39,
)
"""The 20 NYU40 ids of the ScanNet benchmark (``VALID_CLASS_IDS``)."""

STUFF_IDS: tuple[int, ...] = (1, 2)
"""Wall and floor: the stuff classes."""

# display colours (RGB), after the ScanNet benchmark palette
_PALETTE: dict[int, tuple[int, int, int]] = {
    1: (174, 199, 232),
    2: (152, 223, 138),
    3: (31, 119, 180),
    4: (255, 187, 120),
    5: (188, 189, 34),
    6: (140, 86, 75),
    7: (255, 152, 150),
    8: (214, 39, 40),
    9: (197, 176, 213),
    10: (148, 103, 189),
    11: (196, 156, 148),
    12: (23, 190, 207),
    14: (247, 182, 210),
    16: (219, 219, 141),
    24: (255, 127, 14),
    28: (158, 218, 229),
    33: (44, 160, 44),
    34: (112, 128, 144),
    36: (227, 119, 194),
    39: (82, 84, 163),
}

NYU40_TAXONOMY = Taxonomy(
    [
        Category(
            id=k,
            name=name,
            isthing=k not in STUFF_IDS,
            color=_PALETTE.get(k, (128, 128, 128)),
            ignore_in_eval=k not in BENCHMARK_IDS,
            train_id=BENCHMARK_IDS.index(k) if k in BENCHMARK_IDS else None,
        )
        for k, name in NYU40_NAMES.items()
    ],
    void_id=0,
    name="scannet-nyu40",
)
"""All 40 NYU40 classes (0 = unannotated); non-benchmark ones are ``ignore_in_eval``."""

BENCHMARK_TAXONOMY = Taxonomy(
    [c for c in NYU40_TAXONOMY if c.id in BENCHMARK_IDS],
    void_id=0,
    name="scannet-benchmark",
)
"""The 20 benchmark classes, keeping their NYU40 ids."""

BENCHMARK_LABEL_MAP = LabelMap(
    {k: (k if k in BENCHMARK_IDS else 0) for k in NYU40_NAMES},
    default=0,
    name="scannet nyu40->benchmark",
    source=NYU40_TAXONOMY,
    target=BENCHMARK_TAXONOMY,
)
"""NYU40 -> benchmark (other classes -> 0)."""
