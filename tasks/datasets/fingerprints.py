"""The dataset fingerprint: a SHA-256 of the images' shape, the labels and the pixels.

Every later cache key is built on it, so its bytes never change: a version tag,
``(n, height, width)`` as little-endian int64, a flag byte and the labels as little-endian
int64 when there are labels, then the pixels in C order.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from hashlib import _Hash

_FINGERPRINT_TAG = b"convsweep-dataset-fingerprint-v1\n"


def fingerprint(images: npt.NDArray[np.uint8], labels: npt.ArrayLike | None = None) -> str:
    """SHA-256 (hex) of the images' shape, the labels and the pixels.

    Stable across runs and machines: the hashed bytes are a version tag, ``(n, height,
    width)`` as little-endian int64, a flag byte and the labels as little-endian int64 when
    there are labels, then the pixels in C order.  :attr:`DatasetView.fingerprint` streams
    the same bytes chunk by chunk, so both agree.

    Parameters
    ----------
    images : ndarray, shape (n, height, width), uint8, or (n, height, width, 3) for colour
        (the shape hashed then has four numbers, so colour never collides with grey)
    labels : ndarray, shape (n,), integer, or None
    """
    if not isinstance(images, np.ndarray):
        raise TypeError(f"images: expected a numpy array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise TypeError(f"images: expected dtype uint8, got {images.dtype}")
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[3] != 3):
        raise ValueError(
            f"images: expected shape (n, height, width), got {images.shape} (or (n, height, width, 3) for colour)"
        )
    hasher = start_fingerprint(images.shape, _check_labels(labels, images.shape[0]))
    hasher.update(np.ascontiguousarray(images).data)
    return hasher.hexdigest()


def start_fingerprint(shape: tuple[int, ...], labels: npt.NDArray[np.integer[Any]] | None) -> _Hash:
    """A sha256 hasher fed with everything but the pixels; feed it the pixels in C order."""
    hasher = hashlib.sha256(_FINGERPRINT_TAG)
    hasher.update(np.asarray(shape, dtype="<i8").tobytes())
    if labels is None:
        hasher.update(b"\x00")
    else:
        hasher.update(b"\x01")
        hasher.update(labels.astype("<i8").tobytes())
    return hasher


def _check_labels(labels: npt.ArrayLike | None, n: int) -> npt.NDArray[np.integer[Any]] | None:
    if labels is None:
        return None
    array: npt.NDArray[Any] = np.asarray(labels)
    if array.dtype.kind not in "iu":
        raise TypeError(f"labels: expected integers, got dtype {array.dtype}")
    if array.shape != (n,):
        raise ValueError(f"labels: expected shape ({n},) to match the images, got {array.shape}")
    return array
