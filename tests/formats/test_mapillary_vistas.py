import json

import numpy as np
import pytest
from PIL import Image

import panokit
from panokit.core import PanopticImage, Sample, Segment
from panokit.core.codecs import RGB24
from panokit.dataset import PanopticDataset
from panokit.errors import FormatError, MissingFileError
from panokit.formats import mapillary_vistas as mv

LABELS_V2 = [
    {
        "name": "animal--bird",
        "readable": "Bird",
        "color": [165, 42, 42],
        "instances": True,
        "evaluate": True,
    },
    {
        "name": "construction--flat--road",
        "readable": "Road",
        "color": [128, 64, 128],
        "instances": False,
        "evaluate": True,
    },
    {
        "name": "human--person--individual",
        "readable": "Person",
        "color": [220, 20, 60],
        "instances": True,
        "evaluate": True,
    },
    {
        "name": "nature--sky",
        "readable": "Sky",
        "color": [70, 130, 180],
        "instances": False,
        "evaluate": True,
    },
    {
        "name": "object--vehicle--car",
        "readable": "Car",
        "color": [0, 0, 142],
        "instances": True,
        "evaluate": True,
    },
    {
        "name": "void--unlabeled",
        "readable": "Unlabeled",
        "color": [0, 0, 0],
        "instances": False,
        "evaluate": False,
    },
]
CONFIG = {"labels": LABELS_V2}
TAX = mv.taxonomy_from_config(CONFIG, "v2.0")


def make_label(seed, ids_as_in_instances=True):
    """Segment ids follow the instances encoding (label * 256 + instance + 1) by default."""
    rng = np.random.default_rng(seed)
    sky, road, car1, car2, person = (
        (769, 257, 1025, 1026, 513) if ids_as_in_instances else (1, 2, 3, 4, 5)
    )
    ids = np.zeros((12, 16), np.uint32)
    ids[:4] = sky  # label 3
    ids[4:8] = road  # label 1
    ids[8:, :5] = car1  # label 4, instance 0
    ids[8:, 5:9] = car2  # label 4, instance 1
    ids[9:, 10:13] = person  # label 2, instance 0
    ids[rng.integers(0, 12, 5), rng.integers(0, 16, 5)] = 0
    segs = {
        sky: Segment(4),
        road: Segment(2),
        car1: Segment(5),
        car2: Segment(5),
        person: Segment(3),
    }
    segs = {k: v for k, v in segs.items() if (ids == k).any()}
    return PanopticImage(ids, segs, TAX)


def dataset():
    labels = [make_label(i, i == 0) for i in range(2)]
    samples = [Sample(f"key{i}", label_loader=lambda lab=lab: lab) for i, lab in enumerate(labels)]
    return PanopticDataset(samples, TAX, format="memory")


def test_taxonomy_from_config():
    assert TAX.ids == [1, 2, 3, 4, 5] and TAX.void_id == 0
    assert [c.name for c in TAX.things] == [
        "animal--bird",
        "human--person--individual",
        "object--vehicle--car",
    ]
    assert TAX[2].attributes["readable"] == "Road"


def test_write_read_round_trip_every_source(tmp_path):
    panokit.write(
        dataset(), tmp_path / "mvd", format="mapillary-vistas", version="v2.0", split="validation"
    )
    root = tmp_path / "mvd"
    assert sorted(p.name for p in (root / "validation" / "v2.0").iterdir()) == [
        "instances",
        "labels",
        "panoptic",
        "polygons",
    ]
    assert (
        json.loads((root / "config_v2.0.json").read_text())["labels"][-1]["name"]
        == "void--unlabeled"
    )
    ds = panokit.read(root)
    assert (
        ds.format == "mapillary-vistas"
        and ds.meta["source"] == "panoptic"
        and ds.keys() == ["key0", "key1"]
    )
    for source in ("panoptic", "instances"):
        back = panokit.read(root, format="mapillary-vistas", source=source)
        a, b = (d[0].load_label() for d in (dataset(), back))
        assert b.equals(a), source
        a, b = (d[1].load_label() for d in (dataset(), back))  # arbitrary segment ids
        assert b.same_partition(a) and (source == "instances" or b.equals(a)), source
    # the polygons give back the same segments (void pixels included) on these labels
    polygons = panokit.read(root, format="mapillary-vistas", source="polygons")
    for a, b in zip(dataset(), polygons, strict=True):
        la, lb = a.load_label(), b.load_label()
        assert lb.same_partition(la)
        np.testing.assert_array_equal(lb.semantic(), la.semantic())
    labels_only = panokit.read(root / "validation" / "v2.0" / "labels")
    assert labels_only.meta["source"] == "labels"
    for a, b in zip(dataset(), labels_only, strict=True):
        np.testing.assert_array_equal(b.load_label().semantic(), a.load_label().semantic())
    # raw encodings as the dataset documents them
    inst = np.asarray(Image.open(root / "validation/v2.0/instances/key0.png"))
    lab = Image.open(root / "validation/v2.0/labels/key0.png")
    assert lab.mode == "P" and lab.getpalette()[3 * 4 : 3 * 4 + 3] == [0, 0, 142]
    assert inst[8, 0] == 4 * 256 and inst[8, 6] == 4 * 256 + 1 and inst[0, 0] == 3 * 256
    assert np.asarray(lab)[8, 0] == 4
    doc = json.loads((root / "validation/v2.0/panoptic/panoptic_2020.json").read_text())
    assert doc["categories"][4] == {
        "id": 5,
        "name": "Car",
        "supercategory": "object--vehicle--car",
        "isthing": 1,
        "color": [0, 0, 142],
    }
    assert doc["annotations"][0]["image_id"] == "key0"


def _official(tmp_path):
    root = tmp_path / "mvd"
    base = root / "training" / "v1.2"
    for sub in ("panoptic", "instances", "labels"):
        (base / sub).mkdir(parents=True)
    labels_v12 = [
        {
            "name": "construction--flat--road",
            "readable": "Road",
            "color": [128, 64, 128],
            "instances": False,
            "evaluate": True,
        },
        {
            "name": "human--person",
            "readable": "Person",
            "color": [220, 20, 60],
            "instances": True,
            "evaluate": True,
        },
        {
            "name": "void--unlabeled",
            "readable": "Unlabeled",
            "color": [0, 0, 0],
            "instances": False,
            "evaluate": False,
        },
    ]
    (root / "config_v1.2.json").write_text(json.dumps({"labels": labels_v12}))
    instances = np.array([[0, 0, 256, 256], [0, 257, 257, 512]], np.uint16)
    Image.fromarray(instances).save(base / "instances" / "--abc.png")
    pan = np.array([[3, 3, 9, 9], [3, 10, 10, 0]], np.uint32)
    Image.fromarray(RGB24.encode(pan)).save(base / "panoptic" / "--abc.png")
    doc = {
        "images": [{"id": "--abc", "file_name": "--abc.jpg", "width": 4, "height": 2}],
        "annotations": [
            {
                "image_id": "--abc",
                "file_name": "--abc.png",
                "segments_info": [
                    {"id": 3, "category_id": 1, "iscrowd": 0, "area": 3, "bbox": [0, 0, 2, 2]},
                    {"id": 9, "category_id": 2, "iscrowd": 0, "area": 2, "bbox": [2, 0, 2, 1]},
                    {"id": 10, "category_id": 2, "iscrowd": 1, "area": 2, "bbox": [1, 1, 2, 1]},
                ],
            }
        ],
        "categories": [
            {"id": 1, "name": "Road", "supercategory": "construction--flat--road", "isthing": 0},
            {"id": 2, "name": "Person", "supercategory": "human--person", "isthing": 1},
        ],
    }
    (base / "panoptic" / "panoptic_2018.json").write_text(json.dumps(doc))
    return root


def test_reads_official_layout(tmp_path):
    root = _official(tmp_path)
    ds = panokit.read(root)
    assert ds.meta["version"] == "v1.2" and ds.meta["split"] == "training"
    label = ds["--abc"].load_label()
    assert {k: (v.category_id, v.iscrowd) for k, v in label.segments.items()} == {
        3: (1, False),
        9: (2, False),
        10: (2, True),
    }
    assert ds["--abc"].media == root / "training" / "images" / "--abc.jpg"
    with pytest.raises(
        MissingFileError,
        match=r"v1.2/polygons does not exist \(found \['panoptic', 'instances', 'labels'\]\)",
    ):
        panokit.read(root, source="polygons")
    inst = panokit.read(root, source="instances")[0].load_label()
    # label 0 road (stuff), label 1 person instances 0 and 1, label 2 unlabeled -> void
    assert inst.ids.tolist() == [[1, 1, 257, 257], [1, 258, 258, 0]]
    assert {k: v.category_id for k, v in inst.segments.items()} == {1: 1, 257: 2, 258: 2}


def test_version_mismatches_are_clear(tmp_path):
    root = _official(tmp_path)
    with pytest.raises(
        MissingFileError,
        match=r"Mapillary Vistas v2.0 needs config_v2.0.json .*found \['config_v1.2.json'\]",
    ):
        panokit.read(root, format="mapillary-vistas", version="v2.0")
    (root / "config_v2.0.json").write_text(json.dumps(CONFIG))
    with pytest.raises(
        MissingFileError,
        match=r"version mismatch: .*training/v2.0 does not exist \(found \['v1.2'\]\)",
    ):
        panokit.read(root, format="mapillary-vistas", version="v2.0", split="training")
    (root / "training" / "v2.0" / "panoptic").mkdir(parents=True)
    (root / "training" / "v2.0" / "panoptic" / "panoptic_2018.json").write_text("{}")
    with pytest.raises(
        FormatError, match=r"version mismatch: .*holds panoptic_2018.json but v2.0 uses"
    ):
        panokit.read(root, format="mapillary-vistas", version="v2.0", split="training")
    (root / "config_v1.2.json").write_text(json.dumps(CONFIG))
    with pytest.raises(FormatError) as err:
        panokit.read(root / "training" / "v1.2")
    assert str(err.value) == (
        f"{root / 'config_v1.2.json'}: version mismatch: the file is named v1.2 but holds v2.0 "
        "labels (human--person--individual); use config_v2.0.json with the v2.0 folders"
    )


def test_label_ids_beyond_config_are_named(tmp_path):
    root = _official(tmp_path)
    Image.fromarray(np.array([[2000]], np.uint16)).save(root / "training/v1.2/instances/--abc.png")
    ds = panokit.read(root, source="instances")
    with pytest.raises(
        FormatError,
        match=r"instances/--abc.png: label ids \[7\] but config_v1.2.json has only 3 labels",
    ):
        ds[0].load_label()


def _inside(points, h, w):
    """Pixel-centre even-odd containment (the reference rasterisation)."""
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    inside = np.zeros((h, w), bool)
    n = len(points)
    for i in range(n):
        (x1, y1), (x2, y2) = points[i], points[(i + 1) % n]
        crosses = (y1 > ys) != (y2 > ys)
        xint = x1 + (ys - y1) * (x2 - x1) / np.where(y2 == y1, 1, y2 - y1)
        inside ^= crosses & (xs < xint)
    return inside


def test_polygons_rasterise_like_pixel_centres_within_one_pixel(tmp_path):
    root = tmp_path / "mvd"
    (root / "validation/v2.0/polygons").mkdir(parents=True)
    (root / "config_v2.0.json").write_text(json.dumps(CONFIG))
    h, w = 60, 80
    road = [(0, 30), (80, 30), (80, 60), (0, 60)]
    car = [(10.3, 35.2), (40.7, 33.9), (44.1, 52.6), (12.8, 55.4)]
    person = [(50.5, 10.5), (70.2, 40.3), (48.9, 45.1)]
    objects = [
        {"id": 1, "label": "construction--flat--road", "polygon": road},
        {"id": 2, "label": "object--vehicle--car", "polygon": car},
        {"id": 3, "label": "human--person--individual", "polygon": person},
    ]
    path = root / "validation/v2.0/polygons/k.json"
    path.write_text(json.dumps({"width": w, "height": h, "objects": objects}))
    label = panokit.read(root)[0].load_label()
    assert {k: v.category_id for k, v in label.segments.items()} == {1: 2, 2: 5, 3: 3}
    reference = np.zeros((h, w), np.int64)
    for cat, poly in ((2, road), (5, car), (3, person)):
        reference[_inside(poly, h, w)] = cat
    semantic = label.semantic()
    differ = semantic != reference
    assert differ.mean() < 0.03  # stated tolerance: under 3 % of pixels, all on edges
    edge = np.zeros((h, w), bool)  # pixels within one pixel of a car or person edge
    for poly in (car, person):
        inside = _inside(poly, h, w)
        shifted = [np.roll(np.roll(inside, dy, 0), dx, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
        edge |= np.any(shifted, axis=0) & ~np.all(shifted, axis=0)
    assert not (differ & ~edge).any()


def test_polygon_outside_the_image_is_named(tmp_path):
    root = tmp_path / "mvd"
    (root / "validation/v2.0/polygons").mkdir(parents=True)
    (root / "config_v2.0.json").write_text(json.dumps(CONFIG))
    objects = [{"id": 7, "label": "object--vehicle--car", "polygon": [[1, 1], [95, 2], [3, 9]]}]
    path = root / "validation/v2.0/polygons/k.json"
    path.write_text(json.dumps({"width": 20, "height": 10, "objects": objects}))
    with pytest.raises(FormatError) as err:
        panokit.read(root)[0].load_label()
    assert (
        str(err.value)
        == f"{path}, object 7 (object--vehicle--car): vertex (95, 2) lies outside the 20x10 image"
    )


def test_bad_input_exits_1_and_writes_nothing(tmp_path, capsys):
    from panokit.cli.main import main

    root = tmp_path / "mvd"
    (root / "validation/v2.0/polygons").mkdir(parents=True)
    (root / "config_v2.0.json").write_text(json.dumps(CONFIG))
    objects = [{"id": 7, "label": "object--vehicle--car", "polygon": [[1, 1], [95, 2], [3, 9]]}]
    (root / "validation/v2.0/polygons/k.json").write_text(
        json.dumps({"width": 20, "height": 10, "objects": objects})
    )
    assert main(["convert", str(root), str(tmp_path / "out"), "--to", "coco-panoptic"]) == 1
    assert "vertex (95, 2) lies outside the 20x10 image" in " ".join(
        capsys.readouterr().err.split()
    )
    assert not (tmp_path / "out").exists()
    other = tmp_path / "v12"
    (other / "validation/v1.2/labels").mkdir(parents=True)
    (other / "config_v1.2.json").write_text(json.dumps(CONFIG))  # v2.0 labels in a v1.2 name
    assert main(["convert", str(other), str(tmp_path / "out"), "--to", "coco-panoptic"]) == 1
    assert "version mismatch: the file is named v1.2 but holds v2.0 labels" in " ".join(
        capsys.readouterr().err.split()
    )
    assert not (tmp_path / "out").exists()


def test_mapillary_vistas_protocol_is_coco_on_the_panoptic_pngs(tmp_path):
    from panokit.eval.protocols import get_protocol

    assert get_protocol("mapillary-vistas").crowd and get_protocol("mapillary-vistas").void_in_union
    panokit.write(dataset(), tmp_path / "gt", format="mapillary-vistas")
    pred_labels = []
    for sample in dataset():
        lab = sample.load_label()
        ids = lab.ids.copy()
        ids[:, :3] = 0  # damage the prediction a little
        segs = {k: v for k, v in lab.segments.items() if (ids == k).any()}
        pred_labels.append(PanopticImage(ids, segs, TAX))
    samples = [
        Sample(f"key{i}", label_loader=lambda lab=lab: lab) for i, lab in enumerate(pred_labels)
    ]
    panokit.write(PanopticDataset(samples, TAX), tmp_path / "pred", format="mapillary-vistas")
    gt, pred = mv.read_pair(tmp_path / "gt", tmp_path / "pred")
    ours = panokit.evaluate(gt, pred, protocol="mapillary-vistas")
    for name in ("gt", "pred"):
        panokit.write(
            panokit.read(tmp_path / name), tmp_path / f"{name}_coco", format="coco-panoptic"
        )
    coco = panokit.evaluate(
        panokit.read(tmp_path / "gt_coco"), panokit.read(tmp_path / "pred_coco"), protocol="coco"
    )
    assert ours.protocol == "mapillary-vistas"
    assert (ours.all.pq, ours.all.n, ours.all.tp, ours.all.fp) == (
        coco.all.pq,
        coco.all.n,
        coco.all.tp,
        coco.all.fp,
    )
    assert 0 < ours.all.pq < 1


def test_rgb_labels_png_is_refused(tmp_path):
    root = _official(tmp_path)
    (root / "training/v1.2/labels").mkdir(exist_ok=True)
    Image.fromarray(np.zeros((2, 4, 3), np.uint8)).save(root / "training/v1.2/labels/--abc.png")
    ds = panokit.read(root / "training/v1.2/labels")
    with pytest.raises(
        FormatError, match=r"labels/--abc.png: expected one label id per pixel .* shape \(2, 4, 3\)"
    ):
        ds[0].load_label()


def test_label_polygons_fill_holes_in_order_and_keep_instances():
    ids = np.zeros((9, 12), np.uint32)
    ids[:, :] = 2  # road around everything
    ids[2:7, 2:7] = 0  # a void hole in the road...
    ids[3:6, 3:6] = 5  # ...holding a car
    ids[1, 9:11] = 7  # a person in two parts (one instance)
    ids[4, 10] = 7
    ids[8, 0] = 9  # a lone-pixel car
    names = {0: mv.UNLABELED, 2: "construction--flat--road", 5: "object--vehicle--car"}
    names |= {7: "human--person--individual", 9: "object--vehicle--car"}
    objects = mv.label_polygons(ids, names)
    # largest first: the road, then the void hole, then the car inside it
    assert [o["label"] for o in objects[:3]] == [names[2], mv.UNLABELED, names[5]]
    assert objects[1]["polygon"] == [[6, 6], [2, 6], [2, 2], [6, 2]]
    assert objects[-1] == {"id": 9, "label": names[9], "polygon": [[0, 8]] * 3}
    assert sorted(o["id"] for o in objects if o["id"] == 7) == [7, 7]


def test_polygons_read_back_exactly(tmp_path):
    ids = np.full((9, 12), 2, np.uint32)
    ids[2:7, 2:7] = 0
    ids[3:6, 3:6] = 5
    ids[1, 9:11] = 7
    ids[4, 10] = 7
    ids[8, 0] = 9
    segs = {2: Segment(2), 5: Segment(5), 7: Segment(3), 9: Segment(5)}
    names = {0: mv.UNLABELED} | {k: TAX[v.category_id].name for k, v in segs.items()}
    path = tmp_path / "k.json"
    objects = mv.label_polygons(ids, names)
    path.write_text(json.dumps({"width": 12, "height": 9, "objects": objects}))
    back = mv.label_from_polygons(path, TAX)
    # void painted by the unlabeled object; the two-part person is one segment
    assert back.same_partition(PanopticImage(ids, segs, TAX))
    np.testing.assert_array_equal(back.semantic(), PanopticImage(ids, segs, TAX).semantic())
    with pytest.raises(FormatError, match=r"Vistas polygons exist in v2\.0 only, not v1\.2"):
        panokit.write(
            dataset(), tmp_path / "o", format="mapillary-vistas", version="v1.2", polygons=True
        )
    assert not (tmp_path / "o").exists()
