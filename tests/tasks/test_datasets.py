"""Tests for tasks.datasets: specs, the Keras / IDX / image-folder / sample loaders,
selection, fingerprints, chunking and every failure message."""

from __future__ import annotations

import gzip
import hashlib
import importlib
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tasks.datasets as datasets
from tasks.datasets import (
    FASHION_MNIST_CLASSES,
    DatasetError,
    DatasetSpec,
    fingerprint,
    iter_chunks,
    load_dataset,
    open_dataset,
    parse_spec,
)
from tests.helpers.idx import (
    idx_bytes,
    make_images,
    make_keras_home,
    make_split,
    write_idx_folder,
    write_idx_images,
    write_idx_labels,
)
from tests.tasks.conftest import keras_private_module

REPO = Path(__file__).resolve().parents[2]
REAL_MNIST = REPO.parent / "shared" / "datasets" / "mnist-t10k"
FASHION_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
# Exactly what keras.utils.get_file raises when urlretrieve fails with a URLError offline.
OFFLINE = "URL fetch failure on {}: None -- [Errno -3] Temporary failure in name resolution"


@pytest.fixture(autouse=True)
def _fresh_memo():
    datasets.clear_caches()
    yield
    datasets.clear_caches()


def oracle_fingerprint(images, labels=None) -> str:
    """The documented byte layout, hashed literally."""
    hasher = hashlib.sha256(b"convsweep-dataset-fingerprint-v1\n")
    for dim in images.shape:
        hasher.update(int(dim).to_bytes(8, "little", signed=True))
    if labels is None:
        hasher.update(b"\x00")
    else:
        hasher.update(b"\x01")
        for label in labels:
            hasher.update(int(label).to_bytes(8, "little", signed=True))
    for image in images:
        for row in image:
            hasher.update(bytes(int(value) for value in row))
    return hasher.hexdigest()


# ---------------------------------------------------------------------------------------
# Specs
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "path"),
    [
        ("fashion_mnist", "fashion_mnist", None),
        ("  Fashion-MNIST ", "fashion_mnist", None),
        ("mnist", "mnist", None),
        ("sample", "sample", None),
        ("idx:/data/fm/../fm2", "idx", Path("/data/fm2")),
        ("images:relative/pics", "images", Path.cwd() / "relative" / "pics"),
        ("images:~/pics", "images", Path.home() / "pics"),
    ],
)
def test_parse_spec_normalises_and_round_trips(text, kind, path):
    spec = parse_spec(text)
    assert spec == DatasetSpec(kind, path)
    assert parse_spec(str(spec)) == spec
    assert str(spec) == (kind if path is None else f"{kind}:{path}")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cifar10", "spec: unknown dataset 'cifar10'; expected fashion_mnist, mnist, sample, idx:PATH or images:PATH"),
        ("idx:", "spec: 'idx:' needs a folder after 'idx:'"),
        ("images:  ", "spec: 'images:  ' needs a folder after 'images:'"),
        ("mnist:/data", "spec: 'mnist:/data': 'mnist' takes no path"),
    ],
)
def test_parse_spec_bad_value_names_it(text, message):
    with pytest.raises(ValueError) as error:
        parse_spec(text)
    assert message in str(error.value)


def test_parse_spec_wrong_type_is_type_error():
    with pytest.raises(TypeError, match="spec: expected a string"):
        parse_spec(42)


def test_import_does_not_import_keras():
    code = "import sys, tasks.datasets; sys.exit('keras' in sys.modules or 'jax' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


# ---------------------------------------------------------------------------------------
# Chunks and fingerprints
# ---------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, derandomize=True)
@given(n=st.integers(0, 200), chunk_size=st.integers(1, 64))
def test_iter_chunks_covers_range_in_order(n, chunk_size):
    chunks = list(iter_chunks(n, chunk_size))
    covered = [i for start, stop in chunks for i in range(start, stop)]
    assert covered == list(range(n))
    assert all(0 < stop - start <= chunk_size for start, stop in chunks)
    assert all(stop - start == chunk_size for start, stop in chunks[:-1])


@pytest.mark.parametrize(
    ("n", "chunk_size", "error", "message"),
    [(10, 0, ValueError, "chunk_size=0: must be at least 1"),
     (-1, 5, ValueError, "n=-1: must be at least 0"),
     (10, 2.5, TypeError, "chunk_size: expected an integer, got 2.5")],
)
def test_iter_chunks_bad_arguments(n, chunk_size, error, message):
    with pytest.raises(error) as raised:
        list(iter_chunks(n, chunk_size))
    assert message in str(raised.value)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    shape=st.tuples(st.integers(0, 4), st.integers(1, 5), st.integers(1, 5)),
    with_labels=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_fingerprint_equals_documented_byte_layout(shape, with_labels, seed):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=shape, dtype=np.uint8)
    labels = rng.integers(0, 10, size=shape[0]) if with_labels else None
    assert fingerprint(images, labels) == oracle_fingerprint(images, labels)


def test_fingerprint_golden_value_is_stable():
    # A literal (sha256sum of the documented bytes, computed outside this code): the
    # fingerprint must not change across versions, runs or machines.
    images = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    assert fingerprint(images, np.array([3, 1])) == (
        "2a6112e05d556da0158c02b4cde0ab01277bbc364b1d5995224855e5b2ed5261"
    )


def test_fingerprint_changes_with_one_pixel_label_or_shape():
    images = make_images(5)
    labels = np.arange(5)
    base = fingerprint(images, labels)
    one_pixel = images.copy()
    one_pixel[3, 10, 10] ^= 1
    assert fingerprint(one_pixel, labels) != base
    assert fingerprint(images, labels[::-1].copy()) != base
    assert fingerprint(images, None) != base
    assert fingerprint(images.reshape(5, 14, 56), labels) != base  # same bytes, other shape
    assert fingerprint(images, labels.astype(np.uint8)) == base  # label dtype does not matter
    assert fingerprint(np.asfortranarray(images), labels) == base  # memory layout does not matter


@pytest.mark.parametrize(
    ("images", "labels", "error", "message"),
    [(np.zeros((2, 3, 3), np.float32), None, TypeError, "images: expected dtype uint8, got float32"),
     (np.zeros((3, 3), np.uint8), None, ValueError, "images: expected shape (n, height, width), got (3, 3)"),
     ([[[0]]], None, TypeError, "images: expected a numpy array, got list"),
     (np.zeros((2, 3, 3), np.uint8), np.zeros(3, int), ValueError, "labels: expected shape (2,)"),
     (np.zeros((2, 3, 3), np.uint8), np.zeros(2), TypeError, "labels: expected integers, got dtype float64")],
)
def test_fingerprint_bad_input_names_argument(images, labels, error, message):
    with pytest.raises(error) as raised:
        fingerprint(images, labels)
    assert message in str(raised.value)


# ---------------------------------------------------------------------------------------
# Fashion-MNIST through keras.datasets (temporary KERAS_HOME)
# ---------------------------------------------------------------------------------------


@pytest.fixture
def load_data_calls(monkeypatch):
    """Count calls of the real keras.datasets.fashion_mnist.load_data."""
    keras_private_module("fashion_mnist")
    public = importlib.import_module("keras.datasets.fashion_mnist")
    real = public.load_data
    calls = []

    def counting():
        calls.append(1)
        return real()

    monkeypatch.setattr(public, "load_data", counting)
    return calls


def test_fashion_mnist_loads_through_keras_load_data(keras_home, idx_data, load_data_calls):
    (train_images, train_labels), (test_images, test_labels) = idx_data
    view = open_dataset("fashion_mnist", split="test")
    assert load_data_calls == [1]
    assert (view.n, view.height, view.width, view.split, view.spec) == (8, 28, 28, "test", "fashion_mnist")
    np.testing.assert_array_equal(view.read(0, view.n), test_images)
    assert view.labels.dtype == np.int64
    np.testing.assert_array_equal(view.labels, test_labels)
    assert view.class_names == FASHION_MNIST_CLASSES
    assert view.class_names[0] == "T-shirt/top" and view.class_names[9] == "Ankle boot"
    folder = keras_home / "datasets" / "fashion-mnist"
    assert view.source == (
        "keras.datasets.fashion_mnist.load_data(): t10k-images-idx3-ubyte.gz + t10k-labels-idx1-ubyte.gz "
        f"in Keras cache {folder} (cached; origin {FASHION_URL})"
    )
    train = load_dataset("fashion_mnist", split="train")
    np.testing.assert_array_equal(train.images, train_images)
    np.testing.assert_array_equal(train.labels, train_labels)


def test_fashion_mnist_split_all_is_train_then_test(keras_home, idx_data):
    (train_images, train_labels), (test_images, test_labels) = idx_data
    data = load_dataset("fashion_mnist", split="all")
    np.testing.assert_array_equal(data.images, np.concatenate([train_images, test_images]))
    np.testing.assert_array_equal(data.labels, np.concatenate([train_labels, test_labels]))
    assert data.split == "all" and data.n == 20


def test_fashion_mnist_and_idx_copy_share_fingerprint_one_pixel_changes_it(
        keras_home, idx_folder_gz, idx_folder_raw, idx_data):
    (_, _), (test_images, test_labels) = idx_data
    via_keras = open_dataset("fashion_mnist", split="test")
    via_gz = open_dataset(f"idx:{idx_folder_gz}", split="test")
    via_raw = load_dataset(f"idx:{idx_folder_raw}", split="test")
    expected = fingerprint(test_images, test_labels)
    assert via_keras.fingerprint == via_gz.fingerprint == via_raw.fingerprint == expected
    assert via_keras.source != via_gz.source
    for split in ("train", "all"):
        assert (open_dataset("fashion_mnist", split=split).fingerprint
                == open_dataset(f"idx:{idx_folder_gz}", split=split).fingerprint)

    changed = test_images.copy()
    changed[4, 14, 14] ^= 1
    write_idx_images(idx_folder_raw / "t10k-images-idx3-ubyte", changed)
    assert open_dataset(f"idx:{idx_folder_raw}", split="test").fingerprint != expected
    write_idx_images(keras_home / "datasets" / "fashion-mnist" / "t10k-images-idx3-ubyte.gz", changed)
    assert open_dataset("fashion_mnist", split="test").fingerprint == fingerprint(changed, test_labels)


def test_fashion_mnist_memoised_per_process_until_a_file_changes(keras_home, idx_data, load_data_calls):
    first = open_dataset("fashion_mnist")
    digest = first.fingerprint
    second = open_dataset("fashion_mnist", start=2, stop=6)
    assert load_data_calls == [1]
    assert open_dataset("fashion_mnist").fingerprint == digest
    np.testing.assert_array_equal(second.read(0, 4), first.read(2, 6))
    (_, _), (test_images, test_labels) = idx_data
    write_idx_labels(keras_home / "datasets" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz",
                     (test_labels + 1) % 10)
    assert open_dataset("fashion_mnist").fingerprint != digest
    assert load_data_calls == [1, 1]


def test_fashion_mnist_keras_home_resolved_per_call(tmp_path, monkeypatch, keras_home):
    open_dataset("fashion_mnist")  # Keras imported now, with the first home
    other = make_keras_home(tmp_path / "other", train=make_split(3, seed=5), test=make_split(5, seed=6))
    monkeypatch.setenv("KERAS_HOME", str(other))
    view = open_dataset("fashion_mnist")
    assert view.n == 5
    assert str(other / "datasets" / "fashion-mnist") in view.source
    assert datasets.keras_cache_folder() == other / "datasets" / "fashion-mnist"


def test_fashion_mnist_offline_and_not_cached_one_clear_error(empty_keras_home, monkeypatch, no_retry_wait):
    tried = []

    def offline_get_file(fname=None, origin=None, **kwargs):
        tried.append(origin)
        raise Exception(OFFLINE.format(origin))

    monkeypatch.setattr(keras_private_module("fashion_mnist"), "get_file", offline_get_file)
    with pytest.raises(DatasetError) as error:
        open_dataset("fashion_mnist")
    folder = empty_keras_home / "datasets" / "fashion-mnist"
    url = FASHION_URL + "train-labels-idx1-ubyte.gz"
    assert tried == [url] * 3  # retried twice before giving up
    assert str(error.value) == (
        f"fashion_mnist: cannot download train-labels-idx1-ubyte.gz from {url} (3 attempts; last error: "
        f"{OFFLINE.format(url)}) and it is not in the Keras cache folder {folder}. Ways out: read a "
        f"local copy with the spec idx:PATH (a folder with the IDX files), or copy "
        f"train-labels-idx1-ubyte.gz, train-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz, "
        f"t10k-images-idx3-ubyte.gz into {folder} (Keras then finds them without network)."
    )


def test_fashion_mnist_transient_network_error_is_retried(tmp_path, monkeypatch, no_retry_wait, idx_data):
    # An empty cache whose "server" fails once, then serves the files from a mirror folder.
    train, test = idx_data
    mirror = make_keras_home(tmp_path / "mirror", train=train, test=test) / "datasets" / "fashion-mnist"
    home = tmp_path / "home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    module = keras_private_module("fashion_mnist")
    real_get_file = module.get_file
    failures = []

    def flaky_get_file(fname=None, origin=None, **kwargs):
        if not failures:
            failures.append(origin)
            raise Exception(OFFLINE.format(origin))
        return real_get_file(fname, origin=(mirror / fname).as_uri(), **kwargs)

    monkeypatch.setattr(module, "get_file", flaky_get_file)
    view = open_dataset("fashion_mnist")
    assert len(failures) == 1
    np.testing.assert_array_equal(view.read(0, view.n), test[0])
    assert (home / "datasets" / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").is_file()
    assert "(downloaded now from https://storage.googleapis.com/" in view.source


def _truncate(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def test_fashion_mnist_truncated_cached_file_named_with_how_to_remove_it(keras_home):
    broken = keras_home / "datasets" / "fashion-mnist" / "train-images-idx3-ubyte.gz"
    _truncate(broken, 300)
    with pytest.raises(DatasetError) as error:
        open_dataset("fashion_mnist")
    assert str(error.value) == (
        f"fashion_mnist: corrupt file in the Keras cache: {broken}: truncated gzip file (the compressed "
        f"stream ends early). Delete it so that Keras downloads it again (rm '{broken}'), or replace "
        f"it with a good copy."
    )


def test_fashion_mnist_wrong_magic_in_cache_caught_although_keras_loads_it(keras_home, idx_data):
    # Keras skips the header, so a labels file with an images magic number loads silently.
    (_, _), (_, test_labels) = idx_data
    broken = keras_home / "datasets" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz"
    broken.write_bytes(gzip.compress((2051).to_bytes(4, "big") + len(test_labels).to_bytes(4, "big")
                                     + test_labels.tobytes()))
    with pytest.raises(DatasetError) as error:
        open_dataset("fashion_mnist")
    assert str(error.value) == (
        f"fashion_mnist: corrupt file in the Keras cache: {broken}: magic number 2051, expected 2049. "
        f"Delete it so that Keras downloads it again (rm '{broken}'), or replace it with a good copy."
    )


def test_mnist_loads_through_keras_load_data(tmp_path, monkeypatch, idx_data):
    train, test = idx_data
    home = make_keras_home(tmp_path, "mnist", train=train, test=test)
    monkeypatch.setenv("KERAS_HOME", str(home))
    module = keras_private_module("mnist")
    # Keras checks mnist.npz against the real file's hash; pretend it is the cached original.
    monkeypatch.setattr(module, "get_file", lambda fname, origin, **kwargs: str(home / "datasets" / fname))
    view = open_dataset("mnist", split="test", classes="3")
    assert view.class_names == tuple("0123456789")
    assert set(view.labels) == {3}
    np.testing.assert_array_equal(view.read(0, view.n), test[0][test[1] == 3])
    assert f"mnist.npz (test) in Keras cache {home / 'datasets'}" in view.source


def test_keras_that_cannot_be_imported_is_a_dataset_error(keras_home, monkeypatch):
    def no_keras(name):
        raise ModuleNotFoundError("No module named 'keras'")

    monkeypatch.setattr(datasets.importlib, "import_module", no_keras)
    with pytest.raises(DatasetError) as error:
        open_dataset("fashion_mnist")
    assert str(error.value).startswith(
        "fashion_mnist: cannot import Keras to load it (KERAS_BACKEND=")
    assert "ModuleNotFoundError: No module named 'keras'" in str(error.value)
    assert "read local IDX files with the spec idx:PATH" in str(error.value)


# ---------------------------------------------------------------------------------------
# IDX folders
# ---------------------------------------------------------------------------------------


def test_idx_folder_gz_and_raw_read_the_same_arrays(idx_folder_gz, idx_folder_raw, idx_data):
    (train_images, train_labels), _ = idx_data
    gz = load_dataset(f"idx:{idx_folder_gz}", split="train")
    raw = load_dataset(f"idx:{idx_folder_raw}", split="train")
    for data in (gz, raw):
        np.testing.assert_array_equal(data.images, train_images)
        np.testing.assert_array_equal(data.labels, train_labels)
        assert data.class_names is None
    assert gz.source == (f"IDX files {idx_folder_gz}/train-images-idx3-ubyte.gz + "
                         "train-labels-idx1-ubyte.gz")
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
        ("t10k-images-idx3-ubyte", good_images[:-10],
         "truncated: the header says 6 images of 28x28 (4704 bytes of data) but the file holds 4694"),
        ("t10k-images-idx3-ubyte", good_images + b"\0\0", "2 unexpected bytes after the 6 images of 28x28"),
        ("t10k-images-idx3-ubyte", good_images[:9], "truncated: the header ends after 9 bytes"),
        ("t10k-labels-idx1-ubyte", b"\0\0", "truncated: 2 bytes, too short for an IDX header"),
        ("t10k-images-idx3-ubyte", b"<html>not found</html>", "not an IDX file (first bytes 3c 68 74 6d"),
        ("t10k-images-idx3-ubyte", b"\0\0\x0d\x03" + good_images[4:],
         "IDX data type 0x0D (float32); only unsigned bytes (0x08) are supported"),
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


@pytest.mark.parametrize("kind", ["idx", "images"])
def test_folder_spec_missing_or_not_a_folder(tmp_path, kind):
    missing = tmp_path / "nope"
    with pytest.raises(ValueError) as error:
        open_dataset(f"{kind}:{missing}")
    assert str(error.value) == f"spec: folder {missing} of {kind}:{missing} does not exist"
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(ValueError) as error:
        open_dataset(f"{kind}:{a_file}")
    assert str(error.value) == f"spec: {a_file} of {kind}:{a_file} is a file, not a folder"


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


# ---------------------------------------------------------------------------------------
# Selection
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def selection_folder(tmp_path_factory):
    """idx folder: 30 train + 20 test images, labels (i * 7) % 10."""
    folder = tmp_path_factory.mktemp("selection")
    train, test = make_split(30, seed=11), make_split(20, seed=12)
    write_idx_folder(folder, train=train, test=test, gz=False)
    return folder, train, test


def oracle_selection(labels, start, stop, limit, classes):
    """The documented order, written as a literal loop: slice, class filter, limit."""
    lo = 0 if start is None else start
    hi = len(labels) if stop is None else stop
    chosen = []
    for position in range(lo, hi):
        if classes is None or int(labels[position]) in classes:
            chosen.append(position)
    return chosen if limit is None else chosen[:limit]


@settings(max_examples=80, deadline=None, derandomize=True)
@given(
    split=st.sampled_from(["train", "test", "all"]),
    start=st.none() | st.integers(0, 49),
    stop=st.none() | st.integers(1, 50),
    limit=st.none() | st.integers(1, 60),
    classes=st.none() | st.sets(st.integers(0, 9), min_size=1, max_size=4),
)
def test_selection_matches_literal_loop(selection_folder, split, start, stop, limit, classes):
    folder, (train_images, train_labels), (test_images, test_labels) = selection_folder
    images = {"train": train_images, "test": test_images,
              "all": np.concatenate([train_images, test_images])}[split]
    labels = {"train": train_labels, "test": test_labels,
              "all": np.concatenate([train_labels, test_labels])}[split]
    lo, hi = (start or 0), (len(labels) if stop is None else stop)
    expected = oracle_selection(labels, start, stop, limit, classes) if lo < hi <= len(labels) else []
    arguments = dict(split=split, start=start, stop=stop, limit=limit,
                     classes=sorted(classes) if classes else None)
    if not expected:
        with pytest.raises(ValueError):
            open_dataset(f"idx:{folder}", **arguments)
        return
    view = open_dataset(f"idx:{folder}", **arguments)
    assert view.indices.tolist() == expected
    np.testing.assert_array_equal(view.labels, labels[expected])
    np.testing.assert_array_equal(view.read(0, view.n), images[expected])
    assert view.fingerprint == fingerprint(images[expected], labels[expected])


def test_selection_classes_by_name_case_insensitive_or_number(keras_home, idx_data):
    _, (_, test_labels) = idx_data
    by_name = open_dataset("fashion_mnist", split="test", classes=["sandal", "Ankle boot"])
    by_text = open_dataset("fashion_mnist", split="test", classes="5, 9")
    by_number = open_dataset("fashion_mnist", split="test", classes=[5, np.int64(9)])
    expected = np.flatnonzero(np.isin(test_labels, [5, 9])).tolist()
    assert expected  # the fixture has both classes
    for view in (by_name, by_text, by_number):
        assert view.indices.tolist() == expected


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        (dict(split="validation"), ValueError, "split: unknown split 'validation'; expected one of train, test, all"),
        (dict(split=None), TypeError, "split: expected one of train, test, all, got NoneType"),
        (dict(start=30), ValueError, "start=30 is out of range: {spec} split=train has 30 images (start must be below 30)"),
        (dict(stop=31), ValueError, "stop=31 is out of range: {spec} split=train has 30 images (stop must be at most 30)"),
        (dict(start=5, stop=5), ValueError, "start=5, stop=5 selects no image of {spec} split=train (need start < stop)"),
        (dict(start=-1), ValueError, "start=-1: must be at least 0"),
        (dict(start="3"), TypeError, "start: expected an integer, got '3'"),
        (dict(limit=0), ValueError, "limit=0: must be at least 1"),
        (dict(stop=True), TypeError, "stop: expected an integer, got True"),
        (dict(start=0, stop=1, classes=[3]), ValueError, "classes=[3] matches no image of {spec} split=train in positions 0:1"),
        (dict(classes=[10]), ValueError, "classes=[10] matches no image of {spec} split=train in positions 0:30"),
        (dict(classes="Sandal"), ValueError, "classes: 'Sandal' is not a class of {spec} split=train (no class names; give label numbers)"),
        (dict(classes=[]), ValueError, "classes=[] is empty; pass None to keep every class"),
        (dict(classes=[1.5]), TypeError, "classes: 1.5 is neither a label number nor a class name"),
        (dict(classes=object), TypeError, "classes: expected label numbers or class names, got type"),
    ],
)
def test_selection_bad_arguments_name_the_value(selection_folder, arguments, error, message):
    folder = selection_folder[0]
    with pytest.raises(error) as raised:
        open_dataset(f"idx:{folder}", **{"split": "train", **arguments})
    assert message.format(spec=f"idx:{folder}") in str(raised.value)


@pytest.mark.parametrize(("classes", "message"), [
    ("Sandle", "classes: 'Sandle' is not a class of fashion_mnist split=test"),
    ([10], "classes: 10 is not a label of fashion_mnist split=test"),
])
def test_selection_unknown_class_lists_the_classes(keras_home, classes, message):
    with pytest.raises(ValueError) as error:
        open_dataset("fashion_mnist", classes=classes)
    assert str(error.value) == (
        f"{message} (0=T-shirt/top, 1=Trouser, 2=Pullover, 3=Dress, 4=Coat, 5=Sandal, 6=Shirt, "
        f"7=Sneaker, 8=Bag, 9=Ankle boot)"
    )


def test_view_read_chunks_and_load_agree(selection_folder):
    folder = selection_folder[0]
    view = open_dataset(f"idx:{folder}", split="all", start=10, stop=45, classes=[1, 4, 7])
    data = load_dataset(f"idx:{folder}", split="all", start=10, stop=45, classes=[1, 4, 7])
    chunks = list(view.iter_chunks(4))
    assert [(start, stop) for start, stop, _ in chunks] == list(iter_chunks(view.n, 4))
    np.testing.assert_array_equal(np.concatenate([images for _, _, images in chunks]), data.images)
    assert data.fingerprint == view.fingerprint == fingerprint(data.images, data.labels)
    block = view.read(1, 3)
    assert block.flags.writeable and block.flags.owndata
    block[:] = 0  # a copy: the memoised arrays are untouched
    np.testing.assert_array_equal(view.read(1, 3), data.images[1:3])
    with pytest.raises(ValueError) as error:
        view.read(2, view.n + 1)
    assert str(error.value) == (f"start=2, stop={view.n + 1}: out of range for a selection of {view.n} "
                                f"images (need 0 <= start <= stop <= {view.n})")


# ---------------------------------------------------------------------------------------
# Image folders
# ---------------------------------------------------------------------------------------


def _write_png(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


@pytest.fixture
def class_folder(tmp_path):
    """images:/ folder with classes cat (2 images) and dog (3), 6x8 PNGs, plus ignored files."""
    root = tmp_path / "pets"
    images = make_images(5, height=6, width=8, seed=4)
    names = ["cat/b.png", "cat/a.png", "dog/x/deep.png", "dog/c.PNG", "dog/d.png"]
    for name, image in zip(names, images):
        _write_png(root / name, image)
    (root / "dog" / "notes.txt").write_text("not an image")
    _write_png(root / "cat" / ".hidden.png", np.zeros((3, 3), np.uint8))
    order = ["cat/a.png", "cat/b.png", "dog/c.PNG", "dog/d.png", "dog/x/deep.png"]
    expected = np.stack([images[names.index(name)] for name in order])
    return root, expected, np.array([0, 0, 1, 1, 1])


def test_images_folder_sorted_by_path_labelled_by_class_folder(class_folder):
    root, expected, labels = class_folder
    data = load_dataset(f"images:{root}")
    np.testing.assert_array_equal(data.images, expected)
    np.testing.assert_array_equal(data.labels, labels)
    assert data.class_names == ("cat", "dog")
    assert data.split == "all"
    assert data.source == (f"5 image files under {root} (decoded to grayscale; labels from 2 class "
                           f"folders: cat, dog)")
    assert open_dataset(f"images:{root}", classes="dog", limit=2).indices.tolist() == [2, 3]


def test_images_folder_flat_has_no_labels_and_any_split_is_all(tmp_path):
    images = make_images(3, height=4, width=5)
    for i, image in enumerate(images):
        _write_png(tmp_path / f"img{i}.png", image)
    view = open_dataset(f"images:{tmp_path}", split="train")
    assert view.split == "all" and view.labels is None and view.class_names is None
    np.testing.assert_array_equal(view.read(0, 3), images)
    with pytest.raises(ValueError) as error:
        open_dataset(f"images:{tmp_path}", classes=[0])
    assert str(error.value) == f"classes=[0]: images:{tmp_path} split=all has no labels to filter on"


def test_images_folder_train_test_layout_gives_splits(tmp_path):
    images = make_images(6, height=5, width=5)
    names = ["train/1/a.png", "train/10/b.png", "train/2/c.png", "test/2/d.png", "test/10/e.png", "test/1/f.png"]
    for name, image in zip(names, images):
        _write_png(tmp_path / name, image)
    test = load_dataset(f"images:{tmp_path}", split="test")
    assert test.split == "test"
    assert test.class_names == ("1", "2", "10")  # numeric class names sort as numbers ...
    np.testing.assert_array_equal(test.images, images[[5, 4, 3]])  # ... files by path: 1/, 10/, 2/
    np.testing.assert_array_equal(test.labels, [0, 2, 1])
    every = load_dataset(f"images:{tmp_path}", split="all")
    np.testing.assert_array_equal(every.images, images[[0, 1, 2, 5, 4, 3]])
    np.testing.assert_array_equal(every.labels, [0, 2, 1, 0, 2, 1])
    (tmp_path / "test").rename(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").rename(tmp_path / "train" / "elsewhere")
    with pytest.raises(ValueError) as error:
        open_dataset(f"images:{tmp_path}", split="test")
    assert str(error.value) == f"split='test': images:{tmp_path} has no test/ folder (it has: train)"


def test_images_folder_jpeg_and_color_bmp_decoded_to_grayscale(tmp_path):
    rng = np.random.default_rng(3)
    color = rng.integers(0, 256, size=(7, 9, 3), dtype=np.uint8)
    assert cv2.imwrite(str(tmp_path / "a.bmp"), color)
    assert cv2.imwrite(str(tmp_path / "b.jpg"), color)
    data = load_dataset(f"images:{tmp_path}")
    np.testing.assert_array_equal(data.images[0], cv2.cvtColor(color, cv2.COLOR_BGR2GRAY))
    np.testing.assert_array_equal(data.images[1], cv2.imread(str(tmp_path / "b.jpg"), cv2.IMREAD_GRAYSCALE))


def test_images_folder_is_read_lazily_and_streamed(class_folder, monkeypatch):
    root, expected, labels = class_folder
    decoded = []
    real_decode = datasets._decode_gray
    monkeypatch.setattr(datasets, "_decode_gray", lambda path, h, w: decoded.append(path) or real_decode(path, h, w))
    view = open_dataset(f"images:{root}")
    assert decoded == []  # opening reads file headers only
    np.testing.assert_array_equal(view.read(1, 3), expected[1:3])
    assert len(decoded) == 2
    # Fingerprint streamed in blocks of at most one 6x8 image: bounded memory, same digest.
    monkeypatch.setattr(datasets, "STREAM_BLOCK_BYTES", 6 * 8)
    blocks = []
    real_read = datasets._FileStore.read
    monkeypatch.setattr(datasets._FileStore, "read",
                        lambda self, positions, h, w: blocks.append(len(positions)) or real_read(self, positions, h, w))
    assert view.fingerprint == fingerprint(expected, labels)
    assert blocks == [1] * 5


def test_images_folder_fingerprint_follows_a_file_rewritten_within_one_clock_tick(tmp_path):
    # Same size, same mtime, same inode: only the content tells (timestamps tick coarsely).
    images = make_images(2, height=6, width=8)
    paths = [tmp_path / "a.bmp", tmp_path / "b.bmp"]
    for path, image in zip(paths, images):
        assert cv2.imwrite(str(path), image)
    before_stat = paths[0].stat()
    before = open_dataset(f"images:{tmp_path}").fingerprint
    changed = images.copy()
    changed[0, 2, 3] ^= 1
    assert cv2.imwrite(str(paths[0]), changed[0])
    os.utime(paths[0], ns=(before_stat.st_atime_ns, before_stat.st_mtime_ns))
    after_stat = paths[0].stat()
    assert (after_stat.st_size, after_stat.st_mtime_ns, after_stat.st_ino) == (
        before_stat.st_size, before_stat.st_mtime_ns, before_stat.st_ino)
    after = open_dataset(f"images:{tmp_path}").fingerprint
    assert before == fingerprint(images) and after == fingerprint(changed)


def test_images_folder_mixed_sizes_name_two_files(tmp_path):
    _write_png(tmp_path / "a.png", np.zeros((4, 6), np.uint8))
    _write_png(tmp_path / "b.png", np.zeros((4, 6), np.uint8))
    _write_png(tmp_path / "c.png", np.zeros((5, 6), np.uint8))
    with pytest.raises(ValueError) as error:
        open_dataset(f"images:{tmp_path}")
    assert str(error.value) == (
        f"images:{tmp_path} split=all: images differ in size: {tmp_path}/a.png is 4x6 (height x width) "
        f"but {tmp_path}/c.png is 5x6; a selection needs one size: resize the images to one size first, "
        f"or narrow the selection with start/stop/classes"
    )
    assert open_dataset(f"images:{tmp_path}", stop=2).n == 2  # a same-size selection is fine


def test_images_folder_unreadable_image_is_dataset_error(tmp_path):
    _write_png(tmp_path / "a.png", make_images(1, height=40, width=60)[0])
    (tmp_path / "b.png").write_bytes(b"this is not a png")
    with pytest.raises(DatasetError) as error:
        open_dataset(f"images:{tmp_path}")
    assert str(error.value).startswith(f"cannot read image {tmp_path}/b.png: cannot identify image file")
    # A valid header over broken pixel data passes the open and fails when decoded.
    png = (tmp_path / "a.png").read_bytes()
    (tmp_path / "b.png").write_bytes(png[: len(png) // 2])
    view = open_dataset(f"images:{tmp_path}")
    with pytest.raises(DatasetError) as error:
        view.read(0, 2)
    assert str(error.value) == f"cannot read image {tmp_path}/b.png: OpenCV could not decode it"


def test_images_folder_without_images(tmp_path):
    (tmp_path / "readme.txt").write_text("no pictures here")
    with pytest.raises(ValueError) as error:
        open_dataset(f"images:{tmp_path}")
    assert str(error.value) == (f"images:{tmp_path}: no PNG/JPEG/BMP image in {tmp_path} (searched "
                                f"recursively; 1 other file(s) ignored)")


# ---------------------------------------------------------------------------------------
# matplotlib's sample photographs
# ---------------------------------------------------------------------------------------


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
    assert datasets._resize(image, 6, 8).shape == (6, 8)
    assert datasets._resize(image, 3, 2).shape == (3, 2)
    assert datasets._center_crop_to_aspect(np.zeros((10, 40)), 600, 512).shape == (10, 9)
    assert datasets._center_crop_to_aspect(np.zeros((40, 10)), 600, 512).shape == (12, 10)


# ---------------------------------------------------------------------------------------
# tasks.idx writer and header reader; the Keras cache folder
# ---------------------------------------------------------------------------------------


def test_write_idx_matches_the_format_and_leaves_no_temporary_file(tmp_path):
    from tasks.idx import read_idx_header, write_idx

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


def test_keras_cache_folder_defaults_to_home_dot_keras(tmp_path, monkeypatch):
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".keras").mkdir()
    assert datasets.keras_cache_folder() == tmp_path / ".keras" / "datasets" / "fashion-mnist"
    assert datasets.keras_cache_folder("mnist") == tmp_path / ".keras" / "datasets"
    with pytest.raises(ValueError, match="name: 'cifar10' is not a Keras dataset"):
        datasets.keras_cache_folder("cifar10")
