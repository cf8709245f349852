"""The SDK runs against the same in-process servers as the API tests."""

from __future__ import annotations

import pytest

pytest.importorskip("httpx", reason="the sdk extra is not installed")
pytest.importorskip("fastapi", reason="the server extra is not installed")

from tests.server.conftest import (  # noqa: F401
    _servers,
    backend,
    postgres_url,
    server,
    server_options,
    sqlite_template,
)
