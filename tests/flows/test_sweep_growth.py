"""A sweep over data that grew recomputes only the new chunks, and its table equals a cold run's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from convsweep.tasks.io import files
from tests.flows.conftest import analytic_images
from tests.flows.test_sweep import run
from tests.helpers.idx import write_idx_images, write_idx_labels

N_IMAGES = 200
CHUNK_SIZE = 20  # 200 images -> 10 full chunks; 1 % more -> one new chunk 200-202
GROWTH = dict(strides=[1, 2], paddings=["valid"], pool_modes=["max"], pool_sizes=[2], samples=[0, 3])


def write_idx_dataset(folder: Path, images: np.ndarray) -> None:
    write_idx_images(folder / "t10k-images-idx3-ubyte.gz", images)
    write_idx_labels(folder / "t10k-labels-idx1-ubyte.gz", np.arange(len(images), dtype=np.uint8) % 10)


def write_image_folder(folder: Path, images: np.ndarray) -> None:
    for index, image in enumerate(images):  # names sort by index, so new images come last
        path = folder / f"img-{index:05d}.png"
        if not path.exists():
            files.write_png(path, image)


WRITERS = {"idx": write_idx_dataset, "images": write_image_folder}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["idx", "images"])
def test_sweep_after_appending_one_percent_runs_only_the_new_chunk(tmp_path, kind):
    images = analytic_images(N_IMAGES + N_IMAGES // 100, seed=11)
    folder = tmp_path / "data"
    folder.mkdir()
    write = WRITERS[kind]
    parameters = dict(dataset=f"{kind}:{folder}", chunk_size=CHUNK_SIZE, **GROWTH)

    write(folder, images[:N_IMAGES])
    run(tmp_path, folder, **parameters)
    write(folder, images)  # 1 % appended
    grown, states = run(tmp_path, folder, **parameters)

    chunk_states = {name: state for name, state in states.items() if name.startswith("chunk")}
    assert len(chunk_states) == 2 * 11
    for name, state in chunk_states.items():
        assert state == ("Completed" if name.endswith(f"-{N_IMAGES}-{N_IMAGES + 2}") else "Cached"), name
    assert {state for name, state in states.items() if name.startswith("samples")} == {"Cached"}

    cold_dir = tmp_path / "cold"
    cold_dir.mkdir()
    cold_parameters = dict(parameters, out=str(cold_dir / "out"), cache_dir=str(cold_dir / "cache"))
    cold, cold_states = run(cold_dir, folder, **cold_parameters)
    assert "Cached" not in {state for name, state in cold_states.items() if name.startswith("chunk")}
    grown_table = pd.read_csv(grown["csv"]).drop(columns=["compute_seconds"])
    cold_table = pd.read_csv(cold["csv"]).drop(columns=["compute_seconds"])
    assert grown_table["n_images"].unique().tolist() == [N_IMAGES + 2]
    pd.testing.assert_frame_equal(grown_table, cold_table, check_exact=True)
