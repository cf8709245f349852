"""Users, passwords and API tokens."""

from __future__ import annotations

import threading
import time
from collections import deque
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from panokit.api.schemas import TokenOut, UserCreate, UserOut
from panokit.errors import AuthenticationError, ConflictError, NotFoundError, PermissionDeniedError
from panokit.server.models import ApiToken, User, utcnow
from panokit.server.security import hash_password, new_token, token_digest, verify_password
from panokit.server.services.common import Actor, Context

_TOUCH_EVERY = timedelta(seconds=60)


class LoginThrottledError(AuthenticationError):
    """Too many wrong passwords for one user name in a short time (HTTP 429)."""

    code = "rate_limited"


class LoginThrottle:
    """In-process limit on wrong passwords: ``failures`` per user name within ``window``
    seconds, then every attempt for that name is refused until the oldest failure ages out.

    Per process only (a server behind several workers multiplies it); enough to make
    guessing a password over HTTP impractical while argon2 keeps each guess slow.
    """

    def __init__(self, failures: int = 5, window: float = 60.0) -> None:
        self.failures = failures
        self.window = window
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._seen.setdefault(key, deque())
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def check(self, username: str, now: float | None = None) -> None:
        """Raise :class:`LoginThrottledError` while ``username`` is locked out."""
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._recent(username.lower(), now)
            if len(times) >= self.failures:
                wait = max(1, int(self.window - (now - times[0]) + 0.999))
                raise LoginThrottledError(
                    f"too many wrong passwords for user {username!r}; try again in {wait} s",
                    {"retry_after_s": wait},
                )

    def failed(self, username: str, now: float | None = None) -> None:
        """Count a wrong password."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._recent(username.lower(), now).append(now)
            if len(self._seen) > 10000:  # forget names nobody tries any more
                for key in [k for k, v in self._seen.items() if not v]:
                    del self._seen[key]

    def succeeded(self, username: str) -> None:
        """A right password clears the name's failures."""
        with self._lock:
            self._seen.pop(username.lower(), None)


_DUMMY_HASH: list[str] = []


def _dummy_hash(ctx: Context) -> str:
    """A hash to verify against for unknown users, so they take as long as known ones."""
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(hash_password("not a password", fast=ctx.settings.fast_password_hashing))
    return _DUMMY_HASH[0]


def user_out(user: User) -> UserOut:
    """A user row as its wire model."""
    return UserOut(
        id=user.id, username=user.username, is_admin=user.is_admin, created_at=user.created_at
    )


def token_out(row: ApiToken, secret: str | None = None) -> TokenOut:
    """A token row as its wire model (with the secret only when just made)."""
    return TokenOut(
        id=row.id,
        name=row.name,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked=row.revoked_at is not None,
        token=secret,
    )


def count_users(ctx: Context) -> int:
    """How many users exist (0 on a fresh server)."""
    with ctx.db.read() as session:
        return int(session.scalar(select(func.count(User.id))) or 0)


def create_user(ctx: Context, data: UserCreate, actor: Actor | None) -> UserOut:
    """Make a user; only global admins may (``actor=None`` is the command line)."""
    if actor is not None and not actor.is_admin:
        raise PermissionDeniedError(
            f"creating users needs a server admin; user {actor.username!r} is not one"
        )
    password_hash = hash_password(data.password, fast=ctx.settings.fast_password_hashing)
    try:
        with ctx.db.write() as session:
            taken = session.scalar(select(User.id).where(User.username == data.username))
            if taken is not None:
                raise ConflictError(f"user name {data.username!r} is taken")
            user = User(username=data.username, password_hash=password_hash, is_admin=data.is_admin)
            session.add(user)
            session.flush()
            return user_out(user)
    except IntegrityError:
        raise ConflictError(f"user name {data.username!r} is taken") from None


def list_users(ctx: Context, actor: Actor) -> list[UserOut]:
    """Every user (server admins only)."""
    if not actor.is_admin:
        raise PermissionDeniedError(
            f"listing users needs a server admin; user {actor.username!r} is not one"
        )
    with ctx.db.read() as session:
        return [user_out(u) for u in session.scalars(select(User).order_by(User.id))]


def get_user(ctx: Context, actor: Actor) -> UserOut:
    """The caller's own record."""
    with ctx.db.read() as session:
        user = session.get(User, actor.id)
        if user is None:
            raise NotFoundError(f"user {actor.id} does not exist")
        return user_out(user)


def issue_token(ctx: Context, user_id: int, name: str) -> TokenOut:
    """A new API token for a user; the secret is returned once."""
    secret = new_token()
    with ctx.db.write() as session:
        if session.get(User, user_id) is None:
            raise NotFoundError(f"user {user_id} does not exist")
        row = ApiToken(user_id=user_id, name=name, token_sha256=token_digest(secret))
        session.add(row)
        session.flush()
        return token_out(row, secret)


def _check_password(ctx: Context, username: str, password: str) -> User:
    """The user if the password is right; throttled, and the same 401 for a wrong name."""
    ctx.login_throttle.check(username)
    with ctx.db.read() as session:
        user = session.scalar(select(User).where(User.username == username))
    ok = verify_password(user.password_hash if user else _dummy_hash(ctx), password)
    if user is None or not ok:
        ctx.login_throttle.failed(username)
        raise AuthenticationError("wrong user name or password")
    ctx.login_throttle.succeeded(username)
    return user


def login(ctx: Context, username: str, password: str, token_name: str) -> TokenOut:
    """Check a password and issue a token; a wrong name or password is the same 401, and
    too many wrong ones for a name in a minute are a 429 (:class:`LoginThrottle`)."""
    user = _check_password(ctx, username, password)
    return issue_token(ctx, user.id, token_name)


def change_password(
    ctx: Context, actor: Actor, password: str, new_password: str, token_name: str = "login"
) -> TokenOut:
    """Change the caller's password: every token of theirs is revoked, a new one returned."""
    _check_password(ctx, actor.username, password)
    new_hash = hash_password(new_password, fast=ctx.settings.fast_password_hashing)
    with ctx.db.write() as session:
        session.execute(update(User).where(User.id == actor.id).values(password_hash=new_hash))
        session.execute(
            update(ApiToken)
            .where(ApiToken.user_id == actor.id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    return issue_token(ctx, actor.id, token_name)


def authenticate(ctx: Context, secret: str | None) -> Actor:
    """The user a bearer token belongs to; missing, unknown or revoked tokens are 401."""
    if not secret:
        raise AuthenticationError(
            "this route needs an API token: send 'Authorization: Bearer <token>' "
            "(make one with POST /api/v1/auth/login or `panokit token create`)"
        )
    digest = token_digest(secret)
    with ctx.db.read() as session:
        found = session.execute(
            select(ApiToken.id, ApiToken.revoked_at, ApiToken.last_used_at, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_sha256 == digest)
        ).first()
    if found is None:
        raise AuthenticationError("unknown API token")
    token_id, revoked_at, last_used, user = found
    if revoked_at is not None:
        raise AuthenticationError(f"API token {token_id} was revoked")
    now = utcnow()
    if last_used is None or now - _aware(last_used) > _TOUCH_EVERY:
        with ctx.db.write() as session:
            session.execute(
                update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now)
            )
    return Actor(user.id, user.username, user.is_admin)


def logout(ctx: Context, secret: str | None) -> None:
    """Revoke the token presented with the request (the web tool's log out)."""
    authenticate(ctx, secret)
    with ctx.db.write() as session:
        session.execute(
            update(ApiToken)
            .where(ApiToken.token_sha256 == token_digest(secret or ""))
            .values(revoked_at=utcnow())
        )


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def list_tokens(ctx: Context, actor: Actor) -> list[TokenOut]:
    """The caller's tokens (secrets are never shown again)."""
    with ctx.db.read() as session:
        rows = session.scalars(
            select(ApiToken).where(ApiToken.user_id == actor.id).order_by(ApiToken.id)
        )
        return [token_out(r) for r in rows]


def revoke_token(ctx: Context, actor: Actor | None, token_id: int) -> TokenOut:
    """Revoke a token: your own, or anyone's for a server admin (``None``: command line)."""
    with ctx.db.write() as session:
        row = session.get(ApiToken, token_id)
        if row is None or (actor is not None and not actor.is_admin and row.user_id != actor.id):
            raise NotFoundError(f"API token {token_id} does not exist")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        session.flush()
        return token_out(row)


def find_user_id(ctx: Context, username: str) -> int:
    """A user's id by name."""
    with ctx.db.read() as session:
        uid = session.scalar(select(User.id).where(User.username == username))
    if uid is None:
        raise NotFoundError(f"user {username!r} does not exist")
    return int(uid)
