"""Tests for convsweep.tasks.datasets.sample_source: matplotlib's sample photographs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from convsweep.tasks.datasets import fingerprint, open_dataset, sample_source


def test_sample_is_grace_hopper_first_then_others_at_her_size():
    import matplotlib

    grace = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    photo = cv2.imread(str(grace), cv2.IMREAD_GRAYSCALE)
    view = open_dataset("sample")
    assert (view.height, view.width) == photo.shape == (600, 512)
    assert view.n >= 1 and view.split == "all" and view.labels is None
    images = view.read(0, view.n)
    np.testing.assert_array_equal(images[0], photo)  # the photograph, untouched
    assert view.source.startswith(f"matplotlib sample_data {grace.parent}: grace_hopper.jpg 600x512")
    assert "center-cropped to 128x109 and resized to 600x512" in view.source  # the 128x128 icon
    assert all(image.std() > 10 for image in images)  # real pictures, not blank
    assert view.fingerprint == fingerprint(images)


def test_resize_wrapper_takes_height_then_width():
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert sample_source._resize(image, 6, 8).shape == (6, 8)
    assert sample_source._resize(image, 3, 2).shape == (3, 2)
    assert sample_source._center_crop_to_aspect(np.zeros((10, 40)), 600, 512).shape == (10, 9)
    assert sample_source._center_crop_to_aspect(np.zeros((40, 10)), 600, 512).shape == (12, 10)
