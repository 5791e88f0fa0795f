"""End-to-end fixtures: a real ``prefect server start``, the CLI in subprocesses, small IDX data.

The server runs on 127.0.0.1 and a free port with a temporary ``PREFECT_HOME``
(so its SQLite database is thrown away), in its own process group; it is
stopped by that group's id (= its PID) when the session ends, pass or fail.
Every other process a test starts is stopped the same way (:func:`stop_process`).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.idx import make_split, write_idx_folder
from tests.helpers.servers import PrefectServer, free_port, group_alive, group_members, stop_process

__all__ = ["PrefectServer", "free_port", "group_alive", "group_members", "stop_process"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def run_cli(args: list[str], *, env: dict[str, str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """``convsweep ARGS`` in a subprocess (own process group, stopped on timeout)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "convsweep.cli", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_process(process, sig=signal.SIGKILL)
        stdout, stderr = process.communicate()
        raise AssertionError(f"convsweep {' '.join(args)} timed out after {timeout} s:\n{stderr[-3000:]}") from None
    finally:
        if process.poll() is None:
            stop_process(process)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def run_python(args: list[str], *, env: dict[str, str], cwd: Path | None = None, timeout: float = 300) -> str:
    """``python ARGS`` (a script, or ``-c CODE``) in a subprocess; asserts it exited 0 (showing its stderr if not), returns its stdout."""
    done = subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def tree_bytes(folder: Path, *, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    """{relative path: bytes} of every file under ``folder``."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and str(path.relative_to(folder)) not in skip
    }


IDX_IMAGES = 40
CHUNK_SIZE = 16  # 40 images -> 3 chunks


@pytest.fixture(scope="session")
def idx_dataset(tmp_path_factory) -> Path:
    """An ``idx:`` folder with a test split of 40 seeded 28x28 images (edges, impulses, noise)."""
    folder = tmp_path_factory.mktemp("idx")
    write_idx_folder(folder, test=make_split(IDX_IMAGES, seed=5), gz=True)
    return folder


def small_sweep_args(idx: Path, out: Path, name: str, cache: Path, *extra: str) -> list[str]:
    """A small sweep: 2 strides x 2 paddings (4 conv settings) x max/avg pooling, 3 chunks of the 40 images."""
    return [
        "sweep",
        "--dataset",
        f"idx:{idx}",
        "--out",
        str(out),
        "--name",
        name,
        "--strides",
        "1,2",
        "--paddings",
        "valid,same",
        "--chunk-size",
        str(CHUNK_SIZE),
        "--samples",
        "0,1",
        "--cache-dir",
        str(cache),
        *extra,
    ]


def table_rows(artifact: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of a table artifact (stored as JSON text of a list of records)."""
    data = artifact["data"]
    return json.loads(data) if isinstance(data, str) else data


# --- a real browser ---------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
    "--window-size=1400,1000",
]


@pytest.fixture
def browser_page(tmp_path):
    """A Playwright page in Debian's headless Chromium, started here with a fresh profile.

    Chromium is our own subprocess (own process group), driven over the DevTools
    protocol (``connect_over_cdp``), and stopped by its PID at the end, pass or fail.
    No browser is downloaded: a missing /usr/bin/chromium fails the test with the
    command that installs it (``./dev.sh test`` does that).
    """
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install -y chromium (./dev.sh test does it)"
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    log = tmp_path / "chromium.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chromium did not open its DevTools port:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with sync_playwright() as playwright:
            browser = playwright.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")
            try:
                context = browser.contexts[0] if browser.contexts else browser.new_context()
                page = context.new_page()
                page.set_viewport_size({"width": 1400, "height": 1000})
                page.set_default_timeout(30_000)
                yield page
            finally:
                browser.close()
    finally:
        stop_process(process)
        assert not group_alive(process.pid), f"chromium group {process.pid} still alive"
