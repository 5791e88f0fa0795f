"""Running the flows in this process, for the CLI: progress on stderr, the final table on stdout.

The API they report to is chosen before (:mod:`convsweep.server`); Prefect's own client sends
the events still queued when the process exits, and the server outlives the run.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, cast

from rich.console import Console
from rich.markup import escape

from convsweep.run_guard import guarded

if TYPE_CHECKING:
    from prefect.states import State


class RunFailed(Exception):
    """A flow run that failed or crashed: exit 1 whatever its exception (README "Exit codes").

    Its text is the run's own error, ``<type>: <message>``, as the CLI prints it.
    """


def _result(state: Any) -> Any:
    """The flow run's result; :class:`RunFailed` when the run failed, whatever it raised."""
    try:
        return state.result()
    except Exception as error:  # noqa: BLE001 - any failure of a run that exists is a failed run
        raise RunFailed(f"{type(error).__name__}: {error}") from error


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
    result = _result(state)
    result["samples_drawn"] = _samples_drawn(console, list(settings.samples), result["n_images"])
    _print_messages(console, result)
    _print_sweep_summary(out_console, result)
    return result


def _samples_drawn(console: Console, samples: list[int], n_images: int) -> bool:
    """Whether any sample picture was drawn; a warning names the sample indices past the selection."""
    past = [index for index in samples if index >= n_images]
    if past:
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
