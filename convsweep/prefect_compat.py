"""Every private Prefect API the CLI's side relies on, in one place (issue 16, item 4).

Prefect is pinned to the tested minor (``prefect>=3.9.1,<3.10``, pyproject.toml).  Each
function below names the Prefect source it depends on (as of 3.9.1) and what breaks if
Prefect changes it; ``tests/convsweep/test_prefect_compat.py`` has one test per assumption,
which fails when the assumption no longer holds.  The tasks' side (record storage, lock
files) is :mod:`tasks.prefect_compat`.

All of it concerns Prefect's temporary API server,
``prefect/server/api/server.py::SubprocessASGIServer`` (3.9.1 lines 1066-1235), which
:mod:`convsweep.temporary_api` starts in its own session with a lifeline; no upstream
option does that (Prefect starts it in the caller's process group and stops it only from
``atexit``; see docs/decisions/0002-temporary-api.md).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from functools import cache
from typing import Any

# What Prefect's SubprocessASGIServer._run_uvicorn_command passes to the server process
# besides the settings (3.9.1 server.py lines 1181-1185).
PREFECT_SERVER_ENVIRONMENT = {
    "PREFECT_UI_ENABLED": "0",
    "PREFECT__SERVER_EPHEMERAL": "1",
    "PREFECT__SERVER_FINAL": "1",
}


def uvicorn_arguments(port: int) -> list[str]:
    """The arguments after ``python -m uvicorn`` of Prefect's temporary server on ``port``.

    A copy of Prefect 3.9.1's ``SubprocessASGIServer._run_uvicorn_command`` (server.py
    lines 1186-1204).  If Prefect changes them (another app factory, host, lifespan), the
    temporary server started here would differ from Prefect's own;
    test_uvicorn_command_matches_prefects_own runs Prefect's method with ``Popen`` captured
    and compares.
    """
    import prefect

    return [
        "--app-dir",
        str(prefect.__module_path__.parent),
        "--factory",
        "prefect.server.api.server:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        "--lifespan",
        "on",
    ]


def server_environment() -> dict[str, str]:
    """The environment of Prefect's temporary server process (same as Prefect 3.9.1's; see above)."""
    from prefect.settings import get_current_settings

    return {
        **os.environ,
        **PREFECT_SERVER_ENVIRONMENT,
        **get_current_settings().to_environment_variables(exclude_unset=True),
    }


StartProcess = Callable[[Any, list[str], dict[str, str]], "subprocess.Popen[Any]"]


@cache
def temporary_server_class(start_process: StartProcess) -> type:
    """A ``SubprocessASGIServer`` subclass whose server process is started by ``start_process``.

    ``start_process(server, uvicorn_arguments, environment)`` returns the ``Popen``.
    Overrides the private ``SubprocessASGIServer._run_uvicorn_command`` (server.py line
    1179), which ``start()`` calls (lines 1137 and 1149, again on a port clash: exit code 3)
    and whose result it keeps in ``server_process``.  If Prefect renames it, the override is
    silently unused and Prefect's own server (in the terminal's process group, no lifeline)
    runs instead: test_run_uvicorn_command_is_what_start_calls guards it.
    """
    from prefect.server.api.server import SubprocessASGIServer

    class PrefectTemporaryServer(SubprocessASGIServer):
        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            assert self.port is not None  # Prefect picks the port before it starts the process
            return start_process(self, uvicorn_arguments(int(self.port)), server_environment())

    return PrefectTemporaryServer


def registered_temporary_server() -> Any:
    """The temporary server Prefect's clients of this process use, if one is registered, else None.

    ``SubprocessASGIServer`` keeps one instance per port in the private class dict
    ``_instances`` (server.py line 1067; ``__new__`` line 1070 registers, ``stop`` line 1229
    unregisters); the port-less one (key None) is the one ``prefect.client`` starts and uses
    when no ``PREFECT_API_URL`` is set (prefect/client/orchestration/__init__.py,
    ``get_client``: ``SubprocessASGIServer()``).  So an instance of our subclass created
    first is the one every client uses.  If Prefect changes the registry (key, name, or
    per-class dicts), a second server would start: test_server_registry_is_per_process_by_port.
    """
    from prefect.server.api.server import SubprocessASGIServer

    return SubprocessASGIServer._instances.get(None)
