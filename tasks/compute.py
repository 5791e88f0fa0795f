"""The sweep's compute task: one chunk of images through one conv setting.

Per chunk it resizes, cross-correlates with every kernel, combines each h/v
pair into its magnitude, pools every map with every pool setting and returns
the shapes and mergeable statistics — a small JSON record, never the arrays.
Full feature maps are written to ``.npy`` only when asked (``maps_dir``).

Memory: ``convsweep.tasks.plan.chunking`` sizes the chunks from ``memory_budget``; an image too
large for the budget (a chunk of its own) is computed in bands of conv output
rows (:func:`stream_maps`, on ``convsweep.conv_core.tiled``) with the same maps, pooled
maps and statistics as the whole-image computation.  Statistics are always
summarised in blocks of :data:`STATS_BLOCK` values of the chunk's pooled maps
in C order (image by image, row by row), so they do not depend on how the rows
were computed, and their temporaries stay small.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prefect import task

from convsweep.tasks.chunk.maps import chunk_record, colour_input, map_path, open_selection
from convsweep.tasks.io import heap
from convsweep.tasks.model import map_names
from convsweep.tasks.model.jobs import ChunkJob
from convsweep.tasks.model.records import ChunkRecord
from convsweep.tasks.plan.chunking import band_rows
from convsweep.tasks.prefect_glue.caching import RECORD_SERIALIZER, SweepCachePolicy
from convsweep.tasks.prefect_glue.worker_checks import check_chunk_worker


def _chunk_key(inputs: dict[str, Any]) -> dict[str, Any]:
    # The chunk's own content (convsweep.tasks.datasets.identity_index.part_fingerprint), so that a chunk
    # keeps its key when images are appended after it; the whole selection's without it.
    job: ChunkJob = inputs["job"]
    return {
        "content": job.chunk_fingerprint or {"selection": job.dataset.fingerprint},
        "chunk": job.chunk,
        "conv": job.conv,
        "kernels": job.kernels,
        "pools": job.pools,
        "maps_dir": job.maps_dir,
        # only a colour chunk's key has it: grey keys stay those of before channels
        **({"channel": job.channel} if job.channel is not None else {}),
    }


def _chunk_outputs(inputs: dict[str, Any]) -> list[Path]:
    job: ChunkJob = inputs["job"]
    if job.maps_dir is None:
        return []
    start, stop = job.chunk
    return [map_path(job.maps_dir, name, start, stop) for name in map_names(job.kernels)]


@task(
    name="process-chunk",
    task_run_name="{job.run_name}",
    cache_policy=SweepCachePolicy(key_inputs=_chunk_key, expected_outputs=_chunk_outputs),
    result_serializer=RECORD_SERIALIZER,
    persist_result=True,
)
def process_chunk(job: ChunkJob) -> ChunkRecord:
    """Images ``chunk[0]:chunk[1]`` of the selection through one conv setting and every pool setting.

    ``job.channel`` None: the grey images.  With a colour ``job.dataset`` (:attr:`DatasetRecord.colour`):
    ``"R"``, ``"G"`` or ``"B"`` — that channel of the resized RGB images on its own (one channel
    of ``channels="each"``, as DepthwiseConv2D), ``"sum"`` — ``channels="sum"`` (as Conv2D).

    ``job.chunk_fingerprint`` (the content fingerprint of those images, from the flow's plan) keys
    the cache, and the images read here are checked against it (``convsweep.tasks.prefect_glue.worker_checks``: a
    worker with another copy of the data, or other code, is refused before computing).
    ``job.memory_budget`` (MB) decides only *how* (whole chunk, or one image at a time in bands of
    rows), never the result, so it is not part of the cache key.

    Returns
    -------
    ChunkRecord
        ``chunk``, ``input_shape`` (after resize), ``seconds`` and ``maps``:
        map name -> pool label -> shapes and :func:`summarize` statistics.
    """
    start, stop = job.chunk
    kernels, pools, maps_dir = job.kernels, list(job.pools), job.maps_dir
    view = open_selection(job.dataset)
    images = view.read(start, stop)
    check_chunk_worker(view, images, dataset=job.dataset, chunk=(start, stop), expected=job.chunk_fingerprint)
    began = time.perf_counter()
    conv, channels = job.conv, "gray"
    if job.channel is not None:
        images, conv, channels = colour_input(images, conv=conv, channel=job.channel)
    band = None
    if job.memory_budget is not None:
        band = band_rows(
            images.shape[1:3],
            conv,
            kernels,
            pools,
            memory_budget_mb=job.memory_budget,
            keep_maps=maps_dir is not None,
            channels=3 if channels == "sum" else 1,  # a channel's task holds only its plane from here
        )
        if band is not None:  # bands of a large image: freed bands back to the OS at once (convsweep.tasks.io.heap)
            heap.return_large_frees()
    record = chunk_record(
        images,
        conv=conv,
        kernels=kernels,
        pools=pools,
        chunk=(start, stop),
        maps_dir=maps_dir,
        band=band,
        channels=channels,
    )
    return record.model_copy(update={"seconds": time.perf_counter() - began})
