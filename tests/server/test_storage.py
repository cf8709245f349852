"""The content-addressed blob store."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from panokit.errors import NotFoundError
from panokit.server.storage import BlobStore


def test_put_get_is_content_addressed(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    key = store.put(b"hello")
    assert key == hashlib.sha256(b"hello").hexdigest()
    assert store.path(key) == tmp_path / key[:2] / key[2:4] / key
    assert store.get(key) == b"hello"
    assert store.put(b"hello") == key
    assert list(store.tmp.iterdir()) == []


def test_keys_never_become_arbitrary_paths(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    with pytest.raises(NotFoundError, match=r"blob key '\.\./\.\./etc/passwd' is not a SHA-256"):
        store.path("../../etc/passwd")
    with pytest.raises(NotFoundError, match="is missing from the store"):
        store.get("0" * 64)


def test_sweep_removes_interrupted_writes(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    (store.tmp / "put-123").write_bytes(b"half")
    (store.tmp / "stage-1").mkdir()
    assert store.sweep() == 0  # young: another process may still be writing them
    assert store.sweep(older_than=0) == 2
    assert list(store.tmp.iterdir()) == []
