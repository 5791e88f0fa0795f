"""Several `convsweep sweep` runs started at once, each on its own temporary Prefect API.

Without PREFECT_API_URL every run starts Prefect's ephemeral API server and waits for it;
Prefect's default wait (PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=20) was too short
for three at once on a busy machine ("Timed out while attempting to connect to ephemeral
Prefect API server").  The CLI raises it; these runs must all finish.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.e2e.conftest import stop_process

RUNS = 3


@pytest.mark.slow
def test_three_sweeps_at_once_on_fresh_prefect_homes_all_exit_0(tmp_path, env, idx_folder):
    assert "PREFECT_API_URL" not in env  # each run uses its own ephemeral API
    processes = []
    try:
        for index in range(RUNS):
            args = [
                "sweep",
                "--dataset",
                f"idx:{idx_folder}",
                "--strides",
                "1,2",
                "--chunk-size",
                "8",
                "--samples",
                "0",
                "--out",
                str(tmp_path / f"out-{index}"),
                "--name",
                f"at-once-{index}",
                "--cache-dir",
                str(tmp_path / f"cache-{index}"),
            ]
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "convsweep.cli", *args],
                    env={**env, "PREFECT_HOME": str(tmp_path / f"home-{index}")},  # fresh: no database yet
                    cwd=tmp_path,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    start_new_session=True,
                )
            )
        outputs = [process.communicate(timeout=600) for process in processes]
    finally:
        for process in processes:
            stop_process(process)
    for index, (process, (stdout, stderr)) in enumerate(zip(processes, outputs, strict=False)):
        text = stdout + stderr
        assert process.returncode == 0, f"run {index} exited {process.returncode}:\n{text[-3000:]}"
        assert "Timed out while attempting to connect" not in text
        assert "Traceback" not in text
        assert re.search(r"\d+ task runs \(0 cached\)", " ".join(stdout.split())), text[-2000:]
        assert (tmp_path / f"out-{index}" / f"at-once-{index}" / "sizes.csv").is_file()
