"""The content-addressed blob store: a local directory, or an S3-compatible bucket.

A blob's key is the SHA-256 hex digest of its bytes, so user-supplied file names never
become paths.  Writes go to a temporary file in the store and are renamed into place:
a crash leaves either the whole blob or nothing (stray ``tmp/`` files are swept at start).
Database rows refer to blobs only after the blob is in place, so no row points at a
missing blob.  On S3 a PUT is atomic (the object appears whole or not at all); staging
folders for exports stay on the local disk.
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
from typing import Any, BinaryIO

from panokit.errors import InvalidRequestError, NotFoundError, require

_KEY = re.compile(r"^[0-9a-f]{64}$")


CHUNK = 1 << 20


def check_key(key: str) -> str:
    """A blob key is 64 lowercase hex digits, never a path."""
    if not _KEY.match(key):
        raise NotFoundError(f"blob key {key!r} is not a SHA-256 hex digest")
    return key


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
        check_key(key)
        return self.root / key[:2] / key[2:4] / key

    def local_path(self, key: str) -> Path | None:
        """The blob as a local file (None for remote stores)."""
        return self.path(key)

    def iter_bytes(self, key: str) -> Iterator[bytes]:
        """The blob in chunks (for streaming responses)."""
        with self.open(key) as handle:
            yield from iter(lambda: handle.read(CHUNK), b"")

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


class S3BlobStore(BlobStore):
    """Immutable blobs in an S3-compatible bucket under ``s3://bucket/prefix/<key>``.

    Credentials and the endpoint come from the usual AWS settings (environment variables
    such as ``AWS_ENDPOINT_URL`` for MinIO or Ceph, or the shared config files).  Export
    staging stays in ``staging_root`` on the local disk.
    """

    def __init__(self, url: str, staging_root: Path, client: Any = None) -> None:
        super().__init__(staging_root)
        bucket, prefix = parse_s3_url(url)
        self.url = url
        self.bucket = bucket
        self.prefix = prefix
        if client is None:
            boto3: Any = require("boto3", "s3", "an S3 blob store")
            client = boto3.client("s3")
        self.client = client

    def object_key(self, key: str) -> str:
        """The S3 object key of a blob."""
        return f"{self.prefix}{check_key(key)}"

    def path(self, key: str) -> Path:
        """Blobs on S3 have no local path."""
        raise NotFoundError(f"blob {key} lives in {self.url}, not on the local disk")

    def local_path(self, key: str) -> Path | None:
        """None: the blob is remote."""
        check_key(key)
        return None

    def exists(self, key: str) -> bool:
        """Whether the object is stored."""
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except Exception as exc:
            if _missing(exc):
                return False
            raise
        return True

    def put(self, data: bytes) -> str:
        """Upload bytes (one atomic PUT); returns the key."""
        key = sha256_hex(data)
        if not self.exists(key):
            self.client.put_object(Bucket=self.bucket, Key=self.object_key(key), Body=data)
        return key

    def put_file(self, source: Path) -> str:
        """Upload a finished local file, then remove it; returns its key."""
        digest = hashlib.sha256()
        with source.open("rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
        key = digest.hexdigest()
        if not self.exists(key):
            self.client.upload_file(str(source), self.bucket, self.object_key(key))
        source.unlink(missing_ok=True)
        return key

    def get(self, key: str) -> bytes:
        """The bytes of a blob."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))
        except Exception as exc:
            if _missing(exc):
                raise NotFoundError(f"blob {key} is missing from {self.url}") from None
            raise
        data: bytes = response["Body"].read()
        return data

    def open(self, key: str) -> BinaryIO:
        """A binary file-like object on a blob (read into memory)."""
        import io

        return io.BytesIO(self.get(key))

    def iter_bytes(self, key: str) -> Iterator[bytes]:
        """The blob in chunks, streamed from the bucket."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))
        except Exception as exc:
            if _missing(exc):
                raise NotFoundError(f"blob {key} is missing from {self.url}") from None
            raise
        body = response["Body"]
        yield from iter(lambda: body.read(CHUNK), b"")


def _missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    code = str(response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix/")."""
    if not url.startswith("s3://"):
        raise InvalidRequestError(f"storage URL {url!r} must look like s3://bucket/prefix")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise InvalidRequestError(f"storage URL {url!r} names no bucket")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def open_store(storage_url: str | None, local_root: Path) -> BlobStore:
    """The blob store of a server: local under ``local_root``, or S3 for ``s3://`` URLs."""
    if storage_url is None or storage_url == "":
        return BlobStore(local_root)
    return S3BlobStore(storage_url, local_root)
