"""Benchmark: peak memory of a default sweep over large images, and its statistics against an untiled computation.

Two image folders are generated (gray PNGs, seeded): 300 images of 1024x1024 and one image
of 10000x10000.  Each is swept with the default parameters (``images:`` dataset, default
``memory_budget``) in a fresh process through the CLI's code path (``run_sweep``), with the
Prefect's background server of a fresh PREFECT_HOME (started by the first sweep, stopped by PID at the end).

Reported per case: wall seconds, chunks, the peak RSS of the sweep process (``VmHWM`` read
by the process itself at the end: exact, and unlike ``ru_maxrss`` not inherited from the bench
process it was forked from), the peak RSS of the temporary API server (``VmHWM`` of the sweep's child processes,
read every 0.2 s while they run: the high-water mark is exact if read before the process
exits) and their sum, and the largest difference between ``sizes.csv`` and a reference:

* 1024x1024 x 300: a direct numpy computation, image by image (conv2d / sobel_magnitude /
  pool2d of whole images, statistics merged image by image), rounded like the CSV;
* 10000x10000: the untiled computation (``convsweep.tasks.compute.chunk_record`` with ``band=None``,
  the whole image at once, ~3.5 GB in this bench process) -- the sweep computed it in bands.

    .venv/bin/python bench/bench_memory.py            # both cases (~10 min here)
    .venv/bin/python bench/bench_memory.py --quick    # 60 images and 4000x4000, to try it out
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = r"""
import io, json, sys, time
began = time.perf_counter()
import convsweep
result = convsweep.sweep(**json.loads(sys.argv[1]))
# VmHWM: this process's peak RSS since exec (ru_maxrss would keep the parent's peak from before the exec).
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
print(json.dumps({
    "wall": time.perf_counter() - began,
    "chunks": result.chunks,
    "csv": str(result.csv),
    "rss_mb": int(status["VmHWM"].split()[0]) / 1024,
}))
"""


def picture(height: int, width: int, seed: int) -> np.ndarray:
    """A gray test picture: smooth gradients, a few discs and a little noise (compresses, has edges)."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    columns = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    image = 80 * rows + 60 * columns + 40 * np.sin(12 * rows + 7 * columns + seed)
    for _ in range(6):
        cy, cx, radius = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.2)
        image += 60 * (((rows - cy) ** 2 + (columns - cx) ** 2) < radius**2)
    image += rng.normal(0, 4, size=(height, width)).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def make_folder(folder: Path, count: int, side: int) -> None:
    """Write the PNGs from a separate process, so that this one stays small while the sweeps run."""
    code = (
        "import sys, cv2; sys.path.insert(0, 'bench'); from bench_memory import picture; "
        f"[cv2.imwrite(f'{folder}/{{i:04d}}.png', picture({side}, {side}, i)) for i in range({count})]"
    )
    folder.mkdir(parents=True)
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def descendants(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            pass
    return children + [grandchild for child in children for grandchild in descendants(child)]


def high_water_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_sweep_process(env: dict[str, str], parameters: dict) -> dict:
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(parameters)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    server_peaks: dict[int, float] = {}
    while process.poll() is None:
        for child in descendants(process.pid):
            peak = high_water_mb(child)
            if peak is not None:
                server_peaks[child] = max(server_peaks.get(child, 0.0), peak)
        time.sleep(0.2)
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"sweep failed:\n{stderr[-3000:]}")
    record = json.loads(stdout.strip().splitlines()[-1])
    record["server_mb"] = max(server_peaks.values(), default=0.0)
    return record


def reference_rows(folder: Path, untiled: bool) -> dict[tuple, dict[str, float]]:
    """(conv label, map, pool label) -> statistics, without the sweep (see the module docstring)."""
    from convsweep.conv_core.stats import merge_summaries, summarize
    from convsweep.tasks.chunk.maps import chunk_record, compute_maps
    from convsweep.tasks.compute import apply_pool
    from convsweep.tasks.datasets import open_dataset
    from convsweep.tasks.model import padding_label, pair_label, parse_parameters, pool_label

    settings = parse_parameters(dataset=f"images:{folder}")
    view = open_dataset(settings.dataset, split="all")
    kernels = {name: [list(row) for row in matrix] for name, matrix in settings.kernel_matrices.items()}
    pools = [pool.to_plain() for pool in settings.pool_settings]
    stats: dict[tuple, dict[str, float]] = {}
    for conv in settings.conv_settings:
        plain = conv.to_plain()
        conv_key = (pair_label(conv.stride), padding_label(conv.padding), conv.pad_mode, pair_label(conv.dilation))
        if untiled:  # the whole image at once: what the sweep would do with an unlimited budget
            record = chunk_record(view.read(0, view.n), conv=plain, kernels=kernels, pools=pools, chunk=(0, view.n))
            for name, by_pool in record["maps"].items():
                for label, values in by_pool.items():
                    stats[(*conv_key, name, label)] = values
            continue
        parts: dict[tuple, list] = {}
        for index in range(view.n):
            _, maps = compute_maps(view.read(index, index + 1), conv=plain, kernels=kernels)
            for name, feature_map in maps.items():
                for pool in pools:
                    parts.setdefault((*conv_key, name, pool_label(pool)), []).append(
                        summarize(apply_pool(feature_map, pool))
                    )
        stats.update({key: merge_summaries(values) for key, values in parts.items()})
    return stats


def compare(csv_path: str, reference: dict[tuple, dict[str, float]]) -> tuple[int, float]:
    """(rows compared, largest |CSV - reference rounded like the CSV|) over mean, std, min, max, zero_fraction."""
    import pandas as pd

    frame = pd.read_csv(csv_path, keep_default_na=False)
    worst = 0.0
    for row in frame.to_dict("records"):
        conv_key = (str(row["stride"]), str(row["padding"]), row["pad_mode"], str(row["dilation"]))
        if row["pool_mode"] == "none":
            label = "nopool"
        else:
            label = f"{row['pool_mode']}{row['pool_size']}-s{row['pool_stride']}-p{row['pool_padding']}"
        ref = reference[(*conv_key, row["map"], label)]
        expected = {
            "mean": ref["mean"],
            "std": float(np.sqrt(ref["m2"] / ref["count"])),
            "min": ref["min"],
            "max": ref["max"],
            "zero_fraction": ref["zeros"] / ref["count"],
        }
        for column, value in expected.items():
            worst = max(worst, abs(float(row[column]) - round(value, 6)))
    return len(frame), worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="60 images of 1024x1024 and one of 4000x4000")
    parser.add_argument("--no-reference", action="store_true", help="skip the comparison with the untiled computation")
    parser.add_argument("--only", choices=["many", "huge"], help="run one case only")
    args = parser.parse_args()
    cases = [("1024x1024", 60 if args.quick else 300, 1024), ("one huge", 1, 4000 if args.quick else 10_000)]
    if args.only:
        cases = [cases[0] if args.only == "many" else cases[1]]
    from convsweep.tasks.model import parse_parameters

    budget = parse_parameters().memory_budget
    rows = []
    for label, count, side in cases:
        work = Path(tempfile.mkdtemp(prefix="convsweep-bench-memory-"))
        try:
            began = time.perf_counter()
            make_folder(work / "images", count, side)
            print(f"{label}: {count} PNGs of {side}x{side} written in {time.perf_counter() - began:.0f} s", flush=True)
            env = {
                **os.environ,
                "PREFECT_HOME": str(work / "prefect"),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "CONVSWEEP_CACHE_DIR": str(work / "cache"),
            }
            env.pop("PREFECT_API_URL", None)
            parameters = {"dataset": f"images:{work / 'images'}", "out": str(work / "out"), "name": "bench"}
            record = run_sweep_process(env, parameters)
            print(f"{label}: swept in {record['wall']:.0f} s, {record['chunks']} chunks", flush=True)
            compared, worst = (0, float("nan"))
            if not args.no_reference:
                began = time.perf_counter()
                reference = reference_rows(work / "images", untiled=count == 1)
                compared, worst = compare(record["csv"], reference)
                print(f"{label}: reference computed in {time.perf_counter() - began:.0f} s", flush=True)
            rows.append((label, count, side, record, compared, worst))
        finally:
            from convsweep.server import running_server

            server = running_server(work / "prefect")  # the sweep started Prefect's background server
            if server is not None:
                os.kill(server.pid, 9)
            shutil.rmtree(work, ignore_errors=True)

    load = os.getloadavg()
    print(
        f"\nmachine: {os.cpu_count()} cores, load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1/5/15 min); "
        f"default sweep (6 conv x 2 pool settings), memory_budget={budget} MB, ephemeral API\n"
    )
    print(
        "| images | chunks | wall s | sweep process peak RSS MB | temporary API server peak RSS MB | sum MB "
        "| CSV rows compared | max abs CSV difference |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for _label, count, side, record, compared, worst in rows:
        print(
            f"| {count} x {side}x{side} | {record['chunks']} | {record['wall']:.0f} | {record['rss_mb']:.0f} | "
            f"{record['server_mb']:.0f} | {record['rss_mb'] + record['server_mb']:.0f} | {compared} | {worst:.2g} |"
        )


if __name__ == "__main__":
    main()
