"""App-level behaviour: auth and tokens, the OpenAPI document, the one error body."""

from __future__ import annotations

from tests.server.helpers import PASSWORD, Server, error


def test_login_token_revoke(server: Server) -> None:
    bad = server.call(None, "POST", "/auth/login", json={"username": "viewer", "password": "nope"})
    assert bad.status_code == 401
    assert error(bad) == {
        "code": "unauthenticated",
        "message": "wrong user name or password",
        "details": {},
    }
    made = server.call(
        None, "POST", "/auth/login", json={"username": "viewer", "password": PASSWORD}
    )
    assert made.status_code == 200
    token = made.json()["token"]
    assert token.startswith("pk_")
    headers = {"Authorization": f"Bearer {token}"}
    me = server.http.get("/api/v1/users/me", headers=headers).json()
    assert (me["username"], me["is_admin"]) == ("viewer", False)
    tokens = server.call("viewer", "GET", "/tokens").json()
    assert [t["name"] for t in tokens] == ["test", "login"]
    assert all(t["token"] is None for t in tokens)  # secrets are shown once
    revoked = server.call("viewer", "DELETE", f"/tokens/{made.json()['id']}").json()
    assert revoked["revoked"] is True
    after = server.http.get("/api/v1/users/me", headers=headers)
    assert after.status_code == 401
    assert error(after)["message"] == f"API token {made.json()['id']} was revoked"
    # someone else's token is not even visible
    other = server.call("labeler", "DELETE", f"/tokens/{tokens[0]['id']}")
    assert other.status_code == 404


def test_missing_and_unknown_tokens(server: Server) -> None:
    missing = server.http.get("/api/v1/users/me")
    assert missing.status_code == 401
    assert error(missing)["message"].startswith("this route needs an API token")
    unknown = server.http.get("/api/v1/users/me", headers={"Authorization": "Bearer pk_nope"})
    assert error(unknown)["message"] == "unknown API token"


def test_unknown_route_and_method_use_the_error_body(server: Server) -> None:
    assert error(server.call("root", "GET", "/nowhere")) == {
        "code": "not_found",
        "message": "Not Found",
        "details": {},
    }
    assert error(server.call("root", "PATCH", "/users"))["code"] == "method_not_allowed"


def test_openapi_document_lists_the_routes(server: Server) -> None:
    doc = server.http.get("/api/v1/openapi.json").json()
    assert doc["info"]["title"] == "panokit labeling server"
    paths = doc["paths"]
    for path in (
        "/api/v1/datasets/{dataset_id}/samples",
        "/api/v1/samples/{sample_id}/label",
        "/api/v1/samples/{sample_id}/label/png",
        "/api/v1/datasets/{dataset_id}/queue/next",
        "/api/v1/releases/{release_id}/exports",
        "/api/v1/jobs/{job_id}/download",
    ):
        assert path in paths, path
    put = paths["/api/v1/samples/{sample_id}/label"]["put"]
    assert "409" in put["responses"]
    assert put["responses"]["409"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorBody"
    )


def test_info(server: Server) -> None:
    info = server.http.get("/api/v1/info").json()
    assert info["api"] == "v1"
    assert info["database"] in ("sqlite", "postgresql")
    assert "coco-panoptic" in info["formats"]


def test_duplicate_dataset_and_bad_taxonomy(server: Server) -> None:
    dup = server.call(
        "viewer", "POST", "/datasets", json={"name": "toy", "categories": [{"id": 1, "name": "a"}]}
    )
    assert dup.status_code == 409
    assert error(dup)["message"] == "a dataset named 'toy' already exists"
    void = server.call(
        "viewer", "POST", "/datasets", json={"name": "x", "categories": [{"id": 0, "name": "a"}]}
    )
    assert void.status_code == 422
    assert error(void)["message"] == (
        "dataset 'x': the void id 0 is also a category ('a'); pick another void_id"
    )
    made = server.call(
        "viewer", "POST", "/datasets", json={"name": "mine", "categories": [{"id": 1, "name": "a"}]}
    )
    assert made.status_code == 201
    assert made.json()["my_role"] == "admin"
    listed = server.call("viewer", "GET", "/datasets").json()
    assert [(d["name"], d["my_role"]) for d in listed["items"]] == [
        ("toy", "viewer"),
        ("mine", "admin"),
    ]


def test_body_limit_refuses_before_reading() -> None:
    import asyncio
    import json

    from panokit.server.app import BodyLimit

    reached: list[str] = []

    async def inner(scope: dict[str, object], receive: object, send: object) -> None:
        reached.append("app")

    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    async def receive() -> dict[str, object]:  # pragma: no cover - never read
        raise AssertionError("the body must not be read")

    limit = BodyLimit(inner, max_bytes=1000)  # type: ignore[arg-type]
    scope = {"type": "http", "headers": [(b"content-length", b"5000")]}
    asyncio.run(limit(scope, receive, send))  # type: ignore[arg-type]
    assert reached == []
    assert sent[0]["status"] == 413
    body = json.loads(sent[1]["body"])  # type: ignore[arg-type]
    assert body == {
        "error": {
            "code": "too_large",
            "message": "request body of 5000 bytes is larger than the 1000 this server accepts",
            "details": {"max_bytes": 1000},
        }
    }
    asyncio.run(limit({"type": "http", "headers": [(b"content-length", b"10")]}, receive, send))  # type: ignore[arg-type]
    assert reached == ["app"]
