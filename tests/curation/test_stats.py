import json

import numpy as np
import pytest

from panokit.core import LabelMap, PanopticImage, Segment
from panokit.curation.stats import (
    DatasetStats,
    EmptyDatasetError,
    compute_stats,
    jensen_shannon,
    segment_areas,
    size_bins,
)
from panokit.errors import TaxonomyError
from tests.curation._data import BIG, TAX, label_a, label_b, memory_dataset


@pytest.mark.parametrize("car_id", [7, BIG, 2**33])
def test_segment_areas_is_exact_on_every_counting_path(car_id):
    ids = label_a(car_id=7).ids.astype(np.int64)
    ids[ids == 7] = car_id
    seg_ids = np.array(sorted([3, 5, 9, car_id]), dtype=np.int64)
    areas, void = segment_areas(ids, seg_ids)
    expected = {3: 4, 5: 39, 9: 46, car_id: 10}
    assert void == 1
    assert areas.tolist() == [expected[s] for s in seg_ids.tolist()]


def test_segment_areas_leaves_unlisted_ids_out():
    ids = np.array([[0, 5, 5, 123456], [99, 5, 123456, 123456]], dtype=np.uint32)
    areas, void = segment_areas(ids, np.array([5, 123456]))
    assert (areas.tolist(), void) == ([3, 3], 1)  # the 99 is counted nowhere
    small = np.array([0, 5, 5, 7, 8])
    areas, void = segment_areas(small, np.array([5, 8]))
    assert (areas.tolist(), void) == ([2, 1], 1)


def test_one_label_shares_sizes_and_presence():
    stats = DatasetStats(TAX)
    stats.update(label_a())
    assert stats.total_elements == 100 and stats.void_elements == 1
    assert stats.elements.tolist() == [4, 10, 46, 39]
    np.testing.assert_allclose(stats.shares(), [4 / 99, 10 / 99, 46 / 99, 39 / 99])
    assert stats.sample_counts.tolist() == [1, 1, 1, 1]
    assert stats.segments.tolist() == [1, 1, 1, 1]
    assert stats.unit == "pixels"
    rows = {r.name: r for r in stats.categories()}
    assert rows["car"].mean_size == 10.0 and rows["car"].small == 1
    assert rows["person"].isthing and not rows["road"].isthing
    assert stats.group(True) == {
        "categories": 2,
        "present": 2,
        "elements": 14,
        "share": 14 / 99,
        "segments": 2,
        "crowd_segments": 0,
    }
    assert stats.group(False)["elements"] == 85


def test_two_labels_frequency_instances_crowd_and_cooccurrence():
    stats = compute_stats(memory_dataset([label_a(), label_b()]))
    assert stats.samples == 2 and stats.labeled == 2
    assert stats.elements.tolist() == [14, 20, 126, 39]
    assert stats.sample_counts.tolist() == [2, 2, 2, 1]
    np.testing.assert_allclose(stats.sample_frequency(), [1, 1, 1, 0.5])
    assert stats.segments.tolist() == [3, 1, 2, 1]  # the crowd is not an instance
    assert stats.crowd_segments.tolist() == [0, 1, 0, 0]
    assert stats.crowd_elements.tolist() == [0, 10, 0, 0]
    assert stats.cooccurrence.tolist() == [
        [2, 2, 2, 1],
        [2, 2, 2, 1],
        [2, 2, 2, 1],
        [1, 1, 1, 1],
    ]
    # person sizes 4, 6, 4: bins floor(4 log2 a) = 8, 10, 8
    assert np.flatnonzero(stats.size_hist[0]).tolist() == [8, 10]
    assert stats.size_hist[0, 8] == 2 and stats.size_hist[0, 10] == 1
    assert stats.median_sizes()[0] == pytest.approx(2 ** (8.5 / 4))
    doc = json.loads(json.dumps(stats.to_dict()))
    assert doc["things"]["segments"] == 4 and doc["void_share"] == 1 / 200
    assert doc["size_histogram"]["counts"]["1"][8] == 2


def test_accumulators_merge_to_the_whole():
    labels = [label_a(), label_b(), label_a(car_id=7)]
    whole = compute_stats(memory_dataset(labels))
    first = compute_stats(memory_dataset(labels[:1]))
    rest = compute_stats(memory_dataset(labels[1:]))
    merged = first + rest
    assert merged.to_dict() == whole.to_dict()
    first += rest
    assert first.to_dict() == whole.to_dict()


def test_ids_without_segment_and_unlabeled_samples_are_counted():
    lab = label_a()
    ids = lab.ids.copy()
    ids[0, 1] = 42
    stats = compute_stats(memory_dataset([lab.with_segments(ids, lab.segments), None]))
    assert stats.unlisted_elements == 1 and stats.void_elements == 1
    assert stats.samples == 2 and stats.labeled == 1
    assert stats.to_dict()["unlabeled_samples"] == 1


def test_label_map_merges_categories_and_sends_to_void():
    # car -> person, sky -> void: person 14 pixels in 2 instances, sky pixels void
    lmap = LabelMap({1: 1, 2: 1, 10: 10, 11: 0}, default=None)
    stats = DatasetStats(TAX, label_map=lmap)
    stats.update(label_a())
    assert stats.elements.tolist() == [14, 0, 46, 0]
    assert stats.void_elements == 40
    assert stats.segments.tolist() == [2, 0, 1, 0]


def test_label_map_merging_two_stuff_categories_counts_one_region():
    lmap = LabelMap({1: 1, 2: 2, 10: 10, 11: 10})
    stats = DatasetStats(TAX, label_map=lmap)
    stats.update(label_a())
    assert stats.elements[2] == 85 and stats.segments[2] == 1
    assert stats.size_hist[2, size_bins(np.array([85]))[0]] == 1


def test_unknown_category_names_the_sample_and_segment():
    lab = PanopticImage(np.ones((2, 2), np.uint32), {1: Segment(99)}, TAX)
    with pytest.raises(
        TaxonomyError, match=r"sample 's0', segment 1: category 99 is not in taxonomy tiny"
    ):
        compute_stats(memory_dataset([lab]))


def test_empty_dataset_and_dataset_without_labels_are_clear_errors():
    with pytest.raises(EmptyDatasetError, match=r"dataset \(in memory\) \(memory\) has no samples"):
        compute_stats(memory_dataset([]))
    with pytest.raises(EmptyDatasetError, match="has 2 samples but none has a label"):
        compute_stats(memory_dataset([None, None]))


def test_point_clouds_count_points():
    from tests.curation._data import cloud

    pts = np.zeros((5, 3))
    lab = cloud(pts, np.array([0, 1, 1, 2, 2]), {1: Segment(10), 2: Segment(2)})
    stats = compute_stats(memory_dataset([lab], modality="pointcloud"))
    assert stats.unit == "points" and stats.elements.tolist() == [0, 2, 2, 0]


def test_size_bins():
    assert size_bins(np.array([1, 2, 3, 1024, 9216])).tolist() == [0, 4, 6, 40, 52]


def test_jensen_shannon_known_values():
    assert jensen_shannon([1, 0], [0, 1]) == 1.0
    assert jensen_shannon([3, 1], [6, 2]) == 0.0
    expected = 0.5 * (0.5 * np.log2(2 / 3) + 0.5) + 0.5 * np.log2(4 / 3)
    assert jensen_shannon([0.5, 0.5], [1, 0]) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(0.31127812445913283)
    from scipy.spatial.distance import jensenshannon

    p, q = [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]
    assert jensen_shannon(p, q) == pytest.approx(jensenshannon(p, q, base=2) ** 2, abs=1e-12)
    with pytest.raises(ValueError, match="positive sum"):
        jensen_shannon([0, 0], [1, 0])


def test_stats_of_written_coco_files_equal_the_in_memory_labels(tmp_path):
    import panokit

    labels = [label_a(), label_b(), label_a(car_id=7)]
    panokit.write(memory_dataset(labels), tmp_path / "coco", format="coco-panoptic")
    ds = panokit.read(tmp_path / "coco")
    from_files = compute_stats(ds).to_dict()
    assert from_files == compute_stats(ds.map_labels(lambda lab: lab)).to_dict()
    in_memory = compute_stats(memory_dataset(labels)).to_dict()
    assert in_memory.pop("taxonomy") == "tiny" and from_files.pop("taxonomy") == "panoptic"
    assert from_files == in_memory


def test_workers_give_the_same_statistics():
    labels = [label_a(), label_b(), None, label_a(car_id=7)] * 3
    ds = memory_dataset(labels)
    done = []
    parallel = compute_stats(ds, workers=2, progress=done.append)
    assert parallel.to_dict() == compute_stats(ds).to_dict()
    assert sum(done) == 12 and parallel.samples == 12 and parallel.labeled == 9


def test_segment_areas_when_two_listed_ids_share_a_hash_bin():
    # 112044 and 162593 fall into one bin of the multiplicative hash: the exact search runs
    ids = np.array([112044, 112044, 162593, 0, 162593, 162593], dtype=np.uint32)
    areas, void = segment_areas(ids, np.array([112044, 162593]))
    assert (areas.tolist(), void) == ([2, 3], 1)
    hashed = (np.array([112044, 162593], np.uint32) * np.uint32(0x9E3779B1)) >> np.uint32(16)
    assert hashed[0] == hashed[1]
