"""Benchmark: the default sweep over 70,000 images with each task runner.

Runners: ``threads`` (the default, baseline), ``processes`` and ``dask`` (a 2-worker
``LocalCluster``, one thread per worker), each with 2 workers on this machine.  The
data is the real MNIST test set (../shared/datasets/mnist-t10k) repeated to 70,000
images and written as Fashion-MNIST IDX files into a temporary Keras cache (the same
preparation as bench/bench_sweep.py), read with ``--split all``.

Every run is cold (its own empty cache folder, so every chunk task computes) and is a
fresh process running the sweep as ``convsweep sweep --runner R`` does
(``convsweep.flow_runs.run_sweep`` with ``convsweep.task_runners.make_task_runner``), against
Prefect's temporary local API in a temporary PREFECT_HOME.  Runs are interleaved
(threads, processes, dask, threads, ...) so that drift hits every runner alike.

    .venv/bin/python bench/bench_runners.py               # 70k images, 3 runs per runner
    .venv/bin/python bench/bench_runners.py --quick       # 10k images, 1 run each
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sweep import make_keras_home  # noqa: E402  (the shared data preparation)

RUNNERS = ("threads", "processes", "dask")

CHILD = r"""
import io, json, sys, time

def main():
    began = time.perf_counter()
    import convsweep

    runner, workers, parameters, cache_dir = json.loads(sys.argv[1])
    result = convsweep.sweep(**parameters, cache_dir=cache_dir, runner=runner, workers=workers)
    print(json.dumps({
        "in_process_wall": time.perf_counter() - began,
        "compute": result.chunk_compute_seconds,
        "cached": result.cached_task_runs,
        "task_runs": result.task_runs,
        "n_images": result.n_images,
    }))

if __name__ == "__main__":  # spawned worker processes import this file again
    main()
"""


def run_once(work: Path, env: dict[str, str], runner: str, workers: int, parameters: dict, index: int) -> dict:
    script = work / "child.py"
    script.write_text(CHILD)
    cache_dir = work / f"cache-{runner}-{index}"  # cold: nothing cached
    out = work / f"out-{runner}-{index}"
    began = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, str(script), json.dumps([runner, workers, {**parameters, "out": str(out)}, str(cache_dir)])],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - began
    if completed.returncode != 0:
        raise SystemExit(f"{runner} sweep failed:\n{completed.stderr[-3000:]}")
    record = json.loads(completed.stdout.strip().splitlines()[-1])
    record["wall"] = wall
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(cache_dir, ignore_errors=True)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=70_000)
    parser.add_argument("--runs", type=int, default=3, help="cold runs per runner (median reported)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="10,000 images, 1 run per runner")
    args = parser.parse_args()
    images, runs = (10_000, 1) if args.quick else (args.images, args.runs)

    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="convsweep-bench-runners-"))
    try:
        make_keras_home(work / "keras", images)
        env = {
            **os.environ,
            "KERAS_HOME": str(work / "keras"),
            "PREFECT_HOME": str(work / "prefect"),
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
        env.pop("PREFECT_API_URL", None)
        env.pop("CONVSWEEP_CACHE_DIR", None)
        parameters = {"dataset": "fashion_mnist", "split": "all", "name": "bench"}  # the default sweep otherwise
        records: dict[str, list[dict]] = {runner: [] for runner in RUNNERS}
        for index in range(runs):
            for runner in RUNNERS:
                record = run_once(work, env, runner, args.workers, parameters, index)
                assert record["cached"] == 0 and record["n_images"] == images, record
                records[runner].append(record)
                print(f"  {runner:<9} run {index + 1}: {record['wall']:.1f} s", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    baseline = statistics.median(record["wall"] for record in records["threads"])
    print(
        f"\nmachine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; default sweep over {images:,} images "
        f"(split=all), {args.workers} workers per runner, cold runs, process wall time; "
        f"load average (1 min) {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after\n"
    )
    print("| runner | runs | median wall s | min s | max s | chunk compute s (median) | task runs | wall / threads |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for runner in RUNNERS:
        walls = [record["wall"] for record in records[runner]]
        compute = statistics.median(record["compute"] for record in records[runner])
        label = {"threads": "threads (default)", "processes": "processes", "dask": "dask LocalCluster"}[runner]
        print(
            f"| {label} | {len(walls)} | {statistics.median(walls):.1f} | {min(walls):.1f} | {max(walls):.1f} | "
            f"{compute:.1f} | {records[runner][0]['task_runs']} | {statistics.median(walls) / baseline:.2f} |"
        )


if __name__ == "__main__":
    main()
