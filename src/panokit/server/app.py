"""The FastAPI app factory and the one error handler.

Every error leaves the server as ``{"error": {"code", "message", "details"}}`` with the
HTTP status of its kind (404, 401, 403, 409, 413, 422); the SDK maps ``code`` back onto the
same panokit exception class.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from panokit import __version__
from panokit.api import API_PREFIX
from panokit.api.errors import WIRE_ERRORS
from panokit.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PanokitError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ServiceError,
    ValidationError,
)
from panokit.server.db import Database
from panokit.server.jobs import JobRunner
from panokit.server.services.common import Context
from panokit.server.services.users import LoginThrottledError
from panokit.server.settings import Settings
from panokit.server.storage import open_store

log = logging.getLogger("panokit.server")

ERROR_STATUS: tuple[tuple[type[BaseException], int, str], ...] = (
    (LoginThrottledError, 429, LoginThrottledError.code),
    *WIRE_ERRORS,
)
"""Exception class -> (HTTP status, error code); the first match wins."""


def error_response(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    """The one error body."""
    body = {"error": {"code": code, "message": message, "details": jsonable_encoder(details or {})}}
    return JSONResponse(body, status_code=status)


def panokit_error_response(exc: PanokitError) -> JSONResponse:
    """Map a library error onto its status and code."""
    details: dict[str, Any] = dict(exc.details) if isinstance(exc, ServiceError) else {}
    if isinstance(exc, ValidationError):
        details["problems"] = exc.problems
        details["where"] = exc.where
    for cls, status, code in ERROR_STATUS:
        if isinstance(exc, cls):
            return error_response(status, code, str(exc), details)
    return error_response(400, "panokit_error", str(exc), details)


_HTTP_CODES = {
    400: "bad_request",
    401: AuthenticationError.code,
    403: PermissionDeniedError.code,
    404: NotFoundError.code,
    405: "method_not_allowed",
    409: ConflictError.code,
    413: PayloadTooLargeError.code,
    422: InvalidRequestError.code,
}


def install_error_handlers(app: FastAPI) -> None:
    """Route every failure through the one error body."""

    async def on_panokit(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, PanokitError)
        return panokit_error_response(exc)

    async def on_request(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = (
            f"invalid request: {where}: {first.get('msg', 'invalid')}"
            if where
            else ("invalid request")
        )
        return error_response(422, "request_invalid", message, {"errors": errors})

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return error_response(exc.status_code, code, str(exc.detail))

    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", f"internal server error ({type(exc).__name__})")

    app.add_exception_handler(PanokitError, on_panokit)
    app.add_exception_handler(RequestValidationError, on_request)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_crash)


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """Refuse a request whose declared Content-Length exceeds the limit (413), before the
    body is read; a body without a length (chunked) is counted as it streams in and cut
    off with a 413 at the limit, so it never fills the disk through the multipart spool.

    ``max_bytes`` is a number or a function returning one (read per request, so a running
    server's settings apply)."""

    def __init__(self, app: ASGIApp, max_bytes: int | Callable[[], int]) -> None:
        self.app = app
        self._max_bytes = max_bytes

    @property
    def max_bytes(self) -> int:
        """The limit now."""
        return self._max_bytes() if callable(self._max_bytes) else self._max_bytes

    def _message(self, length: int | None) -> str:
        if length is None:
            return f"request body is larger than the {self.max_bytes} bytes this server accepts"
        return (
            f"request body of {length} bytes is larger than the {self.max_bytes} this "
            "server accepts"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = 0
                if length > limit:
                    body = json.dumps(
                        {
                            "error": {
                                "code": PayloadTooLargeError.code,
                                "message": self._message(length),
                                "details": {"max_bytes": limit},
                            }
                        }
                    ).encode()
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 413,
                            "headers": [
                                (b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close"),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": body})
                    return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message.get("type") == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI re-raises an HTTPException met while parsing the body
                    from fastapi import HTTPException

                    raise HTTPException(413, detail=self._message(None))
            return message

        await self.app(scope, counted, send)


def build_context(settings: Settings) -> Context:
    """Open the database (migrating it), the blob store and the job runner."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_url)
    if settings.migrate:
        db.migrate()
    store = open_store(settings.storage_url, settings.blob_dir)
    store.sweep()
    jobs = JobRunner(settings.workers)
    ctx = Context(settings=settings, db=db, store=store, jobs=jobs)
    jobs.bind(ctx)
    return ctx


async def warm_up(app: FastAPI) -> None:
    """Send one request through the app before serving: FastAPI prepares every route on
    the first request it matches (about half a second), which would otherwise land on the
    first user."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        return None

    path = f"{API_PREFIX}/info"
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"warm-up")],
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 0),
        "app": app,
    }
    try:
        await app(scope, receive, send)
    except Exception:  # pragma: no cover - warming up is best effort
        log.exception("warm-up request failed")


def create_app(settings: Settings | None = None) -> FastAPI:
    """The labeling server as an ASGI app.

    Migrations are applied here; worker threads start with the app's lifespan (``workers``
    of 0 leaves jobs queued until ``app.state.ctx.jobs.run_pending()``).
    """
    from panokit.server.routes import router
    from panokit.server.routes_ui import mount_ui

    settings = settings or Settings()
    ctx = build_context(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx.jobs.start()
        await warm_up(app)
        try:
            yield
        finally:
            ctx.jobs.stop()
            ctx.db.dispose()

    app = FastAPI(
        title="panokit labeling server",
        version=__version__,
        description="Datasets, samples, labels with revisions, review workflow, releases "
        "and exports for panoptic segmentation.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    install_error_handlers(app)
    app.include_router(router, prefix=API_PREFIX)
    mount_ui(app)
    app.add_middleware(BodyLimit, max_bytes=lambda: settings.max_upload_bytes + 1024 * 1024)
    return app
