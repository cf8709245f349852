"""``panokit eval``: tables, JSON output, warnings and errors with exit codes."""

import json

import pytest

from panokit.cli.main import main
from panokit.synthetic import write_coco_pair


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, " ".join(err.split())  # rich wraps long stderr lines


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("eval")
    gt_json, pred_json = write_coco_pair(folder, 6, height=64, width=96)
    return folder, gt_json, pred_json


def test_eval_prints_tables_and_writes_json(pair, tmp_path, capsys):
    import panokit
    from panokit.formats import coco_panoptic

    _, gt_json, pred_json = pair
    out_json = tmp_path / "result.json"
    code, out, _ = run(capsys, "eval", gt_json, pred_json, "--workers", "1", "--json", out_json)
    assert code == 0
    expected = panokit.evaluate(coco_panoptic.read(gt_json), coco_panoptic.read(pred_json))
    assert "panoptic quality (coco, x100)" in out and "per class (coco)" in out
    assert f"{100 * expected.all.pq:.2f}" in out
    assert "6 images, protocol coco, 1 worker(s)" in out
    doc = json.loads(out_json.read_text())
    assert doc["All"]["pq"] == expected.all.pq and doc["All"]["n"] == expected.all.n
    assert set(doc) == {"protocol", "All", "Things", "Stuff", "per_class", "extra"}
    assert [row["category_id"] for row in doc["per_class"]] == [
        24,
        26,
        33,
        27,
        25,
        31,
        23,
        11,
        21,
        22,
        8,
        7,
    ]


def test_png_folders_can_be_given(pair, tmp_path, capsys):
    folder, gt_json, pred_json = pair
    moved = tmp_path / "elsewhere.json"
    moved.write_bytes(pred_json.read_bytes())
    code, out, err = run(capsys, "eval", gt_json, moved, "--no-per-class")
    assert code == 1 and "panoptic PNG not found" in err
    code, out, _ = run(
        capsys, "eval", gt_json, moved, "--pred-dir", folder / "pred", "--no-per-class"
    )
    assert code == 0 and "per class" not in out


def test_extra_prediction_warns_and_strict_fails(pair, tmp_path, capsys):
    folder, gt_json, pred_json = pair
    doc = json.loads(gt_json.read_text())
    doc["annotations"].pop(0)
    smaller = folder / "gt_small.json"
    smaller.write_text(json.dumps(doc))
    code, _, err = run(capsys, "eval", smaller, pred_json, "--gt-dir", folder / "gt")
    assert code == 0
    assert "warning: 1 predicted image(s) are not in the ground truth and were ignored: '1'" in err
    code, _, err = run(capsys, "eval", smaller, pred_json, "--gt-dir", folder / "gt", "--strict")
    assert code == 1 and "(strict mode): '1'" in err


def test_bad_input_exits_1_with_one_message(pair, tmp_path, capsys):
    _, gt_json, _ = pair
    broken = tmp_path / "pred.json"
    broken.write_text("{")
    code, _, err = run(capsys, "eval", gt_json, broken, "--format", "coco-panoptic")
    assert code == 1
    assert err.startswith("error: ") and "pred.json: malformed JSON at line 1" in err
    code, _, err = run(capsys, "eval", gt_json, gt_json, "--protocol", "cocoo")
    assert code == 1 and "unknown protocol 'cocoo'; did you mean 'coco'?" in err
