"""evaluate(): the official numbers on synthetic data, workers, and bad input.

The expected values below were obtained by running panopticapi (cocodataset/panopticapi,
``panopticapi/evaluation.py`` at its repository HEAD, copied to /work/anchors/panopticapi,
outside this repository) once on the files this test writes::

    python -c "from panokit.synthetic import write_coco_pair; \\
        write_coco_pair('data/n200', 200, compress_level=0); \\
        write_coco_pair('data/n30s', 30, string_ids=True, compress_level=0)"
    python run_panopticapi.py data/n200    # pq_compute(gt.json, pred.json) -> repr(results)

(run_panopticapi.py calls ``panopticapi.evaluation.pq_compute`` and prints PQ/SQ/RQ/n of
All/Things/Stuff and PQ/SQ/RQ per class.)  The 200 images of 512x1024 hold void regions,
predictions on void, crowd regions (two crowd regions of one class in every 7th image;
the one-crowd-per-class quirk changes 32 false positives), images without any predicted
segment (index 17, 67, 117, 167), a class absent from the ground truth (rider, 25), one
never predicted (terrain, 22) and one absent from both (train, 31).
"""

import json

import numpy as np
import pytest

import panokit
from panokit.errors import EvaluationError, FormatError, MissingFileError
from panokit.eval import evaluate
from panokit.eval.evaluate import evaluate_coco
from panokit.eval.sources import decode_png_rgb
from panokit.formats import coco_panoptic
from panokit.synthetic import synthetic_datasets, write_coco_pair

PANOPTICAPI_200 = {
    "All": (0.5768656196807999, 0.7115402044774392, 0.6531540087212938, 11),
    "Things": (0.44600277301060587, 0.6628440120519409, 0.5383245597709369, 5),
    "Stuff": (0.6859179919059614, 0.752120364832021, 0.7488452161799247, 6),
    "per_class": {
        24: (0.5570120665099053, 0.8320280492228159, 0.6694630872483222),
        26: (0.5656885249421876, 0.8213486706540458, 0.6887312844759653),
        33: (0.5483277578178224, 0.8299750180369024, 0.660655737704918),
        27: (0.5589855157831137, 0.8308683223459401, 0.6727726894254787),
        25: (0.0, 0.0, 0.0),
        31: (0.0, 0.0, 0.0),
        23: (0.9331413576683365, 0.9426632082567888, 0.98989898989899),
        11: (0.924616529690139, 0.9392929825423634, 0.984375),
        21: (0.41449291522849857, 0.7683283306674608, 0.5394736842105263),
        22: (0.0, 0.0, 0.0),
        8: (0.9336888545667735, 0.9388760148699222, 0.994475138121547),
        7: (0.9095682942820212, 0.9235616526555908, 0.9848484848484849),
    },
}
PANOPTICAPI_30_STRING_IDS = {
    "All": (0.5783863416756804, 0.7195864519699187, 0.6480537320630819, 11),
    "Things": (0.45670178317146465, 0.6692290678407123, 0.5457637355831336, 5),
    "Stuff": (0.6797901404291936, 0.7615509387442572, 0.7332953957963722, 6),
    "per_class": {
        24: (0.5981153458794456, 0.8441143994266369, 0.7085714285714285),
        26: (0.5337353669104669, 0.8135160027909535, 0.656084656084656),
        33: (0.5325315817785456, 0.8447052676487276, 0.6304347826086957),
        27: (0.6191266212888651, 0.8438096693372436, 0.7337278106508875),
        25: (0.0, 0.0, 0.0),
        31: (0.0, 0.0, 0.0),
        23: (0.9301118070818715, 0.9461482175488003, 0.9830508474576272),
        11: (0.9163877117285043, 0.9469339687861211, 0.967741935483871),
        21: (0.36176321081660695, 0.8057453331824427, 0.4489795918367347),
        22: (0.0, 0.0, 0.0),
        8: (0.9391714109677635, 0.9391714109677635, 1.0),
        7: (0.9313067019804153, 0.9313067019804153, 1.0),
    },
}


def assert_equal_to(result, expected, tol=1e-12):
    for name, got in (("All", result.all), ("Things", result.things), ("Stuff", result.stuff)):
        pq, sq, rq, n = expected[name]
        assert got.n == n, name
        assert abs(got.pq - pq) <= tol and abs(got.sq - sq) <= tol and abs(got.rq - rq) <= tol
    assert [r.category_id for r in result.per_class] == list(expected["per_class"])
    for row in result.per_class:
        pq, sq, rq = expected["per_class"][row.category_id]
        assert abs(row.pq - pq) <= tol and abs(row.sq - sq) <= tol and abs(row.rq - rq) <= tol


def read_pair(folder):
    gt = coco_panoptic.read(folder / "gt.json", check=False)
    pred = coco_panoptic.read(folder / "pred.json", check=False)
    return gt, pred


@pytest.mark.slow
def test_equals_panopticapi_on_200_images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("n200")
    write_coco_pair(folder, 200, compress_level=0)
    gt, pred = read_pair(folder)
    result = panokit.evaluate(gt, pred, protocol="coco")
    assert_equal_to(result, PANOPTICAPI_200)
    assert result.extra["images"] == 200.0
    assert result.warnings == ()
    two = evaluate(gt, pred, workers=2)
    assert_equal_to(two, PANOPTICAPI_200)
    assert (two.all.tp, two.all.fp, two.all.fn) == (result.all.tp, result.all.fp, result.all.fn)


@pytest.fixture(scope="module")
def string_ids(tmp_path_factory):
    folder = tmp_path_factory.mktemp("n30s")
    write_coco_pair(folder, 30, string_ids=True, compress_level=0)
    return folder


def test_equals_panopticapi_with_string_image_ids(string_ids):
    gt, pred = read_pair(string_ids)
    assert gt[0].source_id == "synth_000000_000019"
    assert_equal_to(evaluate(gt, pred), PANOPTICAPI_30_STRING_IDS)
    # the checked reader and the Pillow decoder give the same numbers
    checked = panokit.read(string_ids / "gt.json"), panokit.read(string_ids / "pred.json")
    assert_equal_to(evaluate(*checked), PANOPTICAPI_30_STRING_IDS)


def test_evaluate_coco_reads_the_files_directly(string_ids):
    result = evaluate_coco(string_ids / "gt.json", string_ids / "pred.json")
    assert_equal_to(result, PANOPTICAPI_30_STRING_IDS)
    moved = evaluate_coco(
        string_ids / "gt.json", string_ids / "pred.json", pred_dir=string_ids / "pred", workers=2
    )
    assert_equal_to(moved, PANOPTICAPI_30_STRING_IDS)


def test_evaluate_coco_with_other_protocols(string_ids):
    gt, pred = read_pair(string_ids)
    for protocol in ("coco-all-crowds", "lidar"):
        direct = evaluate_coco(string_ids / "gt.json", string_ids / "pred.json", protocol=protocol)
        assert direct.to_dict() == evaluate(gt, pred, protocol=protocol).to_dict()
    assert "pq_dagger" in direct.extra


def test_evaluate_coco_json_problems(small):
    edit_json(small / "gt.json", lambda d: d.pop("categories"))
    with pytest.raises(FormatError, match=r"gt\.json: the ground truth has no 'categories'"):
        evaluate_coco(small / "gt.json", small / "pred.json")
    edit_json(small / "pred.json", lambda d: d["annotations"].append(d["annotations"][0]))
    with pytest.raises(FormatError, match=r"pred\.json: image 4 has two annotations"):
        evaluate_coco(small / "gt.json", small / "pred.json")


def test_evaluate_coco_pairs_like_evaluate(small):
    edit_json(small / "gt.json", lambda d: d["annotations"].pop(0))
    result = evaluate_coco(small / "gt.json", small / "pred.json")
    assert result.warnings == (
        "1 predicted image(s) are not in the ground truth and were ignored: '1'",
    )
    edit_json(small / "pred.json", lambda d: d["annotations"].pop(0))
    with pytest.raises(EvaluationError, match=r"no prediction \(.*pred\.json\) for 1 ground"):
        evaluate_coco(small / "gt.json", small / "pred.json")


def test_equals_cityscapesscripts_run_here(string_ids, capsys):
    from cityscapesscripts.evaluation import evalPanopticSemanticLabeling as cs

    gt_json = json.loads((string_ids / "gt.json").read_text())
    pred_json = json.loads((string_ids / "pred.json").read_text())
    by_id = {a["image_id"]: a for a in pred_json["annotations"]}
    pairs = [(a, by_id[a["image_id"]]) for a in gt_json["annotations"]]
    categories = {c["id"]: c for c in gt_json["categories"]}
    stat = cs.pq_compute_single_core(0, pairs, string_ids / "gt", string_ids / "pred", categories)
    official = cs.average_pq(stat, categories)
    capsys.readouterr()
    expected = {
        g: (*(official[g][m] for m in ("pq", "sq", "rq")), official[g]["n"])
        for g in ("All", "Things", "Stuff")
    }
    expected["per_class"] = {
        k: (v["pq"], v["sq"], v["rq"]) for k, v in official["per_class"].items()
    }
    gt, pred = read_pair(string_ids)
    assert_equal_to(evaluate(gt, pred), expected)


def test_in_memory_datasets_take_the_generic_path():
    gt, pred = synthetic_datasets(6, height=64, width=128)
    result = evaluate(gt, pred)
    assert result.extra["images"] == 6.0
    assert 0.0 < result.all.pq < 1.0


def test_generic_and_fast_paths_agree(tmp_path):
    write_coco_pair(tmp_path, 12, height=96, width=160)
    gt, pred = read_pair(tmp_path)
    fast = evaluate(gt, pred)
    mem_gt, mem_pred = synthetic_datasets(12, height=96, width=160)
    generic = evaluate(mem_gt, mem_pred, workers=2)
    for a, b in zip(generic.per_class, fast.per_class, strict=True):
        assert (a.category_id, a.tp, a.fp, a.fn) == (b.category_id, b.tp, b.fp, b.fn)
        assert abs(a.iou_sum - b.iou_sum) < 1e-12 and abs(a.pq - b.pq) < 1e-12
    assert abs(generic.all.pq - fast.all.pq) < 1e-12 and generic.all.n == fast.all.n


def test_pillow_and_spng_decode_alike(string_ids):
    pytest.importorskip("pyspng")
    png = next((string_ids / "pred").glob("*.png"))
    assert np.array_equal(decode_png_rgb(png, use_spng=True), decode_png_rgb(png, use_spng=False))


# ------------------------------------------------------------------------ bad input
@pytest.fixture()
def small(tmp_path):
    write_coco_pair(tmp_path, 4, height=32, width=48)
    return tmp_path


def edit_json(path, fn):
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


def test_missing_png_names_the_file(small):
    (small / "pred" / "3.png").unlink()
    with pytest.raises(MissingFileError, match=r"panoptic PNG not found: .*pred/3\.png"):
        evaluate(*read_pair(small))


def test_errors_in_worker_processes_reach_the_caller(small):
    (small / "gt" / "2.png").unlink()
    with pytest.raises(MissingFileError, match=r"panoptic PNG not found: .*gt/2\.png"):
        evaluate(*read_pair(small), workers=2)


def test_png_id_absent_from_json(small):
    edit_json(small / "pred.json", lambda d: d["annotations"][0]["segments_info"].pop())
    with pytest.raises(FormatError) as info:
        evaluate(*read_pair(small))
    message = str(info.value)
    assert message.startswith("pred.json, image 4 (")
    assert "occurs in the ids (" in message and "but is not listed among its segments" in message


def test_json_segment_absent_from_png(small):
    def add(doc):
        doc["annotations"][0]["segments_info"].append({"id": 77, "category_id": 26, "iscrowd": 0})

    edit_json(small / "gt.json", add)
    with pytest.raises(
        FormatError,
        match=r"gt\.json, image 1 \(.*\): segment id 77 \(category 26\) is listed but occurs nowhere",
    ):
        evaluate(*read_pair(small))


def test_unknown_predicted_category(small):
    edit_json(
        small / "pred.json",
        lambda d: d["annotations"][1]["segments_info"][0].update(category_id=99),
    )
    with pytest.raises(
        FormatError, match=r"pred\.json, image 3 \(.*\), segment \d+: unknown category_id 99"
    ):
        evaluate(*read_pair(small))


def test_mismatched_sizes(small):
    from PIL import Image

    Image.new("RGB", (10, 10)).save(small / "pred" / "2.png")
    edit_json(small / "pred.json", lambda d: d["annotations"][2].update(segments_info=[]))
    with pytest.raises(
        EvaluationError,
        match=r"pred\.json, image 2 .*: the prediction is 10x10 but the ground truth gt\.json, image 2 .* is 48x32",
    ):
        evaluate(*read_pair(small))


def test_ground_truth_image_without_prediction(small):
    edit_json(small / "pred.json", lambda d: d["annotations"].pop(0))
    with pytest.raises(
        EvaluationError, match=r"no prediction \(.*pred\.json\) for 1 ground-truth image\(s\): '4'"
    ):
        evaluate(*read_pair(small))


def test_extra_prediction_is_a_warning_or_strict_error(small):
    edit_json(small / "gt.json", lambda d: d["annotations"].pop(0))
    gt, pred = read_pair(small)
    result = evaluate(gt, pred)
    assert result.warnings == (
        "1 predicted image(s) are not in the ground truth and were ignored: '1'",
    )
    with pytest.raises(EvaluationError, match=r"not in the ground truth \(strict mode\): '1'"):
        evaluate(gt, pred, strict=True)


def test_malformed_json(small):
    (small / "pred.json").write_text('{"annotations": [')
    with pytest.raises(FormatError, match=r"pred\.json: malformed JSON at line 1"):
        read_pair(small)
