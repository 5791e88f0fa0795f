"""convsweep/server.py: Prefect's own background server, started once per PREFECT_HOME and reused.

The CLI runs here have no ``PREFECT_API_URL``: they start the server of a fresh ``PREFECT_HOME``
on a free port (``PREFECT_SERVER_API_PORT``); every test stops it by its PID, pass or fail.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from convsweep import server
from tests.helpers.servers import free_port, leaked_servers, start_convsweep, stop_process

pytestmark = pytest.mark.slow

RUNS = 3


@pytest.fixture
def home_env(env, tmp_path) -> Iterator[dict[str, str]]:
    """The CLI's environment without PREFECT_API_URL: a fresh PREFECT_HOME whose server is stopped at the end."""
    environment = {key: value for key, value in env.items() if key != "PREFECT_API_URL"}
    environment["PREFECT_SERVER_API_PORT"] = str(free_port())
    yield environment
    home = Path(environment["PREFECT_HOME"])
    found = server.running_server(home)
    if found is not None:
        os.kill(found.pid, signal.SIGCONT)
        os.kill(found.pid, signal.SIGKILL)


def sweep_process(env: dict[str, str], cwd: Path, idx_folder: Path, index: int) -> subprocess.Popen:
    args = ["sweep", "--dataset", f"idx:{idx_folder}", "--strides", "1,2", "--chunk-size", "8", "--samples", "0"]
    args += ["--out", str(cwd / f"out-{index}"), "--name", f"at-once-{index}", "--cache-dir", str(cwd / f"c-{index}")]
    return start_convsweep(args, env=env, cwd=cwd)


def cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "convsweep.cli", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_pid_file_name_is_prefects():
    # convsweep reads the PID file Prefect's `server start --background` writes: fails when Prefect renames it.
    from prefect.cli._server_utils import SERVER_PID_FILE_NAME

    assert server.PID_FILE_NAME == SERVER_PID_FILE_NAME


def test_server_three_sweeps_at_once_on_a_fresh_home_share_one_server(tmp_path, home_env, idx_folder):
    processes = [sweep_process(home_env, tmp_path, idx_folder, index) for index in range(RUNS)]
    try:
        outputs = [process.communicate(timeout=600) for process in processes]
    finally:
        for process in processes:
            stop_process(process)
    for index, (process, (stdout, stderr)) in enumerate(zip(processes, outputs, strict=True)):
        assert process.returncode == 0, f"run {index} exited {process.returncode}:\n{(stdout + stderr)[-3000:]}"
        assert "Traceback" not in stdout + stderr
        assert (tmp_path / f"out-{index}" / f"at-once-{index}" / "sizes.csv").is_file()
    home = Path(home_env["PREFECT_HOME"])
    running = server.running_server(home)
    assert running is not None
    assert leaked_servers(home) == [running.pid]  # one server process for the home

    # In a process that already imported Prefect, its clients now talk to that server (no temporary one).
    script = (
        "from convsweep.server import use_server\nuse_server(say=print)\n"
        "from prefect.settings import get_current_settings\nprint(get_current_settings().api.url)"
    )
    used = subprocess.run([sys.executable, "-c", script], env=home_env, capture_output=True, text=True, timeout=300)
    assert used.returncode == 0, used.stderr
    assert used.stdout.split() == [running.url]
    status = cli("server", "status", env=home_env, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert f"pid {running.pid}" in status.stdout and running.url in status.stdout
    stopped = cli("server", "stop", env=home_env, cwd=tmp_path)
    assert stopped.returncode == 0 and f"pid {running.pid}" in stopped.stdout
    assert server.running_server(home) is None
    after = cli("server", "status", env=home_env, cwd=tmp_path)
    assert after.returncode == 1 and "no Prefect server runs in the background" in after.stdout


def test_server_stopped_with_sigstop_is_named_within_the_bound(tmp_path, home_env, idx_folder):
    first = sweep_process(home_env, tmp_path, idx_folder, 0)
    assert first.wait(timeout=600) == 0, first.communicate()[1][-3000:]
    home = Path(home_env["PREFECT_HOME"])
    running = server.running_server(home)
    assert running is not None
    os.kill(running.pid, signal.SIGSTOP)
    began = time.monotonic()
    second = sweep_process(home_env, tmp_path, idx_folder, 1)
    try:
        _, stderr = second.communicate(timeout=180)
    finally:
        stop_process(second)
    waited = time.monotonic() - began
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert second.returncode == 1, stderr
    assert lines == [
        f"convsweep: error: Prefect's server at {running.url} (pid {running.pid}) does not answer "
        f"(no answer within 5 s); stop it with `convsweep server stop` and rerun"
    ]
    assert waited < 90, waited  # ANSWER_SECONDS (30) and one 5-s check, plus a loaded machine's start-up
    status = cli("server", "status", env=home_env, cwd=tmp_path)
    assert status.returncode == 1 and "does not answer" in status.stdout
    stopped = cli("server", "stop", env=home_env, cwd=tmp_path)  # SIGCONT + SIGTERM: a stopped server stops too
    assert stopped.returncode == 0
    assert leaked_servers(home) == []
