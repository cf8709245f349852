"""The review workflow, the labeling queue and comments.

unlabeled -> labeling (assigned) -> labeled -> reviewing -> accepted | rejected; a rejected
sample goes back to the same labeler with the reviewer's comment.  Claims are one
conditional UPDATE (``... WHERE status = 'unlabeled'``) on a row picked with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite serialises writers), so two labelers never
get the same sample.
"""

from __future__ import annotations

from sqlalchemy import select, update

from panokit.api.schemas import ROLE_RANK, CommentOut, SampleOut
from panokit.errors import ConflictError, InvalidRequestError, NotFoundError, PermissionDeniedError
from panokit.server.models import Comment, Membership, SampleRow, User
from panokit.server.services.common import (
    Actor,
    Context,
    dataset_access,
    sample_access,
    sample_out,
    usernames,
)

_CLAIM_ATTEMPTS = 50


def _claim(
    ctx: Context,
    actor: Actor,
    dataset_id: int,
    role: str,
    mine_statuses: tuple[str, ...],
    mine_column: str,
    from_status: str,
    to_status: str,
) -> SampleOut | None:
    with ctx.db.read() as session:
        access = dataset_access(session, actor, dataset_id)
        access.require(role, f"taking the next sample ({to_status})", actor)
        restricted = access.restricted
    column = getattr(SampleRow, mine_column)
    for _ in range(_CLAIM_ATTEMPTS):
        with ctx.db.write() as session:
            # work already handed to this user comes first
            mine = session.scalar(
                select(SampleRow)
                .where(
                    SampleRow.dataset_id == dataset_id,
                    column == actor.id,
                    SampleRow.status.in_(mine_statuses),
                )
                .order_by(SampleRow.id)
                .limit(1)
            )
            if mine is not None:
                return sample_out(mine, usernames(session, {mine.assignee_id, mine.reviewer_id}))
            if restricted:
                return None
            pick = (
                select(SampleRow.id)
                .where(SampleRow.dataset_id == dataset_id, SampleRow.status == from_status)
                .order_by(SampleRow.id)
                .limit(1)
            )
            if from_status == "labeled":
                # a reviewer never reviews their own labeling
                pick = pick.where(
                    (SampleRow.assignee_id.is_(None)) | (SampleRow.assignee_id != actor.id)
                )
            if ctx.db.is_postgres:
                pick = pick.with_for_update(skip_locked=True)
            candidate = session.scalar(pick)
            if candidate is None:
                return None
            result = session.execute(
                update(SampleRow)
                .where(SampleRow.id == candidate, SampleRow.status == from_status)
                .values({"status": to_status, mine_column: actor.id})
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                row = session.get(SampleRow, candidate, populate_existing=True)
                if row is None:  # pragma: no cover - deleted under us
                    continue
                return sample_out(row, usernames(session, {row.assignee_id, row.reviewer_id}))
    raise ConflictError(
        f"could not claim a sample in dataset {dataset_id} after {_CLAIM_ATTEMPTS} attempts; "
        "try again"
    )


def next_to_label(ctx: Context, actor: Actor, dataset_id: int) -> SampleOut | None:
    """The caller's next sample: one already assigned to them (labeling or rejected), else
    a newly claimed unlabeled one; None when the queue is empty."""
    return _claim(
        ctx,
        actor,
        dataset_id,
        "labeler",
        ("labeling", "rejected"),
        "assignee_id",
        "unlabeled",
        "labeling",
    )


def next_to_review(ctx: Context, actor: Actor, dataset_id: int) -> SampleOut | None:
    """The caller's next sample to review (claimed: labeled -> reviewing)."""
    return _claim(
        ctx,
        actor,
        dataset_id,
        "reviewer",
        ("reviewing",),
        "reviewer_id",
        "labeled",
        "reviewing",
    )


def assign(
    ctx: Context, actor: Actor, dataset_id: int, sample_ids: list[int], username: str
) -> list[SampleOut]:
    """Assign samples to a labeler (managers); accepted or in-review samples are refused."""
    with ctx.db.write() as session:
        access = dataset_access(session, actor, dataset_id)
        access.require("manager", "assigning samples", actor)
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFoundError(f"user {username!r} does not exist")
        member = session.scalar(
            select(Membership).where(
                Membership.dataset_id == dataset_id, Membership.user_id == user.id
            )
        )
        if not user.is_admin and (member is None or ROLE_RANK[member.role] < ROLE_RANK["labeler"]):
            raise InvalidRequestError(
                f"user {username!r} is not a labeler (or stronger) in dataset "
                f"{access.dataset.name!r}; add them as a member first"
            )
        rows = list(
            session.scalars(
                select(SampleRow).where(
                    SampleRow.dataset_id == dataset_id, SampleRow.id.in_(sample_ids)
                )
            )
        )
        found = {r.id for r in rows}
        missing = [i for i in sample_ids if i not in found]
        if missing:
            raise NotFoundError(
                f"samples {missing[:10]} are not in dataset {dataset_id}", {"missing": missing}
            )
        busy = [r.id for r in rows if r.status not in ("unlabeled", "labeling", "rejected")]
        if busy:
            raise ConflictError(
                f"samples {busy[:10]} are past labeling (labeled, in review or accepted) and "
                "cannot be reassigned",
                {"sample_ids": busy},
            )
        for row in rows:
            row.assignee_id = user.id
            if row.status == "unlabeled":
                row.status = "labeling"
        session.flush()
        return [sample_out(r, {user.id: user.username}) for r in rows]


def submit(ctx: Context, actor: Actor, sample_id: int, revision: int | None = None) -> SampleOut:
    """The labeler hands a labeled sample over for review (labeling/rejected -> labeled);
    with ``revision``, a save by someone else since is a 409 with ``current_revision``."""
    with ctx.db.write() as session:
        row, access = sample_access(session, actor, sample_id, for_update=True)
        access.require("labeler", "submitting for review", actor)
        if row.assignee_id != actor.id and access.rank < ROLE_RANK["manager"]:
            raise PermissionDeniedError(
                f"sample {sample_id} is not assigned to user {actor.username!r}"
            )
        if row.status not in ("labeling", "rejected"):
            raise ConflictError(
                f"sample {sample_id} is {row.status}; only labeling or rejected samples can be "
                "submitted",
                {"status": row.status},
            )
        if row.label_revision == 0:
            raise ConflictError(f"sample {sample_id} has no label to submit; save one first")
        if revision is not None and revision != row.label_revision:
            raise ConflictError(
                f"sample {sample_id}: submitting revision {revision} but the current revision "
                f"is {row.label_revision}; look at the new label first",
                {"current_revision": row.label_revision, "revision": revision},
            )
        row.status = "labeled"
        row.reviewer_id = None
        session.flush()
        return sample_out(row, usernames(session, {row.assignee_id}))


def review(
    ctx: Context,
    actor: Actor,
    sample_id: int,
    accept: bool,
    comment: str,
    revision: int | None = None,
) -> SampleOut:
    """Accept, or reject with a comment for the labeler (reviewers).

    ``revision`` is the label revision the reviewer looked at: if a save landed since, the
    verdict is a 409 with ``current_revision`` (never an accept of a label nobody saw).
    """
    text = comment.strip()
    with ctx.db.write() as session:
        row, access = sample_access(session, actor, sample_id, for_update=True)
        access.require("reviewer", "reviewing", actor)
        if row.status not in ("labeled", "reviewing"):
            raise ConflictError(
                f"sample {sample_id} is {row.status}; only labeled or reviewing samples can be "
                "reviewed",
                {"status": row.status},
            )
        if revision is not None and revision != row.label_revision:
            raise ConflictError(
                f"sample {sample_id}: the review is of revision {revision} but the current "
                f"revision is {row.label_revision}; look at the new label first",
                {"current_revision": row.label_revision, "revision": revision},
            )
        manager = access.rank >= ROLE_RANK["manager"]
        if row.status == "reviewing" and row.reviewer_id not in (None, actor.id) and not manager:
            raise ConflictError(f"sample {sample_id} is being reviewed by someone else")
        if row.assignee_id == actor.id and not manager:
            raise PermissionDeniedError(
                f"user {actor.username!r} labeled sample {sample_id} and cannot review it"
            )
        if not accept and not text:
            raise InvalidRequestError(
                f"rejecting sample {sample_id} needs a comment telling the labeler what to fix"
            )
        row.status = "accepted" if accept else "rejected"
        row.reviewer_id = actor.id
        if text:
            session.add(
                Comment(
                    sample_id=sample_id,
                    author_id=actor.id,
                    kind="rejection" if not accept else "review",
                    text=text,
                )
            )
        session.flush()
        return sample_out(row, usernames(session, {row.assignee_id, row.reviewer_id}))


def reopen(ctx: Context, actor: Actor, sample_id: int) -> SampleOut:
    """Send an accepted sample back to labeling by its labeler (managers)."""
    with ctx.db.write() as session:
        row, access = sample_access(session, actor, sample_id, for_update=True)
        access.require("manager", "reopening samples", actor)
        row.status = "labeling" if row.assignee_id is not None else "unlabeled"
        row.reviewer_id = None
        session.flush()
        return sample_out(row, usernames(session, {row.assignee_id}))


def add_comment(ctx: Context, actor: Actor, sample_id: int, text: str) -> CommentOut:
    """Comment on a sample (labelers and up, on samples they can see)."""
    with ctx.db.write() as session:
        _, access = sample_access(session, actor, sample_id)
        access.require("labeler", "commenting", actor)
        row = Comment(sample_id=sample_id, author_id=actor.id, kind="comment", text=text.strip())
        session.add(row)
        session.flush()
        return _comment_out(row, actor.username)


def _comment_out(row: Comment, author: str | None) -> CommentOut:
    return CommentOut(
        id=row.id,
        sample_id=row.sample_id,
        author=author,
        text=row.text,
        kind=row.kind,
        created_at=row.created_at,
    )


def list_comments(ctx: Context, actor: Actor, sample_id: int) -> list[CommentOut]:
    """A sample's comments, oldest first (review verdicts included)."""
    with ctx.db.read() as session:
        sample_access(session, actor, sample_id)
        rows = list(
            session.scalars(
                select(Comment).where(Comment.sample_id == sample_id).order_by(Comment.id)
            )
        )
        names = usernames(session, {r.author_id for r in rows})
        return [_comment_out(r, names.get(r.author_id) if r.author_id else None) for r in rows]
