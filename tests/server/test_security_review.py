"""Holes found in the security review of the server, one test each."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from panokit.core.label import PanopticImage, Segment
from tests.server.helpers import Server, error, label_files


def _cityscapes_dataset(server: Server) -> int:
    from panokit.synthetic import synthetic_taxonomy

    body = {"name": "cs", "categories": synthetic_taxonomy().to_list()}
    r = server.call("root", "POST", "/datasets", json=body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _road_label() -> PanopticImage:
    from panokit.synthetic import synthetic_taxonomy

    ids = np.ones((6, 8), dtype=np.uint32)
    return PanopticImage(ids, {1: Segment(7)}, synthetic_taxonomy())


def test_split_is_a_plain_token_at_upload_and_update(server: Server) -> None:
    r = server.call(
        "manager",
        "POST",
        f"/datasets/{server.dataset_id}/samples",
        files={"file": ("a.png", server_png(), "image/png")},
        data={"name": "a.png", "split": "../../etc"},
    )
    assert r.status_code == 422, r.text
    assert "split" in error(r)["message"]
    sid = server.upload("b.png", split="train")["id"]
    r = server.call("manager", "PATCH", f"/samples/{sid}", json={"split": "a/b"})
    assert r.status_code == 422, r.text
    r = server.call("manager", "PATCH", f"/samples/{sid}", json={"split": "val-2"})
    assert r.status_code == 200 and r.json()["split"] == "val-2"


def server_png() -> bytes:
    from tests.server.helpers import png_image

    return png_image(8, 6)


def test_export_never_writes_outside_its_staging_folder(server: Server, tmp_path: Path) -> None:
    """A split or name stored before validation existed still cannot steer export paths."""
    from sqlalchemy import update

    from panokit.server.models import SampleRow

    dsid = _cityscapes_dataset(server)
    server.dataset_id = dsid
    sid = server.upload("../../../../up/frankfurt_000000_000001", user="root")["id"]
    escape = "../" * 12 + str(tmp_path / "escaped").lstrip("/")
    with server.ctx.db.write() as session:
        session.execute(update(SampleRow).where(SampleRow.id == sid).values(split=escape))
    r = server.call(
        "root",
        "PUT",
        f"/samples/{sid}/label",
        files=label_files(_road_label()),
        data={"base_revision": "0"},
    )
    assert r.status_code == 200, r.text
    assert server.call("root", "POST", f"/samples/{sid}/submit").status_code == 200
    r = server.call("root", "POST", f"/samples/{sid}/review", json={"accept": True})
    assert r.status_code == 200, r.text
    r = server.call("root", "POST", f"/datasets/{dsid}/releases", json={"name": "v1"})
    rid = r.json()["id"]
    for fmt in ("cityscapes", "coco-panoptic"):
        r = server.call("root", "POST", f"/releases/{rid}/exports", json={"format": fmt})
        server.ctx.jobs.run_pending()
        job = server.call("root", "GET", f"/jobs/{r.json()['id']}").json()
        assert job["status"] == "done", job
        data = server.call("root", "GET", f"/jobs/{job['id']}/download").content
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        assert names and all(".." not in n and not n.startswith("/") for n in names), names
    assert not (tmp_path / "escaped").exists()
