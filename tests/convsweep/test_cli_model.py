"""`convsweep sweep --model PATH.keras`: every refusal is one line, exit 2, before any run, nothing written."""

from __future__ import annotations

import pytest

from convsweep.tasks.analysis import learned
from tests.convsweep.conftest import run_in_process
from tests.helpers.idx import make_split, write_idx_folder


def keras():
    return learned.import_keras()


def lambda_model():
    k = keras()
    inputs = k.Input(shape=(8, 8, 1))
    outputs = k.layers.Conv2D(2, 3)(k.layers.Lambda(lambda x: x * 2, name="double")(inputs))
    return k.Model(inputs, outputs)


MODELS = {
    "lambda": (lambda_model, "cannot be loaded in Keras safe mode"),
    "no-conv": (
        lambda: keras().Sequential([keras().Input(shape=(8, 8, 1)), keras().layers.Flatten(), keras().layers.Dense(3)]),
        "has no Conv2D layer",
    ),
    "rgb": (
        lambda: keras().Sequential([keras().Input(shape=(8, 8, 3)), keras().layers.Conv2D(2, 3)]),
        "need in_channels=1",
    ),
    "too-large": (
        lambda: keras().Sequential([keras().Input(shape=(40, 40, 1)), keras().layers.Conv2D(2, 31)]),
        "has 31x31 kernels, larger than the 28x28 images",
    ),
}


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_cli_sweep_model_refused_in_one_line_exit_2_nothing_written(capsys, tmp_path, kind):
    build, says = MODELS[kind]
    path = tmp_path / f"{kind}.keras"
    build().save(path)
    data = write_idx_folder(tmp_path / "idx", test=make_split(4, seed=1))
    out = tmp_path / "out"
    code, stdout, stderr = run_in_process(
        capsys,
        "sweep",
        "--dataset",
        f"idx:{data}",
        "--model",
        str(path),
        "--out",
        str(out),
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"convsweep: error: model={str(path)!r}: ") and says in lines[0]
    assert not out.exists() and not (tmp_path / "cache").exists()


def test_cli_sweep_learned_filters_out_of_range_exit_2(capsys, tmp_path):
    code, _, stderr = run_in_process(capsys, "sweep", "--learned-filters", "65", "--out", str(tmp_path / "out"))
    assert code == 2 and stderr.strip() == "convsweep: error: learned_filters=65 is more than 64"
    assert not (tmp_path / "out").exists()
