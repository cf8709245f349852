import json

import numpy as np
import pytest

import panokit
from panokit.core import PanopticImage, Sample, Segment
from panokit.dataset import PanopticDataset
from panokit.errors import FormatError, MissingFileError
from panokit.formats import pastis

TAX = pastis.taxonomy()


def make_patch(root, pid, fold, t=3, hw=(6, 8), seed=0):
    rng = np.random.default_rng(seed)
    h, w = hw
    semantic = np.zeros(hw, np.uint8)
    instance = np.zeros(hw, np.int64)
    semantic[:3, :4], instance[:3, :4] = 2, 101  # soft winter wheat parcel
    semantic[3:, :4], instance[3:, :4] = 3, 102  # corn parcel
    semantic[:, 4:6], instance[:, 4:6] = 19, 103  # void parcel
    semantic[0, 7] = 19  # void pixel without parcel
    for name in ("DATA_S2", "ANNOTATIONS", "INSTANCE_ANNOTATIONS"):
        (root / name).mkdir(parents=True, exist_ok=True)
    np.save(
        root / "DATA_S2" / f"S2_{pid}.npy", rng.integers(0, 5000, (t, 10, h, w)).astype(np.int16)
    )
    target = np.stack([semantic, semantic, np.zeros_like(semantic)])
    np.save(root / "ANNOTATIONS" / f"TARGET_{pid}.npy", target)
    np.save(root / "INSTANCE_ANNOTATIONS" / f"INSTANCES_{pid}.npy", instance)
    return {
        "type": "Feature",
        "properties": {
            "ID_PATCH": pid,
            "Fold": fold,
            "dates-S2": json.dumps({str(i): 20180917 + 10 * i for i in range(t)}),
        },
        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
    }


def make_root(root):
    features = [make_patch(root, 10000, 1), make_patch(root, 10001, 2, t=4, seed=1)]
    (root / "metadata.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features})
    )
    return root


def test_reads_official_layout(tmp_path):
    ds = panokit.read(make_root(tmp_path / "PASTIS"))
    assert ds.format == "pastis" and ds.modality == "image-series"
    assert ds.keys() == ["10000", "10001"]
    sample = ds[1]
    assert sample.meta["fold"] == 2
    assert sample.meta["dates"] == [20180917, 20180927, 20180937, 20180947]
    series = sample.load_media()
    assert isinstance(series, np.memmap) and series.shape == (4, 10, 6, 8)
    label = sample.load_label()
    assert isinstance(label, PanopticImage)
    # parcels keep their ids as segment ids; background gets a fresh id above them
    assert {k: v.category_id for k, v in label.segments.items()} == {
        101: 2,
        102: 3,
        103: 19,
        104: 0,
    }
    assert label.segments[103].attributes == {"instance": 103}
    assert label.ids[0, 7] == 0 and label.ids[0, 6] == 104
    label.validate()


def test_fold_selection(tmp_path):
    root = make_root(tmp_path / "PASTIS")
    assert panokit.read(root, folds=[2]).keys() == ["10001"]
    assert panokit.read(root, format="pastis", folds=[1, 2]).keys() == ["10000", "10001"]
    assert len(panokit.read(root, folds=[5])) == 0


def test_write_read_round_trip(tmp_path):
    ds = panokit.read(make_root(tmp_path / "PASTIS"))
    panokit.write(ds, tmp_path / "out", format="pastis")
    back = panokit.read(tmp_path / "out", folds=[1, 2])
    assert back.keys() == ds.keys()
    for a, b in zip(ds, back, strict=True):
        assert b.load_label().equals(a.load_label())
        np.testing.assert_array_equal(b.load_media(), a.load_media())
        assert b.meta["dates"] == a.meta["dates"]
    target = np.load(tmp_path / "out" / "ANNOTATIONS" / "TARGET_10000.npy")
    assert target.shape == (3, 6, 8) and target[0, 0, 7] == 19 and target[0, 0, 0] == 2
    assert np.load(tmp_path / "out" / "INSTANCE_ANNOTATIONS" / "INSTANCES_10000.npy")[0, 7] == 0


def test_in_memory_label_round_trip(tmp_path):
    ids = np.array([[5, 5, 1], [6, 6, 1], [0, 7, 7]], np.uint32)
    segs = {1: Segment(1), 5: Segment(0), 6: Segment(18), 7: Segment(19)}
    lab = PanopticImage(ids, segs, TAX)
    ds = PanopticDataset([Sample("3", label_loader=lambda: lab)], TAX)
    panokit.write(ds, tmp_path / "out", format="pastis")
    back = panokit.read(tmp_path / "out")[0].load_label()
    assert back.same_partition(lab)
    assert back.ids.tolist() == [[8, 8, 1], [6, 6, 1], [0, 7, 7]]


def test_disagreeing_arrays_name_the_files(tmp_path):
    root = make_root(tmp_path / "PASTIS")
    np.save(root / "INSTANCE_ANNOTATIONS" / "INSTANCES_10001.npy", np.zeros((5, 8), np.int64))
    ds = panokit.read(root)
    with pytest.raises(FormatError) as err:
        ds[1].load_label()
    assert str(err.value) == (
        f"patch 10001: {root}/INSTANCE_ANNOTATIONS/INSTANCES_10001.npy is 5x8 but "
        f"{root}/ANNOTATIONS/TARGET_10001.npy is 6x8 (H x W must agree)"
    )
    np.save(root / "DATA_S2" / "S2_10000.npy", np.zeros((2, 10, 6, 7), np.int16))
    with pytest.raises(
        FormatError, match=r"S2_10000.npy has shape \(2, 10, 6, 7\), expected T x C x 6x8"
    ):
        ds[0].load_label()
    with pytest.raises(FormatError, match=r"S2_10000.npy has shape"):
        panokit.write(ds, tmp_path / "out", format="pastis")
    assert not (tmp_path / "out").exists()


def test_unknown_class_and_missing_metadata(tmp_path):
    with pytest.raises(FormatError, match=r"x: unknown PASTIS classes \[20\]; classes are 0-19"):
        pastis.label_from_arrays(np.array([[20]]), np.array([[0]]), where="x")
    (tmp_path / "ANNOTATIONS").mkdir()
    (tmp_path / "DATA_S2").mkdir()
    np.save(tmp_path / "ANNOTATIONS" / "TARGET_7.npy", np.zeros((3, 2, 2), np.uint8))
    assert panokit.read(tmp_path, format="pastis").keys() == ["7"]
    with pytest.raises(MissingFileError, match=r"metadata.geojson is needed to select folds \[1\]"):
        panokit.read(tmp_path, format="pastis", folds=[1])


def test_pastis_r_series_selection(tmp_path):
    root = make_root(tmp_path / "PASTIS")
    (root / "DATA_S1A").mkdir()
    np.save(root / "DATA_S1A" / "S1A_10000.npy", np.ones((5, 3, 6, 8), np.float32))
    np.save(root / "DATA_S1A" / "S1A_10001.npy", np.ones((7, 3, 6, 8), np.float32))
    ds = panokit.read(root, satellite="S1A")
    assert ds[1].load_media().shape == (7, 3, 6, 8) and ds.meta["satellite"] == "S1A"
    assert ds[0].meta["dates"] == []  # the fake metadata has no dates-S1A
    with pytest.raises(FormatError, match="unknown satellite 'S3'"):
        panokit.read(root, satellite="S3")


def test_read_pair_split_names_folds(tmp_path):
    root = make_root(tmp_path / "PASTIS")
    gt, pred = pastis.read_pair(root, root, split="2")
    assert gt.keys() == ["10001"] and pred.keys() == ["10000", "10001"]
    with pytest.raises(
        FormatError, match="PASTIS has folds 1-5, not named splits; got split 'val'"
    ):
        pastis.read_pair(root, root, split="val")


def test_patch_ids_do_not_depend_on_sample_order(tmp_path):
    """A ground truth and a prediction converted apart, in different orders, pair by key."""

    def label(seed):
        ids = np.zeros((4, 4), np.uint32)
        ids[: seed + 1, :2] = 5
        return PanopticImage(ids, {5: Segment(2)}, TAX)

    samples = {k: Sample(k, label_loader=lambda s=i: label(s)) for i, k in enumerate("abc")}
    forward = PanopticDataset([samples[k] for k in "abc"], TAX, format="memory")
    backward = PanopticDataset([samples[k] for k in "cba"], TAX, format="memory")
    panokit.write(forward, tmp_path / "gt", format="pastis")
    panokit.write(backward, tmp_path / "pred", format="pastis")
    for name in ("gt", "pred"):
        doc = json.loads((tmp_path / name / "metadata.geojson").read_text())
        ids = {f["properties"]["name"]: f["properties"]["ID_PATCH"] for f in doc["features"]}
        assert ids == {"a": 1, "b": 2, "c": 3}
    gt, pred = pastis.read_pair(tmp_path / "gt", tmp_path / "pred")
    assert gt.keys() == pred.keys() == ["a", "b", "c"]
    for g, p in zip(gt, pred, strict=True):
        assert g.load_label().equals(p.load_label())
