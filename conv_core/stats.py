"""Mergeable statistics of an array (count, mean, M2, min, max, zeros), whole or streamed block by block."""

from __future__ import annotations

import numpy as np

# Elements per block when summing squared deviations: bounds the float64 temporaries (8 MB).
_SUMMARY_BLOCK = 1 << 20


def summarize(values: np.ndarray) -> dict[str, float]:
    """Mergeable statistics of an array: count, mean, M2 (sum of squared deviations), min, max, zeros.

    Two passes with float64 accumulators over the array as it is (float32 maps are not copied
    to float64 whole): the mean, then the squared deviations from it a block at a time.

    Parameters
    ----------
    values : ndarray of any shape, real.
    """
    flat = np.ascontiguousarray(values).ravel()
    count = int(flat.size)
    mean = float(np.sum(flat, dtype=np.float64)) / count
    m2 = 0.0
    for lo in range(0, count, _SUMMARY_BLOCK):
        deviations = flat[lo : lo + _SUMMARY_BLOCK].astype(np.float64)
        deviations -= mean
        m2 += float(np.dot(deviations, deviations))
    return {
        "count": count,
        "mean": mean,
        "m2": m2,
        "min": float(flat.min()),
        "max": float(flat.max()),
        "zeros": int(count - np.count_nonzero(flat)),
    }


def merge_summaries(parts: list[dict[str, float]]) -> dict[str, float]:
    """Combine :func:`summarize` records of disjoint chunks (Chan et al.'s parallel variance)."""
    total = dict(parts[0])
    for part in parts[1:]:
        count = total["count"] + part["count"]
        delta = part["mean"] - total["mean"]
        total["mean"] += delta * part["count"] / count
        total["m2"] += part["m2"] + delta * delta * total["count"] * part["count"] / count
        total["count"] = count
        total["min"] = min(total["min"], part["min"])
        total["max"] = max(total["max"], part["max"])
        total["zeros"] += part["zeros"]
    return total


STATS_BLOCK = 1 << 19  # values per statistics block: ~4 MB of float64 and as much again in temporaries


class RunningSummary:
    """:func:`summarize` of a stream of values (C order), block by block, merged in order.

    The stream is cut into blocks of :data:`STATS_BLOCK` values wherever the pieces given to
    :meth:`add` begin and end, so the result depends on the values only; a stream of at most
    one block gives exactly ``summarize`` of all of it.
    """

    def __init__(self) -> None:
        self._pending = np.empty(0, np.float64)
        self._filled = 0
        self._total: dict[str, float] | None = None

    def _merge(self, block: np.ndarray) -> None:
        part = summarize(block)
        self._total = part if self._total is None else merge_summaries([self._total, part])

    def add(self, values: np.ndarray) -> None:
        flat = np.asarray(values).reshape(-1)
        position = 0
        if self._filled:
            take = min(STATS_BLOCK - self._filled, flat.size)
            self._pending[self._filled : self._filled + take] = flat[:take]
            self._filled += take
            position = take
            if self._filled == STATS_BLOCK:
                self._merge(self._pending)
                self._filled = 0
        while flat.size - position >= STATS_BLOCK:
            self._merge(flat[position : position + STATS_BLOCK].astype(np.float64))
            position += STATS_BLOCK
        rest = flat.size - position
        if rest:
            if self._pending.size == 0:
                self._pending = np.empty(STATS_BLOCK, np.float64)
            self._pending[:rest] = flat[position:]
            self._filled = rest

    def result(self) -> dict[str, float]:
        if self._filled:
            self._merge(self._pending[: self._filled])
            self._filled = 0
        if self._total is None:
            raise ValueError("no values were summarised")
        return self._total
