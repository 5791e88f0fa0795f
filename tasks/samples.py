"""The sweep's picture task: every stage of a few sample images, for one conv setting.

Writes, under the sweep's folder,

* ``samples/<conv label>/<index>-<stage>.png``: the input (after resize), each
  kernel's map, each magnitude, and each map after each pool setting;
* ``contact/<conv label>.png``: one matplotlib contact sheet of all of them,

and returns the paths and the gray scaling of every picture.

Pictures of large images are previews: when the (resized) input's longer side exceeds
:data:`SAMPLE_MAX_SIDE`, every stage of that sample is reduced by the same integer factor
``f = ceil(side / SAMPLE_MAX_SIDE)`` (means of f x f blocks, partial blocks at the edges), so
maps keep their sizes relative to each other; the gray scaling (max|x| or max) is still that of
the full-size map.  The maps are computed one sample at a time, in bands of rows when one image
exceeds ``memory_budget`` (``convsweep.tasks.plan.chunking.band_rows``), so memory stays bounded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task

from convsweep.tasks.chunk.maps import open_selection
from convsweep.tasks.io import files
from convsweep.tasks.model.jobs import SampleJob
from convsweep.tasks.model.records import SampleRecord
from convsweep.tasks.prefect_glue.caching import RECORD_SERIALIZER, SweepCachePolicy
from convsweep.tasks.prefect_glue.worker_checks import check_samples_worker
from convsweep.tasks.reporting import render
from convsweep.tasks.reporting.samples import (
    PictureRow,
    SheetRow,
    sample_channels,
    sample_paths,
    sample_record,
    sample_rows,
    sheet_columns,
    sheet_title,
)


def _sample_key(inputs: dict[str, Any]) -> dict[str, Any]:
    # The sample images' own content and labels (convsweep.tasks.datasets.identity_index) when given, so
    # that images appended to the dataset leave the pictures cached; else the whole selection's.
    job: SampleJob = inputs["job"]
    key = {
        "content": job.samples_fingerprint or {"selection": job.dataset.fingerprint},
        "class_names": job.dataset.class_names,
        "conv": job.conv,
        "kernels": job.kernels,
        "pools": job.pools,
        "samples": job.samples,
        "out_dir": str(Path(job.out_dir).resolve()),
    }
    if job.channels is not None:  # only a colour sweep's key has them: grey keys as before channels
        assert job.colour_dataset is not None  # convsweep.tasks.plan.plan gives both
        key["channels"] = job.channels
        key["colour_content"] = job.colour_samples_fingerprint or {"selection": job.colour_dataset.fingerprint}
    return key


def _sample_outputs(inputs: dict[str, Any]) -> list[Path]:
    job: SampleJob = inputs["job"]
    return list(
        sample_paths(job.out_dir, job.conv, job.kernels, list(job.pools), list(job.samples), job.channels).values()
    )


"""A colour contact sheet's largest cell, in pixels: the sheet draws its largest picture ~190 px
wide (1.7 in at 110 dpi), and matplotlib resamples the whole canvas in float32 RGBA, so a
sheet of four rows per sample of 1024 px previews took GBs; a grey sheet is drawn as before."""


"""A colour sheet's row label, after the sample's: which channel the row's maps are of."""


@task(
    name="write-samples",
    task_run_name="{job.run_name}",
    cache_policy=SweepCachePolicy(key_inputs=_sample_key, expected_outputs=_sample_outputs),
    result_serializer=RECORD_SERIALIZER,
    persist_result=True,
)
def write_samples(job: SampleJob) -> SampleRecord:
    """PNGs of every stage for ``job.samples`` (indices into the selection) and a contact sheet.

    ``job.samples_fingerprint`` (the content fingerprint of those images) keys the cache, and the
    images read here are checked against it before anything is written
    (``convsweep.tasks.prefect_glue.worker_checks.check_samples_worker``).
    ``job.memory_budget`` (MB) only decides whether a sample is computed in bands; not in the cache key.
    A colour sweep gives ``job.channels`` (its channel modes) and ``job.colour_dataset`` (the
    selection read in RGB; ``job.colour_samples_fingerprint`` its samples' content): the input is
    drawn in colour and each sample gets one sheet row per channel (:func:`sample_paths`).
    """
    dataset, conv, kernels, pools, samples = job.dataset, job.conv, job.kernels, list(job.pools), list(job.samples)
    paths = sample_paths(job.out_dir, conv, kernels, pools, samples, job.channels)
    view = open_selection(dataset)
    row_channels = sample_channels(job.channels)
    colour_view = _open_colour(job, row_channels)
    column_titles, stages = sheet_columns(kernels, pools)
    # Checked before any picture is written: a worker with other data writes nothing.
    check_samples_worker(view, dataset=dataset, samples=samples, expected=job.samples_fingerprint)
    scaling: dict[str, float] = {}
    sheet_rows = []
    factor = 1
    for index in samples:
        rows, factor = sample_rows(
            index,
            view=view,
            colour_view=colour_view,
            class_names=dataset.class_names,
            channels=row_channels,
            conv=conv,
            kernels=kernels,
            pools=pools,
            memory_budget=job.memory_budget,
        )
        sheet_rows += _write_sample(
            index, rows, stages=stages, column_titles=column_titles, paths=paths, scaling=scaling
        )
        if colour_view is not None:
            files.write_png(paths[f"{index}-input"], rows[0][2]["rgb"][0])
            scaling[f"{index}-input"] = 1.0
    title, sheet_rows = sheet_title(conv, row_channels, sheet_rows, factor)
    figure = render.contact_sheet(sheet_rows, title=title)
    try:
        files.write_figure(paths["contact"], figure, dpi=110)
    finally:
        render.close(figure)
    return sample_record(
        view, class_names=dataset.class_names, conv=conv, samples=samples, paths=paths, scaling=scaling, factor=factor
    )


def _open_colour(job: SampleJob, row_channels: tuple[str, ...]) -> Any:
    """The selection read in RGB when the sheet has channel rows, else None."""
    if not row_channels:
        return None
    if job.colour_dataset is None:
        raise ValueError(f"channels={job.channels!r} needs colour_dataset (the selection read in RGB)")
    return open_selection(job.colour_dataset)


def _write_sample(
    index: int,
    rows: list[PictureRow],
    *,
    stages: list[str],
    column_titles: dict[str, str],
    paths: dict[str, Path],
    scaling: dict[str, float],
) -> list[SheetRow]:
    """Write sample ``index``'s pictures (their gray scaling into ``scaling``); its contact sheet rows."""
    sheet_rows = []
    for row_label, channel, pictures in rows:
        cells = []
        for stage in stages:
            key = f"{index}-{stage}" if not channel else f"{index}-{channel}:{stage}"
            picture, scale = pictures[stage]
            if key in paths:  # a sum row's input is the RGB input, written once as <index>-input
                files.write_png(paths[key], picture)
                scaling[key] = scale
            cells.append((column_titles.get(stage, stage), picture))
        sheet_rows.append((row_label, cells))
    return sheet_rows
