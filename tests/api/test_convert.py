"""Core <-> wire converters."""

from __future__ import annotations

import io

import numpy as np
import pytest

from panokit.api.convert import (
    decode_ids_png,
    encode_ids_png,
    label_from_wire,
    label_to_wire,
    parse_segments_json,
    segments_json,
)
from panokit.core.label import PanopticImage, Segment
from panokit.errors import FormatError, LabelError


def test_label_round_trip_keeps_ids_and_segments() -> None:
    ids = np.array([[0, 1, 1], [300, 300, 70000]], dtype=np.uint32)
    segments = {
        1: Segment(7),
        300: Segment(1, iscrowd=True),
        70000: Segment(2, attributes={"a": 1}),
    }
    png, table = label_to_wire(PanopticImage(ids, segments))
    assert table == (
        '[{"id":1,"category_id":7,"iscrowd":false},{"id":300,"category_id":1,"iscrowd":true},'
        '{"id":70000,"category_id":2,"iscrowd":false,"attributes":{"a":1}}]'
    )
    back = label_from_wire(png, table, None)
    assert back.equals(PanopticImage(ids, segments))
    assert back.segments[70000].attributes == {"a": 1}


def test_bad_segment_tables() -> None:
    with pytest.raises(LabelError, match="segment id 2 appears twice"):
        parse_segments_json('[{"id":2,"category_id":1},{"id":2,"category_id":1}]')
    with pytest.raises(LabelError, match="segments\\[0\\] has id 0; segment ids start at 1"):
        parse_segments_json('[{"id":0,"category_id":1}]')
    with pytest.raises(LabelError, match="must be a JSON list"):
        parse_segments_json('{"id":1}')
    assert segments_json({}) == "[]"


def test_png_guards() -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (4, 4)).save(buffer, format="PNG")
    with pytest.raises(LabelError, match=r"must be RGB .* got mode L"):
        decode_ids_png(buffer.getvalue())
    with pytest.raises(LabelError, match="is 3x2 = 6 pixels; at most 5 are accepted"):
        decode_ids_png(encode_ids_png(np.zeros((2, 3), dtype=np.uint32)), max_pixels=5)
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="JPEG")
    with pytest.raises(LabelError, match="a label must be a PNG, got JPEG data"):
        decode_ids_png(buffer.getvalue())


def test_fast_png_path_matches_the_rgb24_codec() -> None:
    from PIL import Image

    from panokit.core.codecs import RGB24

    rng = np.random.default_rng(7)
    ids = rng.integers(0, RGB24.max_id + 1, size=(37, 53)).astype(np.int64)
    png = encode_ids_png(ids)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(png)) as image:
        image.verify()  # chunk CRCs and structure
    with Image.open(io.BytesIO(png)) as image:
        assert (image.format, image.mode, image.size) == ("PNG", "RGB", (53, 37))
        assert np.array_equal(np.asarray(image), RGB24.encode(ids))
    assert np.array_equal(decode_ids_png(png), ids)
    assert decode_ids_png(png).dtype == np.uint32
    with pytest.raises(FormatError, match=r"RGB24 can hold ids 0\.\.16777215"):
        encode_ids_png(np.array([[1 << 24]]))


def test_empty_label_cannot_be_a_png() -> None:
    with pytest.raises(LabelError, match=r"needs at least one pixel, got shape \(0, 4\)"):
        encode_ids_png(np.zeros((0, 4), dtype=np.uint32))
