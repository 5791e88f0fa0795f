"""`convsweep compare A B`: two finished sweeps side by side.

A and B are sweep folders (``OUT/NAME``) or their ``manifest.json``.  Each must hold a complete
sweep — its manifest there, every file it lists with its recorded sha256
(:func:`convsweep.tasks.io.sweep_folder.check_sweep_folder`) — else the command refuses in one line, exit 2.
It then prints a summary that fits 80 columns (the parameters that differ, the rows matched by
configuration and map and their largest changes, the rows of one sweep only, the sample pictures)
and writes the whole comparison to a self-contained ``compare.html`` (:mod:`convsweep.tasks.reporting.compare_page`):
by default ``compare-<A>-vs-<B>.html`` next to B's folder (in B's output root, so neither sweep's
folder gets a file its manifest does not list), or where ``--out`` says.  No Prefect, no flow run.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Optional

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from convsweep.tasks.io.sweep_folder import check_finished_sweep
from convsweep.tasks.reporting.compare import (
    Comparison,
    MatchedRow,
    OneSidedRow,
    RowsComparison,
    Side,
    column_changes,
    compare_sweeps,
)
from convsweep.terminal import wrap_words

SUMMARY_WIDTH = 80
MAX_CHANGED_COLUMNS = 12
ONE_SIDED_LINES = 6


def default_html_path(a: Path, b: Path) -> Path:
    """``compare-<A>-vs-<B>.html`` in the folder that holds B's sweep folder."""
    return b.parent / f"compare-{a.name}-vs-{b.name}.html"


def html_path(out: Path | None, a: Path, b: Path) -> Path:
    """Where compare.html goes: ``--out`` (a file, or a folder to put the default name in), else the default."""
    if out is None:
        return default_html_path(a, b)
    if out.is_dir():
        return out / default_html_path(a, b).name
    return out


def _names(items: list[str], limit: int = 12) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", + {len(items) - limit} more" if len(items) > limit else "")


def _short(text: str) -> str:
    """A cell for the terminal: numbers to 5 significant digits, text as it is."""
    try:
        return f"{float(text):.5g}"
    except ValueError:
        return text


def _one_sided(console: Console, title: str, rows) -> None:
    if not rows:
        return
    # A configuration (conv and pool setting) per line, with how many of its maps are there.
    per_setting = Counter(" · ".join(part for part in row.words.split(" · ") if part != row.key[1]) for row in rows)
    lines = [f"{title}: {len(rows)} row(s)"]
    for index, (words, count) in enumerate(per_setting.items()):
        if index == ONE_SIDED_LINES:
            lines.append(f"  + {len(per_setting) - ONE_SIDED_LINES} more settings (see compare.html)")
            break
        lines.append(f"  {words or 'the one setting'} ({count} map{'s' if count > 1 else ''})")
    for line in lines:
        for part in wrap_words(line, console.width, indent="    "):
            console.print(part, soft_wrap=True)


def print_summary(console: Console, comparison: Comparison, html: Path) -> None:
    """The terminal summary; ``console`` sets the width (at most :data:`SUMMARY_WIDTH`).

    Text is wrapped between words (``convsweep.terminal.wrap_words``): a path longer than a line
    stays whole on its own line, so it can be copied.
    """
    a, b, rows = comparison.a, comparison.b, comparison.rows

    def say(text: str, indent: str = "") -> None:
        for line in wrap_words(text, console.width, indent=indent or "  "):
            console.print(line, soft_wrap=True)

    say(f"A: {a.name}, {a.images}: {a.folder}")
    say(f"B: {b.name}, {b.images}: {b.folder}")
    if not comparison.differs:
        say(
            f"No differences: every parameter, all {len(rows.matched)} rows and all "
            f"{len(comparison.pictures)} paired pictures are the same."
        )
    differing = comparison.differing_parameters
    if differing:
        table = Table(title=None, box=box.SIMPLE_HEAD, padding=(0, 1), expand=False)
        for heading in ("parameter that differs", "A", "B"):
            table.add_column(heading, overflow="fold")
        for parameter in differing:
            table.add_row(parameter.name, parameter.a, parameter.b)
        console.print(table)
    shared = [parameter.name for parameter in comparison.shared_parameters]
    say(f"{len(shared)} parameter(s) shared: {_names(shared)}")

    _print_rows(console, rows)
    _one_sided(console, "Only in A", rows.only_a)
    _one_sided(console, "Only in B", rows.only_b)
    pictures = comparison.pictures
    if pictures:
        convs = len({pair.conv for pair in pictures})
        say(
            f"Pictures: {len(pictures)} sample pictures of {convs} conv setting(s) in both, "
            f"{len(comparison.differing_pictures)} differ"
        )
    else:
        say("Pictures: no sample picture of a conv setting in both")
    say(f"compare.html: {html}")


def _print_rows(console: Console, rows: RowsComparison) -> None:
    """How many rows match and differ, in which columns, and each column's largest change."""

    def say(text: str, indent: str = "") -> None:
        for line in wrap_words(text, console.width, indent=indent or "  "):
            console.print(line, soft_wrap=True)

    changed_rows = rows.differing_rows
    columns = [column.name for column in rows.differing_columns if not column.timing]
    line = f"Rows: {len(rows.matched)} matched by configuration and map, {len(changed_rows)} differ"
    say(line + (f" (in {_names(columns, 8)})" if columns else ""))
    timings = [column.name for column in rows.differing_columns if column.timing]
    if timings:
        say(f"  timings differ too ({', '.join(timings)}), not counted", "    ")
    for side, names in (("A", rows.only_a_columns), ("B", rows.only_b_columns)):
        if names:
            say(f"  columns only in {side}'s sizes.csv: {_names(list(names), 8)}", "    ")
    changes = [change for change in column_changes(rows) if not change.column.timing]
    if changes:
        # Two lines a column: its numbers (aligned), then where the largest change is, wrapped between words.
        say("Each column's largest change (Δ = B − A):")
        name_width = max(len(change.column.name) for change in changes[:MAX_CHANGED_COLUMNS])
        for change in changes[:MAX_CHANGED_COLUMNS]:
            cell = change.cell
            delta = f"  Δ {cell.delta:+.4g}" if cell.delta is not None else ""
            say(
                f"  {change.column.name.ljust(name_width)}  {change.rows}/{len(rows.matched)} rows  "
                f"{_short(cell.a)} → {_short(cell.b)}{delta}",
                "      ",
            )
            say(f"      at {change.largest.words}", "         ")
        if len(changes) > MAX_CHANGED_COLUMNS:
            say(f"  + {len(changes) - MAX_CHANGED_COLUMNS} more columns differ (see compare.html)")


def summary_json(comparison: Comparison, html: Path) -> dict[str, Any]:
    """The comparison for scripts (``--json``): what the summary says, and every changed cell of a matched row."""
    rows = comparison.rows

    def side(item: Side) -> dict[str, str]:
        return {"name": item.name, "images": item.images, "folder": str(item.folder)}

    def key(row: MatchedRow | OneSidedRow) -> dict[str, str]:
        return {"conv": row.key[0], "map": row.key[1], "pool": row.key[2], "words": row.words}

    return {
        "a": side(comparison.a),
        "b": side(comparison.b),
        "differs": comparison.differs,
        "parameters_differing": [{"name": p.name, "a": p.a, "b": p.b} for p in comparison.differing_parameters],
        "parameters_shared": [parameter.name for parameter in comparison.shared_parameters],
        "rows_matched": len(rows.matched),
        "rows_differing": [
            {
                **key(row),
                "cells": {
                    name: {"a": row.cells[name].a, "b": row.cells[name].b, "delta": row.cells[name].delta}
                    for name in row.changed(timings=True)
                },
            }
            for row in rows.differing_rows
        ],
        "columns_only_a": list(rows.only_a_columns),
        "columns_only_b": list(rows.only_b_columns),
        "rows_only_a": [key(row) for row in rows.only_a],
        "rows_only_b": [key(row) for row in rows.only_b],
        "pictures": len(comparison.pictures),
        "pictures_differing": len(comparison.differing_pictures),
        "html": str(html),
    }


def compare_command(
    a: str = typer.Argument(..., metavar="A", help="A sweep's folder (OUT/NAME) or its manifest.json."),
    b: str = typer.Argument(..., metavar="B", help="The other sweep's folder or manifest.json (deltas are B − A)."),
    out: Optional[Path] = typer.Option(
        None,
        "--out",
        "-o",
        metavar="PATH",
        help="Where to write the page: a file, or a folder for the default name "
        "(default: compare-<A>-vs-<B>.html next to B's folder).",
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        metavar="",
        help="Print the comparison as JSON instead of the summary (compare.html is written).",
    ),
) -> None:
    """Compare two finished sweeps: parameters, rows by configuration and map, sample maps side by side."""
    sweep_a = check_finished_sweep(a, argument="A")
    sweep_b = check_finished_sweep(b, argument="B")
    comparison = compare_sweeps(sweep_a, sweep_b)
    target = html_path(out, sweep_a.folder, sweep_b.folder)
    from convsweep.tasks.reporting.compare_page import write_compare_html

    written = write_compare_html(comparison, target)
    if as_json:
        typer.echo(json.dumps(summary_json(comparison, written)))
        return
    width = min(Console().width, SUMMARY_WIDTH)
    # Plain text: a value such as '[1, 2]' is never read as rich markup.
    print_summary(Console(width=width, markup=False, highlight=False, emoji=False), comparison, written)


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_command)
