"""Peak memory of one colour 8000x8000 image through the core in bands of rows (no sweep).

    .venv/bin/python bench/bench_memory_colour_core.py [--side 8000] [--tile-rows 256]

What the sweep's banded path will do for a colour image, measured on the core alone (the
sweep does not take colour yet): a seeded (side, side, 3) uint8 RGB picture, Sobel h and v by
``conv2d_rows`` (``channels`` each and sum), ``sobel_magnitude`` and a 2x2 max ``RowPooler``,
band by band; the pooled rows are reduced to per-channel min / mean / max and dropped.  Each
case runs in a fresh process that reports its own ``VmHWM`` (peak RSS since exec), next to the
image's own size.  The numbers are checked against the whole-image computation on a 1000x1000
crop (bit-equal), in the same child.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
from convsweep import conv_core
from convsweep.conv_core.tiled import RowPooler, conv2d_rows

side, tile_rows, channels = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = np.random.default_rng(0)
ramp = np.linspace(0, 255, side, dtype=np.float32)
image = np.empty((side, side, 3), np.uint8)
for top in range(0, side, 250):  # smooth colour gradients plus noise, 250 rows at a time (small temporaries)
    rows = ramp[top : top + 250, None]
    for c in range(3):
        plane = rows * (c + 1) / 3 + ramp[None, :] * (3 - c) / 3
        noise = rng.normal(0, 8, plane.shape).astype(np.float32)
        image[top : top + 250, :, c] = np.clip(plane + noise, 0, 255).astype(np.uint8)
generated = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
generated_mb = int(generated["VmHWM"].split()[0]) / 1024


def pipeline(picture, tile):
    h, v = conv_core.kernels.get("sobel_h"), conv_core.kernels.get("sobel_v")
    pooled = []
    bands_h = conv2d_rows(picture, h, tile_rows=tile, channels=channels)
    bands_v = conv2d_rows(picture, v, tile_rows=tile, channels=channels)
    pooler = None
    for (first, gx), (_, gy) in zip(bands_h, bands_v):
        magnitude = conv_core.sobel_magnitude(gx, gy)
        if pooler is None:
            map_shape = (picture.shape[0] - 2, picture.shape[1] - 2)
            pooler = RowPooler(map_shape, 2, channels=3 if channels == "each" else None)
        done = pooler.push(magnitude)
        if len(done):
            pooled.append((done.min(axis=(0, 1)), done.sum(axis=(0, 1), dtype=np.float64), done.max(axis=(0, 1)), done.shape[0] * done.shape[1]))
    return pooled


began = time.perf_counter()
pooled = pipeline(image, tile_rows)
seconds = time.perf_counter() - began
count = sum(p[3] for p in pooled)
stats = {"min": np.min([p[0] for p in pooled], axis=0).tolist(), "mean": (np.sum([p[1] for p in pooled], axis=0) / count).tolist(), "max": np.max([p[2] for p in pooled], axis=0).tolist()}
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
peak = int(status["VmHWM"].split()[0]) / 1024

# Bit-equal check on a crop: banded vs whole image.
crop = np.ascontiguousarray(image[:1000, :1000])
gx = conv_core.conv2d(crop, conv_core.kernels.get("sobel_h"), channels=channels)
gy = conv_core.conv2d(crop, conv_core.kernels.get("sobel_v"), channels=channels)
whole = conv_core.pool2d(conv_core.sobel_magnitude(gx, gy), 2, channels_last=channels == "each")
banded = []
pooler = RowPooler(gx.shape[:2], 2, channels=3 if channels == "each" else None)
for (first, bx), (_, by) in zip(conv2d_rows(crop, conv_core.kernels.get("sobel_h"), tile_rows=64, channels=channels),
                                conv2d_rows(crop, conv_core.kernels.get("sobel_v"), tile_rows=64, channels=channels)):
    banded.append(pooler.push(conv_core.sobel_magnitude(bx, by)))
print(json.dumps({"seconds": seconds, "peak_mb": peak, "generated_mb": generated_mb, "image_mb": image.nbytes / 2**20, "stats": stats,
                  "crop_bit_equal": bool(np.array_equal(np.concatenate(banded), whole))}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--side", type=int, default=8000)
    parser.add_argument("--tile-rows", type=int, default=256)
    args = parser.parse_args()
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"image: {args.side}x{args.side}x3 uint8, bands of {args.tile_rows} output rows; budget bar 1.5 GB")
    print(
        "| channels | peak RSS (VmHWM) | peak after making the image | image itself | seconds "
        "| crop banded == whole | bar (< 1536 MB) |"
    )
    print("|---|---:|---:|---:|---:|---|---|")
    for channels in ("each", "sum"):
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(ROOT), str(args.side), str(args.tile_rows), channels],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            print(f"| {channels} | failed: {done.stderr.strip().splitlines()[-1]} | | | | | |")
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        bar = "met" if result["peak_mb"] < 1536 else "NOT met"
        print(
            f"| {channels} | {result['peak_mb']:,.0f} MB | {result['generated_mb']:,.0f} MB | "
            f"{result['image_mb']:,.0f} MB | {result['seconds']:.1f} "
            f"(wall {time.perf_counter() - began:.1f}) | {result['crop_bit_equal']} | {bar} |"
        )


if __name__ == "__main__":
    main()
