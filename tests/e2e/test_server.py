"""`convsweep server`: the real Prefect server and UI, listening on 127.0.0.1 only, stopped by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx

from tests.e2e.conftest import free_port, group_alive, stop_process


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket LISTENing on ``port`` (from /proc/net/tcp and tcp6)."""
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) == port and fields[3] == "0A":  # 0A = LISTEN
                addresses.add(address)
    return addresses


def test_server_command_serves_api_and_ui_on_loopback_only(tmp_path):
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "home")
    log = tmp_path / "server.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "convsweep.cli", "server", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.25)
        # It tells the user how to point clients at it, and binds nothing but loopback.
        assert f"export PREFECT_API_URL=http://127.0.0.1:{port}/api" in log.read_text()
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing else
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=30)
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert (tmp_path / "home" / "prefect.db").exists()  # SQLite under PREFECT_HOME
    finally:
        code = stop_process(process, sig=signal.SIGINT, timeout=60)
    assert not group_alive(process.pid)
    assert code is not None
