"""BDD100K panoptic PQ: panokit's ``bdd100k`` protocol against the BDD100K toolkit.

Writes N synthetic (ground truth, prediction) bitmask pairs of 720 x 1280 pixels, evaluates
them with panokit (one process), and, with ``--toolkit-python``, with bdd100k's
``evaluate_pan_seg`` (nproc=1) run by that interpreter (a venv with ``pip install bdd100k``),
then prints both times, the ratio and both PQ values.

    python bench/bdd100k_pq.py --n 30 --toolkit-python /path/to/venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

import panokit
from panokit.core.codecs import BDD100K_RGBA
from panokit.formats import bdd100k

TOOLKIT = """
import glob, json, sys, time
from bdd100k.eval.pan_seg import evaluate_pan_seg
root = sys.argv[1]
gts, preds = sorted(glob.glob(root + "/gt/*.png")), sorted(glob.glob(root + "/pred/*.png"))
start = time.perf_counter()
result = evaluate_pan_seg(gts, preds, nproc=1, with_logs=False)
print(json.dumps({"seconds": time.perf_counter() - start, "pq": result.summary()["PQ"]}))
"""


def synth(rng: np.random.Generator, h: int = 720, w: int = 1280) -> tuple[np.ndarray, np.ndarray]:
    """A street-like bitmask pair: stuff bands and thing boxes, the prediction jittered."""
    out = []
    bands = np.sort(rng.choice(np.arange(50, h - 50), size=3, replace=False))
    stuff = rng.choice(np.arange(1, 31), size=4, replace=False)
    boxes = [
        (
            int(rng.integers(0, h - 120)),
            int(rng.integers(0, w - 200)),
            int(rng.integers(20, 120)),
            int(rng.integers(20, 200)),
            int(rng.integers(31, 41)),
        )
        for _ in range(int(rng.integers(5, 40)))
    ]
    for jitter in (0, 6):
        cat = np.zeros((h, w), np.int64)
        ann = np.zeros((h, w), np.int64)
        edges = [0, *bands.tolist(), h]
        for k in range(4):
            top = max(0, edges[k] + int(rng.integers(-jitter, jitter + 1))) if k else 0
            cat[top : edges[k + 1]] = ann[top : edges[k + 1]] = int(stuff[k])
        for n, (y, x, bh, bw, c) in enumerate(boxes):
            dy, dx = (int(v) for v in rng.integers(-jitter, jitter + 1, size=2))
            sl = (slice(max(0, y + dy), y + dy + bh), slice(max(0, x + dx), x + dx + bw))
            cat[sl], ann[sl] = c, 31 + n
        out.append(BDD100K_RGBA.encode(cat, ann))
    return out[0], out[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=30, help="number of image pairs")
    parser.add_argument("--toolkit-python", help="python of a venv where bdd100k is installed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rng = np.random.default_rng(0)
        for side in ("gt", "pred"):
            (root / side).mkdir()
        for i in range(args.n):
            gt, pred = synth(rng)
            Image.fromarray(gt).save(root / "gt" / f"{i:04d}.png")
            Image.fromarray(pred).save(root / "pred" / f"{i:04d}.png")
        start = time.perf_counter()
        gt_ds, pred_ds = bdd100k.read_pair(root / "gt", root / "pred")
        result = panokit.evaluate(gt_ds, pred_ds, protocol="bdd100k", workers=1)
        ours = time.perf_counter() - start
        print(
            f"panokit  {ours:8.2f} s  PQ {result.all.pq * 100:.10f}  ({args.n} images, 1 process)"
        )
        if args.toolkit_python:
            done = subprocess.run(
                [args.toolkit_python, "-c", TOOLKIT, str(root)],
                check=True,
                capture_output=True,
                text=True,
            )
            theirs = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"toolkit  {theirs['seconds']:8.2f} s  PQ {theirs['pq']:.10f}")
            print(f"speed-up {theirs['seconds'] / ours:8.2f}x")


if __name__ == "__main__":
    main()
