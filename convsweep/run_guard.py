"""How a run in this process stops on Ctrl-C/SIGTERM, and what it leaves behind.

:func:`guarded_run` wraps a flow run of the CLI (``convsweep.flow_runs``):

* **Signals**: SIGINT and SIGTERM raise in the main thread (``KeyboardInterrupt``,
  Prefect's ``TerminationSignal``), so Prefect's flow engine marks the flow
  run *Crashed* ("aborted by an interrupt/termination signal") while the API
  still answers.  The CLI then stops at once (:func:`finish_interrupted`): ONE line is printed
  (``convsweep: interrupted (SIGINT); rerun to resume from the cache``) and the
  process exits 128 + the signal number (130, 143) with ``os._exit``, without
  waiting for the task runs still computing in worker threads (their results
  are written atomically and cached per task, so the rerun resumes).  If the
  main thread has not got there :data:`GRACE_SECONDS` after the signal, a
  timer thread does it; a second signal does it at once.
* **A dying API**: a thread checks ``/health`` every 2 s; after 20 s without an answer the run
  stops with one line naming the URL, exit 1 (measured need: decision 0011).
* **No flow-run heartbeats unless asked** (:func:`heartbeats_only_if_asked`): Prefect 3.9
  emits them by default every 180 s from a thread that sleeps in 1-s steps and is joined when
  the flow ends, so every CLI run waited up to 1 s (0.5 s on average) at its end, for events
  that only a "zombie flow" automation reads. Set ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` (env or
  profile) and the CLI keeps them; deployment runs (``convsweep serve``, workers) are not touched.

A SIGINT that was ignored when the CLI started (``nohup``, a background job
of a non-interactive shell) stays ignored.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from convsweep.exit_status import ExitStatus

# Long enough for Prefect to mark the run Crashed on a loaded machine (typically ~1 s), short enough to feel stopped.
GRACE_SECONDS = 20.0
LOST_AFTER_SECONDS = 20.0  # a run's API that has not answered /health for this long is gone
WATCH_INTERVAL_SECONDS = 2.0
CLEANUP_SECONDS = 10.0  # stopping worker processes (--runner processes, dask)
_SIGNAL_NAMES: dict[int, str] = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}

_received: int | None = None
_hint = ""
_finishing = threading.Lock()


def _write_line(line: str) -> None:
    # os.write, not print: another thread (the progress bar) may hold sys.stderr's lock when a timer finishes.
    prefix = "\r\x1b[2K" if _stderr_is_terminal() else ""
    suffix = "\x1b[?25h" if prefix else ""  # a progress bar cut short leaves the cursor hidden
    try:
        os.write(2, f"{prefix}{line}\n{suffix}".encode(errors="replace"))
    except OSError:
        pass


def _stderr_is_terminal() -> bool:
    try:
        return os.isatty(2)
    except OSError:
        return False


def _finish(line: str, code: int, *, crashed: str | None = None) -> NoReturn:
    """Stop worker processes, print ``line``, exit ``code`` now (whichever thread gets here first)."""
    _finishing.acquire()  # a second finisher waits here until the first one exits the process
    # In a thread of its own, with a deadline: the signal may have interrupted the main thread
    # while it held a lock these need (a logging handler's, say). Exiting closes the server's
    # lifeline, so it stops even if this did not get to it.
    cleanup = threading.Thread(target=_stop_children, args=(crashed,), name="convsweep-stop-children", daemon=True)
    cleanup.start()
    cleanup.join(CLEANUP_SECONDS)
    _write_line(line)
    os._exit(code)


_on_crash: Callable[[str], None] | None = None


def on_crash(mark: Callable[[str], None] | None) -> None:
    """``mark(message)`` marks this process's flow run Crashed when the CLI exits before Prefect did."""
    global _on_crash
    _on_crash = mark


def _stop_children(crashed: str | None = None) -> None:
    if crashed is not None and _on_crash is not None:
        try:
            _on_crash(crashed)
        except BaseException:  # noqa: BLE001 - exiting anyway; the run then stays Running, as after kill -9
            pass
    _stop_worker_processes()


def _stop_worker_processes(timeout: float = 3.0) -> None:
    """Terminate this process's multiprocessing children (``--runner processes``/``dask`` workers), then kill."""
    import multiprocessing

    try:
        children = multiprocessing.active_children()
        for child in children:
            child.terminate()
        deadline = time.monotonic() + timeout
        for child in children:
            child.join(max(0.0, deadline - time.monotonic()))
            if child.is_alive():
                child.kill()
    except BaseException:  # noqa: BLE001 - exiting anyway
        pass


def _quiet_thread_exceptions(arguments: Any) -> None:
    # Once the run is being stopped, threads that fail because of it (a worker process's
    # KeyboardInterrupt coming back through concurrent.futures) print no traceback.
    if _received is None and not _finishing.locked():
        _original_thread_excepthook(arguments)


_original_thread_excepthook = threading.excepthook


def _quiet_unraisable(unraisable: Any) -> None:
    # The interrupt raised where Python cannot propagate it (a weakref callback during an
    # import, a __del__) is printed as "Exception ignored in ..."; once stopping, say nothing.
    stopping = _received is not None or _finishing.locked()
    if stopping and not isinstance(unraisable.exc_value, Exception):
        return
    _original_unraisablehook(unraisable)


_original_unraisablehook = sys.unraisablehook


def finish_interrupted(signum: int) -> NoReturn:
    """Exit 130 or 143 (``ExitStatus.SIGINT``, ``SIGTERM``) with one line: ``convsweep: interrupted (SIGINT)[; hint]``."""
    name = _SIGNAL_NAMES[signum]
    _finish(
        f"convsweep: interrupted ({name}){'; ' + _hint if _hint else ''}",
        ExitStatus[name],
        crashed=f"interrupted by {name} (convsweep)",
    )


def _deadline(signum: int) -> None:
    time.sleep(GRACE_SECONDS)
    finish_interrupted(signum)


_deadline_started = threading.Lock()
_signals_seen = 0


def _start_deadline(signum: int) -> None:
    """Start the :data:`GRACE_SECONDS` timer once (idempotent)."""
    global _received
    if _deadline_started.acquire(blocking=False):
        _received = signum
        threading.Thread(target=_deadline, args=(signum,), name="convsweep-interrupt-deadline", daemon=True).start()


def _watch_wakeup_fd(read_end: int) -> None:
    # Python runs signal handlers in the main thread only, and only between bytecodes; a main
    # thread blocked in C code would never run it. The C-level handler writes the signal number
    # to the wakeup fd at once, so this thread starts the deadline whatever the main thread does.
    while True:
        try:
            data = os.read(read_end, 64)
        except InterruptedError:
            continue
        except OSError:
            return
        if not data:
            return
        for signum in data:
            if signum not in _SIGNAL_NAMES or _finishing.locked():
                continue
            global _signals_seen
            _signals_seen += 1  # one byte per delivery: the count of signals received
            if _signals_seen > 1:  # a second signal: stop now
                finish_interrupted(_received or signum)
            _start_deadline(signum)


def _on_signal(signum: int, frame: Any) -> None:
    if _finishing.locked():  # already exiting
        return
    _start_deadline(signum)  # the wakeup-fd thread may not have got to it yet
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    from prefect.exceptions import TerminationSignal

    raise TerminationSignal(signal=signum)


def install_signal_handlers(hint: str = "") -> None:
    """Handle SIGINT and SIGTERM as described in the module docstring (main thread only; else a no-op)."""
    global _hint
    if threading.current_thread() is not threading.main_thread():
        return
    _hint = hint
    import prefect.exceptions  # noqa: F401 - imported now, not inside a signal handler

    threading.excepthook = _quiet_thread_exceptions
    sys.unraisablehook = _quiet_unraisable
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    threading.Thread(target=_watch_wakeup_fd, args=(read_end,), name="convsweep-signal-watch", daemon=True).start()


@contextmanager
def guarded_run(*, hint: str = "") -> Iterator[None]:
    """Run the block as a CLI run: signals as in the module docstring, heartbeats only if asked.

    Parameters
    ----------
    hint
        Appended to the interrupt line, e.g. ``rerun to resume from the cache``.
    """
    install_signal_handlers(hint)
    stop_watching = threading.Event()
    url = os.environ.get("PREFECT_API_URL")  # exported by convsweep.server before the run
    if url:
        threading.Thread(target=_watch_api, args=(url, stop_watching), name="convsweep-api-watch", daemon=True).start()
    try:
        with heartbeats_only_if_asked():
            yield
    finally:
        stop_watching.set()


def _watch_api(url: str, stopped: threading.Event) -> None:
    # Measured (decision 0011): with the server killed mid-run, Prefect's client went on computing and
    # retrying for minutes without a line; this stops the run after LOST_AFTER_SECONDS of no answer.
    from convsweep.server import health_problem

    last_answer = time.monotonic()
    while not stopped.wait(WATCH_INTERVAL_SECONDS):
        problem = health_problem(url, timeout=5.0)
        if problem is None:
            last_answer = time.monotonic()
        elif time.monotonic() - last_answer > LOST_AFTER_SECONDS and not stopped.is_set():
            hint = f"; {_hint}" if _hint else ""
            line = f"convsweep: error: the Prefect API at {url} stopped answering ({problem}); stopped the run{hint}"
            _finish(line, ExitStatus.FAILED)


@contextmanager
def heartbeats_only_if_asked() -> Iterator[None]:
    """Turn Prefect's flow-run heartbeats off for the block, unless the user set their frequency."""
    from prefect.settings import get_current_settings, temporary_settings

    if "heartbeat_frequency" in get_current_settings().flows.model_fields_set:
        yield
        return
    with temporary_settings(updates={"flows.heartbeat_frequency": None}):
        yield


def guarded(hint: str = "") -> Callable[[Callable[..., Any]], Any]:
    """Decorator: run the function inside :func:`guarded_run`."""
    import functools

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            with guarded_run(hint=hint):
                return function(*args, **kwargs)

        return run

    return decorate


def exit_if_interrupted() -> None:
    """If a guarded run received SIGINT/SIGTERM, finish as interrupted now (called by the CLI's ``main``)."""
    if _received is not None:
        sys.stdout.flush()
        finish_interrupted(_received)
