"""Freed large arrays go back to the OS at once: glibc's mmap threshold fixed, for images computed in bands.

glibc serves an allocation below its mmap threshold from a heap arena and keeps it when freed; the
threshold starts at 128 KB and rises (up to 32 MB) each time a larger mmapped block is freed. A
sweep of one 8000x8000 colour image allocates and frees bands of a few MB from two threads, and
the arenas kept ~330 MB of freed bands: peak RSS of the sweep process 1287 MB with the default
threshold, 957 MB with it fixed at 1 MB (``bench/bench_colour_memory.py``, docs/benchmarks.md).
Fixing it (``mallopt(M_MMAP_THRESHOLD, ...)``) also stops its rise; smaller allocations are
unchanged, so sweeps of small images (never in bands) do not call this and run as before.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

MMAP_THRESHOLD_BYTES = 1 << 20
_M_MMAP_THRESHOLD = -3  # glibc's malloc.h
_done: list[bool] = []
_lock = threading.Lock()


def return_large_frees() -> bool:
    """Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD_BYTES`, once per process; False where it cannot (not glibc)."""
    with _lock:
        if not _done:
            _done.append(_set_threshold())
        return _done[0]


def _set_threshold() -> bool:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to fix
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
