import os
import stat

import pytest

from panokit.io import atomic_directory, atomic_write_bytes


def test_atomic_write_bytes_gives_the_usual_file_mode(tmp_path):
    target = tmp_path / "report.html"
    atomic_write_bytes(target, b"<html></html>")
    umask = os.umask(0)
    os.umask(umask)
    assert target.read_bytes() == b"<html></html>"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_atomic_directory_leaves_nothing_on_failure_and_replaces_only_when_asked(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="boom"), atomic_directory(out) as staging:
        (staging / "half.txt").write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with atomic_directory(out) as staging:
        (staging / "a.txt").write_text("first")
    with atomic_directory(out, overwrite=True) as staging:
        (staging / "b.txt").write_text("second")
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
