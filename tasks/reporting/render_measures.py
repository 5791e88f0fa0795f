"""The measures figure (``measures.png``): what each configuration keeps, and what it ignores.

* left: the probe's test accuracy against its feature count, one point per configuration,
  labelled with its setting; the configurations no other beats with as few features or
  fewer (the accuracy-for-size front) are ringed and joined;
* right: shift sensitivity by pool setting — for each pool mode and size, the mean relative
  change of the pooled maps under a 1 px shift right, 1 px down and a shift by the jump
  of the focus map (``convsweep.tasks.reporting.render.focus_map``: the first magnitude), bars the mean over conv
  settings, dots each conv setting.

Either panel alone when only one measure was taken.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from convsweep.tasks.model import CONV_COLUMNS, POOL_COLUMNS, ConvSetting, PoolSetting

SHIFT_KINDS = (("shift_right", "1 px right", "#1f77b4"), ("shift_down", "1 px down", "#ff7f0e"))
JUMP_KIND = ("shift_jump", "by the jump (output moved back)", "#2ca02c")


def accuracy_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the (features, accuracy) points on the accuracy-for-size front, fewest features first.

    A point is on it when every point with as few features or fewer has a lower accuracy
    (ties in features: the most accurate one).
    """
    order = sorted(range(len(points)), key=lambda index: (points[index][0], -points[index][1]))
    front: list[int] = []
    best = -np.inf
    for index in order:
        if points[index][1] > best:
            front.append(index)
            best = points[index][1]
    return front


def configuration_words(row: dict[str, Any]) -> str:
    """A configuration's setting, short: 's2 same · max 2×2' (resize and dilation only when not the default)."""
    conv = ConvSetting.from_row(row)
    parts = conv.word_parts()
    words = f"s{row['stride']} {row['padding']}".replace("x", "×")
    if conv.resize is not None:
        words = f"{parts['resize']} · {words}"
    if conv.dilation != (1, 1):
        words += f" {parts['dilation']}"
    if conv.pad_mode != "zeros":
        words += f" {conv.pad_mode}"
    return f"{words} · {PoolSetting.from_row(row).short_words}"


def _configurations(frame: Any) -> Any:
    """One row per configuration: its row with the probe's values (``rows.add_measures``: one a configuration)."""
    if "probe_accuracy" in frame.columns:
        frame = frame[frame["probe_accuracy"].notna()]
    return frame.drop_duplicates([key for key in (*CONV_COLUMNS, *POOL_COLUMNS) if key in frame.columns])


def _probe_panel(axis: Any, frame: Any) -> None:
    configurations = _configurations(frame).to_dict("records")
    points = [(float(row["probe_features"]), float(row["probe_accuracy"])) for row in configurations]
    front = accuracy_front(points)
    modes = list(dict.fromkeys(str(row["pool_mode"]) for row in configurations))
    markers = {"max": "^", "avg": "o", "none": "s"}
    for mode in modes:
        chosen = [index for index, row in enumerate(configurations) if str(row["pool_mode"]) == mode]
        axis.scatter(
            [points[index][0] for index in chosen],
            [points[index][1] for index in chosen],
            marker=markers.get(mode, "D"),
            s=36,
            label="no pooling" if mode == "none" else f"{mode} pooling",
            zorder=3,
        )
    axis.plot(
        [points[index][0] for index in front],
        [points[index][1] for index in front],
        color="0.3",
        linewidth=1,
        drawstyle="steps-post",
        zorder=2,
    )
    axis.scatter(
        [points[index][0] for index in front],
        [points[index][1] for index in front],
        s=140,
        facecolors="none",
        edgecolors="black",
        linewidths=1.2,
        label="accuracy-for-size front",
        zorder=4,
    )
    _probe_axes(axis, points, configurations[0])


def _probe_axes(axis: Any, points: list[tuple[float, float]], first: Mapping[str, Any]) -> None:
    """The probe panel's log feature axis (one tick per feature count, as integers), labels and legend."""
    from matplotlib.ticker import NullFormatter, NullLocator

    axis.set_xscale("log")
    counts = sorted({int(features) for features, _ in points})
    axis.xaxis.set_minor_locator(NullLocator())
    axis.xaxis.set_minor_formatter(NullFormatter())
    axis.set_xticks(counts, [f"{count:,}" for count in counts])
    if len(counts) > 8:
        axis.tick_params(axis="x", labelrotation=45)
    axis.set_xlabel("features: pooled values of all maps (log scale)", fontsize=8)
    axis.set_ylabel("probe test accuracy", fontsize=8)
    axis.set_title(
        f"Linear probe: {int(first['probe_train_images']):,} train, {int(first['probe_test_images']):,} test images",
        fontsize=9,
    )
    axis.grid(True, alpha=0.3)
    axis.tick_params(labelsize=7)
    axis.legend(fontsize=7, loc="lower right")


# Where a point's label may go, in points from the point, nearest first: right, left, above, below.
LABEL_OFFSETS = tuple((dx, dy) for dy in (3, -9, 11, -17, 19, -25, 27, -33) for dx in (5, -5)) + ((0, 35), (0, -41))


def label_probe_points(axis: Any, frame: Any) -> None:
    """Label each configuration's point with its setting, where the label covers no other label, point or the legend.

    Run once the figure is otherwise finished (its layout is then fixed): each label takes
    the first of :data:`LABEL_OFFSETS` whose box, drawn, overlaps nothing placed before and
    stays inside the axes; a label with no free place takes the first.  Points on the front
    are labelled first (in bold), so theirs are the nearest places.
    """
    from matplotlib.transforms import Bbox

    configurations = _configurations(frame).to_dict("records")
    points = [(float(row["probe_features"]), float(row["probe_accuracy"])) for row in configurations]
    front = accuracy_front(points)
    figure = axis.figure
    figure.draw_without_rendering()  # the layout as it will be drawn ...
    figure.set_layout_engine("none")  # ... and kept: the labels are placed in its pixels
    renderer = figure.canvas.get_renderer()
    frame_box = axis.get_window_extent(renderer)
    legend = axis.get_legend()
    taken = [legend.get_window_extent(renderer)] if legend is not None else []
    for x, y in axis.transData.transform(points):
        taken.append(Bbox.from_bounds(x - 5, y - 5, 10, 10))  # the marker
    for index in [*front, *(index for index in range(len(points)) if index not in front)]:
        first = None
        for dx, dy in LABEL_OFFSETS:
            text = axis.annotate(
                configuration_words(configurations[index]),
                points[index],
                xytext=(dx, dy),
                textcoords="offset points",
                ha="left" if dx > 0 else "right" if dx < 0 else "center",
                fontsize=6.5,
                fontweight="bold" if index in front else "normal",
            )
            box = text.get_window_extent(renderer).expanded(1.04, 1.15)
            inside = frame_box.contains(box.x0, box.y0) and frame_box.contains(box.x1, box.y1)
            if inside and not any(box.overlaps(other) for other in taken):
                break
            first = first or (text, box)
            text.remove()
        else:
            text, box = first if first is not None else (text, box)
            axis.add_artist(text)
        taken.append(box)


def _shift_panel(axis: Any, frame: Any) -> None:
    from convsweep.tasks.reporting.render import focus_map

    focus = focus_map(frame)
    frame = frame[frame["map"] == focus]
    settings = [PoolSetting.from_row(row) for row in frame.to_dict("records")]
    frame = frame.assign(pool_words=[setting.short_words for setting in settings])
    pools = list(dict.fromkeys(frame["pool_words"]))
    kinds = [*SHIFT_KINDS, JUMP_KIND]
    width = 0.8 / len(kinds)
    conv_columns = ["resize", "stride", "padding", "pad_mode", "dilation"]
    for offset, (column, label, colour) in enumerate(kinds):
        x = np.arange(len(pools)) + (offset - (len(kinds) - 1) / 2) * width
        means = [float(frame.loc[frame["pool_words"] == pool, column].astype(float).mean()) for pool in pools]
        axis.bar(x, means, width=width * 0.95, color=colour, label=label, zorder=2)
        for position, pool in zip(x, pools, strict=True):
            per_conv = frame[frame["pool_words"] == pool].groupby(conv_columns)[column].mean()
            axis.scatter(
                np.full(len(per_conv), position), per_conv, s=8, color="black", alpha=0.6, zorder=3, linewidths=0
            )
    axis.set_xticks(range(len(pools)), pools, fontsize=8)
    axis.set_ylabel("‖P(x) − P(shift x)‖ / ‖P(x)‖, mean over images", fontsize=8)
    images = int(frame["shift_images"].iloc[0])
    axis.set_title(f"Shift sensitivity of {focus} by pool setting ({images:,} images; 0 = unchanged)", fontsize=9)
    axis.grid(True, axis="y", alpha=0.3, zorder=0)
    axis.tick_params(labelsize=7)
    axis.legend(fontsize=7, title="shift (bars: mean; dots: each conv setting)", title_fontsize=7)


def has_measures(frame: Any) -> bool:
    return "probe_accuracy" in frame.columns or "shift_right" in frame.columns


def measures_figure(frame: Any, *, title: str | None = None) -> Any:
    """The figure of the module docstring for the sizes table ``frame`` (pandas) with measure columns."""
    from convsweep.tasks.reporting.render import _pyplot

    if not has_measures(frame):
        raise ValueError("measures_figure: the rows have no probe_accuracy and no shift_right column")
    plt = _pyplot()
    panels = [name for name, column in (("probe", "probe_accuracy"), ("shift", "shift_right")) if column in frame]
    figure, axes = plt.subplots(1, len(panels), figsize=(7.5 * len(panels), 5.8), layout="constrained", squeeze=False)
    keeps, ignores = "what each configuration keeps (linear probe)", "what it ignores (shift sensitivity)"
    what = {
        ("probe", "shift"): f"{keeps} and {ignores}",
        ("probe",): keeps,
        ("shift",): ignores.replace("it", "each configuration"),
    }[tuple(panels)]
    figure.suptitle(f"{title or 'convsweep'}\n{what}", fontsize=11, fontweight="bold")
    for axis, panel in zip(axes[0], panels, strict=True):
        (_probe_panel if panel == "probe" else _shift_panel)(axis, frame)
    if "probe" in panels:
        label_probe_points(axes[0][0], frame)
    return figure
