"""The dataset read while the local server starts (convsweep/prefetch.py): only when it can only help."""

from __future__ import annotations

import pytest

from convsweep import local_api, prefetch
from tasks.datasets import memo
from tasks.datasets.identity_index import describe
from tasks.model import parse_parameters
from tests.helpers.idx import make_split, write_idx_folder


@pytest.fixture
def local_mode(tmp_path, monkeypatch):
    """The CLI's default path with no server recorded for a fresh PREFECT_HOME."""
    monkeypatch.setenv("CONVSWEEP_API", "local")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setattr(local_api, "prefect_home", lambda: tmp_path / "home")
    from prefect.settings import PREFECT_API_URL, temporary_settings

    memo.clear_caches()
    with temporary_settings(restore_defaults={PREFECT_API_URL}):  # whatever server other tests pointed Prefect at
        yield
    memo.clear_caches()


def settings_for(tmp_path, dataset: str):
    return parse_parameters(dataset=dataset, out=str(tmp_path / "out"), cache_dir=str(tmp_path / "cache"))


def test_prefetch_reads_local_data_into_the_memo_while_a_server_starts(tmp_path, local_mode):
    folder = write_idx_folder(tmp_path / "idx", test=make_split(12, seed=1))
    started = prefetch.read_while_server_starts(settings_for(tmp_path, f"idx:{folder}"))
    assert started is not None
    started.wait()
    # the memo holds the split now: the task's read below stores nothing new
    opened = []
    real = memo.ARRAYS.put
    memo.ARRAYS.put = lambda key, value: (opened.append(key), real(key, value))  # type: ignore[method-assign]
    try:
        describe(f"idx:{folder}", settings_for(tmp_path, f"idx:{folder}").selection(), None)
    finally:
        memo.ARRAYS.put = real  # type: ignore[method-assign]
    assert opened == []


def test_prefetch_skipped_with_a_server_given_temporary_mode_or_a_live_server(tmp_path, local_mode, monkeypatch):
    folder = write_idx_folder(tmp_path / "idx", test=make_split(4))
    settings = settings_for(tmp_path, f"idx:{folder}")
    monkeypatch.setattr(local_api, "has_live_server", lambda home: True)
    assert prefetch.read_while_server_starts(settings) is None
    monkeypatch.setattr(local_api, "has_live_server", lambda home: False)
    monkeypatch.setenv("CONVSWEEP_API", "temporary")
    assert prefetch.read_while_server_starts(settings) is None
    monkeypatch.setenv("CONVSWEEP_API", "local")
    from prefect.settings import temporary_settings

    with temporary_settings(updates={"api.url": "http://127.0.0.1:9/api"}):  # PREFECT_API_URL, as Prefect reads it
        assert prefetch.read_while_server_starts(settings) is None
    again = prefetch.read_while_server_starts(settings)  # the same, with nothing to skip it
    assert again is not None
    again.wait()


def test_prefetch_skipped_when_a_file_is_missing_or_the_index_knows_the_selection(tmp_path, local_mode, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # an empty Keras cache: a read would download
    assert prefetch.read_while_server_starts(settings_for(tmp_path, "fashion_mnist")) is None
    folder = write_idx_folder(tmp_path / "idx", test=make_split(4))
    settings = settings_for(tmp_path, f"idx:{folder}")
    describe(settings.dataset, settings.selection(), tmp_path / "cache")  # what load-dataset records
    assert prefetch.read_while_server_starts(settings) is None
