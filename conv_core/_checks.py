"""Argument checks shared by the whole core.

Every public function validates through these helpers, so a bad argument always gives the same
kind of message: a ``ValueError`` (``TypeError`` for a wrong type) that names the argument and
the value, never a numpy broadcasting error or an ``IndexError`` from deep inside.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

# An int, or a (y, x) pair of ints (sizes, strides, dilations).
Pair: TypeAlias = int | Sequence[int]
# "valid" / "same" / "full", an int, (ph, pw) or (top, bottom, left, right).
Padding: TypeAlias = str | int | Sequence[int]


def positive_int(value: object, name: str) -> int:
    """``value`` as a Python int >= 1 (bools and floats are refused, not rounded)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if value <= 0:
        raise ValueError(f"{name} must be >= 1, got {name}={value}")
    return int(value)


def non_negative_int(value: object, name: str) -> int:
    """``value`` as a Python int >= 0."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {name}={value}")
    return int(value)


def positive_pair(value: object, name: str) -> tuple[int, int]:
    """An int or a (y, x) pair of ints >= 1, as a (y, x) tuple."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a (y, x) pair, got {name}={value!r}")
        return positive_int(value[0], f"{name}[0]"), positive_int(value[1], f"{name}[1]")
    number = positive_int(value, name)
    return number, number


def image_batch(images: npt.ArrayLike, name: str, *, finite: bool = False) -> tuple[npt.NDArray[Any], bool]:
    """``images`` as an (N, H, W) real-valued array, and whether the input was a single (H, W) image.

    ``finite=True`` refuses NaN and infinities in float input (conv2d needs it: OpenCV skips
    zero kernel taps, so a NaN would leak differently from the literal formula).
    """
    array = np.asarray(images)
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating) or array.dtype == np.bool_
    ):
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.ndim not in (2, 3):
        raise ValueError(
            f"{name} must be one image (H, W) or a batch (N, H, W), got {array.ndim}-D {name} of shape {array.shape}"
        )
    single = array.ndim == 2
    batch = array[np.newaxis] if single else array
    if batch.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch: shape {array.shape}")
    if batch.shape[1] == 0 or batch.shape[2] == 0:
        raise ValueError(f"{name} has an empty side: shape {array.shape}")
    if finite and np.issubdtype(batch.dtype, np.floating):
        # Two SIMD reductions instead of an isfinite mask: NaN propagates into min/max.
        low, high = batch.min(), batch.max()
        if not (np.isfinite(low) and np.isfinite(high)):
            raise ValueError(f"{name} must be finite, found min={low} max={high}")
    return batch, single


def channel_batch(images: npt.ArrayLike, name: str, *, finite: bool = False) -> tuple[npt.NDArray[Any], bool]:
    """``images`` as an (N, H, W, C) real-valued array (channels last), and whether it was one (H, W, C) image."""
    array = np.asarray(images)
    if array.ndim not in (3, 4):
        raise ValueError(
            f"{name} with channels must be one image (H, W, C) or a batch (N, H, W, C), got "
            f"{array.ndim}-D {name} of shape {array.shape}"
        )
    single = array.ndim == 3
    if array.shape[-1] == 0:
        raise ValueError(f"{name} has no channels: shape {array.shape}")
    batch = array[np.newaxis] if single else array
    # The grey checks (dtype, empty batch or side, finiteness) on a view: channel 0's images, and
    # the finiteness of every channel separately below (no copy of the batch).
    image_batch(batch[..., 0], name)
    if finite and np.issubdtype(batch.dtype, np.floating):
        low, high = batch.min(), batch.max()
        if not (np.isfinite(low) and np.isfinite(high)):
            raise ValueError(f"{name} must be finite, found min={low} max={high}")
    return batch, single


def choice(value: object, name: str, allowed: tuple[str, ...]) -> str:
    """One of the ``allowed`` strings."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {name}={value!r}")
    return value
