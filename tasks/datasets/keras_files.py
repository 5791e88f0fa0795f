"""The Keras cache's files read directly, as a worker does: no Keras or JAX import, no download.

``keras.datasets.<name>.load_data()`` fills the cache (``$KERAS_HOME/datasets/...``) once,
where the flow runs (the ``load-dataset`` task, ``convsweep.tasks.datasets.keras_source``).  A worker
process then only needs the pixels: importing Keras and JAX for that costs each process
hundreds of MB and seconds, and a worker that found a file missing would download it into
its own cache with no lock between processes.  So the workers read the files here, in the
formats ``load_data()`` reads them, and a missing file fails with one line naming the host
and the path.

Formats (as in ``keras/src/datasets/<name>.py``):

* ``fashion_mnist``: four gzipped IDX files (``convsweep.tasks.datasets.idx_format``, which also checks
  their headers, length and gzip checksum);
* ``mnist``: ``mnist.npz`` with ``x_train``, ``y_train``, ``x_test``, ``y_test``;
* ``cifar10`` / ``cifar100``: the downloaded tar.gz kept as ``<name>-target_archive``,
  whose members are Python-2 pickles of dicts (``b"data"`` uint8 (n, 3072) R, G, B planes,
  ``b"labels"`` or ``b"fine_labels"``); read from the archive itself, not from the folder
  ``load_data()`` re-extracts on every call (another host may be extracting it right now).
  Unpickling allows only numpy's array reconstruction, as Keras' ``RestrictedUnpickler``.
"""

from __future__ import annotations

import io
import pickle
import socket
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from convsweep.tasks.datasets.errors import DatasetError
from convsweep.tasks.datasets.idx_format import IDX_FILE_STEMS, IdxFormatError, read_idx_images, read_idx_labels

# (images, labels) of the train and the test split, as load_data() returns them.
LoadedSplits = tuple[
    tuple[npt.NDArray[np.uint8], npt.NDArray[Any]],
    tuple[npt.NDArray[np.uint8], npt.NDArray[Any]],
]

# The only globals a CIFAR batch needs (numpy < 2 and >= 2 spellings), as Keras allows.
_ALLOWED_PICKLE_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }
)
# Members of each CIFAR archive: (train members, test member, label key).
_CIFAR_MEMBERS = {
    "cifar10": (
        tuple(f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)),
        "cifar-10-batches-py/test_batch",
        b"labels",
    ),
    "cifar100": (("cifar-100-python/train",), "cifar-100-python/test", b"fine_labels"),
}


class CacheFileMissing(DatasetError):
    """A worker found a Keras cache file missing (workers never download)."""


def missing_file_error(name: str, path: Path) -> CacheFileMissing:
    """The one line a worker fails with when ``path`` of dataset ``name`` is not in its Keras cache."""
    return CacheFileMissing(
        f"worker {socket.gethostname()}: {name}: {path} is missing from the Keras cache; workers read the files "
        "the flow's load-dataset filled and never download (give every host the same KERAS_HOME on shared storage)"
    )


def read_cache_files(name: str, paths: list[Path]) -> LoadedSplits:
    """``(x_train, y_train), (x_test, y_test)`` of Keras dataset ``name`` from its cached ``paths``.

    Parameters
    ----------
    name : ``fashion_mnist``, ``mnist``, ``cifar10`` or ``cifar100``.
    paths : the cache files, in the order ``keras_source`` lists them.

    Returns
    -------
    Images uint8 (n, 28, 28), or (n, 32, 32, 3) RGB channels last for CIFAR; labels (n,).

    Raises
    ------
    CacheFileMissing
        A file is not there (one line: host and path).
    DatasetError
        A file is there but cannot be read (corrupt, truncated, not the expected format).
    """
    for path in paths:
        if not path.is_file():
            raise missing_file_error(name, path)
    try:
        if name == "fashion_mnist":
            return _read_fashion_mnist(paths[0].parent)
        if name == "mnist":
            return _read_mnist_npz(paths[0])
        if name in _CIFAR_MEMBERS:
            return _read_cifar_archive(name, paths[0])
    except IdxFormatError as error:
        raise DatasetError(f"{name}: corrupt file in the Keras cache: {error}") from None
    except (OSError, EOFError, KeyError, ValueError, pickle.UnpicklingError, tarfile.TarError) as error:
        raise DatasetError(
            f"{name}: cannot read the Keras cache file {paths[0]}: {type(error).__name__}: {' '.join(str(error).split())}"
        ) from None
    raise ValueError(f"name: {name!r} is not a Keras dataset read here")


def _read_fashion_mnist(folder: Path) -> LoadedSplits:
    splits = []
    for split in ("train", "test"):
        images_stem, labels_stem = IDX_FILE_STEMS[split]
        splits.append((read_idx_images(folder / f"{images_stem}.gz"), read_idx_labels(folder / f"{labels_stem}.gz")))
    return splits[0], splits[1]


def _read_mnist_npz(path: Path) -> LoadedSplits:
    with np.load(path, allow_pickle=False) as archive:
        return (archive["x_train"], archive["y_train"]), (archive["x_test"], archive["y_test"])


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name} from a CIFAR batch")


def _read_cifar_archive(name: str, archive_path: Path) -> LoadedSplits:
    train_members, test_member, label_key = _CIFAR_MEMBERS[name]
    batches: dict[str, tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]] = {}
    with tarfile.open(archive_path, "r:gz") as archive:
        for member in archive:  # one pass over the compressed stream, in the archive's order
            if member.name in (*train_members, test_member):
                handle = archive.extractfile(member)
                if handle is None:
                    raise ValueError(f"{member.name} in {archive_path} is not a file")
                batch = _RestrictedUnpickler(io.BytesIO(handle.read()), encoding="bytes").load()
                planes = np.asarray(batch[b"data"], dtype=np.uint8)
                images = planes.reshape(len(planes), 3, 32, 32).transpose(0, 2, 3, 1)  # as Keras: channels last
                batches[member.name] = (np.ascontiguousarray(images), np.asarray(batch[label_key], dtype=np.int64))
    for name in (*train_members, test_member):
        if name not in batches:
            raise KeyError(f"{name} not in {archive_path}")
    train_images = np.concatenate([batches[name][0] for name in train_members])
    train_labels = np.concatenate([batches[name][1] for name in train_members])
    return (train_images, train_labels), batches[test_member]
