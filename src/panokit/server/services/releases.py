"""Releases (immutable snapshots of accepted labels) and their export jobs."""

from __future__ import annotations

import json

from sqlalchemy import Integer, and_, func, insert, literal, select
from sqlalchemy.exc import IntegrityError

from panokit.api.schemas import (
    ExportCreate,
    JobOut,
    Page,
    ReleaseCreate,
    ReleaseItemOut,
    ReleaseOut,
)
from panokit.errors import ConflictError, InvalidRequestError, NotFoundError
from panokit.formats.registry import get_format
from panokit.server.models import Job, LabelRevision, Release, ReleaseItem, SampleRow
from panokit.server.services.common import (
    Actor,
    Context,
    dataset_access,
    decode_cursor,
    encode_cursor,
    job_out,
    page_limit,
    usernames,
)


def release_out(row: Release, author: str | None) -> ReleaseOut:
    """A release row as its wire model."""
    return ReleaseOut(
        id=row.id,
        dataset_id=row.dataset_id,
        name=row.name,
        description=row.description,
        sample_count=row.sample_count,
        created_by=author,
        created_at=row.created_at,
    )


def create_release(ctx: Context, actor: Actor, dataset_id: int, data: ReleaseCreate) -> ReleaseOut:
    """Freeze the current revision of every accepted label under a new name (managers)."""
    try:
        with ctx.db.write() as session:
            access = dataset_access(session, actor, dataset_id)
            access.require("manager", "creating releases", actor)
            taken = session.scalar(
                select(Release.id).where(
                    Release.dataset_id == dataset_id, Release.name == data.name
                )
            )
            if taken is not None:
                raise ConflictError(
                    f"dataset {access.dataset.name!r} already has a release named {data.name!r}; "
                    "releases are immutable, pick a new name",
                    {"release_id": int(taken)},
                )
            release = Release(
                dataset_id=dataset_id,
                name=data.name,
                description=data.description,
                categories_json=access.dataset.categories_json,
                created_by=actor.id,
            )
            session.add(release)
            session.flush()
            accepted = (
                select(
                    literal(release.id, type_=Integer).label("release_id"),
                    SampleRow.id,
                    LabelRevision.id,
                )
                .join(
                    LabelRevision,
                    and_(
                        LabelRevision.sample_id == SampleRow.id,
                        LabelRevision.revision == SampleRow.label_revision,
                    ),
                )
                .where(SampleRow.dataset_id == dataset_id, SampleRow.status == "accepted")
            )
            session.execute(
                insert(ReleaseItem).from_select(
                    ["release_id", "sample_id", "label_revision_id"], accepted
                )
            )
            release.sample_count = int(
                session.scalar(
                    select(func.count(ReleaseItem.id)).where(ReleaseItem.release_id == release.id)
                )
                or 0
            )
            session.flush()
            return release_out(release, actor.username)
    except IntegrityError:
        raise ConflictError(f"a release named {data.name!r} already exists") from None


def _release(ctx: Context, actor: Actor, release_id: int) -> tuple[Release, str]:
    with ctx.db.read() as session:
        release = session.get(Release, release_id)
        if release is None:
            raise NotFoundError(f"release {release_id} does not exist")
        access = dataset_access(session, actor, release.dataset_id)
        if access.restricted:
            raise NotFoundError(f"release {release_id} does not exist")
        return release, access.role


def list_releases(ctx: Context, actor: Actor, dataset_id: int) -> list[ReleaseOut]:
    """A dataset's releases, oldest first."""
    with ctx.db.read() as session:
        access = dataset_access(session, actor, dataset_id)
        if access.restricted:
            return []
        rows = list(
            session.scalars(
                select(Release).where(Release.dataset_id == dataset_id).order_by(Release.id)
            )
        )
        names = usernames(session, {r.created_by for r in rows})
        return [release_out(r, names.get(r.created_by) if r.created_by else None) for r in rows]


def get_release(ctx: Context, actor: Actor, release_id: int) -> ReleaseOut:
    """One release."""
    release, _ = _release(ctx, actor, release_id)
    with ctx.db.read() as session:
        names = usernames(session, {release.created_by})
    return release_out(release, names.get(release.created_by) if release.created_by else None)


def release_items(
    ctx: Context, actor: Actor, release_id: int, cursor: str | None, limit: int
) -> Page[ReleaseItemOut]:
    """The samples of a release with the revision each one froze."""
    limit = page_limit(ctx.settings, limit)
    after = decode_cursor(cursor)
    _release(ctx, actor, release_id)
    with ctx.db.read() as session:
        rows = session.execute(
            select(ReleaseItem.id, SampleRow.id, SampleRow.name, LabelRevision.revision)
            .join(SampleRow, SampleRow.id == ReleaseItem.sample_id)
            .join(LabelRevision, LabelRevision.id == ReleaseItem.label_revision_id)
            .where(ReleaseItem.release_id == release_id, ReleaseItem.id > after)
            .order_by(ReleaseItem.id)
            .limit(limit + 1)
        ).all()
    items = [
        ReleaseItemOut(sample_id=sid, sample_name=name, revision=rev)
        for _, sid, name, rev in rows[:limit]
    ]
    next_cursor = encode_cursor(rows[limit - 1][0]) if len(rows) > limit else None
    return Page[ReleaseItemOut](items=items, next_cursor=next_cursor)


def start_export(ctx: Context, actor: Actor, release_id: int, data: ExportCreate) -> JobOut:
    """Queue the export of a release to a panokit format (managers)."""
    spec = get_format(data.format)
    spec.load()  # fails now (422) for planned formats
    with ctx.db.write() as session:
        release = session.get(Release, release_id)
        if release is None:
            raise NotFoundError(f"release {release_id} does not exist")
        access = dataset_access(session, actor, release.dataset_id)
        access.require("manager", "exporting releases", actor)
        if spec.modality != access.dataset.modality:
            raise InvalidRequestError(
                f"format {spec.name!r} holds {spec.modality} data but dataset "
                f"{access.dataset.name!r} holds {access.dataset.modality} samples",
                {"format_modality": spec.modality, "dataset_modality": access.dataset.modality},
            )
        job = Job(
            kind="export",
            dataset_id=release.dataset_id,
            release_id=release_id,
            params_json=json.dumps({"format": spec.name, "include_media": data.include_media}),
            total=release.sample_count,
            created_by=actor.id,
        )
        session.add(job)
        session.flush()
        out = job_out(job)
    ctx.jobs.submit(out.id)
    return out


def get_job(ctx: Context, actor: Actor, job_id: int) -> JobOut:
    """A job's status and progress (visible to members of its dataset)."""
    with ctx.db.read() as session:
        job = session.get(Job, job_id)
        if job is None or job.dataset_id is None:
            raise NotFoundError(f"job {job_id} does not exist")
        access = dataset_access(session, actor, job.dataset_id)
        if access.restricted:
            # external labelers see only jobs of the samples assigned to them
            assignee = (
                session.scalar(select(SampleRow.assignee_id).where(SampleRow.id == job.sample_id))
                if job.sample_id is not None
                else None
            )
            if assignee != actor.id:
                raise NotFoundError(f"job {job_id} does not exist")
        return job_out(job)


def list_jobs(ctx: Context, actor: Actor, dataset_id: int, kind: str | None) -> list[JobOut]:
    """A dataset's jobs, newest first (at most 200)."""
    with ctx.db.read() as session:
        access = dataset_access(session, actor, dataset_id)
        access.require("reviewer", "listing jobs", actor)
        query = select(Job).where(Job.dataset_id == dataset_id)
        if kind is not None:
            query = query.where(Job.kind == kind)
        return [job_out(j) for j in session.scalars(query.order_by(Job.id.desc()).limit(200))]


def download(ctx: Context, actor: Actor, job_id: int) -> tuple[str, str]:
    """The blob key of a finished export and a file name for it."""
    with ctx.db.read() as session:
        job = session.get(Job, job_id)
        if job is None or job.dataset_id is None or job.kind != "export":
            raise NotFoundError(f"export job {job_id} does not exist")
        access = dataset_access(session, actor, job.dataset_id)
        if access.restricted:
            raise NotFoundError(f"export job {job_id} does not exist")
        if job.result_key is None:
            raise ConflictError(
                f"export job {job_id} is {job.status}; its file is not ready",
                {"status": job.status},
            )
        release = session.get(Release, job.release_id) if job.release_id else None
        fmt = json.loads(job.params_json).get("format", "export")
        name = f"{release.name if release else 'release'}-{fmt}.zip"
        return job.result_key, name
