"""A chunk computed in a fresh process, as a Dask or process-pool worker computes it: the pixels
come from the Keras cache's files, Keras and JAX are never imported, and the record is the one
computed here on what ``keras.datasets.fashion_mnist.load_data()`` returned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import convsweep.tasks.datasets as datasets
from convsweep.tasks.chunk.maps import chunk_record
from convsweep.tasks.datasets import open_dataset
from convsweep.tasks.datasets.identity_index import part_fingerprint
from convsweep.tasks.load import describe_selection
from convsweep.tasks.model import ConvSetting, PoolSetting
from tests.helpers.idx import make_keras_home, make_split

ROOT = Path(__file__).resolve().parents[2]
KERNELS = {"sobel_h": [[1, 2, 1], [0, 0, 0], [-1, -2, -1]], "sobel_v": [[1, 0, -1], [2, 0, -2], [1, 0, -1]]}
CONV = ConvSetting(resize=None, stride=(2, 2), padding="same", pad_mode="zeros", dilation=(1, 1))
POOLS = [PoolSetting("none", None, None, None), PoolSetting("max", (2, 2), (2, 2), "valid")]

# What a worker process runs for a chunk task: process_chunk's own function, nothing loaded before.
WORKER = r"""
import json, sys
from convsweep.tasks.compute import process_chunk
from convsweep.tasks.model import ConvSetting, PoolSetting
from convsweep.tasks.model.jobs import ChunkJob
from convsweep.tasks.model.records import DatasetRecord

dataset, chunk, fingerprint, kernels = json.loads(sys.argv[1])
record = process_chunk.fn(ChunkJob(
    DatasetRecord.parse(dataset),
    tuple(chunk),
    ConvSetting(resize=None, stride=(2, 2), padding="same", pad_mode="zeros", dilation=(1, 1)),
    kernels,
    (PoolSetting("none", None, None, None), PoolSetting("max", (2, 2), (2, 2), "valid")),
    chunk_fingerprint=fingerprint,
))
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("keras", "jax", "jaxlib", "tensorflow"))
print(json.dumps({"record": record.model_dump(mode="json"), "loaded": loaded}))
"""


def run_worker(dataset: dict, chunk: tuple[int, int], fingerprint: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("KERAS_BACKEND", None)  # nothing may need a backend
    return subprocess.run(
        [sys.executable, "-c", WORKER, json.dumps([dataset, list(chunk), fingerprint, KERNELS])],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_chunk_in_a_fresh_worker_process_reads_the_keras_cache_without_keras_or_jax(tmp_path, monkeypatch):
    train, test = make_split(6, seed=3), make_split(9, seed=4)
    home = make_keras_home(tmp_path, "fashion_mnist", train=train, test=test)
    monkeypatch.setenv("KERAS_HOME", str(home))
    datasets.clear_caches()
    # Where the flow runs: the load task, through the real keras.datasets.fashion_mnist.load_data().
    dataset = describe_selection.fn("fashion_mnist", {"split": "test"})
    assert "keras" in sys.modules and "keras.datasets.fashion_mnist.load_data()" in dataset.source
    through_keras = open_dataset("fashion_mnist", split="test")
    start, stop = 2, 7
    images = through_keras.read(start, stop)
    expected = part_fingerprint(images, through_keras.labels[start:stop])

    done = run_worker(dataset.model_dump(mode="json"), (start, stop), expected)

    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["loaded"] == []  # no keras, jax, jaxlib (nor tensorflow) module in the worker
    # The worker's pixels passed the check against Keras' fingerprint, and give the same record.
    want = chunk_record(images, conv=CONV, kernels=KERNELS, pools=POOLS, chunk=(start, stop))
    got = result["record"]
    got.pop("seconds")
    assert got == {key: value for key, value in want.model_dump(mode="json").items() if key != "seconds"}
    np.testing.assert_array_equal(images, test[0][start:stop])


def test_chunk_in_a_fresh_worker_process_without_the_cache_file_fails_with_one_line(tmp_path, monkeypatch):
    train, test = make_split(6, seed=3), make_split(9, seed=4)
    home = make_keras_home(tmp_path, "fashion_mnist", train=train, test=test)
    monkeypatch.setenv("KERAS_HOME", str(home))
    datasets.clear_caches()
    dataset = describe_selection.fn("fashion_mnist", {"split": "test"})
    missing = home / "datasets" / "fashion-mnist" / "train-images-idx3-ubyte.gz"
    missing.unlink()  # e.g. a worker host whose KERAS_HOME is not the shared one

    done = run_worker(dataset.model_dump(mode="json"), (0, 3), "not-checked")

    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("convsweep.tasks.datasets.keras_files.CacheFileMissing: worker ")
    assert f"fashion_mnist: {missing} is missing from the Keras cache" in last
    assert not missing.exists()  # nothing downloaded
