"""A finished sweep's folder made by hand: sizes.csv from rows, sample PNGs, and a manifest listing them.

The manifest has the fields ``write-manifest`` writes (parameters, dataset, code version, files with
size and sha256), hashed with plain ``hashlib`` so the check under test is not its own oracle.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from convsweep.tasks.io import files
from convsweep.tasks.model import ConvSetting, PoolSetting

PARAMETERS = {"dataset": "idx:/data/mnist", "split": "test", "strides": [1], "pool_modes": ["max"], "name": "a"}
DATASET = {"spec": "idx:/data/mnist", "split": "test", "n": 100, "height": 28, "width": 28, "fingerprint": "ab" * 32}


def sample_stages(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Conv label -> the stages write-samples draws for it: input, each map, each map after each pool."""
    stages: dict[str, list[str]] = {}
    for row in rows:
        conv, pool = ConvSetting.from_row(row), PoolSetting.from_row(row)
        names = stages.setdefault(conv.label, ["input"])
        for stage in (row["map"], *([f"{row['map']}-{pool.label}"] if pool.mode != "none" else [])):
            if stage not in names:
                names.append(stage)
    return stages


def write_sweep_folder(
    folder: Path,
    rows: list[dict[str, Any]],
    *,
    parameters: dict[str, Any] | None = None,
    dataset: dict[str, Any] | None = None,
    samples: tuple[int, ...] = (0, 1),
    seed: int = 0,
) -> Path:
    """``folder`` with sizes.csv (pandas, as write-sizes writes it), a PNG per sample and stage, and manifest.json."""
    rng = np.random.default_rng(seed)
    relatives = [files.write_csv(folder / "sizes.csv", pd.DataFrame(rows)).relative_to(folder).as_posix()]
    for conv, stages in sample_stages(rows).items():
        for index in samples:
            for stage in stages:
                side = 28 if stage == "input" else 13 if "-" in stage else 26
                image = rng.integers(0, 256, (side, side), dtype=np.uint8)
                path = files.write_png(folder / "samples" / conv / f"{index}-{stage}.png", image)
                relatives.append(path.relative_to(folder).as_posix())
    entries = [
        {"path": relative, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        for relative in sorted(relatives)
        for data in [(folder / relative).read_bytes()]
    ]
    manifest = {
        "manifest_version": 1,
        "sweep": (parameters or PARAMETERS).get("name", folder.name),
        "code_version": "0123456789abcdef",
        "parameters": parameters or PARAMETERS,
        "dataset": dataset or DATASET,
        "files": entries,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return folder
