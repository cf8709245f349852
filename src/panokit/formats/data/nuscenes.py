"""nuScenes-lidarseg / Panoptic nuScenes classes as data.

- 32 **general** classes: the ``index`` of ``category.json`` (lidarseg version), used in the
  ground-truth ``.bin`` / ``.npz`` label files.  Index 0 (noise) is void.  Things are the
  classes with boxes (indices 1..23), stuff 24..31 (nuscenes-devkit ``STUFF_START_CLASS_ID``).
- 16 **challenge** classes (0 = ignore) used in results files and evaluation; 10 things and
  6 stuff (nuscenes-devkit ``PanopticClassMapper``).
- :data:`GENERAL_TO_CHALLENGE`: the official fine -> coarse mapping (``LidarsegClassMapper``).
"""

from __future__ import annotations

from panokit.core.taxonomy import Category, LabelMap, Taxonomy

# general index: (name, RGB colour, challenge index)
_GENERAL: dict[int, tuple[str, tuple[int, int, int], int]] = {
    0: ("noise", (0, 0, 0), 0),
    1: ("animal", (70, 130, 180), 0),
    2: ("human.pedestrian.adult", (0, 0, 230), 7),
    3: ("human.pedestrian.child", (135, 206, 235), 7),
    4: ("human.pedestrian.construction_worker", (100, 149, 237), 7),
    5: ("human.pedestrian.personal_mobility", (219, 112, 147), 0),
    6: ("human.pedestrian.police_officer", (0, 0, 128), 7),
    7: ("human.pedestrian.stroller", (240, 128, 128), 0),
    8: ("human.pedestrian.wheelchair", (138, 43, 226), 0),
    9: ("movable_object.barrier", (112, 128, 144), 1),
    10: ("movable_object.debris", (210, 105, 30), 0),
    11: ("movable_object.pushable_pullable", (105, 105, 105), 0),
    12: ("movable_object.trafficcone", (47, 79, 79), 8),
    13: ("static_object.bicycle_rack", (188, 143, 143), 0),
    14: ("vehicle.bicycle", (220, 20, 60), 2),
    15: ("vehicle.bus.bendy", (255, 127, 80), 3),
    16: ("vehicle.bus.rigid", (255, 69, 0), 3),
    17: ("vehicle.car", (255, 158, 0), 4),
    18: ("vehicle.construction", (233, 150, 70), 5),
    19: ("vehicle.emergency.ambulance", (255, 83, 0), 0),
    20: ("vehicle.emergency.police", (255, 215, 0), 0),
    21: ("vehicle.motorcycle", (255, 61, 99), 6),
    22: ("vehicle.trailer", (255, 140, 0), 9),
    23: ("vehicle.truck", (255, 99, 71), 10),
    24: ("flat.driveable_surface", (0, 207, 191), 11),
    25: ("flat.other", (175, 0, 75), 12),
    26: ("flat.sidewalk", (75, 0, 75), 13),
    27: ("flat.terrain", (112, 180, 60), 14),
    28: ("static.manmade", (222, 184, 135), 15),
    29: ("static.other", (255, 228, 196), 0),
    30: ("static.vegetation", (0, 175, 0), 16),
    31: ("vehicle.ego", (255, 240, 245), 0),
}

STUFF_START = 24
"""General indices from here on are stuff (nuscenes-devkit ``STUFF_START_CLASS_ID``)."""

GENERAL_NAMES: dict[int, str] = {k: v[0] for k, v in _GENERAL.items()}
"""General class index -> name (as in ``category.json``)."""

GENERAL_TO_CHALLENGE: dict[int, int] = {k: v[2] for k, v in _GENERAL.items()}
"""General class index -> challenge class index (0 = ignore)."""

# challenge index: (name, isthing, RGB colour)
_CHALLENGE: dict[int, tuple[str, bool, tuple[int, int, int]]] = {
    1: ("barrier", True, (112, 128, 144)),
    2: ("bicycle", True, (220, 20, 60)),
    3: ("bus", True, (255, 127, 80)),
    4: ("car", True, (255, 158, 0)),
    5: ("construction_vehicle", True, (233, 150, 70)),
    6: ("motorcycle", True, (255, 61, 99)),
    7: ("pedestrian", True, (0, 0, 230)),
    8: ("traffic_cone", True, (47, 79, 79)),
    9: ("trailer", True, (255, 140, 0)),
    10: ("truck", True, (255, 99, 71)),
    11: ("driveable_surface", False, (0, 207, 191)),
    12: ("other_flat", False, (175, 0, 75)),
    13: ("sidewalk", False, (75, 0, 75)),
    14: ("terrain", False, (112, 180, 60)),
    15: ("manmade", False, (222, 184, 135)),
    16: ("vegetation", False, (0, 175, 0)),
}

CHALLENGE_NAMES: dict[int, str] = {0: "ignore", **{k: v[0] for k, v in _CHALLENGE.items()}}
"""Challenge class index -> name."""

GENERAL_TAXONOMY = Taxonomy(
    [
        Category(
            id=k,
            name=name,
            isthing=k < STUFF_START,
            color=color,
            supercategory=name.split(".")[0],
            ignore_in_eval=challenge == 0,
            train_id=challenge,
        )
        for k, (name, color, challenge) in _GENERAL.items()
        if k != 0
    ],
    void_id=0,
    name="nuscenes-general",
)
"""The 31 general classes (noise = void 0); ``train_id`` is the challenge index."""

CHALLENGE_TAXONOMY = Taxonomy(
    [
        Category(id=k, name=name, isthing=thing, color=color, train_id=k)
        for k, (name, thing, color) in _CHALLENGE.items()
    ],
    void_id=0,
    name="nuscenes-challenge",
)
"""The 16 challenge classes (ignore = void 0)."""

CHALLENGE_LABEL_MAP = LabelMap(
    GENERAL_TO_CHALLENGE,
    default=0,
    name="nuscenes general->challenge",
    source=GENERAL_TAXONOMY,
    target=CHALLENGE_TAXONOMY,
)
"""The official general -> challenge map."""

IDENTITY_CHALLENGE_MAP = LabelMap(
    {k: k for k in range(17)},
    default=None,
    name=(
        "nuscenes challenge ids (ground truth in the general classes must be mapped first: "
        "panokit.formats.nuscenes.read_pair, or read(..., classes='challenge'))"
    ),
    source=CHALLENGE_TAXONOMY,
    target=CHALLENGE_TAXONOMY,
)
"""Challenge ids as they are (what the ``nuscenes`` protocol evaluates); any other id is an
error that says how to map general-class ground truth."""


def official_splits() -> dict[str, tuple[str, ...]]:
    """The official split -> scene names (``nuscenes_splits.json``, taken from
    nuscenes-devkit ``utils/splits.py`` ``create_splits_scenes``): ``train`` (700), ``val``
    (150), ``test`` (150), ``mini_train`` (8), ``mini_val`` (2), ``train_detect`` and
    ``train_track`` (the two halves of ``train``)."""
    import json
    from importlib import resources

    text = resources.files("panokit.formats.data").joinpath("nuscenes_splits.json").read_text()
    data = json.loads(text)
    return {k: tuple(v) for k, v in data.items() if not k.startswith("_")}
