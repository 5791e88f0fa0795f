"""Named filter kernels, the rule for user kernels, and kernel parsing for the CLI.

All kernels are correlation kernels (conv2d does not flip them).  ``sobel_h`` and ``sobel_v`` are
exactly the notebook's: ``sobel_h`` responds to horizontal edges (top minus bottom), ``sobel_v``
to vertical edges (left minus right); the Scharr and Prewitt pairs follow the same orientation.

>>> from convsweep.conv_core import kernels
>>> kernels.get("sobel_h")
array([[ 1.,  2.,  1.],
       [ 0.,  0.,  0.],
       [-1., -2., -1.]])
>>> kernels.parse_text("1,2,1; 0,0,0; -1,-2,-1").shape
(3, 3)
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

Kernel: TypeAlias = npt.NDArray[np.float64]

_binomial5 = np.array([1.0, 4.0, 6.0, 4.0, 1.0])

_KERNELS: dict[str, Kernel] = {
    "sobel_h": np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], dtype=np.float64),
    "sobel_v": np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float64),
    "scharr_h": np.array([[3, 10, 3], [0, 0, 0], [-3, -10, -3]], dtype=np.float64),
    "scharr_v": np.array([[3, 0, -3], [10, 0, -10], [3, 0, -3]], dtype=np.float64),
    "prewitt_h": np.array([[1, 1, 1], [0, 0, 0], [-1, -1, -1]], dtype=np.float64),
    "prewitt_v": np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]], dtype=np.float64),
    "laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64),
    "identity": np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float64),
    "box3": np.full((3, 3), 1.0 / 9.0),
    "gaussian3": np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=np.float64) / 16.0,
    "gaussian5": np.outer(_binomial5, _binomial5) / 256.0,
}
for _kernel in _KERNELS.values():
    _kernel.setflags(write=False)


def names() -> tuple[str, ...]:
    """Names of the built-in kernels, in a fixed order (edge pairs first)."""
    return tuple(_KERNELS)


def get(name: str) -> Kernel:
    """A fresh float64 copy of the named kernel (safe to modify)."""
    if not isinstance(name, str):
        raise TypeError(f"kernel name must be a str, got {name!r} ({type(name).__name__})")
    try:
        return _KERNELS[name].copy()
    except KeyError:
        raise ValueError(f"unknown kernel name={name!r}; known: {', '.join(_KERNELS)}") from None


def validate(kernel: npt.ArrayLike, name: str = "kernel") -> Kernel:
    """Check a user kernel and return it as a fresh, C-contiguous float64 array.

    The rule: 2-D, numeric, finite, not empty, and both sides odd (an even filter has no
    centre pixel to put the result on).

    Parameters
    ----------
    kernel : array_like, shape (kh, kw)
    name : str
        Argument name used in error messages.
    """
    try:
        array = np.array(kernel)
    except ValueError as error:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular 2-D array, got {kernel!r}") from error
    if array.dtype == np.bool_ or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise TypeError(f"{name} must hold real numbers (int or float), got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got {array.ndim}-D {name} of shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty: shape {array.shape}")
    if array.shape[0] % 2 == 0 or array.shape[1] % 2 == 0:
        raise ValueError(f"{name} sides must be odd (an even filter has no centre), got {name} of shape {array.shape}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite, got {name}={array.tolist()}")
    return np.ascontiguousarray(array)


def _number(token: str, where: str) -> float:
    try:
        if "/" in token:  # "1/16" reads better than 0.0625 for normalised kernels
            return float(Fraction(token))
        value = float(token)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"kernel text has a bad number {token!r} {where}") from None
    if not math.isfinite(value):
        raise ValueError(f"kernel text has a non-finite number {token!r} {where}")
    return value


def validate_channels(kernel: npt.ArrayLike, name: str = "kernel") -> Kernel:
    """A 2-D kernel, or a 3-D one ``(kh, kw, C)`` (one 2-D kernel per channel, channels last).

    Each channel's kernel follows :func:`validate`'s rule; returns a fresh C-contiguous float64 array.
    """
    try:
        array = np.array(kernel)
    except ValueError as error:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular 2-D or 3-D array, got {kernel!r}") from error
    if array.ndim == 3:
        if array.shape[2] == 0:
            raise ValueError(f"{name} has no channels: shape {array.shape}")
        slices = [validate(array[:, :, channel], f"{name}[:, :, {channel}]") for channel in range(array.shape[2])]
        return np.ascontiguousarray(np.stack(slices, axis=-1))
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (kh, kw) or 3-D (kh, kw, C), got {array.ndim}-D shape {array.shape}")
    return validate(array, name)


def parse_text(text: str) -> Kernel:
    """Parse ``"1,2,1;0,0,0;-1,-2,-1"``: rows split by ``;`` or newlines, values by ``,`` or spaces.

    Values may be fractions (``1/16``).  Returns a validated float64 array, shape (kh, kw).
    With ``|`` between channels (``"0,0,0;0,1,0;0,0,0 | ... | ..."``) it is a 3-D kernel
    (kh, kw, C): one 2-D kernel per channel, all of the same shape.
    """
    if not isinstance(text, str):
        raise TypeError(f"kernel text must be a str, got {text!r} ({type(text).__name__})")
    if "|" in text:
        parts = text.split("|")
        planes = [parse_text(part) for part in parts]
        shapes = {plane.shape for plane in planes}
        if len(shapes) != 1:
            raise ValueError(
                f"kernel text channels (split by '|') have different shapes {[p.shape for p in planes]}: {text!r}"
            )
        return validate_channels(np.stack(planes, axis=-1))
    lines = [line.strip() for line in text.replace("\n", ";").split(";")]
    lines = [line for line in lines if line]
    if not lines:
        raise ValueError(f"kernel text is empty: {text!r}")
    rows = []
    for row_index, line in enumerate(lines):
        tokens = line.replace(",", " ").split()
        rows.append([_number(token, f"in row {row_index}") for token in tokens])
    widths = {len(row) for row in rows}
    if len(widths) != 1:
        raise ValueError(f"kernel text rows have different lengths {[len(r) for r in rows]}: {text!r}")
    return validate(rows)


def parse_json(text: str | bytes) -> Kernel:
    """Parse a kernel from JSON text: ``[[1, 2, 1], ...]`` or ``{"kernel": [[...]]}``.

    The caller reads the file (the core does no I/O).  Returns a validated float64 array.
    """
    if not isinstance(text, (str, bytes)):
        raise TypeError(f"kernel JSON must be str or bytes, got {type(text).__name__}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"kernel JSON is not valid JSON: {error}") from None
    if isinstance(data, dict):
        if "kernel" not in data:
            raise ValueError(f"kernel JSON object needs a 'kernel' key, got keys {sorted(data)}")
        data = data["kernel"]
    if not isinstance(data, list) or not all(isinstance(row, list) for row in data):
        raise ValueError(f"kernel JSON must be a list of rows, got {data!r}")
    for row in data:
        for value in row:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"kernel JSON values must be numbers, got {value!r}")
    return validate(data)


def resolve(spec: str | npt.ArrayLike) -> Kernel:
    """A kernel from a name (``"sobel_h"``), kernel text (``"1,2,1;0,0,0;-1,-2,-1"``) or an array."""
    if isinstance(spec, str):
        if spec in _KERNELS:
            return get(spec)
        if any(separator in spec for separator in ",; \n|"):
            return parse_text(spec)
        raise ValueError(
            f"unknown kernel name={spec!r}; known: {', '.join(_KERNELS)}, or kernel text like '1,2,1;0,0,0;-1,-2,-1'"
        )
    return validate(spec)


def similarity(kernel: npt.ArrayLike, other: npt.ArrayLike) -> float:
    """Sign-invariant cosine similarity of two zero-mean kernels of one shape, in [0, 1].

    Each kernel's mean is removed first (a constant offset only brightens a map), then
    ``|<a, b>| / (|a| |b|)``: a kernel and its negation score 1 (``sobel_h`` and
    ``-sobel_h`` find the same edges with opposite signs).  A kernel that is constant
    (zero after its mean is removed) scores 0 against everything.

    Parameters
    ----------
    kernel, other : array_like, shape (kh, kw)
    """
    first = validate(kernel, "kernel")
    second = validate(other, "other")
    if first.shape != second.shape:
        raise ValueError(f"other must have the shape of kernel {first.shape}, got {second.shape}")
    first = first - first.mean()
    second = second - second.mean()
    norms = float(np.linalg.norm(first) * np.linalg.norm(second))
    if norms == 0.0:
        return 0.0
    return min(1.0, abs(float(np.sum(first * second))) / norms)


def nearest_named(kernel: npt.ArrayLike) -> tuple[str, float]:
    """The named kernel of ``kernel``'s shape most similar to it (:func:`similarity`), and the score.

    Ties go to the first name in :func:`names` (edge pairs first).

    Raises
    ------
    ValueError
        No named kernel has the shape of ``kernel``.
    """
    array = validate(kernel, "kernel")
    scores = {name: similarity(array, named) for name, named in _KERNELS.items() if named.shape == array.shape}
    if not scores:
        raise ValueError(f"kernel of shape {array.shape}: no named kernel has that shape")
    best = max(scores, key=lambda name: scores[name])  # max keeps the first of equal scores
    return best, scores[best]
