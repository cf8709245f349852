"""Reading and writing datasets in any registered format, safely.

:func:`write` builds the output in a temporary sibling folder and renames it into place
only when the writer finished, so a failure leaves nothing half-written and an existing
output is never overwritten unless asked.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from panokit.dataset import PanopticDataset
from panokit.errors import FormatError, OutputExistsError
from panokit.formats.registry import detect_format, get_format


def read(
    path: str | os.PathLike[str], format: str | None = None, **options: Any
) -> PanopticDataset:
    """Open a dataset; the format is detected from the files unless given."""
    where = Path(path)
    spec = get_format(format) if format else detect_format(where)
    if not where.exists():
        raise FormatError(f"cannot read {where} as {spec.name}: it does not exist")
    dataset: PanopticDataset = spec.load().read(where, **options)
    return dataset


@contextmanager
def atomic_directory(out: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """A fresh temporary directory that becomes ``out`` when the block succeeds."""
    target = Path(out)
    if target.exists() and not overwrite:
        raise OutputExistsError(
            f"{target} already exists; choose another output or pass overwrite=True "
            "(--overwrite on the command line)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if target.exists():
        backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        backup.rmdir()
        target.rename(backup)
        staging.rename(target)
        if backup.is_dir():
            shutil.rmtree(backup, ignore_errors=True)
        else:
            backup.unlink(missing_ok=True)
    else:
        staging.rename(target)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a file via a temporary sibling and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write(
    dataset: PanopticDataset,
    out: str | os.PathLike[str],
    format: str,
    overwrite: bool = False,
    **options: Any,
) -> Path:
    """Write ``dataset`` to ``out`` in ``format``; all or nothing. Returns ``out``."""
    spec = get_format(format)
    module = spec.load()
    if not spec.can_write:
        raise FormatError(f"format {spec.name!r} can be read but not written")
    with atomic_directory(out, overwrite=overwrite) as staging:
        module.write(dataset, staging, **options)
    return Path(out)
