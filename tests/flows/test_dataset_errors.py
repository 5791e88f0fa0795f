"""Data that cannot be read fails the flows on the first try: no Prefect retry of
load-dataset or load-image (the Keras loader's download retry is the only retry layer)."""

from __future__ import annotations

import pytest

import convsweep.tasks.datasets.identity_index
import convsweep.tasks.load
import convsweep.tasks.notebook
from convsweep.flows.notebook import notebook
from convsweep.flows.sweep import sweep
from convsweep.tasks.datasets import DatasetError


@pytest.fixture
def corrupt_idx_folder(idx_folder):
    """The flows' idx folder with its images file cut short (a truncated gzip stream)."""
    folder, _ = idx_folder
    images = folder / "t10k-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:200])
    return folder


def counting(monkeypatch, module):
    """Count the calls of ``module.open_dataset`` (the task's one way to the data)."""
    calls = []
    real = module.open_dataset

    def open_dataset(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "open_dataset", open_dataset)
    return calls


def test_tasks_that_read_data_have_no_prefect_retries():
    assert (convsweep.tasks.load.describe_selection.name, convsweep.tasks.load.describe_selection.retries) == (
        "load-dataset",
        0,
    )
    assert (convsweep.tasks.notebook.load_image.name, convsweep.tasks.notebook.load_image.retries) == ("load-image", 0)


def test_sweep_on_a_corrupt_file_fails_on_the_first_try(tmp_path, corrupt_idx_folder, monkeypatch):
    calls = counting(monkeypatch, convsweep.tasks.datasets.identity_index)  # where load-dataset opens the data
    with pytest.raises(DatasetError, match="truncated gzip file") as error:
        sweep(
            dataset=f"idx:{corrupt_idx_folder}",
            out=str(tmp_path / "out"),
            name="t",
            cache_dir=str(tmp_path / "cache"),
            chunk_size=16,
        )
    assert not error.value.transient
    assert len(calls) == 1


def test_notebook_on_a_corrupt_file_fails_on_the_first_try(tmp_path, corrupt_idx_folder, monkeypatch):
    calls = counting(monkeypatch, convsweep.tasks.notebook)
    with pytest.raises(DatasetError, match="truncated gzip file"):
        notebook(dataset=f"idx:{corrupt_idx_folder}", split="test", index=0, out=str(tmp_path), name="nb")
    assert len(calls) == 1
