"""convsweep.server: the health check of a configured API (one line naming the URL, exit 1; milliseconds)."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading

import pytest

from convsweep.server import PrefectAPIUnreachable, health_problem, require_reachable_api
from tests.convsweep.conftest import api_url_setting, convsweep, dead_url, error_lines


@pytest.mark.parametrize("command", ["sweep", "serve"])
def test_unreachable_api_url_exits_1_with_one_line_naming_it(command, env, tmp_path, idx_folder):
    url = dead_url()
    env["PREFECT_API_URL"] = url
    args = [command, "--dataset", f"idx:{idx_folder}", "--out", str(tmp_path / "out")]
    if command == "serve":
        args += ["--cron", "0 3 * * *"]
    result = convsweep(*args, env=env, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert url.rstrip("/") in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("sizes.csv"))


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(self.status if self.path == "/api/health" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, *args):
        pass


@pytest.fixture
def health_server():
    """A tiny HTTP server on 127.0.0.1 answering /api/health (status settable)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_require_reachable_api(health_server):
    url = f"http://127.0.0.1:{health_server.server_address[1]}/api"
    assert require_reachable_api(url) == url
    _Health.status = 503
    try:
        with pytest.raises(PrefectAPIUnreachable, match="answered HTTP 503"):
            require_reachable_api(url + "/")
    finally:
        _Health.status = 200
    dead = dead_url()
    with pytest.raises(PrefectAPIUnreachable) as raised:
        require_reachable_api(dead)
    assert dead in str(raised.value) and "connection refused" in str(raised.value)
    assert "\n" not in str(raised.value)
    with api_url_setting(None):
        assert require_reachable_api() is None  # no server configured: nothing to check
    with api_url_setting(url):
        assert require_reachable_api() == url


class _PlainHealth(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, *args):
        pass


def test_require_reachable_api_from_the_environment_does_not_import_prefect():
    # The health check takes milliseconds: a plain-http PREFECT_API_URL needs neither Prefect nor httpx.
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PlainHealth)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/api"
    code = (
        "import sys\nfrom convsweep.server import require_reachable_api\n"
        f"assert require_reachable_api() == {url!r}\n"
        "sys.exit(3 if 'prefect' in sys.modules or 'httpx' in sys.modules else 0)"
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", code], env={**os.environ, "PREFECT_API_URL": url}, capture_output=True, text=True
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_health_problem_none_when_answering_else_the_cause(health_server):
    port = health_server.server_address[1]
    assert health_problem(f"http://127.0.0.1:{port}/api") is None
    assert health_problem(f"http://127.0.0.1:{port}/elsewhere") == "HTTP 404"
    assert health_problem(f"http://127.0.0.1:{closed_port()}/api", timeout=2) == "connection refused"
