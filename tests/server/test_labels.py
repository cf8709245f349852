"""Labels: revisions, 409 on a stale base, 422 with the reason, history, prelabels."""

from __future__ import annotations

import numpy as np

from panokit.api.convert import decode_ids_png, encode_ids_png
from panokit.core.label import PanopticImage, Segment
from tests.server.helpers import TAXONOMY, Server, error, label_files, toy_label


def test_save_and_read_back_exactly(server: Server) -> None:
    sample = server.upload("a.png")
    label = toy_label(people=2)
    response = server.save("manager", sample["id"], label, base=0)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["revision"] == 1
    assert body["author"] == "manager"
    assert [s["id"] for s in body["segments"]] == [1, 2, 3, 4]
    meta = server.call("viewer", "GET", f"/samples/{sample['id']}/label").json()
    assert meta["revision"] == 1
    assert meta["segments"][2] == {"id": 3, "category_id": 1, "iscrowd": False, "attributes": {}}
    png = server.call("viewer", "GET", f"/samples/{sample['id']}/label/png")
    assert png.headers["x-panokit-revision"] == "1"
    assert np.array_equal(decode_ids_png(png.content), label.ids)


def test_stale_revision_is_409_with_current_revision(server: Server) -> None:
    sid = server.upload("a.png")["id"]
    assert server.save("manager", sid, toy_label(), base=0).status_code == 200
    assert server.save("admin", sid, toy_label(people=2), base=1).status_code == 200
    stale = server.save("manager", sid, toy_label(people=3), base=1)
    assert stale.status_code == 409
    err = error(stale)
    assert err["code"] == "conflict"
    assert err["details"] == {"current_revision": 2, "base_revision": 1}
    assert "current revision is 2" in err["message"]
    # nothing was overwritten
    history = server.call("viewer", "GET", f"/samples/{sid}/labels").json()
    assert [(h["revision"], h["author"], len(h["segments"])) for h in history] == [
        (1, "manager", 3),
        (2, "admin", 4),
    ]
    old = server.call("viewer", "GET", f"/samples/{sid}/label/png", params={"revision": 1})
    assert np.array_equal(decode_ids_png(old.content), toy_label().ids)


def test_wrong_size_is_422(server: Server) -> None:
    sid = server.upload("a.png")["id"]
    response = server.save("manager", sid, toy_label(width=9), base=0)
    assert response.status_code == 422
    err = error(response)
    assert err["code"] == "label_error"
    assert err["message"] == (
        "label of sample 1 ('a.png'): the ids PNG is 9x6 but the image is 8x6"
    )


def test_unknown_category_is_422(server: Server) -> None:
    sid = server.upload("a.png")["id"]
    label = toy_label()
    bad = PanopticImage(label.ids, {1: Segment(8), 2: Segment(99), 3: Segment(1)}, TAXONOMY)
    response = server.save("manager", sid, bad, base=0)
    assert response.status_code == 422
    err = error(response)
    assert err["code"] == "validation_error"
    assert err["details"]["problems"] == [
        "segment id 2 has unknown category 99; taxonomy toy knows [1, 2, 7, 8]"
    ]


def test_ids_without_segments_is_422(server: Server) -> None:
    sid = server.upload("a.png")["id"]
    label = toy_label()
    bad = PanopticImage(label.ids, {1: Segment(8), 2: Segment(7)}, TAXONOMY)
    response = server.save("manager", sid, bad, base=0)
    assert response.status_code == 422
    problems = error(response)["details"]["problems"]
    assert problems == [
        "segment id 3 occurs in ids (5 pixels) but has no Segment; known ids: [1, 2]"
    ]
    assert server.call("viewer", "GET", f"/samples/{sid}/label").status_code == 404


def test_not_a_png_and_bad_json_are_422(server: Server) -> None:
    sid = server.upload("a.png")["id"]
    files = label_files(toy_label())
    files["png"] = ("label.png", b"not an image", "image/png")
    response = server.call(
        "manager", "PUT", f"/samples/{sid}/label", files=files, data={"base_revision": "0"}
    )
    assert response.status_code == 422
    assert error(response)["message"] == "label data is not a readable PNG image"
    files = label_files(toy_label())
    files["segments"] = ("segments.json", b"{not json", "application/json")
    response = server.call(
        "manager", "PUT", f"/samples/{sid}/label", files=files, data={"base_revision": "0"}
    )
    assert response.status_code == 422
    assert error(response)["message"].startswith("segment table is not valid JSON")


def test_missing_base_revision_is_422_request_invalid(server: Server) -> None:
    sid = server.upload("a.png")["id"]
    response = server.call(
        "manager", "PUT", f"/samples/{sid}/label", files=label_files(toy_label())
    )
    assert response.status_code == 422
    err = error(response)
    assert err["code"] == "request_invalid"
    assert err["message"] == "invalid request: body.base_revision: Field required"


def test_prelabel_kept_apart_then_accepted(server: Server) -> None:
    sid = server.upload("a.png")["id"]
    files = label_files(toy_label(people=2))
    response = server.call(
        "manager",
        "POST",
        f"/samples/{sid}/prelabels",
        files=files,
        data={"source": "model-v1", "score": "0.75"},
    )
    assert response.status_code == 201, response.text
    pre = response.json()
    assert (pre["source"], pre["score"], pre["accepted_revision"]) == ("model-v1", 0.75, None)
    # a prelabel is not a label
    assert server.call("viewer", "GET", f"/samples/{sid}/label").status_code == 404
    png = server.call("viewer", "GET", f"/prelabels/{pre['id']}/png").content
    assert np.array_equal(decode_ids_png(png), toy_label(people=2).ids)
    accepted = server.call(
        "manager", "POST", f"/prelabels/{pre['id']}/accept", json={"base_revision": 0}
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["revision"] == 1
    assert accepted.json()["source"] == "prelabel:model-v1"
    listed = server.call("viewer", "GET", f"/samples/{sid}/prelabels").json()
    assert listed[0]["accepted_revision"] == 1
    # accepting again against the old base conflicts
    again = server.call(
        "manager", "POST", f"/prelabels/{pre['id']}/accept", json={"base_revision": 0}
    )
    assert again.status_code == 409


def test_label_png_round_trip_helpers() -> None:
    ids = np.array([[0, 1], [70000, 3]], dtype=np.uint32)
    assert np.array_equal(decode_ids_png(encode_ids_png(ids)), ids)
