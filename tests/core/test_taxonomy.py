import numpy as np
import pytest

from panokit.core import Category, LabelMap, Taxonomy
from panokit.errors import TaxonomyError


def make():
    return Taxonomy(
        [Category(7, "road", False), Category(24, "person", True), Category(26, "car", True)],
        name="tiny",
    )


def test_things_and_stuff_come_from_the_taxonomy():
    tax = make()
    assert [c.id for c in tax.things] == [24, 26]
    assert [c.name for c in tax.stuff] == ["road"]
    assert tax.isthing(26) and not tax.isthing(7)
    assert tax.lookup_table().tolist()[24:27] == [True, False, True]


def test_unknown_id_and_name_errors_name_the_alternatives():
    tax = make()
    with pytest.raises(
        TaxonomyError, match=r"unknown category id 5 in taxonomy tiny; known ids: \[7, 24, 26\]"
    ):
        tax[5]
    with pytest.raises(
        TaxonomyError, match=r"unknown category name 'persn'; did you mean 'person'\?"
    ):
        tax.by_name("persn")


def test_duplicate_ids_are_refused():
    with pytest.raises(TaxonomyError, match="category id 1 is used twice"):
        Taxonomy([Category(1, "a", False), Category(1, "b", True)])


def test_round_trip_through_coco_dicts():
    tax = make()
    assert Taxonomy.from_list(tax.to_list(), name="tiny") == tax


def test_label_map_applies_and_reports_unmapped_ids():
    lm = LabelMap({10: 1, 252: 1, 40: 9}, default=0)
    np.testing.assert_array_equal(lm.apply(np.array([10, 252, 40, 99])), [1, 1, 9, 0])
    strict = LabelMap({10: 1}, default=None, name="strict")
    with pytest.raises(TaxonomyError, match=r"label map strict: ids \[3, 7\] have no rule"):
        strict.apply(np.array([10, 3, 7]))
    assert LabelMap.from_dict(lm.to_dict()).mapping == lm.mapping
