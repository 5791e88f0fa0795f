"""Benchmark: the default sweep on 1, 2 and 3 simulated hosts.

The hosts are those of the multi-host tests (``tests/e2e/hosts.py``): each a ``dask worker``
(one thread) in its own UTS, PID and mount namespaces (own hostname, PIDs, ``/tmp``, home and
copy of the project), sharing one folder that holds the data (a Keras cache: ``KERAS_HOME``),
the outputs and the cache; the scheduler and a ``convsweep server`` on 127.0.0.1.  Needs root
(``unshare``).

``speed``: the default sweep (``--split all``) over 70,000 Fashion-MNIST-shaped images (the
data of bench/bench_sweep.py: the real MNIST test set repeated, as Fashion-MNIST IDX files),
every run cold (its own empty cache and output folders), as a fresh flow process
(``run_sweep``) against the server: first without Dask (the default thread runner, one
process), then on 1, 2 and 3 hosts (one cluster per host count, kept for its runs).  Reported:
median wall seconds of the flow process, ratios to 1 host and to the single process, whether
every ``sizes.csv`` equals the single process's (``compute_seconds`` left out), and the
workers' RSS and Keras/JAX modules after the runs.

    sudo .venv/bin/python bench/bench_hosts.py speed               # 70k, 3 runs per set-up
    sudo .venv/bin/python bench/bench_hosts.py speed --images 20000 --runs 1
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from bench_sweep import make_keras_home, start_server, stop_server  # noqa: E402

from tests.e2e.hosts import Cluster, finish_flow, start_cluster, start_flow  # noqa: E402

HOSTS = ("host-a", "host-b", "host-c")
FLOW_TIMEOUT = 1800.0


def base_env(work: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(
        PYTHONPATH=str(ROOT),
        PREFECT_HOME=str(work / "prefect"),
        PREFECT_LOGGING_LEVEL="WARNING",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    env.pop("CONVSWEEP_CACHE_DIR", None)
    return env


def csv_without_timings(path: str | Path) -> str:
    import pandas as pd

    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return frame.drop(columns=["compute_seconds"]).to_csv(index=False)


def run_flow(work: Path, shared: Path, parameters: dict, tag: str, address: str | None, env: dict) -> dict:
    """One cold sweep (its own cache and output folders in the shared one): wall seconds and CSV."""
    out, cache = shared / f"out-{tag}", shared / f"cache-{tag}"
    began = time.perf_counter()
    flow = start_flow(work, {**parameters, "out": str(out)}, cache, address, env)
    result, stderr = finish_flow(flow, timeout=FLOW_TIMEOUT)
    wall = time.perf_counter() - began
    if result["kind"] != "RESULT":
        raise SystemExit(f"sweep {tag} failed: {result}\n{stderr[-3000:]}")
    record = {"wall": wall, "in_flow": result["seconds"], "csv": csv_without_timings(result["csv"])}
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    return record


def _worker_state() -> tuple[float, list[str]]:
    import sys as _sys

    import psutil

    loaded = sorted({name.split(".")[0] for name in _sys.modules if name.split(".")[0] in ("keras", "jax", "jaxlib")})
    return psutil.Process().memory_info().rss / 2**20, loaded


def worker_states(cluster: Cluster) -> dict[str, tuple[float, list[str]]]:
    from distributed import Client

    with Client(cluster.address, timeout=120) as client:
        return client.run(_worker_state)


def start_hosts(shared: Path, env: dict, count: int) -> Cluster:
    cluster = start_cluster(shared, env)
    try:
        for name in HOSTS[:count]:
            cluster.add_host(name, env)
        cluster.wait_for_workers(count)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def speed(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="convsweep-bench-hosts-"))
    shared = work / "shared"
    server = None
    load_before = os.getloadavg()
    rows: dict[str, list[dict]] = {}
    states: dict[str, dict] = {}
    try:
        make_keras_home(shared / "keras", args.images)
        env = base_env(work, KERAS_HOME=str(shared / "keras"))
        server, env["PREFECT_API_URL"] = start_server(env)
        parameters = {"dataset": "fashion_mnist", "split": "all", "name": "bench-hosts"}  # the default sweep
        rows["one process, no Dask"] = [
            run_flow(work, shared, parameters, f"single-{i}", None, env) for i in range(args.runs)
        ]
        print(f"  one process: {[round(r['wall'], 1) for r in rows['one process, no Dask']]}", file=sys.stderr)
        for count in args.hosts:
            cluster = start_hosts(shared, env, count)
            try:
                label = f"{count} host{'s' if count > 1 else ''}"
                rows[label] = [
                    run_flow(work, shared, parameters, f"{count}-{i}", cluster.address, env) for i in range(args.runs)
                ]
                states[label] = worker_states(cluster)
            finally:
                cluster.stop()
            print(f"  {label}: {[round(r['wall'], 1) for r in rows[label]]}", file=sys.stderr, flush=True)
    finally:
        if server is not None:
            stop_server(server)
        shutil.rmtree(work, ignore_errors=True)

    reference = rows["one process, no Dask"][0]["csv"]
    single = statistics.median(r["wall"] for r in rows["one process, no Dask"])
    one_host = next(
        (statistics.median(r["wall"] for r in runs) for label, runs in rows.items() if label == "1 host"), None
    )
    print(
        f"\nmachine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; default sweep over {args.images:,} images "
        f"(split=all), cold runs, {args.runs} per set-up, flow process wall time; hosts: 1 dask worker thread each; "
        f"load average (1 min) {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after\n"
    )
    print(
        "| set-up | runs | median wall s | min s | max s | / 1 host | / one process | CSV equal | worker RSS MB | Keras/JAX on workers |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|---|")
    for label, runs in rows.items():
        walls = [r["wall"] for r in runs]
        median = statistics.median(walls)
        equal = all(r["csv"] == reference for r in runs)
        worker = states.get(label)
        rss = f"{max(state[0] for state in worker.values()):.0f}" if worker else "–"
        modules = (", ".join(sorted({m for state in worker.values() for m in state[1]})) or "none") if worker else "–"
        ratio_host = f"{median / one_host:.2f}" if one_host and label != "one process, no Dask" else "–"
        print(
            f"| {label} | {len(walls)} | {median:.1f} | {min(walls):.1f} | {max(walls):.1f} | {ratio_host} | "
            f"{median / single:.2f} | {'yes' if equal else 'NO'} | {rss} | {modules} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    speed_parser = commands.add_parser("speed", help="the default sweep on 1, 2, 3 hosts")
    speed_parser.add_argument("--images", type=int, default=70_000)
    speed_parser.add_argument("--runs", type=int, default=3)
    speed_parser.add_argument("--hosts", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("the simulated hosts need root (unshare of UTS, PID and mount namespaces)")
    speed(args)


if __name__ == "__main__":
    main()
