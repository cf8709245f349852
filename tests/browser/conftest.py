"""A live server (uvicorn in a thread, SQLite in a temporary folder) and headless Chromium.

The browser tests skip, saying why, when Debian's Chromium (/usr/bin/chromium) or the
Playwright package is missing; Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"


@dataclass
class LiveServer:
    """A running server: its URL, app context and a few helpers for the test's setup."""

    url: str
    app: Any
    server: Any
    thread: threading.Thread
    tokens: dict[str, str] = field(default_factory=dict)
    dataset_id: int = 0
    samples: dict[str, int] = field(default_factory=dict)

    @property
    def ctx(self) -> Any:
        return self.app.state.ctx

    def call(self, user: str, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        headers = {"Authorization": f"Bearer {self.tokens[user]}"}
        response = httpx.request(
            method, f"{self.url}/api/v1{path}", headers=headers, timeout=60, **kwargs
        )
        return response


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def start_server(data_dir: Path) -> LiveServer:
    """Start uvicorn on a free loopback port with a fresh SQLite database."""
    import uvicorn

    from panokit.server import Settings, create_app

    settings = Settings(data_dir=data_dir, workers=1, fast_password_hashing=True, superpixels=True)
    app = create_app(settings)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    return LiveServer(url=f"http://127.0.0.1:{port}", app=app, server=server, thread=thread)


def populate(live: LiveServer, images: dict[str, np.ndarray]) -> None:
    """Users (root admin, manager 'mia', labeler 'lea', reviewer 'rex'), a street dataset and
    the given images as samples; waits until their superpixels are ready."""
    from panokit.annotate.synthetic import STREET_TAXONOMY
    from panokit.api.schemas import DatasetCreate, MemberSet, Role, UserCreate
    from panokit.server.services import datasets, users
    from panokit.server.services.common import Actor

    ctx = live.ctx
    root = users.create_user(
        ctx, UserCreate(username="root", password=PASSWORD, is_admin=True), None
    )
    live.tokens["root"] = str(users.issue_token(ctx, root.id, "test").token)
    actor = Actor(root.id, "root", True)
    ds = datasets.create_dataset(
        ctx, actor, DatasetCreate(name="street", categories=STREET_TAXONOMY.to_list(), void_id=0)
    )
    live.dataset_id = ds.id
    for name, role in (("mia", Role.manager), ("lea", Role.labeler), ("rex", Role.reviewer)):
        user = users.create_user(ctx, UserCreate(username=name, password=PASSWORD), None)
        live.tokens[name] = str(users.issue_token(ctx, user.id, "test").token)
        datasets.set_member(ctx, actor, ds.id, MemberSet(username=name, role=role))
    for name, image in images.items():
        response = live.call(
            "mia",
            "POST",
            f"/datasets/{ds.id}/samples",
            files={"file": (f"{name}.png", png_bytes(image), "image/png")},
            data={"name": name},
        )
        assert response.status_code == 201, response.text
        live.samples[name] = int(response.json()["id"])
    deadline = time.monotonic() + 120
    for sample_id in live.samples.values():
        while True:
            status = live.call("mia", "GET", f"/samples/{sample_id}").json()["superpixels"]
            if status == "ready":
                break
            if status == "failed" or time.monotonic() > deadline:
                raise RuntimeError(f"superpixels of sample {sample_id}: {status}")
            time.sleep(0.2)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (skips when either is missing)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); browser tests need it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
