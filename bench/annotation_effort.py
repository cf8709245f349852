"""Labeling effort per tool set, measured with the simulated annotator.

For every image the script replays the ground truth with each tool set (see
``panokit.annotate.simulate``) under one cost model (click 1, polygon vertex 1, category pick
1, brush stroke 1 + 1 per full 50 px of path) until PQ reaches the target, and prints the
actions per image and the ratio to ``polygon``.  Target of issue 5: ``superpixel`` needs at
most 1/5 of the actions of ``polygon`` to reach PQ 0.9.

    python bench/annotation_effort.py                      # 8 synthetic 512x1024 scenes
    python bench/annotation_effort.py --images 3 --height 256 --width 512   # quick
    python bench/annotation_effort.py --dataset panoptic_val2017.json --images-dir val2017 --limit 5
    python bench/annotation_effort.py --toolsets polygon,superpixel,prelabel

Synthetic scenes (``panokit.annotate.synthetic.street_scene``) have textured stuff, objects
with noisy outlines and parts of other colours, shading, blur and sensor noise.  Real data is
read with ``panokit.read`` (any format it knows, images must be loadable as media).
``prelabel`` starts from a degraded copy of the ground truth (outlines moved by a few pixels,
one thing in five dropped, one in five given another thing category) standing in for a
model's prediction.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

import panokit
from panokit.annotate import build_superpixel_hierarchy, hierarchy_quality, simulate
from panokit.annotate.synthetic import street_scene
from panokit.core import PanopticImage, Segment


def synthetic(
    n: int, height: int, width: int, seed: int
) -> Iterator[tuple[str, Any, PanopticImage]]:
    for i in range(n):
        scene = street_scene(height, width, seed=seed + i, objects=10 + (i * 7) % 15)
        yield f"synthetic-{seed + i}", scene.image, scene.label


def real(
    path: str, fmt: str | None, limit: int, images_dir: str | None
) -> Iterator[tuple[str, Any, PanopticImage]]:
    options = {"images_dir": images_dir} if images_dir else {}
    dataset = panokit.read(path, format=fmt, **options)
    for count, sample in enumerate(dataset):
        if count >= limit:
            break
        label = sample.load_label()
        if not isinstance(label, PanopticImage):
            raise SystemExit(f"{sample.key}: not an image label")
        image = np.asarray(sample.load_media())
        yield sample.key, image, label


def degraded(label: PanopticImage, seed: int) -> PanopticImage:
    """A stand-in for a model prediction: moved outlines, dropped and mislabelled things."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    ids = label.ids.astype(np.int64)
    shifted = ndimage.grey_dilation(ids, size=(3, 3))
    noise = ndimage.gaussian_filter(rng.standard_normal(ids.shape), 3) > 0
    ids = np.where(noise, shifted, ids)
    tax = label.taxonomy
    things = [c.id for c in tax.things] if tax else []
    segments: dict[int, Segment] = {}
    for seg_id, seg in sorted(label.segments.items()):
        thing = tax is not None and tax.isthing(seg.category_id)
        roll = rng.random()
        if thing and roll < 0.2:
            ids[ids == seg_id] = 0
            continue
        if thing and roll < 0.4 and len(things) > 1:
            others = [c for c in things if c != seg.category_id]
            seg = Segment(int(rng.choice(others)))
        segments[seg_id] = seg
    present = set(np.unique(ids).tolist()) - {0}
    ids[~np.isin(ids, list(segments))] = 0
    segments = {k: v for k, v in segments.items() if k in present}
    return PanopticImage(ids.astype(np.uint32), segments, tax)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=8, help="number of synthetic scenes")
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", type=float, default=0.9, help="PQ to reach")
    parser.add_argument("--toolsets", default="polygon,brush,superpixel")
    parser.add_argument("--dataset", help="a real dataset (any format panokit.read knows)")
    parser.add_argument("--format", default=None)
    parser.add_argument("--limit", type=int, default=10, help="images taken from --dataset")
    parser.add_argument("--images-dir", help="where the dataset's images are (coco-panoptic)")
    args = parser.parse_args()
    toolsets = [t.strip() for t in args.toolsets.split(",") if t.strip()]
    source = (
        real(args.dataset, args.format, args.limit, args.images_dir)
        if args.dataset
        else synthetic(args.images, args.height, args.width, args.seed)
    )

    print(f"target PQ {args.target}; cost model: click 1, vertex 1, pick 1, stroke 1 + 1 per 50 px")
    head = f"{'image':22s} {'size':>10s} {'segs':>5s} {'BR@2':>5s} {'UE':>6s}"
    for t in toolsets:
        head += f" {t:>11s}"
    for t in toolsets:
        if t != "polygon":
            head += f" {t[:5] + '/poly':>11s}"
    print(head)
    totals: dict[str, list[int]] = {t: [] for t in toolsets}
    reached: dict[str, int] = {t: 0 for t in toolsets}
    ratios: dict[str, list[float]] = {t: [] for t in toolsets}
    timing: dict[str, float] = {t: 0.0 for t in toolsets}
    n_images = 0
    for key, image, label in source:
        n_images += 1
        t0 = time.perf_counter()
        hier = build_superpixel_hierarchy(image)
        timing["hierarchy"] = timing.get("hierarchy", 0.0) + time.perf_counter() - t0
        finest = hierarchy_quality(hier, label.ids)[-1]
        row = (
            f"{key[:22]:22s} {label.height:>4d}x{label.width:<5d} {len(label.segments):5d} "
            f"{finest.boundary_recall:5.2f} {finest.undersegmentation_error:6.3f}"
        )
        runs = {}
        for t in toolsets:
            t0 = time.perf_counter()
            pred = degraded(label, args.seed) if t == "prelabel" else None
            runs[t] = simulate(
                image,
                label,
                t,
                target_pq=args.target,
                seed=args.seed,
                hierarchy=hier,
                prediction=pred,
            )
            timing[t] += time.perf_counter() - t0
            mark = "" if runs[t].reached else "*"
            row += f" {runs[t].actions:>10d}{mark or ' '}"
            totals[t].append(runs[t].actions)
            reached[t] += int(runs[t].reached)
        for t in toolsets:
            if t == "polygon" or "polygon" not in runs:
                continue
            ratio = runs[t].actions / max(runs["polygon"].actions, 1)
            ratios[t].append(ratio)
            row += f" {ratio:11.3f}"
        print(row, flush=True)
    if not n_images:
        print("no images")
        return
    print("(* = target PQ not reached; the count is then all actions taken)")
    print("summary over", n_images, "images:")
    for t in toolsets:
        line = (
            f"  {t:11s} mean actions {statistics.mean(totals[t]):8.1f}  reached {reached[t]}/{n_images}"
            f"  time {timing[t]:.1f} s"
        )
        if ratios[t]:
            total_ratio = sum(totals[t]) / max(sum(totals["polygon"]), 1)
            line += (
                f"  ratio to polygon: median {statistics.median(ratios[t]):.3f}, "
                f"of totals {total_ratio:.3f} (1/{1 / max(total_ratio, 1e-9):.1f})"
            )
        print(line)
    if ratios.get("superpixel"):
        total_ratio = sum(totals["superpixel"]) / max(sum(totals["polygon"]), 1)
        verdict = "met" if total_ratio <= 0.2 else "NOT met"
        print(f"target superpixel <= 1/5 of polygon: {verdict} ({total_ratio:.3f})")
    print(f"hierarchy build time total {timing.get('hierarchy', 0.0):.1f} s")


if __name__ == "__main__":
    main()
