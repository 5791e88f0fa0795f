"""The anchor: the default sweep's work as a plain Python script, no Prefect (issue 17).

What a user would write instead of ``convsweep sweep --split all``: load the images with
``keras.datasets`` (or read an IDX folder), run the project's own ``conv_core`` on 2 threads over
the default settings (Sobel h/v and their magnitude; strides 1, 2, 3; padding valid and same;
max and avg 2x2 pooling), compute the same statistics (mean, population std, min, max, zero
fraction of every pooled map over all images), write every stage of samples 0-3 as PNGs, one
matplotlib contact sheet per conv setting (six), a summary figure and a pandas CSV.

    .venv/bin/python bench/plain_sweep.py --out /tmp/plain            # fashion_mnist, split all
    .venv/bin/python bench/plain_sweep.py --dataset idx:/work/shared/datasets/mnist-t10k --split test --out /tmp/p
    .venv/bin/python bench/plain_sweep.py --out /tmp/plain --check outputs/fashion_mnist-all/sizes.csv

``--check SIZES_CSV`` compares the CSV written with convsweep's ``sizes.csv`` of the same data
(every row's shapes and statistics to the 6 decimals convsweep rounds to) and exits 1 on a
difference.  The last line printed is JSON: ``{"wall": seconds, "rows": n, "checked": bool}``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

began = time.perf_counter()

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from convsweep import conv_core  # noqa: E402

STRIDES = [1, 2, 3]
PADDINGS = ["valid", "same"]
POOLS = ["max", "avg"]
SAMPLES = [0, 1, 2, 3]
CHUNK = 10_000  # images per conv call: bounded memory, as a careful user would do


def load_images(dataset: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, 28, 28) uint8 images and their labels, train then test for ``all``."""
    splits = ["train", "test"] if split == "all" else [split]
    if dataset.startswith("idx:"):
        folder = Path(dataset[4:])
        prefix = {"train": "train", "test": "t10k"}
        images, labels = [], []
        for name in splits:
            found = sorted(folder.glob(f"{prefix[name]}-images*"))
            if not found:
                continue
            raw = gzip.decompress(found[0].read_bytes())
            images.append(np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28))
            raw = gzip.decompress(sorted(folder.glob(f"{prefix[name]}-labels*"))[0].read_bytes())
            labels.append(np.frombuffer(raw, np.uint8, offset=8))
        return np.concatenate(images), np.concatenate(labels)
    os.environ.setdefault("KERAS_BACKEND", "jax")  # as convsweep does: the backend installed here
    import keras

    (train_x, train_y), (test_x, test_y) = getattr(keras.datasets, dataset).load_data()
    parts = {"train": (train_x, train_y), "test": (test_x, test_y)}
    return np.concatenate([parts[name][0] for name in splits]), np.concatenate([parts[name][1] for name in splits])


def maps_of(images: np.ndarray, stride: int, padding: str) -> dict[str, np.ndarray]:
    horizontal = conv_core.conv2d(images, conv_core.kernels.get("sobel_h"), stride=stride, padding=padding)
    vertical = conv_core.conv2d(images, conv_core.kernels.get("sobel_v"), stride=stride, padding=padding)
    return {"sobel_h": horizontal, "sobel_v": vertical, "sobel": conv_core.sobel_magnitude(horizontal, vertical)}


def statistics_of(images: np.ndarray, stride: int, padding: str) -> list[dict]:
    """One row per (map, pool) of one conv setting: shapes and statistics over every image."""
    sums: dict[tuple[str, str], list] = {}
    shapes: dict[str, tuple[int, int]] = {}
    for start in range(0, len(images), CHUNK):
        for name, feature_map in maps_of(images[start : start + CHUNK], stride, padding).items():
            shapes[name] = feature_map.shape[1:]
            for pool in POOLS:
                pooled = conv_core.pool2d(feature_map, 2, mode=pool)
                values = pooled.astype(np.float64).ravel()
                total = sums.setdefault((name, pool), [0, 0.0, 0.0, np.inf, -np.inf, 0, pooled.shape[1:]])
                total[0] += values.size
                total[1] += values.sum()
                total[2] += np.dot(values, values)
                total[3] = min(total[3], values.min())
                total[4] = max(total[4], values.max())
                total[5] += values.size - np.count_nonzero(values)
    rows = []
    for (name, pool), (count, total, squares, low, high, zeros, pooled_shape) in sums.items():
        mean = total / count
        rows.append(
            {
                "stride": stride,
                "padding": padding,
                "map": name,
                "pool_mode": pool,
                "n_images": len(images),
                "conv_h": shapes[name][0],
                "conv_w": shapes[name][1],
                "pool_h": pooled_shape[0],
                "pool_w": pooled_shape[1],
                "mean": round(mean, 6),
                "std": round(float(np.sqrt(max(squares / count - mean * mean, 0.0))), 6),
                "min": round(float(low), 6),
                "max": round(float(high), 6),
                "zero_fraction": round(zeros / count, 6),
            }
        )
    return rows


def gray(values: np.ndarray, *, signed: bool) -> np.ndarray:
    scale = float(np.abs(values).max()) if signed else float(values.max())
    if scale <= 0:
        return np.zeros(values.shape, np.uint8)
    mapped = 127.5 + 127.5 * values / scale if signed else 255.0 * values / scale
    return np.clip(np.rint(mapped), 0, 255).astype(np.uint8)


def write_pictures(images: np.ndarray, labels: np.ndarray, stride: int, padding: str, out: Path) -> None:
    """Every stage of the sample images as PNGs, and one contact sheet of them."""
    import cv2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    label = f"s{stride}-p{padding}"
    folder = out / "samples" / label
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for index in SAMPLES:
        stages = {"input": images[index]}
        for name, feature_map in maps_of(images[index : index + 1], stride, padding).items():
            stages[name] = feature_map[0]
            for pool in POOLS:
                stages[f"{name}-{pool}2"] = conv_core.pool2d(feature_map, 2, mode=pool)[0]
        pictures = {}
        for stage, values in stages.items():
            picture = (
                values if stage == "input" else gray(values, signed=not stage.startswith("sobel-") and stage != "sobel")
            )
            cv2.imwrite(str(folder / f"{index}-{stage}.png"), picture)
            pictures[stage] = picture
        rows.append((index, pictures))
    columns = len(rows[0][1])
    figure, axes = plt.subplots(len(rows), columns, figsize=(1.6 * columns, 1.8 * len(rows)), squeeze=False)
    for row, (index, pictures) in enumerate(rows):
        for column, (stage, picture) in enumerate(pictures.items()):
            axis = axes[row][column]
            axis.imshow(picture, cmap="gray", vmin=0, vmax=255)
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(stage, fontsize=7)
            if column == 0:
                axis.set_ylabel(f"#{index} ({labels[index]})", fontsize=7)
    figure.suptitle(f"stride {stride}, padding {padding}")
    (out / "contact").mkdir(parents=True, exist_ok=True)
    figure.savefig(out / "contact" / f"{label}.png", dpi=80)
    plt.close(figure)


def summary_figure(frame, out: Path) -> None:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for axis, column in zip(axes, ("mean", "std"), strict=True):
        for (name, pool), group in frame.groupby(["map", "pool_mode"]):
            axis.plot(range(len(group)), group[column], marker="o", label=f"{name} {pool}")
        axis.set_title(column)
        axis.set_xticks(range(6), [f"s{s} {p}" for s in STRIDES for p in PADDINGS], fontsize=7)
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out / "summary.png", dpi=80)
    plt.close(figure)


def check(frame, sizes_csv: Path) -> list[str]:
    """Differences between this CSV and convsweep's sizes.csv (empty when every number agrees)."""
    import pandas as pd

    theirs = pd.read_csv(sizes_csv)
    keys = ["stride", "padding", "map", "pool_mode"]
    merged = frame.merge(theirs, on=keys, suffixes=("", "_convsweep"), how="outer", indicator=True)
    problems = [f"row only in one table: {dict(row[keys])}" for _, row in merged.iterrows() if row["_merge"] != "both"]
    for column in ("n_images", "conv_h", "conv_w", "pool_h", "pool_w", "mean", "std", "min", "max", "zero_fraction"):
        ours, convsweeps = merged[column].to_numpy(float), merged[f"{column}_convsweep"].to_numpy(float)
        # Both are rounded to 6 decimals; their sums differ in the last bits (other summation orders).
        bad = ~np.isclose(ours, convsweeps, rtol=1e-9, atol=2e-6)
        problems += [
            f"{column}: {a} != {b} ({dict(merged.loc[i, keys])})"
            for i, a, b in zip(np.flatnonzero(bad), ours[bad], convsweeps[bad], strict=True)
        ]
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--split", default="all", choices=["train", "test", "all"])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--check", type=Path, help="convsweep's sizes.csv to compare with")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import pandas as pd

    images, labels = load_images(args.dataset, args.split)
    args.out.mkdir(parents=True, exist_ok=True)
    settings = [(stride, padding) for stride in STRIDES for padding in PADDINGS]
    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        pictures = [pool.submit(write_pictures, images, labels, s, p, args.out) for s, p in settings]
        tables = list(pool.map(lambda setting: statistics_of(images, *setting), settings))
        for future in pictures:
            future.result()
    frame = pd.DataFrame([row for table in tables for row in table])
    frame.to_csv(args.out / "sizes.csv", index=False)
    summary_figure(frame, args.out)
    problems = check(frame, args.check) if args.check else []
    for problem in problems[:20]:
        print(f"plain_sweep: differs from {args.check}: {problem}", file=sys.stderr)
    print(json.dumps({"wall": time.perf_counter() - began, "rows": len(frame), "checked": bool(args.check)}))
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
