import itertools

import numpy as np
import pytest

from panokit.annotate import CostModel, build_superpixel_hierarchy, simulate
from panokit.annotate.simulate import Simulator
from panokit.annotate.synthetic import STREET_TAXONOMY, street_scene
from panokit.core import PanopticImage, Segment
from panokit.errors import FormatError, LabelError


@pytest.fixture(scope="module")
def scene():
    sc = street_scene(80, 160, seed=4, objects=4)
    return sc, build_superpixel_hierarchy(sc.image, n_fine=800, coarsest=8, num_levels=6)


def test_cost_model():
    costs = CostModel()
    assert [costs.stroke_cost(x) for x in (0, 49.9, 50, 120)] == [1, 1, 2, 3]


@pytest.mark.parametrize("toolset", ["polygon", "brush", "superpixel"])
def test_toolsets_reach_the_target_deterministically(scene, toolset):
    sc, hier = scene
    run = simulate(sc.image, sc.label, toolset, target_pq=0.8, seed=1, hierarchy=hier)
    assert run.reached and run.pq >= 0.8
    assert run.curve[0] == (0, 0.0)
    assert run.curve[-1] == (run.actions, run.pq)
    assert sum(run.by_kind.values()) == run.actions
    assert all(a <= b for (a, _), (b, _) in itertools.pairwise(run.curve))
    again = simulate(sc.image, sc.label, toolset, target_pq=0.8, seed=1, hierarchy=hier)
    assert again.actions == run.actions and again.curve == run.curve
    assert again.label.equals(run.label)
    run.label.validate()


def test_superpixel_needs_far_fewer_actions_than_polygon(scene):
    sc, hier = scene
    poly = simulate(sc.image, sc.label, "polygon", target_pq=0.85, hierarchy=hier)
    sp = simulate(sc.image, sc.label, "superpixel", target_pq=0.85, hierarchy=hier)
    assert poly.reached and sp.reached
    assert sp.actions < poly.actions / 2


def test_prelabel_from_the_truth_costs_nothing_and_fixes_a_wrong_category(scene):
    sc, hier = scene
    run = simulate(sc.image, sc.label, "prelabel", hierarchy=hier, prediction=sc.label)
    assert run.actions == 0 and run.reached and run.curve == ((0, 1.0),)
    thing = next(
        s for s, seg in sc.label.segments.items() if STREET_TAXONOMY.isthing(seg.category_id)
    )
    wrong = dict(sc.label.segments)
    other = 11 if wrong[thing].category_id != 11 else 12
    wrong[thing] = Segment(other)
    pred = sc.label.with_segments(sc.label.ids, wrong)
    fixed = simulate(
        sc.image, sc.label, "prelabel", target_pq=0.999, hierarchy=hier, prediction=pred
    )
    assert fixed.reached and fixed.actions == 2 and fixed.by_kind["picks"] == 1


def test_bad_input(scene):
    sc, _ = scene
    with pytest.raises(
        LabelError,
        match="the image is 80x150 but the ground truth is 80x160; they must be the same size",
    ):
        simulate(sc.image[:, :150], sc.label, "polygon")
    with pytest.raises(FormatError, match="the image is empty"):
        Simulator(np.zeros((0, 0, 3), dtype=np.uint8), sc.label)
    with pytest.raises(
        LabelError,
        match=r"unknown tool set 'lasso'; known: \['polygon', 'brush', 'superpixel', 'prelabel'\]",
    ):
        simulate(sc.image, sc.label, "lasso")
    with pytest.raises(LabelError, match="the prelabel tool set needs a prediction to start from"):
        simulate(sc.image, sc.label, "prelabel")
    small = PanopticImage(np.zeros((5, 5), dtype=np.uint32), {}, STREET_TAXONOMY)
    with pytest.raises(
        LabelError, match=r"the prediction is \(5, 5\) but the ground truth is \(80, 160\)"
    ):
        simulate(sc.image, sc.label, "prelabel", prediction=small)


def test_prelabel_adds_a_missing_thing_with_a_few_clicks(scene):
    sc, hier = scene
    ids = sc.label.ids.copy()
    ids[ids == 8] = 0  # drop the car of 301 pixels
    pred = sc.label.with_segments(ids, {k: v for k, v in sc.label.segments.items() if k != 8})
    run = simulate(sc.image, sc.label, "prelabel", target_pq=0.99, hierarchy=hier, prediction=pred)
    # car PQ 1 / (1 + 0.5) with one of its two instances missing, 7 other categories perfect
    assert run.curve[0] == (0, pytest.approx((7 + 2 / 3) / 8))
    assert run.reached and run.actions == 10
    assert run.by_kind == {"clicks": 4, "vertices": 0, "picks": 3, "strokes": 3}


def test_thin_parts_are_traced_exactly():
    from panokit.annotate.geometry import stroke_index
    from panokit.annotate.simulate import _thin_strokes

    part = np.zeros((12, 9), dtype=bool)
    part[0:3, 1:8] = True  # a sign plate
    part[3:12, 4] = True  # on a pole
    strokes = _thin_strokes(5, 7, part)
    painted = np.zeros((20, 20), dtype=bool)
    for path, radius, _ in strokes:
        painted.ravel()[stroke_index((20, 20), path, radius)] = True
    expected = np.zeros((20, 20), dtype=bool)
    expected[5:17, 7:16] = part
    assert (painted >= expected).all()  # every pixel of the part is painted
    assert int((painted & ~expected).sum()) == 1  # the turn from plate to pole spills one
    assert len(strokes) == 1
