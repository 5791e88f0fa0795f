"""Pictures and tables sized for a browser: PNG data URIs, map cells, the columns that vary (no Prefect)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np

from convsweep.tasks.io import files

# A sample map in the UI grid is enlarged by an integer factor to at least this many pixels
# (a 28x28 input to 112, a 13x13 map to 104).
MAP_CELL_PIXELS = 100


def _uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def _read_image(path: str | Path) -> np.ndarray:
    return _decode(Path(path).read_bytes(), path)


def _decode(data: bytes, path: str | Path) -> np.ndarray:
    import cv2

    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise RuntimeError(f"could not read {path} as an image")
    return image


def png_data_uri(path: str | Path, *, max_width: int) -> tuple[str, int, int]:
    """A picture file as a PNG data URI at most ``max_width`` pixels wide; returns (uri, width, height).

    A PNG no wider is embedded as it is (``convsweep.tasks.io.files`` writes compact PNGs); wider pictures
    are downscaled with area averaging (OpenCV ``INTER_AREA``) and re-encoded, as 8-bit gray
    when the picture is gray.
    """
    import cv2

    if max_width < 1:
        raise ValueError(f"max_width={max_width} must be >= 1")
    data = Path(path).read_bytes()
    size = _png_size(data)
    if size is not None and size[1] <= max_width:  # our own compact PNG, small enough: as it is
        return _uri(data), size[1], size[0]
    image = files.compact_pixels(_decode(data, path))
    height, width = image.shape[:2]
    if width > max_width:
        height, width = max(1, round(height * max_width / width)), max_width
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return _uri(files.encode_png(image)), width, height


def _png_size(data: bytes) -> tuple[int, int] | None:
    """(height, width) from a PNG's header, or None when ``data`` is not a PNG."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    return int.from_bytes(data[20:24], "big"), int.from_bytes(data[16:20], "big")


def map_cell_uri(path: str | Path, *, cell: int = MAP_CELL_PIXELS) -> tuple[str, int, int, int, int]:
    """A small gray map as a PNG data URI, enlarged by an integer factor to at least ``cell`` pixels.

    Nearest-neighbour keeps every map pixel a sharp square (no smoothing that would
    invent values); a map larger than ``2 * cell`` is downscaled to ``cell`` instead.

    Returns
    -------
    tuple
        (uri, shown height, shown width, true height, true width).
    """
    import cv2

    if cell < 1:
        raise ValueError(f"cell={cell} must be >= 1")
    image = files.compact_pixels(_read_image(path))
    height, width = image.shape[:2]
    longest = max(height, width)
    if longest > 2 * cell:
        scale = cell / longest
        shown = cv2.resize(
            image, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
        )
    else:
        factor = -(-cell // longest)  # the smallest that reaches ``cell``: shown size in [cell, cell + longest)
        shown = cv2.resize(image, (width * factor, height * factor), interpolation=cv2.INTER_NEAREST)
    return _uri(files.encode_png(shown)), shown.shape[0], shown.shape[1], height, width


def split_constant_columns(
    rows: list[dict[str, Any]], *, leading: list[str], omit: tuple[str, ...] = ()
) -> tuple[list[str], dict[str, Any]]:
    """The columns whose value changes across ``rows``, and the constant ones with their value.

    Varying columns come in the order of ``leading`` first, then in the rows' own
    order; ``omit`` names columns left out of both (``map``, a copy of ``kernel``).

    Returns
    -------
    tuple
        (varying column names, {constant column: its one value}).
    """
    if not rows:
        return [], {}
    columns = [column for column in rows[0] if column not in omit]
    unknown = [column for column in leading if column not in columns]
    if unknown:
        raise ValueError(f"leading={unknown!r}: no such column (columns: {', '.join(columns)})")
    varying: list[str] = []
    constant: dict[str, Any] = {}
    for column in dict.fromkeys([*leading, *columns]):
        if len({repr(row[column]) for row in rows}) > 1:
            varying.append(column)
        else:
            constant[column] = rows[0][column]
    return varying, constant
