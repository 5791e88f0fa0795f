"""Shared fixtures for running the CLI as a process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.idx import make_split, write_idx_folder

ROOT = Path(__file__).resolve().parents[2]


def run_convsweep(*args: str, env: dict[str, str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """``convsweep ARGS`` in a new process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "convsweep.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def env(tmp_path, prefect_server, prefect_api):
    """A clean environment: the session's Prefect server, a temporary Prefect home, Keras home and cache."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    environment.update(
        PREFECT_API_URL=prefect_server.api_url,
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        KERAS_HOME=str(tmp_path / "no-keras-home"),
        CONVSWEEP_CACHE_DIR=str(tmp_path / "cache"),
        PYTHONPATH=str(ROOT),
        COLUMNS="200",
    )
    return environment


@pytest.fixture
def idx_folder(tmp_path):
    """An ``idx:`` folder with a test split of 20 generated 28x28 images."""
    return write_idx_folder(tmp_path / "idx", test=make_split(20, seed=3))


def run_in_process(capsys, *args: str) -> tuple[int, str, str]:
    """``convsweep ARGS`` in this process (for bad input, which exits before any work): code, stdout, stderr."""
    from convsweep.cli import main

    with pytest.raises(SystemExit) as exited:
        main(list(args))
    captured = capsys.readouterr()
    code = exited.value.code
    return (0 if code is None else int(code)), captured.out, captured.err


def dead_url() -> str:
    """An API URL on 127.0.0.1 where nothing listens (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api"


def convsweep(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return run_convsweep(*args, env=env, cwd=cwd, timeout=120)


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def api_url_setting(url: str | None):
    """PREFECT_API_URL as Prefect sees it (a settings context beats the environment)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if url is None:
        return temporary_settings(restore_defaults={PREFECT_API_URL})
    return temporary_settings(updates={PREFECT_API_URL: url})
