"""The sweep flow: every stride/padding/kernel/pooling setting over a dataset selection.

Its parameters are the fields of ``tasks.model.SweepParameters`` (one
definition for the flow, the CLI, config files and the UI's form).  It only
composes tasks: describe the selection, submit one ``process-chunk`` task per
(conv setting, chunk) and one ``write-samples`` task per conv setting — all
cached by explicit keys (``tasks.caching``) — then ``write-sizes`` and
``write-report`` (cached too), ``publish-artifacts`` and, last, ``write-manifest``
(``tasks.manifest``: removes the files of an earlier sweep with other settings from
the folder and lists every file of this one).
"""

from __future__ import annotations

import os
from typing import Any

from prefect import flow
from prefect.futures import as_completed
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from flows.model_signature import takes_model
from tasks.caching import cache_dir_for, with_cache
from tasks.compute import process_chunk
from tasks.datasets import iter_chunks
from tasks.load import describe_selection
from tasks.manifest import begin_folder, sweep_outputs, write_manifest
from tasks.model import PARAMETER_NAMES, SweepParameters, conv_label, magnitude_pairs, parse_parameters
from tasks.report import Progress, build_rows, publish_artifacts, write_report, write_sizes
from tasks.samples import write_samples


def sweep_run_name() -> str:
    """``sweep-fashion_mnist-test-12cfg``: what ran, readable in the Prefect UI."""
    parameters = {key: value for key, value in flow_run.parameters.items() if key in PARAMETER_NAMES}
    try:
        settings = parse_parameters(**parameters)
    except (ValueError, TypeError):
        return "sweep-invalid-parameters"
    kind = settings.dataset.split(":", 1)[0]
    return f"sweep-{kind}-{settings.split}-{settings.n_configurations}cfg"


@flow(
    name="sweep",
    flow_run_name=sweep_run_name,
    task_runner=ThreadPoolTaskRunner(max_workers=os.cpu_count() or 2),
    persist_result=False,
)
@takes_model(SweepParameters, parse_parameters)
def sweep(settings: SweepParameters) -> dict[str, Any]:
    """Run the Cartesian product of settings over the selected images, in chunks.

    Writes ``<out>/<name>/``: sizes.csv, samples/, contact/, summary.png,
    report.md, report.html (and maps/ with ``keep_maps``), then manifest.json,
    after removing the files of an earlier sweep with other settings from the
    folder.  Returns a small summary record.
    """
    data = describe_selection(settings.dataset, settings.selection())
    settings.check_shapes(height=data["height"], width=data["width"])

    out_dir = settings.output_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    cache_root = cache_dir_for(settings.out, settings.cache_dir)

    kernels_plain = {key: [list(row) for row in matrix] for key, matrix in settings.kernel_matrices.items()}
    pools_plain = [pool.to_plain() for pool in settings.pool_settings]
    convs_plain = [conv.to_plain() for conv in settings.conv_settings]
    chunks = [[begin, end] for begin, end in iter_chunks(data["n"], settings.chunk_size)]
    sample_indices = [index for index in settings.samples if index < data["n"]]

    # Files of another sweep under the names this one writes (same folder, other settings) must
    # not be kept by a cached task: then every task that writes files runs again.
    folder_is_ours = begin_folder(
        out_dir, parameters=settings.to_parameters(), fingerprint=data["fingerprint"], cache_dir=cache_root
    )

    def cached(task: Any, writes_files: bool = True, **inputs: Any) -> Any:
        refresh = settings.refresh or (writes_files and not folder_is_ours)
        return with_cache(task, cache_root, refresh=refresh, inputs=inputs)

    chunk_futures = {}
    for conv in convs_plain:
        maps_dir = str(out_dir / "maps" / conv_label(conv)) if settings.keep_maps else None
        for chunk in chunks:
            inputs = dict(
                dataset=data, chunk=chunk, conv=conv, kernels=kernels_plain, pools=pools_plain, maps_dir=maps_dir
            )
            chunk_task = cached(process_chunk, writes_files=settings.keep_maps, **inputs)
            chunk_futures[chunk_task.submit(**inputs)] = conv_label(conv)
    sample_futures = []
    if sample_indices:
        for conv in convs_plain:
            inputs = dict(
                dataset=data,
                conv=conv,
                kernels=kernels_plain,
                pools=pools_plain,
                samples=sample_indices,
                out_dir=str(out_dir),
            )
            sample_futures.append(cached(write_samples, **inputs).submit(**inputs))

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
    sizes_inputs = dict(rows=rows, out_dir=str(out_dir))
    csv_path = cached(write_sizes, **sizes_inputs)(**sizes_inputs)
    report_inputs = dict(
        name=settings.name, dataset=data, rows=rows, out_dir=str(out_dir), sample_records=sample_records
    )
    written = cached(write_report, **report_inputs)(**report_inputs)
    publish_artifacts(settings.name, data, rows, str(out_dir), sample_records)
    produced = sweep_outputs(
        out_dir,
        sizes_csv=csv_path,
        report_record=written,
        sample_records=sample_records,
        maps={str(out_dir / "maps" / conv_label(conv)): settings.map_names for conv in convs_plain}
        if settings.keep_maps
        else None,
        chunks=chunks,
    )
    # Last: a folder with its manifest holds one complete sweep.
    manifest = write_manifest(str(out_dir), produced, settings.to_parameters(), data, str(cache_root))
    return {
        "name": settings.name,
        "output_dir": str(out_dir),
        "dataset": data["spec"],
        "split": data["split"],
        "n_images": data["n"],
        "fingerprint": data["fingerprint"],
        "configurations": settings.n_configurations,
        "chunks": len(chunks),
        # + load, sizes, report, artifacts, manifest
        "task_runs": 1 + len(chunk_futures) + len(sample_futures) + 4,
        "csv": csv_path,
        "chunk_compute_seconds": round(seconds_computed, 3),
        **written,
        "manifest": manifest["manifest"],
        "removed_files": manifest["removed"],
        "foreign_files": manifest["foreign"],
    }
