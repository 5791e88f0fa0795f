"""The two chunk paths of ``convsweep.tasks.compute.chunk_record``: whole chunks vs each image in bands of rows.

Both give the same record (tests/tasks/test_compute.py proves it); this measures what a single
path would cost.  The banded path with a band as tall as the whole map ("the whole image is
one band") is what one path would run for every chunk.

    .venv/bin/python bench/bench_chunk_paths.py [--images 2000] [--repeats 5]

Prints a table: median seconds per chunk of MNIST test images under the default sweep's conv
settings (strides 1, 2, 3 x paddings valid, same; Sobel h/v and magnitude; max and avg 2x2),
and the ratio banded / whole.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from convsweep.tasks.chunk.maps import chunk_record
from convsweep.tasks.datasets import open_dataset
from convsweep.tasks.model import parse_parameters

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist-t10k"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--source", default=str(SHARED))
    args = parser.parse_args()
    settings = parse_parameters(dataset=f"idx:{args.source}")
    images = open_dataset(f"idx:{args.source}", split="test", limit=args.images).read(0, args.images)
    kernels = {name: [list(row) for row in matrix] for name, matrix in settings.kernel_matrices.items()}
    pools = list(settings.pool_settings)
    print(
        f"{args.images} MNIST images of 28x28, {len(settings.conv_settings)} conv settings, medians of {args.repeats}"
    )
    print(f"{'conv setting':<28} {'whole s':>9} {'banded s':>9} {'banded/whole':>13}")
    totals = [0.0, 0.0]
    for conv in settings.conv_settings:
        conv_h = conv.output((28, 28), (3, 3))[1][0]
        timings = []
        for band in (None, conv_h):
            seconds = []
            for _ in range(args.repeats):
                began = time.perf_counter()
                chunk_record(images, conv=conv, kernels=kernels, pools=pools, chunk=(0, len(images)), band=band)
                seconds.append(time.perf_counter() - began)
            timings.append(statistics.median(seconds))
        totals[0] += timings[0]
        totals[1] += timings[1]
        print(f"{conv.label:<28} {timings[0]:>9.3f} {timings[1]:>9.3f} {timings[1] / timings[0]:>12.1f}x")
    print(f"{'all':<28} {totals[0]:>9.3f} {totals[1]:>9.3f} {totals[1] / totals[0]:>12.1f}x")


if __name__ == "__main__":
    main()
