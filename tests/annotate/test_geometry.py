import itertools

import numpy as np
import pytest

from panokit.annotate.geometry import points_in_polygon, polygon_index, stroke_index
from panokit.errors import LabelError


def _mask(shape, index):
    out = np.zeros(shape[0] * shape[1], dtype=np.uint8)
    out[index] = 1
    return out.reshape(shape)


def _brute_stroke(shape, path, radius):
    h, w = shape
    ys, xs = np.mgrid[:h, :w].astype(np.float64)
    pts = np.asarray(path, dtype=np.float64)
    segs = [(pts[0], pts[0])] if len(pts) == 1 else list(itertools.pairwise(pts))
    hit = np.zeros(shape, dtype=bool)
    for a, b in segs:
        d = b - a
        len2 = float(d @ d)
        t = (
            np.zeros(shape)
            if len2 == 0
            else np.clip(((xs - a[0]) * d[0] + (ys - a[1]) * d[1]) / len2, 0, 1)
        )
        ex, ey = xs - a[0] - t * d[0], ys - a[1] - t * d[1]
        hit |= ex * ex + ey * ey <= radius * radius
    return np.flatnonzero(hit.ravel())


def test_disk_radius_one_is_a_plus_and_radius_1_5_a_square():
    plus = _mask((5, 5), stroke_index((5, 5), [(2, 2)], 1.0))
    assert plus.tolist() == [
        [0, 0, 0, 0, 0],
        [0, 0, 1, 0, 0],
        [0, 1, 1, 1, 0],
        [0, 0, 1, 0, 0],
        [0, 0, 0, 0, 0],
    ]
    square = _mask((5, 5), stroke_index((5, 5), [(2, 2)], 1.5))
    assert square.sum() == 9 and square[1:4, 1:4].all()


def test_stroke_is_clipped_to_the_image():
    idx = stroke_index((4, 4), [(0, 0)], 1.0)
    assert idx.tolist() == [0, 1, 4]


@pytest.mark.parametrize("radius", [0.0, 1.0, 2.5, 6.0])
def test_long_paths_use_the_stamp_path_and_match_brute_force(radius):
    rng = np.random.default_rng(3)
    path = np.cumsum(rng.normal(0, 1.5, (120, 2)), axis=0) + np.array([30, 20])
    fast = stroke_index((40, 60), path.tolist(), radius)
    assert fast.tolist() == _brute_stroke((40, 60), path, radius).tolist()
    short = stroke_index((40, 60), path[:30].tolist(), radius)
    assert short.tolist() == _brute_stroke((40, 60), path[:30], radius).tolist()


def test_polygon_pixels_by_centre_rule():
    inside = _mask((5, 6), polygon_index((5, 6), [(0.5, 0.5), (3.5, 0.5), (3.5, 2.5), (0.5, 2.5)]))
    assert inside.tolist() == [
        [0, 0, 0, 0, 0, 0],
        [0, 1, 1, 1, 0, 0],
        [0, 1, 1, 1, 0, 0],
        [0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0],
    ]
    # integer vertices: half-open rule keeps the top row and left column, drops bottom and right
    edge = _mask((5, 5), polygon_index((5, 5), [(1, 1), (3, 1), (3, 3), (1, 3)]))
    assert np.flatnonzero(edge.ravel()).tolist() == [6, 7, 11, 12]


def test_polygon_index_agrees_with_point_rule_on_random_polygons():
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[:30, :40].astype(np.float64)
    for _ in range(20):
        verts = rng.uniform(-5, 45, (int(rng.integers(3, 12)), 2))
        verts[:, 1] *= 0.75
        fast = polygon_index((30, 40), verts.tolist())
        slow = np.flatnonzero(points_in_polygon(xs.ravel(), ys.ravel(), verts.tolist()))
        assert fast.tolist() == slow.tolist()


def test_degenerate_polygon_and_bad_input():
    assert polygon_index((5, 5), [(0, 0), (4, 4)]).size == 0
    with pytest.raises(LabelError, match="polygon vertices holds NaN"):
        polygon_index((5, 5), [(0, 0), (np.nan, 1), (2, 2)])
    with pytest.raises(LabelError, match="a brush radius must be >= 0, got -1"):
        stroke_index((5, 5), [(1, 1)], -1)
