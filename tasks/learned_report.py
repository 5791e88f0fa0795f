"""The ``write-learned`` task: learned.csv and the learned-vs-designed panel (learned.png).

For every learned kernel (``learned_N`` trained by ``train-model``, ``model_N`` from a
user's ``.keras`` file): its nearest designed kernel among the named ones
(:func:`convsweep.conv_core.kernels.nearest_named`: sign-invariant cosine similarity of the zero-mean
kernels), the score and the learned kernel's norm, one row each in learned.csv; and one row
of the panel: the kernel enlarged (nearest-neighbour, signed gray: zero mid-gray), its maps on
the sample images, the nearest designed kernel enlarged the same way and its maps, under the
sweep's first conv setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from prefect import task

from convsweep.tasks.chunk.maps import open_selection
from convsweep.tasks.io import files
from convsweep.tasks.model import ConvSetting
from convsweep.tasks.model.records import DatasetRecord, LearnedRecord, TrainingRecord
from convsweep.tasks.prefect_glue.caching import RECORD_SERIALIZER, SweepCachePolicy
from convsweep.tasks.reporting import render
from convsweep.tasks.reporting.learned import (
    CSV_FILE,
    PANEL_FILE,
    PANEL_SAMPLES,
    Kernels,
    csv_text,
    kernel_sizes,
    learned_rows,
    panel_rows,
)


def _learned_key(inputs: dict[str, Any]) -> dict[str, Any]:
    dataset = DatasetRecord.parse(inputs["dataset"])
    return {
        **{key: value for key, value in inputs.items() if key not in ("dataset", "training")},
        "dataset": dataset.fingerprint,
        "training": None if inputs.get("training") is None else TrainingRecord.parse(inputs["training"]).to_json(),
        "out_dir": str(Path(inputs["out_dir"]).resolve()),
    }


def _learned_outputs(inputs: dict[str, Any]) -> list[Path]:
    return [Path(inputs["out_dir"]) / CSV_FILE, Path(inputs["out_dir"]) / PANEL_FILE]


@task(
    name="write-learned",
    cache_policy=SweepCachePolicy(key_inputs=_learned_key, expected_outputs=_learned_outputs),
    result_serializer=RECORD_SERIALIZER,
    persist_result=True,
)
def write_learned(
    name: str,
    dataset: DatasetRecord,
    kernels: Kernels,
    conv: ConvSetting,
    samples: list[int],
    out_dir: str,
    training: TrainingRecord | None = None,
) -> LearnedRecord:
    """Write learned.csv and learned.png (the panel) for the learned kernels among ``kernels``."""
    dataset = DatasetRecord.parse(dataset)
    rows = learned_rows(kernels)
    folder = Path(out_dir)
    csv_path = files.write_text(folder / CSV_FILE, csv_text(rows))
    shown = [index for index in samples if index < dataset.n][:PANEL_SAMPLES] or [0]
    view = open_selection(dataset)
    images = np.concatenate([view.read(index, index + 1) for index in shown])
    title = (
        f"{name}: learned kernels beside their nearest designed kernels (sign-invariant cosine of the zero-mean "
        f"kernels)\nmaps of samples {', '.join(f'#{index}' for index in shown)}, {conv.words}; "
        f"signed gray: 0 mid-gray, ±max|x| white/black per picture"
    )
    figure = render.contact_sheet(
        panel_rows(rows, kernels, images, conv=conv),
        title=title,
        sizes=kernel_sizes(rows, kernels, samples=len(shown)),
    )
    try:
        panel_path = files.write_figure(folder / PANEL_FILE, figure, dpi=100)
    finally:
        render.close(figure)
    return LearnedRecord(
        csv=str(csv_path),
        panel=str(panel_path),
        rows=tuple(rows),
        training=None if training is None else TrainingRecord.parse(training),
    )
