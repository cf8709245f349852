"""Cityscapes format: gtFine reader/writer, the createPanopticImgs view, panoptic JSON input.

The hand-computed expectations below follow cityscapesScripts' createPanopticImgs as
documented in FORMATS.md §2.2; ``test_conversion_equals_create_panoptic_imgs`` checks the
same rules against the official tool itself when ``cityscapesscripts`` is installed.
"""

import contextlib
import io
import json

import numpy as np
import pytest
from PIL import Image

import panokit
from panokit.core import Category, PanopticImage, Sample, Segment, Taxonomy
from panokit.core.codecs import RGB24
from panokit.dataset import PanopticDataset
from panokit.errors import FormatError, MissingFileError
from panokit.formats import cityscapes as cs
from panokit.formats.registry import detect_format

# 4 x 6 instanceIds: sky, road, sidewalk, car 0, car group, person 1, and two ignored
# classes (caravan instance 29000, static 4) that the panoptic view turns into void.
SMALL = np.array(
    [
        [23, 23, 23, 23, 0, 0],
        [7, 7, 26000, 26000, 26, 29000],
        [7, 7, 26000, 24001, 26, 29000],
        [7, 8, 8, 24001, 4, 4],
    ],
    dtype=np.uint16,
)


def classes_of(inst):
    return np.where(inst < 1000, inst, inst // 1000).astype(np.uint8)


def put(root, split, city, index, inst, label_ids=None):
    """Write one image's instanceIds (uint16) and labelIds (uint8) in the gtFine layout."""
    folder = root / "gtFine" / split / city
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{city}_{index:06d}_{index + 19:06d}"
    Image.fromarray(np.asarray(inst, np.uint16)).save(folder / f"{stem}_gtFine_instanceIds.png")
    labels = classes_of(inst) if label_ids is None else label_ids
    Image.fromarray(labels).save(folder / f"{stem}_gtFine_labelIds.png")
    return stem


def random_label(rng, h=48, w=80):
    """Stuff bands, several instances and groups, ignored classes and unlabeled pixels."""
    inst = np.zeros((h, w), np.uint16)
    inst[: h // 4] = 23
    inst[h // 4 : h // 2] = rng.choice([11, 21, 15])  # building / vegetation / bridge
    inst[h // 2 :] = 7
    inst[3 * h // 4 :, : w // 3] = rng.choice([8, 9])  # sidewalk / parking (ignored)
    inst[h // 5 : h // 2, w // 2 : w // 2 + 2] = rng.choice([17, 18])  # pole / polegroup
    for k in range(int(rng.integers(2, 7))):
        cls = int(rng.choice([24, 25, 26, 27, 28, 29, 30, 31, 32, 33]))
        y, x = int(rng.integers(h // 3, h - 6)), int(rng.integers(0, w - 8))
        value = cls if rng.random() < 0.25 else cls * 1000 + k
        inst[y : y + int(rng.integers(3, 9)), x : x + int(rng.integers(3, 12))] = value
    noise = rng.random((h, w))
    inst[noise < 0.03] = 0
    inst[noise > 0.98] = rng.choice([1, 3, 5, 6])
    return inst


# ------------------------------------------------------------------------ label table
def test_official_label_table():
    tax = cs.taxonomy()
    assert len(tax) == 35 and tax.void_id == 0
    assert [c.id for c in tax.evaluated if not c.isthing] == [
        7,
        8,
        11,
        12,
        13,
        17,
        19,
        20,
        21,
        22,
        23,
    ]
    assert [c.id for c in tax.evaluated if c.isthing] == [24, 25, 26, 27, 28, 31, 32, 33]
    car = tax.by_name("car")
    assert (car.id, car.train_id, car.color, car.supercategory) == (26, 13, (0, 0, 142), "vehicle")
    plate = tax.by_name("license plate")
    assert (plate.id, plate.train_id, plate.isthing, plate.ignore_in_eval) == (-1, -1, False, True)
    caravan = tax[29]
    assert caravan.isthing and caravan.ignore_in_eval and caravan.train_id == 255
    assert tax[9].name == "parking" and tax[9].ignore_in_eval
    evaluated = cs.evaluated_taxonomy()
    assert evaluated.ids == [
        7,
        8,
        11,
        12,
        13,
        17,
        19,
        20,
        21,
        22,
        23,
        24,
        25,
        26,
        27,
        28,
        31,
        32,
        33,
    ]
    by_train = cs.evaluated_taxonomy(train_ids=True)
    assert by_train.ids == list(range(19)) and by_train.void_id == 255
    assert by_train[0].name == "road" and by_train[0].attributes["cityscapes_id"] == 7
    assert by_train[18].name == "bicycle" and by_train[18].isthing


# ------------------------------------------------------------------------- raw reading
def test_read_raw_keeps_every_class_with_groups_as_crowd(tmp_path):
    stem = put(tmp_path, "val", "lindau", 0, SMALL)
    (tmp_path / "leftImg8bit" / "val" / "lindau").mkdir(parents=True)
    ds = panokit.read(tmp_path, format="cityscapes")
    assert ds.format == "cityscapes" and ds.keys() == [stem] == ["lindau_000000_000019"]
    assert ds.meta["split"] == "val" and ds.taxonomy == cs.taxonomy()
    sample = ds[0]
    assert sample.source_id == stem and sample.meta["city"] == "lindau"
    assert sample.media == tmp_path / "leftImg8bit/val/lindau/lindau_000000_000019_leftImg8bit.png"
    assert sample.label_files == (
        tmp_path / "gtFine/val/lindau/lindau_000000_000019_gtFine_instanceIds.png",
        tmp_path / "gtFine/val/lindau/lindau_000000_000019_gtFine_labelIds.png",
    )
    label = sample.load_label()
    assert isinstance(label, PanopticImage)
    np.testing.assert_array_equal(label.ids, SMALL)
    got = {k: (s.category_id, s.iscrowd) for k, s in label.segments.items()}
    assert got == {
        4: (4, False),
        7: (7, False),
        8: (8, False),
        23: (23, False),
        26: (26, True),
        24001: (24, False),
        26000: (26, False),
        29000: (29, False),
    }
    assert label.problems() == []
    with pytest.raises(
        MissingFileError, match=r"image not found: .*lindau_000000_000019_leftImg8bit"
    ):
        sample.load_media()


def test_paths_root_gtfine_split_folder_and_split_option(tmp_path):
    a = put(tmp_path, "train", "aachen", 0, SMALL)
    b = put(tmp_path, "train", "bremen", 1, SMALL)
    c = put(tmp_path, "val", "frankfurt", 2, SMALL)
    d = put(tmp_path, "test", "berlin", 3, SMALL)
    assert panokit.read(tmp_path, format="cityscapes").keys() == [a, b, c, d]
    everything = panokit.read(tmp_path / "gtFine", format="cityscapes")
    assert [s.meta["split"] for s in everything] == ["train", "train", "val", "test"]
    assert everything.meta["split"] is None
    assert panokit.read(tmp_path, format="cityscapes", split="val").keys() == [c]
    one = panokit.read(tmp_path / "gtFine" / "train", format="cityscapes")
    assert one.keys() == [a, b] and one.meta["split"] == "train"
    with pytest.raises(
        FormatError, match=r"gtFine: no split 'extra'; found splits \['train', 'val', 'test'\]"
    ):
        panokit.read(tmp_path, format="cityscapes", split="extra")
    with pytest.raises(FormatError, match="this is the split folder 'train', not 'val'"):
        panokit.read(tmp_path / "gtFine" / "train", format="cityscapes", split="val")
    assert detect_format(tmp_path).name == "cityscapes"
    assert detect_format(tmp_path / "gtFine" / "val").name == "cityscapes"


# ------------------------------------------------------------------ panoptic conversion
def test_to_panoptic_gives_create_panoptic_imgs_segments(tmp_path):
    put(tmp_path, "val", "lindau", 0, SMALL)
    view = cs.to_panoptic(panokit.read(tmp_path, format="cityscapes"))
    assert view.taxonomy == cs.evaluated_taxonomy()
    panokit.write(view, tmp_path / "out", format="coco-panoptic")
    doc = json.loads((tmp_path / "out" / "cityscapes_panoptic_val.json").read_text())
    assert doc["annotations"] == [
        {
            "image_id": "lindau_000000_000019",
            "file_name": "lindau_000000_000019_gtFine_panoptic.png",
            "segments_info": [
                {"id": 7, "category_id": 7, "iscrowd": 0, "area": 5, "bbox": [0, 1, 2, 3]},
                {"id": 8, "category_id": 8, "iscrowd": 0, "area": 2, "bbox": [1, 3, 2, 1]},
                {"id": 23, "category_id": 23, "iscrowd": 0, "area": 4, "bbox": [0, 0, 4, 1]},
                {"id": 26, "category_id": 26, "iscrowd": 1, "area": 2, "bbox": [4, 1, 1, 2]},
                {"id": 24001, "category_id": 24, "iscrowd": 0, "area": 2, "bbox": [3, 2, 1, 2]},
                {"id": 26000, "category_id": 26, "iscrowd": 0, "area": 3, "bbox": [2, 1, 2, 2]},
            ],
        }
    ]
    assert doc["images"] == [
        {
            "id": "lindau_000000_000019",
            "width": 6,
            "height": 4,
            "file_name": "lindau_000000_000019_leftImg8bit.png",
        }
    ]
    assert [c["id"] for c in doc["categories"]] == cs.evaluated_taxonomy().ids
    assert doc["categories"][13] == {
        "id": 26,
        "name": "car",
        "isthing": 1,
        "color": [0, 0, 142],
        "supercategory": "vehicle",
        "train_id": 13,
    }
    png = np.asarray(
        Image.open(
            tmp_path / "out/cityscapes_panoptic_val/lindau_000000_000019_gtFine_panoptic.png"
        )
    )
    expected = SMALL.astype(np.uint32)
    expected[np.isin(SMALL, [4, 29000])] = 0
    np.testing.assert_array_equal(RGB24.decode(png), expected)


def test_to_panoptic_train_ids(tmp_path):
    put(tmp_path, "train", "ulm", 0, SMALL)
    view = cs.to_panoptic(panokit.read(tmp_path, format="cityscapes"), train_ids=True)
    assert view.meta["json_stem"] == "cityscapes_panoptic_train_trainId"
    label = view[0].load_label()
    got = {k: (s.category_id, s.iscrowd) for k, s in label.segments.items()}
    assert got == {
        7: (0, False),
        8: (1, False),
        23: (10, False),
        26: (13, True),
        24001: (11, False),
        26000: (13, False),
    }
    assert label.problems() == []


# ------------------------------------------------------------------ panoptic JSON input
def test_reads_panoptic_json_with_label_ids_and_train_ids(tmp_path):
    put(tmp_path, "val", "lindau", 0, SMALL)
    put(tmp_path, "val", "munster", 1, SMALL[::-1].copy())
    raw = panokit.read(tmp_path, format="cityscapes")
    for train_ids in (False, True):
        view = cs.to_panoptic(raw, train_ids=train_ids)
        out = tmp_path / f"pan{int(train_ids)}"
        panokit.write(view, out, format="coco-panoptic")
        json_path = out / f"{view.meta['json_stem']}.json"
        for where in (json_path, out):
            back = panokit.read(where, format="cityscapes")
            assert back.taxonomy == cs.evaluated_taxonomy(train_ids)
            assert back.meta["split"] == "val" and back.keys() == raw.keys()
            assert [s.meta["city"] for s in back] == ["lindau", "munster"]
            for a, b in zip(view, back, strict=True):
                assert b.load_label().equals(a.load_label())
    assert detect_format(tmp_path / "pan0" / "cityscapes_panoptic_val.json").name == "coco-panoptic"
    # the trainId view (last read) goes back to gtFine through cityscapes_id, minus ignored classes
    panokit.write(back, tmp_path / "again", format="cityscapes")
    again = panokit.read(tmp_path / "again", format="cityscapes")
    assert again.keys() == raw.keys() and [s.meta["split"] for s in again] == ["val", "val"]
    for a, b in zip(cs.to_panoptic(raw), again, strict=True):
        assert b.load_label().equals(a.load_label())


def test_panoptic_json_with_foreign_categories_is_refused(tmp_path):
    doc = {"annotations": [], "categories": [{"id": 7, "name": "road"}, {"id": 99, "name": "x"}]}
    path = tmp_path / "cityscapes_panoptic_val.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(FormatError, match=r"category 99 \('x'\) is not a Cityscapes label"):
        panokit.read(path, format="cityscapes")


# ----------------------------------------------------------------------------- writing
def test_write_read_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(3)
    for i, (split, city) in enumerate([("train", "aachen"), ("train", "jena"), ("val", "lindau")]):
        put(tmp_path / "src", split, city, i, random_label(rng))
    original = panokit.read(tmp_path / "src", format="cityscapes")
    panokit.write(original, tmp_path / "out", format="cityscapes")
    for split in ("train", "val"):
        names = sorted(p.name for p in (tmp_path / "src/gtFine" / split).rglob("*.png"))
        assert sorted(p.name for p in (tmp_path / "out/gtFine" / split).rglob("*.png")) == names
    back = panokit.read(tmp_path / "out", format="cityscapes")
    assert back.keys() == original.keys()
    assert [s.meta["split"] for s in back] == ["train", "train", "val"]
    for a, b in zip(original, back, strict=True):
        assert b.load_label().equals(a.load_label())
    with Image.open(next((tmp_path / "out").rglob("*_instanceIds.png"))) as image:
        assert image.mode == "I;16"


def test_write_copies_images_and_reads_them_back(tmp_path):
    put(tmp_path / "src", "val", "lindau", 0, SMALL)
    pixels = np.arange(72, dtype=np.uint8).reshape(4, 6, 3)
    folder = tmp_path / "src/leftImg8bit/val/lindau"
    folder.mkdir(parents=True)
    Image.fromarray(pixels).save(folder / "lindau_000000_000019_leftImg8bit.png")
    panokit.write(
        panokit.read(tmp_path / "src", format="cityscapes"),
        tmp_path / "out",
        format="cityscapes",
        copy_images=True,
    )
    back = panokit.read(tmp_path / "out", format="cityscapes")
    assert (
        back[0].media
        == tmp_path / "out/leftImg8bit/val/lindau/lindau_000000_000019_leftImg8bit.png"
    )
    np.testing.assert_array_equal(back[0].load_media(), pixels)


def test_write_numbers_instances_of_foreign_segment_ids(tmp_path):
    ids = np.array([[1, 1, 2, 3], [4, 4, 5, 0]], np.uint32)
    segments = {
        1: Segment(7),
        2: Segment(26),
        3: Segment(26),
        4: Segment(24, iscrowd=True),
        5: Segment(29),
    }
    label = PanopticImage(ids, segments, cs.taxonomy())
    sample = Sample("zurich_000001_000002", label_loader=lambda: label)
    ds = PanopticDataset([sample], cs.taxonomy())
    panokit.write(ds, tmp_path / "out", format="cityscapes", split="val")
    folder = tmp_path / "out/gtFine/val/zurich"
    inst = np.asarray(Image.open(folder / "zurich_000001_000002_gtFine_instanceIds.png"))
    np.testing.assert_array_equal(inst, [[7, 7, 26000, 26001], [24, 24, 29000, 0]])
    labels = np.asarray(Image.open(folder / "zurich_000001_000002_gtFine_labelIds.png"))
    np.testing.assert_array_equal(labels, [[7, 7, 26, 26], [24, 24, 29, 0]])
    back = panokit.read(tmp_path / "out", format="cityscapes")[0].load_label()
    assert back.same_partition(label)


def test_write_refuses_foreign_taxonomy_and_license_plate(tmp_path):
    other = Taxonomy([Category(7, "street", False)], name="mine")
    label = PanopticImage(np.full((2, 2), 1, np.uint32), {1: Segment(7)}, other)
    ds = PanopticDataset([Sample("a_000000_000000", label_loader=lambda: label)], other)
    with pytest.raises(
        FormatError,
        match=r"sample 'a_000000_000000', segment 1: category 7 \('street'\) is not a Cityscapes label",
    ):
        panokit.write(ds, tmp_path / "out", format="cityscapes")
    plate = PanopticImage(np.full((2, 2), 1, np.uint32), {1: Segment(-1)}, cs.taxonomy())
    ds = PanopticDataset([Sample("b_000000_000000", label_loader=lambda: plate)], cs.taxonomy())
    with pytest.raises(FormatError, match=r"class 'license plate' \(id -1\) cannot be stored"):
        panokit.write(ds, tmp_path / "out", format="cityscapes")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- bad input
def test_missing_partner_is_named(tmp_path):
    stem = put(tmp_path, "val", "lindau", 0, SMALL)
    folder = tmp_path / "gtFine/val/lindau"
    (folder / f"{stem}_gtFine_labelIds.png").unlink()
    with pytest.raises(FormatError) as err:
        panokit.read(tmp_path, format="cityscapes")
    assert str(err.value) == (
        f"{folder}/lindau_000000_000019_gtFine_labelIds.png is missing: "
        "lindau_000000_000019_gtFine_instanceIds.png needs its *_gtFine_labelIds.png partner"
    )
    (folder / f"{stem}_gtFine_instanceIds.png").rename(folder / "x.png")
    Image.fromarray(classes_of(SMALL)).save(folder / f"{stem}_gtFine_labelIds.png")
    put(tmp_path, "val", "lindau", 1, SMALL)
    with pytest.raises(
        FormatError, match=r"lindau_000000_000019_gtFine_instanceIds.png is missing"
    ):
        panokit.read(tmp_path, format="cityscapes")


@pytest.mark.parametrize(
    ("which", "array", "message"),
    [
        (
            "instanceIds",
            np.zeros((4, 6, 3), np.uint8),
            "expected a 16-bit grayscale (instanceIds) PNG, found a PNG image of mode 'RGB'",
        ),
        (
            "instanceIds",
            np.zeros((4, 6), np.uint8),
            "expected a 16-bit grayscale (instanceIds) PNG, found a PNG image of mode 'L'",
        ),
        (
            "labelIds",
            np.zeros((4, 6), np.uint16),
            "expected a 8-bit grayscale (labelIds) PNG, found a PNG image of mode 'I;16'",
        ),
    ],
)
def test_wrong_png_mode_is_named(tmp_path, which, array, message):
    stem = put(tmp_path, "val", "lindau", 0, SMALL)
    path = tmp_path / f"gtFine/val/lindau/{stem}_gtFine_{which}.png"
    Image.fromarray(array).save(path)
    ds = panokit.read(tmp_path, format="cityscapes")
    with pytest.raises(FormatError) as err:
        ds[0].load_label()
    assert str(err.value) == f"{path}: {message}"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (40, "value 40 (1 pixels) is class 40, which is not a Cityscapes label id (0-33)"),
        (45002, "value 45002 (1 pixels) is class 45, which is not a Cityscapes label id (0-33)"),
        (
            7001,
            "value 7001 is an instance of class 7 (road), which has no instances; expected the plain id",
        ),
    ],
)
def test_bad_instance_values_are_named(tmp_path, value, message):
    inst = SMALL.copy()
    inst[0, 0] = value
    stem = put(tmp_path, "val", "lindau", 0, inst, label_ids=classes_of(SMALL))
    with pytest.raises(FormatError) as err:
        panokit.read(tmp_path, format="cityscapes")[0].load_label()
    assert (
        str(err.value) == f"{tmp_path}/gtFine/val/lindau/{stem}_gtFine_instanceIds.png: {message}"
    )


def test_a_png_file_is_not_a_dataset(tmp_path):
    stem = put(tmp_path, "val", "lindau", 0, SMALL)
    path = tmp_path / f"gtFine/val/lindau/{stem}_gtFine_instanceIds.png"
    with pytest.raises(
        FormatError,
        match=r"instanceIds.png: expected a Cityscapes folder \(root, gtFine or split\) or a panoptic JSON, found a file",
    ):
        panokit.read(path, format="cityscapes")
    with pytest.raises(
        FormatError,
        match=r"empty: no Cityscapes gtFine files \(expected gtFine/<split>/<city>/\*_gtFine_instanceIds.png\)",
    ):
        (tmp_path / "empty").mkdir()
        panokit.read(tmp_path / "empty", format="cityscapes")


def test_label_ids_must_match_instance_ids(tmp_path):
    stem = put(tmp_path, "val", "lindau", 0, SMALL, label_ids=classes_of(SMALL)[:, :5].copy())
    label_path = tmp_path / f"gtFine/val/lindau/{stem}_gtFine_labelIds.png"
    with pytest.raises(FormatError) as err:
        panokit.read(tmp_path, format="cityscapes")[0].load_label()
    assert str(err.value) == f"{label_path}: labelIds is 5x4 but its instanceIds is 6x4"
    wrong = classes_of(SMALL)
    wrong[1, 2] = 27
    wrong[3, 1:3] = 7
    Image.fromarray(wrong).save(label_path)
    with pytest.raises(FormatError) as err:
        panokit.read(tmp_path, format="cityscapes")[0].load_label()
    assert str(err.value) == (
        f"{label_path}: 3 pixels disagree with the instanceIds classes "
        "(instanceIds value -> labelIds id: 8->7, 26000->27)"
    )
    unchecked = panokit.read(tmp_path, format="cityscapes", check=False)[0].load_label()
    np.testing.assert_array_equal(unchecked.ids, SMALL)


# ------------------------------------------------------------------- official tool
def test_conversion_equals_create_panoptic_imgs(tmp_path):
    """Same JSON annotations (segments, category, iscrowd, area, bbox), images and PNG
    pixels as cityscapesScripts' convert2panoptic on the same random gtFine tree."""
    official = pytest.importorskip(
        "cityscapesscripts.preparation.createPanopticImgs",
        reason="cityscapesscripts (the official tool) is not installed",
    )
    rng = np.random.default_rng(7)
    cities = {"train": ["aachen", "bochum", "erfurt"], "val": ["frankfurt", "munster"]}
    for split, names in cities.items():
        for c, city in enumerate(names):
            for i in range(2):
                put(tmp_path / "data", split, city, 10 * c + i, random_label(rng))
    nothing_evaluated = np.zeros((48, 80), np.uint16)
    nothing_evaluated[10:20, 10:30] = 4  # static
    nothing_evaluated[30:40, 40:60] = 29  # a caravan group
    put(tmp_path / "data", "val", "munster", 99, nothing_evaluated)
    for train_ids in (False, True):
        reference = tmp_path / f"official{int(train_ids)}"
        reference.mkdir()
        with contextlib.redirect_stdout(io.StringIO()):
            official.convert2panoptic(
                str(tmp_path / "data" / "gtFine"), str(reference), train_ids, ["train", "val"]
            )
        for split in cities:
            raw = panokit.read(tmp_path / "data", format="cityscapes", split=split)
            ours = tmp_path / f"ours{int(train_ids)}{split}"
            panokit.write(cs.to_panoptic(raw, train_ids=train_ids), ours, format="coco-panoptic")
            stem = f"cityscapes_panoptic_{split}" + ("_trainId" if train_ids else "")
            want = json.loads((reference / f"{stem}.json").read_text())
            got = json.loads((ours / f"{stem}.json").read_text())
            assert got["annotations"] == want["annotations"]
            if split == "val":
                assert got["annotations"][-1]["segments_info"] == []
            segments = [s for a in got["annotations"] for s in a["segments_info"]]
            assert len(segments) >= 5 * len(got["annotations"])
            assert any(s["iscrowd"] for s in segments) and any(s["id"] > 1000 for s in segments)
            assert [{k: i[k] for k in ("id", "width", "height")} for i in got["images"]] == [
                {k: i[k] for k in ("id", "width", "height")} for i in want["images"]
            ]
            assert [{k: c[k] for k in want["categories"][0]} for c in got["categories"]] == want[
                "categories"
            ]
            for ann in want["annotations"]:
                a = np.asarray(Image.open(reference / stem / ann["file_name"]))
                b = np.asarray(Image.open(ours / stem / ann["file_name"]))
                np.testing.assert_array_equal(a, b)
            back = panokit.read(reference / f"{stem}.json", format="cityscapes")
            view = cs.to_panoptic(raw, train_ids=train_ids)
            for x, y in zip(back, view, strict=True):
                assert x.load_label().equals(y.load_label())


def test_read_pair_converts_raw_ground_truth(tmp_path):
    put(tmp_path / "gt", "val", "lindau", 0, SMALL)
    raw = panokit.read(tmp_path / "gt", format="cityscapes")
    pred = cs.to_panoptic(raw)
    panokit.write(pred, tmp_path / "pred", format="coco-panoptic")
    doc_path = tmp_path / "pred" / "cityscapes_panoptic_val.json"
    doc = json.loads(doc_path.read_text())
    del doc["categories"]
    doc_path.write_text(json.dumps(doc))
    gt, pr = cs.read_pair(tmp_path / "gt", tmp_path / "pred", split="val")
    assert gt.taxonomy == pr.taxonomy == cs.evaluated_taxonomy()
    assert gt.keys() == pr.keys() == ["lindau_000000_000019"]
    assert pr[0].load_label().equals(gt[0].load_label())
    assert cs.DEFAULT_PROTOCOL == "coco"


def test_plain_write_to_coco_panoptic_applies_the_official_view(tmp_path):
    put(tmp_path, "val", "lindau", 0, SMALL)
    raw = panokit.read(tmp_path, format="cityscapes")
    panokit.write(raw, tmp_path / "plain", format="coco-panoptic")
    panokit.write(cs.to_panoptic(raw), tmp_path / "view", format="coco-panoptic")
    plain = json.loads((tmp_path / "plain" / "cityscapes_panoptic_val.json").read_text())
    view = json.loads((tmp_path / "view" / "cityscapes_panoptic_val.json").read_text())
    assert plain == view
    panokit.write(raw, tmp_path / "raw", format="coco-panoptic", raw=True)
    raw_doc = json.loads((tmp_path / "raw" / "panoptic.json").read_text())
    assert len(raw_doc["categories"]) == len(cs.taxonomy())
