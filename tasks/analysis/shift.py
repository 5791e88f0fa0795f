"""Shift sensitivity: how much a configuration's pooled maps change when the image moves (no Prefect)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from convsweep import conv_core
from convsweep.conv_core.shift import relative_change, shift_images
from convsweep.tasks.chunk.maps import Kernels, compute_maps, open_selection
from convsweep.tasks.model import ConvSetting, PoolSetting
from convsweep.tasks.model.records import DatasetRecord, Record

SHIFT_SEED = 0


# Pixels per batch of the subset: its maps and pooled maps stay small (as compute's sub-batches).
_BATCH_PIXELS = 1 << 18


class ShiftStats(Record):
    """One (map, pool setting): mean relative change of the pooled map under each shift."""

    right: float | None
    down: float | None
    jump: float | None
    """None where no image could be measured (every pooled map all zero, or a map of one cell for the jump)."""
    jump_shift: tuple[int, int]
    """(down, right) pixels of the jump shift."""
    measured: int
    """Images whose pooled map is not all zero (the mean is over them)."""


class ShiftRecord(Record):
    """What ``measure-shift`` returns for one conv setting."""

    conv: str
    images: int
    """Images in the subset."""
    maps: dict[str, dict[str, ShiftStats]]
    """map name -> pool label -> statistics."""
    seconds: float = 0.0


def shift_subset(n: int, count: int, *, seed: int = SHIFT_SEED) -> np.ndarray:
    """Positions (sorted int64) of the ``min(count, n)`` images measured: all of them, or a seeded sample."""
    if count >= n:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n, size=count, replace=False)).astype(np.int64)


def pool_jump(conv: ConvSetting, pool: PoolSetting) -> tuple[int, int]:
    """(jump_y, jump_x): input pixels between neighbouring cells of the pooled map (conv stride × pool stride)."""
    pool_stride = (1, 1) if pool.stride is None else pool.stride
    return (conv.stride[0] * pool_stride[0], conv.stride[1] * pool_stride[1])


def _pooled(
    images: np.ndarray, conv: ConvSetting, kernels: Kernels, pools: list[PoolSetting]
) -> dict[tuple[str, str], np.ndarray]:
    """{(map name, pool label): (N, h, w)} of conv-input images (already resized)."""
    _, maps = compute_maps(images, conv=conv, kernels=kernels)
    return {(name, pool.label): pool.apply(feature_map) for name, feature_map in maps.items() for pool in pools}


def shift_sensitivity(
    images: np.ndarray, *, conv: ConvSetting, kernels: Kernels, pools: list[PoolSetting]
) -> dict[str, dict[str, ShiftStats]]:
    """Shift sensitivity of every (map, pool setting) of ``conv`` on ``images`` (module docstring).

    Parameters
    ----------
    images : (N, H, W) uint8, as read (``conv.resize`` is applied first; the shifts are of the resized images).
    conv, kernels, pools : the configuration(s), as ``process-chunk`` takes them.

    Returns
    -------
    map name -> pool label -> :class:`ShiftStats`.
    """
    resized = images if conv.resize is None else conv_core.resize(images, conv.resize)
    native = dataclasses.replace(conv, resize=None)
    jumps: dict[tuple[int, int], list[PoolSetting]] = {}
    for pool in pools:
        jumps.setdefault(pool_jump(conv, pool), []).append(pool)
    sums: dict[tuple[str, str, str], float] = {}
    counts: dict[tuple[str, str, str], int] = {}

    def add(which: str, reference: dict[Any, np.ndarray], changed: dict[Any, np.ndarray], offset: tuple[int, int]):
        for key, changed_map in changed.items():
            if min(changed_map.shape[1:]) <= max(offset):
                continue  # a map of one cell along an axis has no neighbouring cell to compare with
            ratios, measured = relative_change(reference[key], changed_map, offset=offset)
            slot = (*key, which)
            sums[slot] = sums.get(slot, 0.0) + float(ratios[measured].sum())
            counts[slot] = counts.get(slot, 0) + int(measured.sum())

    height, width = resized.shape[1:]
    step = max(1, _BATCH_PIXELS // (height * width))
    for first in range(0, len(resized), step):
        batch = resized[first : first + step]
        reference = _pooled(batch, native, kernels, pools)
        add("right", reference, _pooled(shift_images(batch, right=1), native, kernels, pools), (0, 0))
        add("down", reference, _pooled(shift_images(batch, down=1), native, kernels, pools), (0, 0))
        for (jump_y, jump_x), jump_pools in jumps.items():
            moved = _pooled(shift_images(batch, down=jump_y, right=jump_x), native, kernels, jump_pools)
            add("jump", reference, moved, (1, 1))
    result: dict[str, dict[str, ShiftStats]] = {}
    for name, label in {(name, label) for name, label, _ in sums}:
        pool = next(pool for pool in pools if pool.label == label)

        def mean(which: str, name: str = name, label: str = label) -> float | None:
            count = counts.get((name, label, which), 0)
            return round(sums[(name, label, which)] / count, 6) if count else None

        result.setdefault(name, {})[label] = ShiftStats(
            right=mean("right"),
            down=mean("down"),
            jump=mean("jump"),
            jump_shift=pool_jump(conv, pool),
            measured=counts[(name, label, "right")],
        )
    return {name: dict(sorted(by_pool.items())) for name, by_pool in sorted(result.items())}


def read_subset(dataset: DatasetRecord, count: int) -> np.ndarray:
    """The images of :func:`shift_subset` of the selection, (m, H, W) uint8."""
    view = open_selection(dataset)
    positions = shift_subset(view.n, count)
    if len(positions) == view.n:
        images: np.ndarray = view.read(0, view.n)
        return images
    return np.stack([view.read(int(index), int(index) + 1)[0] for index in positions])
