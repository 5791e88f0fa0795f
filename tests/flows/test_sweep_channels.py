"""The sweep flow with channels: each (R, G, B on their own), sum (Conv2D), gray, on a real photograph."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import conv_core
from tasks.compute import summarize
from tasks.datasets import read_images
from tests.flows.test_sweep import run


def test_sweep_channels_each_sum_gray_rows_equal_conv_core_per_channel(tmp_path):
    result, _ = run(
        tmp_path,
        tmp_path,
        name="channels",  # its own: the artifact keys are by sweep name
        dataset="skimage:astronaut",
        split="all",
        resize=[32],
        channels="each,sum,gray",
        strides=[2],
        paddings=["same"],
        kernels=["sobel_h", "sobel_v"],
        pool_modes=["none", "max"],
        samples=[0],
    )
    table = pd.read_csv(result["csv"], keep_default_na=False)  # pool_mode "none" stays a word
    assert list(table.columns[table.columns.get_loc("map") + 1 :][:2]) == ["channels", "channel"]
    assert table.groupby(["channels", "channel"]).size().to_dict() == {
        ("each", "R"): 6,  # 3 maps (sobel_h, sobel_v, sobel) x 2 pool settings
        ("each", "G"): 6,
        ("each", "B"): 6,
        ("sum", "sum"): 6,
        ("gray", "gray"): 6,
    }

    rgb = read_images("skimage:astronaut", split="all", colour=True).images
    gray = read_images("skimage:astronaut", split="all").images
    resized_rgb = conv_core.resize(rgb, (32, 32), channels_last=True)
    resized_gray = conv_core.resize(gray, (32, 32))
    options = dict(stride=2, padding="same")
    sobel_h, sobel_v = conv_core.kernels.get("sobel_h"), conv_core.kernels.get("sobel_v")
    expected: dict[tuple[str, str], np.ndarray] = {}
    for mode, images in (("each", resized_rgb), ("sum", resized_rgb), ("gray", resized_gray)):
        horizontal = conv_core.conv2d(images, sobel_h, channels=mode, **options)
        vertical = conv_core.conv2d(images, sobel_v, channels=mode, **options)
        magnitude = conv_core.sobel_magnitude(horizontal, vertical)
        if mode == "each":
            for index, channel in enumerate("RGB"):
                expected[("each", channel)] = magnitude[..., index]
        else:
            expected[(mode, mode)] = magnitude
    for (mode, channel), magnitude in expected.items():
        rows = table[(table.channels == mode) & (table.channel == channel) & (table["map"] == "sobel")]
        unpooled = rows[rows.pool_mode == "none"].iloc[0]
        stats = summarize(magnitude)
        assert unpooled["mean"] == pytest.approx(stats["mean"], abs=1e-6), (mode, channel)
        assert unpooled["max"] == pytest.approx(stats["max"], abs=1e-6), (mode, channel)
        assert unpooled["min"] == pytest.approx(stats["min"], abs=1e-6), (mode, channel)
        pooled = rows[rows.pool_mode == "max"].iloc[0]
        assert pooled["max"] == pytest.approx(float(magnitude.max()), abs=1e-6)
        pooled_mean = float(conv_core.pool2d(magnitude, 2, mode="max").mean(dtype=np.float64))
        assert pooled["mean"] == pytest.approx(pooled_mean, abs=1e-6)
    # the three channels differ from one another and from their sum: the photograph is in colour
    means = {key: round(float(value.mean()), 3) for key, value in expected.items()}
    assert len(set(means.values())) == len(means)
