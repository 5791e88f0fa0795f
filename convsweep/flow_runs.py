"""Running the flows in this process, for the CLI: progress on stderr, the final table on stdout.

The API they report to is chosen before (:mod:`convsweep.server`); Prefect's own client sends
the events still queued when the process exits, and the server outlives the run.
"""

from __future__ import annotations

import contextlib
import errno
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rich.console import Console
from rich.markup import escape

from convsweep.run_guard import guarded

if TYPE_CHECKING:
    from prefect.states import State

    from convsweep.tasks.model import SweepParameters


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


def check_before_run(settings: SweepParameters) -> None:
    """What can be refused before a flow run exists: a model's kernels, then the preflight (ValueError, one line)."""
    from convsweep.tasks.plan.preflight import preflight

    if settings.model:  # first, so a model's kernels too large for the images are named by its file
        from convsweep.tasks.analysis.learned import check_model_before_run

        check_model_before_run(settings)
    preflight(settings)


def check_notebook_options(*, dataset: str, split: str, index: int, out: str, name: str) -> None:
    """The notebook's options, refused (ValueError, one line) before a flow run exists."""
    from convsweep.tasks.model import SPLITS, check_safe_name
    from convsweep.tasks.plan.preflight import check_dataset_reachable, check_writable_folder

    check_safe_name(name, argument="name")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"index={index!r} must be a non-negative int")
    if split not in SPLITS:
        raise ValueError(f"split={split!r} must be one of {', '.join(SPLITS)}")
    check_writable_folder(out, what=f"--out {out}")
    check_dataset_reachable(dataset)


def run_sweep_flow(
    settings: SweepParameters,
    *,
    task_runner: Any = None,
    started_by: str = "cli",
    show: Callable[[int, int], None] | None = None,
    stage: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the sweep flow for ``settings`` in this process; its summary (``SweepSummary`` as JSON).

    ``show(done, total)`` is told the chunk task runs' progress, ``stage(words)`` what runs before them.  Raises :class:`RunFailed`
    when the run failed, whatever it raised.
    """
    import prefect

    from convsweep.flows.sweep import sweep
    from convsweep.tasks.prefect_glue.artifacts import sweep_tags
    from convsweep.tasks.prefect_glue.progress import reporting_to

    flow_to_run = sweep if task_runner is None else sweep.with_options(task_runner=task_runner)
    with contextlib.ExitStack() as stack:
        if show is not None:
            stack.enter_context(reporting_to(show, stage))
        with prefect.tags(*sweep_tags(settings.name, settings.dataset), f"started-by:{started_by}"):
            state = cast("State", flow_to_run(**settings.to_parameters(), return_state=True))
    try:
        return cast(dict[str, Any], _result(state))
    except RunFailed as failed:
        raise RunFailed(_name_the_full_folder(str(failed), failed.__cause__, settings.out)) from failed.__cause__


def _mark_crashed(settings: SweepParameters) -> Callable[[str], None]:
    """Mark this sweep's flow run Crashed (for the run guard, when the process must exit before Prefect does).

    Only one live run writes a sweep folder (``convsweep.tasks.io.folder_claim``), so the running flow run
    tagged ``sweep:<name>`` whose ``out`` is this sweep's is this process's.
    """

    def mark(message: str) -> None:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import (
            FlowRunFilter,
            FlowRunFilterState,
            FlowRunFilterStateType,
            FlowRunFilterTags,
        )
        from prefect.client.schemas.objects import StateType
        from prefect.states import Crashed

        running = FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING])),
            tags=FlowRunFilterTags(all_=[f"sweep:{settings.name}"]),
        )
        with get_client(sync_client=True) as client:
            for run in client.read_flow_runs(flow_run_filter=running, limit=20):
                if run.parameters.get("out") == str(settings.out):
                    client.set_flow_run_state(run.id, Crashed(message=message), force=True)

    return mark


def _name_the_full_folder(text: str, error: BaseException | None, out: Any) -> str:
    """A full disk or quota as Prefect's own writes report it (``[Errno 28] No space left on device``,
    no file named) gets the folder the sweep writes under; ``convsweep.tasks.io.files`` names its own."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT) and "into the folder" not in text:
        return f"{text}, writing under --out {out} (the sweep's folder and its cache); free space there or give another --out"
    return text


@guarded(hint="rerun to resume from the cache")
def run_sweep(
    settings: SweepParameters,
    *,
    task_runner: Any = None,
    console: Console | None = None,
    out_console: Console | None = None,
) -> dict[str, Any]:
    """Run the sweep flow with progress on ``console`` (stderr); print the final table on ``out_console`` (stdout).

    On a terminal the progress is a bar that knows its total from the start; elsewhere (a pipe, a
    log file) it is one plain line per ~10 % of the chunk tasks.
    """
    from convsweep.run_guard import on_crash

    console = console or Console(stderr=True)
    out_console = out_console or Console()
    name = settings.name
    on_crash(_mark_crashed(settings))
    with contextlib.ExitStack() as stack:
        show, stage = _progress(stack, console, name)
        result = run_sweep_flow(settings, task_runner=task_runner, show=show, stage=stage)
    result["samples_drawn"] = _samples_drawn(console, list(settings.samples), result["n_images"])
    _print_messages(console, result)
    _print_sweep_summary(out_console, result)
    return result


def _progress(
    stack: contextlib.ExitStack, console: Console, name: str
) -> tuple[Callable[[int, int], None], Callable[[str], None]]:
    """(show, stage) for the sweep's progress: a bar on a terminal (entered on ``stack``), else plain lines."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from convsweep.terminal import PlainProgress

    if console.is_terminal:
        bar = stack.enter_context(
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
        )
        chunks = f"[bold]sweep[/bold] {escape(name)} chunks"
        # Until the plan counts the chunks: the API, the dataset, the plan (not "chunks 0/?", as if stuck).
        bar_task = bar.add_task(f"[bold]sweep[/bold] {escape(name)} starting", total=None)

        def show(done: int, total: int) -> None:
            bar.update(bar_task, completed=done, total=total, description=chunks)

        def stage(words: str) -> None:
            # A stage has no count: its words stand on their own line, above the bar.
            bar.console.print(f"sweep {name}: {words}", markup=False, highlight=False)
            bar.update(bar_task, description=f"[bold]sweep[/bold] {escape(name)} {escape(words.split(' (')[0])}")

    else:
        plain = PlainProgress(
            lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True), name=name
        )
        show, stage = plain.update, plain.stage
    return show, stage


def _samples_drawn(console: Console, samples: list[int], n_images: int) -> bool:
    """Whether any sample picture was drawn; a warning names the sample indices past the selection.

    The default samples (0-3) are taken where they exist, silently: a 2-image dataset is no
    mistake of the user's.  Indices given (other than the default) are warned about.
    """
    from convsweep.tasks.model import SweepParameters

    past = [index for index in samples if index >= n_images]
    if past and samples != SweepParameters.model_fields["samples"].default:
        shown = ", ".join(str(index) for index in past[:5]) + (f" and {len(past) - 5} more" if len(past) > 5 else "")
        drawn = "the others are drawn" if len(past) < len(samples) else "no sample picture is drawn"
        _say(console, f"convsweep: warning: samples {shown}: past the {n_images:,} selected images; {drawn}")
    return len(past) < len(samples)


def _say(console: Console, line: str) -> None:
    """One plain line on stderr, kept whole in a log file, wrapped at words on a terminal."""
    console.print(line, markup=False, highlight=False, soft_wrap=not console.is_terminal)


def _print_messages(console: Console, result: Mapping[str, Any]) -> None:
    """What the user should know about the folder, on stderr."""
    removed, foreign = result.get("removed_files") or [], result.get("foreign_files") or []
    if removed:
        _say(
            console,
            f"sweep: removed {len(removed)} file(s) of an earlier sweep with other settings from {result['output_dir']}",
        )
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        _say(
            console,
            f"convsweep: warning: {len(foreign)} file(s) in {result['output_dir']} are not part of the sweep "
            f"(left in place, not in manifest.json): {shown}",
        )


def _print_sweep_summary(console: Console, result: Mapping[str, Any]) -> None:
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
    lines.append("")
    probed = next((row for row in rows if row.get("probe_train_images")), None)
    if probed is not None:  # the probe is one figure per configuration: said where its column is filled
        lines += wrap_words(
            f"probe: a linear probe per configuration, on its {probed['map']} rows only, fitted on "
            f"{int(float(probed['probe_train_images'])):,} train images, scored on "
            f"{int(float(probed['probe_test_images'])):,} test images",
            width,
        )
    if result.get("model_test_accuracy") is not None:
        lines.append(
            f"trained CNN: test accuracy {result['model_test_accuracy']:.4f} "
            f"on {result.get('model_test_images') or 0:,} test images (training.png, model.keras)"
        )
    lines += [
        f"{result['rows']} rows, {result['task_runs']} task runs ({result['cached_task_runs']} cached); outputs in",
        result["output_dir"],  # whole, on its own line, to be copied
        *wrap_words(f"({', '.join(written_files(result['manifest']))})", width),
    ]
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


FIRST_FILES = ("report.html", "report.md", "sizes.csv", "manifest.json", "summary.png")
"""Listed first, in this order, in the closing summary: every sweep writes them."""


def written_files(manifest: str) -> list[str]:
    """The sweep folder's files and folders (``samples/``) as its manifest lists them, the usual ones first.

    Read from the manifest, not guessed from the settings: what an option adds (learned.png,
    measures.png, maps/, ...) is listed when it was written, and only then.
    """
    with open(manifest, encoding="utf-8") as handle:
        paths = [entry["path"] for entry in json.load(handle)["files"]]
    names = {path.split("/")[0] + ("/" if "/" in path else "") for path in paths} | {Path(manifest).name}
    return [name for name in FIRST_FILES if name in names] + sorted(
        names - set(FIRST_FILES),
        key=lambda name: (name.endswith("/"), name),  # files, then folders
    )


def run_notebook_flow(
    *, dataset: str, split: str, index: int, out: str, name: str, started_by: str = "cli"
) -> dict[str, Any]:
    """Run the notebook flow in this process; its result (the image, the stage shapes, the folder)."""
    import prefect

    from convsweep.flows.notebook import notebook
    from convsweep.tasks.prefect_glue.artifacts import dataset_kind

    with prefect.tags("convsweep", "notebook", f"dataset:{dataset_kind(dataset)}", f"started-by:{started_by}"):
        state = cast(
            "State", notebook(dataset=dataset, split=split, index=index, out=out, name=name, return_state=True)
        )
    return cast(dict[str, Any], _result(state))


@guarded()
def run_notebook(
    *,
    dataset: str,
    split: str,
    index: int,
    out: str,
    name: str,
    out_console: Console | None = None,
) -> dict[str, Any]:
    """Run the notebook flow; its result (the image, the stage shapes, the folder) on ``out_console`` (stdout)."""
    result = run_notebook_flow(dataset=dataset, split=split, index=index, out=out, name=name)
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
