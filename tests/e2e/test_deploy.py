"""prefect.yaml: `prefect deploy --all` to a process work pool, and a Prefect worker runs a sweep from it."""

from __future__ import annotations

import inspect
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml

from convsweep.tasks.model import parse_parameters
from tests.e2e.conftest import CHUNK_SIZE, PROJECT_ROOT, stop_process

PREFECT_YAML = PROJECT_ROOT / "prefect.yaml"
POOL = "convsweep"


def deployments() -> list[dict]:
    return yaml.safe_load(PREFECT_YAML.read_text())["deployments"]


def test_prefect_yaml_deployments_have_valid_parameters_and_schedules():
    from prefect.client.schemas.schedules import CronSchedule

    from convsweep.flows.notebook import notebook
    from convsweep.flows.sweep import sweep

    entries = deployments()
    assert {entry["entrypoint"] for entry in entries} == {"flows/sweep.py:sweep", "flows/notebook.py:notebook"}
    for entry in entries:
        assert entry["work_pool"]["name"] == POOL
        [schedule] = entry["schedules"]
        CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])  # raises if invalid
        flow = sweep if entry["entrypoint"].endswith(":sweep") else notebook
        assert set(entry["parameters"]) <= set(inspect.signature(flow.fn).parameters), entry["name"]
        if flow is sweep:
            settings = parse_parameters(**entry["parameters"])
            settings.check_shapes(height=28, width=28)  # Fashion-MNIST images
            assert settings.name == entry["name"]


def prefect(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "prefect", *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_deploy_to_work_pool_and_a_worker_runs_the_sweep(prefect_server, idx_dataset, tmp_path):
    env = prefect_server.env()
    created = prefect("work-pool", "create", POOL, "--type", "process", env=env)
    assert created.returncode == 0, created.stdout + created.stderr
    before = PREFECT_YAML.read_text()
    deployed = prefect("--no-prompt", "deploy", "--all", env=env)
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    assert PREFECT_YAML.read_text() == before  # deploying does not rewrite the file

    for entry in deployments():
        flow_name = entry["entrypoint"].rsplit(":", 1)[1]
        served = prefect_server.get(f"/deployments/name/{flow_name}/{entry['name']}")
        assert served["work_pool_name"] == POOL
        assert served["parameters"] == entry["parameters"]
        assert [s["schedule"]["cron"] for s in served["schedules"]] == [entry["schedules"][0]["cron"]]
        assert served["pull_steps"][0]["prefect.deployments.steps.set_working_directory"]["directory"] == str(
            PROJECT_ROOT
        )

    # A run of the nightly deployment on the small IDX data, picked up by a worker of the pool.
    out = tmp_path / "out"
    trigger = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            from prefect.deployments import run_deployment
            run = run_deployment("sweep/nightly", timeout=0, parameters=dict(
                dataset="idx:{idx_dataset}", out="{out}", name="from-pool", strides=[1],
                chunk_size={CHUNK_SIZE}, samples=[0], cache_dir="{tmp_path / "cache"}"))
            print(run.id)
        """),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert trigger.returncode == 0, trigger.stderr[-3000:]
    run_id = trigger.stdout.split()[-1]

    log = tmp_path / "worker.log"
    with open(log, "wb") as log_file:
        worker = subprocess.Popen(
            [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL, "--run-once"],
            env=prefect_server.env(PREFECT_LOGGING_LEVEL="INFO"),
            cwd=tmp_path,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        worker.wait(timeout=240)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the worker did not finish its run within 240 s:\n{log.read_text()[-3000:]}")
    finally:
        stop_process(worker, sig=signal.SIGINT)
    flow_run = prefect_server.get(f"/flow_runs/{run_id}")
    assert flow_run["state"]["type"] == "COMPLETED", log.read_text()[-3000:]
    assert flow_run["work_pool_name"] == POOL
    # The deployment's parameters, with the overrides of this run.
    assert flow_run["parameters"]["kernels"] == ["sobel_h", "sobel_v"]
    assert flow_run["parameters"]["name"] == "from-pool"
    # prefect.yaml's tag, plus what the flow adds: the sweep, the dataset kind, how it was started.
    assert {"convsweep", "sweep:from-pool", "started-by:deployment"} <= set(flow_run["tags"])
    assert flow_run["name"].startswith("from-pool · ")
    frame = pd.read_csv(out / "from-pool" / "sizes.csv")
    assert len(frame) == 1 * 2 * 2 * 3  # stride 1 x paddings valid,same x max,avg x 3 maps
    assert Path(out / "from-pool" / "report.md").exists()
