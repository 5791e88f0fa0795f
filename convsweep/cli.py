"""The `convsweep` command line.

Each group of commands lives in its own module under ``convsweep.commands`` and
registers itself on the one Typer app here.  This module owns only the error
policy, so every command behaves the same way on failure:

* bad input found before a flow run exists (``ValueError``/``TypeError`` from the
  library, or a usage error) -> one line on stderr, exit code 2;
* a failed or crashed run, whatever its exception (``convsweep.flow_runs.RunFailed``),
  or another runtime failure (server unreachable, ...) -> one line naming the cause,
  exit code 1;
* Ctrl-C or SIGTERM -> one line (``convsweep: interrupted (SIGINT)``), exit
  code 130 or 143; a run stops within seconds (``convsweep.run_guard``);
* never a traceback wall (``CONVSWEEP_DEBUG=1`` shows it for bug reports).
"""

from __future__ import annotations

import os
import sys
import types
import warnings
from pathlib import Path
from typing import Any, TextIO

import click
import typer

from convsweep.exit_status import ExitStatus

_typer_click_exceptions: types.ModuleType
try:  # typer >= 0.29 ships its own copy of click; its exceptions are not click's.
    from typer._click import exceptions as _typer_click_exceptions
except ImportError:  # pragma: no cover - older typer uses click itself
    _typer_click_exceptions = click.exceptions

_OWN_PACKAGES = ("conv_core", "tasks", "flows", "convsweep")

_EXIT = (click.exceptions.Exit, typer.Exit)
_ABORT = (click.exceptions.Abort, typer.Abort)
_USAGE_ERROR = (click.UsageError, _typer_click_exceptions.UsageError)


class _PlainHelp:
    """``--help`` listed as a switch, as the sweep's own switches are (typer shows ``--help <bool>``)."""

    def get_help_option(self, ctx: Any) -> Any:  # typer's Context and TyperOption (its own click copy)
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.metavar = ""
        return option


class _Command(_PlainHelp, typer.core.TyperCommand):
    pass


class _Group(_PlainHelp, typer.core.TyperGroup):
    def get_params(self, ctx: Any) -> Any:
        params = super().get_params(ctx)
        for param in params:  # Typer's completion switches take no value either
            if param.name in ("install_completion", "show_completion"):
                param.metavar = ""
        return params


app = typer.Typer(
    name="convsweep",
    help="CNN-style image filtering: kernels, stride, padding, Sobel magnitude and pooling, "
    "as cached Prefect sweeps over image datasets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion / --show-completion: tab completes commands and options
    cls=_Group,
)


def _show_version(value: bool) -> None:
    if value:
        from convsweep import __version__

        click.echo(f"convsweep {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, metavar="", help="Print the version and exit."
    ),
) -> None:
    """CNN-style image filtering: kernels, stride, padding, Sobel magnitude and pooling, as cached Prefect sweeps."""


def _register_commands() -> None:
    from convsweep.commands import compare, core, run, serve, server

    for module in (core, run, server, serve, compare):
        module.register(app)
    # Every command and group gets the plain --help, whichever module registered it.
    for typer_app in [app, *(group.typer_instance for group in app.registered_groups if group.typer_instance)]:
        for command in typer_app.registered_commands:
            if not isinstance(command.cls, type) or command.cls is typer.core.TyperCommand:  # None or typer's default
                command.cls = _Command
    for group in app.registered_groups:
        if not isinstance(group.cls, type) or group.cls is typer.core.TyperGroup:
            group.cls = _Group


_register_commands()


# Warnings raised by this project's code (a 16-bit image scaled to 8 bits, ...) are for the user:
# one line each, not Python's "path:line: UserWarning: ..." with a line of source under it.
_PROJECT_FOLDERS = tuple(str(Path(__file__).resolve().parents[1] / name) + os.sep for name in _OWN_PACKAGES)
_python_showwarning = warnings.showwarning


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    if issubclass(category, UserWarning) and os.path.abspath(filename).startswith(_PROJECT_FOLDERS):
        click.echo(f"convsweep: warning: {' '.join(str(message).split())}", err=True)
        return
    _python_showwarning(message, category, filename, lineno, file, line)


def _fail(message: str, code: ExitStatus) -> None:
    # A file name that is not UTF-8 (lone surrogates) is written escaped, never an encoding error.
    first_line = " ".join(str(message).split()).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    first_line = first_line or "unknown error"
    click.echo(f"convsweep: error: {first_line}", err=True)
    sys.exit(code)


def _exit_if_interrupted() -> None:
    # A run that received SIGINT/SIGTERM ends as interrupted whatever surfaced while it unwound.
    run_guard = sys.modules.get("convsweep.run_guard")
    if run_guard is not None:
        run_guard.exit_if_interrupted()


def _interrupted(code: ExitStatus) -> None:
    click.echo(f"convsweep: interrupted ({code.name})", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app with the error policy above."""
    warnings.showwarning = _show_warning
    try:
        code = app(args=argv, standalone_mode=False, prog_name="convsweep")
    except BaseException:
        _exit_if_interrupted()
        _handle_error()
    else:
        _exit_if_interrupted()
        if code == ExitStatus.SIGINT:  # typer turns Ctrl-C outside a guarded run into Exit(130), returned here
            _interrupted(ExitStatus.SIGINT)
        if isinstance(code, int) and code != 0:
            sys.exit(code)


def _handle_error() -> None:
    """Map the exception being handled to the error policy above (exits)."""
    debug = os.environ.get("CONVSWEEP_DEBUG") == "1"
    try:
        raise
    except _EXIT as done:
        if done.exit_code == ExitStatus.SIGINT:
            _interrupted(ExitStatus.SIGINT)
        sys.exit(done.exit_code)
    except KeyboardInterrupt:
        _interrupted(ExitStatus.SIGINT)
    except _ABORT:
        _fail("aborted", ExitStatus.FAILED)
    except _USAGE_ERROR as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # bare `convsweep`: the help was printed
            sys.exit(ExitStatus.OK)
        _fail(error.format_message(), ExitStatus.BAD_INPUT)
    except (ValueError, TypeError) as error:  # found before any flow run exists
        if debug:
            raise
        _fail(str(error), ExitStatus.BAD_INPUT)
    except Exception as error:  # runtime failure: one line with the cause
        if debug:
            raise
        from convsweep.flow_runs import RunFailed
        from convsweep.server import PrefectAPIUnreachable, ServerError

        # These say what failed and what to do; a failed run's text already names its exception's type.
        told = isinstance(error, RunFailed | ServerError | PrefectAPIUnreachable)
        _fail(str(error) if told else f"{type(error).__name__}: {error}", ExitStatus.FAILED)


if __name__ == "__main__":
    main()
