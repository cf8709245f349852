"""The web labeling tool: static files at ``/`` and the few routes only the browser needs.

The tool is plain ES modules + CSS + HTML under ``panokit/server/static`` (package data; no
bundler, no Node toolchain).  Browser-only routes live under ``/api/v1/ui``:

* ``GET /api/v1/ui/samples/{id}/superpixels`` - the superpixel hierarchy in a form a browser
  reads without a zip/npy parser (see :func:`encode_superpixels_wire`);
* ``GET /api/v1/ui/samples/{id}/thumbnail`` - a small JPEG for the sample grid.
"""

from __future__ import annotations

import io
import json
import struct
import threading
import zlib
from collections import OrderedDict
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import FileResponse, Response
from numpy.typing import NDArray

from panokit.api import API_PREFIX
from panokit.errors import FormatError
from panokit.server.routes import Ctx, Me
from panokit.server.services import samples as samples_svc

SUPERPIXELS_MAGIC = b"PKSP"
"""First four bytes of the browser superpixel payload."""

ui_router = APIRouter(prefix="/ui", tags=["ui"])


def static_dir() -> Path:
    """The folder holding index.html and the ES modules of the tool."""
    return Path(str(resources.files("panokit.server").joinpath("static")))


def encode_superpixels_wire(
    fine: NDArray[Any], merges: NDArray[Any], levels: tuple[int, ...] | list[int]
) -> bytes:
    """The hierarchy as ``b"PKSP" + uint32 LE header length + header JSON + zlib body``.

    The header is ``{"width", "height", "levels", "merges", "dtype"}`` (``merges`` is the
    number of merge rows, ``dtype`` ``"uint16"`` or ``"uint32"``); the zlib-compressed body
    holds the merge table as int32 LE ``(merges, 2)`` followed by the fine map (H, W) in
    ``dtype`` LE, row-major.  The browser replays the merges exactly as
    :class:`panokit.annotate.SuperpixelHierarchy` does, so every level is a lookup.
    """
    fine = np.asarray(fine)
    if fine.ndim != 2:
        raise FormatError(f"a superpixel fine map must be (H, W), got shape {fine.shape}")
    count = int(fine.max()) + 1 if fine.size else 0
    dtype = "uint16" if count <= 65536 else "uint32"
    height, width = (int(v) for v in fine.shape)
    table = np.asarray(merges, dtype="<i4").reshape(-1, 2)
    header = json.dumps(
        {
            "width": width,
            "height": height,
            "levels": [int(n) for n in levels],
            "merges": len(table),
            "dtype": dtype,
        }
    ).encode()
    body = (
        table.tobytes()
        + np.ascontiguousarray(fine, dtype="<u2" if dtype == "uint16" else "<u4").tobytes()
    )
    return SUPERPIXELS_MAGIC + struct.pack("<I", len(header)) + header + zlib.compress(body, 3)


def decode_superpixels_wire(data: bytes) -> tuple[NDArray[np.int32], NDArray[np.int32], list[int]]:
    """Inverse of :func:`encode_superpixels_wire`: ``(fine, merges, levels)``."""
    if data[:4] != SUPERPIXELS_MAGIC or len(data) < 8:
        raise FormatError("not a panokit browser superpixel payload (missing PKSP magic)")
    (size,) = struct.unpack("<I", data[4:8])
    header = json.loads(data[8 : 8 + size])
    body = zlib.decompress(data[8 + size :])
    m, h, w = int(header["merges"]), int(header["height"]), int(header["width"])
    merges = np.frombuffer(body[: 8 * m], dtype="<i4").reshape(m, 2).astype(np.int32)
    dtype = "<u2" if header["dtype"] == "uint16" else "<u4"
    fine = np.frombuffer(body[8 * m :], dtype=dtype).reshape(h, w).astype(np.int32)
    return fine, merges, [int(n) for n in header["levels"]]


class _LRU:
    """A tiny thread-safe byte cache keyed by blob content (the keys never go stale)."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit = limit_bytes
        self.items: OrderedDict[str, bytes] = OrderedDict()
        self.size = 0
        self.lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self.lock:
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
            return value

    def put(self, key: str, value: bytes) -> None:
        with self.lock:
            if key in self.items or len(value) > self.limit:
                return
            self.items[key] = value
            self.size += len(value)
            while self.size > self.limit:
                _, old = self.items.popitem(last=False)
                self.size -= len(old)


_CACHE = _LRU(256 * 1024 * 1024)


@ui_router.get("/samples/{sample_id}/superpixels", response_class=Response)
def ui_superpixels(ctx: Ctx, me: Me, sample_id: int) -> Response:
    """The sample's superpixel hierarchy for the browser (404 while it is being computed)."""
    from panokit.annotate import SuperpixelHierarchy

    stored = samples_svc.superpixels(ctx, me, sample_id)
    key = "sp:" + _digest(stored)
    wire = _CACHE.get(key)
    if wire is None:
        hier = SuperpixelHierarchy.from_bytes(stored)
        wire = encode_superpixels_wire(hier.fine, hier.merges, hier.levels)
        _CACHE.put(key, wire)
    return Response(
        wire,
        media_type="application/octet-stream",
        headers={"Cache-Control": "private, max-age=3600"},
    )


def _digest(data: bytes) -> str:
    """Content digest used as a cache key."""
    import hashlib

    return hashlib.sha256(data).hexdigest()


@ui_router.get("/samples/{sample_id}/thumbnail", response_class=Response)
def ui_thumbnail(
    ctx: Ctx, me: Me, sample_id: int, size: Annotated[int, Query(ge=16, le=1024)] = 256
) -> Response:
    """A JPEG thumbnail (longest side ``size``) of the sample's image."""
    from PIL import Image

    sample = samples_svc.get_sample(ctx, me, sample_id)
    key = f"th:{sample.media_sha256}:{size}"
    data = _CACHE.get(key)
    if data is None:
        media, _ = samples_svc.media(ctx, me, sample_id)
        with Image.open(io.BytesIO(media)) as image:
            image.draft("RGB", (size, size))
            thumb = image.convert("RGB")
            thumb.thumbnail((size, size))
            buffer = io.BytesIO()
            thumb.save(buffer, format="JPEG", quality=80)
        data = buffer.getvalue()
        _CACHE.put(key, data)
    return Response(
        data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"}
    )


def mount_ui(app: FastAPI) -> None:
    """Add the browser routes under ``/api/v1/ui`` and serve the tool at ``/``."""
    app.include_router(ui_router, prefix=API_PREFIX)
    root = static_dir()

    def index() -> FileResponse:
        return FileResponse(root / "index.html", headers={"Cache-Control": "no-cache"})

    app.add_api_route("/", index, methods=["GET"], include_in_schema=False)
    app.mount("/static", _NoCacheStatic(directory=root), name="static")


def _no_cache_static() -> type:
    from fastapi.staticfiles import StaticFiles

    class NoCacheStatic(StaticFiles):
        """Static files revalidated on every load (ETag), so an upgrade is never stale."""

        def file_response(self, *args: Any, **kwargs: Any) -> Response:
            response = super().file_response(*args, **kwargs)
            response.headers["Cache-Control"] = "no-cache"
            return response

    return NoCacheStatic


_NoCacheStatic: Any = _no_cache_static()
