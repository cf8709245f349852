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


def test_export_never_writes_outside_its_staging_folder(server: Server) -> None:
    """A split or name stored before validation existed still cannot steer export paths."""
    from sqlalchemy import update

    from panokit.server.models import SampleRow

    dsid = _cityscapes_dataset(server)
    server.dataset_id = dsid
    sid = server.upload("../../../../up/frankfurt_000000_000001", user="root")["id"]
    # from <store>/tmp/stage-*/export/gtFine/<split>/ this lands in <store>/escaped
    escape = "../../../../escaped"
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
    root = server.ctx.store.root
    assert [p for p in root.rglob("*") if "escaped" in str(p.relative_to(root))] == []


def _labeled(server: Server, name: str = "r.png") -> int:
    from tests.server.helpers import toy_label

    sid = int(server.upload(name)["id"])
    r = server.call(
        "manager",
        "POST",
        f"/datasets/{server.dataset_id}/assign",
        json={"sample_ids": [sid], "username": "labeler"},
    )
    assert r.status_code == 200, r.text
    assert server.save("labeler", sid, toy_label(), 0).status_code == 200
    assert server.call("labeler", "POST", f"/samples/{sid}/submit").status_code == 200
    return sid


def test_review_of_a_stale_revision_is_409(server: Server) -> None:
    """A reviewer looked at revision 1; a manager's fix (revision 2) lands before the
    verdict: accepting must not silently accept the label nobody reviewed."""
    from tests.server.helpers import toy_label

    sid = _labeled(server)
    assert server.save("manager", sid, toy_label(people=2), 1).status_code == 200
    r = server.call(
        "reviewer", "POST", f"/samples/{sid}/review", json={"accept": True, "revision": 1}
    )
    assert r.status_code == 409, r.text
    body = error(r)
    assert body["details"] == {"current_revision": 2, "revision": 1}
    assert body["message"] == (
        f"sample {sid}: the review is of revision 1 but the current revision is 2; "
        "look at the new label first"
    )
    assert server.call("reviewer", "GET", f"/samples/{sid}").json()["status"] == "labeled"
    r = server.call(
        "reviewer", "POST", f"/samples/{sid}/review", json={"accept": True, "revision": 2}
    )
    assert r.status_code == 200 and r.json()["status"] == "accepted"


def test_sdk_review_sends_the_revision(server: Server) -> None:
    from panokit.errors import ConflictError

    sid = _labeled(server)
    client = server.sdk("reviewer")
    try:
        client.review(sid, False, "fix the car", revision=0)
    except ConflictError as exc:
        assert exc.details["current_revision"] == 1
    else:  # pragma: no cover - the assertion below names the failure
        raise AssertionError("a stale review was not refused")
    assert client.review(sid, False, "fix the car", revision=1).status == "rejected"


def test_prelabel_accept_against_a_stale_revision_is_409(server: Server) -> None:
    from tests.server.helpers import toy_label

    sid = int(server.upload("p.png")["id"])
    files = label_files(toy_label())
    r = server.call(
        "manager", "POST", f"/samples/{sid}/prelabels", files=files, data={"source": "m"}
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    assert server.save("manager", sid, toy_label(people=2), 0).status_code == 200
    r = server.call("manager", "POST", f"/prelabels/{pid}/accept", json={"base_revision": 0})
    assert r.status_code == 409, r.text
    assert error(r)["details"] == {"current_revision": 1, "base_revision": 0}
    r = server.call("manager", "POST", f"/prelabels/{pid}/accept", json={"base_revision": 1})
    assert r.status_code == 200 and r.json()["revision"] == 2


def test_a_chunked_upload_is_cut_off_at_the_limit(server: Server) -> None:
    """No Content-Length (chunked): the body is counted as it streams, and the request ends
    with a 413 once the limit (+1 MiB for the multipart envelope) is passed."""
    from tests.server.helpers import reset_server

    reset_server(server, max_upload_bytes=1000)
    limit = 1000 + 1024 * 1024
    sent = {"bytes": 0}
    boundary = "xyzzy"

    def body() -> object:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        yield head
        sent["bytes"] += len(head)
        chunk = b"\0" * 65536
        for _ in range(64):  # 4 MiB offered
            sent["bytes"] += len(chunk)
            yield chunk

    r = server.http.post(
        f"/api/v1/datasets/{server.dataset_id}/samples",
        content=body(),
        headers={
            **server.headers("manager"),
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    assert r.status_code == 413, r.text
    assert error(r) == {
        "code": "too_large",
        "message": f"request body is larger than the {limit} bytes this server accepts",
        "details": {},
    }
    assert "content-length" not in {k.lower() for k in r.request.headers}


def test_external_labeler_sees_no_jobs_of_other_samples(server: Server) -> None:
    from sqlalchemy import select

    from panokit.server.models import Job
    from tests.server.helpers import reset_server

    reset_server(server, superpixels=True)
    mine = server.upload("mine.png")["id"]
    other = server.upload("other.png")["id"]
    r = server.call(
        "manager",
        "POST",
        f"/datasets/{server.dataset_id}/assign",
        json={"sample_ids": [mine], "username": "outsider"},
    )
    assert r.status_code == 200, r.text
    with server.ctx.db.read() as session:
        jobs = dict(session.execute(select(Job.sample_id, Job.id)).all())
    assert server.call("outsider", "GET", f"/jobs/{jobs[mine]}").status_code == 200
    r = server.call("outsider", "GET", f"/jobs/{jobs[other]}")
    assert r.status_code == 404
    assert error(r)["message"] == f"job {jobs[other]} does not exist"
    assert server.call("labeler", "GET", f"/jobs/{jobs[other]}").status_code == 200


def test_an_oversized_label_png_is_refused_from_its_header(server: Server) -> None:
    """A 20000x20000 label PNG (tiny when compressed) is refused without being decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(data, zlib.crc32(kind)) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")
    sid = server.upload("big.png")["id"]
    r = server.call(
        "manager",
        "PUT",
        f"/samples/{sid}/label",
        files={
            "png": ("l.png", bomb, "image/png"),
            "segments": ("s.json", b"[]", "application/json"),
        },
        data={"base_revision": "0"},
    )
    assert r.status_code == 422, r.text
    assert error(r)["message"] == (
        f"label of sample {sid} ('big.png'): the ids PNG is 20000x20000 but the image is 8x6"
    )


def test_login_is_throttled_after_five_wrong_passwords(server: Server) -> None:
    from tests.server.helpers import PASSWORD

    def login(user: str, password: str) -> object:
        return server.call(
            None, "POST", "/auth/login", json={"username": user, "password": password}
        )

    for _ in range(5):
        r = login("labeler", "wrong password")
        assert r.status_code == 401 and error(r)["message"] == "wrong user name or password"
    r = login("labeler", PASSWORD)  # even the right one, while locked out
    assert r.status_code == 429, r.text
    body = error(r)
    assert body["code"] == "rate_limited"
    assert body["message"] == "too many wrong passwords for user 'labeler'; try again in 60 s"
    assert body["details"] == {"retry_after_s": 60}
    assert login("viewer", PASSWORD).status_code == 200  # other names are not affected


def test_login_throttle_window() -> None:
    from panokit.errors import AuthenticationError
    from panokit.server.services.users import LoginThrottle, LoginThrottledError

    throttle = LoginThrottle(failures=2, window=10.0)
    throttle.failed("Ann", now=0.0)
    throttle.check("ann", now=1.0)
    throttle.failed("ann", now=2.0)
    try:
        throttle.check("ANN", now=3.0)
    except LoginThrottledError as exc:
        assert isinstance(exc, AuthenticationError)
        assert exc.details == {"retry_after_s": 7}
    else:  # pragma: no cover
        raise AssertionError("not throttled")
    throttle.check("ann", now=10.5)  # the first failure aged out: one left in the window
    throttle.failed("ann", now=11.0)
    throttle.succeeded("ann")
    throttle.check("ann", now=11.5)


def test_change_password_revokes_every_token(server: Server) -> None:
    from tests.server.helpers import PASSWORD

    old = server.tokens["labeler"]
    second = server.call("labeler", "POST", "/tokens", json={"name": "ci"}).json()["token"]
    r = server.call(
        "labeler",
        "POST",
        "/users/me/password",
        json={"password": "not it", "new_password": "a new long secret"},
    )
    assert r.status_code == 401 and error(r)["message"] == "wrong user name or password"
    r = server.call(
        "labeler",
        "POST",
        "/users/me/password",
        json={"password": PASSWORD, "new_password": "a new long secret"},
    )
    assert r.status_code == 200, r.text
    new = r.json()["token"]
    for token in (old, second):
        r = server.http.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and error(r)["message"].endswith("was revoked")
    r = server.http.get("/api/v1/users/me", headers={"Authorization": f"Bearer {new}"})
    assert r.json()["username"] == "labeler"
    body = {"username": "labeler", "password": "a new long secret"}
    assert server.call(None, "POST", "/auth/login", json=body).status_code == 200
    body["password"] = PASSWORD
    assert server.call(None, "POST", "/auth/login", json=body).status_code == 401


def test_sdk_change_password_switches_token(server: Server) -> None:
    from tests.server.helpers import PASSWORD

    client = server.sdk("viewer")
    out = client.change_password(PASSWORD, "another long secret")
    assert client.token == out.token and client.token != server.tokens["viewer"]
    assert client.me().username == "viewer"


def test_logout_revokes_the_token_it_carries(server: Server) -> None:
    other = server.call("labeler", "POST", "/tokens", json={"name": "ci"}).json()["token"]
    r = server.call("labeler", "POST", "/auth/logout")
    assert r.status_code == 204, r.text
    r = server.call("labeler", "GET", "/users/me")
    assert r.status_code == 401 and error(r)["message"].endswith("was revoked")
    r = server.http.get("/api/v1/users/me", headers={"Authorization": f"Bearer {other}"})
    assert r.json()["username"] == "labeler"  # only the token presented is revoked
    assert server.call(None, "POST", "/auth/logout").status_code == 401


def _rotated_jpeg(tmp_dir: Path) -> tuple[Path, bytes]:
    """An 8x6 JPEG whose EXIF orientation 6 says: show it turned 90 degrees clockwise."""
    from PIL import Image

    pixels = np.zeros((6, 8, 3), dtype=np.uint8)
    pixels[:, :4] = (255, 0, 0)  # left half red, right half blue as stored
    pixels[:, 4:] = (0, 0, 255)
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=100, exif=exif.tobytes())
    path = tmp_dir / "photos" / "rotated.jpg"
    path.parent.mkdir()
    path.write_bytes(buffer.getvalue())
    return path, buffer.getvalue()


def test_exif_rotated_jpeg_is_stored_upright(server: Server, tmp_path: Path) -> None:
    import hashlib

    from PIL import Image

    path, data = _rotated_jpeg(tmp_path)
    client = server.sdk("manager")
    report = client.upload_folder(server.dataset_id, path.parent, progress=False)
    assert [s.name for s in report.uploaded] == ["rotated.jpg"]
    sample = report.uploaded[0]
    assert (sample.width, sample.height) == (6, 8)  # as a viewer shows it
    with Image.open(io.BytesIO(client.media(sample.id))) as stored:
        assert stored.format == "JPEG" and stored.size == (6, 8)
        assert stored.getexif().get(0x0112) is None
        rgb = np.asarray(stored.convert("RGB")).astype(int)
    # turned clockwise: the stored left (red) half is now on top
    assert rgb[:3, :, 0].min() > 200 and rgb[:3, :, 2].max() < 60
    assert rgb[5:, :, 2].min() > 200 and rgb[5:, :, 0].max() < 60
    digest = hashlib.sha256(data).hexdigest()
    assert sample.media_sha256 != digest
    assert client.known_hashes(server.dataset_id, [digest]) == {digest: sample.id}
    again = client.upload_folder(server.dataset_id, path.parent, progress=False)
    assert again.uploaded == [] and again.skipped == {"rotated.jpg": sample.id}


def test_upright_images_are_stored_as_uploaded(server: Server) -> None:
    import hashlib

    from tests.server.helpers import png_image

    data = png_image(8, 6)
    sample = server.upload("plain.png", data=data)
    assert sample["media_sha256"] == hashlib.sha256(data).hexdigest()


def test_login_fields_are_bounded(server: Server) -> None:
    """A token name longer than its column was a 500 on PostgreSQL (a 1 MB password a slow
    argon2 run)."""
    from tests.server.helpers import PASSWORD

    body = {"username": "viewer", "password": PASSWORD, "token_name": "t" * 65}
    r = server.call(None, "POST", "/auth/login", json=body)
    assert r.status_code == 422, r.text
    assert error(r)["message"].startswith("invalid request: body.token_name:")
    body = {"username": "viewer", "password": "p" * 257}
    assert server.call(None, "POST", "/auth/login", json=body).status_code == 422


def test_submit_of_a_stale_revision_is_409(server: Server) -> None:
    """The labeler saved revision 1; a manager's save (revision 2) lands before the
    labeler submits: submitting 'my revision 1' is refused, a plain submit still works."""
    from tests.server.helpers import toy_label

    sid = int(server.upload("s.png")["id"])
    r = server.call(
        "manager",
        "POST",
        f"/datasets/{server.dataset_id}/assign",
        json={"sample_ids": [sid], "username": "labeler"},
    )
    assert r.status_code == 200
    assert server.save("labeler", sid, toy_label(), 0).status_code == 200
    assert server.save("manager", sid, toy_label(people=2), 1).status_code == 200
    r = server.call("labeler", "POST", f"/samples/{sid}/submit", json={"revision": 1})
    assert r.status_code == 409, r.text
    assert error(r)["details"] == {"current_revision": 2, "revision": 1}
    client = server.sdk("labeler")
    assert client.submit(sid, revision=2).status == "labeled"
    r = server.call("labeler", "POST", f"/samples/{sid}/submit")
    assert r.status_code == 409  # no body: the state check still applies


def test_ui_routes_check_assignment_and_revocation_even_when_cached(server: Server) -> None:
    """Thumbnails and browser superpixels come from a process-wide cache: an external
    labeler still sees only assigned samples, a revoked token or a removed member nothing."""
    from tests.server.helpers import reset_server

    reset_server(server, superpixels=True)
    sid = server.upload("ui.png", width=32, height=24)["id"]
    server.ctx.jobs.run_pending()
    paths = [f"/ui/samples/{sid}/thumbnail?size=16", f"/ui/samples/{sid}/superpixels"]
    for path in paths:  # warm the cache
        assert server.call("viewer", "GET", path).status_code == 200, path
    for path in paths:
        assert server.call("outsider", "GET", path).status_code == 404, path
    r = server.call(
        "manager",
        "POST",
        f"/datasets/{server.dataset_id}/assign",
        json={"sample_ids": [sid], "username": "outsider"},
    )
    assert r.status_code == 200
    for path in paths:
        assert server.call("outsider", "GET", path).status_code == 200, path
    tokens = server.call("viewer", "GET", "/tokens").json()
    assert server.call("viewer", "DELETE", f"/tokens/{tokens[0]['id']}").status_code == 200
    for path in paths:
        assert server.call("viewer", "GET", path).status_code == 401, path
    r = server.call("manager", "DELETE", f"/datasets/{server.dataset_id}/members/outsider")
    assert r.status_code == 204
    for path in paths:
        assert server.call("outsider", "GET", path).status_code == 404, path
