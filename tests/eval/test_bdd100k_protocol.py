"""The bdd100k protocol against numbers from the BDD100K toolkit.

Expected values come from bdd100k 1.0.1 (``pip install bdd100k`` in a separate venv,
``bdd100k.eval.pan_seg.evaluate_pan_seg`` with nproc=1) run on PNGs of exactly the
synthetic bitmasks ``synth_set()`` below makes (same numpy generator), outside the repo.
The hand-computed cases document each rule on a tiny image.
"""

import numpy as np
import pytest

from panokit.core import PanopticImage, Segment
from panokit.errors import EvaluationError
from panokit.eval.bdd100k import BddPQAccumulator
from panokit.formats import bdd100k

TAX = bdd100k.taxonomy()


def _rgba(cat, bits, ann):
    out = np.zeros((*cat.shape, 4), np.uint8)
    out[..., 0] = cat
    out[..., 1] = bits
    out[..., 2] = ann >> 8
    out[..., 3] = ann & 255
    return out


def synth_pair(rng, h=40, w=56):
    """One (gt, pred) pair of BDD100K RGBA bitmasks with stuff bands, things, crowd/ignore."""
    layers = []
    for _side in ("gt", "pred"):
        cat = np.zeros((h, w), np.int64)
        bits = np.zeros((h, w), np.int64)
        ann = np.zeros((h, w), np.int64)
        layers.append((cat, bits, ann))
    (gc, gb, ga), (pc, pb, pa) = layers
    bands = sorted(rng.choice(np.arange(4, h - 4), size=3, replace=False).tolist())
    edges = [0, *bands, h]
    stuff = rng.choice(np.arange(1, 31), size=4, replace=False)
    for k in range(4):
        top, bottom = edges[k], edges[k + 1]
        if rng.random() < 0.15:
            continue  # unlabeled band
        c = int(stuff[k])
        gc[top:bottom], ga[top:bottom] = c, c
        jt = int(np.clip(top + rng.integers(-3, 4), 0, h)) if k else 0
        pcat = c if rng.random() > 0.15 else int(rng.integers(1, 31))
        if rng.random() > 0.1:
            pc[jt:bottom], pa[jt:bottom], pb[jt:bottom] = pcat, pcat, 0
    n_things = int(rng.integers(1, 9))
    pred_ann = rng.permutation(np.arange(31, 400))[: n_things + 4]
    for t in range(n_things):
        y, x = int(rng.integers(0, h - 6)), int(rng.integers(0, w - 6))
        hh, ww = int(rng.integers(4, 16)), int(rng.integers(4, 18))
        c = int(rng.integers(31, 41))
        b = (2 if rng.random() < 0.15 else 0) | (1 if rng.random() < 0.1 else 0)
        gc[y : y + hh, x : x + ww], ga[y : y + hh, x : x + ww], gb[y : y + hh, x : x + ww] = (
            c,
            31 + t,
            b,
        )
        if rng.random() < 0.15:
            continue  # missed
        dy, dx = (int(v) for v in rng.integers(-2, 3, size=2))
        y2, x2 = max(0, y + dy), max(0, x + dx)
        pcat = c if rng.random() > 0.15 else int(rng.integers(31, 41))
        pbits = 2 if rng.random() < 0.1 else 0
        sl = (slice(y2, y2 + hh), slice(x2, x2 + ww))
        pc[sl], pa[sl], pb[sl] = pcat, int(pred_ann[t]), pbits
    for e in range(int(rng.integers(0, 3))):
        y, x = int(rng.integers(0, h - 5)), int(rng.integers(0, w - 5))
        sl = (slice(y, y + int(rng.integers(3, 10))), slice(x, x + int(rng.integers(3, 10))))
        pc[sl], pa[sl], pb[sl] = int(rng.integers(31, 41)), int(pred_ann[n_things + e]), 0
    return _rgba(gc, gb, ga), _rgba(pc, pb, pa)


def synth_set(seed=2026, n=12):
    rng = np.random.default_rng(seed)
    return [synth_pair(rng) for _ in range(n)]


TOOLKIT = {
    "overall": {
        "PQ": 38.31909184170281,
        "SQ": 57.357033837471064,
        "RQ": 49.59333150509621,
        "N": 34,
    },
    "stuff": {"PQ": 45.83465799104858, "SQ": 53.68190249241331, "RQ": 57.268518518518526, "N": 24},
    "thing": {"PQ": 20.281733083272982, "SQ": 66.17734906560972, "RQ": 31.172882672882672, "N": 10},
    "per_class_pq": {
        "dynamic": 0.0,
        "ground": 57.05338641707992,
        "static": 84.0243378946513,
        "rail track": 76.69724770642202,
        "road": 50.0,
        "building": 0.0,
        "fence": 65.47317128880599,
        "garage": 79.47713428376412,
        "guard rail": 34.39233015109087,
        "tunnel": 84.38228438228438,
        "wall": 0.0,
        "banner": 51.689189189189186,
        "parking sign": 79.3713163064833,
        "pole": 66.1239552805818,
        "polegroup": 100.0,
        "street light": 0.0,
        "traffic cone": 0.0,
        "traffic device": 87.14788732394366,
        "traffic light": 0.0,
        "traffic sign": 63.13645621181263,
        "traffic sign frame": 49.20774943710723,
        "terrain": 0.0,
        "vegetation": 71.85534591194968,
        "sky": 0.0,
        "person": 20.952380952380953,
        "rider": 11.612903225806452,
        "bicycle": 17.77777777777778,
        "bus": 47.22543562879697,
        "car": 23.179487179487182,
        "caravan": 13.39421613394216,
        "motorcycle": 14.285714285714285,
        "trailer": 13.095238095238097,
        "train": 11.598746081504704,
        "truck": 29.695431472081218,
    },
}


def _evaluate(pairs):
    acc = BddPQAccumulator(TAX)
    for g, p in pairs:
        acc.update(bdd100k.decode_bitmask(g, TAX, "gt"), bdd100k.decode_bitmask(p, TAX, "pred"))
    return acc


def test_matches_the_toolkit_on_a_synthetic_set():
    result = _evaluate(synth_set()).result()
    for ours, key in ((result.all, "overall"), (result.stuff, "stuff"), (result.things, "thing")):
        expected = TOOLKIT[key]
        assert ours.n == expected["N"]
        assert ours.pq * 100 == pytest.approx(expected["PQ"], abs=1e-9)
        assert ours.sq * 100 == pytest.approx(expected["SQ"], abs=1e-9)
        assert ours.rq * 100 == pytest.approx(expected["RQ"], abs=1e-9)
    per_class = {r.name: r.pq * 100 for r in result.per_class if r.counted}
    assert per_class == pytest.approx(TOOLKIT["per_class_pq"], abs=1e-9)


def test_accumulators_merge():
    pairs = synth_set()
    whole = _evaluate(pairs).result()
    merged = (_evaluate(pairs[:5]) + _evaluate(pairs[5:])).result()
    summed = sum([_evaluate(pairs[:3]), _evaluate(pairs[3:])]).result()
    for other in (merged, summed):
        assert (other.all.tp, other.all.fp, other.all.fn) == (
            whole.all.tp,
            whole.all.fp,
            whole.all.fn,
        )
        assert other.all.pq == pytest.approx(whole.all.pq, rel=1e-12)
        assert [r.iou_sum for r in other.per_class] == pytest.approx(
            [r.iou_sum for r in whole.per_class], rel=1e-12
        )


def _label(ids, segs):
    return PanopticImage(np.array(ids, np.uint32), segs, TAX)


def test_hand_computed_rules():
    # gt: car 31 on 4 px, crowd car 32 on 2 px, road 7 on 2 px (row 2: void)
    gt = _label(
        [[31, 31, 31, 31], [32, 32, 7, 7], [0, 0, 0, 0]],
        {31: Segment(35), 32: Segment(35, iscrowd=True), 7: Segment(7)},
    )
    # pred: car 40 covers gt car 3 px + void 2 px -> IoU 3/6 = 0.5 is not > 0.5: FN.
    #       road 7 covers road 2 px + 1 crowd px -> IoU 2/3: TP.
    #       car 50 on 1 crowd px + 1 void px -> unmatched, 0 % on valid gt: not FP.
    pred = _label(
        [[40, 40, 40, 7], [50, 7, 7, 7], [40, 40, 50, 0]],
        {40: Segment(35), 7: Segment(7), 50: Segment(35)},
    )
    # recount: pred 7 = {(0,3),(1,1),(1,2),(1,3)}: 1 px on car gt, 1 on crowd, 2 on road
    #   IoU(road) = 2 / (2 + 4 - 2) = 0.5 -> FN; on valid gt 3/4 -> FP for road.
    #   car 40: IoU with gt car = 3 / (4 + 5 - 3) = 0.5 -> FN; on valid gt 3/5 -> FP for car.
    r = _evaluate_labels([(gt, pred)])
    assert (r.by_id(35).tp, r.by_id(35).fp, r.by_id(35).fn) == (0, 1, 1)
    assert (r.by_id(7).tp, r.by_id(7).fp, r.by_id(7).fn) == (0, 1, 1)
    # a better road prediction is a TP with IoU 2/3 (no void correction of the union)
    pred2 = _label([[31, 31, 31, 31], [0, 7, 7, 7], [0, 0, 0, 0]], {31: Segment(35), 7: Segment(7)})
    r = _evaluate_labels([(gt, pred2)])
    assert (r.by_id(7).tp, r.by_id(7).iou_sum) == (1, pytest.approx(2 / 3))
    assert (r.by_id(35).tp, r.by_id(35).iou_sum) == (1, 1.0)
    assert r.all.n == 2 and r.all.pq == pytest.approx((2 / 3 + 1.0) / 2)


def _evaluate_labels(pairs):
    acc = BddPQAccumulator(TAX)
    for g, p in pairs:
        acc.update(g, p)
    return acc.result()


def test_crowd_prediction_hides_a_match_and_only_first_100_predictions_count():
    gt = _label([[31, 31, 31, 31]], {31: Segment(35)})
    crowd_pred = _label([[9, 9, 9, 9]], {9: Segment(35, iscrowd=True)})
    r = _evaluate_labels([(gt, crowd_pred)])
    assert (r.by_id(35).tp, r.by_id(35).fp, r.by_id(35).fn) == (0, 0, 1)
    # 101 predicted segments: only the first 100 ids count, later ones are background
    gt_wide = _label(np.pad(gt.ids, ((0, 0), (0, 101))), {31: Segment(35)})
    ids = np.zeros((1, 105), np.uint32)
    ids[0, 4:] = np.arange(1, 102)
    bikes = {i: Segment(33) for i in range(1, 102)}
    ids[0, :4] = 500  # the car has the 101st id: dropped -> FN
    r = _evaluate_labels([(gt_wide, _label(ids, {**bikes, 500: Segment(35)}))])
    assert (r.by_id(35).tp, r.by_id(35).fn) == (0, 1)
    ids[0, :4] = 50  # a car among the first 100 ids: TP
    ids[0, 53] = 102
    r = _evaluate_labels([(gt_wide, _label(ids, {**bikes, 50: Segment(35), 102: Segment(33)}))])
    assert (r.by_id(35).tp, r.by_id(35).iou_sum, r.by_id(35).fn) == (1, 1.0, 0)
    assert r.by_id(33).fp == 0  # bicycles on background are not false positives


def test_empty_prediction_and_shape_mismatch():
    gt = _label([[7, 31]], {7: Segment(7), 31: Segment(35)})
    r = _evaluate_labels([(gt, _label([[0, 0]], {}))])
    assert (r.all.n, r.all.tp, r.all.fn, r.all.pq) == (2, 0, 2, 0.0)
    with pytest.raises(EvaluationError, match=r"img: ground truth has shape \(1, 2\)"):
        BddPQAccumulator(TAX).update(gt, _label([[0]], {}), where="img")


def test_evaluate_bitmask_folders_end_to_end(tmp_path):
    from PIL import Image

    import panokit

    for i, (g, p) in enumerate(synth_set()):
        for side, rgba in (("gt", g), ("pred", p)):
            (tmp_path / side).mkdir(exist_ok=True)
            Image.fromarray(rgba).save(tmp_path / side / f"{i:03d}.png")
    gt, pred = bdd100k.read_pair(tmp_path / "gt", tmp_path / "pred")
    result = panokit.evaluate(gt, pred, protocol="bdd100k")
    assert result.protocol == "bdd100k" and result.all.n == TOOLKIT["overall"]["N"]
    assert result.all.pq * 100 == pytest.approx(TOOLKIT["overall"]["PQ"], abs=1e-9)
    assert result.things.rq * 100 == pytest.approx(TOOLKIT["thing"]["RQ"], abs=1e-9)
