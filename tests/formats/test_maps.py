import json

import numpy as np
import pytest

import panokit
from panokit.cli.main import main
from panokit.core import Category, PanopticImage, Sample, Segment, Taxonomy
from panokit.dataset import PanopticDataset
from panokit.errors import FormatError, TaxonomyError
from panokit.formats import bdd100k, maps
from panokit.formats import mapillary_vistas as mv

BDD = bdd100k.taxonomy()

V12_NAMES = [
    "construction--flat--road",
    "marking--crosswalk-zebra",
    "construction--barrier--curb",
    "object--traffic-light",
    "object--traffic-sign--back",
    "human--person",
    "human--rider--bicyclist",
    "object--vehicle--car",
    "object--vehicle--caravan",
    "void--unlabeled",
]
V20_NAMES = [
    "construction--flat--road",
    "marking--discrete--stop-line",
    "marking-only--continuous--dashed",
    "object--traffic-light--pedestrians",
    "object--traffic-sign--direction-front",
    "object--traffic-sign--back",
    "human--person--individual",
    "human--rider--motorcyclist",
    "object--vehicle--on-rails",
    "object--support--pole",
    "void--unlabeled",
]


def vistas_tax(names, version):
    things = ("human--", "object--vehicle--", "object--traffic-light", "object--traffic-sign")
    labels = [{"name": n, "instances": n.startswith(things), "color": [1, 2, 3]} for n in names]
    return mv.taxonomy_from_config({"labels": labels}, version)


def test_builtin_bdd100k_map_onto_cityscapes_19():
    resolved = maps.resolve(maps.builtin_map("bdd100k->cityscapes-19"), BDD)
    assert len(resolved.target) == 19 and resolved.target.name == "cityscapes-panoptic"
    assert dict(resolved.table) == {
        7: 7,
        8: 8,
        10: 11,
        15: 12,
        11: 13,
        20: 17,
        25: 19,
        26: 20,
        29: 21,
        28: 22,
        30: 23,
        31: 24,
        32: 25,
        35: 26,
        40: 27,
        34: 28,
        39: 31,
        37: 32,
        33: 33,
    }
    assert len(resolved.unmapped) == 21 and 21 in resolved.unmapped  # polegroup
    assert resolved.label_map().apply(np.array([7, 35, 21, 36])).tolist() == [7, 26, 0, 0]


@pytest.mark.parametrize(
    ("names", "version", "expected"),
    [
        (
            V12_NAMES,
            "v1.2",
            ["road", "road", "sidewalk", "traffic light", None, "person", "rider", "car", None],
        ),
        (
            V20_NAMES,
            "v2.0",
            [
                "road",
                "road",
                "road",
                "traffic light",
                "traffic sign",
                None,
                "person",
                "rider",
                "train",
                "pole",
            ],
        ),
    ],
)
def test_builtin_vistas_maps_cover_both_versions(names, version, expected):
    tax = vistas_tax(names, version)
    resolved = maps.resolve(maps.builtin_map(f"mapillary-vistas-{version}->cityscapes-19"), tax)
    got = [
        None if resolved.table.get(c.id) is None else resolved.target[resolved.table[c.id]].name
        for c in tax
    ]
    assert got == expected


def bdd_label():
    ids = np.array([[7, 7, 8, 21], [31, 31, 40, 21], [32, 0, 40, 8]], np.uint32)
    segs = {
        7: Segment(7),
        8: Segment(8),
        21: Segment(21),
        31: Segment(31),
        32: Segment(31),
        40: Segment(35),
    }
    return PanopticImage(ids, segs, BDD)


def bdd_dataset():
    return PanopticDataset([Sample("a", label_loader=bdd_label)], BDD, format="bdd100k")


def test_apply_map_moves_pixels_and_reports_per_rule():
    mapped, report = maps.apply_map(bdd_dataset(), maps.builtin_map("bdd100k->cityscapes-19"))
    label = mapped[0].load_label()
    assert label.ids.tolist() == [[7, 7, 8, 0], [31, 31, 40, 0], [32, 0, 40, 8]]
    assert {k: v.category_id for k, v in label.segments.items()} == {
        7: 7,
        8: 8,
        31: 24,
        32: 24,
        40: 26,
    }
    assert label.taxonomy is mapped.taxonomy and len(mapped.taxonomy) == 19
    label.validate()
    rows = dict(report.rows())
    assert rows["road -> road (7)"] == 2 and rows["sidewalk -> sidewalk (8)"] == 2
    assert rows["person -> person (24)"] == 3 and rows["car -> car (26)"] == 2
    assert rows["polegroup (21) unmapped -> void"] == 2


def test_stuff_sources_merge_into_one_segment():
    tax = vistas_tax(V12_NAMES, "v1.2")
    ids = np.array([[1, 1, 2], [3, 2, 2]], np.uint32)  # road, crosswalk, curb
    label = PanopticImage(ids, {1: Segment(1), 2: Segment(2), 3: Segment(3)}, tax)
    resolved = maps.resolve(maps.builtin_map("mapillary-vistas->cityscapes-19"), tax)
    out = maps.map_label(label, resolved)
    assert out.ids.tolist() == [[1, 1, 1], [3, 1, 1]]
    assert {k: v.category_id for k, v in out.segments.items()} == {1: 7, 3: 8}


def test_map_files_yaml_and_json(tmp_path):
    (tmp_path / "m.yaml").write_text(
        "name: coarse\n"
        "unmapped: error\n"
        "rules:\n"
        "  road: road\n"
        "  sidewalk: road\n"
        "  'traffic sign*': traffic sign\n"
        "  person: person\n"
        "  rider: person\n"
        "  car: car\n"
        "  truck: car\n"
        "  '*': void\n"
    )
    spec = maps.load_map(tmp_path / "m.yaml")
    assert spec.name == "coarse" and spec.unmapped == "error" and spec.target is None
    resolved = maps.resolve(spec, BDD)
    assert [c.name for c in resolved.target] == ["road", "traffic sign", "person", "car"]
    assert resolved.table[8] == 7 and resolved.table[32] == 31 and resolved.table[27] == 26
    assert resolved.table[1] is None and resolved.unmapped == ()
    doc = {
        "target": [{"id": 1, "name": "vehicle", "isthing": 1}],
        "rules": [["car", "vehicle"], [40, 1]],
    }
    (tmp_path / "m.json").write_text(json.dumps(doc))
    resolved = maps.resolve(maps.find_map(str(tmp_path / "m.json")), BDD)
    assert dict(resolved.table) == {35: 1, 40: 1}
    with pytest.raises(TaxonomyError, match="unknown target category 'bus'"):
        target = [{"id": 1, "name": "car"}]
        maps.resolve(maps.spec_from_dict({"rules": {"car": "bus"}, "target": target}, "x"), BDD)
    with pytest.raises(FormatError, match="needs 'rules'"):
        maps.spec_from_dict({"name": "x"}, "x.yaml")


def test_unmapped_error_lists_the_categories():
    spec = maps.spec_from_dict({"target": "cityscapes-19", "rules": {"road": "road"}}, "x")
    with pytest.raises(TaxonomyError) as err:
        maps.apply_map(bdd_dataset(), spec, unmapped="error")
    assert str(err.value).startswith(
        "label map (unnamed): 39 categories of bdd100k have no rule: dynamic (1), ego vehicle (2)"
    )


def _bitmasks(tmp_path):
    folder = tmp_path / "masks"
    folder.mkdir()
    label = bdd_label()
    rgba = bdd100k.encode_bitmask(label)
    from PIL import Image

    Image.fromarray(rgba).save(folder / "a.png")
    return folder


def test_cli_convert_with_builtin_map_reports_pixels(tmp_path, capsys):
    src = _bitmasks(tmp_path)
    code = main(
        [
            "convert",
            str(src),
            str(tmp_path / "coco"),
            "--to",
            "coco-panoptic",
            "--map",
            "cityscapes-19",
        ]
    )
    assert code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "person -> person (24) │ 3" in out and "polegroup (21) unmapped -> void │ 2" in out
    doc = json.loads((tmp_path / "coco" / "panoptic.json").read_text())
    assert len(doc["categories"]) == 19
    assert sorted(s["category_id"] for s in doc["annotations"][0]["segments_info"]) == [
        7,
        8,
        24,
        24,
        26,
    ]
    back = panokit.read(tmp_path / "coco")[0].load_label()
    assert back.ids.tolist() == [[7, 7, 8, 0], [31, 31, 40, 0], [32, 0, 40, 8]]


def test_cli_convert_unmapped_error_exits_1_and_writes_nothing(tmp_path, capsys):
    src = _bitmasks(tmp_path)
    (tmp_path / "m.yaml").write_text("target: cityscapes-19\nrules:\n  road: road\n")
    code = main(
        [
            "convert",
            str(src),
            str(tmp_path / "out"),
            "--to",
            "coco-panoptic",
            "--map",
            str(tmp_path / "m.yaml"),
            "--unmapped",
            "error",
        ]
    )
    assert code == 1
    assert "39 categories of bdd100k have no rule" in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "out").exists()


def test_any_to_any_coco_to_bdd100k_and_vistas(tmp_path):
    coco_tax = Taxonomy([Category(1, "person", True), Category(2, "street", False)], name="mine")
    lab = PanopticImage(
        np.array([[1, 2], [2, 2]], np.uint32), {1: Segment(1), 2: Segment(2)}, coco_tax
    )
    panokit.write(
        PanopticDataset([Sample("x", label_loader=lambda: lab)], coco_tax),
        tmp_path / "coco",
        format="coco-panoptic",
    )
    (tmp_path / "to_bdd.yaml").write_text(
        "target: bdd100k\nrules:\n  person: person\n  street: road\n"
    )
    assert (
        main(
            [
                "convert",
                str(tmp_path / "coco"),
                str(tmp_path / "bdd"),
                "--to",
                "bdd100k",
                "--map",
                str(tmp_path / "to_bdd.yaml"),
            ]
        )
        == 0
    )
    bdd = panokit.read(tmp_path / "bdd")[0].load_label()
    assert {k: v.category_id for k, v in bdd.segments.items()} == {1: 31, 2: 7}
    assert (
        main(["convert", str(tmp_path / "bdd"), str(tmp_path / "mvd"), "--to", "mapillary-vistas"])
        == 0
    )
    vistas = panokit.read(tmp_path / "mvd")
    back = vistas[0].load_label()
    assert back.same_partition(bdd)
    assert [vistas.taxonomy[s.category_id].name for s in back.segments.values()] == [
        "person",
        "road",
    ] or sorted(vistas.taxonomy[s.category_id].name for s in back.segments.values()) == [
        "person",
        "road",
    ]


def test_labelmap_to_dict_files_and_cityscapes_builtin(tmp_path):
    from panokit.core import LabelMap
    from panokit.formats import cityscapes

    (tmp_path / "lm.json").write_text(
        json.dumps(LabelMap({35: 35, 40: 35}, default=None, name="cars").to_dict())
    )
    spec = maps.load_map(tmp_path / "lm.json")
    assert (spec.name, spec.unmapped) == ("cars", "error")
    resolved = maps.resolve(spec, BDD)
    assert dict(resolved.table) == {35: 35, 40: 35} and [c.name for c in resolved.target] == ["car"]
    cs = cityscapes.taxonomy()
    resolved = maps.resolve(maps.find_map("cityscapes-19", "cityscapes"), cs)
    assert sorted(resolved.table) == [c.id for c in cs.evaluated]
    assert all(k == v for k, v in resolved.table.items())
    assert sorted(resolved.unmapped) == [-1, 1, 2, 3, 4, 5, 6, 9, 10, 14, 15, 16, 18, 29, 30]
    with pytest.raises(TaxonomyError, match="neither a map file nor a built-in map"):
        maps.find_map("kitti-19", "bdd100k")


def test_bdd100k_to_vistas_and_back_is_exact(tmp_path):
    panokit.write(bdd_dataset(), tmp_path / "mvd", format="mapillary-vistas")
    vistas = panokit.read(tmp_path / "mvd")
    assert [c.name for c in vistas.taxonomy] == [c.name for c in BDD]
    panokit.write(vistas, tmp_path / "bdd", format="bdd100k")
    back = panokit.read(tmp_path / "bdd")[0].load_label()
    assert back.equals(bdd_label())


def test_rules_that_match_no_source_category_are_an_error():
    spec = maps.spec_from_dict({"target": "cityscapes-19", "rules": {"roadway": "road"}}, "x")
    with pytest.raises(TaxonomyError) as err:
        maps.resolve(spec, BDD)
    assert str(err.value) == (
        "label map (unnamed): none of its 1 rules matches a category of bdd100k "
        "(40 categories); check the source names or ids"
    )
    # a COCO JSON without 'categories' gives an empty taxonomy: every pixel would go void
    empty = Taxonomy([], name="(no categories)")
    with pytest.raises(TaxonomyError, match="the source dataset lists no categories"):
        spec = maps.spec_from_dict({"target": "bdd100k", "rules": {"road": "road"}}, "x")
        maps.resolve(spec, empty)


def test_label_categories_outside_the_source_taxonomy_are_reported_or_fail():
    spec = maps.spec_from_dict({"target": "cityscapes-19", "rules": {"road": "road"}}, "x")
    ids = np.array([[1, 1, 2, 2, 2]], np.uint32)
    label = PanopticImage(ids, {1: Segment(7), 2: Segment(99)}, BDD)
    ds = PanopticDataset([Sample("a", label_loader=lambda: label)], BDD, format="bdd100k")
    mapped, report = maps.apply_map(ds, spec)
    assert mapped[0].load_label().ids.tolist() == [[1, 1, 0, 0, 0]]
    rows = dict(report.rows())
    assert rows["road -> road (7)"] == 2
    assert rows["category 99 (not in the source taxonomy) -> void"] == 3
    spec_all = maps.spec_from_dict(
        {"target": "cityscapes-19", "rules": {"*": "void", "road": "road"}}, "x"
    )
    strict, _ = maps.apply_map(ds, spec_all, unmapped="error")
    with pytest.raises(TaxonomyError, match=r"categories \[99\] of a label are not in bdd100k"):
        strict[0].load_label()
