"""One chunk of images through one conv setting: its maps (whole or in bands of rows), pooled maps, statistics and .npy files (no Prefect)."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from convsweep import conv_core
from convsweep.conv_core.stats import RunningSummary
from convsweep.conv_core.tiled import RowPooler, conv2d_rows
from convsweep.tasks.datasets import open_dataset
from convsweep.tasks.io import files
from convsweep.tasks.model import ConvSetting, PoolSetting, magnitude_pairs, map_names
from convsweep.tasks.model.jobs import Kernels
from convsweep.tasks.model.parameters import RGB
from convsweep.tasks.model.records import ChunkRecord, DatasetRecord, MapStats
from convsweep.tasks.plan.chunking import kernel_groups


def open_selection(dataset: DatasetRecord) -> Any:
    """Reopen the selection a ``load-dataset`` record describes (memoised per process).

    A Keras dataset is read from the cached files directly (``cache_only``): ``load-dataset``
    filled the cache where the flow runs, so a worker process imports neither Keras nor JAX
    and never downloads (a missing file fails with one line: host and path).
    """
    if dataset.colour:
        return open_dataset(dataset.spec, **dataset.selection.arguments(), colour=True, cache_only=True)
    return open_dataset(dataset.spec, **dataset.selection.arguments(), cache_only=True)


def compute_maps(
    images: np.ndarray, *, conv: ConvSetting, kernels: Kernels, channels: str = "gray"
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Resize, then every kernel's map and every pair's magnitude.

    Parameters
    ----------
    images : (N, H, W) uint8; with ``channels`` each or sum (N, H, W, 3) RGB
    conv : resize, stride, padding, pad mode and dilation.
    kernels : name -> (kh, kw) matrix (for ``sum`` also (kh, kw, C): one kernel per channel).
    channels : "gray", "each" (every channel on its own, as DepthwiseConv2D) or "sum" (the
        channel responses summed, as Conv2D); see :func:`convsweep.conv_core.conv2d`.

    Returns
    -------
    resized : (N, H', W') uint8 (C last with channels)
    maps : name -> (N, conv_h, conv_w) float32 (``each``: C last), kernels first, then magnitudes.
    """
    coloured = channels != "gray"
    resized = images if conv.resize is None else conv_core.resize(images, conv.resize, channels_last=coloured)
    maps: dict[str, np.ndarray] = {}
    for name, matrix in kernels.items():
        maps[name] = conv_core.conv2d(
            resized,
            np.asarray(matrix, dtype=np.float64),
            stride=conv.stride,
            padding=conv.padding,
            pad_mode=conv.pad_mode,
            dilation=conv.dilation,
            channels=channels,
        )
    for name, (horizontal, vertical) in magnitude_pairs(kernels).items():
        maps[name] = conv_core.sobel_magnitude(maps[horizontal], maps[vertical])
    return resized, maps


def stream_maps(
    image: np.ndarray,
    *,
    setting: ConvSetting,
    kernels: Kernels,
    pools: list[PoolSetting],
    band: int,
    channels: str = "gray",
) -> Any:
    """One (resized) image's maps and pooled maps, in bands of ``band`` conv rows.

    ``image`` is (H, W), or (H, W, C) with ``channels`` each or sum (see :func:`compute_maps`).
    Yields ``(map name, pool label or None, rows)`` where ``rows`` (r, W) float32 (``each``:
    (r, W, C)) are the next
    rows of that map (pool label None) or of that pooled map, in order; pool mode 'none' is
    not yielded apart (it is the map).  Kernel groups (an h/v pair and its magnitude, or one
    kernel) are computed one after the other, so only one group's bands are held at a time.
    """
    pairs = magnitude_pairs(kernels)
    magnitude_of = {pair: name for name, pair in pairs.items()}
    for group in kernel_groups(kernels):
        yield from _stream_group(
            image,
            group,
            magnitude_of,
            setting=setting,
            kernels=kernels,
            pools=pools,
            band=band,
            channels=channels,
        )


def _stream_group(
    image: np.ndarray,
    group: list[str],
    magnitude_of: dict[Any, str],
    *,
    setting: ConvSetting,
    kernels: Kernels,
    pools: list[PoolSetting],
    band: int,
    channels: str,
) -> Any:
    """:func:`stream_maps` of one kernel group: its maps, its magnitude (an h/v pair's) and their pooled maps."""
    streams = [
        conv2d_rows(
            image,
            np.asarray(kernels[name], dtype=np.float64),
            stride=setting.stride,
            padding=setting.padding,
            pad_mode=setting.pad_mode,
            dilation=setting.dilation,
            channels=channels,
            tile_rows=band,
        )
        for name in group
    ]
    pair = (group[0], group[-1])
    names = list(group) + ([magnitude_of[pair]] if len(group) == 2 and pair in magnitude_of else [])
    poolers: dict[str, list[tuple[str, RowPooler]]] = {}
    for pieces in zip(*streams, strict=True):
        bands = {name: rows for name, (_, rows) in zip(group, pieces, strict=True)}
        if len(names) > len(group):
            bands[names[-1]] = conv_core.sobel_magnitude(bands[group[0]], bands[group[1]])
        for name in names:
            rows = bands[name]
            if name not in poolers:
                poolers[name] = _row_poolers(
                    image, group, setting=setting, kernels=kernels, pools=pools, channels=channels
                )
            yield name, None, rows
            for label, pooler in poolers[name]:
                pooled = pooler.push(rows)
                if len(pooled):
                    yield name, label, pooled


def _row_poolers(
    image: np.ndarray,
    group: list[str],
    *,
    setting: ConvSetting,
    kernels: Kernels,
    pools: list[PoolSetting],
    channels: str,
) -> list[tuple[str, RowPooler]]:
    """One map's ``(pool label, RowPooler)`` of every pool setting but mode 'none'."""
    conv_shape = setting.output(image.shape[:2], np.asarray(kernels[group[0]]).shape[:2])[1]
    trailing = image.shape[2] if channels == "each" else None
    return [
        (
            pool.label,
            RowPooler(
                conv_shape,
                pool.size,
                stride=pool.stride,
                mode=pool.mode,
                padding=pool.padding,
                channels=trailing,
            ),
        )
        for pool in pools
        if pool.size is not None and pool.padding is not None  # every mode but 'none'
    ]


def map_path(maps_dir: str | Path, name: str, start: int, stop: int) -> Path:
    return Path(maps_dir) / name / f"{start:07d}-{stop:07d}.npy"


def colour_input(images: np.ndarray, *, conv: ConvSetting, channel: str) -> tuple[np.ndarray, ConvSetting, str]:
    """(images, conv, channels) for :func:`chunk_record` of one ``channel`` of RGB ``images`` (N, H, W, 3).

    The RGB images are resized first (channels last), so a channel's maps are exactly that
    channel of ``convsweep.conv_core.conv2d(..., channels="each")`` on the resized images; the returned
    conv setting has no resize left.  R, G, B: (N, H', W') uint8 and "gray"; "sum": the
    (N, H', W', 3) images and "sum".
    """
    if channel not in (*RGB, "sum"):
        raise ValueError(f"channel={channel!r} must be one of R, G, B, sum")
    if images.ndim != 4:
        raise ValueError(f"channel={channel!r} needs (N, H, W, 3) RGB images, got shape {images.shape}")
    if conv.resize is not None:
        images = conv_core.resize(images, conv.resize, channels_last=True)
        conv = dataclasses.replace(conv, resize=None)
    if channel == "sum":
        return images, conv, "sum"
    return np.ascontiguousarray(images[..., RGB.index(channel)]), conv, "gray"


def chunk_record(
    images: np.ndarray,
    *,
    conv: ConvSetting,
    kernels: Kernels,
    pools: list[PoolSetting],
    chunk: tuple[int, int],
    maps_dir: str | None = None,
    band: int | None = None,
    channels: str = "gray",
) -> ChunkRecord:
    """The record of :func:`process_chunk` (``seconds`` 0) for ``images`` (N, H, W) uint8.

    ``band=None`` computes the chunk whole; an int computes each image in bands of that many conv
    rows (``convsweep.tasks.plan.chunking.band_rows``): the same record and the same ``.npy`` files.
    """
    if band is not None:
        return _banded_chunk(images, conv, kernels, pools, maps_dir=maps_dir, chunk=chunk, band=band, channels=channels)
    start, stop = chunk
    setting = conv
    summaries: dict[tuple[str, str], RunningSummary] = {}
    shapes: dict[tuple[str, str], tuple[tuple[int, ...], tuple[int, ...]]] = {}
    with contextlib.ExitStack() as stack:
        writers: dict[str, Any] = {}
        for first, last in _sub_batches(len(images), images.shape[1:3], setting):
            resized, batch_maps = compute_maps(images[first:last], conv=conv, kernels=kernels, channels=channels)
            for name, feature_map in batch_maps.items():
                if maps_dir is not None:
                    if name not in writers:
                        path = map_path(maps_dir, name, start, stop)
                        writers[name] = stack.enter_context(_npy_writer(path, (len(images), *feature_map.shape[1:])))
                    writers[name].write(np.ascontiguousarray(feature_map, dtype=np.float32).tobytes())
                for pool in pools:
                    pooled = pool.apply(feature_map)
                    key = (name, pool.label)
                    summaries.setdefault(key, RunningSummary()).add(pooled)
                    shapes[key] = (feature_map.shape[1:], pooled.shape[1:])
    maps: dict[str, dict[str, MapStats]] = {}
    for (name, label), summary in summaries.items():
        conv_shape, pool_shape = shapes[(name, label)]
        maps.setdefault(name, {})[label] = MapStats(
            conv_shape=(conv_shape[0], conv_shape[1]), pool_shape=(pool_shape[0], pool_shape[1]), **summary.result()
        )
    return ChunkRecord(chunk=(start, stop), input_shape=(resized.shape[1], resized.shape[2]), maps=maps)


# Values per map in one sub-batch of a chunk: the maps, pooled maps and their temporaries of
# a sub-batch stay in the CPU cache instead of streaming whole-chunk arrays through memory
# (bench/bench_overhead.py: the chunk arithmetic of a 70k sweep 1.7x faster on one thread).
SUB_BATCH_VALUES = 1 << 18


def _sub_batches(n: int, image_shape: tuple[int, ...], setting: ConvSetting) -> list[tuple[int, int]]:
    """(first, last) image ranges covering a chunk of ``n`` images, ~:data:`SUB_BATCH_VALUES` pixels each."""
    height, width = setting.resize if setting.resize is not None else image_shape
    step = max(1, SUB_BATCH_VALUES // max(1, height * width))
    return [(first, min(first + step, n)) for first in range(0, n, step)]


def _banded_chunk(
    images: np.ndarray,
    setting: ConvSetting,
    kernels: Kernels,
    pools: list[PoolSetting],
    *,
    maps_dir: str | None,
    chunk: tuple[int, int],
    band: int,
    channels: str = "gray",
) -> ChunkRecord:
    """The record of :func:`_whole_chunk`, computing each image in bands of ``band`` conv rows."""
    start, stop = chunk
    names = map_names(kernels)
    summaries = {(name, pool.label): RunningSummary() for name in names for pool in pools}
    shapes: dict[str, tuple[int, int]] = {}
    with contextlib.ExitStack() as stack:
        writers: dict[str, Any] = {}
        for image in images:
            resized = (
                image
                if setting.resize is None
                else conv_core.resize(image, setting.resize, channels_last=channels != "gray")
            )
            for group in kernel_groups(kernels):
                shapes.update(
                    {
                        name: setting.output(resized.shape[:2], np.asarray(kernels[group[0]]).shape[:2])[1]
                        for name in group
                    }
                )
            for name, (horizontal, _) in magnitude_pairs(kernels).items():
                shapes[name] = shapes[horizontal]
            for name, label, rows in stream_maps(
                resized, setting=setting, kernels=kernels, pools=pools, band=band, channels=channels
            ):
                if label is None:
                    if maps_dir is not None:
                        if name not in writers:
                            writers[name] = stack.enter_context(
                                _npy_writer(map_path(maps_dir, name, start, stop), (len(images), *shapes[name]))
                            )
                        writers[name].write(np.ascontiguousarray(rows, dtype=np.float32).tobytes())
                    for pool in pools:
                        if pool.mode == "none":
                            summaries[(name, pool.label)].add(rows)
                else:
                    summaries[(name, label)].add(rows)
    maps = {
        name: {
            pool.label: MapStats(
                conv_shape=shapes[name],
                pool_shape=pool.output(shapes[name])[1],
                **summaries[(name, pool.label)].result(),
            )
            for pool in pools
        }
        for name in names
    }
    return ChunkRecord(chunk=(start, stop), input_shape=resized.shape[:2], maps=maps)


@contextlib.contextmanager
def _npy_writer(path: Path, shape: tuple[int, ...]):
    """An atomically written float32 ``.npy`` of ``shape`` whose data is written in C order, piece by piece."""
    with files.atomic_open(path, "wb") as handle:
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(handle, header)
        yield handle
