"""Benchmark: the default sweep over 70,000 (and 140,000) images, cold and warm.

The real MNIST test set (../shared/datasets/mnist-t10k, 10,000 images; synthetic
images of the same shape when absent) is repeated and written as Fashion-MNIST
IDX files into a temporary Keras cache, so the sweep reads it through the real
``keras.datasets.fashion_mnist`` path with ``--split all``.

Each run is a fresh process, in one of two set-ups: ``--api default`` (the CLI itself,
``python -m convsweep.cli sweep``, as a user runs it: no PREFECT_API_URL, so the first run on
the fresh PREFECT_HOME starts Prefect's background server (``convsweep.server``) and later runs
reuse it; stopped by its PID at the end) or ``--api server`` (the Python API, ``convsweep.sweep``,
against a ``convsweep server`` started once, as for scheduled runs and the UI).  Reported per run: wall seconds, the
seconds the chunk tasks spent computing in this run (cached ones count 0),
the rest (loading, pictures, report, Prefect orchestration, process start-up), and the peak RSS of the sweep process.

    .venv/bin/python bench/bench_sweep.py                # both set-ups: 70k cold+warm, 140k cold
    .venv/bin/python bench/bench_sweep.py --api server   # one set-up
    .venv/bin/python bench/bench_sweep.py --quick        # 20k, to try it out
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MNIST = ROOT.parent / "shared" / "datasets" / "mnist-t10k"


def real_or_synthetic_images() -> np.ndarray:
    # CONVSWEEP_MNIST_T10K: the folder when this checkout is not beside ../shared (a worktree)
    path = Path(os.environ.get("CONVSWEEP_MNIST_T10K", MNIST)) / "t10k-images-idx3-ubyte.gz"
    if path.exists():
        data = gzip.decompress(path.read_bytes())
        return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    print(f"note: {MNIST} not found; using synthetic 28x28 images", file=sys.stderr)
    return np.random.default_rng(0).integers(0, 256, size=(10_000, 28, 28), dtype=np.uint8)


def write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb", compresslevel=1) as handle:
        handle.write(header + np.ascontiguousarray(array).tobytes())


def make_keras_home(folder: Path, total: int) -> None:
    """Fashion-MNIST-named IDX files holding ``total`` images (6/7 train, 1/7 test)."""
    base = real_or_synthetic_images()
    repeats = -(-total // len(base))
    images = np.concatenate([base] * repeats)[:total]
    labels = (np.arange(total) % 10).astype(np.uint8)
    n_test = total // 7
    target = folder / "datasets" / "fashion-mnist"
    target.mkdir(parents=True, exist_ok=True)
    write_idx(target / "train-images-idx3-ubyte.gz", images[n_test:], 2051)
    write_idx(target / "train-labels-idx1-ubyte.gz", labels[n_test:], 2049)
    write_idx(target / "t10k-images-idx3-ubyte.gz", images[:n_test], 2051)
    write_idx(target / "t10k-labels-idx1-ubyte.gz", labels[:n_test], 2049)


CHILD = r"""
import json, resource, sys, time
began = time.perf_counter()
import convsweep
parameters = json.loads(sys.argv[1])
result = convsweep.sweep(**parameters)
print(json.dumps({
    "wall": time.perf_counter() - began,
    "compute": result.chunk_compute_seconds,
    "cached": result.cached_task_runs,
    "task_runs": result.task_runs,
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


# The CLI as a user runs it, in a parent that reports the CLI's own peak RSS (the local server it
# may start is detached and never waited for, so it is not counted) and its result line.
CLI_CHILD = r"""
import json, resource, subprocess, sys, time
began = time.perf_counter()
parameters = json.loads(sys.argv[1])
command = [sys.executable, "-m", "convsweep.cli", "sweep", "--dataset", parameters["dataset"], "--split",
           parameters["split"], "--out", parameters["out"], "--name", parameters["name"]]
completed = subprocess.run(command, capture_output=True, text=True)
if completed.returncode != 0:
    sys.exit(completed.stderr[-3000:])
summary = completed.stdout.split("task runs (")[0].split()[-2:]  # "... N rows, M task runs (K cached)"
cached = completed.stdout.split("task runs (")[1].split()[0] if "task runs (" in completed.stdout else "0"
print(json.dumps({
    "wall": time.perf_counter() - began,
    "compute": float("nan"),
    "cached": float(cached),
    "task_runs": float(summary[-1]),
    "rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
}))
"""


def run_once(env: dict[str, str], parameters: dict, *, cli: bool = False) -> dict:
    began = time.perf_counter()
    child = CLI_CHILD if cli else CHILD
    completed = subprocess.run(
        [sys.executable, "-c", child, json.dumps(parameters)], env=env, cwd=ROOT, capture_output=True, text=True
    )
    wall = time.perf_counter() - began
    if completed.returncode != 0:
        raise SystemExit(f"sweep failed:\n{completed.stderr[-3000:]}")
    record = json.loads(completed.stdout.strip().splitlines()[-1])
    record["process_wall"] = wall
    return record


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """``convsweep server`` on a free loopback port; returns (process, API URL) once healthy."""
    import urllib.request

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", "from convsweep.cli import main; main()", "server", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.5)
    stop_server(process)
    raise SystemExit("the Prefect server did not become healthy in 120 s")


def stop_server(process: subprocess.Popen) -> None:
    import signal

    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


def stop_local_server(home: Path) -> None:
    """Stop Prefect's background server the CLI started for ``home``, by its PID."""
    import signal

    from convsweep.server import running_server

    server = running_server(home)
    if server is not None:
        os.kill(server.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20,000 images, one warm run")
    parser.add_argument("--warm-runs", type=int, default=3)
    parser.add_argument("--api", choices=["default", "server", "all"], default="all")
    args = parser.parse_args()
    sizes = [20_000] if args.quick else [70_000, 140_000]
    setups = ["default", "server"] if args.api == "all" else [args.api]

    rows = []
    for setup in setups:
        for total in sizes:
            work = Path(tempfile.mkdtemp(prefix=f"convsweep-bench-{total}-"))
            server = None
            try:
                make_keras_home(work / "keras", total)
                env = {
                    **os.environ,
                    "KERAS_HOME": str(work / "keras"),
                    "PREFECT_HOME": str(work / "prefect"),
                    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                    "CONVSWEEP_CACHE_DIR": str(work / "cache"),
                }
                env.pop("PREFECT_API_URL", None)
                if setup == "server":
                    server, env["PREFECT_API_URL"] = start_server(env)
                parameters = {"dataset": "fashion_mnist", "split": "all", "out": str(work / "out"), "name": "bench"}
                cli = setup == "default"
                cold = "cold (fresh PREFECT_HOME: starts the server)" if cli else "cold"
                rows.append((setup, total, cold, run_once(env, parameters, cli=cli)))
                if total == sizes[0]:
                    warm = [run_once(env, parameters, cli=cli) for _ in range(1 if args.quick else args.warm_runs)]
                    median = {key: statistics.median(run[key] for run in warm) for key in warm[0]}
                    rows.append((setup, total, f"warm (median of {len(warm)})", median))
            finally:
                if server is not None:
                    stop_server(server)
                if setup == "default":
                    stop_local_server(work / "prefect")
                shutil.rmtree(work, ignore_errors=True)

    load = os.getloadavg()[0]
    print(
        f"\nmachine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average {load:.2f}; default sweep, split=all\n"
    )
    print(
        "| API | images | run | wall s | chunk compute s | everything else s | cached task runs | peak RSS MB | wall / cold |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for setup, total, kind, record in rows:
        cold_wall = next(
            r[3]["process_wall"] for r in rows if r[0] == setup and r[1] == total and r[2].startswith("cold")
        )
        wall = record["process_wall"]
        compute = record["compute"]
        shown = (
            ("(CLI)", "") if compute != compute else (f"{compute:.1f}", f"{wall - compute:.1f}")
        )  # NaN: not reported
        print(
            f"| {setup} | {total:,} | {kind} | {wall:.1f} | {shown[0]} | {shown[1]} | "
            f"{record['cached']:.0f}/{record['task_runs']:.0f} | {record['rss_mb']:.0f} | {wall / cold_wall:.2f} |"
        )
    if len(sizes) > 1:
        for setup in setups:
            rss = {total: record["rss_mb"] for s, total, kind, record in rows if kind.startswith("cold") and s == setup}
            print(f"{setup}: peak RSS 140k / 70k (cold): {rss[140_000] / rss[70_000]:.2f}")


if __name__ == "__main__":
    main()
