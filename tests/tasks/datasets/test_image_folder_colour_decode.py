"""A plain 8-bit grey or RGB PNG is decoded in colour straight into the selection's array, with the
same pixels as the general path; any other file (alpha, transparency, 16 bits, JPEG) takes the general path."""

from __future__ import annotations

import warnings
import zlib

import cv2
import numpy as np
import pytest

from convsweep.tasks.datasets import image_folder


@pytest.mark.parametrize("kind", ["rgb", "grey", "rgba", "grey-16", "jpeg", "rgb-trns"])
def test_colour_decode_into_the_array_equals_the_general_decode(tmp_path, kind):
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    path = tmp_path / ("x.jpg" if kind == "jpeg" else "x.png")
    pixels = {
        "rgb": rgb[..., ::-1],
        "rgb-trns": rgb[..., ::-1],
        "grey": rgb[..., 0],
        "rgba": np.dstack([rgb[..., ::-1], np.full((9, 11), 200, np.uint8)]),
        "grey-16": (rgb[..., 0].astype(np.uint16) * 257),
        "jpeg": rgb[..., ::-1],
    }[kind]
    assert cv2.imwrite(str(path), np.ascontiguousarray(pixels))
    if kind == "rgb-trns":  # a tRNS chunk (one transparent colour) after IHDR: not a plain PNG
        data = path.read_bytes()
        chunk = b"tRNS" + bytes(6)
        crc = zlib.crc32(chunk).to_bytes(4, "big")
        path.write_bytes(data[:33] + (6).to_bytes(4, "big") + chunk + crc + data[33:])
    expected_plain = kind in ("rgb", "grey")
    assert image_folder._plain_png(path) is expected_plain
    out = np.zeros((9, 11, 3), np.uint8)
    with warnings.catch_warnings():  # alpha dropped, 16 bits: said once per process, tested elsewhere
        warnings.simplefilter("ignore")
        general = image_folder._decode_colour(path, 9, 11)
    assert image_folder._decode_colour_into(path, out) is expected_plain
    if expected_plain:
        np.testing.assert_array_equal(out, general)
        if kind == "rgb":
            np.testing.assert_array_equal(out, rgb)  # red in channel 0
    else:
        assert not out.any()  # left for the general path


def test_colour_decode_into_refuses_a_file_whose_pixels_are_not_its_header_size(tmp_path):
    path = tmp_path / "x.png"
    assert cv2.imwrite(str(path), np.zeros((4, 5, 3), np.uint8))
    with pytest.raises(image_folder.DatasetError, match="header says 6x5"):
        image_folder._decode_colour_into(path, np.zeros((6, 5, 3), np.uint8))
