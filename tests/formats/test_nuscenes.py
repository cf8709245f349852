import json
from pathlib import Path

import numpy as np
import pytest

import panokit
from panokit.core.codecs import DIVISOR_1000
from panokit.errors import FormatError, MissingFileError
from panokit.formats import nuscenes as nu
from panokit.formats.data.nuscenes import CHALLENGE_TAXONOMY, GENERAL_TAXONOMY, GENERAL_TO_CHALLENGE
from panokit.formats.lidar_raw import read_panoptic_npz
from panokit.formats.registry import detect_format
from panokit.synthetic_lidar import nuscenes_scan, write_kitti_tree, write_nuscenes_tree

VERSION = "v1.0-synthetic"


def _tree(tmp_path: Path, n: int = 2, points: int = 2000) -> tuple[Path, Path, list[str]]:
    tokens = write_nuscenes_tree(
        tmp_path / "data", tmp_path / "results", n, seed=4, n_points=points
    )
    return tmp_path / "data", tmp_path / "results", tokens


def test_class_tables():
    assert len(GENERAL_TAXONOMY) == 31 and len(CHALLENGE_TAXONOMY) == 16
    assert [c.name for c in CHALLENGE_TAXONOMY.things][:3] == ["barrier", "bicycle", "bus"]
    assert GENERAL_TO_CHALLENGE[3] == 7 and GENERAL_TO_CHALLENGE[16] == 3  # child, rigid bus
    assert sum(1 for v in GENERAL_TO_CHALLENGE.values() if v == 0) == 12
    assert (
        GENERAL_TAXONOMY[24].name == "flat.driveable_surface" and not GENERAL_TAXONOMY[24].isthing
    )


def test_read_ground_truth_through_the_tables(tmp_path):
    data, results, tokens = _tree(tmp_path)
    assert detect_format(data).name == "nuscenes" and detect_format(results).name == "nuscenes"
    ds = panokit.read(data, format="nuscenes")
    assert ds.keys() == tokens and ds.taxonomy is GENERAL_TAXONOMY
    label = ds[1].load_label()
    points, gt, _ = nuscenes_scan(4, 1, 2000)
    assert label.channels == ("x", "y", "z", "intensity", "ring")
    assert np.array_equal(label.points, points)
    cls, _ = DIVISOR_1000.decode(gt)
    assert np.array_equal(label.semantic(), cls)
    for seg_id, seg in label.segments.items():
        where = label.ids == seg_id
        assert set(gt[where].tolist()) == {seg.category_id * 1000 + seg.attributes["instance"]}
    assert (label.ids == 0).sum() == (cls == 0).sum()
    challenge = panokit.read(data, format="nuscenes", classes="challenge")[1].load_label()
    assert challenge.taxonomy is CHALLENGE_TAXONOMY
    lut = np.array([GENERAL_TO_CHALLENGE[i] for i in range(32)])
    assert np.array_equal(challenge.semantic(), lut[cls])
    # segments stay one per file value (adult and child of one instance index stay apart)
    assert len(challenge.segments) == len({v for v in gt.tolist() if lut[v // 1000] != 0})


def test_lidarseg_task(tmp_path):
    data, _, tokens = _tree(tmp_path, n=1)
    _, gt, _ = nuscenes_scan(4, 0, 2000)
    (data / "lidarseg" / VERSION).mkdir(parents=True)
    (gt // 1000).astype(np.uint8).tofile(data / "lidarseg" / VERSION / f"{tokens[0]}_lidarseg.bin")
    record = {
        "token": "l0",
        "sample_data_token": tokens[0],
        "filename": f"lidarseg/{VERSION}/{tokens[0]}_lidarseg.bin",
    }
    (data / VERSION / "lidarseg.json").write_text(json.dumps([record]))
    label = panokit.read(data, format="nuscenes", task="lidarseg")[0].load_label()
    assert np.array_equal(label.semantic(), gt // 1000)
    assert len(label.segments) == len(set((gt // 1000).tolist()) - {0})


def test_round_trip_ground_truth(tmp_path):
    data, _, _ = _tree(tmp_path)
    ds = panokit.read(data, format="nuscenes")
    out = panokit.write(ds, tmp_path / "copy", format="nuscenes", version=VERSION)
    back = panokit.read(out, format="nuscenes")
    assert back.keys() == ds.keys()
    for a, b in zip(ds, back, strict=True):
        la, lb = a.load_label(), b.load_label()
        assert la.equals(lb) and np.array_equal(la.points, lb.points)
        assert np.array_equal(
            read_panoptic_npz(a.label_files[0]), read_panoptic_npz(b.label_files[0])
        )


def test_write_results_layout_in_challenge_classes(tmp_path):
    data, _, tokens = _tree(tmp_path)
    ds = panokit.read(data, format="nuscenes")
    out = panokit.write(ds, tmp_path / "res", format="nuscenes", results=True, split="test")
    meta = json.loads((out / "test/submission.json").read_text())["meta"]
    assert meta["task"] == "segmentation" and meta["use_lidar"] is True
    values = np.load(out / "panoptic/test" / f"{tokens[0]}_panoptic.npz")["data"]
    assert values.dtype == np.uint16
    _, gt, _ = nuscenes_scan(4, 0, 2000)
    lut = np.array([GENERAL_TO_CHALLENGE[i] for i in range(32)])
    assert np.array_equal(values // 1000, lut[gt // 1000])
    cls, inst = DIVISOR_1000.decode(values)
    assert inst[cls >= 11].max(initial=0) == 0  # stuff has instance 0
    for c in set(cls[(cls >= 1) & (cls <= 10)].tolist()):  # things: 1..N per class
        numbers = sorted(set(inst[cls == c].tolist()))
        assert numbers == list(range(1, len(numbers) + 1))
    preds = panokit.read(out, format="nuscenes")
    assert preds.taxonomy is CHALLENGE_TAXONOMY and preds.keys() == sorted(tokens)


def test_missing_sample_data_token(tmp_path):
    data, _, tokens = _tree(tmp_path)
    table = data / VERSION / "sample_data.json"
    records = json.loads(table.read_text())
    table.write_text(json.dumps(records[1:]))
    with pytest.raises(
        FormatError,
        match=rf"panoptic.json: record 0 \(.*\) refers to sample_data token '{tokens[0]}', which is not in .*sample_data.json",
    ):
        panokit.read(data, format="nuscenes")


def test_missing_prediction_and_bad_lengths(tmp_path):
    data, results, tokens = _tree(tmp_path)
    (results / "panoptic/val" / f"{tokens[1]}_panoptic.npz").unlink()
    with pytest.raises(
        MissingFileError,
        match=rf"prediction missing for sample_data {tokens[1]}: expected .*val/{tokens[1]}_panoptic.npz",
    ):
        nu.read_pair(data, results)
    sweep = data / f"samples/LIDAR_TOP/{tokens[0]}.pcd.bin"
    sweep.write_bytes(sweep.read_bytes()[:-20])
    ds = panokit.read(data, format="nuscenes")
    with pytest.raises(
        FormatError,
        match=rf"{tokens[0]}_panoptic.npz: 2000 labels but .*{tokens[0]}.pcd.bin has 1999 points",
    ):
        ds[0].load_label()
    sweep.write_bytes(sweep.read_bytes()[:-3])
    with pytest.raises(
        FormatError, match="truncated point cloud: 39977 bytes is not a multiple of 20"
    ):
        ds[0].load_media()


def test_convert_kitti_to_nuscenes_needs_a_label_map(tmp_path):
    write_kitti_tree(tmp_path / "kitti", 1, seed=2, n_points=1500)
    kitti = panokit.read(tmp_path / "kitti", format="semantic-kitti")
    with pytest.raises(
        FormatError, match="cannot be written as nuscenes-general without a label map"
    ):
        panokit.write(kitti, tmp_path / "nope", format="nuscenes")
    assert not (tmp_path / "nope").exists()
    rules = {10: 17, 252: 17, 30: 2, 254: 2, 40: 24, 60: 24, 48: 26, 70: 30, 50: 28}
    map_file = tmp_path / "kitti_to_nuscenes.json"
    map_file.write_text(json.dumps({"default": 0, "mapping": rules}))
    out = panokit.write(kitti, tmp_path / "nusc", format="nuscenes", label_map=str(map_file))
    label = panokit.read(out, format="nuscenes")[0].load_label()
    source = kitti[0].load_label()
    expected = np.array([rules.get(int(c), 0) for c in source.semantic()])
    assert np.array_equal(label.semantic(), expected)
    assert label.points.shape == (1500, 5)


def test_official_split_lists():
    from panokit.formats.data.nuscenes import official_splits

    splits = official_splits()
    sizes = {name: len(scenes) for name, scenes in splits.items()}
    assert sizes == {
        "train": 700,
        "val": 150,
        "test": 150,
        "mini_train": 8,
        "mini_val": 2,
        "train_detect": 350,
        "train_track": 350,
    }
    assert len(set(splits["train"] + splits["val"] + splits["test"])) == 1000
    assert splits["val"][:3] == ("scene-0003", "scene-0012", "scene-0013")
    assert splits["mini_val"] == ("scene-0103", "scene-0916")
    assert set(splits["train"]) == set(splits["train_detect"] + splits["train_track"])


def test_split_selects_the_records_of_its_scenes(tmp_path):
    data, results = tmp_path / "data", tmp_path / "results"
    tokens = write_nuscenes_tree(data, results, 4, seed=4, n_points=500, other_scans=2)
    everything = panokit.read(data, format="nuscenes")
    assert len(everything) == 6
    val = panokit.read(data, format="nuscenes", split="val")
    assert val.keys() == tokens
    assert [s.meta["scene"] for s in val] == ["scene-0003"] * 3 + ["scene-0012"]
    scenes = panokit.read(data, format="nuscenes", scenes=["scene-0012"])
    assert scenes.keys() == tokens[3:]
    # the two extra scans (a train scene) have no prediction: only --split val evaluates
    with pytest.raises(MissingFileError, match=r"prediction missing for sample_data [0-9a-f]{32}"):
        nu.read_pair(data, results)
    gt, pred = nu.read_pair(data, results, split="val")
    assert gt.keys() == pred.keys() == tokens
    with pytest.raises(
        FormatError,
        match=r"split 'train' has 700 scenes and 699 of them are not in these tables "
        r"\(e\.g\. \['scene-0002', 'scene-0004', 'scene-0005'\]\); the tables hold the whole "
        r"of: val, mini_val",
    ):
        panokit.read(data, format="nuscenes", split="train")
    with pytest.raises(FormatError, match=r"unknown nuScenes split 'vall'; did you mean 'val'\?"):
        panokit.read(data, format="nuscenes", split="vall")


def test_split_needs_consistent_scene_tables(tmp_path):
    data, _, tokens = _tree(tmp_path, n=2, points=300)
    sample_table = data / VERSION / "sample.json"
    samples = json.loads(sample_table.read_text())
    samples[0]["scene_token"] = "f" * 32
    sample_table.write_text(json.dumps(samples))
    with pytest.raises(
        FormatError,
        match=rf"sample.json: record 0 \({samples[0]['token']}\) refers to scene token "
        rf"'{'f' * 32}', which is not in .*scene.json",
    ):
        panokit.read(data, format="nuscenes", split="val")
    sample_table.write_text(json.dumps(samples[1:]))
    with pytest.raises(
        FormatError,
        match=rf"sample_data.json: sample_data {tokens[0]} refers to sample token "
        rf"'{samples[0]['token']}', which is not in .*sample.json",
    ):
        panokit.read(data, format="nuscenes", split="val")
    sample_table.unlink()
    with pytest.raises(
        MissingFileError,
        match=r"nuScenes table not found: .*sample.json \(needed to select split 'val'\)",
    ):
        panokit.read(data, format="nuscenes", split="val")


def test_lidarseg_results_and_their_length(tmp_path):
    data, results = tmp_path / "data", tmp_path / "results"
    tokens = write_nuscenes_tree(data, results, 2, seed=4, n_points=700, lidarseg=True)
    assert detect_format(results).name == "nuscenes"
    preds = panokit.read(results, format="nuscenes", task="lidarseg")
    assert preds.keys() == sorted(tokens) and preds.meta["task"] == "lidarseg"
    gt, pred = nu.read_pair(data, results, split="val", task="lidarseg")
    assert gt.meta["protocol"] == "nuscenes-lidarseg" and gt.taxonomy is CHALLENGE_TAXONOMY
    path = results / "lidarseg/val" / f"{tokens[1]}_lidarseg.bin"
    path.write_bytes(path.read_bytes()[:-1])
    gt, pred = nu.read_pair(data, results, split="val", task="lidarseg")
    with pytest.raises(
        FormatError,
        match=rf"{tokens[1]}_lidarseg.bin: 699 labels but .*{tokens[1]}_lidarseg.bin has 700",
    ):
        panokit.evaluate(gt, pred, protocol="nuscenes-lidarseg", workers=1)
    path.unlink()
    with pytest.raises(
        MissingFileError,
        match=rf"prediction missing for sample_data {tokens[1]}: expected "
        rf".*lidarseg/val/{tokens[1]}_lidarseg.bin",
    ):
        nu.read_pair(data, results, split="val", task="lidarseg")
    # a results folder with only lidarseg/ is read as lidarseg
    import shutil

    shutil.rmtree(results / "panoptic")
    only = panokit.read(results, format="nuscenes")
    assert only.meta["task"] == "lidarseg" and only.keys() == [tokens[0]]


def test_cli_eval_split_lidarseg_and_min_points(tmp_path, capsys):
    from panokit.cli.main import main

    data, results = tmp_path / "data", tmp_path / "results"
    write_nuscenes_tree(data, results, 3, seed=8, n_points=3000, lidarseg=True, other_scans=1)
    report = tmp_path / "r.json"
    base = ["eval", str(data), str(results), "--format", "nuscenes", "--workers", "1"]
    assert main([*base, "--split", "val", "--json", str(report)]) == 0
    gt, pred = nu.read_pair(data, results, split="val")
    expected = panokit.evaluate(gt, pred, protocol="nuscenes", workers=1)
    assert json.loads(report.read_text())["All"]["pq"] == expected.all.pq
    assert main([*base, "--split", "val", "--min-points", "1", "--json", str(report)]) == 0
    one = panokit.evaluate(gt, pred, protocol=nu.protocol(min_points=1), workers=1)
    got = json.loads(report.read_text())
    assert (got["All"]["fp"], got["All"]["fn"]) == (one.all.fp, one.all.fn)
    assert (one.all.fp, one.all.fn) != (expected.all.fp, expected.all.fn)
    # --protocol nuscenes-lidarseg reads the lidarseg files of GT and results
    args = [*base, "--split", "val", "--protocol", "nuscenes-lidarseg", "--json", str(report)]
    assert main(args) == 0
    lidarseg = json.loads(report.read_text())
    gt, pred = nu.read_pair(data, results, split="val", task="lidarseg")
    assert lidarseg["extra"] == panokit.evaluate(gt, pred, "nuscenes-lidarseg").extra
    capsys.readouterr()
    import shutil

    shutil.rmtree(results / "panoptic")  # lidarseg results only: nuscenes-lidarseg by default
    assert main([*base, "--split", "val", "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "semantic IoU (nuscenes-lidarseg" in out and "fwIoU" in out
    assert json.loads(report.read_text()) == lidarseg
    assert main([*base, "--split", "val", "--min-points", "3"]) == 1
    assert "--min-points does not apply to protocol 'nuscenes-lidarseg'" in _err(capsys)
    assert main([*base, "--config", str(report)]) == 1
    assert "(--config, a SemanticKITTI YAML) does not apply to nuscenes" in _err(capsys)
    assert main([*base]) == 1  # the train scan has no prediction
    assert "prediction missing for sample_data" in _err(capsys)


def _err(capsys) -> str:
    return " ".join(capsys.readouterr().err.split())


def test_split_needs_a_record_for_every_sample_of_its_scenes(tmp_path):
    data, _, tokens = _tree(tmp_path, n=3, points=300)
    table = data / VERSION / "panoptic.json"
    records = json.loads(table.read_text())
    table.write_text(json.dumps([r for r in records if r["sample_data_token"] != tokens[1]]))
    assert len(panokit.read(data, format="nuscenes")) == 2  # without a split: what is listed
    sample = json.loads((data / VERSION / "sample_data.json").read_text())[1]["sample_token"]
    with pytest.raises(
        FormatError,
        match=rf"sample.json: 1 samples of split 'val' have no record in panoptic.json \(e.g. "
        rf"sample {sample} of scene scene-0003\); nuscenes-devkit evaluates every keyframe",
    ):
        panokit.read(data, format="nuscenes", split="val")


def test_a_lidarseg_only_dataroot_reads_its_lidarseg_labels(tmp_path):
    data, results = tmp_path / "data", tmp_path / "results"
    tokens = write_nuscenes_tree(data, results, 2, seed=4, n_points=400, lidarseg=True)
    (data / VERSION / "panoptic.json").unlink()
    ds = panokit.read(data, format="nuscenes")
    assert ds.meta["task"] == "lidarseg" and ds.keys() == tokens
    _, gt, _ = nuscenes_scan(4, 1, 400)
    assert np.array_equal(ds[1].load_label().semantic(), gt // 1000)


def test_write_lidarseg_ground_truth_and_results(tmp_path):
    data, results = tmp_path / "data", tmp_path / "results"
    tokens = write_nuscenes_tree(data, results, 2, seed=4, n_points=5000, lidarseg=True)
    gt = panokit.read(data, format="nuscenes", task="lidarseg")
    out = panokit.write(gt, tmp_path / "gt", format="nuscenes")  # the task it was read with
    records = json.loads((out / "v1.0-panokit/lidarseg.json").read_text())
    assert [r["token"] for r in records] == [r["sample_data_token"] for r in records] == tokens
    back = panokit.read(out, format="nuscenes")
    assert back.meta["task"] == "lidarseg" and back.keys() == tokens
    for a, b in zip(gt, back, strict=True):
        assert np.array_equal(a.load_label().semantic(), b.load_label().semantic())
        name = f"lidarseg/v1.0-panokit/{a.key}_lidarseg.bin"
        assert (out / name).read_bytes() == (
            data / f"lidarseg/{VERSION}/{a.key}_lidarseg.bin"
        ).read_bytes()
    preds = panokit.read(results, format="nuscenes", task="lidarseg")
    written = panokit.write(
        preds, tmp_path / "res", format="nuscenes", task="lidarseg", split="val"
    )
    for token in tokens:
        name = f"lidarseg/val/{token}_lidarseg.bin"
        assert (written / name).read_bytes() == (results / name).read_bytes()
    assert json.loads((written / "val/submission.json").read_text())["meta"]["use_lidar"]
    # ground truth has void points: as results (challenge classes) it is refused
    challenge = panokit.read(data, format="nuscenes", task="lidarseg", classes="challenge")
    with pytest.raises(
        FormatError, match=r"points have no class \(void\); nuScenes-lidarseg results"
    ):
        panokit.write(challenge, tmp_path / "bad", format="nuscenes", task="lidarseg")
    assert not (tmp_path / "bad").exists()
