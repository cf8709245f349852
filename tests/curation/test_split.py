import json

import numpy as np
import pytest

from panokit.curation.split import (
    SplitError,
    assignment_from,
    check_split,
    parse_ratios,
    read_split_file,
    split_names,
    stratified_split,
)
from panokit.errors import FormatError


def test_parse_ratios_and_names():
    assert parse_ratios("0.8,0.1,0.1") == [0.8, 0.1, 0.1]
    with pytest.raises(SplitError, match=r"numbers separated by commas .* got '0.8;0.2'"):
        parse_ratios("0.8;0.2")
    with pytest.raises(SplitError, match=r">= 0 with a positive sum, got \[0.5, -0.5\]"):
        parse_ratios("0.5,-0.5")
    assert split_names(3) == ["train", "val", "test"]
    assert split_names(4) == ["split0", "split1", "split2", "split3"]
    with pytest.raises(SplitError, match="2 ratios need 2 distinct split names"):
        split_names(2, ["a", "a"])


def test_rare_category_is_spread_over_the_splits():
    presence = np.zeros((10, 2), bool)
    presence[:, 0] = True
    presence[[0, 1], 1] = True
    split_of = stratified_split(presence, [0.5, 0.5])
    assert np.bincount(split_of).tolist() == [5, 5]
    assert sorted(split_of[[0, 1]].tolist()) == [0, 1]


def test_three_way_split_sizes_and_category_balance():
    rng = np.random.default_rng(0)
    presence = rng.random((200, 6)) < [0.9, 0.5, 0.2, 0.1, 0.05, 0.03]
    split_of = stratified_split(presence, [0.8, 0.1, 0.1], seed=3)
    sizes = np.bincount(split_of)
    assert sizes.sum() == 200 and np.abs(sizes - [160, 20, 20]).max() <= 1
    for j in range(6):
        total = presence[:, j].sum()
        in_train = presence[split_of == 0, j].sum()
        assert abs(in_train - 0.8 * total) <= 1.0


def test_near_duplicates_share_a_split():
    presence = np.zeros((10, 2), bool)
    presence[:, 0] = True
    presence[[0, 1], 1] = True
    groups = [[0, 1], [5, 6, 7]]
    split_of = stratified_split(presence, [0.5, 0.5], groups=groups)
    assert split_of[0] == split_of[1]
    assert split_of[5] == split_of[6] == split_of[7]
    assert sorted(np.bincount(split_of).tolist()) == [5, 5]
    with pytest.raises(SplitError, match=r"group member 12 is outside 0..9"):
        stratified_split(presence, [1], groups=[[1, 12]])


def test_assignment_and_split_check():
    keys = ["a", "b", "c", "d", "e"]
    assignment = assignment_from(keys, np.array([0, 1, 0, 0, 1]), ["train", "val"])
    assert assignment == {"train": ["a", "c", "d"], "val": ["b", "e"]}
    assert check_split(assignment, keys, [["a", "c"]]).ok
    check = check_split(
        {"train": ["a", "c", "x"], "val": ["b", "c"]}, keys, groups=[["a", "b"], ["d", "e"]]
    )
    assert not check.ok
    assert check.leaks == [{"train": ["a"], "val": ["b"]}]
    assert check.repeated == {"c": ["train", "val"]}
    assert check.unknown == ["x"] and check.missing == ["d", "e"]
    assert check.sizes == {"train": 3, "val": 2}
    assert check.to_dict()["ok"] is False


def test_read_split_file(tmp_path):
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"train": ["a", 3], "val": []}))
    assert read_split_file(path) == {"train": ["a", "3"], "val": []}
    path.write_text(json.dumps({"train": "a"}))
    with pytest.raises(
        FormatError, match="expected a JSON object of split name -> list of sample keys"
    ):
        read_split_file(path)


def test_a_split_with_ratio_zero_stays_empty():
    presence = np.ones((7, 1), bool)
    split_of = stratified_split(presence, [0.5, 0.0, 0.5])
    assert np.bincount(split_of, minlength=3).tolist()[1] == 0
    assert sorted(np.bincount(split_of, minlength=3).tolist()) == [0, 3, 4]
