"""Alembic migrations of the labeling server database (package data)."""
