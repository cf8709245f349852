import numpy as np
import pytest

from panokit.core import Segment
from panokit.curation.dedup import (
    close_pairs,
    dhash,
    find_duplicates,
    group_pairs,
    hamming,
    phash,
    scan_digest,
)
from panokit.errors import PanokitError
from tests.curation._data import cloud, label_a, label_b, memory_dataset


def blocky(seed, size=128):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    return np.kron(small, np.ones((size // 8, size // 8, 1), np.uint8))


def test_dhash_of_gradients():
    ramp = np.tile(np.arange(0, 250, 25, dtype=np.uint8), (10, 1))
    assert dhash(ramp) == 2**64 - 1
    assert dhash(ramp[:, ::-1]) == 0


def test_phash_is_stable_under_small_changes_and_tells_images_apart():
    a = blocky(1)
    brighter = np.clip(a.astype(int) + 12, 0, 255).astype(np.uint8)
    noisy = np.clip(a + np.random.default_rng(0).integers(-8, 9, a.shape), 0, 255).astype(np.uint8)
    assert hamming(phash(a), phash(brighter)) <= 2
    assert hamming(phash(a), phash(noisy)) <= 4
    assert hamming(phash(a), phash(blocky(2))) > 16


def test_close_pairs_and_groups_are_exact():
    hashes = [0b0, 0b111, 0b1, 0xFF00, 0xFF03]
    assert close_pairs(hashes, 2) == [(0, 2), (1, 2), (3, 4)]
    assert close_pairs(hashes, 0) == []
    assert group_pairs(5, close_pairs(hashes, 2)) == [[0, 1, 2], [3, 4]]
    assert group_pairs(4, [(3, 1)]) == [[1, 3]]
    with pytest.raises(PanokitError, match=r"the Hamming threshold must be in 0\.\.63, got 64"):
        close_pairs(hashes, 64)


def test_close_pairs_agrees_with_brute_force():
    rng = np.random.default_rng(7)
    base = rng.integers(0, 2**63, 40, dtype=np.int64).tolist()
    hashes = base + [
        h ^ (1 << int(rng.integers(0, 64))) ^ (1 << int(rng.integers(0, 64))) for h in base[:20]
    ]
    brute = [
        (i, j)
        for i in range(len(hashes))
        for j in range(i + 1, len(hashes))
        if hamming(hashes[i], hashes[j]) <= 3
    ]
    assert close_pairs(hashes, 3) == brute


def test_find_duplicates_groups_images_by_key():
    a, b, c = blocky(1), blocky(2), blocky(3)
    a2 = np.clip(a.astype(int) + 10, 0, 255).astype(np.uint8)
    ds = memory_dataset([label_a()] * 5, media=[a, b, a2, c, b.copy()])
    report = find_duplicates(ds, threshold=6)
    assert report.groups == [["s0", "s2"], ["s1", "s4"]]
    assert report.duplicates == 2
    assert set(report.sources.values()) == {"image"}
    assert report.group_of() == {"s0": 0, "s2": 0, "s1": 1, "s4": 1}


def test_labels_without_media_are_hashed_from_their_picture():
    ds = memory_dataset([label_a(), label_b(), label_a(car_id=7)])
    report = find_duplicates(ds, method="dhash", threshold=0)
    assert report.groups == [["s0", "s2"]]
    assert report.sources == {"s0": "label", "s1": "label", "s2": "label"}


def test_repeated_scans_are_found_whatever_the_point_order():
    rng = np.random.default_rng(0)
    pts = rng.uniform(-20, 20, (50, 3))
    ids = np.ones(50, np.uint32)
    segs = {1: Segment(10)}
    perm = rng.permutation(50)
    same = cloud(pts[perm], ids, segs)
    other = cloud(pts + 0.5, ids, segs)
    assert scan_digest(cloud(pts, ids, segs)) == scan_digest(same)
    ds = memory_dataset([cloud(pts, ids, segs), other, same], modality="pointcloud")
    report = find_duplicates(ds)
    assert report.groups == [["s0", "s2"]]
    assert report.sources["s1"] == "scan"


def test_hash_groups_collapse_exact_copies():
    from panokit.curation.dedup import hash_groups

    hashes = [5, 0xFF00, 5, 4, 0xFF00, 1 << 40] + [7] * 3000
    groups = hash_groups(hashes, 1)
    assert groups[0][:6] == [0, 2, 3, 6, 7, 8]  # 5 differs from 4 and from 7 in one bit
    assert len(groups[0]) == 3 + 3000
    assert groups[1] == [1, 4]


def test_star_linkage_does_not_chain():
    from panokit.curation.dedup import hash_groups, star_groups

    # 0 ~ 1 ~ 2 ~ 3 one bit apart each: 0 and 3 differ in 3 bits
    chain = [0b0000, 0b0001, 0b0011, 0b0111, 0b0000]
    assert hash_groups(chain, 1, linkage="single") == [[0, 1, 2, 3, 4]]
    assert hash_groups(chain, 1, linkage="star") == [[0, 1, 4], [2, 3]]
    assert star_groups(4, [(0, 1), (1, 2), (2, 3)]) == [[0, 1], [2, 3]]
    assert hash_groups([9, 9, 1 << 30], 0, linkage="star") == [[0, 1]]
    with pytest.raises(PanokitError, match="unknown linkage 'x'"):
        hash_groups(chain, 1, linkage="x")


def test_find_duplicates_star_by_default_single_for_splits():
    from panokit.curation import dedup

    hashes = {"s0": 0b0000, "s1": 0b0001, "s2": 0b0011}
    ds = memory_dataset([label_a(), label_a(), label_a()])
    original = dedup._sample_hash
    try:
        dedup._sample_hash = lambda s, m, p: ("image", hashes[s.key])  # type: ignore[assignment]
        assert find_duplicates(ds, threshold=1).groups == [["s0", "s1"]]
        single = find_duplicates(ds, threshold=1, linkage="single")
        assert single.groups == [["s0", "s1", "s2"]] and single.to_dict()["linkage"] == "single"
    finally:
        dedup._sample_hash = original
