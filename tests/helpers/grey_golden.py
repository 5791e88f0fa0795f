"""A small grey sweep whose every output file is compared with the one made before channels existed.

:func:`grey_sweep_digests` runs one fixed sweep (generated IDX images, two strides, two
paddings, max pooling, two samples, ``keep_maps``) with the chunks' compute seconds frozen at 0
(the one value that differs between runs), and returns the SHA-256 of every file of the output
folder but manifest.json (which names the flow run).  The sweep runs in one fixed folder,
:data:`GOLDEN_ROOT` (one run at a time, under a lock), because its path is in the outputs: the
dataset spec in summary.png's title, sizes.csv, report.md and report.html.

``tests/flows/grey_golden.json`` holds the digests made by this module at commit 3d0c536, the
last one before the channels parameter (``git worktree add /tmp/pre 3d0c536``, copy this file
into it, then ``cd /tmp/pre && PYTHONPATH=$PWD python -m tests.helpers.grey_golden > grey_golden.json``).
Only the standard flow and helpers of that commit are used, so the same script runs there.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tests.helpers.idx import write_idx_folder

GOLDEN_ROOT = Path(tempfile.gettempdir()) / "convsweep-grey-golden"
PARAMETERS: dict[str, Any] = dict(
    name="golden",
    strides=[1, 2],
    paddings=["valid", "same"],
    pool_modes=["none", "max"],
    pool_sizes=[2],
    samples=[0, 3],
    chunk_size=16,
    keep_maps=True,
)


def golden_images() -> tuple[np.ndarray, np.ndarray]:
    """40 analytic 28x28 images (a seeded noise floor, a bright bar, an impulse) and their labels."""
    rng = np.random.default_rng(7)
    images = rng.integers(0, 40, size=(40, 28, 28), dtype=np.uint8)
    for index in range(40):
        column = 4 + index % 20
        images[index, :, column : column + 6] = 200
        images[index, (index * 5) % 28, (index * 3) % 28] = 255
    return images, (np.arange(40) % 10).astype(np.uint8)


def folder_digests(out: Path) -> dict[str, str]:
    """sha256 of every file under ``out`` but manifest.json (it names the flow run)."""
    return {
        path.relative_to(out).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(out.rglob("*"))
        if path.is_file() and path.relative_to(out).as_posix() != "manifest.json"
    }


@contextlib.contextmanager
def golden_root() -> Iterator[Path]:
    """:data:`GOLDEN_ROOT`, empty, held by this process alone (a lock file beside it), removed after."""
    with open(f"{GOLDEN_ROOT}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        shutil.rmtree(GOLDEN_ROOT, ignore_errors=True)
        GOLDEN_ROOT.mkdir()
        try:
            yield GOLDEN_ROOT
        finally:
            shutil.rmtree(GOLDEN_ROOT, ignore_errors=True)


def grey_sweep_digests() -> dict[str, str]:
    """Run the golden sweep in :data:`GOLDEN_ROOT` (in this process, against the current Prefect API); digest its outputs."""
    with golden_root() as root:
        return _sweep_digests(root)


def _sweep_digests(root: Path) -> dict[str, str]:
    import convsweep.tasks.compute
    from convsweep.flows.sweep import sweep

    folder = write_idx_folder(root / "idx", test=golden_images())
    frozen = convsweep.tasks.compute.time.perf_counter
    convsweep.tasks.compute.time = _FrozenClock()  # type: ignore[assignment]
    try:
        sweep(dataset=f"idx:{folder}", out=str(root / "out"), cache_dir=str(root / "cache"), **PARAMETERS)
    finally:
        convsweep.tasks.compute.time = time
    assert frozen is time.perf_counter
    return folder_digests(root / "out" / "golden")


class _FrozenClock:
    """``time`` for convsweep.tasks.compute: ``perf_counter`` always 0.0, so every chunk's seconds are 0."""

    @staticmethod
    def perf_counter() -> float:
        return 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


if __name__ == "__main__":
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        json.dump(grey_sweep_digests(), sys.stdout, indent=1, sort_keys=True)
        sys.stdout.write("\n")
