"""PASTIS panoptic PQ: panokit's ``pastis`` protocol against the benchmark's PanopticMeter.

Makes N synthetic 128 x 128 patches (parcels on a grid, void parcels, a jittered prediction),
evaluates them with panokit (one process) and, with ``--meter-python`` and ``--meter-dir``
(a venv with torch, and the folder holding pastis-benchmark's ``code/panoptic_metrics.py``),
with ``PanopticMeter`` fed one patch per ``add``; prints both times, the ratio and both PQs.

    python bench/pastis_pq.py --n 200 --meter-python venv/bin/python --meter-dir pastis/code
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from panokit.eval.pastis import PastisPQAccumulator

METER = """
import json, sys, time
import numpy as np, torch
sys.path.insert(0, sys.argv[2])
from panoptic_metrics import PanopticMeter
arrays = np.load(sys.argv[1])
meter = PanopticMeter()
start = time.perf_counter()
for i in range(arrays["ip"].shape[0]):
    meter.add(*(torch.from_numpy(arrays[k][i : i + 1].copy()) for k in ("ip", "sp", "it", "st")))
sq, rq, pq = meter.value()
print(json.dumps({"seconds": time.perf_counter() - start, "pq": float(pq)}))
"""


def synth(rng: np.random.Generator, size: int = 128, cell: int = 16) -> tuple[np.ndarray, ...]:
    """(instance_pred, semantic_pred, instance_true, semantic_true) of one patch."""
    it = np.zeros((size, size), np.int64)
    st = np.zeros((size, size), np.int64)
    ip = np.zeros((size, size), np.int64)
    sp = np.zeros((size, size), np.int64)
    ids = rng.permutation(np.arange(1, 100000))
    k = 0
    for y in range(0, size, cell):
        for x in range(0, size, cell):
            r = rng.random()
            cls = 0 if r < 0.2 else 19 if r < 0.3 else int(rng.integers(1, 19))
            st[y : y + cell, x : x + cell] = cls
            it[y : y + cell, x : x + cell] = 0 if cls == 0 else int(ids[k])
            k += 1
            if cls == 0 and rng.random() > 0.2:
                continue
            d = rng.integers(-4, 5, size=4)
            sl = (
                slice(max(0, y + d[0]), y + cell + d[1]),
                slice(max(0, x + d[2]), x + cell + d[3]),
            )
            pcls = cls if cls not in (0, 19) and rng.random() > 0.2 else int(rng.integers(1, 19))
            sp[sl] = pcls
            ip[sl] = int(ids[k])
            k += 1
    return ip, sp, it, st


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200, help="number of patches")
    parser.add_argument("--meter-python", help="python of a venv with torch")
    parser.add_argument("--meter-dir", help="folder with pastis-benchmark's panoptic_metrics.py")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    patches = [synth(rng) for _ in range(args.n)]
    start = time.perf_counter()
    acc = PastisPQAccumulator()
    for patch in patches:
        acc.update_arrays(*patch)
    result = acc.result()
    ours = time.perf_counter() - start
    print(f"panokit  {ours:8.2f} s  PQ {result.all.pq:.7f}  ({args.n} patches, 1 process)")
    if args.meter_python and args.meter_dir:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "patches.npz"
            stacked = {
                k: np.stack([p[i] for p in patches]) for i, k in enumerate(("ip", "sp", "it", "st"))
            }
            np.savez(path, **stacked)
            done = subprocess.run(
                [args.meter_python, "-c", METER, str(path), args.meter_dir],
                check=True,
                capture_output=True,
                text=True,
            )
        theirs = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"meter    {theirs['seconds']:8.2f} s  PQ {theirs['pq']:.7f}")
        print(f"speed-up {theirs['seconds'] / ours:8.2f}x")


if __name__ == "__main__":
    main()
