"""The sweep's compute task: one chunk of images through one conv setting.

Per chunk it resizes, cross-correlates with every kernel, combines each h/v
pair into its magnitude, pools every map with every pool setting and returns
the shapes and mergeable statistics — a small JSON record, never the arrays.
Full feature maps are written to ``.npy`` only when asked (``maps_dir``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from prefect import task

import conv_core
from tasks import files
from tasks.caching import SweepCachePolicy
from tasks.datasets import open_dataset
from tasks.model import ConvSetting, PoolSetting, conv_label, magnitude_pairs, map_names, pool_label


def open_selection(dataset: dict[str, Any]):
    """Reopen the selection a ``describe_selection`` record describes (memoised per process)."""
    return open_dataset(dataset["spec"], **dataset["selection"])


def compute_maps(
    images: np.ndarray, *, conv: dict[str, Any], kernels: dict[str, Any]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Resize, then every kernel's map and every pair's magnitude.

    Parameters
    ----------
    images : (N, H, W) uint8
    conv : a ``ConvSetting`` in plain form (resize, stride, padding, pad_mode, dilation).
    kernels : name -> 2-D matrix.

    Returns
    -------
    resized : (N, H', W') uint8
    maps : name -> (N, conv_h, conv_w) float32, kernels first, then magnitudes.
    """
    setting = ConvSetting.from_plain(conv)
    resized = images if setting.resize is None else conv_core.resize(images, setting.resize)
    maps: dict[str, np.ndarray] = {}
    for name, matrix in kernels.items():
        maps[name] = conv_core.conv2d(
            resized,
            np.asarray(matrix, dtype=np.float64),
            stride=setting.stride,
            padding=setting.padding,
            pad_mode=setting.pad_mode,
            dilation=setting.dilation,
        )
    for name, (horizontal, vertical) in magnitude_pairs(kernels).items():
        maps[name] = conv_core.sobel_magnitude(maps[horizontal], maps[vertical])
    return resized, maps


def apply_pool(feature_map: np.ndarray, pool: dict[str, Any]) -> np.ndarray:
    """Pool (N, H, W) maps with a ``PoolSetting`` in plain form; mode 'none' returns them as they are."""
    return PoolSetting.from_plain(pool).apply(feature_map)


# Elements per block when summing squared deviations: bounds the float64 temporaries (8 MB).
_SUMMARY_BLOCK = 1 << 20


def summarize(values: np.ndarray) -> dict[str, float]:
    """Mergeable statistics of an array: count, mean, M2 (sum of squared deviations), min, max, zeros.

    Two passes with float64 accumulators over the array as it is (float32 maps are not copied
    to float64 whole): the mean, then the squared deviations from it a block at a time.

    Parameters
    ----------
    values : ndarray of any shape, real.
    """
    flat = np.ascontiguousarray(values).ravel()
    count = int(flat.size)
    mean = float(np.sum(flat, dtype=np.float64)) / count
    m2 = 0.0
    for lo in range(0, count, _SUMMARY_BLOCK):
        deviations = flat[lo : lo + _SUMMARY_BLOCK].astype(np.float64)
        deviations -= mean
        m2 += float(np.dot(deviations, deviations))
    return {
        "count": count,
        "mean": mean,
        "m2": m2,
        "min": float(flat.min()),
        "max": float(flat.max()),
        "zeros": int(count - np.count_nonzero(flat)),
    }


def merge_summaries(parts: list[dict[str, float]]) -> dict[str, float]:
    """Combine :func:`summarize` records of disjoint chunks (Chan et al.'s parallel variance)."""
    total = dict(parts[0])
    for part in parts[1:]:
        count = total["count"] + part["count"]
        delta = part["mean"] - total["mean"]
        total["mean"] += delta * part["count"] / count
        total["m2"] += part["m2"] + delta * delta * total["count"] * part["count"] / count
        total["count"] = count
        total["min"] = min(total["min"], part["min"])
        total["max"] = max(total["max"], part["max"])
        total["zeros"] += part["zeros"]
    return total


def _chunk_key(inputs: dict[str, Any]) -> dict[str, Any]:
    # The chunk's own content (tasks.datasets.identity_index.part_fingerprint), so that a chunk
    # keeps its key when images are appended after it; the whole selection's without it.
    content = inputs.get("chunk_fingerprint")
    return {
        "content": content if content else {"selection": inputs["dataset"]["fingerprint"]},
        "chunk": inputs["chunk"],
        "conv": inputs["conv"],
        "kernels": inputs["kernels"],
        "pools": inputs["pools"],
        "maps_dir": inputs["maps_dir"],
    }


def _chunk_outputs(inputs: dict[str, Any]) -> list[Path]:
    if inputs["maps_dir"] is None:
        return []
    start, stop = inputs["chunk"]
    return [map_path(inputs["maps_dir"], name, start, stop) for name in map_names(inputs["kernels"])]


def map_path(maps_dir: str | Path, name: str, start: int, stop: int) -> Path:
    return Path(maps_dir) / name / f"{start:07d}-{stop:07d}.npy"


def _chunk_run_name() -> str:
    from prefect.runtime import task_run

    parameters = task_run.parameters
    start, stop = parameters["chunk"]
    return f"chunk-{conv_label(parameters['conv'])}-{start}-{stop}"


@task(
    name="process-chunk",
    task_run_name=_chunk_run_name,
    cache_policy=SweepCachePolicy(key_inputs=_chunk_key, expected_outputs=_chunk_outputs),
    result_serializer="json",
    persist_result=True,
)
def process_chunk(
    dataset: dict[str, Any],
    chunk: list[int],
    conv: dict[str, Any],
    kernels: dict[str, Any],
    pools: list[dict[str, Any]],
    maps_dir: str | None = None,
    chunk_fingerprint: str | None = None,
) -> dict[str, Any]:
    """Images ``chunk[0]:chunk[1]`` of the selection through one conv setting and every pool setting.

    ``chunk_fingerprint`` (the content fingerprint of those images) only keys the cache.

    Returns
    -------
    dict
        ``chunk``, ``input_shape`` (after resize), ``seconds`` and ``maps``:
        map name -> pool label -> ``conv_shape``, ``pool_shape`` + :func:`summarize` stats.
    """
    start, stop = chunk
    images = open_selection(dataset).read(start, stop)
    began = time.perf_counter()
    resized, maps = compute_maps(images, conv=conv, kernels=kernels)
    record: dict[str, Any] = {
        "chunk": [start, stop],
        "input_shape": list(resized.shape[1:]),
        "maps": {},
    }
    for name, feature_map in maps.items():
        if maps_dir is not None:
            files.write_npy(map_path(maps_dir, name, start, stop), feature_map)
        record["maps"][name] = {}
        for pool in pools:
            pooled = apply_pool(feature_map, pool)
            record["maps"][name][pool_label(pool)] = {
                "conv_shape": list(feature_map.shape[1:]),
                "pool_shape": list(pooled.shape[1:]),
                **summarize(pooled),
            }
    record["seconds"] = time.perf_counter() - began
    return record
