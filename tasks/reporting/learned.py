"""learned.csv and the learned-vs-designed panel (learned.png), as data and figures (no Prefect)."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np

from convsweep.conv_core import kernels as kernel_library
from convsweep.tasks.analysis import learned
from convsweep.tasks.chunk.maps import compute_maps
from convsweep.tasks.model import ConvSetting
from convsweep.tasks.model.records import LearnedRecord, LearnedRow
from convsweep.tasks.reporting import render

CSV_FILE = "learned.csv"


PANEL_FILE = "learned.png"


CSV_COLUMNS = ("kernel", "nearest", "similarity", "norm")


# Samples drawn in the panel (the first of the sweep's samples): a row per kernel stays readable.
PANEL_SAMPLES = 3


Kernels = dict[str, list[list[float]]]


def learned_kernels(kernels: Kernels) -> Kernels:
    """The learned ones (``learned_N``, ``model_N``) of a sweep's kernels, in order."""
    return {name: matrix for name, matrix in kernels.items() if learned.is_learned(name)}


def learned_rows(kernels: Kernels) -> list[LearnedRow]:
    """learned.csv's rows: each learned kernel, its nearest designed kernel, the similarity and its norm."""
    return [
        LearnedRow(kernel=row.kernel, nearest=row.nearest, similarity=round(row.similarity, 6), norm=round(row.norm, 6))
        for row in learned.nearest_designed(learned_kernels(kernels))
    ]


def learned_files(record: LearnedRecord | None) -> list[str]:
    """The files of ``write-learned`` and ``train-model`` (for the manifest): none without learned kernels."""
    if record is None:
        return []
    paths = [record.csv, record.panel]
    if record.training is not None:
        paths += [record.training.model, record.training.curve]
    return paths


def csv_text(rows: list[LearnedRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([row.kernel, row.nearest, f"{row.similarity:.6f}", f"{row.norm:.6f}"])
    return buffer.getvalue()


def enlarged_kernel(matrix: Any, *, side: int) -> np.ndarray:
    """A kernel as a signed gray picture (zero mid-gray, ``±max|k|`` black/white), each weight a block of pixels.

    The blocks are ``side // kh`` pixels (at least 1, nearest-neighbour): a 3×3 kernel beside
    28×28 maps is 27×27.
    """
    array = np.asarray(matrix, dtype=np.float64)
    gray, _ = render.signed_to_gray(array)
    factor = max(1, side // max(array.shape))
    return np.kron(gray, np.ones((factor, factor), dtype=np.uint8))


def matching_sign(kernel: Any, designed: Any) -> float:
    """+1 or -1: the sign that turns a zero-sum ``designed`` kernel towards ``kernel`` (their dot product's).

    +1 on a tie, and always for a designed kernel that does not sum to zero (a smoothing kernel):
    negated, its maps would be the image inverted, which is not what the similarity compares.
    """
    first = np.asarray(kernel, dtype=np.float64)
    second = np.asarray(designed, dtype=np.float64)
    if abs(float(second.sum())) > 1e-9 * float(np.abs(second).sum()):
        return 1.0
    dot = float(np.sum((first - first.mean()) * (second - second.mean())))
    return -1.0 if dot < 0 else 1.0


def panel_rows(
    rows: list[LearnedRow], kernels: Kernels, images: np.ndarray, *, conv: ConvSetting
) -> list[tuple[str, list[tuple[str, np.ndarray]]]]:
    """The panel's rows (``render.contact_sheet``'s): per learned kernel, it and its maps, then the nearest designed one and its maps.

    A zero-sum designed kernel is drawn with the sign that matches the learned one (``-sobel_v``
    for a kernel that finds edges the other way round), so the two rows of maps compare by eye.
    """
    designed: Kernels = {}
    for row in rows:
        named = kernel_library.get(row.nearest)
        designed[row.kernel] = (matching_sign(kernels[row.kernel], named) * named).tolist()
    _, learned_maps = compute_maps(images, conv=conv, kernels={row.kernel: kernels[row.kernel] for row in rows})
    _, designed_maps = compute_maps(images, conv=conv, kernels=designed)
    side = max(learned_maps[rows[0].kernel].shape[1:]) if rows else 1
    sheet = []
    for row in rows:
        sign = "−" if matching_sign(kernels[row.kernel], kernel_library.get(row.nearest)) < 0 else ""
        cells = [("learned kernel", enlarged_kernel(kernels[row.kernel], side=side))]
        cells += [
            (f"its map #{index}", render.signed_to_gray(image)[0])
            for index, image in enumerate(learned_maps[row.kernel])
        ]
        cells.append(("nearest designed (sign matched)", enlarged_kernel(designed[row.kernel], side=side)))
        cells += [
            (f"its map #{index}", render.signed_to_gray(image)[0])
            for index, image in enumerate(designed_maps[row.kernel])
        ]
        label = learned.nearest_text(row.nearest, row.similarity, sign=sign).replace(" (", "\n(")
        sheet.append((f"{row.kernel}\n{label}\n{row.similarity:.2f}", cells))
    return sheet


def kernel_sizes(rows: list[LearnedRow], kernels: Kernels, *, samples: int) -> dict[int, str]:
    """The panel's size line for its two kernel columns (``render.contact_sheet``'s ``sizes``): the kernels' real sizes.

    The kernels are drawn enlarged to the maps' size, so the picture's own size (24×24) would
    mislead; a column whose kernels differ in size lists each size once (``3×3 / 5×5``).
    """

    def shapes(matrices: list[Any]) -> str:
        sizes = dict.fromkeys("×".join(map(str, np.shape(matrix))) for matrix in matrices)
        return " / ".join(sizes) + " weights"

    return {
        0: shapes([kernels[row.kernel] for row in rows]),
        1 + samples: shapes([kernel_library.get(row.nearest) for row in rows]),
    }
