"""The ``panokit`` command: parse arguments, call the library, render the result.

Each sub-command lives in its own module under ``panokit.cli`` with two functions:
``register(subparsers)`` adds its parser and sets ``handler``; the handler returns an exit
code (0 ok, 1 failed check, 2 usage error).  Modules are imported when the parser is built,
and each imports heavy libraries only inside its handler.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from panokit.errors import PanokitError

COMMAND_MODULES: tuple[str, ...] = (
    "panokit.cli.datasets",
    "panokit.cli.evaluate",
    "panokit.cli.demo",
    "panokit.cli.curation",
    "panokit.cli.server",
)
"""Modules that contribute sub-commands, in help order."""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every sub-command registered."""
    from panokit import __version__

    parser = argparse.ArgumentParser(
        prog="panokit",
        description="Panoptic segmentation data: read, convert, evaluate, curate, label.",
    )
    parser.add_argument("--version", action="version", version=f"panokit {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``panokit`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    from panokit.cli.render import console_err

    try:
        code: int = handler(args)
    except PanokitError as exc:
        from rich.markup import escape

        console_err().print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        return EXIT_FAILED
    except KeyboardInterrupt:
        console_err().print("[red]interrupted[/]")
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
