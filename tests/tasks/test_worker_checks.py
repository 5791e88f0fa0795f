"""A worker refuses a chunk whose pixels are not the key's, or a flow whose code is not its own."""

from __future__ import annotations

import numpy as np
import pytest

from convsweep.tasks.datasets.identity_index import part_fingerprint
from convsweep.tasks.model.records import DatasetRecord
from convsweep.tasks.prefect_glue import worker_checks
from convsweep.tasks.prefect_glue.worker_checks import ChunkContentMismatch, check_chunk_content

DATASET = DatasetRecord.parse(
    dict(
        spec="idx:/shared/data/mnist",
        split="test",
        selection={"split": "test"},
        n=6,
        height=5,
        width=4,
        fingerprint="f",
        source="test data",
    )
)


def images_and_labels(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(3, 5, 4), dtype=np.uint8), rng.integers(0, 10, size=3).astype(np.int64)


def test_same_pixels_and_labels_pass():
    images, labels = images_and_labels(1)
    check_chunk_content(images, labels, dataset=DATASET, chunk=(3, 6), expected=part_fingerprint(images, labels))


@pytest.mark.parametrize("change", ["one pixel", "one label", "no labels"])
def test_other_data_is_refused_with_one_line_naming_host_path_and_both_fingerprints(monkeypatch, change):
    images, labels = images_and_labels(1)
    expected = part_fingerprint(images, labels)
    other_images, other_labels = images.copy(), labels.copy()
    if change == "one pixel":
        other_images[2, 4, 3] ^= 1
    elif change == "one label":
        other_labels[0] = (other_labels[0] + 1) % 10
    else:
        other_labels = None
    monkeypatch.setattr(worker_checks.socket, "gethostname", lambda: "host-b")
    with pytest.raises(ChunkContentMismatch) as raised:
        check_chunk_content(other_images, other_labels, dataset=DATASET, chunk=(3, 6), expected=expected)
    message = str(raised.value)
    assert "\n" not in message
    assert "host-b" in message and "/shared/data/mnist" in message and "3-6" in message
    assert expected in message and part_fingerprint(other_images, other_labels) in message


# -- before the sweep ----------------------------------------------------------------------


class LocalClient:
    """A stand-in for ``distributed.Client``: ``run`` calls the function here, for two "workers"."""

    def run(self, function, *args, **kwargs):  # distributed.Client.run passes keyword arguments on too
        return {"tcp://10.0.0.1:1": function(*args, **kwargs), "tcp://10.0.0.2:1": function(*args, **kwargs)}


@pytest.fixture
def folders(tmp_path):
    paths = {"cache": tmp_path / "cache", "outputs": tmp_path / "out", "data": tmp_path / "data"}
    for path in paths.values():
        path.mkdir()
    return paths


def api_url(url):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    return temporary_settings(updates={PREFECT_API_URL: url})


def test_workers_that_see_the_folders_pass_and_the_token_files_are_removed(folders):
    with api_url("http://127.0.0.1:9/api"):
        assert worker_checks.check_workers(LocalClient(), folders=folders, flow_run_id=None) == 2
    assert not [path for folder in folders.values() for path in folder.iterdir()]


def test_a_worker_that_cannot_see_a_folder_or_reach_the_api_stops_the_sweep_one_line_each(folders, monkeypatch):
    from tests.e2e.conftest import free_port

    missing = {**folders, "data": folders["data"].parent / "not-mounted"}
    monkeypatch.setattr(worker_checks, "API_PROBE_TIMEOUT", 5.0)
    with api_url(f"http://127.0.0.1:{free_port()}/api"):
        with pytest.raises(worker_checks.WorkerCheckError) as raised:
            worker_checks.check_workers(
                LocalClient(), folders=missing, flow_run_id="0b5e0e50-0000-0000-0000-000000000000"
            )
    lines = str(raised.value).splitlines()
    assert lines[0] == "2 of 2 Dask workers cannot run this sweep; nothing was computed:"
    assert len(lines) == 3 and lines[1].startswith("worker ") and "(tcp://10.0.0.1:1)" in lines[1]
    assert f"cannot see the data folder {missing['data']}" in lines[1] and "cannot reach the Prefect API" in lines[1]


def test_a_same_named_folder_that_is_not_the_flows_is_refused(folders, monkeypatch):
    real_probe = worker_checks.probe_worker

    def probe_elsewhere(paths, tokens, flow_run_id, **options):  # the worker's cache folder has no token: another disk
        return real_probe(paths, {**tokens, "cache": "another-token"}, flow_run_id, **options)

    monkeypatch.setattr(worker_checks, "probe_worker", probe_elsewhere)
    with api_url("http://127.0.0.1:9/api"), pytest.raises(worker_checks.WorkerCheckError) as raised:
        worker_checks.check_workers(LocalClient(), folders=folders, flow_run_id=None)
    assert f"the cache folder {folders['cache']} is not the flow's" in str(raised.value)


def test_data_folder_of_each_kind_of_spec(tmp_path):
    from convsweep.tasks.datasets.keras_source import keras_cache_folder

    assert worker_checks.data_folder(f"idx:{tmp_path}") == tmp_path
    assert worker_checks.data_folder("fashion_mnist") == keras_cache_folder("fashion_mnist")
    assert worker_checks.data_folder("cifar10") == keras_cache_folder("cifar10")  # the archive's folder
    assert worker_checks.data_folder("sample") is None
