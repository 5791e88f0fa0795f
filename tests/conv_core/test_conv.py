"""conv2d and sobel_magnitude against the literal loop, scipy.ndimage and cv2.filter2D."""

import cv2
import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import given
from hypothesis import strategies as st

import convsweep.conv_core.conv
from convsweep import conv_core
from convsweep.conv_core import conv2d, kernels, output_size, resolve_padding, sobel_magnitude
from tests.conv_core.inputs import DTYPES, PROPERTY, random_images
from tests.conv_core.reference import conv2d_loop, notebook_sobel_loop, window_starts


def edge_image(size=28):
    """A white square on black: four clean edges, corners, and flat regions."""
    image = np.zeros((size, size), np.uint8)
    image[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 255
    return image


def expected_batch(batch, kernel, stride, pads, pad_mode, dilation):
    return np.stack([conv2d_loop(image, kernel, stride, pads, pad_mode, dilation) for image in batch])


def assert_matches_oracle(got, want, batch, kernel):
    exact = np.issubdtype(batch.dtype, np.integer) and np.array_equal(kernel, np.rint(kernel))
    if exact:
        np.testing.assert_array_equal(got, want)
    else:
        # Both are float64 sums rounded once to float32; they may differ only in summation order.
        scale = float(np.abs(kernel).sum() * np.abs(batch.astype(np.float64)).max())
        np.testing.assert_allclose(got, want, rtol=2.5e-7, atol=1e-12 * scale + 1e-30)


paddings = st.one_of(
    st.sampled_from(["valid", "same", "full"]),
    st.integers(0, 3),
    st.tuples(st.integers(0, 3), st.integers(0, 3)),
    st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)),
)
int_or_pair = st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3)))


@st.composite
def conv_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = draw(st.sampled_from(DTYPES))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    kernel_shape = (draw(st.sampled_from([1, 3, 5])), draw(st.sampled_from([1, 3, 5])))
    if draw(st.booleans()):
        kernel = rng.integers(-4, 5, kernel_shape).astype(np.float64)
    else:
        kernel = rng.normal(size=kernel_shape)
    return dict(
        images=random_images(rng, dtype, shape),
        kernel=kernel,
        stride=draw(int_or_pair),
        dilation=draw(int_or_pair),
        padding=draw(paddings),
        pad_mode=draw(st.sampled_from(conv_core.PAD_MODES)),
    )


def pair(value):
    return tuple(value) if isinstance(value, tuple) else (value, value)


@PROPERTY
@given(case=conv_cases())
def test_conv2d_matches_loop_oracle(case):
    images, kernel = case["images"], case["kernel"]
    stride, dilation = pair(case["stride"]), pair(case["dilation"])
    n, height, width = images.shape
    pads = resolve_padding(
        case["padding"], image_size=(height, width), kernel_size=kernel.shape, stride=stride, dilation=dilation
    )
    span = [(k - 1) * d + 1 for k, d in zip(kernel.shape, dilation, strict=False)]
    rows = window_starts(height, span[0], stride[0], pads[0], pads[1])
    cols = window_starts(width, span[1], stride[1], pads[2], pads[3])
    reflect_too_far = case["pad_mode"] == "reflect" and (max(pads[:2]) >= height or max(pads[2:]) >= width)
    if not rows or not cols or reflect_too_far:
        with pytest.raises(ValueError, match="images|pad_mode"):
            conv2d(**case)
        return
    got = conv2d(**case)
    assert got.dtype == np.float32 and got.flags.c_contiguous
    assert got.shape == (
        n,
        output_size(height, kernel.shape[0], stride=stride[0], padding=pads[:2], dilation=dilation[0]),
        output_size(width, kernel.shape[1], stride=stride[1], padding=pads[2:], dilation=dilation[1]),
    )
    want = expected_batch(images, kernel, stride, pads, case["pad_mode"], dilation)
    assert_matches_oracle(got, want, images, kernel)


# --- the notebook ----------------------------------------------------------------------------


def test_conv2d_notebook_example_27_to_25_equals_notebook_loop():
    image = cv2.resize(edge_image(28), (27, 27))
    for name in ("sobel_h", "sobel_v"):
        got = conv2d(image, kernels.get(name))
        assert got.shape == (25, 25)
        np.testing.assert_array_equal(got, notebook_sobel_loop(image.astype(np.float64), kernels.get(name)))


def test_conv2d_sobel_h_finds_horizontal_edges_only():
    gx = conv2d(edge_image(28), kernels.get("sobel_h"))
    # Top edge of the square (dark above, bright below): top minus bottom is negative.
    assert gx[5, 12] == -4 * 255 and gx[19, 12] == 4 * 255
    assert gx[12, 5] == 0 and np.all(gx[10:14, 10:14] == 0)


@pytest.mark.parametrize("name", kernels.names())
def test_conv2d_named_kernels_on_uint8_batch_exact(name):
    rng = np.random.default_rng(7)
    batch = rng.integers(0, 256, (4, 12, 10)).astype(np.uint8)
    kernel = kernels.get(name)
    got = conv2d(batch, kernel, padding="same", pad_mode="reflect")
    want = expected_batch(
        batch, kernel, (1, 1), resolve_padding("same", image_size=(12, 10), kernel_size=kernel.shape), "reflect", (1, 1)
    )
    assert_matches_oracle(got, want, batch, kernel)


# --- both computing paths: OpenCV filter2D below its DFT size, shifted slices above --------


@pytest.mark.parametrize(
    ("dtype", "kernel_side", "dilation"),
    [
        ("uint8", 11, 1),  # float32 path, largest direct filter2D kernel (121 < 130)
        ("uint8", 13, 1),  # float32 path, shifted slices (169 >= 130)
        ("uint8", 3, 6),  # dilated to 13x13: shifted slices
        ("float64", 7, 1),  # float64 path, largest direct filter2D kernel (49 < 50)
        ("float64", 9, 1),  # float64 path, shifted slices
        ("float32", 3, 4),  # float64 compute, 9x9 dilated: shifted slices
    ],
)
def test_conv2d_large_kernels_match_oracle(dtype, kernel_side, dilation):
    rng = np.random.default_rng(kernel_side * 10 + dilation)
    batch = random_images(rng, dtype, (2, 30, 27))
    for kernel in (
        rng.integers(-9, 10, (kernel_side, kernel_side)).astype(np.float64),
        rng.normal(size=(kernel_side, kernel_side)),
    ):
        got = conv2d(batch, kernel, stride=(1, 2), padding=2, dilation=dilation)
        pads = (2, 2, 2, 2)
        want = expected_batch(batch, kernel, (1, 2), pads, "zeros", (dilation, dilation))
        assert_matches_oracle(got, want, batch, kernel)


@pytest.mark.parametrize(
    ("dtype", "kernel_shape"),
    [
        ("uint8", (1, 49)),  # exact float32 path: OpenCV filters float32 directly ...
        ("uint8", (51, 1)),  # ... past area 50 (its float64 DFT limit) ...
        ("uint8", (1, 129)),  # ... up to area 129 ...
        ("uint8", (131, 1)),  # ... and uses a DFT from 130 on: conv_core switches to shifted slices
        ("int16", (7, 7)),
        ("int16", (1, 51)),
        ("int32", (1, 49)),  # float64 (values beyond 2**24 / sum|k|): direct up to area 49 ...
        ("int32", (51, 1)),  # ... DFT from 50 on
    ],
)
def test_conv2d_exact_on_both_sides_of_opencv_dft_threshold(dtype, kernel_shape):
    rng = np.random.default_rng(sum(kernel_shape))
    shape = (2, kernel_shape[0] + 4, kernel_shape[1] + 5)
    if dtype == "uint8":
        batch = rng.integers(0, 256, shape).astype(np.uint8)
    elif dtype == "int16":
        batch = rng.integers(-2000, 2000, shape).astype(np.int16)
    else:
        batch = rng.integers(-(10**6), 10**6, shape).astype(np.int32)
    batch[0] = batch[0, 0, 0]  # a flat image: with a zero-sum kernel every output is exactly 0
    kernel = rng.integers(-3, 4, kernel_shape).astype(np.float64)
    kernel.flat[0] -= kernel.sum()
    got = conv2d(batch, kernel)
    # OpenCV's DFT path would leave ~1e-12 residues where the exact answer is 0.
    assert not np.any(got[0])
    np.testing.assert_array_equal(got, expected_batch(batch, kernel, (1, 1), (0, 0, 0, 0), "zeros", (1, 1)))


def test_conv2d_int32_beyond_float32_range_still_exact():
    # |values| * sum|k| > 2**24: computed in float64, then rounded once like the oracle.
    rng = np.random.default_rng(3)
    batch = rng.integers(-(10**7), 10**7, (2, 8, 9)).astype(np.int32)
    kernel = kernels.get("sobel_v")
    np.testing.assert_array_equal(
        conv2d(batch, kernel), expected_batch(batch, kernel, (1, 1), (0, 0, 0, 0), "zeros", (1, 1))
    )


@pytest.mark.parametrize("pad_mode", conv_core.PAD_MODES)
@pytest.mark.parametrize("chunk_bytes", [1, 10_000, 1 << 30])
def test_conv2d_chunking_does_not_change_results(monkeypatch, chunk_bytes, pad_mode):
    # 10_000 bytes: chunks of 22 padded 11x10 float32 images, the last one partial (18), so a
    # reused zero-padding buffer must keep its border and handle the short chunk.
    rng = np.random.default_rng(11)
    batch = rng.integers(0, 256, (40, 9, 8)).astype(np.uint8)
    kernel = kernels.get("scharr_h")
    want = expected_batch(batch, kernel, (2, 1), (1, 1, 1, 1), pad_mode, (1, 1))
    monkeypatch.setattr(convsweep.conv_core.conv, "_CHUNK_BYTES", chunk_bytes)
    np.testing.assert_array_equal(conv2d(batch, kernel, stride=(2, 1), padding=1, pad_mode=pad_mode), want)


def test_conv2d_many_images_in_many_chunks_match_image_by_image():
    rng = np.random.default_rng(5)
    batch = rng.integers(0, 256, (2000, 28, 28)).astype(np.uint8)
    kernel = kernels.get("sobel_h")
    got = conv2d(batch, kernel, stride=2, padding="same")  # padded to 29x29 float32
    per_chunk = convsweep.conv_core.conv._CHUNK_BYTES // (29 * 29 * 4)
    assert per_chunk < 1000  # several chunks, the last one partial
    for index in (0, 1, per_chunk - 1, per_chunk, 2 * per_chunk, 1999):
        np.testing.assert_array_equal(got[index], conv2d(batch[index], kernel, stride=2, padding="same"))
    for index in (0, 1999):
        want = conv2d_loop(
            batch[index], kernel, (2, 2), resolve_padding("same", image_size=28, kernel_size=3, stride=2)
        )
        np.testing.assert_array_equal(got[index], want)


# --- cross-checks with libraries that compute the same thing ---------------------------------

SCIPY_MODE = {"zeros": "constant", "reflect": "mirror", "replicate": "nearest"}
OPENCV_BORDER = {"zeros": cv2.BORDER_CONSTANT, "reflect": cv2.BORDER_REFLECT_101, "replicate": cv2.BORDER_REPLICATE}


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    shape=st.tuples(st.integers(5, 16), st.integers(5, 16)),
    kernel_shape=st.tuples(st.sampled_from([1, 3, 5]), st.sampled_from([1, 3, 5])),
    pad_mode=st.sampled_from(conv_core.PAD_MODES),
)
def test_conv2d_same_stride1_equals_scipy_and_opencv(seed, shape, kernel_shape, pad_mode):
    rng = np.random.default_rng(seed)
    image = rng.uniform(-1, 1, shape)
    kernel = rng.normal(size=kernel_shape)
    # "same" at stride 1 with an odd kernel is centred padding k // 2: what both libraries do.
    got = conv2d(image, kernel, padding="same", pad_mode=pad_mode)
    via_scipy = ndi.correlate(image, kernel, mode=SCIPY_MODE[pad_mode], cval=0.0)
    via_opencv = cv2.filter2D(image, cv2.CV_64F, kernel, borderType=OPENCV_BORDER[pad_mode])
    np.testing.assert_allclose(got, via_scipy, rtol=2.5e-7, atol=1e-12)
    np.testing.assert_allclose(got, via_opencv, rtol=2.5e-7, atol=1e-12)


def test_conv2d_is_correlation_not_convolution():
    impulse = np.zeros((5, 5))
    impulse[2, 2] = 1
    kernel = np.arange(9, dtype=np.float64).reshape(3, 3)
    got = conv2d(impulse, kernel, padding=1)
    # Correlating an impulse yields the kernel flipped; scipy's convolve would give it unflipped.
    np.testing.assert_array_equal(got[1:4, 1:4], kernel[::-1, ::-1])
    np.testing.assert_array_equal(ndi.convolve(impulse, kernel, mode="constant")[1:4, 1:4], kernel)


# --- shapes and dtypes -----------------------------------------------------------------------


def test_conv2d_single_image_and_batch_shapes():
    kernel = kernels.get("laplacian")
    assert conv2d(np.zeros((28, 28)), kernel).shape == (26, 26)
    assert conv2d(np.zeros((3, 28, 28)), kernel).shape == (3, 26, 26)
    assert conv2d(np.zeros((1, 28, 28)), kernel).shape == (1, 26, 26)
    assert conv2d(np.zeros((28, 28)), kernel, stride=2, padding=1).shape == (14, 14)
    assert conv2d(np.zeros((28, 28)), kernel, dilation=2).shape == (24, 24)


@pytest.mark.parametrize(
    "dtype", [np.bool_, np.uint8, np.int8, np.uint16, np.int16, np.int32, np.int64, np.float16, np.float32, np.float64]
)
def test_conv2d_any_real_dtype_gives_float32(dtype):
    image = (np.arange(36).reshape(6, 6) % 2).astype(dtype)
    got = conv2d(image, kernels.get("sobel_v"))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, conv2d_loop(image.astype(np.float64), kernels.get("sobel_v")))


def test_conv2d_does_not_modify_inputs():
    image = edge_image(10)
    kernel = kernels.get("sobel_h")
    before_image, before_kernel = image.copy(), kernel.copy()
    conv2d(image, kernel, padding="same", pad_mode="reflect")
    np.testing.assert_array_equal(image, before_image)
    np.testing.assert_array_equal(kernel, before_kernel)


# --- bad arguments: ValueError/TypeError naming the argument and its value -------------------


@pytest.mark.parametrize("name", ["stride", "dilation"])
@pytest.mark.parametrize("value", [0, -1, (1, 0), (-2, 1)])
def test_conv2d_non_positive_stride_or_dilation(name, value):
    with pytest.raises(ValueError, match=rf"{name}(\[\d\])? must be >= 1, got {name}(\[\d\])?=-?\d"):
        conv2d(np.zeros((8, 8)), kernels.get("box3"), **{name: value})


def test_conv2d_float_stride_is_type_error():
    with pytest.raises(TypeError, match=r"stride must be an int, got 2\.0"):
        conv2d(np.zeros((8, 8)), kernels.get("box3"), stride=2.0)


@pytest.mark.parametrize("padding", [-1, (0, -1), (1, 1, -2, 0)])
def test_conv2d_negative_padding(padding):
    with pytest.raises(ValueError, match=r"padding must be >= 0, got padding=-\d"):
        conv2d(np.zeros((8, 8)), kernels.get("box3"), padding=padding)


def test_conv2d_unknown_padding_and_pad_mode():
    with pytest.raises(ValueError, match="padding='causal'"):
        conv2d(np.zeros((8, 8)), kernels.get("box3"), padding="causal")
    with pytest.raises(ValueError, match="pad_mode='mirror'"):
        conv2d(np.zeros((8, 8)), kernels.get("box3"), pad_mode="mirror")


def test_conv2d_image_smaller_than_effective_kernel_under_valid():
    with pytest.raises(
        ValueError,
        match=r"images of shape \(2, 8\) are too small along the height.*kernel_size=3 is larger than the padded input: 3 > 2",
    ):
        conv2d(np.zeros((2, 8)), kernels.get("box3"))
    with pytest.raises(ValueError, match=r"along the width.*effective 9 with dilation=4"):
        conv2d(np.zeros((9, 8)), kernels.get("box3"), dilation=4)


def test_conv2d_reflect_padding_not_smaller_than_image_side():
    with pytest.raises(ValueError, match=r"pad_mode='reflect' needs padding < the image height 3, got padding=3"):
        conv2d(np.zeros((3, 8)), kernels.get("box3"), padding=3, pad_mode="reflect")
    # One less works, like numpy/PyTorch.
    assert conv2d(np.zeros((3, 8)), kernels.get("box3"), padding=2, pad_mode="reflect").shape == (5, 10)


@pytest.mark.parametrize("shape", [(5,), (1, 2, 5, 5), ()])
def test_conv2d_wrong_number_of_dimensions(shape):
    with pytest.raises(
        ValueError, match=rf"images must be one image \(H, W\) or a batch \(N, H, W\), got {len(shape)}-D"
    ):
        conv2d(np.zeros(shape), kernels.get("box3"))


def test_conv2d_empty_batch_and_empty_image():
    with pytest.raises(ValueError, match=r"images is an empty batch: shape \(0, 5, 5\)"):
        conv2d(np.zeros((0, 5, 5)), kernels.get("box3"))
    with pytest.raises(ValueError, match=r"images has an empty side: shape \(5, 0\)"):
        conv2d(np.zeros((5, 0)), kernels.get("box3"))


def test_conv2d_even_or_non_finite_kernel():
    with pytest.raises(ValueError, match=r"kernel sides must be odd.*shape \(2, 2\)"):
        conv2d(np.zeros((5, 5)), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"kernel must be finite.*nan"):
        conv2d(np.zeros((5, 5)), [[0, np.nan, 0]])


def test_conv2d_non_real_or_non_finite_images():
    with pytest.raises(TypeError, match="images must hold real numbers, got dtype complex128"):
        conv2d(np.zeros((5, 5), complex), kernels.get("box3"))
    with pytest.raises(TypeError, match="images must hold real numbers, got dtype <U1"):
        conv2d(np.full((5, 5), "a"), kernels.get("box3"))
    bad = np.zeros((5, 5))
    bad[2, 2] = np.nan
    with pytest.raises(ValueError, match="images must be finite, found min=nan"):
        conv2d(bad, kernels.get("box3"))


# --- sobel_magnitude -------------------------------------------------------------------------


def test_sobel_magnitude_keeps_shape_for_empty_and_scalar():
    assert sobel_magnitude(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32)).shape == (0, 3)
    assert sobel_magnitude(np.float32(3), np.float32(4)) == 5


def test_sobel_magnitude_3_4_5():
    got = sobel_magnitude(np.float32([3, -6]), np.float32([4, 8]))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, [5, 10])


def test_sobel_magnitude_of_uint8_sobel_is_exact():
    rng = np.random.default_rng(2)
    batch = rng.integers(0, 256, (50, 28, 28)).astype(np.uint8)
    gx, gy = conv2d(batch, kernels.get("sobel_h")), conv2d(batch, kernels.get("sobel_v"))
    want = np.sqrt(gx.astype(np.float64) ** 2 + gy.astype(np.float64) ** 2).astype(np.float32)
    np.testing.assert_array_equal(sobel_magnitude(gx, gy), want)


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([1e-30, 1e-20, 1e-3, 1.0, 4080.0, 1e15, 1e25]))
def test_sobel_magnitude_float32_within_documented_bound(seed, scale):
    rng = np.random.default_rng(seed)
    gx = (rng.normal(size=500) * scale).astype(np.float32)
    gy = (rng.normal(size=500) * scale).astype(np.float32)
    want = np.sqrt(gx.astype(np.float64) ** 2 + gy.astype(np.float64) ** 2).astype(np.float32)
    with np.errstate(over="ignore", under="ignore"):
        got = sobel_magnitude(gx, gy)
    ulps = np.abs(got.view(np.int32).astype(np.int64) - want.view(np.int32).astype(np.int64))
    normal = want >= 2.0**-61
    assert ulps[normal].max(initial=0) <= 2
    # Below 2**-61 the float32 squares underflow: the documented bound is absolute.
    assert np.abs(got[~normal].astype(np.float64) - want[~normal]).max(initial=0) <= 2.0**-61


def test_sobel_magnitude_float32_overflowing_squares_still_right():
    got = sobel_magnitude(np.float32([3e30, 0]), np.float32([4e30, 0]))
    np.testing.assert_array_equal(got, np.float32([5e30, 0]))


def test_sobel_magnitude_other_dtypes_computed_in_float64():
    gx = np.array([[3e20, 1]], np.float64)
    gy = np.array([[4e20, 1]], np.float64)
    np.testing.assert_array_equal(sobel_magnitude(gx, gy), np.float32([[5e20, np.sqrt(2.0)]]))
    np.testing.assert_array_equal(sobel_magnitude(np.int64([[3]]), np.int64([[4]])), [[5]])


def test_sobel_magnitude_shape_mismatch_and_type():
    with pytest.raises(ValueError, match=r"gx and gy must have the same shape, got gx \(2, 3\) and gy \(3, 2\)"):
        sobel_magnitude(np.zeros((2, 3), np.float32), np.zeros((3, 2), np.float32))
    with pytest.raises(TypeError, match="gy must hold real numbers, got dtype complex128"):
        sobel_magnitude(np.zeros(2), np.zeros(2, complex))
