import numpy as np
import pytest

from panokit.errors import EvaluationError
from panokit.eval.bdd100k import BddPQAccumulator
from panokit.eval.pastis import PastisPQAccumulator


def test_shared_sums_merge_and_score_by_protocol():
    a, b = BddPQAccumulator(), BddPQAccumulator()
    a.add(by_category={31: [0.8, 1, 0, 1], 0: [1.0, 1, 0, 0]})  # category 0 is not scored
    b.add(by_category={31: [0.6, 1, 1, 0], 7: [0.9, 1, 0, 0]})
    total = sum([a, b])
    assert total.images == 2 and a.images == 1
    person = total.result().by_id(31)
    assert (person.tp, person.fp, person.fn) == (2, 1, 1)
    assert person.pq == pytest.approx(1.4 / 3) and person.sq == pytest.approx(0.7)
    assert total.result().all.n == 2 and total.counts[30].tolist() == [2, 1, 1]
    with pytest.raises(TypeError, match="cannot add PastisPQAccumulator to a BddPQAccumulator"):
        a += PastisPQAccumulator()  # type: ignore[arg-type]
    p = PastisPQAccumulator()
    p.add(np.zeros((18, 3), np.int64), np.zeros(18))
    assert p.images == 1 and p.result().protocol == "pastis" and p.result().all.n == 0


def test_different_taxonomies_do_not_merge():
    from panokit.core import Category, Taxonomy

    small = BddPQAccumulator(Taxonomy([Category(1, "x", True)]))
    with pytest.raises(EvaluationError, match="cannot merge bdd100k accumulators"):
        small + BddPQAccumulator()


def test_pastis_protocol_refuses_a_foreign_taxonomy():
    from panokit.core import Category, Taxonomy

    cityscapes_like = Taxonomy([Category(19, "traffic light", False), Category(24, "person", True)])
    with pytest.raises(EvaluationError) as err:
        PastisPQAccumulator(cityscapes_like)
    assert "has 24 (person); map the labels onto pastis first" in str(err.value)
