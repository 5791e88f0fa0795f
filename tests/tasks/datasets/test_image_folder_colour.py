"""images: folders read in colour: RGB order, alpha dropped (said once), grey broadcast, 16 bits."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from convsweep.tasks.datasets import fingerprint, image_folder, open_dataset, read_images


def write_rgb(path, rgb):
    """Write an (h, w, 3) RGB or (h, w, 4) RGBA image with OpenCV (which wants BGR[A])."""
    path.parent.mkdir(parents=True, exist_ok=True)
    bgr = rgb[:, :, [2, 1, 0, 3][: rgb.shape[2]]]
    assert cv2.imwrite(str(path), bgr)
    return path


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch):
    monkeypatch.setattr(image_folder, "_WARNED_ALPHA", set())
    monkeypatch.setattr(image_folder, "_WARNED_16_BIT", set())


def test_colour_folder_is_rgb_channels_last(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, 6, 7, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        write_rgb(tmp_path / f"{i}.png", image)
    data = read_images(f"images:{tmp_path}", colour=True)
    np.testing.assert_array_equal(data.images, images)  # red stays in channel 0
    assert data.channels == 3 and "decoded to RGB" in data.source
    assert data.fingerprint == fingerprint(images)
    grey = read_images(f"images:{tmp_path}")
    assert grey.images.shape == (3, 6, 7) and grey.fingerprint != data.fingerprint


def test_colour_folder_drops_alpha_and_says_so_once(tmp_path):
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 10
    write_rgb(tmp_path / "a.png", rgba)
    write_rgb(tmp_path / "b.png", rgba)
    with pytest.warns(UserWarning, match="alpha channel dropped") as caught:
        data = read_images(f"images:{tmp_path}", colour=True)
    assert len([w for w in caught if "alpha" in str(w.message)]) == 1
    np.testing.assert_array_equal(data.images[..., 0], 200)
    np.testing.assert_array_equal(data.images[..., 1:], 0)


def test_colour_folder_broadcasts_grey_images_to_three_equal_channels(tmp_path):
    grey = np.arange(30, dtype=np.uint8).reshape(5, 6)
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    write_rgb(tmp_path / "rgb.png", np.full((5, 6, 3), (1, 2, 3), np.uint8))
    data = read_images(f"images:{tmp_path}", colour=True)
    for channel in range(3):
        np.testing.assert_array_equal(data.images[0, ..., channel], grey)
    np.testing.assert_array_equal(data.images[1, 0, 0], (1, 2, 3))


def test_colour_folder_16_bit_keeps_the_high_byte_with_one_warning(tmp_path):
    rgb16 = np.zeros((3, 4, 3), np.uint16)
    rgb16[..., 0], rgb16[..., 2] = 0xABCD, 0x0102
    assert cv2.imwrite(str(tmp_path / "deep.png"), rgb16[:, :, ::-1])
    with pytest.warns(UserWarning, match="16-bit"):
        data = read_images(f"images:{tmp_path}", colour=True)
    np.testing.assert_array_equal(data.images[0, 0, 0], (0xAB, 0, 0x01))


def test_grey_sources_in_colour_are_broadcast(tmp_path):
    from tests.helpers.idx import make_split, write_idx_folder

    train, test = make_split(4, seed=3), make_split(3, seed=4)
    write_idx_folder(tmp_path / "idx", train=train, test=test, gz=False)
    view = open_dataset(f"idx:{tmp_path / 'idx'}", colour=True)
    assert view.shape == (3, 28, 28, 3)
    images = view.read(0, 3)
    np.testing.assert_array_equal(images, np.repeat(test[0][..., None], 3, axis=-1))
    assert "three equal channels" in view.source
    assert view.fingerprint == fingerprint(images, test[1])
