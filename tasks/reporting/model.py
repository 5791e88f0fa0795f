"""The report's content, built once from the sweep's rows and records, rendered three ways.

:func:`build_report` gathers what report.md, report.html and the Prefect UI's report
artifact say — the dataset's facts, the sweep's parameters (the settings that vary), the
tables, the sample grids, the figures — into one frozen :class:`Report`.  The templates
in ``tasks/reporting/templates`` (rendered by :mod:`convsweep.tasks.reporting.pages`) only lay it out; every
setting is put into words by the settings themselves (``ConvSetting.words``,
``PoolSetting.words`` / ``short_words``), rebuilt from the rows with ``from_row``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convsweep.tasks.analysis.learned import nearest_text
from convsweep.tasks.model import ConvSetting, PoolSetting
from convsweep.tasks.model.records import DatasetRecord, LearnedRecord, SampleRecord
from convsweep.tasks.reporting.measures import measures_rows

SIGNED_SCALING = "gray = 127.5 + 127.5 * x / max|x| (zero is mid-gray)"
MAGNITUDE_SCALING = "gray = 255 * x / max(x)"

# report.md's table: what a reader compares; report.html's table has every column of sizes.csv.
# The channels and channel columns are only in a sweep that is not purely grey (convsweep.tasks.reporting.rows.with_channel).
REPORT_COLUMNS = tuple(
    "kernel channels channel resize stride padding pad_mode dilation conv_h conv_w "
    "pool_mode pool_size pool_h pool_w conv_formula mean std max zero_fraction".split()
)


@dataclass(frozen=True)
class Cell:
    """A table cell: its text, right-aligned when it is a number."""

    text: str
    numeric: bool


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    constant: tuple[tuple[str, str], ...] = ()
    """(column, value) of the columns the same in every row: said once above the table, not in it."""


@dataclass(frozen=True)
class Picture:
    """A PNG the sweep wrote: its path and its path relative to the output folder."""

    path: Path
    relative: str

    @property
    def exists(self) -> bool:
        return self.path.exists()


@dataclass(frozen=True)
class GridRow:
    """One stage of a sample grid: its title ('sobel · max 2×2') and a picture per sample."""

    stage: str
    title: str
    pictures: tuple[tuple[int, str, str], ...]
    """(sample index, PNG path, tooltip) per sample."""


@dataclass(frozen=True)
class SampleSection:
    """One conv setting's sample pictures: its contact sheet, the grid of maps, their gray scales."""

    conv: str
    words: str | None
    """The conv setting in words (``ConvSetting.words``), when the rows have it."""
    contact: Picture
    scales: str
    """'sobel: 1020, ...' (every picture but the inputs, by stage name)."""
    scale_range: tuple[float, float] | None
    heads: tuple[str, ...]
    """'#0 Sandal' per sample."""
    grid: tuple[GridRow, ...]


@dataclass(frozen=True)
class Dataset:
    spec: str
    split: str
    selection: str
    """The selection as JSON (only the fields set)."""
    n: int
    height: int
    width: int
    source: str
    class_names: tuple[str, ...] | None
    fingerprint: str


@dataclass(frozen=True)
class LearnedSection:
    """Learned kernels beside designed ones: the panel, learned.csv's table, and the training's facts."""

    panel: Picture
    csv: Picture
    table: Table
    """learned.csv's rows: kernel, nearest, similarity, norm."""
    training: tuple[tuple[str, str], ...]
    """(fact, value): accuracy, seconds, epochs, ... ; empty for a user's model."""
    curve: Picture | None


def learned_section(record: LearnedRecord | dict[str, Any] | None, folder: Path) -> LearnedSection | None:
    """The report's learned-kernels section, from what ``write-learned`` returned; None without learned kernels."""
    if record is None:
        return None
    record = LearnedRecord.parse(record)
    columns = ("kernel", "nearest", "similarity", "norm")
    table = Table(
        columns,
        tuple(
            (
                _cell(row.kernel),
                _cell(nearest_text(row.nearest, row.similarity).removeprefix("≈ ")),
                Cell(f"{row.similarity:.3f}", True),
                Cell(f"{row.norm:.3f}", True),
            )
            for row in record.rows
        ),
    )
    training = record.training
    facts: tuple[tuple[str, str], ...] = ()
    curve = None
    if training is not None:
        facts = (
            ("model", f"input → Conv2D({training.filters}, 3×3) → ReLU → max pool 2×2 → flatten → dense softmax"),
            ("images", training.split_rule),
            ("epochs, seed", f"{training.epochs}, {training.seed}"),
            ("test accuracy", f"{training.test_accuracy:.4f}"),
            ("training seconds", f"{training.seconds:.1f}"),
            (
                "accuracy per epoch (train / test)",
                ", ".join(
                    f"{train:.3f} / {test:.3f}"
                    for train, test in zip(training.accuracy, training.test_accuracies, strict=True)
                ),
            ),
            ("saved model", _relative(Path(training.model), folder)),
        )
        curve = Picture(Path(training.curve), _relative(Path(training.curve), folder))
    return LearnedSection(
        panel=Picture(Path(record.panel), _relative(Path(record.panel), folder)),
        csv=Picture(Path(record.csv), _relative(Path(record.csv), folder)),
        table=table,
        training=facts,
        curve=curve,
    )


@dataclass(frozen=True)
class Report:
    name: str
    out_dir: Path
    """Resolved."""
    dataset: Dataset
    parameters: tuple[tuple[str, str], ...]
    row_count: int
    summary: Picture
    summary_title: str
    """The summary figure's title."""
    report_table: Table
    """report.md's columns (:data:`REPORT_COLUMNS`)."""
    sizes_table: Table
    """Every column of sizes.csv."""
    samples: tuple[SampleSection, ...]
    measures: Picture | None = None
    """measures.png (probe and shift sensitivity), when the sweep measured them."""
    measures_table: Table | None = None
    """One row per configuration: probe accuracy, features, the focus map's shift sensitivity."""
    measures_focus: str = ""
    signed_scaling: str = SIGNED_SCALING
    magnitude_scaling: str = MAGNITUDE_SCALING
    learned: LearnedSection | None = None
    channels: tuple[str, ...] = ()
    """The channel modes of a sweep that is not purely grey (gray, each, sum); empty for a grey sweep."""

    @property
    def channel_note(self) -> str:
        """What the channel rows of the tables and pictures mean; '' for a grey sweep."""
        return channels_note(self.channels)


CHANNEL_WORDS = {
    "gray": "gray: the images as OpenCV's grey decode reads them",
    "each": "each: every RGB channel filtered on its own, as Keras' DepthwiseConv2D (channel R, G, B: one map per "
    "channel and kernel; magnitude and pooling per channel; in the pictures one row per channel, its input that "
    "channel in its own colour)",
    "sum": "sum: the three channels' responses added, as Keras' Conv2D with the kernel repeated over the channels "
    "(channel sum: one map per kernel; its magnitude is that of the summed responses; in the pictures one row, its "
    "input the RGB image)",
}


def channels_note(channels: Sequence[str]) -> str:
    """The channel modes in words (:data:`CHANNEL_WORDS`), '' for none."""
    return "; ".join(CHANNEL_WORDS[mode] for mode in channels)


def _cell(value: Any) -> Cell:
    return Cell(str(value), isinstance(value, (int, float)) and not isinstance(value, bool))


# Kept in a table even when the same in every row: they name what a row is.
ROW_NAMES = ("kernel", "map", "channel")


def _table(rows: Sequence[Mapping[str, Any]], columns: tuple[str, ...], *, split_constant: bool = False) -> Table:
    """The rows' ``columns`` as cells; with ``split_constant`` (and several rows), the columns the same in every
    row go to :attr:`Table.constant` instead: 15 identical columns would push the statistics off-screen."""
    constant: tuple[tuple[str, str], ...] = ()
    if split_constant and len(rows) > 1:
        same = [c for c in columns if c not in ROW_NAMES and len({str(row[c]) for row in rows}) == 1]
        constant = tuple((column, str(rows[0][column])) for column in same)
        columns = tuple(column for column in columns if column not in same)
    return Table(columns, tuple(tuple(_cell(row[column]) for column in columns) for row in rows), constant)


def _distinct(rows: Sequence[Mapping[str, Any]], column: str) -> list[str]:
    return list(dict.fromkeys(str(row[column]) for row in rows))


def sweep_parameters(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The sweep's parameters as (name, value) pairs, read back from its rows."""
    maps = []
    for row in rows:
        entry = f"{row['map']} ({row['kernel_h']}×{row['kernel_w']}{', magnitude' if row['map_kind'] == 'magnitude' else ''})"
        if entry not in maps:
            maps.append(entry)
    pools = list(dict.fromkeys(PoolSetting.from_row(row).words for row in rows))
    conv_count = len({ConvSetting.from_row(row) for row in rows})
    channels = [("channels", ", ".join(_distinct(rows, "channels")))] if rows and "channels" in rows[0] else []
    return [
        ("maps", ", ".join(maps)),
        *channels,
        ("resize", ", ".join(_distinct(rows, "resize"))),
        ("conv strides", ", ".join(_distinct(rows, "stride"))),
        ("paddings", ", ".join(_distinct(rows, "padding"))),
        ("pad modes", ", ".join(_distinct(rows, "pad_mode"))),
        ("dilations", ", ".join(_distinct(rows, "dilation"))),
        ("pooling", ", ".join(pools)),
        ("configurations", f"{conv_count} conv settings × {len(pools)} pool settings = {conv_count * len(pools)}"),
    ]


def setting_words(rows: list[dict[str, Any]]) -> tuple[dict[str, str], dict[str, str]]:
    """{pool label: 'max 2×2 ceil'} (``PoolSetting.short_words``) and {conv label: ``ConvSetting.words``}, from the rows."""
    pools: dict[str, str] = {}
    convs: dict[str, str] = {}
    for row in rows:
        pool = PoolSetting.from_row(row)
        if pool.mode != "none":
            pools[pool.label] = pool.short_words
        conv = ConvSetting.from_row(row)
        convs[conv.label] = conv.words
    return pools, convs


def stage_title(stage: str, pools: dict[str, str]) -> str:
    """'sobel · max 2×2' for the stage 'sobel-<pool label>'; 'input', 'sobel_h' as they are.

    A colour sweep's channel stage 'R:sobel-<pool label>' (``convsweep.tasks.samples.sample_paths``) is
    'sobel · max 2×2 · R'.
    """
    channel, _, stage = stage.rpartition(":")
    suffix = f" · {channel}" if channel else ""
    # Longest label first: 'max2-s2-pvalid-ceil' before a label it ends with.
    for label, words in sorted(pools.items(), key=lambda item: -len(item[0])):
        if stage.endswith(f"-{label}"):
            return f"{stage[: -len(label) - 1]} · {words}{suffix}"
    return stage + suffix


def _is_input(stage: str) -> bool:
    """The input picture (grey, RGB, or a colour sweep's channel 'R:input'): shown as read, no scale."""
    return stage.rpartition(":")[2] == "input"


def sample_labels(records: list[SampleRecord]) -> dict[int, str]:
    """{sample index: its class name, or 'label 7'}, as write-samples found them; empty when unlabelled.

    Read from the records, not the dataset: a warm run then never opens the data (for Keras
    datasets, that alone meant importing Keras: ~1.5 s).
    """
    return {int(index): text for record in records for index, text in record.classes.items() if text is not None}


def _section(
    record: SampleRecord, *, folder: Path, pools: dict[str, str], convs: dict[str, str], labels: dict[int, str]
) -> SampleSection:
    by_sample: dict[int, dict[str, str]] = {}
    for key, path in record.images.items():
        position, stage = key.split("-", 1)
        by_sample.setdefault(int(position), {})[stage] = path
    samples = sorted(by_sample)
    grid = []
    for stage in by_sample[samples[0]] if samples else []:
        pictures = []
        for index in samples:
            scale = record.scaling.get(f"{index}-{stage}")
            tooltip = "as read" if _is_input(stage) or scale is None else f"gray scale {scale:.4g}"
            pictures.append((index, by_sample[index][stage], tooltip))
        grid.append(GridRow(stage, stage_title(stage, pools), tuple(pictures)))
    scales = {stage: scale for stage, scale in record.scaling.items() if not _is_input(stage.split("-", 1)[1])}
    contact = Path(record.contact)
    return SampleSection(
        conv=record.conv,
        words=convs.get(record.conv),
        contact=Picture(contact, _relative(contact, folder)),
        scales=", ".join(f"{stage}: {scale:.4g}" for stage, scale in sorted(scales.items())),
        scale_range=(min(scales.values()), max(scales.values())) if scales else None,
        heads=tuple(f"#{index} {labels[index]}" if index in labels else f"#{index}" for index in samples),
        grid=tuple(grid),
    )


def _report_columns(rows: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """:data:`REPORT_COLUMNS`, the channel columns only where the rows have them (a grey sweep's table as before)."""
    coloured = bool(rows) and "channels" in rows[0]
    return tuple(column for column in REPORT_COLUMNS if coloured or column not in ("channels", "channel"))


def _relative(path: Path, folder: Path) -> str:
    try:
        return str(path.resolve().relative_to(folder))
    except ValueError:  # a file outside the output folder: named in full
        return str(path.resolve())


def build_report(
    *,
    name: str,
    dataset: DatasetRecord | dict[str, Any],
    rows: list[dict[str, Any]],
    out_dir: str | Path,
    sample_records: Sequence[SampleRecord | dict[str, Any]],
    learned: LearnedRecord | dict[str, Any] | None = None,
) -> Report:
    """The report of a sweep: everything report.md, report.html and the UI's report say."""
    dataset = DatasetRecord.parse(dataset)
    records = [SampleRecord.parse(record) for record in sample_records]
    folder = Path(out_dir).resolve()
    focus, measured = measures_rows(rows)
    pools, convs = setting_words(rows)
    labels = sample_labels(records)
    selection = {key: value for key, value in dataset.selection.to_json().items() if value is not None}
    return Report(
        name=name,
        out_dir=folder,
        dataset=Dataset(
            spec=dataset.spec,
            split=dataset.split,
            selection=json.dumps(selection, sort_keys=True),
            n=dataset.n,
            height=dataset.height,
            width=dataset.width,
            source=dataset.source,
            class_names=dataset.class_names,
            fingerprint=dataset.fingerprint,
        ),
        parameters=tuple(sweep_parameters(rows)),
        row_count=len(rows),
        summary=Picture(folder / "summary.png", "summary.png"),
        summary_title=f"convsweep: {name} — {dataset.spec} ({dataset.split}, {dataset.n} images)",
        report_table=_table(rows, _report_columns(rows), split_constant=True),
        sizes_table=_table(rows, tuple(rows[0]) if rows else (), split_constant=True),
        samples=tuple(_section(record, folder=folder, pools=pools, convs=convs, labels=labels) for record in records),
        measures=Picture(folder / "measures.png", "measures.png") if measured else None,
        measures_table=_table(measured, tuple(measured[0])) if measured else None,
        measures_focus=focus,
        learned=learned_section(learned, folder),
        channels=tuple(_distinct(rows, "channels")) if rows and "channels" in rows[0] else (),
    )
