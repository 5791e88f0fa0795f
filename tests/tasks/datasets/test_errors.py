"""Tests for convsweep.tasks.datasets.errors: which failures may heal by waiting (only a download)."""

from __future__ import annotations

import pytest

from convsweep.tasks.datasets import DatasetError, DownloadError, open_dataset
from tests.helpers.idx import make_split, write_idx_folder


def test_only_a_download_error_is_transient():
    assert issubclass(DownloadError, DatasetError)
    assert DownloadError("x").transient and not DatasetError("x").transient


def test_bad_idx_header_is_not_transient(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", test=make_split(6, seed=3), gz=False)
    (folder / "t10k-images-idx3-ubyte").write_bytes(b"<html>not found</html>")
    with pytest.raises(DatasetError) as error:
        open_dataset(f"idx:{folder}")
    assert type(error.value) is DatasetError and not error.value.transient


def test_unreadable_image_is_not_transient(tmp_path):
    (tmp_path / "a.png").write_bytes(b"this is not a png")
    with pytest.raises(DatasetError) as error:
        open_dataset(f"images:{tmp_path}")
    assert type(error.value) is DatasetError and not error.value.transient
