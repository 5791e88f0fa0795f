"""How many images a chunk task holds, and how many rows a band of one large image has.

Pure functions of the image size, the sweep's settings and ``memory_budget`` (no I/O, no
Prefect), so chunk boundaries -- which cache keys are built on -- are the same on every run and
every machine for the same parameters.

A chunk task holds, per image (the largest over the conv settings, see :func:`image_bytes`):
the decoded uint8 image, its resized copy, every float32 map of the conv setting (kernels and
magnitudes), conv2d's padded float copy and filter output when one padded image exceeds its
512 KB working set, the worst pooling temporaries (avg pooling copies the map to float64 and
pads it) and, with ``keep_maps``, the encoded ``.npy`` of one map.  Statistics are summarised
in blocks of bounded size (``convsweep.tasks.compute``), a constant counted in :data:`TASK_OVERHEAD_BYTES`.

An image whose cost alone exceeds the budget gets a chunk of its own and is processed in
bands of conv output rows (:func:`band_rows`); :func:`plan_chunks` refuses, before any work,
a budget too small even for that.

Colour (``channels=3``, a sweep with each or sum): the image is (H, W, 3) uint8, and a channel's
task also holds that channel's plane; the maps are one per kernel as in grey (a channel's maps,
or the summed ones), but conv2d's padded float copies and filter outputs are per channel (sum).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from convsweep.tasks.datasets import iter_chunks
from convsweep.tasks.model import ConvSetting, PoolSetting, magnitude_pairs

# Kernel name -> matrix (nested rows or an array).
Kernels: TypeAlias = Mapping[str, npt.ArrayLike]
# ((top, bottom, left, right), (height, width)): a setting's padding and output size.
_Output: TypeAlias = tuple[tuple[int, int, int, int], tuple[int, int]]

MB = 1 << 20
# Per task, whatever the chunk: conv2d's cache-sized working set and the statistics blocks (the
# decoding of one file is added apart, see decode_bytes).
TASK_OVERHEAD_BYTES = 32 * MB
_FLOAT64 = 8
_FLOAT32 = 4
_CONV2D_WORKING_SET = 1 << 19  # convsweep.conv_core.conv's _CHUNK_BYTES: below it, conv2d's copies are bounded


def kernel_groups(kernels: Kernels) -> list[list[str]]:
    """Kernels computed together: each h/v pair whose magnitude is a map, then every other kernel alone."""
    pairs = magnitude_pairs(kernels)
    paired = {name for pair in pairs.values() for name in pair}
    return [list(pair) for pair in pairs.values()] + [[name] for name in kernels if name not in paired]


def _kernel_shape(matrix: npt.ArrayLike) -> tuple[int, int]:
    height, width = np.asarray(matrix).shape
    return height, width


def _pool_bytes(conv_shape: tuple[int, int], pools: Iterable[PoolSetting]) -> int:
    """The largest temporaries pooling one map allocates: a padded copy (float64 for avg) and the outputs."""
    worst = 0
    conv_px = conv_shape[0] * conv_shape[1]
    for pool in pools:
        if pool.mode == "none":
            continue
        output: _Output = pool.output(conv_shape)
        (top, bottom, left, right), (pool_h, pool_w) = output
        canvas_px = (conv_shape[0] + top + bottom) * (conv_shape[1] + left + right)
        if pool.mode == "avg":  # float64 copy, float64 canvas, float64 sum and quotient, float32 result
            cost = _FLOAT64 * (conv_px + canvas_px) + (2 * _FLOAT64 + _FLOAT32) * pool_h * pool_w
        else:  # float32 canvas (the map itself when unpadded) and the result
            cost = _FLOAT32 * canvas_px + _FLOAT32 * pool_h * pool_w
        worst = max(worst, cost)
    return worst


def _conv_shapes(setting: ConvSetting, size: tuple[int, int], kernels: Kernels) -> dict[str, _Output]:
    """name -> ((top, bottom, left, right), (conv_h, conv_w)) of every kernel on ``size`` images."""
    return {name: setting.output(size, _kernel_shape(matrix)) for name, matrix in kernels.items()}


def image_bytes(
    image_size: tuple[int, int],
    conv_settings: Sequence[ConvSetting],
    kernels: Kernels,
    pools: Sequence[PoolSetting],
    *,
    keep_maps: bool = False,
    channels: int = 1,
) -> int:
    """Bytes one image adds to a chunk task that computes it whole (the worst conv setting).

    Parameters
    ----------
    image_size : (height, width) of the dataset's images
    conv_settings, pools : the sweep's settings
    kernels : name -> matrix
    channels : 1 (grey) or 3 (RGB: the image, its resized copy and one channel's plane)
    """
    height, width = image_size
    worst = 0
    for setting in conv_settings:
        size = setting.resize or (height, width)
        cost = channels * (height * width + (size[0] * size[1] if setting.resize else 0))
        if channels > 1:  # one channel's plane, beside the RGB image
            cost += size[0] * size[1]
        shapes = _conv_shapes(setting, size, kernels)
        map_px = [shape[0] * shape[1] for _, shape in shapes.values()]
        map_px += [
            shapes[horizontal][1][0] * shapes[horizontal][1][1] for horizontal, _ in magnitude_pairs(kernels).values()
        ]
        cost += _FLOAT32 * sum(map_px)
        padded_px = max((size[0] + pads[0] + pads[1]) * (size[1] + pads[2] + pads[3]) for pads, _ in shapes.values())
        if padded_px * _FLOAT64 > _CONV2D_WORKING_SET:  # one image per conv2d block: padded copy + filter output
            cost += 2 * _FLOAT64 * padded_px * channels
        cost += max(_pool_bytes(shape, pools) for _, shape in shapes.values())
        if keep_maps:  # the .npy in a buffer, and its bytes
            cost += 2 * _FLOAT32 * max(map_px)
        worst = max(worst, cost)
    return worst


def decode_bytes(image_size: tuple[int, int], *, channels: int = 1) -> int:
    """Decoding one file: OpenCV's gray (or 16-bit) copy before it joins the chunk, 2 bytes a pixel at most;
    in colour its RGB copy (3 bytes a pixel)."""
    return (2 if channels == 1 else channels) * image_size[0] * image_size[1]


def images_per_chunk(
    image_size: tuple[int, int],
    conv_settings: Sequence[ConvSetting],
    kernels: Kernels,
    pools: Sequence[PoolSetting],
    *,
    memory_budget_mb: int,
    keep_maps: bool = False,
    channels: int = 1,
) -> int:
    """How many images a chunk holds so that a chunk task stays within ``memory_budget_mb`` (at least 1)."""
    per_image = image_bytes(image_size, conv_settings, kernels, pools, keep_maps=keep_maps, channels=channels)
    room = memory_budget_mb * MB - TASK_OVERHEAD_BYTES - decode_bytes(image_size, channels=channels)
    return max(1, room // per_image)


def band_bytes_per_row(
    setting: ConvSetting,
    size: tuple[int, int],
    kernels: Kernels,
    pools: Sequence[PoolSetting],
    *,
    keep_maps: bool = False,
    channels: int = 1,
) -> tuple[int, int]:
    """Bytes one conv output row adds to a band (the worst kernel group), and the rows a band always adds.

    ``channels=3``: conv2d's input rows, padded copy and filter output are per channel (sum).
    """
    shapes = _conv_shapes(setting, size, kernels)
    per_row = fixed_rows = 0
    for group in kernel_groups(kernels):
        (top, bottom, left, right), (conv_h, conv_w) = shapes[group[0]]
        padded_w = size[1] + left + right
        kernel_h = _kernel_shape(kernels[group[0]])[0]
        reach = (kernel_h - 1) * setting.dilation[0] + 1
        n_maps = len(group) + (1 if len(group) == 2 else 0)
        # conv2d on the band: uint8 rows, float64 padded copy and filter output (stride rows per output row);
        # every map of the group as a band and kept by the poolers; avg pooling's float64 copies.
        row = (
            channels * setting.stride[0] * padded_w * (1 + 2 * _FLOAT64)
            + n_maps * conv_w * 2 * _FLOAT32
            + 3 * _FLOAT64 * conv_w
        )
        if keep_maps:
            row += _FLOAT32 * conv_w
        window = max((pool.size[0] for pool in pools if pool.mode != "none" and pool.size is not None), default=0)
        fixed = channels * reach * padded_w * (1 + 2 * _FLOAT64) + n_maps * window * conv_w * _FLOAT32
        per_row, fixed_rows = max(per_row, row), max(fixed_rows, fixed)
    return per_row, fixed_rows


def band_rows(
    image_size: tuple[int, int],
    setting: ConvSetting,
    kernels: Kernels,
    pools: Sequence[PoolSetting],
    *,
    memory_budget_mb: int,
    keep_maps: bool = False,
    channels: int = 1,
) -> int | None:
    """Conv output rows per band for one image of ``image_size`` under ``setting``; None when it fits whole.

    ``channels=3``: an RGB image (:func:`image_bytes`).  Banded, a colour image is alone in its
    chunk and decoded in place (``convsweep.tasks.datasets.image_folder``): no decoding copy is counted.

    Raises
    ------
    ValueError
        When even one row band does not fit the budget.
    """
    budget = memory_budget_mb * MB
    base = TASK_OVERHEAD_BYTES + decode_bytes(image_size, channels=channels)
    cost = image_bytes(image_size, [setting], kernels, pools, keep_maps=keep_maps, channels=channels)
    if base + cost <= budget:
        return None
    if channels > 1:
        base = TASK_OVERHEAD_BYTES
    height, width = image_size
    size = setting.resize or (height, width)
    resident = channels * (height * width + (size[0] * size[1] if setting.resize else 0))
    per_row, fixed = band_bytes_per_row(setting, size, kernels, pools, keep_maps=keep_maps, channels=channels)
    room = budget - base - resident - fixed
    if room < per_row:
        need = -(-(base + resident + fixed + per_row) // MB)
        raise ValueError(
            f"memory_budget={memory_budget_mb} MB is too small for {height}x{width} images"
            f"{f' resized to {size[0]}x{size[1]}' if setting.resize else ''} ({setting.label}): "
            f"one image in bands of one row needs at least {need} MB; give a larger memory_budget"
        )
    return int(room // per_row)


def plan_chunks(
    n: int,
    image_size: tuple[int, int],
    conv_settings: Sequence[ConvSetting],
    kernels: Kernels,
    pools: Sequence[PoolSetting],
    *,
    memory_budget_mb: int,
    chunk_size: int,
    keep_maps: bool = False,
    channels: int = 1,
) -> list[tuple[int, int]]:
    """The sweep's chunks: consecutive ``(start, stop)`` ranges of ``range(n)``, deterministic.

    Each holds ``min(chunk_size, images_per_chunk(...))`` images (the last one fewer).  Raises
    ValueError, before any work, when one image cannot be processed within the budget even in bands.
    """
    for setting in conv_settings:
        band = band_rows(
            image_size,
            setting,
            kernels,
            pools,
            memory_budget_mb=memory_budget_mb,
            keep_maps=keep_maps,
            channels=channels,
        )
        if band is not None and any(pool.ceil_mode for pool in pools):
            # convsweep.conv_core.tiled.RowPooler has no ceil mode yet: refuse rather than round differently.
            resized = f" resized to {setting.resize[0]}x{setting.resize[1]}" if setting.resize else ""
            raise ValueError(
                f"pool_ceil_mode=True with {image_size[0]}x{image_size[1]} images{resized}, which memory_budget="
                f"{memory_budget_mb} MB computes in bands of rows, is not supported: give a larger memory_budget"
            )
    per_chunk = images_per_chunk(
        image_size,
        conv_settings,
        kernels,
        pools,
        memory_budget_mb=memory_budget_mb,
        keep_maps=keep_maps,
        channels=channels,
    )
    return list(iter_chunks(n, min(chunk_size, per_chunk)))
