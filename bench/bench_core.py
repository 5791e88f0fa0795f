"""Benchmark the notebook pipeline: Sobel h and v, magnitude, 2x2 max pool, over 10,000 images.

    python bench/bench_core.py [--repeats 7] [--loop-images 200] [--threads N] [--data DIR]

Pipelines (all compute the same numbers; each output is checked against conv_core's):

* conv_core            conv2d x2, sobel_magnitude, pool2d
* opencv batch (floor) the issue's floor: cv2.filter2D over the batch stacked as one tall
                       float32 image, cv2.magnitude, pooling by strided maxima
* opencv per image     cv2.filter2D / cv2.magnitude / strided maxima, one image at a time
* scipy.ndimage        ndimage.correlate over the batch, sqrt, ndimage.maximum_filter
* torch                torch.nn.functional.conv2d + max_pool2d (only if torch is importable)
* notebook loop        the notebook's double loop, on --loop-images images, scaled to the batch

Then colour vs grey: the same pipeline on (N, 28, 28, 3) tiles of scikit-image's bundled colour
photographs with channels "each" (DepthwiseConv2D) and "sum" (Conv2D), against the grey tiles
(N, 28, 28); the bar is colour <= 3.3x grey per image.

Data: the real MNIST test set (t10k, 10,000 images) from ../shared/datasets/mnist-t10k next to
the repository; synthetic uint8 images of the same shape when that folder is absent.
Prints the machine, library versions and thread counts, then a Markdown table of medians.
This is a script, not a test: nothing fails because a machine is slow.
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import scipy
import scipy.ndimage as ndi

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from any virtualenv without installing the project

from convsweep import conv_core  # noqa: E402
from tests.conv_core.reference import notebook_sobel_loop  # noqa: E402  (the tests' literal oracle)

SOBEL_H = conv_core.kernels.get("sobel_h")
SOBEL_V = conv_core.kernels.get("sobel_v")
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "mnist-t10k"


def load_images(folder: Path) -> tuple[np.ndarray, str]:
    """(10000, 28, 28) uint8 from the MNIST t10k IDX file, or synthetic images of that shape."""
    path = folder / "t10k-images-idx3-ubyte.gz"
    if path.is_file():
        with gzip.open(path, "rb") as stream:
            data = stream.read()
        magic, count, rows, cols = (int.from_bytes(data[i : i + 4], "big") for i in range(0, 16, 4))
        if magic != 2051:
            raise SystemExit(f"{path}: not an IDX image file (magic {magic})")
        images = np.frombuffer(data, np.uint8, offset=16).reshape(count, rows, cols).copy()  # writable
        return images, f"MNIST t10k ({path})"
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10_000, 28, 28), dtype=np.uint8)
    images[rng.random(images.shape) < 0.8] = 0  # mostly background, like MNIST
    return images, f"synthetic uint8 (10000, 28, 28): {folder} not found"


# --- the pipelines ---------------------------------------------------------------------------


def with_conv_core(images):
    gx = conv_core.conv2d(images, SOBEL_H)
    gy = conv_core.conv2d(images, SOBEL_V)
    return conv_core.pool2d(conv_core.sobel_magnitude(gx, gy), 2)


def strided_max_pool(maps):
    """2x2 max pool, stride 2, valid: the maximum of four strided views."""
    height, width = maps.shape[-2] // 2 * 2, maps.shape[-1] // 2 * 2
    top = np.maximum(maps[..., 0:height:2, 0:width:2], maps[..., 0:height:2, 1:width:2])
    bottom = np.maximum(maps[..., 1:height:2, 0:width:2], maps[..., 1:height:2, 1:width:2])
    return np.maximum(top, bottom)


def with_opencv_batch(images):
    """The floor named in the issue: one filter2D call per kernel over the stacked batch."""
    n, height, width = images.shape
    tall = images.reshape(n * height, width).astype(np.float32)
    kernel_h, kernel_v = SOBEL_H.astype(np.float32), SOBEL_V.astype(np.float32)
    gx = cv2.filter2D(tall, -1, kernel_h, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    gy = cv2.filter2D(tall, -1, kernel_v, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    magnitude = cv2.magnitude(gx, gy).reshape(n, height, width)[:, : height - 2, : width - 2]
    return strided_max_pool(magnitude)


def with_opencv_per_image(images):
    kernel_h, kernel_v = SOBEL_H.astype(np.float32), SOBEL_V.astype(np.float32)
    out = []
    for image in images:
        image = image.astype(np.float32)
        gx = cv2.filter2D(image, -1, kernel_h)[1:-1, 1:-1]  # centred kernel: drop the border rows
        gy = cv2.filter2D(image, -1, kernel_v)[1:-1, 1:-1]
        out.append(strided_max_pool(cv2.magnitude(np.ascontiguousarray(gx), np.ascontiguousarray(gy))))
    return np.stack(out)


def with_scipy(images):
    batch = images.astype(np.float32)
    gx = ndi.correlate(batch, SOBEL_H[np.newaxis].astype(np.float32), mode="constant")[:, 1:-1, 1:-1]
    gy = ndi.correlate(batch, SOBEL_V[np.newaxis].astype(np.float32), mode="constant")[:, 1:-1, 1:-1]
    magnitude = np.sqrt(gx * gx + gy * gy)
    # A 2x2 window starting at each pixel (origin -1 moves scipy's window from centred to top-left).
    return ndi.maximum_filter(magnitude, size=(1, 2, 2), origin=(0, -1, -1))[:, 0:-1:2, 0:-1:2]


def make_torch_pipeline():
    try:
        import torch
        import torch.nn.functional as functional
    except ImportError:
        return None, None
    weight = torch.from_numpy(np.stack([SOBEL_H, SOBEL_V])[:, np.newaxis].astype(np.float32))

    def with_torch(images):
        with torch.inference_mode():
            batch = torch.from_numpy(images).to(torch.float32).unsqueeze(1)
            gradients = functional.conv2d(batch, weight)  # (N, 2, 26, 26): cross-correlation
            magnitude = torch.sqrt(gradients[:, 0:1] ** 2 + gradients[:, 1:2] ** 2)
            return functional.max_pool2d(magnitude, 2)[:, 0].numpy()

    return with_torch, torch


def notebook_pool(feature_map, size=2):
    height, width = feature_map.shape[0] // size, feature_map.shape[1] // size
    out = np.zeros((height, width))
    for i in range(height):
        for j in range(width):
            out[i, j] = np.max(feature_map[i * size : i * size + size, j * size : j * size + size])
    return out


def with_notebook_loop(images):
    out = []
    for image in images:
        gx = notebook_sobel_loop(image, SOBEL_H)
        gy = notebook_sobel_loop(image, SOBEL_V)
        out.append(notebook_pool(np.sqrt(gx**2 + gy**2)))
    return np.stack(out).astype(np.float32)


# --- timing ----------------------------------------------------------------------------------


def time_interleaved(functions, images, repeats):
    """Seconds per run for each function, running them in turns so load changes hit all alike."""
    for function in functions.values():
        function(images)  # warm-up: imports, first-touch allocations, thread pools
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function(images)
            times[name].append(time.perf_counter() - start)
    return times


def describe_check(got, want):
    difference = np.abs(got.astype(np.float64) - want.astype(np.float64)).max()
    if np.array_equal(got, want):
        return "bit-equal"
    return f"max abs diff {difference:.3g}"


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per pipeline (median reported)")
    parser.add_argument("--loop-images", type=int, default=200, help="images for the notebook loop (scaled)")
    parser.add_argument("--loop-repeats", type=int, default=3, help="timed runs of the notebook loop")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="set OpenCV's and torch's thread count (default: leave the libraries' defaults)",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with t10k-images-idx3-ubyte.gz")
    args = parser.parse_args(argv)

    images, source = load_images(args.data)
    with_torch, torch = make_torch_pipeline()
    if args.threads is not None:
        cv2.setNumThreads(args.threads)
        if torch is not None:
            torch.set_num_threads(args.threads)

    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, opencv {cv2.__version__} "
        f"({cv2.getNumThreads()} threads), scipy {scipy.__version__} (1 thread)"
        + (f", torch {torch.__version__} ({torch.get_num_threads()} threads)" if torch else ", torch not installed")
    )
    print(f"data: {source}, {images.shape} {images.dtype}")
    print("pipeline: Sobel h and v (3x3, valid), magnitude, 2x2 max pool -> float32 (N, 13, 13)")
    print()

    reference = with_conv_core(images)
    pipelines = [
        ("conv_core", with_conv_core),
        ("OpenCV whole batch (floor)", with_opencv_batch),
        ("OpenCV image by image", with_opencv_per_image),
        ("scipy.ndimage", with_scipy),
    ]
    if with_torch is not None:
        pipelines.append(("torch.nn.functional", with_torch))

    load_before = os.getloadavg()[0]
    results = []
    times = time_interleaved(dict(pipelines), images, args.repeats)
    for name, function in pipelines:
        check = describe_check(function(images), reference)
        results.append((name, statistics.median(times[name]), min(times[name]), f"{args.repeats} rounds", check))

    sample = images[: args.loop_images]
    loop_times = time_interleaved({"loop": with_notebook_loop}, sample, args.loop_repeats)["loop"]
    loop_median = statistics.median(loop_times)
    scale = len(images) / len(sample)
    results.append(
        (
            f"notebook loop ({len(sample)} images, x{scale:g})",
            loop_median * scale,
            min(loop_times) * scale,
            f"{args.loop_repeats} runs",
            describe_check(with_notebook_loop(sample), reference[: len(sample)]),
        )
    )

    start = time.perf_counter()
    for image in sample:
        notebook_sobel_loop(image, SOBEL_H)
    loop_conv_ms = (time.perf_counter() - start) / len(sample) * 1e3

    core = results[0][1]
    floor = results[1][1]
    print(
        f"load average (1 min): {load_before:.2f} before timing, {os.getloadavg()[0]:.2f} after "
        f"({os.cpu_count()} CPUs; other processes share them)"
    )
    print("| pipeline | median | best | timed | median / conv_core | median / floor | output vs conv_core |")
    print("|---|---:|---:|---|---:|---:|---|")
    for name, median, best, runs, check in results:
        print(
            f"| {name} | {median * 1e3:,.1f} ms | {best * 1e3:,.1f} ms | {runs} | {median / core:,.2f} | "
            f"{median / floor:,.2f} | {check} |"
        )
    print()
    print(
        f"notebook loop: {loop_median / len(sample) * 1e3:.2f} ms per image for the whole pipeline "
        f"(two 3x3 loops, sqrt, 2x2 pooling loop); one 3x3 loop alone: {loop_conv_ms:.2f} ms per image"
    )
    speedup = results[-1][1] / core
    print(
        f"speed bar: notebook loop / conv_core = {speedup:,.0f}x (bar: >= 500x) -> {'met' if speedup >= 500 else 'NOT met'}"
    )
    paired = statistics.median(
        c / f for c, f in zip(times["conv_core"], times["OpenCV whole batch (floor)"], strict=False)
    )
    print(
        f"speed bar: conv_core / OpenCV whole-batch floor = {core / floor:.2f} by medians, {paired:.2f} as the "
        f"median of per-round ratios, {results[0][2] / results[1][2]:.2f} best to best (bar: <= 1.5) -> "
        f"{'met' if max(core / floor, paired) <= 1.5 else 'NOT met'}"
    )
    colour_versus_grey(len(images), args.repeats)


def colour_tiles(count: int, side: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """(count, side, side, 3) uint8 RGB tiles of skimage's bundled photographs, and their grey tiles."""
    import skimage.data

    tiles = []
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        photo = getattr(skimage.data, name)()[..., :3]
        for y in range(0, photo.shape[0] - side + 1, side // 2):
            for x in range(0, photo.shape[1] - side + 1, side // 2):
                tiles.append(photo[y : y + side, x : x + side])
    colour = np.stack([tiles[i % len(tiles)] for i in range(count)])
    grey = np.stack([cv2.cvtColor(tile, cv2.COLOR_RGB2GRAY) for tile in colour])
    return np.ascontiguousarray(colour), grey


def with_conv_core_channels(channels):
    def pipeline(images):
        gx = conv_core.conv2d(images, SOBEL_H, channels=channels)
        gy = conv_core.conv2d(images, SOBEL_V, channels=channels)
        return conv_core.pool2d(conv_core.sobel_magnitude(gx, gy), 2, channels_last=channels == "each")

    return pipeline


def colour_versus_grey(count: int, repeats: int) -> None:
    """Print conv2d alone (the issue's bar) and the whole pipeline, colour against grey, per image."""
    colour, grey = colour_tiles(count)

    def conv_only(channels):
        return lambda images: conv_core.conv2d(images, SOBEL_H, channels=channels)

    pipelines = {
        "conv2d grey (N, 28, 28)": (conv_only("gray"), grey),
        "conv2d each (N, 28, 28, 3)": (conv_only("each"), colour),
        "conv2d sum (N, 28, 28, 3)": (conv_only("sum"), colour),
        "pipeline grey (N, 28, 28)": (with_conv_core, grey),
        "pipeline each (N, 28, 28, 3)": (with_conv_core_channels("each"), colour),
        "pipeline sum (N, 28, 28, 3)": (with_conv_core_channels("sum"), colour),
    }
    for function, images in pipelines.values():
        function(images)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in pipelines}
    for _ in range(repeats):  # interleaved, so load changes hit all alike
        for name, (function, images) in pipelines.items():
            start = time.perf_counter()
            function(images)
            times[name].append(time.perf_counter() - start)
    print()
    print(f"colour vs grey: {count} tiles of skimage.data astronaut, coffee, chelsea, rocket; {repeats} rounds")
    print("| conv_core | median | per image | median / grey | per-round ratio (median) | bar (<= 3.3) |")
    print("|---|---:|---:|---:|---:|---|")
    for name in pipelines:
        grey_name = name.split()[0] + " grey (N, 28, 28)"
        median = statistics.median(times[name])
        ratio = median / statistics.median(times[grey_name])
        paired = statistics.median(c / g for c, g in zip(times[name], times[grey_name], strict=True))
        bar = "" if "grey" in name else ("met" if max(ratio, paired) <= 3.3 else "NOT met")
        print(
            f"| {name} | {median * 1e3:,.1f} ms | {median / count * 1e6:,.1f} us | {ratio:.2f} | {paired:.2f} | {bar} |"
        )


if __name__ == "__main__":
    main()
