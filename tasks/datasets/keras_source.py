"""``fashion_mnist``, ``mnist``, ``cifar10``, ``cifar100``: through ``keras.datasets.<name>.load_data()``.

CIFAR-10 and CIFAR-100 (fine labels) are colour, (n, 32, 32, 3) RGB; Keras keeps their
archive as ``datasets/cifar-10-batches-py-target_archive`` (``cifar-100-python-target_archive``),
checks its SHA-256 and extracts it on every ``load_data()`` call, so they are memoised here by
the archive's identity.  In a grey sweep they are converted by ``cv2.cvtColor(RGB2GRAY)``.

The files live in Keras' cache (``$KERAS_HOME/datasets/...``, default ``~/.keras``) and are
downloaded only once, from :data:`DEFAULT_ORIGIN` or from the mirror named by the
environment variable ``CONVSWEEP_DATASET_ORIGIN`` (a URL prefix ending in ``/`` that holds
the same file names).  What Keras returns is checked against the files' own IDX headers
(Keras does not check them) and memoised per process by the files' identity.

Workers: with ``cache_only`` (what ``convsweep.tasks.compute.open_selection`` asks for, in every task
that reopens a selection ``load-dataset`` described) the cached files are read directly by
``convsweep.tasks.datasets.keras_files``: no Keras or JAX import in the process, no download, and a
missing file fails with one line naming the host and the path.  Both ways give the same
arrays and share the memo (keyed by the files' identity).

Retries: this is the one place that retries anything, and only a failed download (a file
still missing after ``load_data()`` failed): :data:`DOWNLOAD_RETRY_DELAYS` waits, then a
:class:`DownloadError`.  A cached file that is corrupt or truncated fails at once with a
:class:`DatasetError` that names it: waiting cannot heal it.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from convsweep.tasks.datasets.errors import DatasetError, DownloadError
from convsweep.tasks.datasets.idx_format import (
    IDX_FILE_STEMS,
    IMAGES_MAGIC,
    LABELS_MAGIC,
    IdxFormatError,
    read_idx_header,
    read_idx_images,
    read_idx_labels,
)
from convsweep.tasks.datasets.keras_files import read_cache_files
from convsweep.tasks.datasets.memo import ARRAYS, LOAD_LOCK, FilesKey, files_key
from convsweep.tasks.datasets.spec import (
    CIFAR10_CLASSES,
    CIFAR100_CLASSES,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    DatasetSpec,
)
from convsweep.tasks.datasets.view import SplitData, frozen, memory_split

# Where keras.datasets downloads fashion_mnist and mnist from (keras/src/datasets/<name>.py).
DEFAULT_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
# A mirror of DEFAULT_ORIGIN (same file names), e.g. http://mirror.local/keras-datasets/.
ORIGIN_ENV = "CONVSWEEP_DATASET_ORIGIN"
# Waits between download attempts of a Keras dataset (so 3 attempts); tests set them to 0.
DOWNLOAD_RETRY_DELAYS = (1.0, 4.0)


# Where keras.datasets downloads cifar10 and cifar100 from (keras/src/datasets/cifar10.py, cifar100.py).
CIFAR_ORIGIN = "https://www.cs.toronto.edu/~kriz/"

# split ("train", "test") -> (images uint8 (n, 28, 28) or (n, 32, 32, 3), labels int64 (n,)), read-only.
KerasArrays: TypeAlias = dict[str, tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]]


@dataclass(frozen=True)
class _KerasDataset:
    name: str
    cache_subdir: str  # under the Keras home, as in keras/src/datasets/<name>.py
    files: tuple[str, ...]  # in the order load_data() fetches them
    class_names: tuple[str, ...]


_KERAS_DATASETS = {
    "fashion_mnist": _KerasDataset(
        "fashion_mnist",
        "datasets/fashion-mnist",
        (
            "train-labels-idx1-ubyte.gz",
            "train-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
        ),
        FASHION_MNIST_CLASSES,
    ),
    "mnist": _KerasDataset("mnist", "datasets", ("mnist.npz",), MNIST_CLASSES),
    # get_file(fname="cifar-10-batches-py-target", extract=True) keeps the download as
    # <fname>_archive and extracts it into <fname>/ on every call.
    "cifar10": _KerasDataset("cifar10", "datasets", ("cifar-10-batches-py-target_archive",), CIFAR10_CLASSES),
    "cifar100": _KerasDataset("cifar100", "datasets", ("cifar-100-python-target_archive",), CIFAR100_CLASSES),
}
KERAS_DATASETS = tuple(_KERAS_DATASETS)
_COLOUR_DATASETS = ("cifar10", "cifar100")
_ARCHIVE_NAMES = {"cifar10": "cifar-10-python.tar.gz", "cifar100": "cifar-100-python.tar.gz"}


def keras_cache_folder(name: str = "fashion_mnist") -> Path:
    """The folder where ``keras.datasets.<name>.load_data()`` looks for (and saves) its files.

    Resolved now from ``KERAS_HOME`` (default ``~/.keras``) the way Keras does, including its
    fall-back to ``/tmp/.keras`` when the home folder is not writable.
    """
    if name not in _KERAS_DATASETS:
        raise ValueError(f"name: {name!r} is not a Keras dataset; expected one of {', '.join(_KERAS_DATASETS)}")
    return _keras_home(create=False) / _KERAS_DATASETS[name].cache_subdir


def _keras_home(*, create: bool) -> Path:
    # Keras reads KERAS_HOME once, when it is first imported; resolving it here on every
    # call makes a later change of the variable (tests, long-lived workers) take effect.
    if "KERAS_HOME" in os.environ:
        home = os.environ["KERAS_HOME"]
    else:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    home = os.path.expanduser(home)
    if create and home:
        try:  # Keras creates its home at import; do the same for a home chosen later
            os.makedirs(home, exist_ok=True)
        except OSError:
            pass
    if not os.access(home, os.W_OK):  # keras.utils.get_file's own fall-back
        home = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return Path(home)


def download_origin() -> str:
    """The URL prefix the Keras datasets are downloaded from: ``$CONVSWEEP_DATASET_ORIGIN``
    when set (a ``/`` is added when missing), else :data:`DEFAULT_ORIGIN`."""
    origin = os.environ.get(ORIGIN_ENV, "").strip()
    if not origin:
        return DEFAULT_ORIGIN
    return origin if origin.endswith("/") else origin + "/"


def open_keras(spec: DatasetSpec, split: str, *, colour: bool = False, cache_only: bool = False) -> SplitData:
    """One split of a Keras dataset (both splits for ``all``), in memory.

    CIFAR is RGB with ``colour``, else converted to grey; the grey datasets are always grey
    (``convsweep.tasks.datasets.opening`` broadcasts them for a colour sweep).  ``cache_only``: read the
    cached files without Keras and never download (see the module docstring, Workers).
    """
    info = _KERAS_DATASETS[spec.kind]
    origin = download_origin()
    arrays, folder, downloaded, data_key = _load_keras(info, origin, cache_only=cache_only)
    if info.name in _COLOUR_DATASETS:
        return _cifar_split(info, split, arrays, folder, downloaded, data_key, colour=colour)
    splits = ("train", "test") if split == "all" else (split,)
    if info.name == "fashion_mnist":
        names = [f"{IDX_FILE_STEMS[s][0]}.gz + {IDX_FILE_STEMS[s][1]}.gz" for s in splits]
        files = " and ".join(names)
    else:
        files = f"mnist.npz ({' and '.join(splits)})"
    how = "downloaded now from" if downloaded else "cached; origin"
    source = f"keras.datasets.{info.name}.load_data(): {files} in Keras cache {folder} ({how} {origin})"
    return memory_split(split, source, [arrays[s] for s in splits], info.class_names, data_key)


def _cifar_split(
    info: _KerasDataset,
    split: str,
    arrays: KerasArrays,
    folder: Path,
    downloaded: bool,
    data_key: FilesKey | None,
    *,
    colour: bool,
) -> SplitData:
    splits = ("train", "test") if split == "all" else (split,)
    how = "downloaded now from" if downloaded else f"cached; origin {CIFAR_ORIGIN}"
    decoded = "RGB" if colour else "converted to grayscale by cv2.cvtColor(RGB2GRAY)"
    source = (
        f"keras.datasets.{info.name}.load_data(): {_ARCHIVE_NAMES[info.name]} ({' and '.join(splits)}) as "
        f"{info.files[0]} in Keras cache {folder} ({how}{' ' + CIFAR_ORIGIN if downloaded else ''}; {decoded})"
    )
    if colour:
        return memory_split(split, source, [arrays[s] for s in splits], info.class_names, ("rgb", data_key))
    with LOAD_LOCK:
        grey_key = ("grey", data_key)
        grey = ARRAYS.get(grey_key)
        if grey is None:
            grey = {name: (_to_grey(images), labels) for name, (images, labels) in arrays.items()}
            ARRAYS.put(grey_key, grey)
    return memory_split(split, source, [grey[s] for s in splits], info.class_names, grey_key)


def _to_grey(images: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """(n, h, w, 3) RGB -> (n, h, w) by OpenCV's RGB2GRAY (the whole batch as one tall image)."""
    import cv2

    n, height, width, _ = images.shape
    tall: npt.NDArray[Any] = cv2.cvtColor(
        np.ascontiguousarray(images.reshape(n * height, width, 3)), cv2.COLOR_RGB2GRAY
    )
    return frozen(tall.reshape(n, height, width))


def offline_problem(name: str, *, timeout: float = 3.0) -> str | None:
    """Why the Keras dataset ``name`` cannot be had now, or None: its files are cached, or its origin answers.

    For a preflight: one request (``HEAD``) to the first missing file's URL, ``timeout`` seconds,
    no retries; the message gives the ways out, as :class:`DownloadError` does.
    """
    import urllib.error
    import urllib.request

    info = _KERAS_DATASETS[name]
    folder = _keras_home(create=False) / info.cache_subdir
    missing = [file for file in info.files if not (folder / file).is_file()]
    if not missing:
        return None
    if name in _COLOUR_DATASETS:
        url, way_out = CIFAR_ORIGIN + _ARCHIVE_NAMES[name], f"copy {_ARCHIVE_NAMES[name]} to {folder / missing[0]}"
    else:
        url = download_origin() + missing[0]
        way_out = f"read a local copy with the spec idx:PATH, or copy {', '.join(info.files)} into {folder}"
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
    except urllib.error.HTTPError:
        return None  # the origin answers: let the download itself say what is wrong
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return (
            f"{name}: {missing[0]} is not in the Keras cache folder {folder} and {url} does not answer "
            f"({' '.join(str(reason).split()) or type(reason).__name__}); ways out: {way_out}"
        )
    return None


def _load_keras(
    info: _KerasDataset, origin: str, *, cache_only: bool = False
) -> tuple[KerasArrays, Path, bool, FilesKey | None]:
    """{split: (images, labels)} via Keras (``cache_only``: from the cached files, without
    Keras), memoised per process by the cached files' identity."""
    home = _keras_home(create=not cache_only)
    folder = home / info.cache_subdir
    paths = [folder / name for name in info.files]
    with LOAD_LOCK:
        key = files_key(paths)
        if key is not None and (hit := ARRAYS.get(key)) is not None:
            return hit, folder, False, key
        downloaded = key is None
        if cache_only:
            loaded: Any = read_cache_files(info.name, paths)
            downloaded = False
        else:
            loaded = _call_keras_load_data(info, home, folder, paths, origin)
        arrays = _check_keras_arrays(info, paths, loaded)
        key = files_key(paths)
        ARRAYS.put(key, arrays)
        return arrays, folder, downloaded, key


def _call_keras_load_data(info: _KerasDataset, home: Path, folder: Path, paths: list[Path], origin: str) -> Any:
    """``load_data()``, retrying only a failed download (see the module docstring).

    Returns whatever Keras returned (untyped; :func:`_check_keras_arrays` checks it).
    """
    module = _import_keras_dataset(info.name)
    attempts = len(DOWNLOAD_RETRY_DELAYS) + 1
    last_error: BaseException | None = None
    for attempt in range(attempts):
        try:
            with _keras_home_set_to(home), _origin_set_to(module, origin):
                return module.load_data()
        except Exception as error:  # noqa: BLE001 - classified just below
            missing = [path for path in paths if not path.is_file()]
            if not missing:  # every file is there, so reading one of them failed: no retry
                raise _corrupt_cache_error(info, paths, error) from None
            last_error = error  # a file is still missing: its download failed
            if attempt + 1 < attempts:
                time.sleep(DOWNLOAD_RETRY_DELAYS[attempt])
    missing_name = missing[0].name
    if info.name in _COLOUR_DATASETS:
        archive = _ARCHIVE_NAMES[info.name]
        raise DownloadError(
            f"{info.name}: cannot download {archive} from {CIFAR_ORIGIN + archive} ({attempts} attempts; "
            f"last error: {' '.join(str(last_error).split())}) and it is not in the Keras cache folder {folder}. "
            f"Way out: copy {archive} to {folder / missing_name} (Keras then finds it without network)."
        )
    url = origin + missing_name
    files = ", ".join(info.files)
    raise DownloadError(
        f"{info.name}: cannot download {missing_name} from {url} ({attempts} attempts; last error: "
        f"{' '.join(str(last_error).split())}) and it is not in the Keras cache folder {folder}. "
        f"Ways out: read a local copy with the spec idx:PATH (a folder with the IDX files), "
        f"or copy {files} into {folder} (Keras then finds them without network)."
    )


def _import_keras_dataset(name: str) -> ModuleType:
    # Keras 3 needs a backend even to import; jax is the light one we depend on.
    os.environ.setdefault("KERAS_BACKEND", "jax")
    try:
        return importlib.import_module(f"keras.datasets.{name}")
    except Exception as error:  # noqa: BLE001 - ImportError, or a backend failing to start
        raise DatasetError(
            f"{name}: cannot import Keras to load it (KERAS_BACKEND={os.environ['KERAS_BACKEND']}): "
            f"{type(error).__name__}: {error}. Install keras with the jax backend "
            f"(pip install keras 'jax[cpu]'), or read local IDX files with the spec idx:PATH."
        ) from None


@contextmanager
def _keras_home_set_to(home: Path) -> Iterator[None]:
    # Private attribute: Keras has no public setter for its home, which it reads only at
    # import (keras/src/backend/config.py); get_file() asks config.keras_home() each call.
    from keras.src.backend import config

    previous = getattr(config, "_KERAS_DIR", None)
    if previous is None:
        yield
        return
    config._KERAS_DIR = str(home)
    try:
        yield
    finally:
        config._KERAS_DIR = previous


@contextmanager
def _origin_set_to(module: ModuleType, origin: str) -> Iterator[None]:
    # load_data() downloads from DEFAULT_ORIGIN, written into its code; to use a mirror,
    # the get_file it looks up in its own (private) module is wrapped while it runs.
    if origin == DEFAULT_ORIGIN:
        yield
        return
    private: Any = sys.modules[module.load_data.__module__]  # Keras' own module: its attributes are untyped
    get_file = private.get_file

    def get_file_from_origin(*args: Any, **kwargs: Any) -> Any:
        url = kwargs.get("origin")
        if isinstance(url, str) and url.startswith(DEFAULT_ORIGIN):
            kwargs["origin"] = origin + url[len(DEFAULT_ORIGIN) :]
        return get_file(*args, **kwargs)

    private.get_file = get_file_from_origin
    try:
        yield
    finally:
        private.get_file = get_file


def _corrupt_cache_error(info: _KerasDataset, paths: list[Path], error: BaseException) -> DatasetError:
    """Find which cached file is broken after load_data() failed on files that exist."""
    for path in paths:
        problem = _check_cached_file(path)
        if problem:
            return DatasetError(
                f"{info.name}: corrupt file in the Keras cache: {problem}. Delete it so that Keras "
                f"downloads it again (rm '{path}'), or replace it with a good copy."
            )
    return DatasetError(
        f"{info.name}: keras.datasets.{info.name}.load_data() failed on the files in "
        f"{paths[0].parent}: {type(error).__name__}: {' '.join(str(error).split())}"
    )


def _check_cached_file(path: Path) -> str | None:
    try:
        if path.name.endswith("_archive"):
            import tarfile

            if not tarfile.is_tarfile(path):
                return f"{path}: not a tar archive"
        elif path.name.endswith(".npz"):
            with np.load(path, allow_pickle=False) as archive:
                for key in ("x_train", "y_train", "x_test", "y_test"):
                    archive[key]
        elif "-images-" in path.name:
            read_idx_images(path)
        else:
            read_idx_labels(path)
    except IdxFormatError as error:
        return str(error)
    except Exception as error:  # noqa: BLE001 - np.load: BadZipFile, KeyError, ValueError ...
        return f"{path}: {type(error).__name__}: {' '.join(str(error).split())}"
    return None


def _check_keras_arrays(info: _KerasDataset, paths: list[Path], loaded: Any) -> KerasArrays:
    """Check what load_data() returned against the files' own headers (Keras does not)."""
    (x_train, y_train), (x_test, y_test) = loaded
    arrays = {"train": (x_train, y_train), "test": (x_test, y_test)}
    by_name = {path.name: path for path in paths}
    checked: KerasArrays = {}
    for split, (images, labels) in arrays.items():
        images, labels = np.asarray(images), np.asarray(labels)
        if info.name == "fashion_mnist":
            images_path = by_name[f"{IDX_FILE_STEMS[split][0]}.gz"]
            labels_path = by_name[f"{IDX_FILE_STEMS[split][1]}.gz"]
            for path, magic, shape in (
                (images_path, IMAGES_MAGIC, images.shape),
                (labels_path, LABELS_MAGIC, labels.shape),
            ):
                problem = _header_problem(path, magic, shape)
                if problem:
                    raise DatasetError(
                        f"{info.name}: corrupt file in the Keras cache: {problem}. Delete "
                        f"it so that Keras downloads it again (rm '{path}'), or replace "
                        f"it with a good copy."
                    )
        where = by_name.get("mnist.npz", paths[0].parent)
        if info.name in _COLOUR_DATASETS:
            if images.ndim == 4 and images.shape[1] == 3 and images.shape[3] != 3:
                images = images.transpose(0, 2, 3, 1)  # Keras configured channels_first
            labels = labels.reshape(-1)  # Keras returns CIFAR labels as (n, 1)
            colour_ok = images.ndim == 4 and images.shape[3] == 3
        else:
            colour_ok = images.ndim == 3
        if images.dtype != np.uint8 or not colour_ok or labels.shape != (len(images),):
            raise DatasetError(
                f"{info.name}: unexpected arrays from the Keras cache ({where}): {split} "
                f"images {images.dtype} {images.shape}, labels {labels.shape}. Delete "
                f"the file(s) so that Keras downloads them again."
            )
        checked[split] = (frozen(images), _frozen_labels(labels, info.class_names, where))
    return checked


def _header_problem(path: Path, magic: int, shape: tuple[int, ...]) -> str | None:
    try:
        found_magic, dims = read_idx_header(path)
    except IdxFormatError as error:
        return str(error)
    if found_magic != magic:
        return f"{path}: magic number {found_magic}, expected {magic}"
    if tuple(dims) != tuple(shape):
        return f"{path}: header dimensions {dims} do not match the {shape} Keras read"
    return None


def _frozen_labels(labels: npt.NDArray[Any], class_names: tuple[str, ...] | None, where: Path) -> npt.NDArray[np.int64]:
    if class_names is not None and labels.size and int(labels.max()) >= len(class_names):
        raise DatasetError(f"{where}: label {int(labels.max())} is out of range for {len(class_names)} classes")
    return frozen(labels.astype(np.int64))
