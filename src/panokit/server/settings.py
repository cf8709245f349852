"""Server settings: where data lives and what the server accepts (stdlib only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Settings:
    """Everything :func:`panokit.server.create_app` needs.

    ``data_dir`` holds the blob store (and the SQLite file unless ``database_url`` is
    given); ``database_url`` may be ``sqlite:///path`` or ``postgresql://...``.
    """

    data_dir: Path = field(default_factory=lambda: Path("panokit-data"))
    database_url: str | None = None
    storage_url: str | None = None
    """``s3://bucket/prefix`` for an S3-compatible blob store (``panokit[s3]``); default:
    ``data_dir/blobs``."""
    max_upload_bytes: int = 64 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    superpixels: bool = True
    """Compute superpixel hierarchies after each upload (needs panokit.annotate)."""
    workers: int = 1
    """Background worker threads (0: jobs only run when :meth:`JobRunner.run_pending` is
    called, which tests use for determinism)."""
    fast_password_hashing: bool = False
    """Cheap argon2 parameters, for tests only."""
    page_size_max: int = 1000
    migrate: bool = True

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL (a driver named for PostgreSQL)."""
        url = self.database_url or f"sqlite:///{(self.data_dir / 'panokit.db').resolve()}"
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://") :]
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return url

    @property
    def blob_dir(self) -> Path:
        """Root of the content-addressed blob store."""
        return self.data_dir / "blobs"
