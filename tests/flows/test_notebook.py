"""The notebook flow equals a literal reimplementation of the notebook's loops."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from convsweep.flows.notebook import notebook
from convsweep.tasks.datasets.errors import DataMismatchError
from tests.helpers import api

SOBEL_H = [[1, 2, 1], [0, 0, 0], [-1, -2, -1]]
SOBEL_V = [[1, 0, -1], [2, 0, -2], [1, 0, -1]]


def notebook_by_hand(image: np.ndarray) -> dict[str, np.ndarray]:
    """The teaching notebook, loop for loop (clip above 255, keep negatives)."""
    resized = cv2.resize(image, (27, 27))
    maps = {}
    for name, kernel in (("horizontal", SOBEL_H), ("vertical", SOBEL_V)):
        result = np.zeros((25, 25))
        for x in range(1, 26):
            for y in range(1, 26):
                convolution = 0.0
                for i in range(3):
                    for j in range(3):
                        convolution += float(resized[x - 1 + i, y - 1 + j]) * kernel[i][j]
                if convolution > 255:
                    convolution = 255
                result[x - 1, y - 1] = convolution
        maps[name] = result
    sobel = np.sqrt(maps["horizontal"] ** 2 + maps["vertical"] ** 2)
    max_pool = np.zeros((12, 12))
    avg_pool = np.zeros((12, 12))
    for x in range(0, 24, 2):
        for y in range(0, 24, 2):
            window = [sobel[x + i, y + j] for i in range(2) for j in range(2)]
            max_pool[x // 2, y // 2] = max(window)
            avg_pool[x // 2, y // 2] = sum(window) / 4
    return {"resized": resized, **maps, "sobel": sobel, "max_pool": max_pool, "avg_pool": avg_pool}


@pytest.mark.parametrize("index", [0, 13])
def test_notebook_arrays_equal_the_notebook_loops(tmp_path, idx_folder, index):
    folder, images = idx_folder
    state = notebook(
        dataset=f"idx:{folder}", split="test", index=index, out=str(tmp_path), name="nb", return_state=True
    )
    result = state.result()
    # load, resize, 2 x convolve, combine, 2 x pool, write, publish: counted as the flow made them
    assert result["task_runs"] == 9
    assert len(api.task_runs(state.state_details.flow_run_id, result["task_runs"])) == 9
    expected = notebook_by_hand(images[index])
    with np.load(Path(result["folder"]) / "arrays.npz") as arrays:
        assert sorted(arrays.files) == sorted(expected)
        np.testing.assert_array_equal(arrays["resized"], expected["resized"])
        assert arrays["resized"].dtype == np.uint8
        np.testing.assert_array_equal(arrays["horizontal"], expected["horizontal"])
        np.testing.assert_array_equal(arrays["vertical"], expected["vertical"])
        for stage in ("sobel", "max_pool", "avg_pool"):
            np.testing.assert_allclose(arrays[stage], expected[stage], rtol=1e-6)
    # The clipping is real on this image: the step edge gives responses above 255.
    assert expected["horizontal"].max() == 255 or expected["vertical"].max() == 255
    for stage in ("resized", "horizontal", "vertical", "sobel", "max_pool", "avg_pool", "figure"):
        assert (tmp_path / "nb" / f"{stage}.png").stat().st_size > 0


def test_notebook_index_out_of_range_names_the_value(tmp_path, idx_folder):
    # Found once the run has started: a data error (a Failed run, exit 1 on the command line).
    folder, _ = idx_folder
    with pytest.raises(DataMismatchError, match="index=40 is out of range"):
        notebook(dataset=f"idx:{folder}", split="test", index=40, out=str(tmp_path), name="nb")
    assert not (tmp_path / "nb").exists()
