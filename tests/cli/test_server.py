"""The server commands: ``user``, ``token`` and ``serve`` (uvicorn replaced by a stub)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed")

from panokit.cli.main import main


def test_user_and_token_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "d")
    assert main(["user", "create", "alice", "--admin", "--data", data]) == 0
    out = capsys.readouterr().out
    assert "created server admin 'alice' (id 1)" in out
    password = re.search(r"password: (\S+)", out)
    assert password is not None and len(password.group(1)) >= 12
    assert main(["user", "create", "alice", "--data", data]) == 1
    assert "user name 'alice' is taken" in capsys.readouterr().err
    assert main(["token", "create", "alice", "--name", "ci", "--data", data]) == 0
    token = re.search(r"token 1 for 'alice': (pk_\S+)", capsys.readouterr().out)
    assert token is not None
    assert main(["token", "revoke", "1", "--data", data]) == 0
    assert main(["token", "list", "alice", "--data", data]) == 0
    listing = capsys.readouterr().out
    assert "ci" in listing and "revoked" in listing
    assert main(["token", "create", "bob", "--data", data]) == 1
    assert "user 'bob' does not exist" in capsys.readouterr().err


def test_serve_first_start_and_demo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    data = str(tmp_path / "d")
    assert main(["serve", "--data", data, "--port", "8123", "--no-superpixels"]) == 0
    out = capsys.readouterr().out
    assert "no users yet." in out
    assert f"panokit user create admin --admin --data {data}" in out
    assert calls == [{"host": "127.0.0.1", "port": 8123, "log_level": "warning"}]
    assert main(["serve", "--data", data, "--demo", "--no-superpixels"]) == 0
    out = capsys.readouterr().out
    assert "demo dataset 1 with 12 samples" in out
    assert re.search(r"log in as admin with the one-time password \S+", out)
    assert main(["serve", "--data", data, "--demo", "--no-superpixels"]) == 0
    assert "demo admin 'admin' exists already" in capsys.readouterr().out
