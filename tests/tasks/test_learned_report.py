"""convsweep.tasks.learned_report: learned.csv's rows and the panel's pictures."""

from __future__ import annotations

import numpy as np
import pytest

from convsweep.conv_core import kernels as kernel_library
from convsweep.tasks.model import ConvSetting
from convsweep.tasks.model.records import LearnedRow
from convsweep.tasks.reporting import learned as learned_report
from convsweep.tasks.reporting import render

SOBEL_H = kernel_library.get("sobel_h")


def test_learned_rows_only_the_learned_kernels_with_their_nearest():
    kernels = {
        "sobel_v": kernel_library.get("sobel_v").tolist(),
        "learned_0": (-0.2 * SOBEL_H).tolist(),
        "model_1": (0.5 * kernel_library.get("laplacian") + 0.01).tolist(),
    }
    rows = learned_report.learned_rows(kernels)
    assert [(row.kernel, row.nearest, row.similarity) for row in rows] == [
        ("learned_0", "sobel_h", 1.0),
        ("model_1", "laplacian", 1.0),
    ]
    assert rows[0].norm == pytest.approx(0.2 * np.linalg.norm(SOBEL_H), abs=1e-6)
    text = learned_report.csv_text(rows)
    assert text.splitlines()[0] == "kernel,nearest,similarity,norm"
    assert text.splitlines()[1] == f"learned_0,sobel_h,1.000000,{0.2 * np.linalg.norm(SOBEL_H):.6f}"


def test_matching_sign_turns_the_designed_kernel_towards_the_learned_one():
    assert learned_report.matching_sign(-SOBEL_H, SOBEL_H) == -1.0
    assert learned_report.matching_sign(2 * SOBEL_H + 1, SOBEL_H) == 1.0
    smoothing = kernel_library.get("gaussian3")
    assert learned_report.matching_sign(1 - smoothing, smoothing) == 1.0  # not zero-sum: never negated


def test_enlarged_kernel_is_signed_gray_blocks():
    picture = learned_report.enlarged_kernel(SOBEL_H, side=27)
    assert picture.shape == (27, 27) and picture.dtype == np.uint8
    assert picture[0, 9] == 255 and picture[26, 9] == 0 and picture[13, 13] == 128  # +2 white, -2 black, 0 mid-gray
    assert (picture[:9, :9] == picture[0, 0]).all()  # one weight, one 9x9 block


def test_panel_rows_one_row_per_learned_kernel_with_maps_of_each_sample():
    rows = [LearnedRow(kernel="learned_0", nearest="sobel_h", similarity=1.0, norm=1.0)]
    images = np.zeros((2, 10, 10), dtype=np.uint8)
    images[:, 5:, :] = 200
    conv = ConvSetting(resize=None, stride=(1, 1), padding="valid", pad_mode="zeros", dilation=(1, 1))
    sheet = learned_report.panel_rows(rows, {"learned_0": (-SOBEL_H).tolist()}, images, conv=conv)
    label, cells = sheet[0]
    assert label == "learned_0\n≈ −sobel_h\n1.00"
    assert [title for title, _ in cells] == [
        "learned kernel",
        "its map #0",
        "its map #1",
        "nearest designed (sign matched)",
        "its map #0",
        "its map #1",
    ]
    np.testing.assert_array_equal(cells[1][1], cells[4][1])  # -sobel_h drawn as the learned kernel is
    assert cells[0][1].shape == (6, 6)  # beside 8x8 maps: each weight a 8 // 3 = 2 pixel block


@pytest.mark.parametrize("side", [3, 5])
def test_kernel_sizes_label_the_panel_with_the_kernels_real_size(side):
    # A 3x3 kernel beside 26x26 maps is drawn as 24x24 blocks: the column says 3x3, not 24x24.
    kernel = np.zeros((side, side))
    kernel[0, :], kernel[-1, :] = -1.0, 1.0
    nearest = "sobel_h" if side == 3 else "gaussian5"
    rows = [LearnedRow(kernel="learned_0", nearest=nearest, similarity=0.5, norm=1.0)]
    images = np.zeros((1, 28, 28), dtype=np.uint8)
    conv = ConvSetting(resize=None, stride=(1, 1), padding="valid", pad_mode="zeros", dilation=(1, 1))
    kernels = {"learned_0": kernel.tolist()}
    sheet = learned_report.panel_rows(rows, kernels, images, conv=conv)
    sizes = learned_report.kernel_sizes(rows, kernels, samples=1)
    figure = render.contact_sheet(sheet, title="t", sizes=sizes)
    try:
        texts = [text.get_text() for text in figure.axes[0].texts]
    finally:
        render.close(figure)
    map_side = 28 - side + 1
    assert texts[:4] == [
        f"learned kernel\n{side}×{side} weights",
        f"its map #0\n{map_side}×{map_side}",
        f"nearest designed (sign matched)\n{side}×{side} weights",
        f"its map #0\n{map_side}×{map_side}",
    ]
    assert not any(f"{map_side - map_side % side}×" in text for text in texts)  # no enlarged picture's size
