"""Benchmark: what a sweep costs beyond its arithmetic, against Prefect's own floor.

In one run, on this machine, for each API mode (``ephemeral``: no PREFECT_API_URL, Prefect
starts a temporary API server per run; ``server``: a ``convsweep server`` on a free loopback
port with a temporary PREFECT_HOME, stopped by PID at the end), every measurement a fresh
process, and against a server each one starts once the server is idle (the previous run's events
written):

(a) trivial  a Prefect flow submitting as many no-op tasks as the default sweep has task runs,
             on the sweep's thread pool, waited on until recorded as the CLI does;
(b) warm     the default sweep (``--split all``), everything cached;
(c) cold     the same with an empty cache folder (the first cold run also on a fresh PREFECT_HOME);
(d) floor    a plain loop doing exactly the sweep's arithmetic (every conv setting, kernel,
             magnitude, pooling and statistic) over the same images, on as many threads as the
             sweep uses, no Prefect: the faster of conv_core over whole chunks and the sweep's own
             chunk function (cache-sized sub-batches) called directly (computed once: no API);
(e) growth   the same files read as an IDX folder (``idx:``): a cold run, then three times 1 % more
             images appended to the last file, a rerun (only the new chunks should compute) and a
             warm run of the same files;
(f) 140k     one cold run over twice the images, for the peak-RSS flatness check.

Data: the real MNIST test set (../shared/datasets/mnist-t10k; synthetic images of the same
shape when absent) repeated to 70,000 (and 140,000) images, written as Fashion-MNIST IDX files
into a temporary KERAS_HOME (as bench/bench_sweep.py), read through ``keras.datasets``.

    .venv/bin/python bench/bench_overhead.py                    # both API modes, 3 repeats (~10 min)
    .venv/bin/python bench/bench_overhead.py --repeats 1 --api server --no-140k   # a quick check
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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sweep import CHILD as SWEEP_CHILD  # noqa: E402
from bench_sweep import ROOT, real_or_synthetic_images, start_server, stop_server, write_idx  # noqa: E402

TRIVIAL_CHILD = r"""
import json, os, resource, sys, time
began = time.perf_counter()
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner
from convsweep.flow_runs import wait_until_recorded

@task(name="noop", persist_result=False, cache_policy=NO_CACHE)
def noop(index: int) -> int:
    return index

@flow(name="trivial", task_runner=ThreadPoolTaskRunner(max_workers=os.cpu_count() or 2), persist_result=False)
def trivial(count: int) -> int:
    futures = [noop.submit(index) for index in range(count)]
    return sum(future.result() for future in futures)

count = int(sys.argv[1])
state = trivial(count, return_state=True)
state.result()
wait_until_recorded(state.state_details.flow_run_id, count)
print(json.dumps({"wall": time.perf_counter() - began,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

FLOOR_CHILD = r"""
import json, os, resource, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import numpy as np
from convsweep import conv_core
from convsweep.conv_core.stats import summarize
from convsweep.tasks.chunk.maps import chunk_record
from convsweep.tasks.datasets import iter_chunks
from convsweep.tasks.datasets.idx_format import read_idx_images
from convsweep.tasks.model import magnitude_pairs, parse_parameters

folder = Path(sys.argv[1])
settings = parse_parameters(dataset="fashion_mnist", split="all")
images = np.concatenate([read_idx_images(folder / "train-images-idx3-ubyte.gz"),
                         read_idx_images(folder / "t10k-images-idx3-ubyte.gz")])
kernels = {name: np.asarray(matrix, dtype=np.float64) for name, matrix in settings.kernel_matrices.items()}
pairs = magnitude_pairs(kernels)
plain_kernels = {name: matrix.tolist() for name, matrix in kernels.items()}
plain_pools = [pool.to_plain() for pool in settings.pool_settings]

def whole_chunk(conv, start, stop):
    # conv_core over the whole chunk at once: the plainest loop.
    batch = images[start:stop]
    resized = batch if conv.resize is None else conv_core.resize(batch, conv.resize)
    maps = {name: conv_core.conv2d(resized, matrix, stride=conv.stride, padding=conv.padding,
                                   pad_mode=conv.pad_mode, dilation=conv.dilation)
            for name, matrix in kernels.items()}
    for name, (horizontal, vertical) in pairs.items():
        maps[name] = conv_core.sobel_magnitude(maps[horizontal], maps[vertical])
    return [summarize(pool.apply(feature_map)) for feature_map in maps.values() for pool in settings.pool_settings]

def sub_batched(conv, start, stop):
    # The sweep's own chunk function (cache-sized sub-batches), called directly: no Prefect.
    return chunk_record(images[start:stop], conv=conv.to_plain(), kernels=plain_kernels, pools=plain_pools,
                        chunk=(start, stop))

jobs = [(conv, start, stop) for conv in settings.conv_settings for start, stop in iter_chunks(len(images), settings.chunk_size)]
walls = {}
for name, work in (("whole chunks", whole_chunk), ("sub-batched", sub_batched)):
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(lambda job: work(*job), jobs))
    walls[name] = time.perf_counter() - began
# The floor is the faster of the two plain loops (the harder target).
print(json.dumps({"wall": min(walls.values()), "whole": walls["whole chunks"], "sub": walls["sub-batched"],
                  "jobs": len(jobs), "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_child(code: str, args: list[str], env: dict[str, str]) -> dict:
    began = time.perf_counter()
    completed = subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if completed.returncode != 0:
        raise SystemExit(f"child failed:\n{completed.stderr[-3000:]}")
    record = json.loads(completed.stdout.strip().splitlines()[-1])
    record["process_wall"] = wall
    return record


def dataset_arrays(total: int) -> tuple[np.ndarray, np.ndarray]:
    """``total`` images: the real MNIST test set repeated; labels 0..9 cycling."""
    base = real_or_synthetic_images()
    images = np.concatenate([base] * -(-total // len(base)))[:total]
    return images, (np.arange(total) % 10).astype(np.uint8)


def write_keras_home(folder: Path, total: int, *, appended: int = 0) -> Path:
    """Fashion-MNIST-named IDX files of ``total`` images (6/7 train, 1/7 test, as bench_sweep),
    plus ``appended`` more images at the end of the test file (the last in ``--split all``)."""
    images, labels = dataset_arrays(total + appended)
    n_test = total // 7
    target = folder / "datasets" / "fashion-mnist"
    target.mkdir(parents=True, exist_ok=True)
    test_images = np.concatenate([images[:n_test], images[total:]])
    test_labels = np.concatenate([labels[:n_test], labels[total:]])
    if not appended:
        write_idx(target / "train-images-idx3-ubyte.gz", images[n_test:total], 2051)
        write_idx(target / "train-labels-idx1-ubyte.gz", labels[n_test:total], 2049)
    write_idx(target / "t10k-images-idx3-ubyte.gz", test_images, 2051)
    write_idx(target / "t10k-labels-idx1-ubyte.gz", test_labels, 2049)
    return target


def sweep_env(work: Path, *, cache: str) -> dict[str, str]:
    env = {
        **os.environ,
        "KERAS_HOME": str(work / "keras"),
        "PREFECT_HOME": str(work / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "CONVSWEEP_CACHE_DIR": str(work / cache),
    }
    env.pop("PREFECT_API_URL", None)
    return env


def _group_cpu_seconds(group: int) -> float:
    """CPU time (user + system) of the live processes of a process group, from /proc."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:  # fields after the name: state, ppid, pgrp, ...
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def settle(server: subprocess.Popen | None, *, timeout: float = 60.0) -> None:
    """Wait until the API server is idle (under 5 % of a core for a second): the previous run's
    events and logs are written by then, so no measurement pays for the one before it."""
    if server is None:
        return
    deadline = time.monotonic() + timeout
    before = _group_cpu_seconds(server.pid)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = _group_cpu_seconds(server.pid)
        if now - before < 0.05:
            return
        before = now


def median_of(runs: list[dict]) -> dict:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def measure_mode(mode: str, repeats: int, total: int, with_140k: bool) -> dict:
    """Every measurement of one API mode; returns name -> median record (plus 'runs')."""
    work = Path(tempfile.mkdtemp(prefix=f"convsweep-overhead-{mode}-"))
    server = None
    results: dict = {}
    try:
        write_keras_home(work / "keras", total)
        env = sweep_env(work, cache="cache-0")
        if mode == "server":
            server, env["PREFECT_API_URL"] = start_server(env)
        parameters = json.dumps({"dataset": "fashion_mnist", "split": "all", "out": str(work / "out"), "name": "bench"})
        # (c) the first cold run, on a fresh PREFECT_HOME (its database is created now)
        results["cold, fresh PREFECT_HOME"] = first = run_child(SWEEP_CHILD, [parameters], env)
        task_runs = int(first["task_runs"])
        trivial, cold, warm = [], [], []
        for repeat in range(repeats):  # interleaved, so that load changes hit every kind alike
            settle(server)
            trivial.append(run_child(TRIVIAL_CHILD, [str(task_runs)], env))
            settle(server)
            cold.append(
                run_child(SWEEP_CHILD, [parameters], {**env, "CONVSWEEP_CACHE_DIR": str(work / f"cold-{repeat}")})
            )
            settle(server)
            warm.append(run_child(SWEEP_CHILD, [parameters], env))
        results["trivial"] = median_of(trivial)
        results["cold"] = median_of(cold)
        results["warm"] = median_of(warm)
        results["task_runs"] = task_runs
        # (e) growth, on the same files read as an IDX folder (``idx:``: user data grows, Fashion-MNIST
        # does not): a cold and a warm run, then 1 % appended to the last file and a rerun
        folder = work / "keras" / "datasets" / "fashion-mnist"
        idx_parameters = json.dumps(
            {"dataset": f"idx:{folder}", "split": "all", "out": str(work / "out"), "name": "bench-idx"}
        )
        idx_env = {**env, "CONVSWEEP_CACHE_DIR": str(work / "cache-idx")}
        settle(server)
        results["idx cold"] = run_child(SWEEP_CHILD, [idx_parameters], idx_env)
        grown, warm_after = [], []
        for step in range(1, repeats + 1):  # grows by 1 % of the original each time
            write_keras_home(work / "keras", total, appended=step * total // 100)
            settle(server)
            grown.append(run_child(SWEEP_CHILD, [idx_parameters], idx_env))
            settle(server)
            warm_after.append(run_child(SWEEP_CHILD, [idx_parameters], idx_env))  # same files: a warm run
        results["idx warm"] = median_of(warm_after)
        results["idx grown (+1 %)"] = median_of(grown)
        if with_140k:
            big = work / "big"
            write_keras_home(big / "keras", 2 * total)
            big_env = {**env, "KERAS_HOME": str(big / "keras"), "CONVSWEEP_CACHE_DIR": str(big / "cache")}
            results[f"cold {2 * total // 1000}k"] = run_child(SWEEP_CHILD, [parameters], big_env)
    finally:
        if server is not None:
            stop_server(server)
        shutil.rmtree(work, ignore_errors=True)
    return results


def measure_floor(repeats: int, total: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="convsweep-overhead-floor-"))
    try:
        folder = write_keras_home(work / "keras", total)
        return median_of([run_child(FLOOR_CHILD, [str(folder)], dict(os.environ)) for _ in range(repeats)])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (medians reported)")
    parser.add_argument("--api", choices=["ephemeral", "server", "both"], default="both")
    parser.add_argument("--images", type=int, default=70_000)
    parser.add_argument("--no-140k", dest="with_140k", action="store_false", help="skip the RSS flatness run")
    args = parser.parse_args()
    modes = ["ephemeral", "server"] if args.api == "both" else [args.api]
    load_before = os.getloadavg()
    floor = measure_floor(args.repeats, args.images)
    measured = {mode: measure_mode(mode, args.repeats, args.images, args.with_140k) for mode in modes}
    load_after = os.getloadavg()

    print(
        f"\nmachine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; load average (1/5/15 min) "
        f"{'/'.join(f'{x:.2f}' for x in load_before)} before, {'/'.join(f'{x:.2f}' for x in load_after)} after; "
        f"default sweep, --split all, {args.images:,} images; medians of {args.repeats}\n"
    )
    print(
        f"compute floor (conv_core loop, {floor['jobs']} chunk jobs, {os.cpu_count()} threads): "
        f"{floor['wall']:.2f} s, the faster of whole chunks {floor['whole']:.2f} s and the sweep's sub-batches "
        f"{floor['sub']:.2f} s (process {floor['process_wall']:.2f} s, peak RSS {floor['rss_mb']:.0f} MB)\n"
    )
    print("| API | run | wall s | chunk compute s | cached task runs | peak RSS MB |")
    print("|---|---|---:|---:|---:|---:|")
    for mode, results in measured.items():
        for name, record in results.items():
            if name == "task_runs":
                continue
            compute = f"{record['compute']:.1f}" if "compute" in record else "-"
            cached = f"{record['cached']:.0f}/{record['task_runs']:.0f}" if "cached" in record else "-"
            print(f"| {mode} | {name} | {record['process_wall']:.1f} | {compute} | {cached} | {record['rss_mb']:.0f} |")
    print()
    for mode, results in measured.items():
        trivial, warm, cold = (results[key]["process_wall"] for key in ("trivial", "warm", "cold"))
        idx_cold, idx_warm, grown = (
            results[key]["process_wall"] for key in ("idx cold", "idx warm", "idx grown (+1 %)")
        )
        fresh = results["cold, fresh PREFECT_HOME"]["process_wall"]
        print(f"{mode}: trivial flow of {results['task_runs']} no-op tasks {trivial:.1f} s")
        print(f"  warm / trivial = {warm / trivial:.2f} (target <= 1.25: {verdict(warm <= 1.25 * trivial)})")
        print(
            f"  (cold - warm) / floor = {(cold - warm) / floor['wall']:.2f} "
            f"(target <= 1.5: {verdict(cold - warm <= 1.5 * floor['wall'])})"
        )
        print(
            f"  idx: (grown - warm) / (cold - warm) = {(grown - idx_warm) / max(idx_cold - idx_warm, 1e-9):.2f} "
            f"(target <= 0.05: {verdict(grown - idx_warm <= 0.05 * (idx_cold - idx_warm))})"
        )
        if mode == "ephemeral":
            print(
                f"  cold on an existing PREFECT_HOME {cold:.1f} s (target <= 20 s: {verdict(cold <= 20)}); "
                f"on a fresh one {fresh:.1f} s (target <= 30 s: {verdict(fresh <= 30)})"
            )
        rss = max(record["rss_mb"] for key, record in results.items() if key != "task_runs")
        print(f"  peak RSS {rss:.0f} MB (target <= 1536: {verdict(rss <= 1536)})", end="")
        big = [key for key in results if key.startswith("cold ") and key.endswith("k")]
        if big:
            ratio = results[big[0]]["rss_mb"] / results["cold"]["rss_mb"]
            print(f"; {big[0]} / cold 70k = {ratio:.2f} (target 0.8-1.2: {verdict(0.8 <= ratio <= 1.2)})")
        else:
            print()


if __name__ == "__main__":
    main()
