"""`convsweep server`: a local Prefect server and UI; `server status` / `server stop`: the CLI's local server.

``convsweep server`` starts ``prefect server start`` in the foreground (API + UI, embedded
SQLite under ``PREFECT_HOME`` unless ``--database-url`` / ``PREFECT_API_DATABASE_CONNECTION_URL``
names PostgreSQL), bound to 127.0.0.1 unless ``--host`` says otherwise.

``convsweep server status`` and ``convsweep server stop`` concern the background server that
``convsweep sweep`` / ``notebook`` start for their ``PREFECT_HOME`` when no ``PREFECT_API_URL``
is set: Prefect's own (``prefect server start --background``, :mod:`convsweep.server`).
"""

from __future__ import annotations

import os
import sys
from typing import Optional

import click
import typer

from convsweep.server import is_loopback

LOOPBACK_HOST = "127.0.0.1"
DEFAULT_PORT = 4200


def server_command(*, host: str, port: int, database_url: str | None) -> tuple[list[str], dict[str, str]]:
    """The ``prefect server start`` command line and environment for these options.

    Raises
    ------
    ValueError
        For an empty host or a port outside 1-65535.
    """
    if not host or not host.strip():
        raise ValueError("host='' is empty: give an address such as 127.0.0.1")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port={port!r} must be an int in 1-65535")
    env = dict(os.environ)
    if database_url is not None:
        if not database_url.strip():
            raise ValueError("database_url='' is empty: give e.g. postgresql+asyncpg://user:pass@host:5432/prefect")
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
    # The UI asks this URL for data; without it a PREFECT_API_URL exported for
    # another server (or another port) would be used instead.
    if "PREFECT_UI_API_URL" not in env and is_loopback(host):
        env["PREFECT_UI_API_URL"] = f"http://{host.strip()}:{port}/api"
    command = [
        sys.executable,
        "-m",
        "prefect",
        "server",
        "start",
        "--host",
        host.strip(),
        "--port",
        str(port),
        # No usage telemetry from a local tool (and no failed lookups on offline machines).
        "--analytics-off",
    ]
    return command, env


def server(
    context: typer.Context,
    host: str = typer.Option(
        LOOPBACK_HOST,
        "--host",
        metavar="ADDRESS",
        help="Address to bind. The default 127.0.0.1 keeps the API and UI on this machine. "
        "Any other address (e.g. 0.0.0.0) exposes the Prefect API, which has no authentication "
        "unless PREFECT_SERVER_API_AUTH_STRING is set, to every machine that can reach this one: "
        "an explicit choice (see the README).",
    ),
    port: int = typer.Option(DEFAULT_PORT, "--port", metavar="INT", help="Port of the API and UI."),
    database_url: Optional[str] = typer.Option(
        None,
        "--database-url",
        metavar="URL",
        help="Database of the server, e.g. postgresql+asyncpg://USER:PASS@HOST/DB "
        "(default: SQLite under PREFECT_HOME; same as PREFECT_API_DATABASE_CONNECTION_URL).",
    ),
) -> None:
    """Start the local Prefect server and UI (prefect server start), on 127.0.0.1 by default.

    `server status` / `server stop`: the background server that sweeps without PREFECT_API_URL use.
    """
    if context.invoked_subcommand is not None:
        return
    command, env = server_command(host=host, port=port, database_url=database_url)
    shown_host = host.strip()
    if not is_loopback(shown_host):
        click.echo(
            f"convsweep: warning: binding to {shown_host} exposes the Prefect API and UI to the network; "
            "set PREFECT_SERVER_API_AUTH_STRING and firewall the port",
            err=True,
        )
    api_host = LOOPBACK_HOST if shown_host in ("0.0.0.0", "::", "[::]") else shown_host
    click.echo(f"Prefect UI:  http://{api_host}:{port}")
    click.echo(f"Point convsweep at it:  export PREFECT_API_URL=http://{api_host}:{port}/api")
    sys.stdout.flush()
    sys.stderr.flush()
    # Replace this process: Ctrl-C and kill reach the server directly, and its exit code is ours.
    os.execve(command[0], command, env)


def status() -> None:
    """Say whether the Prefect server of this PREFECT_HOME (or PREFECT_API_URL) answers; exit 1 if not."""
    from convsweep.server import server_status

    line, answers = server_status()
    click.echo(line)
    if not answers:
        raise typer.Exit(1)


def stop() -> None:
    """Stop the background server of this PREFECT_HOME (SIGTERM, then SIGKILL after 10 s)."""
    from convsweep.server import prefect_home, stop_server

    home = prefect_home()
    stopped = stop_server(home)
    if stopped is None:
        click.echo(f"no Prefect server was running in the background for {home}")
        return
    click.echo(f"stopped Prefect's server for {home} (pid {stopped.pid}, {stopped.ui_url})")


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        invoke_without_command=True,
        no_args_is_help=False,
        help="Start the local Prefect server and UI (prefect server start), on 127.0.0.1 by default.",
    )
    group.callback()(server)
    group.command("status")(status)
    group.command("stop")(stop)
    app.add_typer(group, name="server")
