"""Every route class checks the caller's role: one test per route class, every role in it.

Users: 'root' (server admin), one user per dataset role named after it, 'outsider' (an
external labeler: sees only samples assigned to them), 'stranger' (not a member: the
dataset does not exist for them), None (no token: 401).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

from tests.server.helpers import Server, error, label_files, toy_label

USERS = (None, "stranger", "outsider", "viewer", "labeler", "reviewer", "manager", "admin", "root")


def check(
    server: Server, expected: dict[str | None, int], request: Callable[[str | None], Any]
) -> None:
    got = {}
    for user in USERS:
        response = request(user)
        got[user] = response.status_code
        if response.status_code >= 400:
            error(response)  # the one error body, every time
    assert got == expected


def _labeled_sample(server: Server, name: str) -> int:
    sid = server.upload(name)["id"]
    server.call(
        "manager",
        "POST",
        f"/datasets/{server.dataset_id}/assign",
        json={"sample_ids": [sid], "username": "labeler"},
    )
    assert server.save("labeler", sid, toy_label(), base=0).status_code == 200
    assert server.call("labeler", "POST", f"/samples/{sid}/submit").status_code == 200
    return sid


def test_read_routes(server: Server) -> None:
    sid = server.upload("a.png")["id"]
    server.save("manager", sid, toy_label(), base=0)
    routes = [
        f"/datasets/{server.dataset_id}/samples",
        f"/samples/{sid}",
        f"/samples/{sid}/media",
        f"/samples/{sid}/label",
        f"/samples/{sid}/comments",
    ]
    for path in routes:
        expected: dict[str | None, int] = {u: 200 for u in USERS}
        expected.update({None: 401, "stranger": 404})
        if path != f"/datasets/{server.dataset_id}/samples":
            expected["outsider"] = 404  # not assigned to them
        check(server, expected, lambda u, p=path: server.call(u, "GET", p))  # type: ignore[misc]


def test_external_labeler_sees_only_assigned(server: Server) -> None:
    a = server.upload("a.png")["id"]
    b = server.upload("b.png")["id"]
    server.call(
        "manager",
        "POST",
        f"/datasets/{server.dataset_id}/assign",
        json={"sample_ids": [b], "username": "outsider"},
    )
    page = server.call("outsider", "GET", f"/datasets/{server.dataset_id}/samples").json()
    assert [s["id"] for s in page["items"]] == [b]
    assert server.call("outsider", "GET", f"/samples/{a}").status_code == 404
    assert server.call("outsider", "GET", f"/samples/{b}").status_code == 200
    counts = server.call("outsider", "GET", f"/datasets/{server.dataset_id}").json()["counts"]
    assert counts == {"labeling": 1}
    listed = server.call("outsider", "GET", "/datasets").json()["items"]
    assert [(d["name"], d["counts"]) for d in listed] == [("toy", {"labeling": 1})]
    # the queue never hands an external labeler unassigned work
    assert (
        server.call("outsider", "POST", f"/datasets/{server.dataset_id}/queue/next").json()["id"]
        == b
    )


def test_label_routes(server: Server) -> None:
    expected = {
        None: 401,
        "stranger": 404,
        "outsider": 404,
        "viewer": 403,
        "labeler": 200,
        "reviewer": 403,
        "manager": 200,
        "admin": 200,
        "root": 200,
    }
    base = {"n": 0}
    sid = server.upload("a.png")["id"]
    server.call(
        "manager",
        "POST",
        f"/datasets/{server.dataset_id}/assign",
        json={"sample_ids": [sid], "username": "labeler"},
    )

    def save(user: str | None) -> Any:
        response = (
            server.save(user, sid, toy_label(), base=base["n"])
            if user
            else server.call(None, "PUT", f"/samples/{sid}/label")
        )
        if response.status_code == 200:
            base["n"] += 1
        return response

    check(server, expected, save)
    err = error(server.save("viewer", sid, toy_label(), base=base["n"]))
    assert err["code"] == "permission_denied"
    assert err["message"] == (
        "saving labels in dataset 'toy' needs the role labeler or higher; user 'viewer' is viewer"
    )
    err = error(server.save("reviewer", sid, toy_label(), base=base["n"]))
    assert err["message"] == (
        "sample 1 is labeling and not assigned to you; user 'reviewer' (reviewer) can save "
        "labels only on samples assigned to them that are labeling or rejected"
    )


def test_review_routes(server: Server) -> None:
    expected = {
        None: 401,
        "stranger": 404,
        "outsider": 404,
        "viewer": 403,
        "labeler": 403,
        "reviewer": 200,
        "manager": 200,
        "admin": 200,
        "root": 200,
    }
    counter = {"n": 0}

    def review(user: str | None) -> Any:
        counter["n"] += 1
        sid = _labeled_sample(server, f"r{counter['n']}.png")
        return server.call(user, "POST", f"/samples/{sid}/review", json={"accept": True})

    check(server, expected, review)
    sid = _labeled_sample(server, "x.png")
    err = error(server.call("viewer", "POST", f"/samples/{sid}/review", json={"accept": True}))
    assert err["message"] == (
        "reviewing in dataset 'toy' needs the role reviewer or higher; user 'viewer' is viewer"
    )
    assert err["details"] == {"required_role": "reviewer", "role": "viewer"}


def test_manage_routes(server: Server) -> None:
    expected = {
        None: 401,
        "stranger": 404,
        "outsider": 403,
        "viewer": 403,
        "labeler": 403,
        "reviewer": 403,
        "manager": 201,
        "admin": 201,
        "root": 201,
    }
    from tests.server.helpers import png_image

    def upload(user: str | None) -> Any:
        return server.call(
            user,
            "POST",
            f"/datasets/{server.dataset_id}/samples",
            files={
                "file": (f"{user}.png", png_image(seed=zlib.crc32(str(user).encode())), "image/png")
            },
        )

    check(server, expected, upload)

    def release(user: str | None) -> Any:
        return server.call(
            user, "POST", f"/datasets/{server.dataset_id}/releases", json={"name": f"v-{user}"}
        )

    check(server, expected, release)
    shared = server.upload("shared.png")["id"]
    server.call(
        "manager",
        "POST",
        f"/datasets/{server.dataset_id}/assign",
        json={"sample_ids": [shared], "username": "outsider"},
    )

    def prelabel(user: str | None) -> Any:
        return server.call(
            user,
            "POST",
            f"/samples/{shared}/prelabels",
            files=label_files(toy_label()),
            data={"source": "model"},
        )

    check(server, expected, prelabel)
    release_id = server.call("root", "GET", f"/datasets/{server.dataset_id}/releases").json()[0][
        "id"
    ]
    export_expected = {k: (202 if v == 201 else v) for k, v in expected.items()}
    export_expected["outsider"] = 403
    check(
        server,
        export_expected,
        lambda u: server.call(u, "POST", f"/releases/{release_id}/exports", json={}),
    )
    member_expected = {k: (200 if v == 201 else v) for k, v in expected.items()}
    check(
        server,
        member_expected,
        lambda u: (
            server.call(
                u,
                "PUT",
                f"/datasets/{server.dataset_id}/members",
                json={"username": "stranger", "role": "viewer"},
            )
            if u != "stranger"
            else server.call(
                u,
                "PUT",
                f"/datasets/{server.dataset_id}/members",
                json={"username": "x", "role": "viewer"},
            )
        ),
    )
    # a manager cannot make anyone admin
    err = error(
        server.call(
            "manager",
            "PUT",
            f"/datasets/{server.dataset_id}/members",
            json={"username": "viewer", "role": "admin"},
        )
    )
    assert err["message"] == (
        "user 'manager' is manager in dataset 'toy' and cannot grant the stronger role admin"
    )


def test_admin_routes(server: Server) -> None:
    expected = {
        None: 401,
        "stranger": 404,
        "outsider": 403,
        "viewer": 403,
        "labeler": 403,
        "reviewer": 403,
        "manager": 403,
        "admin": 204,
        "root": 404,
    }
    # root runs last: the dataset is gone after 'admin' deleted it
    check(server, expected, lambda u: server.call(u, "DELETE", f"/datasets/{server.dataset_id}"))


def test_server_admin_routes(server: Server) -> None:
    expected = {u: 403 for u in USERS}
    expected.update({None: 401, "root": 201})
    check(
        server,
        expected,
        lambda u: server.call(
            u, "POST", "/users", json={"username": f"new-{u}", "password": "long enough pw"}
        ),
    )
    assert [u["username"] for u in server.call("root", "GET", "/users").json()][-1] == "new-root"


def test_queue_and_comment_routes(server: Server) -> None:
    expected = {
        None: 401,
        "stranger": 404,
        "outsider": 200,
        "viewer": 403,
        "labeler": 200,
        "reviewer": 200,
        "manager": 200,
        "admin": 200,
        "root": 200,
    }
    check(
        server,
        expected,
        lambda u: server.call(u, "POST", f"/datasets/{server.dataset_id}/queue/next"),
    )
    sid = server.upload("c.png")["id"]
    comment_expected = {k: (201 if v == 200 else v) for k, v in expected.items()}
    comment_expected["outsider"] = 404  # not assigned to them
    check(
        server,
        comment_expected,
        lambda u: server.call(u, "POST", f"/samples/{sid}/comments", json={"text": "hi"}),
    )
    review_queue = {**expected, "outsider": 403, "labeler": 403}
    check(
        server,
        review_queue,
        lambda u: server.call(u, "POST", f"/datasets/{server.dataset_id}/review/next"),
    )
