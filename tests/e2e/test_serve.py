"""`convsweep serve` against a real Prefect server: deployments, schedules, a triggered run, Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.e2e.conftest import CHUNK_SIZE, run_cli, run_python, stop_process

CRON = "0 3 * * *"


def start_serve(args: list[str], *, server, cwd: Path, log: Path) -> subprocess.Popen:
    """``convsweep serve ARGS`` in its own process group; output to ``log``."""
    env = server.env(PREFECT_RUNNER_POLL_FREQUENCY="1", PREFECT_LOGGING_LEVEL="INFO")
    with open(log, "wb") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "convsweep.cli", "serve", *args],
            env=env,
            cwd=cwd,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def deployment(server, name: str) -> dict | None:
    response = httpx.get(f"{server.api_url}/deployments/name/sweep/{name}", timeout=30)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.json()


def wait_for_serving(
    process: subprocess.Popen, log: Path, names: list[str], *, server=None, timeout: float = 120
) -> None:
    """Until the serve process says it serves every name, and (with ``server``) the API holds each deployment.

    serve prints its line before ``prefect.serve`` registers the deployments, so a test
    that reads them right away waits for the API too.
    """
    deadline = time.monotonic() + timeout
    while not all(f"serving sweep/{name}:" in log.read_text() for name in names) or (
        server is not None and any(deployment(server, name) is None for name in names)
    ):
        assert process.poll() is None, f"serve exited with {process.returncode}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"serve did not start within {timeout} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.25)


def interrupt(process: subprocess.Popen, *, sig: int = signal.SIGINT) -> int:
    """Ctrl-C (SIGINT to the serve process group, by its PID), or ``sig``; the exit code."""
    return stop_process(process, sig=sig, timeout=60)


def run_deployment(server, name: str, *, cwd: Path, parameters: dict | None = None) -> tuple[str, str]:
    """Run ``sweep/<name>`` as `prefect deployment run` or the UI would, wait for it; (flow run id, state type)."""
    stdout = run_python(
        [
            "-c",
            textwrap.dedent(f"""
            from prefect.deployments import run_deployment
            run = run_deployment("sweep/{name}", parameters={parameters or {}!r}, timeout=240)
            print(run.id, run.state.type.value)
        """),
        ],
        env=server.env(),
        cwd=cwd,
    )
    run_id, state = stdout.split()[-2:]
    return run_id, state


def test_served_deployment_has_its_schedule_and_parameters_and_runs(
    prefect_server, idx_dataset, tmp_path, browser_page
):
    name = "served-e2e"
    out = tmp_path / "out"
    log = tmp_path / "serve.log"
    process = start_serve(
        [
            "--cron",
            CRON,
            "--name",
            name,
            "--dataset",
            f"idx:{idx_dataset}",
            "--strides",
            "1,2",
            "--paddings",
            "valid",
            "--chunk-size",
            str(CHUNK_SIZE),
            "--samples",
            "0",
            "--out",
            "out",
            "--cache-dir",
            "cache",
        ],
        server=prefect_server,
        cwd=tmp_path,
        log=log,
    )
    try:
        wait_for_serving(process, log, [name], server=prefect_server)
        served = deployment(prefect_server, name)
        assert served is not None
        [schedule] = served["schedules"]
        assert schedule["schedule"]["cron"] == CRON
        assert schedule["active"] is True
        parameters = served["parameters"]
        assert parameters["dataset"] == f"idx:{idx_dataset}"
        assert parameters["strides"] == [1, 2]
        assert parameters["paddings"] == ["valid"]
        assert parameters["chunk_size"] == CHUNK_SIZE
        assert parameters["name"] == name
        # Relative paths are fixed when serving, so runs write where the user meant.
        assert parameters["out"] == str(out.resolve())
        assert parameters["cache_dir"] == str((tmp_path / "cache").resolve())
        assert "convsweep" in served["tags"]

        # The same in the UI: the deployment's page shows the schedule and the parameter overrides.
        page = browser_page
        page.goto(f"{prefect_server.url}/deployments/deployment/{served['id']}", wait_until="networkidle")
        page.get_by_text(name, exact=True).first.wait_for()
        page.get_by_text("At 03:00 AM every day").first.wait_for()
        page.get_by_text("Parameters", exact=True).first.click()
        page.get_by_text(f"idx:{idx_dataset}", exact=True).first.wait_for()
        page.screenshot(path=str(tmp_path / "deployment.png"), full_page=True)

        # Trigger a run now, as `prefect deployment run` or the UI would, and wait for it.
        run_id, state = run_deployment(prefect_server, name, cwd=tmp_path)
        assert state == "COMPLETED", log.read_text()[-3000:]
        flow_run = prefect_server.get(f"/flow_runs/{run_id}")
        assert flow_run["deployment_id"] == served["id"]
        assert flow_run["parameters"]["name"] == name
        # The deployment's tags, plus the dataset kind the flow adds; the name says which sweep ran.
        assert {"convsweep", f"sweep:{name}", "started-by:serve", "dataset:idx"} <= set(flow_run["tags"])
        assert flow_run["name"].startswith(f"{name} · idx/")

        # Its outputs: 2 strides x 1 padding x 2 pools x 3 maps.
        folder = out / name
        frame = pd.read_csv(folder / "sizes.csv")
        assert len(frame) == 2 * 1 * 2 * 3
        assert sorted(set(frame["stride"])) == [1, 2]
        assert (folder / "report.md").read_text().startswith(f"# convsweep: {name}")
        tasks = prefect_server.task_runs(run_id)
        assert (
            sum(task["task_key"].startswith("process_chunk") for task in tasks) == 2 * 3
        )  # 2 conv settings x 3 chunks
        assert {task["state"]["type"] for task in tasks} == {"COMPLETED"}

        good_part_of_log = log.read_text()  # before the bad run below (its failure shows Prefect's traceback)
        # A run with bad values, as from the UI's "Custom run" form. The enforced parameter
        # schema (from the sweep model) refuses what it can express, before a run exists...
        refused = httpx.post(
            f"{prefect_server.api_url}/deployments/{served['id']}/create_flow_run",
            json={"parameters": {"strides": [0]}},
            timeout=30,
        )
        assert refused.status_code >= 400 and "strides" in refused.text, refused.text
        # ...and the model's own validation refuses the rest before any task, with the CLI's message.
        bad_id, bad_state = run_deployment(prefect_server, name, cwd=tmp_path, parameters={"paddings": ["wide"]})
        assert bad_state == "FAILED", (bad_state, log.read_text()[-3000:])
        message = prefect_server.get(f"/flow_runs/{bad_id}")["state"]["message"]
        assert "- paddings: paddings='wide' is not a padding" in message, message
        assert prefect_server.task_runs(bad_id) == []
    finally:
        code = interrupt(process)
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert "Traceback" not in good_part_of_log, good_part_of_log[-3000:]
    assert "stopped serving" in text
    # Ctrl-C paused the deployment's schedule: no runs pile up while nothing serves them.
    assert deployment(prefect_server, name)["paused"] is True


def test_serve_from_config_registers_every_named_sweep(prefect_server, idx_dataset, tmp_path):
    config = tmp_path / "serve.yaml"
    config.write_text(
        textwrap.dedent(f"""
        defaults:
          dataset: "idx:{idx_dataset}"
          chunk_size: {CHUNK_SIZE}
          out: served
        sweeps:
          cfg-nightly:
            cron: "30 2 * * *"
            timezone: Europe/Berlin
            strides: [1, 2, 3]
          cfg-hourly:
            interval: 3600
            paddings: [same]
            pool_modes: [max]
    """)
    )
    log = tmp_path / "serve.log"
    process = start_serve(["--from-config", str(config)], server=prefect_server, cwd=tmp_path, log=log)
    try:
        wait_for_serving(process, log, ["cfg-nightly", "cfg-hourly"], server=prefect_server)
        nightly = deployment(prefect_server, "cfg-nightly")
        hourly = deployment(prefect_server, "cfg-hourly")
        assert nightly["schedules"][0]["schedule"]["cron"] == "30 2 * * *"
        assert nightly["schedules"][0]["schedule"]["timezone"] == "Europe/Berlin"
        assert nightly["parameters"]["strides"] == [1, 2, 3]
        assert nightly["parameters"]["name"] == "cfg-nightly"
        assert hourly["schedules"][0]["schedule"]["interval"] == 3600
        assert hourly["parameters"]["paddings"] == ["same"]
        assert hourly["parameters"]["pool_modes"] == ["max"]
        for served in (nightly, hourly):
            assert served["parameters"]["dataset"] == f"idx:{idx_dataset}"
            assert served["parameters"]["out"] == str((tmp_path / "served").resolve())
    finally:
        code = interrupt(process, sig=signal.SIGTERM)  # as `kill PID` or a service manager stops it
    assert code == 0, log.read_text()[-3000:]
    assert "Traceback" not in log.read_text()
    assert "stopped serving" in log.read_text()
    assert deployment(prefect_server, "cfg-nightly")["paused"] is True


@pytest.mark.parametrize(
    "bad",
    [
        ["--cron", CRON, "--name", "bad-strides", "--strides", "0"],
        ["--cron", "0 3 * *", "--name", "bad-cron"],
        ["--interval", "60", "--name", "bad-kernel", "--kernels", "sobel_h,nope"],
    ],
    ids=["strides", "cron", "kernel"],
)
def test_serve_with_bad_parameters_registers_nothing(prefect_server, idx_dataset, tmp_path, bad):
    name = bad[bad.index("--name") + 1]
    result = run_cli(
        ["serve", "--dataset", f"idx:{idx_dataset}", *bad], env=prefect_server.env(), cwd=tmp_path, timeout=120
    )
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert deployment(prefect_server, name) is None


def test_serve_config_with_one_bad_sweep_registers_none(prefect_server, idx_dataset, tmp_path):
    config = tmp_path / "serve.yaml"
    config.write_text(
        textwrap.dedent(f"""
        sweeps:
          cfg-good:
            cron: "0 4 * * *"
            dataset: "idx:{idx_dataset}"
          cfg-bad:
            cron: "0 5 * * *"
            dataset: "idx:{idx_dataset}"
            paddings: [sideways]
    """)
    )
    result = run_cli(["serve", "--from-config", str(config)], env=prefect_server.env(), cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "cfg-bad" in result.stderr and "sideways" in result.stderr
    assert deployment(prefect_server, "cfg-good") is None
    assert deployment(prefect_server, "cfg-bad") is None
