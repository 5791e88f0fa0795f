"""``idx:PATH``: a folder of IDX files, read whole and memoised per process.

The folder holds ``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
``t10k-images-idx3-ubyte[.gz]`` and ``t10k-labels-idx1-ubyte[.gz]``; a split needs only its
own two files, and the raw file wins over the ``.gz`` when both are there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from convsweep.tasks.datasets.errors import DatasetError
from convsweep.tasks.datasets.idx_format import IDX_FILE_STEMS, IdxFormatError, read_idx_images, read_idx_labels
from convsweep.tasks.datasets.memo import ARRAYS, LOAD_LOCK, FilesKey, files_key
from convsweep.tasks.datasets.spec import DatasetSpec, existing_folder
from convsweep.tasks.datasets.view import SplitData, frozen, memory_split


def open_idx_folder(spec: DatasetSpec, split: str) -> SplitData:
    """The folder's split (train then test for ``all``), read whole and memoised."""
    folder = existing_folder(spec)
    splits = ("train", "test") if split == "all" else (split,)
    arrays, keys, described = [], [], []
    for name in splits:
        images_path, labels_path = (_find_idx_file(folder, stem) for stem in IDX_FILE_STEMS[name])
        if images_path is None or labels_path is None:
            available = [
                s for s, stems in IDX_FILE_STEMS.items() if all(_find_idx_file(folder, stem) for stem in stems)
            ]
            stems = " and ".join(f"{stem}[.gz]" for stem in IDX_FILE_STEMS[name])
            raise ValueError(
                f"split={split!r}: {spec} has no {name} split: expected {stems} in {folder}"
                + (f" (it has: {', '.join(available)})" if available else " (it has no complete split)")
            )
        pair, key = _load_idx_pair(images_path, labels_path)
        arrays.append(pair)
        keys.append(key)
        described.append(f"{images_path} + {labels_path.name}")
    data_key = tuple(keys)
    source = "IDX files " + " and ".join(described)
    return memory_split(split, source, arrays, None, data_key)


def _find_idx_file(folder: Path, stem: str) -> Path | None:
    # The raw file wins over the .gz when both are there (no decompression).
    for name in (stem, f"{stem}.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _load_idx_pair(
    images_path: Path, labels_path: Path
) -> tuple[tuple[npt.NDArray[Any], npt.NDArray[np.int64]], FilesKey | None]:
    """((images, labels), key of the two files), memoised per process."""
    with LOAD_LOCK:
        key = files_key([images_path, labels_path])
        if (hit := ARRAYS.get(key)) is not None:
            return hit, key
        try:
            images = read_idx_images(images_path)
            labels = read_idx_labels(labels_path)
        except IdxFormatError as error:
            raise DatasetError(f"invalid IDX file {error}") from None
        if len(labels) != len(images):
            raise DatasetError(
                f"IDX files do not match: {labels_path} has {len(labels)} labels but "
                f"{images_path} has {len(images)} images"
            )
        pair = (images, frozen(labels.astype(np.int64)))
        ARRAYS.put(key, pair)
        return pair, key
