"""`convsweep sweep` bad input refused by the preflight, in this process: exit 2, one line, nothing written, no run.

Each case checks the README's bad-input promise: exactly one stderr line, exit 2, no output or
cache folder written (no ``.cache/datasets/index.json``), and the flow never started (``run_sweep``
is replaced by a function that fails the test).  One subprocess test per exit code is in
``test_cli_run.py``.
"""

from __future__ import annotations

import warnings

import pytest

from convsweep import cli, flow_runs
from convsweep.options import sweep_parameters
from tests.convsweep.conftest import run_in_process


@pytest.fixture
def no_run(monkeypatch):
    def refuse_to_run(*args, **kwargs):
        raise AssertionError("the flow was started for bad input")

    monkeypatch.setattr(flow_runs, "run_sweep", refuse_to_run)


def refused(capsys, tmp_path, *args: str) -> str:
    """Run ``convsweep sweep ARGS``; assert the bad-input promise; return the one error line."""
    before = sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*"))
    code, out, err = run_in_process(capsys, "sweep", *args)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("convsweep: error: "), err
    assert sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*")) == before  # nothing written
    return lines[0]


@pytest.mark.parametrize(
    ("make", "option", "expected"),
    [
        (lambda tmp: (tmp / "f").write_text("x") and tmp / "f", "--out", "not a writable folder (.*/f is a file)"),
        (lambda tmp: (tmp / "f").write_text("x") and tmp / "f" / "sub", "--out", "on the way to .*, is a file"),
        (lambda tmp: "/proc/nope", "--out", "not a writable folder \\(/proc"),
        (lambda tmp: (tmp / "f").write_text("x") and tmp / "f", "--cache-dir", "not a writable folder"),
    ],
    ids=["out-file", "out-under-a-file", "out-proc", "cache-dir-file"],
)
def test_sweep_unwritable_folder_exits_2_before_the_run(
    tmp_path, idx_folder, capsys, monkeypatch, no_run, make, option, expected
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CONVSWEEP_CACHE_DIR", raising=False)
    path = str(make(tmp_path))
    other = [] if option == "--out" else ["--out", str(tmp_path / "out")]
    line = refused(capsys, tmp_path, "--dataset", f"idx:{idx_folder}", option, path, *other)
    assert f"{option} {path}" in line
    import re

    assert re.search(expected, line), line


@pytest.mark.parametrize(
    ("options", "expected", "absent"),
    [
        (["--resize", "100000", "--limit", "1"], "too small for 28x28 images resized to 100000x100000", None),
        (["--strides", "10000"], "pool window max2-s2-pvalid on the 1x1 map of kernel sobel_h", "kernel_size=2"),
        (["--resize", "1"], "(resized to 1x1): kernel sobel_h (3x3): kernel_size=3", None),
        (["--resize", "3000", "--memory-budget", "1"], "memory_budget=1 MB is too small for 28x28 images", None),
        (["--resize", "3000", "--memory-budget", "100", "--pool-ceil-mode"], "pool_ceil_mode=True with 28x28", None),
    ],
    ids=["resize-huge", "stride-huge", "resize-1", "memory-budget", "ceil-mode-with-bands"],
)
def test_sweep_shape_the_images_cannot_take_exits_2_naming_the_culprit(
    tmp_path, idx_folder, capsys, monkeypatch, no_run, options, expected, absent
):
    monkeypatch.chdir(tmp_path)
    line = refused(capsys, tmp_path, "--dataset", f"idx:{idx_folder}", *options, "--out", str(tmp_path / "out"))
    assert expected in line
    assert absent is None or absent not in line


def test_sweep_duplicate_kernel_name_exits_2(tmp_path, idx_folder, capsys, monkeypatch, no_run):
    monkeypatch.chdir(tmp_path)
    line = refused(
        capsys,
        tmp_path,
        "--dataset",
        f"idx:{idx_folder}",
        "--kernel",
        "x=1,0,0;0,1,0;0,0,1",
        "--kernel",
        "x=1,1,1;1,1,1;1,1,1",
    )
    assert "--kernel x= given twice" in line


@pytest.mark.parametrize(
    ("write", "expected"),
    [
        (lambda path: path.mkdir(), "is a folder, not a YAML or JSON file"),
        (lambda path: path.write_bytes(b"\xff\xfe strides: 1\n"), "is not UTF-8 text (byte 0xff at offset 0)"),
        (lambda path: path.write_text("strides: 1\nstrides: 2\n"), "key 'strides' is given twice (line 2)"),
    ],
    ids=["folder", "not-utf8", "duplicate-key"],
)
def test_sweep_config_file_errors_name_the_file(tmp_path, idx_folder, capsys, monkeypatch, no_run, write, expected):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "saved.yaml"
    write(config)
    line = refused(capsys, tmp_path, "--config", str(config), "--dataset", f"idx:{idx_folder}")
    assert str(config) in line and expected in line


def test_sweep_images_spec_naming_a_file_says_it_is_a_file(tmp_path, capsys, monkeypatch, no_run):
    monkeypatch.chdir(tmp_path)
    picture = tmp_path / "one.png"
    picture.write_bytes(b"\x89PNG")
    line = refused(capsys, tmp_path, "--dataset", f"images:{picture}")
    assert f"{picture} is a file, not a folder" in line


def test_sweep_custom_kernels_are_added_to_the_default_pair(tmp_path):
    from convsweep.tasks.model import load_config_file

    given = sweep_parameters({"custom_kernels": {"ridge": "-1,2,-1;-1,2,-1;-1,2,-1"}, "config": None})
    assert list(given.kernel_matrices) == ["sobel_h", "sobel_v", "ridge"]
    config = tmp_path / "k.yaml"
    config.write_text("custom_kernels:\n  ridge: -1,2,-1;-1,2,-1;-1,2,-1\n")
    from_file = sweep_parameters({"config": config})
    assert list(from_file.kernel_matrices) == ["sobel_h", "sobel_v", "ridge"]
    assert load_config_file(config) == {"custom_kernels": {"ridge": "-1,2,-1;-1,2,-1;-1,2,-1"}}
    only = sweep_parameters({"kernels": "", "custom_kernels": {"ridge": "1,0,0;0,1,0;0,0,1"}, "config": None})
    assert list(only.kernel_matrices) == ["ridge"]  # --kernels '' keeps only the custom one


def test_sweep_empty_config_warns_that_the_defaults_run(tmp_path, capsys):
    config = tmp_path / "empty.yaml"
    config.write_text("# nothing yet\n")
    assert sweep_parameters({"config": config}) == sweep_parameters({"config": None})
    err = capsys.readouterr().err
    assert err == f"convsweep: warning: config {config} holds no sweep parameter: the defaults run\n"


def test_project_warnings_are_one_line_others_python_s_own(capsys):
    import convsweep.tasks.datasets.image_folder as image_folder

    cli._show_warning(UserWarning("a.png: 16-bit image\n scaled"), UserWarning, image_folder.__file__, 10)
    cli._show_warning(UserWarning("third party"), UserWarning, "/usr/lib/python3/site.py", 3)
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "convsweep: warning: a.png: 16-bit image scaled"
    assert not any(line.startswith("convsweep: warning: third party") for line in err)  # Python's own format


def test_sweep_16_bit_warning_is_printed_as_one_convsweep_line(tmp_path, capsys):
    # The warning as image_folder raises it, shown through the CLI's hook.
    import convsweep.tasks.datasets.image_folder as image_folder

    previous = warnings.showwarning
    warnings.showwarning = cli._show_warning
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = cli._show_warning
            warnings.warn_explicit("x.png: 16-bit image scaled to 8 bits", UserWarning, image_folder.__file__, 1)
    finally:
        warnings.showwarning = previous
    assert capsys.readouterr().err == "convsweep: warning: x.png: 16-bit image scaled to 8 bits\n"


@pytest.mark.parametrize(
    ("csv", "expected"),
    [
        (lambda tmp: tmp, "is a folder: give a file name"),
        (lambda tmp: tmp / "no" / "such" / "x.csv", "does not exist (it is not created)"),
    ],
    ids=["folder", "missing-parent"],
)
def test_sizes_csv_to_a_folder_or_a_missing_folder_exits_2_creating_nothing(tmp_path, capsys, csv, expected):
    path = csv(tmp_path)
    code, out, err = run_in_process(capsys, "sizes", "--csv", str(path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"convsweep: error: --csv {path}") and expected in err
    assert list(tmp_path.iterdir()) == []


def test_sizes_table_fits_columns_80(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    cli.main(["sizes", "-n", "28,27", "-k", "3,5", "-p", "valid,same,0:2"])  # returns: exit 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "valid" in out and "same" in out


def _one_class_folder(root):
    import cv2
    import numpy as np

    (root / "cat").mkdir(parents=True)
    for index in range(5):
        cv2.imwrite(str(root / "cat" / f"{index}.png"), np.full((12, 12), index * 40, np.uint8))
    return root


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--learned-filters", "2"], "learned_filters: .* one class only \\(cat\\): training \\(--learned-filters\\)"),
        (["--probe"], "probe: .* one class only \\(cat\\): a linear probe \\(--probe\\) needs at least two"),
    ],
    ids=["learned", "probe"],
)
def test_sweep_one_class_folder_with_learned_or_probe_exits_2(tmp_path, capsys, monkeypatch, no_run, options, expected):
    # Before: --learned-filters exited 0 with random kernels and test accuracy 0.0000; --probe
    # failed in the run with scikit-learn's own text.
    import re

    monkeypatch.chdir(tmp_path)
    folder = _one_class_folder(tmp_path / "data")
    line = refused(capsys, tmp_path, "--dataset", f"images:{folder}", *options, "--out", str(tmp_path / "out"))
    assert re.search(expected, line), line


def test_sweep_probe_on_one_selected_class_exits_2(tmp_path, idx_folder, capsys, monkeypatch, no_run):
    monkeypatch.chdir(tmp_path)
    line = refused(capsys, tmp_path, "--dataset", "mnist", "--probe", "--classes", "3", "--out", str(tmp_path / "o"))
    assert "classes=[3] selects one class" in line and "--probe" in line
