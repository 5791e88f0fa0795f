"""Command-line options derived from the sweep model (``convsweep.tasks.model.SweepParameters``).

Every model field becomes a kebab-case option (``pool_sizes`` -> ``--pool-sizes``)
with the field's description as help; lists are comma-separated text that the
model parses (``--strides 1,2x1``), booleans are ``--x/--no-x`` switches, and
``custom_kernels`` is the repeatable ``--kernel NAME=MATRIX``.  A new sweep
parameter therefore needs no edit here.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Optional

import click
import typer

from convsweep.tasks.model import (
    PARAMETER_NAMES,
    SweepParameters,
    load_config_file,
    parameter_display,
    parse_parameters,
)

# Short flags kept from the first CLI (the rest have none).
SHORT_FLAGS = {"dataset": "-d", "limit": "-n", "kernels": "-k", "strides": "-s", "paddings": "-p", "out": "-o"}
CUSTOM_KERNEL_OPTION = "kernel"  # --kernel NAME=MATRIX, repeatable -> custom_kernels
RUNNING_PANEL = "Running"  # the model's panel of how a sweep runs; the task runner's options join it
# For a command's epilog: how list values are written, and the hidden --no-x twin of each switch.
NEGATIVE_NOTE = (
    "LIST values are comma-separated (--strides 1,2x1); pairs are HxW. Each on/off switch --x "
    "has a --no-x form, to turn off what a --config file turns on."
)


def _default_text(default: Any) -> str:
    if isinstance(default, list):
        return ",".join("none" if item is None else str(item) for item in default) if default else "none"
    if isinstance(default, bool):
        return "on" if default else "off"
    return "none" if default is None else str(default)


def _negative(name: str) -> str:
    return f"no_{name}"


def _options(name: str, help_overrides: dict[str, str]) -> list[inspect.Parameter]:
    """The option(s) of one sweep parameter: in its panel, its metavar telling the kind of value."""
    field = SweepParameters.model_fields[name]
    panel, metavar = parameter_display(name)
    help_text = help_overrides.get(name, field.description or "")
    flag = "--" + name.replace("_", "-")
    if name == "custom_kernels":
        option = typer.Option(
            None,
            "--kernel",
            metavar=metavar,
            rich_help_panel=panel,
            help="A custom kernel, rows split by ';': NAME=1,2,1;0,0,0;-1,-2,-1 (repeatable).",
        )
        return [
            inspect.Parameter(
                CUSTOM_KERNEL_OPTION, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=Optional[list[str]]
            )
        ]
    if isinstance(field.default, bool):
        # --x is listed; its --no-x twin (to turn off a config file's `x: true`) is hidden, so that
        # the help's option column stays narrow and descriptions get the width (see NEGATIVE_NOTE).
        shown = typer.Option(
            None,
            flag,
            metavar="",  # a switch takes no value (typer would show <bool>)
            rich_help_panel=panel,
            help=f"{help_text} (default {_default_text(field.default)})",
        )
        negative = typer.Option(None, f"--no-{flag[2:]}", hidden=True, help=f"Turn {flag} off.")
        return [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=shown, annotation=Optional[bool]),
            inspect.Parameter(
                _negative(name), inspect.Parameter.KEYWORD_ONLY, default=negative, annotation=Optional[bool]
            ),
        ]
    flags = [flag] + ([SHORT_FLAGS[name]] if name in SHORT_FLAGS else [])
    # A default that says "none" is described by the help text itself.
    default_text = f" (default {_default_text(field.default)})" if field.default not in (None, {}, [None]) else ""
    option = typer.Option(None, *flags, metavar=metavar, rich_help_panel=panel, help=f"{help_text}{default_text}")
    return [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=Optional[str])]


def parse_custom_kernels(values: Optional[list[str]]) -> Optional[dict[str, str]]:
    """``--kernel NAME=1,2,1;0,0,0;-1,-2,-1`` (repeatable) -> {NAME: matrix text}."""
    if not values:
        return None
    kernels: dict[str, str] = {}
    for value in values:
        name, sep, matrix = value.partition("=")
        if not sep or not name.strip() or not matrix.strip():
            raise ValueError(f"--kernel {value!r} must look like NAME=1,2,1;0,0,0;-1,-2,-1")
        if name.strip() in kernels:
            raise ValueError(f"--kernel {name.strip()}= given twice: give each custom kernel one name")
        kernels[name.strip()] = matrix.strip()
    return kernels


def _runner_options() -> dict[str, Any]:
    return {
        "runner": typer.Option(
            None,
            "--runner",
            metavar="NAME",
            rich_help_panel=RUNNING_PANEL,
            help="Where chunk tasks run: threads (default), processes, or dask.",
        ),
        "dask_address": typer.Option(
            None,
            "--dask-address",
            metavar="URL",
            rich_help_panel=RUNNING_PANEL,
            help="Run chunk tasks on the Dask cluster whose scheduler is at tcp://HOST:PORT (implies --runner dask); "
            "without it, --runner dask starts a local cluster.",
        ),
        "workers": typer.Option(
            None,
            "--workers",
            metavar="INT",
            rich_help_panel=RUNNING_PANEL,
            help="Threads, processes or local Dask workers (default: the number of CPUs).",
        ),
    }


# Typer options of the task runner, shared by `convsweep sweep` and `convsweep serve`.
RunnerOption = _runner_options()


def _given(values: Mapping[str, Any], names: list[str], switches: list[str]) -> dict[str, Any]:
    """The sweep parameters given on the command line (a --no-X switch as False), and ``config``."""
    given: dict[str, Any] = {
        name: values[name] for name in names if name != "custom_kernels" and values.get(name) is not None
    }
    for name in switches:
        if values.get(_negative(name)):
            flag = name.replace("_", "-")
            if values.get(name):
                raise ValueError(f"--{flag} and --no-{flag} both given: give one")
            given[name] = False
    if "custom_kernels" in names:
        kernels = parse_custom_kernels(values.get(CUSTOM_KERNEL_OPTION))
        if kernels is not None:
            given["custom_kernels"] = kernels
    given["config"] = values.get("config")
    return given


def with_sweep_options(
    *, exclude: tuple[str, ...] = (), help_overrides: dict[str, str] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a typer command every sweep option (plus ``--config``) after its own.

    The command is called as ``fn(given, **own_options)``, where ``given`` maps
    parameter names to the values given on the command line (not yet merged
    with a config file: see :func:`sweep_parameters`).
    """
    overrides = help_overrides or {}
    names = [name for name in PARAMETER_NAMES if name not in exclude]

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        own = [parameter for name, parameter in inspect.signature(fn).parameters.items() if name != "given"]
        model_options = [option for name in names for option in _options(name, overrides)]
        switches = [name for name in names if isinstance(SweepParameters.model_fields[name].default, bool)]
        config = inspect.Parameter(
            "config",
            inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(
                None, "--config", "-c", metavar="FILE", help="A saved sweep: YAML or JSON with the parameters."
            ),
            annotation=Optional[Path],
        )
        option_names = {parameter.name for parameter in model_options} | {"config"}

        @functools.wraps(fn)
        def command(**values: Any) -> Any:
            given = _given(values, names, switches)
            return fn(given, **{name: value for name, value in values.items() if name not in option_names})

        # --config first: it is the base that the other options override.
        parameters = (
            [config] + model_options + [parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY) for parameter in own]
        )
        command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        command.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
        del command.__wrapped__
        return command

    return decorate


def sweep_parameters(given: dict[str, Any]) -> SweepParameters:
    """Config file (``given['config']``) < options given: the sweep's parameters, parsed once.

    Raises ValueError (one line naming the file or the option and the value) before Prefect starts.
    """
    given = dict(given)
    config = given.pop("config", None)
    parameters: dict[str, Any] = load_config_file(config) if config is not None else {}
    if config is not None and not parameters:
        click.echo(f"convsweep: warning: config {config} holds no sweep parameter: the defaults run", err=True)
    parameters.update(given)
    # Custom kernels are added to the built-in ones (default: the Sobel pair), as --help says.
    return parse_parameters(**parameters)
