"""Tests for convsweep.tasks.datasets.keras_source: Fashion-MNIST and MNIST through keras.datasets
(temporary KERAS_HOME), the Keras cache folder, and every failure message."""

from __future__ import annotations

import gzip
import importlib
import socket
from pathlib import Path

import numpy as np
import pytest

from convsweep.tasks.datasets import (
    FASHION_MNIST_CLASSES,
    DatasetError,
    DownloadError,
    fingerprint,
    keras_cache_folder,
    keras_source,
    open_dataset,
    read_images,
)
from tests.helpers.idx import make_keras_home, make_split, write_idx_images, write_idx_labels
from tests.tasks.datasets.conftest import keras_private_module

FASHION_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
# Exactly what keras.utils.get_file raises when urlretrieve fails with a URLError offline.
OFFLINE = "URL fetch failure on {}: None -- [Errno -3] Temporary failure in name resolution"


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
    train = read_images("fashion_mnist", split="train")
    np.testing.assert_array_equal(train.images, train_images)
    np.testing.assert_array_equal(train.labels, train_labels)


def test_fashion_mnist_split_all_is_train_then_test(keras_home, idx_data):
    (train_images, train_labels), (test_images, test_labels) = idx_data
    data = read_images("fashion_mnist", split="all")
    np.testing.assert_array_equal(data.images, np.concatenate([train_images, test_images]))
    np.testing.assert_array_equal(data.labels, np.concatenate([train_labels, test_labels]))
    assert data.split == "all" and data.n == 20


def test_fashion_mnist_and_idx_copy_share_fingerprint_one_pixel_changes_it(
    keras_home, idx_folder_gz, idx_folder_raw, idx_data
):
    (_, _), (test_images, test_labels) = idx_data
    via_keras = open_dataset("fashion_mnist", split="test")
    via_gz = open_dataset(f"idx:{idx_folder_gz}", split="test")
    via_raw = read_images(f"idx:{idx_folder_raw}", split="test")
    expected = fingerprint(test_images, test_labels)
    assert via_keras.fingerprint == via_gz.fingerprint == via_raw.fingerprint == expected
    assert via_keras.source != via_gz.source
    for split in ("train", "all"):
        assert (
            open_dataset("fashion_mnist", split=split).fingerprint
            == open_dataset(f"idx:{idx_folder_gz}", split=split).fingerprint
        )

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
    write_idx_labels(keras_home / "datasets" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz", (test_labels + 1) % 10)
    assert open_dataset("fashion_mnist").fingerprint != digest
    assert load_data_calls == [1, 1]


def test_fashion_mnist_keras_home_resolved_per_call(tmp_path, monkeypatch, keras_home):
    open_dataset("fashion_mnist")  # Keras imported now, with the first home
    other = make_keras_home(tmp_path / "other", train=make_split(3, seed=5), test=make_split(5, seed=6))
    monkeypatch.setenv("KERAS_HOME", str(other))
    view = open_dataset("fashion_mnist")
    assert view.n == 5
    assert str(other / "datasets" / "fashion-mnist") in view.source
    assert keras_cache_folder() == other / "datasets" / "fashion-mnist"


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
    broken.write_bytes(
        gzip.compress((2051).to_bytes(4, "big") + len(test_labels).to_bytes(4, "big") + test_labels.tobytes())
    )
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

    monkeypatch.setattr(keras_source.importlib, "import_module", no_keras)
    with pytest.raises(DatasetError) as error:
        open_dataset("fashion_mnist")
    assert str(error.value).startswith("fashion_mnist: cannot import Keras to load it (KERAS_BACKEND=")
    assert "ModuleNotFoundError: No module named 'keras'" in str(error.value)
    assert "read local IDX files with the spec idx:PATH" in str(error.value)


def test_keras_cache_folder_defaults_to_home_dot_keras(tmp_path, monkeypatch):
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".keras").mkdir()
    assert keras_cache_folder() == tmp_path / ".keras" / "datasets" / "fashion-mnist"
    assert keras_cache_folder("mnist") == tmp_path / ".keras" / "datasets"
    assert keras_cache_folder("cifar10") == tmp_path / ".keras" / "datasets"
    with pytest.raises(ValueError, match="name: 'cifar11' is not a Keras dataset"):
        keras_cache_folder("cifar11")


# ---------------------------------------------------------------------------------------
# One retry layer: only a failed download is retried, and only here
# ---------------------------------------------------------------------------------------


@pytest.fixture
def sleeps(monkeypatch):
    """The waits of the download retry, recorded instead of slept."""
    waited = []
    monkeypatch.setattr(keras_source.time, "sleep", waited.append)
    return waited


def test_failed_download_is_retried_with_the_documented_waits_then_is_transient(empty_keras_home, monkeypatch, sleeps):
    tried = []

    def offline_get_file(fname=None, origin=None, **kwargs):
        tried.append(origin)
        raise Exception(OFFLINE.format(origin))

    monkeypatch.setattr(keras_private_module("fashion_mnist"), "get_file", offline_get_file)
    with pytest.raises(DownloadError) as error:
        open_dataset("fashion_mnist")
    assert len(tried) == 3
    assert sleeps == list(keras_source.DOWNLOAD_RETRY_DELAYS) == [1.0, 4.0]
    assert isinstance(error.value, DatasetError) and error.value.transient


@pytest.mark.parametrize("name", ["train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"])
def test_corrupt_cached_file_fails_on_the_first_try(keras_home, load_data_calls, sleeps, name):
    broken = keras_home / "datasets" / "fashion-mnist" / name
    _truncate(broken, 300 if "images" in name else 20)
    with pytest.raises(DatasetError) as error:
        open_dataset("fashion_mnist")
    assert load_data_calls == [1] and sleeps == []  # tried once, no wait
    assert type(error.value) is DatasetError and not error.value.transient
    assert str(error.value).startswith(f"fashion_mnist: corrupt file in the Keras cache: {broken}: ")


def test_download_origin_from_the_environment_serves_the_files(tmp_path, monkeypatch, idx_data):
    train, test = idx_data
    mirror = make_keras_home(tmp_path / "mirror", train=train, test=test) / "datasets" / "fashion-mnist"
    home = tmp_path / "home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setenv(keras_source.ORIGIN_ENV, mirror.as_uri())  # a "/" is added
    module = keras_private_module("fashion_mnist")
    real_get_file = module.get_file
    view = open_dataset("fashion_mnist")
    np.testing.assert_array_equal(view.read(0, view.n), test[0])
    assert view.source.endswith(f"(downloaded now from {mirror.as_uri()}/)")
    assert module.get_file is real_get_file  # Keras is left as it was
    monkeypatch.delenv(keras_source.ORIGIN_ENV)
    assert keras_source.download_origin() == FASHION_URL == keras_source.DEFAULT_ORIGIN


def test_download_from_a_closed_local_port_fails_with_the_ways_out(empty_keras_home, monkeypatch, no_retry_wait):
    # A bound socket that does not listen: connections are refused at once, with or without internet.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        origin = f"http://127.0.0.1:{closed.getsockname()[1]}/"
        monkeypatch.setenv(keras_source.ORIGIN_ENV, origin)
        with pytest.raises(DownloadError) as error:
            open_dataset("fashion_mnist")
    message = str(error.value)
    assert message.startswith(
        f"fashion_mnist: cannot download train-labels-idx1-ubyte.gz from "
        f"{origin}train-labels-idx1-ubyte.gz (3 attempts; last error: "
    )
    assert "Ways out: read a local copy with the spec idx:PATH" in message
