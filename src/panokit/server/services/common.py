"""What every service shares: the server context, the caller, role checks, row -> wire."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from panokit.api.schemas import ROLE_RANK, DatasetOut, JobOut, SampleOut, Status
from panokit.core.taxonomy import Taxonomy
from panokit.errors import InvalidRequestError, NotFoundError, PermissionDeniedError
from panokit.server.db import Database
from panokit.server.models import Dataset, Job, Membership, SampleRow, User
from panokit.server.settings import Settings
from panokit.server.storage import BlobStore

if TYPE_CHECKING:
    from panokit.server.jobs import JobRunner
    from panokit.server.services.users import LoginThrottle


def _throttle() -> LoginThrottle:
    from panokit.server.services.users import LoginThrottle

    return LoginThrottle()


@dataclass
class Context:
    """The state of one running server: settings, database, blob store, job runner."""

    settings: Settings
    db: Database
    store: BlobStore
    jobs: JobRunner
    login_throttle: LoginThrottle = field(default_factory=lambda: _throttle())


@dataclass(frozen=True)
class Actor:
    """The authenticated caller."""

    id: int
    username: str
    is_admin: bool


@dataclass(frozen=True)
class Access:
    """The caller's standing in one dataset."""

    dataset: Dataset
    role: str
    external: bool

    @property
    def rank(self) -> int:
        """Numeric strength of the role (viewer 0 ... admin 4)."""
        return ROLE_RANK[self.role]

    def require(self, role: str, action: str, actor: Actor) -> None:
        """Raise :class:`PermissionDeniedError` unless the caller holds ``role`` or higher."""
        if self.rank < ROLE_RANK[role]:
            raise PermissionDeniedError(
                f"{action} in dataset {self.dataset.name!r} needs the role {role} or higher; "
                f"user {actor.username!r} is {self.role}",
                {"required_role": role, "role": self.role},
            )

    @property
    def restricted(self) -> bool:
        """External labelers see only the samples assigned to them."""
        return self.external and self.rank <= ROLE_RANK["labeler"]


def dataset_access(session: Session, actor: Actor, dataset_id: int) -> Access:
    """The dataset and the caller's role in it; non-members get 404 (existence is hidden)."""
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFoundError(f"dataset {dataset_id} does not exist")
    if actor.is_admin:
        return Access(dataset, "admin", False)
    member = session.scalar(
        select(Membership).where(
            Membership.dataset_id == dataset_id, Membership.user_id == actor.id
        )
    )
    if member is None:
        raise NotFoundError(f"dataset {dataset_id} does not exist")
    return Access(dataset, member.role, member.external)


def sample_access(
    session: Session, actor: Actor, sample_id: int, for_update: bool = False
) -> tuple[SampleRow, Access]:
    """A sample and the caller's standing; invisible samples are 404."""
    query = select(SampleRow).where(SampleRow.id == sample_id)
    if for_update:
        query = query.with_for_update()
    sample = session.scalar(query)
    if sample is None:
        raise NotFoundError(f"sample {sample_id} does not exist")
    access = dataset_access(session, actor, sample.dataset_id)
    if access.restricted and sample.assignee_id != actor.id:
        raise NotFoundError(f"sample {sample_id} does not exist")
    return sample, access


def taxonomy_of(dataset: Dataset) -> Taxonomy:
    """The dataset's taxonomy."""
    return Taxonomy.from_list(
        json.loads(dataset.categories_json), void_id=dataset.void_id, name=dataset.name
    )


def usernames(session: Session, ids: set[int | None]) -> dict[int, str]:
    """User id -> username for the given ids."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(wanted))).all()
    return {int(uid): str(name) for uid, name in rows}


def sample_out(row: SampleRow, names: dict[int, str]) -> SampleOut:
    """A sample row as its wire model."""
    return SampleOut(
        id=row.id,
        dataset_id=row.dataset_id,
        name=row.name,
        split=row.split,
        tags=json.loads(row.tags_json),
        width=row.width,
        height=row.height,
        media_sha256=row.media_sha256,
        media_type=row.media_type,
        status=Status(row.status),
        assignee=names.get(row.assignee_id) if row.assignee_id is not None else None,
        reviewer=names.get(row.reviewer_id) if row.reviewer_id is not None else None,
        label_revision=row.label_revision,
        superpixels=row.superpixels_status,
        created_at=row.created_at,
    )


def dataset_out(dataset: Dataset, counts: dict[str, int], role: str | None) -> DatasetOut:
    """A dataset row as its wire model."""
    return DatasetOut(
        id=dataset.id,
        name=dataset.name,
        description=dataset.description,
        modality=dataset.modality,
        categories=json.loads(dataset.categories_json),
        void_id=dataset.void_id,
        created_at=dataset.created_at,
        counts=counts,
        my_role=role,
    )


def job_out(job: Job) -> JobOut:
    """A job row as its wire model."""
    total = max(job.total, 0)
    progress = 1.0 if job.status == "done" else (min(job.done / total, 1.0) if total else 0.0)
    return JobOut(
        id=job.id,
        kind=job.kind,
        status=job.status,
        progress=round(progress, 4),
        done=job.done,
        total=job.total,
        message=job.message,
        dataset_id=job.dataset_id,
        sample_id=job.sample_id,
        release_id=job.release_id,
        params=json.loads(job.params_json),
        download_ready=job.result_key is not None,
        created_at=job.created_at,
        finished_at=job.finished_at,
    )


def encode_cursor(last_id: int) -> str:
    """An opaque cursor for keyset pagination."""
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The last id seen (0 when starting); malformed cursors are a 422."""
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode()).decode()
        kind, value = text.split(":", 1)
        if kind != "id":
            raise ValueError(kind)
        return int(value)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequestError(f"cursor {cursor!r} is not one this server handed out") from None


def page_limit(settings: Settings, limit: int) -> int:
    """Check a requested page size."""
    if limit < 1 or limit > settings.page_size_max:
        raise InvalidRequestError(
            f"limit must be between 1 and {settings.page_size_max}, got {limit}",
            {"limit": limit},
        )
    return limit


def json_details(**values: Any) -> dict[str, Any]:
    """Details dict helper (drops None values)."""
    return {k: v for k, v in values.items() if v is not None}
