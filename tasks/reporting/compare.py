"""Two finished sweeps side by side: parameters, rows matched by configuration and map, sample pictures.

Pure (no Prefect, no I/O but reading the rows' text): :func:`compare_sweeps` takes two
:class:`convsweep.tasks.io.sweep_folder.SweepFolder` (each checked against its manifest) and returns one frozen
:class:`Comparison`, which ``convsweep compare`` prints and :mod:`convsweep.tasks.reporting.compare_page` renders.

* **Parameters**: every parameter of the two manifests, plus the data read (images, fingerprint)
  and the code version, split into those that differ and those shared.
* **Rows**: a row of ``sizes.csv`` is one configuration (conv setting, pool setting — by their
  ``label``, rebuilt from the row with ``ConvSetting.from_row`` / ``PoolSetting.from_row``) and
  one map.  Rows in both sweeps are *matched*; every other column present in both files is
  compared: a numeric column (every non-empty cell a number, in both files) gets the delta
  ``B - A``, a text column is equal or not.  Nothing names the statistics, so a column a later
  sweep adds (a measure) is compared as soon as both files have it; a column in only one file
  is named as such.  Timings (columns ending in ``_seconds``) get their deltas but are not
  differences: two runs of one sweep never take the same time.
* **Pictures**: for the conv settings in both, each sample picture (``samples/<conv>/<index>-<stage>.png``)
  that both folders hold, paired, and equal when the manifests give both the same sha256.

Comparing a sweep with itself gives no differences (:attr:`Comparison.differs` is False).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convsweep.tasks.io.sweep_folder import SweepFolder
from convsweep.tasks.model import CONV_COLUMN_WORDS, CONV_COLUMNS, POOL_COLUMNS, ConvSetting, PoolSetting
from convsweep.tasks.model.plain import canonical_json
from convsweep.tasks.reporting.model import setting_words, stage_title

# The columns that say which configuration and map a row is: they match rows, they are not compared.
KEY_COLUMNS = (*CONV_COLUMNS, "map", *POOL_COLUMNS)
# The conv setting's columns, in the words a table heading uses (as convsweep.terminal's).
CONV_FIELDS = CONV_COLUMN_WORDS
TIMING_SUFFIX = "_seconds"
# Columns that follow from a row's settings and input size (its padding in pixels, the formulas, the
# receptive field): in a table of one sweep's own rows they repeat what the settings say.
DERIVED_COLUMNS = tuple(
    "kernel map_kind kernel_h kernel_w stride_y stride_x pad_top pad_bottom pad_left pad_right "
    "conv_formula pool_formula receptive_field jump".split()
)
_SAMPLE_FILE = re.compile(r"samples/(?P<conv>[^/]+)/(?P<index>\d+)-(?P<stage>[^/]+)\.png")

Key = tuple[str, str, str]
"""(conv label, map, pool label): one configuration and map."""


def _text(value: Any) -> str:
    """A cell as text: '' for a missing value, numbers as Python writes them."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def read_rows(sizes_csv: str) -> list[dict[str, str]]:
    """The rows of a sizes.csv text, every cell as the text in the file."""
    return list(csv.DictReader(io.StringIO(sizes_csv)))


def row_key(row: dict[str, Any]) -> Key:
    """The configuration and map of a sizes.csv row: (conv label, map, pool label)."""
    return ConvSetting.from_row(row).label, str(row["map"]), PoolSetting.from_row(row).label


@dataclass(frozen=True)
class Column:
    """A column of both files, compared in matched rows."""

    name: str
    numeric: bool
    """Every non-empty cell of the column, in both files, is a number: it gets a delta."""

    @property
    def timing(self) -> bool:
        return self.name.endswith(TIMING_SUFFIX)


@dataclass(frozen=True)
class Cell:
    """One compared column of one matched row."""

    a: str
    b: str
    delta: float | None
    """``B - A`` for a numeric column where both cells are numbers; else None."""
    same: bool


@dataclass(frozen=True)
class MatchedRow:
    key: Key
    words: str
    """The configuration and map in short words, naming only the settings that vary (:func:`configuration_words`)."""
    settings: dict[str, str]
    """The shown setting columns (:attr:`RowsComparison.setting_columns`) -> text."""
    cells: dict[str, Cell]
    """Every compared column -> its cell."""

    def changed(self, *, timings: bool = False) -> list[str]:
        """The columns whose cells differ (timings only when asked)."""
        return [name for name, cell in self.cells.items() if not cell.same and (timings or not _is_timing(name))]


@dataclass(frozen=True)
class OneSidedRow:
    """A row of only one sweep."""

    key: Key
    words: str
    settings: dict[str, str]
    row: dict[str, str]


@dataclass(frozen=True)
class RowsComparison:
    columns: tuple[Column, ...]
    """The compared columns: in both files, not a key column (A's order, then B's)."""
    only_a_columns: tuple[str, ...]
    only_b_columns: tuple[str, ...]
    setting_columns: tuple[str, ...]
    """The setting columns a table shows: the conv fields that vary over both sweeps' rows, 'map', 'pool'."""
    constant_settings: str
    """The conv fields the same in every row of both sweeps, in words ('resize native, dilation 1')."""
    matched: tuple[MatchedRow, ...]
    only_a: tuple[OneSidedRow, ...]
    only_b: tuple[OneSidedRow, ...]

    @property
    def differing_columns(self) -> list[Column]:
        """The compared columns that differ in at least one matched row (timings included)."""
        return [column for column in self.columns if any(not row.cells[column.name].same for row in self.matched)]

    @property
    def equal_columns(self) -> list[Column]:
        """The compared columns equal in every matched row."""
        differing = {column.name for column in self.differing_columns}
        return [column for column in self.columns if column.name not in differing]

    @property
    def differing_rows(self) -> list[MatchedRow]:
        """Matched rows with a difference other than timings."""
        return [row for row in self.matched if row.changed()]


@dataclass(frozen=True)
class Parameter:
    name: str
    a: str
    b: str

    @property
    def same(self) -> bool:
        return self.a == self.b


@dataclass(frozen=True)
class PicturePair:
    """One sample picture of a conv setting in both sweeps."""

    conv: str
    sample: int
    stage: str
    title: str
    """'sobel · max 2×2' (``convsweep.tasks.reporting.model.stage_title``)."""
    a: Path
    b: Path
    same: bool
    """Both folders' manifests give the file the same sha256."""


@dataclass(frozen=True)
class Side:
    name: str
    folder: Path
    images: str
    """'40 of 28×28 from idx:/data (test)'."""


@dataclass(frozen=True)
class Comparison:
    a: Side
    b: Side
    parameters: tuple[Parameter, ...]
    rows: RowsComparison
    pictures: tuple[PicturePair, ...]
    conv_words: dict[str, str]
    """Conv label -> ``ConvSetting.words``, for every conv setting of either sweep."""

    @property
    def differing_parameters(self) -> list[Parameter]:
        return [parameter for parameter in self.parameters if not parameter.same]

    @property
    def shared_parameters(self) -> list[Parameter]:
        return [parameter for parameter in self.parameters if parameter.same]

    @property
    def differing_pictures(self) -> list[PicturePair]:
        return [pair for pair in self.pictures if not pair.same]

    @property
    def differs(self) -> bool:
        """Anything differs but timings: a parameter, a row (matched or one-sided), a column, a picture."""
        rows = self.rows
        return bool(
            self.differing_parameters
            or rows.differing_rows
            or rows.only_a
            or rows.only_b
            or rows.only_a_columns
            or rows.only_b_columns
            or self.differing_pictures
        )


def _is_timing(name: str) -> bool:
    return name.endswith(TIMING_SUFFIX)


def parameter_text(value: Any) -> str:
    """A manifest parameter in short text: lists as 'a, b', None as 'none', objects as canonical JSON."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list) and all(not isinstance(item, (list, dict)) for item in value):
        return ", ".join(parameter_text(item) for item in value)
    if isinstance(value, (list, dict)):
        return canonical_json(value)
    return str(value)


def _data_facts(manifest: Mapping[str, Any]) -> dict[str, str]:
    dataset = manifest.get("dataset") if isinstance(manifest.get("dataset"), dict) else {}
    assert isinstance(dataset, dict)
    return {
        "images read": f"{dataset.get('n')} of {dataset.get('height')}×{dataset.get('width')}",
        "data fingerprint": str(dataset.get("fingerprint")),
        "code version": str(manifest.get("code_version")),
    }


def compare_parameters(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[Parameter]:
    """Every parameter of the two manifests (A's order, then B's own), then the data read and the code version.

    A parameter one manifest lacks reads 'absent' there.
    """
    params_a = a.get("parameters") or {}
    params_b = b.get("parameters") or {}
    parameters = [
        Parameter(
            name,
            parameter_text(params_a[name]) if name in params_a else "absent",
            parameter_text(params_b[name]) if name in params_b else "absent",
        )
        for name in dict.fromkeys([*params_a, *params_b])
    ]
    facts_a, facts_b = _data_facts(a), _data_facts(b)
    return parameters + [Parameter(name, facts_a[name], facts_b[name]) for name in facts_a]


def _keyed(rows: list[dict[str, str]], *, argument: str) -> dict[Key, dict[str, str]]:
    keyed: dict[Key, dict[str, str]] = {}
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        try:
            key = row_key(row)
        except (KeyError, ValueError, TypeError) as error:
            raise ValueError(f"{argument}: sizes.csv line {number} names no configuration ({error})") from None
        if key in keyed:
            raise ValueError(f"{argument}: sizes.csv has two rows for {' / '.join(key)} (line {number})")
        keyed[key] = row
    return keyed


def _numeric(name: str, *row_sets: list[dict[str, str]]) -> bool:
    cells = [row[name] for rows in row_sets for row in rows if row.get(name, "") != ""]
    return bool(cells) and all(_number(cell) is not None for cell in cells)


def _cell(a: str, b: str, numeric: bool) -> Cell:
    number_a, number_b = (_number(a), _number(b)) if numeric else (None, None)
    if number_a is None or number_b is None:
        return Cell(a, b, None, a == b)
    same = number_a == number_b or (math.isnan(number_a) and math.isnan(number_b))
    return Cell(a, b, 0.0 if same else number_b - number_a, same)


def _pool_text(row: dict[str, str]) -> str:
    return PoolSetting.from_row(row).short_words


def configuration_words(row: dict[str, str], varying: list[tuple[str, str]]) -> str:
    """'stride 2, padding same · sobel · max 2×2': the conv fields that vary, the map, the pool setting."""
    conv = ", ".join(f"{words} {row[field]}" for field, words in varying)
    return " · ".join(part for part in (conv, row["map"], _pool_text(row)) if part)


def _conv_fields(rows: list[dict[str, str]]) -> tuple[list[tuple[str, str]], str]:
    """The conv settings that vary between ``rows`` as (field, words), and the constant ones in words."""
    varying = [(field, words) for field, words in CONV_FIELDS if len({row[field] for row in rows}) > 1]
    constant = [f"{words} {rows[0][field]}" for field, words in CONV_FIELDS if rows and (field, words) not in varying]
    return varying, ", ".join(constant)


def compare_rows(
    rows_a: list[dict[str, Any]], rows_b: list[dict[str, Any]], *, arguments: tuple[str, str] = ("A", "B")
) -> RowsComparison:
    """Rows matched by configuration and map, each column of both files compared; rows and columns of one only.

    Rows are sizes.csv rows, as text (:func:`read_rows`) or as ``convsweep.tasks.reporting.rows.build_rows`` makes them.
    """
    text_a = [{name: _text(value) for name, value in row.items()} for row in rows_a]
    text_b = [{name: _text(value) for name, value in row.items()} for row in rows_b]
    keyed_a = _keyed(text_a, argument=arguments[0])
    keyed_b = _keyed(text_b, argument=arguments[1])
    names_a = list(text_a[0]) if text_a else []
    names_b = list(text_b[0]) if text_b else []
    compared = [name for name in dict.fromkeys([*names_a, *names_b]) if name in names_a and name in names_b]
    columns = tuple(Column(name, _numeric(name, text_a, text_b)) for name in compared if name not in KEY_COLUMNS)
    varying, constant = _conv_fields(text_a + text_b)

    def settings(row: dict[str, str]) -> dict[str, str]:
        return {**{field: row[field] for field, _ in varying}, "map": row["map"], "pool": _pool_text(row)}

    matched = tuple(
        MatchedRow(
            key=key,
            words=configuration_words(row, varying),
            settings=settings(row),
            cells={
                column.name: _cell(row[column.name], keyed_b[key][column.name], column.numeric) for column in columns
            },
        )
        for key, row in keyed_a.items()
        if key in keyed_b
    )

    def one_sided(keyed: dict[Key, dict[str, str]], other: dict[Key, dict[str, str]]) -> tuple[OneSidedRow, ...]:
        return tuple(
            OneSidedRow(key, configuration_words(row, varying), settings(row), row)
            for key, row in keyed.items()
            if key not in other
        )

    return RowsComparison(
        columns=columns,
        only_a_columns=tuple(name for name in names_a if name not in names_b),
        only_b_columns=tuple(name for name in names_b if name not in names_a),
        setting_columns=(*(field for field, _ in varying), "map", "pool"),
        constant_settings=constant,
        matched=matched,
        only_a=one_sided(keyed_a, keyed_b),
        only_b=one_sided(keyed_b, keyed_a),
    )


def _samples(files: dict[str, str]) -> dict[tuple[str, int, str], str]:
    """(conv label, sample index, stage) -> relative path, for every sample picture a manifest lists."""
    found = {}
    for relative in files:
        match = _SAMPLE_FILE.fullmatch(relative)
        if match:
            found[(match["conv"], int(match["index"]), match["stage"])] = relative
    return found


def pair_pictures(
    a: SweepFolder, b: SweepFolder, *, rows_a: list[dict[str, str]], rows_b: list[dict[str, str]]
) -> list[PicturePair]:
    """The sample pictures of the conv settings in both sweeps that both folders hold, in the report's order.

    Per conv setting (A's order): per stage — the input, each map, each map after each pool setting —
    per sample index.
    """
    samples_a, samples_b = _samples(a.files), _samples(b.files)
    pools_a, _ = setting_words(rows_a)
    pools_b, _ = setting_words(rows_b)
    pool_words = {**pools_b, **pools_a}
    maps = list(dict.fromkeys(row["map"] for row in rows_a + rows_b))
    pool_labels = list(dict.fromkeys(PoolSetting.from_row(row).label for row in rows_a + rows_b))
    convs = list(dict.fromkeys(ConvSetting.from_row(row).label for row in rows_a + rows_b))

    def stage_order(stage: str) -> tuple[int, int, int, str]:
        if stage == "input":
            return (0, 0, 0, stage)
        if stage in maps:
            return (1, maps.index(stage), 0, stage)
        for pool in pool_labels:
            base = stage.removesuffix(f"-{pool}")
            if base != stage and base in maps:
                return (2, maps.index(base), pool_labels.index(pool), stage)
        return (3, 0, 0, stage)

    def conv_order(conv: str) -> int:
        return convs.index(conv) if conv in convs else len(convs)

    common = sorted(
        set(samples_a) & set(samples_b), key=lambda key: (conv_order(key[0]), key[0], stage_order(key[2]), key[1])
    )
    return [
        PicturePair(
            conv=conv,
            sample=index,
            stage=stage,
            title=stage_title(stage, pool_words),
            a=a.folder / samples_a[(conv, index, stage)],
            b=b.folder / samples_b[(conv, index, stage)],
            same=a.files[samples_a[(conv, index, stage)]] == b.files[samples_b[(conv, index, stage)]],
        )
        for conv, index, stage in common
    ]


def _side(sweep: SweepFolder) -> Side:
    dataset = sweep.manifest.get("dataset") if isinstance(sweep.manifest.get("dataset"), dict) else {}
    assert isinstance(dataset, dict)
    images = f"{dataset.get('n')} of {dataset.get('height')}×{dataset.get('width')} from {dataset.get('spec')} ({dataset.get('split')})"
    return Side(sweep.name, sweep.folder, images)


def compare_sweeps(a: SweepFolder, b: SweepFolder) -> Comparison:
    """Everything ``convsweep compare`` says about sweeps ``a`` and ``b`` (both checked against their manifests)."""
    rows_a, rows_b = read_rows(a.sizes_csv), read_rows(b.sizes_csv)
    _, convs_a = setting_words(rows_a)
    _, convs_b = setting_words(rows_b)
    return Comparison(
        a=_side(a),
        b=_side(b),
        parameters=tuple(compare_parameters(a.manifest, b.manifest)),
        rows=compare_rows(rows_a, rows_b),
        pictures=tuple(pair_pictures(a, b, rows_a=rows_a, rows_b=rows_b)),
        conv_words={**convs_b, **convs_a},
    )


def format_delta(delta: float | None) -> str:
    """'+0.25', '-3', '0'; '' when there is no delta."""
    if delta is None:
        return ""
    if delta == 0:
        return "0"
    return f"{delta:+.6g}"


def relative_change(cell: Cell) -> float:
    """|B - A| / max(|A|, |B|): how large a change is, whatever the column's scale (0 when equal or not numeric)."""
    if cell.delta is None or cell.same:
        return 0.0
    a, b = float(cell.a), float(cell.b)
    scale = max(abs(a), abs(b))
    return math.inf if not math.isfinite(cell.delta) else (abs(cell.delta) / scale if scale else 0.0)


@dataclass(frozen=True)
class ColumnChange:
    """A compared column that differs: in how many matched rows, and its largest change (:func:`relative_change`)."""

    column: Column
    rows: int
    largest: MatchedRow
    cell: Cell


def column_changes(rows: RowsComparison) -> list[ColumnChange]:
    """Each column that differs in a matched row (timings last), with its largest change; a text column's first."""
    changes = []
    for column in rows.differing_columns:
        differing = [row for row in rows.matched if not row.cells[column.name].same]
        largest = max(differing, key=lambda row: relative_change(row.cells[column.name]))
        changes.append(ColumnChange(column, len(differing), largest, largest.cells[column.name]))
    return sorted(changes, key=lambda change: change.column.timing)
