"""The channel axis (channels last): conv2d ``each`` / ``sum``, pooling per channel, the tiled path.

Against the literal loop (``conv2d_channels_loop``), OpenCV's filter2D on a 3-channel image
(which filters each channel on its own, as ``each``), and scikit-image's bundled photographs.
"""

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from convsweep import conv_core
from convsweep.conv_core import conv2d, kernels, pool2d, resolve_padding, sobel_magnitude
from convsweep.conv_core.tiled import RowPooler, conv2d_rows
from tests.conv_core.inputs import DTYPES, PROPERTY, random_images
from tests.conv_core.reference import conv2d_channels_loop, conv2d_loop, pool2d_loop, window_starts

paddings = st.one_of(
    st.sampled_from(["valid", "same", "full"]),
    st.integers(0, 2),
    st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)),
)
int_or_pair = st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3)))


def pair(value):
    return tuple(value) if isinstance(value, tuple) else (value, value)


@st.composite
def channel_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = draw(st.sampled_from(DTYPES))
    n_channels = draw(st.sampled_from([1, 2, 3, 4]))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 8)), draw(st.integers(1, 8)), n_channels)
    kernel_shape = (draw(st.sampled_from([1, 3])), draw(st.sampled_from([1, 3, 5])))
    if draw(st.booleans()):
        kernel_shape = (*kernel_shape, n_channels)  # one kernel per channel
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
        channels=draw(st.sampled_from(["each", "sum"])),
    )


def assert_close_to_oracle(got, want, batch, kernel):
    exact = np.issubdtype(batch.dtype, np.integer) and np.array_equal(kernel, np.rint(kernel))
    if exact:
        np.testing.assert_array_equal(got, want)
    else:  # float64 sums in another order, rounded once
        scale = float(np.abs(kernel).sum() * batch.shape[-1] * np.abs(batch.astype(np.float64)).max())
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12 * scale + 1e-30)


@PROPERTY
@given(case=channel_cases())
def test_conv2d_channels_match_loop_oracle(case):
    images, kernel = case["images"], case["kernel"]
    stride, dilation = pair(case["stride"]), pair(case["dilation"])
    n, height, width, n_channels = images.shape
    pads = resolve_padding(
        case["padding"], image_size=(height, width), kernel_size=kernel.shape[:2], stride=stride, dilation=dilation
    )
    span = [(k - 1) * d + 1 for k, d in zip(kernel.shape[:2], dilation, strict=False)]
    rows = window_starts(height, span[0], stride[0], pads[0], pads[1])
    cols = window_starts(width, span[1], stride[1], pads[2], pads[3])
    reflect_too_far = case["pad_mode"] == "reflect" and (max(pads[:2]) >= height or max(pads[2:]) >= width)
    if not rows or not cols or reflect_too_far:
        with pytest.raises(ValueError, match="images|pad_mode"):
            conv2d(**case)
        return
    got = conv2d(**case)
    channel_axis = (n_channels,) if case["channels"] == "each" else ()
    assert got.dtype == np.float32 and got.shape == (n, len(rows), len(cols), *channel_axis)
    want = np.stack(
        [
            conv2d_channels_loop(image, kernel, case["channels"], stride, pads, case["pad_mode"], dilation)
            for image in images
        ]
    )
    assert_close_to_oracle(got, want, images, kernel)


def test_conv2d_each_is_grey_conv2d_of_every_channel():
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (3, 17, 19, 3)).astype(np.uint8)
    kernel = kernels.get("sobel_h")
    got = conv2d(images, kernel, channels="each", padding="same", stride=2)
    for channel in range(3):
        np.testing.assert_array_equal(
            got[..., channel], conv2d(np.ascontiguousarray(images[..., channel]), kernel, padding="same", stride=2)
        )


def test_conv2d_each_equals_opencv_filter2d_on_a_colour_photograph():
    skimage_data = pytest.importorskip("skimage.data")
    photo = skimage_data.astronaut()[:96, :128]  # (H, W, 3) uint8, RGB
    kernel = kernels.get("sobel_v")
    got = conv2d(photo, kernel, channels="each")
    # filter2D on a 3-channel image filters each channel with the same kernel.
    want = cv2.filter2D(photo.astype(np.float32), -1, kernel.astype(np.float32), borderType=cv2.BORDER_CONSTANT)
    np.testing.assert_array_equal(got, want[1:-1, 1:-1])


def test_conv2d_sum_is_the_sum_of_each():
    rng = np.random.default_rng(6)
    images = rng.integers(0, 256, (2, 11, 13, 3)).astype(np.uint8)
    kernel = kernels.get("laplacian")
    each = conv2d(images, kernel, channels="each", dilation=2)
    np.testing.assert_array_equal(conv2d(images, kernel, channels="sum", dilation=2), each.sum(axis=-1))


def test_conv2d_sum_with_a_3d_kernel_picks_one_channel():
    rng = np.random.default_rng(8)
    image = rng.integers(0, 256, (9, 10, 3)).astype(np.uint8)
    identity = np.zeros((3, 3))
    identity[1, 1] = 1
    kernel = np.stack([np.zeros((3, 3)), identity, np.zeros((3, 3))], axis=-1)  # the green channel
    np.testing.assert_array_equal(conv2d(image, kernel, channels="sum"), image[1:-1, 1:-1, 1].astype(np.float32))


def test_conv2d_sum_of_bright_16_bit_colour_is_still_exact():
    # 3 channels x 65535 x sum|k| passes 2**24: computed in float64 and rounded once.
    rng = np.random.default_rng(9)
    images = rng.integers(0, 65536, (1, 8, 9, 3)).astype(np.uint16)
    kernel = kernels.get("sobel_h")
    want = conv2d_channels_loop(images[0], kernel, "sum")
    np.testing.assert_array_equal(conv2d(images, kernel, channels="sum")[0], want)


def test_sobel_magnitude_per_channel_is_elementwise():
    rng = np.random.default_rng(10)
    image = rng.integers(0, 256, (12, 12, 3)).astype(np.uint8)
    gx = conv2d(image, kernels.get("sobel_h"), channels="each")
    gy = conv2d(image, kernels.get("sobel_v"), channels="each")
    magnitude = sobel_magnitude(gx, gy)
    for channel in range(3):
        grey = sobel_magnitude(
            conv2d(np.ascontiguousarray(image[..., channel]), kernels.get("sobel_h")),
            conv2d(np.ascontiguousarray(image[..., channel]), kernels.get("sobel_v")),
        )
        np.testing.assert_array_equal(magnitude[..., channel], grey)


@pytest.mark.parametrize(
    ("images", "kernel", "channels", "match"),
    [
        (np.zeros((4, 5)), np.ones((3, 3)), "each", "images with channels"),
        (np.zeros((2, 4, 5, 3)), np.ones((3, 3)), "gray", "images must be one image"),
        (np.zeros((4, 5, 3)), np.ones((3, 3, 2)), "sum", "has 2 channels"),
        (np.zeros((4, 5, 0)), np.ones((3, 3)), "each", "no channels"),
        (np.zeros((4, 5, 3)), np.ones((3, 3)), "rgb", "channels must be one of"),
        (np.zeros((4, 5, 3)), np.ones((3, 2, 3)), "sum", "sides must be odd"),
    ],
)
def test_conv2d_channels_bad_input_names_the_argument(images, kernel, channels, match):
    with pytest.raises(ValueError, match=match):
        conv2d(images, kernel, channels=channels)


def test_conv2d_channels_refuse_non_finite_float_images():
    images = np.zeros((5, 5, 3))
    images[2, 2, 2] = np.nan
    with pytest.raises(ValueError, match="finite"):
        conv2d(images, np.ones((3, 3)), channels="each")


# --- pooling per channel ----------------------------------------------------------------------


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    size=int_or_pair,
    stride=int_or_pair,
    padding=st.sampled_from(["valid", "same"]),
    mode=st.sampled_from(conv_core.POOL_MODES),
    n_channels=st.integers(1, 4),
)
def test_pool2d_channels_last_pools_every_channel_alone(seed, size, stride, padding, mode, n_channels):
    rng = np.random.default_rng(seed)
    images = rng.uniform(-10, 10, (2, 7, 8, n_channels)).astype(np.float32)
    size, stride = pair(size), pair(stride)
    got = pool2d(images, size, stride=stride, mode=mode, padding=padding, channels_last=True)
    pads = conv_core.resolve_pool_padding(padding, image_size=(7, 8), pool_size=size, stride=stride)
    for n in range(2):
        for channel in range(n_channels):
            want = pool2d_loop(images[n, :, :, channel], size, stride, mode, pads)
            np.testing.assert_allclose(got[n, :, :, channel], want, rtol=1e-6, atol=1e-6)


def test_pool2d_channels_last_single_image_keeps_its_shape():
    image = np.arange(4 * 6 * 3, dtype=np.float32).reshape(4, 6, 3)
    got = pool2d(image, 2, channels_last=True)
    assert got.shape == (2, 3, 3)
    np.testing.assert_array_equal(got[..., 2], pool2d(np.ascontiguousarray(image[..., 2]), 2))


def test_pool2d_channels_last_must_be_bool():
    with pytest.raises(TypeError, match="channels_last"):
        pool2d(np.zeros((4, 4, 3)), 2, channels_last="yes")


# --- bands of rows ----------------------------------------------------------------------------


@pytest.mark.parametrize("channels", ["each", "sum"])
@pytest.mark.parametrize("pad_mode", conv_core.PAD_MODES)
def test_conv2d_rows_with_channels_equal_whole_image(channels, pad_mode):
    rng = np.random.default_rng(11)
    image = rng.integers(0, 256, (23, 17, 3)).astype(np.uint8)
    kernel = rng.normal(size=(3, 5))
    options = dict(stride=(2, 1), padding="same", pad_mode=pad_mode, dilation=(1, 2), channels=channels)
    whole = conv2d(image, kernel, **options)
    bands = list(conv2d_rows(image, kernel, tile_rows=4, **options))
    np.testing.assert_array_equal(np.concatenate([rows for _, rows in bands]), whole)


def test_row_pooler_with_channels_equals_whole_map():
    rng = np.random.default_rng(12)
    conv_map = rng.normal(size=(19, 14, 3)).astype(np.float32)
    pooler = RowPooler((19, 14), 3, stride=2, mode="avg", padding="same", channels=3)
    pieces = [pooler.push(conv_map[start : start + 4]) for start in range(0, 19, 4)]
    want = pool2d(conv_map, 3, stride=2, mode="avg", padding="same", channels_last=True)
    np.testing.assert_array_equal(np.concatenate(pieces), want)


def test_grey_loop_oracle_and_channel_oracle_agree_on_one_channel():
    # The channel oracle is the grey one for C = 1: the two readings of the formula agree.
    rng = np.random.default_rng(13)
    image = rng.integers(0, 256, (6, 7)).astype(np.uint8)
    kernel = rng.integers(-3, 4, (3, 3))
    np.testing.assert_array_equal(
        conv2d_channels_loop(image[..., None], kernel, "each")[..., 0], conv2d_loop(image, kernel)
    )


@pytest.mark.parametrize("channels", ["each", "sum"])
@pytest.mark.parametrize(("strides", "dilation"), [((2, 2), (2, 2)), ((3, 2), (1, 3))])
def test_conv2d_channels_strided_and_dilated_on_a_photograph_equal_the_loop(channels, strides, dilation):
    # The cells Keras refuses (strides > 1 with dilation > 1), on a real colour image.
    skimage_data = pytest.importorskip("skimage.data")
    photo = skimage_data.chelsea()[60:90, 100:131]
    kernel = kernels.get("scharr_v")
    for padding in ("valid", "same"):
        pads = resolve_padding(
            padding, image_size=photo.shape[:2], kernel_size=(3, 3), stride=strides, dilation=dilation
        )
        got = conv2d(photo, kernel, stride=strides, dilation=dilation, padding=padding, channels=channels)
        np.testing.assert_array_equal(
            got, conv2d_channels_loop(photo, kernel, channels, strides, pads, "zeros", dilation)
        )
