"""`convsweep serve` / `server` failures, the task runner factory and the API check — no server needed.

The CLI runs in a real process (the error policy lives in ``convsweep.cli.main``).
``PREFECT_API_URL`` points at a port nothing listens on: a command that reached the
API would fail with exit 1 naming it, so exit 2 proves that bad input was rejected
before anything was contacted or registered.
"""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from convsweep.api import PrefectAPIUnreachable, require_reachable_api
from convsweep.commands import serve, server
from convsweep.task_runners import check_runner_options, make_task_runner
from tests.convsweep.conftest import run_convsweep, run_in_process


def dead_url() -> str:
    """An API URL on 127.0.0.1 where nothing listens (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api"


def convsweep(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return run_convsweep(*args, env=env, cwd=cwd, timeout=120)


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


# --- unreachable server: exit 1, one line naming the URL ---------------------------------


@pytest.mark.parametrize("command", ["sweep", "serve"])
def test_unreachable_api_url_exits_1_with_one_line_naming_it(command, env, tmp_path, idx_folder):
    url = dead_url()
    env["PREFECT_API_URL"] = url
    args = [command, "--dataset", f"idx:{idx_folder}", "--out", str(tmp_path / "out")]
    if command == "serve":
        args += ["--cron", "0 3 * * *"]
    result = convsweep(*args, env=env, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert url.rstrip("/") in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("sizes.csv"))


def test_serve_without_a_server_says_how_to_start_one(env, tmp_path):
    result = convsweep("serve", "--cron", "0 3 * * *", env=env, cwd=tmp_path)
    assert result.returncode == 1
    [line] = error_lines(result)
    assert "convsweep server" in line and "PREFECT_API_URL=http://127.0.0.1:4200/api" in line


# --- bad serve input: exit 2 before anything is contacted or registered -------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--cron", "0 3 * * *", "--strides", "0"], "strides=0"),
        (["--cron", "0 3 * * *", "--kernels", "sobel_h,nope"], "'nope'"),
        (["--cron", "0 3 * * *", "--name", "../escape"], "name='../escape'"),
        (["--cron", "0 3 * *"], "cron='0 3 * *'"),
        (["--cron", "0 3 * * *", "--timezone", "Mars/Olympus"], "Mars/Olympus"),
        (["--interval", "0"], "interval=0"),
        (["--cron", "0 3 * * *", "--interval", "60"], "exactly one schedule"),
        ([], "exactly one schedule"),
        (["--cron", "0 3 * * *", "--runner", "gpu"], "runner='gpu'"),
        (["--cron", "0 3 * * *", "--runner", "threads", "--dask-address", "tcp://h:8786"], "needs runner='dask'"),
        (["--cron", "0 3 * * *", "--max-concurrent-runs", "0"], "max_concurrent_runs=0"),
    ],
    ids=[
        "strides",
        "kernel",
        "name",
        "cron",
        "timezone",
        "interval",
        "two-schedules",
        "no-schedule",
        "runner",
        "address-without-dask",
        "limit",
    ],
)
def test_serve_bad_input_exits_2_before_contacting_the_server(
    args, expected, tmp_path, idx_folder, capsys, monkeypatch
):
    monkeypatch.setenv("PREFECT_API_URL", dead_url())  # reaching it would be exit 1
    monkeypatch.chdir(tmp_path)
    code, _, stderr = run_in_process(capsys, "serve", "--dataset", f"idx:{idx_folder}", *args)
    assert code == 2, stderr
    [line] = stderr.strip().splitlines()
    assert expected in line, line
    assert "Traceback" not in stderr


def test_serve_from_config_rejects_extra_options_and_bad_entries(env, tmp_path, idx_folder):
    env["PREFECT_API_URL"] = dead_url()
    config = tmp_path / "serve.yaml"
    config.write_text(
        textwrap.dedent(f"""
        sweeps:
          good:
            cron: "0 4 * * *"
            dataset: "idx:{idx_folder}"
          bad:
            interval: 3600
            dataset: "idx:{idx_folder}"
            pool_modes: [median]
    """)
    )
    mixed = convsweep("serve", "--from-config", str(config), "--cron", "0 1 * * *", env=env, cwd=tmp_path)
    assert mixed.returncode == 2 and "remove --cron" in mixed.stderr
    bad = convsweep("serve", "--from-config", str(config), env=env, cwd=tmp_path)
    assert bad.returncode == 2
    [line] = error_lines(bad)
    assert "sweep 'bad'" in line and "median" in line


def test_server_rejects_a_bad_port(env, tmp_path):
    result = convsweep("server", "--port", "70000", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "port=70000" in result.stderr


# --- serve config and schedules (in-process) ---------------------------------------------


def test_load_serve_config_merges_defaults_and_fixes_paths(tmp_path, idx_folder):
    saved = tmp_path / "saved.yaml"
    saved.write_text("strides: [2]\npaddings: [same]\n")
    config = tmp_path / "conf" / "serve.yaml"
    config.parent.mkdir()
    config.write_text(
        textwrap.dedent(f"""
        defaults:
          dataset: "idx:{idx_folder}"
          out: results
        sweeps:
          nightly:
            cron: "0 3 * * *"
            timezone: Europe/Berlin
            config: ../saved.yaml
            runner: processes
            workers: 2
          hourly:
            interval: 3600
            limit: 10
            cache-dir: cache
    """)
    )
    nightly, hourly = serve.load_serve_config(config)
    assert (nightly.name, nightly.cron, nightly.timezone, nightly.interval) == (
        "nightly",
        "0 3 * * *",
        "Europe/Berlin",
        None,
    )
    assert nightly.parameters["strides"] == [2] and nightly.parameters["paddings"] == ["same"]
    assert nightly.parameters["name"] == "nightly"
    assert nightly.parameters["out"] == str(config.parent.resolve() / "results")  # relative to the file
    assert (nightly.runner, nightly.workers) == ("processes", 2)
    assert (hourly.interval, hourly.cron, hourly.parameters["limit"]) == (3600.0, None, 10)
    assert hourly.parameters["cache_dir"] == str(config.parent.resolve() / "cache")
    assert hourly.runner is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sweeps: {}", "'sweeps:' mapping"),
        ("sweeps:\n  a:\n    cron: '0 3 * * *'\nextra: 1\n", "unknown top-level key"),
        ("sweeps:\n  a:\n    cron: '0 3 * * *'\n    name: b\n", "'name' is the sweep's key"),
        ("sweeps:\n  '../x':\n    cron: '0 3 * * *'\n", "sweep name='../x'"),
        ("sweeps:\n  a:\n    cron: '0 3 * * *'\n    strides: [-1]\n", "sweep 'a': strides"),
        ("sweeps:\n  a:\n    cron: '0 3 * * *'\n    runner: dask\n    workers: 0\n", "workers=0"),
        ("sweeps: [1, 2", "not valid YAML"),
    ],
    ids=["empty", "top-level", "name", "unsafe-name", "strides", "workers", "yaml"],
)
def test_load_serve_config_names_the_bad_entry(tmp_path, text, expected):
    config = tmp_path / "serve.yaml"
    config.write_text(text)
    with pytest.raises(ValueError) as raised:
        serve.load_serve_config(config)
    assert expected in str(raised.value), str(raised.value)


def test_check_schedule_accepts_one_valid_schedule():
    assert serve.check_schedule(cron=" 0 3 * * * ", interval=None, timezone=None, where="t") == (
        "0 3 * * *",
        None,
        None,
    )
    assert serve.check_schedule(cron=None, interval=90, timezone="UTC", where="t") == (None, 90.0, "UTC")
    with pytest.raises(TypeError, match="interval='60'"):
        serve.check_schedule(cron=None, interval="60", timezone=None, where="t")


def test_server_command_binds_loopback_unless_told(monkeypatch):
    monkeypatch.delenv("PREFECT_UI_API_URL", raising=False)
    command, env = server.server_command(host="127.0.0.1", port=4300, database_url=None)
    assert command[:5] == [sys.executable, "-m", "prefect", "server", "start"]
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--port") + 1] == "4300"
    assert "--analytics-off" in command
    assert env["PREFECT_UI_API_URL"] == "http://127.0.0.1:4300/api"
    _, env = server.server_command(host="0.0.0.0", port=4200, database_url="postgresql+asyncpg://u:p@db:5432/prefect")
    assert env["PREFECT_API_DATABASE_CONNECTION_URL"] == "postgresql+asyncpg://u:p@db:5432/prefect"
    assert "PREFECT_UI_API_URL" not in env  # a remote UI must be told its address (README)
    assert server.is_loopback("127.0.0.1") and server.is_loopback("::1") and server.is_loopback("localhost")
    assert not server.is_loopback("0.0.0.0") and not server.is_loopback("192.168.1.10")


# --- task runners ------------------------------------------------------------------------


def test_make_task_runner_builds_each_runner():
    from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    threads = make_task_runner("threads", workers=3)
    assert isinstance(threads, ThreadPoolTaskRunner) and threads._max_workers == 3
    processes = make_task_runner(" Processes ", workers=2)
    assert isinstance(processes, ProcessPoolTaskRunner) and processes._max_workers == 2
    local = make_task_runner("dask", workers=2)
    assert isinstance(local, DaskTaskRunner) and local.address is None
    assert local.cluster_kwargs["n_workers"] == 2 and local.cluster_kwargs["threads_per_worker"] == 1
    assert local.cluster_kwargs["host"] == "127.0.0.1"
    # The flow engine duplicates its task runner: the copy keeps the class and the settings.
    assert type(local.duplicate()) is type(local) and local.duplicate().cluster_kwargs == local.cluster_kwargs
    assert type(processes.duplicate()) is type(processes)


def test_runner_classes_pickle_by_reference():
    import pickle

    # Served flows are pickled into their run's process together with their task runner.
    for name in ("processes", "dask"):
        runner = make_task_runner(name, workers=1)
        assert pickle.loads(pickle.dumps(type(runner))) is type(runner)
        assert type(pickle.loads(pickle.dumps(runner))) is type(runner)


def api_url_setting(url: str | None):
    """PREFECT_API_URL as Prefect sees it (a settings context beats the environment)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if url is None:
        return temporary_settings(restore_defaults={PREFECT_API_URL})
    return temporary_settings(updates={PREFECT_API_URL: url})


def test_dask_address_needs_a_server_the_workers_reach():
    with api_url_setting(None):
        with pytest.raises(ValueError, match="set PREFECT_API_URL"):
            check_runner_options("dask", dask_address="tcp://127.0.0.1:8786")
    with api_url_setting("http://127.0.0.1:4200/api"):
        assert check_runner_options("dask", dask_address="tcp://127.0.0.1:8786") == "dask"
        with pytest.raises(ValueError, match="loopback"):
            check_runner_options("dask", dask_address="tcp://10.0.0.5:8786")
    with api_url_setting("http://10.0.0.1:4200/api"):
        runner = make_task_runner("dask", dask_address="tcp://10.0.0.5:8786")
    assert runner.address == "tcp://10.0.0.5:8786"


@pytest.mark.parametrize(
    ("kwargs", "error", "expected"),
    [
        (dict(runner="gpu"), ValueError, "runner='gpu'"),
        (dict(runner=3), TypeError, "runner=3"),
        (dict(runner="dask", workers=0), ValueError, "workers=0"),
        (dict(runner="threads", workers=2.5), TypeError, "workers=2.5"),
        (dict(runner="dask", dask_address="localhost:8786"), ValueError, "tcp://HOST:PORT"),
        (dict(runner="dask", dask_address="tcp://h:1", workers=2), ValueError, "own workers"),
    ],
)
def test_make_task_runner_rejects_bad_options(kwargs, error, expected):
    with pytest.raises(error) as raised:
        make_task_runner(**kwargs)
    assert expected in str(raised.value)


# --- the API check -----------------------------------------------------------------------


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(self.status if self.path.endswith("/health") else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, *args):
        pass


@pytest.fixture
def health_server():
    """A tiny HTTP server on 127.0.0.1 answering /api/health (status settable)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_require_reachable_api(health_server):
    url = f"http://127.0.0.1:{health_server.server_address[1]}/api"
    assert require_reachable_api(url) == url
    _Health.status = 503
    try:
        with pytest.raises(PrefectAPIUnreachable, match="answered HTTP 503"):
            require_reachable_api(url + "/")
    finally:
        _Health.status = 200
    dead = dead_url()
    with pytest.raises(PrefectAPIUnreachable) as raised:
        require_reachable_api(dead)
    assert dead in str(raised.value) and "connection refused" in str(raised.value)
    assert "\n" not in str(raised.value)
    with api_url_setting(None):
        assert require_reachable_api() is None  # no server configured: nothing to check
    with api_url_setting(url):
        assert require_reachable_api() == url


def test_task_runner_from_options_keeps_the_flow_default_unless_asked():
    from prefect_dask import DaskTaskRunner

    from convsweep.task_runners import task_runner_from_options

    assert task_runner_from_options() is None
    assert task_runner_from_options("threads", workers=2)._max_workers == 2
    with api_url_setting("http://127.0.0.1:4200/api"):
        implied = task_runner_from_options(dask_address="tcp://127.0.0.1:8786")
    assert isinstance(implied, DaskTaskRunner) and implied.address == "tcp://127.0.0.1:8786"
    with pytest.raises(ValueError, match="needs runner='dask'"):
        task_runner_from_options("processes", dask_address="tcp://127.0.0.1:8786")
