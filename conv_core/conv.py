"""2-D cross-correlation over image batches, and the Sobel gradient magnitude.

How conv2d is fast and still exact
----------------------------------
The batch is padded, cast, and stacked as one tall image, so a single ``cv2.filter2D`` call
filters thousands of images; rows that straddle two images are computed and thrown away, and
stride is a strided view of the stride-1 result.  The work runs in chunks of a few MB so that
the padded input and the filter output stay in cache.

The arithmetic is chosen so that the result is the exact correlation rounded once to float32:

* integer images with an integer kernel are computed in float32 when every partial sum is an
  integer below 2**24 (e.g. any 8-bit image with Sobel): then every float32 operation is exact,
  whatever order OpenCV adds in;
* everything else is computed in float64 and rounded to float32 at the end;
* ``cv2.filter2D`` switches to a DFT for large kernels (area >= 130 in float32, >= 50 in float64;
  see ``dftFilter2D`` in OpenCV's ``filter.dispatch.cpp``), which is not exact; those kernels go
  through a sum of shifted slices instead, one tap at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from convsweep.conv_core import kernels as _kernels
from convsweep.conv_core._checks import Padding, Pair, channel_batch, choice, image_batch, positive_pair
from convsweep.conv_core.arithmetic import output_size, resolve_padding

PAD_MODES = ("zeros", "reflect", "replicate")
# "gray": no channel axis; "each": every channel on its own (Keras DepthwiseConv2D); "sum": the
# channel responses summed (Keras Conv2D with one filter).
CHANNEL_MODES = ("gray", "each", "sum")
_NUMPY_PAD_MODE: dict[str, Literal["reflect", "edge"]] = {"reflect": "reflect", "replicate": "edge"}

# cv2.filter2D uses a (not exact) DFT from these kernel areas on; below them it filters directly.
_DFT_MIN_AREA = {np.dtype(np.float32): 130, np.dtype(np.float64): 50}
# Integers up to 2**24 are exact in float32.
_FLOAT32_EXACT_LIMIT = 2**24
# Padded input per chunk: big enough to amortise the Python loop, small enough that input and
# filter output stay in L2 cache (512 KB measured fastest here, 2-4 MB ~10% slower).
_CHUNK_BYTES = 1 << 19


def _compute_dtype(
    batch: npt.NDArray[Any], kernel: npt.NDArray[np.float64], *, terms_per_tap: int = 1
) -> np.dtype[Any]:
    """float32 when float32 arithmetic is provably exact for this input, else float64.

    ``kernel`` holds every tap that adds into one output value (for ``sum`` all channels' taps);
    ``terms_per_tap`` counts the input values one tap multiplies (C when a 2-D kernel is
    applied to the channel sum).
    """
    if not np.array_equal(kernel, np.rint(kernel)):
        return np.dtype(np.float64)
    if batch.dtype == np.bool_:
        largest = 1
    elif np.issubdtype(batch.dtype, np.integer):
        info = np.iinfo(batch.dtype)
        if batch.dtype.itemsize <= 2:  # the dtype's range is small enough to decide without a pass
            largest = max(-int(info.min), int(info.max))
        else:
            largest = max(abs(int(batch.min())), abs(int(batch.max())))
    else:
        return np.dtype(np.float64)
    # Every product and partial sum is bounded by largest * sum(|k|).
    if largest * terms_per_tap * float(np.abs(kernel).sum()) < _FLOAT32_EXACT_LIMIT:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _padded_chunks(
    batch: npt.NDArray[Any], pads: tuple[int, int, int, int], pad_mode: str, dtype: np.dtype[Any], per_chunk: int
) -> Iterator[tuple[int, npt.NDArray[Any]]]:
    """Yield ``(start, padded)``: chunks of the batch, padded and cast, each (m, H + t + b, W + l + r).

    Zero (or no) padding reuses one buffer whose border stays zero, so only the interior is
    rewritten per chunk; the yielded array is overwritten by the next chunk.
    """
    n, height, width = batch.shape[:3]
    channels = batch.shape[3:]  # () or (C,): channels last ride along untouched
    top, bottom, left, right = pads
    if pad_mode == "zeros" or not any(pads):
        buffer = np.zeros((min(per_chunk, n), height + top + bottom, width + left + right, *channels), dtype)
        for start in range(0, n, per_chunk):
            chunk = batch[start : start + per_chunk]
            padded = buffer[: len(chunk)]
            padded[:, top : top + height, left : left + width] = chunk
            yield start, padded
        return
    for start in range(0, n, per_chunk):
        chunk = batch[start : start + per_chunk].astype(dtype)
        widths = ((0, 0), (top, bottom), (left, right), *[(0, 0)] * len(channels))
        yield start, np.pad(chunk, widths, mode=_NUMPY_PAD_MODE[pad_mode])


def _dilate(kernel: npt.NDArray[Any], dilation: tuple[int, int]) -> npt.NDArray[Any]:
    """The kernel spread out with zeros between taps: shape (k_eff_h, k_eff_w)."""
    dilation_y, dilation_x = dilation
    kernel_h, kernel_w = kernel.shape
    dense = np.zeros(((kernel_h - 1) * dilation_y + 1, (kernel_w - 1) * dilation_x + 1), kernel.dtype)
    dense[::dilation_y, ::dilation_x] = kernel
    return dense


def _correlate_opencv(
    padded: npt.NDArray[Any],
    dense_kernel: npt.NDArray[Any],
    out_shape: Sequence[int],
    stride: tuple[int, int],
    scratch: npt.NDArray[Any],
) -> npt.NDArray[Any]:
    """Valid correlation of every image in ``padded`` with one filter2D call on the stacked batch.

    ``padded`` is (n, H, W) or (n, H, W, C): filter2D filters each of C interleaved channels on
    its own with the same kernel.  ``scratch`` is a reusable (rows >= n * H, W[, C]) buffer for
    filter2D's output.
    """
    n, padded_h, padded_w = padded.shape[:3]
    out_h, out_w = out_shape
    stride_y, stride_x = stride
    tall = padded.reshape(n * padded_h, padded_w, *padded.shape[3:])
    # anchor (0, 0): output (y, x) is the window whose top-left corner is (y, x), so each image's
    # valid outputs are the first rows/columns of its own block; the border is never used.
    # OpenCV's stubs type the result loosely: it is dst, an array of padded's dtype.
    filtered: npt.NDArray[Any] = cv2.filter2D(
        tall, -1, dense_kernel, dst=scratch[: n * padded_h], anchor=(0, 0), borderType=cv2.BORDER_CONSTANT
    )
    filtered = filtered.reshape(padded.shape)
    return filtered[:, : (out_h - 1) * stride_y + 1 : stride_y, : (out_w - 1) * stride_x + 1 : stride_x]


def _correlate_shifted(
    padded: npt.NDArray[Any],
    kernel: npt.NDArray[Any],
    out_shape: Sequence[int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> npt.NDArray[Any]:
    """The same correlation as a sum of shifted, strided slices, one non-zero tap at a time."""
    n = padded.shape[0]
    out_h, out_w = out_shape
    stride_y, stride_x = stride
    dilation_y, dilation_x = dilation
    total = np.zeros((n, out_h, out_w, *padded.shape[3:]), padded.dtype)
    term = np.empty_like(total)
    for (row, col), weight in np.ndenumerate(kernel):
        if weight == 0:
            continue
        y0, x0 = row * dilation_y, col * dilation_x
        window = padded[
            :, y0 : y0 + (out_h - 1) * stride_y + 1 : stride_y, x0 : x0 + (out_w - 1) * stride_x + 1 : stride_x
        ]
        np.multiply(window, weight, out=term)
        total += term
    return total


class _Correlator:
    """One 2-D kernel's valid correlation of padded chunks: filter2D, or shifted slices for big kernels."""

    def __init__(
        self,
        kernel: npt.NDArray[Any],
        *,
        out_shape: Sequence[int],
        stride: tuple[int, int],
        dilation: tuple[int, int],
    ) -> None:
        self.kernel = kernel
        self.dense_kernel = _dilate(kernel, dilation)
        self.use_opencv = self.dense_kernel.size < _DFT_MIN_AREA[kernel.dtype]
        self.out_shape, self.stride, self.dilation = out_shape, stride, dilation
        self.scratch: npt.NDArray[Any] | None = None

    def __call__(self, padded: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """The correlation of (n, H, W[, C]) ``padded``; an OpenCV result is overwritten by the next call."""
        if not self.use_opencv:
            return _correlate_shifted(padded, self.kernel, self.out_shape, self.stride, self.dilation)
        rows = padded.shape[0] * padded.shape[1]
        scratch = self.scratch
        if scratch is None or scratch.shape[0] < rows or scratch.shape[1:] != padded.shape[2:]:
            scratch = self.scratch = np.empty((rows, *padded.shape[2:]), padded.dtype)
        return _correlate_opencv(padded, self.dense_kernel, self.out_shape, self.stride, scratch)


def _channel_compute_dtype(batch: npt.NDArray[Any], kernel: npt.NDArray[np.float64], channels: str) -> np.dtype[Any]:
    """The exact-float32 decision for each channel mode (what adds into one output value)."""
    if channels == "gray" or (channels == "each" and kernel.ndim == 2):
        return _compute_dtype(batch, kernel)
    if channels == "sum" and kernel.ndim == 2:  # the kernel applied to the channel sum
        return _compute_dtype(batch, kernel, terms_per_tap=batch.shape[3])
    if channels == "sum":  # every channel's taps add into one value
        return _compute_dtype(batch, kernel)
    # each with one kernel per channel: the channel whose kernel sums largest decides
    widest = int(np.argmax(np.abs(kernel).sum(axis=(0, 1))))
    return _compute_dtype(batch, kernel[:, :, widest])


def conv2d(
    images: npt.ArrayLike,
    kernel: npt.ArrayLike,
    *,
    stride: Pair = 1,
    padding: Padding = "valid",
    pad_mode: str = "zeros",
    dilation: Pair = 1,
    channels: str = "gray",
) -> npt.NDArray[np.float32]:
    """2-D cross-correlation of one image or a batch with one kernel, grey or with channels.

    This is a cross-correlation (the kernel is not flipped), as Keras ``Conv2D`` and PyTorch
    ``conv2d`` compute it::

        out[n, y, x] = sum_{i, j} kernel[i, j] * padded[n, y * sy + i * dy, x * sx + j * dx]

    With channels (channels last, as Keras), ``channels="each"`` is Keras ``DepthwiseConv2D``
    (depth multiplier 1): ``out[n, y, x, c]`` is the formula on channel ``c`` alone (with
    ``kernel[:, :, c]`` for a 3-D kernel).  ``channels="sum"`` is Keras ``Conv2D`` with one
    filter: ``out[n, y, x] = sum_c`` of the same, the 2-D kernel repeated over the channels (or
    ``kernel[:, :, c]`` for a 3-D kernel).

    Parameters
    ----------
    images : array_like, shape (H, W) or (N, H, W); with channels (H, W, C) or (N, H, W, C)
        Any real dtype; float images must be finite.
    kernel : array_like, shape (kh, kw); with channels also (kh, kw, C)
        Odd sides, finite (see :func:`convsweep.conv_core.kernels.validate`).
    stride, dilation : int or (y, x)
    padding : {"valid", "same", "full"} or int or (ph, pw) or (top, bottom, left, right)
        Resolved by :func:`convsweep.conv_core.resolve_padding` (``"same"`` as Keras/TensorFlow).
    pad_mode : {"zeros", "reflect", "replicate"}
        ``"reflect"`` mirrors without repeating the edge (numpy/PyTorch ``reflect``, OpenCV
        ``BORDER_REFLECT_101``) and needs padding < the image side.
    channels : {"gray", "each", "sum"}
        ``"gray"``: the images have no channel axis.

    Returns
    -------
    ndarray of float32, shape (H', W') or (N, H', W'); ``each``: (..., H', W', C)
        ``H' = output_size(H, kh, stride=sy, padding=(top, bottom), dilation=dy)``, likewise W'.
        Exact (the true sum rounded once to float32) for integer kernels on integer images
        (sums below 2**53); otherwise the float64 sum rounded once (``sum`` with a 2-D kernel
        adds the channels first, then correlates: the same sum in another order).
    """
    return _conv2d(images, kernel, stride, padding, pad_mode, dilation, channels)


def _conv2d(
    images: npt.ArrayLike,
    kernel: npt.ArrayLike,
    stride: Pair,
    padding: Padding,
    pad_mode: str,
    dilation: Pair,
    channels: str,
) -> npt.NDArray[np.float32]:
    """conv2d: the arguments checked (in the documented order of errors), then the batch correlated."""
    channels = choice(channels, "channels", CHANNEL_MODES)
    batch, single, checked_kernel = _batch_and_kernel(images, kernel, channels)
    strides = positive_pair(stride, "stride")
    dilations = positive_pair(dilation, "dilation")
    pad_mode = choice(pad_mode, "pad_mode", PAD_MODES)
    sides = (batch.shape[1], batch.shape[2])
    kernel_shape = checked_kernel.shape
    pads = resolve_padding(padding, image_size=sides, kernel_size=kernel_shape[:2], stride=strides, dilation=dilations)
    out_shape = _output_shape(np.shape(images), sides, kernel_shape, pads, padding, pad_mode, strides, dilations)
    result = _correlate_batch(batch, checked_kernel, pads, pad_mode, out_shape, strides, dilations, channels)
    return result[0] if single else result


def _batch_and_kernel(
    images: npt.ArrayLike, kernel: npt.ArrayLike, channels: str
) -> tuple[npt.NDArray[Any], bool, npt.NDArray[np.float64]]:
    """The checked (N, H, W[, C]) batch, whether it was one image, and the checked kernel."""
    if channels == "gray":
        batch, single = image_batch(images, "images", finite=True)
        return batch, single, _kernels.validate(kernel)
    batch, single = channel_batch(images, "images", finite=True)
    checked = _kernels.validate_channels(kernel)
    if checked.ndim == 3 and checked.shape[2] != batch.shape[3]:
        raise ValueError(
            f"kernel of shape {checked.shape} has {checked.shape[2]} channels, images of shape "
            f"{np.shape(images)} have {batch.shape[3]}"
        )
    return batch, single, checked


def _output_shape(
    image_shape: tuple[int, ...],
    sides: tuple[int, int],
    kernel_shape: tuple[int, ...],
    pads: tuple[int, int, int, int],
    padding: Padding,
    pad_mode: str,
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> list[int]:
    """(H', W'), or the error naming the axis that is too small (or too short to reflect)."""
    top, bottom, left, right = pads
    height, width = sides
    out_shape = []
    for axis, side, size, before, after, step, spread in (
        ("height", height, kernel_shape[0], top, bottom, stride[0], dilation[0]),
        ("width", width, kernel_shape[1], left, right, stride[1], dilation[1]),
    ):
        try:
            out_shape.append(output_size(side, size, stride=step, padding=(before, after), dilation=spread))
        except ValueError as error:
            raise ValueError(
                f"images of shape {image_shape} are too small along the {axis} for a kernel of "
                f"shape {kernel_shape} with padding={padding!r}: {error}"
            ) from None
        if pad_mode == "reflect" and max(before, after) >= side:
            raise ValueError(
                f"pad_mode='reflect' needs padding < the image {axis} {side}, got padding={padding!r} "
                f"({before} before, {after} after)"
            )
    return out_shape


def _correlate_batch(
    batch: npt.NDArray[Any],
    kernel: npt.NDArray[np.float64],
    pads: tuple[int, int, int, int],
    pad_mode: str,
    out_shape: list[int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    channels: str,
) -> npt.NDArray[np.float32]:
    """The correlation of the checked batch, chunk by chunk, rounded once to float32."""
    n, height, width = batch.shape[:3]
    top, bottom, left, right = pads
    dtype = _channel_compute_dtype(batch, kernel, channels)
    typed_kernel = kernel.astype(dtype)
    planes = [typed_kernel] if kernel.ndim == 2 else [typed_kernel[:, :, c] for c in range(kernel.shape[2])]
    correlators = [
        _Correlator(np.ascontiguousarray(plane), out_shape=out_shape, stride=stride, dilation=dilation)
        for plane in planes
    ]
    padded_bytes = (height + top + bottom) * (width + left + right) * int(np.prod(batch.shape[3:])) * dtype.itemsize
    per_chunk = max(1, _CHUNK_BYTES // padded_bytes)

    out_channels = batch.shape[3:] if channels == "each" else ()
    result = np.empty((n, *out_shape, *out_channels), np.float32)
    for start, padded in _padded_chunks(batch, pads, pad_mode, dtype, per_chunk):
        block = _correlate_chunk(padded, correlators, channels)
        result[start : start + len(padded)] = block  # float64 -> float32: the one rounding
    return result


def _correlate_chunk(padded: npt.NDArray[Any], correlators: list[_Correlator], channels: str) -> npt.NDArray[Any]:
    """One padded chunk through the channel mode, in the compute dtype (not yet rounded)."""
    if len(correlators) == 1:
        if channels == "sum":  # a repeated kernel: correlate the channel sum once (linearity)
            summed = np.add(padded[..., 0], padded[..., 1]) if padded.shape[3] > 1 else padded[..., 0].copy()
            for channel in range(2, padded.shape[3]):
                summed += padded[..., channel]
            return correlators[0](summed)
        return correlators[0](padded)  # gray, or each: filter2D filters every channel on its own
    if channels == "sum":
        total = np.array(correlators[0](np.ascontiguousarray(padded[..., 0])))
        for channel in range(1, len(correlators)):
            total += correlators[channel](np.ascontiguousarray(padded[..., channel]))
        return total
    block = np.empty((len(padded), *correlators[0].out_shape, len(correlators)), padded.dtype)
    for channel, correlate in enumerate(correlators):
        block[..., channel] = correlate(np.ascontiguousarray(padded[..., channel]))
    return block


def sobel_magnitude(gx: npt.ArrayLike, gy: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Gradient magnitude ``sqrt(gx**2 + gy**2)`` as float32, elementwise, any shape.

    float32 inputs (what conv2d returns) are computed in float32 with IEEE ``sqrt``.  That is
    exact, i.e. the float64 value rounded once, whenever ``gx**2 + gy**2`` is representable in
    float32 (e.g. Sobel or Prewitt of 8-bit images: integers below 2**24); otherwise it is within
    2 ulp for magnitudes >= 2**-61, and within 2**-61 (4e-19) in absolute terms below that, where
    the float32 squares underflow.  If a square overflows (an infinite result), the call is redone
    in float64.  Any other dtype is computed in float64 and rounded once.  (``cv2.magnitude`` is
    not used: it is up to 2 ulp off even on exact integer inputs.)

    Parameters
    ----------
    gx, gy : array_like, same shape
        Gradients along y and x (e.g. conv2d with ``sobel_h`` and ``sobel_v``).

    Returns
    -------
    ndarray of float32, same shape as ``gx``
    """
    gx = np.asarray(gx)
    gy = np.asarray(gy)
    for name, array in (("gx", gx), ("gy", gy)):
        if array.dtype == object or not (
            np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating) or array.dtype == np.bool_
        ):
            raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if gx.shape != gy.shape:
        raise ValueError(f"gx and gy must have the same shape, got gx {gx.shape} and gy {gy.shape}")
    if gx.dtype == np.float32 and gy.dtype == np.float32:
        magnitude = _float32_magnitude(gx, gy)
        if _float32_magnitude_in_range(magnitude):
            return magnitude
    wide_x = gx.astype(np.float64)
    wide_y = gy.astype(np.float64)
    return np.sqrt(wide_x * wide_x + wide_y * wide_y).astype(np.float32)


_MAGNITUDE_BLOCK = 1 << 15  # elements per block: three float32 blocks stay in L2 cache


def _float32_magnitude(gx: npt.NDArray[Any], gy: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """sqrt(gx * gx + gy * gy) in float32, block by block so the temporaries stay in cache."""
    magnitude = np.empty(gx.shape, np.float32)
    flat_x, flat_y, flat_out = gx.reshape(-1), gy.reshape(-1), magnitude.reshape(-1)
    square = np.empty(min(_MAGNITUDE_BLOCK, flat_out.size), np.float32)
    with np.errstate(over="ignore", under="ignore"):  # overflow is detected, underflow bounded
        for start in range(0, flat_out.size, _MAGNITUDE_BLOCK):
            stop = start + _MAGNITUDE_BLOCK
            out, y_squared = flat_out[start:stop], square[: len(flat_out[start:stop])]
            np.multiply(flat_x[start:stop], flat_x[start:stop], out=out)
            np.multiply(flat_y[start:stop], flat_y[start:stop], out=y_squared)
            out += y_squared
            np.sqrt(out, out=out)
    return magnitude


def _float32_magnitude_in_range(magnitude: npt.NDArray[np.float32]) -> bool:
    """False if a float32 square overflowed (or the input held NaN): redo in float64."""
    return magnitude.size == 0 or bool(np.isfinite(magnitude.max()))
