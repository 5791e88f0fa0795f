"""`convsweep sweep` (the main job) and `convsweep notebook`.

Options are the sweep model's parameters in kebab-case (``convsweep.options``);
lists are comma-separated and pairs are written ``HxW`` (``--strides 1,2x1``).
Precedence: model defaults < ``--config FILE`` < options given on the command
line.  Parameters are checked (``convsweep.tasks.model.parse_parameters``), then the preflight
(``convsweep.tasks.plan.preflight``: writable folders, a name in use, shapes the images cannot take) before
Prefect starts, so bad input exits 2 with one line, nothing written and no flow run.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Optional

import typer

from convsweep.options import NEGATIVE_NOTE, RUNNING_PANEL, RunnerOption, sweep_parameters, with_sweep_options
from convsweep.task_runners import task_runner_from_options


def _quiet_prefect(verbose: bool) -> None:
    # Prefect logs every task run, and a failure with its traceback, to the console; the CLI
    # shows its own progress and one line per error instead. The logs still go to the API,
    # so the Prefect UI has them in full; --verbose shows them here too.
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
        # Prefect's own services (EventsWorker, APILogWorker) log through the `debug` handler, not the
        # console one: multi-line ERROR blocks per event when the API goes away. And the API log
        # handler writes "--- Error logging to API ---" itself unless logging.raiseExceptions is off.
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_DEBUG_LEVEL", "CRITICAL")
        logging.raiseExceptions = False


def _use_server() -> None:
    # PREFECT_API_URL, else Prefect's own background server of this PREFECT_HOME (convsweep.server).
    from convsweep.server import use_server

    use_server(say=lambda line: typer.echo(f"convsweep: {line}", err=True))


@with_sweep_options()
def sweep(
    given: dict[str, Any],
    runner: Optional[str] = RunnerOption["runner"],
    dask_address: Optional[str] = RunnerOption["dask_address"],
    workers: Optional[int] = RunnerOption["workers"],
    verbose: bool = typer.Option(
        False, "--verbose", "-v", metavar="", rich_help_panel=RUNNING_PANEL, help="Show Prefect's task-run logs."
    ),
) -> None:
    """Run a sweep (the main job): every setting over the dataset, cached; writes outputs/<name>/."""
    _quiet_prefect(verbose)  # before anything imports Prefect: its logging reads these settings at import
    settings = sweep_parameters(given)  # parsed once; refused here (exit 2), before a flow run exists
    from convsweep.flow_runs import check_before_run, run_sweep

    check_before_run(settings)
    task_runner = task_runner_from_options(runner, dask_address=dask_address, workers=workers)
    _use_server()
    run_sweep(settings, task_runner=task_runner)


def notebook(
    dataset: str = typer.Option(
        "fashion_mnist", "--dataset", "-d", metavar="SPEC", help="Dataset spec (as for sweep)."
    ),
    split: str = typer.Option("train", "--split", metavar="SPLIT", help="train (the notebook's), test or all."),
    index: int = typer.Option(0, "--index", "-i", metavar="INT", help="Which image of the split."),
    out: str = typer.Option("outputs", "--out", "-o", metavar="PATH", help="Output root."),
    name: str = typer.Option("notebook", "--name", metavar="NAME", help="Folder under the output root."),
    verbose: bool = typer.Option(False, "--verbose", "-v", metavar="", help="Show Prefect's task-run logs."),
) -> None:
    """Reproduce the teaching notebook on one image: 27x27, Sobel h/v, magnitude, 2x2 pooling."""
    from convsweep.flow_runs import check_notebook_options, run_notebook

    check_notebook_options(dataset=dataset, split=split, index=index, out=out, name=name)
    _quiet_prefect(verbose)
    _use_server()

    run_notebook(dataset=dataset, split=split, index=index, out=out, name=name)


def register(app: typer.Typer) -> None:
    app.command("sweep", epilog=NEGATIVE_NOTE)(sweep)
    app.command("notebook")(notebook)
