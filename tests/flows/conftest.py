"""Flow tests run against the session's Prefect server (``tests/conftest.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.idx import write_idx_images, write_idx_labels


@pytest.fixture(scope="session", autouse=True)
def _flows_report_to_the_session_server(prefect_api):
    yield prefect_api


def analytic_images(count: int, size: int = 28, seed: int = 7) -> np.ndarray:
    """Edges and impulses on a seeded-noise background, uint8 (count, size, size)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 40, size=(count, size, size), dtype=np.uint8)
    for index in range(count):
        column = 4 + index % (size - 8)
        images[index, :, column : column + 6] = 200  # a bright vertical bar: a rising and a falling edge
        images[index, (index * 5) % size, (index * 3) % size] = 255  # an impulse
    return images


@pytest.fixture
def idx_folder(tmp_path):
    """A folder with t10k IDX files of 40 analytic 28x28 images (gzipped), as for ``idx:PATH``."""
    folder = tmp_path / "idx"
    folder.mkdir()
    images = analytic_images(40)
    write_idx_images(folder / "t10k-images-idx3-ubyte.gz", images)
    write_idx_labels(folder / "t10k-labels-idx1-ubyte.gz", np.arange(40, dtype=np.uint8) % 10)
    return folder, images
