"""convsweep.api: the health check and the watchdog that notices a Prefect API going away."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from convsweep.api import APIWatchdog, health_problem


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def health_server():
    server = HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_health_problem_none_when_answering_else_the_cause(health_server):
    port = health_server.server_address[1]
    assert health_problem(f"http://127.0.0.1:{port}/api") is None
    assert health_problem(f"http://127.0.0.1:{port}/elsewhere") == "HTTP 404"
    assert health_problem(f"http://127.0.0.1:{closed_port()}/api", timeout=2) == "connection refused"


def test_watchdog_calls_back_once_when_the_api_stops_answering(health_server):
    port = health_server.server_address[1]
    url = f"http://127.0.0.1:{port}/api"
    calls = []
    watchdog = APIWatchdog(url, lambda *lost: calls.append(lost), interval=0.05, timeout=1, lost_after=0.5).start()
    time.sleep(0.5)  # several healthy checks: no call
    assert calls == []
    health_server.shutdown()
    health_server.server_close()
    deadline = time.monotonic() + 30
    while not calls and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # would a second call come?
    watchdog.stop()
    assert len(calls) == 1
    assert calls[0][0] == url
    assert calls[0][1].startswith("connection refused; no answer for ")


def test_watchdog_reports_an_exited_server_process_at_once():
    class Exited:
        returncode = -9

        def poll(self):
            return self.returncode

    calls = []
    APIWatchdog("http://127.0.0.1:9/api", lambda *lost: calls.append(lost), process=Exited(), interval=0.05).start()
    deadline = time.monotonic() + 30
    while not calls and time.monotonic() < deadline:
        time.sleep(0.05)
    assert calls == [("http://127.0.0.1:9/api", "the temporary API server exited with code -9")]


def test_watchdog_rejects_non_positive_periods():
    with pytest.raises(ValueError, match="interval=0"):
        APIWatchdog("http://127.0.0.1:9/api", print, interval=0)
