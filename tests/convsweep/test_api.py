"""The API health check takes milliseconds: no Prefect import for a plain-http PREFECT_API_URL."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, *args):
        pass


def test_require_reachable_api_from_the_environment_does_not_import_prefect():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/api"
    code = (
        "import sys\nfrom convsweep.api import require_reachable_api\n"
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
