"""Output sizes, padding resolution, the written-out formula and receptive fields."""

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convsweep import conv_core
from convsweep.conv_core import conv_formula, output_size, receptive_field, resolve_padding, resolve_pool_padding
from tests.conv_core.reference import window_starts

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True, database=None)

sizes = st.integers(1, 64)
kernel_sizes = st.integers(1, 9)
strides = st.integers(1, 5)
dilations = st.integers(1, 4)
pads = st.integers(0, 6)


# --- the notebook and the paper -------------------------------------------------------------


def test_output_size_notebook_example_27_to_25():
    # The notebook resizes to 27x27 and filters with a 3x3 kernel, stride 1, no padding.
    assert output_size(27, 3, stride=1) == 25
    assert output_size(28, 3) == 26


def test_output_size_issue_example_is_14():
    assert output_size(28, 3, stride=2, padding=1) == 14
    assert conv_formula(28, 3, stride=2, pad_before=1, pad_after=1) == "floor((28 + 1 + 1 - 3) / 2) + 1 = 14"


@PROPERTY
@given(i=sizes, k=kernel_sizes)
def test_output_size_relationship1_no_padding_unit_stride(i, k):
    if k > i:
        with pytest.raises(ValueError):
            output_size(i, k)
        return
    assert output_size(i, k) == (i - k) + 1


@PROPERTY
@given(i=sizes, k=kernel_sizes, p=pads)
def test_output_size_relationship2_zero_padding_unit_stride(i, k, p):
    if k > i + 2 * p:
        with pytest.raises(ValueError):
            output_size(i, k, padding=p)
        return
    assert output_size(i, k, padding=p) == (i - k) + 2 * p + 1


@PROPERTY
@given(i=sizes, half=st.integers(0, 4))
def test_output_size_relationship3_half_padding_keeps_size(i, half):
    k = 2 * half + 1  # odd kernel, p = floor(k / 2)
    assert output_size(i, k, padding=k // 2) == i
    assert output_size(i, k, padding="same") == i


@PROPERTY
@given(i=sizes, k=kernel_sizes)
def test_output_size_relationship4_full_padding_grows(i, k):
    assert output_size(i, k, padding=k - 1) == i + k - 1
    assert output_size(i, k, padding="full") == i + k - 1


@PROPERTY
@given(i=sizes, k=kernel_sizes, s=strides)
def test_output_size_relationship5_no_padding_strided(i, k, s):
    if k > i:
        return
    assert output_size(i, k, stride=s) == math.floor((i - k) / s) + 1


@PROPERTY
@given(i=sizes, k=kernel_sizes, s=strides, p=pads)
def test_output_size_relationship6_padding_strided(i, k, s, p):
    if k > i + 2 * p:
        return
    assert output_size(i, k, stride=s, padding=p) == math.floor((i + 2 * p - k) / s) + 1


@PROPERTY
@given(i=sizes, k=kernel_sizes, s=strides, p=pads, d=dilations)
def test_output_size_dilated_relationship(i, k, s, p, d):
    # Dumoulin & Visin, relationship 15: o = floor((i + 2p - k - (k - 1)(d - 1)) / s) + 1
    if k + (k - 1) * (d - 1) > i + 2 * p:
        with pytest.raises(ValueError):
            output_size(i, k, stride=s, padding=p, dilation=d)
        return
    expected = math.floor((i + 2 * p - k - (k - 1) * (d - 1)) / s) + 1
    assert output_size(i, k, stride=s, padding=p, dilation=d) == expected


# --- Keras / TensorFlow "same" ---------------------------------------------------------------


def keras_same_padding(n, k_eff, s):
    """TensorFlow's documented rule, written independently of conv_core."""
    if n % s == 0:
        total = max(k_eff - s, 0)
    else:
        total = max(k_eff - (n % s), 0)
    return total // 2, total - total // 2


@PROPERTY
@given(i=sizes, k=kernel_sizes, s=strides, d=dilations)
def test_output_size_same_is_ceil_n_over_s_like_keras(i, k, s, d):
    k_eff = (k - 1) * d + 1
    assert output_size(i, k, stride=s, padding="same", dilation=d) == math.ceil(i / s)
    top, bottom, left, right = resolve_padding("same", image_size=(i, i), kernel_size=k, stride=s, dilation=d)
    assert (top, bottom) == keras_same_padding(i, k_eff, s)
    assert (left, right) == (top, bottom)


def test_resolve_padding_same_tensorflow_doc_example():
    # tf.nn.convolution docs: width 13, filter 6, stride 5 -> pad 1 left, 2 right, 3 outputs.
    assert resolve_padding("same", image_size=(13, 13), kernel_size=(6, 6), stride=5) == (1, 2, 1, 2)
    assert output_size(13, 6, stride=5, padding="same") == 3


def test_resolve_padding_same_puts_odd_pixel_after():
    assert resolve_padding("same", image_size=(28, 28), kernel_size=(2, 2), stride=1) == (0, 1, 0, 1)


# --- every padding form resolves once --------------------------------------------------------


@pytest.mark.parametrize(
    ("padding", "expected"),
    [
        ("valid", (0, 0, 0, 0)),
        ("same", (1, 1, 2, 2)),
        ("full", (2, 2, 4, 4)),
        (2, (2, 2, 2, 2)),
        ((1, 3), (1, 1, 3, 3)),
        ([1, 3], (1, 1, 3, 3)),
        ((0, 1, 2, 3), (0, 1, 2, 3)),
    ],
)
def test_resolve_padding_every_form(padding, expected):
    assert resolve_padding(padding, image_size=(10, 12), kernel_size=(3, 5)) == expected


def test_resolve_padding_full_uses_effective_kernel():
    assert resolve_padding("full", image_size=10, kernel_size=3, dilation=(2, 3)) == (4, 4, 6, 6)


def test_output_size_accepts_before_after_pair():
    assert output_size(10, 3, padding=(0, 2)) == 10
    assert output_size(10, 3, padding=(2, 0)) == 10


# --- ceil_mode as PyTorch --------------------------------------------------------------------


def torch_pooling_output_shape(n, k, s, p, d, ceil_mode):
    """PyTorch's pooling_output_shape (aten/src/ATen/native/Pool.h), transcribed."""
    numerator = n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    out = numerator // s + 1  # div_rtn: floor division
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


@PROPERTY
@given(i=sizes, k=st.integers(1, 6), s=strides, ceil_mode=st.booleans(), data=st.data())
def test_output_size_pooling_matches_pytorch_formula(i, k, s, ceil_mode, data):
    p = data.draw(st.integers(0, k // 2))  # PyTorch's pooling limit
    if k > i + 2 * p:
        return
    got = output_size(i, k, stride=s, padding=p, ceil_mode=ceil_mode)
    assert got == torch_pooling_output_shape(i, k, s, p, 1, ceil_mode)
    assert got == len(window_starts(i, k, s, p, p, ceil_mode))


def test_output_size_ceil_mode_drops_window_starting_in_right_padding():
    # 5 pixels, pad 1, window 2, stride 2: ceil gives 4 windows, the 4th starts at pixel 5 = padding.
    assert output_size(5, 2, stride=2, padding=1, ceil_mode=False) == 3
    assert output_size(5, 2, stride=2, padding=1, ceil_mode=True) == 3
    assert output_size(5, 2, stride=2, padding=0, ceil_mode=True) == 3
    assert output_size(5, 2, stride=2, padding=0, ceil_mode=False) == 2


# --- the formula as text ---------------------------------------------------------------------


def evaluate_formula(text):
    left, right = text.split(" = ", 1)
    value = eval(left, {"floor": math.floor, "ceil": math.ceil})  # only digits and + - * / ( )
    return value, int(right.split()[0])


@PROPERTY
@given(i=sizes, k=kernel_sizes, s=strides, before=pads, after=pads, d=dilations, ceil_mode=st.booleans())
def test_conv_formula_text_evaluates_to_output_size(i, k, s, before, after, d, ceil_mode):
    k_eff = (k - 1) * d + 1
    if k_eff > i + before + after:
        with pytest.raises(ValueError, match="kernel_size"):
            conv_formula(i, k, stride=s, pad_before=before, pad_after=after, dilation=d, ceil_mode=ceil_mode)
        return
    text = conv_formula(i, k, stride=s, pad_before=before, pad_after=after, dilation=d, ceil_mode=ceil_mode)
    assert re.fullmatch(r"[a-z0-9 ()+\-*/=]+(\(the last window would start in the right padding\))?", text)
    value, shown = evaluate_formula(text.replace(" (the last window would start in the right padding)", ""))
    expected = output_size(i, k, stride=s, padding=(before, after), dilation=d, ceil_mode=ceil_mode)
    assert value == shown == expected


def test_conv_formula_dilated_shows_effective_kernel():
    assert conv_formula(28, 3, dilation=2) == "floor((28 + 0 + 0 - ((3 - 1) * 2 + 1)) / 1) + 1 = 24"


def test_conv_formula_ceil_mode_drop_explains_why():
    text = conv_formula(5, 2, stride=2, pad_before=1, pad_after=1, ceil_mode=True)
    assert text == "ceil((5 + 1 + 1 - 2) / 2) + 1 - 1 = 3 (the last window would start in the right padding)"


def test_conv_formula_ceil_mode_keeps_overhanging_window():
    assert conv_formula(5, 2, stride=2, ceil_mode=True) == "ceil((5 + 0 + 0 - 2) / 2) + 1 = 3"


# --- receptive field -------------------------------------------------------------------------


def test_receptive_field_conv_then_pool():
    assert receptive_field([(3, 1), (2, 2)]) == (4, 2)


def test_receptive_field_classic_stack():
    # conv3 s1, pool2 s2, conv3 s1: 1 + 2*1 + 1*1 + 2*2 = 8, jump 2
    assert receptive_field([(3, 1), (2, 2), (3, 1)]) == (8, 2)


def test_receptive_field_empty_is_one_pixel():
    assert receptive_field([]) == (1, 1)


def test_effective_kernel_size():
    assert conv_core.effective_kernel_size(3, 2) == 5
    assert conv_core.effective_kernel_size(5) == 5


# --- bad arguments: ValueError/TypeError naming the argument and its value -------------------


def test_output_size_kernel_larger_than_padded_input_says_why():
    with pytest.raises(
        ValueError, match=r"kernel_size=5 .*larger than the padded input: 5 > 4 \(n=2 \+ padding 1 \+ 1\)"
    ):
        output_size(2, 5, padding=1)


def test_output_size_dilated_kernel_too_large_names_dilation():
    with pytest.raises(ValueError, match=r"kernel_size=3 \(effective 7 with dilation=3\)"):
        output_size(5, 3, dilation=3)


@pytest.mark.parametrize("name", ["stride", "dilation"])
@pytest.mark.parametrize("value", [0, -2])
def test_output_size_non_positive_stride_or_dilation(name, value):
    with pytest.raises(ValueError, match=rf"{name}={value}"):
        output_size(10, 3, **{name: value})


def test_output_size_float_stride_is_type_error():
    with pytest.raises(TypeError, match=r"stride must be an int, got 1\.5"):
        output_size(10, 3, stride=1.5)


def test_output_size_negative_padding():
    with pytest.raises(ValueError, match="padding=-1"):
        output_size(10, 3, padding=-1)


def test_output_size_unknown_padding_name():
    with pytest.raises(ValueError, match="padding='middle'"):
        output_size(10, 3, padding="middle")


def test_output_size_non_positive_n_and_kernel():
    with pytest.raises(ValueError, match="n=0"):
        output_size(0, 3)
    with pytest.raises(ValueError, match="kernel_size=0"):
        output_size(10, 0)


@pytest.mark.parametrize("padding", [-1, (1, -1), (0, 0, 0, -3)])
def test_resolve_padding_negative(padding):
    with pytest.raises(ValueError, match=r"padding.*-"):
        resolve_padding(padding, image_size=10, kernel_size=3)


def test_resolve_padding_wrong_length_tuple():
    with pytest.raises(ValueError, match=r"padding=\(1, 2, 3\)"):
        resolve_padding((1, 2, 3), image_size=10, kernel_size=3)


def test_resolve_padding_wrong_type():
    with pytest.raises(TypeError, match=r"padding=1\.0"):
        resolve_padding(1.0, image_size=10, kernel_size=3)
    with pytest.raises(TypeError, match="padding=True"):
        resolve_padding(True, image_size=10, kernel_size=3)


def test_resolve_pool_padding_more_than_half_the_window():
    with pytest.raises(ValueError, match=r"size // 2 = 1, got padding=2"):
        resolve_pool_padding(2, image_size=10, pool_size=2)
    with pytest.raises(ValueError, match=r"size // 2 = 1, got padding=\(0, 2\)"):
        resolve_pool_padding((0, 2), image_size=10, pool_size=(3, 3))


def test_resolve_pool_padding_full_is_refused():
    with pytest.raises(ValueError, match="padding='full'"):
        resolve_pool_padding("full", image_size=10, pool_size=2)


def test_receptive_field_bad_layers():
    with pytest.raises(ValueError, match=r"layers\[1\] must be a \(kernel_size, stride\) pair, got 3"):
        receptive_field([(3, 1), 3])
    with pytest.raises(ValueError, match=r"layers\[0\] stride must be >= 1"):
        receptive_field([(3, 0)])
    with pytest.raises(TypeError, match="layers"):
        receptive_field(5)
