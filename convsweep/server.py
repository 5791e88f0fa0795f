"""The Prefect API a CLI run reports to: ``PREFECT_API_URL``, else Prefect's own background server.

Without ``PREFECT_API_URL``, ``convsweep sweep`` and ``convsweep notebook`` use the server that
``prefect server start --background`` runs for this ``PREFECT_HOME`` (all of Prefect's services,
so schedules and ``convsweep serve`` work against it), starting it the first time and reusing it
after.  Prefect's own PID file (``PREFECT_HOME/server.pid``, created exclusively by Prefect) is
the only state: the server's address is read from its command line, so several CLIs starting at
the same instant end up on one server.  ``convsweep server status|stop`` are thin wrappers.

A server that exists but does not answer (stopped with SIGSTOP, hung) is waited for at most
:data:`ANSWER_SECONDS`, then named in one line with what to do.  A set ``PREFECT_API_URL`` is
checked once, quickly (:func:`require_reachable_api`, no retries), before any work.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CHECK_TIMEOUT_SECONDS = 5.0


class PrefectAPIUnreachable(RuntimeError):
    """The configured Prefect API did not answer its health check (a runtime failure: exit 1)."""


def configured_api_url() -> str | None:
    """``PREFECT_API_URL`` as Prefect resolves it (environment, then the active profile), or None."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url).rstrip("/") if url else None


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost': addresses no other machine can reach."""
    host = host.strip().lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_reachable_api(url: str | None = None, *, timeout: float = CHECK_TIMEOUT_SECONDS) -> str | None:
    """Check that the Prefect API answers ``GET <url>/health``; return the URL checked.

    Takes milliseconds: with ``PREFECT_API_URL`` in the environment and Prefect not yet
    imported, the URL is read from there (environment variables win over Prefect profiles)
    without importing Prefect (~1 s); see :func:`health_problem` for the check itself.

    Parameters
    ----------
    url
        The API URL (``http://127.0.0.1:4200/api``); default: the configured
        ``PREFECT_API_URL``.  When neither is set, Prefect runs flows against a
        temporary local API and there is nothing to check: returns None.
    timeout
        Seconds for the connection and the answer (no retries).

    Raises
    ------
    PrefectAPIUnreachable
        One line naming the URL and the cause, e.g.
        ``Prefect API at http://127.0.0.1:9/api is unreachable (connection refused) ...``.
    """
    if url is None and "prefect.settings" not in sys.modules and os.environ.get("PREFECT_API_URL", "").strip():
        url = os.environ["PREFECT_API_URL"].strip()
    target = (url or configured_api_url() or "").rstrip("/")
    if not target:
        return None
    hint = "start it with `convsweep server` or unset PREFECT_API_URL"
    problem = health_problem(target, timeout=timeout)
    if problem is None:
        return target
    if problem.startswith("HTTP "):
        raise PrefectAPIUnreachable(
            f"Prefect API at {target} answered {problem} to /health; "
            "check PREFECT_API_URL (it ends in /api for a local server)"
        )
    if problem.startswith("not a usable URL"):
        raise PrefectAPIUnreachable(f"PREFECT_API_URL={target!r} is {problem}")
    raise PrefectAPIUnreachable(f"Prefect API at {target} is unreachable ({problem}); {hint}")


def health_problem(url: str, *, timeout: float = CHECK_TIMEOUT_SECONDS) -> str | None:
    """None when ``GET <url>/health`` answers 200 within ``timeout`` s, else why not, in a few words.

    E.g. ``connection refused``, ``no answer within 5 s``, ``HTTP 404``,
    ``not a usable URL (...)``.  One attempt, no retries.  A plain ``http://`` URL is
    checked with the standard library (``/health`` needs no credentials on a Prefect
    server, and importing httpx and Prefect costs about a second); an ``https://`` URL
    with httpx and Prefect's TLS and credential settings.
    """
    target = url.rstrip("/")
    if target.lower().startswith("http://"):
        return _plain_http_problem(target, timeout)
    return _httpx_problem(target, timeout)


def _plain_http_problem(target: str, timeout: float) -> str | None:
    import http.client
    import socket
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{target}/health", timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, ConnectionRefusedError):
            return "connection refused"
        if isinstance(reason, (TimeoutError, socket.timeout)):
            return f"no answer within {timeout:g} s"
        return f"cannot connect: {reason}"
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except (http.client.HTTPException, OSError) as error:
        return f"{type(error).__name__}: {error}"
    except ValueError as error:  # a malformed URL
        return f"not a usable URL ({error})"
    return None if status == 200 else f"HTTP {status}"


def _auth_headers() -> dict[str, str]:
    from prefect.settings import get_current_settings

    api = get_current_settings().api
    if api.key is not None:
        return {"Authorization": f"Bearer {api.key.get_secret_value()}"}
    if api.auth_string is not None:
        import base64

        token = base64.b64encode(api.auth_string.get_secret_value().encode()).decode()
        return {"Authorization": f"Basic {token}"}
    return {}


def _httpx_problem(target: str, timeout: float) -> str | None:
    import httpx
    from prefect.settings import get_current_settings

    try:
        response = httpx.get(
            f"{target}/health",
            headers=_auth_headers(),
            timeout=timeout,
            verify=not get_current_settings().api.tls_insecure_skip_verify,
            follow_redirects=True,
        )
    except httpx.ConnectError as error:
        return "connection refused" if "refused" in str(error).lower() else f"cannot connect: {error}"
    except httpx.TimeoutException:
        return f"no answer within {timeout:g} s"
    except httpx.HTTPError as error:
        return f"{type(error).__name__}: {error}"
    except (httpx.InvalidURL, ValueError) as error:  # a malformed URL
        return f"not a usable URL ({error})"
    return None if response.status_code == 200 else f"HTTP {response.status_code}"


# Prefect's own name (prefect.cli._server_utils.SERVER_PID_FILE_NAME; tests/convsweep/test_server.py).
PID_FILE_NAME = "server.pid"
SERVER_APP = "prefect.server.api.server:create_app"  # in the server's command line (uvicorn --factory)
HOST = "127.0.0.1"
ANSWER_SECONDS = 30.0  # a server that exists must answer within this
STARTUP_VARIABLE = "CONVSWEEP_SERVER_STARTUP_SECONDS"
DEFAULT_STARTUP_SECONDS = 180.0  # a fresh server on a loaded 2-core machine: imports and migrations
STOP_GRACE_SECONDS = 10.0


class ServerError(RuntimeError):
    """The local server could not be started or does not answer (a runtime failure: exit 1)."""


@dataclass(frozen=True)
class LocalServer:
    """Prefect's background server of one ``PREFECT_HOME``: its PID and API URL."""

    pid: int
    url: str
    home: Path

    @property
    def ui_url(self) -> str:
        return self.url.removesuffix("/api")


def prefect_home() -> Path:
    """``PREFECT_HOME`` as Prefect resolves it (default ``~/.prefect``)."""
    from prefect.settings import get_current_settings

    return Path(get_current_settings().home).expanduser()


def _startup_seconds() -> float:
    raw = os.environ.get(STARTUP_VARIABLE, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_STARTUP_SECONDS
    except ValueError:
        raise ValueError(f"{STARTUP_VARIABLE}={raw!r} must be a number of seconds") from None
    if not value > 0:
        raise ValueError(f"{STARTUP_VARIABLE}={raw!r} must be > 0")
    return value


def _command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def running_server(home: Path | None = None) -> LocalServer | None:
    """The background server Prefect recorded for ``home``, if its process is alive; else None."""
    home = home or prefect_home()
    try:
        pid = int((home / PID_FILE_NAME).read_text().strip())
    except (OSError, ValueError):
        return None
    argv = _command_line(pid)
    if SERVER_APP not in argv:  # gone, or the PID now belongs to another process
        return None
    option = dict(zip(argv, argv[1:], strict=False))
    return LocalServer(
        pid=pid, url=f"http://{option.get('--host', HOST)}:{option.get('--port', '4200')}/api", home=home
    )


def _port() -> int:
    """``PREFECT_SERVER_API_PORT`` (environment or profile; Prefect's default 4200)."""
    from prefect.settings import get_current_settings

    return int(get_current_settings().server.api.port)


def _start(home: Path) -> None:
    """``prefect server start --background`` for ``home``, in its own session (Ctrl-C here does not reach it)."""
    pid_file = home / PID_FILE_NAME
    if pid_file.exists() and running_server(home) is None:
        pid_file.unlink(missing_ok=True)  # left by a server that died: Prefect would refuse to start
    home.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "prefect", "server", "start", "--background"]
    command += ["--host", HOST, "--port", str(_port()), "--analytics-off"]
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    # cwd: the server's `python -m uvicorn` must not import a user's uvicorn.py or prefect.py.
    done = subprocess.run(command, env=env, cwd=home, capture_output=True, text=True, start_new_session=True)
    if done.returncode != 0 and running_server(home) is None:  # losing a start race is fine: the winner's is used
        said = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        why = said[-1] if said else f"exit code {done.returncode}"
        raise ServerError(
            f"could not start Prefect's server for {home} ({why}); "
            "set PREFECT_SERVER_API_PORT to a free port, or PREFECT_API_URL to a running server"
        )


def _wait_until_answering(server: LocalServer, deadline: float) -> None:
    # uvicorn binds its port only once the app has started (migrations included): a starting server
    # refuses connections until ``deadline``; one that accepts them and does not answer (stopped,
    # hung) is given ANSWER_SECONDS from the first such check.
    hung_since: float | None = None
    while True:
        problem = health_problem(server.url, timeout=5.0)
        if problem is None:
            return
        if running_server(server.home) is None:
            raise ServerError(f"Prefect's server for {server.home} exited while starting ({problem})")
        now = time.monotonic()
        hung_since = (hung_since or now) if problem.startswith("no answer") else None
        if now > deadline or (hung_since is not None and now - hung_since > ANSWER_SECONDS):
            raise ServerError(
                f"Prefect's server at {server.url} (pid {server.pid}) does not answer ({problem}); "
                "stop it with `convsweep server stop` and rerun"
            )
        time.sleep(0.25)


def use_server(*, say: Callable[[str], None]) -> str:
    """The API URL for this process's flow runs, exported as ``PREFECT_API_URL``; starts the server if needed.

    Raises
    ------
    ServerError, PrefectAPIUnreachable
        One line naming the server and what to do (exit 1).
    """
    configured = require_reachable_api()  # PREFECT_API_URL set: it must answer now
    if configured is not None:
        return configured
    home = prefect_home()
    server = running_server(home)
    if server is None:
        say(f"starting Prefect's server for {home} (once; `convsweep server stop` stops it)")
        _start(home)
        server = running_server(home)
        if server is None:
            raise ServerError(f"Prefect's server for {home} exited as it started")
    # A server started a moment ago (here or by a concurrent CLI) may still be migrating its database.
    started = (home / PID_FILE_NAME).stat().st_mtime
    remaining = max(ANSWER_SECONDS, started + _startup_seconds() - time.time())
    _wait_until_answering(server, time.monotonic() + remaining)
    os.environ["PREFECT_API_URL"] = server.url
    # Prefect read its settings when first imported (above): without this, its clients in this
    # process would still see no URL and start a temporary server of their own.
    from prefect.context import refresh_global_settings_context

    refresh_global_settings_context()
    return server.url


def stop_server(home: Path | None = None) -> LocalServer | None:
    """Stop the background server of ``home`` (SIGTERM, SIGKILL after a grace); the stopped server or None."""
    home = home or prefect_home()
    server = running_server(home)
    if server is not None:
        os.kill(server.pid, signal.SIGTERM)
        os.kill(server.pid, signal.SIGCONT)  # a stopped (SIGSTOP) process acts on SIGTERM only once continued
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while _command_line(server.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _command_line(server.pid):
            os.kill(server.pid, signal.SIGKILL)
    (home / PID_FILE_NAME).unlink(missing_ok=True)
    return server


def server_status() -> tuple[str, bool]:
    """One line about the server this ``PREFECT_HOME``'s runs use, and whether it answers."""
    configured = configured_api_url()
    if configured is not None:
        problem = health_problem(configured)
        return (f"PREFECT_API_URL={configured}: " + ("answers" if problem is None else problem)), problem is None
    home = prefect_home()
    server = running_server(home)
    if server is None:
        return f"no Prefect server runs in the background for {home} (a sweep starts one)", False
    problem = health_problem(server.url)
    if problem is not None:
        return (
            f"Prefect's server for {home} (pid {server.pid}, {server.url}) does not answer ({problem}); "
            "stop it with `convsweep server stop`"
        ), False
    return f"Prefect's server for {home}: pid {server.pid}, UI {server.ui_url}, API {server.url}", True
