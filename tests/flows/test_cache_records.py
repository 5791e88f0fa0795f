"""Cache records are read only as plain JSON: a planted pickle is a cache miss, never executed."""

from __future__ import annotations

import base64
import json
import logging
import pickle
from pathlib import Path

import pytest
from prefect import flow, task
from prefect._internal.result_records import ResultRecord

from convsweep.tasks.prefect_glue.cache_records import UnsafeRecord, checked_metadata
from convsweep.tasks.prefect_glue.caching import SweepCachePolicy, with_cache

CALLS: list[int] = []


class Marker:
    """Unpickling this creates the file ``path`` (what an attacker's payload would do)."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@task(
    name="double",
    cache_policy=SweepCachePolicy(key_inputs=lambda inputs: inputs["x"]),
    result_serializer="json",
    persist_result=True,
)
def double(x: int) -> dict:
    CALLS.append(x)
    return {"value": 2 * x}


def run(cache: Path, x: int = 21):
    cached_task = with_cache(double, cache)

    @flow(persist_result=False)
    def one():
        future = cached_task.submit(x)
        return future.result(), future.state.name

    return one()


@pytest.fixture
def warnings_logged():
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    handler = Collect(level=logging.WARNING)
    logging.getLogger("convsweep.cache").addHandler(handler)
    yield records
    logging.getLogger("convsweep.cache").removeHandler(handler)


def only_record(cache: Path) -> tuple[Path, Path]:
    (metadata,) = list((cache / "records").iterdir())
    return metadata, Path(json.loads(metadata.read_bytes())["storage_key"])


def test_planted_pickle_record_is_not_executed_and_is_replaced(tmp_path, warnings_logged):
    cache = tmp_path / "cache"
    CALLS.clear()
    assert run(cache) == ({"value": 42}, "Completed")
    assert run(cache) == ({"value": 42}, "Cached")
    assert CALLS == [21]
    metadata_path, result_path = only_record(cache)
    assert result_path.parent == (cache / "results").resolve()

    # Rewrite the record as a pickle record whose payload creates a marker file when unpickled.
    metadata = json.loads(metadata_path.read_bytes())
    metadata["serializer"] = {"type": "pickle", "picklelib": "pickle"}
    marker = tmp_path / "marker"
    payload = base64.encodebytes(pickle.dumps(Marker(str(marker))))
    metadata_path.write_text(json.dumps(metadata))
    result_path.write_bytes(payload)
    # The test is meaningful: Prefect's own decoding of this record runs the payload.
    probe = tmp_path / "probe"
    ResultRecord.deserialize_from_result_and_metadata(
        result=base64.encodebytes(pickle.dumps(Marker(str(probe)))), metadata=metadata_path.read_bytes()
    )
    assert probe.exists()

    assert run(cache) == ({"value": 42}, "Completed")  # recomputed, not read
    assert not marker.exists()
    assert CALLS == [21, 21]
    assert len(warnings_logged) == 1 and "pickle" in warnings_logged[0] and str(metadata_path) in warnings_logged[0]
    rewritten = json.loads(metadata_path.read_bytes())
    assert rewritten["serializer"]["type"] == "json"
    assert json.loads(result_path.read_bytes()) == {"value": 42}
    assert run(cache) == ({"value": 42}, "Cached")
    assert not marker.exists()


def test_record_naming_its_own_json_decoder_is_read_with_plain_json(tmp_path):
    """A JSON record may not choose the library or object hook that decodes it."""
    cache = tmp_path / "cache"
    CALLS.clear()
    run(cache, 5)
    metadata_path, _ = only_record(cache)
    metadata = json.loads(metadata_path.read_bytes())
    metadata["serializer"]["object_decoder"] = "tests.flows.test_cache_records.evil_hook"
    metadata["serializer"]["jsonlib"] = "tests.flows.test_cache_records"
    metadata_path.write_text(json.dumps(metadata))
    assert run(cache, 5) == ({"value": 10}, "Cached")
    assert CALLS == [5] and not HOOK_CALLS


HOOK_CALLS: list[dict] = []


def evil_hook(obj):
    HOOK_CALLS.append(obj)
    return obj


def loads(*args, **kwargs):  # jsonlib of the planted record above
    HOOK_CALLS.append({"loads": args})
    raise AssertionError("the record's jsonlib was used")


@pytest.mark.parametrize(
    "result, reason",
    [
        (b'{"__class__": "pathlib.Path", "data": "/etc"}', "encoded Python object"),
        (b"\x80\x04K\x01.", "not UTF-8"),
        (b"{not json", "not JSON"),
    ],
)
def test_checked_metadata_rejects_results_that_are_not_plain_json(tmp_path, result, reason):
    (tmp_path / "k").write_bytes(result)
    raw = json.dumps({"storage_key": str(tmp_path / "k"), "serializer": {"type": "json"}}).encode()
    with pytest.raises(UnsafeRecord, match=reason):
        checked_metadata(raw, tmp_path)


def test_checked_metadata_rejects_result_files_outside_the_results_folder(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "k").write_bytes(b"{}")
    raw = json.dumps({"storage_key": str(tmp_path / "elsewhere" / "k"), "serializer": {"type": "json"}}).encode()
    with pytest.raises(UnsafeRecord, match="outside"):
        checked_metadata(raw, tmp_path / "results")


def test_result_emptied_by_another_sweep_rewriting_it_is_a_quiet_miss(tmp_path, warnings_logged):
    # No locks (docs/decisions/0010): a sweep rewriting a record truncates its result for an instant.
    cache = tmp_path / "cache"
    CALLS.clear()
    run(cache, 3)
    _, result_path = only_record(cache)
    result_path.write_bytes(b"")
    assert run(cache, 3) == ({"value": 6}, "Completed")  # recomputed and rewritten
    assert CALLS == [3, 3] and warnings_logged == []
    assert run(cache, 3) == ({"value": 6}, "Cached")
