"""The server and SDK stay optional: ``import panokit`` pulls none of their packages, and a
missing extra is a clear MissingExtraError naming it."""

from __future__ import annotations

import subprocess
import sys

HEAVY = (
    "fastapi",
    "sqlalchemy",
    "alembic",
    "httpx",
    "pydantic",
    "uvicorn",
    "argon2",
    "psycopg",
    "boto3",
)


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def test_import_panokit_loads_no_server_packages() -> None:
    out = _run(
        "import sys, panokit, panokit.api, panokit.api.convert, panokit.sdk, panokit.server; "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    assert out == "[]"


def test_missing_sdk_extra_names_it() -> None:
    out = _run(
        "import sys; sys.modules['httpx'] = None\n"
        "from panokit.errors import MissingExtraError\n"
        "import panokit.sdk\n"
        "try:\n    panokit.sdk.Client\n"
        "except MissingExtraError as exc:\n    print(exc.extra, '|', exc)\n"
    )
    assert out == (
        "sdk | the package 'httpx' is needed for the labeling server SDK but is not installed; "
        "install it with: pip install 'panokit[sdk]'"
    )
