"""One test per assumption convsweep/prefect_compat.py (and the CLI's side) makes about Prefect.

Each fails when the assumption breaks (a Prefect upgrade); the docstring of the function
under test says what would break in convsweep.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from typing import Any

import pytest
from prefect.server.api import server as prefect_server
from prefect.server.api.server import SubprocessASGIServer

from convsweep import prefect_compat


class _Captured(Exception):
    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        super().__init__("captured")
        self.args_, self.env = args, env


def test_uvicorn_command_matches_prefects_own(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_popen(args: list[str], env: dict[str, str], **kwargs: Any) -> Any:
        assert not kwargs, f"Prefect now passes {sorted(kwargs)} to Popen: copy them"
        raise _Captured(args, env)

    monkeypatch.setattr(prefect_server.subprocess, "Popen", fake_popen)

    class Port:
        port = 8123

    with pytest.raises(_Captured) as captured:
        SubprocessASGIServer._run_uvicorn_command(Port())  # type: ignore[arg-type]
    args, env = captured.value.args_, captured.value.env
    assert args[:3] == [sys.executable, "-m", "uvicorn"]
    assert args[3:] == prefect_compat.uvicorn_arguments(8123)
    assert env == prefect_compat.server_environment()


def test_run_uvicorn_command_is_what_start_calls_and_keeps() -> None:
    calls: list[tuple[list[str], dict[str, str]]] = []

    def start_process(server: Any, arguments: list[str], environment: dict[str, str]) -> Any:
        calls.append((arguments, environment))
        raise _Captured(arguments, environment)

    server_class = prefect_compat.temporary_server_class(start_process)
    assert issubclass(server_class, SubprocessASGIServer)
    assert "_run_uvicorn_command" in vars(SubprocessASGIServer), "Prefect renamed the method convsweep overrides"
    server = server_class(port=8124)
    try:
        with pytest.raises(_Captured):
            server.start(timeout=1)
        assert len(calls) == 1 and "--port" in calls[0][0] and calls[0][0][calls[0][0].index("--port") + 1] == "8124"
        assert server.running is False  # start() resets it on failure
    finally:
        server.stop()
    assert 8124 not in SubprocessASGIServer._instances
    # start() keeps what the method returned as server_process (the watchdog watches it).
    assert "self.server_process = self._run_uvicorn_command()" in inspect.getsource(SubprocessASGIServer.start)


def test_server_registry_is_per_process_by_port_and_shared_by_prefects_clients() -> None:
    if prefect_compat.registered_temporary_server() is not None:
        pytest.skip("a temporary server is already registered in this test process")
    server_class = prefect_compat.temporary_server_class(lambda *a: None)
    ours = server_class()
    try:
        assert prefect_compat.registered_temporary_server() is ours
        assert SubprocessASGIServer() is ours  # what get_client() creates when no PREFECT_API_URL is set
        assert SubprocessASGIServer(port=8125) is SubprocessASGIServer(port=8125)
        SubprocessASGIServer(port=8125).stop()
    finally:
        ours.stop()
    assert prefect_compat.registered_temporary_server() is None
    from prefect.client import orchestration

    assert "SubprocessASGIServer()" in inspect.getsource(orchestration.get_client)


def test_stop_terminates_the_process_and_unregisters() -> None:
    server = SubprocessASGIServer(port=8126)
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    server.server_process, server.running = process, True
    server.stop()
    assert process.poll() is not None  # terminated (SIGTERM) and waited for
    assert server.server_process is None and server.running is False
    assert 8126 not in SubprocessASGIServer._instances


def test_client_workers_drain_all_returns_done_and_not_done() -> None:
    # convsweep.flow_runs.drain_events: EventsWorker/APILogWorker.drain_all(timeout=, at_exit=False)
    # from sync code returns concurrent.futures.wait's (done, not_done).
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        parameters = inspect.signature(worker.drain_all).parameters
        assert {"timeout", "at_exit"} <= set(parameters)
        result = worker.drain_all(timeout=1.0, at_exit=False)
        done, not_done = result
        assert isinstance(done, set) and isinstance(not_done, set)


def test_termination_signal_is_what_the_run_guard_raises() -> None:
    # convsweep.run_guard raises TerminationSignal(signal=...) on SIGTERM; Prefect's engine marks
    # the flow run Crashed for a BaseException that is not an Exception.
    from prefect.exceptions import TerminationSignal

    error = TerminationSignal(signal=15)
    assert error.signal == 15
    assert not isinstance(error, Exception) and isinstance(error, BaseException)


def test_process_pool_workers_get_settings_not_the_temporary_api_url() -> None:
    # docs/decisions/0008: convsweep.task_runners._SharedAPI exports the temporary API's URL because
    # get_client keeps it in a local variable (not a setting) and ProcessPoolTaskRunner hands workers
    # only the settings and os.environ. When this fails, Prefect changed how workers find the API:
    # measure again (decision 0008) whether the mixin is still needed.
    from prefect.client import orchestration
    from prefect.task_runners import ProcessPoolTaskRunner

    assert "api = server.api_url" in inspect.getsource(orchestration.get_client)
    submit = inspect.getsource(ProcessPoolTaskRunner.submit)
    assert "to_environment_variables(exclude_unset=True)" in submit and "os.environ" in submit
