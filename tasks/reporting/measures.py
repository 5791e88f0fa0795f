"""The measures in the report: one row per configuration (probe accuracy, features, shift sensitivity).

The shift columns are those of the focus map (``convsweep.tasks.reporting.render.focus_map``: the first
magnitude, else the first map), the map the summary figure and the measures figure show.
"""

from __future__ import annotations

from typing import Any

from convsweep.tasks.model import ConvSetting, PoolSetting

MEASURE_COLUMNS = (
    "conv",
    "pool",
    "probe_accuracy",
    "probe_features",
    "shift_right",
    "shift_down",
    "shift_jump",
    "shift_jump_px",
)


def focus_map_of(rows: list[dict[str, Any]]) -> str:
    magnitudes = [row["map"] for row in rows if row["map_kind"] == "magnitude"]
    return str(magnitudes[0] if magnitudes else rows[0]["map"])


def measures_rows(rows: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """(the focus map, one row per configuration with :data:`MEASURE_COLUMNS` that were measured); [] without measures."""
    if not rows or not ({"probe_accuracy", "shift_right"} & set(rows[0])):
        return "", []
    focus = focus_map_of(rows)
    table = []
    for row in rows:
        if row["map"] != focus:
            continue
        entry: dict[str, Any] = {
            "conv": ConvSetting.from_row(row).words,
            "pool": PoolSetting.from_row(row).short_words,
        }
        # An unmeasured value (None) is an empty cell, as in sizes.csv.
        entry.update(
            {column: "" if row[column] is None else row[column] for column in MEASURE_COLUMNS[2:] if column in row}
        )
        table.append(entry)
    return focus, table
