"""The sweep flow with the measures: shift sensitivity and the probe in sizes.csv, cached per task run."""

from __future__ import annotations

import pandas as pd

from convsweep.tasks.reporting.rows import PROBE_COLUMNS, SHIFT_COLUMNS
from tests.flows.test_sweep import run

MEASURED = dict(
    name="measures", strides=[2], paddings=["valid"], shift_images=12, probe=True, probe_train=24, samples=[0]
)


def test_sweep_with_measures_writes_their_columns_and_a_warm_run_retrains_nothing(tmp_path, idx_folder):
    folder, _ = idx_folder
    first, states_first = run(tmp_path, folder, **MEASURED)
    frame = pd.read_csv(first["csv"])
    assert set(SHIFT_COLUMNS) | set(PROBE_COLUMNS) <= set(frame.columns)
    assert len(frame) == 3 * 2  # maps x pool settings
    # One probe per configuration, on its magnitude row only: no map row reads as having its own accuracy.
    probed = frame[frame["probe_accuracy"].notna()]
    assert list(probed["map"]) == ["sobel", "sobel"] and probed["pool_mode"].nunique() == 2
    assert frame.loc[frame["map"] != "sobel", list(PROBE_COLUMNS)].isna().all().all()
    assert set(probed["probe_train_images"]) == {24} and set(probed["probe_test_images"]) == {8}  # 40 images, 20% test
    assert set(frame["shift_images"]) == {12}
    assert frame["shift_right"].between(0, 2).all() and frame["shift_jump"].notna().all()
    assert (tmp_path / "out" / "measures" / "measures.png").is_file()
    names = [name for name in states_first if name.startswith(("probe-", "shift-"))]
    assert len(names) == 2 + 1  # a probe per configuration, a shift measure per conv setting
    assert {states_first[name] for name in names} == {"Completed"}

    second, states_second = run(tmp_path, folder, **MEASURED)
    assert {states_second[name] for name in names} == {"Cached"}
    assert pd.read_csv(second["csv"]).equals(frame)


def test_sweep_without_measures_has_no_measure_columns(tmp_path, idx_folder):
    folder, _ = idx_folder
    result, states = run(tmp_path, folder, name="measures", strides=[1], paddings=["valid"], samples=[])
    columns = set(pd.read_csv(result["csv"]).columns)
    assert not columns & (set(SHIFT_COLUMNS) | set(PROBE_COLUMNS))
    assert not [name for name in states if name.startswith(("probe-", "shift-"))]
    assert not (tmp_path / "out" / "measures" / "measures.png").exists()


def test_sweep_probe_with_limit_uses_at_most_that_many_images(tmp_path, idx_folder):
    folder, _ = idx_folder
    result, _ = run(tmp_path, folder, **{**MEASURED, "shift_images": 0, "limit": 6})
    probed = pd.read_csv(result["csv"]).dropna(subset=["probe_accuracy"])
    # --limit 6: at most 6 train images (not probe_train=24) and 6 of the 8 test images.
    assert set(probed["probe_train_images"]) == {6} and set(probed["probe_test_images"]) == {6}
