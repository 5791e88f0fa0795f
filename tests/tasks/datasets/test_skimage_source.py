"""skimage:NAME,NAME: the colour photographs inside scikit-image's wheel, read by path."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from convsweep.tasks.datasets import open_dataset, parse_spec, read_images
from convsweep.tasks.datasets.skimage_source import SKIMAGE_FILES, skimage_data_folder
from convsweep.tasks.datasets.spec import SKIMAGE_PHOTOS

skimage_data = pytest.importorskip("skimage.data")


def test_every_listed_photograph_is_in_the_wheel():
    folder = skimage_data_folder()
    for name in SKIMAGE_PHOTOS:
        assert (folder / SKIMAGE_FILES[name]).is_file(), name


def test_skimage_photographs_equal_skimage_data_in_colour():
    data = read_images("skimage:astronaut,chelsea", colour=True)
    assert data.images.shape == (2, 512, 512, 3) and data.labels is None
    np.testing.assert_array_equal(data.images[0], skimage_data.astronaut())  # RGB, as skimage reads it
    assert "chelsea (chelsea.png) 300x451 center-cropped to 300x300 and resized to 512x512" in data.source


def test_skimage_first_photograph_sets_the_size():
    view = open_dataset("skimage:coffee,astronaut", colour=True)
    assert view.shape == (2, 400, 600, 3)


def test_skimage_in_grey_is_opencv_rgb2gray():
    data = read_images("skimage:coffee")
    np.testing.assert_array_equal(data.images[0], cv2.cvtColor(skimage_data.coffee(), cv2.COLOR_RGB2GRAY))


@pytest.mark.parametrize(
    ("text", "match"),
    [("skimage:pooch_only", "not a colour photograph"), ("skimage:coffee,coffee", "twice")],
)
def test_skimage_spec_bad_names(text, match):
    with pytest.raises(ValueError, match=match):
        parse_spec(text)


def test_skimage_spec_round_trips_and_defaults_to_every_photograph():
    assert str(parse_spec("skimage: Astronaut ,coffee")) == "skimage:astronaut,coffee"
    assert parse_spec("skimage").names == SKIMAGE_PHOTOS
