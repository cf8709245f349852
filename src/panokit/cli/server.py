"""Sub-commands of the labeling server: ``serve``, ``user``, ``token``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from panokit.cli.render import console, console_err


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        default=Path("panokit-data"),
        help="folder of the blob store and the SQLite database (default ./panokit-data)",
    )
    parser.add_argument(
        "--db", dest="db_url", default=None, help="database URL (default: SQLite in --data)"
    )


def register(subparsers: Any) -> None:
    """Add ``serve``, ``user`` and ``token``."""
    p = subparsers.add_parser("serve", help="run the labeling server")
    _store_options(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--storage",
        default=None,
        help="s3://bucket/prefix for an S3-compatible blob store (pip install 'panokit[s3]'; "
        "endpoint and credentials from the usual AWS_* settings); default: --data/blobs",
    )
    p.add_argument("--demo", action="store_true", help="add a demo dataset and admin account")
    p.add_argument("--workers", type=int, default=1, help="background job threads")
    p.add_argument(
        "--no-superpixels", action="store_true", help="do not precompute superpixels on upload"
    )
    p.add_argument("--max-upload-mb", type=int, default=64, help="largest accepted upload in MiB")
    p.set_defaults(handler=cmd_serve)

    user = subparsers.add_parser("user", help="manage server users")
    user_sub = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    p = user_sub.add_parser("create", help="create a user (prints a generated password)")
    _store_options(p)
    p.add_argument("username")
    p.add_argument("--admin", action="store_true", help="make a server admin")
    p.add_argument("--password", help="the password (default: generated and printed once)")
    p.set_defaults(handler=cmd_user_create)
    p = user_sub.add_parser("list", help="list users")
    _store_options(p)
    p.set_defaults(handler=cmd_user_list)

    token = subparsers.add_parser("token", help="manage API tokens")
    token_sub = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    p = token_sub.add_parser("create", help="make an API token for a user (printed once)")
    _store_options(p)
    p.add_argument("username")
    p.add_argument("--name", default="cli", help="a label for the token")
    p.set_defaults(handler=cmd_token_create)
    p = token_sub.add_parser("list", help="list a user's tokens")
    _store_options(p)
    p.add_argument("username")
    p.set_defaults(handler=cmd_token_list)
    p = token_sub.add_parser("revoke", help="revoke a token by id")
    _store_options(p)
    p.add_argument("token_id", type=int)
    p.set_defaults(handler=cmd_token_revoke)


def _settings(args: argparse.Namespace, **extra: Any) -> Any:
    from panokit.errors import require

    require("fastapi", "server", "the labeling server")
    require("sqlalchemy", "server", "the labeling server")
    from panokit.server.settings import Settings

    return Settings(data_dir=args.data, database_url=args.db_url, **extra)


def _context(args: argparse.Namespace) -> Any:
    from panokit.server.app import build_context

    return build_context(_settings(args, workers=0))


def _where(args: argparse.Namespace) -> str:
    return f"--db {args.db_url}" if args.db_url else f"--data {args.data}"


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the server (migrating the database first)."""
    settings = _settings(
        args,
        workers=max(args.workers, 0),
        superpixels=not args.no_superpixels,
        max_upload_bytes=args.max_upload_mb * 1024 * 1024,
        storage_url=args.storage,
    )
    import uvicorn

    from panokit.server.app import create_app
    from panokit.server.services.users import count_users

    app = create_app(settings)
    ctx = app.state.ctx
    out = console()
    url = f"http://{args.host}:{args.port}"
    if args.demo:
        from panokit.server.demo import make_demo

        info = make_demo(ctx)
        if info.created:
            out.print(f"[green]demo[/] dataset {info.dataset_id} with {info.samples} samples")
        if info.password is not None:
            out.print(
                f"[bold]log in as[/] {info.username} [bold]with the one-time password[/] "
                f"{info.password}  (it is not shown again)"
            )
        else:
            out.print(f"demo admin {info.username!r} exists already; its password is unchanged")
    elif count_users(ctx) == 0:
        out.print(
            "[yellow]no users yet.[/] Create the first admin in another terminal with:\n"
            f"  panokit user create admin --admin {_where(args)}"
        )
    out.print(f"panokit server on {url}  (API {url}/api/v1, docs {url}/api/v1/docs)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_user_create(args: argparse.Namespace) -> int:
    """Create a user; a generated password is printed once."""
    from panokit.api.schemas import UserCreate
    from panokit.server.security import new_password
    from panokit.server.services.users import create_user

    ctx = _context(args)
    password = args.password or new_password()
    if len(password) < 8:
        console_err().print("[red]error:[/] a password needs at least 8 characters")
        return 2
    user = create_user(
        ctx, UserCreate(username=args.username, password=password, is_admin=args.admin), None
    )
    kind = "server admin" if user.is_admin else "user"
    console().print(f"[green]created[/] {kind} {user.username!r} (id {user.id})")
    if not args.password:
        console().print(
            f"password: {password}  (shown once; change it with `Client.change_password` or POST /api/v1/users/me/password)"
        )
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    """List users."""
    from rich.table import Table
    from sqlalchemy import select

    from panokit.server.models import User

    ctx = _context(args)
    table = Table(title="users")
    for column in ("id", "name", "admin", "created"):
        table.add_column(column)
    with ctx.db.read() as session:
        for user in session.scalars(select(User).order_by(User.id)):
            table.add_row(
                str(user.id), user.username, "yes" if user.is_admin else "", str(user.created_at)
            )
    console().print(table)
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    """Make a token for a user and print it once."""
    from panokit.server.services.users import find_user_id, issue_token

    ctx = _context(args)
    token = issue_token(ctx, find_user_id(ctx, args.username), args.name)
    console().print(f"token {token.id} for {args.username!r}: {token.token}")
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    """List a user's tokens (never their secrets)."""
    from rich.table import Table

    from panokit.server.services.common import Actor
    from panokit.server.services.users import find_user_id, list_tokens

    ctx = _context(args)
    actor = Actor(find_user_id(ctx, args.username), args.username, False)
    table = Table(title=f"tokens of {args.username}")
    for column in ("id", "name", "created", "last used", "revoked"):
        table.add_column(column)
    for token in list_tokens(ctx, actor):
        table.add_row(
            str(token.id),
            token.name,
            str(token.created_at),
            str(token.last_used_at or ""),
            "revoked" if token.revoked else "",
        )
    console().print(table)
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    """Revoke a token."""
    from panokit.server.services.users import revoke_token

    ctx = _context(args)
    revoke_token(ctx, None, args.token_id)
    console().print(f"[green]revoked[/] token {args.token_id}")
    return 0
