"""What ``convsweep sweep`` prints: the final table (stdout) and plain progress lines (stderr).

The table fits the terminal's width without cutting a value: the settings that
are the same in every row go to one header line, the conv settings that vary
head a group of rows each, and the columns are the map, its conv output size,
the pool settings that vary, the pooled size and the statistics (and the shift and probe
measures of a sweep that has them).  Every map —
each kernel and each magnitude — has its rows.  A sweep of many conv settings
shows its first groups (about :data:`MAX_TABLE_ROWS` rows) and says how many
more are in sizes.csv.
"""

from __future__ import annotations

import math
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from convsweep.tasks.model import CONV_COLUMN_WORDS, POOL_COLUMNS, PoolSetting

MAX_TABLE_ROWS = 60
# Conv settings (group headings) and pool settings (the pool column), as sizes.csv names them.
CONV_FIELDS = CONV_COLUMN_WORDS
POOL_FIELDS = POOL_COLUMNS
STAT_COLUMNS = (("mean", "mean"), ("std", "std"), ("max", "max"), ("zero_fraction", "zero_frac"))
# A sweep with measures (--shift-images, --probe) shows the headline of each: the relative change
# of the map under a one-pixel shift right, and the linear probe's test accuracy.
MEASURE_COLUMNS = (("shift_right", "shift"), ("probe_accuracy", "probe"))
_GAP = "  "


def wrap_words(text: str, width: int, indent: str = "") -> list[str]:
    """``text`` in lines of at most ``width``; words are never broken (a long path stays whole on its line)."""
    return textwrap.wrap(
        text, width=width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
    ) or [""]


def _distinct(rows: list[dict[str, str]], field: str) -> list[str]:
    return list(dict.fromkeys(row[field] for row in rows))


def _pool_words(row: dict[str, str], varying: set[str]) -> str:
    """The pool setting of a row in short words (``PoolSetting.word_parts``), naming only what varies (all of it in the header)."""
    parts = PoolSetting.from_row(row).word_parts(times="x")
    if not parts:
        return "none"
    if not varying:
        return " ".join(parts.values())
    fields = {"mode": "pool_mode", "size": "pool_size", "stride": "pool_stride", "padding": "pool_padding"}
    shown = [text for part, text in parts.items() if fields.get(part) in varying]
    if "pool_padding" in varying and "padding" not in parts:
        shown.append("pad valid")
    return " ".join(shown)


def _number(text: str) -> str:
    try:
        return f"{float(text):.4g}"
    except ValueError:
        return text


def summary_lines(rows: list[dict[str, str]], *, title: str, width: int = 80) -> list[str]:
    """The final table as lines of at most ``width`` characters (a single word longer than that aside).

    Parameters
    ----------
    rows
        sizes.csv rows with every cell as the text in the file.
    title
        The first line (wrapped).
    width
        The terminal's width in characters.
    """
    if not rows:
        return wrap_words(f"{title}: no rows", width)
    lines = wrap_words(title, width)
    conv_varying = [(field, words) for field, words in CONV_FIELDS if len(_distinct(rows, field)) > 1]
    pooled_rows = [row for row in rows if row["pool_mode"] != "none"]
    # Window, stride and padding are blank for 'none' (no pooling): they vary only among pooled rows.
    pool_varying = {"pool_mode"} if len(_distinct(rows, "pool_mode")) > 1 else set()
    pool_varying |= {field for field in POOL_FIELDS[1:] if len(_distinct(pooled_rows, field)) > 1}
    constant = _constant_words(rows, conv_varying, pooled_rows, pool_varying)
    lines += wrap_words("same in every row: " + ", ".join(constant), width, indent="  ")
    if "channels" in rows[0]:  # a sweep that is not purely grey: what the channel after each map means
        lines += wrap_words(
            f"channels {', '.join(_distinct(rows, 'channels'))}: each map's rows per channel "
            "(R, G, B: each on its own; sum: R+G+B responses summed; gray: the grey decode)",
            width,
            indent="  ",
        )
    groups: dict[tuple[str, ...], list[dict[str, str]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[field] for field, _ in conv_varying), []).append(row)
    shown_groups: list[tuple[tuple[str, ...], list[dict[str, str]]]] = []
    for key, members in groups.items():
        if shown_groups and sum(len(group) for _, group in shown_groups) + len(members) > MAX_TABLE_ROWS:
            break
        shown_groups.append((key, members))
    lines += _table_lines(shown_groups, conv_varying, pool_varying, width)
    hidden = len(groups) - len(shown_groups)
    if hidden:
        hidden_rows = sum(len(members) for members in list(groups.values())[len(shown_groups) :])
        lines += wrap_words(f"+ {hidden} more conv settings ({hidden_rows} rows): see sizes.csv or report.html", width)
    return lines


def _constant_words(
    rows: list[dict[str, str]],
    conv_varying: list[tuple[str, str]],
    pooled_rows: list[dict[str, str]],
    pool_varying: set[str],
) -> list[str]:
    """The settings the same in every row, in words (the table's header line)."""
    constant = [f"{words} {rows[0][field]}" for field, words in CONV_FIELDS if (field, words) not in conv_varying]
    if not pool_varying:
        constant.append(f"pool {_pool_words(rows[0], set())}")
    elif pooled_rows:
        for field, words in zip(POOL_FIELDS[1:], ("pool size", "pool stride", "pool pad"), strict=True):
            values = _distinct(pooled_rows, field)
            if field not in pool_varying and values[0]:
                constant.append(
                    f"{words} {PoolSetting.from_row(pooled_rows[0]).word_parts(times='x')['size'] if field == 'pool_size' else values[0]}"
                )
        if all(PoolSetting.from_row(row).ceil_mode for row in pooled_rows):
            constant.append("pool ceil mode")
    return constant


def _cells(row: dict[str, str], pool_varying: set[str], measures: list[tuple[str, str]]) -> dict[str, str]:
    shown = {
        # a sweep with channels names the channel (R, G, B, sum, gray) of each row after its map
        "map": row["map"] + (f" {row['channel']}" if "channel" in row else ""),
        "conv": f"{row['conv_h']}x{row['conv_w']}",
        "pool": _pool_words(row, pool_varying),
        "pooled": f"{row['pool_h']}x{row['pool_w']}",
    }
    shown.update({field: _number(row[field]) for field, _ in (*STAT_COLUMNS, *measures)})
    return shown


def _table_lines(
    shown_groups: list[tuple[tuple[str, ...], list[dict[str, str]]]],
    conv_varying: list[tuple[str, str]],
    pool_varying: set[str],
    width: int,
) -> list[str]:
    """The column header and each shown group: its conv setting heading, then its rows (as words where too wide)."""
    first = shown_groups[0][1][0]
    columns = [("map", "map"), ("conv", "conv")]
    columns += [("pool", "pool")] if pool_varying else []
    measures = [(field, header) for field, header in MEASURE_COLUMNS if field in first]
    columns += [("pooled", "pooled"), *STAT_COLUMNS, *measures]

    table = [[_cells(row, pool_varying, measures) for row in members] for _, members in shown_groups]
    left = {"map", "pool"}
    widths = {
        field: max([len(header)] + [len(row[field]) for group in table for row in group]) for field, header in columns
    }
    indent = "  " if conv_varying else ""

    def render(values: dict[str, str], gap: str) -> str:
        parts = [
            values[field].ljust(widths[field]) if field in left else values[field].rjust(widths[field])
            for field, _ in columns
        ]
        return (indent + gap.join(parts)).rstrip()

    header = {field: text for field, text in columns}
    gap = next(
        (gap for gap in (_GAP, " ") if len(render(header, gap)) <= width and len(render(table[0][0], gap)) <= width),
        None,
    )
    lines = [render(header, gap)] if gap is not None else []
    for (key, _), group in zip(shown_groups, table, strict=True):
        if conv_varying:
            lines += wrap_words(
                ", ".join(f"{words} {value}" for (_, words), value in zip(conv_varying, key, strict=True)), width
            )
        for row in group:
            if gap is not None and len(render(row, gap)) <= width:
                lines.append(render(row, gap))
            else:  # too wide for a table row: the row as words, wrapped (no value is cut)
                words = "; ".join(f"{text} {row[field]}" for field, text in columns)
                lines += wrap_words(indent + words, width, indent=indent + "    ")
    return lines


class PlainProgress:
    """Progress for a terminal that is not one (a pipe, a log file): one line per ~10 % of the chunks.

    ``write`` receives each line.  With 10 chunk tasks or fewer, every chunk gets its line.
    """

    def __init__(self, write: Callable[[str], Any], *, name: str) -> None:
        self.write = write
        self.name = name
        self.total: int | None = None
        self.started = time.monotonic()
        self.last_step = 0

    def stage(self, words: str) -> None:
        """A step before the chunks (training), on its own line: a log shows what the wait was."""
        self.write(f"sweep {self.name}: {words}")

    def update(self, done: int, total: int) -> None:
        if self.total is None:  # the flow's plan is made: its first report says how many
            self.write(f"sweep {self.name}: {total} chunk tasks")
        self.total = total
        step = done if total <= 10 else math.floor(10 * done / total)
        if step <= self.last_step:
            return
        self.last_step = step
        seconds = time.monotonic() - self.started
        self.write(f"sweep {self.name}: {done}/{total} chunks ({100 * done / total:.0f} %), {seconds:.1f} s")


# `convsweep sizes`: the conv settings (the group headings, as the sweep's table) and their short names.
SIZE_CONV_FIELDS = (("input", "n"), ("kernel", "k"), ("stride", "s"), ("padding", "padding"), ("dilation", "d"))


def _text(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def _size_pool(row: Mapping[str, Any]) -> str:
    if row["pool"] == "none":
        return "none"
    return f"{row['pool']}/{row['pool_stride']}/{row['pool_padding']}" + (" ceil" if row["ceil_mode"] is True else "")


def size_lines(rows: Sequence[Mapping[str, Any]], *, width: int = 80) -> list[str]:
    """``convsweep sizes``' table in lines of at most ``width`` (a word longer than that aside), as the sweep's.

    The settings the same in every row go to one line; each conv setting heads its group with
    its arithmetic, then one line per pool setting: pool, pooled size, receptive field and the
    pool's arithmetic (wrapped under itself when it is too long).  ``rows`` are ``size_rows``'.
    """
    lines = wrap_words("output sizes: floor((n + pad_before + pad_after - k_eff) / stride) + 1", width)
    lines += wrap_words(
        "n input, k kernel, s stride, d dilation, k_eff = (k - 1) * d + 1; pool = size/stride/padding; "
        "rf = receptive field in input pixels",
        width,
        indent="  ",
    )
    if not rows:
        return lines
    varying = [(field, name) for field, name in SIZE_CONV_FIELDS if len({str(row[field]) for row in rows}) > 1]
    constant = [f"{name} {rows[0][field]}" for field, name in SIZE_CONV_FIELDS if (field, name) not in varying]
    if constant:
        lines += wrap_words("same in every row: " + ", ".join(constant), width, indent="  ")
    pool_w = max(len("pool"), *(len(_size_pool(row)) for row in rows))
    pooled_w = max(len("pooled"), *(len(_text(row["pool_out"])) for row in rows))
    rf_w = max(len("rf"), *(len(_text(row["receptive_field"])) for row in rows))
    lead = f"  {'':<{pool_w}}  {'':>{pooled_w}}  {'':>{rf_w}}  "
    lines.append(f"  {'pool':<{pool_w}}  {'pooled':>{pooled_w}}  {'rf':>{rf_w}}  pool arithmetic".rstrip())
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(str(row[field]) for field, _ in SIZE_CONV_FIELDS), []).append(row)
    for members in groups.values():
        first = members[0]
        heading = ", ".join(f"{name} {first[field]}" for field, name in varying)
        lines += wrap_words(f"{heading + ': ' if heading else ''}conv {first['conv_formula']}", width, indent="    ")
        for row in members:
            line = f"  {_size_pool(row):<{pool_w}}  {_text(row['pool_out']):>{pooled_w}}  {_text(row['receptive_field']):>{rf_w}}"
            formula = row["pool_formula"]
            # the arithmetic under its own column; past the width, on the next lines at that column
            lines += wrap_words(f"{line}  {formula}".rstrip(), width, indent=lead if len(lead) < width // 2 else "    ")
    return lines
