"""Benchmark: peak memory of a whole colour sweep of one 8000x8000 RGB image, through the CLI.

    .venv/bin/python bench/bench_colour_memory.py                 # 8000x8000, --channels each,sum
    .venv/bin/python bench/bench_colour_memory.py --side 4000     # to try it out
    .venv/bin/python bench/bench_colour_memory.py --channels gray # the same image, grey, for comparison

One seeded colour PNG (smooth gradients, discs and noise, each channel its own) is written by a
separate process into an ``images:`` folder; then ``convsweep sweep --dataset images:DIR
--channels each,sum`` runs with every other parameter at its default (the default
``memory_budget``, 3 strides x 2 paddings x 2 pool modes, sample 0 pictured), with the
ephemeral API (Prefect starts a temporary API server as a child process of the sweep).

Peak RSS, three ways:

* ``tree peak``: the largest sum of VmRSS over the sweep process and all its descendants,
  polled every 0.1 s (what the machine had to hold at once; a peak between polls is missed);
* ``sweep VmHWM``: the sweep process's own high-water mark, last read before it exited;
* ``ru_maxrss``: ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` of a small wrapper process
  after the sweep exited: the largest peak of any one process of the tree (exact).  The wrapper
  runs the sweep as its only child so that the PNG writer's peak is not counted, and this bench
  process imports no numpy, so the sweep inherits no large high-water mark through fork.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WRITER = r"""
import sys
import cv2
import numpy as np
side, path = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(8)
rows = np.linspace(0, 1, side, dtype=np.float32)[:, None]
columns = np.linspace(0, 1, side, dtype=np.float32)[None, :]
planes = []
for channel in range(3):
    plane = 70 * rows + 50 * columns * channel + 40 * np.sin((9 + channel) * rows + (5 + 2 * channel) * columns)
    for _ in range(5):
        cy, cx, radius = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.2)
        plane += 70 * (((rows - cy) ** 2 + (columns - cx) ** 2) < radius**2)
    plane += rng.normal(0, 4, size=(side, side)).astype(np.float32)
    planes.append(np.clip(plane, 0, 255).astype(np.uint8))
    del plane
rgb = np.stack(planes, axis=-1)
del planes
assert cv2.imwrite(path, np.ascontiguousarray(rgb[..., ::-1]))  # OpenCV writes BGR
"""

WRAPPER = r"""
import json, resource, subprocess, sys
done = subprocess.run(sys.argv[1:])
print(json.dumps({"returncode": done.returncode, "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def descendants(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            pass
    return children + [grandchild for child in children for grandchild in descendants(child)]


def status_mb(pid: int, field: str) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run(side: int, channels: str, work: Path) -> dict:
    folder = work / "photo"
    folder.mkdir()
    subprocess.run([sys.executable, "-c", WRITER, str(side), str(folder / "photo.png")], cwd=ROOT, check=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(work / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        CONVSWEEP_CACHE_DIR=str(work / "cache"),
        PYTHONPATH=str(ROOT),
    )
    command = [
        sys.executable,
        "-m",
        "convsweep.cli",
        "sweep",
        "--dataset",
        f"images:{folder}",
        "--split",
        "all",
        "--channels",
        channels,
        "--out",
        str(work / "out"),
        "--name",
        "colour-memory",
    ]
    began = time.perf_counter()
    wrapper = subprocess.Popen(
        [sys.executable, "-c", WRAPPER, *command],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    tree_peak, sweep_hwm = 0.0, 0.0
    while wrapper.poll() is None:
        tree = descendants(wrapper.pid)
        if tree:
            sweep_hwm = max(sweep_hwm, status_mb(tree[0], "VmHWM") or 0.0)
        tree_peak = max(tree_peak, sum(status_mb(pid, "VmRSS") or 0.0 for pid in tree))
        time.sleep(0.1)
    stdout, stderr = wrapper.communicate()
    wall = time.perf_counter() - began
    lines = stdout.strip().splitlines()
    result = json.loads(lines[-1])
    if result["returncode"] != 0:
        raise SystemExit(f"sweep failed (exit {result['returncode']}):\n{stderr[-3000:]}")
    rows = sum(1 for _ in (work / "out" / "colour-memory" / "sizes.csv").open()) - 1
    return {
        "side": side,
        "channels": channels,
        "wall_s": round(wall, 1),
        "sizes_rows": rows,
        "tree_peak_rss_mb": round(tree_peak),
        "sweep_vmhwm_mb": round(sweep_hwm),
        "ru_maxrss_mb": round(result["ru_maxrss_mb"]),
        "image_mb": round(side * side * 3 / 2**20),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=8000)
    parser.add_argument("--channels", default="each,sum")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-colour-memory-") as work:
        print(json.dumps(run(arguments.side, arguments.channels, Path(work))))


if __name__ == "__main__":
    main()
