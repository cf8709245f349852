"""Samples: uploads (checked as real images), listing with cursors, metadata, media."""

from __future__ import annotations

import io
import json
import re
import unicodedata
import warnings
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from panokit.api.schemas import HashAnswer, Page, SampleOut, SampleUpdate, Status
from panokit.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceError,
)
from panokit.server.models import Job, SampleRow, User
from panokit.server.services.common import (
    Actor,
    Context,
    dataset_access,
    decode_cursor,
    encode_cursor,
    page_limit,
    sample_access,
    sample_out,
    usernames,
)
from panokit.server.storage import sha256_hex

IMAGE_TYPES = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
}


@dataclass(frozen=True)
class ImageInfo:
    """What an uploaded image turned out to be."""

    media_type: str
    width: int
    height: int


def check_image(data: bytes, max_pixels: int, name: str) -> ImageInfo:
    """Decode ``data`` fully with Pillow; refuse non-images, odd formats and huge images.

    The pixel count is checked from the header before any decoding (decompression-bomb
    guard); a truncated or corrupt file fails the full decode.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format or "unknown"
            if kind not in IMAGE_TYPES:
                raise InvalidRequestError(
                    f"upload {name!r} is a {kind} image; accepted are {', '.join(IMAGE_TYPES)}"
                )
            width, height = image.size
            if width * height > max_pixels:
                raise PayloadTooLargeError(
                    f"upload {name!r} is {width}x{height} = {width * height} pixels; this "
                    f"server accepts at most {max_pixels}",
                    {"pixels": width * height, "max_pixels": max_pixels},
                )
            if width < 1 or height < 1:
                raise InvalidRequestError(f"upload {name!r} has no pixels ({width}x{height})")
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image.load()
    except ServiceError:
        raise
    except UnidentifiedImageError:
        raise InvalidRequestError(f"upload {name!r} is not an image Pillow can read") from None
    except Image.DecompressionBombError as exc:
        raise PayloadTooLargeError(
            f"upload {name!r} looks like a decompression bomb: {exc}"
        ) from None
    except Image.DecompressionBombWarning as exc:
        raise PayloadTooLargeError(
            f"upload {name!r} looks like a decompression bomb: {exc}"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidRequestError(
            f"upload {name!r} is a corrupt or truncated image: {exc}"
        ) from None
    return ImageInfo(IMAGE_TYPES[kind], width, height)


def exif_upright(data: bytes) -> bytes | None:
    """A JPEG/TIFF/WEBP with an EXIF orientation other than 1, re-encoded upright with the
    tag removed (JPEG at quality 95, others losslessly); None when nothing is to be done."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as image:
        orientation = image.getexif().get(0x0112, 1)
        if orientation in (None, 1) or image.format not in ("JPEG", "TIFF", "WEBP"):
            return None
        kind = image.format
        icc = image.info.get("icc_profile")
        upright = ImageOps.exif_transpose(image)
        if upright is None:  # pragma: no cover - not in_place, so always an image
            return None
        exif = upright.getexif()
        exif.pop(0x0112, None)
        out = io.BytesIO()
        options: dict[str, object] = {"exif": exif.tobytes()}
        if icc:
            options["icc_profile"] = icc
        if kind == "JPEG":
            options.update(quality=95, subsampling=0)
        elif kind == "WEBP":
            options.update(lossless=True)
        upright.save(out, format=kind, **options)
        return out.getvalue()


def clean_name(name: str) -> str:
    """A sample name as metadata: printable, at most 512 characters (never used as a path)."""
    name = name.strip()
    if not name:
        raise InvalidRequestError("a sample needs a non-empty name")
    if len(name) > 512:
        raise InvalidRequestError(f"sample name is {len(name)} characters long; at most 512")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise InvalidRequestError(f"sample name {name!r} holds control characters")
    return name


_SPLIT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}")


def clean_split(split: str) -> str:
    """A split name: empty, or up to 64 letters, digits, ``_ - .`` not starting with a dot.

    Export formats make folders from splits (``gtFine/<split>/``), so anything else is
    refused here rather than trusted there.
    """
    split = split.strip()
    if split and not _SPLIT.fullmatch(split):
        raise InvalidRequestError(
            f"split {split[:70]!r} must be at most 64 letters, digits, '_', '-' or '.' "
            "and not start with '.'",
            {"split": split[:70]},
        )
    return split


def clean_tags(tags: list[str]) -> list[str]:
    """Tags: short printable strings, duplicates dropped, order kept."""
    out: list[str] = []
    for tag in tags:
        tag = tag.strip()
        if not tag:
            continue
        if len(tag) > 64 or any(unicodedata.category(c).startswith("C") for c in tag):
            raise InvalidRequestError(f"tag {tag[:70]!r} must be printable and at most 64 long")
        if tag not in out:
            out.append(tag)
    return out


def upload_sample(
    ctx: Context,
    actor: Actor,
    dataset_id: int,
    data: bytes,
    name: str,
    split: str = "",
    tags: list[str] | None = None,
) -> SampleOut:
    """Store an image as a new sample (managers).  The blob is written before the row, so
    a crash leaves no sample without media; superpixels are queued afterwards."""
    name = clean_name(name)
    split = clean_split(split)
    tag_list = clean_tags(tags or [])
    if len(data) > ctx.settings.max_upload_bytes:
        raise PayloadTooLargeError(
            f"upload {name!r} has {len(data)} bytes; at most {ctx.settings.max_upload_bytes}"
        )
    with ctx.db.read() as session:
        access = dataset_access(session, actor, dataset_id)
        access.require("manager", "uploading samples", actor)
        if access.dataset.modality != "image":
            raise InvalidRequestError(
                f"dataset {access.dataset.name!r} holds {access.dataset.modality} samples; "
                "only image uploads are supported so far"
            )
    info = check_image(data, ctx.settings.max_image_pixels, name)
    source_key: str | None = None
    upright = exif_upright(data)
    if upright is not None:
        # stored upright so labels, superpixels and exports align with what viewers show
        source_key = sha256_hex(data)
        data = upright
        info = check_image(data, ctx.settings.max_image_pixels, name)
    key = ctx.store.put(data)
    job_id: int | None = None
    try:
        with ctx.db.write() as session:
            taken = session.scalar(
                select(SampleRow.id).where(
                    SampleRow.dataset_id == dataset_id, SampleRow.name == name
                )
            )
            if taken is not None:
                raise ConflictError(
                    f"dataset {dataset_id} already has a sample named {name!r} (id {taken})",
                    {"sample_id": int(taken)},
                )
            row = SampleRow(
                dataset_id=dataset_id,
                name=name,
                split=split,
                tags_json=json.dumps(tag_list),
                media_sha256=key,
                source_sha256=source_key,
                media_type=info.media_type,
                width=info.width,
                height=info.height,
                superpixels_status="pending" if ctx.settings.superpixels else "none",
            )
            session.add(row)
            session.flush()
            if ctx.settings.superpixels:
                job = Job(kind="superpixels", dataset_id=dataset_id, sample_id=row.id)
                session.add(job)
                session.flush()
                job_id = job.id
            out = sample_out(row, {})
    except IntegrityError:
        raise ConflictError(f"dataset {dataset_id} already has a sample named {name!r}") from None
    if job_id is not None:
        ctx.jobs.submit(job_id)
    return out


def list_samples(
    ctx: Context,
    actor: Actor,
    dataset_id: int,
    cursor: str | None = None,
    limit: int = 100,
    status: Status | None = None,
    split: str | None = None,
    assignee: str | None = None,
    name: str | None = None,
) -> Page[SampleOut]:
    """One page of samples in id order (keyset pagination: constant time per page)."""
    limit = page_limit(ctx.settings, limit)
    after = decode_cursor(cursor)
    assignee_user = aliased(User)
    reviewer_user = aliased(User)
    with ctx.db.read() as session:
        access = dataset_access(session, actor, dataset_id)
        query = (
            select(SampleRow, assignee_user.username, reviewer_user.username)
            .outerjoin(assignee_user, assignee_user.id == SampleRow.assignee_id)
            .outerjoin(reviewer_user, reviewer_user.id == SampleRow.reviewer_id)
            .where(SampleRow.dataset_id == dataset_id, SampleRow.id > after)
        )
        if access.restricted:
            query = query.where(SampleRow.assignee_id == actor.id)
        if status is not None:
            query = query.where(SampleRow.status == status.value)
        if split is not None:
            query = query.where(SampleRow.split == split)
        if name is not None:
            query = query.where(SampleRow.name == name)
        if assignee is not None:
            query = query.where(assignee_user.username == assignee)
        rows = session.execute(query.order_by(SampleRow.id).limit(limit + 1)).all()
    items = []
    for row, assignee_name, reviewer_name in rows[:limit]:
        names = {}
        if row.assignee_id is not None:
            names[row.assignee_id] = assignee_name
        if row.reviewer_id is not None:
            names[row.reviewer_id] = reviewer_name
        items.append(sample_out(row, names))
    next_cursor = encode_cursor(items[-1].id) if len(rows) > limit else None
    return Page[SampleOut](items=items, next_cursor=next_cursor)


def get_sample(ctx: Context, actor: Actor, sample_id: int) -> SampleOut:
    """One sample's metadata."""
    with ctx.db.read() as session:
        row, _ = sample_access(session, actor, sample_id)
        return sample_out(row, usernames(session, {row.assignee_id, row.reviewer_id}))


def update_sample(ctx: Context, actor: Actor, sample_id: int, data: SampleUpdate) -> SampleOut:
    """Change split or tags (managers)."""
    with ctx.db.write() as session:
        row, access = sample_access(session, actor, sample_id)
        access.require("manager", "editing sample metadata", actor)
        if data.split is not None:
            row.split = clean_split(data.split)
        if data.tags is not None:
            row.tags_json = json.dumps(clean_tags(data.tags))
        session.flush()
        return sample_out(row, usernames(session, {row.assignee_id, row.reviewer_id}))


def delete_sample(ctx: Context, actor: Actor, sample_id: int) -> None:
    """Delete a sample with its labels and comments (managers); releases keep theirs only
    as long as the sample exists, so deleting a released sample is refused."""
    from panokit.server.models import ReleaseItem

    with ctx.db.write() as session:
        row, access = sample_access(session, actor, sample_id)
        access.require("manager", "deleting samples", actor)
        released = session.scalar(
            select(ReleaseItem.release_id).where(ReleaseItem.sample_id == sample_id).limit(1)
        )
        if released is not None:
            raise ConflictError(
                f"sample {sample_id} is part of release {released}; releases are immutable",
                {"release_id": int(released)},
            )
        session.delete(row)


def known_hashes(ctx: Context, actor: Actor, dataset_id: int, digests: list[str]) -> HashAnswer:
    """Which media digests the dataset already holds (for resumable uploads)."""
    present: dict[str, int] = {}
    with ctx.db.read() as session:
        access = dataset_access(session, actor, dataset_id)
        access.require("manager", "checking uploads", actor)
        wanted = sorted({d.lower() for d in digests})
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            for column in (SampleRow.media_sha256, SampleRow.source_sha256):
                for sid, digest in session.execute(
                    select(SampleRow.id, column).where(
                        SampleRow.dataset_id == dataset_id, column.in_(chunk)
                    )
                ).all():
                    present.setdefault(str(digest), int(sid))
    return HashAnswer(present=present)


def media(ctx: Context, actor: Actor, sample_id: int) -> tuple[bytes, str]:
    """A sample's media bytes and type."""
    with ctx.db.read() as session:
        row, _ = sample_access(session, actor, sample_id)
        key, media_type = row.media_sha256, row.media_type
    return ctx.store.get(key), media_type


def superpixels(ctx: Context, actor: Actor, sample_id: int) -> bytes:
    """The sample's precomputed superpixel hierarchy (``SuperpixelHierarchy.to_bytes``)."""
    with ctx.db.read() as session:
        row, _ = sample_access(session, actor, sample_id)
        status, key = row.superpixels_status, row.superpixels_key
    if status != "ready" or key is None:
        raise NotFoundError(
            f"superpixels of sample {sample_id} are not available (status {status})",
            {"status": status},
        )
    return ctx.store.get(key)
