"""Test fixtures that write MNIST-style data: IDX files and a temporary Keras cache.

Written independently of ``convsweep.tasks.datasets.idx_format`` (with ``struct``, straight from the format's
definition), so tests of the reader do not lean on the code under test.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
# keras.datasets.fashion_mnist.load_data() reads these names from <KERAS_HOME>/datasets/fashion-mnist.
KERAS_SUBDIRS = {"fashion_mnist": "datasets/fashion-mnist", "mnist": "datasets"}
IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """The raw IDX encoding: big-endian magic, one big-endian uint32 per dimension, the bytes."""
    array = np.asarray(array)
    assert array.dtype == np.uint8, array.dtype
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes(order="C")


def _write(path: Path | str, payload: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path


def write_idx_images(path: Path | str, images: np.ndarray) -> Path:
    """Write uint8 images (n, rows, cols) as IDX; gzip-compressed when ``path`` ends in ``.gz``."""
    images = np.asarray(images)
    assert images.ndim == 3, images.shape
    return _write(path, idx_bytes(images, IMAGES_MAGIC))


def write_idx_labels(path: Path | str, labels: np.ndarray) -> Path:
    """Write uint8 labels (n,) as IDX; gzip-compressed when ``path`` ends in ``.gz``."""
    labels = np.asarray(labels, dtype=np.uint8)
    assert labels.ndim == 1, labels.shape
    return _write(path, idx_bytes(labels, LABELS_MAGIC))


def make_images(count: int, *, height: int = 28, width: int = 28, seed: int = 0) -> np.ndarray:
    """Seeded noise with a vertical step edge and one impulse per image, uint8 (count, height, width)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, size=(count, height, width), dtype=np.uint8)
    for index in range(count):
        images[index, :, 3 + index % max(1, width - 6) :] += 150  # a step edge
        images[index, (index * 5) % height, (index * 3) % width] = 255  # an impulse
    return images


def make_split(count: int, *, seed: int = 0, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(images (count, 28, 28) uint8, labels (count,) uint8 cycling through ``classes``)."""
    labels = (np.arange(count) * 7 + seed) % classes
    return make_images(count, seed=seed), labels.astype(np.uint8)


def write_idx_folder(folder: Path | str, *, train=None, test=None, gz: bool = True) -> Path:
    """An ``idx:`` folder: ``(images, labels)`` for each split given."""
    folder = Path(folder)
    suffix = ".gz" if gz else ""
    for split, data in (("train", train), ("test", test)):
        if data is not None:
            images_name, labels_name = IDX_NAMES[split]
            write_idx_images(folder / f"{images_name}{suffix}", data[0])
            write_idx_labels(folder / f"{labels_name}{suffix}", data[1])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def make_keras_home(tmp_path: Path | str, name: str = "fashion_mnist", *, train=None, test=None) -> Path:
    """A Keras home (use as ``KERAS_HOME``) whose cache already holds dataset ``name``.

    fashion_mnist: the four gzipped IDX files under ``datasets/fashion-mnist``, as
    ``keras.datasets.fashion_mnist.load_data()`` expects them (28x28 images).  mnist:
    ``datasets/mnist.npz``; Keras checks that file's hash, so a test must also patch
    ``keras.src.datasets.mnist.get_file`` to return the path.  ``train``/``test`` default
    to 12 and 8 seeded images.  Returns the home folder.
    """
    train = make_split(12, seed=1) if train is None else train
    test = make_split(8, seed=2) if test is None else test
    home = Path(tmp_path) / "keras_home"
    folder = home / KERAS_SUBDIRS[name]
    folder.mkdir(parents=True, exist_ok=True)
    if name == "fashion_mnist":
        write_idx_folder(folder, train=train, test=test, gz=True)
    elif name == "mnist":
        np.savez(
            folder / "mnist.npz",
            x_train=np.asarray(train[0]),
            y_train=np.asarray(train[1]),
            x_test=np.asarray(test[0]),
            y_test=np.asarray(test[1]),
        )
    else:
        raise ValueError(f"name={name!r}: expected fashion_mnist or mnist")
    return home
