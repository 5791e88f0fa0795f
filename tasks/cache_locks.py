"""File locks for cache keys that cannot outlive the process holding them.

Prefect's ``FileSystemLockManager`` creates a lock file empty and fills it
afterwards (a concurrent reader fails on the empty file), and a lock whose
holder was killed stays forever (``"expiration": null``).  ``HolderLockManager``
keeps Prefect's layout (``<locks>/<key>.lock`` holding JSON with ``holder`` and
``expiration``) and adds:

* **who holds it**: ``pid``, ``hostname`` and the process start time
  (``pid_start``, from ``/proc``, so a reused PID is not taken for the holder);
* **atomic creation**: the complete file is written under a temporary name and
  hard-linked to ``<key>.lock`` (``link`` fails if the lock exists), so no
  reader ever sees a half-written lock;
* **stale locks are broken**: a lock whose holder process on this host is gone
  (or whose expiration has passed) is removed with one warning line naming the
  file, and the waiter takes it.  Empty or unparsable lock files are treated as
  absent (and removed, with one warning).  Breaking happens under an ``flock``
  on ``<locks>/.guard`` after re-reading the file, so two waiters never remove
  a lock that a third has just taken.

Locks of another host are not checked for liveness (its PIDs mean nothing
here); they are broken only when their expiration has passed.  Holder strings
of Prefect's own manager (``host:pid:thread...``) are understood, so leftovers
of runs that used it are broken too.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import anyio
from prefect.locking.filesystem import FileSystemLockManager

from tasks.prefect_compat import lock_file_path
from tasks.processes import process_alive, process_start


def _cache_logger() -> logging.Logger:
    """``convsweep.cache``: one line per warning on stderr, whatever Prefect's console level (the CLI mutes it)."""
    log = logging.getLogger("convsweep.cache")
    if not log.handlers:
        handler = logging.StreamHandler()  # sys.stderr
        handler.setFormatter(logging.Formatter("convsweep: warning: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log


logger = _cache_logger()

_HOSTNAME = socket.gethostname()
_POLL_FIRST = 0.02
_POLL_MAX = 0.25


@dataclass(frozen=True)
class LockFile:
    """What one read of a lock file found: ``raw`` bytes and, if they parse, the lock's fields."""

    raw: bytes
    info: Optional[dict[str, Any]]  # None: empty or broken

    @property
    def holder(self) -> Optional[str]:
        return self.info["holder"] if self.info else None


def _parse(raw: bytes) -> Optional[dict[str, Any]]:
    try:
        info = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(info, dict) or not isinstance(info.get("holder"), str):
        return None
    return info


def _holder_pid_host(info: dict[str, Any]) -> tuple[Optional[int], Optional[str]]:
    """(pid, hostname) from our fields, else from Prefect's ``host:pid:thread...`` holder string."""
    pid, host = info.get("pid"), info.get("hostname")
    if isinstance(pid, int) and isinstance(host, str):
        return pid, host
    parts = info["holder"].split(":")
    if len(parts) >= 3 and parts[1].isdigit():
        return int(parts[1]), parts[0]
    return None, None


def _expiration(info: dict[str, Any]) -> Optional[_dt.datetime]:
    value = info.get("expiration")
    if not isinstance(value, str):
        return None
    try:
        parsed = _dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=_dt.UTC)


def stale_reason(info: dict[str, Any]) -> Optional[str]:
    """Why the lock ``info`` is stale (its holder is gone, it expired), or None if it is live."""
    expiration = _expiration(info)
    if expiration is not None and expiration < _dt.datetime.now(_dt.UTC):
        return f"it expired at {expiration.isoformat()}"
    pid, host = _holder_pid_host(info)
    if pid is None or host != _HOSTNAME:
        return None
    start = info.get("pid_start") if isinstance(info.get("pid_start"), str) else None
    if not process_alive(pid, start):
        return f"its holder, process {pid} on {host}, is gone"
    return None


class HolderLockManager(FileSystemLockManager):
    """A ``LockManager`` (Prefect's protocol) whose lock files name their holder process.

    Same constructor and file names as ``FileSystemLockManager``; every method
    reads the lock file afresh (no in-memory cache), so it is safe across
    threads and processes.  ``acquire_timeout=0`` tries once without waiting.
    """

    def __init__(self, lock_files_directory: Path) -> None:
        super().__init__(Path(lock_files_directory))

    # -- files -------------------------------------------------------------

    def _lock_path_for_key(self, key: str) -> Path:
        # Overrides Prefect's (which consults its in-memory ``_locks``); same layout: tasks.prefect_compat.
        return lock_file_path(self.lock_files_directory, key)

    def _read(self, path: Path) -> Optional[LockFile]:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        return LockFile(raw, _parse(raw))

    def _content(self, holder: str, hold_timeout: Optional[float]) -> bytes:
        expiration = (
            (_dt.datetime.now(_dt.UTC) + _dt.timedelta(seconds=hold_timeout)).isoformat()
            if hold_timeout is not None
            else None
        )
        pid = os.getpid()
        return json.dumps(
            {
                "holder": holder,
                "expiration": expiration,
                "pid": pid,
                "hostname": _HOSTNAME,
                "pid_start": process_start(pid),
                "created": _dt.datetime.now(_dt.UTC).isoformat(),
            }
        ).encode()

    def _try_create(self, path: Path, content: bytes) -> bool:
        """Create ``path`` holding ``content`` in one step; False if it exists."""
        self.lock_files_directory.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.{uuid.uuid4().hex}.tmp")
        try:
            with open(temp, "xb") as handle:
                handle.write(content)
            os.link(temp, path)
            return True
        except FileExistsError:
            return False
        finally:
            temp.unlink(missing_ok=True)

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Process- and thread-wide mutual exclusion for breaking locks (released by the kernel on death)."""
        self.lock_files_directory.mkdir(parents=True, exist_ok=True)
        with open(self.lock_files_directory / ".guard", "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _break(self, path: Path, seen: LockFile, reason: str) -> None:
        """Remove ``path`` if it still holds what was ``seen``; log one warning when this call removed it."""
        with self._guard():
            current = self._read(path)
            if current is None or current.raw != seen.raw:
                return  # released, or taken afresh since
            path.unlink(missing_ok=True)
        holder = f" (holder {seen.holder})" if seen.holder else ""
        logger.warning("cache: removed lock file %s%s: %s", path, holder, reason)

    def _current(self, key: str) -> Optional[LockFile]:
        """The live lock of ``key``, after breaking a stale, empty or broken one; None if unlocked."""
        path = self._lock_path_for_key(key)
        while True:
            found = self._read(path)
            if found is None:
                return None
            if found.info is None:
                what = "empty" if not found.raw.strip() else "not a lock record (unparsable)"
                self._break(path, found, f"the file is {what}; treated as absent")
                continue
            reason = stale_reason(found.info)
            if reason is None:
                return found
            self._break(path, found, f"stale lock, {reason}")

    def _attempt(self, key: str, holder: str, content: bytes) -> bool:
        """One try: True if ``holder`` now holds ``key``."""
        path = self._lock_path_for_key(key)
        while True:
            if self._try_create(path, content):
                return True
            current = self._current(key)
            if current is None:
                continue  # released or broken just now: try again at once
            return current.holder == holder  # re-entrant for the same holder

    # -- LockManager protocol ---------------------------------------------

    def acquire_lock(
        self, key: str, holder: str, acquire_timeout: Optional[float] = None, hold_timeout: Optional[float] = None
    ) -> bool:
        content = self._content(holder, hold_timeout)
        deadline = None if acquire_timeout is None else time.monotonic() + acquire_timeout
        delay = _POLL_FIRST
        while not self._attempt(key, holder, content):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 1.5, _POLL_MAX)
        return True

    async def aacquire_lock(
        self, key: str, holder: str, acquire_timeout: Optional[float] = None, hold_timeout: Optional[float] = None
    ) -> bool:
        content = self._content(holder, hold_timeout)
        deadline = None if acquire_timeout is None else time.monotonic() + acquire_timeout
        delay = _POLL_FIRST
        while not self._attempt(key, holder, content):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await anyio.sleep(delay)
            delay = min(delay * 1.5, _POLL_MAX)
        return True

    def release_lock(self, key: str, holder: str) -> None:
        current = self._current(key)
        if current is None:
            logger.debug("cache: lock %s was already gone at release", key)
            return
        if current.holder != holder:
            raise ValueError(f"No lock held by {holder} for transaction with key {key}")
        self._lock_path_for_key(key).unlink(missing_ok=True)

    def is_locked(self, key: str, use_cache: bool = False) -> bool:
        return self._current(key) is not None

    def is_lock_holder(self, key: str, holder: str) -> bool:
        current = self._current(key)
        return current is not None and current.holder == holder

    def wait_for_lock(self, key: str, timeout: Optional[float] = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = _POLL_FIRST
        while self.is_locked(key):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 1.5, _POLL_MAX)
        return True

    async def await_for_lock(self, key: str, timeout: Optional[float] = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = _POLL_FIRST
        while self.is_locked(key):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await anyio.sleep(delay)
            delay = min(delay * 1.5, _POLL_MAX)
        return True
