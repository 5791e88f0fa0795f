"""The sweep's table artifact: the columns that vary, leading ones first, and a description of the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convsweep.tasks.model import CONV_COLUMNS, POOL_COLUMNS, to_plain
from convsweep.tasks.reporting import images as page_images

# The table artifact leads with what a reader compares across the sweep; any other column
# that varies follows in sizes.csv's order, and the constant ones go to its description.
TABLE_LEADING_COLUMNS = [
    "kernel",
    "channels",  # a sweep that is not purely grey: which channel a row is of
    "channel",
    "map_kind",
    *CONV_COLUMNS,
    *POOL_COLUMNS,
    "conv_h",
    "conv_w",
    "pool_h",
    "pool_w",
    "mean",
    "std",
    "min",
    "max",
    "zero_fraction",
]


def table_artifact(name: str, rows: list[dict[str, Any]], out_dir: str | Path) -> tuple[list[dict[str, Any]], str]:
    """The table artifact's rows (only the columns that vary, leading ones first) and its description.

    The description names every column that is the same in every row (``dataset idx:/... ·
    split test · 10,000 images of 28×28 · kernel_h 3 ...``); sizes.csv keeps every column.
    """
    varying, constant = page_images.split_constant_columns(
        rows, leading=[column for column in TABLE_LEADING_COLUMNS if rows and column in rows[0]], omit=("map",)
    )
    table = [{column: row[column] for column in varying} for row in rows]
    facts = []
    if {"dataset", "split", "n_images", "input_h", "input_w"} <= set(constant):
        facts.append(
            f"dataset `{constant.pop('dataset')}` · split {constant.pop('split')} · "
            f"{constant.pop('n_images'):,} images of {constant.pop('input_h')}×{constant.pop('input_w')}"
        )
    facts += [f"{column} {value}" if value != "" else f"{column} (empty)" for column, value in constant.items()]
    csv_path = (Path(out_dir) / "sizes.csv").resolve()
    description = (
        f"Sweep **{name}**: {len(rows)} rows, the {len(varying)} columns that vary across the sweep. "
        f"The same in every row: {' · '.join(facts)}. Every column: `{csv_path}`."
    )
    return to_plain(table), description
