"""The sweep flow with channels: each (R, G, B on their own), sum (Conv2D), gray, on a real photograph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from convsweep import conv_core
from convsweep.conv_core.stats import summarize
from convsweep.tasks.datasets import read_images
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


def test_sweep_colour_keep_maps_pictures_and_manifest_per_channel(tmp_path):
    import cv2

    from tests.flows.test_sweep import assert_manifest_matches_folder

    result, _ = run(
        tmp_path,
        tmp_path,
        name="channel-maps",
        dataset="skimage:astronaut",
        split="all",
        resize=[32],
        channels="each,sum",
        strides=[1],
        paddings=["same"],
        kernels=["sobel_h", "sobel_v"],
        pool_modes=["max"],
        samples=[0],
        keep_maps=True,
    )
    out = Path(result["output_dir"])
    rgb = conv_core.resize(
        read_images("skimage:astronaut", split="all", colour=True).images, (32, 32), channels_last=True
    )
    sobel_h = conv_core.kernels.get("sobel_h")
    label = "r32-s1-psame-zeros-d1"
    each = conv_core.conv2d(rgb, sobel_h, channels="each", padding="same")
    for index, channel in enumerate("RGB"):
        kept = np.load(out / "maps" / label / channel / "sobel_h" / "0000000-0000001.npy")
        np.testing.assert_array_equal(kept, each[..., index])
    summed = np.load(out / "maps" / label / "sum" / "sobel_h" / "0000000-0000001.npy")
    np.testing.assert_array_equal(summed, conv_core.conv2d(rgb, sobel_h, channels="sum", padding="same"))
    assert_manifest_matches_folder(out)  # the colour maps and pictures are listed, nothing else

    samples = out / "samples" / label
    shown = cv2.imread(str(samples / "0-input.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(shown[..., ::-1], rgb[0])  # the input in colour, RGB (the file is BGR)
    for index, channel in enumerate("RGB"):
        tinted = cv2.imread(str(samples / channel / "0-input.png"), cv2.IMREAD_UNCHANGED)[..., ::-1]
        np.testing.assert_array_equal(tinted[..., index], rgb[0, ..., index])  # the channel, in its own colour
        assert not np.delete(tinted, index, axis=2).any()
        assert (samples / channel / "0-sobel_h-max2-s2-pvalid.png").is_file()
    assert not (samples / "sum" / "0-input.png").exists()  # a sum row's input is the RGB one
    summed_picture = cv2.imread(str(samples / "sum" / "0-sobel.png"), cv2.IMREAD_UNCHANGED)
    assert summed_picture.shape == (32, 32)  # one gray map per kernel
    sheet = cv2.imread(str(out / "contact" / f"{label}.png"), cv2.IMREAD_UNCHANGED)
    assert sheet.ndim == 3 and not (sheet[..., 0] == sheet[..., 2]).all()  # a colour contact sheet


def test_sweep_colour_folder_grown_by_one_image_recomputes_only_the_new_colour_chunks(tmp_path):
    from convsweep.tasks.io import files

    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, size=(7, 12, 10, 3), dtype=np.uint8)
    images[..., 0] = 255 - images[..., 1]  # channels differ
    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(6):
        files.write_png(folder / f"img-{index:02d}.png", images[index])
    parameters = dict(
        name="channel-growth",
        dataset=f"images:{folder}",
        channels="each,sum",
        strides=[1],
        paddings=["valid"],
        pool_modes=["max"],
        chunk_size=2,  # 6 images: chunks 0-2, 2-4, 4-6; a 7th image: one new chunk 6-7
        samples=[0],
    )
    run(tmp_path, tmp_path, **parameters)
    files.write_png(folder / "img-06.png", images[6])
    grown, states = run(tmp_path, tmp_path, **parameters)
    chunk_states = {name: state for name, state in states.items() if name.startswith("chunk")}
    assert len(chunk_states) == 4 * 4  # R, G, B, sum x 4 chunks
    for name, state in chunk_states.items():
        assert state == ("Completed" if "-6-7-" in name else "Cached"), name
    assert {state for name, state in states.items() if name.startswith("samples")} == {"Cached"}
    table = pd.read_csv(grown["csv"], keep_default_na=False)
    red = table[(table.channel == "R") & (table["map"] == "sobel_h") & (table.pool_mode == "max")].iloc[0]
    assert red["n_images"] == 7
