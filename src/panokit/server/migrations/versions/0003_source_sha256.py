"""samples.source_sha256: the digest of the uploaded file when the stored media differs

A JPEG with an EXIF orientation is stored upright (re-encoded), so its media digest is not
the file's; resumable uploads look files up by either digest.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 19:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("samples", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_sha256", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "ix_samples_dataset_source_sha", ["dataset_id", "source_sha256"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("samples", schema=None) as batch_op:
        batch_op.drop_index("ix_samples_dataset_source_sha")
        batch_op.drop_column("source_sha256")
