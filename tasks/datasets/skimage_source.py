"""``skimage:NAME,NAME``: colour photographs bundled in scikit-image's wheel, for use offline.

Only the files inside the installed package (``skimage/data/``) are read, by path, never
through ``skimage.data``'s pooch fetcher, so nothing is ever downloaded.  The first named
photograph keeps its size; every other one is centre-cropped to that aspect ratio and resized
to it (as ``sample`` does), so the selection is one (n, h, w, 3) RGB array.  In a grey sweep
the photographs are converted by ``cv2.cvtColor(RGB2GRAY)`` (0.299 R + 0.587 G + 0.114 B,
rounded).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from convsweep.tasks.datasets.errors import DatasetError
from convsweep.tasks.datasets.image_bytes import imread_or_none
from convsweep.tasks.datasets.memo import ARRAYS, LOAD_LOCK, files_key
from convsweep.tasks.datasets.spec import SKIMAGE_PHOTOS, DatasetSpec
from convsweep.tasks.datasets.view import ArrayStore, SplitData, frozen

# The file each photograph is in, inside skimage/data/ (skimage.data's own registry names).
SKIMAGE_FILES = {
    "astronaut": "astronaut.png",
    "coffee": "coffee.png",
    "chelsea": "chelsea.png",
    "rocket": "rocket.jpg",
    "motorcycle_left": "motorcycle_left.png",
    "immunohistochemistry": "ihc.png",
    "retina": "retina.jpg",
    "hubble_deep_field": "hubble_deep_field.jpg",
}
assert tuple(SKIMAGE_FILES) == SKIMAGE_PHOTOS


def skimage_data_folder() -> Path:
    """``skimage/data`` of the installed scikit-image (the photographs in its wheel)."""
    try:
        import skimage
    except ImportError as error:
        raise DatasetError(f"skimage: scikit-image is not installed ({error}); pip install scikit-image") from None
    return Path(skimage.__file__).parent / "data"


def open_skimage(spec: DatasetSpec, split: str, *, colour: bool = False) -> SplitData:
    """The named photographs as one split, ``all`` (whatever ``split`` asked), in memory."""
    names = spec.names or SKIMAGE_PHOTOS
    folder = skimage_data_folder()
    paths = [folder / SKIMAGE_FILES[name] for name in names]
    missing = [path for path in paths if not path.is_file()]
    if missing:
        raise DatasetError(
            f"{spec}: {missing[0]} is not in the installed scikit-image wheel; "
            f"choose among the files in {folder}: {', '.join(SKIMAGE_PHOTOS)}"
        )
    with LOAD_LOCK:
        key = files_key(paths)
        memo_key = ("skimage", key, colour)
        hit = ARRAYS.get(memo_key)
        if hit is None:
            hit = _read_photographs(names, paths, colour=colour)
            ARRAYS.put(memo_key, hit)
    images, notes = hit
    decoded = "RGB" if colour else "converted to grayscale by cv2.cvtColor(RGB2GRAY)"
    source = f"scikit-image's bundled photographs in {folder}: {'; '.join(notes)} ({decoded}; no labels)"
    return SplitData("all", source, ArrayStore([images], memo_key), len(images), None, None)


def _read_rgb(path: Path) -> npt.NDArray[np.uint8]:
    import cv2

    image = imread_or_none(path, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise DatasetError(f"skimage: cannot read image {path}")
    return np.ascontiguousarray(image[:, :, ::-1])  # BGR -> RGB


def _read_photographs(
    names: tuple[str, ...], paths: list[Path], *, colour: bool
) -> tuple[npt.NDArray[np.uint8], list[str]]:
    import cv2

    from convsweep.tasks.datasets.sample_source import _center_crop_to_aspect, _resize

    first = _read_rgb(paths[0])
    height, width = first.shape[:2]
    images = [first]
    notes = [f"{names[0]} ({paths[0].name}) {height}x{width}"]
    for name, path in zip(names[1:], paths[1:], strict=True):
        image = _read_rgb(path)
        original = image.shape[:2]
        if original != (height, width):
            image = _center_crop_to_aspect(image, height, width)
            cropped = image.shape[:2]
            image = _resize(image, height, width)
            notes.append(
                f"{name} ({path.name}) {original[0]}x{original[1]} center-cropped to "
                f"{cropped[0]}x{cropped[1]} and resized to {height}x{width}"
            )
        else:
            notes.append(f"{name} ({path.name}) {height}x{width}")
        images.append(image)
    stacked = np.stack(images)
    if not colour:
        stacked = np.stack([cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) for image in stacked])
    return frozen(stacked), notes
