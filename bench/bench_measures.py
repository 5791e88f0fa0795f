"""Benchmark the measures: shift sensitivity against the sweep's own pass, and the linear probe.

    python bench/bench_measures.py [--repeats 3] [--shift-images 1000] [--data DIR] [--workers 2]

* shift: for each default conv setting, ``convsweep.tasks.measures.shift_sensitivity`` on
  ``--shift-images`` images against ``convsweep.tasks.compute.chunk_record`` (what process-chunk computes)
  on the same images; the ratio is the number of passes (1 for P(x), 1 per shift, 1 per
  distinct jump: 4 in the default sweep).  And what it adds to a sweep of 10,000 / 70,000 images.
* probe: ``convsweep.tasks.probe`` over the default 12 configurations (3 conv strides × 2 paddings ×
  max/avg 2×2), ``--workers`` configurations at a time on threads as the sweep's runner does
  it, trained on 2,500, 5,000 and 10,000 images (MNIST t10k: the timing only; scored on
  2,000 of them), with the wall time of the 12 and the per-configuration seconds.

Data: MNIST t10k from ../shared/datasets/mnist-t10k (synthetic images of its shape when
absent).  A script, not a test: nothing fails because a machine is slow.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from convsweep.tasks.analysis.probe import fit_probe, probe_features  # noqa: E402
from convsweep.tasks.analysis.shift import shift_sensitivity  # noqa: E402
from convsweep.tasks.chunk.maps import chunk_record  # noqa: E402
from convsweep.tasks.model import parse_parameters  # noqa: E402

# The shared copy next to the main checkout (/work/shared), whichever worktree this runs from.
DEFAULT_DATA = (
    Path("/work/shared/datasets/mnist-t10k")
    if Path("/work/shared").is_dir()
    else REPO.parent / "shared" / "datasets" / "mnist-t10k"
)


def load(folder: Path) -> tuple[np.ndarray, np.ndarray, str]:
    if (folder / "t10k-images-idx3-ubyte.gz").is_file():
        from convsweep.tasks.datasets import read_images

        data = read_images(f"idx:{folder}", split="test")
        assert data.labels is not None
        return data.images, data.labels, f"MNIST t10k ({folder})"
    rng = np.random.default_rng(0)
    return (
        rng.integers(0, 256, (10_000, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 10_000),
        "synthetic 10,000 x 28x28",
    )


def median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shift-images", type=int, default=1000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    arguments = parser.parse_args()
    images, labels, source = load(arguments.data)
    settings = parse_parameters(dataset="sample")
    kernels = {name: [list(row) for row in matrix] for name, matrix in settings.kernel_matrices.items()}
    pools = list(settings.pool_settings)
    print(f"data: {source}; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")

    subset = images[: arguments.shift_images]
    print(f"\n## Shift sensitivity on {len(subset):,} images (median of {arguments.repeats})\n")
    print("| conv setting | sweep pass (s) | shift sensitivity (s) | ratio (passes) | +% on a 10k sweep | +% on 70k |")
    print("|---|---:|---:|---:|---:|---:|")
    for conv in settings.conv_settings:
        sweep = median_seconds(
            lambda conv=conv: chunk_record(subset, conv=conv, kernels=kernels, pools=pools, chunk=(0, len(subset))),
            arguments.repeats,
        )
        shift = median_seconds(
            lambda conv=conv: shift_sensitivity(subset, conv=conv, kernels=kernels, pools=pools), arguments.repeats
        )
        per_image = sweep / len(subset)
        print(
            f"| {conv.label} | {sweep:.3f} | {shift:.3f} | {shift / sweep:.1f} | "
            f"{100 * shift / (per_image * 10_000):.0f} % | {100 * shift / (per_image * 70_000):.1f} % |"
        )

    print(f"\n## Probe over the default {settings.n_configurations} configurations, {arguments.workers} at a time\n")
    # CPU seconds of this process too: on a shared machine the wall time also counts other sessions' work.
    print("| train images | wall time of the 12 (s) | CPU time of the 12 (s) | mean s / configuration | slowest (s) |")
    print("|---:|---:|---:|---:|---:|")
    test_images, test_labels = images[-2000:], labels[-2000:]
    configurations = [(conv, pool) for conv in settings.conv_settings for pool in pools]
    for n_train in (2_500, 5_000, 10_000):
        train_images, train_labels = images[:n_train], labels[:n_train]

        def one(configuration, train_images=train_images, train_labels=train_labels):
            conv, pool = configuration
            began = time.perf_counter()
            train = probe_features(train_images, conv=conv, kernels=kernels, pool=pool)
            test = probe_features(test_images, conv=conv, kernels=kernels, pool=pool)
            fit_probe(train, train_labels, test, test_labels)
            return time.perf_counter() - began

        began, cpu_began = time.perf_counter(), time.process_time()
        with ThreadPoolExecutor(arguments.workers) as pool_executor:
            seconds = list(pool_executor.map(one, configurations))
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu_began
        print(f"| {n_train:,} | {wall:.1f} | {cpu:.1f} | {statistics.mean(seconds):.2f} | {max(seconds):.2f} |")
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
