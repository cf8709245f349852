import numpy as np
import pytest

from panokit.core.codecs import SPLIT_16
from panokit.errors import FormatError, MissingFileError
from panokit.formats.lidar_raw import (
    RawScan,
    dense_codes,
    dense_runs,
    expand_runs,
    read_panoptic_npz,
)


@pytest.mark.parametrize(
    ("size", "instances", "run"),
    [(10, 5, 1), (5000, 3, 1), (120_000, 300, 40), (120_000, 65536, 7), (50_000, 65536, 1)],
)
def test_dense_codes_equal_np_unique(size, instances, run):
    rng = np.random.default_rng(size + instances)
    values = SPLIT_16.encode(
        rng.integers(0, 260, size // run + 1), rng.integers(0, instances, size // run + 1)
    )
    values = np.repeat(values, run)[:size]
    uniq, codes = dense_codes(values)
    expected_uniq, expected_codes = np.unique(values, return_inverse=True)
    assert np.array_equal(uniq, expected_uniq)
    assert np.array_equal(codes, expected_codes.ravel())
    # the run form the readers use: map the codes, then expand
    table = np.arange(len(uniq), dtype=np.uint32) * 3 + 1
    runs_uniq, run_codes, lengths = dense_runs(values)
    assert np.array_equal(runs_uniq, expected_uniq)
    assert (lengths is None) == (run == 1 or size < 4096)
    expanded = expand_runs(table, run_codes, lengths)
    assert expanded.dtype == np.uint32
    assert np.array_equal(expanded, table[expected_codes.ravel()])


def test_dense_codes_of_uint16_and_big_semantic_ids():
    values = np.array([31999, 0, 17003, 17003, 24000] * 2000, dtype=np.uint16)
    uniq, codes = dense_codes(values)
    assert uniq.tolist() == [0, 17003, 24000, 31999]
    assert codes[:5].tolist() == [3, 0, 1, 1, 2]
    wide = SPLIT_16.encode(np.full(9000, 65535), np.arange(9000) % 3)
    assert dense_codes(wide)[0].tolist() == np.unique(wide).tolist()


def test_raw_scan_checks(tmp_path):
    labels = SPLIT_16.encode(np.array([10, 40, 7]), np.array([1, 0, 0]))
    labels.astype("<u4").tofile(tmp_path / "a.label")
    scan = RawScan(tmp_path / "a.label", "split16", known=frozenset({0, 10, 40}))
    with pytest.raises(
        FormatError, match=r"a\.label: category ids \[7\] are not in the dataset's taxonomy"
    ):
        scan.categories(scan.values())
    (tmp_path / "v.bin").write_bytes(b"\0" * 16 * 4)
    short = RawScan(tmp_path / "a.label", "split16", points_from=tmp_path / "v.bin")
    with pytest.raises(FormatError, match=r"a\.label: 3 labels but .*v\.bin has 4 points"):
        short.values()
    np.savez_compressed(tmp_path / "p.npz", other=np.zeros(3, np.uint16))
    with pytest.raises(
        FormatError, match=r"p\.npz: a panoptic \.npz holds the key 'data', found \['other'\]"
    ):
        read_panoptic_npz(tmp_path / "p.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(
        FormatError,
        match=r"bad\.npz: not a \.npz file \(a zip archive holding the array 'data'\); it "
        r"starts with b'not '",
    ):
        read_panoptic_npz(tmp_path / "bad.npz")
    zipped = (tmp_path / "p.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(zipped[: len(zipped) // 2])
    with pytest.raises(FormatError, match=r"cut\.npz: not a readable \.npz file"):
        read_panoptic_npz(tmp_path / "cut.npz")
    with pytest.raises(MissingFileError, match=r"panoptic label file not found: .*gone\.npz"):
        read_panoptic_npz(tmp_path / "gone.npz")


def test_raw_scans_refuse_truncated_files(tmp_path):
    """np.fromfile silently drops a partial last value: the evaluation path must not."""
    label = tmp_path / "000000.label"
    np.arange(10, dtype="<u4").tofile(label)
    scan = tmp_path / "000000.bin"
    np.zeros((10, 4), dtype="<f4").tofile(scan)
    raw = RawScan(label, "split16", points_from=scan)
    assert raw.values().tolist() == list(range(10))
    scan.write_bytes(scan.read_bytes()[:-5])
    with pytest.raises(
        FormatError,
        match=r"000000.bin: truncated file: 155 bytes is not a multiple of 16 "
        r"\(4 float32 per point: x, y, z, remission\)",
    ):
        raw.values()
    label.write_bytes(label.read_bytes() + b"xy")
    with pytest.raises(
        FormatError,
        match=r"000000.label: truncated label file: 42 bytes is not a multiple of 4",
    ):
        RawScan(label, "split16").values()
    sweep = tmp_path / "sweep.pcd.bin"
    sweep.write_bytes(b"\0" * 41)
    with pytest.raises(FormatError, match=r"41 bytes is not a multiple of 20 \(5 float32"):
        RawScan(label, "uint8-bin", points_from=sweep, point_bytes=20).values()
