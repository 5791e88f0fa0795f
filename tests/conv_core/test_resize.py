"""resize is cv2.resize image by image, with (height, width) sizes."""

import cv2
import numpy as np
import pytest

from convsweep import conv_core
from convsweep.conv_core import resize

DTYPES = [np.uint8, np.uint16, np.int16, np.float32, np.float64]


def batch_of(dtype, shape=(5, 28, 28)):
    rng = np.random.default_rng(4)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, int(info.max) + 1, shape).astype(dtype)
    return rng.uniform(-1, 1, shape).astype(dtype)


def test_resize_notebook_call_27():
    image = batch_of(np.uint8)[0]
    got = resize(image, 27)
    assert got.dtype == np.uint8 and got.shape == (27, 27)
    np.testing.assert_array_equal(got, cv2.resize(image, (27, 27)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("interpolation", list(conv_core.INTERPOLATIONS))
@pytest.mark.parametrize("size", [(20, 35), (56, 14)])
def test_resize_batch_equals_cv2_image_by_image(dtype, interpolation, size):
    batch = batch_of(dtype)
    got = resize(batch, size, interpolation=interpolation)
    assert got.dtype == batch.dtype and got.shape == (5, *size)
    flag = conv_core.INTERPOLATIONS[interpolation]
    for image, resized in zip(batch, got, strict=False):
        # OpenCV takes (width, height): the one place the order flips.
        np.testing.assert_array_equal(resized, cv2.resize(image, (size[1], size[0]), interpolation=flag))


def test_resize_same_size_linear_is_identity():
    batch = batch_of(np.uint8)
    np.testing.assert_array_equal(resize(batch, (28, 28)), batch)


def test_resize_bad_size():
    with pytest.raises(ValueError, match="size must be >= 1, got size=0"):
        resize(batch_of(np.uint8), 0)
    with pytest.raises(ValueError, match=r"size\[1\] must be >= 1, got size\[1\]=-3"):
        resize(batch_of(np.uint8), (5, -3))
    with pytest.raises(TypeError, match=r"size must be an int, got 2\.5"):
        resize(batch_of(np.uint8), 2.5)


def test_resize_bad_interpolation():
    with pytest.raises(ValueError, match="interpolation='bilinear'"):
        resize(batch_of(np.uint8), 10, interpolation="bilinear")


def test_resize_unsupported_dtype():
    with pytest.raises(TypeError, match="got dtype int32"):
        resize(np.zeros((4, 4), np.int32), 2)


def test_resize_wrong_dimensions_and_empty():
    with pytest.raises(ValueError, match=r"got 4-D images of shape \(1, 1, 4, 4\)"):
        resize(np.zeros((1, 1, 4, 4), np.uint8), 2)
    with pytest.raises(ValueError, match=r"images is an empty batch"):
        resize(np.zeros((0, 4, 4), np.uint8), 2)


def test_resize_channels_last_resizes_every_channel_alone():
    rng = np.random.default_rng(21)
    images = rng.integers(0, 256, (2, 9, 11, 3), dtype=np.uint8)
    got = resize(images, (5, 7), channels_last=True)
    assert got.shape == (2, 5, 7, 3) and got.dtype == np.uint8
    for channel in range(3):
        np.testing.assert_array_equal(got[..., channel], resize(np.ascontiguousarray(images[..., channel]), (5, 7)))
    assert resize(images[0, ..., :1], 4, channels_last=True).shape == (4, 4, 1)
