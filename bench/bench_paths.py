"""Benchmark (issue 17): what a sweep costs on each API path, against the same work as a plain script.

One command prints the whole table.  Every measurement is a fresh process timed from outside
(``python -m convsweep.cli ...`` as a user runs it), median of ``--repeats`` (3):

* **plain script**: ``bench/plain_sweep.py`` (keras.datasets load, conv_core on 2 threads, the
  same statistics, every stage of samples 0-3 as PNGs, six contact sheets, a summary figure, a
  pandas CSV; no Prefect); its CSV is checked equal to convsweep's ``sizes.csv`` first.
* **CLI default path** (no ``PREFECT_API_URL``; ``CONVSWEEP_API`` unset: the local server of the
  PREFECT_HOME, ``convsweep.local_api``): the first run (which starts that server), then cold
  (an empty cache folder each time) and warm (everything cached) with the server already up.
* **temporary server** (``CONVSWEEP_API=temporary``: a temporary API server per run, the former
  default): cold and warm.
* **running server** (``PREFECT_API_URL`` of a ``convsweep server`` the bench starts on a free
  loopback port): cold and warm.
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
from bench_sweep import free_port, stop_server  # noqa: E402

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
import conv_core
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


def start_server(env: dict[str, str], *, timeout: float = 600.0) -> tuple[subprocess.Popen, str]:
    """``convsweep server`` on a free loopback port; (process, API URL) once healthy (a loaded machine: minutes)."""
    import urllib.request

    port = free_port()
    process = subprocess.Popen(
        cli("server", "--port", str(port)),
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.5)
    stop_server(process)
    raise SystemExit(f"the Prefect server did not become healthy in {timeout:.0f} s")


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
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="240",
    )
    return env


def copy_fashion_head(keras_home: Path) -> None:
    target = keras_home / "datasets" / "fashion-mnist"
    target.mkdir(parents=True, exist_ok=True)
    for source in FASHION_HEAD.iterdir():
        shutil.copyfile(source, target / source.name)  # copyfile: the shared files are read-only


def local_server_pids(home: Path) -> list[int]:
    """PIDs of ``convsweep.local_api`` processes serving ``home`` (from their command lines)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"convsweep.local_api" in command and str(home).encode() in command:
            pids.append(int(entry.name))
    return pids


def measure(args: argparse.Namespace) -> tuple[dict[str, float], dict[str, str]]:
    work = Path(tempfile.mkdtemp(prefix="convsweep-paths-"))
    server = None
    homes: list[Path] = []
    try:
        if args.idx:
            dataset, split = f"idx:{args.idx}", "test"
        else:
            copy_fashion_head(work / "keras")
            dataset, split = "fashion_mnist", "all"
        env = base_env(work)
        sweep = ["sweep", "--dataset", dataset, "--split", split, "--name", "bench"]

        def sweep_run(mode_env: dict[str, str], home: Path, cache: str, out: str) -> float:
            run_env = {**env, **mode_env, "PREFECT_HOME": str(home), "CONVSWEEP_CACHE_DIR": str(work / cache)}
            return timed(cli(*sweep, "--out", str(work / out)), run_env)

        results: dict[str, list[float]] = {}

        def record(name: str, seconds: float) -> None:
            results.setdefault(name, []).append(seconds)
            print(f"  {name}: {seconds:.1f} s", file=sys.stderr, flush=True)

        # The default path: the first run starts the local server; cold and warm reuse it.
        local_home = work / "home-local"
        homes.append(local_home)
        record("default: first run (starts the server)", sweep_run({}, local_home, "cache-local", "out-local"))
        sizes_csv = work / "out-local" / "bench" / "sizes.csv"
        plain = [sys.executable, str(ROOT / "bench" / "plain_sweep.py"), "--dataset", dataset, "--split", split]
        timed([*plain, "--out", str(work / "plain-check"), "--check", str(sizes_csv)], env)  # exits 1 on a difference
        temporary_home = work / "home-temporary"
        server_home = work / "home-server"
        server_env = {**env, "PREFECT_HOME": str(server_home)}
        server, url = start_server(server_env)
        served = {"PREFECT_API_URL": url}
        modes = {
            "default": ({}, local_home),
            "temporary server": ({"CONVSWEEP_API": "temporary"}, temporary_home),
            "running server": (served, work / "home-client"),
        }
        for repeat in range(args.repeats):  # interleaved: a change of load hits every kind alike
            record("plain script", timed([*plain, "--out", str(work / f"plain-{repeat}")], env))
            for mode, (mode_env, home) in modes.items():
                record(f"{mode}: cold", sweep_run(mode_env, home, f"cold-{mode}-{repeat}", f"out-{mode}"))
                record(f"{mode}: warm", sweep_run(mode_env, home, f"cold-{mode}-{repeat}", f"out-{mode}"))
            record(
                "plain notebook script",
                timed([sys.executable, "-c", PLAIN_NOTEBOOK, str(work / "nb-plain"), str(ROOT)], env),
            )
            notebook_env = {
                **env,
                "PREFECT_HOME": str(local_home),
                "CONVSWEEP_CACHE_DIR": str(work / f"nb-cache-{repeat}"),
            }
            record(
                "convsweep notebook (default path)",
                timed(cli("notebook", "--out", str(work / f"nb-{repeat}")), notebook_env),
            )
        return {name: statistics.median(values) for name, values in results.items()}, {
            "dataset": dataset,
            "split": split,
        }
    finally:
        for home in homes:
            subprocess.run(
                cli("server", "stop"), env={**base_env(work), "PREFECT_HOME": str(home)}, capture_output=True
            )
            for pid in local_server_pids(home):  # by PID, whatever the stop above did
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        if server is not None:
            stop_server(server)
        shutil.rmtree(work, ignore_errors=True)


TARGETS = {
    "default: cold": 1.25,
    "default: warm": 0.5,
    "running server: cold": 1.15,
    "running server: warm": 0.3,
}


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
