"""`convsweep serve`: sweeps on a schedule, served from this process.

It registers the sweep flow as one or more deployments with a cron or interval
schedule and fixed parameters, and runs their flow runs in this process's
children until Ctrl-C (``prefect.serve``, for several flows at once).  Every
parameter, schedule and runner option is checked before anything is
registered: bad input exits 2 and the server is left untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import click
import typer

from convsweep.options import NEGATIVE_NOTE, RunnerOption, sweep_parameters, with_sweep_options
from convsweep.server import use_server
from convsweep.task_runners import check_runner_options
from convsweep.tasks.model import check_safe_name, load_config_file, parse_parameters

# Keys of a --from-config entry that choose the task runner (the others: schedule keys
# cron/interval/timezone, config, description, tags; the rest are sweep parameters).
_RUNNER_KEYS = ("runner", "dask_address", "workers")


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
        assert self.interval is not None  # a plan has a cron or an interval (load_serve_config)
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


def check_schedule(
    *, cron: Any, interval: Any, timezone: Any, where: str
) -> tuple[str | None, float | None, str | None]:
    """Exactly one of cron / interval, valid; return them in plain form.

    Raises
    ------
    ValueError
        Naming ``where`` (the option or the config entry) and the bad value.
    """
    import datetime

    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

    if (cron is None) == (interval is None):
        raise ValueError(f'{where}: give exactly one schedule, --cron "0 3 * * *" or --interval SECONDS')
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
        raise ValueError(
            f"{where}: interval={interval!r} timezone={timezone!r}: {_validation_message(error)}"
        ) from None
    return None, float(interval), timezone


def _runner_name(runner: str | None, dask_address: str | None) -> str:
    # A Dask address alone implies the Dask runner.
    if runner is not None:
        return runner
    return "dask" if dask_address else "threads"


def _relative_to(parameters: dict[str, Any], base: Path) -> dict[str, Any]:
    # Folders in a serve config are relative to the file, not to where serve was started.
    resolved = dict(parameters)
    for key in ("out", "cache_dir"):
        if resolved.get(key):
            resolved[key] = str(base / Path(str(resolved[key])).expanduser())
    return resolved


def plan_from_options(
    *,
    cron: str | None,
    interval: float | None,
    timezone: str | None,
    parameters: dict[str, Any],
    runner: str | None,
    dask_address: str | None,
    workers: int | None,
) -> ServedSweep:
    """One served sweep from the command line; ``parameters`` are already validated (absolute paths)."""
    cron, interval, timezone = check_schedule(cron=cron, interval=interval, timezone=timezone, where="serve")
    if runner is not None or dask_address is not None or workers is not None:
        runner = check_runner_options(_runner_name(runner, dask_address), dask_address=dask_address, workers=workers)
    return ServedSweep(
        name=parameters["name"],
        cron=cron,
        interval=interval,
        timezone=timezone,
        parameters=parameters,
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
    config_path, defaults, sweeps = _read_serve_file(path)
    base = config_path.resolve().parent
    return [_plan_from_entry(str(raw_name), entry, defaults, config_path, base) for raw_name, entry in sweeps.items()]


def _read_serve_file(path: str | Path) -> tuple[Path, dict[Any, Any], dict[Any, Any]]:
    """The file's path, its ``defaults`` and its ``sweeps`` mappings, checked."""
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
        raise ValueError(
            f"from_config={str(path)!r}: unknown top-level key(s) {', '.join(sorted(map(str, unknown_top)))}; use 'defaults' and 'sweeps'"
        )
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ValueError(f"from_config={str(path)!r}: 'defaults' must be a mapping")
    return config_path, defaults, data["sweeps"]


def _plan_from_entry(name: str, entry: Any, defaults: dict[Any, Any], config_path: Path, base: Path) -> ServedSweep:
    """One sweep of a serve config: its entry over the defaults, schedule, runner and parameters checked."""
    where = f"{config_path.name}: sweep {name!r}"
    check_safe_name(name, argument=f"{config_path.name}: sweep name")
    if entry is None:
        entry = {}
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be a mapping of settings")
    merged = {str(key).replace("-", "_"): value for key, value in {**defaults, **entry}.items()}
    if "name" in merged:
        raise ValueError(f"{where}: 'name' is the sweep's key in 'sweeps:'; remove name={merged['name']!r}")
    cron, interval, timezone = check_schedule(
        cron=merged.pop("cron", None),
        interval=merged.pop("interval", None),
        timezone=merged.pop("timezone", None),
        where=where,
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
    description = merged.pop("description", None)
    tags = merged.pop("tags", None) or []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise ValueError(f"{where}: tags={tags!r} must be a list of strings")
    return ServedSweep(
        name=name,
        cron=cron,
        interval=interval,
        timezone=timezone,
        parameters=_entry_parameters(name, merged.pop("config", None), merged, base, where),
        runner=runner,
        dask_address=runner_options.get("dask_address"),
        workers=runner_options.get("workers"),
        description=description,
        tags=tags,
    )


def _entry_parameters(name: str, saved: object, merged: Mapping[str, Any], base: Path, where: str) -> dict[str, Any]:
    """The sweep parameters of a serve-config entry: its ``saved`` config file, then its own keys, validated."""
    parameters: dict[str, Any] = {}
    if saved is not None:
        saved_path = Path(str(saved)).expanduser()
        parameters.update(load_config_file(saved_path if saved_path.is_absolute() else base / saved_path))
    parameters.update(merged)
    parameters["name"] = name
    try:
        return parse_parameters(**_relative_to(parameters, base)).to_parameters()
    except (ValueError, TypeError) as error:
        raise type(error)(f"{where}: {error}") from None


def _pause_deployments(names: list[str]) -> None:
    """Pause the schedules of the deployments ``sweep/<name>`` that exist (idempotent)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        for name in names:
            try:
                deployment = client.read_deployment_by_name(f"sweep/{name}")
            except ObjectNotFound:
                continue
            client.pause_deployment(deployment.id)


def _terminate(signum: int, frame: Any) -> None:
    from prefect.exceptions import TerminationSignal

    raise TerminationSignal(signal=signum)


def _deployments(plans: list[ServedSweep]) -> list[Any]:
    """A deployment of the sweep flow per plan (RunnerDeployment; to_deployment is typed sync-or-async)."""
    from convsweep.flows.sweep import sweep as sweep_flow
    from convsweep.task_runners import make_task_runner

    deployments: list[Any] = []
    for plan in plans:
        flow = sweep_flow
        if plan.runner is not None:
            flow = sweep_flow.with_options(
                task_runner=make_task_runner(plan.runner, dask_address=plan.dask_address, workers=plan.workers)
            )
        # The deployment keeps this in-memory flow, with its task runner, and runs it in a
        # child process per flow run. Its parameter schema comes from the sweep model, and
        # the server enforces it on every run (a UI run with a bad value is refused).
        deployments.append(
            flow.to_deployment(
                name=plan.name,
                schedules=[plan.schedule()],
                parameters=plan.parameters,
                description=plan.description or f"convsweep sweep '{plan.name}' ({plan.schedule_text})",
                tags=["convsweep", f"sweep:{plan.name}", "started-by:serve", *plan.tags],
                enforce_parameter_schema=True,
            )
        )
    return deployments


def serve_sweeps(plans: list[ServedSweep], *, limit: int | None = None) -> None:
    """Register every plan as a deployment of the sweep flow and run its flow runs until Ctrl-C.

    ``prefect.serve`` registers and runs them and pauses their schedules when it
    stops.  Ctrl-C or SIGTERM while it is still registering stops cleanly too:
    the schedules registered so far are paused here, so that no runs pile up
    while nothing serves them; serving again resumes them.
    """
    import signal
    import threading

    from prefect import serve as prefect_serve
    from prefect.exceptions import TerminationSignal

    deployments = _deployments(plans)
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous_handler = signal.getsignal(signal.SIGTERM) if on_main_thread else None
    if on_main_thread:
        # Until the runner installs its own handler (when it starts), SIGTERM stops us like Ctrl-C.
        signal.signal(signal.SIGTERM, _terminate)
    try:
        # Registered before serving starts, so that "serving" is said only of deployments that
        # exist; prefect.serve registers them again (an update) when its runner starts.
        for deployment, plan in zip(deployments, plans, strict=True):
            deployment.apply()
            click.echo(f"serving sweep/{plan.name}: {plan.schedule_text} -> {plan.parameters['out']}/{plan.name}")
        click.echo(f"Run one now: prefect deployment run 'sweep/{plans[0].name}'.  Ctrl-C stops serving.")
        prefect_serve(*deployments, pause_on_shutdown=True, print_starting_message=False, limit=limit)
    except (KeyboardInterrupt, TerminationSignal):
        pass
    except SystemExit as done:  # the runner's SIGTERM handler exits 0 if it had not started yet
        if done.code not in (0, None):
            raise
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous_handler)
        _pause_deployments([plan.name for plan in plans])
    click.echo("stopped serving; the schedules are paused until served again")


def _check_config_alone(given: Mapping[str, object], serve_options: Mapping[str, object]) -> None:
    """--from-config takes every setting from the file: no sweep or serve option beside it."""
    given_options = [key for key, value in given.items() if value not in (None, [])]
    given_options += [key for key, value in serve_options.items() if value is not None]
    if given_options:
        options = ", ".join("--" + key.replace("_", "-") for key in given_options)
        raise ValueError(f"--from-config takes every setting from the file; remove {options}")


@with_sweep_options(help_overrides={"name": "Name of the deployment (sweep/NAME) and of the sweep's output folder."})
def serve(
    given: dict[str, Any],
    cron: Optional[str] = typer.Option(
        None, "--cron", metavar="CRON", help='Cron schedule, e.g. "0 3 * * *" (UTC unless --timezone).'
    ),
    interval: Optional[float] = typer.Option(
        None, "--interval", metavar="SECONDS", help="Run every SECONDS instead of a cron schedule."
    ),
    timezone: Optional[str] = typer.Option(
        None, "--timezone", metavar="ZONE", help="IANA time zone of the cron schedule, e.g. Europe/Berlin."
    ),
    from_config: Optional[Path] = typer.Option(
        None,
        "--from-config",
        metavar="FILE",
        help="Serve several named sweeps at once from one YAML file (see README).",
    ),
    runner: Optional[str] = RunnerOption["runner"],
    dask_address: Optional[str] = RunnerOption["dask_address"],
    workers: Optional[int] = RunnerOption["workers"],
    limit_runs: Optional[int] = typer.Option(
        None, "--max-concurrent-runs", metavar="INT", help="At most this many flow runs at once."
    ),
) -> None:
    """Serve the sweep on a schedule (cron or interval) until Ctrl-C; needs a Prefect server."""
    if limit_runs is not None and limit_runs < 1:
        raise ValueError(f"max_concurrent_runs={limit_runs} must be a positive int")
    options: dict[str, Any] = dict(
        cron=cron, interval=interval, timezone=timezone, runner=runner, dask_address=dask_address, workers=workers
    )
    if from_config is not None:
        _check_config_alone(given, options)
        plans = load_serve_config(from_config)
    else:
        plans = [plan_from_options(parameters=sweep_parameters(given).to_parameters(), **options)]
    names = [plan.name for plan in plans]
    if len(set(names)) != len(names):
        raise ValueError(f"sweep names must differ: {', '.join(names)}")
    # Everything above is local; only now is the server contacted.
    # PREFECT_API_URL, else Prefect's background server of this PREFECT_HOME, as for `convsweep sweep`.
    use_server(say=lambda line: typer.echo(f"convsweep: {line}", err=True))
    serve_sweeps(plans, limit=limit_runs)


def register(app: typer.Typer) -> None:
    app.command("serve", epilog=NEGATIVE_NOTE)(serve)
