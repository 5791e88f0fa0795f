"""``convsweep sweep`` on colour data as a user runs it: CIFAR-10 (Keras' own format, offline) and
scikit-image's photographs, through the CLI, with the each, sum and gray channels."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pandas as pd

from tests.convsweep.conftest import ROOT, run_convsweep
from tests.helpers.cifar import make_colour_split, make_smooth_split, write_cifar_cache, write_hashless_sitecustomize

LABEL = "rnative-s1-psame-zeros-d1"


def is_colour(path: Path) -> bool:
    """A PNG with three channels that are not all equal (OpenCV drops nothing: IMREAD_UNCHANGED)."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, path
    return image.ndim == 3 and not ((image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all())


def check_colour_outputs(out: Path, *, channels: list[str], samples: list[int], label: str) -> pd.DataFrame:
    """sizes.csv has the rows of every channel, the pictures are colour where they should be, the report says so."""
    table = pd.read_csv(out / "sizes.csv", keep_default_na=False)
    expected_channels = [
        channel for mode in channels for channel in ({"each": "RGB", "sum": ["sum"]}.get(mode, [mode]))
    ]
    assert list(dict.fromkeys(table["channel"])) == expected_channels
    per_channel = table.groupby("channel").size()
    assert per_channel.nunique() == 1  # every channel has every configuration and map
    assert set(table.loc[table.channel.isin(list("RGB")), "channels"]) <= {"each"}
    folder = out / "samples" / label
    for index in samples:
        assert is_colour(folder / f"{index}-input.png")  # the input, in colour
        for channel in expected_channels:
            if channel in "RGB":
                assert is_colour(folder / channel / f"{index}-input.png")  # the channel, in its colour
            if channel == "gray":
                assert not is_colour(folder / channel / f"{index}-input.png")
            assert not is_colour(folder / channel / f"{index}-sobel.png")  # maps are gray pictures
    assert is_colour(out / "contact" / f"{label}.png")
    assert is_colour(out / "summary.png")  # the heat map has a row per channel (viridis)
    html = (out / "report.html").read_text()
    assert f"Channels ({', '.join(channels)})" in html and "DepthwiseConv2D" in html
    assert '<th scope="col">channel</th>' in html
    markdown = (out / "report.md").read_text()
    assert "- channels (" in markdown and "| kernel | channels | channel |" in markdown
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {entry["path"] for entry in manifest["files"]}
    assert {f"samples/{label}/{channel}/{samples[0]}-sobel.png" for channel in expected_channels} <= listed
    return table


def test_sweep_cli_cifar10_each_sum_gray_from_a_keras_cache(tmp_path, env):
    home = tmp_path / "keras-home"
    write_cifar_cache(home, "cifar10", train=make_smooth_split(40), test=make_colour_split(12, seed=4))
    shim = write_hashless_sitecustomize(tmp_path / "shim")
    env = dict(env, KERAS_HOME=str(home), KERAS_BACKEND="jax", PYTHONPATH=f"{shim}:{ROOT}")
    done = run_convsweep(
        "sweep",
        "--dataset",
        "cifar10",
        "--split",
        "test",
        "--channels",
        "each,sum,gray",
        "--strides",
        "1",
        "--paddings",
        "same",
        "--pool-modes",
        "none,max",
        "--samples",
        "0,1",
        "--out",
        str(tmp_path / "out"),
        "--name",
        "cifar",
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr + done.stdout
    out = tmp_path / "out" / "cifar"
    table = check_colour_outputs(out, channels=["each", "sum", "gray"], samples=[0, 1], label=LABEL)
    assert len(table) == 5 * 3 * 2  # 5 channels x (sobel_h, sobel_v, sobel) x 2 pool settings
    assert set(table["n_images"]) == {12} and set(table["input_h"]) == {32}
    # the terminal's closing table names each row's channel
    assert "sobel R" in done.stdout and "sobel sum" in done.stdout and "sobel gray" in done.stdout
    assert "airplane, automobile, bird" in (out / "report.html").read_text()  # CIFAR-10's class names


def test_sweep_cli_skimage_photographs_each_sum_resized(tmp_path, env):
    done = run_convsweep(
        "sweep",
        "--dataset",
        "skimage:astronaut,coffee",
        "--split",
        "all",
        "--resize",
        "48",
        "--channels",
        "each,sum",
        "--strides",
        "1,2",
        "--paddings",
        "same",
        "--pool-modes",
        "max",
        "--samples",
        "0,1",
        "--out",
        str(tmp_path / "out"),
        "--name",
        "photos",
        env=dict(env, KERAS_BACKEND="jax"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "out" / "photos"
    table = check_colour_outputs(out, channels=["each", "sum"], samples=[0, 1], label="r48-s1-psame-zeros-d1")
    assert len(table) == 4 * 2 * 3  # 4 channels x 2 strides x 3 maps
    assert set(table["conv_input_h"]) == {48}
    assert (out / "contact" / "r48-s2-psame-zeros-d1.png").is_file()
