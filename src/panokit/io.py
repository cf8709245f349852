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
from panokit.errors import FormatError, OutputExistsError, PanokitError
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
        # mkstemp makes the file private (0600); give it the usual mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def view_for(dataset: PanopticDataset, target_format: str) -> PanopticDataset:
    """The dataset as its source format presents it to ``target_format``.

    A format module may define ``view_for(dataset, target_format)`` to say how its data is
    written in another format (Cityscapes -> COCO panoptic drops the classes its official
    converter drops, as createPanopticImgs does).  Without one, the dataset is unchanged.
    """
    if not dataset.format or dataset.format == target_format:
        return dataset
    try:
        source = get_format(dataset.format).load()
    except PanokitError:
        return dataset
    hook = getattr(source, "view_for", None)
    if hook is None:
        return dataset
    viewed: PanopticDataset = hook(dataset, target_format)
    return viewed


def write(
    dataset: PanopticDataset,
    out: str | os.PathLike[str],
    format: str,
    overwrite: bool = False,
    raw: bool = False,
    **options: Any,
) -> Path:
    """Write ``dataset`` to ``out`` in ``format``; all or nothing. Returns ``out``.

    Unless ``raw``, the source format's official view for the target is applied first
    (see :func:`view_for`).
    """
    spec = get_format(format)
    module = spec.load()
    if not spec.can_write:
        raise FormatError(f"format {spec.name!r} can be read but not written")
    if not raw:
        dataset = view_for(dataset, spec.name)
    with atomic_directory(out, overwrite=overwrite) as staging:
        module.write(dataset, staging, **options)
    return Path(out)
