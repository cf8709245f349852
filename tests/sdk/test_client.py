"""The SDK against the in-process app: core types in, core types out, library errors."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import panokit
from panokit.core.label import PanopticImage, Segment
from panokit.core.sample import Sample
from panokit.core.taxonomy import Taxonomy
from panokit.dataset import PanopticDataset
from panokit.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    TaxonomyError,
    ValidationError,
)
from panokit.sdk import Client
from tests.server.helpers import PASSWORD, TAXONOMY, Server, png_image, toy_label


def _folder(root: Path, count: int) -> list[Path]:
    (root / "sub").mkdir(parents=True)
    paths = []
    for i in range(count):
        path = root / ("sub" if i % 2 else "") / f"img{i}.png"
        path.write_bytes(png_image(8, 6, seed=100 + i))
        paths.append(path)
    (root / "notes.txt").write_text("not an image")
    return paths


def test_labels_round_trip_and_conflict(server: Server) -> None:
    client = server.sdk("manager")
    sid = client.upload_image(server.dataset_id, png_image(), name="a.png").id
    label = toy_label(people=2)
    saved = client.put_label(sid, label, base_revision=0)
    assert saved.revision == 1
    record = client.get_label(sid)
    assert isinstance(record.label, PanopticImage)
    assert record.label.equals(label)
    assert record.label.taxonomy == client.taxonomy(server.dataset_id)
    assert (record.revision, record.author, record.source) == (1, "manager", "human")
    other = server.sdk("admin")
    other.put_label(sid, toy_label(people=1), base_revision=1)
    with pytest.raises(ConflictError) as caught:
        client.put_label(sid, label, base_revision=1)
    assert caught.value.details["current_revision"] == 2
    assert caught.value.details["status"] == 409
    bad = PanopticImage(label.ids, {1: Segment(8), 2: Segment(7)}, TAXONOMY)
    with pytest.raises(ValidationError) as invalid:
        client.put_label(sid, bad, base_revision=2)
    assert invalid.value.problems == [
        "segment id 3 occurs in ids (5 pixels) but has no Segment; known ids: [1, 2]",
        "segment id 4 occurs in ids (5 pixels) but has no Segment; known ids: [1, 2]",
    ]
    assert [r.revision for r in client.label_history(sid)] == [1, 2]
    assert client.get_label(sid, revision=1).label.equals(label)


def test_errors_are_library_errors(server: Server) -> None:
    with pytest.raises(PermissionDeniedError, match="uploading samples in dataset 'toy' needs"):
        server.sdk("viewer").upload_image(server.dataset_id, png_image(), name="x.png")
    with pytest.raises(NotFoundError, match="sample 999 does not exist"):
        server.sdk("viewer").sample(999)
    with pytest.raises(AuthenticationError, match="unknown API token"):
        Client("http://testserver", "pk_wrong", http=server.http).me()
    logged = Client.login("http://testserver", "labeler", PASSWORD, http=server.http)
    assert logged.me().username == "labeler"


def test_upload_folder_is_resumable(server: Server, tmp_path: Path) -> None:
    paths = _folder(tmp_path / "artifact", 5)
    client = server.sdk("manager")
    progress: list[tuple[int, int]] = []
    first = client.upload_folder(
        server.dataset_id,
        tmp_path / "artifact",
        split="train",
        progress=False,
        on_progress=lambda done, total: progress.append((done, total)),
    )
    assert sorted(s.name for s in first.uploaded) == [
        "img0.png",
        "img2.png",
        "img4.png",
        "sub/img1.png",
        "sub/img3.png",
    ]
    assert (first.skipped, first.failed) == ({}, {})
    assert progress[-1] == (5, 5)
    # a new file appears; the rest is skipped by content hash
    extra = tmp_path / "artifact" / "img9.png"
    extra.write_bytes(png_image(8, 6, seed=999))
    second = client.upload_folder(server.dataset_id, tmp_path / "artifact", progress=False)
    assert [s.name for s in second.uploaded] == ["img9.png"]
    assert sorted(second.skipped) == sorted(
        p.relative_to(tmp_path / "artifact").as_posix() for p in paths
    )
    assert [s.split for s in client.samples(server.dataset_id, split="train")] == ["train"] * 5


class FlakyTransport(httpx.BaseTransport):
    """Fails the first ``failures`` uploads with a connection error."""

    def __init__(self, inner: httpx.BaseTransport, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/samples") and self.failures:
            self.failures -= 1
            raise httpx.ConnectError("connection reset", request=request)
        return self.inner.handle_request(request)


def test_upload_folder_retries_transport_errors(server: Server, tmp_path: Path) -> None:
    _folder(tmp_path / "f", 2)
    flaky = httpx.Client(
        transport=FlakyTransport(server.http._transport, failures=2), base_url="http://testserver"
    )
    client = Client("http://testserver", server.tokens["manager"], http=flaky, backoff=0.0)
    report = client.upload_folder(server.dataset_id, tmp_path / "f", progress=False, retries=3)
    assert len(report.uploaded) == 2
    assert report.failed == {}
    client = Client(
        "http://testserver",
        server.tokens["manager"],
        http=httpx.Client(transport=FlakyTransport(server.http._transport, failures=10)),
        backoff=0.0,
    )
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "new.png").write_bytes(png_image(seed=77))
    failed = client.upload_folder(server.dataset_id, tmp_path / "g", progress=False, retries=1)
    assert list(failed.failed) == ["new.png"]
    assert "failed after 1 attempts: connection reset" in failed.failed["new.png"]


class LostResponseTransport(httpx.BaseTransport):
    """Delivers the first upload to the server, then loses its response."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.lost = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "POST" and request.url.path.endswith("/samples") and not self.lost:
            self.lost += 1
            response.read()
            raise httpx.ReadError("connection dropped after the request", request=request)
        return response


def test_upload_folder_recognises_an_upload_whose_response_was_lost(
    server: Server, tmp_path: Path
) -> None:
    _folder(tmp_path / "f", 1)
    transport = LostResponseTransport(server.http._transport)
    client = Client(
        "http://testserver",
        server.tokens["manager"],
        http=httpx.Client(transport=transport),
        backoff=0.0,
    )
    report = client.upload_folder(server.dataset_id, tmp_path / "f", progress=False)
    assert transport.lost == 1
    assert report.uploaded == []
    assert report.failed == {}
    assert list(report.skipped) == ["img0.png"]
    assert [s.name for s in client.samples(server.dataset_id)] == ["img0.png"]


def test_upload_folder_with_workers(server: Server, tmp_path: Path) -> None:
    _folder(tmp_path / "f", 6)
    client = server.sdk("manager")
    report = client.upload_folder(server.dataset_id, tmp_path / "f", progress=True, workers=3)
    assert [s.name for s in report.uploaded] == [
        "img0.png",
        "img2.png",
        "img4.png",
        "sub/img1.png",
        "sub/img3.png",
        "sub/img5.png",
    ]
    assert (report.skipped, report.failed) == ({}, {})


def test_create_dataset_from_panokit_dataset_with_prelabels(server: Server, tmp_path: Path) -> None:
    samples = []
    for i in range(2):
        media = tmp_path / f"m{i}.png"
        media.write_bytes(png_image(8, 6, seed=i))
        samples.append(
            Sample(key=f"k{i}", media=media, label_loader=lambda i=i: toy_label(people=i + 1))
        )
    local = PanopticDataset(samples, TAXONOMY)
    client = server.sdk("root")
    made = client.create_dataset_from(local, "imported", labels_as="prelabels", source="gt")
    assert made.counts == {"unlabeled": 2}
    assert client.taxonomy(made.id) == TAXONOMY
    remote = list(client.samples(made.id))
    assert [s.name for s in remote] == ["k0", "k1"]
    pre = client.prelabels(remote[1].id)
    assert [(p.source, p.width, p.height) for p in pre] == [("gt", 8, 6)]
    assert client.get_prelabel(pre[0]).equals(toy_label(people=2))
    accepted = client.accept_prelabel(pre[0].id, base_revision=0)
    assert accepted.revision == 1
    assert client.get_label(remote[1].id).label.equals(toy_label(people=2))
    # an interrupted import resumes: only the missing samples are uploaded
    more = PanopticDataset(
        [*samples, Sample(key="k2", media=samples[0].media, label_loader=lambda: toy_label())],
        TAXONOMY,
    )
    resumed = client.create_dataset_from(more, "imported", labels_as=None, resume=True)
    assert (resumed.id, sum(resumed.counts.values())) == (made.id, 3)
    other = PanopticDataset(samples, Taxonomy(list(TAXONOMY)[:2], name="other"))
    with pytest.raises(TaxonomyError, match="has another taxonomy"):
        client.create_dataset_from(other, "imported", resume=True)
    with pytest.raises(ConflictError, match="a dataset named 'imported' already exists"):
        client.create_dataset_from(local, "imported")
    # predictions matched by sample name
    uploaded = client.upload_predictions(made.id, {"k0": toy_label(people=3)}, source="model-v2")
    assert uploaded["k0"].source == "model-v2"
    with pytest.raises(NotFoundError, match="has no sample named 'nope'"):
        client.upload_predictions(made.id, {"nope": toy_label()}, source="m")


def test_workflow_release_export_download(server: Server, tmp_path: Path) -> None:
    manager = server.sdk("manager")
    labeler = server.sdk("labeler")
    reviewer = server.sdk("reviewer")
    ids = [
        manager.upload_image(server.dataset_id, png_image(seed=i), name=f"s{i}.png").id
        for i in range(2)
    ]
    assigned = manager.assign(server.dataset_id, ids, "labeler")
    assert [(s.status.value, s.assignee) for s in assigned] == [("labeling", "labeler")] * 2
    for _ in ids:
        sample = labeler.next_sample(server.dataset_id)
        assert sample is not None
        labeler.put_label(sample.id, toy_label(), base_revision=sample.label_revision)
        assert labeler.submit(sample.id).status.value == "labeled"
    assert labeler.next_sample(server.dataset_id) is None
    first = reviewer.next_review(server.dataset_id)
    assert first is not None and first.id == ids[0]
    assert reviewer.review(first.id, accept=False, comment="fix the sky").status.value == "rejected"
    assert [c.text for c in labeler.comments(first.id)] == ["fix the sky"]
    assert labeler.next_sample(server.dataset_id).id == ids[0]  # type: ignore[union-attr]
    labeler.put_label(ids[0], toy_label(people=2), base_revision=1)
    labeler.submit(ids[0])
    for sid in ids:
        reviewer.review(sid, accept=True)
    release = manager.create_release(server.dataset_id, "v1")
    assert release.sample_count == 2
    assert [(i.sample_id, i.revision) for i in manager.release_items(release.id)] == [
        (ids[0], 2),
        (ids[1], 1),
    ]
    job = manager.export(release.id, include_media=False)
    server.ctx.jobs.run_pending()
    done = manager.wait(job.id)
    assert done.progress == 1.0
    path = server.sdk("viewer").download(job.id, tmp_path)
    assert path == tmp_path / "v1-coco-panoptic.zip"
    made = server.sdk("viewer").download(job.id, f"{tmp_path}/new/")
    assert made == tmp_path / "new" / "v1-coco-panoptic.zip"
    assert made.read_bytes() == path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["v1.json", "v1/s0.png", "v1/s1.png"]
        archive.extractall(tmp_path / "x")
    exported = panokit.read(tmp_path / "x" / "v1.json")
    assert exported[0].load_label().same_partition(toy_label(people=2))


def test_media_and_image(server: Server) -> None:
    client = server.sdk("manager")
    data = png_image(8, 6, seed=5)
    sid = client.upload_image(server.dataset_id, data, name="a.png", tags=["x"]).id
    assert client.media(sid) == data
    image: Any = client.image(sid)
    assert image.shape == (6, 8, 3)
    assert np.array_equal(
        image, np.random.default_rng(5).integers(0, 255, (6, 8, 3), dtype=np.uint8)
    )
    assert client.update_sample(sid, tags=["y"]).tags == ["y"]


def test_admin_calls(server: Server) -> None:
    root = server.sdk("root")
    assert root.info().api == "v1"
    made = root.create_user("carol", "a long password", is_admin=False)
    assert (made.username, made.is_admin) == ("carol", False)
    assert [u.username for u in root.users()][-1] == "carol"
    carol = Client.login("http://testserver", "carol", "a long password", http=server.http)
    token = carol.create_token("laptop")
    assert token.token is not None and token.token.startswith("pk_")
    assert [t.name for t in carol.tokens()] == ["login", "laptop"]
    assert carol.revoke_token(token.id).revoked is True
    with pytest.raises(AuthenticationError, match=f"API token {token.id} was revoked"):
        Client("http://testserver", token.token, http=server.http).me()
    manager = server.sdk("manager")
    member = manager.add_member(server.dataset_id, "carol", "labeler", external=True)
    assert (member.role.value, member.external) == ("labeler", True)
    assert ("carol", "labeler", True) in [
        (m.username, m.role.value, m.external) for m in manager.members(server.dataset_id)
    ]
    assert [d.name for d in carol.datasets()] == ["toy"]
    manager.remove_member(server.dataset_id, "carol")
    assert carol.datasets() == []
    sid = manager.upload_image(server.dataset_id, png_image(), name="a.png").id
    manager.put_label(sid, toy_label(), base_revision=0)
    manager.submit(sid)
    server.sdk("reviewer").review(sid, accept=True)
    assert manager.reopen(sid).status.value == "labeling"
    assert manager.jobs(server.dataset_id) == []
    mine = root.create_dataset("scratch", TAXONOMY)
    root.delete_dataset(mine.id)
    with pytest.raises(NotFoundError, match=f"dataset {mine.id} does not exist"):
        root.dataset(mine.id)


def test_create_dataset_from_folder_in_one_call(server: Server, tmp_path: Path) -> None:
    from panokit.errors import TaxonomyError
    from panokit.sdk.client import UploadReport

    folder = tmp_path / "artifact"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.png").write_bytes(png_image(8, 6, seed=1))
    (folder / "sub" / "b.png").write_bytes(png_image(8, 6, seed=2))
    (folder / "notes.txt").write_text("not an image")
    client = server.sdk("root")
    dataset, report = client.create_dataset_from_folder(
        "artifact", TAXONOMY, folder, progress=False
    )
    assert dataset.name == "artifact" and dataset.counts == {"unlabeled": 2}
    assert sorted(s.name for s in report.uploaded) == ["a.png", "sub/b.png"]
    assert str(report) == "2 uploaded, 0 already there, 0 failed"
    again, report = client.create_dataset_from_folder("artifact", TAXONOMY, folder, progress=False)
    assert again.id == dataset.id and sorted(report.skipped) == ["a.png", "sub/b.png"]
    other = Taxonomy(list(TAXONOMY)[:2], name="other")
    with pytest.raises(TaxonomyError, match="'artifact' on the server has another taxonomy"):
        client.create_dataset_from_folder("artifact", other, folder, progress=False)
    failed = UploadReport(failed={"x.png": "too big"})
    assert str(failed) == "0 uploaded, 0 already there, 1 failed\n  x.png: too big"
