import numpy as np
import pytest

from panokit.core import Segment
from panokit.curation.features import (
    IMAGE_FEATURES,
    composition,
    dataset_features,
    image_features,
    presence_matrix,
    scan_features,
)
from tests.curation._data import TAX, cloud, label_a, label_b, memory_dataset


def test_image_features_of_flat_images():
    white = np.full((20, 40, 3), 255, np.uint8)
    f = dict(zip(IMAGE_FEATURES, image_features(white), strict=True))
    assert f["brightness"] == pytest.approx(1.0) and f["contrast"] == pytest.approx(0.0)
    assert f["saturation"] == 0.0 and f["bright_fraction"] == 1.0 and f["dark_fraction"] == 0.0
    assert f["aspect_ratio"] == 2.0 and f["edge_density"] == 0.0
    red = np.zeros((10, 10, 3), np.uint8)
    red[..., 0] = 255
    f = dict(zip(IMAGE_FEATURES, image_features(red), strict=True))
    assert (f["red"], f["green"], f["saturation"]) == (1.0, 0.0, 1.0)
    assert f["brightness"] == pytest.approx(0.299)


def test_composition_and_presence():
    np.testing.assert_allclose(composition(label_a(), TAX), [0.04, 0.10, 0.46, 0.39])
    ds = memory_dataset([label_a(), label_b(), None])
    assert presence_matrix(ds).tolist() == [
        [True, True, True, True],
        [True, True, True, False],
        [False, False, False, False],
    ]


def test_dataset_features_fill_missing_media_with_the_mean():
    black = np.zeros((10, 10, 3), np.uint8)
    white = np.full((10, 10, 3), 255, np.uint8)
    ds = memory_dataset([label_a(), label_a(), label_b()], media=[black, white, None])
    table = dataset_features(ds)
    assert table.names[0] == "media.brightness" and table.names[-1] == "label.sky"
    assert table.values.shape == (3, len(IMAGE_FEATURES) + 4)
    assert table.values[:, 0].tolist() == pytest.approx([0.0, 1.0, 0.5])
    assert table.values[0, -4:] == pytest.approx(np.sqrt([0.04, 0.10, 0.46, 0.39]))
    labels_only = dataset_features(ds, media=False)
    assert labels_only.names == ["label.person", "label.car", "label.road", "label.sky"]
    # two processes give the same table, rows in dataset order
    parallel = dataset_features(ds, workers=2)
    assert parallel.keys == table.keys and parallel.names == table.names
    np.testing.assert_array_equal(parallel.values, table.values)


def test_scan_features():
    pts = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 2.0]])
    lab = cloud(pts, np.array([1, 1]), {1: Segment(10)})
    f = scan_features(lab)
    assert f.tolist() == pytest.approx([np.log10(2), 3.5, 1.5, 1.0, 1.0, 0.0])


def test_series_frame_shows_channels_2_1_0_as_rgb():
    from panokit.curation.features import series_frame

    series = np.zeros((2, 10, 4, 4))
    series[:, 2, :2] = 3000.0  # "red" (B4) bright in the top half
    series[0, 0] = 1000.0  # "blue" (B2) at one date: mean 500
    frame = series_frame(series)
    assert frame.shape == (4, 4, 3) and frame.dtype == np.uint8
    # stretched 0..3000: blue 500 -> 42.5, rounded half to even
    assert frame[0, 0].tolist() == [255, 0, 42] and frame[3, 3].tolist() == [0, 0, 42]
