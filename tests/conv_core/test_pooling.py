"""pool2d against the literal loop, known PyTorch/Keras values and scipy.ndimage."""

import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import given
from hypothesis import strategies as st

from convsweep import conv_core
from convsweep.conv_core import output_size, pool2d, resolve_pool_padding
from tests.conv_core.inputs import DTYPES, PROPERTY, random_images
from tests.conv_core.reference import pool2d_loop, window_starts


def pair(value):
    return tuple(value) if isinstance(value, tuple) else (value, value)


@st.composite
def pool_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    size = draw(st.one_of(st.integers(1, 4), st.tuples(st.integers(1, 4), st.integers(1, 4))))
    size_y, size_x = pair(size)
    stride = draw(st.one_of(st.none(), st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = draw(
        st.one_of(
            st.sampled_from(["valid", "same"]),
            st.integers(0, min(size_y, size_x) // 2),
            st.tuples(st.integers(0, size_y // 2), st.integers(0, size_x // 2)),
            st.tuples(
                st.integers(0, size_y // 2),
                st.integers(0, size_y // 2),
                st.integers(0, size_x // 2),
                st.integers(0, size_x // 2),
            ),
        )
    )
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    return dict(
        x=random_images(rng, draw(st.sampled_from(DTYPES)), shape),
        size=size,
        stride=stride,
        mode=draw(st.sampled_from(conv_core.POOL_MODES)),
        padding=padding,
        ceil_mode=draw(st.booleans()),
    )


@PROPERTY
@given(case=pool_cases())
def test_pool2d_matches_loop_oracle(case):
    x = case["x"]
    n, height, width = x.shape
    size = pair(case["size"])
    stride = size if case["stride"] is None else pair(case["stride"])
    pads = resolve_pool_padding(case["padding"], image_size=(height, width), pool_size=size, stride=stride)
    rows = window_starts(height, size[0], stride[0], pads[0], pads[1], case["ceil_mode"])
    cols = window_starts(width, size[1], stride[1], pads[2], pads[3], case["ceil_mode"])
    if not rows or not cols:
        with pytest.raises(ValueError, match="x of shape"):
            pool2d(**case)
        return
    got = pool2d(**case)
    assert got.dtype == np.float32
    assert got.shape == (
        n,
        output_size(height, size[0], stride=stride[0], padding=pads[:2], ceil_mode=case["ceil_mode"]),
        output_size(width, size[1], stride=stride[1], padding=pads[2:], ceil_mode=case["ceil_mode"]),
    )
    want = np.stack([pool2d_loop(image, size, stride, case["mode"], pads, case["ceil_mode"]) for image in x])
    # Max is exact; avg sums in float64 in the same window order and rounds once: also exact.
    np.testing.assert_array_equal(got, want)


# --- known values ----------------------------------------------------------------------------

GRID = np.arange(16, dtype=np.float64).reshape(4, 4)


def test_pool2d_max_2x2_on_4x4():
    np.testing.assert_array_equal(pool2d(GRID, 2), [[5, 7], [13, 15]])


def test_pool2d_avg_2x2_on_4x4():
    np.testing.assert_array_equal(pool2d(GRID, 2, mode="avg"), [[2.5, 4.5], [10.5, 12.5]])


def test_pool2d_same_ignores_padding_like_keras():
    x = np.arange(1, 10, dtype=np.float64).reshape(3, 3)
    # Keras MaxPooling2D/AveragePooling2D(2, padding="same") on 3x3: 2x2 output, the right and
    # bottom windows hang over one padded column/row that does not count.
    np.testing.assert_array_equal(pool2d(x, 2, padding="same"), [[5, 6], [8, 9]])
    np.testing.assert_array_equal(pool2d(x, 2, mode="avg", padding="same"), [[3, 4.5], [7.5, 9]])


def test_pool2d_negative_values_never_lose_to_padding():
    x = -np.ones((3, 3)) * 7
    np.testing.assert_array_equal(pool2d(x, 3, stride=1, padding=1), np.full((3, 3), -7.0))
    np.testing.assert_array_equal(pool2d(x, 3, stride=1, padding=1, mode="avg"), np.full((3, 3), -7.0))


def test_pool2d_ceil_mode_like_pytorch():
    x = np.arange(25, dtype=np.float64).reshape(5, 5)
    # torch.nn.functional.max_pool2d(x, 2, ceil_mode=True) on 5x5 -> 3x3, last window overhangs.
    np.testing.assert_array_equal(pool2d(x, 2, ceil_mode=True), [[6, 8, 9], [16, 18, 19], [21, 23, 24]])
    np.testing.assert_array_equal(pool2d(x, 2, ceil_mode=False), [[6, 8], [16, 18]])
    # avg_pool2d(..., ceil_mode=True, count_include_pad=False): the overhang divides by real pixels.
    np.testing.assert_array_equal(pool2d(x, 2, mode="avg", ceil_mode=True)[2], [20.5, 22.5, 24])


def test_pool2d_ceil_mode_drops_window_in_right_padding():
    x = np.arange(25, dtype=np.float64).reshape(5, 5)
    assert pool2d(x, 2, padding=1, ceil_mode=True).shape == (3, 3)


def test_pool2d_uint8_max_exact_and_float32():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (6, 26, 26)).astype(np.uint8)
    got = pool2d(x, 2)
    assert got.dtype == np.float32 and got.shape == (6, 13, 13)
    np.testing.assert_array_equal(got, x.reshape(6, 13, 2, 13, 2).max(axis=(2, 4)))


def test_pool2d_does_not_modify_input():
    x = np.arange(16, dtype=np.float32).reshape(4, 4)
    before = x.copy()
    pool2d(x, 3, stride=1, padding=1)
    np.testing.assert_array_equal(x, before)


# --- cross-check with scipy.ndimage ----------------------------------------------------------


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.integers(1, 4),
    stride=st.integers(1, 3),
    shape=st.tuples(st.integers(4, 14), st.integers(4, 14)),
)
def test_pool2d_valid_equals_scipy_filters_subsampled(seed, size, stride, shape):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-5, 5, shape)
    # scipy's window for size k is centred at k // 2; shift it to start at the output pixel.
    origin = -(size // 2)
    out_h = output_size(shape[0], size, stride=stride)
    out_w = output_size(shape[1], size, stride=stride)
    maxima = ndi.maximum_filter(x, size=size, origin=origin)[::stride, ::stride][:out_h, :out_w]
    means = ndi.uniform_filter(x, size=size, origin=origin)[::stride, ::stride][:out_h, :out_w]
    np.testing.assert_array_equal(pool2d(x, size, stride=stride), maxima.astype(np.float32))
    np.testing.assert_allclose(pool2d(x, size, stride=stride, mode="avg"), means, rtol=2.5e-7, atol=1e-12)


# --- bad arguments: ValueError/TypeError naming the argument and its value -------------------


@pytest.mark.parametrize("name", ["size", "stride"])
@pytest.mark.parametrize("value", [0, -1, (2, 0)])
def test_pool2d_non_positive_size_or_stride(name, value):
    with pytest.raises(ValueError, match=rf"{name}(\[\d\])? must be >= 1, got {name}(\[\d\])?=-?\d"):
        pool2d(np.zeros((8, 8)), **{"size": 2, name: value})


def test_pool2d_padding_more_than_half_the_window():
    with pytest.raises(ValueError, match=r"pool padding must be <= size // 2 = 1, got padding=2"):
        pool2d(np.zeros((8, 8)), 2, padding=2)
    with pytest.raises(ValueError, match=r"size // 2 = 0, got padding=\(1, 0\).*size=1"):
        pool2d(np.zeros((8, 8)), (1, 3), padding=(1, 0))


@pytest.mark.parametrize("padding", [-1, (0, -1)])
def test_pool2d_negative_padding(padding):
    with pytest.raises(ValueError, match=r"padding must be >= 0, got padding=-1"):
        pool2d(np.zeros((8, 8)), 2, padding=padding)


def test_pool2d_full_padding_and_unknown_mode():
    with pytest.raises(ValueError, match="padding='full' is not a pooling padding"):
        pool2d(np.zeros((8, 8)), 2, padding="full")
    with pytest.raises(ValueError, match="mode='min'"):
        pool2d(np.zeros((8, 8)), 2, mode="min")


def test_pool2d_ceil_mode_must_be_bool():
    with pytest.raises(TypeError, match="ceil_mode must be a bool, got ceil_mode='yes'"):
        pool2d(np.zeros((8, 8)), 2, ceil_mode="yes")


def test_pool2d_input_smaller_than_window():
    with pytest.raises(ValueError, match=r"x of shape \(1, 8\) is too small along the height for size=2.*2 > 1"):
        pool2d(np.zeros((1, 8)), 2)


@pytest.mark.parametrize("shape", [(8,), (1, 1, 8, 8)])
def test_pool2d_wrong_number_of_dimensions(shape):
    with pytest.raises(ValueError, match=rf"x must be one image \(H, W\) or a batch \(N, H, W\), got {len(shape)}-D"):
        pool2d(np.zeros(shape), 2)


def test_pool2d_empty_batch():
    with pytest.raises(ValueError, match=r"x is an empty batch: shape \(0, 4, 4\)"):
        pool2d(np.zeros((0, 4, 4)), 2)
