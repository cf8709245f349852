"""The S3-compatible blob store, against moto's in-process S3."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from panokit.errors import InvalidRequestError, NotFoundError
from panokit.server.storage import S3BlobStore, parse_s3_url

moto = pytest.importorskip("moto", reason="moto is in the test extra")
boto3 = pytest.importorskip("boto3", reason="boto3 is in the test extra")


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with moto.mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket="labels")
        yield client


def test_parse_s3_url() -> None:
    assert parse_s3_url("s3://labels/team/a/") == ("labels", "team/a/")
    assert parse_s3_url("s3://labels") == ("labels", "")
    with pytest.raises(InvalidRequestError, match="must look like s3://bucket/prefix"):
        parse_s3_url("/srv/blobs")


def test_s3_store_round_trip(bucket: Any, tmp_path: Path) -> None:
    store = S3BlobStore("s3://labels/pk", tmp_path)
    key = store.put(b"hello")
    assert store.exists(key)
    assert store.get(key) == b"hello"
    assert b"".join(store.iter_bytes(key)) == b"hello"
    listed = bucket.list_objects_v2(Bucket="labels")["Contents"]
    assert [o["Key"] for o in listed] == [f"pk/{key}"]
    assert store.local_path(key) is None
    with pytest.raises(NotFoundError, match="is missing from s3://labels/pk"):
        store.get("0" * 64)
    with pytest.raises(NotFoundError, match="is not a SHA-256 hex digest"):
        store.get("../../etc/passwd")
    staged = store.tmp / "export.zip"
    staged.write_bytes(b"zip bytes")
    zkey = store.put_file(staged)
    assert store.get(zkey) == b"zip bytes"
    assert not staged.exists()


def test_server_on_s3_exports_and_downloads(bucket: Any, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from panokit.server import Settings, create_app
    from tests.server.helpers import Server, reset_server, toy_label

    settings = Settings(
        data_dir=tmp_path,
        storage_url="s3://labels/srv",
        workers=0,
        fast_password_hashing=True,
        superpixels=False,
    )
    app = create_app(settings)
    server = Server(app=app, http=TestClient(app))
    server.defaults = Settings(superpixels=False)
    reset_server(server)
    sample = server.upload("a.png")
    assert server.save("manager", sample["id"], toy_label(), base=0).status_code == 200
    server.call("manager", "POST", f"/samples/{sample['id']}/submit")
    server.call("reviewer", "POST", f"/samples/{sample['id']}/review", json={"accept": True})
    rid = server.call(
        "manager", "POST", f"/datasets/{server.dataset_id}/releases", json={"name": "v1"}
    ).json()["id"]
    job = server.call("manager", "POST", f"/releases/{rid}/exports", json={}).json()
    server.ctx.jobs.run_pending()
    download = server.call("viewer", "GET", f"/jobs/{job['id']}/download")
    assert download.status_code == 200
    assert download.headers["content-disposition"] == 'attachment; filename="v1-coco-panoptic.zip"'
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        assert sorted(archive.namelist()) == ["images/a.png", "v1.json", "v1/a.png"]
    media = server.call("viewer", "GET", f"/samples/{sample['id']}/media").content
    keys = {o["Key"] for o in bucket.list_objects_v2(Bucket="labels")["Contents"]}
    assert f"srv/{sample['media_sha256']}" in keys
    assert len(media) > 0
    local = tmp_path / "blobs"
    stored_locally = [
        p for p in local.rglob("*") if p.is_file() and p.relative_to(local).parts[0] != "tmp"
    ]
    assert stored_locally == []  # every blob went to the bucket
    server.close()
