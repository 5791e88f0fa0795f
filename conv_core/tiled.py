"""Row-tiled conv2d and pool2d: the same numbers as the whole-image calls, in bounded memory.

A large image is processed in bands of output rows.  :func:`conv2d_rows` builds, for each band
of ``tile_rows`` output rows, only the padded input rows it reaches (the halo of the effective
kernel ``(kh - 1) * dilation + 1``, at the band's stride-aligned start) -- padding is applied at
the true image borders only, with the same rule as :func:`convsweep.conv_core.conv2d` -- and runs
:func:`convsweep.conv_core.conv2d` on that band with no padding.  :class:`RowPooler` takes conv rows in
order and returns every pooled row whose window rows have all arrived, by calling
:func:`convsweep.conv_core.pool2d` on exactly the conv rows (and the padding rows) of those windows.

Why it is identical, not just close: every output value of conv2d and pool2d is computed from
its own window in a fixed order (kernel taps, then window offsets), whatever else is in the
array, and a band holds the same window values as the whole image.  The arithmetic dtype of
conv2d depends on the input dtype and the kernel only (8- and 16-bit integers), not on the
values, so a band is computed in the same dtype as the whole.  Tests compare the two over
random shapes, strides, paddings, dilations, pad modes and pool settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from convsweep.conv_core import kernels as _kernels
from convsweep.conv_core._checks import Padding, Pair, choice, positive_int, positive_pair
from convsweep.conv_core.arithmetic import output_size, resolve_padding, resolve_pool_padding
from convsweep.conv_core.conv import CHANNEL_MODES, PAD_MODES, conv2d
from convsweep.conv_core.pooling import POOL_MODES, pool2d


def _source_index(
    positions: npt.NDArray[np.intp], length: int, pad_mode: str
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_] | None]:
    """Source rows (or columns) of padded positions ``positions - before`` in an axis of ``length``.

    Returns the indices into the image and, for ``"zeros"``, the mask of positions outside it.
    """
    if pad_mode == "replicate":
        return np.clip(positions, 0, length - 1), None
    if pad_mode == "reflect":  # mirror without repeating the edge (numpy 'reflect'); padding < length
        mirrored = np.abs(positions)
        mirrored = np.where(mirrored > length - 1, 2 * (length - 1) - mirrored, mirrored)
        return mirrored, None
    outside = (positions < 0) | (positions >= length)
    return np.clip(positions, 0, length - 1), outside


def _padded_band(
    image: npt.NDArray[Any],
    rows: npt.NDArray[np.intp],
    columns: tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_] | None],
    pad_mode: str,
) -> npt.NDArray[Any]:
    """The padded image's rows ``rows`` (positions relative to the unpadded image), every padded column."""
    height = image.shape[0]
    row_index, row_outside = _source_index(rows, height, pad_mode)
    column_index, column_outside = columns
    band = image[row_index][:, column_index]
    if row_outside is not None and row_outside.any():
        band[row_outside] = 0
    if column_outside is not None and column_outside.any():
        band[:, column_outside] = 0
    return band


def conv2d_rows(
    image: npt.ArrayLike,
    kernel: npt.ArrayLike,
    *,
    stride: Pair = 1,
    padding: Padding = "valid",
    pad_mode: str = "zeros",
    dilation: Pair = 1,
    channels: str = "gray",
    tile_rows: int,
) -> Iterator[tuple[int, npt.NDArray[np.float32]]]:
    """:func:`convsweep.conv_core.conv2d` of one image, yielded as bands of at most ``tile_rows`` output rows.

    Parameters
    ----------
    image : array_like, shape (H, W); with channels (H, W, C)
        One image (any real dtype conv2d takes).
    kernel, stride, padding, pad_mode, dilation, channels
        As for :func:`convsweep.conv_core.conv2d` (padding is resolved on the whole image).
    tile_rows : int
        Output rows per band (>= 1).

    Yields
    ------
    (first_row, rows) : int, ndarray of float32, shape (r, W') (``each``: (r, W', C))
        Output rows ``first_row : first_row + r``, in order; together, exactly
        ``conv2d(image, kernel, ...)`` of shape (H', W').
    """
    yield from _conv2d_rows(image, kernel, stride, padding, pad_mode, dilation, channels, tile_rows)


def _conv2d_rows(
    image: npt.ArrayLike,
    kernel: npt.ArrayLike,
    stride: Pair,
    padding: Padding,
    pad_mode: str,
    dilation: Pair,
    channels: str,
    tile_rows: int,
) -> Iterator[tuple[int, npt.NDArray[np.float32]]]:
    """conv2d_rows: the arguments checked at the first ``next``, then the bands."""
    image = np.asarray(image)
    channels = choice(channels, "channels", CHANNEL_MODES)
    if channels == "gray" and image.ndim != 2:
        raise ValueError(f"image must be one (H, W) image, got shape {image.shape}")
    if channels != "gray" and image.ndim != 3:
        raise ValueError(f"image with channels={channels!r} must be one (H, W, C) image, got shape {image.shape}")
    tile_rows = positive_int(tile_rows, "tile_rows")
    kernel = _kernels.validate(kernel) if channels == "gray" else _kernels.validate_channels(kernel)
    strides = positive_pair(stride, "stride")
    dilations = positive_pair(dilation, "dilation")
    pad_mode = choice(pad_mode, "pad_mode", PAD_MODES)
    top, out_h, columns = _rows_geometry(image.shape[:2], kernel.shape[:2], padding, pad_mode, strides, dilations)
    reach_y = (kernel.shape[0] - 1) * dilations[0] + 1
    for first in range(0, out_h, tile_rows):
        last = min(first + tile_rows, out_h)  # exclusive
        # Padded rows first*sy .. (last-1)*sy + reach - 1, as positions in the unpadded image.
        rows = np.arange(first * strides[0], (last - 1) * strides[0] + reach_y) - top
        band = _padded_band(image, rows, columns, pad_mode)
        yield first, conv2d(band, kernel, stride=strides, padding=0, dilation=dilations, channels=channels)


def _rows_geometry(
    sides: tuple[int, ...],
    kernel_size: tuple[int, ...],
    padding: Padding,
    pad_mode: str,
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> tuple[int, int, tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_] | None]]:
    """The top padding, the output height H', and the padded columns' sources; or the padding error."""
    height, width = sides
    top, bottom, left, right = resolve_padding(
        padding, image_size=(height, width), kernel_size=kernel_size, stride=stride, dilation=dilation
    )
    if pad_mode == "reflect" and (max(top, bottom) >= height or max(left, right) >= width):
        raise ValueError(
            f"pad_mode='reflect' needs padding < the image side {height}x{width}, got padding={padding!r} "
            f"({top}, {bottom}, {left}, {right})"
        )
    out_h = output_size(height, kernel_size[0], stride=stride[0], padding=(top, bottom), dilation=dilation[0])
    output_size(width, kernel_size[1], stride=stride[1], padding=(left, right), dilation=dilation[1])
    return top, out_h, _source_index(np.arange(-left, width + right), width, pad_mode)


class RowPooler:
    """:func:`convsweep.conv_core.pool2d` of one map whose rows arrive in order, band by band.

    ``push(rows)`` appends the next conv rows and returns the pooled rows that became complete
    (possibly none); after the last conv row every pooled row has been returned.  Only the conv
    rows that a future window still needs are kept.

    Parameters
    ----------
    map_shape : (H, W) of the whole map
    size, stride, mode, padding
        As for :func:`convsweep.conv_core.pool2d` (padding resolved on the whole map; no ceil mode).
    channels : int, optional
        The map's rows are (r, W, channels), channels last, each pooled on its own.
    """

    def __init__(
        self,
        map_shape: Pair,
        size: Pair = 2,
        *,
        stride: Pair | None = None,
        mode: str = "max",
        padding: Padding = "valid",
        channels: int | None = None,
    ) -> None:
        self.map_h, self.map_w = positive_pair(map_shape, "map_shape")
        self.trailing: tuple[int, ...] = () if channels is None else (positive_int(channels, "channels"),)
        self.size = positive_pair(size, "size")
        self.stride = positive_pair(self.size if stride is None else stride, "stride")
        self.mode = choice(mode, "mode", POOL_MODES)
        self.pads = resolve_pool_padding(
            padding, image_size=(self.map_h, self.map_w), pool_size=self.size, stride=self.stride
        )
        top, bottom, left, right = self.pads
        self.out_h = output_size(self.map_h, self.size[0], stride=self.stride[0], padding=(top, bottom))
        self.out_w = output_size(self.map_w, self.size[1], stride=self.stride[1], padding=(left, right))
        self._next = 0  # next pooled row to produce
        self._kept = np.empty((0, self.map_w, *self.trailing), np.float32)
        self._kept_start = 0  # map row of self._kept[0]
        self._received = 0  # map rows received so far

    def _window_rows(self, pooled_row: int) -> tuple[int, int]:
        """Map rows [start, stop) the window of ``pooled_row`` covers, clipped to the map."""
        start = pooled_row * self.stride[0] - self.pads[0]
        return max(start, 0), min(start + self.size[0], self.map_h)

    def push(self, rows: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Append conv rows (r, W[, C]); return the pooled rows now complete, (q, W_out[, C]) float32."""
        rows = np.asarray(rows)
        if rows.shape[1:] != (self.map_w, *self.trailing):
            raise ValueError(
                f"rows must have shape (r, {', '.join(map(str, (self.map_w, *self.trailing)))}), got {rows.shape}"
            )
        if self._received + len(rows) > self.map_h:
            raise ValueError(f"more rows than the map's {self.map_h}: {self._received} + {len(rows)}")
        rows = rows.astype(np.float32, copy=False)
        if len(self._kept):
            self._kept = np.concatenate([self._kept, rows])
        else:
            self._kept, self._kept_start = rows, self._received
        self._received += len(rows)
        last = self._next
        while last < self.out_h and self._window_rows(last)[1] <= self._received:
            last += 1
        if last == self._next:
            return np.empty((0, self.out_w, *self.trailing), np.float32)
        first = self._next
        start = first * self.stride[0] - self.pads[0]
        stop = (last - 1) * self.stride[0] - self.pads[0] + self.size[0]
        top_pad, bottom_pad = max(0, -start), max(0, stop - self.map_h)
        begin, end = max(start, 0), min(stop, self.map_h)
        band = self._kept[begin - self._kept_start : end - self._kept_start]
        pooled = pool2d(
            band,
            self.size,
            stride=self.stride,
            mode=self.mode,
            padding=(top_pad, bottom_pad, self.pads[2], self.pads[3]),
            channels_last=bool(self.trailing),
        )
        self._next = last
        keep_from = self._window_rows(self._next)[0] if self._next < self.out_h else self.map_h
        if keep_from >= self._received:  # no kept row is needed any more
            self._kept = np.empty((0, self.map_w, *self.trailing), np.float32)
        else:  # keep the rows the next windows need
            self._kept = self._kept[keep_from - self._kept_start :]
            self._kept_start = keep_from
        return pooled
