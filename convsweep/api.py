"""The Python API: :func:`sweep` and :func:`notebook`, the command line's runs as functions.

Each runs the same flow as ``convsweep sweep`` / ``convsweep notebook``, recorded in the Prefect
UI like a CLI run (tagged ``started-by:api``), against ``PREFECT_API_URL`` or else Prefect's
background server of this ``PREFECT_HOME`` (started once, as the CLI does). Bad input raises the
CLI's one-line ``ValueError`` before a flow run exists; a failed run raises
:class:`convsweep.flow_runs.RunFailed`.

>>> import convsweep
>>> result = convsweep.sweep(dataset="idx:../shared/datasets/mnist-t10k", limit=500, strides=[1, 2])
>>> result.rows.groupby("stride")["out_h"].first()
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from convsweep.flow_runs import check_before_run, check_notebook_options, run_notebook_flow, run_sweep_flow
from convsweep.server import use_server
from convsweep.task_runners import task_runner_from_options


@dataclass(frozen=True)
class SweepResult:
    """A finished sweep: its rows (``sizes.csv``), its folder and files, and what the run did."""

    name: str
    folder: Path
    rows: pd.DataFrame
    csv: Path
    report: Path
    """report.md"""
    html: Path
    """report.html"""
    summary: Path
    """summary.png"""
    manifest: Path
    n_images: int
    configurations: int
    chunks: int
    task_runs: int
    cached_task_runs: int
    chunk_compute_seconds: float
    """Seconds the chunk tasks computed in this run (those served from the cache count 0)."""

    @classmethod
    def from_summary(cls, summary: Any) -> SweepResult:
        """The result of the sweep flow's summary (its paths as text)."""
        return cls(
            name=summary["name"],
            folder=Path(summary["output_dir"]),
            rows=pd.read_csv(summary["csv"]),
            csv=Path(summary["csv"]),
            report=Path(summary["report"]),
            html=Path(summary["html"]),
            summary=Path(summary["summary"]),
            manifest=Path(summary["manifest"]),
            n_images=summary["n_images"],
            configurations=summary["configurations"],
            chunks=summary["chunks"],
            task_runs=summary["task_runs"],
            cached_task_runs=summary["cached_task_runs"],
            chunk_compute_seconds=summary["chunk_compute_seconds"],
        )


@dataclass(frozen=True)
class NotebookResult:
    """The notebook's run on one image: its folder, the stage shapes and the image's label."""

    folder: Path
    shapes: dict[str, tuple[int, int]]
    label: int | None
    class_name: str | None


def _say(line: str) -> None:
    print(f"convsweep: {line}", file=sys.stderr)


def sweep(
    *,
    config: str | Path | None = None,
    runner: str | None = None,
    dask_address: str | None = None,
    workers: int | None = None,
    **parameters: Any,
) -> SweepResult:
    """Run a sweep; the CLI's ``convsweep sweep`` with keyword arguments for its options.

    Parameters
    ----------
    config
        A sweep config file (YAML or JSON); ``parameters`` override it, as options do.
    runner, dask_address, workers
        Where the chunk tasks run (``threads``, ``processes``, ``dask``), as ``--runner`` etc.
    **parameters
        The sweep's parameters by their model names (``dataset``, ``strides=[1, 2]``, ``out``, ...);
        lists may be Python lists or the CLI's comma-separated text.

    Returns
    -------
    SweepResult
        ``rows`` is ``sizes.csv`` as a DataFrame, one row per configuration and map.

    Raises
    ------
    ValueError
        A bad parameter, named with its value (nothing is written, no flow run exists).
    convsweep.flow_runs.RunFailed
        The flow run failed; its text is the run's own error.
    """
    from convsweep.tasks.model import load_config_file, parse_parameters

    given = {**(load_config_file(str(config)) if config is not None else {}), **parameters}
    settings = parse_parameters(**given)
    check_before_run(settings)
    task_runner = task_runner_from_options(runner, dask_address=dask_address, workers=workers)
    use_server(say=_say)
    summary = run_sweep_flow(settings, task_runner=task_runner, started_by="api")
    return SweepResult.from_summary(summary)


def notebook(
    *,
    dataset: str = "fashion_mnist",
    split: str = "train",
    index: int = 0,
    out: str = "outputs",
    name: str = "notebook",
) -> NotebookResult:
    """The teaching notebook on one image (27x27, Sobel h/v, magnitude, 2x2 pooling), as ``convsweep notebook``."""
    check_notebook_options(dataset=dataset, split=split, index=index, out=out, name=name)
    use_server(say=_say)
    result = run_notebook_flow(dataset=dataset, split=split, index=index, out=out, name=name, started_by="api")
    return NotebookResult(
        folder=Path(result["folder"]),
        shapes={stage: (int(shape[0]), int(shape[1])) for stage, shape in result["shapes"].items()},
        label=result.get("label"),
        class_name=result.get("class_name"),
    )
