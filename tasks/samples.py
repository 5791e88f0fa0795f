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
exceeds ``memory_budget`` (``tasks.chunking.band_rows``), so memory stays bounded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from prefect import task

import conv_core
from tasks import files, render
from tasks.caching import RECORD_SERIALIZER, SweepCachePolicy
from tasks.chunking import band_rows
from tasks.compute import open_selection, stream_maps
from tasks.model import (
    ConvSetting,
    PoolSetting,
    magnitude_pairs,
    map_names,
)
from tasks.model.records import DatasetRecord, SampleRecord
from tasks.run_names import named_from_inputs
from tasks.worker_checks import check_samples_worker

Kernels = dict[str, list[list[float]]]


def sample_paths(
    out_dir: str | Path, conv: ConvSetting, kernels: Kernels, pools: list[PoolSetting], samples: list[int]
) -> dict[str, Path]:
    """Every file the task writes, by stage name ``<index>-<stage>``, plus ``contact``."""
    label = conv.label
    folder = Path(out_dir) / "samples" / label
    maps = map_names(kernels)
    stages = ["input"] + maps + [f"{name}-{pool.label}" for name in maps for pool in pools if pool.mode != "none"]
    paths = {f"{index}-{stage}": folder / f"{index}-{stage}.png" for index in samples for stage in stages}
    paths["contact"] = Path(out_dir) / "contact" / f"{label}.png"
    return paths


def _sample_key(inputs: dict[str, Any]) -> dict[str, Any]:
    # The sample images' own content and labels (tasks.datasets.identity_index) when given, so
    # that images appended to the dataset leave the pictures cached; else the whole selection's.
    content = inputs.get("samples_fingerprint")
    return {
        "content": content if content else {"selection": DatasetRecord.parse(inputs["dataset"]).fingerprint},
        "class_names": DatasetRecord.parse(inputs["dataset"]).class_names,
        "conv": inputs["conv"],
        "kernels": inputs["kernels"],
        "pools": inputs["pools"],
        "samples": inputs["samples"],
        "out_dir": str(Path(inputs["out_dir"]).resolve()),
    }


def _sample_outputs(inputs: dict[str, Any]) -> list[Path]:
    return list(
        sample_paths(inputs["out_dir"], inputs["conv"], inputs["kernels"], inputs["pools"], inputs["samples"]).values()
    )


def _samples_run_name(parameters: dict[str, Any]) -> str:
    return f"samples-{parameters['conv'].label}"


def _pool_words(setting: PoolSetting) -> str:
    return setting.words


def _sheet_title(setting: ConvSetting) -> str:
    return f"{setting.label}: {setting.words}\nevery map at its true size relative to the others (one image pixel, one length)"


def class_text(labels: Any, class_names: Sequence[str] | None, index: int) -> str | None:
    """The class of sample ``index``: its name where the dataset has names, else 'label 7'; None unlabelled."""
    if labels is None:
        return None
    label = int(labels[index])
    names = class_names
    if names and 0 <= label < len(names):
        return str(names[label])
    return f"label {label}"


def _row_label(view: Any, class_names: Sequence[str] | None, index: int) -> str:
    """'#3' plus the sample's class (:func:`class_text`) on a second line."""
    text = class_text(getattr(view, "labels", None), class_names, index)
    return f"#{index}" if text is None else f"#{index}\n{text}"


SAMPLE_MAX_SIDE = 1024  # longer side of a sample picture; larger inputs are drawn as previews


def preview_factor(height: int, width: int) -> int:
    """The integer reduction of a sample's pictures: 1 up to :data:`SAMPLE_MAX_SIDE`, then ceil(side / it)."""
    return max(1, math.ceil(max(height, width) / SAMPLE_MAX_SIDE))


class Preview:
    """Rows of a picture arriving in order, kept whole (factor 1) or reduced to means of factor x factor blocks."""

    def __init__(self, factor: int) -> None:
        self.factor = factor
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0
        self._rows: list[np.ndarray] = []
        self.abs_max = 0.0
        self.max = -math.inf

    def add(self, rows: np.ndarray) -> None:
        if not len(rows):
            return
        if self.factor == 1:
            self._rows.append(rows)
            return
        self.abs_max = max(self.abs_max, float(np.abs(rows).max()))
        self.max = max(self.max, float(rows.max()))
        self._pending.append(rows)
        self._pending_rows += len(rows)
        if self._pending_rows >= self.factor:
            stacked = np.concatenate(self._pending)
            whole = len(stacked) // self.factor * self.factor
            for first in range(0, whole, self.factor):
                self._rows.append(self._block_means(stacked[first : first + self.factor]))
            self._pending = [stacked[whole:]] if whole < len(stacked) else []
            self._pending_rows = len(stacked) - whole

    def _block_means(self, rows: np.ndarray) -> np.ndarray:
        """One preview row: the means of the blocks of ``rows`` (at most factor rows), factor columns wide."""
        column_sums = rows.astype(np.float64).sum(axis=0)
        starts = np.arange(0, column_sums.size, self.factor)
        counts = np.diff(np.append(starts, column_sums.size)) * len(rows)
        return (np.add.reduceat(column_sums, starts) / counts)[np.newaxis]

    def picture(self) -> np.ndarray:
        """The rows received, whole (factor 1) or as block means (float64), shape (ceil(H / f), ceil(W / f))."""
        if self._pending_rows:
            self._rows.append(self._block_means(np.concatenate(self._pending)))
            self._pending, self._pending_rows = [], 0
        return np.concatenate(self._rows)


def _preview_gray(preview: Preview, *, signed: bool, is_input: bool) -> tuple[np.ndarray, float]:
    """Gray picture and scale: render.to_gray at factor 1; else the same mappings with the full map's scale."""
    values = preview.picture()
    if preview.factor == 1:
        return render.to_gray(values, signed=signed)
    if is_input:
        return np.clip(np.rint(values), 0, 255).astype(np.uint8), 1.0
    scale = preview.abs_max if signed else preview.max
    if scale <= 0.0:
        return np.full(values.shape, 128 if signed else 0, dtype=np.uint8), 0.0
    gray = 127.5 + 127.5 * values / scale if signed else 255.0 * values / scale
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8), scale


def sample_pictures(
    image: np.ndarray,
    *,
    conv: ConvSetting,
    kernels: Kernels,
    pools: list[PoolSetting],
    memory_budget: int | None = None,
) -> tuple[dict[str, tuple[np.ndarray, float]], int]:
    """Every stage of one (H, W) uint8 image as a gray picture: stage -> (uint8 picture, scale), and the factor.

    Stages: ``input``, each map, and ``<map>-<pool label>`` for each pool setting but 'none'.
    """
    setting, pool_settings = conv, pools
    resized = image if setting.resize is None else conv_core.resize(image, setting.resize)
    factor = preview_factor(*resized.shape)
    band = None
    if memory_budget is not None:
        band = band_rows(image.shape, setting, kernels, pool_settings, memory_budget_mb=memory_budget)
    if band is None:  # the whole map in one band
        band = 1 << 30
    signed = {"input": False}
    previews: dict[str, Preview] = {"input": Preview(factor)}
    previews["input"].add(resized)
    for name, label, rows in stream_maps(resized, setting=setting, kernels=kernels, pools=pool_settings, band=band):
        stage = name if label is None else f"{name}-{label}"
        signed[stage] = name not in magnitude_pairs(kernels)
        previews.setdefault(stage, Preview(factor)).add(rows)
    pictures = {
        stage: _preview_gray(preview, signed=signed[stage], is_input=stage == "input")
        for stage, preview in previews.items()
    }
    return pictures, factor


@task(
    name="write-samples",
    task_run_name=named_from_inputs(_samples_run_name),
    cache_policy=SweepCachePolicy(key_inputs=_sample_key, expected_outputs=_sample_outputs),
    result_serializer=RECORD_SERIALIZER,
    persist_result=True,
)
def write_samples(
    dataset: DatasetRecord,
    conv: ConvSetting,
    kernels: Kernels,
    pools: list[PoolSetting],
    samples: list[int],
    out_dir: str,
    samples_fingerprint: str | None = None,
    memory_budget: int | None = None,
) -> SampleRecord:
    """PNGs of every stage for ``samples`` (indices into the selection) and a contact sheet.

    ``samples_fingerprint`` (the content fingerprint of those images) keys the cache, and the
    images read here are checked against it before anything is written
    (``tasks.worker_checks.check_samples_worker``).
    ``memory_budget`` (MB) only decides whether a sample is computed in bands; not in the cache key.
    """
    dataset = DatasetRecord.parse(dataset)
    paths = sample_paths(out_dir, conv, kernels, pools, samples)
    view = open_selection(dataset)
    names = map_names(kernels)
    column_titles = {
        f"{name}-{pool.label}": f"{name}\n{_pool_words(pool)}".replace(" / ", "\n/ ")
        for name in names
        for pool in pools
    }
    stages = ["input", *names] + [f"{name}-{pool.label}" for name in names for pool in pools if pool.mode != "none"]
    # Read and checked before any picture is written: a worker with other data writes nothing.
    images = [view.read(index, index + 1)[0] for index in samples]
    check_samples_worker(view, images, dataset=dataset, samples=samples, expected=samples_fingerprint)
    scaling: dict[str, float] = {}
    sheet_rows = []
    factor = 1
    for index, image in zip(samples, images, strict=True):
        pictures, factor = sample_pictures(image, conv=conv, kernels=kernels, pools=pools, memory_budget=memory_budget)
        cells = []
        for stage in stages:
            gray, scale = pictures[stage]
            files.write_png(paths[f"{index}-{stage}"], gray)
            scaling[f"{index}-{stage}"] = scale
            cells.append((column_titles.get(stage, stage), gray))
        sheet_rows.append((_row_label(view, dataset.class_names, index), cells))
    title = _sheet_title(conv)
    if factor > 1:
        title += f"\npreviews: every picture reduced {factor}x (means of {factor}x{factor} blocks); sizes shown are the previews'"
    figure = render.contact_sheet(sheet_rows, title=title)
    try:
        files.write_figure(paths["contact"], figure, dpi=110)
    finally:
        render.close(figure)
    labels = getattr(view, "labels", None)
    return SampleRecord(
        conv=conv.label,
        # The report names the samples from here, so a warm run never opens the dataset for them.
        classes={str(index): class_text(labels, dataset.class_names, index) for index in samples}
        if labels is not None
        else {},
        contact=str(paths["contact"]),
        images={stage: str(path) for stage, path in paths.items() if stage != "contact"},
        scaling=scaling,
        preview_factor=factor,
    )
