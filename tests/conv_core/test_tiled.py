"""Row-tiled conv2d and pool2d give exactly the whole-image results (convsweep.conv_core.tiled)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convsweep import conv_core
from convsweep.conv_core.tiled import RowPooler, conv2d_rows


def _assemble(blocks, width):
    rows = [rows for _, rows in blocks]
    return np.concatenate(rows) if rows else np.empty((0, width), np.float32)


@st.composite
def conv_cases(draw):
    kernel_h = draw(st.sampled_from([1, 3, 5]))
    kernel_w = draw(st.sampled_from([1, 3]))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 3)))
    reach_h = (kernel_h - 1) * dilation[0] + 1
    reach_w = (kernel_w - 1) * dilation[1] + 1
    height = draw(st.integers(reach_h, reach_h + 14))
    width = draw(st.integers(reach_w, reach_w + 10))
    pad_mode = draw(st.sampled_from(["zeros", "reflect", "replicate"]))
    padding = draw(
        st.one_of(
            st.sampled_from(["valid", "same", "full"]),
            st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)),
        )
    )
    if pad_mode == "reflect":
        pads = conv_core.resolve_padding(
            padding, image_size=(height, width), kernel_size=(kernel_h, kernel_w), stride=stride, dilation=dilation
        )
        if max(pads[:2]) >= height or max(pads[2:]) >= width:
            padding = "valid"
    integer_kernel = draw(st.booleans())
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, size=(height, width), dtype=np.uint8)
    if integer_kernel:
        kernel = rng.integers(-3, 4, size=(kernel_h, kernel_w)).astype(np.float64)
    else:  # float64 arithmetic inside conv2d: the order of the sums matters
        kernel = rng.normal(size=(kernel_h, kernel_w))
    tile_rows = draw(st.integers(1, 5))
    return image, kernel, dict(stride=stride, padding=padding, pad_mode=pad_mode, dilation=dilation), tile_rows


@settings(max_examples=150, deadline=None)
@given(conv_cases())
def test_conv2d_rows_equal_whole_image_conv2d_bit_for_bit(case):
    image, kernel, options, tile_rows = case
    whole = conv_core.conv2d(image, kernel, **options)
    tiled = _assemble(conv2d_rows(image, kernel, tile_rows=tile_rows, **options), whole.shape[1])
    assert tiled.dtype == np.float32
    np.testing.assert_array_equal(tiled, whole)
    assert tiled.tobytes() == whole.tobytes()  # also the sign of zeros


def test_conv2d_rows_yield_bands_of_tile_rows_starting_at_their_first_row():
    image = np.arange(10 * 6, dtype=np.uint8).reshape(10, 6)
    starts = [(first, len(rows)) for first, rows in conv2d_rows(image, np.ones((3, 3)), tile_rows=3)]
    assert starts == [(0, 3), (3, 3), (6, 2)]  # 8 output rows of a valid 3x3 conv


@st.composite
def pool_cases(draw):
    size = (draw(st.integers(1, 4)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 5)), draw(st.integers(1, 3)))
    height = draw(st.integers(size[0], size[0] + 16))
    width = draw(st.integers(size[1], size[1] + 8))
    padding = draw(
        st.one_of(
            st.sampled_from(["valid", "same"]),
            st.tuples(
                st.integers(0, size[0] // 2),
                st.integers(0, size[0] // 2),
                st.integers(0, size[1] // 2),
                st.integers(0, size[1] // 2),
            ),
        )
    )
    mode = draw(st.sampled_from(["max", "avg"]))
    seed = draw(st.integers(0, 2**31 - 1))
    values = np.random.default_rng(seed).normal(size=(height, width)).astype(np.float32)
    pieces = draw(st.lists(st.integers(1, 6), min_size=1, max_size=20))
    return values, dict(size=size, stride=stride, padding=padding, mode=mode), pieces


@settings(max_examples=200, deadline=None)
@given(pool_cases())
def test_row_pooler_equals_whole_map_pool2d_for_any_row_pieces(case):
    values, options, pieces = case
    whole = conv_core.pool2d(
        values, options["size"], stride=options["stride"], mode=options["mode"], padding=options["padding"]
    )
    pooler = RowPooler(
        values.shape, options["size"], stride=options["stride"], mode=options["mode"], padding=options["padding"]
    )
    produced, row = [], 0
    for length in pieces:
        if row >= len(values):
            break
        produced.append(pooler.push(values[row : row + length]))
        row += length
    if row < len(values):
        produced.append(pooler.push(values[row:]))
    tiled = np.concatenate(produced)
    assert tiled.tobytes() == whole.tobytes()


def test_row_pooler_returns_a_pooled_row_only_when_its_window_is_complete():
    pooler = RowPooler((4, 2), 2, mode="max")
    assert pooler.push(np.array([[1.0, 2.0]])).shape == (0, 1)
    np.testing.assert_array_equal(pooler.push(np.array([[3.0, 0.0]])), [[3.0]])
    np.testing.assert_array_equal(pooler.push(np.array([[5.0, 6.0], [7.0, 8.0]])), [[8.0]])


def test_row_pooler_refuses_more_rows_than_the_map():
    pooler = RowPooler((2, 2), 2)
    with pytest.raises(ValueError, match="more rows than the map"):
        pooler.push(np.zeros((3, 2)))


def test_conv2d_rows_refuses_a_batch():
    with pytest.raises(ValueError, match="one \\(H, W\\) image"):
        next(conv2d_rows(np.zeros((2, 4, 4)), np.ones((3, 3)), tile_rows=1))
