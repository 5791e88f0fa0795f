"""Atomic writes: an interrupted write leaves neither a partial file nor a temp file."""

from __future__ import annotations

import numpy as np
import pytest

from tasks import files


def test_atomic_open_interrupted_leaves_nothing(tmp_path):
    target = tmp_path / "sizes.csv"
    with pytest.raises(KeyboardInterrupt):
        with files.atomic_open(target, "wb") as handle:
            handle.write(b"half a ")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_atomic_open_interrupted_keeps_the_previous_file(tmp_path):
    target = files.write_text(tmp_path / "report.md", "complete")
    with pytest.raises(RuntimeError):
        with files.atomic_open(target, "wb") as handle:
            handle.write(b"partial")
            raise RuntimeError("disk full")
    assert target.read_text() == "complete"
    assert [path.name for path in tmp_path.iterdir()] == ["report.md"]


def test_write_png_round_trips_and_rejects_float(tmp_path):
    import cv2

    image = np.arange(12 * 7, dtype=np.uint8).reshape(12, 7)
    path = files.write_png(tmp_path / "a.png", image)
    np.testing.assert_array_equal(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), image)
    with pytest.raises(ValueError, match="uint8"):
        files.write_png(tmp_path / "b.png", image.astype(np.float32))


def test_write_npy_round_trips(tmp_path):
    array = np.random.default_rng(0).normal(size=(3, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(np.load(files.write_npy(tmp_path / "m.npy", array)), array)


def test_written_files_get_the_umask_mode_not_mkstemp_private_mode(tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    try:
        import importlib

        reloaded = importlib.reload(files)
        path = reloaded.write_text(tmp_path / "report.md", "x")
    finally:
        os.umask(mask)
        importlib.reload(files)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
