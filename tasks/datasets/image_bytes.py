"""Decoding an image file from its bytes, whatever its name.

``cv2.imread`` takes the path as text and crashes the process (SIGSEGV) on a name that is
not valid UTF-8 (Python hands it as lone surrogates, e.g. bytes ``ff fe``).  Reading the
bytes with NumPy (which passes the name to the OS as the bytes it came from) and decoding
them with ``cv2.imdecode`` reads every file the folder listing returned.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt


def imread_bytes(path: Path, flags: int) -> npt.NDArray[Any] | None:
    """``cv2.imread(path, flags)`` without the path reaching OpenCV: None if it cannot be decoded.

    Raises
    ------
    OSError
        The file cannot be read (gone, a folder, no permission).
    """
    import cv2

    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:  # imdecode refuses an empty buffer with an exception, not None
        return None
    image: npt.NDArray[Any] | None = cv2.imdecode(data, flags)
    return image


def utf8_name(path: Path) -> bool:
    """Whether ``path`` can be handed to OpenCV as text (valid UTF-8, no lone surrogates)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def imread_or_none(path: Path, flags: int) -> npt.NDArray[Any] | None:
    """:func:`imread_bytes`, None also for a file that cannot be read (as ``cv2.imread`` does)."""
    try:
        return imread_bytes(path, flags)
    except OSError:
        return None
