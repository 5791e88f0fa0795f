"""convsweep.conv_core.shift: zero-fill translation and the relative change, against literal loops."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convsweep.conv_core.shift import relative_change, shift_images


def _shift_loop(images: np.ndarray, down: int, right: int) -> np.ndarray:
    out = np.zeros_like(images)
    n, height, width = images.shape
    for index in range(n):
        for row in range(height):
            for col in range(width):
                if row - down >= 0 and col - right >= 0:
                    out[index, row, col] = images[index, row - down, col - right]
    return out


@settings(max_examples=40, deadline=None)
@given(
    height=st.integers(1, 7),
    width=st.integers(1, 7),
    down=st.integers(0, 8),
    right=st.integers(0, 8),
    seed=st.integers(0, 2**16),
)
def test_shift_images_equals_loop_any_shape(height, width, down, right, seed):
    images = np.random.default_rng(seed).integers(0, 256, size=(2, height, width), dtype=np.uint8)
    np.testing.assert_array_equal(shift_images(images, down=down, right=right), _shift_loop(images, down, right))


def test_shift_images_zero_fill_not_roll():
    image = np.zeros((1, 3, 4), np.uint8)
    image[0, :, 3] = 9  # a bright last column: a roll would wrap it to the first
    shifted = shift_images(image, right=1)
    assert shifted[0, :, 0].tolist() == [0, 0, 0]
    assert shifted.sum() == 0


def test_shift_images_single_image_keeps_its_shape():
    image = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert shift_images(image, down=1).shape == (3, 4)


@pytest.mark.parametrize("argument", [{"down": -1}, {"right": 1.5}, {"right": True}])
def test_shift_images_bad_shift_names_it(argument):
    with pytest.raises(ValueError, match=next(iter(argument))):
        shift_images(np.zeros((1, 2, 2)), **argument)


def test_relative_change_equals_norm_ratio_loop():
    rng = np.random.default_rng(3)
    first, second = rng.normal(size=(2, 3, 5, 4))
    ratios, measured = relative_change(first, second)
    for index in range(3):
        expected = np.sqrt(((first[index] - second[index]) ** 2).sum()) / np.sqrt((first[index] ** 2).sum())
        assert ratios[index] == pytest.approx(expected, rel=1e-12)
    assert measured.all()


def test_relative_change_offset_compares_the_moved_region():
    maps = np.random.default_rng(4).normal(size=(2, 5, 6))
    moved = np.zeros_like(maps)
    moved[:, 1:, 1:] = maps[:, :-1, :-1]  # the map moved by one cell down and right
    ratios, _ = relative_change(maps, moved, offset=(1, 1))
    np.testing.assert_array_equal(ratios, 0.0)


def test_relative_change_all_zero_reference_is_not_measured():
    ratios, measured = relative_change(np.zeros((1, 2, 2)), np.ones((1, 2, 2)))
    assert ratios.tolist() == [0.0] and measured.tolist() == [False]


def test_relative_change_mismatched_shapes_refused():
    with pytest.raises(ValueError, match="one shape"):
        relative_change(np.zeros((1, 2, 2)), np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match="offset"):
        relative_change(np.zeros((1, 2, 2)), np.zeros((1, 2, 2)), offset=(2, 0))
