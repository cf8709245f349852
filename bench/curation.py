"""Time ``panokit stats`` and ``panokit select`` at the sizes the curation issue asks for.

- statistics of N COCO panoptic labels of 512x1024, PNG decode included (target: 5000
  labels in under 60 s on one core);
- k-center greedy selection of K of M feature vectors of D dims (target: 1000 of 100000
  of 128 in under 10 s).

The labels are written once into a temporary folder by a small generator of its own (wavy
stuff bands, rectangles and ellipses of things, random 24-bit segment ids as in COCO) and
read back through ``panokit.read``.  Run with small sizes while developing::

    python bench/curation.py --labels 200 --vectors 10000
    python bench/curation.py            # the full sizes
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, as the targets are stated

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import panokit  # noqa: E402
from panokit.core.codecs import RGB24  # noqa: E402
from panokit.core.taxonomy import Category, Taxonomy  # noqa: E402
from panokit.curation.select import coverage_radius, k_center_greedy  # noqa: E402
from panokit.curation.stats import compute_stats  # noqa: E402

TAXONOMY = Taxonomy(
    [
        Category(1, "person", True, (220, 20, 60)),
        Category(2, "car", True, (0, 0, 142)),
        Category(3, "bicycle", True, (119, 11, 32)),
        Category(20, "sky", False, (70, 130, 180)),
        Category(21, "building", False, (70, 70, 70)),
        Category(23, "vegetation", False, (107, 142, 35)),
        Category(29, "road", False, (128, 64, 128)),
    ],
    name="bench",
)


def make_label(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, list[dict]]:
    """One label: stuff bands, then 5-25 things; returns (ids, segments_info)."""
    ids = np.zeros((h, w), np.uint32)
    used = set()

    def new_id() -> int:
        while True:
            value = int(rng.integers(1, 1 << 24))
            if value not in used:
                used.add(value)
                return value

    info = []
    xs = np.arange(w)
    stuff = [20, 21, 23, 29]
    bounds = [0]
    for b in range(1, len(stuff)):
        base = h * b / len(stuff)
        bounds.append(base + 0.05 * h * np.sin(xs * rng.uniform(0.005, 0.02) + rng.uniform(0, 6)))
    bounds.append(h)
    rows = np.arange(h)[:, None]
    for b, cat in enumerate(stuff):
        seg = new_id()
        region = (rows >= np.asarray(bounds[b])) & (rows < np.asarray(bounds[b + 1]))
        ids[region] = seg
        info.append({"id": seg, "category_id": cat, "iscrowd": 0})
    for _ in range(int(rng.integers(5, 26))):
        seg = new_id()
        cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
        ry, rx = int(rng.integers(4, 60)), int(rng.integers(4, 90))
        y0, y1, x0, x1 = max(cy - ry, 0), min(cy + ry, h), max(cx - rx, 0), min(cx + rx, w)
        yy, xx = np.ogrid[y0:y1, x0:x1]
        inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        ids[y0:y1, x0:x1][inside] = seg
        info.append({"id": seg, "category_id": int(rng.choice([1, 2, 3])), "iscrowd": 0})
    ids[: h // 50, : w // 10] = 0  # a little void
    present = set(np.unique(ids).tolist())
    return ids, [s for s in info if s["id"] in present]


def write_dataset(root: Path, n: int, h: int, w: int, seed: int = 0) -> Path:
    """COCO panoptic JSON + PNGs of n labels under root; returns the JSON path."""
    rng = np.random.default_rng(seed)
    png_dir = root / "panoptic"
    png_dir.mkdir(parents=True)
    images, annotations = [], []
    for i in range(n):
        ids, info = make_label(rng, h, w)
        name = f"{i:06d}.png"
        Image.fromarray(RGB24.encode(ids)).save(png_dir / name, compress_level=1)
        images.append({"id": i, "width": w, "height": h, "file_name": f"{i:06d}.jpg"})
        annotations.append({"image_id": i, "file_name": name, "segments_info": info})
    path = root / "panoptic.json"
    doc = {
        "images": images,
        "annotations": annotations,
        "categories": TAXONOMY.to_list(),
    }
    path.write_text(json.dumps(doc))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=int, default=5000, help="labels for the stats timing")
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--vectors", type=int, default=100_000, help="feature vectors")
    parser.add_argument("--dims", type=int, default=128)
    parser.add_argument("--pick", type=int, default=1000, help="how many to select")
    parser.add_argument(
        "--check",
        action="store_true",
        help="read with the reader's check that PNG ids and segments_info agree",
    )
    parser.add_argument("--keep", type=Path, help="reuse/keep the generated labels in this folder")
    args = parser.parse_args()
    from panokit import _fastpng

    decoder = (
        "libdeflate + panokit._speedups"
        if _fastpng.available()
        else "Pillow (install panokit[fast] with a C compiler for the fast decoder)"
    )
    print(
        f"cpu cores visible: {os.cpu_count()}, numpy {np.__version__}, BLAS threads "
        f"{os.environ['OPENBLAS_NUM_THREADS']}, PNG decoder {decoder}"
    )

    # ------------------------------------------------------------------ statistics
    tmp = None
    if args.keep is not None and (args.keep / "panoptic.json").is_file():
        json_path = args.keep / "panoptic.json"
        print(f"reusing {json_path}")
    else:
        root = args.keep or Path(tmp := tempfile.mkdtemp(prefix="panokit-bench-curation-"))
        t0 = time.perf_counter()
        json_path = write_dataset(root, args.labels, args.height, args.width)
        print(
            f"generated {args.labels} labels of {args.height}x{args.width} in {time.perf_counter() - t0:.1f} s"
        )
    dataset = panokit.read(json_path, format="coco-panoptic", check=args.check)
    t0, c0 = time.perf_counter(), time.process_time()
    stats = compute_stats(dataset)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = len(dataset)
    print(
        f"stats: {n} labels of {args.height}x{args.width} in {elapsed:.2f} s wall, {cpu:.2f} s CPU "
        f"({elapsed / n * 1e3:.2f} / {cpu / n * 1e3:.2f} ms per label, decode included; "
        f"check={args.check}); 5000 labels -> {elapsed / n * 5000:.1f} s wall, "
        f"{cpu / n * 5000:.1f} s CPU (target < 60 s)"
    )
    print(
        f"        things share {stats.group(True)['share']:.3f}, {stats.group(True)['segments']} instances"
    )
    if tmp is not None:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)

    # ------------------------------------------------------------------- selection
    rng = np.random.default_rng(0)
    features = rng.normal(size=(args.vectors, args.dims)).astype(np.float32)
    t0, c0 = time.perf_counter(), time.process_time()
    result = k_center_greedy(features, args.pick)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"select: k-center greedy {args.pick} of {args.vectors} vectors of {args.dims} dims "
        f"in {elapsed:.2f} s wall, {cpu:.2f} s CPU (target < 10 s); coverage radius after "
        f"{result.radius_after:.3f}"
    )
    t0 = time.perf_counter()
    random_radius = coverage_radius(
        features, rng.choice(args.vectors, args.pick, replace=False).tolist()
    )
    print(
        f"        a random subset of the same size covers within {random_radius:.3f} "
        f"(computed in {time.perf_counter() - t0:.2f} s)"
    )


if __name__ == "__main__":
    main()
