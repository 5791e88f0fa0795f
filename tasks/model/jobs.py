"""The inputs of the sweep's per-setting task runs: one small frozen job each, built by the plan.

A task run's job is all it needs and all that keys its cache (``convsweep.tasks.prefect_glue.caching``), and names the
run in the Prefect UI (``task_run_name="{job.run_name}"``).  Settings and records, never arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

from convsweep.tasks.model.records import DatasetRecord
from convsweep.tasks.model.settings import ConvSetting, PoolSetting

Kernels = dict[str, list[list[float]]]
"""kernel name -> its (kh, kw) matrix as nested lists."""


@dataclass(frozen=True)
class ChunkJob:
    """One ``process-chunk`` run: images ``chunk[0]:chunk[1]`` through one conv setting and every pool setting.

    ``chunk_fingerprint`` (those images' content) keys the cache; ``memory_budget`` (MB) decides
    only how, never the result, so it is not in the key; ``channel`` None: the grey images, else
    R, G, B or sum of the RGB ``dataset``.
    """

    dataset: DatasetRecord
    chunk: tuple[int, int]
    conv: ConvSetting
    kernels: Kernels
    pools: tuple[PoolSetting, ...]
    maps_dir: str | None = None
    chunk_fingerprint: str | None = None
    memory_budget: int | None = None
    channel: str | None = None

    @property
    def run_name(self) -> str:
        start, stop = self.chunk
        return f"chunk-{self.conv.label}-{start}-{stop}" + (f"-{self.channel}" if self.channel else "")


@dataclass(frozen=True)
class SampleJob:
    """One ``write-samples`` run: the pictures of ``samples`` (indices into the selection) for one conv setting.

    A colour sweep gives ``channels`` (its channel modes) and ``colour_dataset`` (the selection
    read in RGB); the fingerprints are the sample images' content (they key the cache).
    """

    dataset: DatasetRecord
    conv: ConvSetting
    kernels: Kernels
    pools: tuple[PoolSetting, ...]
    samples: tuple[int, ...]
    out_dir: str
    samples_fingerprint: str | None = None
    memory_budget: int | None = None
    colour_dataset: DatasetRecord | None = None
    channels: tuple[str, ...] | None = None
    colour_samples_fingerprint: str | None = None

    @property
    def run_name(self) -> str:
        return f"samples-{self.conv.label}"
