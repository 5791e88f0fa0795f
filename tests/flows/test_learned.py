"""The sweep flow with learned kernels: trained on generated stripes, cached, saved, read back through ``model``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tests.flows.test_sweep import run
from tests.helpers.idx import write_idx_folder
from tests.helpers.stripes import stripes

LEARNED = dict(
    name="learned",  # its own: the artifact keys are by sweep name (test_sweep reads t-sizes)
    strides=[1],
    paddings=["valid"],
    pool_modes=["max"],
    samples=[0, 1],
    chunk_size=200,
    learned_filters=8,
    learned_epochs=2,
    learned_seed=0,
)
EDGE_FAMILIES = ("sobel", "scharr", "prewitt")


@pytest.fixture(scope="module")
def stripes_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stripes") / "idx"
    return write_idx_folder(folder, train=stripes(4000, seed=0), test=stripes(200, seed=1))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, stripes_folder):
    """One sweep that trains (the module's other tests rerun it or read what it wrote)."""
    tmp_path = tmp_path_factory.mktemp("learned")
    result, states = run(tmp_path, stripes_folder, **LEARNED)
    return tmp_path, result, states


def state_of(states: dict[str, str], task: str) -> str | None:
    """The state of the one task run of ``task`` (run names start with the task's name), None if none ran."""
    found = [state for name, state in states.items() if name.startswith(task)]
    assert len(found) <= 1, found
    return found[0] if found else None


def read_learned_csv(folder: Path) -> list[dict[str, str]]:
    with open(folder / "learned.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_learned_kernels_on_stripes_are_near_a_horizontal_and_a_vertical_edge_kernel(trained):
    tmp_path, result, states = trained
    assert state_of(states, "train-model") == "Completed"
    rows = read_learned_csv(Path(result["output_dir"]))
    assert [row["kernel"] for row in rows] == [f"learned_{index}" for index in range(8)]
    nearest = {row["nearest"] for row in rows}
    assert nearest & {f"{family}_h" for family in EDGE_FAMILIES}, rows
    assert nearest & {f"{family}_v" for family in EDGE_FAMILIES}, rows
    assert all(0.0 <= float(row["similarity"]) <= 1.0 and float(row["norm"]) > 0 for row in rows)


def test_learned_kernels_are_swept_like_any_kernel(trained):
    tmp_path, result, states = trained
    import pandas as pd

    sizes = pd.read_csv(result["csv"])
    assert {f"learned_{index}" for index in range(8)} <= set(sizes["map"])
    learned_rows = sizes[sizes["map"] == "learned_0"].iloc[0]
    assert (learned_rows["conv_h"], learned_rows["pool_h"]) == (14, 7)  # 16x16 valid 3x3, then max 2x2
    folder = Path(result["output_dir"])
    manifest = {entry["path"] for entry in json.loads((folder / "manifest.json").read_text())["files"]}
    assert {"model.keras", "training.png", "learned.csv", "learned.png"} <= manifest
    assert any("learned_0" in path for path in manifest if path.startswith("samples/"))
    html = (folder / "report.html").read_text()
    assert "Learned kernels beside designed ones" in html and "test accuracy" in html


def test_learned_rerun_skips_training(trained, stripes_folder):
    tmp_path, first, _ = trained
    again, states = run(tmp_path, stripes_folder, **LEARNED)
    assert state_of(states, "train-model") == "Cached"
    assert state_of(states, "write-learned") == "Cached"
    assert (Path(again["output_dir"]) / "learned.csv").read_text() == (
        Path(first["output_dir"]) / "learned.csv"
    ).read_text()


def test_saved_model_round_trips_through_model(trained, stripes_folder, tmp_path):
    _, first, _ = trained
    model_path = Path(first["output_dir"]) / "model.keras"
    result, states = run(
        tmp_path, stripes_folder, **{**LEARNED, "learned_filters": 0, "model": str(model_path), "kernels": []}
    )
    assert state_of(states, "train-model") is None
    rows = read_learned_csv(Path(result["output_dir"]))
    assert [row["kernel"] for row in rows] == [f"model_{index}" for index in range(8)]
    trained_rows = read_learned_csv(Path(first["output_dir"]))
    assert [(row["nearest"], row["similarity"]) for row in rows] == [
        (row["nearest"], row["similarity"]) for row in trained_rows
    ]
    import pandas as pd

    by_map = pd.read_csv(result["csv"]).set_index("map")
    trained_by_map = pd.read_csv(first["csv"]).set_index("map")
    for index in range(8):
        np.testing.assert_allclose(
            by_map.loc[f"model_{index}", "mean"], trained_by_map.loc[f"learned_{index}", "mean"], rtol=1e-12
        )
