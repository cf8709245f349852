import json
from pathlib import Path

import numpy as np
import pytest

import panokit
from panokit.errors import FormatError, MissingFileError
from panokit.formats import scannet as sn
from panokit.formats.data.scannet import BENCHMARK_IDS, BENCHMARK_LABEL_MAP, NYU40_TAXONOMY
from panokit.formats.registry import detect_format

SCENE = "scene0007_00"
TSV = (
    "id\traw_category\tcategory\tcount\tnyu40id\teigen13id\tnyuClass\tnyu40class\n"
    "1\twall\twall\t8277\t1\t12\twall\twall\n"
    "2\tchair\tchair\t4646\t5\t4\tchair\tchair\n"
    "3\tfloor\tfloor\t2985\t2\t5\tfloor\tfloor\n"
    "4\tbook\tbook\t1000\t23\t2\tbook\tbooks\n"
)
# 12 vertices in 6 over-segments (ids 10..15); segment 15 is never annotated
SEG_INDICES = [10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15]
GROUPS = [
    {"id": 0, "objectId": 0, "segments": [10], "label": "wall"},
    {"id": 1, "objectId": 1, "segments": [11], "label": "wall"},
    {"id": 2, "objectId": 2, "segments": [12], "label": "chair"},
    {"id": 3, "objectId": 3, "segments": [13], "label": "chair"},
    {"id": 4, "objectId": 4, "segments": [14], "label": "floor"},
]


def write_ply(
    path: Path, xyz: np.ndarray, rgb: np.ndarray, fmt: str = "binary_little_endian"
) -> None:
    n = len(xyz)
    header = (
        f"ply\nformat {fmt} 1.0\ncomment made by a test\nelement vertex {n}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nproperty uchar alpha\n"
        "element face 1\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode()
    if fmt == "ascii":
        rows = "".join(
            f"{x} {y} {z} {r} {g} {b} 255\n"
            for (x, y, z), (r, g, b) in zip(xyz.tolist(), rgb.tolist(), strict=True)
        )
        path.write_bytes(header + rows.encode() + b"3 0 1 2\n")
        return
    order = "<" if fmt == "binary_little_endian" else ">"
    dtype = np.dtype(
        [(c, order + t) for c, t in zip("xyz", "fff", strict=True)]
        + [(c, "u1") for c in ("red", "green", "blue", "alpha")]
    )
    data = np.zeros(n, dtype=dtype)
    for i, c in enumerate("xyz"):
        data[c] = xyz[:, i]
    for i, c in enumerate(("red", "green", "blue")):
        data[c] = rgb[:, i]
    data["alpha"] = 255
    face = np.array([3], "u1").tobytes() + np.array([0, 1, 2], order + "i4").tobytes()
    path.write_bytes(header + data.tobytes() + face)


def make_scannet(
    root: Path, groups=GROUPS, seg_indices=SEG_INDICES, fmt="binary_little_endian"
) -> Path:
    scene_dir = root / "scans" / SCENE
    scene_dir.mkdir(parents=True)
    n = len(seg_indices)
    xyz = np.arange(n * 3, dtype=np.float32).reshape(n, 3) / 4
    rgb = (np.arange(n * 3).reshape(n, 3) * 7 % 256).astype(np.uint8)
    write_ply(scene_dir / f"{SCENE}_vh_clean_2.ply", xyz, rgb, fmt)
    segs = {"params": {}, "sceneId": SCENE, "segIndices": seg_indices}
    (scene_dir / f"{SCENE}_vh_clean_2.0.010000.segs.json").write_text(json.dumps(segs))
    agg = {"sceneId": SCENE, "appId": "test", "segGroups": groups, "segmentsFile": "x"}
    (scene_dir / f"{SCENE}.aggregation.json").write_text(json.dumps(agg))
    (root / sn.LABELS_TSV).write_text(TSV)
    return root


def test_benchmark_tables():
    assert len(BENCHMARK_IDS) == 20 and NYU40_TAXONOMY[1].name == "wall"
    assert [c.id for c in NYU40_TAXONOMY.stuff] == [1, 2]
    assert NYU40_TAXONOMY[13].ignore_in_eval and not NYU40_TAXONOMY[14].ignore_in_eval
    assert BENCHMARK_LABEL_MAP.apply(np.array([1, 13, 39, 40])).tolist() == [1, 0, 39, 0]


@pytest.mark.parametrize("fmt", ["binary_little_endian", "binary_big_endian", "ascii"])
def test_ply_vertices(tmp_path, fmt):
    xyz = np.array([[0.5, 1.0, -2.0], [3.0, 4.25, 5.0]], np.float32)
    rgb = np.array([[1, 2, 3], [250, 251, 252]], np.uint8)
    write_ply(tmp_path / "m.ply", xyz, rgb, fmt)
    vertices = sn.read_ply_vertices(tmp_path / "m.ply")
    assert np.array_equal(
        sn.vertex_points(vertices), np.column_stack([xyz, rgb]).astype(np.float32)
    )


def test_truncated_ply(tmp_path):
    write_ply(tmp_path / "m.ply", np.zeros((4, 3), np.float32), np.zeros((4, 3), np.uint8))
    data = (tmp_path / "m.ply").read_bytes()
    (tmp_path / "m.ply").write_bytes(data[: data.index(b"end_header\n") + 11 + 30])
    with pytest.raises(
        FormatError, match=r"m\.ply: truncated PLY: 4 vertices need 64 bytes, found 30"
    ):
        sn.read_ply_vertices(tmp_path / "m.ply")


def test_read_scene_panoptic_labels(tmp_path):
    root = make_scannet(tmp_path)
    assert detect_format(root).name == "scannet"
    ds = panokit.read(root, format="scannet")
    assert ds.keys() == [SCENE]
    label = ds[SCENE].load_label()
    assert label.semantic().tolist() == [1, 1, 1, 1, 5, 5, 5, 5, 2, 2, 0, 0]
    # wall is stuff: its two objects are one segment; chairs keep objectId + 1
    assert label.instance().tolist() == [0, 0, 0, 0, 1, 1, 2, 2, 0, 0, 0, 0]
    chairs = {s.attributes["instance"] for s in label.segments.values() if s.category_id == 5}
    assert chairs == {3, 4}
    assert len(label.segments) == 4 and label.problems() == []
    assert label.points.shape == (12, 6) and label.channels[3:] == ("red", "green", "blue")


def test_aggregation_with_unknown_segments(tmp_path):
    groups = [*GROUPS, {"id": 5, "objectId": 5, "segments": [14, 99, 98], "label": "chair"}]
    root = make_scannet(tmp_path, groups=groups)
    with pytest.raises(
        FormatError,
        match=r"aggregation.json: segGroups\[5\] \(objectId 5, 'chair'\) references segments \[98, 99\] that are not in the over-segmentation",
    ):
        panokit.read(root, format="scannet")[0].load_label()


def test_unknown_raw_label_and_bad_lengths(tmp_path):
    root = make_scannet(
        tmp_path / "a", groups=[{"objectId": 0, "segments": [10], "label": "sofa bed"}]
    )
    with pytest.raises(
        FormatError, match="label 'sofa bed' is not a raw_category of scannetv2-labels"
    ):
        panokit.read(root, format="scannet")[0].load_label()
    root = make_scannet(tmp_path / "b")
    segs = root / "scans" / SCENE / f"{SCENE}_vh_clean_2.0.010000.segs.json"
    segs.write_text(json.dumps({"segIndices": SEG_INDICES[:-1]}))
    with pytest.raises(
        FormatError,
        match=r"11 segIndices but the mesh scene0007_00_vh_clean_2\.ply has 12 vertices",
    ):
        panokit.read(root, format="scannet")[0].load_label()
    (tmp_path / "b" / sn.LABELS_TSV).unlink()
    with pytest.raises(MissingFileError, match="ScanNet label table not found"):
        panokit.read(root, format="scannet")[0].load_label()


def test_write_benchmark_files_and_read_back(tmp_path):
    root = make_scannet(tmp_path / "scannet")
    ds = panokit.read(root, format="scannet")
    out = panokit.write(ds, tmp_path / "bench", format="scannet")
    semantic = (out / "semantic" / f"{SCENE}.txt").read_text().split()
    instance = (out / "instance" / f"{SCENE}.txt").read_text().split()
    assert semantic == ["1", "1", "1", "1", "5", "5", "5", "5", "2", "2", "0", "0"]
    assert instance == [
        "1000",
        "1000",
        "1000",
        "1000",
        "5003",
        "5003",
        "5004",
        "5004",
        "2000",
        "2000",
        "0",
        "0",
    ]
    back = panokit.read(out, format="scannet")
    assert back.keys() == [SCENE]
    assert back[0].load_label().same_partition(ds[0].load_label())


def test_convert_to_the_20_benchmark_classes_writes_nyu40_ids(tmp_path):
    """--map scannet-benchmark: non-benchmark classes (book, NYU40 23) become void; the
    benchmark's 20 classes keep their NYU40 ids, so the benchmark files can be written."""
    from panokit.cli.main import main

    groups = [*GROUPS, {"id": 5, "objectId": 5, "segments": [15], "label": "book"}]
    root = make_scannet(tmp_path / "scannet", groups=groups)
    plain = tmp_path / "nyu40"
    assert main(["convert", str(root), str(plain), "--to", "scannet"]) == 0
    assert (plain / "instance" / f"{SCENE}.txt").read_text().split()[-2:] == ["23006", "23006"]
    out = tmp_path / "bench20"
    assert (
        main(["convert", str(root), str(out), "--to", "scannet", "--map", "scannet-benchmark"]) == 0
    )
    semantic = (out / "semantic" / f"{SCENE}.txt").read_text().split()
    instance = (out / "instance" / f"{SCENE}.txt").read_text().split()
    assert semantic == ["1", "1", "1", "1", "5", "5", "5", "5", "2", "2", "0", "0"]
    assert instance[4:] == ["5003", "5003", "5004", "5004", "2000", "2000", "0", "0"]


def test_cli_eval_names_a_missing_prediction_file(tmp_path, capsys):
    from panokit.cli.main import main

    root = make_scannet(tmp_path / "scannet")
    pred = panokit.write(panokit.read(root, format="scannet"), tmp_path / "pred", format="scannet")
    report = tmp_path / "r.json"
    args = ["eval", str(root), str(pred), "--format", "scannet", "--json", str(report)]
    assert main(args) == 0
    result = json.loads(report.read_text())
    assert (result["All"]["pq"], result["All"]["n"], result["All"]["tp"]) == (1.0, 3, 4)
    assert main([*args, "--sequences", SCENE]) == 0
    capsys.readouterr()
    assert main([*args, "--split", "val"]) == 1
    assert "scannet takes no --split" in capsys.readouterr().err
    (pred / "instance" / f"{SCENE}.txt").rename(pred / "instance" / "scene0001_00.txt")
    report.unlink()
    assert main(args) == 1
    err = "".join(capsys.readouterr().err.split())  # rich wraps long paths anywhere
    assert f"predictionmissingforscene{SCENE}:expected{pred / 'instance' / SCENE}.txt" in err
    assert not report.exists()
    lines = (pred / "instance" / "scene0001_00.txt").read_text().split()
    (pred / "instance" / f"{SCENE}.txt").write_text("\n".join(lines[:-1]) + "\n")
    assert main(args) == 1
    err = "".join(capsys.readouterr().err.split())
    assert f"{SCENE}.txt" in err and "is11elements" in err and "is12elements" in err
