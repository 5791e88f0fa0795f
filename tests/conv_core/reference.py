"""The literal reference: the notebook's double loop, generalised, written for reading.

Nothing here is vectorised or shared with conv_core: padding is a pixel lookup, every output
pixel is a loop over the window, and the output size comes from walking the windows, not from
a formula.  The tests compare conv_core with these functions.

The notebook computed, for a 3x3 kernel, stride 1 and no padding::

    for i in range(h - 2):
        for j in range(w - 2):
            out[i, j] = np.sum(image[i:i + 3, j:j + 3] * kernel)
"""

from __future__ import annotations

import numpy as np


def pixel(image, y, x, pad_mode):
    """Value of ``image`` at (y, x), which may lie outside the image (then padding decides)."""
    height, width = image.shape
    if 0 <= y < height and 0 <= x < width:
        return float(image[y, x])
    if pad_mode == "zeros":
        return 0.0
    if pad_mode == "replicate":  # repeat the edge pixel
        y = min(max(y, 0), height - 1)
        x = min(max(x, 0), width - 1)
        return float(image[y, x])
    if pad_mode == "reflect":  # mirror around the edge pixel, without repeating it
        if y < 0:
            y = -y
        if y >= height:
            y = 2 * (height - 1) - y
        if x < 0:
            x = -x
        if x >= width:
            x = 2 * (width - 1) - x
        return float(image[y, x])
    raise AssertionError(pad_mode)


def window_starts(n, window, stride, before, after, ceil_mode=False):
    """Start of each window along one axis, in image coordinates (may be negative).

    A window fits if it ends inside the padded input.  With ``ceil_mode``, if the fitting
    windows leave padded cells uncovered at the end, one more window overhangs the end, unless
    it would start beyond the image and the left padding (PyTorch's rule).
    """
    starts = []
    start = -before
    while start + window <= n + after:
        starts.append(start)
        start += stride
    covered_up_to = starts[-1] + window if starts else -before
    if ceil_mode and starts and covered_up_to < n + after and start < n:
        starts.append(start)
    return starts


def conv2d_loop(image, kernel, stride=(1, 1), pads=(0, 0, 0, 0), pad_mode="zeros", dilation=(1, 1)):
    """One image, one kernel: cross-correlation, summed in float64, rounded once to float32."""
    image = np.asarray(image)
    kernel = np.asarray(kernel, dtype=np.float64)
    kernel_h, kernel_w = kernel.shape
    top, bottom, left, right = pads
    span_h = (kernel_h - 1) * dilation[0] + 1
    span_w = (kernel_w - 1) * dilation[1] + 1
    rows = window_starts(image.shape[0], span_h, stride[0], top, bottom)
    cols = window_starts(image.shape[1], span_w, stride[1], left, right)
    out = np.zeros((len(rows), len(cols)), dtype=np.float64)
    for out_y, y0 in enumerate(rows):
        for out_x, x0 in enumerate(cols):
            total = 0.0
            for i in range(kernel_h):
                for j in range(kernel_w):
                    total += kernel[i, j] * pixel(image, y0 + i * dilation[0], x0 + j * dilation[1], pad_mode)
            out[out_y, out_x] = total
    return out.astype(np.float32)


def pool2d_loop(image, size=(2, 2), stride=(2, 2), mode="max", pads=(0, 0, 0, 0), ceil_mode=False):
    """One image: max or mean over the real pixels of each window (padding never counts)."""
    image = np.asarray(image)
    height, width = image.shape
    top, bottom, left, right = pads
    rows = window_starts(height, size[0], stride[0], top, bottom, ceil_mode)
    cols = window_starts(width, size[1], stride[1], left, right, ceil_mode)
    out = np.zeros((len(rows), len(cols)), dtype=np.float64)
    for out_y, y0 in enumerate(rows):
        for out_x, x0 in enumerate(cols):
            values = []
            for i in range(size[0]):
                for j in range(size[1]):
                    y, x = y0 + i, x0 + j
                    if 0 <= y < height and 0 <= x < width:
                        values.append(float(image[y, x]))
            assert values, "a window without a real pixel"
            if mode == "max":
                out[out_y, out_x] = max(values)
            else:
                total = 0.0
                for value in values:
                    total += value
                out[out_y, out_x] = total / len(values)
    # max: exact in float64 for every input dtype used in the tests, so rounding once is exact.
    return out.astype(np.float32)


def notebook_sobel_loop(image, kernel):
    """The notebook's own loop, verbatim in spirit: 3x3, stride 1, no padding."""
    height, width = image.shape
    out = np.zeros((height - 2, width - 2))
    for i in range(height - 2):
        for j in range(width - 2):
            out[i, j] = np.sum(image[i : i + 3, j : j + 3] * kernel)
    return out


def conv2d_channels_loop(image, kernel, channels, stride=(1, 1), pads=(0, 0, 0, 0), pad_mode="zeros", dilation=(1, 1)):
    """One (H, W, C) image: ``each`` -> (H', W', C), ``sum`` -> (H', W'), as Keras defines them.

    ``each`` (DepthwiseConv2D): every output channel is one input channel's correlation.  ``sum``
    (Conv2D, one filter): one float64 total over every channel and tap, rounded once.  A 2-D
    kernel is used for every channel; a 3-D kernel gives channel c the kernel[:, :, c].
    """
    image = np.asarray(image)
    kernel = np.asarray(kernel, dtype=np.float64)
    n_channels = image.shape[2]
    per_channel = [kernel if kernel.ndim == 2 else kernel[:, :, c] for c in range(n_channels)]
    kernel_h, kernel_w = per_channel[0].shape
    top, bottom, left, right = pads
    span_h = (kernel_h - 1) * dilation[0] + 1
    span_w = (kernel_w - 1) * dilation[1] + 1
    rows = window_starts(image.shape[0], span_h, stride[0], top, bottom)
    cols = window_starts(image.shape[1], span_w, stride[1], left, right)
    out = np.zeros((len(rows), len(cols), n_channels), dtype=np.float64)
    for out_y, y0 in enumerate(rows):
        for out_x, x0 in enumerate(cols):
            for c in range(n_channels):
                total = 0.0
                for i in range(kernel_h):
                    for j in range(kernel_w):
                        value = pixel(image[:, :, c], y0 + i * dilation[0], x0 + j * dilation[1], pad_mode)
                        total += per_channel[c][i, j] * value
                out[out_y, out_x, c] = total
    if channels == "each":
        return out.astype(np.float32)
    summed = np.zeros(out.shape[:2], np.float64)
    for c in range(n_channels):
        summed += out[:, :, c]
    return summed.astype(np.float32)
