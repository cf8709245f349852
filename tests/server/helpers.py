"""Test helpers: tiny images and labels, and a server with one user per role."""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from panokit.api.convert import encode_ids_png, segments_json
from panokit.core.label import PanopticImage, Segment
from panokit.core.taxonomy import Category, Taxonomy

ROLES = ("viewer", "labeler", "reviewer", "manager", "admin")
PASSWORD = "correct horse battery"

TAXONOMY = Taxonomy(
    [
        Category(1, "person", True, (220, 20, 60)),
        Category(2, "car", True, (0, 0, 142)),
        Category(7, "road", False, (128, 64, 128)),
        Category(8, "sky", False, (70, 130, 180)),
    ],
    name="toy",
)


def png_image(width: int = 8, height: int = 6, seed: int = 0) -> bytes:
    """A small random RGB PNG."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def toy_label(width: int = 8, height: int = 6, people: int = 1) -> PanopticImage:
    """Sky on top, road below, ``people`` 1-pixel-wide person columns."""
    ids: NDArray[np.uint32] = np.zeros((height, width), dtype=np.uint32)
    ids[: height // 2] = 1
    ids[height // 2 :] = 2
    segments = {1: Segment(8), 2: Segment(7)}
    for k in range(people):
        ids[1:, k] = 3 + k
        segments[3 + k] = Segment(1)
    return PanopticImage(ids, segments, TAXONOMY)


def label_files(label: PanopticImage) -> dict[str, Any]:
    """Multipart files of a label save."""
    return {
        "png": ("label.png", encode_ids_png(label.ids), "image/png"),
        "segments": ("segments.json", segments_json(label.segments).encode(), "application/json"),
    }


@dataclass
class Server:
    """An in-process server, its HTTP client and the tokens of its users."""

    app: Any
    http: Any
    tokens: dict[str, str] = field(default_factory=dict)
    dataset_id: int = 0
    defaults: Any = None

    @property
    def ctx(self) -> Any:
        return self.app.state.ctx

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def call(self, user: str | None, method: str, path: str, **kwargs: Any) -> Any:
        headers = self.headers(user) if user else {}
        return self.http.request(method, f"/api/v1{path}", headers=headers, **kwargs)

    def upload(self, name: str, user: str = "manager", **kwargs: Any) -> dict[str, Any]:
        width = kwargs.pop("width", 8)
        height = kwargs.pop("height", 6)
        data = kwargs.pop("data", None) or png_image(width, height, seed=zlib.crc32(name.encode()))
        response = self.call(
            user,
            "POST",
            f"/datasets/{self.dataset_id}/samples",
            files={"file": (name, data, "image/png")},
            data={"name": name, **kwargs},
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def save(self, user: str, sample_id: int, label: PanopticImage, base: int) -> Any:
        return self.call(
            user,
            "PUT",
            f"/samples/{sample_id}/label",
            files=label_files(label),
            data={"base_revision": str(base)},
        )

    def sdk(self, user: str) -> Any:
        from panokit.sdk import Client

        return Client("http://testserver", self.tokens[user], http=self.http)

    def close(self) -> None:
        self.http.close()
        self.ctx.jobs.stop()
        self.ctx.db.dispose()


def build_server(data_dir: Path, database_url: str | None) -> Server:
    """An app (built once per backend: FastAPI prepares its routes on the first request,
    which takes about half a second) and its HTTP client; no users yet."""
    from fastapi.testclient import TestClient

    from panokit.server import Settings, create_app

    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        workers=0,
        fast_password_hashing=True,
        superpixels=False,
    )
    app = create_app(settings)
    server = Server(app=app, http=TestClient(app))
    server.defaults = dataclasses.replace(settings)
    return server


@functools.cache
def _password_hash() -> str:
    from panokit.server.security import hash_password

    return hash_password(PASSWORD, fast=True)


def reset_server(server: Server, **options: Any) -> Server:
    """Empty the database and the blob store, apply settings, and add the users:
    'root' (server admin), one user per dataset role in dataset 'toy' (named after the
    role), an external labeler 'outsider' and a non-member 'stranger'."""
    import shutil

    from sqlalchemy import delete, text

    from panokit.server.models import ApiToken, Base, Dataset, Membership, User
    from panokit.server.security import token_digest

    ctx = server.ctx
    with ctx.db.write() as session:
        # DELETE beats TRUNCATE on tiny tables; ids restart at 1 so messages are exact
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(delete(table))
        if ctx.db.is_postgres:
            for table in Base.metadata.sorted_tables:
                session.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), 1, false)")
                )
    shutil.rmtree(ctx.store.root, ignore_errors=True)
    ctx.store.tmp.mkdir(parents=True, exist_ok=True)
    ctx.jobs.run_pending()
    from panokit.server.services.users import LoginThrottle

    ctx.login_throttle = LoginThrottle()
    for name in ("max_upload_bytes", "max_image_pixels", "superpixels", "page_size_max"):
        setattr(ctx.settings, name, options.pop(name, getattr(server.defaults, name)))
    if options:
        raise TypeError(f"unknown server options {sorted(options)}")
    server.tokens.clear()
    # one transaction with a password hash computed once: setup stays cheap
    password_hash = _password_hash()
    names = ["root", *ROLES, "outsider", "stranger"]
    with ctx.db.write() as session:
        rows = [User(username=n, password_hash=password_hash, is_admin=n == "root") for n in names]
        session.add_all(rows)
        session.flush()
        ids = {row.username: row.id for row in rows}
        for name in names:
            secret = f"pk_test_{name}"
            server.tokens[name] = secret
            session.add(ApiToken(user_id=ids[name], name="test", token_sha256=token_digest(secret)))
        dataset = Dataset(
            name="toy", categories_json=json.dumps(TAXONOMY.to_list()), created_by=ids["root"]
        )
        session.add(dataset)
        session.flush()
        server.dataset_id = dataset.id
        session.add(Membership(dataset_id=dataset.id, user_id=ids["root"], role="admin"))
        for name in ROLES:
            session.add(Membership(dataset_id=dataset.id, user_id=ids[name], role=name))
        session.add(
            Membership(
                dataset_id=dataset.id, user_id=ids["outsider"], role="labeler", external=True
            )
        )
    return server


def make_server(tmp_path: Path, database_url: str | None, **options: Any) -> Server:
    """A fresh app with users (see :func:`reset_server`)."""
    return reset_server(build_server(tmp_path, database_url), **options)


def error(response: Any) -> dict[str, Any]:
    """The ``error`` object of an error response (checks the one body shape)."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    result: dict[str, Any] = body["error"]
    return result


def dumps(data: Any) -> str:
    return json.dumps(data)
