"""Views of a selection and the stores their pixels come from.

:class:`DatasetView` is an opened selection (pixels read on demand, fingerprint streamed
block by block); :class:`Dataset` is a selection read into memory.  A store holds one
split: :class:`ArrayStore` in memory (Keras datasets, IDX folders, the sample), the image
folder's store on disk (``convsweep.tasks.datasets.image_folder``).  Every store has
``describe(positions, what) -> (height, width, data key)``, ``read(positions, height,
width) -> images`` and ``blocks(positions, height, width)`` (the selection's pixels in C
order, a bounded block at a time).  Colour stores (``channels == 3``) give images of shape
(n, height, width, 3), RGB, channels last; grey ones (``channels == 1``) (n, height, width).
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt

from convsweep.tasks.datasets.fingerprints import fingerprint, start_fingerprint
from convsweep.tasks.datasets.memo import FINGERPRINTS
from convsweep.tasks.datasets.selection import check_int, iter_chunks

# Pixels hashed or decoded per block when streaming a selection (bounded memory).
STREAM_BLOCK_BYTES = 32 * 1024 * 1024


def block_ranges(n: int, height: int, width: int, channels: int = 1) -> Iterator[tuple[int, int]]:
    """``(lo, hi)`` ranges of ``range(n)`` holding at most :data:`STREAM_BLOCK_BYTES` bytes (at least one image)."""
    block = max(1, STREAM_BLOCK_BYTES // (height * width * channels))
    for lo in range(0, n, block):
        yield lo, min(lo + block, n)


# Positions within a split: a range, or an int64 array of them.
Positions: TypeAlias = range | npt.NDArray[np.int64]
_S = TypeVar("_S", bound=np.generic)


class PixelStore(Protocol):
    """Where a split's pixels are: in memory (:class:`ArrayStore`) or in files (``FileStore``)."""

    channels: int  # 1: grey (n, h, w); 3: RGB (n, h, w, 3)

    def describe(self, positions: Positions, what: str) -> tuple[int, int, Hashable]:
        """(height, width, data key) of the selected images."""
        ...

    def read(self, positions: Positions, height: int, width: int) -> npt.NDArray[np.uint8]: ...

    def blocks(self, positions: Positions, height: int, width: int) -> Iterator[npt.NDArray[np.uint8]]: ...


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

    def __init__(
        self,
        *,
        spec: str,
        split: str,
        source: str,
        store: PixelStore,
        positions: Positions,
        labels: npt.NDArray[np.int64] | None,
        class_names: tuple[str, ...] | None,
        height: int,
        width: int,
        data_key: Hashable,
    ) -> None:
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
        self.channels = store.channels
        if isinstance(positions, range):
            selection_key: tuple[str | int, ...] = ("range", positions.start, positions.stop)
        else:
            selection_key = ("positions", hashlib.sha256(positions.tobytes()).hexdigest())
        labels_key = None if labels is None else hashlib.sha256(labels.tobytes()).hexdigest()
        self._fingerprint_key = (data_key, split, selection_key, labels_key)

    @property
    def shape(self) -> tuple[int, ...]:
        """(n, height, width), and 3 last for colour."""
        return (self.n, self.height, self.width) + ((self.channels,) if self.channels != 1 else ())

    @property
    def indices(self) -> np.ndarray:
        return np.asarray(self._positions, dtype=np.int64)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Images ``start:stop`` of the selection.

        Returns
        -------
        images : ndarray, shape (stop - start, height, width), uint8, a new writable array
        """
        check_int("start", start, minimum=0)
        check_int("stop", stop, minimum=0)
        if not start <= stop <= self.n:
            raise ValueError(
                f"start={start}, stop={stop}: out of range for a selection of {self.n} images "
                f"(need 0 <= start <= stop <= {self.n})"
            )
        return self._store.read(self._positions[start:stop], self.height, self.width)

    def iter_chunks(self, chunk_size: int) -> Iterator[tuple[int, int, np.ndarray]]:
        """``(start, stop, images)`` for consecutive chunks of at most ``chunk_size`` images."""
        for start, stop in iter_chunks(self.n, chunk_size):
            yield start, stop, self.read(start, stop)

    @cached_property
    def fingerprint(self) -> str:
        """:func:`fingerprint` of the selection, streamed block by block, memoised per process."""
        cached = FINGERPRINTS.get(self._fingerprint_key)
        if cached is not None:
            return cached
        hasher = start_fingerprint(self.shape, self.labels)
        for block in self._store.blocks(self._positions, self.height, self.width):
            hasher.update(block.data)
        digest = hasher.hexdigest()
        FINGERPRINTS.put(self._fingerprint_key, digest)
        return digest

    def _remember_fingerprint(self, images: np.ndarray) -> str:
        """Fingerprint from pixels already read in full (saves a second pass over a folder)."""
        if "fingerprint" not in self.__dict__ and FINGERPRINTS.get(self._fingerprint_key) is None:
            digest = fingerprint(images, self.labels)
            FINGERPRINTS.put(self._fingerprint_key, digest)
            self.__dict__["fingerprint"] = digest
        return self.fingerprint

    def __repr__(self) -> str:
        return (
            f"DatasetView(spec={self.spec!r}, split={self.split!r}, n={self.n}, "
            f"height={self.height}, width={self.width}, channels={self.channels}, source={self.source!r})"
        )


@dataclass(frozen=True, eq=False)
class Dataset:
    """A selection read into memory.

    Attributes
    ----------
    images : ndarray, shape (n, height, width) (grey) or (n, height, width, 3) (RGB), uint8
    labels : ndarray, shape (n,), int64, or None
    class_names : names indexed by label, or None
    spec, split, source, fingerprint : as in :class:`DatasetView`
    """

    images: npt.NDArray[np.uint8]
    labels: npt.NDArray[np.int64] | None
    class_names: tuple[str, ...] | None
    spec: str
    split: str
    source: str
    fingerprint: str

    @property
    def n(self) -> int:
        return int(self.images.shape[0])

    @property
    def height(self) -> int:
        return int(self.images.shape[1])

    @property
    def width(self) -> int:
        return int(self.images.shape[2])

    @property
    def channels(self) -> int:
        return int(self.images.shape[3]) if self.images.ndim == 4 else 1


class ArrayStore:
    """A split held in memory as one or more read-only uint8 arrays (train, test for ``all``).

    Parts of shape (n, h, w) are grey, (n, h, w, 3) colour.
    """

    def __init__(self, parts: list[npt.NDArray[np.uint8]], data_key: Hashable) -> None:
        self._parts = parts
        self.channels = int(parts[0].shape[3]) if parts[0].ndim == 4 else 1
        self._offsets = np.cumsum([0] + [len(part) for part in parts])
        self._data_key = data_key

    def describe(self, positions: Positions, what: str) -> tuple[int, int, Hashable]:
        height, width = self._parts[0].shape[1:3]
        return height, width, self._data_key

    def _pieces(
        self, positions: Positions
    ) -> Iterator[tuple[npt.NDArray[np.uint8], slice | npt.NDArray[np.int64], slice | npt.NDArray[np.bool_]]]:
        """(part, positions within it, positions within the output) for each part touched."""
        if isinstance(positions, range):
            for part, offset in zip(self._parts, self._offsets, strict=False):
                lo = max(positions.start - offset, 0)
                hi = min(positions.stop - offset, len(part))
                if lo < hi:
                    yield part, slice(lo, hi), slice(offset + lo - positions.start, offset + hi - positions.start)
        else:
            for part, offset in zip(self._parts, self._offsets, strict=False):
                inside = (positions >= offset) & (positions < offset + len(part))
                if inside.any():
                    yield part, positions[inside] - offset, inside

    def read(self, positions: Positions, height: int, width: int) -> npt.NDArray[np.uint8]:
        out = np.empty((len(positions), *self._parts[0].shape[1:]), dtype=np.uint8)
        for part, source, target in self._pieces(positions):
            out[target] = part[source]
        return out

    def blocks(self, positions: Positions, height: int, width: int) -> Iterator[npt.NDArray[np.uint8]]:
        if isinstance(positions, range):  # zero-copy views
            for part, source, _ in self._pieces(positions):
                yield part[source]
            return
        for lo, hi in block_ranges(len(positions), height, width, self.channels):
            yield self.read(positions[lo:hi], height, width)


class BroadcastStore:
    """A grey store read as colour: each grey image as three equal channels (R = G = B)."""

    channels = 3

    def __init__(self, grey: PixelStore) -> None:
        self._grey = grey

    def describe(self, positions: Positions, what: str) -> tuple[int, int, Hashable]:
        height, width, key = self._grey.describe(positions, what)
        return height, width, ("grey as RGB", key)

    def read(self, positions: Positions, height: int, width: int) -> npt.NDArray[np.uint8]:
        grey = self._grey.read(positions, height, width)
        return np.repeat(grey[..., np.newaxis], 3, axis=-1)

    def blocks(self, positions: Positions, height: int, width: int) -> Iterator[npt.NDArray[np.uint8]]:
        for lo, hi in block_ranges(len(positions), height, width, 3):
            yield self.read(positions[lo:hi], height, width)


@dataclass(frozen=True)
class SplitData:
    """One split before selection: where its pixels are (``store``), its size and labels."""

    split: str
    source: str
    store: PixelStore
    n: int
    labels: npt.NDArray[np.int64] | None
    class_names: tuple[str, ...] | None


def memory_split(
    split: str,
    source: str,
    arrays: list[tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]],
    class_names: tuple[str, ...] | None,
    data_key: Hashable,
) -> SplitData:
    parts = [images for images, _ in arrays]
    labels = np.concatenate([labels for _, labels in arrays]) if len(arrays) > 1 else arrays[0][1]
    return SplitData(split, source, ArrayStore(parts, data_key), sum(len(p) for p in parts), labels, class_names)


def frozen(array: npt.NDArray[_S]) -> npt.NDArray[_S]:
    """A C-contiguous read-only version of ``array`` (the memo shares it between views)."""
    array = np.ascontiguousarray(array)
    array.flags.writeable = False
    return array


def class_list(labels: npt.ArrayLike, class_names: tuple[str, ...] | None) -> str:
    """The classes present in ``labels`` in words, for a refusal: ``'cat'``, ``'0, 3'``, ``'none'``."""
    present = [int(label) for label in np.unique(np.asarray(labels))]
    named = [class_names[label] if class_names and label < len(class_names) else str(label) for label in present]
    return ", ".join(named) or "none"
