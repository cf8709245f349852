"""End to end in headless Chromium: log in, label a sample with every tool, save, reload,
compare with panokit.annotate pixel by pixel, submit, reject as reviewer, see the comment,
and survive a forced 409.  Screenshots go to test-artifacts/browser/; the Performance API
figures are printed (run with ``-s`` to see them)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tests.browser.conftest import ARTIFACTS, PASSWORD, LiveServer, populate, start_server

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 1632, 1224  # 2 MP


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    pytest.importorskip("uvicorn", reason="the server extra is not installed")
    from PIL import Image

    from panokit.annotate.synthetic import street_scene

    scene = street_scene(240, 320, seed=3)
    big = np.asarray(Image.fromarray(scene.image).resize((WIDTH, HEIGHT), Image.BILINEAR))
    server = start_server(tmp_path_factory.mktemp("server"))
    try:
        populate(server, {"street-0001": big})
        yield server
    finally:
        server.server.should_exit = True
        server.thread.join(timeout=10)


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def login(page: Any, url: str, user: str) -> None:
    page.goto(url + "/#/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("form#login button[type=submit]")
    page.wait_for_selector(".card.dataset")


def wait_editor(page: Any) -> None:
    page.wait_for_function(
        "window.__panokit && window.__panokit.editor.hier && window.__panokit.editor.metrics.labelReady",
        timeout=30000,
    )


def click_pixel(page: Any, x: int, y: int) -> None:
    sx, sy = page.evaluate(f"window.__panokit.editor.screenOf({x}, {y})")
    page.mouse.click(sx, sy)


def drag_pixels(page: Any, points: list[tuple[int, int]], steps: int = 12) -> None:
    sx, sy = page.evaluate(f"window.__panokit.editor.screenOf({points[0][0]}, {points[0][1]})")
    page.mouse.move(sx, sy)
    page.mouse.down()
    for x, y in points[1:]:
        tx, ty = page.evaluate(f"window.__panokit.editor.screenOf({x}, {y})")
        page.mouse.move(tx, ty, steps=steps)
    page.mouse.up()


OVERLAY_MISMATCHES_JS = """
() => {
  const e = window.__panokit.editor, lut = e.colorLut, ids = e.label.ids, px = e.labelPixels;
  let bad = 0;
  for (let i = 0; i < ids.length; i++) {
    const v = ids[i];
    if (px[i] !== (v < lut.length ? lut[v] : 0)) bad++;
  }
  return bad;
}
"""


def overlay_mismatches(page: Any) -> int:
    """Pixels whose overlay colour is not their segment's colour (outline mode off)."""
    assert not page.evaluate("window.__panokit.editor.outline")
    return int(page.evaluate(OVERLAY_MISMATCHES_JS))


def browser_label(page: Any) -> dict[str, Any]:
    """The browser's current label, decoded: ids, segment rows, revision, edit log."""
    from panokit.api.convert import decode_ids_png

    out: dict[str, Any] = page.evaluate("window.__panokit.editor.exportLabel()")
    out["ids"] = decode_ids_png(base64.b64decode(out.pop("png")))
    return out


def engine_replay(live: LiveServer, sample_id: int, base: Any, log: list[dict[str, Any]]) -> Any:
    """Apply the browser's recorded edits with panokit.annotate to ``base``."""
    from panokit.annotate import EditContext, SuperpixelHierarchy, apply_edit, edit_from_dict

    response = live.call("mia", "GET", f"/samples/{sample_id}/superpixels")
    assert response.status_code == 200
    context = EditContext(superpixels=SuperpixelHierarchy.from_bytes(response.content))
    label = base
    for edit in log:
        label, _ = apply_edit(label, edit_from_dict(edit), context)
    return label


def server_label(live: LiveServer, sample_id: int) -> Any:
    from panokit.annotate.synthetic import STREET_TAXONOMY
    from panokit.api.convert import label_from_wire

    meta = live.call("mia", "GET", f"/samples/{sample_id}/label").json()
    png = live.call("mia", "GET", f"/samples/{sample_id}/label/png").content
    return label_from_wire(png, meta["segments"], STREET_TAXONOMY), meta["revision"]


def table(label: Any) -> dict[int, int]:
    return {int(k): int(s.category_id) for k, s in label.segments.items()}


def test_labeling_flow(chromium: Any, live: LiveServer) -> None:
    from panokit.annotate.synthetic import STREET_TAXONOMY
    from panokit.core import PanopticImage

    sample_id = live.samples["street-0001"]
    labeler = chromium.new_context(viewport={"width": 1400, "height": 900})
    page = labeler.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # --- log in, datasets, sample grid, next sample from the queue
    page.goto(live.url + "/")
    page.wait_for_selector("form#login")
    shot(page, "01-login")
    login(page, live.url, "lea")
    page.click(".card.dataset")
    page.wait_for_selector(".card.sample img")
    shot(page, "02-sample-grid")
    page.click("#next")
    wait_editor(page)
    assert page.evaluate("window.__panokit.editor.sampleId") == sample_id
    page.uncheck("[data-ref='autosave']")  # saves happen when this test says (autosave: below)
    first_paint = page.evaluate("window.__panokit.metrics.firstPaint")

    # --- superpixel clicks at two granularity levels (road coarse, sky finer)
    page.click("[data-cat='1']")  # road (stuff)
    click_pixel(page, WIDTH // 2, int(HEIGHT * 0.92))
    for _ in range(3):
        page.keyboard.press(".")
    assert page.evaluate("window.__panokit.editor.level") == 3
    level_switch = page.evaluate("window.__panokit.metrics.levelSwitch")
    page.keyboard.press("5")  # sky
    click_pixel(page, WIDTH // 2, int(HEIGHT * 0.04))
    click_pixel(page, WIDTH // 5, int(HEIGHT * 0.06))
    # drag across superpixels paints every region under the pointer
    page.keyboard.press("4")  # vegetation
    drag_pixels(
        page, [(int(WIDTH * 0.05), int(HEIGHT * 0.5)), (int(WIDTH * 0.3), int(HEIGHT * 0.5))]
    )

    # --- brush, then an eraser stroke and a snapped brush stroke
    page.keyboard.press("b")
    page.keyboard.press("3")  # building
    drag_pixels(page, [(300, 400), (700, 420), (900, 300)])
    page.keyboard.press("e")
    drag_pixels(page, [(500, 350), (520, 450)], steps=6)
    page.keyboard.press("b")
    page.keyboard.press("g")  # snap to superpixels
    page.keyboard.press("6")  # terrain
    drag_pixels(page, [(1300, 800), (1400, 820)], steps=6)
    page.keyboard.press("g")

    # --- two instances of a thing (car): superpixel click, then N + polygon
    page.keyboard.press("s")
    page.keyboard.press("8")  # car
    page.keyboard.press(".")
    click_pixel(page, int(WIDTH * 0.25), int(HEIGHT * 0.8))
    page.keyboard.press("n")
    page.keyboard.press("p")
    for x, y in ((1000, 900), (1200, 880), (1250, 1050), (1020, 1080)):
        click_pixel(page, x, y)
    page.keyboard.press("Enter")
    # cut that instance with a polygon (Shift+Enter): its right part becomes a third car
    cut = page.evaluate("window.__panokit.editor.segmentId")
    for x, y in ((1150, 850), (1300, 850), (1300, 1100), (1150, 1100)):
        click_pixel(page, x, y)
    page.keyboard.press("Shift+Enter")
    assert page.evaluate("window.__panokit.editor.log.at(-1)") == {
        "op": "split",
        "segment_id": cut,
        "vertices": page.evaluate("window.__panokit.editor.log.at(-1).vertices"),
    }
    # protect mode + fill unlabeled of one region, then undo / redo
    page.keyboard.press("x")
    page.keyboard.press("f")
    page.keyboard.press("2")  # sidewalk
    click_pixel(page, int(WIDTH * 0.1), int(HEIGHT * 0.75))
    page.keyboard.press("x")
    before = page.evaluate("window.__panokit.editor.log.length")
    page.keyboard.press("Control+z")
    assert page.evaluate("window.__panokit.editor.log.length") == before - 1
    page.keyboard.press("Control+Shift+z")
    assert page.evaluate("window.__panokit.editor.log.length") == before

    # performance: a long brush stroke on the 2 MP image
    page.keyboard.press("b")
    page.keyboard.press("9")  # sign (thing, new instance)
    page.evaluate("window.__panokit.metrics.moves.length = 0")
    drag_pixels(page, [(100, 1000), (600, 1100), (1100, 1000), (1500, 1150)], steps=40)
    moves = page.evaluate("window.__panokit.metrics.moves")
    clicks = page.evaluate("window.__panokit.metrics.clicks")
    shot(page, "03-editor")
    page.keyboard.press("r")  # superpixel borders on, for the screenshot
    assert page.evaluate("window.__panokit.editor.showRegions")
    shot(page, "03-editor-regions")
    page.keyboard.press("r")
    page.keyboard.press("?")
    page.wait_for_selector("table.help")
    shot(page, "04-help")
    page.keyboard.press("Escape")

    assert overlay_mismatches(page) == 0
    state = browser_label(page)
    cars = [r["id"] for r in state["segments"] if r["category_id"] == 12]
    assert len(cars) == 3, state["segments"]
    ops = [e["op"] for e in state["log"]]
    assert {"click_region", "brush", "erase", "polygon", "fill_unlabeled", "split"} <= set(ops), ops

    # --- save, then the saved label equals the engine's result for the same actions
    page.keyboard.press("Control+s")
    page.wait_for_function(
        "window.__panokit.editor.revision === 1 && !window.__panokit.editor.dirty"
    )
    saved, revision = server_label(live, sample_id)
    assert revision == 1
    empty = PanopticImage(np.zeros((HEIGHT, WIDTH), dtype=np.uint32), {}, STREET_TAXONOMY)
    expected = engine_replay(live, sample_id, empty, state["log"])
    assert np.array_equal(saved.ids, expected.ids)
    assert np.array_equal(state["ids"], expected.ids)
    assert table(saved) == table(expected)
    assert len(expected.segments) >= 8

    # --- reload: the same label comes back
    page.reload()
    wait_editor(page)
    reloaded = browser_label(page)
    assert reloaded["revision"] == 1
    assert np.array_equal(reloaded["ids"], expected.ids)
    assert {r["id"]: r["category_id"] for r in reloaded["segments"]} == table(expected)
    reload_paint = page.evaluate("window.__panokit.metrics.firstPaint")
    # on a fresh page load, performance.now() counts from navigation start
    navigation_paint = page.evaluate(
        "window.__panokit.metrics.openStart + window.__panokit.metrics.firstPaint"
    )

    # --- submit for review
    page.click("[data-act='submit']")
    page.wait_for_selector(".dataset-head")
    assert live.call("mia", "GET", f"/samples/{sample_id}").json()["status"] == "labeled"

    # --- the reviewer rejects with a comment
    reviewer = chromium.new_context(viewport={"width": 1400, "height": 900})
    rpage = reviewer.new_page()
    login(rpage, live.url, "rex")
    rpage.click(".card.dataset")
    rpage.click("#nextReview")
    wait_editor(rpage)
    rpage.wait_for_selector("[data-ref='reviewBox']:not(.hidden)")
    comment = "the sign instance is painted over the road; please fix it"
    rpage.fill("[data-ref='reviewComment']", comment)
    shot(rpage, "05-review")
    rpage.click("[data-act='reject']")
    rpage.wait_for_selector(".dataset-head")
    assert live.call("mia", "GET", f"/samples/{sample_id}").json()["status"] == "rejected"

    # --- the labeler sees the comment
    page.goto(f"{live.url}/#/samples/{sample_id}")
    wait_editor(page)
    page.wait_for_selector("[data-ref='rejectionText']")
    assert page.inner_text("[data-ref='rejectionText']") == comment
    shot(page, "06-rejected")

    # --- forced 409: someone saves while the labeler edits; nothing is lost
    from panokit.api.convert import encode_ids_png, segments_json

    other = saved.ids.copy()
    road_id = next(k for k, s in saved.segments.items() if s.category_id == 1)
    other[:40, :40] = road_id
    meddled = PanopticImage(other, dict(saved.segments), STREET_TAXONOMY)
    response = live.call(
        "mia",
        "PUT",
        f"/samples/{sample_id}/label",
        files={
            "png": ("l.png", encode_ids_png(meddled.ids), "image/png"),
            "segments": ("s.json", segments_json(meddled.segments).encode(), "application/json"),
        },
        data={"base_revision": "1"},
    )
    assert response.status_code == 200, response.text
    page.keyboard.press("s")
    page.keyboard.press("7")  # person
    for _ in range(4):
        page.keyboard.press(".")
    click_pixel(page, int(WIDTH * 0.6), int(HEIGHT * 0.7))
    pending = page.evaluate("window.__panokit.editor.log")
    page.click("[data-act='save']")
    page.wait_for_selector("[data-ref='conflictText']")
    text = page.inner_text("[data-ref='conflictText']")
    assert "revision 2" in text and "1 edit(s)" in text, text
    shot(page, "07-conflict")
    assert page.evaluate("window.__panokit.editor.dirty")
    page.click("[data-conflict='rebase']")
    page.wait_for_function(
        "window.__panokit.editor.revision === 2 && window.__panokit.editor.log.length === 1"
    )
    page.click("[data-act='save']")
    page.wait_for_function(
        "window.__panokit.editor.revision === 3 && !window.__panokit.editor.dirty"
    )
    final, revision = server_label(live, sample_id)
    assert revision == 3
    rebased = engine_replay(live, sample_id, meddled, pending)
    assert np.array_equal(final.ids, rebased.ids)
    assert table(final) == table(rebased)
    assert (final.ids[:40, :40] == road_id).all()  # the other user's change survived

    # --- autosave: an edit is saved a few seconds later without asking
    page.check("[data-ref='autosave']")
    page.keyboard.press("b")
    drag_pixels(page, [(50, 600), (150, 650)], steps=4)
    page.wait_for_function(
        "window.__panokit.editor.revision === 4 && !window.__panokit.editor.dirty", timeout=15000
    )
    assert server_label(live, sample_id)[1] == 4
    assert overlay_mismatches(page) == 0

    # --- the segment list: change category, merge, delete, hide, colour by instance, outline
    page.uncheck("[data-ref='autosave']")
    before_ops = browser_label(page)
    rows = {r["id"]: r["category_id"] for r in before_ops["segments"]}
    cars = sorted(k for k, c in rows.items() if c == 12)
    sign = next(k for k, c in rows.items() if c == 13)
    terrain = next(k for k, c in rows.items() if c == 6)
    sign_pixel = int(np.flatnonzero(before_ops["ids"].ravel() == sign)[0])
    overlay = f"window.__panokit.editor.labelPixels[{sign_pixel}]"
    assert page.evaluate(overlay) == 0xFF000000 | (0 << 16) | (220 << 8) | 220  # sign colour
    page.select_option(f"[data-seg='{sign}'] [data-segcat]", "11")  # sign -> person
    assert page.evaluate(overlay) == 0xFF000000 | (60 << 16) | (20 << 8) | 220  # person colour
    page.keyboard.press("Control+z")
    assert page.evaluate(overlay) == 0xFF000000 | (0 << 16) | (220 << 8) | 220
    page.keyboard.press("Control+Shift+z")
    page.check(f"[data-seg='{cars[0]}'] [data-segsel]")
    page.check(f"[data-seg='{cars[1]}'] [data-segsel]")
    page.click("[data-act='mergeSel']")
    page.click(f"[data-seg='{terrain}'] [data-segdel]")
    page.click(f"[data-seg='{cars[0]}'] [data-seghide]")
    page.keyboard.press("i")
    page.keyboard.press("o")
    shot(page, "08-segments-outline")
    page.keyboard.press("Control+s")
    page.wait_for_function(
        "window.__panokit.editor.revision === 5 && !window.__panokit.editor.dirty"
    )
    state = browser_label(page)
    assert state["logBase"] == 2
    assert [e["op"] for e in state["log"][-3:]] == ["change_category", "merge", "delete"]
    final, revision = server_label(live, sample_id)
    assert revision == 5
    replayed = engine_replay(live, sample_id, meddled, state["log"])
    assert np.array_equal(final.ids, replayed.ids)
    assert table(final) == table(replayed)
    assert terrain not in final.segments and cars[1] not in final.segments
    assert final.segments[sign].category_id == 11
    assert int((final.ids == cars[0]).sum()) > 0

    # --- a prelabel (here: the scene's ground truth) accepted as the starting point
    from panokit.annotate.synthetic import street_scene

    truth = street_scene(240, 320, seed=3).label
    rows_of = np.arange(HEIGHT) * 240 // HEIGHT
    cols_of = np.arange(WIDTH) * 320 // WIDTH
    prelabel = PanopticImage(
        truth.ids[rows_of][:, cols_of].astype(np.uint32), dict(truth.segments), STREET_TAXONOMY
    )
    response = live.call(
        "mia",
        "POST",
        f"/samples/{sample_id}/prelabels",
        files={
            "png": ("p.png", encode_ids_png(prelabel.ids), "image/png"),
            "segments": ("s.json", segments_json(prelabel.segments).encode(), "application/json"),
        },
        data={"source": "ground-truth", "score": "0.97"},
    )
    assert response.status_code == 201, response.text
    page.reload()
    wait_editor(page)
    page.click("[data-prelabel]")
    page.wait_for_function("window.__panokit.editor.revision === 6")
    accepted = browser_label(page)
    assert np.array_equal(accepted["ids"], prelabel.ids)
    assert server_label(live, sample_id)[1] == 6

    # --- unsaved edits survive a closed tab (localStorage) and are offered back
    page.uncheck("[data-ref='autosave']")
    page.keyboard.press("s")
    page.keyboard.press("4")  # vegetation
    click_pixel(page, int(WIDTH * 0.9), int(HEIGHT * 0.4))
    kept = page.evaluate("window.__panokit.editor.log")
    assert len(kept) == 1
    page.on("dialog", lambda dialog: dialog.accept())  # "leave with unsaved changes?"
    page.reload()
    wait_editor(page)
    page.wait_for_selector("[data-ref='restoreText']")
    assert "1 edit(s)" in page.inner_text("[data-ref='restoreText']")
    page.click("[data-restore='yes']")
    page.wait_for_function("window.__panokit.editor.log.length === 1")
    restored = browser_label(page)
    assert np.array_equal(restored["ids"], engine_replay(live, sample_id, prelabel, kept).ids)
    page.keyboard.press("Control+s")
    page.wait_for_function(
        "window.__panokit.editor.revision === 7 && !window.__panokit.editor.dirty"
    )
    assert (
        page.evaluate("localStorage.getItem('panokit.unsaved.' + window.__panokit.editor.sampleId)")
        is None
    )

    # --- submit again; this time the reviewer accepts
    page.click("[data-act='submit']")
    page.wait_for_selector(".dataset-head")
    rpage.goto(f"{live.url}/#/datasets/{live.dataset_id}")
    rpage.click("#nextReview")
    wait_editor(rpage)
    assert rpage.evaluate("window.__panokit.editor.sampleId") == sample_id
    rpage.click("[data-act='accept']")
    rpage.wait_for_selector(".dataset-head")
    assert live.call("mia", "GET", f"/samples/{sample_id}").json()["status"] == "accepted"
    rpage.wait_for_selector(".badge.status-accepted")
    shot(rpage, "09-dataset-after-review")
    assert errors == []

    # --- figures (Performance API, measured in the browser)
    stroke = [m for m in moves if m["kind"] == "brush"]
    stroke_ms = sorted(m["ms"] for m in stroke)
    report = {
        "image": f"{WIDTH}x{HEIGHT}",
        "first_paint_ms": round(first_paint, 1),
        "first_paint_reload_ms": round(reload_paint, 1),
        "first_paint_from_navigation_ms": round(navigation_paint, 1),
        "superpixel_click_repaint_ms": [round(c["frameMs"], 1) for c in clicks],
        "superpixel_click_sync_ms": [round(c["ms"], 1) for c in clicks],
        "superpixel_click_pixels": [c["pixels"] for c in clicks],
        "superpixel_click_repaint_ms_median": round(
            sorted(c["frameMs"] for c in clicks)[len(clicks) // 2], 1
        ),
        "level_switch_ms": round(level_switch, 2),
        "brush_moves": len(stroke),
        "brush_move_ms_p50": round(stroke_ms[len(stroke_ms) // 2], 2),
        "brush_move_ms_max": round(stroke_ms[-1], 2),
        "brush_event_to_painted_ms_p95": round(
            sorted(m["lag"] for m in stroke)[int(len(stroke) * 0.95)], 2
        ),
    }
    print("\nPANOKIT UI PERFORMANCE " + json.dumps(report))
    (ARTIFACTS / "performance.json").write_text(json.dumps(report, indent=2))
    labeler.close()
    reviewer.close()


PAN_ZOOM_JS = """
async () => {
  const e = window.__panokit.editor;
  const gaps = [], renders = [];
  let last = performance.now();
  for (let i = 0; i < 90; i++) {
    if (i < 45) e.view = { ...e.view, tx: e.view.tx + 9, ty: e.view.ty + 4 };
    else e.zoomAt(i < 70 ? 1.04 : 0.96, 500, 400);
    const t0 = performance.now();
    e.renderNow();
    renders.push(performance.now() - t0);
    await new Promise((r) => requestAnimationFrame(r));
    const now = performance.now();
    gaps.push(now - last);
    last = now;
  }
  return { gaps, renders };
}
"""


def test_large_image_pan_zoom_and_brush(chromium: Any, live: LiveServer) -> None:
    """A 4000x3000 image (no superpixels: they are not needed to pan, zoom and paint)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, size=(300, 400, 3), dtype=np.uint8)
    big = Image.fromarray(small).resize((4000, 3000), Image.BILINEAR)
    buffer = io.BytesIO()
    big.save(buffer, format="JPEG", quality=85)
    live.ctx.settings.superpixels = False
    try:
        response = live.call(
            "mia",
            "POST",
            f"/datasets/{live.dataset_id}/samples",
            files={"file": ("large.jpg", buffer.getvalue(), "image/jpeg")},
            data={"name": "large-4000x3000"},
        )
    finally:
        live.ctx.settings.superpixels = True
    assert response.status_code == 201, response.text
    sample_id = response.json()["id"]
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    login(page, live.url, "mia")
    page.goto(f"{live.url}/#/samples/{sample_id}")
    page.wait_for_function(
        "window.__panokit && window.__panokit.editor.metrics.labelReady", timeout=60000
    )
    first_paint = page.evaluate("window.__panokit.metrics.firstPaint")
    frames = page.evaluate(PAN_ZOOM_JS)
    page.keyboard.press("0")
    page.keyboard.press("b")
    page.keyboard.press("1")
    page.evaluate("window.__panokit.metrics.moves.length = 0")
    drag_pixels(page, [(200, 2500), (2000, 2700), (3800, 2400)], steps=40)
    moves = [m["ms"] for m in page.evaluate("window.__panokit.metrics.moves")]
    state = browser_label(page)
    assert state["log"][-1]["op"] == "brush"
    assert int((state["ids"] > 0).sum()) > 10000
    shot(page, "08-large-image")
    gaps = sorted(frames["gaps"])
    report = {
        "image": "4000x3000",
        "first_paint_ms": round(first_paint, 1),
        "pan_zoom_frame_ms_p50": round(gaps[len(gaps) // 2], 1),
        "pan_zoom_frame_ms_p95": round(gaps[int(len(gaps) * 0.95)], 1),
        "brush_moves": len(moves),
        "brush_move_ms_p50": round(sorted(moves)[len(moves) // 2], 2),
        "brush_move_ms_max": round(max(moves), 2),
    }
    print("\nPANOKIT UI PERFORMANCE " + json.dumps(report))
    (ARTIFACTS / "performance-large.json").write_text(json.dumps(report, indent=2))
    context.close()


SEMANTICS_JS = """
async ({ width, height, fine, merges, levels, categories, edits }) => {
  const { Hierarchy } = await import("/static/js/hierarchy.js");
  const { Label, applyEdit } = await import("/static/js/label.js");
  const hier = new Hierarchy(width, height, Uint32Array.from(fine), Int32Array.from(merges), levels);
  const label = Label.empty(width, height, { categories, void_id: 0 });
  const states = [];
  for (const edit of edits) {
    const patch = applyEdit(label, hier, edit);
    if (edit.undo_redo) {
      const redo = label.applyPatch(patch);
      label.applyPatch(redo);
    }
    states.push({ ids: Array.from(label.ids), segments: label.segmentRows() });
  }
  return states;
}
"""


DEFAULT_KINDS = ("click", "brush", "erase", "polygon", "fill", "change", "merge", "delete", "split")


def _random_edits(
    hier: Any, taxonomy: Any, seed: int, count: int, kinds: tuple[str, ...] = DEFAULT_KINDS
) -> list[dict[str, Any]]:
    """Valid random edits of every 2D kind, made while the engine applies them."""
    from panokit.annotate import EditContext, apply_edit, edit_from_dict
    from panokit.core import PanopticImage

    rng = np.random.default_rng(seed)
    h, w = hier.shape
    label = PanopticImage(np.zeros((h, w), dtype=np.uint32), {}, taxonomy)
    context = EditContext(superpixels=hier)
    cats = [c.id for c in taxonomy.categories]
    things = [c.id for c in taxonomy.categories if c.isthing]
    edits: list[dict[str, Any]] = []

    def point() -> list[float]:
        return [
            round(float(rng.uniform(-3, w + 2)) * 8) / 8,
            round(float(rng.uniform(-3, h + 2)) * 8) / 8,
        ]

    def target(cat: int) -> int | None:
        if cat not in things:
            return None
        mine = [k for k, s in label.segments.items() if s.category_id == cat]
        return int(rng.choice(mine)) if mine and rng.random() < 0.5 else None

    while len(edits) < count:
        kind = kinds[int(rng.integers(len(kinds)))] if edits else "click"
        cat = int(rng.choice(cats))
        level = int(rng.integers(hier.num_levels))
        protect = bool(rng.random() < 0.3)
        segs = sorted(label.segments)
        edit: dict[str, Any]
        if kind == "click":
            edit = {
                "op": "click_region",
                "level": level,
                "x": int(rng.integers(w)),
                "y": int(rng.integers(h)),
                "category_id": cat,
                "segment_id": target(cat),
                "protect": protect,
            }
        elif kind in ("brush", "erase"):
            path = [point() for _ in range(int(rng.integers(1, 6)))]
            radius = float(rng.choice([0.0, 0.5, 1.0, 2.5, 4.0]))
            snap = level if rng.random() < 0.3 else None
            if kind == "brush":
                edit = {
                    "op": "brush",
                    "path": path,
                    "radius": radius,
                    "category_id": cat,
                    "segment_id": target(cat),
                    "protect": protect,
                    "snap_level": snap,
                }
            else:
                edit = {
                    "op": "erase",
                    "path": path,
                    "radius": radius,
                    "segment_id": None,
                    "snap_level": snap,
                }
        elif kind == "polygon":
            verts = [point() for _ in range(int(rng.integers(3, 8)))]
            edit = {
                "op": "polygon",
                "vertices": verts,
                "category_id": cat,
                "segment_id": target(cat),
                "protect": protect,
            }
        elif kind == "fill":
            mode = int(rng.integers(3))
            x, y = int(rng.integers(w)), int(rng.integers(h))
            edit = {
                "op": "fill_unlabeled",
                "category_id": cat,
                "segment_id": target(cat),
                "x": None if mode == 0 else x,
                "y": None if mode == 0 else y,
                "level": level if mode == 1 else None,
            }
        elif not segs:
            continue
        elif kind == "change":
            edit = {
                "op": "change_category",
                "segment_id": int(rng.choice(segs)),
                "category_id": cat,
            }
        elif kind == "merge":
            if len(segs) < 2:
                continue
            chosen = sorted(int(s) for s in rng.choice(segs, size=min(3, len(segs)), replace=False))
            edit = {
                "op": "merge",
                "segment_ids": chosen,
                "into": chosen[-1] if rng.random() < 0.5 else None,
            }
        elif kind == "split":
            mine = [k for k in segs if label.segments[k].category_id in things]
            if not mine:
                continue
            verts = [point() for _ in range(4)] if rng.random() < 0.4 else None
            edit = {"op": "split", "segment_id": int(rng.choice(mine)), "vertices": verts}
        else:
            edit = {"op": "delete", "segment_id": int(rng.choice(segs))}
        label, _ = apply_edit(label, edit_from_dict(edit), context)
        edit["undo_redo"] = bool(rng.random() < 0.3)
        edits.append(edit)
    return edits


def test_browser_edits_equal_the_engine(chromium: Any, live: LiveServer) -> None:
    """Every 2D edit, random parameters: the browser's label equals panokit.annotate's after
    each step (ids pixel by pixel and the segment table)."""
    from panokit.annotate import (
        EditContext,
        apply_edit,
        build_superpixel_hierarchy,
        edit_from_dict,
    )
    from panokit.annotate.synthetic import STREET_TAXONOMY, street_scene
    from panokit.core import PanopticImage

    scene = street_scene(48, 64, seed=7, objects=4)
    hier = build_superpixel_hierarchy(scene.image, n_fine=300, coarsest=5, num_levels=4)
    edits = _random_edits(hier, STREET_TAXONOMY, seed=11, count=90)
    assert {e["op"] for e in edits} == {
        "click_region",
        "brush",
        "erase",
        "polygon",
        "fill_unlabeled",
        "change_category",
        "merge",
        "delete",
        "split",
    }
    # things broken into pieces (erase, thin strokes, merges) and split again
    pieces = _random_edits(
        hier,
        STREET_TAXONOMY,
        seed=12,
        count=70,
        kinds=("brush", "erase", "merge", "split", "split"),
    )
    assert sum(e["op"] == "split" for e in pieces) >= 10
    page = chromium.new_page()
    page.goto(live.url + "/static/app.css")
    context = EditContext(superpixels=hier)
    for sequence in (edits, pieces):
        states = page.evaluate(
            SEMANTICS_JS,
            {
                "width": 64,
                "height": 48,
                "fine": hier.fine.ravel().tolist(),
                "merges": hier.merges.ravel().tolist(),
                "levels": list(hier.levels),
                "categories": STREET_TAXONOMY.to_list(),
                "edits": sequence,
            },
        )
        label = PanopticImage(np.zeros((48, 64), dtype=np.uint32), {}, STREET_TAXONOMY)
        for step, (edit, state) in enumerate(zip(sequence, states, strict=True)):
            plain = {k: v for k, v in edit.items() if k != "undo_redo"}
            label, _ = apply_edit(label, edit_from_dict(plain), context)
            ids = np.asarray(state["ids"], dtype=np.uint32).reshape(48, 64)
            assert np.array_equal(ids, label.ids), f"step {step}: {plain}"
            assert {r["id"]: r["category_id"] for r in state["segments"]} == table(label), step
    assert len(label.segments) > 0
    page.close()


PNG_JS = """
async ({ ids, width, height, png }) => {
  const { encodeIdsPNG, decodeIdsPNG } = await import("/static/js/png.js");
  const blob = await encodeIdsPNG(Uint32Array.from(ids), width, height);
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  const raw = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
  const decoded = await decodeIdsPNG(raw.buffer);
  return { png: btoa(text), decoded: Array.from(decoded.ids), size: [decoded.width, decoded.height] };
}
"""


def test_png_codec_is_exact_both_ways(chromium: Any, live: LiveServer) -> None:
    """24-bit ids survive browser -> Pillow and Pillow -> browser (every PNG row filter)."""
    from PIL import Image

    from panokit.api.convert import decode_ids_png

    rng = np.random.default_rng(5)
    ids = rng.integers(0, 1 << 24, size=(37, 53), dtype=np.uint32)
    ids[:, :20] = 7  # flat areas make Pillow pick other row filters than for noise
    rgb = np.stack([ids & 255, (ids >> 8) & 255, ids >> 16], axis=-1).astype(np.uint8)
    page = chromium.new_page()
    page.goto(live.url + "/static/app.css")
    for optimize in (False, True):
        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, format="PNG", optimize=optimize)
        out = page.evaluate(
            PNG_JS,
            {
                "ids": ids.ravel().tolist(),
                "width": 53,
                "height": 37,
                "png": base64.b64encode(buffer.getvalue()).decode(),
            },
        )
        assert out["size"] == [53, 37]
        assert np.array_equal(np.asarray(out["decoded"], dtype=np.uint32).reshape(37, 53), ids)
        assert np.array_equal(decode_ids_png(base64.b64decode(out["png"])), ids)
    page.close()
