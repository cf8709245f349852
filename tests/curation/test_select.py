import numpy as np
import pytest

from panokit.curation.features import FeatureTable, load_features
from panokit.curation.select import (
    SelectionError,
    class_balanced,
    coverage_radius,
    k_center_greedy,
    random_selection,
    select,
)
from panokit.errors import FormatError
from tests.curation._data import label_a, memory_dataset

LINE = [[0.0], [1.0], [2.0], [10.0], [11.0]]


def test_k_center_pick_order_on_a_line():
    result = k_center_greedy(LINE, 4)
    # first: nearest the mean 4.8 -> 2; then farthest 11; then 0; then a tie 1 / 10 -> 1
    assert result.indices == [2, 4, 0, 1]
    assert result.radius_before == float("inf")
    assert result.radius_after == pytest.approx(1.0)
    assert k_center_greedy(LINE, 3).radius_after == pytest.approx(1.0)
    assert k_center_greedy(LINE, 2).radius_after == pytest.approx(2.0)


def test_k_center_continues_from_initial_centres():
    result = k_center_greedy(LINE, 2, initial=[0])
    assert result.indices == [4, 2]
    assert result.radius_before == pytest.approx(11.0)
    assert result.radius_after == pytest.approx(1.0)


def test_coverage_radius_matches_brute_force():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 5))
    centres = [3, 50, 120, 299]
    d = np.linalg.norm(x[:, None, :] - x[centres][None, :, :], axis=2).min(axis=1)
    assert coverage_radius(x, centres, chunk=3) == pytest.approx(d.max(), rel=1e-5)
    assert coverage_radius(x, []) == float("inf")
    picks = k_center_greedy(x, 10)
    assert picks.radius_after == pytest.approx(coverage_radius(x, picks.indices), rel=1e-5)
    assert picks.radius_after < coverage_radius(x, random_selection(300, 10, seed=1))


def test_class_balanced_pick_order():
    presence = np.array([[1, 0, 0], [1, 0, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0]], bool)
    assert class_balanced(presence, 3) == [2, 3, 0]
    # samples without categories come last
    assert class_balanced(np.array([[0], [1], [0]], bool), 3) == [1, 0, 2]


def test_random_selection_is_seeded_and_distinct():
    a = random_selection(100, 10, seed=5)
    assert a == random_selection(100, 10, seed=5)
    assert len(set(a)) == 10 and a != random_selection(100, 10, seed=6)


def test_select_dispatch_and_errors():
    res = select(np.array(LINE), 2, strategy="random", seed=0)
    assert len(res.indices) == 2 and res.radius_before == float("inf")
    assert res.radius_after == pytest.approx(coverage_radius(LINE, res.indices))
    res = select(None, 1, strategy="class-balanced", presence=np.array([[0], [1]]))
    assert res.indices == [1] and np.isnan(res.radius_after)
    with pytest.raises(
        SelectionError,
        match=r"unknown strategy 'best'; choose one of \['diverse', 'class-balanced', 'random'\]",
    ):
        select(np.array(LINE), 1, strategy="best")
    with pytest.raises(SelectionError, match=r"cannot select 6 samples: only 5 are available"):
        k_center_greedy(LINE, 6)
    with pytest.raises(SelectionError, match="NaN"):
        k_center_greedy([[np.nan]], 1)


def test_feature_files_by_key_and_in_order(tmp_path):
    ds = memory_dataset([label_a(), label_a(), label_a()])
    np.savez(
        tmp_path / "f.npz",
        keys=np.array(["s2", "s0", "s1", "extra"]),
        features=np.arange(8.0).reshape(4, 2),
    )
    table = load_features(tmp_path / "f.npz", ds)
    assert table.keys == ["s0", "s1", "s2"]
    assert table.values.tolist() == [[2, 3], [4, 5], [0, 1]]
    np.save(tmp_path / "f.npy", np.ones((3, 4)))
    assert load_features(tmp_path / "f.npy", ds).values.shape == (3, 4)
    np.save(tmp_path / "bad.npy", np.ones((2, 4)))
    with pytest.raises(FormatError, match=r"expected an array of shape \(3, D\).*found \(2, 4\)"):
        load_features(tmp_path / "bad.npy", ds)
    np.savez(tmp_path / "short.npz", keys=np.array(["s0"]), features=np.ones((1, 2)))
    with pytest.raises(
        FormatError, match=r"2 dataset samples have no feature vector, e.g. \['s1', 's2'\]"
    ):
        load_features(tmp_path / "short.npz", ds)


def test_standardized_features():
    table = FeatureTable(["a", "b"], np.array([[1.0, 5.0], [3.0, 5.0]]), ["x", "y"])
    assert table.standardized().tolist() == [[-1.0, 0.0], [1.0, 0.0]]


def test_k_center_never_picks_a_sample_twice_among_duplicates():
    result = k_center_greedy([[0.0], [0.0], [1.0], [1.0]], 4)
    assert sorted(result.indices) == [0, 1, 2, 3]
    assert result.radius_after == 0.0
    assert k_center_greedy([[0.0], [0.0]], 1, initial=[0]).indices == [1]
