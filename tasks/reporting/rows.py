"""The sweep's table: one row per (conv setting, map, pool setting), and ``sizes.csv``.

* :func:`build_rows` — the rows, from the chunk records (pure; asserts every shape against
  ``convsweep.conv_core.output_size``);
* :func:`write_sizes` — ``sizes.csv`` (pandas), cached like the compute tasks, so a rerun
  rewrites nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from convsweep import conv_core
from convsweep.conv_core.stats import merge_summaries
from convsweep.tasks.analysis.probe import ProbeRecord
from convsweep.tasks.analysis.shift import ShiftRecord
from convsweep.tasks.model import ConvSetting, PoolSetting, magnitude_pairs, padding_label, pair_label
from convsweep.tasks.model.records import ChunkRecord, DatasetRecord


def _axis_formula(
    n: int, k: int, *, stride: int, before: int, after: int, dilation: int = 1, ceil_mode: bool = False
) -> str:
    return conv_core.conv_formula(
        n, k, stride=stride, pad_before=before, pad_after=after, dilation=dilation, ceil_mode=ceil_mode
    )


def _formula(
    size: tuple[int, int], kernel: tuple[int, int], stride, pads, dilation=(1, 1), *, ceil_mode: bool = False
) -> str:
    top, bottom, left, right = pads
    height = _axis_formula(
        size[0], kernel[0], stride=stride[0], before=top, after=bottom, dilation=dilation[0], ceil_mode=ceil_mode
    )
    if (
        size[1] == size[0]
        and kernel[1] == kernel[0]
        and stride[1] == stride[0]
        and (left, right) == (top, bottom)
        and dilation[1] == dilation[0]
    ):
        return height
    width = _axis_formula(
        size[1], kernel[1], stride=stride[1], before=left, after=right, dilation=dilation[1], ceil_mode=ceil_mode
    )
    return f"H: {height}; W: {width}"


def _conv(setting: ConvSetting | dict[str, Any]) -> ConvSetting:
    return setting if isinstance(setting, ConvSetting) else ConvSetting.from_plain(setting)


def _pool(setting: PoolSetting | dict[str, Any]) -> PoolSetting:
    return setting if isinstance(setting, PoolSetting) else PoolSetting.from_plain(setting)


def build_rows(
    *,
    dataset: DatasetRecord,
    kernels: dict[str, list[list[float]]],
    conv_settings: list[ConvSetting],
    pools: list[PoolSetting],
    chunk_records: dict[str, list[ChunkRecord]],
) -> list[dict[str, Any]]:
    """One row per (conv setting, map, pool setting), shapes checked against ``output_size``.

    ``chunk_records`` maps a conv label to the records of all its chunks; the magnitude maps
    are those of :func:`convsweep.tasks.model.magnitude_pairs` of the kernel names.  Records and settings
    may also come in their JSON / plain form.
    """
    dataset = DatasetRecord.parse(dataset)
    magnitudes = magnitude_pairs(kernels)
    pool_settings = [_pool(pool) for pool in pools]
    rows: list[dict[str, Any]] = []
    for conv in conv_settings:
        setting = _conv(conv)
        records = [ChunkRecord.parse(record) for record in chunk_records[setting.label]]
        rows.extend(_conv_rows(dataset, setting, records, kernels, magnitudes, pool_settings))
    return rows


def _conv_rows(
    dataset: DatasetRecord,
    setting: ConvSetting,
    records: list[ChunkRecord],
    kernels: dict[str, list[list[float]]],
    magnitudes: dict[str, Any],
    pool_settings: list[PoolSetting],
) -> list[dict[str, Any]]:
    """The rows of one conv setting: one per (map, pool setting)."""
    label = setting.label
    input_h, input_w = records[0].input_shape
    input_shape = (input_h, input_w)
    seconds = sum(record.seconds for record in records)
    rows: list[dict[str, Any]] = []
    for map_name in list(kernels) + list(magnitudes):
        source_kernel = magnitudes[map_name][0] if map_name in magnitudes else map_name
        kernel_h, kernel_w = np.asarray(kernels[source_kernel]).shape
        pads, (conv_h, conv_w) = setting.output(input_shape, (kernel_h, kernel_w))
        conv_shape = (conv_h, conv_w)
        for pool_setting in pool_settings:
            plabel = pool_setting.label
            parts = [record.maps[map_name][plabel] for record in records]
            produced_conv = {tuple(part.conv_shape) for part in parts}
            produced_pool = {tuple(part.pool_shape) for part in parts}
            if produced_conv != {conv_shape}:
                raise RuntimeError(
                    f"{label} {map_name}: conv produced {sorted(produced_conv)} but output_size says {conv_shape}"
                )
            stats = merge_summaries([part.model_dump() for part in parts])
            row = _conv_columns(
                dataset, setting, map_name, input_shape, (kernel_h, kernel_w), pads, conv_shape, magnitudes
            )
            pool_columns, pool_shape, layers_y, layers_x = _pool_columns(
                setting, pool_setting, (kernel_h, kernel_w), conv_shape
            )
            row.update(pool_columns)
            if produced_pool != {pool_shape}:
                raise RuntimeError(
                    f"{label} {map_name} {plabel}: pooling produced {sorted(produced_pool)} "
                    f"but output_size says {pool_shape}"
                )
            row.update(_stat_columns(pool_shape, layers_y, layers_x, stats, seconds))
            rows.append(row)
    return rows


def _conv_columns(
    dataset: DatasetRecord,
    setting: ConvSetting,
    map_name: str,
    input_shape: tuple[int, int],
    kernel_shape: tuple[int, int],
    pads: Any,
    conv_shape: tuple[int, int],
    magnitudes: dict[str, Any],
) -> dict[str, Any]:
    """A row's columns up to the conv formula: the dataset, the map and the conv setting."""
    input_h, input_w = input_shape
    kernel_h, kernel_w = kernel_shape
    conv_h, conv_w = conv_shape
    stride, dilation = setting.stride, setting.dilation
    return {
        "dataset": dataset.spec,
        "split": dataset.split,
        "n_images": dataset.n,
        "input_h": dataset.height,
        "input_w": dataset.width,
        "resize": "native" if setting.resize is None else pair_label(setting.resize),
        "conv_input_h": input_h,
        "conv_input_w": input_w,
        "map": map_name,
        "kernel": map_name,
        "map_kind": "magnitude" if map_name in magnitudes else "kernel",
        "kernel_h": kernel_h,
        "kernel_w": kernel_w,
        "stride": pair_label(stride),
        "stride_y": stride[0],
        "stride_x": stride[1],
        "padding": padding_label(setting.padding),
        "pad_top": pads[0],
        "pad_bottom": pads[1],
        "pad_left": pads[2],
        "pad_right": pads[3],
        "pad_mode": setting.pad_mode,
        "dilation": pair_label(dilation),
        "conv_h": conv_h,
        "conv_w": conv_w,
        "conv_formula": _formula((input_h, input_w), (kernel_h, kernel_w), stride, pads, dilation),
    }


def _pool_columns(
    setting: ConvSetting, pool_setting: PoolSetting, kernel_shape: tuple[int, int], conv_shape: tuple[int, int]
) -> tuple[dict[str, Any], tuple[int, int], list[tuple[int, int]], list[tuple[int, int]]]:
    """A row's pool columns, the pooled shape and the (size, stride) layers of each axis (conv, then pool)."""
    kernel_h, kernel_w = kernel_shape
    stride, dilation = setting.stride, setting.dilation
    effective = ((kernel_h - 1) * dilation[0] + 1, (kernel_w - 1) * dilation[1] + 1)
    layers_y = [(effective[0], stride[0])]
    layers_x = [(effective[1], stride[1])]
    ppads, (pool_h, pool_w) = pool_setting.output(conv_shape)
    if pool_setting.mode == "none":
        columns: dict[str, Any] = dict(pool_mode="none", pool_size="", pool_stride="", pool_padding="", pool_formula="")
    else:
        size, pstride = pool_setting.size, pool_setting.stride
        assert size is not None and pstride is not None and pool_setting.padding is not None  # a pool
        columns = dict(
            pool_mode=pool_setting.mode,
            pool_size=pair_label(size),
            pool_stride=pair_label(pstride),
            pool_padding=padding_label(pool_setting.padding),
            pool_formula=_formula(conv_shape, size, pstride, ppads, ceil_mode=pool_setting.ceil_mode),
        )
        layers_y.append((size[0], pstride[0]))
        layers_x.append((size[1], pstride[1]))
    return columns, (pool_h, pool_w), layers_y, layers_x


def _stat_columns(
    pool_shape: tuple[int, int],
    layers_y: list[tuple[int, int]],
    layers_x: list[tuple[int, int]],
    stats: dict[str, Any],
    seconds: float,
) -> dict[str, Any]:
    """A row's last columns: the pooled shape, the receptive field and the map's statistics."""
    pool_h, pool_w = pool_shape
    rf_y, jump_y = conv_core.receptive_field(layers_y)
    rf_x, jump_x = conv_core.receptive_field(layers_x)
    std = float(np.sqrt(stats["m2"] / stats["count"])) if stats["count"] else 0.0
    return dict(
        pool_h=pool_h,
        pool_w=pool_w,
        receptive_field=pair_label((rf_y, rf_x)),
        jump=pair_label((jump_y, jump_x)),
        mean=round(stats["mean"], 6),
        std=round(std, 6),
        min=round(stats["min"], 6),
        max=round(stats["max"], 6),
        zero_fraction=round(stats["zeros"] / stats["count"], 6) if stats["count"] else 0.0,
        compute_seconds=round(seconds, 4),
    )


def with_channel(rows: list[dict[str, Any]], *, channels: str, channel: str) -> list[dict[str, Any]]:
    """``rows`` with the ``channels`` (gray, each, sum) and ``channel`` (gray, R, G, B, sum) columns after ``map``.

    Only a sweep that is not purely grey has them, so a grey sweep's ``sizes.csv`` is as before channels.
    """
    placed = []
    for row in rows:
        new: dict[str, Any] = {}
        for key, value in row.items():
            new[key] = value
            if key == "map":
                new.update(channels=channels, channel=channel)
        placed.append(new)
    return placed


def outputs_key(inputs: dict[str, Any]) -> dict[str, Any]:
    """Everything a file of ``write-sizes`` / ``write-report`` depends on.

    The compute seconds in the rows come from the cached chunk records, so a rerun over
    cached chunks gives the same key.
    """
    return {**inputs, "out_dir": str(Path(inputs["out_dir"]).resolve())}


# The measures' columns (convsweep.tasks.measures, convsweep.tasks.probe), after the statistics, only when measured.
SHIFT_COLUMNS = ("shift_images", "shift_measured", "shift_right", "shift_down", "shift_jump", "shift_jump_px")
PROBE_COLUMNS = ("probe_accuracy", "probe_features", "probe_train_images", "probe_test_images")


def add_measures(
    rows: list[dict[str, Any]],
    *,
    shift_records: list[Any] | None = None,
    probe_records: list[Any] | None = None,
) -> list[dict[str, Any]]:
    """The rows with the shift sensitivity (per map and pool setting) and the probe (per configuration) columns.

    ``shift_records`` are ``measure-shift`` records (or their JSON), one per conv setting;
    ``probe_records`` ``probe-configuration`` records, one per configuration.  The probe is
    fitted on all the maps of a configuration, so it is one figure per configuration: its
    columns are filled on the configuration's first row of the focus map (the first magnitude,
    else the first map: the map the report's measures table shows) and empty (None) on the
    others, so no map row reads as if it had an accuracy of its own.
    Either None: its columns are left out.
    """
    shifts = {record.conv: record for record in (ShiftRecord.parse(raw) for raw in shift_records or [])}
    probes = {(record.conv, record.pool): record for record in (ProbeRecord.parse(raw) for raw in probe_records or [])}
    focus = next((row["map"] for row in rows if row.get("map_kind") == "magnitude"), rows[0]["map"] if rows else None)
    measured = []
    for row in rows:
        conv, pool = ConvSetting.from_row(row).label, PoolSetting.from_row(row).label
        row = dict(row)
        if shift_records is not None:
            record = shifts[conv]
            stats = record.maps[row["map"]][pool]
            row.update(
                shift_images=record.images,
                shift_measured=stats.measured,
                shift_right=stats.right,
                shift_down=stats.down,
                shift_jump=stats.jump,
                shift_jump_px=pair_label(stats.jump_shift),
            )
        if probe_records is not None:
            probe = probes.pop((conv, pool), None) if row["map"] == focus else None  # popped: once a configuration
            row.update(
                probe_accuracy=None if probe is None else probe.accuracy,
                probe_features=None if probe is None else probe.features,
                probe_train_images=None if probe is None else probe.n_train,
                probe_test_images=None if probe is None else probe.n_test,
            )
        measured.append(row)
    return measured
