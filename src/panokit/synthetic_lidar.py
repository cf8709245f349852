"""Deterministic synthetic LiDAR panoptic scans: ground truth and a perturbed prediction.

Used by the tests and ``bench/lidar_pq.py``.  Every scan is a function of ``(seed, index)``.

A scan is a list of regions laid out in scan order and interleaved over 64 "rings" (so a
region is many runs of consecutive points, as in a real sweep).  Ground truth has stuff
regions (some of raw ids the learning map folds together, e.g. road + lane-marking),
ignored regions (unlabeled, outlier, other-structure, other-object), and things from 5 to
4000 points (many below the 50-point minimum), some carrying a raw id and its moving-variant
on one instance id.  The prediction is made from the ground truth with the errors a model
makes: missed things (predicted as stuff or unlabeled), split things, merged things,
re-classed things, spurious things on stuff (some below the minimum), stuff confusions,
predictions on ignored points, and 3 % random point noise.  Predicted instance ids are
random 16-bit values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from panokit.core.codecs import DIVISOR_1000, SPLIT_16

KITTI_STUFF = (40, 60, 44, 48, 49, 50, 51, 70, 71, 72, 80, 81)
KITTI_IGNORED = (0, 1, 52, 99)
KITTI_THINGS = (10, 252, 11, 13, 15, 16, 18, 258, 20, 259, 30, 254, 31, 253, 32, 255, 256, 257)
KITTI_CONFUSE = {10: 18, 252: 10, 30: 31, 254: 30, 31: 32, 18: 20, 11: 15, 13: 20, 15: 11}
KITTI_STUFF_CONFUSE = {40: 44, 48: 40, 72: 70, 71: 80, 50: 51}

NUSC_STUFF = (24, 25, 26, 27, 28, 30)
NUSC_IGNORED = (0, 29, 31, 1, 5, 7, 8, 10, 11, 13, 19, 20)
NUSC_THINGS = (2, 3, 4, 6, 9, 12, 14, 15, 16, 17, 18, 21, 22, 23)


@dataclass(frozen=True)
class _Region:
    semantic: int
    instance: int
    size: int
    thing: bool


def _regions(
    rng: np.random.Generator,
    n_points: int,
    stuff: tuple[int, ...],
    ignored: tuple[int, ...],
    things: tuple[int, ...],
    max_instance: int,
) -> list[_Region]:
    regions: list[_Region] = []
    used: set[tuple[int, int]] = set()
    budget = n_points
    n_things = int(rng.integers(15, 60))
    for _ in range(n_things):
        sem = int(rng.choice(things))
        size = int(np.exp(rng.uniform(np.log(5), np.log(4000))))
        inst = int(rng.integers(1, max_instance + 1))
        while (sem, inst) in used:
            inst = int(rng.integers(1, max_instance + 1))
        used.add((sem, inst))
        regions.append(_Region(sem, inst, size, True))
        budget -= size
    for sem in rng.choice(ignored, size=3, replace=False):
        size = int(rng.integers(200, 3000))
        regions.append(_Region(int(sem), 0, size, False))
        budget -= size
    shares = rng.dirichlet(np.ones(len(stuff)))
    sizes = np.floor(shares * max(budget, len(stuff))).astype(int)
    sizes[0] += max(budget, 0) - int(sizes.sum())
    for sem, size in zip(stuff, sizes, strict=True):
        if size > 0:
            regions.append(_Region(int(sem), 0, int(size), False))
    return regions


def _layout(rng: np.random.Generator, regions: list[_Region], n_points: int) -> NDArray[np.intp]:
    """Region index per point, regions cut into runs interleaved over 64 rings."""
    sizes = np.array([r.size for r in regions], dtype=np.intp)
    order = rng.permutation(len(regions))
    per_point = np.repeat(order, sizes[order])[:n_points]
    if per_point.size < n_points:  # pragma: no cover - budget always covers the scan
        per_point = np.concatenate([per_point, np.full(n_points - per_point.size, order[-1])])
    rings = 64
    usable = (n_points // rings) * rings
    head = per_point[:usable].reshape(-1, rings).T.ravel()
    return np.concatenate([head, per_point[usable:]])


def _kitti_prediction(
    rng: np.random.Generator, regions: list[_Region], region_of: NDArray[np.intp]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    n = region_of.size
    reg_sem = np.array([r.semantic for r in regions], dtype=np.int64)
    pred_sem = reg_sem[region_of].copy()
    pred_inst = np.zeros(n, dtype=np.int64)
    thing_regions = [i for i, r in enumerate(regions) if r.thing]
    for i in thing_regions:
        where = np.flatnonzero(region_of == i)
        fate = rng.random()
        inst = int(rng.integers(1, 65536))
        if fate < 0.12:  # missed: predicted as road or unlabeled
            pred_sem[where] = 40 if rng.random() < 0.5 else 0
            continue
        if fate < 0.22:  # re-classed
            pred_sem[where] = KITTI_CONFUSE.get(regions[i].semantic, 10)
        pred_inst[where] = inst
        if 0.22 <= fate < 0.34 and where.size > 1:  # split in two
            cut = int(where.size * rng.uniform(0.3, 0.7))
            pred_inst[where[cut:]] = (inst + 1) % 65536 or 1
        elif 0.34 <= fate < 0.40:  # partly eaten by a neighbouring stuff class
            pred_sem[where[: where.size // 3]] = 70
            pred_inst[where[: where.size // 3]] = 0
    # merge pairs of same-class things into one predicted instance
    by_class: dict[int, list[int]] = {}
    for i in thing_regions:
        by_class.setdefault(regions[i].semantic, []).append(i)
    for members in by_class.values():
        if len(members) >= 2 and rng.random() < 0.5:
            a, b = members[0], members[1]
            target = pred_inst[region_of == a]
            if target.size and target[0]:
                pred_inst[region_of == b] = target[0]
                pred_sem[region_of == b] = pred_sem[region_of == a][0]
    # stuff confusions and spurious things on stuff
    for i, r in enumerate(regions):
        if r.thing:
            continue
        where = np.flatnonzero(region_of == i)
        if r.semantic in KITTI_STUFF_CONFUSE and rng.random() < 0.5:
            part = where[: int(where.size * rng.uniform(0.1, 0.7))]
            pred_sem[part] = KITTI_STUFF_CONFUSE[r.semantic]
        if where.size > 400 and rng.random() < 0.4:
            size = int(np.exp(rng.uniform(np.log(5), np.log(400))))
            start = int(rng.integers(0, where.size - size))
            part = where[start : start + size]
            pred_sem[part] = int(rng.choice(KITTI_THINGS))
            pred_inst[part] = int(rng.integers(1, 65536))
    noise = rng.random(n) < 0.03
    pred_sem[noise] = rng.choice(KITTI_STUFF + KITTI_THINGS[:4], size=int(noise.sum()))
    return pred_sem, pred_inst


def kitti_scan(
    seed: int, index: int, n_points: int = 120_000, big_instances: bool = False
) -> tuple[NDArray[np.float32], NDArray[np.uint32], NDArray[np.uint32]]:
    """Points (N, 4), ground-truth and predicted uint32 SemanticKITTI labels of one scan.

    With ``big_instances`` ground-truth instance ids are drawn up to 65535 (beyond the
    32767 that semantic-kitti-api can handle).
    """
    rng = np.random.default_rng([seed, index, 1])
    max_instance = 65535 if big_instances else 300
    regions = _regions(rng, n_points, KITTI_STUFF, KITTI_IGNORED, KITTI_THINGS, max_instance)
    # one instance carries a raw id and its moving variant (two segments for the devkit)
    for r in list(regions):
        if r.semantic == 10 and r.thing:
            regions.append(_Region(252, r.instance, max(5, r.size // 3), True))
            break
    region_of = _layout(rng, regions, n_points)
    reg_sem = np.array([r.semantic for r in regions], dtype=np.int64)
    reg_inst = np.array([r.instance for r in regions], dtype=np.int64)
    gt_inst = reg_inst[region_of]
    if index % 5 == 2:  # off-spec but seen: part of a stuff region carries an instance id
        veg = np.flatnonzero(reg_sem[region_of] == 70)
        gt_inst[veg[: veg.size // 2]] = 9
    gt = SPLIT_16.encode(reg_sem[region_of], gt_inst)
    pred_sem, pred_inst = _kitti_prediction(rng, regions, region_of)
    if index % 3 == 1:  # a model that numbers stuff too
        stuff = np.isin(pred_sem, KITTI_STUFF)
        pred_inst[stuff & (rng.random(n_points) < 0.2)] = 7
    pred = SPLIT_16.encode(pred_sem, pred_inst)
    points = rng.normal(size=(n_points, 4)).astype(np.float32)
    return points, gt, pred


def write_kitti_tree(
    root: Path,
    n_scans: int,
    seed: int = 0,
    n_points: int = 120_000,
    sequence: str = "08",
    big_instances: bool = False,
    scans: bool = True,
) -> None:
    """Write ``root/sequences/<sequence>/{velodyne, labels, predictions}`` with ``n_scans``
    synthetic scans (GT and predictions in one tree, as semantic-kitti-api accepts)."""
    seq = Path(root) / "sequences" / sequence
    for sub in ("velodyne", "labels", "predictions"):
        (seq / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n_scans):
        points, gt, pred = kitti_scan(seed, i, n_points, big_instances)
        if scans:
            points.astype("<f4").tofile(seq / "velodyne" / f"{i:06d}.bin")
        gt.astype("<u4").tofile(seq / "labels" / f"{i:06d}.label")
        pred.astype("<u4").tofile(seq / "predictions" / f"{i:06d}.label")


def nuscenes_scan(
    seed: int, index: int, n_points: int = 34_000
) -> tuple[NDArray[np.float32], NDArray[np.uint16], NDArray[np.uint16]]:
    """Points (N, 5), ground-truth (general class * 1000 + instance) and predicted
    (challenge class * 1000 + instance) uint16 Panoptic nuScenes labels of one scan."""
    from panokit.formats.data.nuscenes import GENERAL_TO_CHALLENGE

    rng = np.random.default_rng([seed, index, 2])
    regions = _regions(rng, n_points, NUSC_STUFF, NUSC_IGNORED, NUSC_THINGS, 999)
    region_of = _layout(rng, regions, n_points)
    reg_sem = np.array([r.semantic for r in regions], dtype=np.int64)
    reg_inst = np.array([r.instance for r in regions], dtype=np.int64)
    gt = DIVISOR_1000.encode(reg_sem[region_of], reg_inst[region_of]).astype(np.uint16)
    to_challenge = np.array([GENERAL_TO_CHALLENGE[g] for g in range(32)], dtype=np.int64)
    pred_sem = to_challenge[reg_sem[region_of]]
    pred_inst = np.zeros(n_points, dtype=np.int64)
    for i, r in enumerate(regions):
        if not r.thing:
            continue
        where = np.flatnonzero(region_of == i)
        fate = rng.random()
        if fate < 0.12:
            pred_sem[where] = 11
            continue
        if fate < 0.22:
            pred_sem[where] = int(rng.integers(1, 11))
        inst = int(rng.integers(1, 1000))
        pred_inst[where] = inst
        if 0.22 <= fate < 0.34 and where.size > 1:
            pred_inst[where[where.size // 2 :]] = inst % 999 + 1
    thing_pred = pred_sem <= 10
    pred_inst[~thing_pred] = 0
    for i, r in enumerate(regions):
        where = np.flatnonzero(region_of == i)
        if not r.thing and where.size > 400 and rng.random() < 0.4:
            size = int(np.exp(rng.uniform(np.log(5), np.log(300))))
            part = where[:size]
            pred_sem[part] = int(rng.integers(1, 11))
            pred_inst[part] = int(rng.integers(1, 1000))
    noise = rng.random(n_points) < 0.03
    pred_sem[noise] = rng.integers(11, 17, size=int(noise.sum()))
    pred_inst[noise] = 0
    pred = DIVISOR_1000.encode(pred_sem, pred_inst).astype(np.uint16)
    points = rng.normal(size=(n_points, 5)).astype(np.float32)
    return points, gt, pred


def lidarseg_prediction(seed: int, index: int, pred: NDArray[np.uint16]) -> NDArray[np.uint8]:
    """A nuScenes-lidarseg prediction (uint8 challenge classes 1..16) from a panoptic
    prediction: its classes, with the points it leaves at 0 given a random class (the
    devkit refuses 0 in predictions)."""
    rng = np.random.default_rng([seed, index, 3])
    classes = (pred // 1000).astype(np.uint8)
    zero = classes == 0
    classes[zero] = rng.integers(1, 17, size=int(zero.sum()))
    return classes


def write_nuscenes_tree(
    dataroot: Path,
    results: Path,
    n_scans: int,
    seed: int = 0,
    n_points: int = 34_000,
    version: str = "v1.0-synthetic",
    split: str = "val",
    lidarseg: bool = False,
    scans_per_scene: int = 3,
    other_scans: int = 0,
) -> list[str]:
    """Write a Panoptic nuScenes ground truth (tables, ``panoptic/<version>/*.npz``,
    ``samples/LIDAR_TOP/*.pcd.bin``) and a results folder (``panoptic/<split>/*.npz`` +
    ``<split>/submission.json``) of ``n_scans`` synthetic scans; returns their tokens.

    ``scene.json`` lists every scene of ``split`` (an official split name; otherwise scenes
    are named ``synthetic-NNNN``), the scans filling its first scenes ``scans_per_scene`` at a
    time (``sample.json`` chains them as the devkit walks them).  ``other_scans`` more
    ground-truth scans (no prediction) go in one scene of another split.  With
    ``lidarseg`` the ground truth also gets ``lidarseg.json`` + ``lidarseg/<version>/*.bin``
    (general classes) and the results ``lidarseg/<split>/*_lidarseg.bin``
    (:func:`lidarseg_prediction`).
    """
    import hashlib
    import json

    from panokit.formats.data.nuscenes import GENERAL_NAMES, official_splits

    dataroot, results = Path(dataroot), Path(results)
    tables = dataroot / version
    for folder in (tables, dataroot / "panoptic" / version, dataroot / "samples/LIDAR_TOP"):
        folder.mkdir(parents=True, exist_ok=True)
    (results / "panoptic" / split).mkdir(parents=True, exist_ok=True)
    (results / split).mkdir(parents=True, exist_ok=True)
    if lidarseg:
        (dataroot / "lidarseg" / version).mkdir(parents=True, exist_ok=True)
        (results / "lidarseg" / split).mkdir(parents=True, exist_ok=True)
    splits = official_splits()
    scene_names = list(splits.get(split, ()))
    n_scenes = -(-n_scans // max(scans_per_scene, 1))
    if len(scene_names) < n_scenes:
        scene_names = [f"synthetic-{i:04d}" for i in range(n_scenes)]
    other = next(n for n in splits["train"] if n not in scene_names)

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    tokens: list[str] = []
    sample_data: list[dict[str, object]] = []
    panoptic: list[dict[str, object]] = []
    lidarseg_records: list[dict[str, object]] = []
    scene_samples: dict[str, list[str]] = {name: [] for name in [*scene_names, other]}
    lidar_of: dict[str, str] = {}
    for i in range(n_scans + other_scans):
        token = md5(f"sd-{seed}-{i}")
        sample_token = md5(f"s-{seed}-{i}")
        scene = scene_names[i // max(scans_per_scene, 1)] if i < n_scans else other
        scene_samples[scene].append(sample_token)
        lidar_of[sample_token] = token
        points, gt, pred = nuscenes_scan(seed, i, n_points)
        points.astype("<f4").tofile(dataroot / f"samples/LIDAR_TOP/{token}.pcd.bin")
        np.savez_compressed(dataroot / "panoptic" / version / f"{token}_panoptic.npz", data=gt)
        if i < n_scans:
            tokens.append(token)
            np.savez_compressed(results / "panoptic" / split / f"{token}_panoptic.npz", data=pred)
        sample_data.append(
            {
                "token": token,
                "sample_token": sample_token,
                "filename": f"samples/LIDAR_TOP/{token}.pcd.bin",
                "fileformat": "pcd",
                "is_key_frame": True,
            }
        )
        panoptic.append(
            {
                "token": token,  # as in nuScenes: the devkit looks records up by it
                "sample_data_token": token,
                "filename": f"panoptic/{version}/{token}_panoptic.npz",
            }
        )
        if lidarseg:
            name = f"lidarseg/{version}/{token}_lidarseg.bin"
            (gt // 1000).astype(np.uint8).tofile(dataroot / name)
            lidarseg_records.append({"token": token, "sample_data_token": token, "filename": name})
            if i < n_scans:
                lidarseg_prediction(seed, i, pred).tofile(
                    results / "lidarseg" / split / f"{token}_lidarseg.bin"
                )
    samples: list[dict[str, object]] = []
    scenes: list[dict[str, object]] = []
    for name, chain in scene_samples.items():
        scene_token = md5(f"scene-{seed}-{name}")
        for k, sample_token in enumerate(chain):
            samples.append(
                {
                    "token": sample_token,
                    "scene_token": scene_token,
                    "prev": chain[k - 1] if k else "",
                    "next": chain[k + 1] if k + 1 < len(chain) else "",
                    "data": {"LIDAR_TOP": lidar_of[sample_token]},
                }
            )
        scenes.append(
            {
                "token": scene_token,
                "name": name,
                "nbr_samples": len(chain),
                "first_sample_token": chain[0] if chain else "",
                "last_sample_token": chain[-1] if chain else "",
            }
        )
    category = [
        {"token": f"c{i}", "name": n, "description": "", "index": i}
        for i, n in GENERAL_NAMES.items()
    ]
    written: list[tuple[str, list[dict[str, object]]]] = [
        ("category", category),
        ("sample_data", sample_data),
        ("panoptic", panoptic),
        ("sample", samples),
        ("scene", scenes),
    ]
    if lidarseg:
        written.append(("lidarseg", lidarseg_records))
    for name, table in written:
        (tables / f"{name}.json").write_text(json.dumps(table))
    meta = {
        "task": "segmentation",
        "use_camera": False,
        "use_lidar": True,
        "use_radar": False,
        "use_map": False,
        "use_external": False,
    }
    (results / split / "submission.json").write_text(json.dumps({"meta": meta}))
    return tokens


__all__ = [
    "kitti_scan",
    "lidarseg_prediction",
    "nuscenes_scan",
    "write_kitti_tree",
    "write_nuscenes_tree",
]
