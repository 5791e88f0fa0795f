"""Stopping `convsweep sweep` mid-run: Ctrl-C/SIGTERM, kill -9, a dying API, temp files left by killed runs.

Every test runs the CLI as a process in its own session (so signals can be sent
to the process alone or to its whole group, as a terminal's Ctrl-C does) and
waits for "the sweep is computing" by a condition: the first cached record of a
chunk appearing under a sweep with hundreds of chunks.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from convsweep.tasks.io import files
from tests.convsweep.conftest import run_convsweep
from tests.helpers import api
from tests.helpers.idx import make_split, write_idx_folder
from tests.helpers.servers import start_convsweep

pytestmark = pytest.mark.slow

# 240 images in chunks of 1, two conv settings: 480 chunk task runs, far more than computed before the signal.
MANY_CHUNKS = ["--chunk-size", "1", "--strides", "1,2", "--paddings", "valid", "--samples", "0"]


@pytest.fixture
def big_idx_folder(tmp_path):
    return write_idx_folder(tmp_path / "idx-big", test=make_split(240, seed=5))


def sweep_args(idx_folder: Path, out: Path, *extra: str) -> list[str]:
    return ["sweep", "--dataset", f"idx:{idx_folder}", "--out", str(out), "--name", "run", *MANY_CHUNKS, *extra]


def wait_for(condition, *, timeout: float, what: str, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            pytest.fail(f"the sweep exited ({process.returncode}) before {what}: {process.communicate()[1][-2000:]}")
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def computing(cache: Path) -> bool:
    """At least one chunk's result is recorded in the cache (so the rerun has something to resume)."""
    records = cache / "records"
    return records.is_dir() and any(not path.name.startswith(".") for path in records.iterdir())


def processes_with_home(prefect_home: Path) -> dict[int, str]:
    """Live (non-zombie) processes whose environment has this PREFECT_HOME: pid -> command line."""
    marker = f"PREFECT_HOME={prefect_home}".encode()
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if marker not in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                continue
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile, or another user's
            continue
        if state != "Z":
            found[int(entry)] = command
    return found


def is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def flow_run_states(out: Path) -> list[str]:
    """State names of the flow runs that wrote to ``out``, oldest first (once the newest is final)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import FlowRunSort

    api.flow_run_writing_to(str(out))
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(sort=FlowRunSort.START_TIME_ASC, limit=200)
    return [run.state.name for run in runs if run.parameters.get("out") == str(out)]


def non_blank_lines(text: str) -> list[str]:
    """stderr's lines but the progress lines a non-terminal gets (``sweep <name>: 3/480 chunks ...``)."""
    return [line for line in text.splitlines() if line.strip() and not re.match(r"sweep \S+: ", line)]


@pytest.mark.parametrize(
    ("signum", "to_group"),
    [
        (signal.SIGINT, False),
        (signal.SIGINT, True),  # a terminal's Ctrl-C: the whole foreground process group
        (signal.SIGTERM, False),
        (signal.SIGTERM, True),
    ],
    ids=["sigint-process", "sigint-group", "sigterm-process", "sigterm-group"],
)
def test_sweep_interrupted_exits_128_plus_signal_with_one_line_and_a_crashed_run(
    tmp_path, env, big_idx_folder, signum, to_group
):
    home = Path(env["PREFECT_HOME"])
    cache = Path(env["CONVSWEEP_CACHE_DIR"])
    args = sweep_args(big_idx_folder, tmp_path / "out")
    process = start_convsweep(args, env=env, cwd=tmp_path)
    try:
        wait_for(lambda: computing(cache), timeout=240, what="the first chunk record", process=process)
        signalled = time.monotonic()
        (os.killpg if to_group else os.kill)(process.pid, signum)
        _, stderr = process.communicate(timeout=60)
        stopped_after = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    name = signal.Signals(signum).name
    assert process.returncode == 128 + signum, stderr
    assert non_blank_lines(stderr) == [f"convsweep: interrupted ({name}); rerun to resume from the cache"]
    assert stopped_after < 45, stopped_after  # ~1 s idle; GRACE_SECONDS (20) bounds it, plus a loaded machine
    assert processes_with_home(home) == {}  # no worker left behind
    assert flow_run_states(tmp_path / "out") == ["Crashed"]  # marked while the API still answered

    if (signum, to_group) == (signal.SIGINT, True):
        rerun = run_convsweep(*args, env=env, cwd=tmp_path, timeout=600)
        assert rerun.returncode == 0, rerun.stderr
        summary = " ".join(rerun.stdout.split())  # the final table and counts are on stdout
        counts = re.search(r"(\d+) task runs \((\d+) cached\)", summary)
        assert counts is not None and int(counts.group(2)) >= 1, summary
        assert flow_run_states(tmp_path / "out") == ["Crashed", "Completed"]


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.mark.e2e
def test_sweep_whose_server_dies_exits_1_naming_the_url(tmp_path, env, big_idx_folder):
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    server_env = {**env, "PREFECT_HOME": str(tmp_path / "server-home")}
    server = subprocess.Popen(
        [sys.executable, "-m", "convsweep.cli", "server", "--port", str(port)],
        env=server_env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    process = None
    try:
        wait_for(lambda: answers(url), timeout=240, what="the Prefect server", process=server)
        process = start_convsweep(
            sweep_args(big_idx_folder, tmp_path / "out"), env={**env, "PREFECT_API_URL": url}, cwd=tmp_path
        )
        wait_for(lambda: computing(Path(env["CONVSWEEP_CACHE_DIR"])), timeout=240, what="computing", process=process)
        os.killpg(server.pid, signal.SIGKILL)
        killed = time.monotonic()
        _, stderr = process.communicate(timeout=120)
        exited_after = time.monotonic() - killed
    finally:
        for started in (process, server):
            if started is not None and started.poll() is None:
                os.killpg(started.pid, signal.SIGKILL)
                started.wait()
    assert process.returncode == 1, stderr
    lines = non_blank_lines(stderr)
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"convsweep: error: the Prefect API at {url} stopped answering"), lines[0]
    assert exited_after < 60, exited_after


def test_sweep_removes_stale_temp_files_at_start_and_keeps_a_live_writers(tmp_path, env, idx_folder):
    out = tmp_path / "out"
    cache = Path(env["CONVSWEEP_CACHE_DIR"])
    dead_pid = subprocess.Popen([sys.executable, "-c", "pass"])  # a writer that is gone
    dead_pid.wait()
    tag = files._HOST_TAG
    stale = [
        out / "run" / "maps" / "s1" / f".tmp-0000000-0000004.npy.{tag}-{dead_pid.pid}.k9nqvzpr",
        cache / "records" / f".tmp-abc123.{tag}-{dead_pid.pid}.4e6bgz06",
    ]
    live = out / "run" / f".tmp-sizes.csv.{tag}-{os.getpid()}.abcdefgh"  # this test process writes it
    for path in [*stale, live]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")

    done = run_convsweep(
        "sweep", "--dataset", f"idx:{idx_folder}", "--out", str(out), "--name", "run", env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert [path for path in stale if path.exists()] == []
    assert live.exists()
