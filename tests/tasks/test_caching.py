"""Cache keys: plain-JSON inputs + the code version; computing a key has no side effect."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import convsweep.tasks.io.code_version
from convsweep.tasks.compute import process_chunk
from convsweep.tasks.model import ConvSetting
from convsweep.tasks.model.jobs import ChunkJob
from convsweep.tasks.model.records import DatasetRecord
from convsweep.tasks.prefect_glue import caching
from convsweep.tasks.prefect_glue.caching import SweepCachePolicy, code_version, with_cache
from tests.helpers.idx import make_split, write_idx_folder

DATASET = DatasetRecord.parse(
    dict(
        spec="idx:/data",
        split="test",
        selection={"split": "test"},
        n=4,
        height=8,
        width=8,
        fingerprint="f",
        source="test data",
    )
)
CONV = ConvSetting(resize=None, stride=(1, 1), padding="valid", pad_mode="zeros", dilation=(1, 1))

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("conv_core", "tasks", "flows", "convsweep")


def key_of(policy: SweepCachePolicy, inputs: dict, task_name: str = "process-chunk") -> str:
    context = SimpleNamespace(task=SimpleNamespace(name=task_name))
    return policy.compute_key(context, inputs, {})


def test_compute_key_is_one_key_for_equal_values_of_other_types():
    policy = SweepCachePolicy(key_inputs=lambda inputs: {"stride": inputs["stride"]})
    keys = {key_of(policy, {"stride": value}) for value in (2, np.int64(2), 2.0, np.float32(2.0))}
    assert len(keys) == 1
    assert key_of(policy, {"stride": 3}) not in keys
    assert key_of(policy, {"stride": 2}, task_name="write-samples") not in keys


def test_compute_key_only_reads_the_selected_inputs():
    policy = SweepCachePolicy(key_inputs=lambda inputs: {"chunk": inputs["chunk"]})
    assert key_of(policy, {"chunk": [0, 8], "big": np.zeros(3)}) == key_of(policy, {"chunk": [0, 8], "big": None})


def test_compute_key_has_no_side_effect_on_records_or_outputs(tmp_path):
    record = tmp_path / "results" / "a-record"
    record.parent.mkdir()
    record.write_text("{}")
    policy = SweepCachePolicy(expected_outputs=lambda inputs: [tmp_path / "missing.png"])
    key_of(policy, {"x": 1})
    assert record.read_text() == "{}"
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["a-record", "results"]


def test_with_cache_refreshes_a_task_whose_record_outlived_its_outputs(tmp_path):
    maps_dir = tmp_path / "maps"
    inputs = {"job": ChunkJob(DATASET, (0, 4), CONV, {"sobel_h": [[1]]}, (), maps_dir=str(maps_dir))}
    cache = tmp_path / "cache"
    # No record yet (another sweep may be computing it): nothing to refresh.
    assert with_cache(process_chunk, cache, inputs=inputs).refresh_cache is False
    key = process_chunk.cache_policy.compute_key(SimpleNamespace(task=process_chunk), inputs, {})
    (cache / "records").mkdir(parents=True, exist_ok=True)
    (cache / "records" / key).write_text("{}")
    # A record whose map files are gone would lie: the task runs again.
    assert with_cache(process_chunk, cache, inputs=inputs).refresh_cache is True
    (maps_dir / "sobel_h").mkdir(parents=True)
    (maps_dir / "sobel_h" / "0000000-0000004.npy").write_bytes(b"")
    assert with_cache(process_chunk, cache, inputs=inputs).refresh_cache is False
    assert with_cache(process_chunk, cache, inputs=inputs, refresh=True).refresh_cache is True


def copy_project(target: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, target / package, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_code_version_covers_the_sweep_model(tmp_path):
    copy = copy_project(tmp_path)
    before = code_version.__wrapped__(copy)
    assert before == code_version.__wrapped__(ROOT)
    settings = copy / "tasks" / "model" / "settings.py"
    settings.write_text(settings.read_text().replace('return "nopool"', 'return "unpooled"'))
    assert code_version.__wrapped__(copy) != before
    assert (
        "tasks" in convsweep.tasks.io.code_version.VERSIONED_PACKAGES
        and "conv_core" in convsweep.tasks.io.code_version.VERSIONED_PACKAGES
    )


@pytest.mark.slow
def test_label_edited_in_a_copy_recomputes_instead_of_crashing(tmp_path, prefect_server):
    """The first landing's bug: a label changed outside the hashed code -> KeyError on a stale cache."""
    copy = copy_project(tmp_path / "project")
    data = write_idx_folder(tmp_path / "idx", test=make_split(12, seed=5))
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(copy),
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": prefect_server.api_url,
        "COLUMNS": "200",
    }
    arguments = [
        sys.executable,
        "-c",
        "from convsweep.cli import main; main()",
        "sweep",
        "--dataset",
        f"idx:{data}",
        "--strides",
        "1",
        "--paddings",
        "valid",
        "--pool-modes",
        "max,none",
        "--chunk-size",
        "6",
        "--samples",
        "0",
        "--out",
        str(tmp_path / "out"),
        "--cache-dir",
        str(tmp_path / "cache"),
    ]

    def sweep() -> subprocess.CompletedProcess:
        return subprocess.run(arguments, cwd=copy, env=environment, capture_output=True, text=True, timeout=600)

    first = sweep()
    assert first.returncode == 0, first.stderr
    warm = sweep()
    assert warm.returncode == 0, warm.stderr
    assert re.search(r"\b(\d+) task runs \((\d+) cached\)", warm.stdout + warm.stderr).group(2) != "0"
    settings = copy / "tasks" / "model" / "settings.py"
    settings.write_text(settings.read_text().replace('return "nopool"', 'return "unpooled"'))
    edited = sweep()
    assert edited.returncode == 0, edited.stderr
    assert "KeyError" not in edited.stderr
    counts = re.search(r"\b(\d+) task runs \((\d+) cached\)", edited.stdout + edited.stderr)
    assert counts is not None and counts.group(2) == "0", edited.stdout + edited.stderr  # all recomputed
    assert (tmp_path / "out" / "idx-idx-test" / "samples" / "rnative-s1-pvalid-zeros-d1").is_dir()


def test_compute_key_changes_with_the_numpy_or_opencv_version(monkeypatch):
    policy = SweepCachePolicy(key_inputs=lambda inputs: inputs)
    here = key_of(policy, {"x": 1})
    assert caching.versions()["numpy"] == np.__version__ and set(caching.versions()) == {"code", "numpy", "opencv"}
    for library in ("numpy", "opencv"):
        other = {**caching._library_versions(), library: "0.0.0"}
        monkeypatch.setattr(caching, "_library_versions", lambda other=other: other)
        assert key_of(policy, {"x": 1}) != here, library
        monkeypatch.undo()
    assert key_of(policy, {"x": 1}) == here


def test_with_cache_carries_the_flow_versions_to_the_worker(tmp_path):
    configured = with_cache(process_chunk, tmp_path / "cache")
    assert configured.cache_policy.flow_versions == caching.versions()
    assert process_chunk.cache_policy.flow_versions is None  # the task itself is not changed
    # No lock manager, no isolation level: Prefect's default READ_COMMITTED, which takes no lock.
    assert configured.cache_policy.lock_manager is None and configured.cache_policy.isolation_level is None


def test_refuse_other_code_names_the_host_and_both_versions(monkeypatch):
    caching.refuse_other_code(None)  # nothing known: nothing checked
    caching.refuse_other_code(caching.versions())
    monkeypatch.setattr(caching.socket, "gethostname", lambda: "worker-7")
    with pytest.raises(caching.CodeMismatchError) as raised:
        caching.refuse_other_code({**caching.versions(), "code": "0123456789abcdef"})
    message = str(raised.value)
    assert "\n" not in message and "worker-7" in message
    assert code_version() in message and "0123456789abcdef" in message
