"""libpng's own messages kept off the terminal while OpenCV decodes.

libpng prints ``libpng error: Not enough image data`` (and ``libpng warning: ...``) straight to
the process's file descriptor 2, beside the one line the CLI prints for the same broken file.
:func:`libpng_quiet` points fd 2 at a pipe while images are decoded; a thread forwards every
other byte to the real stderr at once (progress lines, other threads' messages) and drops
libpng's lines.  Nested and concurrent uses share one pipe: the first one in installs it, the
last one out restores fd 2 (after everything written was forwarded).
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# libpng's message, wherever it lands (another writer's half line may be before it).
_NOISE = re.compile(rb"libpng (?:error|warning): [^\n]*\n")
_START = b"libpng"
_lock = threading.Lock()
_users = 0
_saved_fd: int | None = None
_forwarder: threading.Thread | None = None


def _clean(buffer: bytes) -> tuple[bytes, bytes]:
    """(what to write now, what to hold): libpng's messages removed, a message not yet ended held back."""
    buffer = _NOISE.sub(b"", buffer)
    start = buffer.rfind(_START)
    if start != -1 and b"\n" not in buffer[start:]:
        return buffer[:start], buffer[start:]
    for size in range(min(len(buffer), len(_START) - 1), 0, -1):
        if buffer.endswith(_START[:size]):
            return buffer[:-size], buffer[-size:]
    return buffer, b""


def _forward(read_fd: int, out_fd: int) -> None:
    pending = b""
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65536):
            kept, pending = _clean(pending + chunk)
            if kept:
                os.write(out_fd, kept)
    if pending:
        os.write(out_fd, pending)


def _install() -> None:
    global _saved_fd, _forwarder
    sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    _saved_fd = os.dup(2)
    os.dup2(write_fd, 2)
    os.close(write_fd)
    _forwarder = threading.Thread(target=_forward, args=(read_fd, _saved_fd), name="libpng-quiet", daemon=True)
    _forwarder.start()


def _restore() -> None:
    global _saved_fd, _forwarder
    sys.stderr.flush()
    assert _saved_fd is not None and _forwarder is not None
    os.dup2(_saved_fd, 2)  # closes the pipe's last write end: the forwarder reads to the end and stops
    _forwarder.join(timeout=10.0)
    if not _forwarder.is_alive():
        os.close(_saved_fd)
    # else a child process started meanwhile holds the pipe: the forwarder serves it until it exits.
    _saved_fd, _forwarder = None, None


@contextmanager
def libpng_quiet() -> Iterator[None]:
    """While inside, libpng's lines on fd 2 are dropped; everything else reaches stderr as before."""
    global _users
    try:
        os.fstat(2)
    except OSError:  # no stderr at all: nothing to keep quiet
        yield
        return
    with _lock:
        if _users == 0:
            _install()
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                _restore()
