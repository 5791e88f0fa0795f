"""The sweep's compute task: one chunk of images through one conv setting.

Per chunk it resizes, cross-correlates with every kernel, combines each h/v
pair into its magnitude, pools every map with every pool setting and returns
the shapes and mergeable statistics — a small JSON record, never the arrays.
Full feature maps are written to ``.npy`` only when asked (``maps_dir``).

Memory: ``tasks.chunking`` sizes the chunks from ``memory_budget``; an image too
large for the budget (a chunk of its own) is computed in bands of conv output
rows (:func:`stream_maps`, on ``conv_core.tiled``) with the same maps, pooled
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

from tasks import heap
from tasks.caching import RECORD_SERIALIZER, SweepCachePolicy
from tasks.chunk_maps import Kernels, chunk_record, colour_input, map_path, open_selection
from tasks.chunking import band_rows
from tasks.model import ConvSetting, PoolSetting, map_names
from tasks.model.records import ChunkRecord, DatasetRecord
from tasks.run_names import named_from_inputs
from tasks.worker_checks import check_chunk_worker


def _chunk_key(inputs: dict[str, Any]) -> dict[str, Any]:
    # The chunk's own content (tasks.datasets.identity_index.part_fingerprint), so that a chunk
    # keeps its key when images are appended after it; the whole selection's without it.
    content = inputs.get("chunk_fingerprint")
    return {
        "content": content if content else {"selection": DatasetRecord.parse(inputs["dataset"]).fingerprint},
        "chunk": inputs["chunk"],
        "conv": inputs["conv"],
        "kernels": inputs["kernels"],
        "pools": inputs["pools"],
        "maps_dir": inputs["maps_dir"],
        # only a colour chunk's key has it: grey keys stay those of before channels
        **({"channel": inputs["channel"]} if inputs.get("channel") is not None else {}),
    }


def _chunk_outputs(inputs: dict[str, Any]) -> list[Path]:
    if inputs["maps_dir"] is None:
        return []
    start, stop = inputs["chunk"]
    return [map_path(inputs["maps_dir"], name, start, stop) for name in map_names(inputs["kernels"])]


def _chunk_run_name(parameters: dict[str, Any]) -> str:
    # Prefect passes the resolved inputs to a name callback with a ``parameters`` argument.
    start, stop = parameters["chunk"]
    channel = parameters.get("channel")
    return f"chunk-{parameters['conv'].label}-{start}-{stop}" + (f"-{channel}" if channel else "")


@task(
    name="process-chunk",
    task_run_name=named_from_inputs(_chunk_run_name),
    cache_policy=SweepCachePolicy(key_inputs=_chunk_key, expected_outputs=_chunk_outputs),
    result_serializer=RECORD_SERIALIZER,
    persist_result=True,
)
def process_chunk(
    dataset: DatasetRecord,
    chunk: tuple[int, int],
    conv: ConvSetting,
    kernels: Kernels,
    pools: list[PoolSetting],
    maps_dir: str | None = None,
    chunk_fingerprint: str | None = None,
    memory_budget: int | None = None,
    channel: str | None = None,
) -> ChunkRecord:
    """Images ``chunk[0]:chunk[1]`` of the selection through one conv setting and every pool setting.

    ``channel`` None: the grey images.  With a colour ``dataset`` (:attr:`DatasetRecord.colour`):
    ``"R"``, ``"G"`` or ``"B"`` — that channel of the resized RGB images on its own (one channel
    of ``channels="each"``, as DepthwiseConv2D), ``"sum"`` — ``channels="sum"`` (as Conv2D).

    ``chunk_fingerprint`` (the content fingerprint of those images, from the flow's plan) keys
    the cache, and the images read here are checked against it (``tasks.worker_checks``: a
    worker with another copy of the data, or other code, is refused before computing).
    ``memory_budget`` (MB) decides only *how* (whole chunk, or one image at a time in bands of
    rows), never the result, so it is not part of the cache key.

    Returns
    -------
    ChunkRecord
        ``chunk``, ``input_shape`` (after resize), ``seconds`` and ``maps``:
        map name -> pool label -> shapes and :func:`summarize` statistics.
    """
    dataset = DatasetRecord.parse(dataset)
    start, stop = chunk
    view = open_selection(dataset)
    images = view.read(start, stop)
    check_chunk_worker(view, images, dataset=dataset, chunk=(start, stop), expected=chunk_fingerprint)
    began = time.perf_counter()
    channels = "gray"
    if channel is not None:
        images, conv, channels = colour_input(images, conv=conv, channel=channel)
    band = None
    if memory_budget is not None:
        band = band_rows(
            images.shape[1:3],
            conv,
            kernels,
            pools,
            memory_budget_mb=memory_budget,
            keep_maps=maps_dir is not None,
            channels=3 if channels == "sum" else 1,  # a channel's task holds only its plane from here
        )
        if band is not None:  # bands of a large image: freed bands back to the OS at once (tasks.heap)
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
