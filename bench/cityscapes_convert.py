"""Cityscapes gtFine -> COCO panoptic: panokit vs cityscapesScripts' createPanopticImgs.

Generates N Cityscapes-size (1024x2048) ``*_gtFine_instanceIds.png`` / ``*_labelIds.png``
files (a pool of distinct synthetic street scenes, copied to reach N), converts them with
both tools in this one process on one core, checks that the outputs agree, and prints the
times, the ratio, where panokit's time goes per image, and panokit's resident memory
during its run (it must stay flat as N grows).

    python bench/cityscapes_convert.py --n 500            # the issue's setting
    python bench/cityscapes_convert.py --n 20 --pool 5    # quick look while developing

Needs ``cityscapesscripts`` (pip install cityscapesscripts) for the official side; without
it only panokit is timed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

import panokit
from panokit.core.codecs import RGB24
from panokit.formats import cityscapes as cs
from panokit.formats import coco_panoptic

CITIES = ("frankfurt", "lindau", "munster")


def street_scene(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A synthetic instanceIds array: stuff bands, poles, ~30 objects, groups, ignored."""
    inst = np.empty((height, width), np.uint16)
    cuts = np.sort(rng.integers(height // 8, height, 3))
    inst[: cuts[0]] = 23
    inst[cuts[0] : cuts[1]] = rng.choice([11, 21])
    inst[cuts[1] : cuts[2]] = rng.choice([12, 13, 22, 9])
    inst[cuts[2] :] = 7
    inst[cuts[2] :, : width // 4] = 8
    inst[height - height // 12 :] = 1  # ego vehicle
    for x in rng.integers(0, width - 12, 6):
        inst[cuts[0] : cuts[2], x : x + 10] = rng.choice([17, 18, 19, 20])
    for k in range(30):
        cls = int(rng.choice([24, 24, 25, 26, 26, 26, 27, 28, 29, 30, 31, 32, 33]))
        h, w = int(rng.integers(20, 200)), int(rng.integers(20, 300))
        y, x = int(rng.integers(cuts[0], height - h)), int(rng.integers(0, width - w))
        yy, xx = np.ogrid[:h, :w]
        blob = ((yy - h / 2) / (h / 2)) ** 2 + ((xx - w / 2) / (w / 2)) ** 2 <= 1
        value = cls if k % 9 == 0 else cls * 1000 + k
        inst[y : y + h, x : x + w][blob] = value
    inst[rng.random((height, width)) < 0.002] = 0
    return inst


def make_tree(root: Path, n: int, pool: int, height: int, width: int) -> None:
    rng = np.random.default_rng(0)
    sources: list[tuple[bytes, bytes]] = []
    for _ in range(min(pool, n)):
        inst = street_scene(rng, height, width)
        a, b = io.BytesIO(), io.BytesIO()
        Image.fromarray(inst).save(a, format="PNG")
        Image.fromarray(cs.value_classes(inst).astype(np.uint8)).save(b, format="PNG")
        sources.append((a.getvalue(), b.getvalue()))
    for i in range(n):
        city = CITIES[i % len(CITIES)]
        folder = root / "gtFine" / "val" / city
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{city}_{i:06d}_000019"
        inst_png, label_png = sources[i % len(sources)]
        (folder / (stem + cs.INSTANCE_SUFFIX)).write_bytes(inst_png)
        (folder / (stem + cs.LABEL_SUFFIX)).write_bytes(label_png)


class RssSampler:
    """Samples this process's resident memory every 20 ms while active."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss_mib() -> float:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        import os

        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.rss_mib())
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_panokit(root: Path, out: Path, check: bool) -> None:
    raw = panokit.read(root, format="cityscapes", split="val", check=check)
    panokit.write(cs.to_panoptic(raw), out, format="coco-panoptic")


def profile(root: Path, count: int) -> dict[str, float]:
    """Milliseconds per image for each step of panokit's conversion."""
    raw = panokit.read(root, format="cityscapes", split="val")
    steps = dict.fromkeys(
        (
            "decode instanceIds",
            "segments",
            "decode labelIds + check",
            "to_panoptic",
            "area + bbox",
            "encode + save PNG",
        ),
        0.0,
    )
    tmp = Path(tempfile.mkdtemp())
    for sample in list(raw)[:count]:
        inst_path, label_path = sample.label_files
        t0 = time.perf_counter()
        ids = cs.read_instance_ids(inst_path)
        t1 = time.perf_counter()
        label = cs.label_from_instance_ids(ids, str(inst_path))
        t2 = time.perf_counter()
        cs._check_label_ids(label, cs.read_label_ids(label_path), label_path)
        t3 = time.perf_counter()
        view = cs.to_panoptic(raw.select([sample.key]))[0].load_label()
        t4 = time.perf_counter()
        view.areas()
        view.bboxes()
        t5 = time.perf_counter()
        coco_panoptic.write_png_ids(view.ids, tmp / "x.png")
        t6 = time.perf_counter()
        del label
        for key, (a, b) in zip(
            steps, ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5), (t5, t6)), strict=True
        ):
            steps[key] += (b - a) * 1000 / count
    # to_panoptic above re-decodes the PNGs; report only its own share.
    steps["to_panoptic"] -= steps["decode instanceIds"] + steps["decode labelIds + check"]
    steps["to_panoptic"] -= steps["segments"]
    shutil.rmtree(tmp)
    return steps


def compare(official: Path, ours: Path) -> str:
    want = json.loads((official / "cityscapes_panoptic_val.json").read_text())
    got = json.loads((ours / "cityscapes_panoptic_val.json").read_text())
    if got["annotations"] != want["annotations"]:
        return "DIFFERENT annotations"
    for ann in want["annotations"][:10]:
        a = np.asarray(Image.open(official / "cityscapes_panoptic_val" / ann["file_name"]))
        b = np.asarray(Image.open(ours / "cityscapes_panoptic_val" / ann["file_name"]))
        if not np.array_equal(RGB24.decode(a), RGB24.decode(b)):
            return f"DIFFERENT pixels in {ann['file_name']}"
    return f"identical annotations ({len(want['annotations'])} images), PNG pixels equal"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="number of labels (default 500)")
    parser.add_argument("--pool", type=int, default=20, help="distinct scenes (default 20)")
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--no-check", action="store_true", help="skip the labelIds check")
    parser.add_argument("--workdir", type=Path, help="where to generate (default: a temp dir)")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="cs-bench-", dir=args.workdir))
    try:
        t = time.perf_counter()
        make_tree(work / "data", args.n, args.pool, args.height, args.width)
        print(
            f"generated {args.n} labels of {args.height}x{args.width} "
            f"in {time.perf_counter() - t:.1f} s ({work})"
        )

        base = RssSampler.rss_mib()
        with RssSampler() as rss:
            t = time.perf_counter()
            run_panokit(work / "data", work / "ours", check=not args.no_check)
            ours = time.perf_counter() - t
        quarter = rss.samples[: max(1, len(rss.samples) // 4)]
        print(
            f"panokit     {ours:8.2f} s  {ours / args.n * 1000:7.1f} ms/image  "
            f"(labelIds check {'off' if args.no_check else 'on'})"
        )
        print(
            f"  RSS: start {base:.0f} MiB, peak in first quarter {max(quarter):.0f} MiB, "
            f"peak overall {max(rss.samples):.0f} MiB"
        )

        try:
            from cityscapesscripts.preparation.createPanopticImgs import convert2panoptic
        except ImportError:
            print("cityscapesScripts not installed: official side skipped")
            return 0
        (work / "official").mkdir()
        t = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            convert2panoptic(str(work / "data" / "gtFine"), str(work / "official"), False, ["val"])
        official = time.perf_counter() - t
        print(
            f"official    {official:8.2f} s  {official / args.n * 1000:7.1f} ms/image  "
            "(createPanopticImgs.convert2panoptic)"
        )
        print(f"ratio       {official / ours:8.2f}x faster")
        print(f"outputs     {compare(work / 'official', work / 'ours')}")
        print("panokit per image (ms), first 10 images:")
        for step, ms in profile(work / "data", min(10, args.n)).items():
            print(f"  {step:26s} {ms:7.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
