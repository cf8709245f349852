"""Passwords (argon2id via argon2-cffi) and API tokens (random, stored as SHA-256)."""

from __future__ import annotations

import hashlib
import secrets
from functools import cache
from typing import Any

TOKEN_PREFIX = "pk_"


@cache
def _hasher(fast: bool) -> Any:
    from argon2 import PasswordHasher

    if fast:
        return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return PasswordHasher()


def hash_password(password: str, fast: bool = False) -> str:
    """An argon2id hash of ``password``."""
    result: str = _hasher(fast).hash(password)
    return result


def verify_password(stored_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (never raises on a mismatch)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return bool(_hasher(False).verify(stored_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A fresh API token (shown once; only its digest is stored)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_password() -> str:
    """A random one-time password for generated accounts."""
    return secrets.token_urlsafe(12)
