"""Benchmark (issues 17, 27): what a sweep costs on the CLI's path, against the same work as a plain script.

One command prints the whole table.  Every measurement is a fresh process timed from outside
(``python -m convsweep.cli ...`` as a user runs it), median of ``--repeats`` (3):

* **plain script**: ``bench/plain_sweep.py`` (keras.datasets load, conv_core on 2 threads, the
  same statistics, every stage of samples 0-3 as PNGs, six contact sheets, a summary figure, a
  pandas CSV; no Prefect); its CSV is checked equal to convsweep's ``sizes.csv`` first.
* **CLI default path** (no ``PREFECT_API_URL``: Prefect's background server of the
  PREFECT_HOME, ``convsweep.server``): the first run on a fresh PREFECT_HOME (which starts that
  server), then cold (an empty cache folder) and warm (everything cached) with the server up.
* **notebook**: ``convsweep notebook`` on image 0 (default path, cold: a fresh cache and output
  folder) against a plain script of the notebook's steps (keras load, cv2.resize, conv_core
  Sobel h/v, magnitude, pooling, the figure).

Data: the real Fashion-MNIST head in /work/shared/datasets/fashion-mnist-head (1,000 train +
4,000 test images: the full 70,000 cannot be downloaded on this machine), copied into a temporary
``KERAS_HOME/datasets/fashion-mnist/`` so ``keras.datasets`` reads it offline; ``--split all``.
``--idx FOLDER`` measures an IDX folder instead (e.g. /work/shared/datasets/mnist-t10k, its test
split).  Every server the bench starts is stopped by its PID at the end.

    .venv/bin/python bench/bench_paths.py                   # the whole table (~10 min on a quiet machine)
    .venv/bin/python bench/bench_paths.py --repeats 1       # a quick look
    .venv/bin/python bench/bench_paths.py --idx /work/shared/datasets/mnist-t10k
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FASHION_HEAD = Path("/work/shared/datasets/fashion-mnist-head")
sys.path.insert(0, str(ROOT / "bench"))
from bench_sweep import free_port  # noqa: E402

PLAIN_NOTEBOOK = r"""
import json, os, sys, time
began = time.perf_counter()
from pathlib import Path
os.environ.setdefault("KERAS_BACKEND", "jax")
import cv2, numpy as np
import keras
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
sys.path.insert(0, sys.argv[2])
from convsweep import conv_core
out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
(train_x, _), _ = keras.datasets.fashion_mnist.load_data()
image = cv2.resize(train_x[0], (27, 27), interpolation=cv2.INTER_LINEAR)
horizontal = np.minimum(conv_core.conv2d(image, conv_core.kernels.get("sobel_h")), 255)
vertical = np.minimum(conv_core.conv2d(image, conv_core.kernels.get("sobel_v")), 255)
sobel = conv_core.sobel_magnitude(horizontal, vertical)
stages = {"resized": image, "horizontal": horizontal, "vertical": vertical, "sobel": sobel,
          "max_pool": conv_core.pool2d(sobel, 2, mode="max"), "avg_pool": conv_core.pool2d(sobel, 2, mode="avg")}
for stage, values in stages.items():
    values = np.asarray(values, np.float64)
    scale = max(float(np.abs(values).max()), 1e-12)
    cv2.imwrite(str(out / f"{stage}.png"), np.clip(np.rint(255 * np.abs(values) / scale), 0, 255).astype(np.uint8))
figure, axes = plt.subplots(1, 2, figsize=(10, 5))
axes[0].imshow(horizontal, cmap="gray"); axes[1].imshow(vertical, cmap="gray")
figure.savefig(out / "figure.png", dpi=100); plt.close(figure)
np.savez(out / "arrays.npz", **{k: np.asarray(v) for k, v in stages.items()})
print(json.dumps({"wall": time.perf_counter() - began}))
"""


def timed(command: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one fresh process (it must exit 0)."""
    began = time.perf_counter()
    completed = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if completed.returncode != 0:
        raise SystemExit(f"failed ({completed.returncode}): {' '.join(command)}\n{completed.stderr[-3000:]}")
    return wall


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "convsweep.cli", *args]


def base_env(work: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PREFECT_", "CONVSWEEP_"))}
    env.update(
        KERAS_HOME=str(work / "keras"),
        PYTHONPATH=str(ROOT),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    return env


def copy_fashion_head(keras_home: Path) -> None:
    target = keras_home / "datasets" / "fashion-mnist"
    target.mkdir(parents=True, exist_ok=True)
    for source in FASHION_HEAD.iterdir():
        shutil.copyfile(source, target / source.name)  # copyfile: the shared files are read-only


def stop_local_server(env: dict[str, str]) -> None:
    """Stop the background server of ``env``'s PREFECT_HOME by its PID, whatever state it is in."""
    from convsweep.server import running_server

    server = running_server(Path(env["PREFECT_HOME"]))
    if server is not None:
        os.kill(server.pid, signal.SIGKILL)


def measure(args: argparse.Namespace) -> tuple[dict[str, float], dict[str, str]]:
    work = Path(tempfile.mkdtemp(prefix="convsweep-paths-"))
    envs: list[dict[str, str]] = []
    try:
        if args.idx:
            dataset, split = f"idx:{args.idx}", "test"
        else:
            copy_fashion_head(work / "keras")
            dataset, split = "fashion_mnist", "all"
        env = base_env(work)
        sweep = ["sweep", "--dataset", dataset, "--split", split, "--name", "bench"]
        plain = [sys.executable, str(ROOT / "bench" / "plain_sweep.py"), "--dataset", dataset, "--split", split]
        results: dict[str, list[float]] = {}

        def record(name: str, seconds: float) -> None:
            results.setdefault(name, []).append(seconds)
            print(f"  {name}: {seconds:.1f} s", file=sys.stderr, flush=True)

        for repeat in range(args.repeats):  # interleaved: a change of load hits every kind alike
            record("plain script", timed([*plain, "--out", str(work / f"plain-{repeat}")], env))
            # A fresh PREFECT_HOME each repeat: its first run starts Prefect's background server.
            home_env = {
                **env,
                "PREFECT_HOME": str(work / f"home-{repeat}"),
                "PREFECT_SERVER_API_PORT": str(free_port()),
            }
            envs.append(home_env)
            out = work / f"out-{repeat}"

            def sweep_run(cache: str, out: Path = out, home_env: dict[str, str] = home_env) -> float:
                return timed(cli(*sweep, "--out", str(out)), {**home_env, "CONVSWEEP_CACHE_DIR": str(work / cache)})

            record("default: first run (starts the server)", sweep_run(f"first-{repeat}"))
            if repeat == 0:  # exits 1 on a difference
                timed([*plain, "--out", str(work / "plain-check"), "--check", str(out / "bench" / "sizes.csv")], env)
            record("default: cold", sweep_run(f"cold-{repeat}"))
            record("default: warm", sweep_run(f"cold-{repeat}"))
            record(
                "plain notebook script",
                timed([sys.executable, "-c", PLAIN_NOTEBOOK, str(work / "nb-plain"), str(ROOT)], env),
            )
            notebook_env = {**home_env, "CONVSWEEP_CACHE_DIR": str(work / f"nb-cache-{repeat}")}
            record(
                "convsweep notebook (default path)",
                timed(cli("notebook", "--out", str(work / f"nb-{repeat}")), notebook_env),
            )
        return {name: statistics.median(values) for name, values in results.items()}, {
            "dataset": dataset,
            "split": split,
        }
    finally:
        for home_env in envs:
            stop_local_server(home_env)
        shutil.rmtree(work, ignore_errors=True)


TARGETS = {"default: cold": 1.25, "default: warm": 0.5}  # × plain script; the first run: ≤ 25 s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--idx", type=Path, help="an IDX folder (its test split) instead of the Fashion-MNIST head")
    args = parser.parse_args()
    load_before = os.getloadavg()
    medians, data = measure(args)
    load_after = os.getloadavg()
    plain = medians["plain script"]
    notebook_plain = medians["plain notebook script"]
    print(
        f"\nmachine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; load average (1/5/15 min) "
        f"{'/'.join(f'{x:.2f}' for x in load_before)} before, {'/'.join(f'{x:.2f}' for x in load_after)} after; "
        f"--dataset {data['dataset']} --split {data['split']}; medians of {args.repeats}; plain script's CSV "
        "checked equal to convsweep's sizes.csv\n"
    )
    print("| run | seconds | × plain script | target | met |")
    print("| --- | ---: | ---: | ---: | --- |")
    for name, seconds in medians.items():
        if name in ("plain notebook script", "convsweep notebook (default path)"):
            continue
        ratio = seconds / plain
        target = TARGETS.get(name)
        shown = (f"≤ {target:g}", "yes" if ratio <= target else "**no**") if target else ("", "")
        if name.startswith("default: first run"):
            shown = ("≤ 25 s", "yes" if seconds <= 25 else "**no**")
        print(f"| {name} | {seconds:.1f} | {ratio:.2f} | {shown[0]} | {shown[1]} |")
    notebook = medians["convsweep notebook (default path)"]
    ratio = notebook / notebook_plain
    print(f"| plain notebook script | {notebook_plain:.1f} | 1.00 (notebook) | | |")
    print(
        f"| convsweep notebook (default path, cold) | {notebook:.1f} | {ratio:.2f} (notebook) | ≤ 2 | "
        f"{'yes' if ratio <= 2 else '**no**'} |"
    )
    print(json.dumps({"medians": medians, "load_before": load_before, "load_after": load_after}), file=sys.stderr)


if __name__ == "__main__":
    main()
