"""``panokit eval GT PRED``: evaluate a prediction and print the PQ table."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from panokit.cli.render import console, console_err

PROGRESS_MIN_IMAGES = 50
"""Runs with at least this many images show a progress bar (on stderr)."""


def register(subparsers: Any) -> None:
    """Add the ``eval`` sub-command."""
    p = subparsers.add_parser(
        "eval",
        help="evaluate a prediction against ground truth (PQ, SQ, RQ)",
        description=(
            "Evaluate PRED against GT and print PQ / SQ / RQ (x100 on screen) for All, "
            "Things, Stuff and every class.  For coco-panoptic, GT and PRED are the JSON "
            "files and the PNGs are read from the folder of the same name without .json, "
            "as panopticapi does (--gt-dir / --pred-dir override).  A ground-truth image "
            "without prediction is an error; predicted images absent from the ground "
            "truth are ignored with a warning (an error with --strict)."
        ),
    )
    p.add_argument("gt", type=Path, help="ground truth (file or folder)")
    p.add_argument("pred", type=Path, help="prediction (file or folder)")
    p.add_argument(
        "--protocol",
        help="evaluation protocol (default: the format's, else coco); see panokit.eval.PROTOCOLS",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="worker processes (default 0: all cores)",
    )
    p.add_argument(
        "--json",
        dest="json_out",
        type=Path,
        help='write {"All": {"pq","sq","rq","n",...}, "Things", "Stuff", "per_class": [...]} '
        "with values as fractions in [0, 1] (not x100)",
    )
    p.add_argument("--gt-dir", type=Path, help="coco-panoptic: folder of the ground-truth PNGs")
    p.add_argument("--pred-dir", type=Path, help="coco-panoptic: folder of the predicted PNGs")
    p.add_argument(
        "--format", dest="format_name", help="format of GT and PRED (detected if omitted)"
    )
    p.add_argument("--split", help="split to evaluate, for formats that have splits")
    p.add_argument("--sequences", nargs="+", help="sequences to evaluate (e.g. SemanticKITTI 08)")
    p.add_argument(
        "--config",
        type=Path,
        help="semantic-kitti: a dataset YAML (labels, learning_map, learning_ignore, split) "
        "instead of the official semantic-kitti.yaml",
    )
    p.add_argument(
        "--min-points",
        type=int,
        help="LiDAR protocols: unmatched segments with fewer points are neither FN nor FP "
        "(default 50 for semantic-kitti, 15 for nuscenes)",
    )
    p.add_argument(
        "--strict", action="store_true", help="predicted images not in the ground truth are errors"
    )
    p.add_argument("--no-per-class", action="store_true", help="print only All / Things / Stuff")
    p.set_defaults(handler=cmd_eval)


def _read_datasets(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """Open GT and PRED with the format's ``read_pair`` hook when it has one; return them
    with the protocol (a name, or the format's ``eval_protocol`` for --config/--min-points)."""
    import panokit
    from panokit.errors import FormatError
    from panokit.formats.registry import detect_format, get_format

    spec = get_format(args.format_name) if args.format_name else detect_format(args.gt)
    module = spec.load()
    default_protocol: Any = args.protocol or str(getattr(module, "DEFAULT_PROTOCOL", "coco"))
    options: dict[str, Any] = {}
    tune = getattr(module, "eval_protocol", None)
    if (args.config is not None or args.min_points is not None) and tune is None:
        raise FormatError(
            f"--config and --min-points apply to the LiDAR formats (semantic-kitti, nuscenes), "
            f"not {spec.name}"
        )
    if args.config is not None:
        options["config"] = args.config
    if args.split:
        options["split"] = args.split
    if args.sequences:
        options["sequences"] = list(args.sequences)
    if spec.name == "coco-panoptic":
        if options:
            raise FormatError("--split and --sequences do not apply to coco-panoptic")
        return None, None, default_protocol  # evaluated straight from the files
    if args.gt_dir or args.pred_dir:
        raise FormatError(f"--gt-dir and --pred-dir apply to coco-panoptic, not {spec.name}")
    if hasattr(module, "read_pair"):
        import inspect

        if args.protocol and "protocol" in inspect.signature(module.read_pair).parameters:
            options["protocol"] = args.protocol  # e.g. nuscenes: which results files
        gt, pred = module.read_pair(args.gt, args.pred, **options)
        if not args.protocol:  # e.g. nuscenes lidarseg results: nuscenes-lidarseg
            default_protocol = str(gt.meta.get("protocol", default_protocol))
        if tune is not None and (args.config is not None or args.min_points is not None):
            default_protocol = tune(default_protocol, args.config, args.min_points)
        return gt, pred, default_protocol
    if options:
        raise FormatError(f"format {spec.name!r} takes no --split or --sequences")
    gt = panokit.read(args.gt, format=spec.name)
    pred = panokit.read(args.pred, format=spec.name)
    return gt, pred, default_protocol


def cmd_eval(args: argparse.Namespace) -> int:
    """Read both sides, evaluate with a progress bar, print tables, write JSON."""
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from panokit.eval import default_workers, evaluate
    from panokit.eval.evaluate import evaluate_coco

    gt, pred, protocol = _read_datasets(args)
    workers = args.workers if args.workers > 0 else default_workers()
    bar: Progress | None = None
    task_id: Any = None

    def progress(done: int, total: int) -> None:
        # started on the first report, after the worker processes were forked
        nonlocal bar, task_id
        if total < PROGRESS_MIN_IMAGES:
            return
        if bar is None:
            bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console_err(),
                transient=True,
            )
            bar.start()
            task_id = bar.add_task("evaluating", total=total)
        bar.update(task_id, completed=done)

    start = time.perf_counter()
    try:
        if gt is None:
            result = evaluate_coco(
                args.gt,
                args.pred,
                args.gt_dir,
                args.pred_dir,
                protocol=protocol,
                workers=workers,
                progress=progress,
                strict=args.strict,
            )
        else:
            result = evaluate(
                gt, pred, protocol=protocol, workers=workers, progress=progress, strict=args.strict
            )
    finally:
        if bar is not None:
            bar.stop()
    seconds = time.perf_counter() - start
    for warning in result.warnings:
        console_err().print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    print_result(result, per_class=not args.no_per_class)
    images = int(result.extra.get("images", 0 if gt is None else len(gt)))
    console().print(
        f"{images} images, protocol {result.protocol}, {workers} worker(s), {seconds:.2f} s"
    )
    if args.json_out:
        from panokit.cli.render import write_json

        write_json(args.json_out, result.to_dict())
        console().print(f"[green]wrote[/] {args.json_out}")
    return 0


def print_result(result: Any, per_class: bool = True) -> None:
    """Render a :class:`~panokit.eval.results.PQResult` as rich tables (values x100)."""
    from rich.table import Table

    out = console()
    if "fw_iou" in result.extra and not result.per_class:  # a semantic protocol: no PQ
        _print_semantic(result)
        return
    if per_class and result.per_class:
        table = Table(title=f"per class ({result.protocol})")
        for column in ("id", "name", "kind"):
            table.add_column(column)
        for column in ("PQ", "SQ", "RQ", "TP", "FP", "FN"):
            table.add_column(column, justify="right")
        for row in result.per_class:
            style = None if row.counted else "dim"
            table.add_row(
                str(row.category_id),
                row.name,
                "thing" if row.isthing else "stuff",
                f"{100 * row.pq:.1f}",
                f"{100 * row.sq:.1f}",
                f"{100 * row.rq:.1f}",
                str(row.tp),
                str(row.fp),
                str(row.fn),
                style=style,
            )
        out.print(table)
    table = Table(title=f"panoptic quality ({result.protocol}, x100)")
    table.add_column("")
    for column in ("PQ", "SQ", "RQ", "N", "TP", "FP", "FN"):
        table.add_column(column, justify="right")
    for name, summary in (("All", result.all), ("Things", result.things), ("Stuff", result.stuff)):
        table.add_row(
            name,
            f"{100 * summary.pq:.2f}",
            f"{100 * summary.sq:.2f}",
            f"{100 * summary.rq:.2f}",
            str(summary.n),
            str(summary.tp),
            str(summary.fp),
            str(summary.fn),
        )
    out.print(table)
    shown = {k: v for k, v in result.extra.items() if k != "images"}
    if shown:
        out.print("  ".join(f"{k} {100 * v:.2f}" for k, v in sorted(shown.items())))


def _print_semantic(result: Any) -> None:
    """IoU per class, mIoU and frequency-weighted IoU (x100) of a semantic protocol."""
    from rich.table import Table

    table = Table(title=f"semantic IoU ({result.protocol}, x100)")
    table.add_column("class")
    table.add_column("IoU", justify="right")
    for key, value in result.extra.items():
        if key.startswith("iou/"):
            table.add_row(key[4:], f"{100 * value:.2f}")
    table.add_row("mIoU", f"{100 * result.extra.get('miou', 0.0):.2f}", style="bold")
    table.add_row("fwIoU", f"{100 * result.extra['fw_iou']:.2f}")
    console().print(table)
