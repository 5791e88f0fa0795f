"""Translating images and measuring how much a map changes: the core of shift sensitivity.

A shifted image is formed by **translation with zero fill**: the content moves ``down``
rows and ``right`` columns, the rows and columns it vacates are 0, and what moves past
the far edge is cropped.  Not ``np.roll``: a roll wraps the last columns round to the
first, putting content where there was none, so a digit on a black background would
gain a bright strip at its left edge and the change measured would be the wrap's, not
the shift's.  Zero is the background of the datasets the sweep reads (MNIST, Fashion-MNIST)
and the value of the conv's default padding, so with zero fill a shift by the conv's
jump is, away from the far edge, the same map moved by one cell (:func:`relative_change`
with an ``offset``).

>>> import numpy as np
>>> shift_images(np.arange(6, dtype=np.uint8).reshape(1, 2, 3), right=1)[0].tolist()
[[0, 0, 1], [0, 3, 4]]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from convsweep.conv_core._checks import image_batch


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name}={value!r} must be an int >= 0")
    return int(value)


def shift_images(images: npt.ArrayLike, *, down: int = 0, right: int = 0) -> np.ndarray:
    """Translate a batch of images by (``down``, ``right``) pixels, filling with zeros.

    Parameters
    ----------
    images : (N, H, W) or (H, W)
    down, right : int >= 0
        Rows and columns to move the content by; vacated pixels are 0, content moved past
        the bottom or right edge is cropped.

    Returns
    -------
    shifted : same shape and dtype as ``images``, a new array.
    """
    down = _count("down", down)
    right = _count("right", right)
    array = np.asarray(images)
    batch, _ = image_batch(array, "images")
    height, width = batch.shape[1:]
    shifted = np.zeros_like(batch)
    if down < height and right < width:
        shifted[:, down:, right:] = batch[:, : height - down, : width - right]
    return shifted.reshape(array.shape)


def relative_change(
    reference: npt.ArrayLike, changed: npt.ArrayLike, *, offset: tuple[int, int] = (0, 0)
) -> tuple[np.ndarray, np.ndarray]:
    """Per map, ``‖reference − changed‖ / ‖reference‖`` (Frobenius norms, float64).

    With ``offset = (dy, dx)`` the change is measured where the maps overlap once
    ``changed`` is moved back by that many cells: ``reference[:, :H-dy, :W-dx]`` against
    ``changed[:, dy:, dx:]``, the comparison an equivariant map (shifted input, shifted
    output) passes exactly.

    Parameters
    ----------
    reference, changed : (N, H, W), the same shape
    offset : (dy, dx) ints >= 0, smaller than (H, W)

    Returns
    -------
    ratios : (N,) float64; 0 where ``reference`` (the compared region) is all zero.
    measured : (N,) bool; False where ``reference`` is all zero (its ratio is undefined).
    """
    first = np.asarray(reference)
    second = np.asarray(changed)
    if first.ndim != 3 or first.shape != second.shape:
        raise ValueError(f"reference and changed must be (N, H, W) of one shape, got {first.shape} and {second.shape}")
    dy, dx = (_count("offset", value) for value in offset)
    height, width = first.shape[1:]
    if dy >= height or dx >= width:
        raise ValueError(f"offset={offset!r} leaves no overlap of maps of {height}x{width}")
    kept = first[:, : height - dy, : width - dx].astype(np.float64)
    moved = second[:, dy:, dx:].astype(np.float64)
    norms = np.sqrt(np.einsum("nij,nij->n", kept, kept))
    difference = kept - moved
    changes = np.sqrt(np.einsum("nij,nij->n", difference, difference))
    measured = norms > 0
    ratios = np.divide(changes, norms, out=np.zeros_like(changes), where=measured)
    return ratios, measured
