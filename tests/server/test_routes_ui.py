"""The web tool's server side: static files at /, the browser superpixel payload, thumbnails.

(The tool itself runs in tests/browser, in a real Chromium.)"""

from __future__ import annotations

import io
import re
import struct
from typing import Any

import numpy as np
import pytest

from tests.server.helpers import Server, error


@pytest.fixture
def backend() -> str:
    """These routes do not touch SQL of their own: SQLite is enough."""
    return "sqlite"


@pytest.fixture
def server_options() -> dict[str, Any]:
    return {"superpixels": True}


def test_superpixel_wire_round_trip() -> None:
    from panokit.server.routes_ui import decode_superpixels_wire, encode_superpixels_wire

    fine = np.array([[0, 0, 1], [2, 3, 3]], dtype=np.int32)
    merges = np.array([[0, 1], [2, 3]], dtype=np.int32)
    data = encode_superpixels_wire(fine, merges, [2, 4])
    assert data[:4] == b"PKSP"
    (size,) = struct.unpack("<I", data[4:8])
    assert data[8 : 8 + size] == (
        b'{"width": 3, "height": 2, "levels": [2, 4], "merges": 2, "dtype": "uint16"}'
    )
    back_fine, back_merges, levels = decode_superpixels_wire(data)
    assert np.array_equal(back_fine, fine)
    assert np.array_equal(back_merges, merges)
    assert levels == [2, 4]
    big = np.arange(70000, dtype=np.int32).reshape(7, 10000)
    assert b'"dtype": "uint32"' in encode_superpixels_wire(big, np.zeros((0, 2)), [70000])
    assert np.array_equal(
        decode_superpixels_wire(encode_superpixels_wire(big, np.zeros((0, 2)), [70000]))[0], big
    )


def test_superpixel_wire_refuses_other_bytes() -> None:
    from panokit.errors import FormatError
    from panokit.server.routes_ui import decode_superpixels_wire

    with pytest.raises(FormatError, match="missing PKSP magic"):
        decode_superpixels_wire(b"PK\x03\x04 a zip file")


def test_superpixels_for_the_browser_match_the_engine(server: Server) -> None:
    from panokit.annotate import SuperpixelHierarchy
    from panokit.annotate.synthetic import street_scene
    from panokit.server.routes_ui import decode_superpixels_wire
    from tests.browser.conftest import png_bytes

    scene = street_scene(64, 96, seed=1)
    sample = server.upload("scene", data=png_bytes(scene.image))
    pending = server.call("labeler", "GET", f"/ui/samples/{sample['id']}/superpixels")
    assert pending.status_code == 404
    assert error(pending)["details"] == {"status": "pending"}
    server.ctx.jobs.run_pending()
    response = server.call("labeler", "GET", f"/ui/samples/{sample['id']}/superpixels")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    fine, merges, levels = decode_superpixels_wire(response.content)
    stored = server.call("labeler", "GET", f"/samples/{sample['id']}/superpixels").content
    hier = SuperpixelHierarchy.from_bytes(stored)
    assert np.array_equal(fine, hier.fine)
    assert np.array_equal(merges, hier.merges)
    assert tuple(levels) == hier.levels
    assert fine.shape == (64, 96)
    # same bytes again (served from the cache)
    again = server.call("viewer", "GET", f"/ui/samples/{sample['id']}/superpixels")
    assert again.content == response.content
    assert (
        server.call("stranger", "GET", f"/ui/samples/{sample['id']}/superpixels").status_code == 404
    )
    assert server.call(None, "GET", f"/ui/samples/{sample['id']}/superpixels").status_code == 401


def test_thumbnail_keeps_the_aspect_ratio(server: Server) -> None:
    from PIL import Image

    sample = server.upload("wide", width=300, height=100)
    response = server.call("viewer", "GET", f"/ui/samples/{sample['id']}/thumbnail?size=60")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(response.content)) as image:
        assert (image.format, image.size) == ("JPEG", (60, 20))
    too_big = server.call("viewer", "GET", f"/ui/samples/{sample['id']}/thumbnail?size=5000")
    assert too_big.status_code == 422
    assert (
        server.call("stranger", "GET", f"/ui/samples/{sample['id']}/thumbnail").status_code == 404
    )


def test_index_and_modules_are_served(server: Server) -> None:
    index = server.http.get("/")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/js/main.js"></script>' in index.text
    css = server.http.get("/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    main = server.http.get("/static/js/main.js")
    assert main.status_code == 200
    assert "javascript" in main.headers["content-type"]
    assert main.headers["cache-control"] == "no-cache"
    assert server.http.get("/static/js/nope.js").status_code == 404


def test_every_module_import_resolves() -> None:
    """A broken relative import or a missing export would only show in a browser."""
    from panokit.server.routes_ui import static_dir

    folder = static_dir() / "js"
    modules = sorted(p.name for p in folder.glob("*.js"))
    assert {
        "api.js",
        "editor.js",
        "geometry.js",
        "hierarchy.js",
        "label.js",
        "main.js",
        "png.js",
        "ui.js",
    } <= set(modules)
    pattern = re.compile(r'^import\s+\{([^}]*)\}\s+from\s+"\./([^"]+)";', re.M)
    checked = 0
    for name in modules:
        text = (folder / name).read_text()
        for names, target in pattern.findall(text):
            assert (folder / target).is_file(), f"{name} imports ./{target}, which is missing"
            exported = (folder / target).read_text()
            for imported in (n.strip() for n in names.split(",") if n.strip()):
                found = re.search(
                    rf"^export\s+(?:async\s+)?(?:class|function|const|let)\s+{imported}\b",
                    exported,
                    re.M,
                )
                assert found, f"{name} imports {imported} from ./{target}, which does not export it"
                checked += 1
    assert checked >= 25


def test_every_static_file_ships_in_the_wheel() -> None:
    """pyproject's package-data must cover the tool, or a plain pip install serves nothing."""
    import fnmatch
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")
    from panokit.server.routes_ui import static_dir

    root = Path(__file__).resolve().parents[2]
    config = tomllib.loads((root / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["panokit"]
    package = static_dir().parent.parent
    files = [p.relative_to(package).as_posix() for p in static_dir().rglob("*") if p.is_file()]
    assert "server/static/index.html" in files
    missing = [f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in patterns)]
    assert missing == []
