"""CIFAR-10 and CIFAR-100 through keras.datasets, from small batches in Keras' own on-disk
format in a temporary KERAS_HOME (see tests/helpers/cifar.py), in colour and in grey."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from convsweep.tasks.datasets import DownloadError, fingerprint, keras_source, open_dataset, read_images
from convsweep.tasks.datasets.spec import CIFAR10_CLASSES, CIFAR100_CLASSES
from tests.helpers.cifar import (
    full_cifar10_train,
    make_colour_split,
    make_smooth_split,
    without_archive_hash,
    write_cifar_cache,
)


@pytest.fixture(scope="module")
def cifar10_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("cifar10_home")
    train, test = make_smooth_split(40), make_colour_split(12, seed=2)
    write_cifar_cache(home, "cifar10", train=train, test=test)
    return home, train, test


@pytest.fixture
def cifar10(cifar10_home, monkeypatch):
    home, train, test = cifar10_home
    monkeypatch.setenv("KERAS_HOME", str(home))
    without_archive_hash(monkeypatch, "cifar10")
    return train, test


# Keras extracts the 150 MB of CIFAR-10 batches on every load_data() call, and the memo is
# cleared between tests: two tests, one load each.


def test_cifar10_in_colour_is_rgb_channels_last_with_class_names(cifar10):
    train, (images, labels) = cifar10
    data = read_images("cifar10", split="test", colour=True)
    assert data.images.shape == (12, 32, 32, 3) and data.channels == 3
    np.testing.assert_array_equal(data.images, images)
    np.testing.assert_array_equal(data.labels, labels)
    assert data.class_names == CIFAR10_CLASSES
    assert "keras.datasets.cifar10.load_data()" in data.source and "RGB" in data.source
    assert data.fingerprint == fingerprint(images, labels)
    # Keras' 50,000 training images; a class name selects
    view = open_dataset("cifar10", split="train", classes="cat", limit=4, colour=True)
    train_images, train_labels = full_cifar10_train(train)
    assert view.shape == (4, 32, 32, 3)
    chosen = np.flatnonzero(train_labels == CIFAR10_CLASSES.index("cat"))[:4]
    np.testing.assert_array_equal(view.read(0, 4), train_images[chosen])


def test_cifar10_grey_is_opencv_rgb2gray_with_its_own_fingerprint(cifar10):
    _, (images, _) = cifar10
    data = read_images("cifar10", split="test", limit=5)
    want = np.stack([cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) for image in images[:5]])
    np.testing.assert_array_equal(data.images, want)
    assert data.channels == 1 and "cvtColor(RGB2GRAY)" in data.source
    assert open_dataset("cifar10", limit=5, colour=True).fingerprint != data.fingerprint


def test_cifar100_fine_labels_and_names(tmp_path, monkeypatch):
    train = make_colour_split(7, seed=3, classes=100)
    test = (make_colour_split(5, seed=4)[0], np.array([0, 99, 42, 7, 1]))
    write_cifar_cache(tmp_path, "cifar100", train=train, test=test)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    without_archive_hash(monkeypatch, "cifar100")
    data = read_images("cifar100", split="all", colour=True)
    assert data.images.shape == (12, 32, 32, 3)
    np.testing.assert_array_equal(data.labels, np.concatenate([train[1], test[1]]))
    assert data.class_names == CIFAR100_CLASSES and CIFAR100_CLASSES[99] == "worm"
    assert CIFAR100_CLASSES[42] == "leopard"


def test_cifar10_offline_and_not_cached_says_where_to_put_the_archive(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(keras_source, "DOWNLOAD_RETRY_DELAYS", ())
    module = pytest.importorskip("keras.src.datasets.cifar10")

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: offline")

    monkeypatch.setattr(module, "get_file", offline)
    with pytest.raises(DownloadError, match="cifar-10-python.tar.gz to .*cifar-10-batches-py-target_archive"):
        open_dataset("cifar10")
