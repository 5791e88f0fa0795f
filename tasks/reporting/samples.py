"""Every stage of a few sample images, as pictures and contact sheets (no Prefect)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from convsweep import conv_core
from convsweep.tasks.chunk.maps import stream_maps
from convsweep.tasks.io import heap
from convsweep.tasks.model import ConvSetting, PoolSetting, magnitude_pairs, map_names
from convsweep.tasks.model.jobs import Kernels
from convsweep.tasks.model.parameters import RGB, channel_names
from convsweep.tasks.model.records import SampleRecord
from convsweep.tasks.plan.chunking import band_rows
from convsweep.tasks.reporting import render


def sample_channels(channels: Sequence[str] | None) -> tuple[str, ...]:
    """The picture rows of a sample: () for a grey sweep (``channels`` None), else the channel of
    each row in the order of ``channels`` (gray -> gray, each -> R, G, B, sum -> sum)."""
    if channels is None:
        return ()
    return tuple(channel for mode in channels for channel in channel_names(mode))


def sample_paths(
    out_dir: str | Path,
    conv: ConvSetting,
    kernels: Kernels,
    pools: list[PoolSetting],
    samples: list[int],
    channels: Sequence[str] | None = None,
) -> dict[str, Path]:
    """Every file the task writes, by stage name ``<index>-<stage>``, plus ``contact``.

    A grey sweep (``channels`` None): ``<index>-input``, ``<index>-<map>``, ``<index>-<map>-<pool>``
    in ``samples/<label>/``.  A colour sweep (``channels`` the sweep's channel modes): the RGB
    input ``<index>-input`` there, and per row channel c (:func:`sample_channels`) the stages
    ``<index>-c:input`` (the channel the row filters; none for sum, whose input is the RGB one),
    ``<index>-c:<map>`` and ``<index>-c:<map>-<pool>`` in ``samples/<label>/c/``.
    """
    label = conv.label
    folder = Path(out_dir) / "samples" / label
    maps = map_names(kernels)
    stages = ["input"] + maps + [f"{name}-{pool.label}" for name in maps for pool in pools if pool.mode != "none"]
    rows = sample_channels(channels)
    if not rows:
        paths = {f"{index}-{stage}": folder / f"{index}-{stage}.png" for index in samples for stage in stages}
    else:
        paths = {}
        for index in samples:
            paths[f"{index}-input"] = folder / f"{index}-input.png"
            for channel in rows:
                for stage in stages:
                    if stage == "input" and channel == "sum":
                        continue
                    paths[f"{index}-{channel}:{stage}"] = folder / channel / f"{index}-{stage}.png"
    paths["contact"] = Path(out_dir) / "contact" / f"{label}.png"
    return paths


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
        """One preview row: the means of the blocks of ``rows`` (at most factor rows), factor columns wide.

        ``rows`` (r, W) or (r, W, C): channels (an RGB input) are averaged each on its own.
        """
        column_sums = rows.astype(np.float64).sum(axis=0)
        width = column_sums.shape[0]
        starts = np.arange(0, width, self.factor)
        counts = np.diff(np.append(starts, width)) * len(rows)
        counts = counts.reshape(-1, *([1] * (column_sums.ndim - 1)))
        return (np.add.reduceat(column_sums, starts, axis=0) / counts)[np.newaxis]

    def picture(self) -> np.ndarray:
        """The rows received, whole (factor 1) or as block means (float64), shape (ceil(H / f), ceil(W / f)[, C])."""
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
    channels: str = "gray",
) -> tuple[dict[str, tuple[np.ndarray, float]], int]:
    """Every stage of one (H, W) uint8 image as a gray picture: stage -> (uint8 picture, scale), and the factor.

    Stages: ``input``, each map, and ``<map>-<pool label>`` for each pool setting but 'none'.
    With ``channels="sum"`` the image is (H, W, 3) RGB, its input picture RGB too, and its maps
    are the summed responses (``convsweep.conv_core.conv2d(channels="sum")``), one gray picture each.
    """
    setting, pool_settings = conv, pools
    coloured = channels != "gray"
    resized = image if setting.resize is None else conv_core.resize(image, setting.resize, channels_last=coloured)
    factor = preview_factor(*resized.shape[:2])
    band = None
    if memory_budget is not None:
        band = band_rows(
            image.shape[:2],
            setting,
            kernels,
            pool_settings,
            memory_budget_mb=memory_budget,
            channels=3 if coloured else 1,
        )
    if band is None:  # the whole map in one band
        band = 1 << 30
    else:  # bands of a large image: freed bands back to the OS at once (convsweep.tasks.io.heap)
        heap.return_large_frees()
    signed = {"input": False}
    previews: dict[str, Preview] = {"input": Preview(factor)}
    previews["input"].add(resized)
    for name, label, rows in stream_maps(
        resized, setting=setting, kernels=kernels, pools=pool_settings, band=band, channels=channels
    ):
        stage = name if label is None else f"{name}-{label}"
        signed[stage] = name not in magnitude_pairs(kernels)
        previews.setdefault(stage, Preview(factor)).add(rows)
    pictures = {
        stage: _preview_gray(preview, signed=signed[stage], is_input=stage == "input")
        for stage, preview in previews.items()
    }
    return pictures, factor


SHEET_CELL_MAX_SIDE = 256


def _reduced_sheet(
    rows: list[tuple[str, list[tuple[str, np.ndarray]]]],
) -> tuple[list[tuple[str, list[tuple[str, np.ndarray]]]], int]:
    """The sheet's rows with every cell reduced by one integer factor (block means), so that the largest
    side is at most :data:`SHEET_CELL_MAX_SIDE` (relative sizes kept); and that factor (1: as they were)."""
    largest = max(max(picture.shape[:2]) for _, cells in rows for _, picture in cells)
    factor = max(1, math.ceil(largest / SHEET_CELL_MAX_SIDE))
    if factor == 1:
        return rows, 1
    reduced = []
    for label, cells in rows:
        shrunk = []
        for title, picture in cells:
            preview = Preview(factor)
            preview.add(picture)
            shrunk.append((title, np.clip(np.rint(preview.picture()), 0, 255).astype(np.uint8)))
        reduced.append((label, shrunk))
    return reduced, factor


CHANNEL_ROW_WORDS = {"gray": "gray decode", "R": "R (each)", "G": "G (each)", "B": "B (each)", "sum": "sum R+G+B"}


def channel_rows_note(channels: Sequence[str]) -> str:
    """What a colour contact sheet's rows are (lines at the end of its title), for the row channels present."""
    lines = ["rows of a sample, one per channel:"]
    if "gray" in channels:
        lines.append("gray decode: the image as OpenCV's grey decode reads it")
    if any(channel in RGB for channel in channels):
        lines.append("R, G, B (each): that channel filtered on its own, as DepthwiseConv2D; input in its colour")
    if "sum" in channels:
        lines.append("sum R+G+B: the three channels' responses summed, as Conv2D; input the RGB image")
    return "\n".join(lines)


def _tinted(gray: np.ndarray, channel: str) -> np.ndarray:
    """An (H, W) channel picture as (H, W, 3) RGB in its own colour (the other two channels 0)."""
    tinted = np.zeros((*gray.shape, 3), dtype=np.uint8)
    tinted[..., RGB.index(channel)] = gray
    return tinted


def _colour_rows(
    index: int,
    *,
    view: Any,
    colour_view: Any,
    channels: Sequence[str],
    conv: ConvSetting,
    kernels: Kernels,
    pools: list[PoolSetting],
    memory_budget: int | None,
) -> tuple[list[tuple[str, str, dict[str, tuple[np.ndarray, float]]]], int]:
    """Sample ``index``'s sheet rows of a colour sweep: [(label, channel, stage -> picture)], and the factor.

    As ``process-chunk`` (``convsweep.tasks.compute.colour_input``), the RGB image is resized first and a
    channel's maps are those of that channel of the resized image.  The first row's pictures
    also hold ``rgb``: the RGB input.  One row's maps are computed at a time (previews kept), each
    row from the image read again.
    """
    flat = dataclasses.replace(conv, resize=None)

    def resized_rgb() -> np.ndarray:
        # Read again for each row, so that a row over one channel holds that channel's plane, not
        # the RGB image beside it (an 8000x8000 photograph is 192 MB; its plane 64 MB).
        rgb = colour_view.read(index, index + 1)[0]
        return rgb if conv.resize is None else conv_core.resize(rgb, conv.resize, channels_last=True)

    resized = resized_rgb()
    factor = preview_factor(*resized.shape[:2])
    preview = Preview(factor)
    preview.add(resized)
    del resized
    rgb_picture = _preview_gray(preview, signed=False, is_input=True)
    del preview
    rows: list[tuple[str, str, dict[str, tuple[np.ndarray, float]]]] = []
    for channel in channels:
        options: dict[str, Any] = dict(kernels=kernels, pools=pools, memory_budget=memory_budget)
        if channel == "gray":
            pictures, _ = sample_pictures(view.read(index, index + 1)[0], conv=conv, **options)
        elif channel == "sum":
            pictures, _ = sample_pictures(resized_rgb(), conv=flat, channels="sum", **options)
            pictures["input"] = rgb_picture
        else:
            plane = np.ascontiguousarray(resized_rgb()[..., RGB.index(channel)])
            pictures, _ = sample_pictures(plane, conv=flat, **options)
            del plane
            gray_input, scale = pictures["input"]
            pictures["input"] = (_tinted(gray_input, channel), scale)
        rows.append(("", channel, pictures))
    rows[0][2]["rgb"] = rgb_picture
    return rows, factor


SheetRow = tuple[str, list[tuple[str, np.ndarray]]]  # (row label, [(column title, picture)])
PictureRow = tuple[str, str, dict[str, tuple[np.ndarray, float]]]  # (row label, channel, stage -> picture)


def sheet_columns(kernels: Kernels, pools: list[PoolSetting]) -> tuple[dict[str, str], list[str]]:
    """The contact sheet's column titles of the pooled stages, and every stage of a sample, in column order."""
    names = map_names(kernels)
    column_titles = {
        f"{name}-{pool.label}": f"{name}\n{_pool_words(pool)}".replace(" / ", "\n/ ")
        for name in names
        for pool in pools
    }
    stages = ["input", *names] + [f"{name}-{pool.label}" for name in names for pool in pools if pool.mode != "none"]
    return column_titles, stages


def sample_rows(
    index: int,
    *,
    view: Any,
    colour_view: Any,
    class_names: Sequence[str] | None,
    channels: Sequence[str],
    conv: ConvSetting,
    kernels: Kernels,
    pools: list[PoolSetting],
    memory_budget: int | None,
) -> tuple[list[PictureRow], int]:
    """Sample ``index``'s sheet rows, [(label, channel, stage -> picture)] (channel "" in a grey sweep), and the factor.

    A grey sweep (``colour_view`` None) has one row; a colour sweep one per channel of ``channels``
    (:func:`_colour_rows`), labelled with the sample's label and the channel's words.
    """
    label = _row_label(view, class_names, index)
    if colour_view is None:
        pictures, factor = sample_pictures(
            view.read(index, index + 1)[0], conv=conv, kernels=kernels, pools=pools, memory_budget=memory_budget
        )
        return [(label, "", pictures)], factor
    rows, factor = _colour_rows(
        index,
        view=view,
        colour_view=colour_view,
        channels=channels,
        conv=conv,
        kernels=kernels,
        pools=pools,
        memory_budget=memory_budget,
    )
    label_of = {channel: f"{label}\n{CHANNEL_ROW_WORDS[channel]}" for channel in channels}
    return [(label_of[channel], channel, pictures) for _, channel, pictures in rows], factor


def sheet_title(
    conv: ConvSetting, channels: Sequence[str], sheet_rows: list[SheetRow], factor: int
) -> tuple[str, list[SheetRow]]:
    """The contact sheet's title and rows: a colour sheet's rows reduced (:func:`_reduced_sheet`), and said so."""
    title = _sheet_title(conv)
    reduced = 1
    if channels:
        title += "\n" + channel_rows_note(channels)
        sheet_rows, reduced = _reduced_sheet(sheet_rows)
    if factor > 1:
        title += f"\npreviews: every picture reduced {factor}x (means of {factor}x{factor} blocks)"
        title += "; sizes shown are the previews'" if reduced == 1 else " in samples/"
    if reduced > 1:
        title += (
            f"\nthis sheet: every picture of samples/ drawn reduced {reduced}x (means of {reduced}x{reduced} blocks); "
            "sizes shown are the sheet's"
        )
    return title, sheet_rows


def sample_record(
    view: Any,
    *,
    class_names: Sequence[str] | None,
    conv: ConvSetting,
    samples: list[int],
    paths: dict[str, Path],
    scaling: dict[str, float],
    factor: int,
) -> SampleRecord:
    """``write-samples``' record: the samples' class names, the pictures' paths and gray scaling, the preview factor."""
    labels = getattr(view, "labels", None)
    return SampleRecord(
        conv=conv.label,
        # The report names the samples from here, so a warm run never opens the dataset for them.
        classes={str(index): class_text(labels, class_names, index) for index in samples} if labels is not None else {},
        contact=str(paths["contact"]),
        images={stage: str(path) for stage, path in paths.items() if stage != "contact"},
        scaling=scaling,
        preview_factor=factor,
    )
