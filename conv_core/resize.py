"""Batched resizing with OpenCV's arithmetic.

``resize`` is ``cv2.resize`` applied image by image (so the notebook's
``cv2.resize(img, (27, 27))`` is ``resize(img, 27)``), with sizes in (height, width) like the
rest of the package; the swap to OpenCV's (width, height) happens here and nowhere else.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from convsweep.conv_core._checks import Pair, channel_batch, choice, image_batch, positive_pair

INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST,
    "nearest_exact": cv2.INTER_NEAREST_EXACT,
    "linear": cv2.INTER_LINEAR,
    "linear_exact": cv2.INTER_LINEAR_EXACT,
    "cubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos4": cv2.INTER_LANCZOS4,
}
# The dtypes cv2.resize accepts with every interpolation above.
RESIZE_DTYPES = tuple(np.dtype(t) for t in (np.uint8, np.uint16, np.int16, np.float32, np.float64))


def resize(
    images: npt.ArrayLike, size: Pair, interpolation: str = "linear", *, channels_last: bool = False
) -> npt.NDArray[Any]:
    """Resize one image or a batch to ``size`` with ``cv2.resize``.

    Parameters
    ----------
    images : array_like, shape (H, W) or (N, H, W); with ``channels_last`` (H, W, C) or (N, H, W, C)
        dtype uint8, uint16, int16, float32 or float64; kept in the output (uint8 stays uint8).
        Channels are resized each on its own (``cv2.resize`` on an interleaved image).
    size : int or (height, width)
        Output size; an int gives a square.
    interpolation : {"linear", "nearest", "nearest_exact", "linear_exact", "cubic", "area", "lanczos4"}

    Returns
    -------
    ndarray, shape (height, width) or (N, height, width) (then C last), same dtype as ``images``
    """
    if not isinstance(channels_last, (bool, np.bool_)):
        raise TypeError(f"channels_last must be a bool, got channels_last={channels_last!r}")
    batch, single = channel_batch(images, "images") if channels_last else image_batch(images, "images")
    if batch.dtype not in RESIZE_DTYPES:
        raise TypeError(
            f"images dtype must be one of {', '.join(str(d) for d in RESIZE_DTYPES)} for resize, "
            f"got dtype {batch.dtype}"
        )
    height, width = positive_pair(size, "size")
    flag = INTERPOLATIONS[choice(interpolation, "interpolation", tuple(INTERPOLATIONS))]
    result = np.empty((batch.shape[0], height, width, *batch.shape[3:]), batch.dtype)
    for index, image in enumerate(batch):
        resized = cv2.resize(image, (width, height), interpolation=flag)  # OpenCV: (w, h)
        result[index] = resized.reshape(result.shape[1:])  # one channel comes back without its axis
    return result[0] if single else result
