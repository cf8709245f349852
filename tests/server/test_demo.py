"""The demo data: generated scenes whose ground truth is valid."""

from __future__ import annotations

import numpy as np

from panokit.server.demo import DEMO_TAXONOMY, demo_scene


def test_demo_scene_is_deterministic_and_valid() -> None:
    rgb, truth = demo_scene(seed=3, width=64, height=48)
    again, truth_again = demo_scene(seed=3, width=64, height=48)
    assert rgb.shape == (48, 64, 3) and rgb.dtype == np.uint8
    assert np.array_equal(rgb, again)
    assert truth.equals(truth_again)
    truth.validate()
    categories = {s.category_id for s in truth.segments.values()}
    assert {3, 4} <= categories  # road and sky always
    assert truth.taxonomy is DEMO_TAXONOMY
