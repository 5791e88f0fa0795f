"""Turning feature maps into pictures: gray mappings, contact sheets, figures.

Two mappings, both written into the report so a reader can undo them:

* signed responses (a kernel's map): ``gray = 127.5 + 127.5 * x / max|x|``,
  so zero is mid-gray, the strongest negative black, the strongest positive white;
* magnitudes (non-negative): ``gray = 255 * x / max(x)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, cast

import numpy as np

from convsweep.tasks.model import CONV_COLUMNS, POOL_COLUMNS, ConvSetting, PoolSetting


def signed_to_gray(values: np.ndarray) -> tuple[np.ndarray, float]:
    """Map a signed (H, W) response to uint8 with zero at mid-gray; returns (image, max|x|)."""
    scale = float(np.abs(values).max()) if values.size else 0.0
    if scale == 0.0:
        return np.full(values.shape, 128, dtype=np.uint8), 0.0
    gray = 127.5 + 127.5 * values.astype(np.float64) / scale
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8), scale


def magnitude_to_gray(values: np.ndarray) -> tuple[np.ndarray, float]:
    """Map a non-negative (H, W) map to uint8 scaled to 0-255; returns (image, max)."""
    scale = float(values.max()) if values.size else 0.0
    if scale <= 0.0:
        return np.zeros(values.shape, dtype=np.uint8), 0.0
    gray = 255.0 * values.astype(np.float64) / scale
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8), scale


def to_gray(values: np.ndarray, *, signed: bool) -> tuple[np.ndarray, float]:
    """Signed maps around mid-gray, magnitudes from black; returns (uint8 image, scale)."""
    if values.dtype == np.uint8:
        return values, 1.0
    return signed_to_gray(values) if signed else magnitude_to_gray(values)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; set before pyplot is imported
    import matplotlib.pyplot as plt

    return plt


def pool_text(mode: str, size: str = "", stride: str = "", padding: str = "", *, ceil_mode: bool = False) -> str:
    """A pool setting in words from its sizes.csv cells: :attr:`PoolSetting.words` ('max 2×2 / stride 2', 'no pooling')."""
    if mode == "none" or not size:
        return PoolSetting("none", None, None, None).words
    row = {"pool_mode": mode, "pool_size": size, "pool_stride": stride, "pool_padding": padding or "valid"}
    return replace(PoolSetting.from_row(row), ceil_mode=ceil_mode).words


def conv_text(*, resize: Any, stride: Any, padding: Any, pad_mode: str, dilation: Any) -> str:
    """A conv setting in words from its sizes.csv cells: :attr:`ConvSetting.words`."""
    row = {"resize": resize, "stride": stride, "padding": padding, "pad_mode": pad_mode, "dilation": dilation}
    return ConvSetting.from_row(row).words


def contact_sheet(
    rows: Sequence[tuple[str, Sequence[tuple[str, np.ndarray]]]], *, title: str, sizes: Mapping[int, str] | None = None
) -> Any:
    """A grid figure: one row per sample, one column per stage; cells are uint8 images.

    Every map is drawn at its true size relative to the largest picture of the sheet
    (one image pixel is the same length everywhere), centred in its cell with a thin frame,
    and each column title ends with the map size ``H×W``.

    The whole grid is one picture in one axes (the cells pasted into an RGB canvas, drawn by a
    single ``imshow``), with the frames, titles and labels placed in its pixel coordinates and no
    layout engine: matplotlib's cost per axes and constrained layout made a sheet cost more than
    the arithmetic behind it.

    Parameters
    ----------
    rows : [(row label, [(column title, (H, W) gray or (H, W, 3) RGB uint8 image), ...]), ...]
    sizes : {column index: the size line under its title}, in place of the picture's ``H×W`` where
        the picture is drawn larger than what it shows (a 3×3 kernel as 24×24 blocks).
    """
    canvas, frames, column_left, column_w, inch_per_pixel, gap_y = _paste_cells(rows)
    canvas_h = max(image.shape[0] for _, cells in rows for _, image in cells)
    # Figure margins in inches: row labels left, column titles and the title on top.
    margin_left, margin_right, margin_bottom = 0.9, 0.15, 0.15
    title_lines = title.count("\n") + 1
    column_title_lines = max(text.count("\n") + 2 for _, cells in rows[:1] for text, _ in cells)
    margin_top = 0.2 + title_lines * 0.17 + column_title_lines * 0.12
    grid_w_in, grid_h_in = canvas.shape[1] * inch_per_pixel, canvas.shape[0] * inch_per_pixel
    fig_w, fig_h = grid_w_in + margin_left + margin_right, grid_h_in + margin_top + margin_bottom
    figure = _pyplot().figure(figsize=(fig_w, fig_h))
    axis = figure.add_axes((margin_left / fig_w, margin_bottom / fig_h, grid_w_in / fig_w, grid_h_in / fig_h))
    axis.imshow(
        canvas,
        interpolation="nearest",
        extent=(-0.5, canvas.shape[1] - 0.5, canvas.shape[0] - 0.5, -0.5),
        aspect="equal",
    )
    axis.set_axis_off()
    _frame_and_label(axis, rows, frames, column_left, column_w, canvas_h + gap_y, canvas_h, sizes)
    figure.suptitle(title, fontsize=9, y=1 - 0.08 / fig_h, va="top")
    return figure


def _paste_cells(
    rows: Sequence[tuple[str, Sequence[tuple[str, np.ndarray]]]],
) -> tuple[np.ndarray, list[tuple[int, int, int, int]], np.ndarray, list[float], float, float]:
    """The sheet's RGB canvas (white, one image pixel per canvas pixel), each cell's (left, top, width, height),
    the columns' left edges and widths, inches per pixel and the gap between rows (in pixels)."""
    n_rows = len(rows)
    n_cols = max(len(cells) for _, cells in rows)
    canvas_h = max(image.shape[0] for _, cells in rows for _, image in cells)
    widest = max(image.shape[1] for _, cells in rows for _, image in cells)
    inch_per_pixel = 1.7 / max(canvas_h, widest)  # the largest picture is 1.7 inches
    min_column = 0.75 / inch_per_pixel  # room for a column title, in image pixels
    column_w = [
        max(min_column, max((cells[col][1].shape[1] for _, cells in rows if col < len(cells)), default=0))
        for col in range(n_cols)
    ]
    gap_x, gap_y = 0.1 / inch_per_pixel, 0.3 / inch_per_pixel  # between cells, in image pixels
    column_left = np.concatenate([[0.0], np.cumsum(np.add(column_w, gap_x))])[:-1]
    grid_w = float(column_left[-1] + column_w[-1])
    grid_h = n_rows * canvas_h + (n_rows - 1) * gap_y
    canvas = np.full((math.ceil(grid_h), math.ceil(grid_w), 3), 255, dtype=np.uint8)
    frames = []
    for row_index, (_, cells) in enumerate(rows):
        for col_index, (_, image) in enumerate(cells):
            height, width = image.shape[:2]
            left = round(column_left[col_index] + (column_w[col_index] - width) / 2)
            top = round(row_index * (canvas_h + gap_y) + (canvas_h - height) / 2)
            canvas[top : top + height, left : left + width] = image if image.ndim == 3 else image[..., np.newaxis]
            frames.append((left, top, width, height))
    return canvas, frames, column_left, column_w, inch_per_pixel, gap_y


def _frame_and_label(
    axis: Any,
    rows: Sequence[tuple[str, Sequence[tuple[str, np.ndarray]]]],
    frames: list[tuple[int, int, int, int]],
    column_left: np.ndarray,
    column_w: list[float],
    row_pitch: float,
    canvas_h: int,
    sizes: Mapping[int, str] | None,
) -> None:
    """Thin frames round the cells, column titles with their sizes on top, row labels on the left."""
    from matplotlib.patches import Rectangle

    for left, top, width, height in frames:
        axis.add_patch(
            Rectangle(
                (left - 0.5, top - 0.5), width, height, fill=False, linewidth=0.6, edgecolor="0.35", clip_on=False
            )
        )
    for col_index, (column_title, image) in enumerate(rows[0][1]):
        height, width = image.shape[:2]
        axis.annotate(
            f"{column_title}\n{(sizes or {}).get(col_index, f'{height}×{width}')}",
            xy=(column_left[col_index] + column_w[col_index] / 2 - 0.5, -0.5),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=7,
        )
    for row_index, (row_label, _) in enumerate(rows):
        axis.annotate(
            row_label,
            xy=(-0.5, row_index * row_pitch + canvas_h / 2 - 0.5),
            xytext=(-6, 0),
            textcoords="offset points",
            ha="right",
            va="center",
            fontsize=8,
        )


def close(figure: Any) -> None:
    _pyplot().close(figure)


# Line colours of the size panels: one colour per pooling stage, the same in every panel.
CONV_COLOUR = "black"
POOL_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
KERNEL_STYLES = ["-", "--", ":", "-."]


def _cell(value: Any) -> str:
    """A sizes.csv cell as text, the same from rows or read back by pandas (NaN -> '', 2.0 -> '2')."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _ordered(values: Any) -> list[Any]:
    """Unique values, in first-seen order (the sweep's own order)."""
    return list(dict.fromkeys(values))


def focus_map(frame: Any) -> str:
    """The map the statistics panel shows: the first magnitude, else the first map."""
    magnitudes = frame[frame["map_kind"] == "magnitude"]
    return str((magnitudes if len(magnitudes) else frame)["map"].iloc[0])


def _with_setting_columns(frame: Any) -> Any:
    """A copy of the sizes table with cells as text and the pool window, pool setting and kernel shape columns."""
    frame = frame.copy()
    for column in (*CONV_COLUMNS, *POOL_COLUMNS[1:]):  # every setting column but pool_mode
        frame[column] = [_cell(value) for value in frame[column]]
    pool_settings = [PoolSetting.from_row(row) for row in frame.to_dict("records")]
    frame["pool_window"] = [
        "" if setting.mode == "none" else setting.words.removeprefix(f"{setting.mode} ") for setting in pool_settings
    ]
    frame["pool_setting"] = [setting.words for setting in pool_settings]
    frame["kernel_shape"] = [f"{h}×{w}" for h, w in zip(frame["kernel_h"], frame["kernel_w"], strict=False)]
    return frame


def summary_figure(frame: Any, *, title: str | None = None) -> Any:
    """Output sizes against conv stride, and the focus map's mean for every configuration.

    ``frame`` is the sizes table (pandas). Two parts, scaling with the sweep:

    * small multiples of output height against conv stride: one panel per
      (padding) column and (resize, dilation) row; in every panel black is the conv
      output and each pool window has its own colour (max and avg pooling give
      the same size, so one line per window); kernels of different sizes differ
      by line style. One shared legend, outside the panels.
    * a heat map of the focus map's mean after pooling: one row per conv
      setting, one column per pool setting, values written in the cells; with a
      ``channel`` column (a colour sweep), one row per conv setting and channel,
      the channel named at the end of its label.
    """
    plt = _pyplot()
    frame = _with_setting_columns(frame)
    paddings = _ordered(frame["padding"])
    variants = _ordered(zip(frame["resize"], frame["dilation"], strict=False))
    focus = focus_map(frame)
    frame["channel_label"] = [_cell(value) for value in frame["channel"]] if "channel" in frame else ""
    stats = frame[frame["map"] == focus]
    # A heat-map row per conv setting (and channel): its key is those columns' cells.
    conv_keys = _ordered(zip(*(stats[column] for column in _ROW_COLUMNS), strict=True))
    pool_keys = _ordered(stats["pool_setting"])

    panel_w, panel_h = 3.3, 2.4
    sizes_h = panel_h * len(variants) + 1.0
    heat_h = 0.26 * len(conv_keys) + 2.0
    label_w = 4.2  # room for the heat map's row labels
    width = max(panel_w * len(paddings) + 2.8, label_w + 1.5 * len(pool_keys) + 1.5, 9.0)
    figure = plt.figure(figsize=(width, sizes_h + heat_h + 0.8), layout="constrained")
    figure.suptitle(title or "convsweep summary", fontsize=12, fontweight="bold")
    top, bottom = figure.subfigures(2, 1, height_ratios=[sizes_h, heat_h])
    _size_panels(top, frame, paddings, variants)
    _heat_map(bottom, frame, stats, focus, conv_keys, pool_keys)
    return figure


_ROW_COLUMNS = [*CONV_COLUMNS, "channel_label"]


def _size_panels(top: Any, frame: Any, paddings: list[Any], variants: list[Any]) -> None:
    """The small multiples of output height against conv stride, and their shared legend."""
    windows = [window for window in _ordered(frame["pool_window"]) if window]
    shapes = _ordered(frame["kernel_shape"])
    colour_of = {window: POOL_COLOURS[index % len(POOL_COLOURS)] for index, window in enumerate(windows)}
    style_of = {shape: KERNEL_STYLES[index % len(KERNEL_STYLES)] for index, shape in enumerate(shapes)}
    n_rows = len(variants)
    top.suptitle("Output height against conv stride", fontsize=10)
    axes = top.subplots(n_rows, len(paddings), squeeze=False, sharex=True)
    for row_index, (resize, dilation) in enumerate(variants):
        for col_index, padding in enumerate(paddings):
            axis = axes[row_index][col_index]
            panel = frame[(frame["padding"] == padding) & (frame["resize"] == resize) & (frame["dilation"] == dilation)]
            for shape in shapes:
                shaped = panel[panel["kernel_shape"] == shape]
                if not len(shaped):
                    continue
                conv = shaped.drop_duplicates("stride_y").sort_values("stride_y")
                axis.plot(
                    conv["stride_y"],
                    conv["conv_h"],
                    color=CONV_COLOUR,
                    linestyle=style_of[shape],
                    marker="o",
                    markersize=4,
                )
                for window in windows:
                    pooled = shaped[shaped["pool_window"] == window].drop_duplicates("stride_y").sort_values("stride_y")
                    if len(pooled):
                        axis.plot(
                            pooled["stride_y"],
                            pooled["pool_h"],
                            color=colour_of[window],
                            linestyle=style_of[shape],
                            marker="s",
                            markersize=4,
                        )
            _style_panel(axis, frame, resize, padding, dilation, bottom=row_index == n_rows - 1, left=col_index == 0)
    _size_legend(top, windows, shapes, colour_of, style_of)


def _style_panel(axis: Any, frame: Any, resize: Any, padding: Any, dilation: Any, *, bottom: bool, left: bool) -> None:
    from matplotlib.ticker import MaxNLocator

    # The panel's share of the conv setting in the setting's words (stride and pad mode vary inside it).
    row = {"resize": resize, "stride": "1", "padding": padding, "pad_mode": "zeros", "dilation": dilation}
    words = ConvSetting.from_row(row).word_parts()
    axis.set_title(f"{words['padding']} · {words['resize']} · {words['dilation']}", fontsize=8)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.yaxis.set_major_locator(MaxNLocator(integer=True))
    axis.tick_params(labelsize=7)
    axis.grid(True, alpha=0.3)
    if bottom:
        axis.set_xlabel("conv stride (rows)", fontsize=8)
    if left:
        axis.set_ylabel("output height (px)", fontsize=8)
    if len(frame["stride_y"].unique()) == 1:
        only = int(frame["stride_y"].iloc[0])
        axis.set_xlim(only - 0.5, only + 0.5)
        axis.set_xticks([only])


def _size_legend(
    top: Any, windows: list[Any], shapes: list[Any], colour_of: dict[Any, str], style_of: dict[Any, str]
) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=CONV_COLOUR, marker="o", markersize=4, label="conv output")]
    handles += [
        Line2D([], [], color=colour_of[window], marker="s", markersize=4, label=f"after pooling {window}")
        for window in windows
    ]
    if len(shapes) > 1:
        handles += [
            Line2D([], [], color="0.4", linestyle=cast(Any, style_of[shape]), label=f"{shape} kernels")
            for shape in shapes
        ]
    top.legend(
        handles=handles,
        loc="outside lower center",
        fontsize=8,
        frameon=False,
        ncols=min(len(handles), 4),
        title="colour: stage (max and avg pooling give the same size)",
        title_fontsize=8,
    )


def _heat_map(bottom: Any, frame: Any, stats: Any, focus: str, conv_keys: list[Any], pool_keys: list[Any]) -> None:
    """The focus map's mean after pooling: one row per conv setting (and channel), one column per pool setting."""
    kind = "magnitude" if (stats["map_kind"] == "magnitude").any() else "kernel response"
    per_channel = ", one row per conv setting and channel (gray, R, G, B, sum)" if "channel" in frame else ""
    bottom.suptitle(f"Mean of {focus} ({kind}) after pooling, over all images{per_channel}", fontsize=10)
    heat = np.full((len(conv_keys), len(pool_keys)), np.nan)
    row_of = {key: index for index, key in enumerate(conv_keys)}
    col_of = {key: index for index, key in enumerate(pool_keys)}
    for *row_key, pool_setting, mean in zip(
        *(stats[column] for column in _ROW_COLUMNS), stats["pool_setting"], stats["mean"], strict=True
    ):
        heat[row_of[tuple(row_key)], col_of[pool_setting]] = mean
    axis = bottom.subplots()
    image = axis.imshow(heat, cmap="viridis", aspect="auto", interpolation="nearest")
    tilted = len(pool_keys) > 5
    axis.set_xticks(
        range(len(pool_keys)), pool_keys, fontsize=8, rotation=20 if tilted else 0, ha="right" if tilted else "center"
    )
    labels = [
        conv_text(resize=resize, stride=stride, padding=padding, pad_mode=pad_mode, dilation=dilation).replace(
            "conv ", ""
        )
        + (f" · {channel}" if channel else "")
        for resize, stride, padding, pad_mode, dilation, channel in conv_keys
    ]
    axis.set_yticks(range(len(conv_keys)), labels, fontsize=7)
    axis.tick_params(length=0)
    finite = heat[np.isfinite(heat)]
    middle = (float(finite.min()) + float(finite.max())) / 2 if finite.size else 0.0
    for (row, col), value in np.ndenumerate(heat):
        if np.isfinite(value):
            colour = "black" if value > middle else "white"
            axis.text(col, row, f"{value:.4g}", ha="center", va="center", fontsize=7, color=colour)
    bottom.colorbar(image, ax=axis, label=f"mean of {focus}", shrink=0.9, aspect=30)
