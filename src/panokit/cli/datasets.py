"""Sub-commands on datasets: ``formats``, ``inspect``, ``validate``, ``convert``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from panokit.cli.render import console, console_err


def register(subparsers: Any) -> None:
    """Add the dataset sub-commands."""
    p = subparsers.add_parser("formats", help="list the dataset formats panokit knows")
    p.set_defaults(handler=cmd_formats)

    p = subparsers.add_parser("inspect", help="show a dataset's format, taxonomy and size")
    p.add_argument("path", type=Path)
    p.add_argument("--format", dest="format_name", help="format name (detected if omitted)")
    p.set_defaults(handler=cmd_inspect)

    p = subparsers.add_parser(
        "validate", help="check every label of a dataset; exit 1 if any problem"
    )
    p.add_argument("path", type=Path)
    p.add_argument("--format", dest="format_name", help="format name (detected if omitted)")
    p.add_argument("--max-problems", type=int, default=200, help="stop listing after this many")
    p.set_defaults(handler=cmd_validate)

    p = subparsers.add_parser("convert", help="convert a dataset to another format")
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    p.add_argument("--to", dest="to_format", required=True, help="output format")
    p.add_argument("--from", dest="from_format", help="input format (detected if omitted)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument(
        "--map",
        dest="map_spec",
        metavar="FILE",
        help="label map: a YAML/JSON file, a built-in map (bdd100k->cityscapes-19) or a "
        "built-in target (cityscapes-19)",
    )
    p.add_argument(
        "--unmapped",
        choices=("void", "error"),
        help="categories without a rule in --map: make them void (default) or fail",
    )
    p.add_argument(
        "--option",
        dest="writer_options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of the output format's writer, e.g. rle=true bitmasks=false "
        "(bdd100k), version=v1.2 polygons=false (mapillary-vistas), satellite=S1A (pastis)",
    )
    p.set_defaults(handler=cmd_convert)


def cmd_formats(args: argparse.Namespace) -> int:
    """List the registry."""
    from rich.table import Table

    from panokit.formats.registry import FORMATS

    table = Table(title="panokit formats")
    table.add_column("name", style="bold")
    table.add_column("modality")
    table.add_column("status")
    table.add_column("description")
    for spec in FORMATS.values():
        status = "read/write" if spec.implemented else "[dim]not implemented yet[/]"
        if spec.implemented and not spec.can_write:
            status = "read"
        table.add_row(spec.name, spec.modality, status, spec.description)
    console().print(table)
    return 0


def _open(path: Path, format_name: str | None) -> Any:
    import panokit

    return panokit.read(path, format=format_name)


def cmd_inspect(args: argparse.Namespace) -> int:
    """Describe a dataset without loading its labels."""
    from rich.table import Table

    dataset = _open(args.path, args.format_name)
    taxonomy = dataset.taxonomy
    out = console()
    out.print(f"[bold]{args.path}[/]")
    out.print(f"format    {dataset.format}")
    out.print(f"modality  {dataset.modality}")
    out.print(f"samples   {len(dataset)}")
    out.print(
        f"taxonomy  {taxonomy.name or '(unnamed)'}: {len(taxonomy)} categories, "
        f"{len(taxonomy.things)} things, {len(taxonomy.stuff)} stuff"
    )
    if len(taxonomy):
        table = Table(title="categories")
        for column in ("id", "name", "kind", "evaluated", "color"):
            table.add_column(column)
        for cat in taxonomy:
            table.add_row(
                str(cat.id),
                cat.name,
                "thing" if cat.isthing else "stuff",
                "no" if cat.ignore_in_eval else "yes",
                "#{:02x}{:02x}{:02x}".format(*cat.color),
            )
        out.print(table)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Load every label, run the full check, and list every problem."""
    from rich.progress import Progress

    from panokit.errors import PanokitError

    dataset = _open(args.path, args.format_name)
    problems: list[str] = []
    with Progress(console=console_err(), transient=True, disable=len(dataset) < 50) as bar:
        task = bar.add_task("validating", total=len(dataset))
        for sample in dataset:
            files = ", ".join(str(f) for f in sample.label_files) or "(no file)"
            where = f"sample {sample.key!r} ({files})"
            try:
                label = sample.load_label()
                problems.extend(f"{where}: {p}" for p in label.problems())
            except PanokitError as exc:
                problems.append(f"{where}: {exc}")
            bar.advance(task)
            if len(problems) >= args.max_problems:
                problems.append(f"stopped after {args.max_problems} problems")
                break
    from rich.markup import escape

    out = console()
    if problems:
        for line in problems:
            out.print(f"[red]x[/] {escape(line)}", highlight=False)
        out.print(f"[bold red]{len(problems)} problem(s)[/] in {args.path}")
        return 1
    out.print(f"[green]ok[/] {len(dataset)} samples in {args.path} are valid")
    return 0


def _writer_options(format_name: str, items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings as keyword arguments of the format's ``write`` (true/false as
    booleans, digits as ints), checked against its signature."""
    import inspect

    from panokit.errors import FormatError
    from panokit.formats.registry import get_format

    if not items:
        return {}
    params = inspect.signature(get_format(format_name).load().write).parameters
    accepted = [
        name
        for name, param in params.items()
        if name not in ("dataset", "out") and param.kind is param.POSITIONAL_OR_KEYWORD
    ]
    options: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in accepted:
            raise FormatError(
                f"--option {item!r}: {format_name} writer options are "
                f"{', '.join(f'{a}=...' for a in accepted) or '(none)'}"
            )
        value: Any = text.strip()
        if value.lower() in ("true", "yes", "on"):
            value = True
        elif value.lower() in ("false", "no", "off"):
            value = False
        elif value.lstrip("-").isdigit():
            value = int(value)
        options[key] = value
    return options


def cmd_convert(args: argparse.Namespace) -> int:
    """Read with one format, write with another (all or nothing)."""
    import panokit

    dataset = _open(args.src, args.from_format)
    report = None
    map_spec = getattr(args, "map_spec", None)
    if map_spec:
        from panokit.formats.maps import apply_map, find_map

        dataset, report = apply_map(
            dataset, find_map(map_spec, dataset.format), getattr(args, "unmapped", None)
        )
    options = _writer_options(args.to_format, getattr(args, "writer_options", []))
    panokit.write(dataset, args.dst, format=args.to_format, overwrite=args.overwrite, **options)
    console().print(
        f"[green]wrote[/] {len(dataset)} samples from {args.src} ({dataset.format}) to "
        f"{args.dst} ({args.to_format})"
    )
    if report is not None:
        from rich.table import Table

        table = Table(title=f"label map {report.resolved.name}: pixels moved per rule")
        table.add_column("rule")
        table.add_column("pixels", justify="right")
        for text, pixels in report.rows():
            table.add_row(text, str(pixels))
        console().print(table)
    return 0
