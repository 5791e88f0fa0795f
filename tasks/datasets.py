"""Datasets: one spec string, a validated selection, a stable fingerprint, bounded chunks.

Plain functions (no Prefect) that the pipeline's tasks wrap.  A *spec* names the data:

``fashion_mnist`` (default), ``mnist``
    Loaded through ``keras.datasets.<name>.load_data()``, so the files live in Keras' cache
    (``$KERAS_HOME/datasets/...``, default ``~/.keras``) and are downloaded only once.
``idx:PATH``
    A folder of IDX files (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
    ``t10k-images-idx3-ubyte[.gz]``, ``t10k-labels-idx1-ubyte[.gz]``); a split needs only
    its own two files.
``images:PATH``
    A folder of PNG/JPEG/BMP files, searched recursively, decoded to grayscale and sorted by
    path; images in class folders are labelled by the folder name.
``sample``
    The bundled raster images of matplotlib's ``sample_data`` (grace_hopper.jpg first), for
    a demo without network.

A *selection* is ``split`` (train | test | all) then ``start``/``stop`` positions within the
split, then the ``classes`` filter, then the first ``limit`` images.  :func:`open_dataset`
returns a :class:`DatasetView` of it (image folders are decoded lazily, chunk by chunk);
:func:`load_dataset` reads it whole into a :class:`Dataset`.

Errors: bad arguments raise ``ValueError`` (``TypeError`` for wrong types) naming the
argument and the value; data that cannot be read (offline and not cached, corrupt or
truncated files, unreadable images) raises :class:`DatasetError` with one message that says
what was tried and how to get out.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import tempfile
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from tasks.idx import (
    IMAGES_MAGIC,
    LABELS_MAGIC,
    IdxFormatError,
    read_idx_header,
    read_idx_images,
    read_idx_labels,
)

__all__ = [
    "SPLITS",
    "KINDS",
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "DatasetError",
    "DatasetSpec",
    "DatasetView",
    "Dataset",
    "parse_spec",
    "open_dataset",
    "load_dataset",
    "iter_chunks",
    "fingerprint",
    "keras_cache_folder",
    "clear_caches",
]

SPLITS = ("train", "test", "all")
KINDS = ("fashion_mnist", "mnist", "idx", "images", "sample")
_KINDS_WITH_PATH = ("idx", "images")
_SPEC_ALIASES = {"fashion-mnist": "fashion_mnist", "fashionmnist": "fashion_mnist"}

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
MNIST_CLASSES = tuple(str(digit) for digit in range(10))

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
IDX_FILE_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SAMPLE_REFERENCE = "grace_hopper.jpg"

# Waits between download attempts of a Keras dataset (so 3 attempts); tests set them to 0.
DOWNLOAD_RETRY_DELAYS = (1.0, 4.0)
# Pixels hashed or decoded per block when streaming a folder (bounded memory).
STREAM_BLOCK_BYTES = 32 * 1024 * 1024

_FINGERPRINT_TAG = b"convsweep-dataset-fingerprint-v1\n"


class DatasetError(Exception):
    """The data cannot be read: offline and not cached, corrupt or truncated files, an
    unreadable image.  The message says what was tried and how to get out."""


# ----------------------------------------------------------------------------------------
# Spec
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed dataset spec; ``str(spec)`` is its normalised string form.

    Attributes
    ----------
    kind : one of :data:`KINDS`.
    path : absolute folder for ``idx`` and ``images``, else ``None``.
    """

    kind: str
    path: Path | None = None

    def __str__(self) -> str:
        return self.kind if self.path is None else f"{self.kind}:{self.path}"


def parse_spec(spec: str | DatasetSpec) -> DatasetSpec:
    """Parse ``fashion_mnist``, ``mnist``, ``sample``, ``idx:PATH`` or ``images:PATH``.

    Paths are made absolute (``~`` expanded, ``..`` folded) but not checked here; whether
    they exist is checked when the dataset is opened.
    """
    if isinstance(spec, DatasetSpec):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"spec: expected a string such as 'fashion_mnist' or 'idx:PATH', got {type(spec).__name__}")
    text = spec.strip()
    kind, has_path, path_text = text.partition(":")
    kind = kind.strip().lower()
    kind = _SPEC_ALIASES.get(kind, kind)
    expected = "expected fashion_mnist, mnist, sample, idx:PATH or images:PATH"
    if kind not in KINDS:
        raise ValueError(f"spec: unknown dataset {spec!r}; {expected}")
    if kind in _KINDS_WITH_PATH:
        path_text = path_text.strip()
        if not path_text:
            raise ValueError(f"spec: {spec!r} needs a folder after '{kind}:', e.g. {kind}:/data/my-{kind}")
        return DatasetSpec(kind, Path(os.path.abspath(os.path.expanduser(path_text))))
    if has_path:
        raise ValueError(f"spec: {spec!r}: '{kind}' takes no path; {expected}")
    return DatasetSpec(kind)


# ----------------------------------------------------------------------------------------
# Chunks and fingerprints
# ----------------------------------------------------------------------------------------


def iter_chunks(n: int, chunk_size: int) -> Iterator[tuple[int, int]]:
    """Consecutive ``(start, stop)`` ranges covering ``range(n)``, each at most ``chunk_size`` long."""
    _check_int("n", n, minimum=0)
    _check_int("chunk_size", chunk_size, minimum=1)
    for start in range(0, n, chunk_size):
        yield start, min(start + chunk_size, n)


def fingerprint(images: np.ndarray, labels: np.ndarray | None = None) -> str:
    """SHA-256 (hex) of the images' shape, the labels and the pixels.

    Stable across runs and machines: the hashed bytes are a version tag, ``(n, height,
    width)`` as little-endian int64, a flag byte and the labels as little-endian int64 when
    there are labels, then the pixels in C order.  :attr:`DatasetView.fingerprint` streams
    the same bytes chunk by chunk, so both agree.

    Parameters
    ----------
    images : ndarray, shape (n, height, width), uint8
    labels : ndarray, shape (n,), integer, or None
    """
    if not isinstance(images, np.ndarray):
        raise TypeError(f"images: expected a numpy array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise TypeError(f"images: expected dtype uint8, got {images.dtype}")
    if images.ndim != 3:
        raise ValueError(f"images: expected shape (n, height, width), got {images.shape}")
    hasher = _start_fingerprint(images.shape, _check_labels(labels, images.shape[0]))
    hasher.update(np.ascontiguousarray(images))
    return hasher.hexdigest()


def _start_fingerprint(shape: tuple[int, int, int], labels: np.ndarray | None):
    hasher = hashlib.sha256(_FINGERPRINT_TAG)
    hasher.update(np.asarray(shape, dtype="<i8").tobytes())
    if labels is None:
        hasher.update(b"\x00")
    else:
        hasher.update(b"\x01")
        hasher.update(labels.astype("<i8").tobytes())
    return hasher


def _check_labels(labels: Any, n: int) -> np.ndarray | None:
    if labels is None:
        return None
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels: expected integers, got dtype {labels.dtype}")
    if labels.shape != (n,):
        raise ValueError(f"labels: expected shape ({n},) to match the images, got {labels.shape}")
    return labels


# ----------------------------------------------------------------------------------------
# Views and loaded datasets
# ----------------------------------------------------------------------------------------


class DatasetView:
    """An opened selection of a dataset; pixels are read on demand with :meth:`read`.

    Attributes
    ----------
    spec : normalised spec string, e.g. ``"idx:/data/fashion"``.
    split : ``"train"``, ``"test"`` or ``"all"`` (folders without train/test subfolders and
        ``sample`` have one split, reported as ``"all"``).
    source : human-readable description of what was read (files, cache folder, URL).
    n, height, width : the selection holds ``n`` images of ``(height, width)``.
    labels : ndarray, shape (n,), int64, or None.
    class_names : names indexed by label, or None where unknown.
    indices : ndarray, shape (n,), int64: positions of the selected images within the split.
    """

    def __init__(self, *, spec: str, split: str, source: str, store, positions,
                 labels: np.ndarray | None, class_names: tuple[str, ...] | None,
                 height: int, width: int, data_key):
        self.spec = spec
        self.split = split
        self.source = source
        self._store = store
        self._positions = positions  # range or int64 ndarray of positions within the split
        self.labels = labels
        self.class_names = class_names
        self.n = len(positions)
        self.height = height
        self.width = width
        if isinstance(positions, range):
            selection_key = ("range", positions.start, positions.stop)
        else:
            selection_key = ("positions", hashlib.sha256(positions.tobytes()).hexdigest())
        labels_key = None if labels is None else hashlib.sha256(labels.tobytes()).hexdigest()
        self._fingerprint_key = (data_key, split, selection_key, labels_key)

    @property
    def indices(self) -> np.ndarray:
        return np.asarray(self._positions, dtype=np.int64)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Images ``start:stop`` of the selection.

        Returns
        -------
        images : ndarray, shape (stop - start, height, width), uint8, a new writable array
        """
        _check_int("start", start, minimum=0)
        _check_int("stop", stop, minimum=0)
        if not start <= stop <= self.n:
            raise ValueError(f"start={start}, stop={stop}: out of range for a selection of {self.n} images "
                             f"(need 0 <= start <= stop <= {self.n})")
        return self._store.read(self._positions[start:stop], self.height, self.width)

    def iter_chunks(self, chunk_size: int) -> Iterator[tuple[int, int, np.ndarray]]:
        """``(start, stop, images)`` for consecutive chunks of at most ``chunk_size`` images."""
        for start, stop in iter_chunks(self.n, chunk_size):
            yield start, stop, self.read(start, stop)

    @cached_property
    def fingerprint(self) -> str:
        """:func:`fingerprint` of the selection, streamed block by block, memoised per process."""
        cached = _FINGERPRINTS.get(self._fingerprint_key)
        if cached is not None:
            return cached
        hasher = _start_fingerprint((self.n, self.height, self.width), self.labels)
        for block in self._store.blocks(self._positions, self.height, self.width):
            hasher.update(block)
        digest = hasher.hexdigest()
        _FINGERPRINTS.put(self._fingerprint_key, digest)
        return digest

    def _remember_fingerprint(self, images: np.ndarray) -> str:
        """Fingerprint from pixels already read in full (saves a second pass over a folder)."""
        if "fingerprint" not in self.__dict__ and _FINGERPRINTS.get(self._fingerprint_key) is None:
            digest = fingerprint(images, self.labels)
            _FINGERPRINTS.put(self._fingerprint_key, digest)
            self.__dict__["fingerprint"] = digest
        return self.fingerprint

    def __repr__(self) -> str:
        return (f"DatasetView(spec={self.spec!r}, split={self.split!r}, n={self.n}, "
                f"height={self.height}, width={self.width}, source={self.source!r})")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A selection read into memory.

    Attributes
    ----------
    images : ndarray, shape (n, height, width), uint8
    labels : ndarray, shape (n,), int64, or None
    class_names : names indexed by label, or None
    spec, split, source, fingerprint : as in :class:`DatasetView`
    """

    images: np.ndarray
    labels: np.ndarray | None
    class_names: tuple[str, ...] | None
    spec: str
    split: str
    source: str
    fingerprint: str

    @property
    def n(self) -> int:
        return self.images.shape[0]

    @property
    def height(self) -> int:
        return self.images.shape[1]

    @property
    def width(self) -> int:
        return self.images.shape[2]


def open_dataset(
    spec: str | DatasetSpec = "fashion_mnist",
    *,
    split: str = "test",
    start: int | None = None,
    stop: int | None = None,
    limit: int | None = None,
    classes: int | str | Iterable[int | str] | None = None,
) -> DatasetView:
    """Open a selection of a dataset.

    Parameters
    ----------
    spec : ``fashion_mnist`` | ``mnist`` | ``sample`` | ``idx:PATH`` | ``images:PATH``.
    split : ``train``, ``test`` or ``all`` (train followed by test).
    start, stop : positions within the split, ``0 <= start < stop <= size of the split``.
    limit : keep at most this many images (after the slice and the class filter).
    classes : label numbers and/or class names (a string may list several, comma-separated;
        a number written as a string counts as a label number unless a class has that name).

    Returns
    -------
    DatasetView
        For Keras datasets and IDX folders the split is in memory (memoised per process);
        for image folders only the file list and image sizes are read here.

    Raises
    ------
    ValueError, TypeError
        Bad arguments: unknown spec, bad split, slice out of range, no image matching
        ``classes``, missing or empty folder, images of different sizes in the selection.
    DatasetError
        The data cannot be read.
    """
    parsed = parse_spec(spec)
    if not isinstance(split, str):
        raise TypeError(f"split: expected one of {', '.join(SPLITS)}, got {type(split).__name__}")
    if split not in SPLITS:
        raise ValueError(f"split: unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    for name, value in (("start", start), ("stop", stop)):
        if value is not None:
            _check_int(name, value, minimum=0)
    if limit is not None:
        _check_int("limit", limit, minimum=1)
    opener = {
        "fashion_mnist": _open_keras,
        "mnist": _open_keras,
        "idx": _open_idx,
        "images": _open_image_folder,
        "sample": _open_sample,
    }[parsed.kind]
    base = opener(parsed, split)
    what = f"{parsed} split={base.split}"
    positions = _select(base.n, base.labels, base.class_names, start=start, stop=stop,
                        limit=limit, classes=classes, what=what)
    labels = None
    if base.labels is not None:
        chosen = slice(positions.start, positions.stop) if isinstance(positions, range) else positions
        labels = _frozen(base.labels[chosen])
    height, width, data_key = base.store.describe(positions, what)
    return DatasetView(spec=str(parsed), split=base.split, source=base.source, store=base.store,
                       positions=positions, labels=labels, class_names=base.class_names,
                       height=height, width=width, data_key=data_key)


def load_dataset(
    spec: str | DatasetSpec = "fashion_mnist",
    *,
    split: str = "test",
    start: int | None = None,
    stop: int | None = None,
    limit: int | None = None,
    classes: int | str | Iterable[int | str] | None = None,
) -> Dataset:
    """:func:`open_dataset`, then read the whole selection into a :class:`Dataset`."""
    view = open_dataset(spec, split=split, start=start, stop=stop, limit=limit, classes=classes)
    images = view.read(0, view.n)
    digest = view._remember_fingerprint(images)
    labels = None if view.labels is None else view.labels.copy()
    return Dataset(images=images, labels=labels, class_names=view.class_names, spec=view.spec,
                   split=view.split, source=view.source, fingerprint=digest)


def clear_caches() -> None:
    """Forget the per-process memo of loaded arrays, image sizes and fingerprints."""
    _ARRAYS.clear()
    _FINGERPRINTS.clear()
    _IMAGE_SIZES.clear()


# ----------------------------------------------------------------------------------------
# Selection
# ----------------------------------------------------------------------------------------


def _select(n_total: int, labels: np.ndarray | None, class_names: tuple[str, ...] | None, *,
            start: int | None, stop: int | None, limit: int | None, classes, what: str):
    """Positions within the split: slice, then class filter, then limit (range or int64 array)."""
    lo = 0 if start is None else start
    hi = n_total if stop is None else stop
    if lo >= n_total:
        raise ValueError(f"start={start} is out of range: {what} has {n_total} images "
                         f"(start must be below {n_total})")
    if hi > n_total:
        raise ValueError(f"stop={stop} is out of range: {what} has {n_total} images "
                         f"(stop must be at most {n_total})")
    if hi <= lo:
        raise ValueError(f"start={lo}, stop={hi} selects no image of {what} (need start < stop)")
    positions: range | np.ndarray = range(lo, hi)
    if classes is not None:
        wanted = _resolve_classes(classes, labels, class_names, what)
        mask = np.isin(labels[lo:hi], np.asarray(sorted(wanted), dtype=np.int64))
        positions = np.flatnonzero(mask).astype(np.int64) + lo
        if positions.size == 0:
            raise ValueError(f"classes={classes!r} matches no image of {what} in positions {lo}:{hi}")
    if limit is not None:
        positions = positions[:limit]
    return positions


def _resolve_classes(classes, labels, class_names, what) -> set[int]:
    """Label numbers named by ``classes`` (numbers and/or class names)."""
    if isinstance(classes, str):
        items = [part.strip() for part in classes.split(",") if part.strip()]
    elif isinstance(classes, (int, np.integer)) and not isinstance(classes, bool):
        items = [classes]
    else:
        try:
            items = list(classes)
        except TypeError:
            raise TypeError(f"classes: expected label numbers or class names, got {type(classes).__name__}") from None
    if not items:
        raise ValueError(f"classes={classes!r} is empty; pass None to keep every class")
    if labels is None:
        raise ValueError(f"classes={classes!r}: {what} has no labels to filter on")
    names_text = (", ".join(f"{i}={name}" for i, name in enumerate(class_names))
                  if class_names else "no class names; give label numbers")
    wanted = set()
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, np.integer, str)):
            raise TypeError(f"classes: {item!r} is neither a label number nor a class name")
        if isinstance(item, str):
            matches = [i for i, name in enumerate(class_names or ()) if name == item] or \
                      [i for i, name in enumerate(class_names or ()) if name.lower() == item.lower()]
            if matches:
                wanted.update(matches)
                continue
            if not item.isdigit():
                raise ValueError(f"classes: {item!r} is not a class of {what} ({names_text})")
            item = int(item)
        value = int(item)
        if value < 0 or (class_names is not None and value >= len(class_names)):
            raise ValueError(f"classes: {value} is not a label of {what} ({names_text})")
        wanted.add(value)
    return wanted


# ----------------------------------------------------------------------------------------
# Stores: where pixels come from
# ----------------------------------------------------------------------------------------


class _ArrayStore:
    """A split held in memory as one or more read-only uint8 arrays (train, test for ``all``)."""

    def __init__(self, parts: list[np.ndarray], data_key):
        self._parts = parts
        self._offsets = np.cumsum([0] + [len(part) for part in parts])
        self._data_key = data_key

    def describe(self, positions, what):
        height, width = self._parts[0].shape[1:]
        return height, width, self._data_key

    def _pieces(self, positions):
        """(part, positions within it, positions within the output) for each part touched."""
        if isinstance(positions, range):
            for part, offset in zip(self._parts, self._offsets):
                lo = max(positions.start - offset, 0)
                hi = min(positions.stop - offset, len(part))
                if lo < hi:
                    yield part, slice(lo, hi), slice(offset + lo - positions.start, offset + hi - positions.start)
        else:
            for part, offset in zip(self._parts, self._offsets):
                inside = (positions >= offset) & (positions < offset + len(part))
                if inside.any():
                    yield part, positions[inside] - offset, inside

    def read(self, positions, height, width) -> np.ndarray:
        out = np.empty((len(positions), height, width), dtype=np.uint8)
        for part, source, target in self._pieces(positions):
            out[target] = part[source]
        return out

    def blocks(self, positions, height, width) -> Iterator[np.ndarray]:
        if isinstance(positions, range):  # zero-copy views
            for part, source, _ in self._pieces(positions):
                yield part[source]
            return
        block = max(1, STREAM_BLOCK_BYTES // (height * width))
        for lo in range(0, len(positions), block):
            yield self.read(positions[lo:lo + block], height, width)


class _FileStore:
    """A split as image files, decoded on demand to grayscale."""

    def __init__(self, paths: list[Path], root: Path):
        self._paths = paths
        self._root = root

    def describe(self, positions, what):
        """Check that the selected images share one size (headers only); (height, width, key)."""
        hasher = hashlib.sha256()
        first = None
        for position in positions:
            path = self._paths[position]
            size, stat_key = _image_size(path)
            if first is None:
                first = (path, size)
            elif size != first[1]:
                raise ValueError(
                    f"{what}: images differ in size: {first[0]} is {first[1][0]}x{first[1][1]} "
                    f"(height x width) but {path} is {size[0]}x{size[1]}; a selection needs one size: "
                    f"resize the images to one size first, or narrow the selection with start/stop/classes"
                )
            hasher.update(repr(stat_key).encode())
        height, width = first[1]
        return height, width, ("files", str(self._root), hasher.hexdigest())

    def read(self, positions, height, width) -> np.ndarray:
        out = np.empty((len(positions), height, width), dtype=np.uint8)
        for i, position in enumerate(positions):
            out[i] = _decode_gray(self._paths[position], height, width)
        return out

    def blocks(self, positions, height, width) -> Iterator[np.ndarray]:
        block = max(1, STREAM_BLOCK_BYTES // (height * width))
        for lo in range(0, len(positions), block):
            yield self.read(positions[lo:lo + block], height, width)


@dataclass(frozen=True)
class _Base:
    """One split before selection."""

    split: str
    source: str
    store: Any
    n: int
    labels: np.ndarray | None
    class_names: tuple[str, ...] | None


def _memory_base(split: str, source: str, arrays: list[tuple[np.ndarray, np.ndarray]],
                 class_names, data_key) -> _Base:
    parts = [images for images, _ in arrays]
    labels = np.concatenate([labels for _, labels in arrays]) if len(arrays) > 1 else arrays[0][1]
    return _Base(split, source, _ArrayStore(parts, data_key), sum(len(p) for p in parts), labels, class_names)


# ----------------------------------------------------------------------------------------
# Keras datasets (fashion_mnist, mnist)
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _KerasDataset:
    name: str
    cache_subdir: str  # under the Keras home, as in keras/src/datasets/<name>.py
    files: tuple[str, ...]  # in the order load_data() fetches them
    class_names: tuple[str, ...]
    origin: str = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


_KERAS_DATASETS = {
    "fashion_mnist": _KerasDataset(
        "fashion_mnist", "datasets/fashion-mnist",
        ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"),
        FASHION_MNIST_CLASSES),
    "mnist": _KerasDataset("mnist", "datasets", ("mnist.npz",), MNIST_CLASSES),
}


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


def _open_keras(spec: DatasetSpec, split: str) -> _Base:
    info = _KERAS_DATASETS[spec.kind]
    arrays, folder, downloaded, data_key = _load_keras(info)
    splits = ("train", "test") if split == "all" else (split,)
    if info.name == "fashion_mnist":
        names = [f"{IDX_FILE_STEMS[s][0]}.gz + {IDX_FILE_STEMS[s][1]}.gz" for s in splits]
        files = " and ".join(names)
    else:
        files = f"mnist.npz ({' and '.join(splits)})"
    how = "downloaded now from" if downloaded else "cached; origin"
    source = (f"keras.datasets.{info.name}.load_data(): {files} in Keras cache {folder} "
              f"({how} {info.origin})")
    return _memory_base(split, source, [arrays[s] for s in splits], info.class_names, data_key)


def _load_keras(info: _KerasDataset):
    """{split: (images, labels)} via Keras, memoised per process by the cached files' identity."""
    home = _keras_home(create=True)
    folder = home / info.cache_subdir
    paths = [folder / name for name in info.files]
    with _LOAD_LOCK:
        key = _files_key(paths)
        if key is not None and (hit := _ARRAYS.get(key)) is not None:
            return hit, folder, False, key
        downloaded = key is None
        loaded = _call_keras_load_data(info, home, folder, paths)
        arrays = _check_keras_arrays(info, paths, loaded)
        key = _files_key(paths)
        _ARRAYS.put(key, arrays)
        return arrays, folder, downloaded, key


def _call_keras_load_data(info: _KerasDataset, home: Path, folder: Path, paths: list[Path]):
    module = _import_keras_dataset(info.name)
    attempts = len(DOWNLOAD_RETRY_DELAYS) + 1
    last_error: BaseException | None = None
    for attempt in range(attempts):
        try:
            with _keras_home_set_to(home):
                return module.load_data()
        except Exception as error:  # noqa: BLE001 - classified just below
            missing = [path for path in paths if not path.is_file()]
            if not missing:  # every file is there, so reading one of them failed
                raise _corrupt_cache_error(info, paths, error) from None
            last_error = error
            if attempt + 1 < attempts:
                time.sleep(DOWNLOAD_RETRY_DELAYS[attempt])
    missing_name = missing[0].name
    url = info.origin + missing_name
    files = ", ".join(info.files)
    raise DatasetError(
        f"{info.name}: cannot download {missing_name} from {url} ({attempts} attempts; last error: "
        f"{' '.join(str(last_error).split())}) and it is not in the Keras cache folder {folder}. "
        f"Ways out: read a local copy with the spec idx:PATH (a folder with the IDX files), "
        f"or copy {files} into {folder} (Keras then finds them without network)."
    )


def _import_keras_dataset(name: str):
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
def _keras_home_set_to(home: Path):
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
        if path.name.endswith(".npz"):
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


def _check_keras_arrays(info: _KerasDataset, paths: list[Path], loaded) -> dict:
    """Check what load_data() returned against the files' own headers (Keras does not)."""
    (x_train, y_train), (x_test, y_test) = loaded
    arrays = {"train": (x_train, y_train), "test": (x_test, y_test)}
    by_name = {path.name: path for path in paths}
    checked = {}
    for split, (images, labels) in arrays.items():
        images, labels = np.asarray(images), np.asarray(labels)
        if info.name == "fashion_mnist":
            images_path = by_name[f"{IDX_FILE_STEMS[split][0]}.gz"]
            labels_path = by_name[f"{IDX_FILE_STEMS[split][1]}.gz"]
            for path, magic, shape in ((images_path, IMAGES_MAGIC, images.shape),
                                       (labels_path, LABELS_MAGIC, labels.shape)):
                problem = _header_problem(path, magic, shape)
                if problem:
                    raise DatasetError(f"{info.name}: corrupt file in the Keras cache: {problem}. Delete "
                                       f"it so that Keras downloads it again (rm '{path}'), or replace "
                                       f"it with a good copy.")
        where = by_name.get("mnist.npz", paths[0].parent)
        if images.dtype != np.uint8 or images.ndim != 3 or labels.shape != (len(images),):
            raise DatasetError(f"{info.name}: unexpected arrays from the Keras cache ({where}): {split} "
                               f"images {images.dtype} {images.shape}, labels {labels.shape}. Delete "
                               f"the file(s) so that Keras downloads them again.")
        checked[split] = (_frozen(images), _frozen_labels(labels, info.class_names, where))
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


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.flags.writeable = False
    return array


def _frozen_labels(labels: np.ndarray, class_names, where) -> np.ndarray:
    if class_names is not None and labels.size and int(labels.max()) >= len(class_names):
        raise DatasetError(f"{where}: label {int(labels.max())} is out of range for "
                           f"{len(class_names)} classes")
    return _frozen(labels.astype(np.int64))


# ----------------------------------------------------------------------------------------
# IDX folders
# ----------------------------------------------------------------------------------------


def _open_idx(spec: DatasetSpec, split: str) -> _Base:
    folder = _existing_folder(spec)
    splits = ("train", "test") if split == "all" else (split,)
    arrays, keys, described = [], [], []
    for name in splits:
        images_path, labels_path = (_find_idx_file(folder, stem) for stem in IDX_FILE_STEMS[name])
        if images_path is None or labels_path is None:
            available = [s for s, stems in IDX_FILE_STEMS.items()
                         if all(_find_idx_file(folder, stem) for stem in stems)]
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
    return _memory_base(split, source, arrays, None, data_key)


def _find_idx_file(folder: Path, stem: str) -> Path | None:
    # The raw file wins over the .gz when both are there (no decompression).
    for name in (stem, f"{stem}.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _load_idx_pair(images_path: Path, labels_path: Path):
    """((images, labels), key of the two files), memoised per process."""
    with _LOAD_LOCK:
        key = _files_key([images_path, labels_path])
        if (hit := _ARRAYS.get(key)) is not None:
            return hit, key
        try:
            images = read_idx_images(images_path)
            labels = read_idx_labels(labels_path)
        except IdxFormatError as error:
            raise DatasetError(f"invalid IDX file {error}") from None
        if len(labels) != len(images):
            raise DatasetError(f"IDX files do not match: {labels_path} has {len(labels)} labels but "
                               f"{images_path} has {len(images)} images")
        pair = (images, _frozen(labels.astype(np.int64)))
        _ARRAYS.put(key, pair)
        return pair, key


# ----------------------------------------------------------------------------------------
# Image folders
# ----------------------------------------------------------------------------------------


def _open_image_folder(spec: DatasetSpec, split: str) -> _Base:
    root = _existing_folder(spec)
    split_roots = _split_folders(root)
    if split_roots:
        wanted = ("train", "test") if split == "all" else (split,)
        missing = [name for name in wanted if name not in split_roots]
        if missing:
            raise ValueError(f"split={split!r}: {spec} has no {missing[0]}/ folder "
                             f"(it has: {', '.join(sorted(split_roots))})")
        scanned = {name: _scan_images(folder) for name, folder in split_roots.items()}
        effective_split = split
    else:  # no train/test subfolders: one split, whatever was asked
        scanned = {"all": _scan_images(root)}
        wanted = ("all",)
        effective_split = "all"
    files = [entry for name in wanted for entry in scanned[name]]
    if not files:
        ignored = sum(1 for path in root.rglob("*") if path.is_file())
        raise ValueError(f"{spec}: no PNG/JPEG/BMP image in {root} (searched recursively; "
                         f"{ignored} other file(s) ignored)")
    every = [parts for entries in scanned.values() for parts, _ in entries]
    labelled = all(len(parts) >= 2 for parts in every)
    labels = class_names = None
    if labelled:  # class = first folder under the (split) root, for train and test alike
        class_names = _sorted_class_names({parts[0] for parts in every})
        index = {name: i for i, name in enumerate(class_names)}
        labels = _frozen(np.array([index[parts[0]] for parts, _ in files], dtype=np.int64))
    layout = f"{'/'.join(wanted)}/ of " if split_roots else ""
    classes_text = (f"labels from {len(class_names)} class folders: {', '.join(class_names)}"
                    if labelled else "no labels (not every image is in a class folder)")
    source = f"{len(files)} image files under {layout}{root} (decoded to grayscale; {classes_text})"
    store = _FileStore([path for _, path in files], root)
    return _Base(effective_split, source, store, len(files), labels, class_names)


def _split_folders(root: Path) -> dict[str, Path]:
    """{'train': ..., 'test': ...} when the root's only contents are train/ and/or test/ folders."""
    entries = [entry for entry in root.iterdir() if not entry.name.startswith(".")]
    if entries and all(entry.is_dir() and entry.name in ("train", "test") for entry in entries):
        return {entry.name: entry for entry in entries}
    return {}


def _scan_images(root: Path) -> list[tuple[tuple[str, ...], Path]]:
    """(relative path parts, path) of image files below root, sorted by path; hidden ones skipped."""
    found = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        for name in names:
            if not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES):
                path = Path(folder) / name
                found.append((path.relative_to(root).parts, path))
    found.sort(key=lambda entry: entry[0])
    return found


def _sorted_class_names(names: set[str]) -> tuple[str, ...]:
    # Folders named 0, 1, ..., 10 sort as numbers, so that label == digit for MNIST-style dumps.
    if all(name.isdigit() for name in names):
        return tuple(sorted(names, key=int))
    return tuple(sorted(names))


def _image_size(path: Path) -> tuple[tuple[int, int], tuple]:
    """((height, width), file identity) from the file header, memoised by the file's identity."""
    stat_key = _file_identity(path)
    if stat_key is None:
        raise DatasetError(f"cannot read image {path}: it disappeared or cannot be opened")
    size = _IMAGE_SIZES.get(stat_key)
    if size is None:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as image:
                width, height = image.size
        except (OSError, UnidentifiedImageError, ValueError) as error:
            raise DatasetError(f"cannot read image {path}: {' '.join(str(error).split())}") from None
        size = (height, width)
        _IMAGE_SIZES.put(stat_key, size)
    return size, stat_key


def _decode_gray(path: Path, height: int, width: int) -> np.ndarray:
    import cv2

    # Pixels as stored (EXIF orientation ignored), so they match the header size read above.
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise DatasetError(f"cannot read image {path}: OpenCV could not decode it")
    if image.shape != (height, width):
        raise DatasetError(f"cannot read image {path}: decoded {image.shape[0]}x{image.shape[1]}, "
                           f"but its header says {height}x{width}")
    return image


# ----------------------------------------------------------------------------------------
# matplotlib's sample photographs
# ----------------------------------------------------------------------------------------


def _open_sample(spec: DatasetSpec, split: str) -> _Base:
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "sample_data"
    paths = [path for _, path in _scan_images(folder)] if folder.is_dir() else []
    if not paths:
        raise DatasetError(f"sample: no image in matplotlib's sample_data folder {folder}; "
                           f"use images:PATH with a folder of your own images")
    # The photograph first: its size is the one every other image is brought to.
    paths.sort(key=lambda path: (path.name != SAMPLE_REFERENCE, path.name))
    with _LOAD_LOCK:
        key = _files_key(paths)
        hit = _ARRAYS.get(key)
        if hit is None:
            hit = _read_sample(paths)
            _ARRAYS.put(key, hit)
    images, notes = hit
    source = (f"matplotlib sample_data {folder}: {'; '.join(notes)} "
              f"(decoded to grayscale; no labels)")
    return _Base("all", source, _ArrayStore([images], key), len(images), None, None)


def _read_sample(paths: list[Path]) -> tuple[np.ndarray, list[str]]:
    import cv2

    first = cv2.imread(str(paths[0]), cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION)
    if first is None:
        raise DatasetError(f"sample: cannot read image {paths[0]}")
    height, width = first.shape
    images = [first]
    notes = [f"{paths[0].name} {height}x{width}"]
    for path in paths[1:]:
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION)
        if image is None:
            raise DatasetError(f"sample: cannot read image {path}")
        original = image.shape
        if original != (height, width):
            image = _center_crop_to_aspect(image, height, width)
            cropped = image.shape
            image = _resize(image, height, width)
            notes.append(f"{path.name} {original[0]}x{original[1]} center-cropped to "
                         f"{cropped[0]}x{cropped[1]} and resized to {height}x{width}")
        else:
            notes.append(f"{path.name} {height}x{width}")
        images.append(image)
    return _frozen(np.stack(images)), notes


def _center_crop_to_aspect(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Largest centred crop of ``image`` (h, w) with the aspect ratio ``height / width``."""
    h, w = image.shape
    if h * width > w * height:  # too tall
        new_h = max(1, round(w * height / width))
        top = (h - new_h) // 2
        return image[top:top + new_h]
    new_w = max(1, round(h * width / height))
    left = (w - new_w) // 2
    return image[:, left:left + new_w]


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """cv2.resize with (height, width); INTER_AREA to shrink, INTER_LINEAR to enlarge."""
    import cv2

    shrinking = height <= image.shape[0] and width <= image.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation)  # OpenCV: (width, height)


# ----------------------------------------------------------------------------------------
# Helpers and per-process memo
# ----------------------------------------------------------------------------------------


def _existing_folder(spec: DatasetSpec) -> Path:
    folder = spec.path
    if not folder.exists():
        raise ValueError(f"spec: folder {folder} of {spec.kind}:{folder} does not exist")
    if not folder.is_dir():
        raise ValueError(f"spec: {folder} of {spec.kind}:{folder} is a file, not a folder")
    return folder


def _files_key(paths: list[Path]) -> tuple | None:
    """Identity of files (see :func:`_file_identity`), or None when one is missing."""
    key = []
    for path in paths:
        identity = _file_identity(path)
        if identity is None:
            return None
        key.append(identity)
    return tuple(key)


# A file modified less than this long ago also gets its content hashed into its identity.
_RACY_SECONDS = 2.0


def _file_identity(path: Path) -> tuple | None:
    """(path, size, mtime, inode[, content hash]) of a file, or None when it is missing.

    File timestamps tick coarsely (milliseconds), so a file rewritten right after it was
    read can keep its size, mtime and even inode.  As git does for "racily clean" files,
    a recently modified file is identified by its content as well.
    """
    try:
        stat = path.stat()
        identity = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)
        if time.time_ns() - stat.st_mtime_ns < _RACY_SECONDS * 1e9:
            identity += (hashlib.sha256(path.read_bytes()).hexdigest(),)
    except OSError:
        return None
    return identity


def _check_int(name: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name}={value}: must be at least {minimum}")


class _Memo:
    """A small thread-safe LRU dictionary."""

    def __init__(self, maxsize: int):
        self._items: OrderedDict = OrderedDict()
        self._maxsize = maxsize
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._maxsize:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_LOAD_LOCK = threading.RLock()
_ARRAYS = _Memo(8)  # loaded splits: a few datasets of ~50 MB each
_FINGERPRINTS = _Memo(1024)
_IMAGE_SIZES = _Memo(1_000_000)
