"""Shift sensitivity: how much a configuration's pooled maps change when the image moves.

For each map and pool setting of one conv setting, over a seeded subset of the selection
(:func:`shift_subset`, at most ``shift_images`` images), the mean over images of

    ‖P(x) − P(shift x)‖ / ‖P(x)‖

for three shifts of the image the conv sees (after resize; ``convsweep.conv_core.shift``: translation
with zero fill, not a roll):

* ``shift_right``: 1 px right;  ``shift_down``: 1 px down — the whole maps compared;
* ``shift_jump``: right by the configuration's jump (conv stride × pool stride, per axis) and
  down by it, both at once — compared with the output moved back by one cell
  (``relative_change(..., offset=(1, 1))``), where an equivariant pipeline is exact.

Images whose pooled map is all zero have no relative change and are left out of the mean
(``shift_measured`` counts the rest).  Cost: one pass over the subset for P(x), one for
each 1 px shift and one per distinct jump among the pool settings (one in the default sweep):
each pass is what ``process-chunk`` does for those images.
"""

from __future__ import annotations

import time
from typing import Any

from prefect import task

from convsweep.tasks.analysis.shift import SHIFT_SEED, ShiftRecord, read_subset, shift_sensitivity
from convsweep.tasks.chunk.maps import Kernels
from convsweep.tasks.model import ConvSetting, PoolSetting
from convsweep.tasks.model.records import DatasetRecord
from convsweep.tasks.prefect_glue.caching import RECORD_SERIALIZER, SweepCachePolicy

"""Seed of the subset of images shift sensitivity is measured on."""


def _shift_key(inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "selection": DatasetRecord.parse(inputs["dataset"]).fingerprint,
        "conv": inputs["conv"],
        "kernels": inputs["kernels"],
        "pools": inputs["pools"],
        "shift_images": inputs["shift_images"],
        "seed": SHIFT_SEED,
    }


@task(
    name="measure-shift",
    task_run_name="shift-{conv.label}",
    cache_policy=SweepCachePolicy(key_inputs=_shift_key),
    result_serializer=RECORD_SERIALIZER,
    persist_result=True,
)
def measure_shift(
    dataset: DatasetRecord, conv: ConvSetting, kernels: Kernels, pools: list[PoolSetting], shift_images: int
) -> ShiftRecord:
    """Shift sensitivity of one conv setting's maps and pool settings over a seeded subset of ``shift_images`` images."""
    dataset = DatasetRecord.parse(dataset)
    images = read_subset(dataset, shift_images)
    began = time.perf_counter()
    maps = shift_sensitivity(images, conv=conv, kernels=kernels, pools=pools)
    return ShiftRecord(conv=conv.label, images=len(images), maps=maps, seconds=time.perf_counter() - began)
