"""Plain JSON values: the one normal form of parameters, cache-key inputs and records.

``2``, ``np.int64(2)`` and ``2.0`` are one value here, so they make one cache key.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np


def to_plain(value: Any) -> Any:
    """Normalise a value to plain JSON types.

    Integral floats become ints, tuples become lists, numpy scalars and arrays
    become Python numbers and lists, dict keys become strings, paths strings;
    records (pydantic models: ``convsweep.tasks.model.records``) and settings (frozen
    dataclasses) become their fields.
    """
    if hasattr(value, "model_dump"):
        return to_plain(value.model_dump(mode="json"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return to_plain(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isfinite(number) and number.is_integer():
            return int(number)
        return number
    if isinstance(value, Path):
        return str(value)
    return value


def canonical_json(value: Any) -> str:
    """Stable JSON text of ``value`` after :func:`to_plain` (sorted keys, no spaces)."""
    return json.dumps(to_plain(value), sort_keys=True, separators=(",", ":"))
