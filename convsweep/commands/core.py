"""`convsweep kernels` and `convsweep sizes`: the numeric core at the command line.

Both run nothing heavy.  ``kernels`` shows the named kernels (or checks a user kernel);
``sizes`` is the convolution-arithmetic calculator: every combination of the given lists, with
conv and pool output sizes from ``convsweep.conv_core.output_size`` and the arithmetic written out by
``convsweep.conv_core.conv_formula``.  A combination that cannot run is a row that says why.
"""

from __future__ import annotations

import itertools
import json
import re
from fractions import Fraction
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from convsweep import conv_core
from convsweep.conv_core import kernels as core_kernels
from convsweep.tasks.io import files
from convsweep.tasks.model import padding_label, values
from convsweep.terminal import size_lines

# --- kernels ---------------------------------------------------------------------------------


def format_value(value: float) -> str:
    """1.0 -> '1', 0.0625 -> '1/16', 0.1234567 -> '0.123457': short and exact where possible."""
    if float(value).is_integer():
        return str(int(value))
    fraction = Fraction(value).limit_denominator(4096)
    if float(fraction) == value:
        return f"{fraction.numerator}/{fraction.denominator}"
    return format(value, ".6g")


def format_matrix(matrix) -> str:
    """Rows on lines, columns right-aligned."""
    cells = [[format_value(value) for value in row] for row in matrix]
    width = max(len(cell) for row in cells for cell in row)
    return "\n".join(" ".join(cell.rjust(width) for cell in row) for row in cells)


def kernels_command(
    names: Optional[list[str]] = typer.Argument(
        None, metavar="NAME", help="Kernels to show (default: all named kernels)."
    ),
    kernel: Optional[str] = typer.Option(
        None,
        "--kernel",
        metavar="ROWS",
        help="Check and show a user kernel given as text, e.g. '1,2,1;0,0,0;-1,-2,-1' (shown as custom) "
        "or NAME=1,2,1;0,0,0;-1,-2,-1.",
    ),
    kernel_file: Optional[Path] = typer.Option(
        None,
        "--kernel-file",
        metavar="FILE",
        help='Check and show a user kernel from a JSON file: [[1,2,1],...] or {"kernel": [[...]]}.',
    ),
    as_json: bool = typer.Option(False, "--json", metavar="", help="Print {name: matrix} as JSON instead of a table."),
) -> None:
    """List the named kernels with their matrices (or check a user kernel)."""
    shown: dict[str, list[list[float]]] = {}
    if kernel is not None:
        # NAME=ROWS as `sweep --kernel` takes it, or bare ROWS: then named "custom" (as a sweep would need a name).
        name, sep, rows = kernel.partition("=")
        label = values.check_safe_name(name.strip(), argument="--kernel NAME") if sep else "custom"
        shown[label] = core_kernels.parse_text(rows if sep else kernel).tolist()
    if kernel_file is not None:
        if not kernel_file.is_file():
            raise ValueError(f"--kernel-file={str(kernel_file)!r} is not a file")
        shown[str(kernel_file)] = core_kernels.parse_json(kernel_file.read_text(encoding="utf-8")).tolist()
    if names or not shown:
        for name in names or core_kernels.names():
            shown[name] = core_kernels.get(name).tolist()
    if as_json:
        typer.echo(json.dumps(shown))
        return
    table = Table(title="kernels (cross-correlation: applied as written, not flipped)", show_lines=True)
    table.add_column("name")
    table.add_column("size")
    table.add_column("matrix")
    table.add_column("sum", justify="right")
    for name, matrix in shown.items():
        total = sum(sum(row) for row in matrix)
        table.add_row(name, f"{len(matrix)}x{len(matrix[0])}", format_matrix(matrix), format_value(round(total, 12)))
    Console().print(table)


# --- sizes -----------------------------------------------------------------------------------


def _items(text: str, option: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise ValueError(f"{option}={text!r} is empty: give comma-separated values")
    return items


def parse_positive_ints(text: str, option: str) -> list[int]:
    """'28,27' -> [28, 27]; every value an int >= 1."""
    values = []
    for item in _items(text, option):
        if not re.fullmatch(r"\d+", item) or int(item) < 1:
            raise ValueError(f"{option} values must be ints >= 1, got {item!r} in {option}={text!r}")
        values.append(int(item))
    return values


def parse_paddings(text: str, option: str, *, allow_full: bool = True):
    """'valid,same,full,1,0:1' -> ['valid', 'same', 'full', 1, (0, 1)]: the sweep's padding syntax, on one axis.

    Parsed by the sweep model's parser (one syntax everywhere); a 2-D padding is accepted when it is
    the same on both axes, since this table is per axis.
    """
    per_axis: list = []
    for item in values.as_list(text, argument=option):
        padding = values.padding(item, argument=option, allow_full=allow_full)
        if isinstance(padding, tuple):
            pairs = (
                {tuple(padding[0:2]), tuple(padding[2:4])}
                if len(padding) == 4
                else {(padding[0],) * 2, (padding[1],) * 2}
            )
            if len(pairs) != 1:
                raise ValueError(
                    f"{option}={padding_label(padding)!r} differs between the axes: `sizes` works on one axis; give an int or BEFORE:AFTER"
                )
            before, after = pairs.pop()
            padding = before if before == after else (before, after)
        per_axis.append(padding)
    return per_axis


def parse_pool_sizes(text: str, option: str) -> list[Optional[int]]:
    """'2,3' -> [2, 3]; 'none' (or 0) -> no pooling."""
    values: list[Optional[int]] = []
    for item in _items(text, option):
        if item.lower() in ("none", "0"):
            values.append(None)
        elif re.fullmatch(r"\d+", item):
            values.append(int(item))
        else:
            raise ValueError(f"{option} values must be ints >= 1 or 'none', got {item!r} in {option}={text!r}")
    return values


def _padding_label(padding) -> str:
    return f"{padding[0]}:{padding[1]}" if isinstance(padding, tuple) else str(padding)


def _as_2d(padding):
    # The table is per axis; (before, after) becomes (top, bottom, left, right) for resolve_padding.
    return (padding[0], padding[1], padding[0], padding[1]) if isinstance(padding, tuple) else padding


SIZE_COLUMNS = (
    "input kernel stride padding dilation conv_out conv_formula "
    "pool pool_stride pool_padding ceil_mode pool_out pool_formula receptive_field jump"
).split()


def _pool_settings(pool_sizes, pool_strides, pool_paddings) -> list[Optional[tuple]]:
    """(size, stride, padding) for every pool combination; None for "no pooling"."""
    settings: list[Optional[tuple]] = []
    for size in pool_sizes:
        if size is None:
            if None not in settings:
                settings.append(None)
            continue
        for stride in pool_strides or [size]:
            for padding in pool_paddings:
                settings.append((size, stride, padding))
    return settings


def size_rows(
    inputs, kernel_sizes, strides, paddings, dilations, pool_sizes, pool_strides, pool_paddings, ceil_mode: bool
) -> list[dict]:
    """One row per combination; an impossible one keeps the reason in its formula column."""
    rows = []
    pools = _pool_settings(pool_sizes, pool_strides, pool_paddings)
    for n, k, s, padding, d in itertools.product(inputs, kernel_sizes, strides, paddings, dilations):
        conv = dict(input=n, kernel=k, stride=s, padding=_padding_label(padding), dilation=d)
        try:
            top, bottom, _, _ = conv_core.resolve_padding(
                _as_2d(padding), image_size=n, kernel_size=k, stride=s, dilation=d
            )
            conv["conv_out"] = conv_core.output_size(n, k, stride=s, padding=(top, bottom), dilation=d)
            conv["conv_formula"] = conv_core.conv_formula(n, k, stride=s, pad_before=top, pad_after=bottom, dilation=d)
        except ValueError as error:
            conv.update(conv_out=None, conv_formula=f"impossible: {error}")
        layers = [(conv_core.effective_kernel_size(k, d), s)]
        for pool in pools:
            row = dict(
                conv,
                pool="none",
                pool_stride="",
                pool_padding="",
                ceil_mode="",
                pool_out=None,
                pool_formula="",
                receptive_field=None,
                jump=None,
            )
            pool_layers = [] if pool is None else _pool_row(row, pool, ceil_mode)
            if row["conv_out"] is not None and (pool is None or row["pool_out"] is not None):
                row["receptive_field"], row["jump"] = conv_core.receptive_field(layers + pool_layers)
            rows.append(row)
    return rows


def _pool_row(row: dict, pool: tuple, ceil_mode: bool) -> list[tuple[int, int]]:
    """Fill ``row``'s pool cells for the pool setting ``pool``; the pool's layers for the receptive field."""
    size, stride, pool_padding = pool
    row.update(pool=size, pool_stride=stride, pool_padding=_padding_label(pool_padding), ceil_mode=ceil_mode)
    if row["conv_out"] is None:
        row["pool_formula"] = "(no conv output to pool)"
        return []
    try:
        ptop, pbottom, _, _ = conv_core.resolve_pool_padding(
            _as_2d(pool_padding), image_size=row["conv_out"], pool_size=size, stride=stride
        )
        row["pool_out"] = conv_core.output_size(
            row["conv_out"], size, stride=stride, padding=(ptop, pbottom), ceil_mode=ceil_mode
        )
        row["pool_formula"] = conv_core.conv_formula(
            row["conv_out"], size, stride=stride, pad_before=ptop, pad_after=pbottom, ceil_mode=ceil_mode
        )
        return [(size, stride)]
    except ValueError as error:
        row["pool_formula"] = f"impossible: {error}"
        return []


def check_csv_path(path: Path) -> None:
    """Refuse (ValueError) a ``--csv`` path that is a folder or whose folder does not exist (none is created)."""
    from convsweep.tasks.plan.preflight import check_writable_folder

    if path.is_dir():
        raise ValueError(f"--csv {path} is a folder: give a file name, e.g. {path / 'sizes.csv'}")
    parent = path.expanduser().absolute().parent
    if parent.exists() and not parent.is_dir():
        raise ValueError(f"--csv {path}: {parent} is a file, not a folder")
    if not parent.is_dir():
        raise ValueError(f"--csv {path}: folder {parent} does not exist (it is not created): make it first")
    check_writable_folder(parent, what=f"--csv {path}")


def _rows_from_options(
    inputs: str,
    kernel_sizes: str,
    strides: str,
    paddings: str,
    dilations: str,
    pool_sizes: str,
    pool_strides: Optional[str],
    pool_paddings: str,
    ceil_mode: bool,
) -> list[dict]:
    """``size_rows`` of the ``sizes`` options, each list parsed (ValueError naming the option)."""
    return size_rows(
        parse_positive_ints(inputs, "--inputs"),
        parse_positive_ints(kernel_sizes, "--kernels"),
        parse_positive_ints(strides, "--strides"),
        parse_paddings(paddings, "--paddings"),
        parse_positive_ints(dilations, "--dilations"),
        parse_pool_sizes(pool_sizes, "--pool-sizes"),
        parse_positive_ints(pool_strides, "--pool-strides") if pool_strides is not None else None,
        parse_paddings(pool_paddings, "--pool-paddings", allow_full=False),
        ceil_mode,
    )


def sizes_command(
    inputs: str = typer.Option(
        "28", "--inputs", "-n", metavar="LIST", help="Input sizes (pixels per side), e.g. 28,27."
    ),
    kernel_sizes: str = typer.Option("3", "--kernels", "-k", metavar="LIST", help="Kernel sizes, e.g. 3,5."),
    strides: str = typer.Option("1", "--strides", "-s", metavar="LIST", help="Strides, e.g. 1,2."),
    paddings: str = typer.Option(
        "valid",
        "--paddings",
        "-p",
        metavar="LIST",
        help="valid, same (Keras), full, an int, or BEFORE:AFTER (as for sweep); e.g. valid,same,1.",
    ),
    dilations: str = typer.Option("1", "--dilations", "-d", metavar="LIST", help="Dilations, e.g. 1,2."),
    pool_sizes: str = typer.Option(
        "2", "--pool-sizes", metavar="LIST", help="Pool window sizes; 'none' for no pooling."
    ),
    pool_strides: Optional[str] = typer.Option(
        None, "--pool-strides", metavar="LIST", help="Pool strides (default: the pool size)."
    ),
    pool_paddings: str = typer.Option(
        "valid", "--pool-paddings", metavar="LIST", help="valid, same, an int <= size // 2, or BEFORE:AFTER."
    ),
    ceil_mode: bool = typer.Option(
        False, "--ceil-mode", metavar="", help="Round pool outputs up, as PyTorch's ceil_mode."
    ),
    csv: Optional[Path] = typer.Option(None, "--csv", metavar="FILE", help="Also write the table to this CSV file."),
    as_json: bool = typer.Option(
        False, "--json", metavar="", help="Print the rows as a JSON list (sizes.csv's columns) instead of a table."
    ),
) -> None:
    """Conv and pool output sizes for every combination, with the arithmetic written out.

    Sizes are per axis (a square image, or one side of it).  Runs nothing heavy.
    """
    if csv is not None:
        check_csv_path(csv)
    rows = _rows_from_options(
        inputs, kernel_sizes, strides, paddings, dilations, pool_sizes, pool_strides, pool_paddings, ceil_mode
    )
    if as_json:
        typer.echo(json.dumps([{column: row[column] for column in SIZE_COLUMNS} for row in rows]))
    else:
        # The terminal's width, COLUMNS, or 80 columns in a pipe: as the sweep's closing table.
        for line in size_lines(rows, width=Console().width):
            typer.echo(line)
    if csv is not None:
        _write_sizes_csv(csv, rows)


def _write_sizes_csv(csv: Path, rows: list[dict]) -> None:
    """The rows as a CSV file: sizes.csv's columns, ints with an empty cell for "impossible"."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=SIZE_COLUMNS)
    for column in ("conv_out", "pool_out", "receptive_field", "jump"):
        frame[column] = frame[column].astype("Int64")  # ints, with an empty cell for "impossible"
    files.write_csv(csv, frame)
    typer.echo(f"wrote {len(rows)} rows to {csv}")


def register(app: typer.Typer) -> None:
    app.command("kernels")(kernels_command)
    app.command("sizes")(sizes_command)
