"""Superpixel hierarchies are computed in the background after upload."""

from __future__ import annotations

from typing import Any

import pytest

from panokit.api.convert import engine_attr
from tests.server.helpers import Server, error, png_image


@pytest.fixture
def server_options() -> dict[str, Any]:
    return {"superpixels": True}


def test_superpixels_after_upload(server: Server) -> None:
    try:
        hierarchy_class = engine_attr("SuperpixelHierarchy")
        engine_attr("build_superpixel_hierarchy")
    except ImportError as exc:
        pytest.skip(f"the labeling engine is not available: {exc}")
    sample = server.upload("a.png", data=png_image(48, 32))
    assert sample["superpixels"] == "pending"
    pending = server.call("viewer", "GET", f"/samples/{sample['id']}/superpixels")
    assert pending.status_code == 404
    assert error(pending)["details"] == {"status": "pending"}
    assert server.ctx.jobs.run_pending() == 1
    assert server.call("viewer", "GET", f"/samples/{sample['id']}").json()["superpixels"] == "ready"
    data = server.call("viewer", "GET", f"/samples/{sample['id']}/superpixels").content
    hierarchy = hierarchy_class.from_bytes(data)
    assert hierarchy.fine.shape == (32, 48)
    jobs = server.call("reviewer", "GET", f"/datasets/{server.dataset_id}/jobs").json()
    assert [(j["kind"], j["status"], j["progress"]) for j in jobs] == [("superpixels", "done", 1.0)]


def test_superpixels_unavailable_without_engine(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from panokit.server import jobs

    def missing(name: str) -> Any:
        raise ImportError("No module named 'skimage'")

    monkeypatch.setattr(jobs, "engine_attr", missing)
    sample = server.upload("a.png")
    server.ctx.jobs.run_pending()
    assert server.call("viewer", "GET", f"/samples/{sample['id']}").json()["superpixels"] == (
        "unavailable"
    )
    job = server.call("reviewer", "GET", f"/datasets/{server.dataset_id}/jobs").json()[0]
    assert (job["status"], job["message"]) == (
        "done",
        "panokit.annotate is not available: No module named 'skimage'",
    )
