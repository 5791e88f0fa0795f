"""convsweep.api: the Python API runs the CLI's flows and returns typed results; bad input raises ValueError."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

import convsweep
from tests.helpers import api


def test_sweep_api_returns_the_rows_and_the_files(tmp_path, idx_folder, prefect_api):
    result = convsweep.sweep(
        dataset=f"idx:{idx_folder}",
        strides=[1, 2],
        paddings="valid",
        samples=[0],
        out=str(tmp_path / "out"),
        name="from-python",
        cache_dir=str(tmp_path / "cache"),
    )
    assert isinstance(result, convsweep.SweepResult)
    assert result.folder == tmp_path / "out" / "from-python"
    pd.testing.assert_frame_equal(result.rows, pd.read_csv(result.csv))
    assert sorted(result.rows["stride"].unique()) == [1, 2]
    assert {result.html.name, result.report.name, result.summary.name} == {"report.html", "report.md", "summary.png"}
    assert all(path.is_file() for path in (result.csv, result.html, result.report, result.summary, result.manifest))
    assert result.n_images == 20 and result.cached_task_runs == 0
    # Recorded like a CLI run, tagged as started from Python.
    flow_run = api.flow_run_writing_to(str(tmp_path / "out"))
    assert flow_run.state.name == "Completed" and "started-by:api" in flow_run.tags
    again = convsweep.sweep(
        dataset=f"idx:{idx_folder}",
        strides="1,2",
        paddings=["valid"],
        samples=[0],
        out=str(tmp_path / "out"),
        name="from-python",
        cache_dir=str(tmp_path / "cache"),
    )
    assert again.cached_task_runs == again.task_runs - 3  # load, artifacts and manifest always run
    pd.testing.assert_frame_equal(
        again.rows.drop(columns="seconds", errors="ignore"), result.rows.drop(columns="seconds", errors="ignore")
    )


@pytest.mark.parametrize(
    ("parameters", "message"),
    [({"strides": [0]}, "strides=0"), ({"kernels": "sobel_h,nope"}, "'nope'"), ({"name": "../up"}, "name='../up'")],
)
def test_sweep_api_bad_input_raises_a_one_line_value_error(tmp_path, idx_folder, parameters, message):
    with pytest.raises(ValueError, match=message) as raised:
        convsweep.sweep(dataset=f"idx:{idx_folder}", out=str(tmp_path / "out"), **parameters)
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "out").exists()


def test_python_m_convsweep_prints_the_version():
    done = subprocess.run([sys.executable, "-m", "convsweep", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"convsweep {convsweep.__version__}"
