"""Sweeps sharing a cache folder never wait on each other: a killed sweep does not hold up the rerun, concurrent sweeps all finish."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.convsweep.conftest import run_convsweep
from tests.helpers.idx import make_split, write_idx_folder
from tests.helpers.servers import start_convsweep

DEADLINE = 300.0  # seconds; generous for a loaded machine, but every wait is bounded


def chunk_recorded(cache: Path) -> bool:
    """A process-chunk record is written (its result holds the chunk's ``maps``)."""
    for record in (cache / "records").glob("*"):
        try:
            if b'"maps"' in (cache / "results" / record.name).read_bytes():
                return True
        except FileNotFoundError:
            continue
    return False


def cached_count(stdout: str) -> tuple[int, int]:
    counts = re.search(r"(\d+) task runs \((\d+) cached\)", " ".join(stdout.split()))
    assert counts, stdout
    return int(counts.group(1)), int(counts.group(2))


@pytest.mark.slow
def test_sweep_killed_mid_run_does_not_make_the_rerun_wait(tmp_path, env):
    data = write_idx_folder(tmp_path / "idx", test=make_split(400, seed=5))
    cache = Path(env["CONVSWEEP_CACHE_DIR"])
    args = [
        "sweep",
        "--dataset",
        f"idx:{data}",
        "--resize",
        "160",
        "--chunk-size",
        "100",
        "--samples",
        "0",
        "--out",
        str(tmp_path / "out"),
        "--name",
        "killed",
    ]
    sweep = start_convsweep(args, env=env, cwd=tmp_path)
    end = time.monotonic() + DEADLINE
    try:
        while not chunk_recorded(cache):  # mid-run: its first chunk is recorded, the others are computing
            assert sweep.poll() is None, sweep.communicate()
            assert time.monotonic() < end, "no record appeared"
            time.sleep(0.005)
    finally:
        os.killpg(sweep.pid, signal.SIGKILL)  # kill -9 the sweep (and its temporary API server)
        sweep.communicate(timeout=DEADLINE)

    began = time.monotonic()
    done = run_convsweep(*args, env=env, cwd=tmp_path, timeout=DEADLINE)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "lock" not in done.stderr, done.stderr
    assert cached_count(done.stdout)[1] >= 1  # what the killed sweep recorded is reused
    assert not (cache / "locks").exists()  # nothing a dead sweep could leave held
    print(f"rerun after kill -9: {time.monotonic() - began:.1f} s")


SETTINGS = [
    "--resize",
    "56",
    "--strides",
    "1,2,3,4",
    "--paddings",
    "valid,same,1",
    "--chunk-size",
    "5",
    "--samples",
    "0",
]
CHUNK_KEYS = 12 * 4  # 12 conv settings x 20 images in chunks of 5


@pytest.mark.slow
def test_three_overlapping_sweeps_on_one_cache_all_finish_and_equal_a_serial_run(tmp_path, env, idx_folder):
    serial_env = {**env, "CONVSWEEP_CACHE_DIR": str(tmp_path / "serial-cache")}
    serial = run_convsweep(
        "sweep",
        "--dataset",
        f"idx:{idx_folder}",
        *SETTINGS,
        "--out",
        str(tmp_path / "serial"),
        "--name",
        "s",
        env=serial_env,
        cwd=tmp_path,
        timeout=DEADLINE,
    )
    assert serial.returncode == 0, serial.stderr
    expected = pd.read_csv(tmp_path / "serial" / "s" / "sizes.csv").drop(columns=["compute_seconds"])

    for round_ in range(2):
        cache = tmp_path / f"cache-{round_}"
        sweeps = [
            start_convsweep(
                [
                    "sweep",
                    "--dataset",
                    f"idx:{idx_folder}",
                    *SETTINGS,
                    "--out",
                    str(tmp_path / f"out-{round_}-{index}"),
                    "--name",
                    "s",
                ],
                env={
                    **env,
                    "CONVSWEEP_CACHE_DIR": str(cache),
                    "PREFECT_HOME": str(tmp_path / f"home-{index}"),
                },  # one PREFECT_HOME each, the session's server
                cwd=tmp_path,
            )
            for index in range(3)
        ]
        try:
            outputs = [sweep.communicate(timeout=DEADLINE) for sweep in sweeps]
        finally:
            for sweep in sweeps:
                if sweep.poll() is None:
                    os.killpg(sweep.pid, signal.SIGKILL)
                    sweep.communicate()
        cached = 0
        for index, (sweep, (stdout, stderr)) in enumerate(zip(sweeps, outputs, strict=False)):
            assert sweep.returncode == 0, stderr
            assert "Traceback" not in stderr and "warning" not in stderr, stderr
            cached += cached_count(stdout)[1]
            sizes = pd.read_csv(tmp_path / f"out-{round_}-{index}" / "s" / "sizes.csv").drop(
                columns=["compute_seconds"]
            )
            pd.testing.assert_frame_equal(sizes, expected)
        # Chunk keys are shared: each is computed at least once, and again by a sweep that reached it
        # before its record was written (no locks: nobody waits); sample, CSV and report keys include
        # each sweep's own output folder, so those are computed by every sweep.
        assert cached <= 2 * CHUNK_KEYS
        assert not (cache / "locks").exists()
