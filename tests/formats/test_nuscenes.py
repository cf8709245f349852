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
