"""Selections: which positions of a split a ``start``/``stop``/``classes``/``limit`` selection
keeps, and consecutive chunks of a selection.

The order is documented and tested against a literal loop: ``start``/``stop`` positions
within the split, then the ``classes`` filter, then the first ``limit`` images.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

# Label numbers and/or class names: "3,cat", 3, or a list of them.
ClassFilter: TypeAlias = str | int | np.integer[Any] | Iterable[int | str]


def iter_chunks(n: int, chunk_size: int) -> Iterator[tuple[int, int]]:
    """Consecutive ``(start, stop)`` ranges covering ``range(n)``, each at most ``chunk_size`` long."""
    check_int("n", n, minimum=0)
    check_int("chunk_size", chunk_size, minimum=1)
    for start in range(0, n, chunk_size):
        yield start, min(start + chunk_size, n)


def select_positions(
    n_total: int,
    labels: np.ndarray | None,
    class_names: tuple[str, ...] | None,
    *,
    start: int | None,
    stop: int | None,
    limit: int | None,
    classes: ClassFilter | None,
    what: str,
) -> range | npt.NDArray[np.int64]:
    """Positions within the split: slice, then class filter, then limit (range or int64 array)."""
    lo = 0 if start is None else start
    hi = n_total if stop is None else stop
    if lo >= n_total:
        raise ValueError(f"start={start} is out of range: {what} has {n_total} images (start must be below {n_total})")
    if hi > n_total:
        raise ValueError(f"stop={stop} is out of range: {what} has {n_total} images (stop must be at most {n_total})")
    if hi <= lo:
        raise ValueError(f"start={lo}, stop={hi} selects no image of {what} (need start < stop)")
    positions: range | npt.NDArray[np.int64] = range(lo, hi)
    if classes is not None:
        wanted = _resolve_classes(classes, labels, class_names, what)
        assert labels is not None  # _resolve_classes refuses a split without labels
        mask = np.isin(labels[lo:hi], np.asarray(sorted(wanted), dtype=np.int64))
        positions = np.flatnonzero(mask).astype(np.int64) + lo
        if positions.size == 0:
            raise ValueError(f"classes={classes!r} matches no image of {what} in positions {lo}:{hi}")
    if limit is not None:
        positions = positions[:limit]
    return positions


def _resolve_classes(
    classes: ClassFilter,
    labels: npt.NDArray[Any] | None,
    class_names: tuple[str, ...] | None,
    what: str,
) -> set[int]:
    """Label numbers named by ``classes`` (numbers and/or class names)."""
    items: list[object]
    if isinstance(classes, str):
        items = [part.strip() for part in classes.split(",") if part.strip()]
    elif isinstance(classes, (int, np.integer)) and not isinstance(classes, bool):
        items = [classes]
    else:
        if not isinstance(classes, Iterable):
            raise TypeError(f"classes: expected label numbers or class names, got {type(classes).__name__}")
        try:
            items = list(classes)
        except TypeError:
            raise TypeError(f"classes: expected label numbers or class names, got {type(classes).__name__}") from None
    if not items:
        raise ValueError(f"classes={classes!r} is empty; pass None to keep every class")
    if labels is None:
        raise ValueError(f"classes={classes!r}: {what} has no labels to filter on")
    names_text = (
        ", ".join(f"{i}={name}" for i, name in enumerate(class_names))
        if class_names
        else "no class names; give label numbers"
    )
    wanted: set[int] = set()
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, np.integer, str)):
            raise TypeError(f"classes: {item!r} is neither a label number nor a class name")
        if isinstance(item, str):
            matches = [i for i, name in enumerate(class_names or ()) if name == item] or [
                i for i, name in enumerate(class_names or ()) if name.lower() == item.lower()
            ]
            if matches:
                wanted.update(matches)
                continue
            if not item.isdigit():
                raise ValueError(f"classes: {item!r} is not a class of {what} ({names_text})")
            value = int(item)
        else:
            value = int(item)
        if value < 0 or (class_names is not None and value >= len(class_names)):
            raise ValueError(f"classes: {value} is not a label of {what} ({names_text})")
        wanted.add(value)
    return wanted


def check_int(name: str, value: Any, *, minimum: int) -> None:
    """``TypeError`` unless ``value`` is an integer (not a bool), ``ValueError`` below ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name}={value}: must be at least {minimum}")
