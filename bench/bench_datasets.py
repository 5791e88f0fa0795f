"""Benchmark: load + fingerprint of 70,000 28x28 images (convsweep.tasks.datasets).

The real MNIST test set (10,000 images, ../shared/datasets/mnist-t10k) is repeated to
Fashion-MNIST's size — 60,000 train + 10,000 test — and written as gzipped IDX files into a
temporary Keras cache, so ``fashion_mnist`` goes through the real
``keras.datasets.fashion_mnist.load_data()``.  Every cold case runs in a fresh process
(median of --repeats); Keras is imported before the clock starts and timed on its own.

    .venv/bin/python bench/bench_datasets.py [--repeats 5] [--source ../shared/datasets/mnist-t10k]

Columns: seconds (median), ratio against the baseline (the notebook's plain
``load_data()``), the peak of the memory the case allocates (tracemalloc, which numpy
reports to; a separate fresh process) and the whole process' peak RSS (with Python, numpy,
and Keras + jax where imported).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_SOURCE = REPO.parent / "shared" / "datasets" / "mnist-t10k"
TRAIN_COPIES = 6  # 6 x 10,000 train + 1 x 10,000 test = 70,000 images

# (name, what is measured); each runs in fresh processes
CASES = [
    ("import_keras", "import keras (jax backend), once per process"),
    ("keras_load_data", "baseline: keras.datasets.fashion_mnist.load_data() (notebook)"),
    ("open_fashion", "open_dataset('fashion_mnist', split='all') + fingerprint"),
    ("load_fashion", "read_images('fashion_mnist', split='all')"),
    ("open_idx_gz", "open_dataset('idx:<cache folder, .gz>', split='all') + fingerprint"),
    ("open_idx_raw", "open_dataset('idx:<raw copy>', split='all') + fingerprint"),
    ("reopen_fashion", "again in the same process (memoised): open + fingerprint"),
    ("fingerprint_only", "fingerprint(images, labels) of the 70,000 images"),
]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(case: str, keras_home: str, raw_folder: str, mode: str) -> dict:
    """Run one case in this (fresh) process: its seconds (mode "time") or the peak of the
    memory it allocates, traced by tracemalloc, which numpy reports to (mode "memory")."""
    os.environ["KERAS_HOME"] = keras_home
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import tracemalloc

    import convsweep.tasks.datasets as datasets

    cache_folder = str(Path(keras_home) / "datasets" / "fashion-mnist")
    keras = None
    if case != "import_keras" and ("fashion" in case or case == "keras_load_data"):
        import keras  # noqa: F811 - imported before the clock starts; timed as its own case
        import keras.datasets.fashion_mnist  # noqa: F401

    def open_and_fingerprint(spec: str) -> int:
        view = datasets.open_dataset(spec, split="all")
        _ = view.fingerprint  # the property computes and memoises it
        return view.n

    def import_keras() -> int:
        import keras.datasets.fashion_mnist  # noqa: F401

        return 0

    def keras_load_data() -> int:
        (x_train, _), (x_test, _) = keras.datasets.fashion_mnist.load_data()
        return len(x_train) + len(x_test)

    operations = {
        "import_keras": import_keras,
        "keras_load_data": keras_load_data,
        "open_fashion": lambda: open_and_fingerprint("fashion_mnist"),
        "reopen_fashion": lambda: open_and_fingerprint("fashion_mnist"),
        "load_fashion": lambda: datasets.read_images("fashion_mnist", split="all").n,
        "open_idx_gz": lambda: open_and_fingerprint(f"idx:{cache_folder}"),
        "open_idx_raw": lambda: open_and_fingerprint(f"idx:{raw_folder}"),
    }
    if case == "fingerprint_only":
        data = datasets.read_images(f"idx:{raw_folder}", split="all")
        operations[case] = lambda: len(datasets.fingerprint(data.images, data.labels)) and data.n
    if case == "reopen_fashion":
        operations[case]()  # the first (cold) call, not measured

    repeats = 20 if case == "reopen_fashion" and mode == "time" else 1
    if mode == "memory":
        tracemalloc.start()
        n = operations[case]()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return {"traced_mb": peak / 2**20, "peak_rss_mb": _peak_rss_mb(), "n": n}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        n = operations[case]()
        times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times), "peak_rss_mb": _peak_rss_mb(), "n": n}


def prepare(source: Path, workdir: Path) -> tuple[Path, Path]:
    """Write the 70,000-image Keras cache (gz) and a raw idx: copy; returns (keras_home, raw folder)."""
    import numpy as np

    from convsweep.tasks.datasets.idx_format import read_idx_images, read_idx_labels, write_idx

    images = read_idx_images(source / "t10k-images-idx3-ubyte.gz")
    labels = read_idx_labels(source / "t10k-labels-idx1-ubyte.gz")
    train_images, train_labels = np.tile(images, (TRAIN_COPIES, 1, 1)), np.tile(labels, TRAIN_COPIES)
    keras_home = workdir / "keras_home"
    cache = keras_home / "datasets" / "fashion-mnist"
    raw = workdir / "idx_raw"
    for folder, suffix in ((cache, ".gz"), (raw, "")):
        write_idx(folder / f"train-images-idx3-ubyte{suffix}", train_images)
        write_idx(folder / f"train-labels-idx1-ubyte{suffix}", train_labels)
        write_idx(folder / f"t10k-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", labels)
    # As a cache filled earlier: outside the 2 s window in which files are also content-hashed.
    an_hour_ago = time.time() - 3600
    for path in list(cache.iterdir()) + list(raw.iterdir()):
        os.utime(path, (an_hour_ago, an_hour_ago))
    return keras_home, raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per case (median)")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="folder with MNIST t10k IDX files")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--keras-home", help=argparse.SUPPRESS)
    parser.add_argument("--raw", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="time", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.keras_home, args.raw, args.mode)))
        return
    if not (args.source / "t10k-images-idx3-ubyte.gz").is_file():
        sys.exit(f"bench_datasets: no MNIST t10k IDX files in {args.source} (use --source)")

    with tempfile.TemporaryDirectory(prefix="bench_datasets_") as workdir:
        start = time.perf_counter()
        keras_home, raw = prepare(args.source, Path(workdir))
        print(
            f"prepared 70,000 images (6 x 10,000 train + 10,000 test) in {time.perf_counter() - start:.1f} s: "
            f"{keras_home}",
            flush=True,
        )

        def command(name: str, mode: str) -> list[str]:
            return [
                sys.executable,
                __file__,
                "--child",
                name,
                "--keras-home",
                str(keras_home),
                "--raw",
                str(raw),
                "--mode",
                mode,
            ]

        # Round-robin over the cases, so that a busy spell of the machine hits them all alike.
        results = {name: [] for name, _ in CASES}
        for _ in range(args.repeats):
            for name, _ in CASES:
                results[name].append(_run(command(name, "time"), name))
        memory = {name: _run(command(name, "memory"), name) for name, _ in CASES}  # deterministic: once
        load = os.getloadavg()[0]

    baseline = statistics.median(run["seconds"] for run in results["keras_load_data"])
    print(
        f"\nload + fingerprint of 70,000 28x28 images; median of {args.repeats} fresh processes each, "
        f"round-robin ({os.cpu_count()} cores, load average {load:.1f} at the end); "
        f"ratio = seconds / baseline\n"
    )
    header = f"| {'case':<72} | {'seconds':>8} | {'ratio':>6} | {'traced peak MB':>14} | {'process peak RSS MB':>19} |"
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    for name, what in CASES:
        runs = results[name]
        seconds = statistics.median(run["seconds"] for run in runs)
        rss = statistics.median(run["peak_rss_mb"] for run in runs)
        ratio = f"{seconds / baseline:.2f}" if name != "import_keras" else "-"
        print(f"| {what:<72} | {seconds:>8.4f} | {ratio:>6} | {memory[name]['traced_mb']:>14.0f} | {rss:>19.0f} |")


def _run(command: list[str], name: str) -> dict:
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        sys.exit(f"bench_datasets: case {name} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
