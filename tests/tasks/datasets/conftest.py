"""Fixtures for the convsweep.tasks.datasets tests: a fresh memo, IDX folders (gz and raw), a selection
folder and a temporary Keras cache."""

from __future__ import annotations

import importlib

import pytest

import convsweep.tasks.datasets as datasets
from tests.helpers.idx import make_keras_home, make_split, write_idx_folder


@pytest.fixture(autouse=True)
def _fresh_memo():
    datasets.clear_caches()
    yield
    datasets.clear_caches()


@pytest.fixture
def idx_data():
    """(train, test) as (images uint8 (n, 28, 28), labels uint8 (n,)): 12 and 8 seeded images."""
    return make_split(12, seed=1), make_split(8, seed=2)


@pytest.fixture
def idx_folder_gz(tmp_path, idx_data):
    """An ``idx:`` folder with both splits, gzip-compressed."""
    train, test = idx_data
    return write_idx_folder(tmp_path / "idx_gz", train=train, test=test, gz=True)


@pytest.fixture
def idx_folder_raw(tmp_path, idx_data):
    """An ``idx:`` folder with both splits, uncompressed."""
    train, test = idx_data
    return write_idx_folder(tmp_path / "idx_raw", train=train, test=test, gz=False)


@pytest.fixture(scope="module")
def selection_folder(tmp_path_factory):
    """idx folder: 30 train + 20 test images, labels (i * 7) % 10."""
    folder = tmp_path_factory.mktemp("selection")
    train, test = make_split(30, seed=11), make_split(20, seed=12)
    write_idx_folder(folder, train=train, test=test, gz=False)
    return folder, train, test


@pytest.fixture
def keras_home(tmp_path, monkeypatch, idx_data):
    """KERAS_HOME set to a temporary folder whose Keras cache holds Fashion-MNIST-style files."""
    train, test = idx_data
    home = make_keras_home(tmp_path, "fashion_mnist", train=train, test=test)
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


@pytest.fixture
def empty_keras_home(tmp_path, monkeypatch):
    """KERAS_HOME set to a temporary folder with nothing cached."""
    home = tmp_path / "empty_keras_home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


@pytest.fixture
def no_retry_wait(monkeypatch):
    """Download retries without the waits between them."""
    from convsweep.tasks.datasets import keras_source

    monkeypatch.setattr(keras_source, "DOWNLOAD_RETRY_DELAYS", (0.0, 0.0))


def keras_private_module(name: str):
    """``keras.src.datasets.<name>``, where ``get_file`` is looked up by ``load_data``."""
    from convsweep.tasks.datasets import keras_source

    keras_source._import_keras_dataset(name)  # sets KERAS_BACKEND if unset, as the loader does
    return importlib.import_module(f"keras.src.datasets.{name}")
