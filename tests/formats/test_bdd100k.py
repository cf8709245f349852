import json

import numpy as np
import pytest
from PIL import Image

import panokit
from panokit.core import PanopticImage, Sample, Segment
from panokit.core.codecs import BDD100K_RGBA
from panokit.dataset import PanopticDataset
from panokit.errors import FormatError
from panokit.formats import bdd100k

TAX = bdd100k.taxonomy()


def make_label(seed: int) -> PanopticImage:
    rng = np.random.default_rng(seed)
    ids = np.zeros((10, 14), np.uint32)
    ids[:4] = 7  # road (stuff, ann id = category id)
    ids[4:, :3] = 30  # sky
    ids[4:, 3:7] = 31  # person
    ids[4:, 7:10] = 32  # car
    ids[4:6, 10:] = 33  # crowd of people
    ids[rng.integers(0, 10, 4), rng.integers(0, 14, 4)] = 0
    segments = {
        7: Segment(7),
        30: Segment(30),
        31: Segment(31, attributes={"occluded": True}),
        32: Segment(35, attributes={"truncated": True}),
        33: Segment(31, iscrowd=True, attributes={"crowd": True}),
    }
    return PanopticImage(ids, segments, TAX)


def dataset(n: int = 2) -> PanopticDataset:
    samples = []
    for i in range(n):
        lab = make_label(i)
        samples.append(
            Sample(f"img{i}", meta={"name": f"img{i}.jpg"}, label_loader=lambda lab=lab: lab)
        )
    return PanopticDataset(samples, TAX, format="memory")


def test_taxonomy_has_40_categories_stuff_1_to_30():
    assert len(TAX) == 40 and TAX.void_id == 0
    assert [c.id for c in TAX.stuff] == list(range(1, 31))
    assert [c.name for c in TAX.things] == [
        "person",
        "rider",
        "bicycle",
        "bus",
        "car",
        "caravan",
        "motorcycle",
        "trailer",
        "train",
        "truck",
    ]
    assert TAX[7].name == "road" and TAX[30].name == "sky"


def test_bitmask_round_trip_keeps_ids_attributes_and_pixel_encoding(tmp_path):
    panokit.write(dataset(), tmp_path / "out", format="bdd100k", split="val")
    rgba = np.asarray(Image.open(tmp_path / "out" / "bitmasks" / "val" / "img0.png"))
    assert rgba.shape == (10, 14, 4)
    # person with occluded bit: R=31, G=0b0100, ann id 31 = B<<8|A
    assert rgba[5, 4].tolist() == [31, 4, 0, 31]
    # crowd region: G = crowd bit (2)
    assert rgba[4, 12].tolist() == [31, 2, 0, 33]
    back = panokit.read(tmp_path / "out")
    assert back.format == "bdd100k" and back.keys() == ["img0", "img1"]
    for a, b in zip(dataset(), back, strict=True):
        la, lb = a.load_label(), b.load_label()
        assert lb.equals(la)
        assert lb.segments[31].attributes == {"occluded": True}
        assert lb.segments[33].iscrowd and lb.segments[33].attributes == {"crowd": True}


def test_rle_json_round_trip(tmp_path):
    panokit.write(
        dataset(), tmp_path / "out", format="bdd100k", split="val", rle=True, bitmasks=False
    )
    doc = json.loads((tmp_path / "out" / "pan_seg_val.json").read_text())
    assert [f["name"] for f in doc] == ["img0.jpg", "img1.jpg"]
    first = doc[0]["labels"][2]
    assert (first["id"], first["category"], first["attributes"]) == (
        "31",
        "person",
        {"occluded": True},
    )
    assert first["rle"]["size"] == [10, 14] and isinstance(first["rle"]["counts"], str)
    back = panokit.read(tmp_path / "out" / "pan_seg_val.json")
    for a, b in zip(dataset(), back, strict=True):
        assert b.load_label().equals(a.load_label())
    # the folder it was written to is detected as bdd100k too
    assert panokit.read(tmp_path / "out").keys() == back.keys() == ["img0", "img1"]


def _save(path, rgba):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgba.astype(np.uint8)).save(path)


def test_reads_official_layout_and_merges_split_stuff(tmp_path):
    root = tmp_path / "bdd100k"
    cat = np.array([[7, 7, 7], [7, 35, 35]])
    ann = np.array([[7, 7, 40], [40, 31, 31]])  # road under two annotation ids (7 and 40)
    _save(root / "labels/pan_seg/bitmasks/val/a.png", BDD100K_RGBA.encode(cat, ann))
    (root / "images/10k/val").mkdir(parents=True)
    Image.fromarray(np.full((2, 3, 3), 9, np.uint8)).save(root / "images/10k/val/a.jpg")
    ds = panokit.read(root / "labels/pan_seg/bitmasks/val")
    assert ds.format == "bdd100k"
    label = ds[0].load_label()
    assert label.ids.tolist() == [[7, 7, 7], [7, 31, 31]]
    assert {k: v.category_id for k, v in label.segments.items()} == {7: 7, 31: 35}
    assert ds[0].media == root / "images/10k/val/a.jpg"
    assert ds[0].load_media().shape == (2, 3, 3)
    # the pan_seg folder with one split is found too
    assert panokit.read(root / "labels/pan_seg", format="bdd100k").keys() == ["a"]


def test_unknown_category_and_mixed_annotation_are_named(tmp_path):
    path = tmp_path / "masks" / "bad.png"
    _save(path, BDD100K_RGBA.encode(np.array([[7, 41, 41]]), np.array([[7, 50, 50]])))
    ds = panokit.read(tmp_path / "masks", format="bdd100k")
    with pytest.raises(FormatError) as err:
        ds[0].load_label()
    assert str(err.value) == (
        f"{path}: unknown category ids [41] in the R channel (2 pixels); "
        "BDD100K panoptic categories are 0-40"
    )
    _save(path, BDD100K_RGBA.encode(np.array([[31, 32]]), np.array([[31, 31]])))
    with pytest.raises(FormatError, match=r"annotation id 31 has mixed categories \[31, 32\]"):
        ds[0].load_label()


def test_cli_convert_bad_bitmask_exits_1_and_writes_nothing(tmp_path, capsys):
    from panokit.cli.main import main

    _save(tmp_path / "masks" / "ok.png", BDD100K_RGBA.encode(np.array([[7]]), np.array([[7]])))
    _save(tmp_path / "masks" / "z.png", BDD100K_RGBA.encode(np.array([[99]]), np.array([[1]])))
    code = main(
        ["convert", str(tmp_path / "masks"), str(tmp_path / "out"), "--to", "coco-panoptic"]
    )
    assert code == 1
    assert "z.png: unknown category ids [99]" in " ".join(capsys.readouterr().err.split())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["masks"]


def test_cli_convert_poly2d_outside_the_image_exits_1_and_writes_nothing(tmp_path, capsys):
    from panokit.cli.main import main

    label = {"id": "1", "category": "car", "poly2d": [{"vertices": [[1, 1], [95, 2], [3, 9]]}]}
    frames = [{"name": "a.jpg", "size": {"width": 20, "height": 10}, "labels": [label]}]
    path = tmp_path / "pan_seg_val.json"
    path.write_text(json.dumps(frames))
    code = main(["convert", str(path), str(tmp_path / "out"), "--to", "coco-panoptic"])
    assert code == 1
    assert (
        "pan_seg_val.json, frame 'a.jpg', label '1': poly2d vertex (95, 2) lies outside the "
        "20x10 image" in " ".join(capsys.readouterr().err.split())
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pan_seg_val.json"]
    # a Bezier control point may lie outside; on-curve vertices within 1 px are fine
    inside = {"vertices": [[0, 0], [30, 5], [30, 5], [20, 10]], "types": "LCCL"}
    assert bdd100k.poly2d_mask([inside], 10, 20).any()


def test_writer_refuses_foreign_categories(tmp_path):
    other = panokit.Taxonomy([panokit.Category(7, "tree", False)])
    lab = PanopticImage(np.full((2, 2), 1, np.uint32), {1: Segment(7)}, other)
    ds = PanopticDataset([Sample("x", label_loader=lambda: lab)], other)
    with pytest.raises(
        FormatError, match=r"category 7 \(tree\) is 'road' in bdd100k; map the labels"
    ):
        panokit.write(ds, tmp_path / "out", format="bdd100k")
    assert not (tmp_path / "out").exists()


def test_blank_prediction_is_void():
    label = bdd100k.decode_bitmask(
        BDD100K_RGBA.encode(
            np.zeros((2, 2)), np.ones((2, 2)), crowd=np.ones((2, 2)), ignore=np.ones((2, 2))
        ),
        TAX,
        "blank",
    )
    assert not label.segments and not label.ids.any()


def test_poly2d_frames_rasterise_pixel_centres(tmp_path):
    # a rectangle in pixel-corner coordinates covers exactly the pixels whose centre is inside;
    # the toolkit (scalabel poly2ds_to_mask) gives the same 12 pixels.
    rect = {"vertices": [[2, 1], [6, 1], [6, 4], [2, 4]], "types": "LLLL", "closed": True}
    mask = bdd100k.poly2d_mask([rect], 6, 8)
    assert np.argwhere(mask).tolist() == [[y, x] for y in (1, 2, 3) for x in (2, 3, 4, 5)]
    # a cubic Bezier edge (types "LCCL"): its midpoint is 1/8 p0 + 3/8 p1 + 3/8 p2 + 1/8 p3
    path = bdd100k._flatten([(0, 0), (0, 8), (8, 8), (8, 0)], "LCCL", closed=True)
    assert path[8] == (4.0, 6.0) and path[16] == (8, 0) and path[-1] == (0, 0)
    # pixels cut by an edge may differ from the toolkit's matplotlib rendering, which adds
    # up to one pixel along edges: on a 64 x 48 image the toolkit filled 952 / 322 / 126
    # pixels for these shapes, panokit 888 / 279 / 100, all of them inside the toolkit's.
    shapes = [
        {"vertices": [[10.3, 5.2], [40.7, 3.9], [44.1, 30.6], [12.8, 35.4]], "types": "LLLL"},
        {"vertices": [[50, 10], [62, 12], [63, 40], [52, 44], [48, 30]], "types": "LCCLL"},
        {"vertices": [[5, 40], [25, 38], [30, 47], [3, 46]], "types": "LLCC"},
    ]
    counts = [int(bdd100k.poly2d_mask([dict(s, closed=True)], 48, 64).sum()) for s in shapes]
    assert counts == [888, 279, 100]
    frame = {
        "name": "p.jpg",
        "size": {"width": 64, "height": 48},
        "labels": [
            {"id": "a", "category": "road", "poly2d": [dict(shapes[0], closed=True)]},
            {
                "id": "b",
                "category": "car",
                "attributes": {"occluded": True},
                "poly2d": [dict(shapes[1], closed=True)],
            },
        ],
    }
    (tmp_path / "pan_seg_val.json").write_text(json.dumps({"frames": [frame]}))
    label = panokit.read(tmp_path / "pan_seg_val.json")[0].load_label()
    assert label.areas() == {1: 888, 2: 279}
    assert {k: v.category_id for k, v in label.segments.items()} == {1: 7, 2: 35}
    frame["labels"][1]["poly2d"] = None
    (tmp_path / "pan_seg_val.json").write_text(json.dumps([frame]))
    with pytest.raises(
        FormatError, match=r"pan_seg_val.json, frame 'p.jpg', label 'b': no 'rle' mask"
    ):
        panokit.read(tmp_path / "pan_seg_val.json")[0].load_label()


def test_unused_high_attribute_bits_are_ignored():
    rgba = BDD100K_RGBA.encode(np.array([[35, 35]]), np.array([[31, 31]]), crowd=np.array([[1, 1]]))
    rgba[0, 1, 1] |= 0x30  # bits above "truncated" carry no meaning
    label = bdd100k.decode_bitmask(rgba, TAX, "x")
    assert label.ids.tolist() == [[31, 31]] and label.segments[31].attributes == {"crowd": True}


def test_cli_convert_writer_options_write_the_rle_json(tmp_path, capsys):
    from panokit.cli.main import main

    panokit.write(dataset(), tmp_path / "masks", format="bdd100k", split="val")
    out = tmp_path / "json"
    argv = ["convert", str(tmp_path / "masks"), str(out), "--to", "bdd100k"]
    assert main([*argv, "--option", "rle=true", "--option", "bitmasks=false"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["pan_seg_val.json"]
    for a, b in zip(dataset(), panokit.read(out / "pan_seg_val.json"), strict=True):
        assert b.load_label().equals(a.load_label())
    capsys.readouterr()
    assert main([*argv[:2], str(tmp_path / "x"), "--to", "bdd100k", "--option", "rle"]) == 1
    assert "--option 'rle': bdd100k writer options are split=..., rle=..., bitmasks=..." in (
        " ".join(capsys.readouterr().err.split())
    )
    assert not (tmp_path / "x").exists()
