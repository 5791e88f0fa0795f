"""Benchmark: what a worker process pays to read a Keras dataset for its first chunk.

A fresh Python process (as a Dask or process-pool worker is) runs ``process_chunk``'s own
function on chunk 0-10,000 of 70,000 Fashion-MNIST-shaped images in a temporary Keras cache
(the data of bench/bench_sweep.py), for the default sweep's first conv setting, two ways:

* ``cache files`` (now): ``convsweep.tasks.compute.open_selection`` reads the cached IDX files
  directly (``open_dataset(..., cache_only=True)``): no Keras, no JAX;
* ``keras.datasets`` (before): the same task with ``open_selection`` reopening the selection
  through ``keras.datasets.fashion_mnist.load_data()``, as workers did before.

Reported per way (median of the runs, interleaved): the process's peak RSS once the data is
read (imports included) and after the chunk, its wall time
(start-up included) and the Keras/JAX modules it loaded.

    .venv/bin/python bench/bench_worker_data.py            # 3 runs per way
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
sys.path.insert(0, str(ROOT))

from bench_sweep import make_keras_home  # noqa: E402  (the shared data preparation)

CHILD = r"""
import json, sys, time
began = time.perf_counter()


def peak_rss_mb():
    # VmHWM: this process's own high-water mark (ru_maxrss would carry the parent's across fork + exec)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024

import convsweep.tasks.compute as compute
from convsweep.tasks.datasets import open_dataset
from convsweep.tasks.model import ConvSetting, PoolSetting

way, dataset, fingerprint = json.loads(sys.argv[1])
if way == "keras.datasets":  # the worker's read before: through Keras' loader
    compute.open_selection = lambda record: open_dataset(record.spec, **record.selection.arguments())
from convsweep.tasks.model.jobs import ChunkJob
from convsweep.tasks.model.records import DatasetRecord

compute.open_selection(DatasetRecord.parse(dataset)).read(0, 1)  # the data read (memoised for the task)
read_rss = peak_rss_mb()
record = compute.process_chunk.fn(ChunkJob(
    DatasetRecord.parse(dataset),
    (0, 10_000),
    ConvSetting(resize=None, stride=(1, 1), padding="valid", pad_mode="zeros", dilation=(1, 1)),
    {"sobel_h": [[1, 2, 1], [0, 0, 0], [-1, -2, -1]], "sobel_v": [[1, 0, -1], [2, 0, -2], [1, 0, -1]]},
    (PoolSetting("max", (2, 2), (2, 2), "valid"), PoolSetting("avg", (2, 2), (2, 2), "valid")),
    chunk_fingerprint=fingerprint,
))
print(json.dumps({
    "wall": time.perf_counter() - began,
    "read_rss_mb": read_rss,
    "rss_mb": peak_rss_mb(),
    "modules": sorted({name.split(".")[0] for name in sys.modules if name.split(".")[0] in ("keras", "jax", "jaxlib")}),
    "mean": record.maps["sobel"]["max2-s2-pvalid"].mean,
}))
"""

WAYS = ("cache files", "keras.datasets")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="convsweep-bench-worker-data-"))
    try:
        make_keras_home(work / "keras", 70_000)
        env = {**os.environ, "KERAS_HOME": str(work / "keras"), "PYTHONPATH": str(ROOT)}
        env.pop("KERAS_BACKEND", None)
        os.environ["KERAS_HOME"] = env["KERAS_HOME"]
        from convsweep.tasks.datasets import open_dataset
        from convsweep.tasks.datasets.identity_index import describe, part_fingerprint

        record = describe("fashion_mnist", {"split": "all"}, None)  # where the flow runs: Keras' loader
        view = open_dataset("fashion_mnist", split="all")
        fingerprint = part_fingerprint(view.read(0, 10_000), view.labels[0:10_000])
        results: dict[str, list[dict]] = {way: [] for way in WAYS}
        for index in range(args.runs):
            for way in WAYS:
                began = time.perf_counter()
                done = subprocess.run(
                    [sys.executable, "-c", CHILD, json.dumps([way, record, fingerprint])],
                    env=env,
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                )
                if done.returncode != 0:
                    raise SystemExit(f"{way} failed:\n{done.stderr[-3000:]}")
                result = json.loads(done.stdout.strip().splitlines()[-1])
                result["process_wall"] = time.perf_counter() - began
                results[way].append(result)
                print(f"  {way} run {index + 1}: {result['rss_mb']:.0f} MB", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    means = {result["mean"] for runs in results.values() for result in runs}
    assert len(means) == 1, f"the two ways computed different statistics: {means}"
    print(
        f"\nmachine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.2f}; "
        f"one chunk (10,000 of 70,000 images) in a fresh process, {args.runs} runs per way, medians\n"
    )
    print(
        "| worker reads the data through | peak RSS after the data read MB | peak RSS after the chunk MB "
        "| process wall s | Keras/JAX modules loaded |"
    )
    print("|---|---:|---:|---:|---|")
    for way in WAYS:
        runs = results[way]
        modules = ", ".join(runs[0]["modules"]) or "none"
        print(
            f"| {way} | {statistics.median(r['read_rss_mb'] for r in runs):.0f} | "
            f"{statistics.median(r['rss_mb'] for r in runs):.0f} | "
            f"{statistics.median(r['process_wall'] for r in runs):.1f} | {modules} |"
        )
    saved = statistics.median(r["rss_mb"] for r in results["keras.datasets"]) - statistics.median(
        r["rss_mb"] for r in results["cache files"]
    )
    saved_read = statistics.median(r["read_rss_mb"] for r in results["keras.datasets"]) - statistics.median(
        r["read_rss_mb"] for r in results["cache files"]
    )
    print(f"\nRSS saved per worker process: {saved_read:.0f} MB after the data read, {saved:.0f} MB at the peak")


if __name__ == "__main__":
    main()
