import json

import numpy as np
import pytest

from panokit.core import Category, PanopticImage, Segment, Taxonomy
from panokit.curation.shift import (
    compare,
    domain_shift,
    feature_jsd,
    read_label_map,
    same_categories,
)
from panokit.curation.stats import DatasetStats
from panokit.errors import FormatError, TaxonomyError
from tests.curation._data import TAX, label_a, label_b, memory_dataset

OTHER = Taxonomy(
    [
        Category(7, "pedestrian", True, (1, 2, 3)),
        Category(8, "car", True, (0, 0, 142)),
        Category(20, "road", False),
    ],
    name="other",
)


def other_label():
    ids = np.full((10, 10), 1, np.uint32)
    ids[0, :5] = 2
    ids[1, :5] = 3
    return PanopticImage(ids, {1: Segment(20), 2: Segment(7), 3: Segment(8)}, OTHER)


def stats_of(elements, sizes=None):
    s = DatasetStats(TAX)
    s.elements[:] = elements
    s.labeled = 1
    if sizes:
        for i, row in sizes.items():
            s.size_hist[i, : len(row)] = row
            s.segments[i] = sum(row)
    return s


def test_hand_made_distributions_give_the_known_report():
    # person sizes in octave 0 (bin 0) for A, octave 1 (bin 4) for B
    a = stats_of([50, 50, 0, 0], {0: [1, 0, 0, 0, 0], 1: [2, 2]})
    b = stats_of([100, 0, 0, 100], {0: [0, 0, 0, 0, 1]})
    rep = compare(a, b)
    expected_jsd = 0.5 * (0.5 * np.log2(2 / 3) + 0.5) + 0.5 * np.log2(4 / 3)
    # A = [.5, .5, 0, 0], B = [.5, 0, 0, .5]: M = [.5, .25, 0, .25]
    assert rep.category_jsd == pytest.approx(0.5)
    assert rep.missing_in_a == ["sky"] and rep.missing_in_b == ["car"]
    assert rep.share_ratio == {"person": 1.0}
    assert rep.size_jsd == {"person": 1.0}
    assert [(i.kind, i.name, i.score) for i in rep.ranked] == [
        ("missing", "car", 1.0),
        ("missing", "sky", 1.0),
        ("size", "person", 1.0),
        ("share", "person", 0.0),
    ]
    b2 = stats_of([100, 0, 0, 0])
    assert compare(stats_of([50, 50, 0, 0]), b2).category_jsd == pytest.approx(expected_jsd)


def test_share_score_is_one_minus_the_ratio():
    rep = compare(stats_of([25, 75, 0, 0]), stats_of([50, 50, 0, 0]))
    scores = {i.name: i.score for i in rep.ranked}
    assert scores["person"] == pytest.approx(0.5)
    assert scores["car"] == pytest.approx(1 / 3)
    assert rep.share_ratio["person"] == pytest.approx(2.0)


def test_size_shift_compares_octaves():
    from panokit.curation.shift import octaves

    row = np.zeros(128, np.int64)
    row[[0, 3, 4, 127]] = [1, 2, 5, 7]
    assert octaves(row)[:2].tolist() == [3, 5] and octaves(row)[31] == 7 and len(octaves(row)) == 32
    a = stats_of([10, 0, 0, 0], {0: [1, 0, 0, 1]})
    b = stats_of([10, 0, 0, 0], {0: [0, 2]})
    assert compare(a, b).size_jsd == {"person": 0.0}


def test_feature_jsd():
    assert feature_jsd(np.array([0.0, 0.0]), np.array([1.0, 1.0])) == 1.0
    assert feature_jsd(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert feature_jsd(np.array([3.0]), np.array([3.0])) == 0.0


def test_mismatched_taxonomies_without_a_map_are_a_clear_error():
    assert not same_categories(TAX, OTHER)
    with pytest.raises(TaxonomyError) as err:
        domain_shift(memory_dataset([label_a()]), memory_dataset([other_label()], taxonomy=OTHER))
    message = str(err.value)
    assert message.startswith(
        "the two datasets use different taxonomies and no label map was given"
    )
    assert "A has 4 categories (tiny), B has 3 (other)" in message
    assert "only in B: 7 pedestrian, 8 car, 20 road" in message
    assert message.endswith("pass a map of B's categories onto A's (--map FILE)")


def test_label_map_file_by_names_and_ids(tmp_path):
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"mapping": {"pedestrian": "person", "8": 2, "road": 10}}))
    lmap = read_label_map(path, OTHER, TAX)
    assert lmap.mapping == {7: 1, 8: 2, 20: 10} and lmap.default == 0
    yaml_path = tmp_path / "map.yaml"
    yaml_path.write_text("mapping:\n  pedestrian: persn\n")
    with pytest.raises(
        FormatError, match="target category: unknown category name 'persn'; did you mean 'person'"
    ):
        read_label_map(yaml_path, OTHER, TAX)
    rep = domain_shift(
        memory_dataset([label_a()]),
        memory_dataset([other_label()], taxonomy=OTHER),
        label_map=lmap,
    )
    # B mapped: person 5, car 5, road 90, sky 0
    np.testing.assert_allclose(rep.stats_b.shares(), [0.05, 0.05, 0.90, 0.0])
    assert rep.missing_in_b == ["sky"] and rep.missing_in_a == []


def test_domain_shift_compares_image_statistics():
    dark = np.zeros((8, 8, 3), np.uint8)
    light = np.full((8, 8, 3), 200, np.uint8)
    a = memory_dataset([label_a(), label_b()], media=[dark, dark])
    b = memory_dataset([label_a(), label_b()], media=[light, light])
    rep = domain_shift(a, b)
    assert rep.category_jsd == 0.0
    assert rep.image_jsd["brightness"] == 1.0
    assert rep.image_means["brightness"] == pytest.approx((0.0, 200 / 255))
    assert rep.image_jsd["aspect_ratio"] == 0.0
    assert rep.ranked[0].kind == "image"
    no_media = domain_shift(a, b, media=False)
    assert no_media.image_jsd == {}


def test_convert_style_map_files_work_for_shift(tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text("rules:\n  pedestrian: person\n  '8': car\n  road: road\n")
    lmap = read_label_map(path, OTHER, TAX)
    assert lmap.mapping == {7: 1, 8: 2, 20: 10} and lmap.default == 0
    path.write_text("target: cityscapes-19\nrules:\n  pedestrian: person\n")
    with pytest.raises(TaxonomyError, match="the map's target taxonomy is cityscapes-panoptic"):
        read_label_map(path, OTHER, TAX)
