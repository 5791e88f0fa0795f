"""The CLI's local API server (convsweep.local_api): one per PREFECT_HOME, reused, never half-started.

Every server a test starts is stopped by its PID (process group) in the fixture, pass or fail;
the last check of each test is that no process with its PREFECT_HOME is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from convsweep import local_api
from tests.convsweep.conftest import run_convsweep, run_in_process
from tests.convsweep.test_interrupts import flow_run_states, is_alive, processes_with_home

pytestmark = pytest.mark.slow


def _servers(home: Path, module: str) -> list[int]:
    return [pid for pid, command in processes_with_home(home).items() if module in command]


def _wait_for(condition, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A PREFECT_HOME for this test; every local server started with it is killed by PID at the end."""
    folder = tmp_path / "prefect-home"
    monkeypatch.setenv("PREFECT_HOME", str(folder))
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("CONVSWEEP_API", "local")
    yield folder
    for pid in _servers(folder, local_api.MODULE) + _servers(folder, "convsweep.temporary_api"):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


@pytest.fixture
def cli_env(home):
    """The CLI's environment on the default path (no PREFECT_API_URL, CONVSWEEP_API=local)."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    environment.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        CONVSWEEP_API="local",
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
        COLUMNS="200",
    )
    return environment


def test_concurrent_starts_start_one_server_which_is_reused_then_stopped(home):
    # A recorded server that is gone (a dead PID) is not reused: a new one is started.
    home.mkdir(parents=True)
    (home / local_api.STATE_NAME).write_text(
        json.dumps({"pid": 999_999_999, "start": "1", "port": 9, "url": "http://127.0.0.1:9/api"})
    )
    results: list[tuple[local_api.LocalAPI, bool]] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            results.append(local_api.ensure_local_api(home))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(3)]  # flock: one lock per open file, threads too
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not errors, errors
    assert sorted(started for _, started in results) == [False, False, True]
    assert len({api.pid for api, _ in results}) == 1
    api = results[0][0]
    assert _servers(home, local_api.MODULE) == [api.pid]
    assert local_api.read_state(home) == api
    assert local_api.running_local_api(home) == api
    again, started = local_api.ensure_local_api(home)
    assert (again, started) == (api, False)

    assert local_api.stop_local_api(home) == api
    assert not is_alive(api.pid)
    assert local_api.read_state(home) is None
    assert local_api.stop_local_api(home) is None  # nothing left to stop


def test_a_start_that_fails_is_killed_and_leaves_no_state(home):
    with pytest.raises(local_api.LocalAPIError, match="did not answer within"):
        local_api.ensure_local_api(home, startup_timeout=0.01)
    assert local_api.read_state(home) is None
    assert _servers(home, local_api.MODULE) == []


def test_the_server_stops_itself_once_unused_for_its_idle_timeout(home, monkeypatch):
    monkeypatch.setenv(local_api.IDLE_VARIABLE, "2")
    api, started = local_api.ensure_local_api(home)
    assert started
    _wait_for(lambda: not is_alive(api.pid), timeout=120, what="the idle server to stop")
    assert local_api.read_state(home) is None


def test_a_bad_api_mode_is_refused_in_one_line(capsys, monkeypatch):
    monkeypatch.setenv("CONVSWEEP_API", "sometimes")
    code, _, err = run_in_process(capsys, "notebook", "--dataset", "sample")
    assert code == 2
    assert err.strip().splitlines() == ["convsweep: error: CONVSWEEP_API='sometimes' must be local or temporary"]


def test_cli_runs_share_one_server_which_records_every_run_and_server_stop_ends_it(tmp_path, cli_env, home):
    # Two sweeps started at once on one PREFECT_HOME: one server, both runs recorded in its database.
    args = ["sweep", "--dataset", "sample", "--limit", "2", "--samples", "0", "--out", str(tmp_path / "out")]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "convsweep.cli", *args, "--name", f"run-{index}"],
            env={**cli_env, "CONVSWEEP_CACHE_DIR": str(tmp_path / f"cache-{index}")},
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(2)
    ]
    outputs = [process.communicate(timeout=600) for process in processes]
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr
    started_lines = [line for _, stderr in outputs for line in stderr.splitlines() if "started a local" in line]
    assert len(started_lines) == 1, outputs
    api = local_api.read_state(home)
    assert api is not None and _servers(home, local_api.MODULE) == [api.pid]
    assert flow_run_states(home) == ["COMPLETED", "COMPLETED"]

    status = run_convsweep("server", "status", env=cli_env, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert f"pid {api.pid}" in status.stdout and api.ui_url in status.stdout

    stopped = run_convsweep("server", "stop", env=cli_env, cwd=tmp_path)
    assert stopped.returncode == 0, stopped.stderr
    assert f"pid {api.pid}" in stopped.stdout
    assert not is_alive(api.pid)
    after = run_convsweep("server", "status", env=cli_env, cwd=tmp_path)
    assert after.returncode == 1 and "no local Prefect server" in after.stdout
    assert processes_with_home(home) == {}


@pytest.mark.parametrize(("mode", "module"), [("local", local_api.MODULE), ("temporary", "convsweep.temporary_api")])
def test_ctrl_c_while_the_api_server_starts_leaves_no_server(tmp_path, cli_env, home, mode, module):
    # Issue 22, item 10: the CLI interrupted while its API server is still starting takes it along.
    process = subprocess.Popen(
        [sys.executable, "-m", "convsweep.cli", "sweep", "--dataset", "sample", "--out", str(tmp_path / "out")],
        env={**cli_env, "CONVSWEEP_API": mode, "CONVSWEEP_CACHE_DIR": str(tmp_path / "cache")},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        server_pid = _wait_for(lambda: (_servers(home, module) or [None])[0], timeout=240, what="the server process")
        os.killpg(process.pid, signal.SIGINT)  # a terminal's Ctrl-C
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1].startswith("convsweep: interrupted (SIGINT)"), stderr
    assert not is_alive(server_pid)  # gone when the CLI has exited, not seconds later
    assert processes_with_home(home) == {}
    assert local_api.read_state(home) is None
