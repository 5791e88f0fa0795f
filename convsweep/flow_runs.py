"""Running the flows in this process, for the CLI.

Besides progress and the final table, this is where a run is made durable in
the Prefect API before the process exits.  Without ``PREFECT_API_URL`` Prefect
starts a temporary API server in a subprocess and records task runs from the
events the client streams to it; that server is terminated at exit, and events
still queued there were lost (measured: 184 of 250 task runs missing).  So after
a flow returns we drain the client's event and log workers and then wait until
the API reports every task run of the flow run in a final state.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from rich.console import Console
from rich.table import Table

from convsweep.run_guard import guarded

RECORD_TIMEOUT_SECONDS = 60.0


def drain_events() -> None:
    """Send whatever the client still holds (events, logs) to the API now."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=RECORD_TIMEOUT_SECONDS, at_exit=False)
    EventsWorker.drain_all(timeout=RECORD_TIMEOUT_SECONDS, at_exit=False)


def recorded_task_runs(flow_run_id: UUID) -> list[Any]:
    """Every task run the API holds for ``flow_run_id`` (paged: the API returns 200 at most per call)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    runs: list[Any] = []
    with get_client(sync_client=True) as client:
        while True:
            page = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])), limit=200, offset=len(runs)
            )
            runs.extend(page)
            if len(page) < 200:
                return runs


def wait_until_recorded(
    flow_run_id: UUID, expected_task_runs: int, *, timeout: float = RECORD_TIMEOUT_SECONDS
) -> list[Any]:
    """Block until the API holds ``expected_task_runs`` final task runs of the flow run.

    Raises
    ------
    RuntimeError
        If they are not all recorded within ``timeout`` seconds.
    """
    drain_events()
    deadline = time.monotonic() + timeout
    while True:
        runs = recorded_task_runs(flow_run_id)
        final = [run for run in runs if run.state is not None and run.state.is_final()]
        if len(final) >= expected_task_runs:
            return final
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the Prefect API recorded {len(final)} of {expected_task_runs} task runs of flow run "
                f"{flow_run_id} within {timeout:.0f} s"
            )
        time.sleep(0.2)


@guarded(hint="rerun to resume from the cache")
def run_sweep(
    parameters: dict[str, Any],
    *,
    refresh: bool = False,
    cache_dir: str | None = None,
    task_runner: Any = None,
    console: Console | None = None,
) -> dict[str, Any]:
    """Run the sweep flow with a progress bar; print a short table and the output folder."""
    import prefect
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from flows.sweep import sweep
    from tasks import report

    console = console or Console(stderr=True)
    flow_to_run = sweep if task_runner is None else sweep.with_options(task_runner=task_runner)
    with Progress(
        TextColumn("[bold]sweep[/bold] chunks"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        bar_task = bar.add_task("chunks", total=None)

        def show(done: int, total: int) -> None:
            bar.update(bar_task, completed=done, total=total)

        report.progress_listeners.append(show)
        if refresh:
            parameters = {**parameters, "refresh": True}
        if cache_dir is not None:
            parameters = {**parameters, "cache_dir": cache_dir}
        try:
            with prefect.tags(*_sweep_tags(parameters), "started-by:cli"):
                state = flow_to_run(**parameters, return_state=True)
        finally:
            report.progress_listeners.remove(show)
    result = state.result()  # raises the flow's own exception when it failed
    runs = wait_until_recorded(state.state_details.flow_run_id, result["task_runs"])
    result["cached_task_runs"] = sum(1 for run in runs if run.state.name == "Cached")
    _print_sweep_summary(console, result)
    return result


def _sweep_tags(parameters: dict[str, Any]) -> list[str]:
    """``convsweep``, ``sweep:<name>``, ``dataset:<kind>`` for a run created by the CLI (parameters already checked)."""
    from tasks.artifacts import sweep_tags
    from tasks.model import parse_parameters

    settings = parse_parameters(**parameters)
    return sweep_tags(settings.name, settings.dataset)


def _print_sweep_summary(console: Console, result: dict[str, Any]) -> None:
    import pandas as pd

    frame = pd.read_csv(result["csv"])
    table = Table(
        title=f"sweep {result['name']}: {result['n_images']} images, {result['configurations']} configurations"
    )
    columns = [
        "kernel",
        "stride",
        "padding",
        "conv_h",
        "conv_w",
        "pool_mode",
        "pool_h",
        "pool_w",
        "mean",
        "zero_fraction",
    ]
    for column in columns:
        table.add_column(column, justify="right" if column not in ("kernel", "padding", "pool_mode") else "left")
    magnitudes = frame[frame["map_kind"] == "magnitude"]
    shown = magnitudes if len(magnitudes) else frame
    for _, row in shown.head(24).iterrows():
        table.add_row(
            *[f"{row[column]:.4g}" if isinstance(row[column], float) else str(row[column]) for column in columns]
        )
    console.print(table)
    if len(shown) > 24:
        console.print(f"... {len(shown) - 24} more rows in sizes.csv")
    console.print(
        f"{result['rows']} rows, {result['task_runs']} task runs ({result['cached_task_runs']} cached); "
        f"outputs in [bold]{result['output_dir']}[/bold] (report.html, report.md, sizes.csv)"
    )


@guarded()
def run_notebook(
    *, dataset: str, split: str, index: int, out: str, name: str, console: Console | None = None
) -> dict[str, Any]:
    """Run the notebook flow and say where its files are."""
    import prefect

    from flows.notebook import notebook
    from tasks.artifacts import dataset_kind

    console = console or Console(stderr=True)
    with prefect.tags("convsweep", "notebook", f"dataset:{dataset_kind(dataset)}", "started-by:cli"):
        state = notebook(dataset=dataset, split=split, index=index, out=out, name=name, return_state=True)
    result = state.result()
    wait_until_recorded(state.state_details.flow_run_id, result["task_runs"])
    label = (
        f" (label {result['label']}: {result['class_name'] or result['label']})"
        if result.get("label") is not None
        else ""
    )
    console.print(f"notebook: image {index} of {result['spec']} {result['split']}{label}")
    for stage, shape in result["shapes"].items():
        console.print(f"  {stage:<10} {shape[0]}x{shape[1]}")
    console.print(f"outputs in [bold]{result['folder']}[/bold] (PNGs, figure.png, arrays.npz)")
    return result
