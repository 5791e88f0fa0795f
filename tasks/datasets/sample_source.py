"""``sample``: the raster images of matplotlib's ``sample_data``, for a demo without network.

``grace_hopper.jpg`` comes first, untouched; every other image is centre-cropped to its
aspect ratio and resized to its size, so the sample is one (n, 600, 512) array.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convsweep.tasks.datasets.errors import DatasetError
from convsweep.tasks.datasets.image_bytes import imread_or_none
from convsweep.tasks.datasets.image_folder import scan_images
from convsweep.tasks.datasets.memo import ARRAYS, LOAD_LOCK, files_key
from convsweep.tasks.datasets.spec import DatasetSpec
from convsweep.tasks.datasets.view import ArrayStore, SplitData, frozen

SAMPLE_REFERENCE = "grace_hopper.jpg"


def open_sample(spec: DatasetSpec, split: str) -> SplitData:
    """The sample photographs as one split, ``all`` (whatever ``split`` asked), in memory."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "sample_data"
    paths = [path for _, path in scan_images(folder)] if folder.is_dir() else []
    if not paths:
        raise DatasetError(
            f"sample: no image in matplotlib's sample_data folder {folder}; "
            f"use images:PATH with a folder of your own images"
        )
    # The photograph first: its size is the one every other image is brought to.
    paths.sort(key=lambda path: (path.name != SAMPLE_REFERENCE, path.name))
    with LOAD_LOCK:
        key = files_key(paths)
        hit = ARRAYS.get(key)
        if hit is None:
            hit = _read_sample(paths)
            ARRAYS.put(key, hit)
    images, notes = hit
    source = f"matplotlib sample_data {folder}: {'; '.join(notes)} (decoded to grayscale; no labels)"
    return SplitData("all", source, ArrayStore([images], key), len(images), None, None)


def _read_sample(paths: list[Path]) -> tuple[np.ndarray, list[str]]:
    import cv2

    first = imread_or_none(paths[0], cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION)
    if first is None:
        raise DatasetError(f"sample: cannot read image {paths[0]}")
    height, width = first.shape
    images = [first]
    notes = [f"{paths[0].name} {height}x{width}"]
    for path in paths[1:]:
        image = imread_or_none(path, cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION)
        if image is None:
            raise DatasetError(f"sample: cannot read image {path}")
        original = image.shape
        if original != (height, width):
            image = _center_crop_to_aspect(image, height, width)
            cropped = image.shape
            image = _resize(image, height, width)
            notes.append(
                f"{path.name} {original[0]}x{original[1]} center-cropped to "
                f"{cropped[0]}x{cropped[1]} and resized to {height}x{width}"
            )
        else:
            notes.append(f"{path.name} {height}x{width}")
        images.append(image)
    return frozen(np.stack(images)), notes


def _center_crop_to_aspect(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Largest centred crop of ``image`` (h, w[, c]) with the aspect ratio ``height / width``."""
    h, w = image.shape[:2]
    if h * width > w * height:  # too tall
        new_h = max(1, round(w * height / width))
        top = (h - new_h) // 2
        return image[top : top + new_h]
    new_w = max(1, round(h * width / height))
    left = (w - new_w) // 2
    return image[:, left : left + new_w]


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """cv2.resize with (height, width); INTER_AREA to shrink, INTER_LINEAR to enlarge."""
    import cv2

    shrinking = height <= image.shape[0] and width <= image.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation)  # OpenCV: (width, height)
