"""What the Prefect UI shows: short dataset names, tags, pictures sized for a browser, varying columns."""

from __future__ import annotations

import base64

import cv2
import numpy as np
import pytest

from convsweep.tasks.io import files
from convsweep.tasks.prefect_glue import artifacts
from convsweep.tasks.prefect_glue.artifact_table import table_artifact
from convsweep.tasks.reporting import images as page_images


def decode(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    data = np.frombuffer(base64.b64decode(uri.split(",", 1)[1]), dtype=np.uint8)
    return cv2.imdecode(data, cv2.IMREAD_UNCHANGED)


@pytest.mark.parametrize(
    ("spec", "label", "kind"),
    [
        ("fashion_mnist", "fashion_mnist", "fashion_mnist"),
        ("idx:/work/shared/datasets/mnist-t10k", "idx/mnist-t10k", "idx"),
        ("idx:/data/scans/", "idx/scans", "idx"),
        ("images:/photos/cats", "images/cats", "images"),
        ("sample", "sample", "sample"),
    ],
)
def test_dataset_label_and_kind_of_each_spec_form(spec, label, kind):
    assert artifacts.dataset_label(spec) == label
    assert artifacts.dataset_kind(spec) == kind


def test_sweep_tags_name_the_sweep_and_the_dataset_kind():
    assert artifacts.sweep_tags("mnist", "idx:/data/mnist") == ["convsweep", "sweep:mnist", "dataset:idx"]


def test_artifact_key_keeps_lowercase_letters_digits_and_dashes():
    assert artifacts.artifact_key("My_Sweep 2", "report") == "my-sweep-2-report"


def test_map_cell_uri_enlarges_a_13x13_map_by_8_with_every_pixel_a_square(tmp_path):
    checker = (np.indices((13, 13)).sum(axis=0) % 2 * 255).astype(np.uint8)
    path = tmp_path / "map.png"
    cv2.imwrite(str(path), checker)
    uri, shown_h, shown_w, true_h, true_w = page_images.map_cell_uri(path, cell=100)
    # The smallest integer factor that reaches 100 px: ceil(100 / 13) = 8 -> 104 px.
    assert (shown_h, shown_w, true_h, true_w) == (104, 104, 13, 13)
    shown = decode(uri)
    assert shown.shape == (104, 104)  # stored as 8-bit gray
    np.testing.assert_array_equal(shown, np.kron(checker, np.ones((8, 8), np.uint8)))  # no smoothing


def test_map_cell_uri_shrinks_a_picture_larger_than_twice_the_cell(tmp_path):
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), np.full((600, 512), 200, np.uint8))
    _, shown_h, shown_w, true_h, true_w = page_images.map_cell_uri(path, cell=100)
    assert (shown_h, shown_w, true_h, true_w) == (100, 85, 600, 512)


def test_png_data_uri_caps_the_width_and_stores_gray_pictures_as_gray(tmp_path):
    picture = np.zeros((400, 2000, 4), np.uint8)
    picture[:, :, :3] = 90
    picture[:, :, 3] = 255  # opaque gray RGBA, as matplotlib writes figures
    path = tmp_path / "sheet.png"
    cv2.imwrite(str(path), picture)
    uri, width, height = page_images.png_data_uri(path, max_width=500)
    assert (width, height) == (500, 100)
    shown = decode(uri)
    assert shown.shape == (100, 500) and int(shown.max()) == int(shown.min()) == 90


def test_png_data_uri_rejects_a_zero_width():
    with pytest.raises(ValueError, match="max_width=0"):
        page_images.png_data_uri("unused.png", max_width=0)


def test_split_constant_columns_leads_with_the_given_varying_columns():
    rows = [
        {"dataset": "idx:/d", "map": "a", "kernel": "a", "stride": 1, "pad": 0, "mean": 0.5},
        {"dataset": "idx:/d", "map": "b", "kernel": "b", "stride": 1, "pad": 1, "mean": 0.7},
    ]
    varying, constant = page_images.split_constant_columns(rows, leading=["kernel", "mean"], omit=("map",))
    assert varying == ["kernel", "mean", "pad"]
    assert constant == {"dataset": "idx:/d", "stride": 1}


def test_split_constant_columns_names_an_unknown_leading_column():
    with pytest.raises(ValueError, match=r"leading=\['nope'\]"):
        page_images.split_constant_columns([{"a": 1}], leading=["nope"])


def test_table_artifact_moves_the_constant_columns_to_its_description(tmp_path):
    base = {
        "dataset": "idx:/data/mnist",
        "split": "test",
        "n_images": 10000,
        "input_h": 28,
        "input_w": 28,
        "map": "sobel",
        "kernel": "sobel",
        "stride": "1",
        "conv_h": 26,
        "pool_mode": "max",
        "pool_h": 13,
        "mean": 1.0,
        "compute_seconds": 0.5,
    }
    rows = [base, {**base, "stride": "2", "conv_h": 13, "pool_h": 6, "mean": 2.0, "compute_seconds": 0.25}]
    table, description = table_artifact("mnist", rows, tmp_path)
    assert [list(row) for row in table] == [["stride", "conv_h", "pool_h", "mean", "compute_seconds"]] * 2
    assert table[1] == {"stride": "2", "conv_h": 13, "pool_h": 6, "mean": 2.0, "compute_seconds": 0.25}
    assert "dataset `idx:/data/mnist` · split test · 10,000 images of 28×28" in description
    assert "kernel sobel · pool_mode max" in description
    assert f"`{(tmp_path / 'sizes.csv').resolve()}`" in description


def test_png_data_uri_embeds_a_png_within_the_width_as_it_is(tmp_path):
    path = files.write_png(tmp_path / "map.png", np.arange(600, dtype=np.uint16).reshape(20, 30).astype(np.uint8))
    uri, width, height = page_images.png_data_uri(path, max_width=30)
    assert (width, height) == (30, 20)
    assert base64.b64decode(uri.split(",", 1)[1]) == path.read_bytes()  # no decode, no re-encode


def test_write_figure_stores_a_gray_figure_as_gray_and_a_coloured_one_as_rgb(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gray = plt.figure(figsize=(2, 1))
    gray.text(0.5, 0.5, "gray text", color="0.3")
    colour = plt.figure(figsize=(2, 1))
    colour.patch.set_facecolor("#1f77b4")
    try:
        gray_pixels = decode(page_images._uri(files.write_figure(tmp_path / "g.png", gray, dpi=50).read_bytes()))
        colour_pixels = decode(page_images._uri(files.write_figure(tmp_path / "c.png", colour, dpi=50).read_bytes()))
    finally:
        plt.close(gray)
        plt.close(colour)
    assert gray_pixels.shape == (50, 100) and int(gray_pixels.min()) < 128  # one channel, the text drawn
    assert colour_pixels.shape == (50, 100, 3)
    assert colour_pixels[0, 0].tolist() == [180, 119, 31]  # #1f77b4 in OpenCV's BGR order
