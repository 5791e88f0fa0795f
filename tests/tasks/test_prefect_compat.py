"""One test per assumption tasks/prefect_glue/compat.py makes about Prefect's private APIs.

Each fails when the assumption breaks (a Prefect upgrade); the docstring of the function
under test says what would break in convsweep.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
from pathlib import Path

import pytest
from prefect.filesystems import LocalFileSystem, WritableFileSystem
from prefect.results import ResultRecord, ResultStore
from prefect.serializers import JSONSerializer

from convsweep.tasks.prefect_glue import compat as prefect_compat
from convsweep.tasks.prefect_glue.cache_records import JsonRecordStorage


class _Dispatching:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def aread(self) -> str:
        self.calls.append("async")
        return "async"

    @prefect_compat.dispatch_sync_or_async(aread)
    def read(self) -> str:
        self.calls.append("sync")
        return "sync"


def test_async_dispatch_runs_sync_body_from_sync_code_and_coroutine_when_awaited() -> None:
    target = _Dispatching()
    assert target.read() == "sync"

    async def from_async() -> str:
        return await target.read()

    assert asyncio.run(from_async()) == "async"
    assert target.calls == ["sync", "async"]
    # Prefect's own blocks dispatch the same way: LocalFileSystem.read_path is such a method.
    assert hasattr(LocalFileSystem.read_path, "aio") or inspect.iscoroutinefunction(LocalFileSystem.aread_path)


def test_result_record_metadata_accepts_what_prefect_writes_and_rejects_garbage(tmp_path: Path) -> None:
    # A record as Prefect's ResultStore serializes it; its "metadata" part is what key_storage holds.
    record = ResultRecord(
        result={"a": 1},
        metadata={
            "storage_key": str(tmp_path / "k"),
            "serializer": JSONSerializer(jsonlib="json"),
            "storage_block_id": None,
        },
    )
    metadata = json.loads(record.serialize_metadata())
    prefect_compat.validate_result_record_metadata(metadata)  # no error
    for garbage in ({"serializer": 42}, {"serializer": {"type": "json"}, "expiration": "not a date"}):
        with pytest.raises(ValueError):
            prefect_compat.validate_result_record_metadata(garbage)


def test_result_store_reads_metadata_from_key_storage_then_result_from_result_storage(tmp_path: Path) -> None:
    # The split record layout convsweep.tasks.prefect_glue.cache_records relies on: with metadata_storage (the cache
    # policy's key_storage), Prefect writes <records>/<key> (metadata) and <results>/<key> (result).
    records, results = tmp_path / "records", tmp_path / "results"
    results.mkdir()
    store = ResultStore(
        result_storage=LocalFileSystem(basepath=str(results)),
        metadata_storage=JsonRecordStorage(basepath=str(records), results_path=str(results)),
        serializer=JSONSerializer(jsonlib="json"),
    )
    key = hashlib.sha256(b"k").hexdigest()
    store.persist_result_record(store.create_result_record({"x": [1, 2]}, key=key))
    assert (records / key).exists() and (results / key).exists()
    assert json.loads((results / key).read_text()) == {"x": [1, 2]}  # the result alone, plain JSON
    assert json.loads((records / key).read_text())["storage_key"].endswith(key)
    assert store.exists(key)
    assert store.read(key).result == {"x": [1, 2]}


def test_local_file_system_resolves_inside_basepath_and_refuses_outside(tmp_path: Path) -> None:
    storage = LocalFileSystem(basepath=str(tmp_path))
    resolved = prefect_compat.resolve_local_path(storage, "abc")
    assert isinstance(resolved, Path) and resolved == (tmp_path / "abc").resolve()
    with pytest.raises(ValueError):
        prefect_compat.resolve_local_path(storage, "../outside")


def test_record_storage_is_a_writable_file_system_with_prefects_method_names() -> None:
    assert issubclass(JsonRecordStorage, WritableFileSystem)
    for name in ("read_path", "write_path", "aread_path", "awrite_path"):
        assert name in JsonRecordStorage.__dict__, name
        assert hasattr(WritableFileSystem, name.removeprefix("a")), name
