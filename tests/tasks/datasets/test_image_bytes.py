"""Images read by path from their bytes: a file name OpenCV cannot take is no native crash."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np

from convsweep.tasks.datasets.image_bytes import imread_bytes, imread_or_none, utf8_name

ROOT = Path(__file__).resolve().parents[3]


def _png_bytes(value: int) -> bytes:
    ok, buffer = cv2.imencode(".png", np.full((6, 5), value, np.uint8))
    assert ok
    return buffer.tobytes()


def test_imread_bytes_non_utf8_name_decodes(tmp_path):
    raw = os.fsencode(tmp_path) + b"/a\xff\xfe.png"
    with open(raw, "wb") as handle:
        handle.write(_png_bytes(7))
    path = Path(os.fsdecode(raw))
    assert not utf8_name(path)
    image = imread_bytes(path, cv2.IMREAD_GRAYSCALE)
    assert image is not None and image.shape == (6, 5) and int(image[0, 0]) == 7


def test_imread_or_none_missing_or_empty_file_is_none(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    assert imread_or_none(tmp_path / "empty.png", cv2.IMREAD_GRAYSCALE) is None
    assert imread_or_none(tmp_path / "gone.png", cv2.IMREAD_GRAYSCALE) is None


def test_images_folder_non_utf8_name_read_in_a_real_process(tmp_path):
    # Before: cv2.imread on such a name killed the process with SIGSEGV (exit 139).
    folder = os.fsencode(tmp_path / "imgs")
    os.mkdir(folder)
    for name, value in ((b"a\xff\xfe.png", 10), (b"b.png", 20)):
        with open(folder + b"/" + name, "wb") as handle:
            handle.write(_png_bytes(value))
    script = textwrap.dedent(
        """
        import sys
        from convsweep.tasks.datasets import read_images
        for colour in (False, True):
            images = read_images("images:" + sys.argv[1], split="all", colour=colour).images
            print(images.reshape(len(images), -1)[:, 0].tolist())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "imgs")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[10, 20]", "[10, 20]"]


def test_images_folder_corrupt_non_utf8_name_error_names_it_escaped(tmp_path):
    import pytest

    from convsweep.tasks.datasets import DatasetError, open_dataset

    with open(os.fsencode(tmp_path) + b"/bad\xff\xfe.png", "wb") as handle:
        handle.write(b"\x89PNG garbage")
    with pytest.raises(DatasetError) as raised:
        open_dataset(f"images:{tmp_path}", split="all").fingerprint  # noqa: B018 - reads the headers
    message = str(raised.value)
    assert "bad\\xff\\xfe.png" in message
    message.encode("utf-8")  # what Prefect's API, logs and stderr need
