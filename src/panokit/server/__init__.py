"""The panokit labeling server (``pip install 'panokit[server]'``).

``create_app(settings)`` builds the FastAPI application: SQLite or PostgreSQL metadata
(SQLAlchemy 2, Alembic migrations applied at start), a content-addressed blob store for
media, labels and exports, and an in-process worker for background jobs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from panokit.server.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application (see :func:`panokit.server.app.create_app`)."""
    from panokit.server.app import create_app as _create_app

    return _create_app(settings)


__all__ = ["Settings", "create_app"]
