"""The local Prefect API of CLI runs without ``PREFECT_API_URL``: one server per ``PREFECT_HOME``, reused.

Without ``PREFECT_API_URL`` every CLI run used to start a temporary API server
(:mod:`convsweep.temporary_api`) and pay for it: importing Prefect's server
package and starting uvicorn cost more than a cached sweep's work (issue 17).
Now the CLI (``convsweep sweep`` / ``convsweep notebook``) starts one local
server per ``PREFECT_HOME`` in the background the first time, and every later
run reuses it:

* **State.** ``PREFECT_HOME/convsweep-local-api.json`` holds the server's PID,
  its start time (so a reused PID is not taken for it), port and URL; written
  once the server answers ``/health``.
* **One server.** Starting happens under an ``flock`` on
  ``PREFECT_HOME/convsweep-local-api.lock``: concurrent CLI runs wait for the
  one that starts it, then reuse it.  Before reuse the server must answer
  ``/health``; a recorded server that does not is stopped and replaced.
* **Never half-started.** Until the starting CLI has seen it healthy and
  recorded it, the server is tied to that CLI by a lifeline pipe (its stdin):
  whatever ends the CLI (an error, Ctrl-C, ``kill -9``), the server exits.  A
  start that fails is killed (process group, SIGKILL) and its state removed.
* **Idle timeout.** Every run touches ``PREFECT_HOME/convsweep-local-api.lease``
  when it starts and while it runs (the API watchdog's checks).  The server
  stops itself when the lease is older than
  ``CONVSWEEP_LOCAL_API_IDLE_SECONDS`` (default 1800), removing its state under
  the same lock, so a CLI never reuses a server that is about to stop.
* **The UI.** It is Prefect's server application with the UI (SQLite under ``PREFECT_HOME``),
  without the services that drive deployments and workers (:data:`UNNEEDED_SERVICES`; schedules
  need ``convsweep server``): ``convsweep server status`` prints its URL; the runs are in
  ``PREFECT_HOME/prefect.db`` either way.

``CONVSWEEP_API=temporary`` keeps the former behaviour: a temporary server per
run, stopped with it.  Library use in an already running Python process
(Prefect imported before the CLI decides) keeps the temporary server too.

The server process runs ``python -m convsweep.local_api --home HOME --port PORT
--idle-seconds S`` (readable in ``ps``); its output goes to
``PREFECT_HOME/convsweep-local-api.log``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from tasks.processes import process_alive, process_start

MODE_VARIABLE = "CONVSWEEP_API"  # "local" (the default) or "temporary"
IDLE_VARIABLE = "CONVSWEEP_LOCAL_API_IDLE_SECONDS"
STARTUP_VARIABLE = "CONVSWEEP_LOCAL_API_STARTUP_SECONDS"
DEFAULT_IDLE_SECONDS = 1800.0
DEFAULT_STARTUP_SECONDS = 180.0
STATE_NAME = "convsweep-local-api.json"
LOCK_NAME = "convsweep-local-api.lock"
LEASE_NAME = "convsweep-local-api.lease"
LOG_NAME = "convsweep-local-api.log"
MODULE = "convsweep.local_api"
_ADOPTED = b"a"  # written on the lifeline once the server is recorded: it may outlive its starter
STOP_GRACE_SECONDS = 10.0
# Prefect server services for deployments and workers (schedules, late runs, worker health, ...).
UNNEEDED_SERVICES = ("SCHEDULER", "LATE_RUNS", "FOREMAN", "PAUSE_EXPIRATIONS", "CANCELLATION_CLEANUP", "REPOSSESSOR")


class LocalAPIError(RuntimeError):
    """The local API server could not be started (a runtime failure: exit 1)."""


@dataclass(frozen=True)
class LocalAPI:
    """A running local API server: its process (PID and start time), port and URL."""

    pid: int
    start: str | None
    port: int
    url: str
    home: str

    @property
    def ui_url(self) -> str:
        return self.url.removesuffix("/api")


def api_mode() -> str:
    """``local`` or ``temporary`` from ``CONVSWEEP_API``; raises ValueError for anything else."""
    mode = os.environ.get(MODE_VARIABLE, "").strip().lower() or "local"
    if mode not in ("local", "temporary"):
        raise ValueError(f"{MODE_VARIABLE}={os.environ[MODE_VARIABLE]!r} must be local or temporary")
    return mode


def _seconds_from(variable: str, default: float) -> float:
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{variable}={raw!r} must be a number of seconds") from None
    if not value > 0:
        raise ValueError(f"{variable}={raw!r} must be > 0")
    return value


def idle_seconds() -> float:
    return _seconds_from(IDLE_VARIABLE, DEFAULT_IDLE_SECONDS)


def prefect_home() -> Path:
    """``PREFECT_HOME`` as Prefect resolves it."""
    from prefect.settings import get_current_settings

    return Path(get_current_settings().home).expanduser()


# ---------------------------------------------------------------------------------------------
# State, lock and lease files.


@contextlib.contextmanager
def _locked(home: Path, *, blocking: bool = True) -> Iterator[bool]:
    """Hold the home's start/stop lock; yields False (not held) when ``blocking`` is off and it is taken."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / LOCK_NAME, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def read_state(home: Path) -> LocalAPI | None:
    """The recorded server of ``home``, or None (no file, or not readable as one)."""
    try:
        raw = json.loads((home / STATE_NAME).read_text(encoding="utf-8"))
        return LocalAPI(
            pid=int(raw["pid"]), start=raw.get("start"), port=int(raw["port"]), url=str(raw["url"]), home=str(home)
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_state(home: Path, api: LocalAPI) -> None:
    from tasks.files import write_text

    write_text(home / STATE_NAME, json.dumps(asdict(api), indent=2) + "\n")


def _remove_state(home: Path, pid: int | None = None) -> None:
    """Remove the state file (only if it names ``pid``, when given)."""
    if pid is not None:
        recorded = read_state(home)
        if recorded is not None and recorded.pid != pid:
            return
    with contextlib.suppress(FileNotFoundError):
        (home / STATE_NAME).unlink()


def touch_lease(home: Path | str) -> None:
    """Mark the local server of ``home`` as in use now (its idle timeout counts from here)."""
    path = Path(home) / LEASE_NAME
    try:
        path.touch()
    except OSError:
        pass


def lease_age(home: Path) -> float:
    """Seconds since the lease was last touched (inf without one)."""
    try:
        return time.time() - (home / LEASE_NAME).stat().st_mtime
    except OSError:
        return float("inf")


def _is_our_server(api: LocalAPI) -> bool:
    """The recorded PID is alive, is the same process, and runs this module."""
    if not process_alive(api.pid, api.start):
        return False
    try:
        command = Path(f"/proc/{api.pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc: trust the PID and its start time
    return MODULE.encode() in command


def has_live_server(home: Path) -> bool:
    """A server is recorded for ``home`` and its process is alive (it may not answer yet)."""
    recorded = read_state(home)
    return recorded is not None and _is_our_server(recorded)


def _healthy(url: str, timeout: float = 5.0) -> bool:
    from convsweep.api import health_problem

    return health_problem(url, timeout=timeout) is None


def _answers_while_alive(api: LocalAPI, timeout: float) -> bool:
    """Whether the recorded server answers ``/health``, retried while its process lives (a loaded
    machine can make a healthy server slow to answer; it is not replaced for that)."""
    deadline = time.monotonic() + timeout
    while _is_our_server(api):
        if _healthy(api.url):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return False


def running_local_api(home: Path) -> LocalAPI | None:
    """The recorded server of ``home`` if its process is alive and it answers ``/health``."""
    api = read_state(home)
    if api is None or not _is_our_server(api):
        return None
    return api if _healthy(api.url) else None


# ---------------------------------------------------------------------------------------------
# Starting, reusing and stopping (in the CLI).


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        process.wait(timeout=10)


def _terminate(pid: int, start: str | None, *, grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM the server's process group, then SIGKILL after ``grace`` seconds."""
    for signum, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        if not process_alive(pid, start):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signum)  # its own session: the group is the server and its children
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and process_alive(pid, start):
            time.sleep(0.05)


def _start(home: Path, *, idle: float, startup_timeout: float) -> LocalAPI:
    """Start a server for ``home`` and wait until it answers; kill it on any failure (BaseException too)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    command = [
        sys.executable,
        "-m",
        MODULE,
        "--home",
        str(home),
        "--port",
        str(port),
        "--idle-seconds",
        repr(idle),
        "--parent-pid",
        str(os.getpid()),
    ]
    environment = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    # Only the services CLI runs need (the API, the UI, the recorders of task runs and events): the
    # ones that drive deployments and workers poll the database all the time, idle or not, on a
    # server that may live for its whole idle timeout. Schedules and workers: `convsweep server`.
    for service in UNNEEDED_SERVICES:
        environment.setdefault(f"PREFECT_SERVER_SERVICES_{service}_ENABLED", "false")
    environment.update(
        PREFECT_HOME=str(home),
        PREFECT_UI_API_URL=url,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    with open(home / LOG_NAME, "ab") as log:
        process = subprocess.Popen(
            command,
            env=environment,
            stdin=subprocess.PIPE,  # the lifeline until adopted
            stdout=log,
            stderr=log,
            start_new_session=True,  # out of the terminal's process group; outlives this run
        )
    try:
        deadline = time.monotonic() + startup_timeout
        while not _healthy(url, timeout=2.0):
            if process.poll() is not None:
                raise LocalAPIError(
                    f"the local Prefect API server exited with code {process.returncode} while starting; "
                    f"see {home / LOG_NAME}"
                )
            if time.monotonic() > deadline:
                raise LocalAPIError(
                    f"the local Prefect API server did not answer within {startup_timeout:.0f} s; see {home / LOG_NAME}"
                )
            time.sleep(0.1)
        api = LocalAPI(pid=process.pid, start=process_start(process.pid), port=port, url=url, home=str(home))
        _write_state(home, api)
        assert process.stdin is not None
        process.stdin.write(_ADOPTED)
        process.stdin.flush()
        process.stdin.close()
        return api
    except BaseException:
        _kill_group(process)
        _remove_state(home, process.pid)
        raise


def ensure_local_api(home: Path, *, startup_timeout: float | None = None) -> tuple[LocalAPI, bool]:
    """The running local server of ``home``, started if there is none; returns (server, started now).

    Concurrent callers on one ``home`` start exactly one server (the lock); the lease is
    touched before the lock is released, so the server does not stop idle under the caller.

    Raises
    ------
    LocalAPIError
        When the server does not start (the message names the log file).
    """
    timeout = (
        startup_timeout if startup_timeout is not None else _seconds_from(STARTUP_VARIABLE, DEFAULT_STARTUP_SECONDS)
    )
    home.mkdir(parents=True, exist_ok=True)
    with _locked(home):
        touch_lease(home)
        recorded = read_state(home)
        if recorded is not None:
            if _answers_while_alive(recorded, timeout):
                return recorded, False
            if _is_our_server(recorded):  # alive but not answering for the whole start-up timeout: replace it
                _terminate(recorded.pid, recorded.start, grace=5.0)
            _remove_state(home)
        api = _start(home, idle=idle_seconds(), startup_timeout=timeout)
        touch_lease(home)
        return api, True


def stop_local_api(home: Path) -> LocalAPI | None:
    """Stop the recorded server of ``home`` (SIGTERM, SIGKILL after 10 s); returns it, or None if none ran."""
    with _locked(home):
        api = read_state(home)
        if api is None:
            return None
        alive = _is_our_server(api)
        if alive:
            _terminate(api.pid, api.start)
        _remove_state(home)
        return api if alive else None


_current: LocalAPI | None = None  # the local server this CLI process uses, if any


def current() -> LocalAPI | None:
    return _current


def use_local_api(say: object = None) -> LocalAPI | None:
    """Point this process's Prefect at the local server of its ``PREFECT_HOME`` (started if needed).

    Does nothing (returns None) when ``PREFECT_API_URL`` is configured, ``CONVSWEEP_API=temporary``,
    or Prefect's ephemeral mode is off.  Otherwise sets ``PREFECT_API_URL`` in the environment and
    refreshes Prefect's settings, so every Prefect client of the process (flow engine, events,
    logs) uses that server as if the user had exported it.  ``say(line)`` is told once when a
    server is started.
    """
    global _current
    if api_mode() != "local":
        return None
    from convsweep.api import configured_api_url

    if configured_api_url():
        return None
    from prefect.settings import get_current_settings

    if not get_current_settings().server.ephemeral.enabled:
        return None
    home = prefect_home()
    api, started = ensure_local_api(home)
    os.environ["PREFECT_API_URL"] = api.url
    import prefect.context

    prefect.context.refresh_global_settings_context()
    _current = api
    if started and callable(say):
        say(
            f"convsweep: started a local Prefect server for {home} (UI {api.ui_url}); it stops after "
            f"{idle_seconds() / 60:g} min unused, or with `convsweep server stop`"
        )
    return api


# ---------------------------------------------------------------------------------------------
# In the server process.


def _watch_lifeline(read_end: int) -> None:
    """Until the starter adopts this server, its end of the pipe is this server's life."""
    try:
        data = os.read(read_end, 1)
    except OSError:
        data = b""
    if data == _ADOPTED:
        return
    _shut_down(1)


def _shut_down(code: int) -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's graceful shutdown
    time.sleep(STOP_GRACE_SECONDS)
    os._exit(code)


def _watch_idle(home: Path, idle: float) -> None:
    """Stop this server once its lease is older than ``idle`` seconds, or when it is no longer the recorded one."""
    interval = min(max(idle / 4, 0.2), 30.0)
    me = os.getpid()
    while True:
        time.sleep(interval)
        recorded = read_state(home)
        if recorded is not None and recorded.pid != me:
            _shut_down(0)  # replaced (its state was removed and another started): not ours to serve
        if lease_age(home) < idle:
            continue
        with _locked(home, blocking=False) as held:
            if not held or lease_age(home) < idle:
                continue  # a CLI is starting or reusing: it touches the lease under the lock
            _remove_state(home, me)
        _shut_down(0)


def _serve(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}")
    parser.add_argument("--home", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--idle-seconds", type=float, required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    options = parser.parse_args(argv)
    home = Path(options.home)
    threading.Thread(target=_watch_lifeline, args=(sys.stdin.fileno(),), name="lifeline", daemon=True).start()
    threading.Thread(target=_watch_idle, args=(home, options.idle_seconds), name="idle", daemon=True).start()
    from uvicorn.main import main as uvicorn_main

    from convsweep.prefect_compat import uvicorn_arguments

    uvicorn_main.main(args=uvicorn_arguments(options.port), prog_name="uvicorn")


if __name__ == "__main__":
    _serve(sys.argv[1:])
