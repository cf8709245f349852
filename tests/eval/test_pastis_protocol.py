"""The pastis protocol against the official PanopticMeter.

Expected values come from pastis-benchmark ``code/panoptic_metrics.py`` (commit 43a0ece,
run with torch 2.13 CPU in a separate venv, outside the repo) on exactly the synthetic
patches ``synth_set()`` below makes (same numpy generator); 31 predicted parcels of that set
lie on ground-truth void parcels with IoU > 0.5 and are dropped.  Counts agree exactly;
PQ/SQ/RQ to float32 precision (the meter sums IoUs in float32).
"""

import numpy as np
import pytest

from panokit.core import PanopticImage, Segment
from panokit.errors import EvaluationError
from panokit.eval.pastis import PastisPQAccumulator, panoptic_meter_counts
from panokit.formats import pastis

TAX = pastis.taxonomy()


def synth_patch(rng, size=32, cell=8):
    """GT and predicted (instance, semantic) maps of one patch: a grid of parcels."""
    sem_t = np.zeros((size, size), np.int64)
    inst_t = np.zeros((size, size), np.int64)
    sem_p = np.zeros((size, size), np.int64)
    inst_p = np.zeros((size, size), np.int64)
    ids = rng.permutation(np.arange(1, 5000))
    k = 0
    for y in range(0, size, cell):
        for x in range(0, size, cell):
            r = rng.random()
            cls = 0 if r < 0.15 else VOID if r < 0.3 else int(rng.integers(1, 6))
            pid = 0 if cls == 0 else int(ids[k])
            k += 1
            sem_t[y : y + cell, x : x + cell] = cls
            inst_t[y : y + cell, x : x + cell] = pid
            if cls == 0 and rng.random() > 0.2:
                continue
            dy0, dx0, dy1, dx1 = (int(v) for v in rng.integers(-3, 4, size=4))
            y0, x0 = max(0, y + dy0), max(0, x + dx0)
            y1, x1 = min(size, y + cell + dy1), min(size, x + cell + dx1)
            pcls = int(rng.integers(1, 6)) if (cls in (0, VOID) or rng.random() < 0.2) else cls
            if rng.random() < 0.1:
                pcls = VOID if rng.random() < 0.5 else 0
            sem_p[y0:y1, x0:x1] = pcls
            inst_p[y0:y1, x0:x1] = 0 if pcls == 0 else int(ids[k + 100])
            k += 1
    # a few void pixels without a parcel
    sem_t[rng.integers(0, size, 3), rng.integers(0, size, 3)] = VOID
    inst_t[sem_t == VOID] = np.where(inst_t[sem_t == VOID] > 0, inst_t[sem_t == VOID], 0)
    return inst_p, sem_p, inst_t, sem_t


VOID = 19


def synth_set(seed=7, n=10):
    rng = np.random.default_rng(seed)
    return [synth_patch(rng) for _ in range(n)]


METER_VALUE = (0.6501647233963013, 0.3282283544540405, 0.21458673477172852)  # SQ, RQ, PQ
METER_TABLE = [  # TP, FP, FN, summed IoU of classes 1-5 (6-18 never occur)
    (6, 14, 20, 3.7573375701904297),
    (5, 17, 22, 3.499332904815674),
    (8, 5, 9, 5.562098979949951),
    (8, 20, 20, 4.834186553955078),
    (5, 7, 11, 3.1259918212890625),
]


def test_matches_panoptic_meter_on_arrays_and_on_labels():
    by_arrays, by_labels = PastisPQAccumulator(TAX), PastisPQAccumulator(TAX)
    for ip, sp, it, st in synth_set():
        by_arrays.update_arrays(ip, sp, it, st)
        by_labels.update(pastis.label_from_arrays(st, it), pastis.label_from_arrays(sp, ip))
    for acc in (by_arrays, by_labels):
        result = acc.result()
        rows = [(r.tp, r.fp, r.fn) for r in result.per_class]
        assert rows == [t[:3] for t in METER_TABLE] + [(0, 0, 0)] * 13
        assert [r.iou_sum for r in result.per_class[:5]] == pytest.approx(
            [t[3] for t in METER_TABLE], rel=1e-6
        )
        sq, rq, pq = METER_VALUE
        assert (result.all.sq, result.all.rq, result.all.pq) == pytest.approx(
            (sq, rq, pq), rel=1e-6
        )
        assert result.all.n == 5 and result.stuff.n == 0 and result.things.pq == result.all.pq
        assert [r.category_id for r in result.per_class] == list(range(1, 19))


def test_merge_equals_one_pass():
    patches = synth_set()
    one = PastisPQAccumulator(TAX)
    for p in patches:
        one.update_arrays(*p)
    a, b = PastisPQAccumulator(TAX), PastisPQAccumulator(TAX)
    for p in patches[:4]:
        a.update_arrays(*p)
    for p in patches[4:]:
        b.update_arrays(*p)
    merged = a + b
    assert (merged.counts == one.counts).all() and merged.images == 10
    assert merged.result().all.pq == pytest.approx(one.result().all.pq, rel=1e-12)


def test_hand_computed_void_handling():
    # ground truth: crop parcel 5 (class 3) on the left half, void parcel 9 on the right half
    it = np.array([[5, 5, 9, 9], [5, 5, 9, 9]])
    st = np.array([[3, 3, 19, 19], [3, 3, 19, 19]])
    # prediction 1 covers the void parcel (IoU 1): dropped, not an FP.
    # prediction 2 (class 3) covers the crop parcel and one void pixel: that pixel is zeroed,
    # IoU 4/4 -> TP.
    ip = np.array([[2, 2, 1, 1], [2, 2, 2, 1]])
    sp = np.array([[3, 3, 4, 4], [3, 3, 3, 4]])
    counts, ious = panoptic_meter_counts(ip, sp, it, st, list(range(1, 19)))
    assert counts[2].tolist() == [1, 0, 0] and ious[2] == 1.0
    assert counts[3].tolist() == [0, 0, 0]
    # a prediction partly on the void parcel (IoU 2/8) stays, minus its void pixels: an FP
    # of class 4, and the crop parcel of class 3 is missed
    ip = np.array([[1, 1, 1, 1], [1, 1, 0, 0]])
    sp = np.array([[4, 4, 4, 4], [4, 4, 0, 0]])
    counts, _ = panoptic_meter_counts(ip, sp, it, st, list(range(1, 19)))
    assert counts[3].tolist() == [0, 1, 0] and counts[2].tolist() == [0, 0, 1]


def test_labels_shape_mismatch_is_named():
    a = PanopticImage(np.zeros((2, 2), np.uint32), {}, TAX)
    b = PanopticImage(np.zeros((2, 3), np.uint32), {}, TAX)
    with pytest.raises(EvaluationError, match=r"patch 7: ground truth has shape \(2, 2\)"):
        PastisPQAccumulator(TAX).update(a, b, where="patch 7")
    seg = PanopticImage(np.ones((2, 2), np.uint32), {1: Segment(3)}, TAX)
    acc = PastisPQAccumulator(TAX)
    acc.update(seg, seg)
    # official quirk: one instance covering the whole patch leaves no 0 in unique(), so the
    # meter counts len(unique) - 1 = 0 instances and skips the class
    assert (acc.result().by_id(3).tp, acc.result().all.n) == (0, 0)
    seg = PanopticImage(np.array([[1, 1], [1, 2]], np.uint32), {1: Segment(3), 2: Segment(0)}, TAX)
    acc.update(seg, seg)
    assert (acc.result().by_id(3).tp, acc.result().by_id(3).pq) == (1, 1.0)


def test_evaluate_pastis_folders_end_to_end(tmp_path):
    import panokit
    from panokit.core import Sample
    from panokit.dataset import PanopticDataset

    patches = synth_set()
    for side in ("gt", "pred"):
        labels = []
        for ip, sp, it, st in patches:
            inst, sem = (it, st) if side == "gt" else (ip, sp)
            labels.append(pastis.label_from_arrays(sem, inst))
        samples = [
            Sample(str(100 + i), label_loader=lambda lab=lab: lab) for i, lab in enumerate(labels)
        ]
        panokit.write(PanopticDataset(samples, TAX), tmp_path / side, format="pastis")
    gt, pred = pastis.read_pair(tmp_path / "gt", tmp_path / "pred")
    result = panokit.evaluate(gt, pred, protocol="pastis")
    assert result.protocol == "pastis"
    assert [(r.tp, r.fp, r.fn) for r in result.per_class[:5]] == [t[:3] for t in METER_TABLE]
    assert result.all.pq == pytest.approx(METER_VALUE[2], rel=1e-6)
