"""The temporary Prefect API server of a run without ``PREFECT_API_URL``, tied to the run's life.

Without ``PREFECT_API_URL`` Prefect starts a temporary API server
(``prefect.server.api.server.SubprocessASGIServer``: ``python -m uvicorn ...``
in a subprocess, stopped by an ``atexit`` hook).  Two failures follow from how
that subprocess is started:

* **Ctrl-C kills it first.**  It shares the terminal's foreground process
  group, so a terminal Ctrl-C (or ``kill -INT -PGID``) reaches it at the same
  moment as the sweep: the server is gone before the sweep can mark its flow
  run Crashed, and the sweep then spends minutes retrying a dead API.
* **``kill -9`` of the sweep leaks it.**  ``atexit`` never runs; the server
  (~235 MB) lives on and the flow run stays "Running".

:class:`TemporaryAPIServer` is that same server, started by this module
instead (same uvicorn application, arguments and environment as Prefect's),
with three differences:

1. **Its own session** (``start_new_session=True``): signals sent to the
   sweep's process group (a terminal Ctrl-C) do not reach it, so it still
   answers while the sweep marks the flow run Crashed; the sweep then stops it.
2. **A lifeline pipe**: its stdin is a pipe whose only writer is the sweep.
   The kernel closes that end whenever the sweep dies, however it dies; a
   thread in the server reads the pipe, and on end-of-file shuts the server
   down (SIGTERM to itself, then ``os._exit`` if that has not finished within
   :data:`LIFELINE_GRACE_SECONDS`).  This is the mechanism that holds on every
   POSIX system.
3. **``PR_SET_PDEATHSIG``** (Linux): the kernel sends the server SIGTERM when
   the thread that started it exits.  Set only when that thread is the main
   thread (the signal follows the *thread*, and Prefect may start its server
   from a worker thread); a second line of defence behind the lifeline, e.g.
   if a forked child of the sweep still holds the pipe's write end.

Prefect keeps one server instance per process (``SubprocessASGIServer._instances``,
read through :mod:`convsweep.prefect_compat` with the copied uvicorn command);
an instance of the subclass registered there before the flow starts is the one
every Prefect client (flow engine, events, logs) then uses.  Nothing changes
when ``PREFECT_API_URL`` is set: no temporary server is started at all.

The server process runs ``python -m convsweep.temporary_api --parent-pid PID
[--death-signal] -- <uvicorn arguments>`` (readable in ``ps``).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from functools import lru_cache
from typing import Any

LIFELINE_GRACE_SECONDS = 10.0
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_current: Any = None  # the TemporaryAPIServer this process started, if any


def _start_server_process(server: Any, uvicorn_arguments: list[str], environment: dict[str, str]) -> Any:
    """Start the server process: Prefect's uvicorn arguments and environment, in its own session, with a lifeline."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    command = [sys.executable, "-m", "convsweep.temporary_api", "--parent-pid", str(os.getpid())]
    if in_main_thread:
        command.append("--death-signal")
    return subprocess.Popen(
        [*command, "--", *uvicorn_arguments],
        env=environment,
        stdin=subprocess.PIPE,  # the lifeline: never written, closed by the kernel when this process dies
        start_new_session=True,  # out of the terminal's process group: Ctrl-C does not reach it
    )


def _kill_now(process: Any) -> None:
    """SIGKILL the server's process group (its own session) and reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


@lru_cache(maxsize=1)
def _server_class() -> type:
    # Built on first use: importing Prefect's server module is slow and only a run without PREFECT_API_URL needs it.
    # The private parts (the uvicorn command, the registry) are in convsweep.prefect_compat.
    from convsweep.prefect_compat import temporary_server_class

    base: Any = temporary_server_class(_start_server_process)  # made at run time: a class mypy cannot see

    class TemporaryAPIServer(base):
        """Prefect's temporary API server in its own session, with a lifeline to this process (module docstring)."""

        answered = False  # set once start() has seen /health answer

        def start(self, timeout: Any = None) -> None:
            super().start(timeout)
            self.answered = True

        def stop(self) -> None:
            process = self.server_process
            if process is not None and not self.answered:
                # Still starting (an interrupt during start-up): nothing to shut down gracefully, and
                # uvicorn finishes its start-up (migrations, seconds) before it obeys SIGTERM.
                _kill_now(process)
            super().stop()  # SIGTERM, wait up to 5 s, then SIGKILL
            if process is not None and process.stdin is not None:
                process.stdin.close()

    return TemporaryAPIServer


def start_temporary_api() -> Any:
    """Start the run's temporary API server now, from this (the main) thread, if the run needs one.

    Returns
    -------
    TemporaryAPIServer or None
        The running server (Prefect's clients use it from now on), or None when
        ``PREFECT_API_URL`` is set, ephemeral mode is off, or Prefect already
        runs its own temporary server in this process.
    """
    global _current
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if settings.api.url or not settings.server.ephemeral.enabled:
        return None
    # Imported only now: the server package costs ~1.5 s to import, a run against a URL never needs it.
    from convsweep.prefect_compat import registered_temporary_server

    server_class = _server_class()
    existing = registered_temporary_server()
    if existing is not None and not isinstance(existing, server_class):
        return None
    server = server_class()  # registered as the process's temporary server (SubprocessASGIServer.__new__)
    _current = server  # before start(): an interrupt during start-up stops it too
    server.start()
    return server


def mark_running_flow_runs_crashed(message: str, *, timeout: float = 5.0) -> int:
    """Mark the Running flow runs of this process's temporary API Crashed; returns how many.

    Prefect marks an interrupted run itself when its engine gets there; when the process must
    exit first (the engine is still waiting for task threads), this does it. Only on our own
    temporary API, whose runs are this process's alone; never on a shared server.
    """
    import httpx

    if _current is None:
        return 0
    api = _current.api_url.rstrip("/")
    marked = 0
    with httpx.Client(timeout=timeout) as client:
        response = client.post(
            f"{api}/flow_runs/filter", json={"flow_runs": {"state": {"type": {"any_": ["RUNNING"]}}}}
        )
        response.raise_for_status()
        for run in response.json():
            state = {"type": "CRASHED", "name": "Crashed", "message": message}
            client.post(f"{api}/flow_runs/{run['id']}/set_state", json={"state": state, "force": True})
            marked += 1
    return marked


def stop_temporary_api() -> None:
    """Stop the temporary API server this process started, if any (SIGTERM, then SIGKILL after 5 s)."""
    global _current
    server, _current = _current, None
    if server is not None:
        server.stop()


# ---------------------------------------------------------------------------------------------
# In the server process.


def _set_death_signal(death_signal: int) -> None:
    """Ask Linux to send ``death_signal`` to this process when the thread that started it exits."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(death_signal), 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: the lifeline alone
        pass


def _listening(port: int | None) -> bool:
    """Whether this server already accepts connections on ``port`` (its start-up is over)."""
    import socket

    if port is None:
        return False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _watch_lifeline(read_end: int, port: int | None = None) -> None:
    """Return when the parent closes (or loses) its end of the pipe, then shut this server down."""
    try:
        while os.read(read_end, 4096):
            pass
    except OSError:
        pass
    if not _listening(port):
        # The parent died while this server was starting: no client, nothing to shut down
        # gracefully (uvicorn would first finish its start-up, seconds, before obeying SIGTERM).
        os._exit(1)
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's graceful shutdown
    time.sleep(LIFELINE_GRACE_SECONDS)
    os._exit(1)


def _serve(argv: list[str]) -> None:
    """``--parent-pid PID [--death-signal] -- <uvicorn arguments>``: arm the lifeline, then run uvicorn."""
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(prog="python -m convsweep.temporary_api")
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--death-signal", action="store_true")
    options = parser.parse_args(argv[:split])
    uvicorn_arguments = argv[split + 1 :]
    if options.death_signal:
        _set_death_signal(signal.SIGTERM)
    if os.getppid() != options.parent_pid:  # the parent died before the death signal was armed
        os._exit(0)
    port = int(uvicorn_arguments[uvicorn_arguments.index("--port") + 1]) if "--port" in uvicorn_arguments else None
    threading.Thread(target=_watch_lifeline, args=(sys.stdin.fileno(), port), name="lifeline", daemon=True).start()
    from uvicorn.main import main as uvicorn_main

    uvicorn_main.main(args=uvicorn_arguments, prog_name="uvicorn")


if __name__ == "__main__":
    _serve(sys.argv[1:])
