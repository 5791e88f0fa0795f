"""Benchmark: does a learned kernel cost more to sweep than a designed one?

    python bench/bench_learned.py [--repeats 5] [--images 4000] [--data DIR] [--model PATH.keras]

Times ``convsweep.tasks.compute.chunk_record`` (what every ``process-chunk`` task runs: conv, pooling and
statistics of every map) over the same images with 8 designed 3x3 kernels (no h/v pair, so no
magnitude map) and with 8 learned 3x3 kernels (the first Conv2D of ``--model``, e.g. the
``model.keras`` a sweep with ``--learned-filters 8`` wrote; seeded random kernels without one).
Conv stride 1, valid padding; max 2x2 pooling.  Prints a Markdown table of medians per kernel
and their ratio.  Data: the t10k images of ``--data`` (an IDX folder; default
../shared/datasets/fashion-mnist-head), synthetic noise when absent.  A script, not a test.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from convsweep.conv_core import kernels as kernel_library  # noqa: E402
from convsweep.tasks.chunk.maps import chunk_record  # noqa: E402
from convsweep.tasks.model import ConvSetting, PoolSetting  # noqa: E402

DESIGNED = ("sobel_h", "scharr_v", "prewitt_h", "laplacian", "identity", "box3", "gaussian3", "prewitt_v")


def read_images(folder: Path, count: int) -> tuple[np.ndarray, str]:
    path = folder / "t10k-images-idx3-ubyte.gz"
    if not path.exists():
        return np.random.default_rng(0).integers(0, 256, (count, 28, 28), dtype=np.uint8), "synthetic noise"
    data = gzip.decompress(path.read_bytes())
    n, height, width = (int.from_bytes(data[4 * i : 4 * i + 4], "big") for i in range(1, 4))
    images = np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, height, width)
    return images[:count].copy(), str(path)


def learned_kernels(model: str | None) -> tuple[dict[str, list[list[float]]], str]:
    if model is None:
        rng = np.random.default_rng(0)
        return {
            f"learned_{i}": rng.normal(0, 0.3, (3, 3)).astype(np.float32).astype(float).tolist() for i in range(8)
        }, ("seeded random float32 kernels")
    from convsweep.tasks.analysis.learned import load_model_kernels

    loaded = load_model_kernels(model, channels=1).kernels
    return {name.replace("model_", "learned_"): matrix for name, matrix in list(loaded.items())[:8]}, model


def median_seconds(images: np.ndarray, kernels: dict[str, list[list[float]]], repeats: int) -> float:
    conv = ConvSetting(resize=None, stride=(1, 1), padding="valid", pad_mode="zeros", dilation=(1, 1))
    pools = [PoolSetting("max", (2, 2), (2, 2), "valid")]
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        chunk_record(images, conv=conv, kernels=kernels, pools=pools, chunk=(0, len(images)))
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--data", type=Path, default=REPO.parent.parent / "shared" / "datasets" / "fashion-mnist-head")
    parser.add_argument("--model", default=None)
    arguments = parser.parse_args()
    images, source = read_images(arguments.data, arguments.images)
    designed = {name: kernel_library.get(name).tolist() for name in DESIGNED}
    learned, learned_source = learned_kernels(arguments.model)
    print(f"images: {len(images)} of {images.shape[1]}x{images.shape[2]} from {source}")
    print(
        f"learned kernels: {learned_source}; median of {arguments.repeats} runs each (designed first, after a warm-up)"
    )
    median_seconds(images, designed, 1)  # warm-up
    designed_s = median_seconds(images, designed, arguments.repeats)
    learned_s = median_seconds(images, learned, arguments.repeats)
    print()
    print("| kernels | count | median s (chunk) | ms per kernel | ratio to designed |")
    print("|---|---:|---:|---:|---:|")
    for label, seconds, count in (("designed", designed_s, len(designed)), ("learned", learned_s, len(learned))):
        print(f"| {label} | {count} | {seconds:.3f} | {1000 * seconds / count:.1f} | {seconds / designed_s:.2f} |")


if __name__ == "__main__":
    main()
