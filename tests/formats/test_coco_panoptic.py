import json

import numpy as np
import pytest
from PIL import Image

import panokit
from panokit.core import Category, PanopticImage, Sample, Segment, Taxonomy
from panokit.core.codecs import RGB24
from panokit.dataset import PanopticDataset
from panokit.errors import FormatError, MissingFileError, OutputExistsError

TAX = Taxonomy(
    [Category(1, "person", True, (220, 20, 60)), Category(7, "road", False, (128, 64, 128))],
    name="t",
)


def make_label(seed):
    rng = np.random.default_rng(seed)
    ids = np.zeros((12, 16), np.uint32)
    ids[:6] = 7
    ids[6:, :5] = 300
    ids[6:, 5:9] = 70000
    ids[rng.integers(0, 12, 5), rng.integers(0, 16, 5)] = 0
    return PanopticImage(
        ids, {7: Segment(7), 300: Segment(1), 70000: Segment(1, iscrowd=True)}, TAX
    )


def dataset(ids_are_strings=False):
    samples = []
    for i in range(3):
        source = f"city_{i:06d}" if ids_are_strings else 100 + i
        lab = make_label(i)
        samples.append(Sample(str(source), source_id=source, label_loader=lambda lab=lab: lab))
    return PanopticDataset(samples, TAX, format="memory")


@pytest.mark.parametrize("strings", [False, True])
def test_write_read_round_trip_keeps_labels_and_id_types(tmp_path, strings):
    ds = dataset(strings)
    panokit.write(ds, tmp_path / "out", format="coco-panoptic")
    back = panokit.read(tmp_path / "out")
    assert back.format == "coco-panoptic"
    assert back.taxonomy == TAX
    assert [s.source_id for s in back] == [s.source_id for s in ds]
    for a, b in zip(ds, back, strict=False):
        assert b.load_label().equals(a.load_label())


def test_written_json_has_area_bbox_and_categories(tmp_path):
    panokit.write(dataset(), tmp_path / "out", format="coco-panoptic", name="panoptic_val")
    doc = json.loads((tmp_path / "out" / "panoptic_val.json").read_text())
    assert [c["isthing"] for c in doc["categories"]] == [1, 0]
    assert doc["categories"][0]["color"] == [220, 20, 60]
    first = doc["annotations"][0]
    lab = make_label(0)
    assert first["image_id"] == 100 and first["file_name"] == "100.png"
    assert [s["id"] for s in first["segments_info"]] == [7, 300, 70000]
    assert [s["area"] for s in first["segments_info"]] == [
        lab.area(7),
        lab.area(300),
        lab.area(70000),
    ]
    assert first["segments_info"][2]["iscrowd"] == 1
    assert first["segments_info"][1]["bbox"] == [0, 6, 5, 6] or first["segments_info"][1][
        "bbox"
    ] == list(lab.bbox(300))
    assert doc["images"][0] == {"id": 100, "width": 16, "height": 12, "file_name": "100.jpg"}
    png = np.asarray(Image.open(tmp_path / "out" / "panoptic_val" / "100.png"))
    np.testing.assert_array_equal(RGB24.decode(png), lab.ids)


def test_never_overwrites_and_failure_leaves_nothing(tmp_path):
    panokit.write(dataset(), tmp_path / "out", format="coco-panoptic")
    with pytest.raises(OutputExistsError, match="already exists"):
        panokit.write(dataset(), tmp_path / "out", format="coco-panoptic")
    bad = PanopticImage(np.ones((2, 2), np.uint32), {}, TAX)
    broken = PanopticDataset([*dataset(), Sample("bad", label_loader=lambda: bad)], TAX)
    with pytest.raises(
        panokit.errors.ValidationError, match="sample 'bad': segment id 1 occurs in ids"
    ):
        panokit.write(broken, tmp_path / "new", format="coco-panoptic")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def _write_raw(tmp_path, segments_info, ids):
    (tmp_path / "gt").mkdir()
    Image.fromarray(RGB24.encode(ids)).save(tmp_path / "gt" / "a.png")
    doc = {
        "images": [{"id": 1, "width": ids.shape[1], "height": ids.shape[0], "file_name": "a.jpg"}],
        "annotations": [{"image_id": 1, "file_name": "a.png", "segments_info": segments_info}],
        "categories": TAX.to_list(),
    }
    (tmp_path / "gt.json").write_text(json.dumps(doc))
    return tmp_path / "gt.json"


def test_png_id_missing_from_json_is_named(tmp_path):
    ids = np.array([[5, 6], [6, 0]], np.uint32)
    path = _write_raw(tmp_path, [{"id": 6, "category_id": 1}, {"id": 8, "category_id": 7}], ids)
    ds = panokit.read(path)
    with pytest.raises(FormatError) as err:
        ds[0].load_label()
    assert str(err.value) == (
        "gt.json, image 1 (a.png): segment id 5 occurs in the PNG (1 pixels) but not in "
        "segments_info; segment id 8 (category 7) is in segments_info but not in the PNG"
    )


def test_unknown_category_missing_png_and_malformed_json(tmp_path):
    ids = np.array([[5]], np.uint32)
    with pytest.raises(
        FormatError, match=r"gt.json, image 1 \(a.png\), segment 5: unknown category_id 3"
    ):
        panokit.read(_write_raw(tmp_path, [{"id": 5, "category_id": 3}], ids))
    (tmp_path / "gt" / "a.png").unlink()
    (tmp_path / "gt.json").write_text(
        json.dumps({"annotations": [{"image_id": 1, "file_name": "a.png", "segments_info": []}]})
    )
    with pytest.raises(MissingFileError, match=r"panoptic PNG not found: .*gt/a\.png"):
        panokit.read(tmp_path / "gt.json", format="coco-panoptic")[0].load_label()
    (tmp_path / "gt.json").write_text('{"annotations": [')
    with pytest.raises(FormatError, match=r"gt.json: malformed JSON at line 1 column 18"):
        panokit.read(tmp_path / "gt.json", format="coco-panoptic")


def test_sniff_finds_the_json_in_a_folder(tmp_path):
    panokit.write(dataset(), tmp_path / "out", format="coco-panoptic")
    from panokit.formats.registry import detect_format

    assert detect_format(tmp_path / "out").name == "coco-panoptic"
    assert detect_format(tmp_path / "out" / "panoptic.json").name == "coco-panoptic"
