"""Rendering helpers shared by the sub-commands (rich consoles, tables, JSON output)."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from rich.console import Console


@cache
def console() -> Console:
    """The console for normal output (stdout)."""
    return Console(highlight=False, soft_wrap=False, width=None if os.isatty(1) else 120)


@cache
def console_err() -> Console:
    """The console for errors and progress (stderr)."""
    return Console(stderr=True, highlight=False)


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON via a temporary file and a rename."""
    from panokit.io import atomic_write_bytes

    atomic_write_bytes(Path(path), (json.dumps(data, indent=2) + "\n").encode())
