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

**Leases.**  A lock taken without Prefect's ``hold_timeout`` expires one
*lease* (:data:`LEASE_ENV`, default :data:`DEFAULT_LEASE` seconds) after it was
last renewed; a heartbeat thread of the holding process renews every lock it
holds each third of a lease (rewriting the file atomically under the guard).
A holder killed with ``kill -9``, or a whole host lost, stops renewing, so its
lock is broken within one lease *whatever host it came from* (the PIDs of
another host mean nothing here: only the expiration is checked for those).  A
lock of another host with no expiration at all (an older run's) is broken one
lease after its file was last written.  Holder strings of Prefect's own manager
(``host:pid:thread...``) are understood, so leftovers of runs that used it are
broken too.

**Bounded waits.**  Prefect waits for a lock without a timeout; here such a wait
lasts at most one lease plus the expected hold (:data:`EXPECTED_HOLD_ENV`,
default :data:`DEFAULT_EXPECTED_HOLD` seconds: how long computing one chunk may
take), then raises :class:`LockWaitTimeout` with one line naming the lock file
and its holder: a live holder that keeps renewing for longer than that is stuck.
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

# Seconds a lock lives after its last renewal; the holder renews it each third of a lease.
LEASE_ENV = "CONVSWEEP_LOCK_LEASE"
DEFAULT_LEASE = 120.0
# Seconds a holder may keep a lock (one chunk's computation): a waiter gives up after lease + this.
EXPECTED_HOLD_ENV = "CONVSWEEP_LOCK_EXPECTED_HOLD"
DEFAULT_EXPECTED_HOLD = 600.0


class LockWaitTimeout(TimeoutError):
    """A wait for a cache lock lasted longer than one lease plus the expected hold."""


def _seconds_from_env(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number of seconds") from None
    if not value > 0:
        raise ValueError(f"{name}={raw!r} must be a positive number of seconds")
    return value


def _positive(name: str, value: Optional[float], env: str, default: float) -> float:
    if value is None:
        return _seconds_from_env(env, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name}={value!r} must be a positive number of seconds")
    return float(value)


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


def stale_reason(info: dict[str, Any], *, lease: float = DEFAULT_LEASE, age: float = 0.0) -> Optional[str]:
    """Why the lock ``info`` is stale (its holder is gone, its lease expired), or None if it is live.

    ``age``: seconds since the lock file was last written; a lock of another host without an
    expiration (written by an older version, or by Prefect's manager) is stale after ``lease``.
    """
    expiration = _expiration(info)
    if expiration is not None and expiration < _dt.datetime.now(_dt.UTC):
        return f"its lease expired at {expiration.isoformat()} (not renewed: its holder is gone or stuck)"
    pid, host = _holder_pid_host(info)
    if host != _HOSTNAME:
        if expiration is None and age > lease:
            return f"it has no expiration and was written {age:.0f} s ago, more than one lease ({lease:g} s)"
        return None
    if pid is None:
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

    Parameters
    ----------
    lock_files_directory
        The ``locks`` folder of the cache.
    lease
        Seconds a lock lives after its last renewal (default: :data:`LEASE_ENV`, else
        :data:`DEFAULT_LEASE`).
    expected_hold
        Seconds a holder may hold a lock (default: :data:`EXPECTED_HOLD_ENV`, else
        :data:`DEFAULT_EXPECTED_HOLD`); a wait without a timeout gives up after
        ``lease + expected_hold`` with :class:`LockWaitTimeout`.
    """

    def __init__(
        self, lock_files_directory: Path, *, lease: Optional[float] = None, expected_hold: Optional[float] = None
    ) -> None:
        super().__init__(Path(lock_files_directory))
        self.lease = _positive("lease", lease, LEASE_ENV, DEFAULT_LEASE)
        self.expected_hold = _positive("expected_hold", expected_hold, EXPECTED_HOLD_ENV, DEFAULT_EXPECTED_HOLD)

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

    def _content(self, holder: str, hold_timeout: Optional[float], created: Optional[str] = None) -> bytes:
        """The lock file's bytes: expiring after ``hold_timeout`` if given, else after one lease."""
        now = _dt.datetime.now(_dt.UTC)
        seconds = hold_timeout if hold_timeout is not None else self.lease
        pid = os.getpid()
        return json.dumps(
            {
                "holder": holder,
                "expiration": (now + _dt.timedelta(seconds=seconds)).isoformat(),
                "lease": None if hold_timeout is not None else self.lease,
                "pid": pid,
                "hostname": _HOSTNAME,
                "pid_start": process_start(pid),
                "created": created or now.isoformat(),
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
            try:
                age = time.time() - path.stat().st_mtime
            except FileNotFoundError:
                continue  # released while we looked
            reason = stale_reason(found.info, lease=self.lease, age=age)
            if reason is None:
                return found
            self._break(path, found, f"stale lock, {reason}")

    def _attempt(self, key: str, holder: str, content: bytes, renewed: bool) -> bool:
        """One try: True if ``holder`` now holds ``key`` (a new lock with a lease is renewed by the heartbeat)."""
        path = self._lock_path_for_key(key)
        while True:
            if self._try_create(path, content):
                if renewed:
                    _HEARTBEAT.hold(self, path, content)
                return True
            current = self._current(key)
            if current is None:
                continue  # released or broken just now: try again at once
            return current.holder == holder  # re-entrant for the same holder

    # -- waiting -------------------------------------------------------------

    def _wait_bound(self, timeout: Optional[float]) -> tuple[Optional[float], bool]:
        """(deadline, raise at it): the caller's timeout, else one lease plus the expected hold."""
        if timeout is not None:
            return time.monotonic() + timeout, False
        return time.monotonic() + self.lease + self.expected_hold, True

    def _gave_up(self, key: str, began: float) -> LockWaitTimeout:
        current = self._current(key)
        path = self._lock_path_for_key(key)
        who = "its holder"
        if current is not None and current.info is not None:
            pid, host = _holder_pid_host(current.info)
            who = f"its holder {current.holder} (process {pid} on {host})"
        return LockWaitTimeout(
            f"cache: waited {time.monotonic() - began:.0f} s for the lock {path}, longer than one lease "
            f"({self.lease:g} s, {LEASE_ENV}) plus the expected hold ({self.expected_hold:g} s, "
            f"{EXPECTED_HOLD_ENV}); {who} keeps renewing it: it is stuck, or the expected hold is too short"
        )

    # -- LockManager protocol ---------------------------------------------

    def acquire_lock(
        self, key: str, holder: str, acquire_timeout: Optional[float] = None, hold_timeout: Optional[float] = None
    ) -> bool:
        content = self._content(holder, hold_timeout)
        began = time.monotonic()
        deadline, raise_at_deadline = self._wait_bound(acquire_timeout)
        delay = _POLL_FIRST
        while not self._attempt(key, holder, content, hold_timeout is None):
            if deadline is not None and time.monotonic() >= deadline:
                if raise_at_deadline:
                    raise self._gave_up(key, began)
                return False
            time.sleep(delay)
            delay = min(delay * 1.5, _POLL_MAX)
        return True

    async def aacquire_lock(
        self, key: str, holder: str, acquire_timeout: Optional[float] = None, hold_timeout: Optional[float] = None
    ) -> bool:
        content = self._content(holder, hold_timeout)
        began = time.monotonic()
        deadline, raise_at_deadline = self._wait_bound(acquire_timeout)
        delay = _POLL_FIRST
        while not self._attempt(key, holder, content, hold_timeout is None):
            if deadline is not None and time.monotonic() >= deadline:
                if raise_at_deadline:
                    raise self._gave_up(key, began)
                return False
            await anyio.sleep(delay)
            delay = min(delay * 1.5, _POLL_MAX)
        return True

    def release_lock(self, key: str, holder: str) -> None:
        path = self._lock_path_for_key(key)
        _HEARTBEAT.drop(path)
        current = self._current(key)
        if current is None:
            logger.debug("cache: lock %s was already gone at release", key)
            return
        if current.holder != holder:
            raise ValueError(f"No lock held by {holder} for transaction with key {key}")
        with self._guard():  # not between a heartbeat's read and its rewrite
            path.unlink(missing_ok=True)

    def is_locked(self, key: str, use_cache: bool = False) -> bool:
        return self._current(key) is not None

    def is_lock_holder(self, key: str, holder: str) -> bool:
        current = self._current(key)
        return current is not None and current.holder == holder

    def wait_for_lock(self, key: str, timeout: Optional[float] = None) -> bool:
        began = time.monotonic()
        deadline, raise_at_deadline = self._wait_bound(timeout)
        delay = _POLL_FIRST
        while self.is_locked(key):
            if deadline is not None and time.monotonic() >= deadline:
                if raise_at_deadline:
                    raise self._gave_up(key, began)
                return False
            time.sleep(delay)
            delay = min(delay * 1.5, _POLL_MAX)
        return True

    async def await_for_lock(self, key: str, timeout: Optional[float] = None) -> bool:
        began = time.monotonic()
        deadline, raise_at_deadline = self._wait_bound(timeout)
        delay = _POLL_FIRST
        while self.is_locked(key):
            if deadline is not None and time.monotonic() >= deadline:
                if raise_at_deadline:
                    raise self._gave_up(key, began)
                return False
            await anyio.sleep(delay)
            delay = min(delay * 1.5, _POLL_MAX)
        return True

    def renew(self, path: Path, content: bytes) -> Optional[bytes]:
        """Rewrite the lock ``path`` with a fresh expiration if it still holds ``content``; the new bytes, or None if lost."""
        seen = _parse(content)
        if seen is None:
            return None
        with self._guard():
            current = self._read(path)
            if current is None or current.raw != content:
                return None  # released, or broken after its lease expired (we were stuck), or taken afresh
            renewed = self._content(seen["holder"], None, created=seen.get("created"))
            temp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
            temp.write_bytes(renewed)
            os.replace(temp, path)
        return renewed


class _Heartbeat:
    """One daemon thread per process renewing every lock this process holds with a lease.

    It wakes each third of the shortest lease held; a lock found changed (broken by a waiter
    because this process did not renew it in time) is dropped with one warning.
    """

    def __init__(self) -> None:
        self._held: dict[Path, tuple[HolderLockManager, bytes, float]] = {}  # path -> (manager, bytes, renewed at)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._pid = os.getpid()

    def hold(self, manager: HolderLockManager, path: Path, content: bytes) -> None:
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's thread and locks are not ours
                self._held, self._thread, self._pid = {}, None, os.getpid()
            self._held[path] = (manager, content, time.monotonic())
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="convsweep-lock-heartbeat", daemon=True)
                self._thread.start()
        self._wake.set()

    def drop(self, path: Path) -> None:
        with self._lock:
            self._held.pop(path, None)

    def held(self) -> list[Path]:
        with self._lock:
            return list(self._held)

    def _run(self) -> None:
        while True:
            with self._lock:
                held = dict(self._held)
            if held:
                period = min(manager.lease for manager, _, _ in held.values()) / 3
            else:
                period = 1.0
            self._wake.wait(period)
            self._wake.clear()
            now = time.monotonic()
            for path, (manager, content, renewed_at) in held.items():
                if now - renewed_at < manager.lease / 3:
                    continue
                try:
                    renewed = manager.renew(path, content)
                except OSError as error:  # the shared folder is gone for a moment: try again next beat
                    logger.warning("cache: could not renew the lock %s: %s", path, error)
                    continue
                with self._lock:
                    if path not in self._held or self._held[path][1] != content:
                        continue  # released meanwhile
                    if renewed is None:
                        del self._held[path]
                        logger.warning("cache: lost the lock %s before renewing it (its lease expired)", path)
                    else:
                        self._held[path] = (manager, renewed, time.monotonic())


_HEARTBEAT = _Heartbeat()
