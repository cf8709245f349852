"""Alembic environment: runs on the connection handed over by panokit.server.db."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from panokit.server.models import Base

config = context.config
connection = config.attributes.get("connection")

if connection is None:  # pragma: no cover - only for `alembic` run by hand
    url = config.get_main_option("sqlalchemy.url") or "sqlite:///panokit.db"
    engine = create_engine(url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
        context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    context.run_migrations()
