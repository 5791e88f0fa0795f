"""Pictures: gray mappings (reversible by their scale), the summary figure for the README's largest sweep and a
1-value sweep, contact sheets; and every wording of a setting is the setting's own words."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from convsweep.tasks.io import files
from convsweep.tasks.model import ConvSetting, PoolSetting, padding_label, pair_label
from convsweep.tasks.reporting import render
from convsweep.tasks.reporting.render import magnitude_to_gray, signed_to_gray, to_gray
from tests.helpers.sweep_rows import BIG, ONE, synthetic_rows


def _texts_and_boxes(figure):
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    title = figure._suptitle
    legends = [*figure.legends, *(legend for sub in figure.subfigs for legend in sub.legends)]
    legends += [axis.get_legend() for axis in figure.get_axes() if axis.get_legend() is not None]
    return renderer, title, legends


@pytest.mark.parametrize("shape, panels", [(BIG, 3 * 4), (ONE, 1)], ids=["big", "one-value"])
def test_summary_figure_legends_fit_and_title_is_never_covered(shape, panels):
    rows = synthetic_rows(**shape)
    figure = render.summary_figure(pd.DataFrame(rows), title="convsweep: big")
    try:
        renderer, title, legends = _texts_and_boxes(figure)
        size_axes = [
            axis
            for axis in figure.get_axes()
            if axis.get_xlabel() == "conv stride (rows)" or "padding" in axis.get_title()
        ]
        assert len(size_axes) == panels
        # Legends: at most 8 entries each, no legend inside any axes.
        assert legends, "the figure has a shared legend"
        for legend in legends:
            assert len(legend.legend_handles) <= 8
        assert all(axis.get_legend() is None for axis in figure.get_axes())
        # The title is inside the figure and overlaps no legend and no axes (nor its tick labels).
        title_box = title.get_window_extent(renderer)
        figure_box = figure.bbox
        assert title_box.x0 >= figure_box.x0 and title_box.x1 <= figure_box.x1
        assert title_box.y0 >= figure_box.y0 and title_box.y1 <= figure_box.y1
        for legend in legends:
            assert not title_box.overlaps(legend.get_window_extent(renderer))
        for axis in figure.get_axes():
            assert not title_box.overlaps(axis.get_tightbbox(renderer)), axis.get_title()
        # Integer axes get integer ticks.
        for axis in size_axes:
            for ticks in (axis.get_xticks(), axis.get_yticks()):
                assert np.all(ticks == np.round(ticks)), ticks
        # One colour, one meaning: the conv output is black and each pool window has one colour in every panel.
        colours_by_label: dict[str, set] = {}
        for axis in size_axes:
            for line in axis.get_lines():
                colours_by_label.setdefault(line.get_color(), set()).add(line.get_marker())
        assert all(len(markers) == 1 for markers in colours_by_label.values())
    finally:
        render.close(figure)


def test_summary_figure_reads_the_csv_back_the_same():
    rows = synthetic_rows(**BIG)
    frame = pd.read_csv(io.StringIO(pd.DataFrame(rows).to_csv(index=False)))

    def png(data):
        figure = render.summary_figure(data, title="t")
        try:
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", metadata={"Software": None}, dpi=40)
            return buffer.getvalue()
        finally:
            render.close(figure)

    assert png(frame) == png(pd.DataFrame(rows))


def test_contact_sheet_true_sizes_and_titles(tmp_path):
    big = np.full((28, 28), 200, dtype=np.uint8)
    small = np.arange(49, dtype=np.uint8).reshape(7, 7)
    rows = [
        ("#0\nlabel 7", [("input", big), ("sobel\nmax 2×2 / stride 2", small)]),
        ("#1\nlabel 2", [("input", big), ("sobel\nmax 2×2 / stride 2", small)]),
    ]
    figure = render.contact_sheet(rows, title="conv stride 2")
    try:
        figure.canvas.draw()
        (axis,) = figure.get_axes()  # one axes for the whole grid
        texts = [text.get_text() for text in axis.texts]
        assert texts == ["input\n28×28", "sobel\nmax 2×2 / stride 2\n7×7", "#0\nlabel 7", "#1\nlabel 2"]
        assert figure.get_suptitle() == "conv stride 2"

        # Every cell's pixels are in the drawn canvas, centred in its cell, on a white background.
        canvas = axis.get_images()[0].get_array()
        frames = [(int(p.get_x() + 0.5), int(p.get_y() + 0.5), p.get_width(), p.get_height()) for p in axis.patches]
        assert [(w, h) for _, _, w, h in frames] == [(28, 28), (7, 7), (28, 28), (7, 7)]
        for (left, top, width, height), image in zip(frames, [big, small, big, small], strict=True):
            assert (canvas[top : top + height, left : left + width, 0] == image).all()
        # No cell pixel is 255 here, so the white ones are exactly the background.
        assert (canvas == 255).sum() == canvas.size - 3 * (2 * 28 * 28 + 2 * 7 * 7)

        # True relative size: on the page the 7x7 map is a quarter as wide and as tall as the 28x28 input.
        renderer = figure.canvas.get_renderer()
        (input_box, map_box) = (patch.get_window_extent(renderer) for patch in axis.patches[:2])
        assert map_box.width / input_box.width == pytest.approx(7 / 28, rel=0.03)
        assert map_box.height / input_box.height == pytest.approx(7 / 28, rel=0.03)
        # Nothing drawn falls outside the figure (titles and labels fit their margins).
        figure_box = figure.bbox
        for artist in [*axis.texts, figure._suptitle]:
            box = artist.get_window_extent(renderer)
            assert box.x0 >= figure_box.x0 and box.x1 <= figure_box.x1
            assert box.y0 >= figure_box.y0 and box.y1 <= figure_box.y1
        one = files.write_figure(tmp_path / "a.png", figure, dpi=50).read_bytes()
        two = files.write_figure(tmp_path / "b.png", figure, dpi=50).read_bytes()
        assert one == two
    finally:
        render.close(figure)


def test_pool_and_conv_words():
    assert render.pool_text("max", "2", "2", "valid") == "max 2×2 / stride 2"
    assert render.pool_text("avg", "3x2", "1", "same") == "avg 3×2 / stride 1, pad same"
    assert render.pool_text("max", "2", "2", "valid", ceil_mode=True) == "max 2×2 / stride 2 (ceil mode)"
    assert render.pool_text("none") == "no pooling"
    assert render.conv_text(resize="27", stride="2", padding="same", pad_mode="zeros", dilation="1") == (
        "resize 27×27 · conv stride 2 · padding same (zeros) · dilation 1"
    )


POOLS = [
    PoolSetting("max", (2, 2), (2, 2), "valid"),
    PoolSetting("avg", (3, 2), (1, 2), "same", ceil_mode=True),
    PoolSetting("max", (3, 3), (2, 2), (1, 0)),
    PoolSetting("none", None, None, None),
]
CONVS = [
    ConvSetting(None, (1, 1), "valid", "zeros", (1, 1)),
    ConvSetting((27, 20), (1, 2), (0, 1, 2, 3), "reflect", (2, 1)),
]


@pytest.mark.parametrize("pool", POOLS, ids=lambda pool: pool.label)
def test_every_pool_wording_is_the_settings_words(pool):
    """Each place that puts a pool setting into words says what PoolSetting.words / short_words says."""
    from convsweep.tasks.reporting.model import setting_words, sweep_parameters
    from convsweep.tasks.reporting.samples import _pool_words as sample_words
    from convsweep.terminal import _pool_words as terminal_words

    row = build_rows_of(pool)
    assert PoolSetting.from_row(row) == pool  # the row gives the setting back, ceil mode included
    cells = [str(row[key]) for key in ("pool_mode", "pool_size", "pool_stride", "pool_padding")]
    assert render.pool_text(*cells, ceil_mode=pool.ceil_mode) == pool.words
    assert sample_words(pool) == pool.words
    assert sweep_parameters([row])[6] == ("pooling", pool.words)
    pools, _ = setting_words([row])
    assert pools == ({} if pool.mode == "none" else {pool.label: pool.short_words})
    text_row = {key: str(value) for key, value in row.items()}
    expected = "none" if pool.mode == "none" else " ".join(pool.word_parts(times="x").values())
    assert terminal_words(text_row, set()) == expected


@pytest.mark.parametrize("conv", CONVS, ids=lambda conv: conv.label)
def test_every_conv_wording_is_the_settings_words(conv):
    from convsweep.tasks.reporting.model import setting_words
    from convsweep.tasks.reporting.samples import _sheet_title

    row = build_rows_of(POOLS[0], conv)
    assert ConvSetting.from_row(row) == conv
    assert render.conv_text(**{key: row[key] for key in ("resize", "stride", "padding", "pad_mode", "dilation")}) == (
        conv.words
    )
    assert _sheet_title(conv).startswith(f"{conv.label}: {conv.words}\n")
    assert setting_words([row])[1] == {conv.label: conv.words}


def build_rows_of(pool, conv=None):
    """One row of sizes.csv for ``pool`` (and ``conv``) as build_rows writes its setting cells."""
    conv = conv or CONVS[0]
    row = {
        "map": "sobel",
        "kernel_h": 3,
        "kernel_w": 3,
        "map_kind": "magnitude",
        "resize": "native" if conv.resize is None else pair_label(conv.resize),
        "stride": pair_label(conv.stride),
        "padding": padding_label(conv.padding),
        "pad_mode": conv.pad_mode,
        "dilation": pair_label(conv.dilation),
    }
    if pool.mode == "none":
        row.update(pool_mode="none", pool_size="", pool_stride="", pool_padding="", pool_formula="")
    else:
        rounding = "ceil" if pool.ceil_mode else "floor"
        row.update(
            pool_mode=pool.mode,
            pool_size=pair_label(pool.size),
            pool_stride=pair_label(pool.stride),
            pool_padding=padding_label(pool.padding),
            pool_formula=f"{rounding}((26 + 0 + 0 - 2) / 2) + 1 = 13",
        )
    return row


def test_contact_sheet_row_labels_name_the_class():
    from types import SimpleNamespace

    from convsweep.tasks.reporting.samples import _row_label

    view = SimpleNamespace(labels=np.array([9, 2]))
    assert _row_label(view, [f"c{i}" for i in range(10)], 0) == "#0\nc9"
    assert _row_label(view, None, 1) == "#1\nlabel 2"
    assert _row_label(SimpleNamespace(labels=None), None, 1) == "#1"


def test_signed_to_gray_zero_is_mid_gray_and_extremes_are_black_and_white():
    values = np.array([[-4.0, 0.0, 2.0, 4.0]], np.float32)
    gray, scale = signed_to_gray(values)
    assert scale == 4.0
    assert gray.dtype == np.uint8
    assert gray.tolist() == [[0, 128, 191, 255]]  # 127.5 + 127.5 * x / 4, rounded half to even


def test_signed_to_gray_all_zero_is_flat_mid_gray():
    gray, scale = signed_to_gray(np.zeros((2, 3), np.float32))
    assert scale == 0.0 and (gray == 128).all()


def test_magnitude_to_gray_scales_max_to_white():
    values = np.array([[0.0, 1.0], [2.0, 4.0]], np.float32)
    gray, scale = magnitude_to_gray(values)
    assert scale == 4.0
    assert gray.tolist() == [[0, 64], [128, 255]]


def test_magnitude_to_gray_all_zero_is_black():
    gray, scale = magnitude_to_gray(np.zeros((3, 3), np.float32))
    assert scale == 0.0 and (gray == 0).all()


def test_to_gray_scale_undoes_the_mapping_within_half_a_gray_level():
    rng = np.random.default_rng(1)
    signed = rng.standard_normal((8, 8)).astype(np.float32) * 300
    gray, scale = to_gray(signed, signed=True)
    recovered = (gray.astype(np.float64) - 127.5) / 127.5 * scale
    assert np.abs(recovered - signed).max() <= scale / 255 + 1e-9
    magnitude = np.abs(signed)
    gray, scale = to_gray(magnitude, signed=False)
    assert np.abs(gray.astype(np.float64) / 255 * scale - magnitude).max() <= scale / 510 + 1e-9


def test_to_gray_keeps_uint8_input_as_read():
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    gray, scale = to_gray(image, signed=True)
    assert gray is image and scale == 1.0
