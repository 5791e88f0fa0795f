"""Running the flows in this process, for the CLI.

Besides progress (stderr) and the final table (stdout, ``convsweep.terminal``), this is where a run is made durable in
the Prefect API before the process exits.  Without ``PREFECT_API_URL`` Prefect
starts a temporary API server in a subprocess and records task runs from the
events the client streams to it; that server is terminated at exit, and events
still queued there were lost (measured: 184 of 250 task runs missing).  So after
a flow returns we drain the client's event and log workers and then wait until
the API reports every task run of the flow run in a final state.
"""

from __future__ import annotations

import contextlib
import errno
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from rich.console import Console
from rich.markup import escape

from convsweep.run_guard import guarded

if TYPE_CHECKING:
    from prefect.states import State

DRAIN_TIMEOUT_SECONDS = 60.0
# The API records task runs from the client's events, asynchronously: its recorder writes one
# event per database transaction and falls behind under load (minutes with four sweeps on a
# loaded 2-core machine and PostgreSQL).  So the wait ends on no progress, not on a fixed time.
RECORD_STALL_SECONDS = 60.0
RECORD_LIMIT_SECONDS = 900.0
_SAY_WAITING_AFTER_SECONDS = 5.0


def drain_events() -> bool:
    """Send whatever the client still holds (events, logs) to the API now; False if it could not in time."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    drained = True
    for worker in (APILogWorker, EventsWorker):
        # Called from synchronous code: concurrent.futures.wait's (done, not_done).
        drain = cast(Any, worker.drain_all(timeout=DRAIN_TIMEOUT_SECONDS, at_exit=False))
        _done, not_done = drain
        drained = drained and not not_done
    return drained


def recorded_task_runs(flow_run_id: UUID) -> list[Any]:
    """Every task run the API holds for ``flow_run_id`` (paged: the API returns 200 at most per call).

    Paged in id order: the default order (expected start time) has ties, and PostgreSQL may
    order tied rows differently from one query to the next, so offset pages would skip some
    rows and repeat others.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    runs: list[Any] = []
    with get_client(sync_client=True) as client:
        while True:
            page = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                sort=TaskRunSort.ID_DESC,
                limit=200,
                offset=len(runs),
            )
            runs.extend(page)
            if len(page) < 200:
                # Rows recorded while paging can shift a page (ids are random): count each once.
                return list({run.id: run for run in runs}.values())


def _not_final_words(runs: list[Any], expected_task_runs: int) -> str:
    """'3 still Running, 1 not in the API': what the API holds of the task runs that are not final yet."""
    states: dict[str, int] = {}
    for run in runs:
        if run.state is None or not run.state.is_final():
            name = run.state.name if run.state is not None else "without a state"
            states[name] = states.get(name, 0) + 1
    words = [f"{count} still {name}" for name, count in sorted(states.items())]
    absent = expected_task_runs - len(runs)
    if absent > 0:
        words.append(f"{absent} not in the API")
    return ", ".join(words) or "none missing"


def wait_until_recorded(
    flow_run_id: UUID,
    expected_task_runs: int,
    *,
    stall_seconds: float = RECORD_STALL_SECONDS,
    limit_seconds: float = RECORD_LIMIT_SECONDS,
    say: Callable[[str], None] | None = None,
) -> list[Any]:
    """Block until the API holds ``expected_task_runs`` final task runs of the flow run.

    Waits as long as the API keeps recording (a final task run more at least every
    ``stall_seconds``), up to ``limit_seconds`` in all; ``say`` is told once if the wait
    lasts more than a few seconds.

    Raises
    ------
    RuntimeError
        If the API records no more of them for ``stall_seconds``, or not all within
        ``limit_seconds``; the message says how many are missing and in what state.
    """
    drained = drain_events()
    began = last_progress = time.monotonic()
    best = -1
    said = False
    while True:
        runs = recorded_task_runs(flow_run_id)
        final = [run for run in runs if run.state is not None and run.state.is_final()]
        if len(final) >= expected_task_runs:
            return final
        now = time.monotonic()
        if len(final) > best:
            best, last_progress = len(final), now
        if say is not None and not said and now - began > _SAY_WAITING_AFTER_SECONDS:
            say(f"waiting for the Prefect API to record the task runs ({len(final)} of {expected_task_runs} so far)")
            said = True
        stalled = now - last_progress > stall_seconds
        if stalled or now - began > limit_seconds:
            why = f"none more in the last {stall_seconds:.0f} s" if stalled else f"not all within {limit_seconds:.0f} s"
            raise RuntimeError(
                f"the Prefect API recorded {len(final)} of {expected_task_runs} task runs of flow run "
                f"{flow_run_id}, {why} ({_not_final_words(runs, expected_task_runs)}"
                f"{'' if drained else '; the client could not send all its events'})"
            )
        time.sleep(0.2 if now - began < _SAY_WAITING_AFTER_SECONDS else 1.0)


class RunFailed(Exception):
    """A flow run that failed or crashed: exit 1 whatever its exception (README "Exit codes").

    Its text is the run's own error, ``<type>: <message>``, as the CLI prints it.
    """


def _flow_run_id(state: State) -> UUID:
    """The id of the flow run a final state belongs to (every state of a run made here has one)."""
    flow_run_id = state.state_details.flow_run_id
    if flow_run_id is None:
        raise RuntimeError("the flow's final state names no flow run")
    return flow_run_id


def _result(state: Any) -> Any:
    """The flow run's result; :class:`RunFailed` when the run failed, whatever it raised."""
    try:
        return state.result()
    except Exception as error:  # noqa: BLE001 - any failure of a run that exists is a failed run
        raise RunFailed(f"{type(error).__name__}: {error}") from error


def _name_the_full_folder(text: str, error: BaseException | None, out: Any) -> str:
    """A full disk or quota as Prefect's own writes report it (``[Errno 28] No space left on device``,
    no file named) gets the folder the sweep writes under; ``tasks.files`` names its own."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT) and "into the folder" not in text:
        return f"{text}, writing under --out {out} (the sweep's folder and its cache); free space there or give another --out"
    return text


@guarded(hint="rerun to resume from the cache")
def run_sweep(
    parameters: dict[str, Any],
    *,
    refresh: bool = False,
    cache_dir: str | None = None,
    task_runner: Any = None,
    console: Console | None = None,
    out_console: Console | None = None,
) -> dict[str, Any]:
    """Run the sweep flow with progress on ``console`` (stderr); print the final table on ``out_console`` (stdout).

    On a terminal the progress is a bar that knows its total from the start; elsewhere (a pipe, a
    log file) it is one plain line per ~10 % of the chunk tasks.
    """
    import prefect
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from convsweep.terminal import PlainProgress
    from flows.sweep import sweep

    console = console or Console(stderr=True)
    out_console = out_console or Console()
    flow_to_run = sweep if task_runner is None else sweep.with_options(task_runner=task_runner)
    if refresh:
        parameters = {**parameters, "refresh": True}
    if cache_dir is not None:
        parameters = {**parameters, "cache_dir": cache_dir}
    from tasks.artifacts import sweep_tags
    from tasks.model import parse_parameters
    from tasks.progress import reporting_to

    # Bad parameters are refused here, before a flow run exists (exit 2); the chunk count comes
    # from the flow's own plan, with its first progress report.
    settings = parse_parameters(**parameters)
    name = settings.name
    with contextlib.ExitStack() as stack:
        if console.is_terminal:
            bar = stack.enter_context(
                Progress(
                    TextColumn(f"[bold]sweep[/bold] {escape(name)} chunks"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=console,
                    transient=True,
                )
            )
            bar_task = bar.add_task("chunks", total=None)

            def show(done: int, total: int) -> None:
                bar.update(bar_task, completed=done, total=total)

        else:
            plain = PlainProgress(
                lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True), name=name
            )
            show = plain.update
        stack.enter_context(reporting_to(show))
        with prefect.tags(*sweep_tags(settings.name, settings.dataset), "started-by:cli"):
            state = cast("State", flow_to_run(**parameters, return_state=True))
    try:
        result = _result(state)
    except RunFailed as failed:
        raise RunFailed(_name_the_full_folder(str(failed), failed.__cause__, settings.out)) from failed.__cause__
    runs = wait_until_recorded(
        _flow_run_id(state), result["task_runs"], say=lambda line: _say(console, f"sweep: {line}")
    )
    result["cached_task_runs"] = sum(1 for run in runs if run.state.name == "Cached")
    result["samples_drawn"] = _samples_drawn(console, list(settings.samples), result["n_images"])
    _print_messages(console, result)
    _print_sweep_summary(out_console, result)
    return result


def _samples_drawn(console: Console, samples: list[int], n_images: int) -> bool:
    """Whether any sample picture was drawn; a warning names the sample indices past the selection.

    The default samples (0-3) are taken where they exist, silently: a 2-image dataset is no
    mistake of the user's.  Indices given (other than the default) are warned about.
    """
    from tasks.model import SweepParameters

    past = [index for index in samples if index >= n_images]
    if past and samples != SweepParameters.model_fields["samples"].default:
        shown = ", ".join(str(index) for index in past[:5]) + (f" and {len(past) - 5} more" if len(past) > 5 else "")
        drawn = "the others are drawn" if len(past) < len(samples) else "no sample picture is drawn"
        _say(console, f"convsweep: warning: samples {shown}: past the {n_images:,} selected images; {drawn}")
    return len(past) < len(samples)


def _say(console: Console, line: str) -> None:
    """One plain line on stderr, kept whole in a log file, wrapped at words on a terminal."""
    console.print(line, markup=False, highlight=False, soft_wrap=not console.is_terminal)


def _print_messages(console: Console, result: dict[str, Any]) -> None:
    """What the user should know about the folder, on stderr."""
    removed, foreign = result.get("removed_files") or [], result.get("foreign_files") or []
    if removed:
        console.print(
            f"sweep: removed {len(removed)} file(s) of an earlier sweep with other settings from "
            f"{result['output_dir']}",
            markup=False,
            highlight=False,
            soft_wrap=not console.is_terminal,  # a log file keeps it on one line, a terminal wraps at words
        )
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        console.print(
            f"convsweep: warning: {len(foreign)} file(s) in {result['output_dir']} are not part of the sweep "
            f"(left in place, not in manifest.json): {shown}",
            markup=False,
            highlight=False,
            soft_wrap=not console.is_terminal,  # a log file keeps it on one line, a terminal wraps at words
        )


def _print_sweep_summary(console: Console, result: dict[str, Any]) -> None:
    """The final table (every map, the settings that vary), then the counts and the output folder."""
    import csv

    from convsweep.terminal import summary_lines, wrap_words

    with open(result["csv"], newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    conv_settings = len(
        {(row["resize"], row["stride"], row["padding"], row["pad_mode"], row["dilation"]) for row in rows}
    )
    title = (
        f"sweep {result['name']}: {result['n_images']} images of {rows[0]['input_h']}x{rows[0]['input_w']}, "
        f"{result['configurations']} configurations ({conv_settings} conv x "
        f"{result['configurations'] // max(conv_settings, 1)} pool settings), {len(rows)} rows"
        if rows
        else f"sweep {result['name']}"
    )
    width = console.width
    lines = summary_lines(rows, title=title, width=width)
    lines += [
        "",
        f"{result['rows']} rows, {result['task_runs']} task runs ({result['cached_task_runs']} cached); outputs in",
        result["output_dir"],  # whole, on its own line, to be copied
        *wrap_words(
            "(report.html, report.md, sizes.csv, manifest.json, summary.png"
            + (", samples/, contact/)" if result.get("samples_drawn", True) else ")"),
            width,
        ),
    ]
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


@guarded()
def run_notebook(
    *,
    dataset: str,
    split: str,
    index: int,
    out: str,
    name: str,
    console: Console | None = None,
    out_console: Console | None = None,
) -> dict[str, Any]:
    """Run the notebook flow; its result (the image, the stage shapes, the folder) on ``out_console`` (stdout)."""
    import prefect

    from flows.notebook import notebook
    from tasks.artifacts import dataset_kind

    console = console or Console(stderr=True)
    with prefect.tags("convsweep", "notebook", f"dataset:{dataset_kind(dataset)}", "started-by:cli"):
        state = cast(
            "State", notebook(dataset=dataset, split=split, index=index, out=out, name=name, return_state=True)
        )
    result = _result(state)
    wait_until_recorded(_flow_run_id(state), result["task_runs"], say=lambda line: _say(console, f"notebook: {line}"))
    label = (
        f" (label {result['label']}: {result['class_name'] or result['label']})"
        if result.get("label") is not None
        else ""
    )
    out_console = out_console or Console()
    out_console.print(f"notebook: image {index} of {result['spec']} {result['split']}{label}", markup=False)
    for stage, shape in result["shapes"].items():
        out_console.print(f"  {stage:<10} {shape[0]}x{shape[1]}", markup=False)
    out_console.print(f"outputs in [bold]{escape(str(result['folder']))}[/bold] (PNGs, figure.png, arrays.npz)")
    return result
