"""The server a plain `convsweep sweep` starts is Prefect's own, with its scheduler: `serve` runs on it.

Issue "Lean on Prefect": the home-made server switched Prefect's scheduler off, so a
`convsweep serve --cron "* * * * *"` against it printed "serving" and never ran anything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from convsweep import server
from tests.e2e.conftest import CHUNK_SIZE, run_cli, stop_process
from tests.helpers.servers import free_port

SCHEDULED_WITHIN = 90.0  # the target: cron every minute, so at most ~60 s to the first slot


def test_sweep_then_serve_on_the_server_it_started_runs_a_scheduled_sweep(idx_dataset, tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "home"), PREFECT_SERVER_API_PORT=str(free_port()), PYTHONUNBUFFERED="1")
    sweep_args = ["--dataset", f"idx:{idx_dataset}", "--strides", "1", "--paddings", "valid", "--samples", "0"]
    sweep_args += ["--chunk-size", str(CHUNK_SIZE), "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "c")]
    serve = None
    try:
        first = run_cli(["sweep", *sweep_args, "--name", "by-hand"], env=env, cwd=tmp_path, timeout=600)
        assert first.returncode == 0, first.stderr
        started = server.running_server(Path(env["PREFECT_HOME"]))
        assert started is not None
        assert "starting Prefect's server" in first.stderr

        log = tmp_path / "serve.log"
        serve_env = {**env, "PREFECT_API_URL": started.url, "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
        with open(log, "wb") as log_file:
            serve = subprocess.Popen(
                [sys.executable, "-m", "convsweep.cli", "serve", "--cron", "* * * * *", "--name", "every-minute"]
                + sweep_args,
                env=serve_env,
                cwd=tmp_path,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        began = time.monotonic()
        deadline = began + 600  # generous for a loaded machine; the time taken is asserted below
        completed = []
        while not completed:
            assert serve.poll() is None, f"serve exited {serve.returncode}:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no scheduled run completed:\n{log.read_text()[-3000:]}"
            runs = httpx.post(
                f"{started.url}/flow_runs/filter",
                json={"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}, "limit": 200},
                timeout=30,
            ).json()
            completed = [run for run in runs if run["parameters"].get("name") == "every-minute"]
            time.sleep(1)
        ran_after = time.monotonic() - began
        assert completed[0]["deployment_id"] is not None  # a scheduled run of the deployment, not a manual one
        assert (tmp_path / "out" / "every-minute" / "sizes.csv").is_file()
        print(f"first scheduled sweep completed {ran_after:.0f} s after serve started")
        assert ran_after < SCHEDULED_WITHIN + 60, ran_after  # the minute slot, the poll, the run on a loaded machine
    finally:
        if serve is not None:
            stop_process(serve, sig=signal.SIGINT, timeout=60)
        found = server.running_server(Path(env["PREFECT_HOME"]))
        if found is not None:
            os.kill(found.pid, signal.SIGKILL)
