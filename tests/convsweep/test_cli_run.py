"""`convsweep sweep` and `convsweep notebook` as a user runs them: a real process, the session's Prefect server."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.convsweep.conftest import run_convsweep, run_in_process
from tests.helpers import api
from tests.helpers.idx import make_keras_home


def convsweep(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return run_convsweep(*args, env=env, cwd=cwd)


def recorded_task_runs(out: Path, expected: int = 0) -> tuple[str, list[str]]:
    """The newest flow run that wrote to ``out``: its state and its task runs' states (once ``expected`` are final)."""
    flow_run = api.flow_run_writing_to(str(out))
    return flow_run.state.name, [run.state.name for run in api.task_runs(flow_run.id, expected)]


def test_sweep_cli_runs_records_every_task_run_and_prints_no_traceback(tmp_path, env, idx_folder):
    args = [
        "sweep",
        "--dataset",
        f"idx:{idx_folder}",
        "--strides",
        "1,2",
        "--chunk-size",
        "8",
        "--out",
        str(tmp_path / "out"),
        "--name",
        "cli",
    ]
    first = convsweep(*args, env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr + first.stdout
    assert "outputs in" in first.stdout
    frame = pd.read_csv(tmp_path / "out" / "cli" / "sizes.csv")
    assert sorted(set(frame["stride"].astype(str))) == ["1", "2"]
    # 20 images in chunks of 8 -> 3 chunks x 4 conv settings, 4 sample tasks, load, sizes, report, artifacts,
    # manifest.
    expected = 1 + 3 * 4 + 4 + 4
    assert f"{expected} task runs (0 cached)" in first.stdout
    # After the process exited, the API's database holds every task run.
    flow_state, states = recorded_task_runs(tmp_path / "out", expected)
    assert flow_state == "Completed"
    assert len(states) == expected
    second = convsweep(*args, env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert f"{expected} task runs ({3 * 4 + 4 + 2} cached)" in second.stdout
    flow_state, states = recorded_task_runs(tmp_path / "out", expected)
    assert len(states) == expected and states.count("Cached") == 3 * 4 + 4 + 2


def test_sweep_cli_config_file_and_custom_kernel(tmp_path, env, idx_folder):
    config = tmp_path / "saved.yaml"
    config.write_text(
        f"dataset: idx:{idx_folder}\nstrides: [1, 3]\npaddings: [full]\npool-modes: [max]\nsamples: [0]\n"
    )
    done = convsweep(
        "sweep",
        "--config",
        str(config),
        "--strides",
        "2",
        "--kernel",
        "edge=1,0,-1;2,0,-2;1,0,-1",
        "--out",
        str(tmp_path / "out"),
        "--name",
        "cfg",
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    frame = pd.read_csv(tmp_path / "out" / "cfg" / "sizes.csv")
    assert set(frame["kernel"]) == {"sobel_h", "sobel_v", "sobel", "edge"}  # custom kernels are added (--help)
    assert set(frame["stride"].astype(str)) == {"2"}  # the option overrides the file
    assert set(frame["padding"]) == {"full"} and set(frame["pool_mode"]) == {"max"}
    assert set(frame["conv_h"]) == {15}  # floor((28 + 2 + 2 - 3) / 2) + 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strides", "0"], "convsweep: error: strides=0 must be positive"),
        (["--paddings", "wide"], "convsweep: error: paddings='wide' is not a padding"),
        (["--kernels", "sobel_h,nope"], "convsweep: error: kernels: unknown kernel 'nope'"),
        (["--kernel", "odd=1,2;3,4"], "convsweep: error:"),
        (["--name", "../up"], "convsweep: error: name='../up' is not a valid name"),
        (["--pool-modes", "median"], "convsweep: error: pool_modes: 'median' must be one of max, avg, none"),
        (["--split", "validation"], "convsweep: error: split='validation' must be one of train, test, all"),
        (["--config", "missing.yaml"], "convsweep: error: config='missing.yaml': no such file"),
        (["--dataset", "nonsense:spec"], "convsweep: error:"),
    ],
)
def test_sweep_cli_bad_input_exits_2_with_one_line(tmp_path, idx_folder, args, message, capsys, monkeypatch):
    # In this process: bad input exits before Prefect starts (one subprocess test per exit code below).
    monkeypatch.chdir(tmp_path)
    if "--dataset" not in args:
        args = ["--dataset", f"idx:{idx_folder}", *args]
    code, _, stderr = run_in_process(capsys, "sweep", *args, "--out", str(tmp_path / "out"))
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_sweep_cli_missing_dataset_folder_exits_2_in_a_real_process(tmp_path, env):
    done = convsweep(
        "sweep", "--dataset", f"idx:{tmp_path / 'nowhere'}", "--out", str(tmp_path / "out"), env=env, cwd=tmp_path
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "nowhere" in lines[0], done.stderr


def test_sweep_cli_corrupt_data_exits_1_naming_the_file(tmp_path, env, idx_folder):
    images = idx_folder / "t10k-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:100])  # truncated gzip
    done = convsweep("sweep", "--dataset", f"idx:{idx_folder}", "--out", str(tmp_path / "out"), env=env, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("convsweep: error:") and "t10k-images-idx3-ubyte.gz" in last
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", ["sweep", "notebook"])
def test_sweep_cli_default_dataset_offline_exits_2_before_a_server_or_run(tmp_path, env, command):
    # Hermetic with or without internet: the download origin (CONVSWEEP_DATASET_ORIGIN) is a
    # local port that is bound but not listening, so the origin does not answer.
    home = tmp_path / "fresh-home"
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        origin = f"http://127.0.0.1:{closed.getsockname()[1]}/"
        offline = {key: value for key, value in env.items() if key != "PREFECT_API_URL"}
        offline.update(
            KERAS_HOME=str(tmp_path / "empty-keras"), CONVSWEEP_DATASET_ORIGIN=origin, PREFECT_HOME=str(home)
        )
        done = convsweep(command, "--out", str(tmp_path / "out"), env=offline, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("convsweep: error: fashion_mnist: train-labels-idx1-ubyte.gz is not in the Keras cache")
    assert f"{origin}train-labels-idx1-ubyte.gz does not answer" in line and "idx:PATH" in line
    assert not (home / "server.pid").exists()  # no server started, so no run either
    assert not (tmp_path / "out").exists()


def test_notebook_cli_on_keras_fashion_mnist_cache(tmp_path, env):
    home = make_keras_home(tmp_path)
    done = convsweep(
        "notebook", "--index", "3", "--out", str(tmp_path / "out"), env={**env, "KERAS_HOME": str(home)}, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    folder = tmp_path / "out" / "notebook"
    assert {path.name for path in folder.iterdir()} >= {
        "resized.png",
        "horizontal.png",
        "vertical.png",
        "sobel.png",
        "max_pool.png",
        "avg_pool.png",
        "figure.png",
        "arrays.npz",
    }
    assert "25x25" in done.stdout and "12x12" in done.stdout  # the result on stdout


def test_notebook_cli_index_past_the_data_exits_1(tmp_path, env):
    # The index is checked against the data once the flow runs: a Failed run, exit 1 (README "Exit codes").
    home = make_keras_home(tmp_path)
    done = convsweep(
        "notebook", "--index", "99", "--out", str(tmp_path / "out"), env={**env, "KERAS_HOME": str(home)}, cwd=tmp_path
    )
    assert done.returncode == 1, done.stderr
    assert (
        done.stderr.strip().splitlines()[-1].startswith("convsweep: error: DataMismatchError: index=99 is out of range")
    )


def test_sweep_cli_concurrent_sweeps_share_one_cache_without_locks(tmp_path, env, idx_folder):
    """Two processes, one cache folder, no locks (decision 0010): a key may be computed twice, never waited for."""
    args = [
        "sweep",
        "--dataset",
        f"idx:{idx_folder}",
        "--chunk-size",
        "4",
        "--strides",
        "1,2",
        "--out",
        str(tmp_path / "out"),
        "--name",
        "same",
    ]
    script = "from convsweep.cli import main; main()"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, *args],
            env={**env, "PREFECT_HOME": str(tmp_path / f"home-{index}")},  # two API servers, one cache
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(2)
    ]
    outputs = [process.communicate(timeout=300) for process in processes]
    cached = []
    for process, (stdout, stderr) in zip(processes, outputs, strict=False):
        assert process.returncode == 0, stderr
        counts = re.search(r"(\d+) task runs \((\d+) cached\)", " ".join(stdout.split()))
        cached.append(int(counts.group(2)))
    keys = 5 * 4 + 4 + 2  # 20 images in chunks of 4 x 4 conv settings, 4 sample tasks, sizes.csv, report
    assert sum(cached) <= keys  # a key both reached at once is computed by both, none is lost
    rerun = convsweep(*args, env=env, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert f"({keys} cached)" in " ".join(rerun.stdout.split())  # every key is in the cache once, readable


def test_sweep_cli_processes_runner_writes_the_threads_bytes(tmp_path, env, idx_folder):
    common = ["sweep", "--dataset", f"idx:{idx_folder}", "--strides", "1,2", "--chunk-size", "8", "--samples", "0"]
    for runner in ("threads", "processes"):
        done = convsweep(
            *common,
            "--runner",
            runner,
            "--workers",
            "2",
            "--out",
            str(tmp_path / runner),
            "--name",
            "r",
            "--cache-dir",
            str(tmp_path / f"cache-{runner}"),
            env=env,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
    threads = pd.read_csv(tmp_path / "threads" / "r" / "sizes.csv").drop(columns="compute_seconds")
    processes = pd.read_csv(tmp_path / "processes" / "r" / "sizes.csv").drop(columns="compute_seconds")
    pd.testing.assert_frame_equal(threads, processes)
    for picture in (tmp_path / "threads" / "r" / "samples").rglob("*.png"):
        twin = tmp_path / "processes" / "r" / picture.relative_to(tmp_path / "threads" / "r")
        assert twin.read_bytes() == picture.read_bytes()


def test_sweep_cli_unknown_runner_exits_2(tmp_path, env, idx_folder):
    done = convsweep("sweep", "--dataset", f"idx:{idx_folder}", "--runner", "gpu", env=env, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "gpu" in lines[0], done.stderr


def test_sweep_cli_shape_refused_by_the_preflight_exits_2_with_nothing_written_and_no_run(tmp_path, env, idx_folder):
    # The IDX header gives the image size, so the preflight refuses before a flow run (or any file) exists.
    done = convsweep(
        "sweep",
        "--dataset",
        f"idx:{idx_folder}",
        "--resize",
        "100000",
        "--limit",
        "1",
        "--out",
        str(tmp_path / "out"),
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "too small for 28x28 images resized to 100000x100000" in lines[0], done.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()
    assert not list((tmp_path / "prefect-home").glob("*.db"))  # no API ever started: no flow run


def test_sweep_cli_setting_refused_inside_the_run_exits_1_with_a_failed_run(tmp_path, env):
    # An image folder's size is known only once its files are read, by the flow's plan: a Failed run and
    # exit 1, never 2 (README "Exit codes").
    import cv2
    import numpy as np

    folder = tmp_path / "pictures"
    folder.mkdir()
    for index in range(2):
        cv2.imwrite(str(folder / f"{index}.png"), np.full((28, 28), 40 * index, np.uint8))
    done = convsweep(
        "sweep",
        "--dataset",
        f"images:{folder}",
        "--resize",
        "3000",
        "--memory-budget",
        "1",
        "--out",
        str(tmp_path / "out"),
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("convsweep: error: DataMismatchError: ") and "memory_budget=1 MB is too small" in last
    assert "Traceback" not in done.stderr
    flow_state, _ = recorded_task_runs(tmp_path / "out")
    assert flow_state == "Failed"
