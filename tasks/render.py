"""Turning feature maps into pictures: gray mappings, contact sheets, figures.

Two mappings, both written into the report so a reader can undo them:

* signed responses (a kernel's map): ``gray = 127.5 + 127.5 * x / max|x|``,
  so zero is mid-gray, the strongest negative black, the strongest positive white;
* magnitudes (non-negative): ``gray = 255 * x / max(x)``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


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


def contact_sheet(rows: Sequence[tuple[str, Sequence[tuple[str, np.ndarray]]]], *, title: str) -> Any:
    """A grid figure: one row per sample, one column per stage; cells are uint8 images.

    Parameters
    ----------
    rows : [(row label, [(column title, (H, W) uint8 image), ...]), ...]
    """
    plt = _pyplot()
    n_rows = len(rows)
    n_cols = max(len(cells) for _, cells in rows)
    figure, axes = plt.subplots(n_rows, n_cols, figsize=(1.6 * n_cols, 1.7 * n_rows + 0.5), squeeze=False)
    for row_index, (row_label, cells) in enumerate(rows):
        for col_index in range(n_cols):
            axis = axes[row_index][col_index]
            axis.set_xticks([])
            axis.set_yticks([])
            if col_index >= len(cells):
                axis.axis("off")
                continue
            column_title, image = cells[col_index]
            axis.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            if row_index == 0:
                axis.set_title(column_title, fontsize=7)
            if col_index == 0:
                axis.set_ylabel(row_label, fontsize=7)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure


def close(figure: Any) -> None:
    _pyplot().close(figure)


def notebook_figure(horizontal: np.ndarray, vertical: np.ndarray) -> Any:
    """The notebook's side-by-side plot: 'vertical' and 'horizontal' maps, gray colormap."""
    plt = _pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(8, 4))
    axes[0].imshow(vertical, cmap="gray")
    axes[0].set_title("vertical")
    axes[1].imshow(horizontal, cmap="gray")
    axes[1].set_title("horizontal")
    figure.tight_layout()
    return figure


def summary_figure(frame: Any) -> Any:
    """How conv/pool output sizes and magnitude statistics change with stride, padding and dilation.

    ``frame`` is the sizes table (pandas); one line per padding (and dilation), stride on x.
    """
    plt = _pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(13, 4))
    magnitude_rows = frame[frame["map_kind"] == "magnitude"]
    focus = magnitude_rows if len(magnitude_rows) else frame
    groups = focus.groupby(["padding", "dilation", "pad_mode", "resize"], sort=True, dropna=False)
    for (padding, dilation, pad_mode, resize), group in groups:
        label = f"pad {padding}, dil {dilation}, {pad_mode}, size {resize}"
        conv = group.drop_duplicates("stride").sort_values("stride_y")
        axes[0].plot(conv["stride_y"], conv["conv_h"], marker="o", label=label)
        for pool_mode, pooled in group.groupby("pool_mode", sort=True):
            pooled = pooled.drop_duplicates("stride").sort_values("stride_y")
            axes[1].plot(pooled["stride_y"], pooled["pool_h"], marker="s", linestyle="--", label=f"{label}, {pool_mode}")
            axes[2].plot(pooled["stride_y"], pooled["mean"], marker="^", label=f"{label}, {pool_mode}")
    axes[0].set_title("conv output height")
    axes[1].set_title("pool output height")
    axes[2].set_title(f"mean of {focus['map'].iloc[0] if len(focus) else 'map'} after pooling")
    for axis in axes:
        axis.set_xlabel("stride (y)")
        axis.grid(True, alpha=0.3)
    axes[0].legend(fontsize=6, loc="best")
    axes[2].legend(fontsize=6, loc="best")
    figure.tight_layout()
    return figure
