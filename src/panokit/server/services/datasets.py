"""Datasets, their taxonomy, and who holds which role in them."""

from __future__ import annotations

import json

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from panokit.api.schemas import (
    ROLE_RANK,
    DatasetCreate,
    DatasetOut,
    MemberOut,
    MemberSet,
    Page,
    Role,
)
from panokit.core.taxonomy import Taxonomy
from panokit.errors import ConflictError, NotFoundError, PermissionDeniedError, TaxonomyError
from panokit.server.models import Dataset, Membership, SampleRow, User
from panokit.server.services.common import (
    Actor,
    Context,
    dataset_access,
    dataset_out,
    decode_cursor,
    encode_cursor,
    page_limit,
)


def _status_counts(
    session: Session, dataset_id: int, assignee_id: int | None = None
) -> dict[str, int]:
    """Samples per workflow status (only those assigned to ``assignee_id`` if given)."""
    query = select(SampleRow.status, func.count(SampleRow.id)).where(
        SampleRow.dataset_id == dataset_id
    )
    if assignee_id is not None:
        query = query.where(SampleRow.assignee_id == assignee_id)
    rows = session.execute(query.group_by(SampleRow.status)).all()
    return {str(status): int(n) for status, n in rows}


def create_dataset(ctx: Context, actor: Actor, data: DatasetCreate) -> DatasetOut:
    """Make a dataset; its creator becomes its admin."""
    taxonomy = Taxonomy.from_list(data.categories, void_id=data.void_id, name=data.name)
    if not len(taxonomy):
        raise TaxonomyError(f"dataset {data.name!r} needs at least one category")
    if data.void_id in taxonomy:
        raise TaxonomyError(
            f"dataset {data.name!r}: the void id {data.void_id} is also a category "
            f"({taxonomy[data.void_id].name!r}); pick another void_id"
        )
    try:
        with ctx.db.write() as session:
            if session.scalar(select(Dataset.id).where(Dataset.name == data.name)) is not None:
                raise ConflictError(f"a dataset named {data.name!r} already exists")
            dataset = Dataset(
                name=data.name,
                description=data.description,
                modality=data.modality,
                categories_json=json.dumps(taxonomy.to_list()),
                void_id=data.void_id,
                created_by=actor.id,
            )
            session.add(dataset)
            session.flush()
            session.add(Membership(dataset_id=dataset.id, user_id=actor.id, role="admin"))
            session.flush()
            return dataset_out(dataset, {}, "admin")
    except IntegrityError:
        raise ConflictError(f"a dataset named {data.name!r} already exists") from None


def list_datasets(ctx: Context, actor: Actor, cursor: str | None, limit: int) -> Page[DatasetOut]:
    """Datasets the caller belongs to (all of them for server admins)."""
    limit = page_limit(ctx.settings, limit)
    after = decode_cursor(cursor)
    with ctx.db.read() as session:
        query = select(Dataset, Membership.role, Membership.external).outerjoin(
            Membership, (Membership.dataset_id == Dataset.id) & (Membership.user_id == actor.id)
        )
        if not actor.is_admin:
            query = query.where(Membership.id.is_not(None))
        rows = session.execute(
            query.where(Dataset.id > after).order_by(Dataset.id).limit(limit + 1)
        ).all()
        items = []
        for ds, role, external in rows[:limit]:
            # external labelers only learn about the samples assigned to them
            restricted = bool(external) and role in ("labeler", "viewer")
            counts = _status_counts(session, ds.id, actor.id if restricted else None)
            items.append(dataset_out(ds, counts, "admin" if actor.is_admin else str(role)))
    next_cursor = encode_cursor(items[-1].id) if len(rows) > limit else None
    return Page[DatasetOut](items=items, next_cursor=next_cursor)


def get_dataset(ctx: Context, actor: Actor, dataset_id: int) -> DatasetOut:
    """One dataset with its per-status sample counts."""
    with ctx.db.read() as session:
        access = dataset_access(session, actor, dataset_id)
        counts = _status_counts(session, dataset_id, actor.id if access.restricted else None)
        return dataset_out(access.dataset, counts, access.role)


def delete_dataset(ctx: Context, actor: Actor, dataset_id: int) -> None:
    """Delete a dataset and its rows (blobs stay; they may be shared)."""
    with ctx.db.write() as session:
        access = dataset_access(session, actor, dataset_id)
        access.require("admin", "deleting the dataset", actor)
        session.delete(access.dataset)


def list_members(ctx: Context, actor: Actor, dataset_id: int) -> list[MemberOut]:
    """Who holds which role (visible to members from reviewer up)."""
    with ctx.db.read() as session:
        access = dataset_access(session, actor, dataset_id)
        access.require("reviewer", "listing members", actor)
        rows = session.execute(
            select(Membership, User.username)
            .join(User, User.id == Membership.user_id)
            .where(Membership.dataset_id == dataset_id)
            .order_by(User.username)
        ).all()
        return [
            MemberOut(user_id=m.user_id, username=name, role=Role(m.role), external=m.external)
            for m, name in rows
        ]


def set_member(ctx: Context, actor: Actor, dataset_id: int, data: MemberSet) -> MemberOut:
    """Give a user a role; managers may grant up to manager, admins anything."""
    with ctx.db.write() as session:
        access = dataset_access(session, actor, dataset_id)
        access.require("manager", "changing members", actor)
        if ROLE_RANK[data.role.value] > access.rank:
            raise PermissionDeniedError(
                f"user {actor.username!r} is {access.role} in dataset {access.dataset.name!r} "
                f"and cannot grant the stronger role {data.role.value}"
            )
        user = session.scalar(select(User).where(User.username == data.username))
        if user is None:
            raise NotFoundError(f"user {data.username!r} does not exist")
        member = session.scalar(
            select(Membership).where(
                Membership.dataset_id == dataset_id, Membership.user_id == user.id
            )
        )
        if member is not None and ROLE_RANK[member.role] > access.rank:
            raise PermissionDeniedError(
                f"user {data.username!r} is {member.role}; a {access.role} cannot change that"
            )
        if member is None:
            member = Membership(dataset_id=dataset_id, user_id=user.id)
            session.add(member)
        member.role = data.role.value
        member.external = data.external
        session.flush()
        return MemberOut(
            user_id=user.id, username=user.username, role=data.role, external=data.external
        )


def remove_member(ctx: Context, actor: Actor, dataset_id: int, username: str) -> None:
    """Take a user's role away."""
    with ctx.db.write() as session:
        access = dataset_access(session, actor, dataset_id)
        access.require("manager", "changing members", actor)
        user_id = session.scalar(select(User.id).where(User.username == username))
        member = (
            None
            if user_id is None
            else session.scalar(
                select(Membership).where(
                    Membership.dataset_id == dataset_id, Membership.user_id == user_id
                )
            )
        )
        if member is None:
            raise NotFoundError(f"user {username!r} is not a member of {access.dataset.name!r}")
        if ROLE_RANK[member.role] > access.rank:
            raise PermissionDeniedError(
                f"user {username!r} is {member.role}; a {access.role} cannot remove them"
            )
        session.execute(delete(Membership).where(Membership.id == member.id))
