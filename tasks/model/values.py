"""Parsers for one kind of sweep value each, shared by every way a sweep is given.

The command line, a YAML/JSON config file, a Python call and a run started from
the Prefect UI all pass through these, so ``"1,2x1"``, ``[1, [2, 1]]`` and
``(1, (2, 1))`` are one value and a bad one fails with the same message: a
``ValueError`` that names the argument and the value.  Each parser accepts its
own output, so validating twice changes nothing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from convsweep.conv_core import kernels as kernel_library
from convsweep.tasks.model.plain import to_plain

# Names that end up in file paths: letters, digits, '.', '_', '-'; no leading dot,
# so a sweep or kernel name can never climb out of the output folder.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_PAIR_TEXT = re.compile(r"^\d+(x\d+)+$")
_BEFORE_AFTER = re.compile(r"^\d+:\d+$")
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
# A kernel whose response to 8-bit input could exceed float32 would give inf/NaN maps.
# Counts (images, positions, seeds) stop here: more than any dataset holds, and within the
# int32/uint32 that NumPy indices, random seeds and worker counts take without overflowing.
MAX_COUNT = 2**31 - 1
_FLOAT32_SAFE_GAIN = float(np.finfo(np.float32).max) / 255.0


def check_safe_name(value: Any, *, argument: str) -> str:
    """Return ``value`` if it is safe as a single path component, else raise ValueError."""
    if not isinstance(value, str) or not _SAFE_NAME.match(value) or value in {".", ".."}:
        raise ValueError(
            f"{argument}={value!r} is not a valid name: use 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def scalar_from_text(text: str) -> Any:
    """'2' -> 2, '2x1' -> [2, 1], '1.5' -> 1.5, 'none'/'null' -> None; anything else stays text."""
    value = text.strip()
    lowered = value.lower()
    if lowered in ("none", "null"):
        return None
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    if _PAIR_TEXT.fullmatch(lowered):
        return [int(part) for part in lowered.split("x")]
    try:
        return float(value)
    except ValueError:
        return value


def as_list(value: Any, *, argument: str, allow_empty: bool = False) -> list[Any]:
    """A list from a list, a single value, or comma-separated text (``"1,2x1"``)."""
    if isinstance(value, str):
        items = [item for item in value.split(",") if item.strip()]
        if not items and not allow_empty:
            raise ValueError(f"{argument}={value!r} is empty: give comma-separated values")
        return [scalar_from_text(item) for item in items]
    if isinstance(value, (list, tuple)):
        if len(value) == 0 and not allow_empty:
            raise ValueError(f"{argument}={list(value)!r} is empty: give at least one value")
        return list(value)
    if value is None or isinstance(value, (int, float, np.integer, np.floating)):
        return [value]
    raise TypeError(f"{argument} must be a value or a list of values, got {type(value).__name__}")


def positive_pair(value: Any, *, argument: str) -> tuple[int, int]:
    """An int, ``"HxW"`` text or a (y, x) pair of positive ints."""
    plain = to_plain(value)
    if isinstance(plain, str):
        plain = scalar_from_text(plain)
    if isinstance(plain, bool) or plain is None:
        raise ValueError(f"{argument}={value!r} must be a positive int or a (y, x) pair")
    items = plain if isinstance(plain, list) else [plain, plain]
    if len(items) != 2 or not all(isinstance(item, int) and not isinstance(item, bool) for item in items):
        raise ValueError(f"{argument}={value!r} must be a positive int or a (y, x) pair of ints")
    if min(items) <= 0:
        raise ValueError(f"{argument}={value!r} must be positive")
    return int(items[0]), int(items[1])


def padding(value: Any, *, argument: str, allow_full: bool = True) -> str | int | tuple[int, ...]:
    """One padding syntax for every command: 'valid', 'same', 'full', an int, 'PHxPW' / (ph, pw),
    'TxBxLxR' / 4 ints, or 'BEFORE:AFTER' (the same on both axes, returned as 4 ints)."""
    names = ("valid", "same", "full") if allow_full else ("valid", "same")
    usage = f"use {', '.join(repr(name) for name in names)}, an int, PHxPW, TxBxLxR or BEFORE:AFTER"
    plain = to_plain(value)
    if isinstance(plain, str):
        text = plain.strip().lower()
        if text in names:
            return text
        if text == "full":
            raise ValueError(f"{argument}='full' is not a pooling padding: {usage}")
        if _BEFORE_AFTER.fullmatch(text):
            # BEFORE:AFTER on every axis, as `convsweep sizes` writes one axis.
            before, after = (int(part) for part in text.split(":"))
            return (before, after, before, after)
        plain = scalar_from_text(text)
        if isinstance(plain, str) or isinstance(plain, float):
            raise ValueError(f"{argument}={value!r} is not a padding: {usage}")
    if isinstance(plain, bool) or plain is None:
        raise ValueError(f"{argument}={value!r} is not a padding: {usage}")
    if isinstance(plain, int):
        if plain < 0:
            raise ValueError(f"{argument}={value!r} must not be negative")
        return plain
    if (
        isinstance(plain, list)
        and len(plain) in (2, 4)
        and all(isinstance(item, int) and not isinstance(item, bool) for item in plain)
    ):
        if min(plain) < 0:
            raise ValueError(f"{argument}={value!r} must not be negative")
        return tuple(plain)
    raise ValueError(f"{argument}={value!r} is not a padding: {usage}")


def resize_size(value: Any, *, argument: str = "resize") -> tuple[int, int] | None:
    """``None``/'native' (keep the size), an int, 'HxW' or (h, w)."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("native", "none", "")):
        return None
    if isinstance(value, str):
        parts = re.split(r"[x,]", value.strip().lower())
        try:
            numbers = [int(part) for part in parts]
        except ValueError:
            raise ValueError(f"{argument}={value!r} is not a size: use an int, HxW or 'native'") from None
        return positive_pair(numbers[0] if len(numbers) == 1 else numbers, argument=argument)
    return positive_pair(value, argument=argument)


def optional_count(value: Any, *, argument: str, minimum: int = 0, maximum: int = MAX_COUNT) -> int | None:
    """None, or an int (or its text) from ``minimum`` to ``maximum``."""
    if value is None:
        return None
    plain = to_plain(value)
    if isinstance(plain, str) and plain.strip().lstrip("-").isdigit():
        plain = int(plain)
    if not isinstance(plain, int) or isinstance(plain, bool) or plain < 0:
        raise ValueError(f"{argument}={value!r} must be a non-negative int")
    if plain < minimum:
        raise ValueError(f"{argument}={value!r} must be a positive int")
    if plain > maximum:
        raise ValueError(f"{argument}={value!r} is more than {maximum:,}")
    return plain


def boolean(value: Any, *, argument: str) -> bool:
    """True/False, or their text: true/false, yes/no, on/off, 1/0 (any case); nothing else."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"{argument}={value!r} is not a boolean: use true/false or yes/no")


def choice(value: Any, *, argument: str, allowed: tuple[str, ...]) -> str:
    """One of ``allowed`` (case and surrounding spaces ignored)."""
    text = str(value).strip().lower()
    if text not in allowed:
        raise ValueError(f"{argument}: {text!r} must be one of {', '.join(allowed)}")
    return text


def kernel_matrix(name: str, matrix: Any) -> tuple[tuple[float, ...], ...]:
    """A named kernel from text (``"1,0,-1;2,0,-2;1,0,-1"``) or nested numbers, checked by conv_core."""
    check_safe_name(name, argument="kernel name")
    if isinstance(matrix, str):
        array = kernel_library.parse_text(matrix)
    else:
        try:
            array = np.asarray(matrix, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"kernel {name!r}: {matrix!r} is not a numeric matrix") from None
    array = kernel_library.validate(array)
    gain = float(np.abs(array).sum())
    if not gain < _FLOAT32_SAFE_GAIN:
        raise ValueError(
            f"kernel {name!r}: sum |k| = {gain:.3g} lets 8-bit input overflow float32 (max {_FLOAT32_SAFE_GAIN:.3g})"
        )
    return tuple(tuple(float(cell) for cell in row) for row in array)


def absolute_path(value: Any, *, argument: str) -> Path:
    """A path made absolute against the current folder, so a recorded run can be repeated from anywhere."""
    if value is None or not str(value).strip():
        raise ValueError(f"{argument}={value!r} is empty: give a folder")
    return Path(str(value).strip()).expanduser().absolute()
