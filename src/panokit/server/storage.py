"""The content-addressed blob store (a local directory).

A blob's key is the SHA-256 hex digest of its bytes, so user-supplied file names never
become paths.  Writes go to a temporary file in the store and are renamed into place:
a crash leaves either the whole blob or nothing (stray ``tmp/`` files are swept at start).
Database rows refer to blobs only after the blob is in place, so no row points at a
missing blob.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from panokit.errors import NotFoundError

_KEY = re.compile(r"^[0-9a-f]{64}$")


def sha256_hex(data: bytes) -> str:
    """SHA-256 hex digest of ``data`` (the blob key)."""
    return hashlib.sha256(data).hexdigest()


class BlobStore:
    """Immutable blobs under ``root/ab/cd/<key>``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)

    def sweep(self, older_than: float = 3600.0) -> int:
        """Remove leftovers of interrupted writes older than ``older_than`` seconds (another
        process may be writing the younger ones); returns how many were removed."""
        import time

        removed = 0
        now = time.time()
        for stray in self.tmp.iterdir():
            try:
                age = now - stray.stat().st_mtime
            except FileNotFoundError:
                continue
            if age < older_than:
                continue
            if stray.is_dir():
                shutil.rmtree(stray, ignore_errors=True)
            else:
                stray.unlink(missing_ok=True)
            removed += 1
        return removed

    def path(self, key: str) -> Path:
        """The file of a blob (the key is checked: only 64 lowercase hex digits)."""
        if not _KEY.match(key):
            raise NotFoundError(f"blob key {key!r} is not a SHA-256 hex digest")
        return self.root / key[:2] / key[2:4] / key

    def exists(self, key: str) -> bool:
        """Whether the blob is stored."""
        return self.path(key).is_file()

    def put(self, data: bytes) -> str:
        """Store bytes; returns the key (writing the same bytes twice is a no-op)."""
        key = sha256_hex(data)
        target = self.path(key)
        if target.is_file():
            return key
        fd, tmp = tempfile.mkstemp(dir=self.tmp, prefix="put-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def put_file(self, source: Path) -> str:
        """Move a finished file (inside ``tmp``) into the store; returns its key."""
        digest = hashlib.sha256()
        with source.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        key = digest.hexdigest()
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        return key

    @contextmanager
    def staging_dir(self) -> Iterator[Path]:
        """A fresh directory under ``tmp`` removed afterwards (for exports)."""
        path = Path(tempfile.mkdtemp(dir=self.tmp, prefix="stage-"))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def get(self, key: str) -> bytes:
        """The bytes of a blob."""
        path = self.path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"blob {key} is missing from the store at {self.root}") from None

    def open(self, key: str) -> BinaryIO:
        """A binary file handle on a blob."""
        try:
            return self.path(key).open("rb")
        except FileNotFoundError:
            raise NotFoundError(f"blob {key} is missing from the store at {self.root}") from None
