"""The Keras cache's files read without Keras (``cache_only``, what workers do): the same arrays
as ``keras.datasets.<name>.load_data()``, no download, one line for a missing file."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

import convsweep.tasks.datasets as datasets
from convsweep.tasks.datasets import DatasetError, fingerprint, keras_source, open_dataset
from convsweep.tasks.datasets.keras_files import CacheFileMissing
from tests.helpers.cifar import make_colour_split, make_smooth_split, without_archive_hash, write_cifar_cache
from tests.helpers.idx import make_keras_home
from tests.tasks.datasets.conftest import keras_private_module


@pytest.fixture
def no_keras_load(monkeypatch):
    """Fail the test if anything calls keras.datasets.<name>.load_data() (or downloads)."""

    def refused(*args, **kwargs):
        raise AssertionError("cache_only called Keras' load_data()")

    monkeypatch.setattr(keras_source, "_call_keras_load_data", refused)


def both_ways(spec: str, split: str, *, colour: bool = False):
    """(view through Keras, view from the cache files), each in a fresh memo."""
    datasets.clear_caches()
    through_keras = open_dataset(spec, split=split, colour=colour)
    keras_images = through_keras.read(0, through_keras.n)
    datasets.clear_caches()
    return (through_keras, keras_images), open_dataset(spec, split=split, colour=colour, cache_only=True)


def assert_same(through_keras, keras_images, direct):
    np.testing.assert_array_equal(direct.read(0, direct.n), keras_images)
    np.testing.assert_array_equal(direct.labels, through_keras.labels)
    assert direct.labels.dtype == through_keras.labels.dtype == np.int64
    assert direct.class_names == through_keras.class_names
    assert direct.fingerprint == through_keras.fingerprint


def test_fashion_mnist_cache_files_equal_keras_load_data(keras_home, idx_data):
    (keras_view, keras_images), direct = both_ways("fashion_mnist", "all")
    assert_same(keras_view, keras_images, direct)
    train, test = idx_data
    np.testing.assert_array_equal(keras_images, np.concatenate([train[0], test[0]]))


def test_mnist_npz_cache_file_equals_keras_load_data(tmp_path, monkeypatch, idx_data):
    train, test = idx_data
    home = make_keras_home(tmp_path, "mnist", train=train, test=test)
    monkeypatch.setenv("KERAS_HOME", str(home))
    module = keras_private_module("mnist")
    # Keras checks mnist.npz against the real file's hash; pretend it is the cached original.
    monkeypatch.setattr(module, "get_file", lambda fname, origin, **kwargs: str(home / "datasets" / fname))
    (keras_view, keras_images), direct = both_ways("mnist", "test")
    assert_same(keras_view, keras_images, direct)


def test_cifar100_archive_equals_keras_load_data_in_colour_and_grey(tmp_path, monkeypatch):
    train = make_colour_split(7, seed=3, classes=100)
    test = (make_colour_split(5, seed=4)[0], np.array([0, 99, 42, 7, 1]))
    write_cifar_cache(tmp_path, "cifar100", train=train, test=test)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    without_archive_hash(monkeypatch, "cifar100")
    for colour in (True, False):
        (keras_view, keras_images), direct = both_ways("cifar100", "all", colour=colour)
        assert_same(keras_view, keras_images, direct)
    np.testing.assert_array_equal(
        open_dataset("cifar100", split="all", colour=True, cache_only=True).read(0, 12),
        np.concatenate([train[0], test[0]]),
    )


def test_cifar10_archive_read_without_keras_is_the_five_batches_then_test(tmp_path, monkeypatch, no_keras_load):
    # Keras' own load of a CIFAR-10 archive is compared in test_cifar.py's way (50,000 images,
    # ~150 MB extracted); here the arrays the archive was written from are the reference.
    train, test = make_smooth_split(40), make_colour_split(6, seed=2)
    write_cifar_cache(tmp_path, "cifar10", train=train, test=test)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    view = open_dataset("cifar10", split="all", colour=True, cache_only=True)
    assert view.shape == (50_006, 32, 32, 3)
    repeated = np.tile(train[0], (1250, 1, 1, 1))
    np.testing.assert_array_equal(view.read(49_990, 50_006), np.concatenate([repeated[-10:], test[0]]))
    np.testing.assert_array_equal(view.labels[-6:], test[1])


def test_cache_only_reads_nothing_through_keras(keras_home, no_keras_load, idx_data):
    _, (test_images, test_labels) = idx_data
    view = open_dataset("fashion_mnist", split="test", cache_only=True)
    np.testing.assert_array_equal(view.read(0, view.n), test_images)
    assert view.fingerprint == fingerprint(test_images, test_labels.astype(np.int64))


def test_a_missing_cache_file_fails_with_one_line_naming_host_and_path_and_downloads_nothing(
    keras_home, no_keras_load, monkeypatch
):
    missing = keras_home / "datasets" / "fashion-mnist" / "t10k-images-idx3-ubyte.gz"
    missing.unlink()
    monkeypatch.setattr("convsweep.tasks.datasets.keras_files.socket.gethostname", lambda: "host-b")
    with pytest.raises(CacheFileMissing) as raised:
        open_dataset("fashion_mnist", split="test", cache_only=True)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"worker host-b: fashion_mnist: {missing} is missing from the Keras cache")
    assert "never download" in message and not missing.exists()


def test_a_corrupt_cache_file_is_a_dataset_error_naming_it(keras_home, no_keras_load):
    broken = keras_home / "datasets" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz"
    broken.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x08" + b"\x01" * 3))  # 8 labels declared, 3 there
    with pytest.raises(DatasetError) as raised:
        open_dataset("fashion_mnist", split="test", cache_only=True)
    assert str(broken) in str(raised.value) and "truncated" in str(raised.value)


def test_cache_only_must_be_a_bool(keras_home):
    with pytest.raises(TypeError, match="cache_only"):
        open_dataset("fashion_mnist", cache_only="yes")
