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
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.context import TagsContext
from prefect.futures import as_completed
from prefect.runtime import flow_run
from prefect.states import Completed
from prefect.task_runners import ThreadPoolTaskRunner

from flows.model_signature import takes_model
from tasks import artifacts, files
from tasks.caching import cache_dir_for, with_cache
from tasks.chunking import sweep_chunks
from tasks.compute import process_chunk
from tasks.datasets.identity_index import part_fingerprints
from tasks.load import DataMismatchError, describe_selection
from tasks.manifest import begin_folder, sweep_outputs, write_manifest
from tasks.model import PARAMETER_NAMES, SweepParameters, conv_label, magnitude_pairs, parse_parameters
from tasks.report import Progress, build_rows, publish_artifacts, write_report, write_sizes
from tasks.samples import write_samples


def sweep_run_name() -> str:
    """``mnist · idx/mnist-t10k · test · 12 cfg``: which sweep, on what, readable in the Prefect UI."""
    parameters = {key: value for key, value in flow_run.parameters.items() if key in PARAMETER_NAMES}
    try:
        settings = parse_parameters(**parameters)
    except (ValueError, TypeError):
        return f"{parameters.get('name', 'sweep')} · invalid parameters"
    return (
        f"{settings.name} · {artifacts.dataset_label(settings.dataset)} · {settings.split} · "
        f"{settings.n_configurations} cfg"
    )


def _record_path(state: Any) -> str:
    """Where a finished task run's cache record is (``<cache>/records/<key>``), or '' if it has none.

    The state's result metadata names the result file ``<cache>/results/<key>``;
    its record (``tasks.cache_records``) sits beside it under ``records/``.
    """
    metadata = getattr(getattr(state, "data", None), "metadata", None)
    storage_key = getattr(metadata, "storage_key", None)
    if not storage_key:
        return ""
    result = Path(storage_key)
    return str(result.parent.parent / "records" / result.name)


@flow(
    name="sweep",
    flow_run_name=sweep_run_name,
    task_runner=ThreadPoolTaskRunner(max_workers=os.cpu_count() or 2),
    persist_result=False,
)
@takes_model(SweepParameters, parse_parameters)
def sweep(settings: SweepParameters) -> Any:
    """Run the Cartesian product of settings over the selected images, in chunks.

    Writes ``<out>/<name>/``: sizes.csv, samples/, contact/, summary.png,
    report.md, report.html (and maps/ with ``keep_maps``), then manifest.json,
    after removing the files of an earlier sweep with other settings from the
    folder.  Returns a Completed state whose message says what ran and where the
    outputs are, and whose data is a small summary record (what ``sweep(...)``
    returns to a Python caller).

    The flow run carries the run's tags; its task runs carry none, because Prefect asks the
    API for a concurrency slot of every tag before each tagged task run (~45 ms a task run,
    2.4 s of a cold 70k sweep, for limits nobody set).
    """
    with TagsContext(current_tags=set()):
        return _compose(settings)


def _compose(settings: SweepParameters) -> Any:
    """The body of :func:`sweep`."""
    logger = get_run_logger()
    cache_root = cache_dir_for(settings.out, settings.cache_dir)
    tags = artifacts.add_flow_run_tags(artifacts.sweep_tags(settings.name, settings.dataset))
    try:
        data = describe_selection(settings.dataset, settings.selection(), index_dir=str(cache_root))
        settings.check_shapes(height=data["height"], width=data["width"])
    except (ValueError, TypeError) as error:
        # Found once the run has started, so a data error: a Failed run and exit 1 (README "Exit codes").
        raise DataMismatchError(str(error)) from None
    logger.info(
        "dataset %s split %s: %s images of %dx%d (height x width); source: %s",
        data["spec"],
        data["split"],
        f"{data['n']:,}",
        data["height"],
        data["width"],
        data["source"],
    )
    logger.info("fingerprint %s; tags %s", data["fingerprint"], ", ".join(tags))

    out_dir = settings.output_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    # A run killed during a write (kill -9) leaves a .tmp-* file that no later write replaces.
    for folder in (out_dir, cache_root):
        for path in files.sweep_temp_files(folder):
            logger.warning("removed %s, left by an interrupted run", path)

    kernels_plain = {key: [list(row) for row in matrix] for key, matrix in settings.kernel_matrices.items()}
    pools_plain = [pool.to_plain() for pool in settings.pool_settings]
    convs_plain = [conv.to_plain() for conv in settings.conv_settings]
    chunks = [
        [begin, end] for begin, end in sweep_chunks(settings, n=data["n"], height=data["height"], width=data["width"])
    ]
    sample_indices = [index for index in settings.samples if index < data["n"]]
    logger.info(
        "%d configurations (%d conv settings x %d pool settings) over %d chunk(s) of at most %s images: "
        "%d process-chunk task runs; cache %s%s",
        settings.n_configurations,
        len(convs_plain),
        len(pools_plain),
        len(chunks),
        f"{max((end - begin for begin, end in chunks), default=0):,}",
        len(convs_plain) * len(chunks),
        cache_root.resolve(),
        " (refresh: everything recomputed)" if settings.refresh else "",
    )
    # Content fingerprints of each chunk and of the samples (from the identity index when the
    # files are unchanged): a chunk keeps its cache key when images are appended after it.
    chunk_fingerprints, samples_fingerprint = part_fingerprints(
        data, chunks=chunks, samples=sample_indices, index_dir=cache_root
    )

    # Files of another sweep under the names this one writes (same folder, other settings) must
    # not be kept by a cached task: then every task that writes files runs again.
    folder_is_ours = begin_folder(out_dir, parameters=settings.to_parameters(), cache_dir=cache_root)

    def cached(task: Any, writes_files: bool = True, **inputs: Any) -> Any:
        refresh = settings.refresh or (writes_files and not folder_is_ours)
        return with_cache(task, cache_root, refresh=refresh, inputs=inputs)

    chunk_futures = {}
    sample_futures = []
    for conv in convs_plain:
        # Each conv setting's pictures are submitted before its chunks, so the (mostly GIL-bound)
        # picture tasks run between the (GIL-releasing) compute tasks, not all after them.
        if sample_indices:
            inputs = dict(
                dataset=data,
                conv=conv,
                kernels=kernels_plain,
                pools=pools_plain,
                samples=sample_indices,
                out_dir=str(out_dir),
                samples_fingerprint=samples_fingerprint,
                memory_budget=settings.memory_budget,
            )
            sample_futures.append(cached(write_samples, **inputs).submit(**inputs))
        maps_dir = str(out_dir / "maps" / conv_label(conv)) if settings.keep_maps else None
        for chunk, chunk_fingerprint in zip(chunks, chunk_fingerprints, strict=True):
            inputs = dict(
                dataset=data,
                chunk=chunk,
                conv=conv,
                kernels=kernels_plain,
                pools=pools_plain,
                maps_dir=maps_dir,
                chunk_fingerprint=chunk_fingerprint,
                memory_budget=settings.memory_budget,
            )
            chunk_task = cached(process_chunk, writes_files=settings.keep_maps, **inputs)
            chunk_futures[chunk_task.submit(**inputs)] = conv_label(conv)

    progress = Progress(settings.name, total=len(chunk_futures))
    chunk_records: dict[str, list[dict[str, Any]]] = {conv_label(conv): [] for conv in convs_plain}
    seconds_computed = 0.0  # by the chunk tasks that ran now, not those served from the cache
    cache_hits = 0
    for future in as_completed(list(chunk_futures)):
        record = future.result()
        label = chunk_futures[future]
        chunk_records[label].append(record)
        begin, end = record["chunk"]
        if future.state.name == "Cached":
            cache_hits += 1
            logger.info(
                "chunk %d-%d x %s: cache hit (computed earlier in %.2f s); record %s",
                begin,
                end,
                label,
                record["seconds"],
                _record_path(future.state),
            )
        else:
            seconds_computed += record["seconds"]
            logger.info(
                "chunk %d-%d x %s: cache miss, computed in %.2f s; record %s",
                begin,
                end,
                label,
                record["seconds"],
                _record_path(future.state),
            )
        progress.advance(cached=future.state.name == "Cached")
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
    for future, record in zip(sample_futures, sample_records, strict=True):
        logger.info(
            "samples %s: %s (%d pictures, contact sheet %s)",
            record["conv"],
            "cache hit" if future.state.name == "Cached" else "written",
            len(record["images"]),
            record["contact"],
        )
    sizes_inputs = dict(rows=rows, out_dir=str(out_dir))
    sizes_state = cached(write_sizes, **sizes_inputs)(**sizes_inputs, return_state=True)
    csv_path = sizes_state.result()
    report_inputs = dict(
        name=settings.name, dataset=data, rows=rows, out_dir=str(out_dir), sample_records=sample_records
    )
    report_state = cached(write_report, **report_inputs)(**report_inputs, return_state=True)
    written = report_state.result()
    for what, state, paths in (
        ("sizes.csv", sizes_state, [csv_path]),
        ("report", report_state, [written["summary"], written["report"], written["html"]]),
    ):
        verb = "unchanged (cache hit)" if state.name == "Cached" else "written"
        logger.info("%s %s: %s", what, verb, ", ".join(paths))
    published = publish_artifacts(settings.name, data, rows, str(out_dir), sample_records)
    logger.info(
        "artifacts %s (table: %d varying columns) and %s (%s KB)",
        published["sizes"],
        published["table_columns"],
        published["report"],
        f"{published['report_bytes'] / 1000:,.0f}",
    )
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
    task_runs = 1 + len(chunk_futures) + len(sample_futures) + 4  # + load, sizes, report, artifacts, manifest
    message = (
        f"{settings.n_configurations} configurations over {data['n']:,} images of {data['spec']} {data['split']}: "
        f"{len(chunk_futures)} chunk task runs ({cache_hits} cached, {seconds_computed:.1f} s computed); "
        f"outputs in {out_dir.resolve()}"
    )
    if manifest["removed"]:
        logger.info("removed %d file(s) of an earlier sweep with other settings", len(manifest["removed"]))
    logger.info(
        "outputs in %s (report.html, report.md, sizes.csv, summary.png, contact/, samples/, manifest.json)",
        out_dir.resolve(),
    )
    result = {
        "name": settings.name,
        "output_dir": str(out_dir),
        "dataset": data["spec"],
        "split": data["split"],
        "n_images": data["n"],
        "fingerprint": data["fingerprint"],
        "configurations": settings.n_configurations,
        "chunks": len(chunks),
        "task_runs": task_runs,
        "csv": csv_path,
        "chunk_compute_seconds": round(seconds_computed, 3),
        **written,
        "manifest": manifest["manifest"],
        "removed_files": manifest["removed"],
        "foreign_files": manifest["foreign"],
    }
    # The run's final state carries a one-line summary (shown on the flow run's page); its data is the record.
    return Completed(message=message, data=result)
