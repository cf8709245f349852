"""Uploads (real-image check, size limits, names), cursor pagination, media, hashes."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import numpy as np
import pytest

from tests.server.helpers import Server, error, png_image


def _post(server: Server, name: str, data: bytes, user: str = "manager") -> Any:
    return server.call(
        user,
        "POST",
        f"/datasets/{server.dataset_id}/samples",
        files={"file": (name, data, "application/octet-stream")},
        data={"name": name, "split": "train", "tags": "day, city ,day"},
    )


def test_upload_stores_media_and_metadata(server: Server) -> None:
    data = png_image(8, 6)
    response = _post(server, "dir/a.png", data)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["name"], body["split"], body["tags"]) == ("dir/a.png", "train", ["day", "city"])
    assert (body["width"], body["height"], body["media_type"]) == (8, 6, "image/png")
    assert body["media_sha256"] == hashlib.sha256(data).hexdigest()
    assert (body["status"], body["label_revision"]) == ("unlabeled", 0)
    media = server.call("viewer", "GET", f"/samples/{body['id']}/media")
    assert media.content == data
    assert media.headers["content-type"] == "image/png"
    # the blob key is the content hash, never the file name
    assert server.ctx.store.path(body["media_sha256"]).read_bytes() == data


def test_not_an_image_is_422_and_stores_nothing(server: Server) -> None:
    response = _post(server, "evil.png", b"#!/bin/sh\nrm -rf /\n")
    assert response.status_code == 422
    assert error(response)["message"] == "upload 'evil.png' is not an image Pillow can read"
    assert not any(p.is_file() for p in server.ctx.settings.blob_dir.rglob("*"))


def test_truncated_image_is_422(server: Server) -> None:
    data = png_image(64, 64)
    response = _post(server, "cut.png", data[: len(data) // 2])
    assert response.status_code == 422
    assert error(response)["message"].startswith("upload 'cut.png' is a corrupt or truncated image")


def test_gif_is_refused(server: Server) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="GIF")
    response = _post(server, "a.gif", buffer.getvalue())
    assert response.status_code == 422
    assert error(response)["message"] == (
        "upload 'a.gif' is a GIF image; accepted are PNG, JPEG, WEBP, BMP, TIFF"
    )


@pytest.fixture
def server_options() -> dict[str, Any]:
    return {"max_image_pixels": 10_000, "max_upload_bytes": 20_000}


def test_decompression_bomb_is_413_before_decoding(server: Server) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (1000, 1000)).save(buffer, format="PNG")  # tiny file, 1 MP
    assert len(buffer.getvalue()) < 20_000
    response = _post(server, "bomb.png", buffer.getvalue())
    assert response.status_code == 413
    err = error(response)
    assert err["code"] == "too_large"
    assert err["details"] == {"pixels": 1_000_000, "max_pixels": 10_000}


def test_oversized_body_is_413(server: Server) -> None:
    noise = np.random.default_rng(0).integers(0, 255, (100, 100, 3), dtype=np.uint8)
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    assert len(buffer.getvalue()) > 20_000
    response = _post(server, "big.png", buffer.getvalue())
    assert response.status_code == 413
    assert error(response)["message"] == (
        "the image is larger than the 20000 bytes this server accepts"
    )


def test_names_are_metadata_not_paths(server: Server) -> None:
    body = _post(server, "../../etc/passwd", png_image()).json()
    assert body["name"] == "../../etc/passwd"
    assert not (server.ctx.settings.data_dir.parent / "etc").exists()
    bad = _post(server, "a\x00b", png_image())
    assert bad.status_code == 422
    assert error(bad)["message"] == "sample name 'a\\x00b' holds control characters"
    dup = _post(server, "../../etc/passwd", png_image(seed=3))
    assert dup.status_code == 409
    assert error(dup)["details"] == {"sample_id": body["id"]}


def test_cursor_pagination_visits_every_sample_once(server: Server) -> None:
    ids = [server.upload(f"s{i:02d}.png")["id"] for i in range(7)]
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = server.call(
            "viewer", "GET", f"/datasets/{server.dataset_id}/samples", params=params
        ).json()
        seen += [s["id"] for s in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    assert pages == 3
    bad = server.call(
        "viewer", "GET", f"/datasets/{server.dataset_id}/samples", params={"cursor": "zz"}
    )
    assert bad.status_code == 422
    assert error(bad)["message"] == "cursor 'zz' is not one this server handed out"
    too_many = server.call(
        "viewer", "GET", f"/datasets/{server.dataset_id}/samples", params={"limit": 5000}
    )
    assert error(too_many)["message"] == "limit must be between 1 and 1000, got 5000"


def test_filters_and_known_hashes(server: Server) -> None:
    a = server.upload("a.png", split="train")
    b = server.upload("b.png", split="val")
    page = server.call(
        "viewer", "GET", f"/datasets/{server.dataset_id}/samples", params={"split": "val"}
    ).json()
    assert [s["name"] for s in page["items"]] == ["b.png"]
    answer = server.call(
        "manager",
        "POST",
        f"/datasets/{server.dataset_id}/samples/hashes",
        json={"sha256": [a["media_sha256"], "0" * 64, b["media_sha256"].upper()]},
    ).json()
    assert answer == {"present": {a["media_sha256"]: a["id"], b["media_sha256"]: b["id"]}}


def test_update_and_delete_sample(server: Server) -> None:
    sid = server.upload("a.png")["id"]
    patched = server.call(
        "manager", "PATCH", f"/samples/{sid}", json={"split": "test", "tags": ["x", "x", "y"]}
    ).json()
    assert (patched["split"], patched["tags"]) == ("test", ["x", "y"])
    assert server.call("manager", "DELETE", f"/samples/{sid}").status_code == 204
    assert error(server.call("viewer", "GET", f"/samples/{sid}"))["message"] == (
        f"sample {sid} does not exist"
    )


def test_dataset_counts(server: Server) -> None:
    server.upload("a.png")
    server.upload("b.png")
    body = server.call("viewer", "GET", f"/datasets/{server.dataset_id}").json()
    assert body["counts"] == {"unlabeled": 2}
    assert body["my_role"] == "viewer"
    assert [c["id"] for c in body["categories"]] == [1, 2, 7, 8]


def test_crash_between_blob_and_row_leaves_no_sample(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The blob is written first; if the row cannot be written, no sample points anywhere
    (the orphan blob is harmless: content-addressed, reused by a retry)."""
    from panokit.server.services import samples
    from panokit.server.services.common import Actor

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("database went away")

    monkeypatch.setattr(server.ctx.db, "write", broken)
    with pytest.raises(OSError, match="database went away"):
        samples.upload_sample(
            server.ctx, Actor(1, "root", True), server.dataset_id, png_image(), "a.png"
        )
    monkeypatch.undo()
    page = server.call("viewer", "GET", f"/datasets/{server.dataset_id}/samples").json()
    assert page["items"] == []
    # the retry succeeds and reuses the blob
    assert (
        server.upload("a.png", data=png_image())["media_sha256"]
        == hashlib.sha256(png_image()).hexdigest()
    )
