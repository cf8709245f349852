"""LiDAR protocols against semantic-kitti-api and nuscenes-devkit.

The expected numbers were obtained once, outside the repository, by running
semantic-kitti-api (github.com/PRBonn/semantic-kitti-api @ a9c749e) ``auxiliary/eval_np.py``
``PanopticEval`` exactly as ``evaluate_panoptic.py`` drives it (learning_map lookup table,
ignore class 0, ``min_points=50``; its ``scores.txt`` agrees to the last digit) on the trees
that :func:`panokit.synthetic_lidar.write_kitti_tree` writes with the seeds below, and
nuscenes-devkit (github.com/nutonomy/nuscenes-devkit @ d9de17a)
``eval/panoptic/panoptic_seg_evaluator.PanopticEval`` as ``eval/panoptic/evaluate.py``
drives it (GT general -> challenge via ``LidarsegClassMapper``, ``min_inst_points=15``).
"""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import panokit
from panokit.core.codecs import SPLIT_16
from panokit.core.label import PanopticPointCloud
from panokit.core.taxonomy import Category, Taxonomy
from panokit.eval import PQAccumulator, get_protocol
from panokit.eval.lidar import lidar_task
from panokit.eval.protocols import LIDAR
from panokit.formats import nuscenes as nu
from panokit.formats import semantic_kitti as sk
from panokit.formats.data.nuscenes import CHALLENGE_TAXONOMY
from panokit.formats.data.semantic_kitti import DEFAULT_CONFIG
from panokit.synthetic_lidar import write_kitti_tree, write_nuscenes_tree

TOL = 1e-12

KITTI_FAST = {
    "pq_mean": 0.6920432566571961,
    "pq_dagger": 0.4489356948428406,
    "sq_mean": 0.806553132914908,
    "rq_mean": 0.8064814127099436,
    "iou_mean": 0.43909806129936224,
    "pq_things": 0.7025622934242135,
    "sq_things": 0.8673399831623654,
    "rq_things": 0.8074388097315703,
    "pq_stuff": 0.6843930480993653,
    "sq_stuff": 0.7623445145531207,
    "rq_stuff": 0.8057851239669421,
}
KITTI_FAST_CLASSES = {
    "car": (0.68940557077129, 0.8750147629020221, 0.7878787878787878, 0.2594431254047054, 13, 4, 3),
    "bicycle": (
        0.8225723546165956,
        0.9253938989436701,
        0.8888888888888888,
        0.8978562421185372,
        8,
        1,
        1,
    ),
    "motorcycle": (0.6205272000726547, 0.827369600096873, 0.75, 0.7434782608695653, 3, 1, 1),
    "truck": (0.6317836143124769, 0.789729517890596, 0.8, 0.8002044815540598, 18, 4, 5),
    "other-vehicle": (
        0.707812219667704,
        0.8454423734919797,
        0.8372093023255814,
        0.6140407403429635,
        36,
        2,
        12,
    ),
    "person": (
        0.8307159291636209,
        0.9197212072882947,
        0.9032258064516129,
        0.94586401039411,
        14,
        1,
        2,
    ),
    "bicyclist": (0.7573842411956473, 0.9467303014945591, 0.8, 0.6712007972097658, 10, 0, 5),
    "motorcyclist": (
        0.5602972175937193,
        0.809318203190928,
        0.6923076923076923,
        0.501495652173913,
        9,
        3,
        5,
    ),
    "road": (
        0.30222554423993275,
        0.831120246659815,
        0.36363636363636365,
        0.03541133701359903,
        2,
        7,
        0,
    ),
    "parking": (0.0, 0.0, 0.0, 0.1615598885793872, 0, 1, 1),
    "sidewalk": (0.963963963963964, 0.963963963963964, 1.0, 0.5676392572944297, 1, 0, 0),
    "other-ground": (0.9642857142857143, 0.9642857142857143, 1.0, 0.4485049833887043, 1, 0, 0),
    "building": (0.717391304347826, 0.717391304347826, 1.0, 0.3322475570032573, 1, 0, 0),
    "fence": (0.5217391304347826, 0.5217391304347826, 1.0, 0.16589861751152074, 1, 0, 0),
    "vegetation": (0.32857142857142857, 0.6571428571428571, 0.5, 0.02406159769008662, 1, 2, 0),
    "trunk": (0.9565217391304348, 0.9565217391304348, 1.0, 0.3371212121212121, 1, 0, 0),
    "terrain": (0.9661016949152542, 0.9661016949152542, 1.0, 0.2554112554112554, 1, 0, 0),
    "pole": (0.8823529411764706, 0.8823529411764706, 1.0, 0.15789473684210525, 1, 0, 0),
    "traffic-sign": (0.9251700680272109, 0.9251700680272109, 1.0, 0.4235294117647059, 1, 0, 0),
}
KITTI50 = {
    "pq_mean": 0.5835717708396414,
    "pq_dagger": 0.7304902604537239,
    "sq_mean": 0.83173665730886,
    "rq_mean": 0.698161940545766,
    "iou_mean": 0.7484873947045716,
    "pq_things": 0.6619769887486725,
    "sq_things": 0.8743900870928883,
    "rq_things": 0.7583993154304332,
    "pq_stuff": 0.5265497941785279,
    "sq_stuff": 0.8007159811022941,
    "rq_stuff": 0.6543529406296446,
}
KITTI50_CLASSES = {
    "car": (
        0.5779537331335917,
        0.9013326076250061,
        0.6412213740458015,
        0.47151718705555434,
        168,
        165,
        23,
    ),
    "bicycle": (
        0.5398174707688193,
        0.8982900099512383,
        0.6009389671361502,
        0.6959004775207454,
        64,
        67,
        18,
    ),
    "motorcycle": (
        0.6947865912964813,
        0.8611439441421178,
        0.8068181818181818,
        0.81672228860231,
        71,
        21,
        13,
    ),
    "truck": (
        0.6924996414327541,
        0.8682085056768857,
        0.7976190476190477,
        0.7552554455445545,
        134,
        40,
        28,
    ),
    "other-vehicle": (
        0.676159854442608,
        0.8715489730525222,
        0.7758139534883721,
        0.7388017285514704,
        417,
        136,
        105,
    ),
    "person": (
        0.7215732214630126,
        0.8734833733499626,
        0.8260869565217391,
        0.7021937866552231,
        114,
        27,
        21,
    ),
    "bicyclist": (
        0.7045179868870295,
        0.8658579838840592,
        0.8136645962732919,
        0.7245083231570152,
        131,
        27,
        33,
    ),
    "motorcyclist": (
        0.6885074105650837,
        0.8552552990613148,
        0.8050314465408805,
        0.7328622236686115,
        128,
        31,
        31,
    ),
    "road": (
        0.4824830037848422,
        0.82660691089609,
        0.5836909871244635,
        0.7094765943413679,
        68,
        66,
        31,
    ),
    "parking": (
        0.592569404509114,
        0.825364527709123,
        0.717948717948718,
        0.8446103575647909,
        42,
        25,
        8,
    ),
    "sidewalk": (
        0.48339685157553985,
        0.7577572267940894,
        0.6379310344827587,
        0.7408935929615955,
        37,
        29,
        13,
    ),
    "other-ground": (
        0.728845973599307,
        0.8552784384073501,
        0.8521739130434782,
        0.9431978064243973,
        49,
        17,
        0,
    ),
    "building": (
        0.46095920652299005,
        0.7795633639727038,
        0.591304347826087,
        0.7055894100067215,
        34,
        33,
        14,
    ),
    "fence": (
        0.5562598682568773,
        0.7936878608055445,
        0.7008547008547008,
        0.7683377760602161,
        41,
        26,
        9,
    ),
    "vegetation": (
        0.37462123294727867,
        0.767369299746845,
        0.4881889763779528,
        0.7434338138925295,
        31,
        36,
        29,
    ),
    "trunk": (
        0.46668064755060995,
        0.7666896352617163,
        0.6086956521739131,
        0.7183529890379097,
        35,
        31,
        14,
    ),
    "terrain": (
        0.48961039117291544,
        0.7741137265842042,
        0.6324786324786325,
        0.7523653945247832,
        37,
        30,
        13,
    ),
    "pole": (
        0.4423837559967821,
        0.8087328039316172,
        0.5470085470085471,
        0.7083943883001352,
        32,
        35,
        18,
    ),
    "traffic-sign": (
        0.7142374000475497,
        0.8527119980159521,
        0.8376068376068376,
        0.9488469155169271,
        49,
        18,
        1,
    ),
}

NUSC_FAST = {
    "PQ": 0.5425336788878043,
    "SQ": 0.8663125329648309,
    "RQ": 0.6046510866182998,
    "mIoU": 0.536263357486694,
    "PQ_dagger": 0.5863813461953811,
}
NUSC_FAST_CLASSES = {
    "barrier": (0.5797106546767562, 0.9661844244612604, 0.6, 0.36661002548853017, 6, 6, 2),
    "bicycle": (
        0.6983655540283512,
        0.8380386648340215,
        0.8333333333333334,
        0.6889226100151745,
        10,
        2,
        2,
    ),
    "bus": (
        0.6017604497985876,
        0.9720745727515645,
        0.6190476190476191,
        0.5846930562669204,
        13,
        7,
        9,
    ),
    "car": (0.8451439602682415, 0.9860012869796151, 0.8571428571428571, 0.607504215851602, 6, 1, 1),
    "construction_vehicle": (
        0.8048775580671091,
        0.965853069680531,
        0.8333333333333334,
        0.302285385058575,
        10,
        2,
        2,
    ),
    "motorcycle": (
        0.7127781587341929,
        0.9800699682595153,
        0.7272727272727273,
        0.8038479227349379,
        8,
        2,
        4,
    ),
    "pedestrian": (
        0.7746537667874333,
        0.9450775954806686,
        0.819672131147541,
        0.9260995370370371,
        25,
        4,
        7,
    ),
    "traffic_cone": (0.4830304180384153, 0.9660608360768306, 0.5, 0.75, 5, 6, 4),
    "trailer": (
        0.5841651907139707,
        0.9492684349102023,
        0.6153846153846154,
        0.3254709429531992,
        8,
        4,
        6,
    ),
    "truck": (
        0.7440152437420532,
        0.9672198168646691,
        0.7692307692307693,
        0.6711794401101423,
        5,
        0,
        3,
    ),
    "driveable_surface": (
        0.17035110533159947,
        0.6814044213263979,
        0.25,
        0.06268384927861045,
        1,
        5,
        1,
    ),
    "other_flat": (0.4036657237152287, 0.8073314474304574, 0.5, 0.6054263565891473, 2, 4, 0),
    "sidewalk": (0.39052934004358203, 0.7810586800871641, 0.5, 0.5150501672240803, 2, 4, 0),
    "terrain": (0.38140627426619045, 0.7628125485323809, 0.5, 0.6636744464392579, 2, 4, 0),
    "manmade": (0.36589854810530753, 0.7317970962106151, 0.5, 0.49855907780979825, 2, 4, 0),
    "vegetation": (0.14018691588785046, 0.5607476635514018, 0.25, 0.20820668693009117, 1, 5, 1),
}
NUSC50 = {
    "PQ": 0.7330824946907069,
    "SQ": 0.935166983647471,
    "RQ": 0.7875527364807724,
    "mIoU": 0.7929176168640273,
    "PQ_dagger": 0.7605191751494694,
}
NUSC50_CLASSES = {
    "barrier": (
        0.6058151747105569,
        0.9686732220632344,
        0.6254071661237784,
        0.7088187152415503,
        96,
        64,
        51,
    ),
    "bicycle": (
        0.6643486625759408,
        0.964228267210914,
        0.6889952153110048,
        0.6511815742164092,
        72,
        35,
        30,
    ),
    "bus": (
        0.7043620274518214,
        0.9580838330393054,
        0.7351778656126482,
        0.7056925352302048,
        186,
        71,
        63,
    ),
    "car": (
        0.6631598021603,
        0.9651929793818228,
        0.6870748299319728,
        0.7749259702005641,
        101,
        52,
        40,
    ),
    "construction_vehicle": (
        0.5717807625715908,
        0.9481427835047899,
        0.6030534351145038,
        0.7245762172213095,
        79,
        68,
        36,
    ),
    "motorcycle": (
        0.6432096676620831,
        0.9648145014931248,
        0.6666666666666666,
        0.6867455946340547,
        79,
        46,
        33,
    ),
    "pedestrian": (
        0.7019042889119053,
        0.9551481658772801,
        0.7348643006263048,
        0.7955913891800371,
        352,
        115,
        139,
    ),
    "traffic_cone": (
        0.642807793805545,
        0.9604304683918142,
        0.6692913385826772,
        0.7430054126443837,
        85,
        47,
        37,
    ),
    "trailer": (
        0.7854655074777114,
        0.9600133980283139,
        0.8181818181818182,
        0.7094076890960178,
        108,
        23,
        25,
    ),
    "truck": (
        0.6503843505788423,
        0.9676450093977897,
        0.6721311475409836,
        0.6516680076746921,
        82,
        41,
        39,
    ),
    "driveable_surface": (
        0.6567875875209621,
        0.8209844844012026,
        0.8,
        0.8187086021013088,
        40,
        10,
        10,
    ),
    "other_flat": (0.9078534092237396, 0.9078534092237396, 1.0, 0.9473608520530912, 50, 0, 0),
    "sidewalk": (0.9158418518859454, 0.9158418518859454, 1.0, 0.9467102185585053, 50, 0, 0),
    "terrain": (0.8641291415014579, 0.900134522397352, 0.96, 0.9451216317493148, 48, 2, 2),
    "manmade": (0.8594523940195186, 0.8952629104369986, 0.96, 0.9418984863519464, 48, 2, 2),
    "vegetation": (0.8920174929933894, 0.9102219316259076, 0.98, 0.9352689736710472, 49, 1, 1),
}


def _summary(result, iou):
    names = [c.name for c in result.per_class]
    return {
        "pq_mean": result.all.pq,
        "sq_mean": result.all.sq,
        "rq_mean": result.all.rq,
        "pq_things": result.things.pq,
        "sq_things": result.things.sq,
        "rq_things": result.things.rq,
        "pq_stuff": result.stuff.pq,
        "sq_stuff": result.stuff.sq,
        "rq_stuff": result.stuff.rq,
        "iou_mean": result.extra["miou"],
        "pq_dagger": result.extra["pq_dagger"],
    }, dict(zip(names, iou.tolist(), strict=True))


def _check(root: Path, expected: dict, classes: dict) -> None:
    gt, pred = sk.read_pair(root, root)
    assert lidar_task(gt, pred, [(i, i) for i in range(len(gt))]) is not None
    fast = panokit.evaluate(gt, pred, protocol="semantic-kitti")
    acc = PQAccumulator(DEFAULT_CONFIG.learning_taxonomy, "semantic-kitti")
    for g, p in zip(gt, pred, strict=True):  # the label path: PanopticPointCloud objects
        acc.update(g.load_label(), p.load_label())
    for result, iou in ((fast, None), (acc.result(), acc.semantic_iou())):
        summary, _ = _summary(result, iou if iou is not None else acc.semantic_iou())
        for key, value in expected.items():
            assert summary[key] == pytest.approx(value, abs=TOL), key
        for row in result.per_class:
            pq, sq, rq, _, tp, fp, fn = classes[row.name]
            assert (row.tp, row.fp, row.fn) == (tp, fp, fn), row.name
            assert row.pq == pytest.approx(pq, abs=TOL)
            assert row.sq == pytest.approx(sq, abs=TOL)
            assert row.rq == pytest.approx(rq, abs=TOL)
    _, ious = _summary(fast, acc.semantic_iou())
    for name, value in ious.items():
        assert value == pytest.approx(classes[name][3], abs=TOL), name


def test_protocols_are_registered():
    kitti = get_protocol("semantic-kitti")
    assert kitti.min_size == 50 and kitti.average == "all" and kitti.remove_gt_ignored
    assert kitti.label_map is not None and kitti.label_map[252] == 1


def test_he_et_al_example_from_eval_np():
    """The worked example at the bottom of semantic-kitti-api auxiliary/eval_np.py, with the
    numbers its comments state (min_points=1)."""
    taxonomy = Taxonomy(
        [
            Category(1, "grass", False),
            Category(2, "sky", False),
            Category(3, "person", True),
            Category(4, "dog", True),
        ]
    )
    sem_gt = [0] * 50 + [1] * 50 + [2] * 50 + [4] * 50 + [3] * 300
    inst_gt = [0] * 150 + [22] * 50 + [33] * 150 + [42] * 50 + [11] * 100
    sem_pred = [0] * 50 + [1] * 40 + [2] * 10 + [2] * 40 + [1] * 10 + [3] * 50 + [3] * 300
    inst_pred = [0] * 150 + [35] * 50 + [8] * 200 + [95] * 100
    gt = PanopticPointCloud.from_semantic_instance(np.array(sem_gt), np.array(inst_gt), taxonomy)
    pred = PanopticPointCloud.from_semantic_instance(
        np.array(sem_pred), np.array(inst_pred), taxonomy
    )
    acc = PQAccumulator(taxonomy, replace(LIDAR, name="he-example", min_size=1))
    acc.update(gt, pred)
    result = acc.result()
    assert result.all.pq == pytest.approx(0.47916666666666663, abs=TOL)
    assert result.all.sq == pytest.approx(0.5520833333333333, abs=TOL)
    assert result.all.rq == pytest.approx(0.6666666666666666, abs=TOL)
    assert result.extra["miou"] == pytest.approx(0.5476190476190476, abs=TOL)
    assert [round(r.pq, 12) for r in result.per_class] == [
        round(x, 12) for x in (0.6666666666666666, 0.6666666666666666, 0.5833333333333333, 0.0)
    ]


def test_matches_semantic_kitti_api_small(tmp_path):
    write_kitti_tree(tmp_path, 6, seed=11, n_points=20_000, scans=False)
    _check(tmp_path, KITTI_FAST, KITTI_FAST_CLASSES)


@pytest.mark.slow
def test_matches_semantic_kitti_api_50_scans_of_120k_points(tmp_path):
    write_kitti_tree(tmp_path, 50, seed=2026, n_points=120_000, scans=False)
    _check(tmp_path, KITTI50, KITTI50_CLASSES)


def test_ground_truth_instance_ids_above_32767(tmp_path):
    """semantic-kitti-api overflows on such ids; panokit gives the numbers of the same
    partition with small ids."""
    big, small = tmp_path / "big", tmp_path / "small"
    write_kitti_tree(big, 3, seed=3, n_points=20_000, scans=False, big_instances=True)
    write_kitti_tree(small, 3, seed=3, n_points=20_000, scans=False, big_instances=True)
    seen_big = False
    for i in range(3):
        path = small / f"sequences/08/labels/{i:06d}.label"
        raw = np.fromfile(path, "<u4")
        sem, inst = SPLIT_16.decode(raw)
        seen_big |= bool((inst >= 32768).any())
        _, small_inst = np.unique(inst, return_inverse=True)  # same partition, ids 0..K
        SPLIT_16.encode(sem, small_inst.ravel()).astype("<u4").tofile(path)
    assert seen_big
    results = []
    for root in (big, small):
        gt, pred = sk.read_pair(root, root)
        results.append(panokit.evaluate(gt, pred, protocol="semantic-kitti"))
    assert results[0].to_dict() == results[1].to_dict()
    assert results[0].things.tp > 0


def _check_nuscenes(root: Path, expected: dict, classes: dict) -> None:
    gt, pred = nu.read_pair(root / "data", root / "results", split="val")
    assert lidar_task(gt, pred, [(i, i) for i in range(len(gt))]) is not None
    fast = panokit.evaluate(gt, pred, protocol="nuscenes")
    acc = PQAccumulator(CHALLENGE_TAXONOMY, "nuscenes")
    for g, p in zip(gt, pred, strict=True):
        acc.update(g.load_label(), p.load_label())
    iou = acc.semantic_iou()
    for result in (fast, acc.result()):
        assert result.all.pq == pytest.approx(expected["PQ"], abs=TOL)
        assert result.all.sq == pytest.approx(expected["SQ"], abs=TOL)
        assert result.all.rq == pytest.approx(expected["RQ"], abs=TOL)
        assert result.extra["miou"] == pytest.approx(expected["mIoU"], abs=TOL)
        assert result.extra["pq_dagger"] == pytest.approx(expected["PQ_dagger"], abs=TOL)
        for row, row_iou in zip(result.per_class, iou, strict=True):
            pq, sq, rq, class_iou, tp, fp, fn = classes[row.name]
            assert (row.tp, row.fp, row.fn) == (tp, fp, fn), row.name
            assert (row.pq, row.sq, row.rq) == pytest.approx((pq, sq, rq), abs=TOL)
            assert row_iou == pytest.approx(class_iou, abs=TOL)


def test_nuscenes_protocol_is_registered():
    proto = get_protocol("nuscenes")
    assert proto.min_size == 15 and proto.average == "all"
    assert proto.label_map is not None and proto.label_map.target is CHALLENGE_TAXONOMY


def test_nuscenes_general_ground_truth_must_be_mapped_first(tmp_path):
    from panokit.errors import TaxonomyError

    write_nuscenes_tree(tmp_path / "data", tmp_path / "results", 2, seed=13, n_points=20_000)
    gt = panokit.read(tmp_path / "data", format="nuscenes")  # general classes
    pred = panokit.read(tmp_path / "results", format="nuscenes")
    with pytest.raises(
        TaxonomyError,
        match=r"general classes must be mapped first: .*read_pair.*\): id \d+ is unmapped",
    ):
        panokit.evaluate(gt, pred, protocol="nuscenes", workers=1)


def test_matches_nuscenes_devkit_small(tmp_path):
    write_nuscenes_tree(tmp_path / "data", tmp_path / "results", 6, seed=13, n_points=20_000)
    _check_nuscenes(tmp_path, NUSC_FAST, NUSC_FAST_CLASSES)


@pytest.mark.slow
def test_matches_nuscenes_devkit_50_scans_of_120k_points(tmp_path):
    write_nuscenes_tree(tmp_path / "data", tmp_path / "results", 50, seed=2027, n_points=120_000)
    _check_nuscenes(tmp_path, NUSC50, NUSC50_CLASSES)


def test_protocol_of_a_user_config(tmp_path):
    """A user yaml with its own learning map: evaluate with sk.protocol(config)."""
    cfg_path = tmp_path / "two.yaml"
    cfg_path.write_text(
        "labels: {0: unlabeled, 10: car, 40: road, 48: sidewalk}\n"
        "learning_map: {0: 0, 10: 1, 40: 2, 48: 2}\n"  # sidewalk folds into road here
        "learning_map_inv: {0: 0, 1: 10, 2: 40}\n"
        "learning_ignore: {0: true, 1: false, 2: false}\n"
    )
    root = tmp_path / "kitti"
    labels = root / "sequences/00/labels"
    preds = root / "sequences/00/predictions"
    labels.mkdir(parents=True)
    preds.mkdir(parents=True)
    gt = SPLIT_16.encode(
        np.array([10] * 60 + [40] * 60 + [48] * 60), np.array([1] * 60 + [0] * 120)
    )
    pred = SPLIT_16.encode(np.array([10] * 60 + [40] * 120), np.array([5] * 60 + [0] * 120))
    gt.astype("<u4").tofile(labels / "000000.label")
    pred.astype("<u4").tofile(preds / "000000.label")
    g, p = sk.read_pair(root, root, config=cfg_path)
    result = panokit.evaluate(g, p, protocol=sk.protocol(cfg_path), workers=1)
    # car: one TP with IoU 1; road: GT road (60) and GT sidewalk (60) are two segments of
    # class 2 (different raw ids), the predicted road (120) matches neither (IoU 0.5 is not
    # > 0.5): 2 FN + 1 FP
    assert [(r.name, r.tp, r.fp, r.fn) for r in result.per_class] == [
        ("car", 1, 0, 0),
        ("road", 0, 1, 2),
    ]
    assert result.all.pq == pytest.approx(0.5, abs=TOL)
    assert result.extra["miou"] == pytest.approx(1.0, abs=TOL)


# nuscenes-devkit (github.com/nutonomy/nuscenes-devkit @ d9de17a) eval/lidarseg/evaluate.py
# LidarSegEval(nusc, results, eval_set="val").evaluate(), with the devkit's own
# utils/splits.py and get_samples_in_eval_set walking the scene/sample tables (a stand-in
# NuScenes object serving the JSON tables), run once outside the repository on
# write_nuscenes_tree(data, results, 8, seed=21, n_points=20_000, lidarseg=True,
# other_scans=2): it evaluated the 8 val scans (the 2 train scans are outside the split).
LIDARSEG_MIOU = 0.5915187821884856
LIDARSEG_FWIOU = 0.7223525655332925
LIDARSEG_IOU = {
    "barrier": 0.8118299793116419,
    "bicycle": 0.9586363207101709,
    "bus": 0.5857135370263613,
    "car": 0.7458804844153266,
    "construction_vehicle": 0.9625237621073595,
    "motorcycle": 0.6280830809173518,
    "pedestrian": 0.8274515693047004,
    "traffic_cone": 0.3270558223289316,
    "trailer": 0.826906779661017,
    "truck": 0.4364348087925324,
    "driveable_surface": 0.07289674952198853,
    "other_flat": 0.5766666666666667,
    "sidewalk": 0.09899569583931134,
    "terrain": 0.7008583690987125,
    "manmade": 0.5376661742983752,
    "vegetation": 0.36670071501532175,
}


def test_nuscenes_lidarseg_matches_the_devkit(tmp_path):
    data, results = tmp_path / "data", tmp_path / "results"
    write_nuscenes_tree(data, results, 8, seed=21, n_points=20_000, lidarseg=True, other_scans=2)
    gt, pred = nu.read_pair(data, results, split="val", task="lidarseg")
    assert len(gt) == 8 and gt.meta["protocol"] == "nuscenes-lidarseg"
    for workers in (1, 2):
        result = panokit.evaluate(gt, pred, protocol="nuscenes-lidarseg", workers=workers)
        assert result.extra["miou"] == pytest.approx(LIDARSEG_MIOU, abs=TOL)
        assert result.extra["fw_iou"] == pytest.approx(LIDARSEG_FWIOU, abs=TOL)
        assert result.extra["images"] == 8 and result.all.n == 0 and result.per_class == []
        for name, value in LIDARSEG_IOU.items():
            assert result.extra[f"iou/{name}"] == pytest.approx(value, abs=TOL), name


def test_lidarseg_absent_classes_float32_unions_and_class_0():
    from panokit.errors import FormatError
    from panokit.eval.lidar import LidarSegAccumulator

    acc = LidarSegAccumulator(CHALLENGE_TAXONOMY, get_protocol("nuscenes-lidarseg"))
    # gt: 4 barrier, 2 ignore, 4 car; pred: 3 barrier + 1 car, ignore points predicted bus
    gt = np.array([1, 1, 1, 1, 0, 0, 4, 4, 4, 4])
    pred = np.array([1, 1, 1, 4, 3, 3, 4, 4, 4, 4])
    acc.update_arrays(gt, pred)
    result = acc.result()
    # barrier 3 / 4; car 4 / 5; bus: the ignore points do not count, union empty -> absent
    assert result.extra["iou/barrier"] == 0.75 and result.extra["iou/car"] == 0.8
    assert "iou/bus" not in result.extra
    assert result.extra["miou"] == pytest.approx((0.75 + 0.8) / 2, abs=TOL)
    assert result.extra["fw_iou"] == pytest.approx((4 * 0.75 + 4 * 0.8) / 8, abs=TOL)
    with pytest.raises(FormatError, match=r"scan 7: 1 points are predicted as class 0"):
        acc.update_arrays(gt, np.array([0] + [1] * 9), "scan 7")
    # the devkit divides by the union cast to float32: 2**24 + 1 points round to 2**24
    big = LidarSegAccumulator(CHALLENGE_TAXONOMY, get_protocol("nuscenes-lidarseg"))
    big.confusion[4, 4] = 2**24 + 1
    assert big.class_iou()[4] == (2**24 + 1) / 2**24
    # labels of general classes must be mapped first (the protocol's label map says how)
    from panokit.core.label import PanopticPointCloud
    from panokit.errors import TaxonomyError
    from panokit.formats.data.nuscenes import GENERAL_TAXONOMY

    general = PanopticPointCloud.from_semantic_instance(
        np.array([17, 24]), np.array([1, 0]), GENERAL_TAXONOMY
    )
    with pytest.raises(TaxonomyError, match="general classes must be mapped first"):
        acc.update(general, general)
    # labels: class per point through the segment table; an unlisted id is an error
    from panokit.core.label import Segment

    segments = {1: Segment(4), 5: Segment(11)}
    gt_label = PanopticPointCloud(np.array([1, 1, 5, 0], np.uint32), segments, CHALLENGE_TAXONOMY)
    fresh = LidarSegAccumulator(CHALLENGE_TAXONOMY, get_protocol("nuscenes-lidarseg"))
    pred_label = PanopticPointCloud(np.array([5, 1, 5, 5], np.uint32), segments, CHALLENGE_TAXONOMY)
    fresh.update(gt_label, pred_label)
    assert fresh.confusion[4].tolist()[4] == 1 and fresh.confusion[4].tolist()[11] == 1
    assert fresh.confusion[11, 11] == 1 and fresh.confusion[0, 11] == 1
    bad = PanopticPointCloud(np.array([1, 1, 5, 7], np.uint32), segments, CHALLENGE_TAXONOMY)
    with pytest.raises(
        FormatError, match="scan 3: segment id 7 occurs in the ids but is not listed"
    ):
        fresh.update(bad, pred_label, gt_where="scan 3")
