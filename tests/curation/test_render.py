import numpy as np
import pytest

from panokit.core import Sample, Segment
from panokit.curation.render import (
    OUTLINE_COLOR,
    birds_eye,
    colorize,
    legend_entries,
    outlines,
    overlay,
    range_image,
    render_sample,
    segment_colors,
)
from panokit.errors import MissingFileError, PanokitError
from tests.curation._data import BIG, cloud, label_a, label_b


def test_stuff_gets_its_colour_and_things_a_deterministic_jitter():
    colors = segment_colors(label_a())
    assert colors[5] == (70, 130, 180) and colors[9] == (128, 64, 128)
    for seg_id, base in ((3, (220, 20, 60)), (BIG, (0, 0, 142))):
        diff = np.abs(np.subtract(colors[seg_id], base))
        assert diff.max() <= 40
    assert segment_colors(label_a()) == colors
    two = segment_colors(label_b())
    assert two[2] != two[4]  # two persons, two colours


def test_colorize_and_outlines():
    lab = label_a()
    rgb = colorize(lab)
    assert rgb.shape == (10, 10, 3) and rgb[0, 0].tolist() == [0, 0, 0]
    assert rgb[1, 1].tolist() == [70, 130, 180]
    edge = outlines(np.array([[1, 1, 2], [1, 1, 2], [3, 3, 3]]))
    assert edge.astype(int).tolist() == [[0, 1, 0], [1, 1, 1], [0, 0, 0]]


def test_overlay_blends_painted_pixels_only():
    lab = label_a()
    image = np.full((10, 10, 3), 100, np.uint8)
    out = overlay(lab, image, alpha=0.5, outline=False)
    assert out[0, 0].tolist() == [100, 100, 100]  # void keeps the image
    assert out[1, 1].tolist() == [85, 115, 140]  # (100 + sky colour) / 2
    out = overlay(lab, image)
    assert out[3, 5].tolist() == list(OUTLINE_COLOR)  # sky above road
    with pytest.raises(PanokitError, match="image is 5x10 but the label is 10x10"):
        overlay(lab, np.zeros((10, 5, 3), np.uint8))


def test_legend_lists_categories_in_taxonomy_order_with_counts():
    assert [(n, c) for n, _, c in legend_entries(label_b())] == [
        ("person", 2),
        ("car", 1),
        ("road", 1),
    ]


def test_birds_eye_and_range_views_put_points_where_they_belong():
    pts = np.array([[10.0, 0.0, 0.0], [-10.0, 10.0, 1.0], [0.0, -5.0, -1.0]])
    lab = cloud(pts, np.array([1, 2, 0], np.uint32), {1: Segment(10), 2: Segment(11)})
    bev = birds_eye(lab, size=20, extent=20.0)
    assert bev[10, 15].tolist() == [128, 64, 128]  # x=10, y=0 -> col 15, row 10
    assert bev[5, 5].tolist() == [70, 130, 180]  # x=-10, y=10 -> col 5, row 5
    assert bev[12, 10].tolist() == [90, 90, 90]  # unlabeled point, grey
    assert int((bev.sum(axis=2) > 0).sum()) == 3
    rng_img = range_image(lab, rows=64, cols=1024)
    # straight ahead at the horizon: column 512, row floor((1 - 25/28) * 64) = 6
    assert rng_img[6, 512].tolist() == [128, 64, 128]
    bare = cloud(pts, np.zeros(3, np.uint32), {})
    bare.points = None
    with pytest.raises(PanokitError, match="needs the points"):
        birds_eye(bare)
    # render_sample names the sample, also when the scan file is missing
    with pytest.raises(PanokitError, match=r"^sample 'c': a point cloud picture needs the points"):
        render_sample(Sample("c", label_loader=lambda: bare))

    def missing():
        raise MissingFileError("scan not found: /x/000000.bin")

    with pytest.raises(PanokitError) as err:
        render_sample(Sample("d", label_loader=lambda: bare, media_loader=missing))
    assert str(err.value) == "sample 'd': no points to draw: scan not found: /x/000000.bin"


def test_render_sample_views():
    s = Sample("a", label_loader=label_a)
    views = render_sample(s)
    assert list(views) == ["overlay"] and views["overlay"].size == (10 + 170, 4 + 14 * 4 + 4)

    def missing():
        raise MissingFileError("image not found: x.jpg")

    s = Sample("b", label_loader=label_a, media_loader=missing)
    assert render_sample(s)["overlay"].getpixel((1, 1)) == (70, 130, 180)
    pts = np.random.default_rng(0).uniform(-5, 5, (30, 3))
    pc = Sample("c", label_loader=lambda: cloud(pts, np.ones(30, np.uint32), {1: Segment(10)}))
    views = render_sample(pc)
    assert list(views) == ["bev", "range"]
    assert views["bev"].size == (512 + 170, 512) and views["range"].size == (1024 + 170, 64)
