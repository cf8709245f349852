"""``panokit demo``: make a synthetic dataset, convert it, evaluate it, print the PQ table."""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from panokit.cli.render import console


def register(subparsers: Any) -> None:
    """Add the ``demo`` sub-command."""
    p = subparsers.add_parser(
        "demo",
        help="synthetic dataset -> convert -> evaluate -> PQ table (takes seconds)",
        description=(
            "Generate a synthetic panoptic dataset (things, stuff, void, crowd) and a "
            "perturbed prediction as COCO panoptic, convert the ground truth to Cityscapes "
            "(or round-trip it through coco-panoptic when that format is not available), "
            "evaluate the prediction against it and print the PQ table."
        ),
    )
    p.add_argument("--out", type=Path, help="keep the files here (default: a temporary folder)")
    p.add_argument("--images", type=int, default=20, help="number of images (default 20)")
    p.add_argument("--height", type=int, default=512)
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=0, help="worker processes (default: all cores)")
    p.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo in ``--out`` or a temporary folder that is removed afterwards."""
    from panokit.errors import OutputExistsError

    if args.images < 1:
        console().print("[red]--images must be at least 1[/]")
        return 2
    if args.out is not None:
        if args.out.exists() and any(args.out.iterdir()):
            raise OutputExistsError(f"{args.out} exists and is not empty; choose a new folder")
        args.out.mkdir(parents=True, exist_ok=True)
        return run_demo(args.out, args)
    folder = Path(tempfile.mkdtemp(prefix="panokit-demo-"))
    try:
        return run_demo(folder, args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_demo(folder: Path, args: argparse.Namespace) -> int:
    """Generate, convert, evaluate and print; returns the exit code."""
    import panokit
    from panokit.cli.evaluate import print_result
    from panokit.eval import default_workers, evaluate
    from panokit.formats import coco_panoptic
    from panokit.formats.registry import FORMATS
    from panokit.synthetic import write_coco_pair

    out = console()
    workers = args.workers if args.workers > 0 else default_workers()
    start = time.perf_counter()
    coco_dir = folder / "coco"
    gt_json, pred_json = write_coco_pair(
        coco_dir, args.images, seed=args.seed, height=args.height, width=args.width, string_ids=True
    )
    out.print(
        f"1. generated {args.images} synthetic images of {args.width}x{args.height} with a "
        f"perturbed prediction as coco-panoptic in {coco_dir} ({time.perf_counter() - start:.1f} s)"
    )
    gt = coco_panoptic.read(gt_json)
    direct = evaluate(
        gt, coco_panoptic.read(pred_json, taxonomy=gt.taxonomy, check=False), workers=workers
    )
    step = time.perf_counter()
    spec = FORMATS.get("cityscapes")
    if spec is not None and spec.implemented:
        city_dir = folder / "cityscapes"
        panokit.write(gt, city_dir, format="cityscapes", split="val")
        gt_city, pred_city = spec.load().read_pair(city_dir, pred_json, split="val")
        out.print(
            f"2. converted the ground truth to cityscapes (gtFine instanceIds + labelIds) in "
            f"{city_dir} ({time.perf_counter() - step:.1f} s)"
        )
        result = evaluate(gt_city, pred_city, protocol="coco", workers=workers)
        source = "the cityscapes ground truth (as createPanopticImgs reads it)"
    else:
        round_trip = folder / "coco-roundtrip"
        panokit.write(gt, round_trip, format="coco-panoptic")
        gt_back = panokit.read(round_trip, format="coco-panoptic")
        out.print(
            f"2. cityscapes is not available: round-tripped the ground truth through "
            f"coco-panoptic in {round_trip} ({time.perf_counter() - step:.1f} s)"
        )
        pred = coco_panoptic.read(pred_json, taxonomy=gt_back.taxonomy)
        result = evaluate(gt_back, pred, protocol="coco", workers=workers)
        source = "the round-tripped ground truth"
    out.print(f"3. evaluated the prediction against {source}:")
    print_result(result)
    out.print(
        f"same prediction against the original coco-panoptic ground truth: PQ "
        f"{100 * direct.all.pq:.2f} (Cityscapes' format keeps one crowd group per class, so "
        "images with two crowd regions of a class may differ)"
    )
    out.print(f"done in {time.perf_counter() - start:.1f} s")
    if args.out is not None:
        out.print(
            f"files kept in {folder}; evaluate again with: panokit eval {gt_json} {pred_json}"
        )
    return 0
