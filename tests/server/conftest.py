"""Fixtures: an in-process server on SQLite (always) and PostgreSQL (when
PANOKIT_TEST_DATABASE_URL is set), with users of every role.

SQLite: the schema is migrated once per session into a template file that each test
copies.  PostgreSQL: a fresh schema per session (dropped at the end), tables truncated
before each test, so reruns start clean.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed")
pytest.importorskip("sqlalchemy", reason="the server extra is not installed")

from tests.server.helpers import Server, build_server, reset_server

ENV = "PANOKIT_TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite database file."""
    from panokit.server.db import Database

    path = tmp_path_factory.mktemp("template") / "panokit.db"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    db.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A URL whose search_path is a fresh schema, migrated once."""
    url = os.environ.get(ENV)
    if not url:
        pytest.skip(f"{ENV} is not set; PostgreSQL tests need a server (CI sets it)")
    from sqlalchemy import create_engine, text

    from panokit.server.db import Database
    from panokit.server.settings import Settings

    base = Settings(database_url=url).db_url
    schema = f"panokit_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"cannot use PostgreSQL at {url}: {exc}")
    joiner = "&" if "?" in base else "?"
    scoped = f"{base}{joiner}options=-csearch_path%3D{schema}"
    db = Database(scoped)
    db.migrate()
    db.dispose()
    yield scoped
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend of a test."""
    return str(request.param)


@pytest.fixture
def server_options() -> dict[str, Any]:
    """Settings overrides for the server fixture (tests override this fixture)."""
    return {}


@pytest.fixture(scope="session")
def _servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    built: dict[str, Server] = {}
    yield built
    for srv in built.values():
        srv.close()


@pytest.fixture
def server(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
    server_options: dict[str, Any],
    _servers: dict[str, Server],
) -> Server:
    """An in-process server (one app per backend, emptied before each test) with an admin
    and one user per dataset role."""
    if backend not in _servers:
        folder = tmp_path_factory.mktemp(f"server-{backend}")
        if backend == "sqlite":
            shutil.copy(sqlite_template, folder / "panokit.db")
            url = None
        else:
            url = request.getfixturevalue("postgres_url")
        _servers[backend] = build_server(folder, url)
    return reset_server(_servers[backend], **server_options)
