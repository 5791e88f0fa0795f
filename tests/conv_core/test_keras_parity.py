"""'same' (and 'valid') exactly as Keras computes them: conv2d and pool2d against keras.ops.

Keras runs in a subprocess (JAX backend, its own KERAS_HOME), so importing it here can neither
pin Keras settings for other tests nor slow down collection.  One subprocess computes every
case; the shapes must match exactly and the values to float32 precision (Keras computes in
float32, conv_core sums in float32 exactly or in float64).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from convsweep.conv_core import conv2d, kernels, pool2d

CONV_CASES = [
    # (image shape, kernel shape, strides, dilation, padding)
    ((13, 13), (3, 3), (5, 5), (1, 1), "same"),
    ((28, 28), (3, 3), (2, 2), (1, 1), "same"),
    ((27, 27), (3, 3), (2, 2), (1, 1), "same"),
    ((10, 9), (5, 3), (3, 2), (1, 1), "same"),
    ((11, 12), (3, 3), (1, 1), (2, 3), "same"),
    ((7, 8), (1, 5), (2, 3), (1, 1), "same"),
    ((12, 14), (3, 3), (2, 3), (2, 2), "same"),
    ((9, 16), (3, 5), (3, 2), (3, 2), "same"),
    ((27, 27), (3, 3), (1, 1), (1, 1), "valid"),
    ((20, 17), (5, 5), (3, 2), (1, 1), "valid"),
    ((15, 16), (3, 3), (1, 1), (3, 2), "valid"),
]
POOL_CASES = [
    # (image shape, pool size, strides, padding, mode)
    ((3, 3), (2, 2), (2, 2), "same", "max"),
    ((3, 3), (2, 2), (2, 2), "same", "avg"),
    ((26, 26), (2, 2), (2, 2), "valid", "max"),
    ((25, 25), (2, 2), (2, 2), "same", "avg"),
    ((13, 11), (3, 3), (2, 2), "same", "max"),
    ((13, 11), (3, 3), (2, 2), "same", "avg"),
    ((10, 10), (3, 2), (1, 3), "same", "avg"),
    ((10, 10), (2, 3), (3, 1), "valid", "avg"),
]

KERAS_SCRIPT = r"""
import json, sys
import numpy as np
import keras
data = np.load(sys.argv[1])
conv_cases, pool_cases = json.loads(sys.argv[2]), json.loads(sys.argv[3])
out = {}
for i, (_, _, strides, dilation, padding) in enumerate(conv_cases):
    image, kernel = data[f"conv_image_{i}"], data[f"conv_kernel_{i}"]
    result = keras.ops.conv(image[None, :, :, None], kernel[:, :, None, None], strides=tuple(strides),
                            padding=padding, dilation_rate=tuple(dilation))
    out[f"conv_{i}"] = np.asarray(result)[0, :, :, 0]
for i, (_, size, strides, padding, mode) in enumerate(pool_cases):
    image = data[f"pool_image_{i}"][None, :, :, None]
    pool = keras.ops.max_pool if mode == "max" else keras.ops.average_pool
    out[f"pool_{i}"] = np.asarray(pool(image, tuple(size), strides=tuple(strides), padding=padding))[0, :, :, 0]
np.savez(sys.argv[4], **out)
"""


@pytest.fixture(scope="module")
def keras_results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keras")
    rng = np.random.default_rng(2016)
    inputs = {}
    for i, (image_shape, kernel_shape, *_) in enumerate(CONV_CASES):
        inputs[f"conv_image_{i}"] = rng.integers(0, 256, image_shape).astype(np.float32)
        inputs[f"conv_kernel_{i}"] = rng.integers(-3, 4, kernel_shape).astype(np.float32)
    for i, (image_shape, *_) in enumerate(POOL_CASES):
        inputs[f"pool_image_{i}"] = rng.uniform(-10, 10, image_shape).astype(np.float32)
    np.savez(folder / "inputs.npz", **inputs)
    env = dict(os.environ, KERAS_BACKEND="jax", KERAS_HOME=str(folder / "keras_home"), JAX_PLATFORMS="cpu")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            KERAS_SCRIPT,
            str(folder / "inputs.npz"),
            json.dumps(CONV_CASES),
            json.dumps(POOL_CASES),
            str(folder / "outputs.npz"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outputs = np.load(folder / "outputs.npz")
    return inputs, {name: outputs[name] for name in outputs.files}


@pytest.mark.parametrize("index", range(len(CONV_CASES)))
def test_conv2d_equals_keras_ops_conv(keras_results, index):
    inputs, outputs = keras_results
    _, _, strides, dilation, padding = CONV_CASES[index]
    got = conv2d(
        inputs[f"conv_image_{index}"],
        inputs[f"conv_kernel_{index}"],
        stride=strides,
        padding=padding,
        dilation=dilation,
    )
    want = outputs[f"conv_{index}"]
    assert got.shape == want.shape
    # Integer-valued data: Keras' float32 sums are exact too, so the values must be equal.
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("index", range(len(POOL_CASES)))
def test_pool2d_equals_keras_ops_pool(keras_results, index):
    inputs, outputs = keras_results
    _, size, strides, padding, mode = POOL_CASES[index]
    got = pool2d(inputs[f"pool_image_{index}"], size, stride=strides, padding=padding, mode=mode)
    want = outputs[f"pool_{index}"]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


# --- channels: DepthwiseConv2D (each), Conv2D (sum), pooling per channel -------------------------

# Every stride/padding/dilation cell Keras accepts (it refuses strides > 1 together with a
# dilation > 1; those cells are checked against the literal loop in test_conv_channels.py).
COLOUR_CELLS = [
    (strides, dilation, padding)
    for strides in ((1, 1), (2, 2), (3, 2))
    for dilation in ((1, 1), (2, 2), (1, 3))
    for padding in ("valid", "same")
    if strides == (1, 1) or dilation == (1, 1)
]
COLOUR_KERNELS = ("sobel_h", "random", "random3d")  # random3d: one kernel per channel (sum only)
COLOUR_POOL_CASES = [((2, 2), (2, 2), "valid"), ((3, 3), (2, 2), "same"), ((2, 3), (1, 2), "same")]

KERAS_COLOUR_SCRIPT = r"""
import json, sys
import numpy as np
import keras
data = np.load(sys.argv[1])
cells, pool_cases = json.loads(sys.argv[2]), json.loads(sys.argv[3])
image = data["image"][None]
out = {}
for name in ("sobel_h", "random", "random3d"):
    kernel = data[f"kernel_{name}"]
    for i, (strides, dilation, padding) in enumerate(cells):
        options = dict(strides=tuple(strides), dilation_rate=tuple(dilation), padding=padding, use_bias=False)
        if kernel.ndim == 2:
            depthwise = keras.layers.DepthwiseConv2D(kernel.shape, **options)
            depthwise.build(image.shape)
            depthwise.set_weights([np.repeat(kernel[:, :, None, None], 3, axis=2)])
            out[f"each_{name}_{i}"] = np.asarray(depthwise(image))[0]
            full = np.repeat(kernel[:, :, None, None], 3, axis=2)
        else:
            full = kernel[:, :, :, None]
        conv = keras.layers.Conv2D(1, full.shape[:2], **options)
        conv.build(image.shape)
        conv.set_weights([full])
        out[f"sum_{name}_{i}"] = np.asarray(conv(image))[0, :, :, 0]
for i, (size, strides, padding) in enumerate(pool_cases):
    for mode, layer in (("max", keras.layers.MaxPooling2D), ("avg", keras.layers.AveragePooling2D)):
        pooled = layer(tuple(size), strides=tuple(strides), padding=padding)(image)
        out[f"pool_{mode}_{i}"] = np.asarray(pooled)[0]
np.savez(sys.argv[4], **out)
"""


@pytest.fixture(scope="module")
def keras_colour_results(tmp_path_factory):
    skimage_data = pytest.importorskip("skimage.data")
    folder = tmp_path_factory.mktemp("keras_colour")
    rng = np.random.default_rng(2017)
    # A real colour photograph (bundled in scikit-image's wheel), float32 in [0, 1] as Keras feeds it.
    image = (skimage_data.coffee()[100:164, 200:277] / 255.0).astype(np.float32)
    inputs = {
        "image": image,
        "kernel_sobel_h": kernels.get("sobel_h").astype(np.float32),
        "kernel_random": rng.normal(size=(3, 5)).astype(np.float32),
        "kernel_random3d": rng.normal(size=(5, 3, 3)).astype(np.float32),
    }
    np.savez(folder / "inputs.npz", **inputs)
    env = dict(os.environ, KERAS_BACKEND="jax", KERAS_HOME=str(folder / "keras_home"), JAX_PLATFORMS="cpu")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            KERAS_COLOUR_SCRIPT,
            str(folder / "inputs.npz"),
            json.dumps(COLOUR_CELLS),
            json.dumps(COLOUR_POOL_CASES),
            str(folder / "outputs.npz"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outputs = np.load(folder / "outputs.npz")
    return inputs, {name: outputs[name] for name in outputs.files}


def assert_float32_close(got, want):
    assert got.shape == want.shape
    # Keras sums in float32 in its own order: relative 1e-5 of the largest response.
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * float(np.abs(want).max()))


@pytest.mark.parametrize("kernel_name", ["sobel_h", "random"])
@pytest.mark.parametrize("cell", range(len(COLOUR_CELLS)))
def test_conv2d_each_equals_keras_depthwise_conv2d(keras_colour_results, kernel_name, cell):
    inputs, outputs = keras_colour_results
    strides, dilation, padding = COLOUR_CELLS[cell]
    got = conv2d(
        inputs["image"],
        inputs[f"kernel_{kernel_name}"],
        stride=strides,
        padding=padding,
        dilation=dilation,
        channels="each",
    )
    assert_float32_close(got, outputs[f"each_{kernel_name}_{cell}"])


@pytest.mark.parametrize("kernel_name", COLOUR_KERNELS)
@pytest.mark.parametrize("cell", range(len(COLOUR_CELLS)))
def test_conv2d_sum_equals_keras_conv2d(keras_colour_results, kernel_name, cell):
    inputs, outputs = keras_colour_results
    strides, dilation, padding = COLOUR_CELLS[cell]
    got = conv2d(
        inputs["image"],
        inputs[f"kernel_{kernel_name}"],
        stride=strides,
        padding=padding,
        dilation=dilation,
        channels="sum",
    )
    assert_float32_close(got, outputs[f"sum_{kernel_name}_{cell}"])


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("case", range(len(COLOUR_POOL_CASES)))
def test_pool2d_channels_last_equals_keras_pooling(keras_colour_results, mode, case):
    inputs, outputs = keras_colour_results
    size, strides, padding = COLOUR_POOL_CASES[case]
    got = pool2d(inputs["image"], size, stride=strides, padding=padding, mode=mode, channels_last=True)
    want = outputs[f"pool_{mode}_{case}"]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
