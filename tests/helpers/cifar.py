"""A small CIFAR cache in Keras' own on-disk format, written from the format's definition.

``keras.datasets.cifar10.load_data()`` calls ``get_file(fname="cifar-10-batches-py-target",
extract=True, file_hash=<the real archive's SHA-256>)``: the download is kept as
``<KERAS_HOME>/datasets/cifar-10-batches-py-target_archive`` (a tar.gz holding
``cifar-10-batches-py/data_batch_1..5`` and ``test_batch``) and extracted on every call.  Each
batch is a Python-2-style pickle: a dict with bytes keys, ``b"data"`` uint8 (n, 3072) holding
the R, G and B planes of each 32x32 image row by row, and ``b"labels"`` (``b"fine_labels"``
for CIFAR-100, whose ``cifar-100-python/`` holds one ``train`` and one ``test`` file).

Keras' five training batches fill a (50000, 3, 32, 32) array, 10,000 images each, so a
CIFAR-10 cache always has 50,000 training images (here: a repeated smooth pattern, which
compresses to a few MB); the test batch and CIFAR-100's files may be any size.  The archive
cannot carry the real SHA-256, so tests load it with :func:`without_archive_hash`.
"""

from __future__ import annotations

import importlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

ARCHIVES = {
    "cifar10": ("cifar-10-batches-py-target_archive", "cifar-10-batches-py"),
    "cifar100": ("cifar-100-python-target_archive", "cifar-100-python"),
}


def make_colour_split(n: int, seed: int, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (n, 32, 32, 3) RGB, labels (n,)) seeded; labels (i * 3) % classes."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    return images, (np.arange(n) * 3 % classes).astype(np.int64)


def make_smooth_split(n: int, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (n, 32, 32, 3), labels (n,)): per-image colours plus a ramp, distinct
    channels; they compress well, so a 50,000-image archive stays a few MB."""
    index = np.arange(n)[:, None, None, None]
    ramp = np.arange(32)[None, :, None, None] * np.array([1, 3, 5])[None, None, None, :]
    images = ((index * np.array([37, 11, 73]) + ramp) % 256).astype(np.uint8)
    return np.ascontiguousarray(np.broadcast_to(images, (n, 32, 32, 3))), (np.arange(n) * 3 % classes).astype(np.int64)


def _batch(images: np.ndarray, labels: np.ndarray, label_key: bytes) -> bytes:
    planes = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)  # R, G, B planes, row-major
    return pickle.dumps({b"data": np.ascontiguousarray(planes), label_key: [int(v) for v in labels]}, protocol=4)


def write_cifar_cache(home: Path, name: str, *, train: tuple, test: tuple) -> Path:
    """Write ``name``'s archive under ``home/datasets``; returns the archive path.

    For cifar10, ``train`` images are repeated to Keras' 5 x 10,000 (labels likewise).
    """
    archive_name, folder = ARCHIVES[name]
    members: dict[str, bytes] = {}
    if name == "cifar10":
        images, labels = train
        repeats = -(-50_000 // len(images))
        images = np.tile(images, (repeats, 1, 1, 1))[:50_000]
        labels = np.tile(labels, repeats)[:50_000]
        for i in range(5):
            part = slice(i * 10_000, (i + 1) * 10_000)
            members[f"{folder}/data_batch_{i + 1}"] = _batch(images[part], labels[part], b"labels")
        members[f"{folder}/test_batch"] = _batch(*test, b"labels")
    else:
        members[f"{folder}/train"] = _batch(*train, b"fine_labels")
        members[f"{folder}/test"] = _batch(*test, b"fine_labels")
    path = Path(home) / "datasets" / archive_name
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz", compresslevel=6) as archive:
        for member, payload in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return path


def full_cifar10_train(train: tuple) -> tuple[np.ndarray, np.ndarray]:
    """What Keras returns as CIFAR-10's training split for :func:`write_cifar_cache`'s ``train``."""
    images, labels = train
    repeats = -(-50_000 // len(images))
    return np.tile(images, (repeats, 1, 1, 1))[:50_000], np.tile(labels, repeats)[:50_000]


def without_archive_hash(monkeypatch, name: str) -> None:
    """Keras' real load_data(), with get_file's check against the real archive's SHA-256 removed."""
    from convsweep.tasks.datasets import keras_source

    keras_source._import_keras_dataset(name)  # sets KERAS_BACKEND if unset, as the loader does
    module = importlib.import_module(f"keras.src.datasets.{name}")
    real = module.get_file

    def get_file(*args, **kwargs):
        kwargs.pop("file_hash", None)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "get_file", get_file)


SITECUSTOMIZE = '''"""Test shim (tests/helpers/cifar.py): Keras' get_file without its check of the archive's SHA-256.

A CIFAR archive written by the tests cannot carry the real archive's hash; in a process that
starts with this folder first on PYTHONPATH, keras.src.utils.file_utils.validate_file accepts
every file, so load_data() reads the archive instead of downloading it again.
"""

import importlib.abc
import importlib.util
import sys

_TARGET = "keras.src.utils.file_utils"


class _AcceptEveryArchive(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != _TARGET:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            module.validate_file = lambda *args, **kwargs: True

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _AcceptEveryArchive())
'''


def write_hashless_sitecustomize(folder: Path) -> Path:
    """A folder holding :data:`SITECUSTOMIZE`: put it first on a child process's PYTHONPATH so that
    ``keras.datasets.cifar10.load_data()`` there reads the test archive (as :func:`without_archive_hash` in-process)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return folder
