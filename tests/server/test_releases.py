"""Releases freeze accepted labels; exports are background jobs, downloadable, all or nothing."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

import panokit
from tests.server.helpers import Server, error, toy_label


def _accept(server: Server, name: str, people: int = 1) -> int:
    sid = server.upload(name)["id"]
    assert server.save("manager", sid, toy_label(people=people), base=0).status_code == 200
    server.call("manager", "POST", f"/samples/{sid}/submit")
    reviewed = server.call("reviewer", "POST", f"/samples/{sid}/review", json={"accept": True})
    assert reviewed.json()["status"] == "accepted", reviewed.text
    return sid


def test_release_freezes_accepted_revisions(server: Server) -> None:
    a = _accept(server, "a.png", people=1)
    b = _accept(server, "b.png", people=2)
    server.upload("c.png")  # unlabeled: not released
    made = server.call(
        "manager", "POST", f"/datasets/{server.dataset_id}/releases", json={"name": "v1"}
    )
    assert made.status_code == 201, made.text
    release = made.json()
    assert (release["name"], release["sample_count"], release["created_by"]) == ("v1", 2, "manager")
    # later edits do not change the release
    server.call("manager", "POST", f"/samples/{a}/reopen")
    assert server.save("manager", a, toy_label(people=3), base=1).status_code == 200
    items = server.call("viewer", "GET", f"/releases/{release['id']}/items").json()
    assert [(i["sample_id"], i["sample_name"], i["revision"]) for i in items["items"]] == [
        (a, "a.png", 1),
        (b, "b.png", 1),
    ]
    again = server.call(
        "manager", "POST", f"/datasets/{server.dataset_id}/releases", json={"name": "v1"}
    )
    assert again.status_code == 409
    assert error(again)["message"] == (
        "dataset 'toy' already has a release named 'v1'; releases are immutable, pick a new name"
    )
    # a released sample cannot be deleted
    deleting = server.call("manager", "DELETE", f"/samples/{b}")
    assert deleting.status_code == 409
    listed = server.call("viewer", "GET", f"/datasets/{server.dataset_id}/releases").json()
    assert [r["name"] for r in listed] == ["v1"]


def test_export_job_and_download_round_trip(server: Server, tmp_path: Path) -> None:
    a = _accept(server, "dir/a.png", people=1)
    b = _accept(server, "b.png", people=2)
    rid = server.call(
        "manager", "POST", f"/datasets/{server.dataset_id}/releases", json={"name": "v1"}
    ).json()["id"]
    started = server.call("manager", "POST", f"/releases/{rid}/exports", json={})
    assert started.status_code == 202, started.text
    job = started.json()
    assert (job["status"], job["total"], job["download_ready"]) == ("queued", 2, False)
    # not ready yet: 409, never a partial file
    early = server.call("viewer", "GET", f"/jobs/{job['id']}/download")
    assert early.status_code == 409
    assert error(early)["details"] == {"status": "queued"}
    assert server.ctx.jobs.run_pending() == 1
    done = server.call("viewer", "GET", f"/jobs/{job['id']}").json()
    assert (done["status"], done["progress"], done["done"], done["download_ready"]) == (
        "done",
        1.0,
        2,
        True,
    )
    assert done["message"] == "exported 2 samples as coco-panoptic"
    download = server.call("viewer", "GET", f"/jobs/{job['id']}/download")
    assert download.status_code == 200
    assert 'filename="v1-coco-panoptic.zip"' in download.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        names = sorted(archive.namelist())
        archive.extractall(tmp_path / "out")
    assert names == ["images/a.png", "images/b.png", "v1.json", "v1/a.png", "v1/b.png"]
    dataset = panokit.read(tmp_path / "out" / "v1.json", images_dir=tmp_path / "out" / "images")
    assert [s.key for s in dataset] == [str(a), str(b)]
    assert dataset[0].load_label().same_partition(toy_label(people=1))
    assert dataset[1].load_label().same_partition(toy_label(people=2))
    media = server.call("viewer", "GET", f"/samples/{a}/media").content
    assert (tmp_path / "out" / "images" / "a.png").read_bytes() == media
    assert np.array_equal(dataset[0].load_media().shape, (6, 8, 3))


def test_export_crash_leaves_nothing(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    _accept(server, "a.png")
    rid = server.call(
        "manager", "POST", f"/datasets/{server.dataset_id}/releases", json={"name": "v1"}
    ).json()["id"]
    job = server.call("manager", "POST", f"/releases/{rid}/exports", json={}).json()
    from panokit.server import jobs

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(jobs, "_zip_dir", boom)
    blobs_before = sorted(p.name for p in server.ctx.store.root.rglob("*") if p.is_file())
    server.ctx.jobs.run_pending()
    failed = server.call("viewer", "GET", f"/jobs/{job['id']}").json()
    assert (failed["status"], failed["message"], failed["download_ready"]) == (
        "failed",
        "OSError: disk full",
        False,
    )
    blobs_after = sorted(p.name for p in server.ctx.store.root.rglob("*") if p.is_file())
    assert blobs_after == blobs_before
    assert list(server.ctx.store.tmp.iterdir()) == []


def test_export_to_unknown_format_is_422(server: Server) -> None:
    rid = server.call(
        "manager", "POST", f"/datasets/{server.dataset_id}/releases", json={"name": "empty"}
    ).json()["id"]
    response = server.call("manager", "POST", f"/releases/{rid}/exports", json={"format": "coco"})
    assert response.status_code == 422
    err = error(response)
    assert err["code"] == "unknown_format"
    assert err["message"].startswith("unknown format 'coco'")


def test_export_to_a_point_cloud_format_is_422(server: Server) -> None:
    rid = server.call(
        "manager", "POST", f"/datasets/{server.dataset_id}/releases", json={"name": "empty"}
    ).json()["id"]
    response = server.call(
        "manager", "POST", f"/releases/{rid}/exports", json={"format": "semantic-kitti"}
    )
    assert response.status_code == 422
    assert error(response)["message"] == (
        "format 'semantic-kitti' holds pointcloud data but dataset 'toy' holds image samples"
    )
