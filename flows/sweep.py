"""The sweep flow: every stride/padding/kernel/pooling setting over a dataset selection.

Its parameters are the fields of ``convsweep.tasks.model.SweepParameters`` (one definition for the
flow, the CLI, config files and the UI's form).  It only composes, as its DAG reads:

    load-dataset -> plan (convsweep.tasks.plan.plan) [-> train-model -> plan with the learned kernels]
                                      -> process-chunk x (conv setting, chunk)
                                      -> write-samples x conv setting
                                      -> measure-shift x conv setting (with shift_images)
                                      -> describe-probe-data, probe-configuration x configuration (with probe)
                 [-> write-learned] -> rows -> write-sizes, write-report -> publish-artifacts -> write-manifest

Every task run goes through ``convsweep.flows.task_runs.TaskRuns``: cached by explicit keys
(``convsweep.tasks.prefect_glue.caching``) and counted.  ``write-manifest`` (``convsweep.tasks.manifest``) comes last: it
removes the files of an earlier sweep with other settings and lists every file of this one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State
from prefect.context import TagsContext
from prefect.futures import PrefectFuture, as_completed
from prefect.runtime import flow_run
from prefect.states import Completed
from prefect.task_runners import ThreadPoolTaskRunner

from convsweep.flows.model_signature import takes_model
from convsweep.flows.task_runs import TaskRuns
from convsweep.tasks.analysis.probe import ProbeData, ProbeRecord
from convsweep.tasks.analysis.shift import ShiftRecord
from convsweep.tasks.compute import process_chunk
from convsweep.tasks.datasets.errors import DataMismatchError
from convsweep.tasks.io import files
from convsweep.tasks.io.manifest import FolderCheck, begin_folder, sweep_outputs
from convsweep.tasks.learned_report import write_learned
from convsweep.tasks.load import describe_selection
from convsweep.tasks.manifest import write_manifest
from convsweep.tasks.measures import measure_shift
from convsweep.tasks.model import PARAMETER_NAMES, SweepParameters, map_names, parse_parameters
from convsweep.tasks.model.records import (
    ArtifactsRecord,
    ChunkRecord,
    DatasetRecord,
    LearnedRecord,
    ManifestRecord,
    Record,
    ReportFiles,
    SampleRecord,
    SweepSummary,
    TrainingRecord,
)
from convsweep.tasks.plan.cache_paths import cache_dir_for
from convsweep.tasks.plan.plan import SweepPlan, plan_sweep
from convsweep.tasks.prefect_glue import artifacts
from convsweep.tasks.prefect_glue.progress import Progress, announce
from convsweep.tasks.prefect_glue.worker_checks import check_workers_before_sweep
from convsweep.tasks.probe import describe_probe_data, probe_configuration
from convsweep.tasks.report import publish_artifacts, write_report, write_sizes
from convsweep.tasks.reporting.learned import learned_files, learned_kernels
from convsweep.tasks.reporting.rows import add_measures, build_rows, with_channel
from convsweep.tasks.samples import write_samples
from convsweep.tasks.training import train_model

_Record = TypeVar("_Record", bound=Record)


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


def _record_path(state: State) -> str:
    """Where a finished task run's cache record is (``<cache>/records/<key>``), or '' if it has none.

    The state's result metadata names the result file ``<cache>/results/<key>``;
    its record (``convsweep.tasks.prefect_glue.cache_records``) sits beside it under ``records/``.
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
    # Prefect types TaskRunner as invariant in its future type; a thread pool's futures are PrefectFutures.
    task_runner=ThreadPoolTaskRunner(max_workers=os.cpu_count() or 2),  # type: ignore[arg-type]
    persist_result=False,
)
@takes_model(SweepParameters, parse_parameters)
def sweep(settings: SweepParameters) -> State:
    """Run the Cartesian product of settings over the selected images, in chunks.

    Writes ``<out>/<name>/``: sizes.csv, samples/, contact/, summary.png, report.md,
    report.html (and maps/ with ``keep_maps``), then manifest.json, after removing the files
    of an earlier sweep with other settings from the folder.  Returns a Completed state whose
    message says what ran and where the outputs are, and whose data is a
    :class:`~convsweep.tasks.model.records.SweepSummary` as JSON (what ``sweep(...)`` returns in Python).

    The flow run carries the run's tags; its task runs carry none, because Prefect asks the
    API for a concurrency slot of every tag before each tagged task run (~45 ms a task run,
    2.4 s of a cold 70k sweep, for limits nobody set).
    """
    artifacts.add_flow_run_tags(artifacts.sweep_tags(settings.name, settings.dataset))
    cache_root = cache_dir_for(settings.out, settings.cache_dir)
    runs = TaskRuns(cache_root, refresh=settings.refresh)
    with TagsContext(current_tags=set()):
        load, colour_load = _load(settings, runs)
        plan = _plan(settings, load, colour_load)
        folder = _prepare_folder(plan)
        runs.folder_is_ours = folder.trusted
        _check_workers(plan)
        training = _train(settings, runs)
        if training is not None:
            plan = _plan(settings, load, colour_load, learned_kernels=training.kernels)
        sample_futures, chunk_futures = _submit_samples_and_chunks(plan, runs)
        shift_futures, probe_futures = _submit_measures(plan, runs)
        chunk_records, seconds_computed, cache_hits = _gather_chunks(plan, chunk_futures)
        rows = _rows(plan, chunk_records)
        if shift_futures is not None or probe_futures is not None:
            rows = add_measures(rows, **_gather_measures(shift_futures, probe_futures))
        samples = _gather_samples(sample_futures)
        learned_record = _write_learned(plan, runs, training)
        csv_path, written = _write_tables(plan, runs, rows=rows, samples=samples, learned=learned_record)
        manifest = _write_manifest(
            plan, runs, csv_path=csv_path, report=written, samples=samples, folder=folder, learned=learned_record
        )
    return _finish(
        plan,
        runs,
        csv_path,
        written,
        manifest,
        seconds_computed=seconds_computed,
        cache_hits=cache_hits,
        training=training,
    )


def _load(settings: SweepParameters, runs: TaskRuns) -> tuple[State, State | None]:
    """``load-dataset``: the selection described (grey), and read in RGB too for a colour sweep."""
    inputs = dict(spec=settings.dataset, selection=settings.selection(), index_dir=str(runs.cache_dir))
    load = runs.call(describe_selection, cached=False, **inputs)
    colour_load = runs.call(describe_selection, cached=False, **inputs, colour=True) if settings.colour else None
    return load, colour_load


def _submit_samples_and_chunks(
    plan: SweepPlan, runs: TaskRuns
) -> tuple[list[PrefectFuture[Any]], dict[PrefectFuture[Any], str]]:
    """``write-samples`` per conv setting and ``process-chunk`` per (conv setting, chunk, channel), submitted.

    Returns the sample futures, and the chunk futures with where each record is gathered.
    """
    sample_futures: list[PrefectFuture[Any]] = []
    chunk_futures: dict[PrefectFuture[Any], str] = {}
    for conv in plan.conv_settings:
        # A conv setting's pictures go before its chunks, so the (mostly GIL-bound) picture
        # tasks run between the (GIL-releasing) compute tasks, not all after them.
        if plan.samples:
            sample_futures.append(runs.submit(write_samples, job=plan.sample_job(conv)))
        for job in plan.chunk_jobs(conv):
            future = runs.submit(process_chunk, writes_files=plan.settings.keep_maps, job=job)
            chunk_futures[future] = _records_key(conv.label, job.channel)
    return sample_futures, chunk_futures


def _write_tables(
    plan: SweepPlan,
    runs: TaskRuns,
    *,
    rows: list[dict[str, Any]],
    samples: list[SampleRecord],
    learned: LearnedRecord | None,
) -> tuple[str, ReportFiles]:
    """``write-sizes``, ``write-report`` (cached), then ``publish-artifacts`` (every run); the CSV path and the report files."""
    out_dir = str(plan.out_dir)
    shown: dict[str, Any] = dict(
        name=plan.name, dataset=plan.dataset, rows=rows, out_dir=out_dir, sample_records=samples
    )
    sizes = runs.call(write_sizes, rows=rows, out_dir=out_dir)
    report = runs.call(write_report, **shown, **_learned_input(learned))
    csv_path, written = str(sizes.result()), ReportFiles.parse(report.result())
    _log_written(sizes, report, csv_path, written)
    published = runs.call(publish_artifacts, cached=False, **shown, **_learned_input(learned))
    _log_published(published)
    return csv_path, written


def _learned_input(record: LearnedRecord | None) -> dict[str, Any]:
    # Only when there are learned kernels: a sweep without them keeps its report's cache key.
    return {"learned": record} if record is not None else {}


def _train(settings: SweepParameters, runs: TaskRuns) -> TrainingRecord | None:
    """With ``learned_filters``: the trained model's record (``train-model``, cached), logged; else None."""
    if not settings.learned_filters:
        return None
    announce(
        f"training a CNN ({settings.learned_filters} filters, {settings.learned_epochs} epochs) on the "
        f"{settings.dataset} train split; reused from the cache when trained before"
    )
    state = runs.call(
        train_model,
        spec=settings.dataset,
        filters=settings.learned_filters,
        epochs=settings.learned_epochs,
        seed=settings.learned_seed,
        out_dir=str(settings.output_dir),
        name=settings.name,
        index_dir=str(runs.cache_dir) if runs.cache_dir is not None else None,
    )
    record = TrainingRecord.parse(state.result())
    get_run_logger().info(
        "train-model: %s; %d filters, %d epochs, seed %d, %s: test accuracy %.4f after %.1f s of training; model %s",
        "cache hit (trained earlier)" if state.name == "Cached" else "trained",
        record.filters,
        record.epochs,
        record.seed,
        record.split_rule,
        record.test_accuracy,
        record.seconds,
        record.model,
    )
    return record


def _write_learned(plan: SweepPlan, runs: TaskRuns, training: TrainingRecord | None) -> LearnedRecord | None:
    """learned.csv and the learned-vs-designed panel, when the sweep has learned (or a model's) kernels."""
    kernels = learned_kernels(plan.kernels)
    if not kernels:
        return None
    state = runs.call(
        write_learned,
        name=plan.name,
        dataset=plan.dataset,
        kernels=kernels,
        conv=plan.conv_settings[0],
        samples=list(plan.samples),
        out_dir=str(plan.out_dir),
        training=training,
    )
    record = LearnedRecord.parse(state.result())
    get_run_logger().info(
        "learned kernels: %s; %s",
        ", ".join(f"{row.kernel} ~ {row.nearest} ({row.similarity:.2f})" for row in record.rows),
        record.csv,
    )
    return record


def _records_key(label: str, channel: str | None) -> str:
    """Where a chunk's record is gathered: the conv label (grey), ``label channel`` (colour)."""
    return label if channel is None else f"{label} {channel}"


def _rows(plan: SweepPlan, chunk_records: dict[str, list[ChunkRecord]]) -> list[dict[str, Any]]:
    """The table: as before channels for a grey sweep; else per channel, with channels/channel columns."""
    kernels, conv_settings, pools = plan.kernels, list(plan.conv_settings), list(plan.pool_settings)
    if plan.settings.channels == ["gray"]:
        return build_rows(
            dataset=plan.dataset, kernels=kernels, conv_settings=conv_settings, pools=pools, chunk_records=chunk_records
        )
    rows: list[dict[str, Any]] = []
    for mode, channel in plan.channel_runs:
        dataset = plan.dataset if channel is None else plan.colour_dataset
        assert dataset is not None  # plan_sweep checked it
        records = {conv.label: chunk_records[_records_key(conv.label, channel)] for conv in plan.conv_settings}
        part = build_rows(
            dataset=dataset, kernels=kernels, conv_settings=conv_settings, pools=pools, chunk_records=records
        )
        rows.extend(with_channel(part, channels=mode, channel=channel or "gray"))
    return rows


def _plan(
    settings: SweepParameters,
    load: State,
    colour_load: State | None = None,
    learned_kernels: dict[str, tuple[tuple[float, ...], ...]] | None = None,
) -> SweepPlan:
    """The plan (``convsweep.tasks.plan.plan``) of the described data, logged.

    What the parameters ask of data that does not have it (a split it lacks, kernels larger
    than its images, ...) fails the run with one line: found once the run has started, it is a
    data error, a Failed run and exit 1.
    """
    logger = get_run_logger()
    try:
        data = DatasetRecord.parse(load.result())
    except (ValueError, TypeError) as error:
        raise DataMismatchError(str(error)) from None
    logger.info(
        "dataset %s split %s: %s images of %dx%d (height x width); source: %s",
        data.spec,
        data.split,
        f"{data.n:,}",
        data.height,
        data.width,
        data.source,
    )
    try:
        colour_data = None if colour_load is None else DatasetRecord.parse(colour_load.result())
        plan = plan_sweep(
            settings,
            data,
            colour_data,
            learned_kernels=None
            if learned_kernels is None
            else {name: [list(row) for row in matrix] for name, matrix in learned_kernels.items()},
        )
    except (ValueError, TypeError) as error:
        raise DataMismatchError(str(error)) from None
    logger.info(
        "fingerprint %s; %d configurations (%d conv settings x %d pool settings) over %d chunk(s) of at most %s "
        "images: %d process-chunk task runs; cache %s%s",
        data.fingerprint,
        settings.n_configurations,
        len(plan.conv_settings),
        len(plan.pool_settings),
        len(plan.chunks),
        f"{plan.largest_chunk:,}",
        plan.chunk_task_runs,
        plan.cache_dir.resolve(),
        " (refresh: everything recomputed)" if settings.refresh else "",
    )
    return plan


def _prepare_folder(plan: SweepPlan) -> FolderCheck:
    """Sweep the temp files of killed runs; say whether the folder's files are this sweep's (``convsweep.tasks.manifest``)."""
    logger = get_run_logger()
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    # A run killed during a write (kill -9) leaves a .tmp-* file that no later write replaces.
    for folder in (plan.out_dir, plan.cache_dir):
        for path in files.sweep_temp_files(folder):
            logger.warning("removed %s, left by an interrupted run", path)
    # Files of another sweep under the names this one writes (same folder, other settings) must
    # not be kept by a cached task: then every task that writes files runs again.
    flow_run_id = None if flow_run.id is None else str(flow_run.id)
    return begin_folder(
        plan.out_dir, parameters=plan.settings.to_parameters(), cache_dir=plan.cache_dir, flow_run_id=flow_run_id
    )


def _check_workers(plan: SweepPlan) -> None:
    """On Dask: every worker sees the folders and reaches the API, or the sweep stops here (``convsweep.tasks.prefect_glue.worker_checks``)."""
    checked = check_workers_before_sweep(cache_dir=plan.cache_dir, out_dir=plan.out_dir, dataset_spec=plan.dataset.spec)
    if checked:
        get_run_logger().info("%d Dask worker(s) see the cache, outputs and data and reach the API", checked)


def _gather_chunks(
    plan: SweepPlan, futures: dict[PrefectFuture[Any], str]
) -> tuple[dict[str, list[ChunkRecord]], float, int]:
    """The chunk records by conv label, in chunk order, as they finish (progress, one log line each).

    Also returns the seconds computed now (cached chunks count 0) and the cache hits.
    """
    logger = get_run_logger()
    progress = Progress(plan.name, total=len(futures))
    records: dict[str, list[ChunkRecord]] = {conv.label: [] for conv in plan.conv_settings}
    seconds_computed = 0.0
    cache_hits = 0
    for future in as_completed(list(futures)):
        record = ChunkRecord.parse(future.result())
        label = futures[future]
        records.setdefault(label, []).append(record)
        cached = future.state.name == "Cached"
        cache_hits += cached
        seconds_computed += 0.0 if cached else record.seconds
        logger.info(
            "chunk %d-%d x %s: %s %.2f s; record %s",
            *record.chunk,
            label,
            "cache hit (computed earlier in" if cached else "cache miss, computed in",
            record.seconds,
            _record_path(future.state),
        )
        progress.advance(cached=cached)
    for chunk_records in records.values():
        chunk_records.sort(key=lambda record: record.chunk[0])
    return records, seconds_computed, cache_hits


def _submit_measures(
    plan: SweepPlan, runs: TaskRuns
) -> tuple[list[PrefectFuture[Any]] | None, list[PrefectFuture[Any]] | None]:
    """The measure-shift (one per conv setting) and probe (one per configuration) task runs asked for, or None."""
    settings = plan.settings
    shift_futures = None
    if settings.shift_images:
        shift_futures = [
            runs.submit(
                measure_shift,
                writes_files=False,
                dataset=plan.dataset,
                conv=conv,
                kernels=plan.kernels,
                pools=list(plan.pool_settings),
                shift_images=settings.shift_images,
            )
            for conv in plan.conv_settings
        ]
    probe_futures = None
    if settings.probe:
        try:
            limit = settings.limit  # a 500-image sweep probes at most 500 train and 500 test images
            described = runs.call(
                describe_probe_data,
                cached=False,
                dataset=plan.dataset,
                max_train=settings.probe_train if limit is None else min(settings.probe_train, limit),
                max_test=limit,
            )
            data = ProbeData.parse(described.result())
        except ValueError as error:
            raise DataMismatchError(str(error)) from None
        get_run_logger().info("probe images: %s train, %s test; %s", f"{data.n_train:,}", f"{data.n_test:,}", data.rule)
        probe_futures = [
            runs.submit(probe_configuration, writes_files=False, data=data, conv=conv, pool=pool, kernels=plan.kernels)
            for conv in plan.conv_settings
            for pool in plan.pool_settings
        ]
    return shift_futures, probe_futures


def _gather_measures(
    shift_futures: list[PrefectFuture[Any]] | None, probe_futures: list[PrefectFuture[Any]] | None
) -> dict[str, Any]:
    """The measures' records (``add_measures``' keyword arguments), one log line each."""
    logger = get_run_logger()

    def said_shift(shift: ShiftRecord, cached: bool) -> None:
        logger.info(
            "shift sensitivity %s over %d images: %s %.2f s",
            shift.conv,
            shift.images,
            "cache hit, computed earlier in" if cached else "computed in",
            shift.seconds,
        )

    def said_probe(probe: ProbeRecord, cached: bool) -> None:
        logger.info(
            "probe %s x %s: accuracy %.4f on %d features (%d lbfgs iterations%s); %s %.2f s",
            probe.conv,
            probe.pool,
            probe.accuracy,
            probe.features,
            probe.iterations,
            "" if probe.converged else ", not converged",
            "cache hit, trained earlier in" if cached else "trained in",
            probe.seconds,
        )

    return {
        "shift_records": None if shift_futures is None else _gathered(shift_futures, ShiftRecord, said_shift),
        "probe_records": None if probe_futures is None else _gathered(probe_futures, ProbeRecord, said_probe),
    }


def _gather_samples(futures: list[PrefectFuture[Any]]) -> list[SampleRecord]:
    logger = get_run_logger()

    def said(record: SampleRecord, cached: bool) -> None:
        logger.info(
            "samples %s: %s (%d pictures, contact sheet %s)",
            record.conv,
            "cache hit" if cached else "written",
            len(record.images),
            record.contact,
        )

    return _gathered(futures, SampleRecord, said)


def _gathered(
    futures: list[PrefectFuture[Any]], record_type: type[_Record], say: Callable[[_Record, bool], None]
) -> list[_Record]:
    """Each future's record, in order, told to ``say`` with whether it was a cache hit."""
    records = []
    for future in futures:
        record = record_type.parse(future.result())
        say(record, future.state.name == "Cached")
        records.append(record)
    return records


def _log_written(sizes: State, report: State, csv_path: str, written: ReportFiles) -> None:
    logger = get_run_logger()
    for what, state, paths in (
        ("sizes.csv", sizes, [csv_path]),
        ("report", report, [written.summary, written.report, written.html]),
    ):
        verb = "unchanged (cache hit)" if state.name == "Cached" else "written"
        logger.info("%s %s: %s", what, verb, ", ".join(paths))


def _log_published(published: State) -> None:
    record = ArtifactsRecord.parse(published.result())
    get_run_logger().info(
        "artifacts %s (table: %d varying columns) and %s (%s KB)",
        record.sizes,
        record.table_columns,
        record.report,
        f"{record.report_bytes / 1000:,.0f}",
    )


def _write_manifest(
    plan: SweepPlan,
    runs: TaskRuns,
    *,
    csv_path: str,
    report: ReportFiles,
    samples: list[SampleRecord],
    folder: FolderCheck,
    learned: LearnedRecord | None = None,
) -> ManifestRecord:
    """Last: a folder with its manifest holds one complete sweep."""
    maps = (
        {
            str(plan.maps_dir(conv, channel)): map_names(plan.kernels)
            for conv in plan.conv_settings
            for _, channel in plan.channel_runs
        }
        if plan.settings.keep_maps
        else None
    )
    produced = sweep_outputs(
        plan.out_dir,
        sizes_csv=csv_path,
        report_record=report,
        sample_records=samples,
        maps=maps,
        chunks=[chunk.bounds for chunk in plan.chunks],
        extra=learned_files(learned),
    )
    state = runs.call(
        write_manifest,
        cached=False,
        out_dir=str(plan.out_dir),
        produced=produced,
        parameters=plan.settings.to_parameters(),
        dataset=plan.dataset,
        cache_dir=str(plan.cache_dir),
        known_digests=folder.digests,
    )
    return ManifestRecord.parse(state.result())


def _finish(
    plan: SweepPlan,
    runs: TaskRuns,
    csv_path: str,
    report: ReportFiles,
    manifest: ManifestRecord,
    *,
    seconds_computed: float,
    cache_hits: int,
    training: TrainingRecord | None = None,
) -> State:
    """The run's final state: a one-line summary (shown on the flow run's page) and the summary record."""
    logger = get_run_logger()
    out_dir = plan.out_dir.resolve()
    if manifest.removed:
        logger.info("removed %d file(s) of an earlier sweep with other settings", len(manifest.removed))
    logger.info(
        "outputs in %s (report.html, report.md, sizes.csv, summary.png, %smanifest.json)",
        out_dir,
        "contact/, samples/, " if plan.samples else "",
    )
    data = plan.dataset
    message = (
        f"{plan.settings.n_configurations} configurations over {data.n:,} images of {data.spec} {data.split}: "
        f"{plan.chunk_task_runs} chunk task runs ({cache_hits} cached, {seconds_computed:.1f} s computed); "
        f"outputs in {out_dir}"
    )
    summary = SweepSummary(
        name=plan.name,
        output_dir=str(plan.out_dir),
        dataset=data.spec,
        split=data.split,
        n_images=data.n,
        fingerprint=data.fingerprint,
        configurations=plan.settings.n_configurations,
        chunks=len(plan.chunks),
        task_runs=runs.count,
        cached_task_runs=runs.cached,
        csv=csv_path,
        chunk_compute_seconds=round(seconds_computed, 3),
        summary=report.summary,
        report=report.report,
        html=report.html,
        rows=report.rows,
        manifest=manifest.manifest,
        removed_files=manifest.removed,
        foreign_files=manifest.foreign,
        model_test_accuracy=None if training is None else training.test_accuracy,
        model_test_images=None if training is None else training.test_images,
    )
    return Completed(message=message, data=summary.to_json())
