"""Tests for convsweep.tasks.datasets.idx_source: idx: folders, gz and raw, and every invalid file."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from convsweep.tasks.datasets import DatasetError, fingerprint, open_dataset, read_images
from tests.helpers.idx import idx_bytes, make_images, make_split, write_idx_folder

REPO = Path(__file__).resolve().parents[3]
REAL_MNIST = REPO.parent / "shared" / "datasets" / "mnist-t10k"


def test_idx_folder_gz_and_raw_read_the_same_arrays(idx_folder_gz, idx_folder_raw, idx_data):
    (train_images, train_labels), _ = idx_data
    gz = read_images(f"idx:{idx_folder_gz}", split="train")
    raw = read_images(f"idx:{idx_folder_raw}", split="train")
    for data in (gz, raw):
        np.testing.assert_array_equal(data.images, train_images)
        np.testing.assert_array_equal(data.labels, train_labels)
        assert data.class_names is None
    assert gz.source == (f"IDX files {idx_folder_gz}/train-images-idx3-ubyte.gz + train-labels-idx1-ubyte.gz")
    assert raw.source == f"IDX files {idx_folder_raw}/train-images-idx3-ubyte + train-labels-idx1-ubyte"


def test_idx_folder_split_needs_only_its_own_two_files(tmp_path, idx_data):
    _, test = idx_data
    folder = write_idx_folder(tmp_path / "t10k_only", test=test)
    assert open_dataset(f"idx:{folder}", split="test").n == 8
    with pytest.raises(ValueError) as error:
        open_dataset(f"idx:{folder}", split="train")
    assert str(error.value) == (
        f"split='train': idx:{folder} has no train split: expected train-images-idx3-ubyte[.gz] and "
        f"train-labels-idx1-ubyte[.gz] in {folder} (it has: test)"
    )
    with pytest.raises(ValueError, match="split='all': .* has no train split"):
        open_dataset(f"idx:{folder}", split="all")


def test_idx_folder_images_of_any_size(tmp_path):
    images = make_images(4, height=5, width=9)
    folder = write_idx_folder(tmp_path / "odd", test=(images, np.array([1, 2, 3, 4], np.uint8)), gz=False)
    view = open_dataset(f"idx:{folder}")
    assert (view.n, view.height, view.width) == (4, 5, 9)
    np.testing.assert_array_equal(view.read(0, 4), images)


def _corrupt_cases():
    images, labels = make_split(6, seed=3)
    good_images = idx_bytes(images, 2051)
    good_labels = idx_bytes(labels, 2049)
    gz_images = gzip.compress(good_images, mtime=0)
    flipped = bytearray(gz_images)
    flipped[len(flipped) // 2] ^= 0xFF
    return [
        # (file to replace, its bytes, the message after "invalid IDX file <path>: ")
        ("t10k-images-idx3-ubyte", good_labels, "magic number 2049 (labels), expected 2051 (images)"),
        ("t10k-labels-idx1-ubyte", good_images, "magic number 2051 (images), expected 2049 (labels)"),
        (
            "t10k-images-idx3-ubyte",
            good_images[:-10],
            "truncated: the header says 6 images of 28x28 (4704 bytes of data) but the file holds 4694",
        ),
        ("t10k-images-idx3-ubyte", good_images + b"\0\0", "2 unexpected bytes after the 6 images of 28x28"),
        ("t10k-images-idx3-ubyte", good_images[:9], "truncated: the header ends after 9 bytes"),
        ("t10k-labels-idx1-ubyte", b"\0\0", "truncated: 2 bytes, too short for an IDX header"),
        ("t10k-images-idx3-ubyte", b"<html>not found</html>", "not an IDX file (first bytes 3c 68 74 6d"),
        (
            "t10k-images-idx3-ubyte",
            b"\0\0\x0d\x03" + good_images[4:],
            "IDX data type 0x0D (float32); only unsigned bytes (0x08) are supported",
        ),
        ("t10k-images-idx3-ubyte.gz", gz_images[:200], "truncated gzip file (the compressed stream ends early)"),
        ("t10k-images-idx3-ubyte.gz", bytes(flipped), "corrupt gzip file ("),
    ]


@pytest.mark.parametrize(("name", "payload", "message"), _corrupt_cases())
def test_idx_folder_invalid_file_names_file_and_problem(tmp_path, name, payload, message):
    folder = write_idx_folder(tmp_path / "idx", test=make_split(6, seed=3), gz=False)
    if name.endswith(".gz"):
        (folder / name.removesuffix(".gz")).unlink()
    (folder / name).write_bytes(payload)
    with pytest.raises(DatasetError) as error:
        open_dataset(f"idx:{folder}")
    assert str(error.value).startswith(f"invalid IDX file {folder / name}: {message}")


def test_idx_folder_label_count_must_match_image_count(tmp_path):
    images, labels = make_split(6)
    folder = write_idx_folder(tmp_path / "idx", test=(images, labels[:5]))
    with pytest.raises(DatasetError) as error:
        open_dataset(f"idx:{folder}")
    assert str(error.value) == (
        f"IDX files do not match: {folder}/t10k-labels-idx1-ubyte.gz has 5 labels but "
        f"{folder}/t10k-images-idx3-ubyte.gz has 6 images"
    )


def test_idx_folder_empty(tmp_path):
    with pytest.raises(ValueError) as error:
        open_dataset(f"idx:{tmp_path}")
    assert str(error.value).endswith(f"in {tmp_path} (it has no complete split)")


@pytest.mark.skipif(not REAL_MNIST.is_dir(), reason=f"real MNIST t10k not present at {REAL_MNIST}")
def test_real_mnist_t10k_through_idx():
    view = open_dataset(f"idx:{REAL_MNIST}", split="test")
    assert (view.n, view.height, view.width) == (10_000, 28, 28)
    assert view.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    images = view.read(0, view.n)
    # The uncompressed file's md5 from shared/datasets/README.md, rebuilt from what we read.
    assert hashlib.md5(idx_bytes(images, 2051)).hexdigest() == "2646ac647ad5339dbf082846283269ea"
    assert view.fingerprint == fingerprint(images, view.labels)
