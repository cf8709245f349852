"""Curation sub-commands: ``stats``, ``render``, ``select``, ``dedup``, ``split``, ``shift``."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from panokit.cli.render import console, console_err, write_json


def _dataset_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", type=Path, help="the dataset (file or folder)")
    p.add_argument("--format", dest="format_name", help="format name (detected if omitted)")
    p.add_argument(
        "--images", type=Path, help="coco-panoptic: the folder of the images (images[].file_name)"
    )


def register(subparsers: Any) -> None:
    """Add the curation sub-commands."""
    p = subparsers.add_parser(
        "stats", help="category shares, frequencies, instance sizes, co-occurrence"
    )
    _dataset_args(p)
    p.add_argument("--html", type=Path, help="write a self-contained HTML report with plots")
    p.add_argument("--json", type=Path, help="write the statistics as JSON")
    p.add_argument("--workers", type=int, default=1, help="processes (0: every core)")
    p.set_defaults(handler=cmd_stats)

    p = subparsers.add_parser("render", help="draw labels over images (or scans) as PNGs")
    _dataset_args(p)
    p.add_argument("--out", type=Path, required=True, help="output folder (must not exist)")
    p.add_argument("--samples", nargs="+", metavar="KEY", help="sample keys (default: the first)")
    p.add_argument("--limit", type=int, default=16, help="how many samples without --samples")
    p.add_argument("--alpha", type=float, default=0.5, help="label opacity over the image")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.set_defaults(handler=cmd_render)

    p = subparsers.add_parser("select", help="choose a diverse or class-balanced subset")
    _dataset_args(p)
    p.add_argument("--n", type=int, required=True, help="how many samples to choose")
    p.add_argument("--strategy", choices=("diverse", "class-balanced", "random"), default="diverse")
    p.add_argument(
        "--features",
        type=Path,
        help="feature vectors: .npz with 'keys' and 'features', or .npy in dataset order",
    )
    p.add_argument("--no-media", action="store_true", help="built-in features from labels only")
    p.add_argument("--seed", type=int, default=0, help="seed of the random strategy")
    p.add_argument("--out", type=Path, required=True, help="file of chosen keys, one per line")
    p.add_argument("--json", type=Path, help="write the selection and its radii as JSON")
    p.add_argument(
        "--html", type=Path, help="write a report: feature-space plot, frequencies, pictures"
    )
    p.add_argument("--workers", type=int, default=1, help="processes (0: every core)")
    p.set_defaults(handler=cmd_select)

    p = subparsers.add_parser("dedup", help="find near-duplicate images and repeated scans")
    _dataset_args(p)
    p.add_argument("--method", choices=("phash", "dhash"), default="phash")
    p.add_argument("--threshold", type=int, default=6, help="max Hamming distance (bits of 64)")
    p.add_argument(
        "--linkage",
        choices=("star", "single"),
        default="star",
        help="star (default): every member is within the threshold of its group's first "
        "sample, the one to keep; single: chains of near-duplicates join (as split does)",
    )
    p.add_argument("--json", type=Path, help="write the groups as JSON")
    p.add_argument("--html", type=Path, help="write the groups' pictures side by side")
    p.set_defaults(handler=cmd_dedup)

    p = subparsers.add_parser(
        "split", help="stratified split keeping near-duplicates together; or check a split"
    )
    _dataset_args(p)
    p.add_argument("--ratios", default="0.8,0.1,0.1", help="comma-separated (default 0.8,0.1,0.1)")
    p.add_argument("--names", help="comma-separated split names (default train,val,test)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="write the split as JSON {name: [keys]}")
    p.add_argument("--check", type=Path, metavar="SPLITFILE", help="check a split for leaks")
    p.add_argument("--method", choices=("phash", "dhash"), default="phash")
    p.add_argument("--threshold", type=int, default=6, help="near-duplicate Hamming distance")
    p.add_argument("--no-dedup", action="store_true", help="do not look for near-duplicates")
    p.set_defaults(handler=cmd_split)

    p = subparsers.add_parser("shift", help="what differs between two datasets, ranked")
    p.add_argument("path_a", type=Path, help="dataset A")
    p.add_argument("path_b", type=Path, help="dataset B")
    p.add_argument("--format-a", help="format of A (detected if omitted)")
    p.add_argument("--format-b", help="format of B (detected if omitted)")
    p.add_argument("--images-a", type=Path, help="coco-panoptic: the images folder of A")
    p.add_argument("--images-b", type=Path, help="coco-panoptic: the images folder of B")
    p.add_argument("--map", type=Path, help="JSON/YAML map of B's categories onto A's")
    p.add_argument("--html", type=Path, help="write a self-contained HTML report with plots")
    p.add_argument("--json", type=Path, help="write the report as JSON")
    p.add_argument("--no-media", action="store_true", help="skip image statistics")
    p.add_argument("--top", type=int, default=20, help="rows of the ranked list to print")
    p.add_argument("--workers", type=int, default=1, help="processes (0: every core)")
    p.set_defaults(handler=cmd_shift)


def _open(path: Path, format_name: str | None, images: Path | None = None) -> Any:
    import panokit
    from panokit.errors import PanokitError
    from panokit.formats.registry import detect_format, get_format

    if images is None:
        return panokit.read(path, format=format_name)
    spec = get_format(format_name) if format_name else detect_format(path)
    if spec.name != "coco-panoptic":
        raise PanokitError(
            f"--images is for coco-panoptic datasets; {path} is {spec.name}, which finds its "
            "media itself"
        )
    return panokit.read(path, format=spec.name, images_dir=images)


@contextmanager
def _progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    from rich.progress import Progress

    with Progress(console=console_err(), transient=True, disable=total < 50) as bar:
        task = bar.add_task(label, total=total)

        def advance(n: int) -> None:
            bar.advance(task, n)

        yield advance


def _finite(x: float) -> float | None:
    """JSON has no inf or NaN: they become null."""
    return x if x == x and abs(x) != float("inf") else None


def _pct(x: float) -> str:
    return f"{x:.2%}"


# ----------------------------------------------------------------------------------- stats
def cmd_stats(args: argparse.Namespace) -> int:
    """Compute and print dataset statistics."""
    from rich.table import Table

    from panokit.curation.stats import compute_stats

    dataset = _open(args.path, args.format_name, args.images)
    with _progress("statistics", len(dataset)) as advance:
        stats = compute_stats(dataset, progress=advance, workers=args.workers)
    if args.html:
        from panokit.curation.report import stats_report

        stats_report(stats, title=f"Statistics of {args.path}").write(args.html)
    if args.json:
        write_json(args.json, stats.to_dict())
    data = stats.to_dict()
    unit = data["unit"]
    out = console()
    out.print(
        f"[bold]{args.path}[/]: {stats.samples} samples ({stats.labeled} labeled), "
        f"{stats.total_elements} {unit}, void {_pct(data['void_share'])}"
    )
    for things in (True, False):
        group = data["things" if things else "stuff"]
        every = [r for r in stats.categories() if r.isthing == things]
        rows = [r for r in every if r.elements or r.crowd_segments]
        absent = [r.name for r in every if not (r.elements or r.crowd_segments)]
        if not every:
            continue
        table = Table(
            title=f"{'things' if things else 'stuff'}: {_pct(group['share'])} of labeled {unit}, "
            f"{group['segments']} segments"
        )
        for col in ("id", "name", "share", "samples", "segments", "crowd", "~median size"):
            table.add_column(col, justify="left" if col == "name" else "right")
        for r in rows:
            table.add_row(
                str(r.id),
                r.name,
                _pct(r.share),
                f"{r.samples} ({_pct(r.sample_frequency)})",
                str(r.segments),
                str(r.crowd_segments),
                f"{r.median_size:.0f}" if r.segments else "-",
            )
        if rows:
            out.print(table)
        if absent:
            kind = "thing" if things else "stuff"
            out.print(f"{len(absent)} {kind} categories never occur: {', '.join(absent)}")
    if stats.unlisted_elements:
        out.print(
            f"[yellow]warning:[/] {stats.unlisted_elements} {unit} have a segment id with no "
            "segment (counted as void); run `panokit validate`"
        )
    for path, what in ((args.html, "HTML report"), (args.json, "JSON")):
        if path:
            out.print(f"[green]wrote[/] {what} {path}")
    return 0


# ---------------------------------------------------------------------------------- render
def cmd_render(args: argparse.Namespace) -> int:
    """Write pictures of samples."""
    from panokit.curation.render import render_sample
    from panokit.curation.stats import require_samples
    from panokit.errors import PanokitError
    from panokit.io import atomic_directory

    dataset = _open(args.path, args.format_name, args.images)
    require_samples(dataset)
    if args.samples:
        missing = [k for k in args.samples if k not in dataset]
        if missing:
            raise PanokitError(
                f"no sample with key(s) {missing[:5]} in {args.path}; keys look like "
                f"{dataset.keys()[:3]}"
            )
        samples = [dataset[k] for k in args.samples]
    else:
        samples = [s for s in dataset if s.has_label][: max(args.limit, 0)]
    written = 0
    with atomic_directory(args.out, overwrite=args.overwrite) as staging:
        for sample in samples:
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in sample.key)
            for view, picture in render_sample(sample, alpha=args.alpha).items():
                picture.save(staging / f"{safe}.{view}.png")
                written += 1
    console().print(f"[green]wrote[/] {written} pictures of {len(samples)} samples to {args.out}")
    return 0


# ---------------------------------------------------------------------------------- select
def cmd_select(args: argparse.Namespace) -> int:
    """Choose a subset and write its keys."""
    import numpy as np

    from panokit.curation.features import dataset_features, load_features, presence_matrix
    from panokit.curation.select import coverage_radius, random_selection, select
    from panokit.curation.stats import require_samples
    from panokit.io import atomic_write_bytes

    dataset = _open(args.path, args.format_name, args.images)
    require_samples(dataset)
    if args.features:
        table = load_features(args.features, dataset)
        features = table.values
    else:
        with _progress("features", len(dataset)) as advance:
            table = dataset_features(
                dataset, media=not args.no_media, progress=advance, workers=args.workers
            )
        features = table.standardized()
    presence = None
    if args.strategy == "class-balanced":
        label_cols = [i for i, n in enumerate(table.names) if n.startswith("label.")]
        if label_cols and not args.features:
            presence = np.asarray(table.values[:, label_cols] > 0)
        else:
            with _progress("categories", len(dataset)) as advance:
                presence = presence_matrix(dataset, progress=advance)
    result = select(features, args.n, strategy=args.strategy, presence=presence, seed=args.seed)
    keys = dataset.keys()
    chosen = [keys[i] for i in result.indices]
    atomic_write_bytes(args.out, "".join(f"{k}\n" for k in chosen).encode())
    baseline = float("nan")
    if args.strategy != "random" and args.n:
        baseline = coverage_radius(features, random_selection(len(keys), args.n, args.seed))
    if args.json:
        write_json(
            args.json,
            {
                "strategy": args.strategy,
                "n": args.n,
                "keys": chosen,
                "radius_before": _finite(result.radius_before),
                "radius_after": _finite(result.radius_after),
                "radius_random": _finite(baseline),
                "features": table.names,
            },
        )
    if args.html:
        from panokit.curation.report import select_report

        if presence is None:
            label_cols = [i for i, n in enumerate(table.names) if n.startswith("label.")]
            if label_cols and not args.features:
                presence = np.asarray(table.values[:, label_cols] > 0)
            else:
                with _progress("categories", len(dataset)) as advance:
                    presence = presence_matrix(dataset, progress=advance)
        select_report(
            dataset,
            result.indices,
            features,
            {"after": result.radius_after, "random": baseline},
            presence,
            title=f"Selection of {len(chosen)} from {args.path} ({args.strategy})",
        ).write(args.html)
    out = console()
    out.print(
        f"[green]chose[/] {len(chosen)} of {len(keys)} samples ({args.strategy}) -> {args.out}"
    )
    before = (
        f"{result.radius_before:.4g}"
        if math.isfinite(result.radius_before)
        else "unbounded (nothing chosen yet)"
    )
    out.print(
        f"coverage radius (largest distance from a sample to its nearest chosen one): "
        f"before {before}, after {result.radius_after:.4g}"
        + (f" (a random subset of the same size: {baseline:.4g})" if baseline == baseline else "")
    )
    if args.html:
        out.print(f"[green]wrote[/] HTML report {args.html}")
    return 0


# ----------------------------------------------------------------------------------- dedup
def cmd_dedup(args: argparse.Namespace) -> int:
    """List near-duplicate groups."""
    from rich.markup import escape

    from panokit.curation.dedup import find_duplicates
    from panokit.curation.stats import require_samples

    dataset = _open(args.path, args.format_name, args.images)
    if len(dataset) == 0:
        require_samples(dataset)
    with _progress("hashing", len(dataset)) as advance:
        report = find_duplicates(
            dataset, args.method, args.threshold, progress=advance, linkage=args.linkage
        )
    if args.json:
        write_json(args.json, report.to_dict())
    if args.html:
        from panokit.curation.report import dedup_report

        dedup_report(report, dataset, title=f"Near-duplicates in {args.path}").write(args.html)
    out = console()
    for i, group in enumerate(report.groups, start=1):
        kinds = sorted({report.sources[k] for k in group})
        out.print(f"group {i} ({', '.join(kinds)}): {escape(' '.join(group))}")
    out.print(
        f"{len(report.groups)} group(s) of near-duplicates, {report.duplicates} redundant sample(s) "
        f"of {len(dataset)} ({args.method}, threshold {args.threshold}, {args.linkage} linkage; "
        "keep the first of each group)"
    )
    if args.html:
        out.print(f"[green]wrote[/] HTML report {args.html}")
    return 0


# ----------------------------------------------------------------------------------- split
def cmd_split(args: argparse.Namespace) -> int:
    """Make a stratified split, or check an existing one."""
    from rich.markup import escape
    from rich.table import Table

    from panokit.curation.dedup import find_duplicates
    from panokit.curation.features import presence_matrix
    from panokit.curation.split import (
        assignment_from,
        check_split,
        parse_ratios,
        read_split_file,
        split_names,
        stratified_split,
    )
    from panokit.curation.stats import require_samples

    dataset = _open(args.path, args.format_name, args.images)
    require_samples(dataset)
    keys = dataset.keys()
    groups: list[list[str]] = []
    if not args.no_dedup:
        with _progress("hashing", len(dataset)) as advance:
            groups = find_duplicates(
                dataset, args.method, args.threshold, progress=advance, linkage="single"
            ).groups
    out = console()
    if args.check:
        assignment = read_split_file(args.check)
        check = check_split(assignment, keys, groups)
        if args.out:
            write_json(args.out, check.to_dict())
        sizes = ", ".join(f"{n} {c}" for n, c in check.sizes.items())
        out.print(f"{args.check}: {sizes}; {len(check.missing)} dataset samples in no split")
        for spread in check.leaks:
            where = "; ".join(f"{n}: {' '.join(m)}" for n, m in spread.items())
            out.print(f"[red]leak[/] near-duplicates across splits: {escape(where)}")
        for key, names in check.repeated.items():
            out.print(f"[red]repeated[/] {escape(key)} is in {', '.join(names)}")
        if check.unknown:
            out.print(
                f"[red]unknown[/] {len(check.unknown)} keys not in the dataset, e.g. {escape(str(check.unknown[:5]))}"
            )
        if check.ok:
            out.print("[green]ok[/] no leaks")
            return 0
        out.print(
            f"[bold red]{len(check.leaks)} leak(s), {len(check.repeated)} repeated key(s), "
            f"{len(check.unknown)} unknown key(s)[/]"
        )
        return 1
    ratios = parse_ratios(args.ratios)
    names = split_names(len(ratios), args.names.split(",") if args.names else None)
    with _progress("categories", len(dataset)) as advance:
        presence = presence_matrix(dataset, progress=advance)
    position = {k: i for i, k in enumerate(keys)}
    split_of = stratified_split(
        presence, ratios, [[position[k] for k in g] for g in groups], seed=args.seed
    )
    assignment = assignment_from(keys, split_of, names)
    if args.out:
        write_json(args.out, assignment)
    table = Table(
        title=f"split of {len(keys)} samples ({len(groups)} near-duplicate groups kept together)"
    )
    table.add_column("category")
    for name, ratio in zip(names, ratios, strict=True):
        table.add_column(f"{name} ({ratio / sum(ratios):.0%})", justify="right")
    table.add_row("samples", *(str(len(assignment[n])) for n in names))
    for j, cat in enumerate(dataset.taxonomy):
        total = int(presence[:, j].sum())
        if total:
            table.add_row(
                cat.name,
                *(f"{int(presence[split_of == s, j].sum())}" for s in range(len(names))),
            )
    out.print(table)
    if args.out:
        out.print(f"[green]wrote[/] {args.out}")
    return 0


# ----------------------------------------------------------------------------------- shift
def cmd_shift(args: argparse.Namespace) -> int:
    """Compare two datasets."""
    from rich.markup import escape
    from rich.table import Table

    from panokit.curation.shift import domain_shift, read_label_map

    a = _open(args.path_a, args.format_a, args.images_a)
    b = _open(args.path_b, args.format_b, args.images_b)
    label_map = read_label_map(args.map, b.taxonomy, a.taxonomy) if args.map else None
    with _progress("comparing", 2 * (len(a) + len(b))) as advance:
        report = domain_shift(
            a,
            b,
            label_map=label_map,
            media=not args.no_media,
            name_a=str(args.path_a),
            name_b=str(args.path_b),
            progress=advance,
            workers=args.workers,
        )
    if args.html:
        from panokit.curation.report import shift_report

        shift_report(report, title=f"{args.path_a} vs {args.path_b}").write(args.html)
    if args.json:
        write_json(args.json, report.to_dict())
    out = console()
    out.print(f"A = {escape(str(args.path_a))}, B = {escape(str(args.path_b))}")
    out.print(
        f"Jensen-Shannon divergence of category shares {report.category_jsd:.4f}, of sample "
        f"frequencies {report.frequency_jsd:.4f}, of thing sizes {report.things_size_jsd:.4f}"
    )
    if report.missing_in_a:
        out.print(f"[yellow]missing in A:[/] {', '.join(report.missing_in_a)}")
    if report.missing_in_b:
        out.print(f"[yellow]missing in B:[/] {', '.join(report.missing_in_b)}")
    table = Table(title="what differs most")
    for col in ("rank", "kind", "name", "score", "detail"):
        table.add_column(col, justify="right" if col in ("rank", "score") else "left")
    differing = [item for item in report.ranked if item.score > 0]
    for i, item in enumerate(differing[: args.top], start=1):
        table.add_row(
            str(i), item.kind, escape(item.name), f"{item.score:.3f}", escape(item.detail)
        )
    if differing:
        out.print(table)
    if len(differing) < len(report.ranked):
        out.print(f"{len(report.ranked) - len(differing)} compared item(s) do not differ (score 0)")
    for path, what in ((args.html, "HTML report"), (args.json, "JSON")):
        if path:
            out.print(f"[green]wrote[/] {what} {path}")
    return 0
