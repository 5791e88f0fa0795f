"""`convsweep sweep` (the main job) and `convsweep notebook`.

Options are the flow parameters in kebab-case; lists are comma-separated and
pairs are written ``HxW`` (``--strides 1,2x1``).  Precedence: flow defaults <
``--config FILE`` < options given on the command line.  Parameters are checked
(``convsweep.settings.build_settings``) before Prefect starts, so bad input
exits 2 with one line and no flow run is created.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Optional

import typer

from convsweep import settings as sweep_settings
from convsweep.runners import RunnerOption, require_reachable_api, task_runner_from_options


def _scalar(text: str) -> Any:
    """'2' -> 2, '2x1' -> [2, 1], '1.5' -> 1.5, 'none' -> None, anything else stays text."""
    value = text.strip()
    if value.lower() in ("none", "native", "null"):
        return None if value.lower() != "native" else "native"
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    if re.fullmatch(r"\d+(x\d+)+", value.lower()):
        return [int(part) for part in value.lower().split("x")]
    try:
        return float(value)
    except ValueError:
        return value


def parse_list(text: Optional[str], *, option: str) -> Optional[list[Any]]:
    """A comma-separated option as a list of scalars; None when the option was not given."""
    if text is None:
        return None
    items = [item for item in text.split(",") if item.strip()]
    if not items:
        raise ValueError(f"{option}={text!r} is empty: give comma-separated values")
    return [_scalar(item) for item in items]


def parse_custom_kernels(values: Optional[list[str]]) -> Optional[dict[str, str]]:
    """``--kernel NAME=1,2,1;0,0,0;-1,-2,-1`` (repeatable) -> {NAME: matrix text}."""
    if not values:
        return None
    kernels: dict[str, str] = {}
    for value in values:
        name, sep, matrix = value.partition("=")
        if not sep or not name.strip() or not matrix.strip():
            raise ValueError(f"--kernel {value!r} must look like NAME=1,2,1;0,0,0;-1,-2,-1")
        kernels[name.strip()] = matrix.strip()
    return kernels


def sweep_parameters(
    *,
    config: Optional[Path] = None,
    **options: Any,
) -> dict[str, Any]:
    """Flow parameters from a config file and the options given (None = not given)."""
    parameters: dict[str, Any] = {}
    if config is not None:
        parameters.update(sweep_settings.load_config_file(config))
    for key, value in options.items():
        if value is not None:
            parameters[key] = value
    return parameters


# The sweep options, shared by `sweep` and (through `sweep_options_to_parameters`) by `serve`.
SweepOption = {
    "dataset": typer.Option(None, "--dataset", "-d", help="fashion_mnist (default), mnist, idx:PATH, images:PATH or sample."),
    "split": typer.Option(None, "--split", help="train, test (default) or all."),
    "start": typer.Option(None, "--start", help="First image of the slice."),
    "stop": typer.Option(None, "--stop", help="End of the slice (exclusive)."),
    "limit": typer.Option(None, "--limit", "-n", help="At most this many images."),
    "classes": typer.Option(None, "--classes", help="Only these labels or class names, e.g. 0,3,7 or Sneaker,Bag."),
    "resize": typer.Option(None, "--resize", help="Resize sizes, e.g. native,27,32x32 (default native)."),
    "kernels": typer.Option(None, "--kernels", "-k", help="Kernel names (default sobel_h,sobel_v); see `convsweep kernels`."),
    "kernel": typer.Option(None, "--kernel", help="A custom kernel NAME=1,2,1;0,0,0;-1,-2,-1 (repeatable)."),
    "strides": typer.Option(None, "--strides", "-s", help="Strides, e.g. 1,2,3 or 2x1 (default 1,2,3)."),
    "paddings": typer.Option(None, "--paddings", "-p", help="valid, same, full, ints, HxW or TxBxLxR (default valid,same)."),
    "pad_modes": typer.Option(None, "--pad-modes", help="zeros (default), reflect, replicate."),
    "dilations": typer.Option(None, "--dilations", help="Dilations (default 1)."),
    "pool_modes": typer.Option(None, "--pool-modes", help="max, avg, none (default max,avg)."),
    "pool_sizes": typer.Option(None, "--pool-sizes", help="Pool window sizes (default 2)."),
    "pool_strides": typer.Option(None, "--pool-strides", help="Pool strides (default: the window size)."),
    "pool_paddings": typer.Option(None, "--pool-paddings", help="valid (default), same, ints."),
    "samples": typer.Option(None, "--samples", help="Indices of the images drawn as PNGs (default 0,1,2,3)."),
    "chunk_size": typer.Option(None, "--chunk-size", help="Images per task run (default 10000)."),
    "keep_maps": typer.Option(None, "--keep-maps/--no-keep-maps", help="Also write full feature maps as .npy."),
    "out": typer.Option(None, "--out", "-o", help="Output root (default outputs/)."),
    "name": typer.Option(None, "--name", help="Sweep name: the folder under the output root."),
    "config": typer.Option(None, "--config", "-c", help="A saved sweep: YAML or JSON with the parameters."),
}


def sweep_options_to_parameters(
    *,
    config: Optional[Path],
    dataset: Optional[str],
    split: Optional[str],
    start: Optional[int],
    stop: Optional[int],
    limit: Optional[int],
    classes: Optional[str],
    resize: Optional[str],
    kernels: Optional[str],
    kernel: Optional[list[str]],
    strides: Optional[str],
    paddings: Optional[str],
    pad_modes: Optional[str],
    dilations: Optional[str],
    pool_modes: Optional[str],
    pool_sizes: Optional[str],
    pool_strides: Optional[str],
    pool_paddings: Optional[str],
    samples: Optional[str],
    chunk_size: Optional[int],
    keep_maps: Optional[bool],
    out: Optional[str],
    name: Optional[str],
) -> dict[str, Any]:
    """The CLI's sweep options as flow parameters, validated (ValueError names the option)."""
    parameters = sweep_parameters(
        config=config,
        dataset=dataset,
        split=split,
        start=start,
        stop=stop,
        limit=limit,
        classes=parse_list(classes, option="--classes"),
        resize=parse_list(resize, option="--resize"),
        kernels=parse_list(kernels, option="--kernels"),
        custom_kernels=parse_custom_kernels(kernel),
        strides=parse_list(strides, option="--strides"),
        paddings=parse_list(paddings, option="--paddings"),
        pad_modes=parse_list(pad_modes, option="--pad-modes"),
        dilations=parse_list(dilations, option="--dilations"),
        pool_modes=parse_list(pool_modes, option="--pool-modes"),
        pool_sizes=parse_list(pool_sizes, option="--pool-sizes"),
        pool_strides=parse_list(pool_strides, option="--pool-strides"),
        pool_paddings=parse_list(pool_paddings, option="--pool-paddings"),
        samples=parse_list(samples, option="--samples"),
        chunk_size=chunk_size,
        keep_maps=keep_maps,
        out=out,
        name=name,
    )
    if parameters.get("custom_kernels") and parameters.get("kernels") is None:
        # Custom kernels alone replace the default Sobel pair.
        parameters["kernels"] = []
    sweep_settings.build_settings(**parameters)  # fail here, before Prefect starts
    return parameters


def _quiet_prefect(verbose: bool) -> None:
    # Prefect logs every task run, and a failure with its traceback, to the console; the CLI
    # shows its own progress and one line per error instead. The logs still go to the API,
    # so the Prefect UI has them in full; --verbose shows them here too.
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    # The temporary API server would try to phone home; this network has no route out.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Without PREFECT_API_URL each run starts its own temporary API server; Prefect gives it 20 s
    # to answer, too little when several runs start at once on a busy machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")


def sweep(
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
    name: Optional[str] = SweepOption["name"],
    config: Optional[Path] = SweepOption["config"],
    refresh: bool = typer.Option(False, "--refresh", help="Recompute every task, ignoring cached results."),
    cache_dir: Optional[str] = typer.Option(None, "--cache-dir", help="Where task results are cached (default <out>/.cache)."),
    runner: Optional[str] = RunnerOption["runner"],
    dask_address: Optional[str] = RunnerOption["dask_address"],
    workers: Optional[int] = RunnerOption["workers"],
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's task-run logs."),
) -> None:
    """Run a sweep (the main job): every setting over the dataset, cached; writes outputs/<name>/."""
    parameters = sweep_options_to_parameters(
        config=config, dataset=dataset, split=split, start=start, stop=stop, limit=limit, classes=classes,
        resize=resize, kernels=kernels, kernel=kernel, strides=strides, paddings=paddings, pad_modes=pad_modes,
        dilations=dilations, pool_modes=pool_modes, pool_sizes=pool_sizes, pool_strides=pool_strides,
        pool_paddings=pool_paddings, samples=samples, chunk_size=chunk_size, keep_maps=keep_maps, out=out, name=name,
    )
    task_runner = task_runner_from_options(runner, dask_address=dask_address, workers=workers)
    _quiet_prefect(verbose)
    require_reachable_api()  # a set but dead PREFECT_API_URL: one line naming it, exit 1
    from convsweep.running import run_sweep

    run_sweep(parameters, refresh=refresh, cache_dir=cache_dir, task_runner=task_runner)


def notebook(
    dataset: str = typer.Option("fashion_mnist", "--dataset", "-d", help="Dataset spec (as for sweep)."),
    split: str = typer.Option("train", "--split", help="train (the notebook's), test or all."),
    index: int = typer.Option(0, "--index", "-i", help="Which image of the split."),
    out: str = typer.Option("outputs", "--out", "-o", help="Output root."),
    name: str = typer.Option("notebook", "--name", help="Folder under the output root."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's task-run logs."),
) -> None:
    """Reproduce the teaching notebook on one image: 27x27, Sobel h/v, magnitude, 2x2 pooling."""
    sweep_settings.check_safe_name(name, argument="name")
    if index < 0:
        raise ValueError(f"index={index} must be a non-negative int")
    if split not in ("train", "test", "all"):
        raise ValueError(f"split={split!r} must be one of train, test, all")
    _quiet_prefect(verbose)
    from convsweep.running import run_notebook

    run_notebook(dataset=dataset, split=split, index=index, out=out, name=name)


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep)
    app.command("notebook")(notebook)
