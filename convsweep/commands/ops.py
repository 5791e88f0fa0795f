"""`convsweep server` and `convsweep serve`: a local Prefect server, and sweeps on a schedule.

* ``convsweep server`` starts ``prefect server start`` (API + UI, embedded
  SQLite under ``PREFECT_HOME`` unless ``--database-url`` /
  ``PREFECT_API_DATABASE_CONNECTION_URL`` names PostgreSQL), bound to
  127.0.0.1 unless ``--host`` says otherwise.
* ``convsweep serve`` registers the sweep flow as one or more deployments with
  a cron or interval schedule and fixed parameters, and runs their flow runs
  in this process's children until Ctrl-C (``flow.serve``, for several flows
  at once).  Every parameter, schedule and runner option is checked before
  anything is registered: bad input exits 2 and the server is left untouched.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import click
import typer

from convsweep import settings as sweep_settings
from convsweep.commands.run import SweepOption, sweep_options_to_parameters
from convsweep.runners import (
    PrefectAPIUnreachable,
    RunnerOption,
    check_runner_options,
    configured_api_url,
    require_reachable_api,
)

LOOPBACK_HOST = "127.0.0.1"
DEFAULT_PORT = 4200

# Keys of a --from-config entry that choose the task runner (the others: schedule keys
# cron/interval/timezone, cache_dir, config, description, tags; the rest are sweep parameters).
_RUNNER_KEYS = ("runner", "dask_address", "workers")


class PrefectServerRequired(RuntimeError):
    """Scheduled runs need a running Prefect server (a runtime condition: exit 1)."""


# ---------------------------------------------------------------------------
# convsweep server
# ---------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost': addresses no other machine can reach."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


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
        sys.executable, "-m", "prefect", "server", "start",
        "--host", host.strip(), "--port", str(port),
        # No usage telemetry from a local tool (and no failed lookups on offline machines).
        "--analytics-off",
    ]
    return command, env


def server(
    host: str = typer.Option(
        LOOPBACK_HOST,
        "--host",
        help="Address to bind. The default 127.0.0.1 keeps the API and UI on this machine. "
        "Any other address (e.g. 0.0.0.0) exposes the Prefect API, which has no authentication "
        "unless PREFECT_SERVER_API_AUTH_STRING is set, to every machine that can reach this one: "
        "an explicit choice (see the README).",
    ),
    port: int = typer.Option(DEFAULT_PORT, "--port", help="Port of the API and UI."),
    database_url: Optional[str] = typer.Option(
        None,
        "--database-url",
        help="Database of the server, e.g. postgresql+asyncpg://USER:PASS@HOST:5432/prefect "
        "(default: SQLite under PREFECT_HOME; same as PREFECT_API_DATABASE_CONNECTION_URL).",
    ),
) -> None:
    """Start the local Prefect server and UI (prefect server start), on 127.0.0.1 by default."""
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


# ---------------------------------------------------------------------------
# convsweep serve
# ---------------------------------------------------------------------------


@dataclass
class ServedSweep:
    """One deployment of the sweep flow: its name, schedule, parameters and task runner."""

    name: str
    cron: str | None = None
    interval: float | None = None
    timezone: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    runner: str | None = None
    dask_address: str | None = None
    workers: int | None = None
    description: str | None = None
    tags: list[str] = field(default_factory=list)

    def schedule(self) -> Any:
        """The Prefect schedule object (``prefect.schedules.Cron`` or ``Interval``)."""
        from prefect.schedules import Cron, Interval

        if self.cron is not None:
            return Cron(self.cron, timezone=self.timezone)
        return Interval(self.interval, timezone=self.timezone)

    @property
    def schedule_text(self) -> str:
        if self.cron is not None:
            return f"cron {self.cron!r}" + (f" ({self.timezone})" if self.timezone else " (UTC)")
        return f"every {self.interval:g} s"


def _validation_message(error: Exception) -> str:
    """The first message of a pydantic ValidationError, else str(error)."""
    errors = getattr(error, "errors", None)
    if callable(errors):
        try:
            return str(errors()[0]["msg"]).removeprefix("Value error, ")
        except (IndexError, KeyError, TypeError):
            pass
    return str(error).splitlines()[0]


def check_schedule(*, cron: Any, interval: Any, timezone: Any, where: str) -> tuple[str | None, float | None, str | None]:
    """Exactly one of cron / interval, valid; return them in plain form.

    Raises
    ------
    ValueError
        Naming ``where`` (the option or the config entry) and the bad value.
    """
    import datetime

    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

    if (cron is None) == (interval is None):
        raise ValueError(f"{where}: give exactly one schedule, --cron \"0 3 * * *\" or --interval SECONDS")
    if timezone is not None and not isinstance(timezone, str):
        raise TypeError(f"{where}: timezone={timezone!r} must be a string such as 'Europe/Berlin'")
    if cron is not None:
        if not isinstance(cron, str):
            raise TypeError(f"{where}: cron={cron!r} must be a string such as '0 3 * * *'")
        try:
            CronSchedule(cron=cron.strip(), timezone=timezone)
        except ValueError as error:  # pydantic's ValidationError is a ValueError
            raise ValueError(f"{where}: cron={cron!r} timezone={timezone!r}: {_validation_message(error)}") from None
        return cron.strip(), None, timezone
    if isinstance(interval, bool) or not isinstance(interval, (int, float)):
        raise TypeError(f"{where}: interval={interval!r} must be a number of seconds")
    try:
        IntervalSchedule(interval=datetime.timedelta(seconds=interval), timezone=timezone)
    except (ValueError, OverflowError) as error:
        raise ValueError(f"{where}: interval={interval!r} timezone={timezone!r}: {_validation_message(error)}") from None
    return None, float(interval), timezone


def _runner_name(runner: str | None, dask_address: str | None) -> str:
    # A Dask address alone implies the Dask runner.
    if runner is not None:
        return runner
    return "dask" if dask_address else "threads"


def _absolute_paths(parameters: dict[str, Any], *, base: Path) -> dict[str, Any]:
    # Served runs outlive the shell that started them: fix where they write.
    resolved = dict(parameters)
    resolved["out"] = str((base / Path(str(resolved.get("out") or sweep_settings.DEFAULTS["out"])).expanduser()).resolve())
    if resolved.get("cache_dir"):
        resolved["cache_dir"] = str((base / Path(str(resolved["cache_dir"])).expanduser()).resolve())
    return resolved


def plan_from_options(
    *,
    cron: str | None,
    interval: float | None,
    timezone: str | None,
    parameters: dict[str, Any],
    cache_dir: str | None,
    runner: str | None,
    dask_address: str | None,
    workers: int | None,
) -> ServedSweep:
    """One served sweep from the command line; ``parameters`` are already validated."""
    cron, interval, timezone = check_schedule(cron=cron, interval=interval, timezone=timezone, where="serve")
    if runner is not None or dask_address is not None or workers is not None:
        runner = check_runner_options(_runner_name(runner, dask_address), dask_address=dask_address, workers=workers)
    settings = sweep_settings.build_settings(**parameters)
    served = dict(parameters, name=settings.name)
    if cache_dir is not None:
        served["cache_dir"] = cache_dir
    return ServedSweep(
        name=settings.name,
        cron=cron,
        interval=interval,
        timezone=timezone,
        parameters=_absolute_paths(served, base=Path.cwd()),
        runner=runner,
        dask_address=dask_address,
        workers=workers,
    )


def load_serve_config(path: str | Path) -> list[ServedSweep]:
    """Several named sweeps from one YAML/JSON file, every one validated.

    The file::

        defaults:               # optional, shared by every sweep below
          out: outputs
        sweeps:
          nightly:              # deployment name = sweep name = output folder
            cron: "0 3 * * *"   # or  interval: 3600   (seconds)
            timezone: Europe/Berlin
            strides: [1, 2, 3]  # any sweep parameter (as in a --config file)
            runner: threads     # optional: threads | processes | dask (+ dask_address, workers)
          quick:
            interval: 3600
            config: saved.yaml  # optional: a saved sweep, relative to this file
            limit: 1000

    Raises
    ------
    ValueError
        Naming the file, the sweep and the bad key or value.
    """
    import yaml

    config_path = Path(path).expanduser()
    if not config_path.is_file():
        raise ValueError(f"from_config={str(path)!r}: no such file")
    try:
        data = yaml.safe_load(config_path.read_text(encoding="utf-8"))  # JSON is YAML too
    except yaml.YAMLError as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"from_config={str(path)!r} is not valid YAML: {first}") from None
    if not isinstance(data, dict) or not isinstance(data.get("sweeps"), dict) or not data["sweeps"]:
        raise ValueError(f"from_config={str(path)!r} must hold a 'sweeps:' mapping of sweep name -> settings")
    unknown_top = set(data) - {"defaults", "sweeps"}
    if unknown_top:
        raise ValueError(f"from_config={str(path)!r}: unknown top-level key(s) {', '.join(sorted(map(str, unknown_top)))}; use 'defaults' and 'sweeps'")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ValueError(f"from_config={str(path)!r}: 'defaults' must be a mapping")

    base = config_path.resolve().parent
    plans = []
    for raw_name, entry in data["sweeps"].items():
        name = str(raw_name)
        where = f"{config_path.name}: sweep {name!r}"
        sweep_settings.check_safe_name(name, argument=f"{config_path.name}: sweep name")
        if entry is None:
            entry = {}
        if not isinstance(entry, dict):
            raise ValueError(f"{where} must be a mapping of settings")
        merged = {str(key).replace("-", "_"): value for key, value in {**defaults, **entry}.items()}
        if "name" in merged:
            raise ValueError(f"{where}: 'name' is the sweep's key in 'sweeps:'; remove name={merged['name']!r}")
        cron, interval, timezone = check_schedule(
            cron=merged.pop("cron", None), interval=merged.pop("interval", None),
            timezone=merged.pop("timezone", None), where=where,
        )
        runner_options = {key: merged.pop(key) for key in _RUNNER_KEYS if key in merged}
        runner = None
        if runner_options:
            try:
                runner = check_runner_options(
                    _runner_name(runner_options.get("runner"), runner_options.get("dask_address")),
                    dask_address=runner_options.get("dask_address"),
                    workers=runner_options.get("workers"),
                )
            except (ValueError, TypeError) as error:
                raise type(error)(f"{where}: {error}") from None
        cache_dir = merged.pop("cache_dir", None)
        description = merged.pop("description", None)
        tags = merged.pop("tags", None) or []
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise ValueError(f"{where}: tags={tags!r} must be a list of strings")
        parameters: dict[str, Any] = {}
        saved = merged.pop("config", None)
        if saved is not None:
            saved_path = Path(str(saved)).expanduser()
            parameters.update(sweep_settings.load_config_file(saved_path if saved_path.is_absolute() else base / saved_path))
        parameters.update(merged)
        parameters["name"] = name
        try:
            sweep_settings.build_settings(**parameters)
        except (ValueError, TypeError) as error:
            raise type(error)(f"{where}: {error}") from None
        if cache_dir is not None:
            parameters["cache_dir"] = str(cache_dir)
        plans.append(
            ServedSweep(
                name=name,
                cron=cron,
                interval=interval,
                timezone=timezone,
                parameters=_absolute_paths(parameters, base=base),
                runner=runner,
                dask_address=runner_options.get("dask_address"),
                workers=runner_options.get("workers"),
                description=description,
                tags=tags,
            )
        )
    return plans


def require_server() -> str:
    """The configured API URL, checked; scheduled runs cannot live on Prefect's temporary API."""
    url = configured_api_url()
    if url is None:
        raise PrefectServerRequired(
            "serving needs a Prefect server: start one with `convsweep server` and "
            f"export PREFECT_API_URL=http://{LOOPBACK_HOST}:{DEFAULT_PORT}/api"
        )
    require_reachable_api(url)
    return url


def _pause_deployments(deployment_ids: list[Any]) -> None:
    """Pause these deployments' schedules (idempotent; the runner does it too when it got to start)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        for deployment_id in deployment_ids:
            client.pause_deployment(deployment_id)


def _terminate(signum: int, frame: Any) -> None:
    from prefect.exceptions import TerminationSignal

    raise TerminationSignal(signal=signum)


def serve_sweeps(plans: list[ServedSweep], *, limit: int | None = None) -> None:
    """Register every plan as a deployment of the sweep flow and run its flow runs until Ctrl-C.

    Ctrl-C or SIGTERM at any moment (while registering, starting or serving) stops
    cleanly and pauses the schedules registered so far, so that no runs pile up
    while nothing serves them; serving again resumes them.
    """
    import asyncio
    import signal
    import threading

    from prefect.exceptions import TerminationSignal
    from prefect.runner import Runner

    from convsweep.runners import make_task_runner
    from flows.sweep import sweep as sweep_flow

    runner = Runner(name="convsweep-serve", pause_on_shutdown=True, limit=limit)
    registered: list[Any] = []
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous_handler = signal.getsignal(signal.SIGTERM) if on_main_thread else None
    if on_main_thread:
        # Until the runner installs its own handler (when it starts), SIGTERM stops us like Ctrl-C.
        signal.signal(signal.SIGTERM, _terminate)
    try:
        for plan in plans:
            flow = sweep_flow
            if plan.runner is not None:
                flow = sweep_flow.with_options(
                    task_runner=make_task_runner(plan.runner, dask_address=plan.dask_address, workers=plan.workers)
                )
            # Runner.add_flow (what flow.serve does): the deployment keeps this in-memory flow,
            # with its task runner, and runs it in a child process per flow run.
            registered.append(
                runner.add_flow(
                    flow,
                    name=plan.name,
                    schedules=[plan.schedule()],
                    parameters=plan.parameters,
                    description=plan.description or f"convsweep sweep '{plan.name}' ({plan.schedule_text})",
                    tags=["convsweep", *plan.tags],
                    # Parameters are checked by convsweep.settings.build_settings (here, before
                    # registering, and again in the flow): one set of rules and messages.
                    enforce_parameter_schema=False,
                )
            )
        for plan in plans:
            click.echo(f"serving sweep/{plan.name}: {plan.schedule_text} -> {plan.parameters['out']}/{plan.name}")
        click.echo(f"Run one now: prefect deployment run 'sweep/{plans[0].name}'.  Ctrl-C stops serving.")
        asyncio.run(runner.start())
    except (KeyboardInterrupt, TerminationSignal):
        pass
    except SystemExit as done:  # the runner's SIGTERM handler exits 0 if it had not started yet
        if done.code not in (0, None):
            raise
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous_handler)
        if registered:
            _pause_deployments(registered)
    click.echo("stopped serving; the schedules are paused until served again")


def serve(
    cron: Optional[str] = typer.Option(None, "--cron", help='Cron schedule, e.g. "0 3 * * *" (UTC unless --timezone).'),
    interval: Optional[float] = typer.Option(None, "--interval", help="Run every SECONDS instead of a cron schedule."),
    timezone: Optional[str] = typer.Option(None, "--timezone", help="IANA time zone of the cron schedule, e.g. Europe/Berlin."),
    from_config: Optional[Path] = typer.Option(
        None, "--from-config", help="Serve several named sweeps at once from one YAML file (see README)."
    ),
    runner: Optional[str] = RunnerOption["runner"],
    dask_address: Optional[str] = RunnerOption["dask_address"],
    workers: Optional[int] = RunnerOption["workers"],
    limit_runs: Optional[int] = typer.Option(None, "--max-concurrent-runs", help="At most this many flow runs at once."),
    cache_dir: Optional[str] = typer.Option(None, "--cache-dir", help="Where task results are cached (default <out>/.cache)."),
    dataset: Optional[str] = SweepOption["dataset"],
    split: Optional[str] = SweepOption["split"],
    start: Optional[int] = SweepOption["start"],
    stop: Optional[int] = SweepOption["stop"],
    limit: Optional[int] = SweepOption["limit"],
    classes: Optional[str] = SweepOption["classes"],
    resize: Optional[str] = SweepOption["resize"],
    kernels: Optional[str] = SweepOption["kernels"],
    kernel: Optional[list[str]] = SweepOption["kernel"],
    strides: Optional[str] = SweepOption["strides"],
    paddings: Optional[str] = SweepOption["paddings"],
    pad_modes: Optional[str] = SweepOption["pad_modes"],
    dilations: Optional[str] = SweepOption["dilations"],
    pool_modes: Optional[str] = SweepOption["pool_modes"],
    pool_sizes: Optional[str] = SweepOption["pool_sizes"],
    pool_strides: Optional[str] = SweepOption["pool_strides"],
    pool_paddings: Optional[str] = SweepOption["pool_paddings"],
    samples: Optional[str] = SweepOption["samples"],
    chunk_size: Optional[int] = SweepOption["chunk_size"],
    keep_maps: Optional[bool] = SweepOption["keep_maps"],
    out: Optional[str] = SweepOption["out"],
    name: Optional[str] = typer.Option(
        None, "--name", help="Name of the deployment (sweep/NAME) and of the sweep's output folder."
    ),
    config: Optional[Path] = SweepOption["config"],
) -> None:
    """Serve the sweep on a schedule (cron or interval) until Ctrl-C; needs a Prefect server."""
    if limit_runs is not None and limit_runs < 1:
        raise ValueError(f"max_concurrent_runs={limit_runs} must be a positive int")
    sweep_values = dict(
        dataset=dataset, split=split, start=start, stop=stop, limit=limit, classes=classes, resize=resize,
        kernels=kernels, kernel=kernel, strides=strides, paddings=paddings, pad_modes=pad_modes,
        dilations=dilations, pool_modes=pool_modes, pool_sizes=pool_sizes, pool_strides=pool_strides,
        pool_paddings=pool_paddings, samples=samples, chunk_size=chunk_size, keep_maps=keep_maps, out=out,
        name=name, config=config,
    )
    if from_config is not None:
        given = [key for key, value in sweep_values.items() if value not in (None, [])]
        given += [key for key, value in dict(cron=cron, interval=interval, timezone=timezone, runner=runner,
                                             dask_address=dask_address, workers=workers,
                                             cache_dir=cache_dir).items() if value is not None]
        if given:
            options = ", ".join("--" + key.replace("_", "-") for key in given)
            raise ValueError(f"--from-config takes every setting from the file; remove {options}")
        plans = load_serve_config(from_config)
    else:
        parameters = sweep_options_to_parameters(**sweep_values)
        plans = [
            plan_from_options(
                cron=cron, interval=interval, timezone=timezone, parameters=parameters, cache_dir=cache_dir,
                runner=runner, dask_address=dask_address, workers=workers,
            )
        ]
    names = [plan.name for plan in plans]
    if len(set(names)) != len(names):
        raise ValueError(f"sweep names must differ: {', '.join(names)}")
    # Everything above is local; only now is the server contacted.
    require_server()
    serve_sweeps(plans, limit=limit_runs)


def register(app: typer.Typer) -> None:
    app.command("server")(server)
    app.command("serve")(serve)


__all__ = [
    "PrefectAPIUnreachable",
    "PrefectServerRequired",
    "ServedSweep",
    "check_schedule",
    "load_serve_config",
    "plan_from_options",
    "register",
    "serve_sweeps",
    "server_command",
]
