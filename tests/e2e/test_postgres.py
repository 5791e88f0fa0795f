"""`convsweep server --database-url postgresql+asyncpg://...` under load, and the same load on SQLite.

A throwaway PostgreSQL 15 cluster (Debian's postgresql-15; ``./dev.sh test`` installs it) is
created in a temporary folder owned by the ``postgres`` user (PostgreSQL refuses to run as
root), listens on 127.0.0.1 and a free port only (its unix socket in that folder), runs in its
own process group and is stopped by that group's id, pass or fail.  A database and a user
with a password are created; ``convsweep server`` is pointed at it.

The load, on either backend: ``convsweep serve`` serving a scheduled deployment, then at once
4 ``convsweep sweep`` processes (each with its own --name, --out and cache) and a
``prefect deployment run --watch`` of the served deployment.  Every flow run must be
Completed, every task run recorded (counted with the Prefect client against the API, and
in the database itself), and no output may show a lock or connection error.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import PrefectServer, free_port, group_alive, run_python, small_sweep_args, stop_process
from tests.e2e.test_serve import interrupt, start_serve, wait_for_serving
from tests.helpers.servers import wait_healthy

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_START_TIMEOUT = 90.0
SWEEPS = 4
LOAD_TIMEOUT = 900.0
# Images per chunk of every run of the load: 2 -> 20 chunks of the 40 images (88-89 task runs a
# run, ~450 in all); CONVSWEEP_E2E_LOAD_CHUNK_SIZE=16 gives 3 chunks (20 task runs a run).
LOAD_CHUNK_SIZE = int(os.environ.get("CONVSWEEP_E2E_LOAD_CHUNK_SIZE", 2))

# What must not appear in any output: SQLite's and asyncpg's lock, pool and connection failures.
ERRORS = re.compile(
    r"database is locked|OperationalError|InterfaceError|ConnectionDoesNotExist|connection (?:was |is )?closed"
    r"|Connection refused|ConnectionRefused|too many (?:clients|connections)|deadlock|QueuePool limit"
    r"|PoolTimeout|TimeoutError|Timed out|Traceback"
    # Prefect's in-memory event broker and task-run recorder losing events (a full queue, retries used up)
    r"|queue is full|Dropping event",
    re.IGNORECASE,
)


def _as_postgres() -> dict:
    """Popen arguments that run a PostgreSQL binary as the ``postgres`` user when we are root."""
    if os.geteuid() != 0:
        return {}
    return {"user": "postgres", "group": "postgres", "extra_groups": []}


@dataclass
class PostgresCluster:
    port: int
    sockets: Path
    log: Path
    pid: int
    ready_at: int = 0  # the log's size once the cluster accepted connections
    user: str = "convsweep"
    password: str = "pg-e2e-secret"
    database: str = "prefect"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    def psql(self, sql: str, *, database: str = "postgres") -> str:
        """Run ``sql`` as the superuser over the unix socket; its unaligned output."""
        done = subprocess.run(
            [
                str(PG_BIN / "psql"),
                "-h",
                str(self.sockets),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-XAtq",
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"psql {sql!r}: {done.stderr}"
        return done.stdout.strip()


@pytest.fixture
def postgres_cluster():
    """A fresh PostgreSQL 15 cluster on 127.0.0.1 with database 'prefect' owned by a password user."""
    for binary in ("initdb", "postgres", "pg_isready", "psql"):
        assert (PG_BIN / binary).exists(), (
            f"{PG_BIN / binary} is missing: apt-get install -y postgresql-15 (./dev.sh test does it)"
        )
    # Not under pytest's tmp_path: its parents are root-only (0700), which the postgres user cannot enter.
    root = Path(tempfile.mkdtemp(prefix="convsweep-pg-"))
    process = None
    try:
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(root, owner.pw_uid, owner.pw_gid)
        data, sockets, log = root / "data", root / "sockets", root / "postgres.log"
        init = subprocess.run(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-locale",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
            ],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=300,
            **_as_postgres(),
        )
        assert init.returncode == 0, f"initdb failed:\n{init.stdout}\n{init.stderr}"
        subprocess.run(["mkdir", str(sockets)], cwd=root, check=True, **_as_postgres())
        port = free_port()
        with open(log, "wb") as log_file:
            process = subprocess.Popen(
                [
                    str(PG_BIN / "postgres"),
                    "-D",
                    str(data),
                    "-p",
                    str(port),
                    "-k",
                    str(sockets),
                    "-c",
                    "listen_addresses=127.0.0.1",
                ],
                cwd=root,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **_as_postgres(),
            )
        deadline = time.monotonic() + PG_START_TIMEOUT
        while (
            subprocess.run(
                [str(PG_BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-t", "5"], timeout=30
            ).returncode
            != 0
        ):
            assert process.poll() is None, f"postgres exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, (
                f"postgres not ready within {PG_START_TIMEOUT:.0f} s:\n{log.read_text()[-3000:]}"
            )
            time.sleep(0.2)
        # pg_isready's probes during start-up are refused with "FATAL: the database system is
        # starting up": the log is judged from the moment the cluster was ready.
        cluster = PostgresCluster(port=port, sockets=sockets, log=log, pid=process.pid, ready_at=log.stat().st_size)
        cluster.psql(f"CREATE ROLE {cluster.user} LOGIN PASSWORD '{cluster.password}'")
        cluster.psql(f"CREATE DATABASE {cluster.database} OWNER {cluster.user}")
        yield cluster
    finally:
        if process is not None:
            stop_process(process, sig=signal.SIGINT, timeout=60)  # SIGINT: PostgreSQL's fast shutdown
            assert not group_alive(process.pid), f"postgres group {process.pid} still alive"
        shutil.rmtree(root, ignore_errors=True)


def start_server(home: Path, database_url: str | None) -> tuple[subprocess.Popen, PrefectServer]:
    """``convsweep server`` on a free loopback port, SQLite under ``home`` or ``database_url``."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_SERVER_LOGGING_LEVEL="WARNING")
    args = ["server", "--port", str(port)] + (["--database-url", database_url] if database_url else [])
    log = home / "server.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "convsweep.cli", *args],
            env=env,
            cwd=home,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        wait_healthy(process, url, log)
    except BaseException:
        stop_process(process, sig=signal.SIGINT, timeout=60)
        raise
    return process, PrefectServer(url=url, home=home, pid=process.pid, log=log)


COUNT_SCRIPT = """
import json
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.sorting import TaskRunSort


def recorded_task_runs(client, flow_run_id):
    runs = []
    while True:
        page = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
            sort=TaskRunSort.ID_DESC, limit=200, offset=len(runs),
        )
        runs.extend(page)
        if len(page) < 200:
            return list({run.id: run for run in runs}.values())  # rows shifted by paging: each once

# Paged in id order: PostgreSQL may order rows tied on the default sort key differently from one
# query to the next, and offset pages then skip some rows and repeat others.
with get_client(sync_client=True) as client:
    flow_runs = client.read_flow_runs(limit=200)
    result = {"flow_run_count": client.count_flow_runs(), "flow_runs": [], "all_task_runs": 0}
    while True:
        page = client.read_task_runs(sort=TaskRunSort.ID_DESC, limit=200, offset=result["all_task_runs"])
        result["all_task_runs"] += len(page)
        if len(page) < 200:
            break
for run in flow_runs:
    with get_client(sync_client=True) as client:
        tasks = recorded_task_runs(client, run.id)
    result["flow_runs"].append({
        "id": str(run.id), "name": run.parameters.get("name"), "state": run.state.type.value,
        "deployment_id": str(run.deployment_id) if run.deployment_id else None,
        "auto_scheduled": run.auto_scheduled,
        "task_states": [task.state.type.value for task in tasks],
    })
print(json.dumps(result))
"""


def api_counts(server: PrefectServer) -> dict:
    """Flow runs and their task runs, read with the Prefect client from the server's API."""
    stdout = run_python(["-c", COUNT_SCRIPT], env=server.env())
    return json.loads(stdout.strip().splitlines()[-1])


RECORD_TIMEOUT = 180.0


def wait_until_recorded(server: PrefectServer, runs: int, per_run: int) -> dict:
    """:func:`api_counts` once ``runs`` finished flow runs hold ``per_run`` final task runs each (or at the deadline)."""
    deadline = time.monotonic() + RECORD_TIMEOUT
    while True:
        recorded = api_counts(server)
        finished = [run for run in recorded["flow_runs"] if run["state"] == "COMPLETED"]
        complete = [run for run in finished if sorted(set(run["task_states"])) == ["COMPLETED"]]
        if len(complete) >= runs and all(len(run["task_states"]) == per_run for run in complete):
            return recorded
        if time.monotonic() > deadline:
            return recorded  # the assertions below say what is missing
        time.sleep(1.0)


def database_counts(backend: str, server: PrefectServer, cluster: PostgresCluster | None) -> tuple[int, int]:
    """(flow_run rows, task_run rows) straight from the server's database."""
    sql = (
        "SELECT (SELECT count(*) FROM flow_run WHERE NOT (auto_scheduled AND state_type = 'SCHEDULED')),"
        " (SELECT count(*) FROM task_run)"
    )
    if backend == "postgresql":
        flow_runs, task_runs = cluster.psql(sql, database=cluster.database).split("|")
        return int(flow_runs), int(task_runs)
    connection = sqlite3.connect(f"file:{server.home / 'prefect.db'}?mode=ro", uri=True, timeout=30)
    try:
        return tuple(connection.execute(sql).fetchone())
    finally:
        connection.close()


def load_sweep_args(idx: Path, out: Path, name: str, cache: Path) -> list[str]:
    args = small_sweep_args(idx, out, name, cache)
    args[args.index("--chunk-size") + 1] = str(LOAD_CHUNK_SIZE)
    return args


def popen(args: list[str], *, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        args,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_server_backend_holds_every_run_under_concurrent_sweeps_and_a_served_deployment(
    backend, request, idx_dataset, tmp_path
):
    cluster = request.getfixturevalue("postgres_cluster") if backend == "postgresql" else None
    process, server = start_server(tmp_path / "server-home", cluster.url if cluster else None)
    serving = None
    try:
        if cluster is not None:
            assert not (server.home / "prefect.db").exists()  # the server really uses PostgreSQL

        # A served deployment with a schedule (hourly: its runs are due later; one is triggered below).
        served = f"served-{backend}"
        serve_log = tmp_path / "serve.log"
        serving = start_serve(
            [
                "--interval",
                "3600",
                "--name",
                served,
                "--dataset",
                f"idx:{idx_dataset}",
                "--strides",
                "1,2",
                "--paddings",
                "valid,same",
                "--chunk-size",
                str(LOAD_CHUNK_SIZE),
                "--samples",
                "0,1",
                "--out",
                "out",
                "--cache-dir",
                "cache-served",
            ],
            server=server,
            cwd=tmp_path,
            log=serve_log,
        )
        wait_for_serving(serving, serve_log, [served], timeout=180)

        # The load: 4 sweeps and a run of the served deployment, all at once.
        started = time.monotonic()
        sweeps = [
            popen(
                [
                    sys.executable,
                    "-m",
                    "convsweep.cli",
                    *load_sweep_args(
                        idx_dataset, tmp_path / f"out-{index}", f"load-{index}", tmp_path / f"cache-{index}"
                    ),
                ],
                env=server.env(),
                cwd=tmp_path,
            )
            for index in range(SWEEPS)
        ]
        trigger = popen(
            [
                sys.executable,
                "-m",
                "prefect",
                "deployment",
                "run",
                f"sweep/{served}",
                "--watch",
                "--watch-interval",
                "2",
                "--watch-timeout",
                str(int(LOAD_TIMEOUT)),
            ],
            env=server.env(COLUMNS="200"),
            cwd=tmp_path,
        )
        outputs = {}
        try:
            for index, sweep in enumerate(sweeps):
                outputs[f"sweep load-{index}"] = (sweep, *sweep.communicate(timeout=LOAD_TIMEOUT))
            sweeps_seconds = time.monotonic() - started
            outputs["deployment run"] = (trigger, *trigger.communicate(timeout=LOAD_TIMEOUT))
            load_seconds = time.monotonic() - started
        finally:
            for running in (*sweeps, trigger):
                stop_process(running)

        task_counts = set()
        # A sweep says so when the API's recorder is more than 5 s behind it (convsweep/flow_runs.py).
        waited = sum("waiting for the Prefect API to record" in stderr for _done, _stdout, stderr in outputs.values())
        for what, (done, stdout, stderr) in outputs.items():
            text = stdout + stderr
            assert done.returncode == 0, f"{what} exited {done.returncode}:\n{text[-3000:]}"
            assert not ERRORS.search(text), f"{what}: {ERRORS.search(text).group(0)!r}:\n{text[-3000:]}"
            if what.startswith("sweep"):
                counts = re.search(r"(\d+) task runs \((\d+) cached\)", " ".join(stdout.split()))
                assert counts, text[-2000:]
                task_counts.add(int(counts.group(1)))
        [per_run] = task_counts  # the same sweep shape everywhere: the same number of task runs

        # The CLI sweeps waited for their task runs to be recorded; the deployment's run is over
        # when its flow run is, and the server records its last task-run events a little later.
        recorded = wait_until_recorded(server, SWEEPS + 1, per_run)
        # The hourly schedule's future runs (Scheduled, not due for an hour) are not part of the load.
        upcoming = [run for run in recorded["flow_runs"] if run["auto_scheduled"] and run["state"] == "SCHEDULED"]
        assert all(run["name"] == served and not run["task_states"] for run in upcoming), upcoming
        runs = [run for run in recorded["flow_runs"] if run not in upcoming]
        names = sorted(run["name"] for run in runs)
        assert names == sorted([*(f"load-{index}" for index in range(SWEEPS)), served]), names
        assert recorded["flow_run_count"] == SWEEPS + 1 + len(upcoming)
        for run in runs:
            assert run["state"] == "COMPLETED", run
            assert len(run["task_states"]) == per_run, (run["name"], len(run["task_states"]), per_run)
            assert set(run["task_states"]) == {"COMPLETED"}, run
        [triggered] = [run for run in runs if run["name"] == served]
        assert triggered["deployment_id"] is not None
        assert recorded["all_task_runs"] == (SWEEPS + 1) * per_run  # none left over, none lost
        assert database_counts(backend, server, cluster) == (SWEEPS + 1, (SWEEPS + 1) * per_run)
    finally:
        if serving is not None:
            serve_code = interrupt(serving)
        server_code = stop_process(process, sig=signal.SIGINT, timeout=60)
        assert not group_alive(process.pid), f"server group {process.pid} still alive"
    serve_text = serve_log.read_text()
    assert serve_code == 0, serve_text[-3000:]
    assert not ERRORS.search(serve_text), serve_text[-3000:]
    server_text = server.log.read_text()
    assert not ERRORS.search(server_text), server_text[-3000:]
    if cluster is not None:
        postgres_text = cluster.log.read_bytes()[cluster.ready_at :].decode(errors="replace")
        assert not re.search(
            r"deadlock|too many clients|FATAL:(?!.*terminating connection due to administrator)", postgres_text
        ), postgres_text[-3000:]
    summary = (
        f"{backend}: {SWEEPS} sweeps + 1 deployment run at once; sweeps done in {sweeps_seconds:.1f} s, "
        f"all in {load_seconds:.1f} s; {len(runs)} flow runs Completed, {recorded['all_task_runs']} task runs "
        f"({per_run} per run) recorded ({len(upcoming)} upcoming scheduled runs); {waited} of {SWEEPS} sweeps "
        f"waited over 5 s for the recorder; server exit {server_code}"
    )
    print(summary)
    request.node.user_properties.append(("load", summary))
