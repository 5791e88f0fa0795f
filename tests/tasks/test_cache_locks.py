"""HolderLockManager: locks that cannot outlive their holder, files never seen half-written."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tasks.cache_locks import EXPECTED_HOLD_ENV, LEASE_ENV, HolderLockManager, LockWaitTimeout
from tasks.processes import process_alive

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 60.0  # generous: the machine may be loaded


@pytest.fixture
def manager(tmp_path):
    return HolderLockManager(tmp_path / "locks")


@pytest.fixture
def warnings_logged():
    """The warning lines the cache logger writes while the test runs."""
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    handler = Collect(level=logging.WARNING)
    log = logging.getLogger("convsweep.cache")
    log.addHandler(handler)
    yield records
    log.removeHandler(handler)


def dead_pid() -> int:
    """The PID of a process that has run, exited and been reaped."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, timeout=60
    )
    pid = int(done.stdout)
    assert not process_alive(pid)
    return pid


def wait_until(condition, what: str, deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_acquire_release_and_file_contents(manager):
    assert manager.acquire_lock("k", holder="me", acquire_timeout=0)
    info = json.loads((manager.lock_files_directory / "k.lock").read_bytes())
    assert info["holder"] == "me" and info["pid"] == os.getpid() and info["hostname"] == socket.gethostname()
    assert info["lease"] == manager.lease == 120.0  # DEFAULT_LEASE
    expires_in = (_dt.datetime.fromisoformat(info["expiration"]) - _dt.datetime.now(_dt.UTC)).total_seconds()
    assert 0 < expires_in <= manager.lease
    assert manager.is_locked("k") and manager.is_lock_holder("k", "me") and not manager.is_lock_holder("k", "you")
    assert manager.acquire_lock("k", holder="me", acquire_timeout=0)  # re-entrant for the same holder
    assert not manager.acquire_lock("k", holder="you", acquire_timeout=0)
    with pytest.raises(ValueError):
        manager.release_lock("k", holder="you")
    manager.release_lock("k", holder="me")
    assert not manager.is_locked("k")
    assert [
        path.name for path in manager.lock_files_directory.iterdir() if path.name != ".guard"
    ] == []  # no temp files left


def test_stale_lock_of_a_dead_pid_is_broken_with_one_warning(manager, warnings_logged):
    pid = dead_pid()
    path = manager.lock_files_directory / "k.lock"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"holder": "gone", "expiration": None, "pid": pid, "hostname": socket.gethostname()}))
    # Several waiters at once: exactly one breaks it; each takes it in turn and releases it.
    results: list[bool] = []

    def waiter(name):
        got = manager.acquire_lock("k", name, acquire_timeout=DEADLINE)
        results.append(got)
        if got:
            manager.release_lock("k", name)

    threads = [threading.Thread(target=waiter, args=(f"h{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE)
    assert results == [True] * 4
    assert len(warnings_logged) == 1, warnings_logged
    assert str(path) in warnings_logged[0] and f"process {pid}" in warnings_logged[0] and "gone" in warnings_logged[0]


def test_prefect_style_leftover_lock_of_a_dead_pid_is_broken(manager, warnings_logged):
    """What Prefect's own FileSystemLockManager leaves behind when its process is killed."""
    pid = dead_pid()
    path = manager.lock_files_directory / "k.lock"
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps({"holder": f"{socket.gethostname()}:{pid}:140000:ThreadPoolExecutor-0_0", "expiration": None})
    )
    assert manager.acquire_lock("k", holder="me", acquire_timeout=DEADLINE)
    assert json.loads(path.read_bytes())["holder"] == "me"
    assert len(warnings_logged) == 1


def test_reused_pid_is_not_the_holder(manager):
    """A lock naming this (live) PID but another process start time is stale."""
    path = manager.lock_files_directory / "k.lock"
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps(
            {
                "holder": "old",
                "expiration": None,
                "pid": os.getpid(),
                "hostname": socket.gethostname(),
                "pid_start": "1",
            }
        )
    )
    assert manager.acquire_lock("k", holder="me", acquire_timeout=DEADLINE)


@pytest.mark.parametrize("content", [b"", b"   ", b'{"holder": ', b"\x80garbage", b"[1, 2]", b'{"expiration": null}'])
def test_empty_or_garbage_lock_file_is_treated_as_absent(manager, warnings_logged, content):
    path = manager.lock_files_directory / "k.lock"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    assert not manager.is_locked("k")
    assert not path.exists()
    assert len(warnings_logged) == 1 and str(path) in warnings_logged[0]
    assert manager.acquire_lock("k", holder="me", acquire_timeout=0)


def test_expired_lock_is_broken(manager):
    assert manager.acquire_lock("k", holder="brief", hold_timeout=0.2)
    assert not manager.acquire_lock("k", holder="me", acquire_timeout=0)
    assert manager.acquire_lock("k", holder="me", acquire_timeout=DEADLINE)


def test_live_holder_in_this_process_blocks_until_release(manager):
    assert manager.acquire_lock("k", holder="first")
    acquired = threading.Event()

    def second():
        if manager.acquire_lock("k", holder="second", acquire_timeout=DEADLINE):
            acquired.set()

    thread = threading.Thread(target=second)
    thread.start()
    assert not acquired.wait(0.3)  # still held: the waiter waits (a short look, not a sleep the test relies on)
    assert manager.is_lock_holder("k", "first")
    manager.release_lock("k", holder="first")
    thread.join(DEADLINE)
    assert acquired.is_set() and manager.is_lock_holder("k", "second")


HOLD_SCRIPT = """
import sys
from tasks.cache_locks import EXPECTED_HOLD_ENV, LEASE_ENV, HolderLockManager, LockWaitTimeout
manager = HolderLockManager(sys.argv[1])
assert manager.acquire_lock("k", holder="child")
print("held", flush=True)
sys.stdin.readline()  # hold until told (or killed)
manager.release_lock("k", holder="child")
"""


def hold_in_child(locks: Path) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_SCRIPT, str(locks)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "held"
    return child


def test_live_holder_in_another_process_blocks_until_release(manager):
    child = hold_in_child(manager.lock_files_directory)
    try:
        assert manager.is_locked("k") and not manager.acquire_lock("k", holder="me", acquire_timeout=0.2)
        child.stdin.write("release\n")
        child.stdin.flush()
        assert manager.acquire_lock("k", holder="me", acquire_timeout=DEADLINE)
        assert child.wait(DEADLINE) == 0
    finally:
        child.kill()
        child.wait()


def test_holder_killed_with_sigkill_does_not_block_the_next(manager, warnings_logged):
    child = hold_in_child(manager.lock_files_directory)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(DEADLINE)
    assert (manager.lock_files_directory / "k.lock").exists()  # the killed holder left its lock
    assert manager.acquire_lock("k", holder="me", acquire_timeout=DEADLINE)
    assert len(warnings_logged) == 1 and f"process {child.pid}" in warnings_logged[0]


def test_lock_files_are_never_seen_half_written_and_exclude_each_other(manager):
    """Many holders take and release one key while a reader reads the file as fast as it can."""
    path = manager.lock_files_directory / "k.lock"
    manager.lock_files_directory.mkdir(parents=True)
    stop = threading.Event()
    bad: list[bytes] = []
    inside = [0]
    overlaps = [0]
    reads = [0]

    def reader():
        while not stop.is_set():
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                continue
            reads[0] += 1
            try:
                assert isinstance(json.loads(raw)["holder"], str)
            except Exception:
                bad.append(raw)

    def worker(name):
        for _ in range(25):
            assert manager.acquire_lock("k", holder=name, acquire_timeout=DEADLINE)
            inside[0] += 1
            if inside[0] != 1:
                overlaps[0] += 1
            inside[0] -= 1
            manager.release_lock("k", holder=name)

    threads = [threading.Thread(target=reader)] + [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads[1:]:
        thread.join(DEADLINE * 2)
    stop.set()
    threads[0].join(DEADLINE)
    assert not bad and overlaps[0] == 0 and reads[0] > 0
    assert not path.exists() and not list(manager.lock_files_directory.glob(".*.tmp"))


# -- leases ------------------------------------------------------------------------------

SHORT_LEASE = 0.6  # seconds: the heartbeat renews each 0.2 s


def foreign_lock(path: Path, *, expires_in: float | None, age: float = 0.0) -> None:
    """A lock file of a process on another host (its PID means nothing here)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    expiration = None
    if expires_in is not None:
        expiration = (_dt.datetime.now(_dt.UTC) + _dt.timedelta(seconds=expires_in)).isoformat()
    path.write_text(json.dumps({"holder": "elsewhere", "expiration": expiration, "pid": 1, "hostname": "other-host"}))
    if age:
        os.utime(path, (time.time() - age, time.time() - age))


def expiration_of(path: Path) -> _dt.datetime:
    return _dt.datetime.fromisoformat(json.loads(path.read_bytes())["expiration"])


def test_live_holder_renews_its_lease_so_its_lock_outlives_it(tmp_path):
    holder = HolderLockManager(tmp_path / "locks", lease=SHORT_LEASE)
    waiter = HolderLockManager(tmp_path / "locks", lease=SHORT_LEASE, expected_hold=60)
    assert holder.acquire_lock("k", holder="me")
    path = tmp_path / "locks" / "k.lock"
    first = expiration_of(path)
    wait_until(lambda: expiration_of(path) > first + _dt.timedelta(seconds=2 * SHORT_LEASE), "three renewals")
    assert _dt.datetime.now(_dt.UTC) > first  # the first expiration has passed, yet the lock is live
    assert waiter.is_locked("k") and not waiter.acquire_lock("k", holder="you", acquire_timeout=0)
    holder.release_lock("k", holder="me")
    assert not path.exists()
    time.sleep(SHORT_LEASE)  # a heartbeat after the release must not bring the file back
    assert not path.exists() and not list(path.parent.glob(".*.tmp"))


def test_lock_of_another_host_is_broken_when_its_lease_expires(manager, warnings_logged):
    path = manager.lock_files_directory / "k.lock"
    foreign_lock(path, expires_in=0.5)
    assert manager.is_locked("k")  # live until its lease expires: another host's PID is not checked
    began = time.monotonic()
    assert manager.acquire_lock("k", holder="me", acquire_timeout=DEADLINE)
    assert time.monotonic() - began > 0.3
    assert len(warnings_logged) == 1 and "lease expired" in warnings_logged[0] and "elsewhere" in warnings_logged[0]


def test_lock_of_another_host_without_expiration_is_broken_one_lease_after_it_was_written(tmp_path, warnings_logged):
    manager = HolderLockManager(tmp_path / "locks", lease=30)
    path = tmp_path / "locks" / "k.lock"
    foreign_lock(path, expires_in=None, age=5)
    assert manager.is_locked("k")  # younger than one lease
    foreign_lock(path, expires_in=None, age=31)
    assert not manager.is_locked("k")
    assert len(warnings_logged) == 1 and "no expiration" in warnings_logged[0]


@pytest.mark.parametrize("how", ["acquire", "wait"])
def test_wait_without_timeout_gives_up_after_lease_plus_expected_hold(tmp_path, how):
    holder = HolderLockManager(tmp_path / "locks", lease=SHORT_LEASE)
    waiter = HolderLockManager(tmp_path / "locks", lease=SHORT_LEASE, expected_hold=0.4)
    assert holder.acquire_lock("k", holder="stuck")  # live and renewing, but never releasing
    try:
        began = time.monotonic()
        with pytest.raises(LockWaitTimeout) as raised:
            if how == "acquire":
                waiter.acquire_lock("k", holder="me")
            else:
                waiter.wait_for_lock("k")
        assert time.monotonic() - began >= SHORT_LEASE + 0.4
        message = str(raised.value)
        assert "\n" not in message and str(tmp_path / "locks" / "k.lock") in message and "stuck" in message
        assert f"process {os.getpid()} on {socket.gethostname()}" in message
        assert waiter.wait_for_lock("k", timeout=0.1) is False  # a timeout given: False, as Prefect expects
    finally:
        holder.release_lock("k", holder="stuck")


def test_lease_and_expected_hold_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(LEASE_ENV, "7.5")
    monkeypatch.setenv(EXPECTED_HOLD_ENV, "30")
    manager = HolderLockManager(tmp_path)
    assert (manager.lease, manager.expected_hold) == (7.5, 30.0)
    monkeypatch.setenv(LEASE_ENV, "soon")
    with pytest.raises(ValueError, match="CONVSWEEP_LOCK_LEASE='soon'"):
        HolderLockManager(tmp_path)
    with pytest.raises(ValueError, match="lease=0"):
        HolderLockManager(tmp_path, lease=0)
