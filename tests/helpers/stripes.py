"""Two classes a first conv layer can tell apart by edge direction: horizontal (0) and vertical (1) stripes."""

from __future__ import annotations

import numpy as np


def stripes(count: int, *, size: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(images (count, size, size) uint8, labels (count,) uint8): stripes of a seeded period (3-5) and phase.

    Label 0: horizontal stripes (rows alternate, so horizontal edges); label 1: vertical stripes.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, count).astype(np.uint8)
    images = np.zeros((count, size, size), dtype=np.uint8)
    for index, label in enumerate(labels):
        period = int(rng.integers(3, 6))
        phase = int(rng.integers(0, period))
        line = np.where((np.arange(size) + phase) % period < period // 2, 255, 0).astype(np.uint8)
        images[index] = line[:, np.newaxis] if label == 0 else line[np.newaxis, :]
    return images, labels
