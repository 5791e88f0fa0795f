"""compare.html: a :class:`convsweep.tasks.reporting.compare.Comparison` as one self-contained page.

The same rules as report.html (:mod:`convsweep.tasks.reporting.pages`, whose template environment, stylesheet and
table-sorting script it reuses): pictures as PNG data URIs, CSS and JS inlined, no URL outside the
file, every table sortable by a click on its header.  Written atomically (:func:`convsweep.tasks.io.files.write_text`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from convsweep.tasks.io import files
from convsweep.tasks.reporting import images as page_images
from convsweep.tasks.reporting.compare import (
    DERIVED_COLUMNS,
    KEY_COLUMNS,
    Comparison,
    MatchedRow,
    OneSidedRow,
    PicturePair,
    RowsComparison,
    column_changes,
    format_delta,
)
from convsweep.tasks.reporting.model import Cell, Table
from convsweep.tasks.reporting.pages import environment

# Headings of the setting columns (convsweep.tasks.reporting.compare.RowsComparison.setting_columns).
SETTING_HEADINGS = {"pad_mode": "pad mode"}


@dataclass(frozen=True)
class PictureRow:
    """One stage of a conv setting's pictures: its title, and per sample the pair (or None when one lacks it)."""

    title: str
    pairs: tuple[PicturePair | None, ...]


@dataclass(frozen=True)
class PictureSection:
    conv: str
    words: str
    samples: tuple[int, ...]
    rows: tuple[PictureRow, ...]
    same: int
    """How many of its pairs are the same file bytes."""
    total: int


def _number_cell(text: str) -> Cell:
    try:
        float(text)
    except ValueError:
        return Cell(text, False)
    return Cell(text, True)


def matched_table(rows: RowsComparison) -> Table:
    """One row per matched configuration: its settings, how many columns differ, then A, B (and Δ) of each differing column."""
    differing = rows.differing_columns
    columns = [SETTING_HEADINGS.get(name, name) for name in rows.setting_columns] + ["differences"]
    for column in differing:
        columns += [f"{column.name} A", f"{column.name} B"] + ([f"Δ {column.name}"] if column.numeric else [])

    def line(row: MatchedRow) -> tuple[Cell, ...]:
        cells = [Cell(row.settings[name], False) for name in rows.setting_columns]
        cells.append(Cell(str(len(row.changed())), True))
        for column in differing:
            cell = row.cells[column.name]
            cells += [_number_cell(cell.a), _number_cell(cell.b)]
            if column.numeric:
                cells.append(Cell(format_delta(cell.delta), True))
        return tuple(cells)

    return Table(tuple(columns), tuple(line(row) for row in rows.matched))


def one_sided_table(rows: RowsComparison, one_sided: tuple[OneSidedRow, ...]) -> tuple[Table, dict[str, str]]:
    """The rows of one sweep only: settings, then the columns that vary among them; and the constant ones."""
    if not one_sided:
        return Table((), ()), {}
    # The key columns are in the settings already, and the derived ones follow from them.
    names = [name for name in one_sided[0].row if name not in KEY_COLUMNS and name not in DERIVED_COLUMNS]
    varying = [name for name in names if len({entry.row.get(name, "") for entry in one_sided}) > 1]
    constant = {name: one_sided[0].row.get(name, "") for name in names if name not in varying}
    columns = [SETTING_HEADINGS.get(name, name) for name in rows.setting_columns] + varying
    table_rows = tuple(
        tuple(Cell(entry.settings[name], False) for name in rows.setting_columns)
        + tuple(_number_cell(entry.row.get(name, "")) for name in varying)
        for entry in one_sided
    )
    return Table(tuple(columns), table_rows), constant


def picture_sections(comparison: Comparison) -> list[PictureSection]:
    """The paired pictures grouped by conv setting, then by stage, one column pair per sample."""
    sections: dict[str, list[PicturePair]] = {}
    for pair in comparison.pictures:
        sections.setdefault(pair.conv, []).append(pair)
    result = []
    for conv, pairs in sections.items():
        samples = tuple(sorted({pair.sample for pair in pairs}))
        stages: dict[str, dict[int, PicturePair]] = {}
        titles: dict[str, str] = {}
        for pair in pairs:
            stages.setdefault(pair.stage, {})[pair.sample] = pair
            titles[pair.stage] = pair.title
        rows = tuple(
            PictureRow(titles[stage], tuple(by_sample.get(sample) for sample in samples))
            for stage, by_sample in stages.items()
        )
        result.append(
            PictureSection(
                conv=conv,
                words=comparison.conv_words.get(conv, ""),
                samples=samples,
                rows=rows,
                same=sum(pair.same for pair in pairs),
                total=len(pairs),
            )
        )
    return result


def _map_picture(path: str | Path) -> tuple[str, int, int, str]:
    """A sample map enlarged (``page_images.map_cell_uri``): (URI, shown height, shown width, its true size 'H×W')."""
    uri, height, width, true_h, true_w = page_images.map_cell_uri(path)
    return uri, height, width, f"{true_h}×{true_w}"


def render_compare_html(comparison: Comparison) -> str:
    """compare.html's text: self-contained (pictures as data URIs, inline CSS and JS, no URL outside the file)."""
    only_a, constant_a = one_sided_table(comparison.rows, comparison.rows.only_a)
    only_b, constant_b = one_sided_table(comparison.rows, comparison.rows.only_b)
    return (
        environment()
        .get_template("compare.html.j2")
        .render(
            c=comparison,
            matched=matched_table(comparison.rows),
            only_a=only_a,
            constant_a=constant_a,
            only_b=only_b,
            constant_b=constant_b,
            sections=picture_sections(comparison),
            changes=column_changes(comparison.rows),
            map_picture=_map_picture,
            format_delta=format_delta,
        )
    )


def write_compare_html(comparison: Comparison, path: str | Path) -> Path:
    """Write compare.html to ``path`` atomically (temp file + rename); returns the path."""
    return files.write_text(path, render_compare_html(comparison))
