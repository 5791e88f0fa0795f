"""The typed records that pass between the sweep's steps.

Each task returns one of these; each is frozen and parsed once at an edge: where a
record comes back from JSON (a cached task result, the dataset identity index), it
goes through :meth:`Record.parse` and is typed from there on.  They carry shapes,
paths, parameters and statistics, never arrays.

Cached results stay plain JSON (``convsweep.tasks.prefect_glue.cache_records`` decodes nothing else), so a
task hands Prefect ``record.to_json()`` and its caller gets the record back with
``ChunkRecord.parse(future.result())``.
"""

from __future__ import annotations

from typing import Any, Self, TypedDict

from pydantic import BaseModel, ConfigDict

Shape = tuple[int, int]
"""(height, width)."""


def json_default(value: Any) -> Any:
    """``default=`` for ``json.dumps``: a record becomes its plain JSON (Prefect's result serializer uses it)."""
    if isinstance(value, Record):
        return value.to_json()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class Record(BaseModel):
    """A frozen record with one JSON form."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_json(self) -> dict[str, Any]:
        """The record as plain JSON (what a cached task result holds)."""
        return self.model_dump(mode="json")

    @classmethod
    def parse(cls, raw: Self | dict[str, Any]) -> Self:
        """``raw`` (a record or its JSON form) as a record; ValueError naming the field if it is not one."""
        if isinstance(raw, cls):
            return raw
        return cls.model_validate(raw)


class SelectionArguments(TypedDict):
    """Keyword arguments of ``convsweep.tasks.datasets.open_dataset``: a selection in plain JSON form."""

    split: str
    start: int | None
    stop: int | None
    limit: int | None
    classes: list[int | str] | None


class Selection(Record):
    """Which images of a dataset: a split, a range of positions, a limit, some classes."""

    split: str
    start: int | None = None
    stop: int | None = None
    limit: int | None = None
    classes: tuple[int | str, ...] | None = None
    """Labels or class names, as given."""

    def arguments(self) -> SelectionArguments:
        """Keyword arguments of ``convsweep.tasks.datasets.open_dataset``."""
        return {
            "split": self.split,
            "start": self.start,
            "stop": self.stop,
            "limit": self.limit,
            "classes": None if self.classes is None else list(self.classes),
        }


class DatasetRecord(Record):
    """A described selection: what every later cache key is built on (``load-dataset``)."""

    spec: str
    split: str
    selection: Selection
    n: int
    height: int
    width: int
    fingerprint: str
    source: str
    class_names: tuple[str, ...] | None = None
    colour: bool = False
    """Read as (n, h, w, 3) RGB (a sweep's each / sum channels); a grey record's JSON leaves it out."""

    @property
    def image_shape(self) -> Shape:
        return (self.height, self.width)

    def to_json(self) -> dict[str, Any]:
        plain = super().to_json()
        if not self.colour:
            del plain["colour"]  # grey records (and every key built on them) as before channels
        return plain


class MapStats(Record):
    """One (map, pool setting) of a chunk: its shapes and mergeable statistics of the pooled values.

    ``m2`` is the sum of squared deviations from ``mean`` (Chan et al.'s parallel variance).
    """

    conv_shape: Shape
    pool_shape: Shape
    count: int
    mean: float
    m2: float
    min: float
    max: float
    zeros: int


class ChunkRecord(Record):
    """What ``process-chunk`` returns: images ``chunk[0]:chunk[1]`` through one conv setting."""

    chunk: tuple[int, int]
    input_shape: Shape
    """(height, width) after resizing."""
    maps: dict[str, dict[str, MapStats]]
    """map name -> pool label -> statistics."""
    seconds: float = 0.0


class SampleRecord(Record):
    """What ``write-samples`` returns: the PNGs of every stage of the sample images, for one conv setting."""

    conv: str
    """The conv setting's label."""
    classes: dict[str, str | None]
    """sample index -> class words (as the report names it), empty for unlabelled data."""
    contact: str
    images: dict[str, str]
    """``<index>-<stage>`` -> PNG path."""
    scaling: dict[str, float]
    preview_factor: int = 1


class ReportFiles(Record):
    """What ``write-report`` returns: the paths of the pictures and pages it wrote."""

    summary: str
    report: str
    html: str
    rows: int
    measures: str | None = None
    """measures.png, when the sweep measured shift sensitivity or the probe."""


class ArtifactsRecord(Record):
    """What ``publish-artifacts`` returns: the keys of the UI artifacts."""

    sizes: str
    report: str
    table_columns: int
    report_bytes: int


class ManifestRecord(Record):
    """What ``write-manifest`` returns."""

    manifest: str
    files: int
    removed: tuple[str, ...] = ()
    foreign: tuple[str, ...] = ()


class SweepSummary(Record):
    """What the sweep flow returns (as JSON) to a Python caller and the CLI."""

    name: str
    output_dir: str
    dataset: str
    split: str
    n_images: int
    fingerprint: str
    configurations: int
    chunks: int
    task_runs: int
    """Task runs this flow run made (counted as they were made: ``convsweep.flows.task_runs``)."""
    cached_task_runs: int
    """Of those, the ones served from the cache."""
    csv: str
    chunk_compute_seconds: float
    """Seconds the chunk tasks computed now (those served from the cache count 0)."""
    summary: str
    report: str
    html: str
    rows: int
    manifest: str
    removed_files: tuple[str, ...] = ()
    foreign_files: tuple[str, ...] = ()
    model_test_accuracy: float | None = None
    """With ``learned_filters``: the trained CNN's accuracy on its test images (None without)."""
    model_test_images: int | None = None


class TrainingRecord(Record):
    """What ``train-model`` returns: the trained model's file, its curves, its first-layer kernels."""

    model: str
    """model.keras in the sweep's folder."""
    curve: str
    """training.png: loss and accuracy per epoch."""
    architecture: dict[str, Any]
    filters: int
    epochs: int
    seed: int
    split_rule: str
    """Which images trained and which tested, in words."""
    train_images: int
    test_images: int
    loss: tuple[float, ...]
    accuracy: tuple[float, ...]
    test_loss: tuple[float, ...]
    test_accuracies: tuple[float, ...]
    """Per epoch, on the test images."""
    test_accuracy: float
    """After the last epoch."""
    seconds: float
    """Training seconds (fit, with the per-epoch test evaluations)."""
    kernels: dict[str, tuple[tuple[float, ...], ...]]
    """``learned_0`` .. -> (3, 3) rows: the Conv2D kernels, as the sweep takes them."""


class LearnedRow(Record):
    """One row of learned.csv: a learned kernel and the designed kernel nearest to it."""

    kernel: str
    nearest: str
    similarity: float
    norm: float


class LearnedRecord(Record):
    """What ``write-learned`` returns: learned.csv, the learned-vs-designed panel, and their rows."""

    csv: str
    panel: str
    rows: tuple[LearnedRow, ...]
    training: TrainingRecord | None = None
