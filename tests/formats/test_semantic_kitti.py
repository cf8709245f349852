from pathlib import Path

import numpy as np
import pytest

import panokit
from panokit.core.codecs import SPLIT_16
from panokit.errors import FormatError, MissingFileError, OutputExistsError
from panokit.formats import semantic_kitti as sk
from panokit.formats.data.semantic_kitti import DEFAULT_CONFIG, load_config
from panokit.formats.registry import detect_format
from panokit.synthetic_lidar import kitti_scan, write_kitti_tree


def _tree(root: Path, n: int = 3, points: int = 3000, **kw) -> Path:
    write_kitti_tree(root, n, seed=5, n_points=points, **kw)
    return root


def test_official_tables():
    learning = DEFAULT_CONFIG.learning_taxonomy
    assert learning.ids == list(range(1, 20))
    assert [c.name for c in learning.things] == [
        "car",
        "bicycle",
        "motorcycle",
        "truck",
        "other-vehicle",
        "person",
        "bicyclist",
        "motorcyclist",
    ]
    raw = DEFAULT_CONFIG.raw_taxonomy
    assert len(raw) == 33  # 34 labels without unlabeled (void)
    assert raw[252].name == "moving-car" and raw[252].isthing and raw[252].train_id == 1
    assert raw[52].ignore_in_eval and not raw[52].isthing
    assert raw[10].color == (100, 150, 245)  # the yaml colour is BGR (245, 150, 100)
    assert DEFAULT_CONFIG.sequences("valid") == [8]
    assert DEFAULT_CONFIG.learning_label_map.apply(np.array([0, 1, 60, 257, 99, 300])).tolist() == [
        0,
        0,
        9,
        5,
        0,
        0,
    ]


def test_decode_keeps_raw_ids_and_instances():
    raw = SPLIT_16.encode(
        np.array([0, 10, 10, 252, 40, 40, 0, 10]), np.array([0, 5, 5, 5, 0, 0, 3, 40000])
    )
    label = sk.label_from_raw(raw, DEFAULT_CONFIG.raw_taxonomy)
    # segments in label-value order: (inst 0, road), (inst 5, car), (inst 5, moving-car),
    # (inst 40000, car); unlabeled points (semantic 0) are void whatever their instance
    assert label.ids.tolist() == [0, 2, 2, 3, 1, 1, 0, 4]
    assert {k: (s.category_id, s.attributes["instance"]) for k, s in label.segments.items()} == {
        1: (40, 0),
        2: (10, 5),
        3: (252, 5),
        4: (10, 40000),
    }
    assert (
        sk.raw_from_label(label).tolist() == np.where(SPLIT_16.decode(raw)[0] == 0, 0, raw).tolist()
    )


def test_read_layout_points_and_sniff(tmp_path):
    root = _tree(tmp_path / "kitti")
    assert sk.sniff(root) and detect_format(root).name == "semantic-kitti"
    ds = panokit.read(root, format="semantic-kitti")
    assert ds.keys() == ["08/000000", "08/000001", "08/000002"]
    label = ds["08/000001"].load_label()
    assert label.points.shape == (3000, 4) and label.channels == ("x", "y", "z", "remission")
    _, gt, _ = kitti_scan(5, 1, 3000)
    assert np.array_equal(
        label.points, np.fromfile(root / "sequences/08/velodyne/000001.bin", "<f4").reshape(-1, 4)
    )
    assert np.array_equal(sk.raw_from_label(label), np.where((gt & 0xFFFF) == 0, 0, gt))
    pred = panokit.read(root, format="semantic-kitti", labels="predictions")
    assert len(pred) == 3 and pred[0].label_files[0].parent.name == "predictions"


def test_write_read_round_trip_is_byte_exact(tmp_path):
    root = _tree(tmp_path / "kitti")
    ds = panokit.read(root, format="semantic-kitti")
    out = panokit.write(ds, tmp_path / "copy", format="semantic-kitti")
    for i in range(3):
        for sub, ext in (("labels", "label"), ("velodyne", "bin")):
            a = (root / f"sequences/08/{sub}/{i:06d}.{ext}").read_bytes()
            b = (out / f"sequences/08/{sub}/{i:06d}.{ext}").read_bytes()
            if sub == "labels":  # unlabeled points lose their instance bits (they are void)
                a_arr = np.frombuffer(a, "<u4")
                a = np.where((a_arr & 0xFFFF) == 0, 0, a_arr).astype("<u4").tobytes()
            assert a == b
    with pytest.raises(OutputExistsError):
        panokit.write(ds, out, format="semantic-kitti")


def test_write_learning_ids_goes_back_through_learning_map_inv(tmp_path):
    from panokit.core.label import PanopticPointCloud, Segment

    label = PanopticPointCloud(
        np.array([1, 1, 2, 0, 3], dtype=np.uint32),
        {1: Segment(9), 2: Segment(1), 3: Segment(1)},
        DEFAULT_CONFIG.learning_taxonomy,
    )
    ds = panokit.PanopticDataset(
        [panokit.Sample("08/000007", label_loader=lambda: label)],
        DEFAULT_CONFIG.learning_taxonomy,
    )
    out = panokit.write(ds, tmp_path / "o", format="semantic-kitti")
    raw = np.fromfile(out / "sequences/08/labels/000007.label", "<u4")
    sem, inst = SPLIT_16.decode(raw)
    assert sem.tolist() == [40, 40, 10, 0, 10] and inst.tolist() == [0, 0, 1, 0, 2]


def test_user_yaml_config_and_splits(tmp_path):
    root = _tree(tmp_path / "kitti", n=1, sequence="03")
    yaml_text = (
        "labels: {0: unlabeled, 10: car, 40: road}\n"
        "learning_map: {0: 0, 10: 1, 40: 2}\n"
        "learning_map_inv: {0: 0, 1: 10, 2: 40}\n"
        "learning_ignore: {0: true, 1: false, 2: false}\n"
        "split: {train: [3], valid: [8]}\n"
    )
    cfg_path = tmp_path / "mine.yaml"
    cfg_path.write_text(yaml_text)
    cfg = load_config(cfg_path)
    assert cfg.learning_taxonomy.ids == [1, 2] and cfg.raw_taxonomy.isthing(10)
    ds = panokit.read(root, format="semantic-kitti", split="train", config=cfg_path, strict=False)
    assert ds.keys() == ["03/000000"]
    with pytest.raises(
        MissingFileError, match=r"sequence folders \['08'\] not found .* \(split 'valid'\)"
    ):
        panokit.read(root, format="semantic-kitti", split="valid", config=cfg_path)
    with pytest.raises(FormatError, match="unknown SemanticKITTI split 'val'"):
        panokit.read(root, format="semantic-kitti", split="val")
    # the synthetic scan uses raw ids the small config does not know
    with pytest.raises(
        FormatError, match=r"semantic ids \[.*\] are not in the SemanticKITTI labels table"
    ):
        panokit.read(root, format="semantic-kitti", config=cfg_path)[0].load_label()


def test_label_length_must_match_scan(tmp_path):
    root = _tree(tmp_path / "kitti", n=1)
    label = root / "sequences/08/labels/000000.label"
    label.write_bytes(label.read_bytes()[:-8])
    ds = panokit.read(root, format="semantic-kitti")
    with pytest.raises(
        FormatError, match=r"000000.label: 2998 labels but the scan has 3000 points"
    ):
        ds[0].load_label()


def test_truncated_scan(tmp_path):
    root = _tree(tmp_path / "kitti", n=1)
    scan = root / "sequences/08/velodyne/000000.bin"
    scan.write_bytes(scan.read_bytes()[:-6])
    ds = panokit.read(root, format="semantic-kitti")
    with pytest.raises(
        FormatError, match=r"000000.bin: truncated scan: 47994 bytes is not a multiple of 16"
    ):
        ds[0].load_label()
    with pytest.raises(FormatError, match="truncated scan"):
        ds[0].load_media()


def test_read_pair_names_missing_prediction(tmp_path):
    root = _tree(tmp_path / "kitti", n=2)
    (root / "sequences/08/predictions/000001.label").unlink()
    with pytest.raises(
        MissingFileError,
        match=r"prediction missing for scan 08/000001: expected .*predictions/000001.label",
    ):
        sk.read_pair(root, root)


def test_read_pair_checks_prediction_length(tmp_path):
    root = _tree(tmp_path / "kitti", n=1)
    pred = root / "sequences/08/predictions/000000.label"
    pred.write_bytes(pred.read_bytes()[:-4])
    gt, pr = sk.read_pair(root, root)
    with pytest.raises(
        FormatError,
        match=r"predictions/000000.label: 2999 labels but .*labels/000000.label has 3000 points",
    ):
        panokit.evaluate(gt, pr, protocol="semantic-kitti")
    with pytest.raises(FormatError, match="2999 labels but the scan has 3000 points"):
        pr[0].load_label()


def test_cli_eval_mirrors_the_official_layout(tmp_path, capsys):
    import json
    import pickle

    from panokit.cli.main import main
    from panokit.eval import get_protocol

    proto = get_protocol("semantic-kitti")
    assert pickle.loads(pickle.dumps(proto)) == proto  # workers can merge their results
    root = _tree(tmp_path / "kitti", n=4)
    report = tmp_path / "pq.json"
    args = ["eval", str(root), str(root), "--format", "semantic-kitti", "--sequences", "08"]
    assert main([*args, "--json", str(report), "--workers", "2"]) == 0
    result = json.loads(report.read_text())
    gt, pred = sk.read_pair(root, root)
    expected = panokit.evaluate(gt, pred, protocol="semantic-kitti", workers=1)
    assert result["All"]["pq"] == pytest.approx(expected.all.pq, abs=1e-15)
    assert result["extra"]["pq_dagger"] == pytest.approx(expected.extra["pq_dagger"], abs=1e-15)
    assert result["All"]["n"] == 19 and result["protocol"] == "semantic-kitti"
    # split valid = sequence 08 in the official config
    assert (
        main(["eval", str(root), str(root), "--format", "semantic-kitti", "--split", "valid"]) == 0
    )
    # a missing prediction: exit 1, the message names the file
    (root / "sequences/08/predictions/000002.label").unlink()
    capsys.readouterr()
    assert main([*args]) == 1
    err = capsys.readouterr().err
    assert "prediction missing for scan 08/000002" in err and "000002.label" in err


def test_cli_convert_with_label_maps(tmp_path):
    import json

    from panokit.cli.main import main

    root = _tree(tmp_path / "kitti", n=1, points=800)
    out = tmp_path / "nusc"
    assert (
        main(["convert", str(root), str(out), "--from", "semantic-kitti", "--to", "nuscenes"]) == 1
    )
    assert not out.exists()  # nothing half-written
    map_file = tmp_path / "map.json"
    rules = {"10": "vehicle.car", "252": "vehicle.car", "40": 24, "60": 24, "70": 30}
    map_file.write_text(json.dumps({"target": "nuscenes-general", "rules": rules}))
    args = ["convert", str(root), str(out), "--from", "semantic-kitti", "--to", "nuscenes"]
    assert main([*args, "--map", str(map_file)]) == 0
    label = panokit.read(out, format="nuscenes")[0].load_label()
    source = panokit.read(root, format="semantic-kitti")[0].load_label()
    expected = {10: 17, 252: 17, 40: 24, 60: 24, 70: 30}
    assert label.semantic().tolist() == [expected.get(int(c), 0) for c in source.semantic()]
    # the official raw -> learning map, written back through learning_map_inv
    folded = tmp_path / "folded"
    argv = ["convert", str(root), str(folded), "--from", "semantic-kitti", "--to", "semantic-kitti"]
    assert main([*argv, "--map", "semantic-kitti-learning"]) == 0
    back = panokit.read(folded, format="semantic-kitti")[0].load_label()
    learning = DEFAULT_CONFIG.learning_label_map
    inverse = DEFAULT_CONFIG.inverse_label_map
    assert back.semantic().tolist() == [
        inverse[learning[int(c)]] if learning[int(c)] else 0 for c in source.semantic()
    ]


def test_a_failing_write_leaves_nothing(tmp_path):
    from panokit.core.label import PanopticPointCloud, Segment
    from panokit.errors import ValidationError

    good = PanopticPointCloud(
        np.array([1, 1], np.uint32), {1: Segment(40)}, DEFAULT_CONFIG.raw_taxonomy
    )
    bad = PanopticPointCloud(
        np.array([1, 2], np.uint32), {1: Segment(40)}, DEFAULT_CONFIG.raw_taxonomy
    )
    ds = panokit.PanopticDataset(
        [
            panokit.Sample("08/000000", label_loader=lambda: good),
            panokit.Sample("08/000001", label_loader=lambda: bad),
        ],
        DEFAULT_CONFIG.raw_taxonomy,
    )
    with pytest.raises(ValidationError, match="sample '08/000001': segment id 2 occurs in ids"):
        panokit.write(ds, tmp_path / "out", format="semantic-kitti")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_numbered_stuff_round_trips(tmp_path):
    """Predictions often give stuff points instance ids; each value is a segment for the
    official evaluator, so the writer keeps them (validate() would call it two regions)."""
    raw = SPLIT_16.encode(np.array([40, 40, 40, 10]), np.array([0, 4, 4, 2]))
    seq = tmp_path / "in/sequences/08/predictions"
    seq.mkdir(parents=True)
    raw.astype("<u4").tofile(seq / "000000.label")
    ds = panokit.read(tmp_path / "in", format="semantic-kitti", labels="predictions")
    assert len(ds[0].load_label().problems()) == 1  # the stuff rule, nothing else
    out = panokit.write(ds, tmp_path / "out", format="semantic-kitti", labels="predictions")
    assert (
        np.fromfile(out / "sequences/08/predictions/000000.label", "<u4").tolist() == raw.tolist()
    )


def test_cli_eval_config_and_min_points(tmp_path, capsys):
    import json

    from panokit.cli.main import main

    cfg_path = tmp_path / "two.yaml"
    cfg_path.write_text(
        "labels: {0: unlabeled, 10: car, 40: road, 48: sidewalk}\n"
        "learning_map: {0: 0, 10: 1, 40: 2, 48: 2}\n"  # sidewalk folds into road here
        "learning_map_inv: {0: 0, 1: 10, 2: 40}\n"
        "learning_ignore: {0: true, 1: false, 2: false}\n"
        "split: {train: [0], valid: [0], test: []}\n"
    )
    root = tmp_path / "kitti"
    for sub in ("labels", "predictions"):
        (root / "sequences/00" / sub).mkdir(parents=True)
    gt = SPLIT_16.encode(
        np.array([10] * 60 + [40] * 60 + [48] * 60), np.array([1] * 60 + [0] * 120)
    )
    pred = SPLIT_16.encode(np.array([10] * 60 + [40] * 120), np.array([5] * 60 + [0] * 120))
    gt.astype("<u4").tofile(root / "sequences/00/labels/000000.label")
    pred.astype("<u4").tofile(root / "sequences/00/predictions/000000.label")
    report = tmp_path / "r.json"
    base = ["eval", str(root), str(root), "--format", "semantic-kitti", "--json", str(report)]

    def rows() -> list[tuple[str, int, int, int]]:
        result = json.loads(report.read_text())
        return [(r["name"], r["tp"], r["fp"], r["fn"]) for r in result["per_class"]]

    # the user's learning map: 2 classes; GT road and sidewalk are two segments of class 2
    assert main([*base, "--config", str(cfg_path), "--split", "valid"]) == 0
    assert rows() == [("car", 1, 0, 0), ("road", 0, 1, 2)]
    assert json.loads(report.read_text())["All"]["pq"] == 0.5
    # unmatched segments under 61 points are not FN (GT 60 + 60), the 120-point one is FP
    assert main([*base, "--config", str(cfg_path), "--min-points", "61"]) == 0
    assert rows() == [("car", 1, 0, 0), ("road", 0, 1, 0)]
    assert main([*base, "--config", str(cfg_path), "--min-points", "121"]) == 0
    assert rows() == [("car", 1, 0, 0), ("road", 0, 0, 0)]
    # the official yaml: 19 classes, sidewalk its own class; min points 50 by default
    assert main(base) == 0
    official = {r[0]: r[1:] for r in rows()}
    assert len(official) == 19
    assert official["road"] == (0, 1, 1) and official["sidewalk"] == (0, 0, 1)
    assert main([*base, "--min-points", "100"]) == 0
    assert {r[0]: r[1:] for r in rows()}["road"] == (0, 1, 0)
    capsys.readouterr()
    assert main([*base, "--min-points", "-1"]) == 1
    assert "--min-points must be 0 or more, got -1" in " ".join(capsys.readouterr().err.split())
    missing = tmp_path / "nope.yaml"
    assert main([*base, "--config", str(missing)]) == 1
    assert "nope.yaml" in "".join(capsys.readouterr().err.split())
    # coco-panoptic has neither option
    coco = tmp_path / "gt.json"
    coco.write_text("{}")
    argv = ["eval", str(coco), str(coco), "--format", "coco-panoptic", "--min-points", "3"]
    assert main(argv) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "--config and --min-points apply to the LiDAR formats" in err and "coco-panoptic" in err


def test_predictions_in_learning_ids_are_refused_with_a_hint(tmp_path):
    root = _tree(tmp_path / "kitti", n=2, points=2000)
    path = root / "sequences/08/predictions/000001.label"
    sem, inst = SPLIT_16.decode(np.fromfile(path, "<u4"))
    learning = DEFAULT_CONFIG.learning_label_map
    SPLIT_16.encode(np.array([learning[int(c)] for c in sem]), inst).astype("<u4").tofile(path)
    gt, pred = sk.read_pair(root, root)
    with pytest.raises(
        FormatError,
        match=r"predictions/000001.label: category ids \[2, .*\] are not in the dataset's "
        r"taxonomy .*; labels and predictions hold raw ids \(map learning ids back with "
        r"learning_map_inv",
    ):
        panokit.evaluate(gt, pred, protocol="semantic-kitti", workers=1)


def test_a_predictions_only_tree_reads_its_predictions(tmp_path):
    root = _tree(tmp_path / "kitti", n=2, points=500)
    preds = tmp_path / "preds" / "sequences" / "08"
    preds.mkdir(parents=True)
    (root / "sequences/08/predictions").rename(preds / "predictions")
    assert detect_format(tmp_path / "preds").name == "semantic-kitti"
    ds = panokit.read(tmp_path / "preds", format="semantic-kitti")
    assert ds.keys() == ["08/000000", "08/000001"] and ds.meta["labels"] == "predictions"
    expected = np.fromfile(preds / "predictions/000001.label", "<u4")
    assert np.array_equal(sk.raw_from_label(ds[1].load_label()), expected)
    assert len(panokit.read(root, format="semantic-kitti")) == 2  # ground truth: labels/
