"""The sweep flow: every stride/padding/kernel/pooling setting over a dataset selection.

It only composes tasks: load the selection, submit one ``process-chunk`` task
per (conv setting, chunk) and one ``write-samples`` task per conv setting —
all cached by explicit keys (``tasks.caching``) — then ``write-sizes`` and
``write-report`` (cached too) and ``publish-artifacts``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.futures import as_completed
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from convsweep.settings import DEFAULTS, build_settings, check_shapes, conv_label, magnitude_pairs
from tasks.caching import default_cache_dir, with_cache
from tasks.compute import process_chunk
from tasks.datasets import iter_chunks
from tasks.load import describe_selection
from tasks.report import Progress, build_rows, publish_artifacts, write_report, write_sizes
from tasks.samples import write_samples


def sweep_run_name() -> str:
    """``sweep-fashion_mnist-test-12cfg``: what ran, readable in the Prefect UI."""
    parameters = {key: value for key, value in flow_run.parameters.items() if key in DEFAULTS}
    try:
        settings = build_settings(**parameters)
    except (ValueError, TypeError):
        return "sweep-invalid-parameters"
    kind = settings.dataset.split(":", 1)[0]
    return f"sweep-{kind}-{settings.split}-{settings.n_configurations}cfg"


@flow(
    name="sweep",
    flow_run_name=sweep_run_name,
    task_runner=ThreadPoolTaskRunner(max_workers=os.cpu_count() or 2),
    validate_parameters=False,  # build_settings gives the one-line errors
    persist_result=False,
)
def sweep(
    dataset: str = DEFAULTS["dataset"],
    split: str = DEFAULTS["split"],
    start: int | None = None,
    stop: int | None = None,
    limit: int | None = None,
    classes: list[int] | None = None,
    resize: list[Any] = DEFAULTS["resize"],
    kernels: list[str] = DEFAULTS["kernels"],
    custom_kernels: dict[str, Any] = DEFAULTS["custom_kernels"],
    strides: list[Any] = DEFAULTS["strides"],
    paddings: list[Any] = DEFAULTS["paddings"],
    pad_modes: list[str] = DEFAULTS["pad_modes"],
    dilations: list[Any] = DEFAULTS["dilations"],
    pool_modes: list[str] = DEFAULTS["pool_modes"],
    pool_sizes: list[Any] = DEFAULTS["pool_sizes"],
    pool_strides: list[Any] = DEFAULTS["pool_strides"],
    pool_paddings: list[Any] = DEFAULTS["pool_paddings"],
    samples: list[int] = DEFAULTS["samples"],
    chunk_size: int = DEFAULTS["chunk_size"],
    keep_maps: bool = DEFAULTS["keep_maps"],
    out: str = DEFAULTS["out"],
    name: str | None = None,
    refresh: bool = False,
    cache_dir: str | None = None,
) -> dict[str, Any]:
    """Run the Cartesian product of settings over the selected images, in chunks.

    Writes ``<out>/<name>/``: sizes.csv, samples/, contact/, summary.png,
    report.md (and maps/ with ``keep_maps``).  Returns a small summary record.
    """
    settings = build_settings(
        dataset=dataset, split=split, start=start, stop=stop, limit=limit, classes=classes,
        resize=resize, kernels=kernels, custom_kernels=custom_kernels, strides=strides,
        paddings=paddings, pad_modes=pad_modes, dilations=dilations, pool_modes=pool_modes,
        pool_sizes=pool_sizes, pool_strides=pool_strides, pool_paddings=pool_paddings,
        samples=samples, chunk_size=chunk_size, keep_maps=keep_maps, out=out, name=name,
    )
    data = describe_selection(settings.dataset, settings.selection())
    check_shapes(settings, height=data["height"], width=data["width"])

    out_dir = settings.output_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    cache_root = Path(cache_dir) if cache_dir else default_cache_dir(settings.out)
    chunk_task = with_cache(process_chunk, cache_root, refresh=refresh)
    samples_task = with_cache(write_samples, cache_root, refresh=refresh)

    kernels_plain = {key: [list(row) for row in matrix] for key, matrix in settings.kernels.items()}
    pools_plain = [pool.to_plain() for pool in settings.pool_settings]
    convs_plain = [conv.to_plain() for conv in settings.conv_settings]
    chunks = [[begin, end] for begin, end in iter_chunks(data["n"], settings.chunk_size)]
    sample_indices = [index for index in settings.samples if index < data["n"]]

    chunk_futures = {}
    for conv in convs_plain:
        maps_dir = str(out_dir / "maps" / conv_label(conv)) if settings.keep_maps else None
        for chunk in chunks:
            future = chunk_task.submit(data, chunk, conv, kernels_plain, pools_plain, maps_dir)
            chunk_futures[future] = conv_label(conv)
    sample_futures = [
        samples_task.submit(data, conv, kernels_plain, pools_plain, sample_indices, str(out_dir))
        for conv in convs_plain
        if sample_indices
    ]

    progress = Progress(settings.name, total=len(chunk_futures))
    chunk_records: dict[str, list[dict[str, Any]]] = {conv_label(conv): [] for conv in convs_plain}
    seconds_computed = 0.0  # by the chunk tasks that ran now, not those served from the cache
    for future in as_completed(list(chunk_futures)):
        record = future.result()
        chunk_records[chunk_futures[future]].append(record)
        if future.state.name != "Cached":
            seconds_computed += record["seconds"]
        progress.advance()
    for records in chunk_records.values():
        records.sort(key=lambda record: record["chunk"][0])

    rows = build_rows(
        dataset=data,
        kernels=kernels_plain,
        magnitudes=magnitude_pairs(kernels_plain),
        conv_settings=convs_plain,
        pools=pools_plain,
        chunk_records=chunk_records,
    )
    sample_records = [future.result() for future in sample_futures]
    sizes_task = with_cache(write_sizes, cache_root, refresh=refresh)
    report_task = with_cache(write_report, cache_root, refresh=refresh)
    csv_path = sizes_task(rows, str(out_dir))
    written = report_task(settings.name, data, rows, str(out_dir), sample_records)
    publish_artifacts(settings.name, data, rows, str(out_dir), sample_records)
    return {
        "name": settings.name,
        "output_dir": str(out_dir),
        "dataset": data["spec"],
        "split": data["split"],
        "n_images": data["n"],
        "fingerprint": data["fingerprint"],
        "configurations": settings.n_configurations,
        "chunks": len(chunks),
        "task_runs": 1 + len(chunk_futures) + len(sample_futures) + 3,  # + load, sizes, report, artifacts
        "csv": csv_path,
        "chunk_compute_seconds": round(seconds_computed, 3),
        **written,
    }
