"""A real Prefect server for the tests, and processes stopped by their process group.

The suite starts ONE ``prefect server start`` for the session (``tests/conftest.py``'s
``prefect_server``), as Prefect's own ``prefect_test_harness`` does: on 127.0.0.1 and a free
port, with a temporary ``PREFECT_HOME``, in its own process group, stopped by that group's id
(= its PID) when the session ends, pass or fail.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

SERVER_START_TIMEOUT = 480.0  # generous: CI shares the machine, and a loaded one starts a server slowly


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_convsweep(args: list[str], *, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """``convsweep ARGS`` in a new session (its PID is its process group's id), output piped as text."""
    return subprocess.Popen(
        [sys.executable, "-m", "convsweep.cli", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def stop_process(process: subprocess.Popen, *, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
    """Stop ``process`` and its children by its process group (started with ``start_new_session``).

    Sends ``sig`` to the group whose id is the process's PID, waits up to
    ``timeout`` seconds, then SIGKILLs the group.  Returns the exit code.
    """
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    # Children of the group (e.g. a server's worker) may outlive the leader: kill what is left.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if process.poll() is None:
        process.wait(timeout=10)
    return process.returncode


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid``, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


def group_alive(pgid: int, *, wait: float = 10.0) -> bool:
    """True if group ``pgid`` still has live processes after up to ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while group_members(pgid):
        if time.monotonic() > deadline:
            return True
        time.sleep(0.1)
    return False


@dataclass
class PrefectServer:
    """A running ``prefect server start``: where it is and how to talk to it."""

    url: str  # http://127.0.0.1:PORT (the UI)
    home: Path
    pid: int
    log: Path

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a client subprocess: this server's API, its own PREFECT_HOME, quiet logs."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
        env.update(
            PREFECT_API_URL=self.api_url,
            PREFECT_HOME=str(self.home / "client"),
            PREFECT_LOGGING_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.api_url}{path}", params=params or None, timeout=30)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = httpx.post(f"{self.api_url}{path}", json=body or {}, timeout=30)
        response.raise_for_status()
        return response.json()

    # -- the queries the tests need --------------------------------------------------

    def sweep_flow_runs(self, sweep_name: str) -> list[dict[str, Any]]:
        """Flow runs of the 'sweep' flow whose ``name`` parameter is ``sweep_name``, oldest first."""
        runs = self.post(
            "/flow_runs/filter",
            {"flows": {"name": {"any_": ["sweep"]}}, "sort": "EXPECTED_START_TIME_ASC", "limit": 200},
        )
        return [run for run in runs if run["parameters"].get("name") == sweep_name]

    def task_runs(self, flow_run_id: str) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = []
        while True:
            page = self.post(
                "/task_runs/filter",
                {"flow_runs": {"id": {"any_": [flow_run_id]}}, "limit": 200, "offset": len(runs)},
            )
            runs.extend(page)
            if len(page) < 200:
                return runs

    def flow_runs(self, flow_name: str) -> list[dict[str, Any]]:
        """Every flow run of flow ``flow_name``, oldest first."""
        return self.post(
            "/flow_runs/filter",
            {"flows": {"name": {"any_": [flow_name]}}, "sort": "EXPECTED_START_TIME_ASC", "limit": 200},
        )

    def logs(self, flow_run_id: str) -> list[str]:
        """The messages of every log line of a flow run and its task runs, oldest first."""
        lines: list[dict[str, Any]] = []
        while True:
            page = self.post(
                "/logs/filter",
                {
                    "logs": {"flow_run_id": {"any_": [flow_run_id]}},
                    "sort": "TIMESTAMP_ASC",
                    "limit": 200,
                    "offset": len(lines),
                },
            )
            lines.extend(page)
            if len(page) < 200:
                return [line["message"] for line in lines]

    def artifacts(self, flow_run_id: str) -> list[dict[str, Any]]:
        return self.post("/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 200})


def wait_healthy(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prefect server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"prefect server not healthy within {SERVER_START_TIMEOUT:.0f} s:\n{log.read_text()[-3000:]}")


def running_prefect_server(home: Path) -> Iterator[PrefectServer]:
    """A real Prefect server (API + UI, SQLite under ``home``) on 127.0.0.1, until the generator is closed."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_API_URL=f"{url}/api",
        PREFECT_SERVER_LOGGING_LEVEL="WARNING",
    )
    log = home / "server.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--analytics-off",
            ],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so that its children are stopped with it
        )
    try:
        wait_healthy(process, url, log)
        yield PrefectServer(url=url, home=home, pid=process.pid, log=log)
    finally:
        stop_process(process)
        assert not group_alive(process.pid), f"prefect server group {process.pid} still alive"


def leaked_servers(under: Path) -> list[int]:
    """PIDs of Prefect servers whose PREFECT_HOME lies under ``under`` (a test's temporary folders)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if "prefect.server.api.server:create_app" not in (entry / "cmdline").read_bytes().decode(errors="replace"):
                continue
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        homes = [
            item.split(b"=", 1)[1].decode(errors="replace") for item in environ if item.startswith(b"PREFECT_HOME=")
        ]
        if homes and Path(homes[0]).is_relative_to(under):
            found.append(int(entry.name))
    return found
