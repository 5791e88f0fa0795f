"""Gray mappings: signed responses around mid-gray, magnitudes from black, both reversible by their scale."""

from __future__ import annotations

import numpy as np

from tasks.render import magnitude_to_gray, signed_to_gray, to_gray


def test_signed_to_gray_zero_is_mid_gray_and_extremes_are_black_and_white():
    values = np.array([[-4.0, 0.0, 2.0, 4.0]], np.float32)
    gray, scale = signed_to_gray(values)
    assert scale == 4.0
    assert gray.dtype == np.uint8
    assert gray.tolist() == [[0, 128, 191, 255]]  # 127.5 + 127.5 * x / 4, rounded half to even


def test_signed_to_gray_all_zero_is_flat_mid_gray():
    gray, scale = signed_to_gray(np.zeros((2, 3), np.float32))
    assert scale == 0.0 and (gray == 128).all()


def test_magnitude_to_gray_scales_max_to_white():
    values = np.array([[0.0, 1.0], [2.0, 4.0]], np.float32)
    gray, scale = magnitude_to_gray(values)
    assert scale == 4.0
    assert gray.tolist() == [[0, 64], [128, 255]]


def test_magnitude_to_gray_all_zero_is_black():
    gray, scale = magnitude_to_gray(np.zeros((3, 3), np.float32))
    assert scale == 0.0 and (gray == 0).all()


def test_to_gray_scale_undoes_the_mapping_within_half_a_gray_level():
    rng = np.random.default_rng(1)
    signed = rng.standard_normal((8, 8)).astype(np.float32) * 300
    gray, scale = to_gray(signed, signed=True)
    recovered = (gray.astype(np.float64) - 127.5) / 127.5 * scale
    assert np.abs(recovered - signed).max() <= scale / 255 + 1e-9
    magnitude = np.abs(signed)
    gray, scale = to_gray(magnitude, signed=False)
    assert np.abs(gray.astype(np.float64) / 255 * scale - magnitude).max() <= scale / 510 + 1e-9


def test_to_gray_keeps_uint8_input_as_read():
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    gray, scale = to_gray(image, signed=True)
    assert gray is image and scale == 1.0
