"""PNG decoding for the fast path and segment tables straight from segments_info."""

import numpy as np
import pytest
from PIL import Image

from panokit.core import Category, Taxonomy
from panokit.errors import FormatError, MissingFileError
from panokit.eval.sources import decode_png_rgb, load_compact_json, table_from_info

TAX = Taxonomy([Category(1, "person", True), Category(7, "road", False)], name="t")


@pytest.mark.parametrize("use_spng", [True, False])
def test_decoders_agree_on_rgb_rgba_and_palette(tmp_path, use_spng):
    if use_spng:
        pytest.importorskip("pyspng")
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(rgba[..., :3]).save(tmp_path / "rgb.png")
    palette = Image.fromarray(rgba[..., :3]).convert("P")
    palette.save(tmp_path / "p.png")
    assert np.array_equal(decode_png_rgb(tmp_path / "rgba.png", use_spng), rgba[..., :3])
    assert np.array_equal(decode_png_rgb(tmp_path / "rgb.png", use_spng), rgba[..., :3])
    assert np.array_equal(decode_png_rgb(tmp_path / "p.png"), np.asarray(palette.convert("RGB")))


def test_broken_and_missing_files(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "ok.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "ok.png").read_bytes()[:40])
    (tmp_path / "text.png").write_text("not a png")
    with pytest.raises(FormatError, match=r"cut\.png: cannot decode PNG"):
        decode_png_rgb(tmp_path / "cut.png")
    with pytest.raises(FormatError, match=r"text\.png: not a PNG file"):
        decode_png_rgb(tmp_path / "text.png")
    with pytest.raises(MissingFileError, match=r"panoptic PNG not found: .*gone\.png"):
        decode_png_rgb(tmp_path / "gone.png")


def test_table_from_info_sorts_and_keeps_listing_rank():
    info = [
        {"id": 900, "category_id": 7, "iscrowd": 0, "area": 50},
        {"id": 12, "category_id": 1, "iscrowd": 1},
    ]
    table = table_from_info(info, "gt.json, image 1", TAX)
    assert table.ids.tolist() == [12, 900]
    assert table.rank.tolist() == [1, 0]
    assert table.iscrowd.tolist() == [True, False]
    assert table.declared_area.tolist() == [-1, 50]


def test_table_from_info_reports_problems_as_the_reader_does():
    with pytest.raises(FormatError, match=r"gt\.json, image 1: segment id 5 is listed twice"):
        table_from_info([{"id": 5, "category_id": 1}] * 2, "gt.json, image 1", TAX)
    with pytest.raises(FormatError, match=r"gt\.json, image 1, segment 5: unknown category_id 3"):
        table_from_info([{"id": 5, "category_id": 3}], "gt.json, image 1", TAX)
    with pytest.raises(FormatError, match="needs integer 'id' and 'category_id'"):
        table_from_info([{"id": 5}], "gt.json, image 1", TAX)


def test_compact_rows_and_the_json_hook(tmp_path):
    rows = np.array([[900, 7, 0, 50], [12, 1, 1, -1]], dtype=np.int64)
    table = table_from_info(rows, "gt.json, image 1", TAX)
    assert table.ids.tolist() == [12, 900] and table.declared_area.tolist() == [-1, 50]
    with pytest.raises(FormatError, match=r"image 1, segment 5: unknown category_id 3"):
        table_from_info(np.array([[5, 3, 0, -1]]), "gt.json, image 1", TAX)
    path = tmp_path / "p.json"
    path.write_text(
        '{"annotations": [{"image_id": 1, "file_name": "1.png", "segments_info": '
        '[{"id": 4, "category_id": 7, "iscrowd": 1, "area": 9}]}], "categories": '
        '[{"id": 7, "name": "road"}]}'
    )
    data = load_compact_json(path)
    assert data["annotations"][0]["segments_info"].tolist() == [[4, 7, 1, 9]]
    assert data["categories"] == [{"id": 7, "name": "road"}]
