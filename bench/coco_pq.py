"""COCO panoptic PQ: panokit against panopticapi, cityscapesScripts and hotcoco.

Generates N synthetic image pairs (default 1000 of 512x1024, :mod:`panokit.synthetic`),
then evaluates the same files with every tool in its own process, one worker and all
cores, and prints the values (with the largest difference to panokit), the time ratios,
where panokit's time goes per image, and each run's peak RSS.

    python bench/coco_pq.py --panopticapi /work/anchors/panopticapi            # N = 1000
    python bench/coco_pq.py --n 5000 --only panokit                            # RSS at 5000

panopticapi is run from a copy of its repository (``--panopticapi``, skipped if absent);
cityscapesScripts and hotcoco are skipped if not installed.  Times are wall-clock seconds
of reading the JSONs and evaluating (imports and data generation excluded); ``CPU s`` is
user + system time of the process and its finished children (hotcoco's threads included;
panopticapi's pool workers are never joined, so its multi-core CPU time is not seen).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _peak_rss_mib() -> float:
    """Peak RSS of this process (VmHWM, reset by exec) or of its largest worker."""
    own = 0.0
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                own = float(line.split()[1])
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, float(children)) / 1024.0


def _official_values(results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for group in ("All", "Things", "Stuff"):
        out[group] = {k: float(results[group][k]) for k in ("pq", "sq", "rq")}
        out[group]["n"] = int(results[group]["n"])
    out["per_class"] = {
        str(k): {m: float(v[m]) for m in ("pq", "sq", "rq")}
        for k, v in results["per_class"].items()
    }
    return out


def _matched(gt_json: Path, pred_json: Path) -> tuple[list[Any], dict[int, Any]]:
    gt = json.loads(gt_json.read_text())
    pred = json.loads(pred_json.read_text())
    by_id = {a["image_id"]: a for a in pred["annotations"]}
    pairs = [(a, by_id[a["image_id"]]) for a in gt["annotations"]]
    return pairs, {c["id"]: c for c in gt["categories"]}


def run_tool(tool: str, workers: int, gt_json: Path, pred_json: Path, extra: str) -> dict[str, Any]:
    """Evaluate in this process and return {seconds, cpu_seconds, values, rss_mib}."""
    gt_dir, pred_dir = gt_json.with_suffix(""), pred_json.with_suffix("")
    sink = io.StringIO()
    if tool == "panokit":
        from panokit.eval.evaluate import evaluate_coco

        start, cpu_start = time.perf_counter(), _cpu_seconds()
        result = evaluate_coco(gt_json, pred_json, workers=workers)  # what `panokit eval` runs
        seconds = time.perf_counter() - start
        values = result.to_dict()
        values["per_class"] = {
            str(r["category_id"]): {m: r[m] for m in ("pq", "sq", "rq")}
            | {"counted": r["tp"] + r["fp"] + r["fn"] > 0}
            for r in values["per_class"]
        }
    elif tool in ("panopticapi", "cityscapes"):
        if tool == "panopticapi":
            sys.path.insert(0, extra)
            from panopticapi import evaluation as module
        else:
            from cityscapesscripts.evaluation import evalPanopticSemanticLabeling as module
        with contextlib.redirect_stdout(sink):
            start, cpu_start = time.perf_counter(), _cpu_seconds()
            pairs, categories = _matched(gt_json, pred_json)  # JSON reading counts, as for panokit
            if workers == 1:
                stat = module.pq_compute_single_core(0, pairs, gt_dir, pred_dir, categories)
            else:
                stat = module.pq_compute_multi_core(pairs, gt_dir, pred_dir, categories)
            results: dict[str, Any] = {}
            for name, isthing in (("All", None), ("Things", True), ("Stuff", False)):
                results[name], per_class = stat.pq_average(categories, isthing=isthing)
                if name == "All":
                    results["per_class"] = per_class
            seconds = time.perf_counter() - start
        values = _official_values(results)
    elif tool == "hotcoco":
        from hotcoco import panoptic

        with contextlib.redirect_stdout(sink):
            start, cpu_start = time.perf_counter(), _cpu_seconds()
            evaluator = panoptic.PanopticEval(str(gt_json), str(pred_json))
            evaluator.run()
            seconds = time.perf_counter() - start
        values = _official_values(evaluator.results())
    else:
        raise SystemExit(f"unknown tool {tool}")
    return {
        "seconds": seconds,
        "cpu_seconds": _cpu_seconds() - cpu_start,
        "values": values,
        "rss_mib": _peak_rss_mib(),
    }


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def stage_times(gt_json: Path, pred_json: Path, limit: int) -> dict[str, float]:
    """Milliseconds per image spent in each step of panokit's fast path (one process)."""
    import numpy as np

    from panokit.eval import PQAccumulator
    from panokit.eval.evaluate import reuse_freed_memory
    from panokit.eval.histogram import (
        _compiled_pair_runs,
        histogram_from_runs,
        rgb24_at,
        rgb_pair_runs,
    )
    from panokit.eval.sources import coco_task, decode_png_rgb
    from panokit.formats import coco_panoptic

    gt = coco_panoptic.read(gt_json, check=False)
    pred = coco_panoptic.read(pred_json, check=False)
    pairs = [(i, i) for i in range(min(limit, len(gt)))]
    pred_index = {s.key: i for i, s in enumerate(pred)}
    pairs = [(i, pred_index[gt[i].key]) for i, _ in pairs]
    task = coco_task(gt, pred, pairs, gt.taxonomy)
    if task is None:
        raise SystemExit("the fast path did not apply")
    acc = PQAccumulator(gt.taxonomy, "coco")
    clock = time.perf_counter
    totals = dict.fromkeys(
        ("PNG decode", "pair runs + ids", "histogram", "tables + matching"), 0.0
    )
    compiled = _compiled_pair_runs()  # what rgb24_joint_histogram uses when it was built
    with reuse_freed_memory():
        for i, pair in enumerate(task.pairs):
            t0 = clock()
            g = decode_png_rgb(pair.gt_png)
            p = decode_png_rgb(pair.pred_png)
            t1 = clock()
            if compiled is not None:
                count = g.shape[0] * g.shape[1]
                raw_starts, raw_g, raw_p = compiled(g, p, count)
                starts = np.frombuffer(raw_starts, dtype=np.int64)
                lengths = np.diff(starts, append=count)
                gv = np.frombuffer(raw_g, dtype=np.int64)
                pv = np.frombuffer(raw_p, dtype=np.int64)
            else:
                starts, lengths = rgb_pair_runs(g, p)
                gv, pv = rgb24_at(g, starts), rgb24_at(p, starts)
            t2 = clock()
            gt_table, pred_table = task.tables(i)
            t3 = clock()
            hist = histogram_from_runs(gv, pv, lengths, gt_table.ids, pred_table.ids)
            t4 = clock()
            acc.update_histogram(hist, gt_table, pred_table, pair.gt_where, pair.pred_where)
            t5 = clock()
            totals["PNG decode"] += t1 - t0
            totals["pair runs + ids"] += t2 - t1
            totals["histogram"] += t4 - t3
            totals["tables + matching"] += (t5 - t4) + (t3 - t2)
    n = max(1, len(task.pairs))
    del np
    return {k: v / n * 1000.0 for k, v in totals.items()}


def _max_diff(a: dict[str, Any], b: dict[str, Any]) -> tuple[float, str]:
    """Largest difference of PQ/SQ/RQ (groups and classes both list) and where."""
    worst, where = 0.0, ""
    for group in ("All", "Things", "Stuff"):
        for m in ("pq", "sq", "rq"):
            d = abs(a[group][m] - b[group][m])
            if d > worst:
                worst, where = d, f"{group} {m}"
    for k, row in a["per_class"].items():
        if k not in b["per_class"] or not b["per_class"][k].get("counted", True):
            continue  # absent from both sides: no value to compare (hotcoco says 1.0)
        for m in ("pq", "sq", "rq"):
            d = abs(row[m] - b["per_class"][k][m])
            if d > worst:
                worst, where = d, f"class {k} {m}"
    return worst, where


def replicate(base: Path, folder: Path, times: int) -> None:
    """``folder/{gt,pred}.json`` listing every pair of ``base`` ``times`` times (new image
    ids, same PNG files through symbolic links to ``base``'s PNG folders)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("gt", "pred"):
        doc = json.loads((base / f"{name}.json").read_text())
        images, annotations = [], []
        for k in range(times):
            for image in doc["images"]:
                images.append(dict(image, id=image["id"] + k * 10_000_000))
            for ann in doc["annotations"]:
                annotations.append(dict(ann, image_id=ann["image_id"] + k * 10_000_000))
        doc["images"], doc["annotations"] = images, annotations
        (folder / f"{name}.json").write_text(json.dumps(doc))
        link = folder / name
        if not link.exists():
            link.symlink_to((base / name).resolve(), target_is_directory=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="number of images (default 1000)")
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--out", type=Path, default=Path("/tmp/panokit-bench-coco"))
    parser.add_argument("--panopticapi", type=Path, help="a copy of cocodataset/panopticapi")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="all cores")
    parser.add_argument("--only", nargs="*", help="tools to run (default: all available)")
    parser.add_argument("--stages", type=int, default=200, help="images for the step timing")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds over all tools; the fastest round counts"
    )
    parser.add_argument(
        "--replicate",
        type=int,
        default=1,
        help="list each generated pair this many times under new image ids (same PNGs): "
        "N x K images for memory measurements without generating them all",
    )
    parser.add_argument("--run", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--extra", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    base = args.out / f"n{args.n}_{args.height}x{args.width}"
    folder = base if args.replicate <= 1 else base.with_name(base.name + f"_x{args.replicate}")
    gt_json, pred_json = folder / "gt.json", folder / "pred.json"
    if args.run:
        tool, workers = args.run[0], int(args.run[1])
        print(json.dumps(run_tool(tool, workers, gt_json, pred_json, args.extra)))
        return 0

    from panokit.synthetic import write_coco_pair

    if not ((base / "gt.json").is_file() and (base / "pred.json").is_file()):
        start = time.perf_counter()
        write_coco_pair(base, args.n, height=args.height, width=args.width)
        print(f"generated {args.n} pairs in {time.perf_counter() - start:.1f} s -> {base}")
    else:
        print(f"reusing {base}")
    if args.replicate > 1:
        replicate(base, folder, args.replicate)
        print(f"listed each pair {args.replicate} times -> {folder}")
    n_images = args.n * max(1, args.replicate)

    tools: list[tuple[str, str]] = [("panokit", "")]
    if args.panopticapi and (args.panopticapi / "panopticapi" / "evaluation.py").is_file():
        tools.append(("panopticapi", str(args.panopticapi)))
    else:
        print("panopticapi: skipped (pass --panopticapi PATH to a copy of the repository)")
    for tool, module in (("cityscapes", "cityscapesscripts"), ("hotcoco", "hotcoco")):
        try:
            __import__(module)
            tools.append((tool, ""))
        except ImportError:
            print(f"{tool}: skipped ({module} not installed)")
    if args.only:
        tools = [t for t in tools if t[0] in args.only]

    runs: dict[tuple[str, int], dict[str, Any]] = {}
    rounds = [(t, e, w) for t, e in tools for w in sorted({1, args.workers})]
    for tool, extra, workers in rounds * max(1, args.repeat):
        env = dict(os.environ)
        if tool == "hotcoco":
            env["RAYON_NUM_THREADS"] = str(workers)
        command = [sys.executable, __file__, "--n", str(args.n), "--out", str(args.out)]
        command += ["--height", str(args.height), "--width", str(args.width)]
        command += ["--replicate", str(args.replicate)]
        command += ["--run", tool, str(workers), "--extra", extra]
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            print(f"{tool} x{workers}: failed\n{done.stderr[-2000:]}")
            continue
        run = json.loads(done.stdout.strip().splitlines()[-1])
        best = runs.get((tool, workers))
        if best is None or run["seconds"] < best["seconds"]:
            runs[(tool, workers)] = run

    reference = runs.get(("panopticapi", 1))
    base = runs.get(("panokit", 1))
    print(
        f"\n{n_images} images of {args.height}x{args.width}, {os.cpu_count()} cores "
        f"(shared with other work: expect noise), fastest of {max(1, args.repeat)} round(s); "
        f"load average before: {os.getloadavg()[0]:.1f}"
    )
    if base:
        v = base["values"]
        print(
            "panokit values: "
            + "  ".join(
                f"{g} PQ {v[g]['pq']:.6f} SQ {v[g]['sq']:.6f} RQ {v[g]['rq']:.6f} n {v[g]['n']}"
                for g in ("All", "Things", "Stuff")
            )
        )
    header = f"{'tool':<14}{'workers':>8}{'seconds':>10}{'ms/image':>10}{'vs panopticapi x1':>20}"
    header += f"{'CPU s':>8}{'peak RSS MiB':>14}  max |diff| vs panokit"
    print(header)
    for (tool, workers), run in runs.items():
        ratio = f"{reference['seconds'] / run['seconds']:.1f}x" if reference else "-"
        worst, at = _max_diff(run["values"], base["values"]) if base else (0.0, "")
        diff = f"{worst:.2e} {at}" if base else "-"
        print(
            f"{tool:<14}{workers:>8}{run['seconds']:>10.2f}{run['seconds'] / n_images * 1000:>10.2f}"
            f"{ratio:>20}{run['cpu_seconds']:>8.2f}{run['rss_mib']:>14.0f}  {diff}"
        )
    for workers in sorted({1, args.workers}):
        mine = runs.get(("panokit", workers))
        if not mine:
            continue
        for peer in ("hotcoco", "cityscapes", "panopticapi"):
            other = runs.get((peer, workers))
            if other:
                print(
                    f"speed-up of panokit x{workers} over {peer} x{workers}: "
                    f"{other['seconds'] / mine['seconds']:.1f}x (their time / panokit's)"
                )
    if args.stages:
        stages = stage_times(gt_json, pred_json, args.stages)
        total = sum(stages.values())
        print(f"\npanokit, one process, per image over {min(args.stages, args.n)} images:")
        for name, ms in stages.items():
            print(f"  {name:<16}{ms:7.3f} ms  ({ms / total * 100:4.1f} %)")
        print(f"  {'total':<16}{total:7.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
