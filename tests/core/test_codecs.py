import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from panokit.core.codecs import BDD100K_RGBA, DIVISOR_256, DIVISOR_1000, RGB24, SPLIT_16
from panokit.errors import FormatError

shapes = st.tuples(st.integers(1, 6), st.integers(1, 6))


@given(arrays(np.uint32, shapes, elements=st.integers(0, (1 << 24) - 1)))
def test_rgb24_round_trip(ids):
    rgb = RGB24.encode(ids)
    assert rgb.dtype == np.uint8 and rgb.shape == (*ids.shape, 3)
    np.testing.assert_array_equal(RGB24.decode(rgb), ids)


def test_rgb24_known_values_and_no_uint8_overflow():
    rgb = np.array([[[255, 255, 255], [1, 2, 3], [0, 0, 0]]], dtype=np.uint8)
    np.testing.assert_array_equal(RGB24.decode(rgb), [[16777215, 1 + 2 * 256 + 3 * 65536, 0]])


def test_rgb24_refuses_ids_too_large():
    with pytest.raises(FormatError, match=r"RGB24 can hold ids 0..16777215, found 0..16777216"):
        RGB24.encode(np.array([0, 1 << 24]))


@given(
    arrays(np.int64, shapes, elements=st.integers(0, 60)),
    arrays(np.int64, shapes, elements=st.integers(0, 999)),
)
def test_divisor1000_round_trip(category, instance):
    if category.shape != instance.shape:
        instance = np.resize(instance, category.shape)
    packed = DIVISOR_1000.encode(category, instance)
    cat, inst = DIVISOR_1000.decode(packed)
    np.testing.assert_array_equal(cat, category)
    np.testing.assert_array_equal(inst, instance)


def test_divisor_known_values_and_range():
    assert DIVISOR_1000.encode(np.array(26), np.array(3)) == 26003
    assert DIVISOR_256.encode(np.array(19), np.array(5)) == 19 * 256 + 5
    with pytest.raises(
        FormatError, match=r"divisor1000: instance ids must be in 0..999, found 0..1000"
    ):
        DIVISOR_1000.encode(np.array([1, 1]), np.array([0, 1000]))


@given(
    arrays(np.uint32, st.integers(1, 50), elements=st.integers(0, 0xFFFF)),
    arrays(np.uint32, st.integers(1, 50), elements=st.integers(0, 0xFFFF)),
)
def test_split16_round_trip(semantic, instance):
    instance = np.resize(instance, semantic.shape)
    packed = SPLIT_16.encode(semantic, instance)
    assert packed.dtype == np.uint32
    sem, inst = SPLIT_16.decode(packed)
    np.testing.assert_array_equal(sem, semantic)
    np.testing.assert_array_equal(inst, instance)


def test_split16_known_value_and_high_instances():
    assert int(SPLIT_16.encode(np.array(10), np.array(40000))) == 10 | (40000 << 16)
    with pytest.raises(FormatError, match=r"split16: instance ids must be in 0..65535"):
        SPLIT_16.encode(np.array([1]), np.array([70000]))


@given(
    arrays(np.uint8, shapes, elements=st.integers(0, 40)),
    arrays(np.uint16, shapes, elements=st.integers(0, 0xFFFF)),
    arrays(np.uint8, shapes, elements=st.integers(0, 15)),
)
def test_bdd100k_rgba_round_trip(category, annotation, bits):
    annotation = np.resize(annotation, category.shape)
    bits = np.resize(bits, category.shape)
    rgba = BDD100K_RGBA.encode(
        category,
        annotation,
        truncated=bits >> 3 & 1,
        occluded=bits >> 2 & 1,
        crowd=bits >> 1 & 1,
        ignore=bits & 1,
    )
    fields = BDD100K_RGBA.decode(rgba)
    np.testing.assert_array_equal(fields.category, category)
    np.testing.assert_array_equal(fields.annotation, annotation)
    np.testing.assert_array_equal(fields.truncated, (bits >> 3 & 1).astype(bool))
    np.testing.assert_array_equal(fields.crowd, (bits >> 1 & 1).astype(bool))
    np.testing.assert_array_equal(fields.ignore, (bits & 1).astype(bool))


def test_bdd100k_rgba_layout():
    rgba = BDD100K_RGBA.encode(np.array([35]), np.array([0x0102]), crowd=np.array([1]))
    assert rgba.tolist() == [[35, 2, 1, 2]]
