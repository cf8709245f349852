"""The packaged Alembic migrations build exactly the schema of the models."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, inspect


def test_migrations_match_models(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from panokit.server.db import Database
    from panokit.server.models import Base

    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    db.migrate()
    db.migrate()  # applying twice is a no-op
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    db.dispose()
    assert diff == []
    assert tables == {*Base.metadata.tables, "alembic_version"}


def test_migrations_are_package_data() -> None:
    from panokit.server.db import MIGRATIONS

    assert (MIGRATIONS / "env.py").is_file()
    assert sorted(p.name for p in (MIGRATIONS / "versions").glob("0*.py")) == [
        "0001_initial_schema.py",
        "0002_keyset_indexes.py",
        "0003_source_sha256.py",
    ]
