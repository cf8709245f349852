"""LiDAR panoptic evaluation: panokit against semantic-kitti-api and nuscenes-devkit.

Generates a SemanticKITTI tree of synthetic scans (``panokit.synthetic_lidar``), then in one
run times

* panokit ``read_pair`` + ``evaluate(protocol="semantic-kitti")``, one process (the raw fast
  path; ``--label-path`` also times the path through ``PanopticPointCloud`` objects);
* semantic-kitti-api ``evaluate_panoptic.py`` (``--skapi PATH`` to a checkout; skipped if
  absent), single process, its own "Completed in" time and the wall time of the process;
* nuscenes-devkit's ``PanopticEval`` on the same arrays (skipped if not importable);

and checks that every number agrees.  Also reports the time to read one scan + labels into
a ``PanopticPointCloud`` and the peak traced memory of the evaluation after 1/5 of the scans
and after all of them (flat = independent of the number of scans).

    python bench/lidar_pq.py --scans 250 --points 120000 --skapi /path/to/semantic-kitti-api
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import re
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

import panokit
from panokit.eval import PQAccumulator
from panokit.eval.lidar import lidar_task
from panokit.formats import semantic_kitti as sk
from panokit.formats.data.semantic_kitti import DEFAULT_CONFIG
from panokit.synthetic_lidar import write_kitti_tree


def _panokit(root: Path) -> tuple[float, dict[str, float]]:
    start = time.perf_counter()
    gt, pred = sk.read_pair(root, root)
    result = panokit.evaluate(gt, pred, protocol="semantic-kitti", workers=1)
    seconds = time.perf_counter() - start
    return seconds, {
        "pq_mean": result.all.pq,
        "sq_mean": result.all.sq,
        "rq_mean": result.all.rq,
        "pq_things": result.things.pq,
        "pq_stuff": result.stuff.pq,
        "pq_dagger": result.extra["pq_dagger"],
        "iou_mean": result.extra["miou"],
    }


def _label_path(root: Path) -> float:
    start = time.perf_counter()
    gt, pred = sk.read_pair(root, root)
    acc = PQAccumulator(DEFAULT_CONFIG.learning_taxonomy, "semantic-kitti")
    for g, p in zip(gt, pred, strict=True):
        acc.update(g.load_label(), p.load_label())
    acc.result()
    return time.perf_counter() - start


def _memory(root: Path, scans: int) -> tuple[int, int]:
    gt, pred = sk.read_pair(root, root)
    task = lidar_task(gt, pred, [(i, i) for i in range(len(gt))])
    assert task is not None
    acc = PQAccumulator(DEFAULT_CONFIG.learning_taxonomy, "semantic-kitti")
    tracemalloc.start()
    first = 0
    for i in range(len(task)):
        task.accumulate(acc, i)
        if i + 1 == max(1, scans // 5):
            first = tracemalloc.get_traced_memory()[1]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return first, peak


def _read_time(root: Path, count: int) -> float:
    ds = panokit.read(root, format="semantic-kitti")
    for i in range(min(count, len(ds))):  # page cache warm: time the decoding, not the disk
        ds[i].load_label()
    times = []
    for i in range(min(count, len(ds))):
        start = time.perf_counter()
        label = ds[i].load_label()
        times.append(time.perf_counter() - start)
        assert label.points is not None
        del label  # freed before the next read, as a loop that processes and drops does
    return float(np.median(times))


def _skapi(root: Path, skapi: Path) -> tuple[float, float, dict[str, float]]:
    import yaml

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        run = subprocess.run(
            [
                sys.executable,
                "evaluate_panoptic.py",
                "-d",
                str(root),
                "-p",
                str(root),
                "--output",
                out,
            ],
            cwd=skapi,
            capture_output=True,
            text=True,
            check=True,
        )
        wall = time.perf_counter() - start
        found = re.search(r"Completed in ([0-9.eE+-]+) s", run.stdout)
        inner = float(found.group(1)) if found else float("nan")
        scores = yaml.safe_load((Path(out) / "scores.txt").read_text())
    return inner, wall, {k: float(v) for k, v in scores.items()}


def _devkit_module(sdk: Path | None) -> Any:
    """nuscenes-devkit's panoptic_seg_evaluator: installed, or the file of a checkout
    (``python-sdk`` folder; it imports only numpy)."""
    try:
        return importlib.import_module("nuscenes.eval.panoptic.panoptic_seg_evaluator")
    except ImportError:
        pass
    if sdk is None:
        return None
    path = sdk / "nuscenes/eval/panoptic/panoptic_seg_evaluator.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("panoptic_seg_evaluator", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nuscenes_devkit(root: Path, sdk: Path | None) -> tuple[float, float] | None:
    module = _devkit_module(sdk)
    if module is None:
        return None
    lut = DEFAULT_CONFIG.learning_label_map.lookup_table(1 << 16)
    start = time.perf_counter()
    evaluator = module.PanopticEval(n_classes=20, ignore=[0], min_points=50)
    for label in sorted((root / "sequences/08/labels").glob("*.label")):
        g = np.fromfile(label, dtype=np.uint32)
        p = np.fromfile(label.parent.parent / "predictions" / label.name, dtype=np.uint32)
        evaluator.addBatch(lut[p & 0xFFFF], p, lut[g & 0xFFFF], g)
    pq = float(evaluator.getPQ()[0])
    return time.perf_counter() - start, pq


def _nuscenes_format(tmp: Path, scans: int, points: int, seed: int, sdk: Path | None) -> None:
    """Panoptic nuScenes files: panokit read_pair + evaluate against the devkit's loop
    (np.load, general -> challenge per point, PanopticEval.addBatch)."""
    from panokit.formats import nuscenes as nu
    from panokit.formats.data.nuscenes import GENERAL_TO_CHALLENGE
    from panokit.synthetic_lidar import write_nuscenes_tree

    data, results = tmp / "nusc-data", tmp / "nusc-results"
    print(f"writing {scans} nuScenes scans of {points} points ...")
    write_nuscenes_tree(data, results, scans, seed=seed, n_points=points, lidarseg=True)

    def ours() -> tuple[float, float]:
        start = time.perf_counter()
        gt, pred = nu.read_pair(data, results)
        result = panokit.evaluate(gt, pred, protocol="nuscenes", workers=1)
        return time.perf_counter() - start, result.all.pq

    import json

    module = _devkit_module(sdk)

    def devkit() -> tuple[float, float]:
        start = time.perf_counter()
        version = next(p for p in data.iterdir() if (p / "panoptic.json").is_file())
        records = json.loads((version / "panoptic.json").read_text())
        evaluator = module.PanopticEval(n_classes=17, ignore=[0], min_points=15)
        to_challenge = np.vectorize(GENERAL_TO_CHALLENGE.__getitem__)  # as convert_label does
        for record in records:
            label = np.load(data / record["filename"])["data"]
            token = record["sample_data_token"]
            pred = np.load(results / "panoptic/val" / f"{token}_panoptic.npz")["data"]
            evaluator.addBatch(pred // 1000, pred, to_challenge(label // 1000), label)
        return time.perf_counter() - start, float(evaluator.getPQ()[0])

    ours()
    mine, theirs_runs = [], []
    for _ in range(3):
        mine.append(ours())
        if module is not None:
            theirs_runs.append(devkit())
    seconds, pq = min(mine, key=lambda r: r[0])
    print(f"panokit   nuscenes evaluate    {seconds:8.3f} s  {seconds / scans * 1e3:7.2f} ms/scan")
    if module is None:
        print("nuscenes  devkit skipped (not importable; --nuscenes-sdk PATH)")
        return
    theirs, their_pq = min(theirs_runs, key=lambda r: r[0])
    print(
        f"nuscenes  devkit loop          {theirs:8.3f} s  {theirs / scans * 1e3:7.2f} ms/scan, "
        f"speed-up {theirs / seconds:.1f}x, |PQ diff| {abs(their_pq - pq):.3g}"
    )
    _lidarseg(data, results, scans, sdk)


def _lidarseg_devkit(sdk: Path | None) -> Any:
    """nuscenes-devkit's eval/lidarseg/utils.py (ConfusionMatrix, LidarsegClassMapper):
    installed, or loaded from a checkout with stand-ins for the ``nuscenes`` imports it
    does not use here."""
    try:
        return importlib.import_module("nuscenes.eval.lidarseg.utils")
    except ImportError:
        pass
    if sdk is None or not (sdk / "nuscenes/eval/lidarseg/utils.py").is_file():
        return None
    import types

    saved = {k: sys.modules.get(k) for k in ("nuscenes", "nuscenes.utils.splits")}
    stub = types.ModuleType("nuscenes")
    stub.NuScenes = object  # type: ignore[attr-defined]
    splits = types.ModuleType("nuscenes.utils.splits")
    splits.create_splits_scenes = None  # type: ignore[attr-defined]
    sys.modules.update({"nuscenes": stub, "nuscenes.utils.splits": splits})
    try:
        path = sdk / "nuscenes/eval/lidarseg/utils.py"
        spec = importlib.util.spec_from_file_location("lidarseg_utils", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value
    return module


def _lidarseg(data: Path, results: Path, scans: int, sdk: Path | None) -> None:
    """nuScenes-lidarseg: panokit ``nuscenes-lidarseg`` against LidarSegEval's loop
    (load_bin_file, LidarsegClassMapper.convert_label, ConfusionMatrix.update)."""
    import json
    import types

    from panokit.formats import nuscenes as nu

    def ours() -> tuple[float, float]:
        start = time.perf_counter()
        gt, pred = nu.read_pair(data, results, split="val", task="lidarseg")
        result = panokit.evaluate(gt, pred, protocol="nuscenes-lidarseg", workers=1)
        return time.perf_counter() - start, result.extra["miou"]

    module = _lidarseg_devkit(sdk)

    def devkit() -> tuple[float, float]:
        start = time.perf_counter()
        version = next(p for p in data.iterdir() if (p / "lidarseg.json").is_file())
        records = json.loads((version / "lidarseg.json").read_text())
        categories = json.loads((version / "category.json").read_text())
        nusc = types.SimpleNamespace(
            lidarseg_name2idx_mapping={c["name"]: c["index"] for c in categories}
        )
        mapper = module.LidarsegClassMapper(nusc)
        matrix = module.ConfusionMatrix(17, 0)
        for record in records:
            label = mapper.convert_label(np.fromfile(data / record["filename"], dtype=np.uint8))
            token = record["sample_data_token"]
            pred = np.fromfile(results / "lidarseg/val" / f"{token}_lidarseg.bin", np.uint8)
            matrix.update(label, pred)
        return time.perf_counter() - start, float(matrix.get_mean_iou())

    ours()
    mine = [ours() for _ in range(3)]
    seconds, miou = min(mine, key=lambda r: r[0])
    print(f"panokit   lidarseg evaluate    {seconds:8.3f} s  {seconds / scans * 1e3:7.2f} ms/scan")
    if module is None:
        print("lidarseg  devkit skipped (not importable; --nuscenes-sdk PATH)")
        return
    theirs, their_miou = devkit()  # one run: the devkit's per-point Python asserts are slow
    print(
        f"lidarseg  devkit loop          {theirs:8.3f} s  {theirs / scans * 1e3:7.2f} ms/scan, "
        f"speed-up {theirs / seconds:.1f}x, |mIoU diff| {abs(their_miou - miou):.3g}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scans", type=int, default=250)
    parser.add_argument("--points", type=int, default=120_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool; the fastest counts")
    parser.add_argument(
        "--skapi", type=Path, help="semantic-kitti-api checkout (evaluate_panoptic.py)"
    )
    parser.add_argument(
        "--nuscenes-sdk", type=Path, help="nuscenes-devkit python-sdk folder (if not installed)"
    )
    parser.add_argument("--label-path", action="store_true", help="also time the label-object path")
    parser.add_argument(
        "--nuscenes-points",
        type=int,
        default=0,
        help="also bench Panoptic nuScenes files with this many points per scan (e.g. 34000)",
    )
    parser.add_argument(
        "--workdir", type=Path, help="where to write the scans (default: a temp dir)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = args.workdir or Path(tmp) / "kitti"
        if not (root / "sequences/08/labels").is_dir():
            print(f"writing {args.scans} scans of {args.points} points to {root} ...")
            write_kitti_tree(root, args.scans, seed=args.seed, n_points=args.points)
        have_skapi = args.skapi is not None and (args.skapi / "evaluate_panoptic.py").is_file()
        _panokit(root)  # warm the page cache and imports
        runs, skapi_runs = [], []
        for _ in range(args.repeat):  # interleaved, so that both see the same machine load
            runs.append(_panokit(root))
            if have_skapi:
                skapi_runs.append(_skapi(root, args.skapi))
        ours, values = min(runs, key=lambda r: r[0])
        per_scan = ours / args.scans
        print(f"panokit   evaluate (1 process) {ours:8.3f} s  {per_scan * 1e3:7.2f} ms/scan")
        if args.label_path:
            labels = _label_path(root)
            print(
                f"panokit   label path           {labels:8.3f} s  {labels / args.scans * 1e3:7.2f} ms/scan"
            )
        read = min(_read_time(root, 50) for _ in range(args.repeat))
        print(
            f"panokit   read one scan+labels  {read * 1e3:7.3f} ms (median of 50, {args.points} points; target < 2 ms at 120k)"
        )
        first, peak = _memory(root, args.scans)
        print(
            f"panokit   peak traced memory    {first / 2**20:7.2f} MiB after {max(1, args.scans // 5)} scans, "
            f"{peak / 2**20:7.2f} MiB after {args.scans}"
        )
        if have_skapi:
            inner, wall, scores = min(skapi_runs, key=lambda r: r[0])
            print(
                f"skapi     evaluate_panoptic.py {inner:8.3f} s  {inner / args.scans * 1e3:7.2f} ms/scan "
                f"(process wall {wall:.3f} s)"
            )
            print(f"speed-up  {inner / ours:6.1f}x (its loop time) / {wall / ours:6.1f}x (wall)")
            diff = max(abs(values[k] - scores[k]) for k in values)
            print(f"agreement max |panokit - skapi| over {sorted(values)} = {diff:.3g}")
        else:
            print("skapi     skipped (pass --skapi PATH to a semantic-kitti-api checkout)")
        devkit = _nuscenes_devkit(root, args.nuscenes_sdk)
        if devkit is None:
            print("nuscenes  skipped (nuscenes-devkit not importable; --nuscenes-sdk PATH)")
        else:
            seconds, pq = devkit
            print(
                f"nuscenes  PanopticEval         {seconds:8.3f} s  {seconds / args.scans * 1e3:7.2f} ms/scan, "
                f"speed-up {seconds / ours:.1f}x, |PQ diff| {abs(pq - values['pq_mean']):.3g}"
            )
        if args.nuscenes_points:
            _nuscenes_format(
                Path(tmp), args.scans, args.nuscenes_points, args.seed, args.nuscenes_sdk
            )


if __name__ == "__main__":
    main()
