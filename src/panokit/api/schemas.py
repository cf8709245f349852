"""Pydantic wire models of the REST API (``/api/v1``), shared by the server and the SDK.

Naming follows ``XCreate`` (request body) / ``XOut`` (response).  Labels are never JSON
arrays: a label is a PNG of segment ids plus :class:`SegmentWire` rows.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Role(str, Enum):
    """Roles a user can hold in a dataset, weakest first."""

    viewer = "viewer"
    labeler = "labeler"
    reviewer = "reviewer"
    manager = "manager"
    admin = "admin"


ROLE_RANK: dict[str, int] = {r.value: i for i, r in enumerate(Role)}
"""viewer 0 < labeler 1 < reviewer 2 < manager 3 < admin 4: a role can do what weaker ones can."""


class Status(str, Enum):
    """Workflow state of a sample."""

    unlabeled = "unlabeled"
    labeling = "labeling"
    labeled = "labeled"
    reviewing = "reviewing"
    accepted = "accepted"
    rejected = "rejected"


class Wire(BaseModel):
    """Base of every wire model (ignores unknown fields so old clients keep working)."""

    model_config = ConfigDict(extra="ignore")


# ------------------------------------------------------------------------------ errors
class ErrorDetail(Wire):
    """The body of every error response is ``{"error": ErrorDetail}``."""

    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorBody(Wire):
    """``{"error": {"code", "message", "details"}}``."""

    error: ErrorDetail


# ------------------------------------------------------------------------------- pages
class Page(Wire, Generic[T]):
    """One page of a listing; pass ``next_cursor`` as ``cursor`` for the next (None: last)."""

    items: list[T]
    next_cursor: str | None = None


# ------------------------------------------------------------------------ users, tokens
class UserCreate(Wire):
    """A new user (global admins create users)."""

    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=8, max_length=256)
    is_admin: bool = False


class UserOut(Wire):
    """A user as others see it."""

    id: int
    username: str
    is_admin: bool
    created_at: datetime


class LoginRequest(Wire):
    """Exchange a username and password for a new API token."""

    username: str = Field(max_length=64)
    password: str = Field(max_length=256)
    token_name: str = Field(default="login", min_length=1, max_length=64)


class PasswordChange(Wire):
    """Change your password: the current one, and the new one (8..256 characters)."""

    password: str
    new_password: str = Field(min_length=8, max_length=256)
    token_name: str = Field(default="login", min_length=1, max_length=64)


class TokenCreate(Wire):
    """Ask for a new named API token for yourself."""

    name: str = Field(default="api", min_length=1, max_length=64)


class TokenOut(Wire):
    """An API token; ``token`` (the secret) is only present in the response that made it."""

    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked: bool = False
    token: str | None = None


# ---------------------------------------------------------------------------- datasets
class DatasetCreate(Wire):
    """A new dataset: a name, the taxonomy (COCO-style category dicts) and the modality."""

    name: str = Field(min_length=1, max_length=128)
    categories: list[dict[str, Any]]
    void_id: int = 0
    modality: str = Field(default="image", pattern=r"^(image|pointcloud|image-series)$")
    description: str = ""


class DatasetOut(Wire):
    """A dataset with its taxonomy and sample counts per status."""

    id: int
    name: str
    description: str
    modality: str
    categories: list[dict[str, Any]]
    void_id: int
    created_at: datetime
    counts: dict[str, int] = Field(default_factory=dict)
    my_role: str | None = None


class MemberSet(Wire):
    """Give a user a role in a dataset (``external`` labelers see only their samples)."""

    username: str
    role: Role
    external: bool = False


class MemberOut(Wire):
    """A user's role in a dataset."""

    user_id: int
    username: str
    role: Role
    external: bool


# ----------------------------------------------------------------------------- samples
class SampleOut(Wire):
    """A sample's metadata (the media is fetched from ``/samples/{id}/media``)."""

    id: int
    dataset_id: int
    name: str
    split: str
    tags: list[str]
    width: int
    height: int
    media_sha256: str
    media_type: str
    status: Status
    assignee: str | None = None
    reviewer: str | None = None
    label_revision: int = 0
    superpixels: str = "none"
    created_at: datetime


class SampleUpdate(Wire):
    """Change a sample's split or tags."""

    split: str | None = Field(default=None, max_length=64)
    tags: list[str] | None = None


class HashQuery(Wire):
    """Which of these media SHA-256 digests does a dataset already hold?"""

    sha256: list[str] = Field(max_length=10000)


class HashAnswer(Wire):
    """Digest -> sample id for the digests already present."""

    present: dict[str, int]


# ------------------------------------------------------------------------------ labels
class SegmentWire(Wire):
    """One row of a segment table."""

    id: int = Field(ge=1)
    category_id: int
    iscrowd: bool = False
    attributes: dict[str, Any] = Field(default_factory=dict)


class LabelOut(Wire):
    """A label revision's metadata and segment table (its ids PNG is fetched separately)."""

    sample_id: int
    revision: int
    width: int
    height: int
    segments: list[SegmentWire]
    author: str | None = None
    source: str = "human"
    created_at: datetime


class PrelabelOut(Wire):
    """A prediction kept apart from human labels."""

    id: int
    sample_id: int
    source: str
    score: float | None = None
    width: int
    height: int
    segments: list[SegmentWire]
    created_by: str | None = None
    created_at: datetime
    accepted_revision: int | None = None


class AcceptPrelabel(Wire):
    """Make a prelabel the sample's next label revision."""

    base_revision: int = Field(ge=0)


# ---------------------------------------------------------------------------- workflow
class AssignRequest(Wire):
    """Assign samples to a labeler (managers)."""

    sample_ids: list[int] = Field(min_length=1, max_length=10000)
    username: str


class SubmitRequest(Wire):
    """Hand a sample over for review (the body is optional)."""

    revision: int | None = Field(
        default=None,
        ge=0,
        description="the label revision the labeler submits; 409 if another save landed since",
    )


class ReviewDecision(Wire):
    """A reviewer's verdict; a rejection needs a comment for the labeler."""

    accept: bool
    comment: str = Field(default="", max_length=10000)
    revision: int | None = Field(
        default=None,
        ge=0,
        description="the label revision the reviewer looked at; 409 if the label changed since",
    )


class CommentCreate(Wire):
    """A comment on a sample."""

    text: str = Field(min_length=1, max_length=10000)


class CommentOut(Wire):
    """A comment on a sample."""

    id: int
    sample_id: int
    author: str | None
    text: str
    kind: str = "comment"
    created_at: datetime


# ------------------------------------------------------------------- releases, exports
class ReleaseCreate(Wire):
    """Snapshot every accepted label of a dataset under a name."""

    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""


class ReleaseOut(Wire):
    """An immutable named snapshot of accepted labels."""

    id: int
    dataset_id: int
    name: str
    description: str
    sample_count: int
    created_by: str | None
    created_at: datetime


class ReleaseItemOut(Wire):
    """One sample of a release and the label revision it froze."""

    sample_id: int
    sample_name: str
    revision: int


class ExportCreate(Wire):
    """Export a release to a panokit format (a background job)."""

    format: str = "coco-panoptic"
    include_media: bool = True


class JobOut(Wire):
    """A background job (superpixels, export) and its progress."""

    id: int
    kind: str
    status: str
    progress: float
    done: int
    total: int
    message: str
    dataset_id: int | None = None
    sample_id: int | None = None
    release_id: int | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    download_ready: bool = False
    created_at: datetime
    finished_at: datetime | None = None


class ServerInfo(Wire):
    """What ``GET /api/v1/info`` says about the server."""

    version: str
    api: str = "v1"
    database: str
    max_upload_bytes: int
    max_image_pixels: int
    superpixels: bool
    formats: list[str]
