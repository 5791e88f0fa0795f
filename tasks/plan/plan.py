"""The sweep plan: everything a sweep will do, decided once, before any work (no Prefect).

:func:`plan_sweep` turns the parameters and the described data into a :class:`SweepPlan`:
the conv and pool settings, the kernels, the chunks of images with their content
fingerprints, the sample images and the folders.  The sweep flow makes it once, as its
first step after ``load-dataset``, whoever started the run (the CLI, the UI, a deployment);
a setting these images cannot take then fails the run in one line (docs/decisions/0009).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from convsweep.tasks.datasets.identity_index import part_fingerprints
from convsweep.tasks.model import ConvSetting, PoolSetting, SweepParameters
from convsweep.tasks.model.jobs import ChunkJob, Kernels, SampleJob
from convsweep.tasks.model.parameters import channel_names
from convsweep.tasks.model.records import DatasetRecord
from convsweep.tasks.plan.cache_paths import cache_dir_for
from convsweep.tasks.plan.chunking import plan_chunks


@dataclass(frozen=True)
class ChunkPlan:
    """One chunk of the selection: images ``start:stop`` and their content fingerprint (keys the cache)."""

    start: int
    stop: int
    fingerprint: str
    colour_fingerprint: str | None = None
    """The content fingerprint of the chunk's RGB pixels (keys its colour chunks); None for a grey sweep."""

    @property
    def bounds(self) -> tuple[int, int]:
        return (self.start, self.stop)


@dataclass(frozen=True)
class SweepPlan:
    """What one sweep will compute and write.

    ``chunks`` x ``conv_settings`` process-chunk task runs; one write-samples task run per conv
    setting when there are samples; then write-sizes, write-report, publish-artifacts and
    write-manifest.
    """

    settings: SweepParameters
    dataset: DatasetRecord
    cache_dir: Path
    conv_settings: tuple[ConvSetting, ...]
    pool_settings: tuple[PoolSetting, ...]
    kernels: Kernels
    chunks: tuple[ChunkPlan, ...]
    samples: tuple[int, ...]
    """Indices into the selection (those of ``settings.samples`` that it has)."""
    samples_fingerprint: str | None
    colour_dataset: DatasetRecord | None = None
    """The selection read in RGB, for the each / sum channels (None for a grey sweep)."""
    colour_samples_fingerprint: str | None = None
    """The content fingerprint of the sample images in RGB (keys a colour sweep's pictures)."""

    @property
    def channel_runs(self) -> tuple[tuple[str, str | None], ...]:
        """(channel mode, ``process-chunk``'s channel) per chunk and conv setting: gray -> None,
        each -> R, G, B, sum -> sum; in the order of ``settings.channels``."""
        runs: list[tuple[str, str | None]] = []
        for mode in self.settings.channels:
            runs.extend((mode, None if mode == "gray" else channel) for channel in channel_names(mode))
        return tuple(runs)

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def out_dir(self) -> Path:
        return self.settings.output_dir

    @property
    def chunk_task_runs(self) -> int:
        """process-chunk task runs: what the progress bar counts."""
        return len(self.conv_settings) * len(self.chunks) * len(self.channel_runs)

    @property
    def largest_chunk(self) -> int:
        return max((chunk.stop - chunk.start for chunk in self.chunks), default=0)

    def maps_dir(self, conv: ConvSetting, channel: str | None = None) -> str | None:
        """Where ``keep_maps`` writes the conv setting's maps (a colour ``channel``'s in a subfolder: R, G, B, sum); None without it."""
        if not self.settings.keep_maps:
            return None
        folder = self.out_dir / "maps" / conv.label
        return str(folder if channel is None else folder / channel)

    def chunk_jobs(self, conv: ConvSetting) -> Iterator[ChunkJob]:
        """The ``process-chunk`` jobs of ``conv``: per chunk, one per channel run (grey: channel None)."""
        for chunk in self.chunks:
            for _, channel in self.channel_runs:
                colour = channel is not None
                dataset = self.colour_dataset if colour else self.dataset
                assert dataset is not None  # plan_sweep checked it
                yield ChunkJob(
                    dataset=dataset,
                    chunk=chunk.bounds,
                    conv=conv,
                    kernels=self.kernels,
                    pools=self.pool_settings,
                    maps_dir=self.maps_dir(conv, channel),
                    chunk_fingerprint=chunk.colour_fingerprint if colour else chunk.fingerprint,
                    memory_budget=self.settings.memory_budget,
                    channel=channel,
                )

    def sample_job(self, conv: ConvSetting) -> SampleJob:
        """The ``write-samples`` job of ``conv`` (a grey sweep's has no colour fields: its key is as before channels)."""
        colour = self.colour_dataset is not None
        return SampleJob(
            dataset=self.dataset,
            conv=conv,
            kernels=self.kernels,
            pools=self.pool_settings,
            samples=self.samples,
            out_dir=str(self.out_dir),
            samples_fingerprint=self.samples_fingerprint,
            memory_budget=self.settings.memory_budget,
            colour_dataset=self.colour_dataset,
            channels=tuple(self.settings.channels) if colour else None,
            colour_samples_fingerprint=self.colour_samples_fingerprint,
        )


def _chunk_bounds(settings: SweepParameters, dataset: DatasetRecord, kernels: Kernels) -> list[tuple[int, int]]:
    """The chunks' (start, stop) within the memory budget (``convsweep.tasks.plan.chunking.plan_chunks``)."""
    return plan_chunks(
        dataset.n,
        dataset.image_shape,
        settings.conv_settings,
        kernels,
        settings.pool_settings,
        memory_budget_mb=settings.memory_budget,
        chunk_size=settings.chunk_size,
        keep_maps=settings.keep_maps,
        channels=3
        if settings.colour
        else 1,  # RGB input, and conv2d's copies per channel (convsweep.tasks.plan.chunking)
    )


def _fingerprints(
    dataset: DatasetRecord, bounds: list[tuple[int, int]], samples: tuple[int, ...], cache_root: Path
) -> tuple[list[str], str | None]:
    """Content fingerprints of each chunk of ``dataset`` and of its samples."""
    return part_fingerprints(
        dataset.to_json(), chunks=[list(chunk) for chunk in bounds], samples=list(samples), index_dir=cache_root
    )


def plan_sweep(
    settings: SweepParameters,
    dataset: DatasetRecord,
    colour_dataset: DatasetRecord | None = None,
    *,
    learned_kernels: Kernels | None = None,
) -> SweepPlan:
    """The plan of ``settings`` over the described ``dataset`` (and ``colour_dataset``, the same
    selection read in RGB, when ``settings.channels`` has each or sum).

    ``learned_kernels`` (``learned_0`` .., from ``train-model``) join the sweep's kernels after its own.

    Raises
    ------
    ValueError
        A setting that cannot run on these images (a kernel or pool window larger than what it
        slides over, a memory budget too small for one image, ceil mode with bands), naming it.
    """
    settings.check_shapes(height=dataset.height, width=dataset.width, extra_kernels=learned_kernels)
    if settings.colour and (colour_dataset is None or not colour_dataset.colour):
        raise ValueError(f"channels={','.join(settings.channels)} needs the selection described in colour")
    named = {**settings.kernel_matrices, **(learned_kernels or {})}  # learned kernels after the sweep's own
    kernels = {name: [list(row) for row in matrix] for name, matrix in named.items()}
    bounds = _chunk_bounds(settings, dataset, kernels)
    samples = tuple(index for index in settings.samples if index < dataset.n)
    cache_root = cache_dir_for(settings.out, settings.cache_dir)
    # Content fingerprints of each chunk and of the samples (from the identity index when the
    # files are unchanged): a chunk keeps its cache key when images are appended after it.
    fingerprints, samples_fingerprint = _fingerprints(dataset, bounds, samples, cache_root)
    colour_fingerprints: list[str | None] = [None] * len(bounds)
    colour_samples_fingerprint = None
    if settings.colour and colour_dataset is not None:
        # the RGB pixels key the colour chunks as the grey ones key the grey chunks (+1 % data: new chunks only)
        colour_fingerprints[:], colour_samples_fingerprint = _fingerprints(colour_dataset, bounds, samples, cache_root)
    return SweepPlan(
        settings=settings,
        dataset=dataset,
        cache_dir=cache_root,
        conv_settings=tuple(settings.conv_settings),
        pool_settings=tuple(settings.pool_settings),
        kernels=kernels,
        chunks=tuple(
            ChunkPlan(start, stop, fingerprint, colour)
            for (start, stop), fingerprint, colour in zip(bounds, fingerprints, colour_fingerprints, strict=True)
        ),
        samples=samples,
        samples_fingerprint=samples_fingerprint,
        colour_dataset=colour_dataset,
        colour_samples_fingerprint=colour_samples_fingerprint,
    )
