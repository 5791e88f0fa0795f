"""The per-process memo: loaded splits, image sizes and fingerprints, keyed by file identity.

A worker that opens the same data twice reads it once; a file that changes gets a new
identity (:func:`file_identity`), so a stale entry is never used.  :func:`clear_caches`
forgets everything.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from pathlib import Path
from typing import Any, Generic, TypeAlias, TypeVar

_V = TypeVar("_V")

# (path, size, mtime_ns, inode), plus the content hash for a racily modified file.
FileIdentity: TypeAlias = tuple[str, int, int, int] | tuple[str, int, int, int, str]
FilesKey: TypeAlias = tuple[FileIdentity, ...]


class _Memo(Generic[_V]):
    """A small thread-safe LRU dictionary."""

    def __init__(self, maxsize: int) -> None:
        self._items: OrderedDict[Hashable, _V] = OrderedDict()
        self._maxsize = maxsize
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> _V | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key: Hashable, value: _V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._maxsize:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


LOAD_LOCK = threading.RLock()  # one source loads (and fills ARRAYS) at a time
# Loaded splits, a few datasets of ~50 MB each; each source stores its own shape of value
# (arrays and notes, an images/labels pair, a dict of splits), so the value is Any here.
ARRAYS: _Memo[Any] = _Memo(8)
FINGERPRINTS: _Memo[str] = _Memo(1024)
IMAGE_SIZES: _Memo[tuple[int, int]] = _Memo(1_000_000)


def clear_caches() -> None:
    """Forget the per-process memo of loaded arrays, image sizes and fingerprints."""
    ARRAYS.clear()
    FINGERPRINTS.clear()
    IMAGE_SIZES.clear()


def files_key(paths: list[Path]) -> FilesKey | None:
    """Identity of files (see :func:`file_identity`), or None when one is missing."""
    key = []
    for path in paths:
        identity = file_identity(path)
        if identity is None:
            return None
        key.append(identity)
    return tuple(key)


# A file modified less than this long ago also gets its content hashed into its identity.
_RACY_SECONDS = 2.0


def file_identity(path: Path) -> FileIdentity | None:
    """(path, size, mtime, inode[, content hash]) of a file, or None when it is missing.

    File timestamps tick coarsely (milliseconds), so a file rewritten right after it was
    read can keep its size, mtime and even inode.  As git does for "racily clean" files,
    a recently modified file is identified by its content as well.
    """
    try:
        stat = path.stat()
        base = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)
        identity: FileIdentity = base
        if time.time_ns() - stat.st_mtime_ns < _RACY_SECONDS * 1e9:
            identity = (*base, hashlib.sha256(path.read_bytes()).hexdigest())
    except OSError:
        return None
    return identity
