"""HTTP routes under ``/api/v1``: parse, call a service, return its wire model.

No logic lives here; every permission check and state change is in ``services``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from panokit import __version__
from panokit.api.schemas import (
    AcceptPrelabel,
    AssignRequest,
    CommentCreate,
    CommentOut,
    DatasetCreate,
    DatasetOut,
    ErrorBody,
    ExportCreate,
    HashAnswer,
    HashQuery,
    JobOut,
    LabelOut,
    LoginRequest,
    MemberOut,
    MemberSet,
    Page,
    PasswordChange,
    PrelabelOut,
    ReleaseCreate,
    ReleaseItemOut,
    ReleaseOut,
    ReviewDecision,
    SampleOut,
    SampleUpdate,
    ServerInfo,
    Status,
    SubmitRequest,
    TokenCreate,
    TokenOut,
    UserCreate,
    UserOut,
)
from panokit.errors import PayloadTooLargeError
from panokit.server.services import datasets as datasets_svc
from panokit.server.services import labels as labels_svc
from panokit.server.services import releases as releases_svc
from panokit.server.services import samples as samples_svc
from panokit.server.services import users as users_svc
from panokit.server.services import workflow as workflow_svc
from panokit.server.services.common import Actor, Context

_ERRORS = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (401, "no valid token"),
        (403, "role too weak"),
        (404, "not found or not visible"),
        (409, "conflict (stale revision, taken name, wrong state)"),
        (422, "invalid payload"),
    )
}

router = APIRouter(responses=_ERRORS)  # type: ignore[arg-type]
_bearer = HTTPBearer(auto_error=False, description="an API token (pk_...)")


async def get_ctx(request: Request) -> Context:
    """The server context of the running app (async: no worker-thread hop)."""
    ctx: Context = request.app.state.ctx
    return ctx


Ctx = Annotated[Context, Depends(get_ctx)]


def current_actor(
    ctx: Ctx, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Actor:
    """The caller, from ``Authorization: Bearer <token>`` (401 otherwise)."""
    return users_svc.authenticate(ctx, credentials.credentials if credentials else None)


Me = Annotated[Actor, Depends(current_actor)]
Cursor = Annotated[str | None, Query(description="next_cursor of the previous page")]
Limit = Annotated[int, Query(ge=1, description="page size")]


def read_upload(ctx: Context, upload: UploadFile, what: str) -> bytes:
    """Read an uploaded part, refusing more than the server's limit."""
    limit = ctx.settings.max_upload_bytes
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLargeError(
            f"{what} is larger than the {limit} bytes this server accepts",
            {"max_bytes": limit},
        )
    return data


# ------------------------------------------------------------------------ server, users
@router.get("/info", response_model=ServerInfo, tags=["server"])
def info(ctx: Ctx) -> ServerInfo:
    """Version, limits and the formats exports can use (no token needed)."""
    from panokit.formats.registry import FORMATS

    return ServerInfo(
        version=__version__,
        database=ctx.db.dialect,
        max_upload_bytes=ctx.settings.max_upload_bytes,
        max_image_pixels=ctx.settings.max_image_pixels,
        superpixels=ctx.settings.superpixels,
        formats=[n for n, s in FORMATS.items() if s.implemented and s.can_write],
    )


@router.post("/auth/login", response_model=TokenOut, tags=["users"])
def login(ctx: Ctx, body: LoginRequest) -> TokenOut:
    """Exchange a user name and password for a new API token."""
    return users_svc.login(ctx, body.username, body.password, body.token_name)


@router.post("/auth/logout", status_code=204, tags=["users"])
def logout(
    ctx: Ctx, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Response:
    """Revoke the token this request carries."""
    users_svc.logout(ctx, credentials.credentials if credentials else None)
    return Response(status_code=204)


@router.post("/users", response_model=UserOut, status_code=201, tags=["users"])
def create_user(ctx: Ctx, me: Me, body: UserCreate) -> UserOut:
    """Create a user (server admins)."""
    return users_svc.create_user(ctx, body, me)


@router.get("/users", response_model=list[UserOut], tags=["users"])
def list_users(ctx: Ctx, me: Me) -> list[UserOut]:
    """Every user (server admins)."""
    return users_svc.list_users(ctx, me)


@router.get("/users/me", response_model=UserOut, tags=["users"])
def whoami(ctx: Ctx, me: Me) -> UserOut:
    """The caller."""
    return users_svc.get_user(ctx, me)


@router.post("/users/me/password", response_model=TokenOut, tags=["users"])
def change_password(ctx: Ctx, me: Me, body: PasswordChange) -> TokenOut:
    """Change your password; all your tokens are revoked and a new one is returned."""
    return users_svc.change_password(ctx, me, body.password, body.new_password, body.token_name)


@router.post("/tokens", response_model=TokenOut, status_code=201, tags=["users"])
def create_token(ctx: Ctx, me: Me, body: TokenCreate) -> TokenOut:
    """A new API token for the caller (the secret is shown once)."""
    return users_svc.issue_token(ctx, me.id, body.name)


@router.get("/tokens", response_model=list[TokenOut], tags=["users"])
def list_tokens(ctx: Ctx, me: Me) -> list[TokenOut]:
    """The caller's tokens."""
    return users_svc.list_tokens(ctx, me)


@router.delete("/tokens/{token_id}", response_model=TokenOut, tags=["users"])
def revoke_token(ctx: Ctx, me: Me, token_id: int) -> TokenOut:
    """Revoke a token (yours, or anyone's for a server admin)."""
    return users_svc.revoke_token(ctx, me, token_id)


# ---------------------------------------------------------------------------- datasets
@router.post("/datasets", response_model=DatasetOut, status_code=201, tags=["datasets"])
def create_dataset(ctx: Ctx, me: Me, body: DatasetCreate) -> DatasetOut:
    """Create a dataset; the caller becomes its admin."""
    return datasets_svc.create_dataset(ctx, me, body)


@router.get("/datasets", response_model=Page[DatasetOut], tags=["datasets"])
def list_datasets(ctx: Ctx, me: Me, cursor: Cursor = None, limit: Limit = 100) -> Page[DatasetOut]:
    """Datasets the caller belongs to."""
    return datasets_svc.list_datasets(ctx, me, cursor, limit)


@router.get("/datasets/{dataset_id}", response_model=DatasetOut, tags=["datasets"])
def get_dataset(ctx: Ctx, me: Me, dataset_id: int) -> DatasetOut:
    """A dataset with its taxonomy and per-status counts."""
    return datasets_svc.get_dataset(ctx, me, dataset_id)


@router.delete("/datasets/{dataset_id}", status_code=204, tags=["datasets"])
def delete_dataset(ctx: Ctx, me: Me, dataset_id: int) -> Response:
    """Delete a dataset (dataset admins)."""
    datasets_svc.delete_dataset(ctx, me, dataset_id)
    return Response(status_code=204)


@router.get("/datasets/{dataset_id}/members", response_model=list[MemberOut], tags=["datasets"])
def list_members(ctx: Ctx, me: Me, dataset_id: int) -> list[MemberOut]:
    """Who holds which role."""
    return datasets_svc.list_members(ctx, me, dataset_id)


@router.put("/datasets/{dataset_id}/members", response_model=MemberOut, tags=["datasets"])
def set_member(ctx: Ctx, me: Me, dataset_id: int, body: MemberSet) -> MemberOut:
    """Give a user a role (managers up to manager, admins any)."""
    return datasets_svc.set_member(ctx, me, dataset_id, body)


@router.delete("/datasets/{dataset_id}/members/{username}", status_code=204, tags=["datasets"])
def remove_member(ctx: Ctx, me: Me, dataset_id: int, username: str) -> Response:
    """Take a user's role away."""
    datasets_svc.remove_member(ctx, me, dataset_id, username)
    return Response(status_code=204)


# ----------------------------------------------------------------------------- samples
@router.post(
    "/datasets/{dataset_id}/samples", response_model=SampleOut, status_code=201, tags=["samples"]
)
def upload_sample(
    ctx: Ctx,
    me: Me,
    dataset_id: int,
    file: Annotated[UploadFile, File(description="the image")],
    name: Annotated[str | None, Form(description="sample name (default: the file name)")] = None,
    split: Annotated[str, Form()] = "",
    tags: Annotated[str, Form(description="comma-separated tags")] = "",
) -> SampleOut:
    """Upload an image as a new sample (managers); checked as a real image."""
    data = read_upload(ctx, file, "the image")
    return samples_svc.upload_sample(
        ctx,
        me,
        dataset_id,
        data,
        name if name is not None else (file.filename or ""),
        split,
        [t for t in tags.split(",") if t.strip()],
    )


@router.get("/datasets/{dataset_id}/samples", response_model=Page[SampleOut], tags=["samples"])
def list_samples(
    ctx: Ctx,
    me: Me,
    dataset_id: int,
    cursor: Cursor = None,
    limit: Limit = 100,
    status: Status | None = None,
    split: str | None = None,
    assignee: str | None = None,
    name: str | None = None,
) -> Page[SampleOut]:
    """One page of samples in id order (external labelers see only theirs)."""
    return samples_svc.list_samples(
        ctx, me, dataset_id, cursor, limit, status, split, assignee, name
    )


@router.post("/datasets/{dataset_id}/samples/hashes", response_model=HashAnswer, tags=["samples"])
def known_hashes(ctx: Ctx, me: Me, dataset_id: int, body: HashQuery) -> HashAnswer:
    """Which media digests are already uploaded (resumable uploads skip them)."""
    return samples_svc.known_hashes(ctx, me, dataset_id, body.sha256)


@router.get("/samples/{sample_id}", response_model=SampleOut, tags=["samples"])
def get_sample(ctx: Ctx, me: Me, sample_id: int) -> SampleOut:
    """A sample's metadata."""
    return samples_svc.get_sample(ctx, me, sample_id)


@router.patch("/samples/{sample_id}", response_model=SampleOut, tags=["samples"])
def update_sample(ctx: Ctx, me: Me, sample_id: int, body: SampleUpdate) -> SampleOut:
    """Change split or tags (managers)."""
    return samples_svc.update_sample(ctx, me, sample_id, body)


@router.delete("/samples/{sample_id}", status_code=204, tags=["samples"])
def delete_sample(ctx: Ctx, me: Me, sample_id: int) -> Response:
    """Delete a sample (managers; not when released)."""
    samples_svc.delete_sample(ctx, me, sample_id)
    return Response(status_code=204)


@router.get("/samples/{sample_id}/media", tags=["samples"], response_class=Response)
def get_media(ctx: Ctx, me: Me, sample_id: int) -> Response:
    """The sample's image bytes."""
    data, media_type = samples_svc.media(ctx, me, sample_id)
    return Response(
        data, media_type=media_type, headers={"Cache-Control": "private, max-age=86400"}
    )


@router.get("/samples/{sample_id}/superpixels", tags=["samples"], response_class=Response)
def get_superpixels(ctx: Ctx, me: Me, sample_id: int) -> Response:
    """The precomputed superpixel hierarchy (``SuperpixelHierarchy.from_bytes``)."""
    data = samples_svc.superpixels(ctx, me, sample_id)
    return Response(data, media_type="application/octet-stream")


# ------------------------------------------------------------------------------ labels
@router.get("/samples/{sample_id}/label", response_model=LabelOut, tags=["labels"])
def get_label(ctx: Ctx, me: Me, sample_id: int, revision: int | None = None) -> LabelOut:
    """A label revision's segment table (default: current); ids via ``/label/png``."""
    return labels_svc.get_label(ctx, me, sample_id, revision)


@router.get("/samples/{sample_id}/label/png", tags=["labels"], response_class=Response)
def get_label_png(ctx: Ctx, me: Me, sample_id: int, revision: int | None = None) -> Response:
    """A label revision's ids as an RGB24 PNG (id = R + 256 G + 65536 B)."""
    data, number = labels_svc.get_label_png(ctx, me, sample_id, revision)
    return Response(data, media_type="image/png", headers={"X-Panokit-Revision": str(number)})


@router.put("/samples/{sample_id}/label", response_model=LabelOut, tags=["labels"])
def put_label(
    ctx: Ctx,
    me: Me,
    sample_id: int,
    png: Annotated[UploadFile, File(description="segment ids as an RGB24 PNG")],
    segments: Annotated[UploadFile, File(description="segment table JSON")],
    base_revision: Annotated[int, Form(ge=0, description="the revision this edit started from")],
) -> LabelOut:
    """Save a new revision; 409 with ``current_revision`` if ``base_revision`` is stale."""
    return labels_svc.save_label(
        ctx,
        me,
        sample_id,
        read_upload(ctx, png, "the label PNG"),
        read_upload(ctx, segments, "the segment table"),
        base_revision,
    )


@router.get("/samples/{sample_id}/labels", response_model=list[LabelOut], tags=["labels"])
def label_history(ctx: Ctx, me: Me, sample_id: int) -> list[LabelOut]:
    """Every revision, oldest first."""
    return labels_svc.label_history(ctx, me, sample_id)


@router.post(
    "/samples/{sample_id}/prelabels", response_model=PrelabelOut, status_code=201, tags=["labels"]
)
def upload_prelabel(
    ctx: Ctx,
    me: Me,
    sample_id: int,
    png: Annotated[UploadFile, File()],
    segments: Annotated[UploadFile, File()],
    source: Annotated[str, Form(description="the model or tool that made it")],
    score: Annotated[float | None, Form()] = None,
) -> PrelabelOut:
    """Store a prediction apart from human labels (managers)."""
    return labels_svc.upload_prelabel(
        ctx,
        me,
        sample_id,
        read_upload(ctx, png, "the prelabel PNG"),
        read_upload(ctx, segments, "the segment table"),
        source,
        score,
    )


@router.get("/samples/{sample_id}/prelabels", response_model=list[PrelabelOut], tags=["labels"])
def list_prelabels(ctx: Ctx, me: Me, sample_id: int) -> list[PrelabelOut]:
    """The sample's prelabels, newest first."""
    return labels_svc.list_prelabels(ctx, me, sample_id)


@router.get("/prelabels/{prelabel_id}/png", tags=["labels"], response_class=Response)
def get_prelabel_png(ctx: Ctx, me: Me, prelabel_id: int) -> Response:
    """A prelabel's ids PNG."""
    return Response(labels_svc.get_prelabel_png(ctx, me, prelabel_id), media_type="image/png")


@router.post("/prelabels/{prelabel_id}/accept", response_model=LabelOut, tags=["labels"])
def accept_prelabel(ctx: Ctx, me: Me, prelabel_id: int, body: AcceptPrelabel) -> LabelOut:
    """Make a prelabel the sample's next label revision."""
    return labels_svc.accept_prelabel(ctx, me, prelabel_id, body.base_revision)


# ---------------------------------------------------------------------------- workflow
@router.post(
    "/datasets/{dataset_id}/queue/next", response_model=SampleOut | None, tags=["workflow"]
)
def next_to_label(ctx: Ctx, me: Me, dataset_id: int) -> SampleOut | None:
    """The caller's next sample to label (null when the queue is empty)."""
    return workflow_svc.next_to_label(ctx, me, dataset_id)


@router.post(
    "/datasets/{dataset_id}/review/next", response_model=SampleOut | None, tags=["workflow"]
)
def next_to_review(ctx: Ctx, me: Me, dataset_id: int) -> SampleOut | None:
    """The caller's next sample to review (null when none is waiting)."""
    return workflow_svc.next_to_review(ctx, me, dataset_id)


@router.post("/datasets/{dataset_id}/assign", response_model=list[SampleOut], tags=["workflow"])
def assign(ctx: Ctx, me: Me, dataset_id: int, body: AssignRequest) -> list[SampleOut]:
    """Assign samples to a labeler (managers)."""
    return workflow_svc.assign(ctx, me, dataset_id, body.sample_ids, body.username)


@router.post("/samples/{sample_id}/submit", response_model=SampleOut, tags=["workflow"])
def submit(ctx: Ctx, me: Me, sample_id: int, body: SubmitRequest | None = None) -> SampleOut:
    """Hand a labeled sample over for review (409 if ``revision`` is given and stale)."""
    return workflow_svc.submit(ctx, me, sample_id, body.revision if body else None)


@router.post("/samples/{sample_id}/review", response_model=SampleOut, tags=["workflow"])
def review(ctx: Ctx, me: Me, sample_id: int, body: ReviewDecision) -> SampleOut:
    """Accept, or reject with a comment for the labeler."""
    return workflow_svc.review(ctx, me, sample_id, body.accept, body.comment, body.revision)


@router.post("/samples/{sample_id}/reopen", response_model=SampleOut, tags=["workflow"])
def reopen(ctx: Ctx, me: Me, sample_id: int) -> SampleOut:
    """Send a sample back to labeling (managers)."""
    return workflow_svc.reopen(ctx, me, sample_id)


@router.get("/samples/{sample_id}/comments", response_model=list[CommentOut], tags=["workflow"])
def list_comments(ctx: Ctx, me: Me, sample_id: int) -> list[CommentOut]:
    """Comments and review verdicts, oldest first."""
    return workflow_svc.list_comments(ctx, me, sample_id)


@router.post(
    "/samples/{sample_id}/comments", response_model=CommentOut, status_code=201, tags=["workflow"]
)
def add_comment(ctx: Ctx, me: Me, sample_id: int, body: CommentCreate) -> CommentOut:
    """Comment on a sample."""
    return workflow_svc.add_comment(ctx, me, sample_id, body.text)


# ------------------------------------------------------------------- releases, exports
@router.post(
    "/datasets/{dataset_id}/releases",
    response_model=ReleaseOut,
    status_code=201,
    tags=["releases"],
)
def create_release(ctx: Ctx, me: Me, dataset_id: int, body: ReleaseCreate) -> ReleaseOut:
    """Freeze every accepted label under a new name (managers)."""
    return releases_svc.create_release(ctx, me, dataset_id, body)


@router.get("/datasets/{dataset_id}/releases", response_model=list[ReleaseOut], tags=["releases"])
def list_releases(ctx: Ctx, me: Me, dataset_id: int) -> list[ReleaseOut]:
    """A dataset's releases."""
    return releases_svc.list_releases(ctx, me, dataset_id)


@router.get("/releases/{release_id}", response_model=ReleaseOut, tags=["releases"])
def get_release(ctx: Ctx, me: Me, release_id: int) -> ReleaseOut:
    """One release."""
    return releases_svc.get_release(ctx, me, release_id)


@router.get("/releases/{release_id}/items", response_model=Page[ReleaseItemOut], tags=["releases"])
def release_items(
    ctx: Ctx, me: Me, release_id: int, cursor: Cursor = None, limit: Limit = 100
) -> Page[ReleaseItemOut]:
    """The samples of a release and their frozen revisions."""
    return releases_svc.release_items(ctx, me, release_id, cursor, limit)


@router.post(
    "/releases/{release_id}/exports", response_model=JobOut, status_code=202, tags=["releases"]
)
def start_export(ctx: Ctx, me: Me, release_id: int, body: ExportCreate) -> JobOut:
    """Export a release to a panokit format in the background (managers)."""
    return releases_svc.start_export(ctx, me, release_id, body)


@router.get("/jobs/{job_id}", response_model=JobOut, tags=["releases"])
def get_job(ctx: Ctx, me: Me, job_id: int) -> JobOut:
    """A job's status and progress."""
    return releases_svc.get_job(ctx, me, job_id)


@router.get("/datasets/{dataset_id}/jobs", response_model=list[JobOut], tags=["releases"])
def list_jobs(ctx: Ctx, me: Me, dataset_id: int, kind: str | None = None) -> list[JobOut]:
    """A dataset's jobs, newest first."""
    return releases_svc.list_jobs(ctx, me, dataset_id, kind)


@router.get("/jobs/{job_id}/download", tags=["releases"], response_class=FileResponse)
def download(ctx: Ctx, me: Me, job_id: int) -> Response:
    """The finished export as a zip (409 while it is still running)."""
    key, filename = releases_svc.download(ctx, me, job_id)
    local = ctx.store.local_path(key)
    if local is not None:
        return FileResponse(local, media_type="application/zip", filename=filename)
    return StreamingResponse(
        ctx.store.iter_bytes(key),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
