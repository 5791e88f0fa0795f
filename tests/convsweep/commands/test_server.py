"""`convsweep server`: the command line and environment it starts, and bad options."""

from __future__ import annotations

import sys

from convsweep.commands import server
from convsweep.server import is_loopback
from tests.convsweep.conftest import convsweep


def test_server_rejects_a_bad_port(env, tmp_path):
    result = convsweep("server", "--port", "70000", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "port=70000" in result.stderr


def test_server_command_binds_loopback_unless_told(monkeypatch):
    monkeypatch.delenv("PREFECT_UI_API_URL", raising=False)
    command, env = server.server_command(host="127.0.0.1", port=4300, database_url=None)
    assert command[:5] == [sys.executable, "-m", "prefect", "server", "start"]
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--port") + 1] == "4300"
    assert "--analytics-off" in command
    assert env["PREFECT_UI_API_URL"] == "http://127.0.0.1:4300/api"
    _, env = server.server_command(host="0.0.0.0", port=4200, database_url="postgresql+asyncpg://u:p@db:5432/prefect")
    assert env["PREFECT_API_DATABASE_CONNECTION_URL"] == "postgresql+asyncpg://u:p@db:5432/prefect"
    assert "PREFECT_UI_API_URL" not in env  # a remote UI must be told its address (README)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")
