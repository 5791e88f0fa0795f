"""Sample pictures: exact at small sizes, block-mean previews of large ones, bounded memory (convsweep.tasks.samples)."""

from __future__ import annotations

from unittest import mock

import numpy as np

import convsweep.tasks.reporting.samples as samples
from convsweep.tasks.chunk.maps import compute_maps
from convsweep.tasks.model import ConvSetting, PoolSetting
from convsweep.tasks.reporting import render
from convsweep.tasks.reporting.samples import Preview, preview_factor, sample_pictures

KERNELS = {
    "sobel_h": [[1, 2, 1], [0, 0, 0], [-1, -2, -1]],
    "sobel_v": [[1, 0, -1], [2, 0, -2], [1, 0, -1]],
}
CONV = ConvSetting(resize=None, stride=(2, 1), padding="same", pad_mode="reflect", dilation=(1, 1))
POOLS = [
    PoolSetting("none", None, None, None),
    PoolSetting("avg", (3, 2), (2, 2), "same"),
]


def _image(height=21, width=17, seed=5):
    return np.random.default_rng(seed).integers(0, 256, size=(height, width), dtype=np.uint8)


def test_preview_factor_is_one_up_to_the_cap_then_ceil_of_the_ratio():
    assert preview_factor(1024, 700) == 1
    assert preview_factor(1025, 10) == 2
    assert preview_factor(10_000, 10_000) == 10


def test_preview_of_factor_two_is_the_mean_of_two_by_two_blocks_with_partial_edges():
    values = np.arange(15, dtype=np.float32).reshape(3, 5)
    preview = Preview(2)
    preview.add(values[:1])
    preview.add(values[1:])
    expected = [
        [(0 + 1 + 5 + 6) / 4, (2 + 3 + 7 + 8) / 4, (4 + 9) / 2],
        [(10 + 11) / 2, (12 + 13) / 2, 14],
    ]
    np.testing.assert_array_equal(preview.picture(), expected)
    assert (preview.abs_max, preview.max) == (14.0, 14.0)


def test_sample_pictures_equal_the_whole_maps_drawn_with_render_to_gray():
    image = _image()
    pictures, factor = sample_pictures(image, conv=CONV, kernels=KERNELS, pools=POOLS)
    resized, maps = compute_maps(image[np.newaxis], conv=CONV, kernels=KERNELS)
    assert factor == 1
    assert set(pictures) == {"input", "sobel_h", "sobel_v", "sobel"} | {
        f"{name}-avg3x2-s2-psame" for name in ("sobel_h", "sobel_v", "sobel")
    }
    np.testing.assert_array_equal(pictures["input"][0], resized[0])
    for name, values in maps.items():
        signed = name != "sobel"
        gray, scale = render.to_gray(values[0], signed=signed)
        np.testing.assert_array_equal(pictures[name][0], gray)
        assert pictures[name][1] == scale
        pooled_gray, pooled_scale = render.to_gray(POOLS[1].apply(values)[0], signed=signed)
        np.testing.assert_array_equal(pictures[f"{name}-avg3x2-s2-psame"][0], pooled_gray)
        assert pictures[f"{name}-avg3x2-s2-psame"][1] == pooled_scale


def test_sample_pictures_in_bands_of_rows_are_the_same_pictures():
    image = _image()
    whole, _ = sample_pictures(image, conv=CONV, kernels=KERNELS, pools=POOLS)
    with mock.patch.object(samples, "band_rows", return_value=2):
        banded, _ = sample_pictures(image, conv=CONV, kernels=KERNELS, pools=POOLS, memory_budget=1)
    assert set(banded) == set(whole)
    for stage, (gray, scale) in whole.items():
        np.testing.assert_array_equal(banded[stage][0], gray)
        assert banded[stage][1] == scale


def test_sample_pictures_of_a_large_image_are_previews_with_the_full_maps_scale():
    image = _image(40, 30)
    whole, _ = sample_pictures(image, conv=CONV, kernels=KERNELS, pools=POOLS)
    with mock.patch.object(samples, "SAMPLE_MAX_SIDE", 8):
        previews, factor = sample_pictures(image, conv=CONV, kernels=KERNELS, pools=POOLS)
    assert factor == 5  # ceil(40 / 8)
    assert previews["input"][0].shape == (8, 6)
    assert previews["sobel_h"][0].shape == (4, 6)  # the 20x30 map (stride 2 rows), reduced 5x
    for stage in whole:
        assert previews[stage][1] == (1.0 if stage == "input" else whole[stage][1])
    # the input preview is the rounded mean of its 5x5 blocks
    assert previews["input"][0][0, 0] == np.rint(image[:5, :5].mean())
