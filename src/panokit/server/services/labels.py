"""Labels with revisions (409 on a stale base revision) and prelabels kept apart."""

from __future__ import annotations

import json

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from panokit.api.convert import decode_ids_png, parse_segments_json, segments_json
from panokit.api.schemas import ROLE_RANK, LabelOut, PrelabelOut, SegmentWire
from panokit.core.label import PanopticImage
from panokit.errors import (
    ConflictError,
    InvalidRequestError,
    LabelError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from panokit.server.models import LabelRevision, Prelabel, SampleRow
from panokit.server.services.common import (
    Access,
    Actor,
    Context,
    sample_access,
    taxonomy_of,
    usernames,
)

EDITABLE_BY_LABELER = ("labeling", "rejected")
EDITABLE_BY_REVIEWER = ("labeled", "reviewing")


def label_out(row: LabelRevision, author: str | None) -> LabelOut:
    """A label revision row as its wire model."""
    return LabelOut(
        sample_id=row.sample_id,
        revision=row.revision,
        width=row.width,
        height=row.height,
        segments=[SegmentWire(**s) for s in json.loads(row.segments_json)],
        author=author,
        source=row.source,
        created_at=row.created_at,
    )


def prelabel_out(row: Prelabel, author: str | None) -> PrelabelOut:
    """A prelabel row as its wire model."""
    return PrelabelOut(
        id=row.id,
        sample_id=row.sample_id,
        source=row.source,
        score=row.score,
        width=row.width,
        height=row.height,
        segments=[SegmentWire(**s) for s in json.loads(row.segments_json)],
        created_by=author,
        created_at=row.created_at,
        accepted_revision=row.accepted_revision,
    )


def png_size(data: bytes) -> tuple[int, int] | None:
    """A PNG's (width, height) from its IHDR chunk, or None if ``data`` is no PNG."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def check_label(
    png: bytes, segments_text: str | bytes, sample: SampleRow, access: Access
) -> PanopticImage:
    """Decode and fully check a label payload against the sample and the taxonomy.

    Raises :class:`LabelError` / :class:`ValidationError` (both 422) with the reason.
    """
    where = f"label of sample {sample.id} ({sample.name!r})"
    size = png_size(png)
    if size is not None and size != (sample.width, sample.height):
        # refused from the header: a huge PNG is never decoded
        raise LabelError(
            f"{where}: the ids PNG is {size[0]}x{size[1]} but the image is "
            f"{sample.width}x{sample.height}"
        )
    ids = decode_ids_png(png)
    if ids.shape != (sample.height, sample.width):
        raise LabelError(
            f"{where}: the ids PNG is {ids.shape[1]}x{ids.shape[0]} but the image is "
            f"{sample.width}x{sample.height}"
        )
    segments = parse_segments_json(segments_text)
    label = PanopticImage(ids, segments, taxonomy_of(access.dataset))
    problems = label.problems()
    if problems:
        raise ValidationError(problems, where=where)
    return label


def _can_edit(sample: SampleRow, access: Access, actor: Actor) -> None:
    if access.rank >= ROLE_RANK["manager"]:
        return
    if access.rank >= ROLE_RANK["reviewer"] and sample.status in EDITABLE_BY_REVIEWER:
        return
    if access.rank >= ROLE_RANK["labeler"]:
        if sample.assignee_id == actor.id and sample.status in EDITABLE_BY_LABELER:
            return
        raise PermissionDeniedError(
            f"sample {sample.id} is {sample.status}"
            + ("" if sample.assignee_id == actor.id else " and not assigned to you")
            + f"; user {actor.username!r} ({access.role}) can save labels only on samples "
            "assigned to them that are labeling or rejected",
            {"status": sample.status},
        )
    access.require("labeler", "saving labels", actor)


def save_label(
    ctx: Context,
    actor: Actor,
    sample_id: int,
    png: bytes,
    segments_text: str | bytes,
    base_revision: int,
    source: str = "human",
) -> LabelOut:
    """Store a new label revision if ``base_revision`` is the current one, else 409.

    The PNG blob is written before the row, so no revision points at a missing blob.
    """
    with ctx.db.read() as session:
        sample, access = sample_access(session, actor, sample_id)
        _can_edit(sample, access, actor)
        check_label(png, segments_text, sample, access)
    # store the canonical segment table (sorted, compact)
    table = parse_segments_json(segments_text)
    key = ctx.store.put(png)
    return _commit_revision(ctx, actor, sample_id, key, segments_json(table), base_revision, source)


def _commit_revision(
    ctx: Context,
    actor: Actor,
    sample_id: int,
    png_key: str,
    segments_text: str,
    base_revision: int,
    source: str,
) -> LabelOut:
    with ctx.db.write() as session:
        sample, access = sample_access(session, actor, sample_id, for_update=True)
        _can_edit(sample, access, actor)
        values: dict[str, object] = {"label_revision": base_revision + 1}
        if sample.status == "rejected" and sample.assignee_id == actor.id:
            values["status"] = "labeling"
        elif sample.status == "unlabeled":
            # whoever labels an unclaimed sample takes it
            values.update(status="labeling", assignee_id=actor.id)
        result = session.execute(
            update(SampleRow)
            .where(SampleRow.id == sample_id, SampleRow.label_revision == base_revision)
            .values(values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            current = session.scalar(
                select(SampleRow.label_revision).where(SampleRow.id == sample_id)
            )
            raise ConflictError(
                f"sample {sample_id}: the label was saved against revision {base_revision} but "
                f"the current revision is {current}; reload it and apply your changes again",
                {"current_revision": current, "base_revision": base_revision},
            )
        row = LabelRevision(
            sample_id=sample_id,
            revision=base_revision + 1,
            png_key=png_key,
            segments_json=segments_text,
            width=sample.width,
            height=sample.height,
            author_id=actor.id,
            source=source,
        )
        session.add(row)
        session.flush()
        return label_out(row, actor.username)


def _revision_row(session: Session, sample: SampleRow, revision: int | None) -> LabelRevision:
    wanted = sample.label_revision if revision is None else revision
    if wanted <= 0:
        raise NotFoundError(f"sample {sample.id} has no label yet", {"revision": 0})
    row = session.scalar(
        select(LabelRevision).where(
            LabelRevision.sample_id == sample.id, LabelRevision.revision == wanted
        )
    )
    if row is None:
        raise NotFoundError(
            f"sample {sample.id} has no label revision {wanted} "
            f"(current revision {sample.label_revision})"
        )
    return row


def get_label(ctx: Context, actor: Actor, sample_id: int, revision: int | None) -> LabelOut:
    """A label revision's metadata and segment table (default: the current revision)."""
    with ctx.db.read() as session:
        sample, _ = sample_access(session, actor, sample_id)
        row = _revision_row(session, sample, revision)
        names = usernames(session, {row.author_id})
        return label_out(row, names.get(row.author_id) if row.author_id else None)


def get_label_png(
    ctx: Context, actor: Actor, sample_id: int, revision: int | None
) -> tuple[bytes, int]:
    """A label revision's ids PNG and its revision number."""
    with ctx.db.read() as session:
        sample, _ = sample_access(session, actor, sample_id)
        row = _revision_row(session, sample, revision)
        key, number = row.png_key, row.revision
    return ctx.store.get(key), number


def label_history(ctx: Context, actor: Actor, sample_id: int) -> list[LabelOut]:
    """Every revision of a sample's label, oldest first."""
    with ctx.db.read() as session:
        sample_access(session, actor, sample_id)
        rows = list(
            session.scalars(
                select(LabelRevision)
                .where(LabelRevision.sample_id == sample_id)
                .order_by(LabelRevision.revision)
            )
        )
        names = usernames(session, {r.author_id for r in rows})
        return [label_out(r, names.get(r.author_id) if r.author_id else None) for r in rows]


# --------------------------------------------------------------------------- prelabels
def upload_prelabel(
    ctx: Context,
    actor: Actor,
    sample_id: int,
    png: bytes,
    segments_text: str | bytes,
    source: str,
    score: float | None,
) -> PrelabelOut:
    """Keep a prediction beside the human labels (managers, or the SDK acting for a model)."""
    source = source.strip()
    if not source or len(source) > 128:
        raise InvalidRequestError("a prelabel needs a source (model name) of 1..128 characters")
    with ctx.db.read() as session:
        sample, access = sample_access(session, actor, sample_id)
        access.require("manager", "uploading prelabels", actor)
        check_label(png, segments_text, sample, access)
        width, height = sample.width, sample.height
    table = parse_segments_json(segments_text)
    key = ctx.store.put(png)
    with ctx.db.write() as session:
        row = Prelabel(
            sample_id=sample_id,
            source=source,
            score=score,
            png_key=key,
            segments_json=segments_json(table),
            width=width,
            height=height,
            created_by=actor.id,
        )
        session.add(row)
        session.flush()
        return prelabel_out(row, actor.username)


def list_prelabels(ctx: Context, actor: Actor, sample_id: int) -> list[PrelabelOut]:
    """The sample's prelabels, newest first."""
    with ctx.db.read() as session:
        sample_access(session, actor, sample_id)
        rows = list(
            session.scalars(
                select(Prelabel).where(Prelabel.sample_id == sample_id).order_by(Prelabel.id.desc())
            )
        )
        names = usernames(session, {r.created_by for r in rows})
        return [prelabel_out(r, names.get(r.created_by) if r.created_by else None) for r in rows]


def _prelabel(
    session: Session, actor: Actor, prelabel_id: int
) -> tuple[Prelabel, SampleRow, Access]:
    row = session.get(Prelabel, prelabel_id)
    if row is None:
        raise NotFoundError(f"prelabel {prelabel_id} does not exist")
    sample, access = sample_access(session, actor, row.sample_id)
    return row, sample, access


def get_prelabel_png(ctx: Context, actor: Actor, prelabel_id: int) -> bytes:
    """A prelabel's ids PNG."""
    with ctx.db.read() as session:
        row, _, _ = _prelabel(session, actor, prelabel_id)
        key = row.png_key
    return ctx.store.get(key)


def accept_prelabel(ctx: Context, actor: Actor, prelabel_id: int, base_revision: int) -> LabelOut:
    """Make a prelabel the sample's next label revision (by a user who may edit it)."""
    with ctx.db.read() as session:
        pre, sample, access = _prelabel(session, actor, prelabel_id)
        _can_edit(sample, access, actor)
        key, text, source, sample_id = pre.png_key, pre.segments_json, pre.source, sample.id
    out = _commit_revision(
        ctx, actor, sample_id, key, text, base_revision, source=f"prelabel:{source}"[:64]
    )
    with ctx.db.write() as session:
        session.execute(
            update(Prelabel)
            .where(Prelabel.id == prelabel_id)
            .values(accepted_revision=out.revision)
        )
    return out
