"""Tests for convsweep.tasks.datasets.idx_format: the writer and the header reader (the reader's
checks are tested through idx: folders in test_idx_source.py)."""

from __future__ import annotations

import gzip

import pytest

from tests.helpers.idx import idx_bytes, make_split


def test_write_idx_matches_the_format_and_leaves_no_temporary_file(tmp_path):
    from convsweep.tasks.datasets.idx_format import read_idx_header, write_idx

    images, labels = make_split(3)
    gz = write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    raw = write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels)
    assert gzip.decompress(gz.read_bytes()) == idx_bytes(images, 2051)
    assert raw.read_bytes() == idx_bytes(labels, 2049)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([raw.name, gz.name])
    assert read_idx_header(gz) == (2051, (3, 28, 28))
    assert read_idx_header(raw) == (2049, (3,))
    with pytest.raises(TypeError, match="array: IDX files here hold uint8 data, got dtype float64"):
        write_idx(tmp_path / "bad", images.astype(float))
