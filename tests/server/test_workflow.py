"""Workflow: queue, assignment, submit, review, rejection back to the labeler, comments."""

from __future__ import annotations

import threading

from panokit.api.schemas import MemberSet, Role, UserCreate
from panokit.server.services import datasets, users, workflow
from panokit.server.services.common import Actor
from tests.server.helpers import PASSWORD, Server, error, toy_label


def _next(server: Server, user: str) -> dict[str, object] | None:
    response = server.call(user, "POST", f"/datasets/{server.dataset_id}/queue/next")
    assert response.status_code == 200, response.text
    result: dict[str, object] | None = response.json()
    return result


def test_full_cycle_with_rejection(server: Server) -> None:
    ids = [server.upload(f"s{i}.png")["id"] for i in range(2)]
    got = _next(server, "labeler")
    assert got is not None
    assert (got["id"], got["status"], got["assignee"]) == (ids[0], "labeling", "labeler")
    # asking again returns the same unfinished sample
    assert _next(server, "labeler")["id"] == ids[0]  # type: ignore[index]
    sid = ids[0]
    # submitting without a label is refused
    err = error(server.call("labeler", "POST", f"/samples/{sid}/submit"))
    assert err["message"] == f"sample {sid} has no label to submit; save one first"
    assert server.save("labeler", sid, toy_label(), base=0).status_code == 200
    submitted = server.call("labeler", "POST", f"/samples/{sid}/submit").json()
    assert submitted["status"] == "labeled"
    # the labeler cannot edit a submitted sample
    assert server.save("labeler", sid, toy_label(), base=1).status_code == 403
    review = server.call("reviewer", "POST", f"/datasets/{server.dataset_id}/review/next").json()
    assert (review["id"], review["status"], review["reviewer"]) == (sid, "reviewing", "reviewer")
    # rejecting needs a comment
    no_comment = server.call("reviewer", "POST", f"/samples/{sid}/review", json={"accept": False})
    assert no_comment.status_code == 422
    rejected = server.call(
        "reviewer",
        "POST",
        f"/samples/{sid}/review",
        json={"accept": False, "comment": "the car is missing"},
    ).json()
    assert (rejected["status"], rejected["assignee"]) == ("rejected", "labeler")
    # back to the same labeler, first in their queue, with the comment
    assert _next(server, "labeler")["id"] == sid  # type: ignore[index]
    comments = server.call("labeler", "GET", f"/samples/{sid}/comments").json()
    assert [(c["author"], c["kind"], c["text"]) for c in comments] == [
        ("reviewer", "rejection", "the car is missing")
    ]
    fixed = server.save("labeler", sid, toy_label(people=2), base=1)
    assert fixed.status_code == 200
    assert server.call("viewer", "GET", f"/samples/{sid}").json()["status"] == "labeling"
    server.call("labeler", "POST", f"/samples/{sid}/submit")
    accepted = server.call(
        "reviewer", "POST", f"/samples/{sid}/review", json={"accept": True, "comment": "good"}
    ).json()
    assert accepted["status"] == "accepted"
    counts = server.call("viewer", "GET", f"/datasets/{server.dataset_id}").json()["counts"]
    assert counts == {"accepted": 1, "unlabeled": 1}
    # an accepted sample cannot be reassigned
    err = error(
        server.call(
            "manager",
            "POST",
            f"/datasets/{server.dataset_id}/assign",
            json={"sample_ids": [sid], "username": "labeler"},
        )
    )
    assert err["details"] == {"sample_ids": [sid]}


def test_reviewer_never_reviews_own_labels(server: Server) -> None:
    sid = server.upload("a.png")["id"]
    server.call(
        "manager",
        "POST",
        f"/datasets/{server.dataset_id}/assign",
        json={"sample_ids": [sid], "username": "reviewer"},
    )
    server.save("reviewer", sid, toy_label(), base=0)
    server.call("reviewer", "POST", f"/samples/{sid}/submit")
    assert (
        server.call("reviewer", "POST", f"/datasets/{server.dataset_id}/review/next").json() is None
    )
    err = error(server.call("reviewer", "POST", f"/samples/{sid}/review", json={"accept": True}))
    assert err["message"] == f"user 'reviewer' labeled sample {sid} and cannot review it"


def test_empty_queue_is_null(server: Server) -> None:
    assert _next(server, "labeler") is None


def test_assign_needs_a_labeler(server: Server) -> None:
    sid = server.upload("a.png")["id"]
    err = error(
        server.call(
            "manager",
            "POST",
            f"/datasets/{server.dataset_id}/assign",
            json={"sample_ids": [sid], "username": "viewer"},
        )
    )
    assert err["message"] == (
        "user 'viewer' is not a labeler (or stronger) in dataset 'toy'; add them as a member first"
    )
    err = error(
        server.call(
            "manager",
            "POST",
            f"/datasets/{server.dataset_id}/assign",
            json={"sample_ids": [sid, 999], "username": "labeler"},
        )
    )
    assert err["details"] == {"missing": [999]}


def test_concurrent_labelers_never_share_a_sample(server: Server) -> None:
    """8 labelers claim from a queue of 20 samples at once: every sample goes to exactly one."""
    ctx = server.ctx
    root = Actor(1, "root", True)
    actors = []
    for k in range(8):
        user = users.create_user(ctx, UserCreate(username=f"lab{k}", password=PASSWORD), None)
        datasets.set_member(
            ctx, root, server.dataset_id, MemberSet(username=f"lab{k}", role=Role.labeler)
        )
        actors.append(Actor(user.id, user.username, False))
    sample_ids = {server.upload(f"q{i}.png")["id"] for i in range(20)}
    claimed: dict[str, list[int]] = {a.username: [] for a in actors}
    barrier = threading.Barrier(len(actors))
    errors: list[BaseException] = []

    def work(actor: Actor) -> None:
        try:
            barrier.wait()
            while True:
                got = workflow.next_to_label(ctx, actor, server.dataset_id)
                if got is None:
                    return
                claimed[actor.username].append(got.id)
                # finish it so the next call claims a new one
                with ctx.db.write() as session:
                    from panokit.server.models import SampleRow

                    row = session.get(SampleRow, got.id)
                    assert row is not None
                    row.status = "labeled"
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(a,)) for a in actors]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    flat = [sid for ids in claimed.values() for sid in ids]
    assert sorted(flat) == sorted(sample_ids)
    assert len(flat) == len(set(flat)) == 20


def test_comments(server: Server) -> None:
    sid = server.upload("a.png")["id"]
    made = server.call("labeler", "POST", f"/samples/{sid}/comments", json={"text": " hello "})
    assert made.status_code == 201
    assert made.json()["text"] == "hello"
    assert (
        server.call("viewer", "POST", f"/samples/{sid}/comments", json={"text": "x"}).status_code
        == 403
    )
    listed = server.call("viewer", "GET", f"/samples/{sid}/comments").json()
    assert [(c["author"], c["text"]) for c in listed] == [("labeler", "hello")]
