"""`convsweep kernels` and `convsweep sizes`: output, CSV, exit codes and one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from convsweep.cli import main
from convsweep.conv_core import kernels, output_size


def run(argv, capsys):
    """Run the CLI in-process with its error policy; return (exit code, stdout, stderr)."""
    try:
        main(argv)
        code = 0
    except SystemExit as done:
        code = done.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- kernels ---------------------------------------------------------------------------------


def test_cli_kernels_lists_every_named_kernel_with_matrix(capsys):
    code, out, err = run(["kernels"], capsys)
    assert code == 0 and err == ""
    for name in kernels.names():
        assert name in out
    assert "-1 -2 -1" in out  # sobel_h's last row
    assert "1/16" in out  # gaussian3 shown exactly


def test_cli_kernels_json_round_trips(capsys):
    code, out, _ = run(["kernels", "sobel_h", "sobel_v", "--json"], capsys)
    assert code == 0
    shown = json.loads(out)
    assert list(shown) == ["sobel_h", "sobel_v"]
    np.testing.assert_array_equal(shown["sobel_h"], kernels.get("sobel_h"))
    np.testing.assert_array_equal(kernels.parse_json(json.dumps(shown["sobel_v"])), kernels.get("sobel_v"))


def test_cli_kernels_checks_user_kernel_text_and_file(capsys, tmp_path):
    path = tmp_path / "edge.json"
    path.write_text(json.dumps({"kernel": [[0, 1, 0], [1, -4, 1], [0, 1, 0]]}))
    code, out, _ = run(["kernels", "--kernel", "1,0,-1;2,0,-2;1,0,-1", "--kernel-file", str(path), "--json"], capsys)
    assert code == 0
    shown = json.loads(out)
    np.testing.assert_array_equal(shown["custom"], kernels.get("sobel_v"))
    np.testing.assert_array_equal(shown[str(path)], kernels.get("laplacian"))


def test_cli_kernels_unknown_name_exits_2_with_one_line(capsys):
    code, out, err = run(["kernels", "sobel"], capsys)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [err.strip()]
    assert "unknown kernel name='sobel'" in err


def test_cli_kernels_even_user_kernel_exits_2(capsys):
    code, _, err = run(["kernels", "--kernel", "1,1;1,1"], capsys)
    assert code == 2
    assert "kernel sides must be odd" in err and "(2, 2)" in err


def test_cli_kernels_missing_kernel_file_exits_2(capsys, tmp_path):
    code, _, err = run(["kernels", "--kernel-file", str(tmp_path / "nope.json")], capsys)
    assert code == 2
    assert f"--kernel-file={str(tmp_path / 'nope.json')!r} is not a file" in err


# --- sizes -----------------------------------------------------------------------------------


def test_cli_sizes_default_is_the_notebook_pipeline(capsys):
    code, out, _ = run(["sizes"], capsys)
    assert code == 0
    assert "floor((28 + 0 + 0 - 3) / 1) + 1 = 26" in out
    assert "floor((26 + 0 + 0 - 2) / 2) + 1 = 13" in out


def test_cli_sizes_readme_example_fits_80_columns_with_whole_headers(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    example = ["-n", "28,27", "-k", "3,5", "-s", "1,2", "-p", "valid,same,full,1,0:2", "-d", "1,2"]
    code, out, _ = run(["sizes", *example, "--pool-sizes", "2,none"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines)
    # 80 conv settings: a heading each (two lines when the dilated arithmetic is long) and a line per pool
    assert len(lines) < 80 * 4 + 10
    headers = [line for line in lines if "pooled" in line]
    assert [line.split() for line in headers] == [["pool", "pooled", "rf", "pool", "arithmetic"]]  # whole, once
    first = lines.index("n 28, k 3, s 1, padding valid, d 1: conv floor((28 + 0 + 0 - 3) / 1) + 1 = 26")
    assert lines[first + 1].split() == [
        "2/2/valid",
        "13",
        "4",
        "floor((26",
        "+",
        "0",
        "+",
        "0",
        "-",
        "2)",
        "/",
        "2)",
        "+",
        "1",
        "=",
        "13",
    ]
    assert lines[first + 2].split() == ["none", "-", "3"]


def test_cli_sizes_constant_settings_said_once(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(["sizes", "-s", "1,2"], capsys)
    assert code == 0
    assert "same in every row: n 28, k 3, padding valid, d 1" in out
    assert "s 2: conv floor((28 + 0 + 0 - 3) / 2) + 1 = 13" in out.splitlines()


def test_cli_sizes_json_for_scripts_is_the_csv_columns(capsys):
    import json

    from convsweep.commands.core import SIZE_COLUMNS

    code, out, _ = run(["sizes", "-n", "2,28", "-k", "5", "--pool-sizes", "2,none", "--json"], capsys)
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == 4 and all(list(row) == SIZE_COLUMNS for row in rows)
    assert rows[0]["conv_out"] is None and rows[0]["conv_formula"].startswith("impossible:")
    assert rows[2]["conv_out"] == 24 and rows[2]["pool_out"] == 12 and rows[2]["receptive_field"] == 6
    assert rows[3]["pool"] == "none" and rows[3]["pool_out"] is None


def test_cli_sizes_issue_example_with_padding_and_stride(capsys):
    code, out, _ = run(["sizes", "-n", "28", "-k", "3", "-s", "2", "-p", "1", "--pool-sizes", "none"], capsys)
    assert code == 0
    assert "floor((28 + 1 + 1 - 3) / 2) + 1 = 14" in out


def test_cli_sizes_csv_has_every_combination_from_output_size(capsys, tmp_path):
    path = tmp_path / "out" / "sizes.csv"
    path.parent.mkdir()  # --csv creates no folder (a missing one is refused: test_cli_preflight.py)
    code, out, _ = run(
        [
            "sizes",
            "-n",
            "28,27",
            "-k",
            "3,5",
            "-s",
            "1,2",
            "-p",
            "valid,same,full,1,0:2",
            "-d",
            "1,2",
            "--pool-sizes",
            "2,none",
            "--pool-paddings",
            "valid,1",
            "--csv",
            str(path),
        ],
        capsys,
    )
    assert code == 0 and f"to {path}" in out
    frame = pd.read_csv(path)
    # 2 inputs x 2 kernels x 2 strides x 5 paddings x 2 dilations x (2 pool paddings + no pool)
    assert len(frame) == 2 * 2 * 2 * 5 * 2 * 3
    assert not list(tmp_path.joinpath("out").glob(".*tmp"))  # the temporary file was renamed
    for row in frame.itertuples():
        padding = {"0:2": (0, 2)}.get(row.padding, row.padding)
        padding = int(padding) if isinstance(padding, str) and padding.isdigit() else padding
        expected = output_size(row.input, row.kernel, stride=row.stride, padding=padding, dilation=row.dilation)
        assert row.conv_out == expected
        assert row.conv_formula.endswith(f"= {expected}")
        if row.pool == "none":
            assert pd.isna(row.pool_out)
        else:
            pool_padding = int(row.pool_padding) if row.pool_padding.isdigit() else row.pool_padding
            assert row.pool_out == output_size(expected, 2, stride=2, padding=pool_padding)


def test_cli_sizes_impossible_combination_is_a_row_that_says_why(capsys, tmp_path):
    path = tmp_path / "sizes.csv"
    code, out, _ = run(["sizes", "-n", "2,28", "-k", "5", "--csv", str(path)], capsys)
    assert code == 0
    frame = pd.read_csv(path)
    impossible = frame[frame.input == 2].iloc[0]
    assert pd.isna(impossible.conv_out)
    assert (
        impossible.conv_formula
        == "impossible: kernel_size=5 is larger than the padded input: 5 > 2 (n=2 + padding 0 + 0)"
    )
    assert frame[frame.input == 28].iloc[0].conv_out == 24
    assert "impossible: kernel_size=5" in out


def test_cli_sizes_pool_padding_over_half_window_is_a_row(capsys, tmp_path):
    path = tmp_path / "sizes.csv"
    code, _, _ = run(["sizes", "--pool-sizes", "2", "--pool-paddings", "2", "--csv", str(path)], capsys)
    assert code == 0
    row = pd.read_csv(path).iloc[0]
    assert row.conv_out == 26 and pd.isna(row.pool_out)
    assert "pool padding must be <= size // 2 = 1" in row.pool_formula


def test_cli_sizes_ceil_mode_and_receptive_field(capsys, tmp_path):
    path = tmp_path / "sizes.csv"
    code, _, _ = run(
        ["sizes", "-n", "28", "-k", "3", "--pool-sizes", "3", "--pool-strides", "2", "--ceil-mode", "--csv", str(path)],
        capsys,
    )
    assert code == 0
    row = pd.read_csv(path).iloc[0]
    assert row.pool_out == output_size(26, 3, stride=2, ceil_mode=True) == 13
    assert row.pool_formula == "ceil((26 + 0 + 0 - 3) / 2) + 1 = 13"
    assert (row.receptive_field, row.jump) == (5, 2)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sizes", "-s", "0"], "--strides values must be ints >= 1, got '0'"),
        (["sizes", "-n", "28,x"], "--inputs values must be ints >= 1, got 'x'"),
        (
            ["sizes", "-p", "middle"],
            "--paddings='middle' is not a padding: use 'valid', 'same', 'full', an int, PHxPW, TxBxLxR or BEFORE:AFTER",
        ),
        (
            ["sizes", "--pool-paddings", "full"],
            "--pool-paddings='full' is not a pooling padding: use 'valid', 'same', an int, PHxPW, TxBxLxR or BEFORE:AFTER",
        ),
        (["sizes", "-k", ","], "--kernels=',' is empty"),
        (["sizes", "--pool-sizes", "two"], "--pool-sizes values must be ints >= 1 or 'none', got 'two'"),
    ],
)
def test_cli_sizes_bad_option_exits_2_naming_it(capsys, argv, message):
    code, out, err = run(argv, capsys)
    assert code == 2 and out == ""
    assert err.startswith("convsweep: error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_cli_sizes_console_script_exit_code_and_stderr():
    # The real process: the entry point's error policy end to end.
    done = subprocess.run(
        [sys.executable, "-c", "from convsweep.cli import main; main()", "sizes", "--dilations", "-1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip() == "convsweep: error: --dilations values must be ints >= 1, got '-1' in --dilations='-1'"


def test_cli_sizes_reads_the_sweep_padding_syntax(capsys, tmp_path):
    # One padding syntax: what `sweep` accepts, `sizes` accepts when it is the same on both axes.
    path = tmp_path / "sizes.csv"
    code, _, _ = run(["sizes", "-p", "1x1,0x2x0x2,0:2", "--pool-sizes", "none", "--csv", str(path)], capsys)
    assert code == 0
    frame = pd.read_csv(path)
    assert list(frame["padding"]) == ["1", "0:2", "0:2"]
    assert list(frame["conv_out"]) == [28, 28, 28]
    code, _, err = run(["sizes", "-p", "2x1"], capsys)
    assert code == 2 and "--paddings='2x1' differs between the axes" in err


def test_cli_kernels_user_kernel_is_named_custom_or_its_given_name(capsys):
    code, out, _ = run(["kernels", "--kernel", "1,2,1;0,0,0;-1,-2,-1"], capsys)
    assert code == 0 and "custom" in out and "--kernel" not in out
    code, out, _ = run(["kernels", "--kernel", "edge=1,2,1;0,0,0;-1,-2,-1", "--json"], capsys)
    assert code == 0 and list(json.loads(out)) == ["edge"]
